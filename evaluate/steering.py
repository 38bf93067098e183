"""How an agent steers on NMN-Bench3 once it has adapted: its heading error by the good target's
direction, and how often it reaches each target.

NMN-Bench3's action is a heading ``theta = pi * a``: due west is ``a = 1`` and ``a = -1`` at
once, so an agent that outputs ``a`` directly must jump between them around west. The error by
direction shows whether it does (a steady error all round) or heads east on the way (a large
error for targets to the west). The hits tell choosing from travelling: an agent that has
learnt which target is good but travels badly has few bad hits and few good ones too. The
belief planner drives through the bad target when a detour costs more than its -50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluate.policy import Policy
from evaluate.rollout import play
from evaluate.task_sets import task_set
from nmn_envs.envs.nmn.two_targets import BAD_REWARD, GOOD_REWARD

TWO_TARGETS_ID = "NMN-Bench3-v0"
DIRECTION_BINS = 8
"""Sectors of the good target's direction, 45 degrees each, the first from -180 degrees."""
ADAPTED_FROM = 0.2
"""The share of the meta-episode left out at its start, while the agent finds the good target."""


@dataclass(frozen=True)
class Steering:
    """What :func:`steering` measured, after the first :data:`ADAPTED_FROM` of each meta-episode.

    Attributes:
        mean_error: the mean angle between the heading and the good target's direction in each
            of :data:`DIRECTION_BINS` sectors of that direction (see :attr:`sector_starts`), over
            the steps the agent moved, degrees (``NaN`` for a sector none fell in).
        good_hits: mean hits of the good target per meta-episode, whole meta-episode.
        bad_hits: mean hits of the bad target per meta-episode, whole meta-episode.
        steps: the steps measured per meta-episode.
    """

    mean_error: np.ndarray
    good_hits: float
    bad_hits: float
    steps: int

    @property
    def sector_starts(self) -> np.ndarray:
        """The first angle of each sector of the good target's direction, degrees."""
        return np.linspace(-180.0, 180.0, len(self.mean_error) + 1)[:-1]


def targets_swap(env_kwargs: dict[str, Any] | None) -> bool:
    """Whether NMN-Bench3 with ``env_kwargs`` swaps its targets within a meta-episode (``swap_steps``)."""
    return bool((env_kwargs or {}).get("swap_steps"))


def heading_errors(
    observations: np.ndarray, actions: np.ndarray, good_target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The good target's direction and the heading's angle from it, both in radians.

    Args:
        observations: NMN-Bench3 base observations ``(g0 - p, g1 - p)``, shape ``(..., 4)``.
        actions: the actions taken there, shape ``(..., 1)`` (clipped to ``[-1, 1]`` as the
            environment does).
        good_target: which target is good (0 or 1), broadcastable to ``observations[..., 0]``.

    Returns:
        ``direction`` in ``[-pi, pi]`` and ``error`` in ``[0, pi]``, each of shape ``observations.shape[:-1]``.
    """
    offsets = np.where(np.asarray(good_target)[..., None] == 0, observations[..., 0:2], observations[..., 2:4])
    direction = np.arctan2(offsets[..., 1], offsets[..., 0])
    heading = np.pi * np.clip(actions[..., 0], -1.0, 1.0)
    error = np.abs(np.mod(heading - direction + np.pi, 2.0 * np.pi) - np.pi)
    return direction, error


def steering(policy: Policy, n_tasks: int, env_kwargs: dict[str, Any] | None = None) -> Steering:
    """Play ``policy`` on the first ``n_tasks`` tasks of NMN-Bench3's evaluation set and measure its steering.

    Raises:
        ValueError: for ``swap_steps`` in ``env_kwargs``: the good target would change under the
            measurement, which reads it from the task.
    """
    if targets_swap(env_kwargs):
        raise ValueError("steering reads the good target from the task: it measures no run whose targets swap (swap_steps)")
    tasks, seeds = task_set(TWO_TARGETS_ID, **(env_kwargs or {})).head(n_tasks)
    rollout = play(policy, TWO_TARGETS_ID, tasks, seeds, env_kwargs, record=True)
    rewards = rollout.step_rewards
    start = int(ADAPTED_FROM * rewards.shape[1])
    good_target = np.array([task.good_target for task in tasks])[:, None]
    direction, error = heading_errors(rollout.observations[:, start:], rollout.actions[:, start:], good_target)
    moved = rewards[:, start:] == 0.0  # at a hit the agent respawns: its action is not used
    edges = np.linspace(-np.pi, np.pi, DIRECTION_BINS + 1)
    sector = np.clip(np.digitize(direction[moved], edges) - 1, 0, DIRECTION_BINS - 1)
    totals = np.bincount(sector, weights=error[moved], minlength=DIRECTION_BINS)
    counts = np.bincount(sector, minlength=DIRECTION_BINS)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_error = np.degrees(totals / counts)
    return Steering(
        mean_error=mean_error,
        good_hits=float(np.mean(np.sum(rewards == GOOD_REWARD, axis=1))),
        bad_hits=float(np.mean(np.sum(rewards == BAD_REWARD, axis=1))),
        steps=rewards.shape[1] - start,
    )
