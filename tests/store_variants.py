"""Distinct results for the store tests, cheap to make (the store does not recompute scores)."""

from __future__ import annotations

import hashlib

from leaderboard.submission import AgentCard, Submission


def renamed(submission: Submission, name: str) -> Submission:
    """Another agent's result (its own returns: another content hash) under the card ``name``."""
    offset = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 99_991 + 1
    agent = submission.result.agent
    returns = [agent.returns[0] + offset, *agent.returns[1:]]
    result = submission.result.model_copy(
        update={"agent": agent.model_copy(update={"returns": returns, "name": name})}
    )
    return Submission(card=AgentCard(name=name), result=result)
