"""The leaderboard store: submissions in a SQL database through SQLAlchemy.

By default the store is a SQLite file in the user's data directory (``platformdirs``); the
``NMN_LEADERBOARD_DB`` environment variable or an explicit ``db`` argument (a file path or a
SQLAlchemy URL such as ``postgresql+psycopg://user@host/board``) chooses another.

Each environment has a main track and a track per named shift of its task distribution
(:mod:`evaluate.shifts`): an entry records its shift's name (empty on the main track), and the
board of a track holds its entries only. A database written before the tracks existed gets the
column on opening (every entry it holds is of a main track).

Every write is one transaction. On SQLite each write starts with ``BEGIN IMMEDIATE`` (it
takes the write lock before reading, so concurrent writers from several processes queue on the
busy timeout instead of failing half-way) and the file is in write-ahead-log mode, so a writer
killed mid-transaction leaves the last committed state readable. Reads are plain (deferred)
transactions: they never take the write lock, and a writer holding it does not delay them.
Every write of a submission bumps the board's revision (:meth:`Store.revision`), a counter
kept in the database, so that a table computed from the entries (:class:`leaderboard.board.Boards`)
is kept until the board changes, in every process that shares the database. Submissions are unique
by content hash (the agent's returns on a task set), and a result whose returns agree with a
stored one's to the rounding of a meta-episode's sum
(:meth:`~leaderboard.submission.Submission.same_result`) is the same result: either is refused
with :class:`DuplicateSubmission`. Queries go through the ORM, so every value is a bound parameter.

A store opened with ``read_only=True`` (an existing SQLite file) never writes, so that
reading commands work on a file the user may only read. The tokens that authorise writes
over HTTP are stored as SHA-256 hashes of random secrets; the secret is shown once, when it
is created. A database that cannot be opened (a directory, a file that is not a database,
a missing driver) is a :class:`StoreError` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import os
import secrets
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
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from evaluate.schema import ShiftInfo
from leaderboard.submission import RETURN_RELATIVE_TOLERANCE, Submission

DB_ENV_VAR = "NMN_LEADERBOARD_DB"
SQLITE_BUSY_TIMEOUT_S = 60.0
MAX_ENTRY_ID = 2**63 - 1
TOKEN_PREFIX = "nmnlb_"


class StoreError(ValueError):
    """The database cannot be opened or written; the message is one line for the user."""


class DuplicateSubmission(ValueError):
    """The store already holds this result: the same content hash, or returns that differ only
    in their last digits (``within``: the relative tolerance they agree to)."""

    def __init__(
        self, content_hash: str, existing_id: int | None, within: float | None = None
    ) -> None:
        super().__init__(
            f"duplicate submission: content hash {content_hash} is already entry {existing_id}"
            if within is None
            else f"duplicate submission: its returns are those of entry {existing_id} to a "
            f"relative {within:g} (content hash {content_hash})"
        )
        self.content_hash = content_hash
        self.existing_id = existing_id


MAIN_TRACK = ""
"""The ``shift`` of an entry of an environment's registered task distribution."""


def track_of(shift: ShiftInfo | None) -> str:
    """The track of a result played on ``shift`` (:data:`MAIN_TRACK` without one)."""
    return MAIN_TRACK if shift is None else shift.name


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
    shift: Mapped[str] = mapped_column(
        String(100), default=MAIN_TRACK, server_default=MAIN_TRACK, doc="the shift's name; empty on the main track"
    )
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
            shift=track_of(submission.result.shift),
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


class BoardRevision(_Base):
    """The board's revision: one row, whose counter every write of a submission increments."""

    __tablename__ = "board_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


BOARD_REVISION_ID = 1


class Token(_Base):
    """A write token: its name and the SHA-256 of its secret (the secret is never stored)."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _hash_secret(secret: str) -> str:
    # The secrets are 256 random bits, so one SHA-256 is as good as a slow password hash.
    return hashlib.sha256(secret.encode()).hexdigest()


def default_database_path() -> Path:
    """The SQLite file used when neither ``db`` nor ``NMN_LEADERBOARD_DB`` is given."""
    return platformdirs.user_data_path("nmn-bench") / "leaderboard.sqlite"


def database_url(db: str | os.PathLike[str] | None = None, create_folder: bool = True) -> str:
    """The SQLAlchemy URL for ``db`` (a URL or a file path), else the environment, else the default."""
    chosen = db if db is not None else os.environ.get(DB_ENV_VAR) or default_database_path()
    text = os.fspath(chosen)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    if create_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


_READING = "nmn_reading"
"""The execution option of the engine that reads: its SQLite transactions start deferred."""


def _make_engine(url: str, read_only: bool, immutable: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as error:
            raise StoreError(
                f"the database driver for {parsed.drivername} is not installed ({error.name}): "
                "for PostgreSQL run pip install 'nmn-bench[postgres]' (psycopg)"
            ) from None
    path = Path(parsed.database or "")
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a leaderboard database file")
    if read_only:
        options = "immutable=1" if immutable else "mode=ro"
        engine = create_engine(
            f"sqlite:///file:{path}?{options}&uri=true",
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        )
    else:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        if not read_only:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=FULL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        reading = read_only or connection.get_execution_options().get(_READING, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


def reason(error: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's statement and links."""
    original = getattr(error, "orig", None) or error
    return (
        str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    )


