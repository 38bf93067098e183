"""Learning benchmark: how fast the NMN (and the RNN baseline) learn NMN-Bench1 with the default recipe.

Each policy trains with ``nmn-train``'s code path and ``policies/hyperparams/NMN-Bench1-v0.yml``
(the source's regime: 64 meta-episodes of 400 steps in parallel, truncated BPTT of 200 steps,
bounded updates) for ``--timesteps`` env steps per seed, checkpointing every ``--curve-every``
steps. Every checkpoint is then scored by the harness's protocol: its **mean actions** over the
full 1400-step meta-episodes of the evaluation task set (``--eval-tasks`` of its 1000 tasks),
normalised as ``(return - random) / (bayes - random)`` with the exact Bayes bound. Minutes come
from the run's own record (``validation.csv``, written at the same steps): the CPU minutes of the
training process, which are the minutes of a core of its own (on a shared machine the wall clock
runs slower; both are kept in the cache).

The table gives, per run, the env steps and minutes to the first checkpoint at 0.9 or more,
the final and the best score, and the largest drop after the best (a collapse would show
there); the figure (``learning_curves.png`` in ``--out``) shows the curves against steps and
against minutes, NMN and RNN side by side, the mean over seeds with the range of the seeds.

Runs resume: rerun the same command after an interruption; finished runs and scored
checkpoints are reused (``curve.json`` in each run folder).

Usage::

    python benchmarks/learn_bench1.py --seeds 0 1 2 --jobs 2 --out runs/learn_bench1

This is a measurement, not a test; its minutes are those of this machine, one core per run.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch as th
import yaml

from evaluate.agents import as_policy
from evaluate.bounds import bounds
from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import task_set
from training.train import CONFIG_FILE, MODEL_FILE, keep_freed_memory, latest_checkpoint, resume, train
from training.validation import read_curve

ENV_ID = "NMN-Bench1-v0"
TARGET = 0.9
CURVE_FILE = "curve.json"


def train_run(policy: str, seed: int, timesteps: int, curve_every: int, run_dir: Path) -> None:
    """Train (or resume, or leave finished) one run."""
    th.set_num_threads(1)
    keep_freed_memory()
    if (run_dir / MODEL_FILE).is_file():
        return
    if (run_dir / CONFIG_FILE).is_file():
        resume(run_dir, checkpoint_freq=curve_every, progress_bar=False)
    else:
        train(ENV_ID, policy, seed, timesteps, run_dir, checkpoint_freq=curve_every, eval_freq=curve_every,
              progress_bar=False)


def anchors(n_tasks: int) -> tuple[float, float]:
    """Mean return of uniform random play on the scored tasks, and the exact Bayes bound."""
    tasks, seeds = task_set(ENV_ID).head(n_tasks)
    random = float(play(reference("random", ENV_ID), ENV_ID, tasks, seeds).returns.mean())
    bayes = next(bound.value for bound in bounds(ENV_ID) if bound.name == "bayes")
    return random, bayes


def score_run(run_dir: Path, n_tasks: int, random: float, bayes: float) -> list[dict[str, float]]:
    """Score every checkpoint of a run on the evaluation set (cached in ``curve.json``)."""
    th.set_num_threads(1)
    cache_path = run_dir / CURVE_FILE
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    minutes = {int(row["steps"]): row for row in read_curve(run_dir)}
    tasks, seeds = task_set(ENV_ID).head(n_tasks)
    checkpoints = sorted((int(path.stem.split("_")[1]), path) for path in (run_dir / "checkpoints").glob("model_*_steps.safe.zip"))
    for steps, path in checkpoints:
        if str(steps) in cache or steps not in minutes:
            continue
        policy = as_policy(str(path), "checkpoint", deterministic=True)
        mean = float(play(policy, ENV_ID, tasks, seeds).returns.mean())
        cache[str(steps)] = {
            "steps": steps,
            "minutes": minutes[steps]["cpu_minutes"],
            "wall_minutes": minutes[steps]["minutes"],
            "score": (mean - random) / (bayes - random),
        }
        cache_path.write_text(json.dumps(cache, indent=1))
    return sorted(cache.values(), key=lambda row: row["steps"])


def summary(curve: list[dict[str, float]]) -> dict[str, float]:
    """Steps and minutes to the target, final and best score, largest drop after the best."""
    scores = np.array([row["score"] for row in curve])
    reached = next((row for row in curve if row["score"] >= TARGET), None)
    best = int(np.argmax(scores))
    return {
        "steps_to_target": reached["steps"] if reached else float("nan"),
        "minutes_to_target": reached["minutes"] if reached else float("nan"),
        "final": float(scores[-1]),
        "best": float(scores[best]),
        "drop_after_best": float(scores[best] - scores[best:].min()),
    }


def plot(curves: dict[str, list[list[dict[str, float]]]], path: Path) -> None:
    """Score against steps and against minutes: the mean over seeds and the seeds' range."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for policy, runs in curves.items():
        length = min(len(run) for run in runs)
        if length == 0:
            continue
        scores = np.array([[row["score"] for row in run[:length]] for run in runs])
        for axis, key in zip(axes, ("steps", "minutes")):
            x = np.mean([[row[key] for row in run[:length]] for run in runs], axis=0)
            line = axis.plot(x, scores.mean(axis=0), label=f"{policy} ({len(runs)} seeds)")[0]
            axis.fill_between(x, scores.min(axis=0), scores.max(axis=0), color=line.get_color(), alpha=0.2)
    for axis, label in zip(axes, ("environment steps", "minutes of one core (CPU time of the run)")):
        axis.axhline(TARGET, color="grey", linestyle="--", linewidth=0.8)
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("normalised score, mean actions (0 random, 1 Bayes)")
    axes[0].legend()
    figure.suptitle(f"{ENV_ID}: learning curves on the evaluation set (1400-step meta-episodes)")
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, help="training steps per run (default: the file's n_timesteps)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--policies", nargs="+", default=["nmn", "rnn"], choices=["nmn", "rnn", "lstm"])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at the same time")
    parser.add_argument("--curve-every", type=int, default=512_000, help="steps between scored checkpoints")
    parser.add_argument("--eval-tasks", type=int, default=1000, help="tasks of the evaluation set scored")
    parser.add_argument("--out", type=Path, default=Path("runs/learn_bench1"))
    args = parser.parse_args()
    for name in ("jobs", "curve_every", "eval_tasks"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    runs = {(policy, seed): args.out / f"{policy}-{seed}" for seed in args.seeds for policy in args.policies}
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{ENV_ID}: {len(runs)} runs, {args.jobs} at a time; checkpoints scored on {args.eval_tasks} evaluation"
          f" tasks (set {task_set(ENV_ID).version}, 1400-step meta-episodes, mean actions)", flush=True)
    random, bayes = anchors(args.eval_tasks)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        trained = [pool.submit(train_run, policy, seed, args.timesteps, args.curve_every, run_dir)
                   for (policy, seed), run_dir in runs.items()]
        for future in trained:
            future.result()
        scored = {key: pool.submit(score_run, run_dir, args.eval_tasks, random, bayes) for key, run_dir in runs.items()}
        curves = {key: future.result() for key, future in scored.items()}

    print(f"random {random:.0f}, Bayes bound {bayes:.2f} per meta-episode")
    header = f"{'policy':<7}{'seed':>5}{'steps':>11}{'steps to 0.9':>14}{'min to 0.9':>12}{'final':>8}{'best':>8}{'drop':>8}"
    print(header)
    print("-" * len(header))
    rows = {}
    for (policy, seed), curve in curves.items():
        config = yaml.safe_load((runs[policy, seed] / CONFIG_FILE).read_text())
        steps = latest_checkpoint(runs[policy, seed])
        rows[policy, seed] = row = summary(curve)
        print(f"{policy:<7}{seed:>5}{config['timesteps']:>11,}{row['steps_to_target']:>14,.0f}"
              f"{row['minutes_to_target']:>12.1f}{row['final']:>8.3f}{row['best']:>8.3f}{row['drop_after_best']:>8.3f}"
              + ("" if steps else "  (no checkpoint)"))
    for policy in args.policies:
        minutes = np.array([rows[policy, seed]["minutes_to_target"] for seed in args.seeds])
        finals = np.array([rows[policy, seed]["final"] for seed in args.seeds])
        print(f"{policy}: reached {TARGET} in {np.sum(np.isfinite(minutes))}/{len(minutes)} seeds"
              f" (median {np.nanmedian(minutes) if np.any(np.isfinite(minutes)) else float('nan'):.1f} min);"
              f" final score {finals.mean():.3f} (seeds {', '.join(f'{value:.3f}' for value in finals)})")
    plot({policy: [curves[policy, seed] for seed in args.seeds] for policy in args.policies},
         args.out / "learning_curves.png")
    print(f"figure: {args.out / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
