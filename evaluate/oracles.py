"""Oracle agents: scripted policies that are told the task (a ceiling, not a meta-learner).

Each oracle maps a batch of base observations and the sub-environments' tasks to a batch of
actions. They read the task only because they are references; agents under test never see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nmn_envs.envs.nmn import arena
from nmn_envs.envs.classic.harlow import FEATURE_SIZE, POOL_SEEDS, object_pool
from nmn_envs.envs.nmn.moving_target import ACTION_SCALE
from nmn_envs.envs.maml.navigation2d import MAX_STEP as NAVIGATION_MAX_STEP
from nmn_envs.tasks import Task
from nmn_envs.envs.nmn.wind_navigation import WIND_SPREAD, WIND_STRENGTH

Oracle = Callable[[np.ndarray, Sequence[Task]], np.ndarray]

# E[(cos w, sin w)] for a gust w = W + U(-pi/4, pi/4) is sin(pi/4)/(pi/4) times (cos W, sin W).
MEAN_GUST_FACTOR = np.sin(WIND_SPREAD) / WIND_SPREAD


def _fields(tasks: Sequence[Task], *names: str) -> np.ndarray:
    return np.array([[getattr(task, name) for name in names] for task in tasks], dtype=np.float64)


def _heading_action(direction: np.ndarray) -> np.ndarray:
    """The action whose heading ``pi * a`` points along ``direction`` (shape ``(n, 2)``)."""
    return (np.arctan2(direction[:, 1], direction[:, 0]) / np.pi)[:, None]


def moving_target_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-Bench1: play ``e = x + alpha`` (always a hit: ``|x + alpha| <= 15 < 20``)."""
    offset = _fields(tasks, "offset")
    return (observation[:, :1] + offset) / ACTION_SCALE


def wind_navigation_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-Bench2: steer so that the move plus the mean wind heads for the target.

    The target direction is the shortest vector on the torus; the heading is the direction of
    that vector minus the expected wind displacement of one step (a greedy one-step plan).
    """
    wind = _fields(tasks, "wind_direction")[:, 0]
    mean_drift = WIND_STRENGTH * MEAN_GUST_FACTOR * np.stack([np.cos(wind), np.sin(wind)], 1)
    return _heading_action(arena.wrap(observation[:, :2]) - mean_drift)


def two_targets_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-Bench3: head straight (on the torus) for the good target."""
    good = _fields(tasks, "good_target")[:, 0].astype(int)
    to_good = np.where(good[:, None] == 0, observation[:, 0:2], observation[:, 2:4])
    return _heading_action(arena.wrap(to_good))


ORACLES: dict[str, Oracle] = {
    "NMN-Bench1-v0": moving_target_oracle,
    "NMN-Bench2-v0": wind_navigation_oracle,
    "NMN-Bench3-v0": two_targets_oracle,
}


def wind_heading(observation: np.ndarray, wind_direction: np.ndarray) -> np.ndarray:
    """NMN-Bench2: the greedy heading of :func:`wind_navigation_oracle` for a believed wind.

    Args:
        observation: base observations ``g - p``, shape ``(n, 2)``.
        wind_direction: the main wind direction believed for each row, shape ``(n,)``.
    """
    direction = np.stack([np.cos(wind_direction), np.sin(wind_direction)], 1)
    return _heading_action(arena.wrap(observation[:, :2]) - WIND_STRENGTH * MEAN_GUST_FACTOR * direction)


def bandit_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-Bandit: pull the arm with the higher reward probability."""
    probabilities = _fields(tasks, "arm0_probability", "arm1_probability")
    return np.argmax(probabilities, axis=1)


def two_step_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-TwoStep: in S1 take the action whose common transition leads to the good state.

    Action 0 commonly leads to S2 (``good_state`` 0) and action 1 to S3, so the action is the
    good state itself; at the second stage the action does not matter. The task must be read
    every step, since the good state drifts.
    """
    return _fields(tasks, "good_state")[:, 0].astype(np.int64)


def harlow_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-Harlow: pick the side that shows the rewarded object (looked up in either pool)."""
    rewarded = _fields(tasks, "rewarded_object")[:, 0].astype(np.int64)
    left = observation[:, :FEATURE_SIZE]
    on_left = np.zeros(len(tasks), dtype=bool)
    for pool in POOL_SEEDS:
        on_left |= np.all(left == object_pool(pool)[rewarded].astype(np.float32), axis=1)
    return np.where(on_left, 0, 1)


def navigation2d_oracle(observation: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """NMN-Navigation2D: the largest allowed step towards the goal (greedy is optimal here).

    Clipping each coordinate of ``goal - position`` to the action box gives the reachable
    point closest to the goal, and being closer now never costs later.
    """
    goal = _fields(tasks, "goal_x", "goal_y")
    return np.clip(goal - observation[:, :2], -NAVIGATION_MAX_STEP, NAVIGATION_MAX_STEP)


ORACLES.update(
    {
        "NMN-Bandit-v0": bandit_oracle,
        "NMN-TwoStep-v0": two_step_oracle,
        "NMN-Harlow-v0": harlow_oracle,
        "NMN-Navigation2D-v0": navigation2d_oracle,
    }
)
