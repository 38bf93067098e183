"""``nmn-sweep``: train, evaluate and rank grids of tasks x agents x seeds on Ray.

A sweep spans the whole chain, training (:mod:`training.train`), evaluation
(:mod:`evaluate.harness`) and the leaderboard (:mod:`leaderboard`), so it lives here, in the
package that holds what uses them all. One module per part:

- :mod:`nmn_bench.sweep.config`: the YAML config, validated with pydantic, and its grid of trials;
- :mod:`nmn_bench.sweep.trial`: one trial, ``nmn-train``'s run folder, evaluation, submission;
- :mod:`nmn_bench.sweep.summary`: the aggregate across seeds (rliable) as Markdown, JSON, PNG;
- :mod:`nmn_bench.sweep.cli`: the command line, which schedules the trials with Ray Tune.

Only the command line imports Ray (the optional extra ``nmn-bench[ray]``).
"""
