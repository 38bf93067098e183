"""The leaderboard store on SQLite and on a real PostgreSQL server: transactions, duplicates,
parallel writers, a killed writer, tokens, and databases that cannot be opened."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pytest

from leaderboard.board import Boards
from leaderboard.seed import reference_submissions
from leaderboard.store import (
    DB_ENV_VAR,
    DuplicateSubmission,
    Store,
    StoreError,
    UnknownEntry,
    database_url,
    default_database_path,
)
from leaderboard.submission import AgentCard, Submission
from tests.store_variants import renamed

WRITERS = 3
SUBMISSIONS_PER_WRITER = 6


@pytest.fixture(scope="module")
def references() -> Mapping[str, Submission]:
    return reference_submissions("NMN-Bench1-v0")


@pytest.fixture(scope="module")
def submission(references: Mapping[str, Submission]) -> Submission:
    return references["random"]


def test_add_get_list_remove(database: str, submission: Submission) -> None:
    store = Store(database)
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
    database: str, references: Mapping[str, Submission]
) -> None:
    store = Store(database)
    for name in ("random", "bayes", "oracle"):
        store.add(references[name])
    ranked = store.entries("NMN-Bench1-v0")
    # Bench1's oracle hits every step; the Bayes policy pays for two probes; random misses.
    assert [entry.agent_name for entry in ranked] == ["oracle", "bayes", "random"]
    assert ranked[0].score > ranked[1].score > ranked[2].score


def test_duplicate_is_refused_and_names_the_existing_entry(
    database: str, submission: Submission
) -> None:
    store = Store(database)
    entry = store.add(submission)
    with pytest.raises(DuplicateSubmission, match=f"already entry {entry.id}"):
        store.add(Submission.model_validate_json(submission.model_dump_json()))
    created = datetime(2001, 1, 1, tzinfo=timezone.utc)
    redated = submission.result.model_copy(update={"created": created})
    recarded = Submission(card=AgentCard(name="another name", authors=["x"]), result=redated)
    with pytest.raises(DuplicateSubmission, match=f"already entry {entry.id}"):
        store.add(recarded)
    assert len(store.entries()) == 1


def test_every_write_of_a_submission_bumps_the_revision_all_stores_read(
    database: str, submission: Submission
) -> None:
    store, other = Store(database), Store(database)
    assert store.revision() == 0
    entry = store.add(renamed(submission, "first"))
    assert store.revision() == other.revision() == 1
    with pytest.raises(DuplicateSubmission):
        other.add(renamed(submission, "first"))
    store.create_token("not a board change")
    assert other.revision() == 1
    other.remove(entry.id)
    assert store.revision() == 2
    assert Store(database).revision() == 2  # opening a store again keeps the revision


def test_a_table_is_computed_once_per_revision_whichever_store_writes(
    database: str, submission: Submission
) -> None:
    boards, writer = Boards(Store(database)), Store(database)  # two pools, as two processes
    first = writer.add(renamed(submission, "first"))
    kept = boards.table("NMN-Bench1-v0")
    assert boards.table("NMN-Bench1-v0") is kept
    assert boards.table_json("NMN-Bench1-v0") is boards.table_json("NMN-Bench1-v0")
    second = writer.add(renamed(submission, "second"))
    changed = boards.table("NMN-Bench1-v0")
    assert changed is not kept
    assert {row.id for row in changed.rows} - {None} == {first.id, second.id}
    served = json.loads(boards.table_json("NMN-Bench1-v0"))["rows"]
    assert {row["id"] for row in served} - {None} == {first.id, second.id}
    writer.remove(second.id)
    assert {row.id for row in boards.table("NMN-Bench1-v0").rows} - {None} == {first.id}


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
    from leaderboard.submission import Submission
    from tests.store_variants import renamed

    store = Store(sys.argv[1])
    writer = sys.argv[2]
    base = Submission.model_validate_json(sys.stdin.read())
    for index in range({SUBMISSIONS_PER_WRITER}):
        store.add(renamed(base, f"writer {{writer}} #{{index}}"))
    try:
        store.add(renamed(base, "shared"))
        print("stored shared")
    except DuplicateSubmission:
        print("shared refused")
    """
)


