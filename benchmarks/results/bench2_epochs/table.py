"""NMN-Bench2 at 4 epochs an update against 10: the validation curves, seed by seed.

The 10-epoch seeds are the zoo's cards (git revision 57099f6); the 4-epoch seeds are the runs of
NMN-Bench2-v0.yml with n_epochs 4 (revision 435b3f1, `nmn-sweep sweeps/zoo_bench2.yml` as it was
there), whose validation.csv files lie beside this script as epochs4-<policy>-seed<N>.csv. Both
trained 2M env steps and were validated on the same 100 tasks of the validation set (mean
actions, normalised score: random 0, belief planner 1) every 256k steps. The 4-epoch sweep was
stopped after seeds 0 and 1: see summary.md. Run from the repository root:
    python benchmarks/results/bench2_epochs/table.py
"""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np

ENV = "NMN-Bench2-v0"
OLD_REVISION = "57099f6"
HERE = Path(__file__).parent


def old_curve(policy: str, seed: int) -> tuple[list[int], list[float], float] | None:
    shown = subprocess.run(
        ["git", "show", f"{OLD_REVISION}:policies/zoo/{ENV}/{policy}-seed{seed}.json"],
        capture_output=True, text=True,
    )
    if shown.returncode != 0:
        return None
    curve = json.loads(shown.stdout)["curve"]
    return [p["steps"] for p in curve], [p["score"] for p in curve], curve[-1]["cpu_minutes"]


def new_curve(policy: str, seed: int) -> tuple[list[int], list[float], float] | None:
    path = HERE / f"epochs4-{policy}-seed{seed}.csv"
    if not path.exists():
        return None
    rows = list(csv.DictReader(path.open()))
    return (
        [int(r["steps"]) for r in rows],
        [float(r["normalised_score"]) for r in rows],
        float(rows[-1]["cpu_minutes"]),
    )


print(__doc__.split("\n\n")[0])
print("mean = the curve's mean over its checkpoints (area under it), best, end = its last point;")
print("CPU min = the run's training CPU minutes (one core), validations included.\n")
print(f"{'policy':<7}{'epochs':>7}{'seed':>5}{'mean':>8}{'best':>8}{'end':>8}{'CPU min':>9}")
for policy in ("nmn", "rnn"):
    for epochs, read in ((10, old_curve), (4, new_curve)):
        curves = []
        for seed in range(5):
            run = read(policy, seed)
            if run is None:
                continue
            steps, scores, cpu = run
            curves.append((scores, cpu))
            print(f"{policy:<7}{epochs:>7}{seed:>5}{np.mean(scores):>8.3f}{max(scores):>8.3f}{scores[-1]:>8.3f}{cpu:>9.1f}")
        if curves:
            means = [np.mean(s) for s, _ in curves]
            ends = [s[-1] for s, _ in curves]
            cpus = [c for _, c in curves]
            print(
                f"{policy:<7}{epochs:>7}{'all':>5}{np.mean(means):>8.3f}{'':>8}{np.mean(ends):>8.3f}"
                f"{np.mean(cpus):>9.1f}   ({len(curves)} seeds; s.e. of mean {np.std(means, ddof=1) / np.sqrt(len(means)) if len(means) > 1 else float('nan'):.3f},"
                f" of end {np.std(ends, ddof=1) / np.sqrt(len(ends)) if len(ends) > 1 else float('nan'):.3f})"
            )
