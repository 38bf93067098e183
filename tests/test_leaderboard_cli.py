"""``nmn-leaderboard`` end to end: a harness result from ``nmn-eval`` submitted, listed, verified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from evaluate.task_sets import SET_SIZE
from leaderboard.cli import main
from leaderboard.store import DB_ENV_VAR, Store
from leaderboard.submission import make_card, parse_submission_json
from leaderboard.validation import validate
from policies.serialization import save_safe

ENV = "NMN-Bench1-v0"


@pytest.fixture(scope="module")
def agent_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small (untrained) PPO agent in the safe form, as a user saves one."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    env = gym.wrappers.FlattenObservation(gym.make(ENV))
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=8, seed=0, policy_kwargs={"net_arch": [8]})
    return save_safe(model, tmp_path_factory.mktemp("agent") / "tiny-ppo.safe.zip", env_id=ENV)


@pytest.fixture(scope="module")
def result_file(agent_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``nmn-eval`` of that agent on the full evaluation set, as a user runs it."""
    out = tmp_path_factory.mktemp("eval") / "r"
    command = [
        sys.executable,
        "-m",
        "evaluate",
        ENV,
        "--agent",
        str(agent_file),
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
    assert out.startswith("stored entry 1: tiny-ppo on NMN-Bench1-v0, normalised IQM ")

    code, out, _ = run(capsys, "list", "--env", ENV)
    assert code == 0
    lines = out.splitlines()
    ranked = {line.split("│")[3].strip(): line for line in lines if line.startswith("│")}
    # references beside it
    assert list(ranked) == ["oracle", "bayes", "memoryless", "tiny-ppo", "random"]
    entry = [cell.strip() for cell in ranked["tiny-ppo"].split("│")[1:-1]]
    assert entry[:3] == ["4", "1", "tiny-ppo"]
    value, low, high = (
        float(x) for x in entry[3].replace("[", " ").replace("]", " ").replace(",", " ").split()
    )
    assert low <= value <= high
    memoryless = [cell.strip() for cell in ranked["memoryless"].split("│")[1:-1]]
    assert memoryless[5].startswith("0.000 [")  # the adaptation score's 0
    assert any(line.startswith("adaptation: (mean - memoryless)") for line in lines)
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
    assert run(capsys, "remove", "1") == (0, "removed entry 1: tiny-ppo on NMN-Bench1-v0\n", "")
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
    db: Path,
    result_file: Path,
    agent_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(capsys, "submit", str(result_file))
    code, out, err = run(capsys, "verify", "1", "--agent", str(agent_file), "--no-progress")
    assert code == 0 and f"entry 1 is consistent with a re-run of {agent_file}" in out
    code, out, _ = run(capsys, "verify", "1", "--agent", "random", "--no-progress")
    assert code == 2 and "entry 1 is FLAGGED" in out

    code, _, err = run(capsys, "verify", "1", "--agent", "random", "--private", "--no-progress")
    assert code == 1 and "$NMN_LEADERBOARD_PRIVATE_SEED" in err
    monkeypatch.setenv("NMN_LEADERBOARD_PRIVATE_SEED", "271828")
    code, out, _ = run(capsys, "verify", "1", "--agent", "random", "--private", "--no-progress")
    assert code == 2, out
    assert "re-run on the private task set" in out
    assert "FLAGGED: the private re-run drops below the claimed interval" in out


def test_the_console_script_is_installed(db: Path) -> None:
    script = Path(sys.executable).with_name("nmn-leaderboard")
    completed = subprocess.run(
        [str(script), "list"], capture_output=True, text=True, env=os.environ.copy(), check=True
    )
    assert "the leaderboard is empty" in completed.stdout


def test_verify_runs_with_the_torch_settings_of_nmn_eval(
    db: Path, result_file: Path, agent_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from evaluate.model_options import DEFAULT_TORCH_THREADS

    run(capsys, "submit", str(result_file))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        code, out, _ = run(capsys, "verify", "1", "--agent", str(agent_file), "--no-progress")
        assert code == 0 and torch.get_num_threads() == DEFAULT_TORCH_THREADS == 1
        code, _, err = run(capsys, "verify", "1", "--agent", str(agent_file), "--threads", "0")
        assert code == 1 and "thread count must be a positive integer" in err
    finally:
        torch.set_num_threads(threads)


def test_user_text_reaches_the_terminal_escaped_and_is_stored_intact(
    db: Path, result_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Right-to-left marks are honest text in authors and descriptions: stored as sent, escaped
    on the terminal (so are names a board stored before names were checked for them).
    Control characters (NUL, escape sequences), and invisible ones in a name, are refused at
    the door."""
    code, _, err = run(capsys, "submit", str(result_file), "--name", "\x1b[2J\x1b[31mred\x00")
    assert code == 1 and "control characters (U+0000, U+001B)" in err and "\x1b" not in err
    reordering = "\u202eevil\u2066name"
    code, _, err = run(capsys, "submit", str(result_file), "--name", reordering)
    assert code == 1 and "invisible characters (U+202E, U+2066)" in err and "\u202e" not in err
    older = parse_submission_json(result_file.read_bytes())
    card = make_card(name=reordering, authors=[reordering], description=reordering)
    Store(db).add(validate(older).model_copy(update={"card": card}))
    for argv in (("list",), ("show", "1")):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "\u202e" not in out and "\u2066" not in out
        assert "\\u202eevil\\u2066name" in out
    assert Store(db).get(1).submission().card.authors == [reordering]


def test_unbounded_inputs_are_cut_at_the_limit(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "submit", "/dev/zero")
    assert code == 1 and "larger than the limit" in err
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def write_forever() -> None:
        try:
            with fifo.open("wb") as stream:
                while True:
                    stream.write(b" " * 2**20)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write_forever)
    writer.start()
    code, _, err = run(capsys, "submit", str(fifo))
    writer.join(timeout=60)
    assert code == 1 and "larger than the limit" in err
    code, _, err = run(capsys, "submit", str(tmp_path))
    assert code == 1 and "is a folder" in err


@pytest.mark.parametrize("entry_id", ["0", "99999999999999999999999"])
def test_ids_out_of_range_are_unknown(
    db: Path, capsys: pytest.CaptureFixture[str], entry_id: str
) -> None:
    assert run(capsys, "show", entry_id) == (1, "", f"no leaderboard entry with id {entry_id}\n")


def test_a_db_that_is_a_folder_or_not_a_database_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path), "list")
    assert (
        code == 1
        and err
        == f"nmn-leaderboard: error: {tmp_path} is a folder, not a leaderboard database file\n"
    )
    text = tmp_path / "notes.txt"
    text.write_text("plain text " * 100)
    code, _, err = run(capsys, "--db", str(text), "submit", str(text))
    assert code == 1 and err.count("\n") == 1 and "file is not a database" in err


def test_a_second_seed_replays_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seeding plays the references and the zoo through the cache of deterministic players: a
    second seed, of a new board in a new process (the board's references not yet computed),
    reads every rollout from it. On the first 12 tasks of the set, to keep the test short."""
    from evaluate import harness
    from evaluate.cache import CACHE_ENV
    from leaderboard import references, seed

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(seed, "SET_SIZE", 12)
    monkeypatch.setattr(references, "SET_SIZE", 12)
    plays: list[str] = []

    def counted_play(player, *args, **kwargs):  # type: ignore[no-untyped-def]
        plays.append(player.name)
        return play(player, *args, **kwargs)

    play = harness.play
    monkeypatch.setattr(harness, "play", counted_play)
    boards = []
    for run in ("first", "second"):
        monkeypatch.setattr(references, "_computed", {})  # as a new process starts
        plays.clear()
        db = tmp_path / f"{run}.sqlite"
        assert main(["--db", str(db), "seed", "--env", ENV, "--no-progress"]) == 0
        boards.append(Store(db).entries(ENV))
        if run == "first":  # each player once: the zoo's run reads its anchors back
            assert len(plays) == len(set(plays)) == 4 + 3, plays
    assert plays == []
    first, second = ({entry.agent_name: entry.submission().result.agent.returns for entry in board} for board in boards)
    assert second == first and len(first) == 4 + 3  # the references and the zoo's three
    capsys.readouterr()
