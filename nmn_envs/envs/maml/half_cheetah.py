"""NMN-HalfCheetahDir and NMN-HalfCheetahVel: the MuJoCo locomotion tasks of MAML.

These run Gymnasium's MuJoCo ``HalfCheetah-v5`` and need the optional extra
(from a clone: ``pip install -e ".[mujoco]"``). A physics simulation is not a NumPy batch, so
these ids have no native vector env: ``gymnasium.make_vec(id, num_envs=N)`` builds Gymnasium's
``SyncVectorEnv`` (``vectorization_mode="sync"``) of N single environments, which the
evaluation harness plays. Frames come from Gymnasium's MuJoCo renderer; on Linux without a
display (no ``DISPLAY`` or ``WAYLAND_DISPLAY``) an env made with ``render_mode="rgb_array"``
sets ``MUJOCO_GL=egl`` unless ``MUJOCO_GL`` is already set (``osmesa`` is the software choice).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import warnings
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from gymnasium import Env, error

from nmn_envs.actions import check_actions
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import check_render_mode

if TYPE_CHECKING:
    from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

TRIAL_STEPS = 200
CONTROL_COST_WEIGHT = 0.05
"""MAML's control cost ``0.5 * 0.1 * |a|^2``, passed to HalfCheetah-v5 as ``ctrl_cost_weight``."""

MAX_CONTROL_COST = CONTROL_COST_WEIGHT * 6
"""The control cost of the largest action (all six torques at +-1)."""
DEPRECATED_TOTAL_MASS = "compiler attribute 'settotalmass' is deprecated"
"""MuJoCo's notice on HalfCheetah-v5's model (see :func:`_mujoco_half_cheetah`)."""
SPEED_LIMIT = 50.0
"""The forward velocity the reward reads is clipped to ``[-50, 50]``: over three times what the
fastest trained HalfCheetah runs, so that it never binds, yet it bounds every reward (the
:attr:`HalfCheetahTaskEnv.reward_range` a leaderboard checks returns against)."""

VELOCITY_RANGE = (0.0, 2.0)
"""MAML's target velocities: ``U[0, 2]``."""
MAX_TARGET_VELOCITY = 4.0
"""The fastest target velocity ``velocity_range`` may reach (a running HalfCheetah-v5 exceeds it)."""


