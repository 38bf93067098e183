"""Seed rows: the board's reference agents and the zoo's trained agents, stored so that no
board is empty.

``nmn-leaderboard seed`` stores the reference agents' scores (``random``, ``oracle``,
``bayes`` — the Bayes-optimal policy or, on NMN-Bench2/3, the belief planner) that the board
computes itself (:mod:`leaderboard.references`) on the full evaluation task set of each
environment, as reference rows beside which every submission is ranked. Beside them go the
zoo's agents (``zoo:nmn``, ``zoo:rnn``, ``zoo:lstm``; :mod:`training.zoo`), which the board plays
itself too, as rows of the role ``baseline``. Seeding again skips the rows already on the board.
Every player is deterministic, so its rollouts go through the cache of :mod:`evaluate.cache`
(keyed by the player, its weights hash for a model, the task set's hash and the software): a
second seed, of this board or another on the same machine, replays nothing.
Reference and baseline rows come only from here: a submission's agent has the role ``agent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from evaluate.harness import evaluate
from evaluate.references import REFERENCE_NAMES
from evaluate.task_sets import SET_SIZE
from leaderboard.references import board_references
from leaderboard.store import Entry, Store
from leaderboard.submission import AgentCard, Submission
from leaderboard.validation import published_task_set
from training import zoo

SEEDED_ENVS = ("NMN-Bench1-v0", "NMN-Bench2-v0", "NMN-Bench3-v0")
REFERENCE_AUTHORS = ["nmn-bench"]
_DESCRIPTIONS = {
    "random": "uniformly random actions: the 0 of the normalised score",
    "oracle": "told the task: a ceiling above the Bayes bound, and the 1 of the scales where there is none",
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


def zoo_submissions(env_id: str, names: Sequence[str], progress: bool = False) -> dict[str, Submission]:
    """The board's own runs of the zoo agents ``names`` (``zoo:nmn``, ...) as ``baseline`` rows,
    by name.

    The agents play in one harness run on the full task set (so the anchors of their scores,
    random, bayes and memoryless, play once), and each row carries the board's references,
    bounds and normaliser, as a checked submission does.
    """
    board = board_references(env_id, progress)
    first, *others = names
    result = evaluate(
        first, env_id, n_tasks=SET_SIZE, baselines=others, references=(), agent_name=first,
        progress=progress, cache=True,
    )
    shared = result.model_copy(
        update={
            "baselines": [],
            "references": list(board.scores.values()),
            "bounds": list(board.bounds),
            "normaliser": dict(board.normaliser),
        }
    )
    submissions = {}
    for name, score in zip(names, (result.agent, *result.baselines)):
        _, card = zoo.find(name, env_id)
        agent = score.model_copy(
            update={"name": name, "role": "baseline", "probability_of_improvement": {}}
        )
        description = (
            f"the zoo's {card.policy.upper()} ({card.name}, the median of its seeds), trained "
            f"{card.env_steps:,} steps; mean actions"
        )
        submissions[name] = Submission(
            card=AgentCard(name=name, authors=REFERENCE_AUTHORS, description=description),
            result=shared.model_copy(update={"agent": agent}),
        )
    return submissions


def seed(store: Store, env_ids: Iterable[str] = SEEDED_ENVS, progress: bool = False) -> list[Entry]:
    """Store the reference and zoo rows missing from the boards of ``env_ids``; return the new entries."""
    added = []
    for env_id in env_ids:
        present = {
            (entry.agent_name, entry.task_set_version)
            for entry in store.entries(env_id)
            if entry.role in ("reference", "baseline")
        }
        version = published_task_set(env_id).version
        if not all((name, version) in present for name in REFERENCE_NAMES):
            for name, submission in reference_submissions(env_id, progress).items():
                if (name, version) not in present:
                    added.append(store.add(submission))
        missing = [name for name in zoo.available(env_id) if (name, version) not in present]
        if missing:
            added += [store.add(row) for row in zoo_submissions(env_id, missing, progress).values()]
    return added
