"""NMN-Navigation2D: the 2D point-mass navigation task of MAML (Finn et al. 2017)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.core import TaskCore, check_half_width, check_point, check_state_keys, check_within
from nmn_envs.rendering import AGENT, GOOD, MARK, Canvas
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

GOAL_HALF_WIDTH = 0.5
MAX_STEP = 0.1
TRIAL_STEPS = 100
VIEW_HALF_WIDTH = 1.0
MAX_GOAL_HALF_WIDTH = VIEW_HALF_WIDTH
"""The widest goal square the env takes (``goal_half_width``): every goal stays in the drawn view."""


@dataclasses.dataclass(frozen=True)
class Navigation2DTask(Task):
    """The goal position."""

    goal_x: float = task_field(-MAX_GOAL_HALF_WIDTH, MAX_GOAL_HALF_WIDTH)
    goal_y: float = task_field(-MAX_GOAL_HALF_WIDTH, MAX_GOAL_HALF_WIDTH)


class Navigation2DCore(TaskCore):
    """Batched dynamics of NMN-Navigation2D (see :class:`Navigation2DEnv`)."""

    task_class = Navigation2DTask
    reward_range = (-math.sqrt(2.0) * (GOAL_HALF_WIDTH + TRIAL_STEPS * MAX_STEP), 0.0)
    task_uniform_count = 2
    trial_steps = TRIAL_STEPS

    def __init__(self, num_envs: int, goal_half_width: float = GOAL_HALF_WIDTH) -> None:
        super().__init__(num_envs)
        self.goal_half_width = check_half_width(
            "goal_half_width", goal_half_width, MAX_GOAL_HALF_WIDTH, "goals beyond the drawn view"
        )
        # Each trial starts at the origin; a step moves at most MAX_STEP along each axis.
        self.reward_range = (-math.sqrt(2.0) * (self.goal_half_width + TRIAL_STEPS * MAX_STEP), 0.0)
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-MAX_STEP, MAX_STEP, (2,), np.float32)
        self.position = np.zeros((num_envs, 2))

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        goal = self.goal_half_width * (2.0 * uniforms - 1.0)
        return {"goal_x": goal[:, 0], "goal_y": goal[:, 1]}

    def set_task(self, row: int, task: Task | Mapping[str, Any]) -> None:
        task = self.task_class.coerce(task)
        check_within(task, ("goal_x", "goal_y"), self.goal_half_width, "goal_half_width")
        super().set_task(row, task)

    def goal(self) -> np.ndarray:
        """Goal coordinates of every row, shape ``(num_envs, 2)``."""
        return self.task_columns("goal_x", 2)

    def start(self, rows: np.ndarray) -> None:
        self.position[rows] = 0.0

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ("position",))
        reach = MAX_STEP * TRIAL_STEPS
        self.position[row] = check_point("position", state["position"], (2,), -reach, reach)

    def observe(self) -> np.ndarray:
        return self.position.astype(np.float32)

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.position[active] += actions[active]
        rewards = -np.linalg.norm(self.position - self.goal(), axis=1)
        return rewards, np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        canvas = Canvas(-VIEW_HALF_WIDTH, VIEW_HALF_WIDTH)
        corner = np.array([self.goal_half_width, self.goal_half_width])
        for sign_a, sign_b in (((-1, -1), (1, -1)), ((1, -1), (1, 1)), ((1, 1), (-1, 1)), ((-1, 1), (-1, -1))):
            canvas.segment(corner * sign_a, corner * sign_b, MARK, 0.005)
        canvas.disc(self.goal()[row], 0.04, GOOD)
        canvas.disc(np.clip(self.position[row], -VIEW_HALF_WIDTH, VIEW_HALF_WIDTH), 0.03, AGENT)
        return canvas.pixels


class Navigation2DEnv(TaskEnv):
    """NMN-Navigation2D: move a point mass from the origin to a hidden goal.

    ## Description
    The 2D navigation task of Finn et al. (2017), "Model-agnostic meta-learning for fast
    adaptation of deep networks". Each task is a goal in ``[-0.5, 0.5]^2``; the agent starts
    at the origin and sees only its own position, so it finds the goal through the rewards.
    The task is episodic: a trial lasts 100 steps, and the registered id plays
    ``trials_per_task`` trials (default 2) on one task as one meta-episode, each from the
    origin, marking the first step of each trial with ``trial_start``.

    ## Action Space
    ``Box(-0.1, 0.1, (2,), float32)``: the displacement. Finite actions outside the box are
    clipped to it; NaN or infinite actions raise ``ValueError``.

    ## Observation Space
    ``Box(-inf, inf, (2,), float32)``: the position.

    ## Rewards
    Minus the distance from the new position to the goal.

    ## Starting State
    The origin; the goal ``~ U[-0.5, 0.5]^2`` (``U[-w, w]^2`` with ``goal_half_width=w``).

    ## Episode End
    A trial is truncated after 100 steps (the bare task, ``feedback=False``, is one trial).
    The registered id truncates the meta-episode after 200 steps (2 trials); with another
    ``trials_per_task=K`` pass ``max_episode_steps=100 * K`` too.

    ## Arguments
    * ``trials_per_task`` (default 2 with feedback): trials per meta-episode.
    * ``goal_half_width`` (default ``0.5``, at most ``1``): the goals are drawn from
      ``U[-goal_half_width, goal_half_width]^2``; tasks outside the env's support are refused.
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": Navigation2DTask | {"goal_x": x, "goal_y": y}}`` and
      ``{"state": {"position": (x, y)}}``.

    ## Version History
    * v0: initial version.
    * v0, later: the ``goal_half_width`` kwarg (default 0.5, the source's distribution, unchanged).
    """

    core_class = Navigation2DCore
