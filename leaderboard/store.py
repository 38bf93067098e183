"""The leaderboard store: submissions in a SQL database through SQLAlchemy.

By default the store is a SQLite file in the user's data directory (``platformdirs``); the
``NMN_LEADERBOARD_DB`` environment variable or an explicit ``db`` argument (a file path or a
SQLAlchemy URL such as ``postgresql+psycopg://user@host/board``) chooses another.

Every write is one transaction. On SQLite each transaction starts with ``BEGIN IMMEDIATE``
(it takes the write lock before reading, so concurrent writers from several processes queue
on the busy timeout instead of failing half-way) and the file is in write-ahead-log mode, so a
writer killed mid-transaction leaves the last committed state readable. Submissions are unique
by content hash: the same submission twice is refused with :class:`DuplicateSubmission`.
Queries go through the ORM, so every value is a bound parameter.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from leaderboard.submission import Submission

DB_ENV_VAR = "NMN_LEADERBOARD_DB"
SQLITE_BUSY_TIMEOUT_S = 60.0


class DuplicateSubmission(ValueError):
    """The store already holds a submission with this content hash."""

    def __init__(self, content_hash: str, existing_id: int | None) -> None:
        super().__init__(
            f"duplicate submission: content hash {content_hash} is already entry {existing_id}"
        )
        self.content_hash = content_hash
        self.existing_id = existing_id


class UnknownEntry(KeyError):
    """No entry has the id asked for."""


class _Base(DeclarativeBase):
    pass


class Entry(_Base):
    """One stored submission: the columns the board sorts and filters on, and the full JSON."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    env_id: Mapped[str] = mapped_column(String(100), index=True)
    task_set_version: Mapped[str] = mapped_column(String(100))
    agent_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float, doc="normalised IQM")
    score_low: Mapped[float] = mapped_column(Float)
    score_high: Mapped[float] = mapped_column(Float)
    submitted: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str] = mapped_column(Text, doc="the submission's JSON")

    @classmethod
    def from_submission(cls, submission: Submission) -> Entry:
        """A new (unsaved) entry holding ``submission``, stamped with the current time."""
        score = submission.normalised_iqm()
        return cls(
            content_hash=submission.content_hash(),
            env_id=submission.result.env_id,
            task_set_version=submission.result.task_set.version,
            agent_name=submission.card.name,
            role=submission.result.agent.role,
            score=score.value,
            score_low=score.low,
            score_high=score.high,
            submitted=datetime.now(timezone.utc),
            payload=submission.model_dump_json(),
        )

    def submission(self) -> Submission:
        """The stored submission, parsed back."""
        return Submission.model_validate_json(self.payload)


def default_database_path() -> Path:
    """The SQLite file used when neither ``db`` nor ``NMN_LEADERBOARD_DB`` is given."""
    return platformdirs.user_data_path("nmn-bench") / "leaderboard.sqlite"


def database_url(db: str | os.PathLike[str] | None = None) -> str:
    """The SQLAlchemy URL for ``db`` (a URL or a file path), else the environment, else the default."""
    chosen = db if db is not None else os.environ.get(DB_ENV_VAR) or default_database_path()
    text = os.fspath(chosen)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=FULL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Store:
    """Stored submissions, read and written in transactions."""

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        self.url = database_url(db)
        self.engine = _make_engine(self.url)
        with self.engine.begin() as connection:
            _Base.metadata.create_all(connection)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def add(self, submission: Submission) -> Entry:
        """Store a (validated) submission; refuse one whose content hash is already stored.

        Raises:
            DuplicateSubmission: the same submission is already on the board.
        """
        entry = Entry.from_submission(submission)
        try:
            with self._sessions.begin() as session:
                session.add(entry)
        except IntegrityError:
            raise DuplicateSubmission(entry.content_hash, self._id_of(entry.content_hash)) from None
        return entry

    def entries(self, env_id: str | None = None) -> list[Entry]:
        """Stored entries, best normalised IQM first (ties: earlier submission first)."""
        query = select(Entry).order_by(Entry.score.desc(), Entry.submitted, Entry.id)
        if env_id is not None:
            query = query.where(Entry.env_id == env_id)
        with self._sessions.begin() as session:
            return list(session.scalars(query))

    def env_ids(self) -> list[str]:
        """The environments that have at least one entry, sorted."""
        return list(self.counts())

    def counts(self) -> dict[str, int]:
        """How many entries each environment has (those with at least one), sorted by id."""
        query = select(Entry.env_id, func.count()).group_by(Entry.env_id).order_by(Entry.env_id)
        with self._sessions.begin() as session:
            return {env_id: count for env_id, count in session.execute(query)}

    def get(self, entry_id: int) -> Entry:
        """The entry ``entry_id``.

        Raises:
            UnknownEntry: no such entry.
        """
        with self._sessions.begin() as session:
            return _existing(session, entry_id)

    def remove(self, entry_id: int) -> Entry:
        """Delete the entry ``entry_id`` and return it.

        Raises:
            UnknownEntry: no such entry.
        """
        with self._sessions.begin() as session:
            entry = _existing(session, entry_id)
            session.delete(entry)
        return entry

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _id_of(self, content_hash: str) -> int | None:
        with self._sessions.begin() as session:
            return session.scalar(select(Entry.id).where(Entry.content_hash == content_hash))


def _existing(session: Session, entry_id: int) -> Entry:
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise UnknownEntry(f"no leaderboard entry with id {entry_id}")
    return entry
