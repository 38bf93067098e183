"""How an agent steers on NMN-Bench2/3 once it has adapted: its heading error by the heading
the oracle takes, and how often it reaches each target.

The action of both tasks is a heading ``theta = pi * a``: due west is ``a = 1`` and ``a = -1``
at once, so an agent that outputs ``a`` directly must jump between them around west. The error
is measured against the oracle's heading at the same step (:data:`evaluate.oracles.ORACLES`: on
NMN-Bench3 straight for the good target, on NMN-Bench2 for the target less the mean wind's
drift); by the direction of that heading it shows whether the agent steers alike all round or
heads east on the way to a westward heading (a large error there). The hits tell choosing from
travelling: on NMN-Bench3 an agent that has learnt which target is good but travels badly has
few bad hits and few good ones too; the belief planner drives through the bad target when a
detour costs more than its -50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluate.oracles import ORACLES
from evaluate.policy import Policy
from evaluate.rollout import play
from evaluate.task_sets import task_set
from nmn_envs.envs.nmn.two_targets import BAD_REWARD, GOOD_REWARD
from nmn_envs.envs.nmn.wind_navigation import REACH_REWARD

HIT_REWARDS: dict[str, dict[str, float]] = {
    "NMN-Bench2-v0": {"target": REACH_REWARD},
    "NMN-Bench3-v0": {"good": GOOD_REWARD, "bad": BAD_REWARD},
}
"""The ids measured, and the reward of each target's hit (at a hit the agent respawns)."""
TASK_CHANGES: dict[str, tuple[str, ...]] = {
    "NMN-Bench2-v0": ("target_switch_steps", "wind_switch_steps"),
    "NMN-Bench3-v0": ("swap_steps",),
}
"""The kwargs that change an id's task within a meta-episode."""
DIRECTION_BINS = 8
"""Sectors of the oracle's heading, 45 degrees each, the first from -180 degrees."""
ADAPTED_FROM = 0.2
"""The share of the meta-episode left out at its start, while the agent finds out its task."""


@dataclass(frozen=True)
class Steering:
    """What :func:`steering` measured, after the first :data:`ADAPTED_FROM` of each meta-episode.

    Attributes:
        mean_error: the mean angle between the agent's heading and the oracle's in each of
            :data:`DIRECTION_BINS` sectors of the oracle's heading (see :attr:`sector_starts`),
            over the steps the agent moved, degrees (``NaN`` for a sector none fell in).
        hits: mean hits of each target per meta-episode (whole meta-episode), by the names of
            :data:`HIT_REWARDS`.
        steps: the steps measured per meta-episode.
    """

    mean_error: np.ndarray
    hits: dict[str, float]
    steps: int

    @property
    def sector_starts(self) -> np.ndarray:
        """The first angle of each sector of the oracle's heading, degrees."""
        return np.linspace(-180.0, 180.0, len(self.mean_error) + 1)[:-1]

    @property
    def hits_text(self) -> str:
        """The hits per meta-episode as text, ``"good 537.1, bad 116.0"``."""
        return ", ".join(f"{target} {count:.1f}" for target, count in self.hits.items())


def task_changes(env_id: str, env_kwargs: dict[str, Any] | None) -> bool:
    """Whether ``env_id`` with ``env_kwargs`` changes its task within a meta-episode."""
    return any((env_kwargs or {}).get(name) for name in TASK_CHANGES.get(env_id, ()))


def heading_errors(oracle_actions: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's heading and the agent's angle from it, both in radians.

    Args:
        oracle_actions: the oracle's actions, shape ``(..., 1)``, in ``[-1, 1]``.
        actions: the agent's actions at the same steps, shape ``(..., 1)`` (clipped to
            ``[-1, 1]`` as the environment does).

    Returns:
        ``direction`` in ``[-pi, pi]`` and ``error`` in ``[0, pi]``, each of shape ``actions.shape[:-1]``.
    """
    direction = np.pi * oracle_actions[..., 0]
    heading = np.pi * np.clip(actions[..., 0], -1.0, 1.0)
    error = np.abs(np.mod(heading - direction + np.pi, 2.0 * np.pi) - np.pi)
    return direction, error


def steering(policy: Policy, env_id: str, n_tasks: int, env_kwargs: dict[str, Any] | None = None) -> Steering:
    """Play ``policy`` on the first ``n_tasks`` tasks of ``env_id``'s evaluation set and measure its steering.

    Raises:
        ValueError: for an id not in :data:`HIT_REWARDS`, or kwargs that change the task within
            the meta-episode (:data:`TASK_CHANGES`): the oracle's heading is read from the task.
    """
    if env_id not in HIT_REWARDS:
        raise ValueError(f"steering measures {sorted(HIT_REWARDS)}, not {env_id!r}")
    if task_changes(env_id, env_kwargs):
        raise ValueError(
            f"steering reads the oracle's heading from the task: it measures no run whose task changes "
            f"({', '.join(TASK_CHANGES[env_id])})"
        )
    tasks, seeds = task_set(env_id, **(env_kwargs or {})).head(n_tasks)
    rollout = play(policy, env_id, tasks, seeds, env_kwargs, record=True)
    rewards = rollout.step_rewards
    start = int(ADAPTED_FROM * rewards.shape[1])
    observations = rollout.observations[:, start:]
    steps = observations.shape[1]
    every_step_tasks = [task for task in tasks for _ in range(steps)]
    oracle_actions = ORACLES[env_id](observations.reshape(-1, observations.shape[-1]), every_step_tasks)
    direction, error = heading_errors(oracle_actions.reshape(*observations.shape[:2], 1), rollout.actions[:, start:])
    hit_rewards = HIT_REWARDS[env_id]
    moved = ~np.isin(rewards[:, start:], list(hit_rewards.values()))  # at a hit the action is not used
    edges = np.linspace(-np.pi, np.pi, DIRECTION_BINS + 1)
    sector = np.clip(np.digitize(direction[moved], edges) - 1, 0, DIRECTION_BINS - 1)
    totals = np.bincount(sector, weights=error[moved], minlength=DIRECTION_BINS)
    counts = np.bincount(sector, minlength=DIRECTION_BINS)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_error = np.degrees(totals / counts)
    hits = {name: float(np.mean(np.sum(rewards == reward, axis=1))) for name, reward in hit_rewards.items()}
    return Steering(mean_error=mean_error, hits=hits, steps=steps)
