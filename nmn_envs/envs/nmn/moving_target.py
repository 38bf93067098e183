"""NMN-Bench1: hit a moving target whose offset from the observed position is hidden."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.core import (
    TaskCore,
    check_half_width,
    check_point,
    check_probability,
    check_state_keys,
    check_within,
)
from nmn_envs.rendering import AGENT, GOOD, MARK, Canvas
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

OFFSET_LIMIT = 10.0
POSITION_LIMIT = 5.0
ACTION_SCALE = 20.0
MAX_OFFSET_LIMIT = ACTION_SCALE - POSITION_LIMIT
"""The widest offset distribution the env takes: every target ``x + alpha`` stays reachable."""
HIT_RADIUS = 1.0
HIT_REWARD = 10.0
MAX_MISS_COST = 20.0


@dataclasses.dataclass(frozen=True)
class MovingTargetTask(Task):
    """The hidden offset ``alpha`` of the target from the observed position."""

    offset: float = task_field(-MAX_OFFSET_LIMIT, MAX_OFFSET_LIMIT)


class MovingTargetCore(TaskCore):
    """Batched dynamics of NMN-Bench1 (see :class:`MovingTargetEnv`)."""

    task_class = MovingTargetTask
    reward_range = (-(POSITION_LIMIT + OFFSET_LIMIT + ACTION_SCALE), HIT_REWARD)
    task_uniform_count = 1

    def __init__(
        self, num_envs: int, switch_probability: float = 0.0, offset_limit: float = OFFSET_LIMIT
    ) -> None:
        super().__init__(num_envs)
        self.switch_probability = check_probability("switch_probability", switch_probability)
        self.offset_limit = check_half_width(
            "offset_limit", offset_limit, MAX_OFFSET_LIMIT, "a wider offset would put targets out of reach"
        )
        self.observation_space = spaces.Box(-POSITION_LIMIT, POSITION_LIMIT, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.position = np.zeros(num_envs)
        self.played = np.full(num_envs, np.nan)

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        return {"offset": self.offset_limit * (2.0 * uniforms[:, 0] - 1.0)}

    def set_task(self, row: int, task: Task | Mapping[str, Any]) -> None:
        task = self.task_class.coerce(task)
        check_within(task, ("offset",), self.offset_limit, "offset_limit")
        super().set_task(row, task)

    def start(self, rows: np.ndarray) -> None:
        self._redraw_position(rows)
        self.played[rows] = np.nan

    def _redraw_position(self, rows: np.ndarray) -> None:
        uniforms = self.streams.uniform(rows, 1)[:, 0]
        self.position[rows] = POSITION_LIMIT * (2.0 * uniforms - 1.0)

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ("position",))
        self.position[row] = check_point("position", state["position"], (), -POSITION_LIMIT, POSITION_LIMIT)

    def observe(self) -> np.ndarray:
        return self.position[:, None].astype(np.float32)

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        played = ACTION_SCALE * actions[:, 0]
        self.played = np.where(active, played, self.played)
        miss = np.abs(self.position + self.task_params["offset"] - played)
        hit = active & (miss < HIT_RADIUS)
        rewards = np.where(hit, HIT_REWARD, -np.minimum(miss, MAX_MISS_COST))
        hit_rows = np.flatnonzero(hit)
        if hit_rows.size:
            self._redraw_position(hit_rows)
            if self.switch_probability > 0.0:
                switch = self.streams.uniform(hit_rows, 1)[:, 0] < self.switch_probability
                if np.any(switch):
                    self.draw_tasks(hit_rows[switch])
        return rewards, np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        span = ACTION_SCALE + 2.0
        canvas = Canvas(-span, span)
        canvas.segment(np.array([-ACTION_SCALE, 0.0]), np.array([ACTION_SCALE, 0.0]), MARK, 0.3)
        target = self.position[row] + self.task_params["offset"][row]
        canvas.ring(np.array([target, 0.0]), HIT_RADIUS, GOOD, 0.4)
        canvas.disc(np.array([self.position[row], 0.0]), 0.8, AGENT)
        if np.isfinite(self.played[row]):
            top, bottom = np.array([self.played[row], 2.5]), np.array([self.played[row], -2.5])
            canvas.segment(top, bottom, MARK, 0.4)
        return canvas.pixels


class MovingTargetEnv(TaskEnv):
    """NMN-Bench1: find a target whose offset from the observed position is hidden.

    ## Description
    The first benchmark of Vecoven et al. (2020), "Introducing neuromodulation in deep neural
    networks to learn adaptive behaviours". Each meta-episode draws a hidden offset ``alpha``.
    The agent observes a position ``x``; the target is ``x + alpha``. An agent that knows
    ``alpha`` hits at every step; one that does not must probe, read the offset off the
    rewards (a miss reveals the distance ``|x + alpha - e|``), and then hit at every step.

    ## Action Space
    ``Box(-1, 1, (1,), float32)``. The played value is ``e = 20 * a`` (so ``e`` lies in
    ``[-20, 20]``). Finite actions outside the box are clipped to it; NaN or infinite actions
    raise ``ValueError``.

    ## Observation Space
    ``Box(-5, 5, (1,), float32)``: the position ``x``.

    ## Rewards
    If ``|x + alpha - e| < 1`` (strictly) the reward is ``+10`` and ``x`` is redrawn;
    otherwise the reward is ``max(-|x + alpha - e|, -20)`` (a miss costs at most 20) and ``x``
    stays. Uniformly random play (``e ~ U[-20, 20]``) averages ``-2399/240 = -9.9958`` per step.

    ## Starting State
    ``alpha ~ U[-10, 10]`` (``U[-offset_limit, offset_limit]``) and ``x ~ U[-5, 5]``; ``x`` is drawn again after every hit.

    ## Episode End
    The task never terminates. The registered id truncates after 1400 steps (the source
    trained on the first 400 steps of each meta-episode); change it with
    ``gymnasium.make(id, max_episode_steps=T)``.

    ## Arguments
    * ``switch_probability`` (default ``0.0``): probability, drawn after each hit, that
      ``alpha`` is redrawn from its distribution.
    * ``offset_limit`` (default ``10.0``, at most ``15``): the offsets are drawn from
      ``U[-offset_limit, offset_limit]``; up to 15 every target ``x + alpha`` lies within the
      played range ``[-20, 20]``. Tasks outside the env's support are refused.
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": MovingTargetTask | {"offset": a}}`` and
      ``{"state": {"position": x}}``.

    ## Version History
    * v0: initial version; the cost of a miss is capped at 20, as in the source (the first
      builds of v0 left it uncapped, which moved the random anchor of normalised scores by 5%).
    * v0, later: the ``offset_limit`` kwarg (default 10, the source's distribution, unchanged);
      a task's offset may lie in ``[-15, 15]`` when the env's ``offset_limit`` allows it.
    """

    core_class = MovingTargetCore