def test_parallel_processes_lose_nothing(database: str, submission: Submission) -> None:
    path = database
    Store(path).close()  # the tables exist before the writers race
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", PARALLEL_WRITER, path, str(writer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
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
    database: str, submission: Submission
) -> None:
    path = database
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

    if "://" not in path:
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = Store(path)
    assert [entry.agent_name for entry in store.entries()] == ["committed before"]
    assert store.get(kept.id).submission() == renamed(submission, "committed before")
    after = store.add(renamed(submission, "written after the kill"))
    assert [entry.id for entry in store.entries()] == [kept.id, after.id]


def test_write_tokens_are_stored_hashed_and_can_be_revoked(database: str) -> None:
    store = Store(database)
    secret = store.create_token("ci bot")
    assert store.token_name(secret) == "ci bot"
    assert store.token_name(secret + "x") is None
    assert store.token_name("") is None
    with store.engine.connect() as connection:
        stored = [row[0] for row in connection.exec_driver_sql("SELECT secret_hash FROM tokens")]
    assert secret not in stored and len(stored[0]) == 64
    with pytest.raises(ValueError, match="already exists"):
        store.create_token("ci bot")
    with pytest.raises(ValueError, match="1 to 80 printable"):
        store.create_token("\x1b[31m")
    store.revoke_token("ci bot")
    assert store.token_name(secret) is None
    with pytest.raises(ValueError, match="no token named"):
        store.revoke_token("ci bot")


@pytest.mark.parametrize("entry_id", [0, -1, 2**63, 10**30])
def test_ids_out_of_range_are_unknown_entries(database: str, entry_id: int) -> None:
    store = Store(database)
    with pytest.raises(UnknownEntry, match=f"no leaderboard entry with id {entry_id}"):
        store.get(entry_id)
    with pytest.raises(UnknownEntry):
        store.remove(entry_id)


def test_a_folder_or_a_file_that_is_not_a_database_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder, not a leaderboard database file"):
        Store(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a database " * 100)
    with pytest.raises(StoreError, match="file is not a database") as caught:
        Store(text)
    assert "\n" not in str(caught.value)
    with pytest.raises(StoreError, match="no leaderboard database at"):
        Store(tmp_path / "missing.sqlite", read_only=True)


READ_ONLY_USER = textwrap.dedent(
    """
    import os, pwd, sqlite3, sys
    import sqlalchemy.dialects.sqlite.pysqlite  # imported before the privileges are dropped
    from leaderboard.cli import main
    from leaderboard.store import Store, StoreError
    from leaderboard.submission import Submission

    submission = Submission.model_validate_json(sys.stdin.read())
    if os.geteuid() == 0:  # root may write anything: read as an unprivileged user
        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    print("entries", [entry.agent_name for entry in Store(sys.argv[1], read_only=True).entries()])
    try:
        Store(sys.argv[1]).add(submission)
    except StoreError as error:
        print("refused:", error)
    sys.stdout.flush()
    os.environ["COLUMNS"] = "200"
    print("list exit", main(["--db", sys.argv[1], "list"]))
    """
)


def test_a_read_only_file_can_be_listed_and_refuses_writes_in_one_line(
    submission: Submission,
) -> None:
    """Read by a user who may only read the file and its folder (as root: by nobody)."""
    folder = Path(tempfile.mkdtemp(prefix="nmn-read-only-"))
    try:
        folder.chmod(0o755)
        path = folder / "board.sqlite"
        writer = Store(path)
        writer.add(renamed(submission, "kept"))
        writer.close()  # the last connection folds the write-ahead log back into the file
        assert sorted(item.name for item in folder.iterdir()) == ["board.sqlite"]
        path.chmod(0o444)
        folder.chmod(0o555)
        completed = subprocess.run(
            [sys.executable, "-c", READ_ONLY_USER, str(path)],
            input=renamed(submission, "new").model_dump_json(),
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        assert completed.returncode == 0, completed.stderr
        lines = completed.stdout.splitlines()
        assert lines[0] == "entries ['kept']"
        assert lines[1].startswith("refused: cannot open the leaderboard database sqlite:///")
        assert lines[1].endswith("attempt to write a readonly database")
        assert any("│ kept" in line for line in lines[2:])
        assert lines[-1] == "list exit 0"
        assert completed.stderr == ""
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_a_missing_postgres_driver_names_the_package() -> None:
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from leaderboard.store import Store, StoreError\n"
        "try:\n    Store('postgresql+psycopg://board@localhost/board')\n"
        "except StoreError as error:\n    print(error)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "pip install 'nmn-bench[postgres]' (psycopg)" in completed.stdout, completed.stderr
