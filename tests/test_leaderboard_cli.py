"""``nmn-leaderboard`` end to end: a harness result from ``nmn-eval`` submitted, listed, verified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluate.task_sets import SET_SIZE
from leaderboard.cli import main
from leaderboard.store import DB_ENV_VAR

ENV = "NMN-Bench1-v0"


@pytest.fixture(scope="module")
def result_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``nmn-eval`` of the random agent on the full evaluation set, as a user runs it."""
    out = tmp_path_factory.mktemp("eval") / "r"
    command = [
        sys.executable,
        "-m",
        "evaluate",
        ENV,
        "--agent",
        "random",
        "--n-tasks",
        str(SET_SIZE),
        "--out",
        str(out),
        "--no-progress",
    ]
    subprocess.run(command, check=True, capture_output=True)
    return out / "result.json"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store, chosen through the environment variable as a user would."""
    path = tmp_path / "board.sqlite"
    monkeypatch.setenv(DB_ENV_VAR, str(path))
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_submit_then_list_shows_the_entry_ranked_with_its_ci(
    db: Path, result_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "submit", str(result_file), "--author", "Ada", "--url", "https://example.org/x"
    )
    assert code == 0
    assert out.startswith("stored entry 1: random on NMN-Bench1-v0, normalised IQM ")

    code, out, _ = run(capsys, "list", "--env", ENV)
    assert code == 0
    lines = out.splitlines()
    ranked = {line.split("│")[3].strip(): line for line in lines if line.startswith("│")}
    assert list(ranked) == ["oracle", "bayes", "random"]  # the references rank beside it
    entry = [cell.strip() for cell in ranked["random"].split("│")[1:-1]]
    assert entry[:3] == ["3", "1", "random"]
    value, low, high = (
        float(x) for x in entry[3].replace("[", " ").replace("]", " ").replace(",", " ").split()
    )
    assert low <= value <= high
    assert any(line.startswith("bound bayes (exact): ") for line in lines)

    code, out, _ = run(capsys, "show", "1")
    assert "authors: Ada" in out and "url: https://example.org/x" in out
    assert f"{SET_SIZE} tasks" in out


def test_a_copy_with_edited_returns_is_refused_naming_the_mismatch(
    db: Path, result_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(result_file.read_text())
    document["agent"]["returns"][0] += 50.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    code, _, err = run(capsys, "submit", str(edited))
    assert code == 1
    assert err.startswith("refused: result.agent.mean.value: claims ")
    assert "recomputed from the per-task returns" in err
    assert run(capsys, "list")[1].startswith("the leaderboard is empty")


def test_duplicates_missing_files_and_unknown_ids_are_refused(
    db: Path, result_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "submit", str(result_file))[0] == 0
    code, _, err = run(capsys, "submit", str(result_file))
    assert code == 1 and "duplicate submission" in err and "already entry 1" in err
    code, _, err = run(capsys, "submit", str(result_file.parent / "missing.json"))
    assert code == 1 and "missing.json" in err
    code, _, err = run(
        capsys, "submit", str(result_file), "--name", "x", "--url", "javascript:alert(1)"
    )
    assert code == 1 and err.startswith("refused: card.url")
    assert run(capsys, "show", "7")[0] == 1
    assert run(capsys, "remove", "1") == (0, "removed entry 1: random on NMN-Bench1-v0\n", "")
    assert run(capsys, "remove", "1")[2] == "no leaderboard entry with id 1\n"


def test_export_and_the_db_option(
    tmp_path: Path, result_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "chosen.sqlite"
    assert run(capsys, "--db", str(db), "submit", str(result_file))[0] == 0
    code, out, _ = run(capsys, "--db", str(db), "export", "--html", str(tmp_path / "site"))
    assert code == 0 and out.strip().endswith(str(tmp_path / "site" / "index.html"))
    assert (tmp_path / "site" / f"{ENV}.html").exists()


def test_verify_reruns_the_agent_and_flags_a_claim_outside_the_ci(
    db: Path, result_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "submit", str(result_file))
    code, out, err = run(capsys, "verify", "1", "--agent", "random", "--no-progress")
    assert "loads and runs the agent on this machine" in err
    assert code == 0 and "entry 1 is consistent with a re-run of random" in out
    code, out, _ = run(capsys, "verify", "1", "--agent", "bayes", "--no-progress")
    assert code == 2 and "entry 1 is FLAGGED" in out


def test_the_console_script_is_installed(db: Path) -> None:
    script = Path(sys.executable).with_name("nmn-leaderboard")
    completed = subprocess.run(
        [str(script), "list"], capture_output=True, text=True, env=os.environ.copy(), check=True
    )
    assert "the leaderboard is empty" in completed.stdout


def test_verify_runs_with_the_torch_settings_of_nmn_eval(
    db: Path, result_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from evaluate.model_options import DEFAULT_TORCH_THREADS

    run(capsys, "submit", str(result_file))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        code, out, _ = run(capsys, "verify", "1", "--agent", "random", "--no-progress")
        assert code == 0 and torch.get_num_threads() == DEFAULT_TORCH_THREADS == 1
        code, _, err = run(capsys, "verify", "1", "--agent", "random", "--threads", "0")
        assert code == 1 and "thread count must be a positive integer" in err
    finally:
        torch.set_num_threads(threads)
