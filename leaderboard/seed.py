"""Seed rows: the board's reference agents, stored so that no board is empty.

``nmn-leaderboard seed`` stores the reference agents' scores (``random``, ``oracle``,
``bayes`` — the Bayes-optimal policy or, on NMN-Bench2/3, the belief planner) that the board
computes itself (:mod:`leaderboard.references`) on the full evaluation task set of each
environment, as reference rows beside which every submission is ranked. Seeding again skips
the rows already on the board. Reference rows come only from here: a submission may not claim
the role ``reference``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from evaluate.references import REFERENCE_NAMES
from leaderboard.references import board_references
from leaderboard.store import Entry, Store
from leaderboard.submission import AgentCard, Submission
from leaderboard.validation import published_task_set

SEEDED_ENVS = ("NMN-Bench1-v0", "NMN-Bench2-v0", "NMN-Bench3-v0")
REFERENCE_AUTHORS = ["nmn-bench"]
_DESCRIPTIONS = {
    "random": "uniformly random actions: the 0 of the normalised score",
    "oracle": "told the task: a ceiling above the Bayes bound",
    "bayes": "the Bayes-optimal policy where it is exact, else the belief planner",
    "memoryless": "the best policy that ignores all feedback: the 0 of the adaptation score",
}


def reference_submissions(env_id: str, progress: bool = False) -> Mapping[str, Submission]:
    """The reference agents' rows of ``env_id``, by agent name, as stored submissions.

    Each is the board's reference run with that agent in the ``agent`` slot and the others
    as its references (the result ``nmn-eval --agent NAME`` writes, with the role
    ``reference``).
    """
    board = board_references(env_id, progress)
    scores = list(board.scores.values())
    submissions = {}
    for score in scores:
        rotated = board.result.model_copy(
            update={"agent": score, "references": [other for other in scores if other is not score]}
        )
        card = AgentCard(
            name=score.name, authors=REFERENCE_AUTHORS, description=_DESCRIPTIONS[score.name]
        )
        submissions[score.name] = Submission(card=card, result=rotated)
    return MappingProxyType(submissions)


def seed(store: Store, env_ids: Iterable[str] = SEEDED_ENVS, progress: bool = False) -> list[Entry]:
    """Store the reference rows missing from the boards of ``env_ids``; return the new entries."""
    added = []
    for env_id in env_ids:
        present = {
            (entry.agent_name, entry.task_set_version)
            for entry in store.entries(env_id)
            if entry.role == "reference"
        }
        version = published_task_set(env_id).version
        if all((name, version) in present for name in REFERENCE_NAMES):
            continue
        for name, submission in reference_submissions(env_id, progress).items():
            if (name, version) not in present:
                added.append(store.add(submission))
    return added
