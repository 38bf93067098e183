"""Oracle agents: scripted policies that are told the task (a ceiling, not a meta-learner).

Each oracle maps a batch of base observations and the sub-environments' tasks to a batch of
actions. They read the task only because they are references; agents under test never see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nmn_envs import arena
from nmn_envs.moving_target import ACTION_SCALE
from nmn_envs.tasks import Task
from nmn_envs.wind_navigation import WIND_SPREAD, WIND_STRENGTH

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
