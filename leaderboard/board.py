"""The ranked table of one environment, as the CLI, the JSON API and the pages show it.

Rows are the stored entries of an environment, best normalised IQM first, each with its 95%
confidence interval, mean return, regret to the Bayes bound and who submitted it. Rows of the
harness's reference agents (random, oracle, Bayes or planner) are marked ``reference``; the
environment's bounds are listed beside the table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from evaluate.schema import Bound, Interval
from leaderboard.store import Entry, Store


@dataclass(frozen=True)
class Row:
    """One ranked entry."""

    rank: int
    id: int
    agent: str
    authors: list[str]
    url: str | None
    description: str
    role: str
    normalised_iqm: Interval
    mean_return: Interval
    regret: float | None
    task_set: str
    submitted: str
    adaptation_curve: list[float]


@dataclass(frozen=True)
class Table:
    """The board of one environment."""

    env_id: str
    rows: list[Row]
    bounds: list[Bound]

    def to_json(self) -> dict:
        """A JSON-ready dict (curves left out: fetch an entry for its full result)."""
        rows = []
        for row in self.rows:
            fields = asdict(row)
            fields.pop("adaptation_curve")
            fields["normalised_iqm"] = row.normalised_iqm.model_dump()
            fields["mean_return"] = row.mean_return.model_dump()
            rows.append(fields)
        return {
            "env_id": self.env_id,
            "rows": rows,
            "bounds": [bound.model_dump() for bound in self.bounds],
        }


def _row(rank: int, entry: Entry) -> Row:
    submission = entry.submission()
    agent = submission.result.agent
    return Row(
        rank=rank,
        id=entry.id,
        agent=submission.card.name,
        authors=list(submission.card.authors),
        url=str(submission.card.url) if submission.card.url else None,
        description=submission.card.description,
        role=agent.role,
        normalised_iqm=submission.normalised_iqm(),
        mean_return=agent.mean,
        regret=agent.regret.value if agent.regret else None,
        task_set=submission.result.task_set.version,
        submitted=entry.submitted.strftime("%Y-%m-%d %H:%M UTC"),
        adaptation_curve=list(agent.adaptation_curve),
    )


def table(store: Store, env_id: str) -> Table:
    """The ranked board of ``env_id`` (empty rows when nothing is stored for it)."""
    entries = store.entries(env_id)
    rows = [_row(rank, entry) for rank, entry in enumerate(entries, start=1)]
    bounds = list(entries[0].submission().result.bounds) if entries else []
    return Table(env_id=env_id, rows=rows, bounds=bounds)
