"""The slope table of NMN agents (benchmarks/slope_table.py): one row per agent, as
:func:`evaluate.analyses.slope_spread` measures it, untrained NMNs at given slope gains added."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evaluate import catalogues
from evaluate.agents import as_policy
from evaluate.analyses import slope_spread

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "slope_table.py"
HARLOW = "NMN-Harlow-v0"


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, cwd=ROOT)


def row_values(line: str) -> tuple[float, float]:
    _, deviation, below = line.split(" | ")
    return float(deviation), float(below)


def test_a_row_per_agent_and_untrained_rows_that_grow_with_the_gain() -> None:
    path, name = catalogues.find("zoo:nmn@seed1", HARLOW)
    finished = run(HARLOW, "zoo:nmn@seed1", "--fresh-gains", "1", "10", "--fresh-seeds", "2", "--n-tasks", "8")
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == f"# python benchmarks/slope_table.py {HARLOW} zoo:nmn@seed1 --fresh-gains 1 10 --fresh-seeds 2 --n-tasks 8"
    measured = slope_spread(as_policy(path, name=name), HARLOW, 8)
    assert lines[2] == f"zoo:nmn@seed1 | {measured.deviation[0]:.3f} | {measured.below_zero[0]:.3f}"
    fresh = [line for line in lines[3:] if line.startswith("fresh")]
    assert [line.split(" | ")[0] for line in fresh] == [
        f"fresh, slope_gain {gain}, seed {seed}" for gain in (1, 10) for seed in (0, 1)
    ]
    for seed in (0, 1):  # same initialisation but W_s: ten times the gain moves the slopes several times more
        assert row_values(fresh[2 + seed])[0] > 3.0 * row_values(fresh[seed])[0]


def test_bad_arguments_and_agents_without_slopes_are_refused_before_anything_is_played() -> None:
    refused = run(HARLOW, "zoo:nmn@seed0", "--n-tasks", "0")
    assert refused.returncode == 2 and "--n-tasks must be positive" in refused.stderr
    refused = run(HARLOW, "zoo:rnn@seed0")
    assert refused.returncode == 2 and "zoo:rnn@seed0 is not an NMN agent: it has no slopes" in refused.stderr
