"""A worker: plays the queued models itself and stores their entries.

``nmn-leaderboard worker`` (or ``serve --workers N``) claims the oldest job of the queue
(:mod:`leaderboard.jobs`) and plays its model in a **child process** forked for the job, under
:class:`Limits`:

- ``RLIMIT_AS`` caps the child's memory (address space) at ``memory_mib``; an allocation past
  it fails, and the child exits with :data:`OUT_OF_MEMORY`;
- ``RLIMIT_CPU`` caps its CPU time at ``cpu_s`` seconds (the kernel stops it with ``SIGXCPU``,
  then ``SIGKILL``);
- the worker kills it past ``wall_s`` seconds of wall time, and the kernel kills it when the
  worker dies (``PR_SET_PDEATHSIG``);
- it plays with one torch thread and never touches the database.

The child loads the model with :func:`policies.serialization.load_safe` (metadata as JSON,
weights through ``torch.load(weights_only=True)``: nothing is unpickled, no code of the
submitter's runs) and plays it with the harness as ``nmn-eval`` does (mean actions, the default
bootstrap, :func:`evaluate.harness.evaluate`) on the full published task set, then on the board's
private set (:meth:`~leaderboard.jobs.JobQueue.private_seed`). It hands back the two results as
JSON in a private temporary folder.

The worker then builds the entry as it builds a result file's
(:func:`leaderboard.validation.validate`: returns in the attainable range, every statistic
recomputed, the board's own references, bounds and normaliser) and marks it
:class:`~leaderboard.submission.BoardPlay`: the private set's mean and IQM intervals,
bootstrapped again here from the private returns, and a flag when either lies wholly below the
published set's. Outcomes:

- done: the entry is stored (a second try that finds the entry of its own first try stored
  takes that entry);
- failed for good, with the reason: the model does not load or does not fit the environment,
  the result is refused (a duplicate of an entry, a name the board does not take), or the play
  passed a limit;
- queued again, with the reason, after a try that crashed for another reason (up to the queue's
  tries). A worker stopped by ``SIGTERM`` or ``SIGINT`` puts its job back the same way; one
  killed outright leaves it to its lease's expiry.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import resource
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import gymnasium as gym
import numpy as np

from evaluate.model_options import use_torch_threads
from evaluate.schema import AgentScore, EvaluationResult
from evaluate.stats import DEFAULT_REPS, iqm_interval, mean_interval
from evaluate.task_sets import SET_SIZE
from leaderboard.jobs import DEFAULT_LEASE_S, ClaimedJob, JobQueue
from leaderboard.references import board_references
from leaderboard.store import DuplicateSubmission, Entry, Store
from leaderboard.submission import BoardPlay, Submission, SubmissionError, normalise
from leaderboard.validation import validate
from leaderboard.verify import CHECKED, Check

OUT_OF_MEMORY = 3
"""The child's exit status when an allocation failed (its memory limit)."""
CPU_GRACE_S = 5
"""Seconds of CPU time between ``SIGXCPU`` and ``SIGKILL``."""
MODEL_FILE = "model.safe.zip"
OUTCOME_FILE = "outcome.json"
_PR_SET_PDEATHSIG = 1
_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Limits:
    """What one play of a model may use.

    Attributes:
        wall_s: seconds of wall time.
        cpu_s: seconds of CPU time.
        memory_mib: address space, in MiB (the worker's own imports, some 1.3 GiB of it
            mapped, count too).
    """

    wall_s: float = 3600.0
    cpu_s: int = 3000
    memory_mib: int = 4096

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mib"):
            value = getattr(self, name)
            if isinstance(value, bool) or not value > 0:
                raise ValueError(f"the limit {name} must be positive, got {value!r}")


