"""NMN-Harlow: the Harlow "learning to learn" task (Harlow 1949) as used by Wang et al. (2018)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.core import TaskCore, check_state_keys
from nmn_envs.rendering import AGENT, BAD, GOOD, Canvas
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

DEFAULT_TRIALS = 6
POOL_SIZE = 1000
FEATURE_SIZE = 8
POOL_SEEDS = {"train": 1949, "test": 2018}
"""Each pool is a fixed set of feature vectors, drawn once from a generator with this seed."""

REWARD = 5.0
BLOCK = 6
"""The rewarded object's sides come in shuffled blocks of (L, L, L, R, R, R)."""

LEFT, RIGHT = 0, 1


@cache
def object_pool(pool: str) -> np.ndarray:
    """The feature vectors of ``pool`` (``"train"`` or ``"test"``), shape ``(POOL_SIZE, FEATURE_SIZE)``.

    Features lie in ``[-1, 1]``; the two pools are drawn from different fixed seeds.
    """
    if pool not in POOL_SEEDS:
        raise ValueError(f"unknown object pool {pool!r}; allowed: {list(POOL_SEEDS)}")
    features = np.random.default_rng(POOL_SEEDS[pool]).uniform(-1.0, 1.0, (POOL_SIZE, FEATURE_SIZE))
    features.setflags(write=False)
    return features


def shuffled_blocks(uniforms: np.ndarray) -> np.ndarray:
    """Sides (0 left, 1 right) from uniforms of shape ``(n, BLOCK)``: each row a shuffled L,L,L,R,R,R.

    A side is right when its uniform ranks in the upper half of the row, so each of the 20
    arrangements is equally likely.
    """
    ranks = np.argsort(np.argsort(uniforms, axis=1), axis=1)
    return (ranks >= BLOCK // 2).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class HarlowTask(Task):
    """The pool indices of the rewarded and the unrewarded object (two different objects)."""

    rewarded_object: int = task_field(0, POOL_SIZE - 1, integer=True)
    unrewarded_object: int = task_field(0, POOL_SIZE - 1, integer=True)


class HarlowCore(TaskCore):
    """Batched dynamics of NMN-Harlow (see :class:`HarlowEnv`)."""

    task_class = HarlowTask
    reward_range = (-REWARD, REWARD)
    task_uniform_count = 2

    def __init__(self, num_envs: int, pool: str = "train") -> None:
        self.features = object_pool(pool)
        super().__init__(num_envs)
        self.pool = pool
        self.observation_space = spaces.Box(-1.0, 1.0, (2 * FEATURE_SIZE,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.rewarded_sides = np.zeros((num_envs, BLOCK), dtype=np.int64)
        self.last_choice = np.full(num_envs, -1, dtype=np.int64)

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        rewarded = np.floor(uniforms[:, 0] * POOL_SIZE)
        other = np.floor(uniforms[:, 1] * (POOL_SIZE - 1))
        other = other + (other >= rewarded)
        return {"rewarded_object": rewarded, "unrewarded_object": other}

    def set_task(self, row: int, task: Task | Mapping[str, Any]) -> None:
        checked = self.task_class.coerce(task)
        if checked.rewarded_object == checked.unrewarded_object:
            raise ValueError(f"a Harlow task needs two different objects, got {checked}")
        super().set_task(row, checked)

    def start(self, rows: np.ndarray) -> None:
        self.rewarded_sides[rows] = shuffled_blocks(self.streams.uniform(rows, BLOCK))
        self.last_choice[rows] = -1

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ("rewarded_sides",))
        sides = np.asarray(state["rewarded_sides"])
        if sides.shape != (BLOCK,) or not np.all((sides == LEFT) | (sides == RIGHT)):
            raise ValueError(f"rewarded_sides must be {BLOCK} values in {{0, 1}}, got {sides!r}")
        if int(sides.sum()) != BLOCK // 2:
            raise ValueError(f"rewarded_sides must hold three lefts and three rights, got {sides!r}")
        self.rewarded_sides[row] = sides

    def rewarded_side(self) -> np.ndarray:
        """The side of the rewarded object in every row's current trial (0 left, 1 right)."""
        return self.rewarded_sides[self.all_rows, self.step_index % BLOCK]

    def observe(self) -> np.ndarray:
        rewarded = self.features[self.task_params["rewarded_object"].astype(np.int64)]
        unrewarded = self.features[self.task_params["unrewarded_object"].astype(np.int64)]
        on_left = (self.rewarded_side() == LEFT)[:, None]
        left = np.where(on_left, rewarded, unrewarded)
        right = np.where(on_left, unrewarded, rewarded)
        return np.concatenate([left, right], axis=1).astype(np.float32)

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rewards = np.where(actions == self.rewarded_side(), REWARD, -REWARD)
        self.last_choice[active] = actions[active]
        next_block = np.flatnonzero(active & ((self.step_index + 1) % BLOCK == 0))
        if next_block.size:
            self.rewarded_sides[next_block] = shuffled_blocks(self.streams.uniform(next_block, BLOCK))
        return np.where(active, rewards, 0.0), np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        canvas = Canvas(0.0, 1.0)
        pair = self.observe()[row].reshape(2, FEATURE_SIZE)
        rewarded_side = int(self.rewarded_side()[row])
        for side, centre_x in enumerate((0.25, 0.75)):
            for k, value in enumerate(pair[side]):
                shade = int(round(127.5 * (value + 1.0)))
                centre = np.array([centre_x + 0.06 * (k % 4 - 1.5), 0.55 + 0.06 * (k // 4)])
                canvas.disc(centre, 0.025, (shade, 255 - shade, 128))
            canvas.ring(np.array([centre_x, 0.58]), 0.17, GOOD if side == rewarded_side else BAD, 0.01)
        if self.last_choice[row] >= 0:
            canvas.disc(np.array([0.25 if self.last_choice[row] == LEFT else 0.75, 0.2]), 0.05, AGENT)
        return canvas.pixels


class HarlowEnv(TaskEnv):
    """NMN-Harlow: two new objects, one rewarded; find which and keep choosing it.

    ## Description
    The Harlow task (Harlow 1949) in the form of Wang et al. (2018), "Prefrontal cortex as a
    meta-reinforcement learning system". Each meta-episode draws two different objects from a
    pool of random feature vectors; one is rewarded. Each step is one trial: both objects are
    shown, one on the left and one on the right, and the agent picks a side. The rewarded
    object's side follows a shuffled (L, L, L, R, R, R) schedule, so the side carries no
    information; an agent that learned to learn picks at random on the first trial and then
    the object that was rewarded (or the other one) on every later trial.

    ## Action Space
    ``Discrete(2)``: 0 picks the left object, 1 the right one.

    ## Observation Space
    ``Box(-1, 1, (16,), float32)``: the left object's 8 features, then the right object's.

    ## Rewards
    ``+5`` for the rewarded object, ``-5`` for the other.

    ## Starting State
    Two different objects drawn uniformly from the pool, the first rewarded (the pool's order
    carries no meaning); the sides of the first block of six trials a shuffled (L,L,L,R,R,R).
    Longer meta-episodes draw a new shuffled block every six trials.

    ## Episode End
    The task never terminates. The registered id truncates after 6 trials; change it with
    ``gymnasium.make(id, max_episode_steps=T)``.

    ## Arguments
    * ``pool`` (default ``"train"``): the object pool, ``"train"`` or ``"test"`` (held out:
      its objects are never seen in training). Each holds 1000 objects.
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": HarlowTask | {"rewarded_object": i, "unrewarded_object": j}}``
      and ``{"state": {"rewarded_sides": [six sides, three 0s and three 1s]}}``.

    ## Version History
    * v0: initial version.
    """

    core_class = HarlowCore
