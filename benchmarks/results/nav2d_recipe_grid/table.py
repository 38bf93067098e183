"""NMN-Navigation2D recipe grid: the validation curves of every seed, against the zoo's old seeds.

`base` is the classic tasks' recipe (policies/hyperparams/default.yml) at 500k steps: the zoo's
cards at git revision 95974f8. `narrow` and `narrow-norm` are the variants of
sweeps/nav2d_recipe_grid.yml at 2M steps (seeds 0-2);
`narrow-norm` is the recipe shipped in policies/hyperparams/NMN-Navigation2D-v0.yml, whose seeds
1-4 trained with sweeps/zoo_nav2d.yml. `budget-6m` is that recipe at 6M steps, the NMN only
(sweeps/nav2d_budget_grid.yml, seeds 0-4). `wide` is that recipe with the NMN widened to the
source's NMN-Bench2/3 sizes at 2M steps (sweeps/nav2d_nmn_wide_grid.yml, seeds 0-4). Their validation.csv files lie beside this script as
<policy>-<variant>-seed<N>.csv. Every run was validated on the same 100 tasks of the validation
set, mean actions. Oracle adaptation: (return - memoryless) / (oracle - memoryless), both
references played here on those 100 tasks. Run from the repository root:
    python benchmarks/results/nav2d_recipe_grid/table.py
"""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np

from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import validation_set

ENV = "NMN-Navigation2D-v0"
BASE_REVISION = "95974f8"
VALIDATION_TASKS = 100
HERE = Path(__file__).parent


def base_curve(policy: str, seed: int) -> tuple[list[float], float] | None:
    shown = subprocess.run(
        ["git", "show", f"{BASE_REVISION}:policies/zoo/{ENV}/{policy}-seed{seed}.json"],
        capture_output=True, text=True,
    )
    if shown.returncode != 0:
        return None
    curve = json.loads(shown.stdout)["curve"]
    return [p["mean_return"] for p in curve], curve[-1]["cpu_minutes"]


def grid_curve(policy: str, variant: str, seed: int) -> tuple[list[float], float] | None:
    path = HERE / f"{policy}-{variant}-seed{seed}.csv"
    if not path.exists():
        return None
    rows = list(csv.DictReader(path.open()))
    return [float(r["mean_return"]) for r in rows], float(rows[-1]["cpu_minutes"])


tasks, seeds = validation_set(ENV).head(VALIDATION_TASKS)
anchors = {name: float(play(reference(name, ENV), ENV, tasks, seeds).returns.mean()) for name in ("memoryless", "oracle")}


def oracle_adaptation(value: float) -> float:
    return (value - anchors["memoryless"]) / (anchors["oracle"] - anchors["memoryless"])


print(__doc__.split("\n\n")[0])
print(f"validation set, {VALIDATION_TASKS} tasks: memoryless {anchors['memoryless']:.2f}, oracle {anchors['oracle']:.2f}")
print("best / end: the curve's best and last mean return; adapt.: the end's oracle adaptation.\n")
print(f"{'policy':<7}{'variant':<13}{'seed':>5}{'best':>9}{'end':>9}{'adapt.':>8}{'CPU min':>9}")
for policy in ("nmn", "rnn"):
    for variant in ("base", "narrow", "narrow-norm", "budget-6m", "wide"):
        ends = []
        for seed in range(5):
            run = base_curve(policy, seed) if variant == "base" else grid_curve(policy, variant, seed)
            if run is None:
                continue
            returns, cpu = run
            ends.append(returns[-1])
            print(
                f"{policy:<7}{variant:<13}{seed:>5}{max(returns):>9.2f}{returns[-1]:>9.2f}"
                f"{oracle_adaptation(returns[-1]):>8.3f}{cpu:>9.1f}"
            )
        if len(ends) > 1:
            error = np.std(ends, ddof=1) / np.sqrt(len(ends))
            print(f"{policy:<7}{variant:<13}{'all':>5}{'':>9}{np.mean(ends):>9.2f}{oracle_adaptation(np.mean(ends)):>8.3f}"
                  f"   ({len(ends)} seeds; s.e. of the end {error:.2f})")