@dataclasses.dataclass(frozen=True)
class HalfCheetahDirTask(Task):
    """The direction to run in: ``+1`` forward, ``-1`` backward."""

    direction: int = task_field(-1, 1, integer=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.direction == 0:
            raise ValueError("HalfCheetahDirTask.direction must be +1 or -1, got 0")


@dataclasses.dataclass(frozen=True)
class HalfCheetahVelTask(Task):
    """The target forward velocity."""

    target_velocity: float = task_field(0.0, MAX_TARGET_VELOCITY)


def check_velocity_range(velocity_range: Any) -> tuple[float, float]:
    """``velocity_range`` as ``(low, high)`` with ``0 <= low < high <= MAX_TARGET_VELOCITY``.

    Raises:
        ValueError: for anything else, naming what is allowed.
    """
    try:
        low, high = (float(value) for value in velocity_range)
        valid = not any(isinstance(value, (bool, str)) for value in velocity_range)
    except (TypeError, ValueError):
        valid = False
    if not valid or not 0.0 <= low < high <= MAX_TARGET_VELOCITY:
        raise ValueError(
            f"velocity_range must be two numbers (low, high) with 0 <= low < high <="
            f" {MAX_TARGET_VELOCITY}, got {velocity_range!r}"
        )
    return low, high


def headless_gl_backend() -> None:
    """Choose MuJoCo's EGL backend on Linux without a display, unless ``MUJOCO_GL`` is set."""
    has_display = any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and not has_display:
        os.environ.setdefault("MUJOCO_GL", "egl")


def _mujoco_half_cheetah(render_mode: str | None) -> HalfCheetahEnv:
    if importlib.util.find_spec("mujoco") is None:
        raise error.DependencyNotInstalled(
            'the HalfCheetah tasks need MuJoCo: from a clone, pip install -e ".[mujoco]"'
        )
    if render_mode is not None:
        headless_gl_backend()
    import mujoco
    from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

    # HalfCheetah-v5's model sets its total mass with the compiler attribute `settotalmass`, which
    # MuJoCo 3.3+ warns is deprecated (it still applies it) every time the model is compiled:
    # once per env, a thousand times in an evaluation. Only that notice is dropped; any other
    # warning of the compilation reaches Python's warnings.
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(_forward_mujoco_warning)
    try:
        return HalfCheetahEnv(ctrl_cost_weight=CONTROL_COST_WEIGHT, render_mode=render_mode)
    finally:
        mujoco.set_mju_user_warning(previous)


def _forward_mujoco_warning(message: str) -> None:
    if DEPRECATED_TOTAL_MASS not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


class HalfCheetahTaskEnv(Env[np.ndarray, np.ndarray], ABC):
    """HalfCheetah-v5 whose forward reward depends on a hidden task; subclasses define it.

    Same task API as the NumPy tasks of the suite: ``sample_task``, ``task`` and
    ``reset(options={"task": ...})``.
    """

    task_class: ClassVar[type[Task]]
    trial_steps: ClassVar[int | None] = TRIAL_STEPS
    marks_trials: ClassVar[bool] = False
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(render_mode)
        self.cheetah = _mujoco_half_cheetah(render_mode)
        self.observation_space = self.cheetah.observation_space
        self.action_space = self.cheetah.action_space
        self._task: Task | None = None

    @abstractmethod
    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw one task from the distribution with ``rng``."""

    @abstractmethod
    def forward_reward(self, velocity: float) -> float:
        """The task's reward for the forward velocity ``velocity`` (within the speed limit)."""

    @property
    @abstractmethod
    def reward_range(self) -> tuple[float, float]:
        """The lowest and highest reward of one step, on any task of the distribution."""

    def check_task(self, task: Task) -> None:
        """Refuse a task outside the env's own support (every task of its class by default)."""

    @property
    def task(self) -> Task:
        """The task being played (for analysis and reference agents; never observed)."""
        if self._task is None:
            raise error.ResetNeeded("call reset() before reading the task")
        return self._task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        options = dict(options or {})
        unknown = sorted(set(options) - {"task"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; allowed: ['task']")
        super().reset(seed=seed)
        task = options.get("task")
        if task is not None:
            task = self.task_class.coerce(task)
            self.check_task(task)
        self._task = task if task is not None else self.sample_task(self.np_random)
        observation, info = self.cheetah.reset(seed=seed)
        return observation, self._public(info)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._task is None:
            raise error.ResetNeeded("call reset() before step()")
        played = check_actions(np.asarray(action)[None], self.action_space, 1)[0]
        observation, _, terminated, truncated, info = self.cheetah.step(played)
        velocity = min(max(float(info["x_velocity"]), -SPEED_LIMIT), SPEED_LIMIT)
        reward = self.forward_reward(velocity) + float(info["reward_ctrl"])
        return observation, reward, terminated, truncated, self._public(info)

    @staticmethod
    def _public(info: dict[str, Any]) -> dict[str, Any]:
        return {key: info[key] for key in ("x_position", "x_velocity") if key in info}

    def render(self) -> np.ndarray | None:
        return self.cheetah.render() if self.render_mode is not None else None

    def close(self) -> None:
        self.cheetah.close()


_ENV_DOC = """{summary}

    ## Description
    {description} The task is episodic: a trial lasts 200 steps, and the registered id plays
    ``trials_per_task`` trials (default 2) on one task as one meta-episode, marking the first
    step of each trial with ``trial_start``. Runs Gymnasium's MuJoCo ``HalfCheetah-v5``
    (``pip install -e ".[mujoco]"`` from a clone); ``gymnasium.make_vec`` vectorises it with
    ``SyncVectorEnv``.

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: the joint torques. Finite actions outside the box are clipped
    to it; NaN or infinite actions raise ``ValueError``.

    ## Observation Space
    ``Box(-inf, inf, (17,), float64)``: HalfCheetah-v5's observation (without the x position).

    ## Rewards
    {reward} minus the control cost ``0.05 * |a|^2``. The forward velocity is clipped to
    ``[-50, 50]`` (``SPEED_LIMIT``, far above any gait's), so that rewards lie in
    ``reward_range``: {reward_range}.

    ## Starting State
    HalfCheetah-v5's noisy rest pose; {start}

    ## Episode End
    A trial is truncated after 200 steps (the bare task, ``feedback=False``, is one trial).
    The registered id truncates the meta-episode after 400 steps (2 trials); with another
    ``trials_per_task=K`` pass ``max_episode_steps=200 * K`` too.

    ## Arguments
    * ``trials_per_task`` (default 2 with feedback): trials per meta-episode.{arguments}
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{{"task": {task}}}``.

    ## Version History
    * v0: initial version.
    """


class HalfCheetahDirEnv(HalfCheetahTaskEnv):
    task_class = HalfCheetahDirTask

    def sample_task(self, rng: np.random.Generator) -> Task:
        return HalfCheetahDirTask(direction=1 if rng.random() < 0.5 else -1)

    def forward_reward(self, velocity: float) -> float:
        return self.task.direction * velocity

    @property
    def reward_range(self) -> tuple[float, float]:
        return (-SPEED_LIMIT - MAX_CONTROL_COST, SPEED_LIMIT)


class HalfCheetahVelEnv(HalfCheetahTaskEnv):
    task_class = HalfCheetahVelTask

    def __init__(
        self, render_mode: str | None = None, velocity_range: tuple[float, float] = VELOCITY_RANGE
    ) -> None:
        self.velocity_range = check_velocity_range(velocity_range)
        super().__init__(render_mode)

    def sample_task(self, rng: np.random.Generator) -> Task:
        low, high = self.velocity_range
        return HalfCheetahVelTask(target_velocity=low + (high - low) * rng.random())

    def check_task(self, task: Task) -> None:
        low, high = self.velocity_range
        if not low <= task.target_velocity <= high:
            raise ValueError(
                f"HalfCheetahVelTask.target_velocity={task.target_velocity!r} is outside the task"
                f" distribution's support [{low}, {high}] (velocity_range={self.velocity_range})"
            )

    def forward_reward(self, velocity: float) -> float:
        return -abs(velocity - self.task.target_velocity)

    @property
    def reward_range(self) -> tuple[float, float]:
        return (-(SPEED_LIMIT + self.velocity_range[1]) - MAX_CONTROL_COST, 0.0)


HalfCheetahDirEnv.__doc__ = _ENV_DOC.format(
    summary="NMN-HalfCheetahDir: run forward or backward, whichever the hidden task asks.",
    description="The HalfCheetah direction task of Finn et al. (2017), \"Model-agnostic "
    "meta-learning\". Each task is a direction, forward or backward, a fair coin.",
    reward="``direction * forward velocity``",
    reward_range="``[-50.3, 50]``",
    start="the direction ``+1`` or ``-1`` with probability 1/2 each.",
    task='HalfCheetahDirTask | {"direction": 1 | -1}',
    arguments="",
)
HalfCheetahVelEnv.__doc__ = _ENV_DOC.format(
    summary="NMN-HalfCheetahVel: run at a hidden target velocity.",
    description="The HalfCheetah velocity task of Finn et al. (2017), \"Model-agnostic "
    "meta-learning\". Each task is a target forward velocity.",
    reward="``-|forward velocity - target velocity|``",
    reward_range="``[-(50 + high) - 0.3, 0]`` for targets in ``[low, high]``",
    start="the target velocity ``~ U[0, 2]`` (``U[low, high]`` with ``velocity_range``).",
    task='HalfCheetahVelTask | {"target_velocity": v}',
    arguments="""
    * ``velocity_range`` (default ``(0, 2)``, MAML's): the target velocities are drawn from
      ``U[low, high]``, with ``0 <= low < high <= 4``; tasks outside it are refused.""",
)
