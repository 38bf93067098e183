"""The leaderboard store: transactions, duplicates, parallel writers and a killed writer on real files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from leaderboard.seed import reference_submissions
from leaderboard.store import (
    DB_ENV_VAR,
    DuplicateSubmission,
    Store,
    UnknownEntry,
    database_url,
    default_database_path,
)
from leaderboard.submission import AgentCard, Submission

WRITERS = 3
SUBMISSIONS_PER_WRITER = 6


@pytest.fixture(scope="module")
def references() -> Mapping[str, Submission]:
    return reference_submissions("NMN-Bench1-v0")


@pytest.fixture(scope="module")
def submission(references: Mapping[str, Submission]) -> Submission:
    return references["random"]


def renamed(submission: Submission, name: str) -> Submission:
    """The same result under another card: a distinct submission (another content hash)."""
    return submission.model_copy(update={"card": AgentCard(name=name)})


def test_add_get_list_remove(tmp_path: Path, submission: Submission) -> None:
    store = Store(tmp_path / "board.sqlite")
    first = store.add(renamed(submission, "first"))
    second = store.add(renamed(submission, "second"))
    assert [entry.id for entry in store.entries("NMN-Bench1-v0")] == [first.id, second.id]
    assert store.entries("NMN-Bench2-v0") == []
    assert store.env_ids() == ["NMN-Bench1-v0"]
    assert store.get(second.id).submission() == renamed(submission, "second")
    store.remove(first.id)
    assert [entry.id for entry in store.entries()] == [second.id]
    with pytest.raises(UnknownEntry, match=f"no leaderboard entry with id {first.id}"):
        store.get(first.id)
    with pytest.raises(UnknownEntry):
        store.remove(first.id)


def test_entries_are_ranked_by_normalised_iqm(
    tmp_path: Path, references: Mapping[str, Submission]
) -> None:
    store = Store(tmp_path / "board.sqlite")
    for name in ("random", "bayes", "oracle"):
        store.add(references[name])
    ranked = store.entries("NMN-Bench1-v0")
    # Bench1's oracle hits every step; the Bayes policy pays for two probes; random misses.
    assert [entry.agent_name for entry in ranked] == ["oracle", "bayes", "random"]
    assert ranked[0].score > ranked[1].score > ranked[2].score


def test_duplicate_is_refused_and_names_the_existing_entry(
    tmp_path: Path, submission: Submission
) -> None:
    store = Store(tmp_path / "board.sqlite")
    entry = store.add(submission)
    with pytest.raises(DuplicateSubmission, match=f"already entry {entry.id}"):
        store.add(Submission.model_validate_json(submission.model_dump_json()))
    assert len(store.entries()) == 1


def test_database_is_chosen_by_argument_then_environment_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    assert database_url() == f"sqlite:///{default_database_path()}"
    monkeypatch.setenv(DB_ENV_VAR, str(tmp_path / "env.sqlite"))
    assert database_url() == f"sqlite:///{tmp_path / 'env.sqlite'}"
    assert database_url(tmp_path / "arg.sqlite") == f"sqlite:///{tmp_path / 'arg.sqlite'}"
    url = "postgresql+psycopg://board@db.example/leaderboard"
    assert database_url(url) == url


PARALLEL_WRITER = textwrap.dedent(
    f"""
    import sys
    from leaderboard.store import DuplicateSubmission, Store
    from leaderboard.submission import AgentCard, Submission

    store = Store(sys.argv[1])
    writer = sys.argv[2]
    base = Submission.model_validate_json(sys.stdin.read())
    for index in range({SUBMISSIONS_PER_WRITER}):
        store.add(base.model_copy(update={{"card": AgentCard(name=f"writer {{writer}} #{{index}}")}}))
    try:
        store.add(base.model_copy(update={{"card": AgentCard(name="shared")}}))
        print("stored shared")
    except DuplicateSubmission:
        print("shared refused")
    """
)


def test_parallel_processes_lose_nothing(tmp_path: Path, submission: Submission) -> None:
    path = str(tmp_path / "board.sqlite")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", PARALLEL_WRITER, path, str(writer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for writer in range(WRITERS)
    ]
    document = submission.model_dump_json()
    outputs = [writer.communicate(document)[0].strip() for writer in writers]
    assert [writer.returncode for writer in writers] == [0] * WRITERS
    assert sorted(outputs) == ["shared refused"] * (WRITERS - 1) + ["stored shared"]
    names = sorted(entry.agent_name for entry in Store(path).entries())
    expected = sorted(
        [f"writer {w} #{i}" for w in range(WRITERS) for i in range(SUBMISSIONS_PER_WRITER)]
        + ["shared"]
    )
    assert names == expected


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy.orm import Session
    from leaderboard.store import Entry, Store
    from leaderboard.submission import Submission

    store = Store(sys.argv[1])
    submission = Submission.model_validate_json(sys.stdin.read())
    with Session(store.engine) as session, session.begin():
        session.add(Entry.from_submission(submission))
        session.flush()  # the row is written inside the open transaction
        print("written", flush=True)
        time.sleep(600)
    """
)


def test_killed_writer_leaves_the_store_readable_and_consistent(
    tmp_path: Path, submission: Submission
) -> None:
    path = tmp_path / "board.sqlite"
    kept = Store(path).add(renamed(submission, "committed before"))
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    writer.stdin.write(renamed(submission, "never committed").model_dump_json())
    writer.stdin.close()
    assert writer.stdout.readline().strip() == "written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = Store(path)
    assert [entry.agent_name for entry in store.entries()] == ["committed before"]
    assert store.get(kept.id).submission() == renamed(submission, "committed before")
    after = store.add(renamed(submission, "written after the kill"))
    assert [entry.id for entry in store.entries()] == [kept.id, after.id]
