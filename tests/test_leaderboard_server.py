"""A shared board: ``nmn-leaderboard serve`` on 127.0.0.1 written to over HTTP with tokens."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from leaderboard.cli import main
from leaderboard.store import Store
from tests.served import free_port, get, post, serving
from tests.submissions import agent_submission

ENV = "NMN-Bench1-v0"
PARALLEL_POSTS = 12


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A served board: its database and its URL."""
    db = tmp_path_factory.mktemp("shared") / "board.sqlite"
    Store(db).close()
    with serving(db) as url:
        yield db, url


@pytest.fixture(scope="module")
def token(board: tuple[Path, str]) -> str:
    """A token made while the server runs (the server reads tokens at each request)."""
    return Store(board[0]).create_token("tests")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_token_is_printed_once_and_listed_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "board.sqlite")
    code, out, _ = run(capsys, "--db", db, "token", "create", "ci")
    secret = out.splitlines()[-1]
    assert code == 0 and secret.startswith("nmnlb_")
    code, out, _ = run(capsys, "--db", db, "token", "list")
    assert out.startswith("ci\tcreated ") and secret not in out
    assert run(capsys, "--db", db, "token", "revoke", "ci")[0] == 0
    code, _, err = run(capsys, "--db", db, "token", "revoke", "ci")
    assert code == 1 and "no token named 'ci'" in err


def test_parallel_authorised_posts_of_distinct_results_are_all_stored(
    board: tuple[Path, str], token: str
) -> None:
    db, url = board
    bodies = [
        agent_submission(variant, name=f"parallel {variant}").model_dump_json()
        for variant in range(PARALLEL_POSTS)
    ]
    with ThreadPoolExecutor(PARALLEL_POSTS) as pool:
        answers = list(pool.map(lambda body: post(url, body, token), bodies))
    assert [status for status, _ in answers] == [201] * PARALLEL_POSTS, answers
    stored = {entry.agent_name for entry in Store(db).entries(ENV)}
    assert {f"parallel {variant}" for variant in range(PARALLEL_POSTS)} <= stored


def test_posts_without_a_valid_token_are_refused(board: tuple[Path, str]) -> None:
    _, url = board
    body = agent_submission(20, name="anonymous").model_dump_json()
    assert post(url, body, None)[0] == 401
    assert post(url, body, "nmnlb_guessed")[0] == 401


def test_submit_to_a_server_with_a_token(
    board: tuple[Path, str], token: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, url = board
    result = tmp_path / "result.json"
    result.write_text(agent_submission(30, name="remote").result.model_dump_json())
    code, out, err = run(
        capsys, "submit", str(result), "--name", "remote", "--server", url, "--token", token
    )
    assert code == 0, err
    assert out.startswith("stored entry ") and f"on {url}" in out
    assert "remote" in {entry.agent_name for entry in Store(db).entries(ENV)}

    code, _, err = run(
        capsys, "submit", str(result), "--name", "again", "--server", url, "--token", token
    )
    assert code == 1 and "409" in err and "duplicate submission" in err
    code, _, err = run(capsys, "submit", str(result), "--server", url, "--token", "nmnlb_wrong")
    assert code == 1 and err == f"refused: --token: the server at {url} refused the token\n"
    tampered = json.loads(result.read_text())
    tampered["agent"]["returns"][0] = 1e12
    result.write_text(json.dumps(tampered))
    code, _, err = run(
        capsys, "submit", str(result), "--name", "x", "--server", url, "--token", token
    )
    assert code == 1 and err.startswith(
        "refused: result.agent.returns.0: 1000000000000.0 is outside"
    )
    nobody = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "submit", str(result), "--server", nobody, "--token", token)
    assert code == 1 and err.startswith(f"refused: --server: cannot reach {nobody}")
    code, _, err = run(capsys, "submit", str(result), "--server", url)
    assert code == 1 and "needs a token" in err


def agents(table: dict) -> set[str]:
    """The agents of a table's stored rows (the references not seeded have no id)."""
    return {row["agent"] for row in table["rows"] if row["id"] is not None}


def test_reads_answer_while_a_writer_holds_the_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "board.sqlite"
    Store(db).add(agent_submission(40, name="committed"))
    with serving(db) as url:
        writer = sqlite3.connect(db, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM submissions")  # not committed while the reads run
        try:
            envs = get(f"{url}/api/envs")
            board = get(f"{url}/api/tables/{ENV}")
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    assert envs == (200, [{"env_id": ENV, "entries": 1}])
    assert board[0] == 200 and agents(board[1]) == {"committed"}


def test_served_tables_follow_the_writes_of_other_processes(tmp_path: Path) -> None:
    db = tmp_path / "board.sqlite"
    store = Store(db)
    first = store.add(agent_submission(41, name="first"))
    with serving(db) as url:
        table_url = f"{url}/api/tables/{ENV}"
        assert agents(get(table_url)[1]) == {"first"}
        store.add(agent_submission(42, name="second"))  # written by this process, not the server
        assert agents(get(table_url)[1]) == {"first", "second"}
        store.remove(first.id)
        assert agents(get(table_url)[1]) == {"second"}
        assert get(f"{url}/api/envs")[1] == [{"env_id": ENV, "entries": 1}]
