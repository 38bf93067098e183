"""The board's queue of submitted models: a jobs table in the board's own database.

A model that passes the checks at the door (:mod:`leaderboard.intake`) becomes a job, which
moves from ``queued`` to ``running`` (a worker plays it) and ends ``done`` (with the entry it
made) or ``failed`` (with the reason). The queue needs no server besides the database and
survives restarts: it is a table there, beside the entries.

Workers (:mod:`leaderboard.worker`) claim jobs atomically. On PostgreSQL a claim selects the
oldest claimable job ``FOR UPDATE SKIP LOCKED``, so that concurrent claims skip a row another
worker is claiming instead of waiting for it; on SQLite every write transaction holds the
database's write lock (``BEGIN IMMEDIATE``, :mod:`leaderboard.store`), so claims take turns. A
claim takes a **lease** of ``lease_s`` seconds, which the worker renews while the job plays; a
running job whose lease has expired (its worker was killed, or its machine lost power) is
claimable again, so another worker, or the same one restarted, plays it from the start. Every
claim counts a try: a job claimed :data:`DEFAULT_MAX_TRIES` times without finishing fails, with
the reason of its last try. Leases are compared with the workers' clocks (UTC): the machines of
a board's workers must agree on the time to well within a lease.

Only the worker holding a job's lease can finish, fail or requeue it, so a worker that was
presumed dead and comes back cannot overwrite the outcome of the worker that took its job over.

The board's private task set is drawn with a seed only the board knows (:func:`private_seed`):
``$NMN_LEADERBOARD_PRIVATE_SEED`` where the operator sets it, else a random seed drawn once and
kept in the database (table ``board_secrets``), which no page or endpoint shows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from sqlalchemy import (
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker, undefer

from leaderboard.intake import CheckedModel
from leaderboard.store import Store, StoreError, reason
from leaderboard.submission import AgentCard
from leaderboard.verify import PRIVATE_SEED_ENV_VAR

JobState = Literal["queued", "running", "done", "failed"]
PENDING: tuple[JobState, ...] = ("queued", "running")
DEFAULT_MAX_TRIES = 3
DEFAULT_LEASE_S = 60.0
MAX_REASON_CHARS = 2000
PRIVATE_SEED_SECRET = "private_seed"
PRIVATE_SEED_BITS = 62
"""A drawn private seed has this many random bits: it meets a published set's seed (which
:func:`~evaluate.task_sets.private_task_set` refuses) with a chance of some 2**-57."""


class UnknownJob(KeyError):
    """No job has the id asked for."""


class DuplicateModel(ValueError):
    """The same model file is already queued, playing or played on the same environment."""

    def __init__(self, job_id: int, state: str) -> None:
        super().__init__(
            f"duplicate model: the same file is already job {job_id} ({state}) on this environment"
        )
        self.job_id = job_id


class _Base(DeclarativeBase):
    pass


class Job(_Base):
    """One submitted model and how far the board got with playing it."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(10), index=True)
    env_id: Mapped[str] = mapped_column(String(100))
    card: Mapped[str] = mapped_column(Text, doc="the agent's card (JSON)")
    model: Mapped[bytes] = mapped_column(LargeBinary, deferred=True, doc="the safe model file")
    model_sha256: Mapped[str] = mapped_column(String(64))
    submitted: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class BoardSecret(_Base):
    """A value only the board knows (the private task set's seed), by name."""

    __tablename__ = "board_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class JobStatus:
    """What the board shows of a job (``GET /api/jobs/{id}``, the pages)."""

    id: int
    state: JobState
    env_id: str
    agent: str
    submitted: datetime
    tries: int
    entry_id: int | None
    reason: str | None

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "state": self.state,
            "env_id": self.env_id,
            "agent": self.agent,
            "submitted": self.submitted.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "tries": self.tries,
            "entry_id": self.entry_id,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds the lease of: what it needs to play it."""

    id: int
    env_id: str
    card: AgentCard
    model: bytes
    model_sha256: str
    try_number: int


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _status(job: Job) -> JobStatus:
    return JobStatus(
        id=job.id,
        state=job.state,  # type: ignore[arg-type]
        env_id=job.env_id,
        agent=AgentCard.model_validate_json(job.card).name,
        submitted=job.submitted,
        tries=job.tries,
        entry_id=job.entry_id,
        reason=job.reason,
    )


class JobQueue:
    """The jobs of the board whose database ``store`` opened (the table is created if missing).

    Args:
        store: the board's store (a writable one).
        max_tries: claims a job may have before it fails.
    """

    def __init__(self, store: Store, max_tries: int = DEFAULT_MAX_TRIES) -> None:
        if max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {max_tries}")
        self.store = store
        self.max_tries = max_tries
        try:
            with store.engine.begin() as connection:
                _Base.metadata.create_all(connection)
        except SQLAlchemyError as error:
            raise StoreError(
                f"cannot create the jobs table in {store.url}: {reason(error)}"
            ) from None
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)
        self._reads = sessionmaker(store.reading_engine, expire_on_commit=False)

    def enqueue(self, model: CheckedModel, env_id: str, card: AgentCard) -> JobStatus:
        """Queue a checked model to be played on ``env_id``; its status (``queued``).

        Raises:
            DuplicateModel: the same file is a job on ``env_id`` that has not failed.
        """
        twin = select(Job.id, Job.state).where(
            Job.model_sha256 == model.sha256, Job.env_id == env_id, Job.state != "failed"
        )
        job = Job(
            state="queued",
            env_id=env_id,
            card=card.model_dump_json(),
            model=model.data,
            model_sha256=model.sha256,
            submitted=_now(),
            tries=0,
        )
        with self._writing() as session:
            found = session.execute(twin.limit(1)).first()
            if found is not None:
                raise DuplicateModel(found.id, found.state)
            session.add(job)
            session.flush()
            return _status(job)

    def get(self, job_id: int) -> JobStatus:
        """The status of the job ``job_id``.

        Raises:
            UnknownJob: no such job.
        """
        with self._reads.begin() as session:
            job = session.get(Job, job_id) if 1 <= job_id < 2**63 else None
            if job is None:
                raise UnknownJob(f"no job with id {job_id}")
            return _status(job)

    def pending(self, env_id: str | None = None) -> list[JobStatus]:
        """The queued and running jobs (of ``env_id``, if given), oldest first."""
        query = select(Job).where(Job.state.in_(PENDING)).order_by(Job.id)
        if env_id is not None:
            query = query.where(Job.env_id == env_id)
        with self._reads.begin() as session:
            return [_status(job) for job in session.scalars(query)]

    def claim(self, worker: str, lease_s: float = DEFAULT_LEASE_S) -> ClaimedJob | None:
        """Take the oldest queued job, or a running one whose lease expired, for ``worker``;
        ``None`` when there is none. A job out of tries fails instead (with its last reason)."""
        claimable = or_(
            Job.state == "queued", and_(Job.state == "running", Job.lease_expires < _now())
        )
        query = (
            select(Job)
            .where(claimable)
            .order_by(Job.id)
            .limit(1)
            .options(undefer(Job.model))
            .with_for_update(skip_locked=True)
        )
        with self._writing() as session:
            while (job := session.scalar(query)) is not None:
                now = _now()
                if job.tries >= self.max_tries:
                    job.state, job.finished, job.lease_expires = "failed", now, None
                    job.reason = _cut(
                        f"{job.tries} tries did not finish; the last: "
                        f"{job.reason or 'its worker stopped (its lease expired)'}"
                    )
                    session.flush()
                    continue
                job.state, job.worker, job.started = "running", worker, now
                job.tries += 1
                job.lease_expires = now + timedelta(seconds=lease_s)
                return ClaimedJob(
                    id=job.id,
                    env_id=job.env_id,
                    card=AgentCard.model_validate_json(job.card),
                    model=job.model,
                    model_sha256=job.model_sha256,
                    try_number=job.tries,
                )
        return None

    def renew(self, job_id: int, worker: str, lease_s: float = DEFAULT_LEASE_S) -> bool:
        """Extend ``worker``'s lease of a running job; ``False`` if it holds the job no longer."""
        return self._update(
            job_id, worker, lease_expires=_now() + timedelta(seconds=lease_s)
        )

    def finish(self, job_id: int, worker: str, entry_id: int) -> bool:
        """Mark the job done with the entry it made; ``False`` if ``worker`` no longer holds it."""
        return self._update(
            job_id, worker, state="done", entry_id=entry_id, finished=_now(),
            lease_expires=None, reason=None,
        )

    def fail(self, job_id: int, worker: str, why: str) -> bool:
        """Mark the job failed for good, with the reason; ``False`` if ``worker`` no longer
        holds it."""
        return self._update(
            job_id, worker, state="failed", reason=_cut(why), finished=_now(), lease_expires=None
        )

    def retry(self, job_id: int, worker: str, why: str) -> bool:
        """Put the job back in the queue after a try that went wrong (a crash, not a verdict on
        the model); the next claim fails it if it is out of tries. ``False`` if ``worker`` no
        longer holds it."""
        return self._update(job_id, worker, state="queued", reason=_cut(why), lease_expires=None)

    def private_seed(self) -> int:
        """The seed of the board's private task set: ``$NMN_LEADERBOARD_PRIVATE_SEED``, else the
        one kept in the database (drawn on first use).

        Raises:
            ValueError: the variable is set but is not a non-negative integer.
        """
        text = os.environ.get(PRIVATE_SEED_ENV_VAR, "").strip()
        if text:
            if not text.isdigit():
                raise ValueError(
                    f"${PRIVATE_SEED_ENV_VAR} must be a non-negative integer (kept secret)"
                )
            return int(text)
        with self._reads.begin() as session:
            stored = session.get(BoardSecret, PRIVATE_SEED_SECRET)
            if stored is not None:
                return int(stored.value)
        try:
            with self._writing() as session:
                drawn = secrets.randbits(PRIVATE_SEED_BITS)
                session.add(BoardSecret(name=PRIVATE_SEED_SECRET, value=str(drawn)))
        except StoreError:  # another worker stored one first: that one is the board's seed
            pass
        with self._reads.begin() as session:
            stored = session.get(BoardSecret, PRIVATE_SEED_SECRET)
            if stored is None:
                raise StoreError(f"cannot keep the private seed in {self.store.url}")
            return int(stored.value)

    def _update(self, job_id: int, worker: str, **values: object) -> bool:
        statement = (
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
            .values(**values)
        )
        with self._writing() as session:
            return session.execute(statement).rowcount == 1

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A write transaction; a database error is a one-line :class:`StoreError`."""
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as error:
            raise StoreError(f"cannot write to {self.store.url}: {reason(error)}") from None


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
