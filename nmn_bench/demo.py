"""The main job of ``make demo``: the evaluation harness on every environment with a native vector env.

For each environment the reference agents (``random``, ``memoryless``, ``oracle``, and ``bayes``:
the Bayes-optimal policy where it is exact, the belief planner on NMN-Bench2/3) and the zoo's
trained agents (``zoo:rnn``, ``zoo:nmn``: :mod:`training.zoo`, mean actions) play the first
``--n-tasks`` tasks of its evaluation set. A summary table is printed (Monte Carlo means next
to the exact Bayes bounds, the trained agents' normalised scores), and each environment's full report (``result.json``, Markdown
table, adaptation-curve and return-distribution plots, and the two-step stay-probability plot)
is written under ``--out``. The MuJoCo tasks have no native vector env and are not played.

Last, a leaderboard in ``--out`` is seeded with the reference and zoo rows of NMN-Bench1-v0 (the
full task set; ``--board-env`` picks another), printed, and exported as a static site.

On a terminal, progress bars show each stage as it runs. Output to a file or a CI log gets no
bars (their redraws would fill it) but one line per finished stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nmn_envs
from evaluate.analyses import write_analyses
from evaluate.harness import evaluate
from evaluate.model_options import DEFAULT_TORCH_THREADS, use_torch_threads
from evaluate.references import BAYES, reference
from evaluate.report import write_report
from evaluate.schema import EvaluationResult
from leaderboard.board import table
from leaderboard.cli import print_table
from leaderboard.export import export_site
from leaderboard.seed import seed
from leaderboard.store import Store
from training import zoo

DEMO_ENVS = (*nmn_envs.BENCHMARKS, *nmn_envs.CLASSIC_TASKS)
BOARD_ENV = "NMN-Bench1-v0"


ZOO_AGENTS = ("zoo:rnn", "zoo:nmn")


def _normalised(result: EvaluationResult, zoo_name: str) -> str:
    """The normalised mean of the baseline that ``zoo_name`` (``zoo:rnn``) resolved to (``zoo:rnn@seed2``)."""
    played = [score for score in result.baselines if score.name.split("@")[0] == zoo_name]
    interval = played[0].normalised_score if played else None
    return "–" if interval is None else f"{interval.value:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def _mean(result: EvaluationResult, name: str) -> str:
    try:
        interval = result.score(name).mean
    except KeyError:
        return "–"
    return f"{interval.value:.1f} [{interval.low:.1f}, {interval.high:.1f}]"


def summary_row(result: EvaluationResult) -> str:
    """One line of the summary: the reference agents' means, the bounds, the normalised means of
    bayes and of the zoo's agents."""
    bounds = {bound.name: bound for bound in result.bounds}
    bayes = bounds.get("bayes")
    bound = "–" if bayes is None else f"{bayes.value:.2f} ({bayes.kind})"
    normalised = "–"
    if "bayes" in {score.name for score in (result.agent, *result.references)}:
        score = result.score("bayes").normalised_score
        normalised = "–" if score is None else f"{score.value:.3f}"
    cells = [
        result.env_id,
        str(result.max_episode_steps),
        _mean(result, "random"),
        _mean(result, "memoryless"),
        _mean(result, "bayes"),
        bound,
        _mean(result, "oracle"),
        normalised,
        *(_normalised(result, name) for name in ZOO_AGENTS),
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-tasks", type=int, default=32, help="evaluation tasks per environment")
    parser.add_argument("--reps", type=int, default=500, help="bootstrap resamples per interval")
    parser.add_argument("--out", default="demo_out", help="folder of the per-environment reports")
    parser.add_argument(
        "--envs", nargs="*", default=list(DEMO_ENVS), help="environment ids to play"
    )
    parser.add_argument(
        "--board-env", default=BOARD_ENV, help=f"environment of the seeded leaderboard ({BOARD_ENV})"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_TORCH_THREADS,
        help="torch CPU threads for the model agents (default: 1, as nmn-eval)",
    )
    args = parser.parse_args(argv)
    use_torch_threads(args.threads)
    bars = sys.stderr.isatty()
    rows = []
    for env_id in args.envs:
        started = time.perf_counter()
        agent = "bayes" if env_id in BAYES else "random"
        trained = [name for name in ZOO_AGENTS if name in zoo.available(env_id)]
        result = evaluate(
            agent, env_id, n_tasks=args.n_tasks, baselines=trained, reps=args.reps, progress=bars
        )
        out = Path(args.out) / env_id
        write_report(result, out)
        write_analyses(reference(agent, env_id), env_id, args.n_tasks, out)
        rows.append(summary_row(result))
        players = ", ".join(score.name for score in (result.agent, *result.baselines, *result.references))
        stage_done(f"{env_id}: {players} on {args.n_tasks} tasks, report in {out}", started)
    print(
        f"\nReference agents on the first {args.n_tasks} tasks of each evaluation set "
        "(mean meta-episode return, 95% bootstrap CI), and the normalised mean "
        "(random 0, bayes 1) of bayes and of the zoo's trained RNN and NMN (mean actions)\n"
    )
    print(
        "| environment | steps | random | memoryless | bayes (Monte Carlo) | bayes value | oracle "
        "| bayes, normalised | zoo:rnn, normalised | zoo:nmn, normalised |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nFull reports and plots: {args.out}/<environment>/ (report.md, result.json, *.png).")
    print("Score your own agent against the zoo: nmn-eval ENV_ID --agent path/to/model.safe.zip --out DIR")
    show_leaderboard(Path(args.out), args.board_env, bars)


def stage_done(stage: str, started: float) -> None:
    """Print one line for a finished stage, with its duration (flushed, for logs)."""
    print(f"done: {stage} ({time.perf_counter() - started:.1f} s)", flush=True)


def show_leaderboard(out: Path, env_id: str = BOARD_ENV, bars: bool = True) -> None:
    """Seed a leaderboard in ``out`` with the reference and zoo rows of ``env_id``, print it, export it."""
    store = Store(out / "leaderboard.sqlite")
    print(f"\nSeeding the leaderboard of {env_id} (reference and zoo agents on the full task set)")
    started = time.perf_counter()
    added = seed(store, [env_id], progress=bars)
    stage_done(f"{len(added)} reference and zoo rows of {env_id} stored", started)
    print_table(table(store, env_id))
    print(f"Leaderboard site: {export_site(store, out / 'site')}")
    print("Submit a result: nmn-leaderboard submit DIR/result.json")


if __name__ == "__main__":
    main()
