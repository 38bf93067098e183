"""The steering table of many agents (benchmarks/steering_table.py): one row per agent, as nmn-eval measures it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evaluate import catalogues
from evaluate.agents import as_policy
from evaluate.steering import steering

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "steering_table.py"


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, cwd=ROOT)


def test_a_row_per_agent_with_the_analysis_numbers() -> None:
    path, name = catalogues.find("zoo:nmn@seed0", "NMN-Bench2-v0")
    finished = run("NMN-Bench2-v0", "zoo:nmn@seed0", str(path), "--n-tasks", "2")
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == f"# python benchmarks/steering_table.py NMN-Bench2-v0 zoo:nmn@seed0 {path} --n-tasks 2"
    measured = steering(as_policy(path, name=name), "NMN-Bench2-v0", 2)
    expected = f"target {measured.hits['target']:.1f} | " + " ".join(f"{error:5.1f}" for error in measured.mean_error)
    assert lines[2] == f"{name} | {expected}"  # by its catalogued name
    assert lines[3] == f"{path} | {expected}"  # by its file: the same model, the same row


def test_bad_arguments_are_refused_by_name_before_anything_is_played() -> None:
    refused = run("NMN-Bench2-v0", "zoo:nmn@seed0", "--n-tasks", "0")
    assert refused.returncode == 2 and "--n-tasks must be positive" in refused.stderr
    refused = run("NMN-Bench1-v0", "zoo:nmn@seed0")
    assert refused.returncode == 2 and "invalid choice: 'NMN-Bench1-v0'" in refused.stderr
