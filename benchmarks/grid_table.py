"""A recipe grid's validation curves, seed by seed, beside the zoo's cards of an earlier revision.

A grid (``nmn-sweep`` over recipe variants x seeds, ``evaluate: false``) leaves one
``validation.csv`` per trial: the run's curve on the validation task set (mean actions). This
script copies them into a results folder as ``<env id>-<policy>-<variant>-seed<N>.csv`` (the
sweep's trial names) and prints, per env, policy and variant, each seed's normalised score
(random 0, Bayes 1): the curve's mean over its validations (the area under it), its best, its
end, and the run's CPU minutes; then, across the seeds, the mean of those means and of the ends
with their standard errors, and the median end. ``--base-revision`` adds the zoo's cards at that git revision as the row ``base``
(their curves are validated on the same tasks).

Usage, from the repository root::

    python benchmarks/grid_table.py benchmarks/results/harlow_long_grid --collect runs/harlow_long \\
        --base-revision a44c2fc
    python benchmarks/grid_table.py benchmarks/results/classic_recipe_grid --base-revision 456e6cb

Tasks without a Bayes bound (NMN-Navigation2D) have no normalised score: their grid's table is
``benchmarks/results/nav2d_recipe_grid/table.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CURVE_NAME = re.compile(r"(?P<env>NMN-[A-Za-z0-9]+-v\d+)-(?P<policy>[a-z]+)-(?P<variant>[A-Za-z0-9_.-]+)-seed(?P<seed>\d+)\.csv")
BASE = "base"


@dataclass(frozen=True)
class Curve:
    """One run's validation curve: its normalised scores and its CPU minutes at the end."""

    env_id: str
    policy: str
    variant: str
    seed: int
    scores: list[float]
    cpu_minutes: float


def collect(runs: Path, folder: Path) -> list[Path]:
    """Copy every trial's ``validation.csv`` of the sweep output ``runs`` into ``folder``."""
    copied = []
    for path in sorted(runs.glob("trials/*/*/seed*/validation.csv")):
        seed_dir = path.parent
        name = f"{seed_dir.parent.parent.name}-{seed_dir.parent.name}-{seed_dir.name}.csv"
        if not CURVE_NAME.fullmatch(name):
            raise ValueError(f"{path}: its trial name {name!r} is not <env id>-<policy>-<variant>-seed<N>")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / name)
        copied.append(folder / name)
    if not copied:
        raise ValueError(f"{runs}: no trials/<env>/<agent>/seed<N>/validation.csv (not an nmn-sweep output folder?)")
    return copied


def grid_curves(folder: Path) -> list[Curve]:
    """The curves of ``folder``'s ``<env id>-<policy>-<variant>-seed<N>.csv`` files."""
    curves = []
    for path in sorted(folder.glob("*.csv")):
        match = CURVE_NAME.fullmatch(path.name)
        if match is None:
            continue
        rows = list(csv.DictReader(path.open()))
        scores = [float(row["normalised_score"]) for row in rows]
        if not scores or not all(math.isfinite(score) for score in scores):
            raise ValueError(f"{path}: no normalised scores (a task without a Bayes bound?)")
        curves.append(
            Curve(match["env"], match["policy"], match["variant"], int(match["seed"]), scores, float(rows[-1]["cpu_minutes"]))
        )
    return curves


def base_curves(revision: str, env_id: str, policy: str) -> list[Curve]:
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
        curves.append(
            Curve(env_id, policy, BASE, int(match[1]), [point["score"] for point in points], points[-1]["cpu_minutes"])
        )
    return sorted(curves, key=lambda curve: curve.seed)


def standard_error(values: np.ndarray) -> str:
    """The standard error of the mean of ``values``, or ``-`` for a single value."""
    return f"{np.std(values, ddof=1) / np.sqrt(len(values)):.3f}" if len(values) > 1 else "-"


def table(curves: Sequence[Curve]) -> list[str]:
    """The printed lines: one per seed, then one per (env, policy, variant) across its seeds."""
    lines = [f"{'task':<16}{'policy':<7}{'variant':<10}{'seed':>5}{'mean':>8}{'best':>8}{'end':>8}{'CPU min':>9}"]
    groups: dict[tuple[str, str, str], list[Curve]] = {}
    for curve in curves:
        groups.setdefault((curve.env_id, curve.policy, curve.variant), []).append(curve)
    for (env_id, policy, variant), members in groups.items():
        for curve in members:
            lines.append(
                f"{env_id:<16}{policy:<7}{variant:<10}{curve.seed:>5}{np.mean(curve.scores):>8.3f}"
                f"{max(curve.scores):>8.3f}{curve.scores[-1]:>8.3f}{curve.cpu_minutes:>9.1f}"
            )
        means = np.array([np.mean(curve.scores) for curve in members])
        ends = np.array([curve.scores[-1] for curve in members])
        lines.append(
            f"{env_id:<16}{policy:<7}{variant:<10}{'all':>5}{means.mean():>8.3f}{'':>8}{ends.mean():>8.3f}{'':>9}"
            f"   ({len(ends)} seeds; s.e. of the mean {standard_error(means)}, of the end {standard_error(ends)};"
            f" median end {np.median(ends):.3f})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="results folder of the grid's <env>-<policy>-<variant>-seed<N>.csv")
    parser.add_argument("--collect", type=Path, metavar="SWEEP_OUT", help="copy the curves of this nmn-sweep output first")
    parser.add_argument("--base-revision", metavar="REV", help="show the zoo's cards at this git revision as `base`")
    args = parser.parse_args(argv)
    if args.collect is not None:
        collect(args.collect, args.folder)
    grid = grid_curves(args.folder)
    if not grid:
        parser.error(f"{args.folder}: no <env id>-<policy>-<variant>-seed<N>.csv files")
    base = []
    if args.base_revision:
        for env_id, policy in sorted({(curve.env_id, curve.policy) for curve in grid}):
            base += base_curves(args.base_revision, env_id, policy)
    ordered = sorted(base + grid, key=lambda curve: (curve.env_id, curve.policy, curve.variant != BASE, curve.variant, curve.seed))
    print("Validation set (100 tasks, mean actions), normalised score (random 0, Bayes 1): each curve's mean over")
    print("its validations (the area under it), its best and its end; CPU minutes of the run, validations included.")
    if base:
        print(f"base: the zoo's cards at git revision {args.base_revision}.")
    print("\n".join(table(ordered)))


if __name__ == "__main__":
    main()
