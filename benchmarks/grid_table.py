"""A recipe grid's validation curves, seed by seed, beside the zoo's cards of an earlier revision.

A grid (``nmn-sweep`` over recipe variants x seeds, ``evaluate: false``) leaves one
``validation.csv`` per trial: the run's curve on the validation task set (mean actions). This
script copies them into a results folder as ``<env id>-<policy>-<variant>-seed<N>.csv`` (the
sweep's trial names) and prints, per env, policy and variant, each seed's score: the curve's mean
over its validations (the area under it), its best, its end, and the run's CPU minutes; then,
across the seeds, the mean of those means and of the ends with their standard errors, and the
median end. ``--base-revision`` adds the zoo's cards at that git revision as the row ``base``
(their curves are validated on the same tasks).

The score is the normalised score (random 0, Bayes 1), or with ``--score oracle-adaptation``, for
a task without a Bayes bound (NMN-Navigation2D), ``(return - memoryless) / (oracle - memoryless)``
with both references played here on the validation tasks.

Usage, from the repository root::

    python benchmarks/grid_table.py benchmarks/results/harlow_long_grid --collect runs/harlow_long \\
        --base-revision a44c2fc
    python benchmarks/grid_table.py benchmarks/results/lstm_bench2_long_grid --collect runs/lstm_bench2_long \\
        --variant long4m --base-revision 80f9791   # a sweep that names no variant
    python benchmarks/grid_table.py benchmarks/results/classic_recipe_grid --base-revision 456e6cb
    python benchmarks/grid_table.py benchmarks/results/nav2d_recipe_grid --score oracle-adaptation \\
        --base-revision 95974f8
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import validation_set
from training.validation import VALIDATION_TASKS, read_curve

CURVE_NAME = re.compile(r"(?P<env>NMN-[A-Za-z0-9]+-v\d+)-(?P<policy>[a-z]+)-(?P<variant>[A-Za-z0-9_.-]+)-seed(?P<seed>\d+)\.csv")
BASE = "base"
SCORES = ("normalised", "oracle-adaptation")


@dataclass(frozen=True)
class Curve:
    """One run's validation curve: its scores (on the table's scale) and its CPU minutes at the end."""

    env_id: str
    policy: str
    variant: str
    seed: int
    scores: list[float]
    cpu_minutes: float


def collect(runs: Path, folder: Path, variant: str | None = None) -> list[Path]:
    """Copy every trial's ``validation.csv`` of the sweep output ``runs`` into ``folder``.

    A sweep whose overrides name no variant names its agents by their policy alone; ``variant``
    is then the name their curves take in ``folder``.
    """
    copied = []
    for path in sorted(runs.glob("trials/*/*/seed*/validation.csv")):
        seed_dir = path.parent
        agent = seed_dir.parent.name
        if variant is not None and "-" not in agent:
            agent = f"{agent}-{variant}"
        name = f"{seed_dir.parent.parent.name}-{agent}-{seed_dir.name}.csv"
        if not CURVE_NAME.fullmatch(name):
            raise ValueError(
                f"{path}: its trial name {name!r} is not <env id>-<policy>-<variant>-seed<N> "
                "(a sweep without named variants needs --variant NAME)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / name)
        copied.append(folder / name)
    if not copied:
        raise ValueError(f"{runs}: no trials/<env>/<agent>/seed<N>/validation.csv (not an nmn-sweep output folder?)")
    return copied


@functools.cache
def oracle_anchors(env_id: str) -> tuple[float, float]:
    """The memoryless and the oracle references' mean returns on the validation tasks."""
    tasks, seeds = validation_set(env_id).head(VALIDATION_TASKS)
    memoryless, oracle = (float(play(reference(name, env_id), env_id, tasks, seeds).returns.mean()) for name in ("memoryless", "oracle"))
    return memoryless, oracle


def row_score(env_id: str, row: dict[str, float], score: str) -> float:
    """A validation row's score on the ``score`` scale (one of :data:`SCORES`)."""
    if score == "oracle-adaptation":
        memoryless, oracle = oracle_anchors(env_id)
        return (row["mean_return"] - memoryless) / (oracle - memoryless)
    value = row["normalised_score"]
    if not math.isfinite(value):
        raise ValueError(f"{env_id} has no normalised score (no Bayes bound): use --score oracle-adaptation")
    return value


def grid_curves(folder: Path, score: str = "normalised") -> list[Curve]:
    """The curves of ``folder``'s ``<env id>-<policy>-<variant>-seed<N>.csv`` files."""
    curves = []
    for path in sorted(folder.glob("*.csv")):
        match = CURVE_NAME.fullmatch(path.name)
        if match is None:
            continue
        rows = read_curve(path)
        if not rows:
            raise ValueError(f"{path}: no validation rows")
        curves.append(
            Curve(
                match["env"], match["policy"], match["variant"], int(match["seed"]),
                [row_score(match["env"], row, score) for row in rows], rows[-1]["cpu_minutes"],
            )
        )
    return curves


