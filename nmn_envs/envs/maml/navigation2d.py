"""NMN-Navigation2D: the 2D point-mass navigation task of MAML (Finn et al. 2017)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.core import TaskCore, check_point, check_state_keys
from nmn_envs.rendering import AGENT, GOOD, MARK, Canvas
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

GOAL_HALF_WIDTH = 0.5
MAX_STEP = 0.1
TRIAL_STEPS = 100
VIEW_HALF_WIDTH = 1.0


@dataclasses.dataclass(frozen=True)
class Navigation2DTask(Task):
    """The goal position."""

    goal_x: float = task_field(-GOAL_HALF_WIDTH, GOAL_HALF_WIDTH)
    goal_y: float = task_field(-GOAL_HALF_WIDTH, GOAL_HALF_WIDTH)


class Navigation2DCore(TaskCore):
    """Batched dynamics of NMN-Navigation2D (see :class:`Navigation2DEnv`)."""

    task_class = Navigation2DTask
    # Each trial starts at the origin; a step moves at most MAX_STEP along each axis.
    reward_range = (-math.sqrt(2.0) * (GOAL_HALF_WIDTH + TRIAL_STEPS * MAX_STEP), 0.0)
    task_uniform_count = 2
    trial_steps = TRIAL_STEPS

    def __init__(self, num_envs: int) -> None:
        super().__init__(num_envs)
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-MAX_STEP, MAX_STEP, (2,), np.float32)
        self.position = np.zeros((num_envs, 2))

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        goal = GOAL_HALF_WIDTH * (2.0 * uniforms - 1.0)
        return {"goal_x": goal[:, 0], "goal_y": goal[:, 1]}

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
        corner = np.array([GOAL_HALF_WIDTH, GOAL_HALF_WIDTH])
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
    The origin; the goal ``~ U[-0.5, 0.5]^2``.

    ## Episode End
    A trial is truncated after 100 steps (the bare task, ``feedback=False``, is one trial).
    The registered id truncates the meta-episode after 200 steps (2 trials); with another
    ``trials_per_task=K`` pass ``max_episode_steps=100 * K`` too.

    ## Arguments
    * ``trials_per_task`` (default 2 with feedback): trials per meta-episode.
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": Navigation2DTask | {"goal_x": x, "goal_y": y}}`` and
      ``{"state": {"position": (x, y)}}``.

    ## Version History
    * v0: initial version.
    """

    core_class = Navigation2DCore
