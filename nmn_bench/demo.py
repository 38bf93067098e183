"""The main job of ``make demo``: the evaluation harness on every environment with a native vector env.

For each environment the reference agents (``random``, ``oracle``, and ``bayes``: the
Bayes-optimal policy where it is exact, the belief planner on NMN-Bench2/3) play the first
``--n-tasks`` tasks of its evaluation set. A summary table is printed (Monte Carlo means next
to the exact Bayes bounds), and each environment's full report (``result.json``, Markdown
table, adaptation-curve and return-distribution plots, and the two-step stay-probability plot)
is written under ``--out``. The MuJoCo tasks have no native vector env and are not played.

Last, a leaderboard in ``--out`` is seeded with the reference rows of NMN-Bench1-v0 (the full
task set), printed, and exported as a static site.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nmn_envs
from evaluate.analyses import write_analyses
from evaluate.harness import evaluate
from evaluate.references import BAYES, reference
from evaluate.report import write_report
from evaluate.schema import EvaluationResult
from leaderboard.board import table
from leaderboard.cli import print_table
from leaderboard.export import export_site
from leaderboard.seed import seed
from leaderboard.store import Store

DEMO_ENVS = (*nmn_envs.BENCHMARKS, *nmn_envs.CLASSIC_TASKS)
BOARD_ENV = "NMN-Bench1-v0"


def _mean(result: EvaluationResult, name: str) -> str:
    try:
        interval = result.score(name).mean
    except KeyError:
        return "–"
    return f"{interval.value:.1f} [{interval.low:.1f}, {interval.high:.1f}]"


def summary_row(result: EvaluationResult) -> str:
    """One line of the summary: the reference agents' means, the bounds, bayes's normalised score."""
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
        _mean(result, "bayes"),
        bound,
        _mean(result, "oracle"),
        normalised,
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
    args = parser.parse_args(argv)
    rows = []
    for env_id in args.envs:
        agent = "bayes" if env_id in BAYES else "random"
        result = evaluate(agent, env_id, n_tasks=args.n_tasks, reps=args.reps, progress=True)
        out = Path(args.out) / env_id
        write_report(result, out)
        write_analyses(reference(agent, env_id), env_id, args.n_tasks, out)
        rows.append(summary_row(result))
    print(
        f"\nReference agents on the first {args.n_tasks} tasks of each evaluation set "
        "(mean meta-episode return, 95% bootstrap CI)\n"
    )
    print(
        "| environment | steps | random | bayes (Monte Carlo) | Bayes bound | oracle | bayes, normalised |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nFull reports and plots: {args.out}/<environment>/ (report.md, result.json, *.png).")
    print("Score your own agent: nmn-eval ENV_ID --agent path/to/model.safe.zip --out DIR")
    show_leaderboard(Path(args.out))


def show_leaderboard(out: Path) -> None:
    """Seed a leaderboard in ``out`` with the reference rows of NMN-Bench1, print it, export it."""
    store = Store(out / "leaderboard.sqlite")
    print(f"\nSeeding the leaderboard of {BOARD_ENV} (reference agents on the full task set)")
    seed(store, [BOARD_ENV], progress=True)
    print_table(table(store, BOARD_ENV))
    print(f"Leaderboard site: {export_site(store, out / 'site')}")
    print("Submit a result: nmn-leaderboard submit DIR/result.json")


if __name__ == "__main__":
    main()