def base_curves(revision: str, env_id: str, policy: str, score: str = "normalised") -> list[Curve]:
    """The zoo's cards of ``env_id`` and ``policy`` at git ``revision``, as curves."""
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{revision}:policies/zoo/{env_id}"], capture_output=True, text=True, check=True
    ).stdout.split()
    curves = []
    for name in listed:
        match = re.fullmatch(rf"{policy}-seed(\d+)\.json", name)
        if match is None:
            continue
        shown = subprocess.run(
            ["git", "show", f"{revision}:policies/zoo/{env_id}/{name}"], capture_output=True, text=True, check=True
        ).stdout
        points = json.loads(shown)["curve"]
        rows = [{"mean_return": point["mean_return"], "normalised_score": point["score"]} for point in points]
        curves.append(
            Curve(env_id, policy, BASE, int(match[1]), [row_score(env_id, row, score) for row in rows], points[-1]["cpu_minutes"])
        )
    return sorted(curves, key=lambda curve: curve.seed)


def standard_error(values: np.ndarray) -> str:
    """The standard error of the mean of ``values``, or ``-`` for a single value."""
    return f"{np.std(values, ddof=1) / np.sqrt(len(values)):.3f}" if len(values) > 1 else "-"


def table(curves: Sequence[Curve]) -> list[str]:
    """The printed lines: one per seed, then one per (env, policy, variant) across its seeds."""
    lines = [f"{'task':<20}{'policy':<7}{'variant':<13}{'seed':>5}{'mean':>8}{'best':>8}{'end':>8}{'CPU min':>9}"]
    groups: dict[tuple[str, str, str], list[Curve]] = {}
    for curve in curves:
        groups.setdefault((curve.env_id, curve.policy, curve.variant), []).append(curve)
    for (env_id, policy, variant), members in groups.items():
        for curve in members:
            lines.append(
                f"{env_id:<20}{policy:<7}{variant:<13}{curve.seed:>5}{np.mean(curve.scores):>8.3f}"
                f"{max(curve.scores):>8.3f}{curve.scores[-1]:>8.3f}{curve.cpu_minutes:>9.1f}"
            )
        means = np.array([np.mean(curve.scores) for curve in members])
        ends = np.array([curve.scores[-1] for curve in members])
        lines.append(
            f"{env_id:<20}{policy:<7}{variant:<13}{'all':>5}{means.mean():>8.3f}{'':>8}{ends.mean():>8.3f}{'':>9}"
            f"   ({len(ends)} seeds; s.e. of the mean {standard_error(means)}, of the end {standard_error(ends)};"
            f" median end {np.median(ends):.3f})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="results folder of the grid's <env>-<policy>-<variant>-seed<N>.csv")
    parser.add_argument("--collect", type=Path, metavar="SWEEP_OUT", help="copy the curves of this nmn-sweep output first")
    parser.add_argument(
        "--variant", metavar="NAME", help="with --collect: the variant name of trials whose sweep names none"
    )
    parser.add_argument("--base-revision", metavar="REV", help="show the zoo's cards at this git revision as `base`")
    parser.add_argument(
        "--score", choices=SCORES, default="normalised", help="the scale: normalised score, or oracle adaptation (no Bayes bound)"
    )
    args = parser.parse_args(argv)
    try:
        if args.collect is not None:
            collect(args.collect, args.folder, args.variant)
        grid = grid_curves(args.folder, args.score)
        if not grid:
            parser.error(f"{args.folder}: no <env id>-<policy>-<variant>-seed<N>.csv files")
        base = []
        if args.base_revision:
            for env_id, policy in sorted({(curve.env_id, curve.policy) for curve in grid}):
                base += base_curves(args.base_revision, env_id, policy, args.score)
    except ValueError as problem:
        parser.error(str(problem))
    ordered = sorted(base + grid, key=lambda curve: (curve.env_id, curve.policy, curve.variant != BASE, curve.variant, curve.seed))
    if args.score == "oracle-adaptation":
        anchors = "; ".join(
            "{}: memoryless {:.2f}, oracle {:.2f}".format(env_id, *oracle_anchors(env_id))
            for env_id in sorted({curve.env_id for curve in ordered})
        )
        scale = f"oracle adaptation, (return - memoryless) / (oracle - memoryless),\nthe references played here ({anchors})"
    else:
        scale = "normalised score (random 0, Bayes 1)"
    print(f"Validation set ({VALIDATION_TASKS} tasks, mean actions), {scale}:")
    print("each curve's mean over its validations (the area under it), its best and its end; CPU minutes of the run,")
    print("validations included.")
    if base:
        print(f"base: the zoo's cards at git revision {args.base_revision}.")
    print("\n".join(table(ordered)))


if __name__ == "__main__":
    main()
