"""The README's flow, command by command, as a user runs it: train, score, submit, verify.

Played on NMN-Bandit-v0, whose 100-step meta-episodes keep the full evaluation set (which a
submission needs) quick; the commands are the README's for NMN-Bench1-v0.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = "NMN-Bandit-v0"


def command(name: str, *args: str, cwd: Path) -> str:
    """Run one of the package's console scripts; return its standard output."""
    script = Path(sys.executable).with_name(name)
    done = subprocess.run(
        [str(script), *args], cwd=cwd, capture_output=True, text=True, env=os.environ.copy()
    )
    assert done.returncode == 0, f"{name} {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_train_score_submit_and_verify_a_sampled_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NMN_LEADERBOARD_DB", str(tmp_path / "board.sqlite"))
    command("nmn-train", ENV, "--policy", "nmn", "--seed", "0", "--timesteps", "2000",
            "--out", "runs/nmn-bench1", "--no-progress-bar", cwd=tmp_path)
    assert "is complete" in command("nmn-train", "--resume", "runs/nmn-bench1", cwd=tmp_path)
    command("nmn-eval", ENV, "--agent", "runs/nmn-bench1/model.safe.zip", "--sample-actions",
            "--n-tasks", "1000", "--out", "out/nmn", "--no-progress", cwd=tmp_path)
    submitted = command("nmn-leaderboard", "submit", "out/nmn/result.json", "--author", "Ada",
                        cwd=tmp_path)
    entry = submitted.split()[2].rstrip(":")
    verified = command("nmn-leaderboard", "verify", entry, "--agent", "runs/nmn-bench1/model.safe.zip",
                       "--no-progress", cwd=tmp_path)
    assert f"entry {entry} is consistent with a re-run" in verified
    assert "mean: claimed" in verified and "OUTSIDE" not in verified