class Store:
    """Stored submissions and write tokens, read and written in transactions.

    Args:
        db: a SQLite file or a SQLAlchemy URL (default: see :func:`database_url`).
        read_only: open an existing SQLite file for reading only (nothing is created).

    Raises:
        StoreError: the database cannot be opened (with a one-line reason).
    """

    def __init__(self, db: str | os.PathLike[str] | None = None, read_only: bool = False) -> None:
        try:
            self.url = database_url(db, create_folder=not read_only)
        except OSError as error:
            raise StoreError(
                f"cannot create the folder of the database {db}: {error.strerror}"
            ) from None
        read_only = read_only and make_url(self.url).get_backend_name() == "sqlite"
        self.read_only = read_only
        if read_only and not Path(make_url(self.url).database or "").is_file():
            raise StoreError(f"no leaderboard database at {self.url}")
        # A reader that may not create the write-ahead log's index (a folder it cannot write)
        # reads the file as immutable: the last checkpointed state.
        attempts = (False, True) if read_only else (False,)
        for immutable in attempts:
            self.engine = _make_engine(self.url, read_only, immutable)
            try:
                with self.engine.begin() as connection:
                    if read_only:
                        found = connection.exec_driver_sql(
                            "SELECT count(*) FROM sqlite_master WHERE name = 'submissions'"
                        ).scalar()
                        if not found:
                            raise StoreError(f"{self.url} holds no leaderboard")
                    else:
                        _Base.metadata.create_all(connection)
                        _add_track_column(connection)
                        _start_revision(connection)
                break
            except SQLAlchemyError as error:
                self.engine.dispose()
                if immutable == attempts[-1]:
                    raise StoreError(
                        f"cannot open the leaderboard database {self.url}: {reason(error)}"
                    ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reading = self.engine.execution_options(**{_READING: True})
        self._reads = sessionmaker(self._reading, expire_on_commit=False)

    def add(self, submission: Submission) -> Entry:
        """Store a (validated) submission; refuse one whose result is already stored.

        Raises:
            DuplicateSubmission: the same result (see the module docstring) is on the board.
        """
        # Stored only as what reads back: a copy made with model_copy skipped validation.
        submission = Submission.model_validate_json(submission.model_dump_json())
        entry = Entry.from_submission(submission)
        try:
            with self._sessions.begin() as session:
                session.add(entry)
                # Writes the entry and locks the revision, so concurrent writers check in turn.
                _bump_revision(session)
                twin = _same_result(session, submission, entry)
                if twin is not None:
                    raise DuplicateSubmission(
                        entry.content_hash, twin.id, within=RETURN_RELATIVE_TOLERANCE
                    )
        except IntegrityError:
            raise DuplicateSubmission(entry.content_hash, self._id_of(entry.content_hash)) from None
        except SQLAlchemyError as error:
            raise StoreError(f"cannot write to {self.url}: {reason(error)}") from None
        return entry

    def entries(self, env_id: str | None = None, shift: str | None = None) -> list[Entry]:
        """Stored entries, best normalised IQM first (ties: earlier submission first): all of
        them, or those of one track: ``env_id``'s main track, or its shift ``shift``'s."""
        query = select(Entry).order_by(Entry.score.desc(), Entry.submitted, Entry.id)
        if env_id is not None:
            query = query.where(Entry.env_id == env_id, Entry.shift == (shift or MAIN_TRACK))
        with self._reads.begin() as session:
            return list(session.scalars(query))

    def shifts(self, env_id: str) -> list[str]:
        """The shifts of ``env_id`` whose tracks have at least one entry, sorted."""
        query = (
            select(Entry.shift)
            .where(Entry.env_id == env_id, Entry.shift != MAIN_TRACK)
            .distinct()
            .order_by(Entry.shift)
        )
        with self._reads.begin() as session:
            return list(session.scalars(query))

    def env_ids(self) -> list[str]:
        """The environments that have at least one entry, sorted."""
        return list(self.counts())

    def counts(self) -> dict[str, int]:
        """How many entries each environment has (those with at least one), sorted by id."""
        query = select(Entry.env_id, func.count()).group_by(Entry.env_id).order_by(Entry.env_id)
        with self._reads.begin() as session:
            return {env_id: count for env_id, count in session.execute(query)}

    def get(self, entry_id: int) -> Entry:
        """The entry ``entry_id``.

        Raises:
            UnknownEntry: no such entry.
        """
        with self._reads.begin() as session:
            return _existing(session, entry_id)

    def remove(self, entry_id: int) -> Entry:
        """Delete the entry ``entry_id`` and return it.

        Raises:
            UnknownEntry: no such entry.
        """
        try:
            with self._sessions.begin() as session:
                entry = _existing(session, entry_id)
                session.delete(entry)
                _bump_revision(session)
        except SQLAlchemyError as error:
            raise StoreError(f"cannot write to {self.url}: {reason(error)}") from None
        return entry

    def create_token(self, name: str) -> str:
        """Create the write token ``name``; return its secret (shown once, stored hashed).

        Raises:
            ValueError: an empty or overlong name, or one already in use.
        """
        name = name.strip()
        if not 0 < len(name) <= 80 or not name.isprintable():
            raise ValueError("a token name needs 1 to 80 printable characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = Token(
            name=name, secret_hash=_hash_secret(secret), created=datetime.now(timezone.utc)
        )
        try:
            with self._sessions.begin() as session:
                session.add(token)
        except IntegrityError:
            raise ValueError(f"a token named {name!r} already exists") from None
        except SQLAlchemyError as error:
            raise StoreError(f"cannot write to {self.url}: {reason(error)}") from None
        return secret

    def tokens(self) -> list[Token]:
        """The write tokens (names and dates; the secrets are not stored)."""
        with self._reads.begin() as session:
            return list(session.scalars(select(Token).order_by(Token.created, Token.id)))

    def revoke_token(self, name: str) -> None:
        """Delete the write token ``name``.

        Raises:
            ValueError: no token has that name.
        """
        with self._sessions.begin() as session:
            token = session.scalar(select(Token).where(Token.name == name))
            if token is None:
                raise ValueError(f"no token named {name!r}")
            session.delete(token)

    def token_name(self, secret: str) -> str | None:
        """The name of the token whose secret is ``secret``, or ``None`` for an unknown secret."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self._reads.begin() as session:
            return session.scalar(
                select(Token.name).where(Token.secret_hash == _hash_secret(secret))
            )

    def revision(self) -> int:
        """The board's revision: it grows with every write of a submission, by any process."""
        # A Core query, not a session: the server asks at every request for a table.
        with self._reading.begin() as connection:
            revision = connection.scalar(
                select(BoardRevision.revision).where(BoardRevision.id == BOARD_REVISION_ID)
            )
        return revision or 0

    @property
    def reading_engine(self) -> Engine:
        """The engine of reading transactions: on SQLite they never take the write lock."""
        return self._reading

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _id_of(self, content_hash: str) -> int | None:
        with self._reads.begin() as session:
            return session.scalar(select(Entry.id).where(Entry.content_hash == content_hash))


def _add_track_column(connection: Connection) -> None:
    """Give a database written before the shift tracks its ``shift`` column (main track)."""
    columns = {column["name"] for column in inspect(connection).get_columns(Entry.__tablename__)}
    if "shift" not in columns:
        connection.exec_driver_sql(
            f"ALTER TABLE {Entry.__tablename__} ADD COLUMN shift VARCHAR(100) NOT NULL DEFAULT ''"
        )


def _start_revision(connection: Connection) -> None:
    """Create the revision's row where it is missing (a new database, or one made before it)."""
    exists = select(BoardRevision.id).where(BoardRevision.id == BOARD_REVISION_ID)
    if connection.scalar(exists) is None:
        connection.execute(insert(BoardRevision).values(id=BOARD_REVISION_ID, revision=0))


def _bump_revision(session: Session) -> None:
    session.execute(
        update(BoardRevision)
        .where(BoardRevision.id == BOARD_REVISION_ID)
        .values(revision=BoardRevision.revision + 1)
    )


def _same_result(session: Session, submission: Submission, entry: Entry) -> Entry | None:
    """A stored entry other than ``entry`` that holds ``submission``'s result again.

    Only entries of the same task set whose normalised IQM lies within
    :meth:`~leaderboard.submission.Submission.score_tolerance` can, so only those are read.
    """
    session.flush()  # gives ``entry`` its id
    window = submission.score_tolerance()
    candidates = select(Entry).where(
        Entry.env_id == entry.env_id,
        Entry.task_set_version == entry.task_set_version,
        Entry.score.between(entry.score - window, entry.score + window),
        Entry.id != entry.id,
    )
    return next(
        (
            candidate
            for candidate in session.scalars(candidates)
            if submission.same_result(candidate.submission())
        ),
        None,
    )


def _existing(session: Session, entry_id: int) -> Entry:
    entry = session.get(Entry, entry_id) if 1 <= entry_id <= MAX_ENTRY_ID else None
    if entry is None:
        raise UnknownEntry(f"no leaderboard entry with id {entry_id}")
    return entry