class _Verdict(Exception):
    """A play that ended without a result: ``final`` ends the job, else it is tried again."""

    def __init__(self, reason: str, final: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


def die_with_parent(signal_number: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``signal_number`` to this process when its parent dies (elsewhere:
    nothing)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0)


def _play(folder: Path, env_id: str, name: str, private_seed: int, limits: Limits) -> None:
    """The child: limits, then the two harness runs of ``folder``'s model; writes
    :data:`OUTCOME_FILE` there and exits."""
    die_with_parent()
    memory = limits.memory_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + CPU_GRACE_S))
    os.chdir(folder)  # refusals name the model by its file name, not the folder
    try:
        from evaluate.harness import evaluate

        use_torch_threads(1)
        played = {
            kind: evaluate(
                MODEL_FILE, env_id, n_tasks=SET_SIZE, references=(), agent_name=name,
                private_seed=seed,
            )
            for kind, seed in (("public", None), ("private", private_seed))
        }
        outcome = {
            "public": played["public"].model_dump(mode="json"),
            "private": played["private"].agent.model_dump(mode="json"),
        }
    except Exception as error:  # noqa: BLE001  (every failure is reported to the worker)
        if _out_of_memory(error):
            os._exit(OUT_OF_MEMORY)
        refused = isinstance(error, (ValueError, gym.error.Error))
        outcome = {
            "refused" if refused else "error": (
                _first_line(error) if refused else f"{type(error).__name__}: {_first_line(error)}"
            )
        }
    try:
        Path(OUTCOME_FILE).write_text(json.dumps(outcome), encoding="utf-8")
    except MemoryError:
        os._exit(OUT_OF_MEMORY)
    os._exit(0)


def _out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed: Python's ``MemoryError``, or torch's
    allocator refusing (a ``RuntimeError`` saying "can't allocate memory", which loaders may
    wrap in a ``ValueError`` that quotes it)."""
    return isinstance(error, MemoryError) or "can't allocate memory" in str(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Worker:
    """Claims jobs of ``queue`` and plays them (see the module docstring).

    Args:
        queue: the board's job queue.
        limits: what each play may use.
        lease_s: the lease of a claimed job, renewed every third of it while the job plays.
        name: the worker's name in the jobs table (default: host and process id).
        log: where progress lines go.
    """

    def __init__(
        self,
        queue: JobQueue,
        limits: Limits = Limits(),
        lease_s: float = DEFAULT_LEASE_S,
        name: str | None = None,
        log: TextIO = sys.stdout,
    ) -> None:
        if not lease_s > 0:
            raise ValueError(f"the lease must be positive, got {lease_s!r}")
        self.queue = queue
        self.limits = limits
        self.lease_s = lease_s
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.log = log
        self.private_seed = queue.private_seed()
        self._holding: int | None = None

    def run(self, once: bool = False, poll_s: float = 1.0) -> int:
        """Play jobs until stopped (``once``: until the queue is empty); the number played.

        ``SIGTERM`` stops the worker like ``SIGINT``: the job it holds goes back to the queue.
        """
        import evaluate.harness  # noqa: F401  (imported once here, not in every child)

        signal.signal(signal.SIGTERM, _interrupt)
        played = 0
        try:
            while True:
                job = self.queue.claim(self.name, self.lease_s)
                if job is None:
                    if once:
                        return played
                    time.sleep(poll_s)
                    continue
                self._holding = job.id
                self.play(job)
                self._holding = None
                played += 1
        except KeyboardInterrupt:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping already
            if self._holding is not None:
                self.queue.retry(self._holding, self.name, "its worker was stopped")
            self._say("stopped")
            return played

    def play(self, job: ClaimedJob) -> None:
        """Play ``job`` and record its outcome in the queue."""
        self._say(
            f"job {job.id}: playing {job.card.name!r} on {job.env_id} (try {job.try_number})"
        )
        try:
            public, private = self._played(job)
            entry = self._store(job, public, private)
        except _Verdict as verdict:
            if verdict.final:
                self.queue.fail(job.id, self.name, verdict.reason)
                self._say(f"job {job.id}: failed: {verdict.reason}")
            else:
                self.queue.retry(job.id, self.name, verdict.reason)
                self._say(f"job {job.id}: will be tried again: {verdict.reason}")
            return
        self.queue.finish(job.id, self.name, entry.id)
        self._say(f"job {job.id}: done, entry {entry.id}")

    def _played(self, job: ClaimedJob) -> tuple[EvaluationResult, AgentScore]:
        """The child's two results, or a :class:`_Verdict`."""
        limits = self.limits
        with tempfile.TemporaryDirectory(prefix="nmn-job-") as folder:
            (Path(folder) / MODEL_FILE).write_bytes(job.model)
            out = Path(folder) / OUTCOME_FILE
            child = _FORK.Process(
                target=_play,
                args=(Path(folder), job.env_id, job.card.name, self.private_seed, limits),
                name=f"nmn-job-{job.id}",
            )
            child.start()
            deadline = time.monotonic() + limits.wall_s
            try:
                while child.exitcode is None:
                    child.join(timeout=min(self.lease_s / 3, max(0.0, deadline - time.monotonic())))
                    if child.exitcode is not None:
                        break
                    if time.monotonic() >= deadline:
                        raise _Verdict(
                            f"the play passed its wall-time limit of {limits.wall_s:g} s", True
                        )
                    if not self.queue.renew(job.id, self.name, self.lease_s):
                        raise _Verdict("another worker took the job over", False)
            finally:
                if child.exitcode is None:
                    child.kill()
                    child.join()
            code = child.exitcode
            if code == OUT_OF_MEMORY:
                raise _Verdict(
                    f"the play ran out of its memory limit of {limits.memory_mib} MiB", True
                )
            if code in (-signal.SIGXCPU, -signal.SIGKILL):
                raise _Verdict(f"the play passed its CPU-time limit of {limits.cpu_s} s", True)
            if code != 0 or not out.is_file():
                raise _Verdict(f"the play crashed (exit status {code})", False)
            outcome: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        if "refused" in outcome:
            raise _Verdict(f"the model was refused: {outcome['refused']}", True)
        if "error" in outcome:
            raise _Verdict(f"the play failed: {outcome['error']}", False)
        try:
            return (
                EvaluationResult.model_validate(outcome["public"]),
                AgentScore.model_validate(outcome["private"]),
            )
        except (KeyError, ValueError) as error:
            raise _Verdict(f"the play's results do not read: {_first_line(error)}", False) from None

    def _store(self, job: ClaimedJob, public: EvaluationResult, private: AgentScore) -> Entry:
        """The entry of ``job``: the public result validated as a result file is, marked with
        the private set's scores."""
        store: Store = self.queue.store
        try:
            stored = validate(Submission(card=job.card, result=public))
            play = _board_play(job, stored, private)
            return store.add(stored.model_copy(update={"played": play}))
        except DuplicateSubmission as duplicate:
            if duplicate.existing_id is not None:
                existing = store.get(duplicate.existing_id).submission().played
                if existing is not None and existing.job_id == job.id:
                    return store.get(duplicate.existing_id)  # stored by this job's earlier try
            raise _Verdict(str(duplicate), True) from None
        except SubmissionError as error:
            raise _Verdict(f"the result was refused: {error}", True) from None

    def _say(self, line: str) -> None:
        print(f"worker {self.name}: {line}", file=self.log, flush=True)


