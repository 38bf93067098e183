"""NMN-Bench2: reach a target on a torus while a hidden wind pushes the agent."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.envs.nmn import arena
from nmn_envs.core import TaskCore, check_point, check_state_keys, check_switch_steps
from nmn_envs.rendering import GOOD, MARK
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

REACH_REWARD = 100.0
MOVE_REWARD = -2.0
WIND_STRENGTH = 0.25
WIND_SPREAD = np.pi / 4
TWO_PI = 2.0 * np.pi


@dataclasses.dataclass(frozen=True)
class WindNavigationTask(Task):
    """The target ``g`` and the main wind direction ``W`` (radians)."""

    target_x: float = task_field(-arena.TARGET_HALF_WIDTH, arena.TARGET_HALF_WIDTH)
    target_y: float = task_field(-arena.TARGET_HALF_WIDTH, arena.TARGET_HALF_WIDTH)
    wind_direction: float = task_field(0.0, TWO_PI)


class WindNavigationCore(TaskCore):
    """Batched dynamics of NMN-Bench2 (see :class:`WindNavigationEnv`)."""

    task_class = WindNavigationTask
    reward_range = (MOVE_REWARD, REACH_REWARD)
    task_uniform_count = 3

    def __init__(
        self,
        num_envs: int,
        target_switch_steps: Sequence[int] = (),
        wind_switch_steps: Sequence[int] = (),
    ) -> None:
        super().__init__(num_envs)
        self.target_switch_steps = check_switch_steps("target_switch_steps", target_switch_steps)
        self.wind_switch_steps = check_switch_steps("wind_switch_steps", wind_switch_steps)
        bound = arena.ARENA_HALF_WIDTH + arena.TARGET_HALF_WIDTH
        self.observation_space = spaces.Box(-bound, bound, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.position = np.zeros((num_envs, 2))

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        target = arena.target_points(uniforms[:, :2])
        return {
            "target_x": target[:, 0],
            "target_y": target[:, 1],
            "wind_direction": TWO_PI * uniforms[:, 2],
        }

    def target(self) -> np.ndarray:
        """Target coordinates of every row, shape ``(num_envs, 2)`` (a view of the tasks)."""
        return self.task_columns("target_x", 2)

    def start(self, rows: np.ndarray) -> None:
        self.position[rows] = arena.spawn(self.streams, rows, [self.target()[rows]])

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ("position",))
        half = arena.ARENA_HALF_WIDTH
        self.position[row] = check_point("position", state["position"], (2,), -half, half)

    def observe(self) -> np.ndarray:
        return (self.target() - self.position).astype(np.float32)

    def _switch(self, active: np.ndarray) -> None:
        for steps, fields in (
            (self.target_switch_steps, ("target_x", "target_y")),
            (self.wind_switch_steps, ("wind_direction",)),
        ):
            if not steps.size:
                continue
            rows = np.flatnonzero(active & self.leads & np.isin(self.step_index, steps))
            if rows.size:
                drawn = self.tasks_from_uniforms(self.streams.uniform(rows, self.task_uniform_count))
                for name in fields:
                    self.task_params[name][rows] = drawn[name]
                self.spread_tasks()  # a team plays the switched task within this very step

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._switch(active)
        target = self.target()
        reached = active & (arena.distances(self.position, target) <= arena.REACH_RADIUS)
        rewards = np.where(reached, REACH_REWARD, MOVE_REWARD)
        moving = np.flatnonzero(active & ~reached)
        if moving.size:
            gust = self.task_params["wind_direction"][moving] + WIND_SPREAD * (
                2.0 * self.streams.uniform(moving, 1)[:, 0] - 1.0
            )
            wind = WIND_STRENGTH * arena.unit_vectors(gust)
            own = arena.STEP_LENGTH * arena.heading(actions[moving])
            self.position[moving] = arena.wrap(self.position[moving] + own + wind)
        respawn = np.flatnonzero(reached)
        if respawn.size:
            self.position[respawn] = arena.spawn(self.streams, respawn, [target[respawn]])
        return rewards, np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        canvas = arena.arena_canvas(self.position[row], [(self.target()[row], GOOD)])
        direction = self.task_params["wind_direction"][row]
        origin = np.array([-1.6, -1.6])
        canvas.segment(origin, origin + 0.3 * np.array([np.cos(direction), np.sin(direction)]), MARK, 0.05)
        return canvas.pixels


class WindNavigationEnv(TaskEnv):
    """NMN-Bench2: navigate to a target on a torus under a wind of hidden direction.

    ## Description
    The second benchmark of Vecoven et al. (2020). The arena is the torus ``[-2, 2]^2``. Each
    meta-episode draws a target ``g`` and a main wind direction ``W``. The agent sees the
    target (as ``g - p``) but not the wind; every move is pushed by a gust around ``W``, so an
    agent that adapts learns ``W`` from its own displacements and steers against it.

    ## Action Space
    ``Box(-1, 1, (1,), float32)``: the heading ``theta = pi * a``. Finite actions outside the
    box are clipped to it; NaN or infinite actions raise ``ValueError``.

    ## Observation Space
    ``Box(-3, 3, (2,), float32)``: ``g - p``, the plain difference (not the shortest vector on
    the torus).

    ## Rewards
    Each step, in this order: if ``|p - g| <= 0.4`` the reward is ``+100`` and the agent
    respawns without moving this step. Otherwise the reward is ``-2`` and
    ``p <- wrap(p + 0.25 (cos theta, sin theta) + 0.25 (cos w, sin w))`` with a gust
    ``w = W + U(-pi/4, pi/4)`` drawn each step.

    ## Starting State
    ``g ~ U[-1, 1]^2``, ``W ~ U[0, 2 pi)``; the agent starts (and respawns) at
    ``p ~ U[-1.5, 1.5]^2``, redrawn until ``|p - g| > 0.6``.

    ## Episode End
    The task never terminates. The registered id truncates after 4000 steps (the source trained
    on the first 2000); change it with ``gymnasium.make(id, max_episode_steps=T)``.

    ## Arguments
    * ``target_switch_steps`` (default ``()``): step indices at which the target is redrawn.
    * ``wind_switch_steps`` (default ``()``): step indices at which ``W`` is redrawn.
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": WindNavigationTask | dict}`` and
      ``{"state": {"position": (x, y)}}``.

    ## Version History
    * v0: initial version.
    """

    core_class = WindNavigationCore
