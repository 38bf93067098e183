"""The ranked table of one track of an environment, as the CLI, the JSON API and the pages show it.

A track is an environment's registered task distribution (the main track) or one of its named
shifts (:mod:`evaluate.shifts`); each is ranked on its own, against its own bounds.

Rows are the stored entries of an environment, best normalised IQM first, each with its 95%
confidence interval, mean return, adaptation score (derived from the mean and the result's
normaliser; none for results stored before the board had a memoryless reference), regret to
the Bayes bound (none where the environment has no bayes value: its scales run to the oracle
told the task), who submitted it and its provenance: "played by the board" (a model the board
played itself, with its normalised IQM on the private task set and a flag when that lies below
the published score beyond the intervals; the board's own reference and zoo rows) or
"self-reported" (a result file). Rows of the harness's reference agents (random, oracle,
Bayes or planner, memoryless) are marked ``reference``: the
seeded entries, and, for a reference not seeded, its score as the newest entry's result holds
it (such a row has no id). Stored results carry the board's own references, bounds and
normaliser (see :mod:`leaderboard.validation`), never a submitter's. The environment's bounds
and normaliser (the newest entry's) are listed beside the table.

Computing a table parses every stored result of the environment (a large fraction of a second
for some 70 rows), so the server keeps the tables in :class:`Boards`: each is computed once per
revision of the board (a counter in the database that every write bumps, whichever process
writes) and served from memory until the board changes.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, replace

from evaluate.schema import (
    AgentScore,
    Bound,
    CurveUnit,
    EvaluationResult,
    Interval,
    adaptation_scale,
    normalised_scale,
)
from leaderboard.store import Entry, Store
from leaderboard.submission import (
    PLAYED_BY_BOARD,
    SELF_REPORTED,
    AgentCard,
    Submission,
    normalise,
)


@dataclass(frozen=True)
class Row:
    """One ranked entry."""

    rank: int
    id: int | None
    agent: str
    authors: list[str]
    url: str | None
    description: str
    role: str
    normalised_iqm: Interval
    mean_return: Interval
    adaptation_score: Interval | None
    regret: float | None
    task_set: str
    submitted: str
    adaptation_curve: list[float]
    provenance: str = SELF_REPORTED
    private_score: Interval | None = None
    private_flagged: bool = False


@dataclass(frozen=True)
class Table:
    """The board of one track of an environment (``shift``: ``None`` on the main track)."""

    env_id: str
    rows: list[Row]
    bounds: list[Bound]
    normaliser: dict[str, float] = field(default_factory=dict)
    curve_unit: CurveUnit = "step"
    shift: str | None = None

    @property
    def title(self) -> str:
        """The track's name: the env id, with its shift's name after a slash."""
        return self.env_id if self.shift is None else f"{self.env_id} / {self.shift}"

    def scales(self) -> tuple[str, str]:
        """What 0 and 1 mean on the track's normalised and adaptation scales (for the CLI and
        the pages). They come from the track's normaliser: a track that has never had an entry
        has none yet, which says nothing of the environment's bounds."""
        if not self.normaliser:
            empty = "none yet: this track has no entries (the board plays its references with the first)"
            return empty, empty
        return normalised_scale(self.normaliser, self.bounds), adaptation_scale(self.normaliser)

    @property
    def leader(self) -> Row | None:
        """The best-ranked row that is not a reference (``None`` when there is none)."""
        return next((row for row in self.rows if row.role != "reference"), None)

    def to_json(self) -> dict:
        """A JSON-ready dict (curves left out: fetch an entry for its full result)."""
        rows = []
        for row in self.rows:
            fields = asdict(row)
            fields.pop("adaptation_curve")
            fields["normalised_iqm"] = row.normalised_iqm.model_dump()
            fields["mean_return"] = row.mean_return.model_dump()
            for name in ("adaptation_score", "private_score"):
                interval = getattr(row, name)
                fields[name] = None if interval is None else interval.model_dump()
            rows.append(fields)
        return {
            "env_id": self.env_id,
            "shift": self.shift,
            "rows": rows,
            "bounds": [bound.model_dump() for bound in self.bounds],
            "normaliser": dict(self.normaliser),
        }

    @classmethod
    def from_json(cls, document: dict) -> Table:
        """The table :meth:`to_json` wrote (as a board's server sends it), without curves.

        Raises:
            ValueError: ``document`` is not such a table.
        """
        try:
            rows = [
                Row(
                    **{
                        **fields,
                        "normalised_iqm": Interval.model_validate(fields["normalised_iqm"]),
                        "mean_return": Interval.model_validate(fields["mean_return"]),
                        **{
                            name: (
                                None
                                if fields.get(name) is None
                                else Interval.model_validate(fields[name])
                            )
                            for name in ("adaptation_score", "private_score")
                        },
                        "adaptation_curve": [],
                    }
                )
                for fields in document["rows"]
            ]
            shift = document.get("shift")
            return cls(
                env_id=str(document["env_id"]),
                shift=None if shift is None else str(shift),
                rows=rows,
                bounds=[Bound.model_validate(bound) for bound in document["bounds"]],
                normaliser={str(k): float(v) for k, v in document["normaliser"].items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f"not a leaderboard table: {error!r}"[:200]) from None


def _row(
    score: AgentScore,
    result: EvaluationResult,
    card: AgentCard,
    entry: Entry | None,
    submission: Submission | None = None,
) -> Row:
    played = submission.played if submission is not None else None
    return Row(
        rank=0,
        id=entry.id if entry else None,
        agent=card.name,
        authors=list(card.authors),
        url=str(card.url) if card.url else None,
        description=card.description,
        role=score.role,
        normalised_iqm=normalise(score.iqm, result.normaliser),
        mean_return=score.mean,
        adaptation_score=result.adaptation(score.mean),
        regret=score.regret.value if score.regret else None,
        task_set=result.task_set.version,
        submitted=entry.submitted.strftime("%Y-%m-%d %H:%M UTC") if entry else "",
        adaptation_curve=list(score.adaptation_curve),
        provenance=submission.provenance if submission is not None else PLAYED_BY_BOARD,
        private_score=played.private_normalised_iqm if played is not None else None,
        private_flagged=played is not None and played.private_flagged,
    )


def table(store: Store, env_id: str, shift: str | None = None) -> Table:
    """The ranked board of ``env_id``'s main track, or of its shift ``shift``'s (empty rows when
    nothing is stored for it)."""
    entries = store.entries(env_id, shift)
    submissions = [entry.submission() for entry in entries]
    rows = [
        _row(submission.result.agent, submission.result, submission.card, entry, submission)
        for entry, submission in zip(entries, submissions)
    ]
    if not submissions:
        return Table(env_id=env_id, rows=[], bounds=[], shift=shift)
    newest = max(zip(entries, submissions), key=lambda pair: pair[0].submitted)[1].result
    seeded = {row.agent for row in rows if row.role == "reference"}
    rows += [
        _row(score, newest, AgentCard(name=score.name, description=score.description), None)
        for score in newest.references
        if score.name not in seeded
    ]
    rows.sort(key=lambda row: -row.normalised_iqm.value)
    ranked = [replace(row, rank=rank) for rank, row in enumerate(rows, start=1)]
    return Table(
        env_id=env_id,
        rows=ranked,
        bounds=list(newest.bounds),
        normaliser=dict(newest.normaliser),
        curve_unit=newest.agent.curve_unit,
        shift=shift,
    )


class Boards:
    """The tables of a store, each computed once per revision of the board, for many readers.

    Every lookup reads the board's revision from the database (one small query): a write by
    any process sharing the database makes the tables kept here stale, and the next lookup of
    each environment computes it again, once, while concurrent lookups wait for it. Safe to
    use from several threads at once.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._revision = -1
        self._tables: dict[tuple[str, str | None], tuple[Table, bytes]] = {}

    def table(self, env_id: str, shift: str | None = None) -> Table:
        """The ranked board of a track, as :func:`table` computes it at the current revision."""
        return self._current(env_id, shift)[0]

    def table_json(self, env_id: str, shift: str | None = None) -> bytes:
        """:meth:`Table.to_json` of :meth:`table`, encoded (UTF-8 JSON)."""
        return self._current(env_id, shift)[1]

    def _current(self, env_id: str, shift: str | None) -> tuple[Table, bytes]:
        # The revision is read before the entries, so a table is never older than the
        # revision it is kept under (a write in between only makes it newer).
        revision = self.store.revision()
        with self._lock:
            if revision > self._revision:
                self._revision, self._tables = revision, {}
            track = (env_id, shift)
            if track not in self._tables:
                board = table(self.store, env_id, shift)
                encoded = json.dumps(board.to_json(), ensure_ascii=False, allow_nan=False)
                self._tables[track] = (board, encoded.encode())
            return self._tables[track]