def _board_play(job: ClaimedJob, stored: Submission, private: AgentScore) -> BoardPlay:
    """The private set's scores of ``private``'s returns (bootstrapped here, checked like the
    published returns) and the flag of a drop below the published ``stored`` scores.

    Raises:
        SubmissionError: private returns that are not a full set in the attainable range.
    """
    returns = np.asarray(private.returns, dtype=np.float64)
    low, high = board_references(stored.result.env_id).return_range
    if returns.shape != (SET_SIZE,) or not np.all((returns >= low) & (returns <= high)):
        raise SubmissionError(
            "private.returns", f"not {SET_SIZE} returns in the attainable range [{low}, {high}]"
        )
    rerun = {
        "mean": mean_interval(returns, DEFAULT_REPS, 0),
        "iqm": iqm_interval(returns, DEFAULT_REPS, 0),
    }
    published = stored.result.agent
    checks = [
        Check(statistic, getattr(published, statistic), rerun[statistic], private=True)
        for statistic in CHECKED
    ]
    return BoardPlay(
        job_id=job.id,
        model_sha256=job.model_sha256,
        private_mean=rerun["mean"],
        private_iqm=rerun["iqm"],
        private_normalised_iqm=normalise(rerun["iqm"], stored.result.normaliser),
        private_flagged=not all(check.inside for check in checks),
    )


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt
