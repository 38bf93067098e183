"""NMN-Bench3: two visible targets on a torus, one good and one bad, and which is hidden."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.envs.nmn import arena
from nmn_envs.core import TaskCore, check_point, check_state_keys, check_switch_steps
from nmn_envs.rendering import BAD, GOOD
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

GOOD_REWARD = 100.0
BAD_REWARD = -50.0


@dataclasses.dataclass(frozen=True)
class TwoTargetsTask(Task):
    """The two targets ``g0``, ``g1`` and which of them (0 or 1) is good."""

    target0_x: float = task_field(-arena.TARGET_HALF_WIDTH, arena.TARGET_HALF_WIDTH)
    target0_y: float = task_field(-arena.TARGET_HALF_WIDTH, arena.TARGET_HALF_WIDTH)
    target1_x: float = task_field(-arena.TARGET_HALF_WIDTH, arena.TARGET_HALF_WIDTH)
    target1_y: float = task_field(-arena.TARGET_HALF_WIDTH, arena.TARGET_HALF_WIDTH)
    good_target: int = task_field(0, 1, integer=True)


class TwoTargetsCore(TaskCore):
    """Batched dynamics of NMN-Bench3 (see :class:`TwoTargetsEnv`)."""

    task_class = TwoTargetsTask
    reward_range = (BAD_REWARD, GOOD_REWARD)
    task_uniform_count = 5

    def __init__(self, num_envs: int, swap_steps: Sequence[int] = ()) -> None:
        super().__init__(num_envs)
        self.swap_steps = check_switch_steps("swap_steps", swap_steps)
        bound = arena.ARENA_HALF_WIDTH + arena.TARGET_HALF_WIDTH
        self.observation_space = spaces.Box(-bound, bound, (4,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.position = np.zeros((num_envs, 2))

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        first = arena.target_points(uniforms[:, 0:2])
        second = arena.target_points(uniforms[:, 2:4])
        return {
            "target0_x": first[:, 0],
            "target0_y": first[:, 1],
            "target1_x": second[:, 0],
            "target1_y": second[:, 1],
            "good_target": (uniforms[:, 4] < 0.5).astype(np.float64),
        }

    def targets(self) -> list[np.ndarray]:
        """The two targets' coordinates, each of shape ``(num_envs, 2)`` (views of the tasks)."""
        return [self.task_columns("target0_x", 2), self.task_columns("target1_x", 2)]

    def start(self, rows: np.ndarray) -> None:
        self.position[rows] = arena.spawn(self.streams, rows, [target[rows] for target in self.targets()])

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ("position",))
        half = arena.ARENA_HALF_WIDTH
        self.position[row] = check_point("position", state["position"], (2,), -half, half)

    def observe(self) -> np.ndarray:
        both = self.task_columns("target0_x", 4).reshape(self.num_envs, 2, 2)
        return (both - self.position[:, None, :]).reshape(self.num_envs, 4).astype(np.float32)

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.swap_steps.size:
            swap = active & np.isin(self.step_index, self.swap_steps)
            good = self.task_params["good_target"]
            good[swap] = 1.0 - good[swap]
        first, second = self.targets()
        distance0 = arena.distances(self.position, first)
        distance1 = arena.distances(self.position, second)
        reached = active & (np.minimum(distance0, distance1) <= arena.REACH_RADIUS)
        closer = np.where(distance1 < distance0, 1.0, 0.0)
        good_reached = closer == self.task_params["good_target"]
        rewards = np.where(reached, np.where(good_reached, GOOD_REWARD, BAD_REWARD), 0.0)
        moving = np.flatnonzero(active & ~reached)
        if moving.size:
            step = arena.STEP_LENGTH * arena.heading(actions[moving])
            self.position[moving] = arena.wrap(self.position[moving] + step)
        respawn = np.flatnonzero(reached)
        if respawn.size:
            self.position[respawn] = arena.spawn(
                self.streams, respawn, [first[respawn], second[respawn]]
            )
        return rewards, np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        first, second = (target[row] for target in self.targets())
        good = int(self.task_params["good_target"][row])
        colors = (GOOD, BAD) if good == 0 else (BAD, GOOD)
        return arena.arena_canvas(self.position[row], [(first, colors[0]), (second, colors[1])]).pixels


class TwoTargetsEnv(TaskEnv):
    """NMN-Bench3: two targets are visible; one gives ``+100``, the other ``-50``.

    ## Description
    The third benchmark of Vecoven et al. (2020). The arena and the moves are those of
    NMN-Bench2 without wind. Each meta-episode draws two targets and, with a fair coin, which
    of them is good. The agent sees both targets but not which is good: it must visit one,
    read the reward, and then keep going to the good one.

    ## Action Space
    ``Box(-1, 1, (1,), float32)``: the heading ``theta = pi * a``. Finite actions outside the
    box are clipped to it; NaN or infinite actions raise ``ValueError``.

    ## Observation Space
    ``Box(-3, 3, (4,), float32)``: ``(g0 - p, g1 - p)``.

    ## Rewards
    Each step: if a target lies within 0.4 of the agent, the closer one counts: the reward is
    ``+100`` for the good target and ``-50`` for the bad one, and the agent respawns without
    moving. Otherwise the reward is 0 and the agent moves 0.25 along ``theta`` (on the torus).

    ## Starting State
    ``g0, g1 ~ U[-1, 1]^2`` independently, the good target a fair coin; the agent starts (and
    respawns) at ``p ~ U[-1.5, 1.5]^2``, redrawn until it is more than 0.6 from both targets.

    ## Episode End
    The task never terminates. The registered id truncates after 5000 steps (the source trained
    on the first 2000); change it with ``gymnasium.make(id, max_episode_steps=T)``.

    ## Arguments
    * ``swap_steps`` (default ``()``): step indices at which good and bad swap (the source's
      lock/unlock study).
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": TwoTargetsTask | dict}`` and ``{"state": {"position": (x, y)}}``.

    ## Version History
    * v0: initial version.
    """

    core_class = TwoTargetsCore
