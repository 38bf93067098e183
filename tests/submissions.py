"""Valid leaderboard submissions for the tests, made as ``nmn-eval`` makes results.

One agent (a fixed action, played by the harness on the full evaluation task set of
NMN-Bench1) gives the rollout; variant ``k`` changes the reward of one step of task ``k``,
so that variants are distinct results (distinct returns) at the cost of one bootstrap each.
"""

from __future__ import annotations

import functools

import numpy as np

from evaluate.harness import score
from evaluate.rollout import DEFAULT_BATCH_SIZE, Rollout, play
from evaluate.stats import DEFAULT_REPS
from evaluate.task_sets import SET_SIZE, task_set
from leaderboard.references import board_references
from leaderboard.submission import AgentCard, Submission

ENV_ID = "NMN-Bench1-v0"
ACTION = 0.25


@functools.cache
def _rollout(env_id: str) -> Rollout:
    tasks, seeds = task_set(env_id).head(SET_SIZE)

    def fixed(observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.full((len(observation["observation"]), 1), ACTION)

    from evaluate.agents import as_policy

    return play(as_policy(fixed, "fixed"), env_id, tasks, seeds, {}, DEFAULT_BATCH_SIZE, False)


def agent_submission(
    variant: int = 0, name: str = "fixed-action", env_id: str = ENV_ID
) -> Submission:
    """A valid submission of an agent's result (variant ``k`` has its own returns)."""
    rollout = _rollout(env_id)
    rewards = rollout.step_rewards.copy()
    rewards[variant, 0] = -1.0 - 0.5 * variant  # a miss of another size at the first step
    board = board_references(env_id)
    agent = score(
        name,
        "agent",
        Rollout(rewards, rollout.trial_rewards),
        dict(board.normaliser),
        {},
        "fixed action",
        DEFAULT_REPS,
        0,
    )
    result = board.result.model_copy(
        update={"agent": agent, "references": list(board.scores.values())}
    )
    return Submission(card=AgentCard(name=name), result=result)
