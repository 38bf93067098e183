"""NMN-Bandit: two-armed Bernoulli bandits (Wang et al. 2016, "Learning to reinforcement learn")."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.core import TaskCore, check_state_keys, check_switch_steps
from nmn_envs.rendering import AGENT, BAD, GOOD, MARK, Canvas
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

DEFAULT_HORIZON = 100
"""Pulls per meta-episode in the source design (the registered ``max_episode_steps``)."""

PAIRED_PROBABILITIES: dict[str, float] = {"easy": 0.9, "medium": 0.75, "hard": 0.6}
"""The dependent sets: ``p1`` is drawn 50/50 from ``{q, 1 - q}``, and ``p2 = 1 - p1``."""

VARIANTS = ("independent", "dependent", *PAIRED_PROBABILITIES)
DEPENDENT_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class BanditTask(Task):
    """The reward probabilities of the two arms (arm 0 pays ``p1``, arm 1 pays ``p2``)."""

    arm0_probability: float = task_field(0.0, 1.0)
    arm1_probability: float = task_field(0.0, 1.0)


def variant_task_check(variant: str, task: BanditTask) -> None:
    """Refuse a task outside the support of ``variant``, naming the rule it breaks."""
    p1, p2 = task.arm0_probability, task.arm1_probability
    if variant != "independent" and abs(p1 + p2 - 1.0) > DEPENDENT_TOLERANCE:
        raise ValueError(
            f"the {variant!r} bandit needs arm1_probability = 1 - arm0_probability, got {task}"
        )
    if variant in PAIRED_PROBABILITIES:
        q = PAIRED_PROBABILITIES[variant]
        if min(abs(p1 - q), abs(p1 - (1.0 - q))) > DEPENDENT_TOLERANCE:
            raise ValueError(
                f"the {variant!r} bandit draws arm0_probability from {{{q}, {1.0 - q:g}}}, got {p1!r}"
            )


class BanditCore(TaskCore):
    """Batched dynamics of NMN-Bandit (see :class:`BanditEnv`)."""

    task_class = BanditTask
    reward_range = (0.0, 1.0)
    task_uniform_count = 2

    def __init__(
        self,
        num_envs: int,
        variant: str = "independent",
        horizon: int = DEFAULT_HORIZON,
        swap_steps: Sequence[int] = (),
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown bandit variant {variant!r}; allowed: {list(VARIANTS)}")
        if not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        super().__init__(num_envs)
        self.variant = variant
        self.horizon = int(horizon)
        self.swap_steps = check_switch_steps("swap_steps", swap_steps)
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.last_arm = np.full(num_envs, -1, dtype=np.int64)
        self.last_reward = np.zeros(num_envs)

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        if self.variant == "independent":
            return {"arm0_probability": uniforms[:, 0], "arm1_probability": uniforms[:, 1]}
        if self.variant == "dependent":
            first = uniforms[:, 0]
        else:
            q = PAIRED_PROBABILITIES[self.variant]
            first = np.where(uniforms[:, 0] < 0.5, q, 1.0 - q)
        return {"arm0_probability": first, "arm1_probability": 1.0 - first}

    def set_task(self, row: int, task: Task | Mapping[str, Any]) -> None:
        checked = self.task_class.coerce(task)
        variant_task_check(self.variant, checked)
        super().set_task(row, checked)

    def probabilities(self) -> np.ndarray:
        """The arms' reward probabilities, shape ``(num_envs, 2)``."""
        return self.task_columns("arm0_probability", 2)

    def start(self, rows: np.ndarray) -> None:
        self.last_arm[rows] = -1
        self.last_reward[rows] = 0.0

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ())

    def observe(self) -> np.ndarray:
        return np.minimum(self.step_index / self.horizon, 1.0)[:, None].astype(np.float32)

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.swap_steps.size:
            swap = active & np.isin(self.step_index, self.swap_steps)
            probabilities = self.probabilities()
            probabilities[swap] = probabilities[swap][:, ::-1]
        rows = np.flatnonzero(active)
        rewards = np.zeros(self.num_envs)
        if rows.size:
            chosen = self.probabilities()[rows, actions[rows]]
            rewards[rows] = (self.streams.uniform(rows, 1)[:, 0] < chosen).astype(np.float64)
            self.last_arm[rows] = actions[rows]
            self.last_reward[rows] = rewards[rows]
        return rewards, np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        canvas = Canvas(0.0, 1.0)
        for arm, centre_x in enumerate((0.3, 0.7)):
            height = 0.6 * self.probabilities()[row, arm]
            bottom, top = np.array([centre_x, 0.2]), np.array([centre_x, 0.2 + height])
            canvas.segment(np.array([centre_x, 0.2]), np.array([centre_x, 0.8]), MARK, 0.01)
            canvas.segment(bottom, top, MARK, 0.15)
            if self.last_arm[row] == arm:
                canvas.disc(np.array([centre_x, 0.1]), 0.05, GOOD if self.last_reward[row] else BAD)
        progress = min(self.step_index[row] / self.horizon, 1.0)
        canvas.segment(np.array([0.05, 0.93]), np.array([0.05 + 0.9 * progress, 0.93]), AGENT, 0.03)
        return canvas.pixels


class BanditEnv(TaskEnv):
    """NMN-Bandit: a two-armed Bernoulli bandit whose arm probabilities are hidden.

    ## Description
    The bandit tasks of Wang et al. (2016), "Learning to reinforcement learn". Each
    meta-episode draws the reward probabilities ``(p1, p2)`` of two arms; each step pulls one
    arm. The agent sees only time and its feedback, so it must trade exploring against
    exploiting within the meta-episode.

    ## Action Space
    ``Discrete(2)``: the arm to pull. Anything else raises ``ValueError``.

    ## Observation Space
    ``Box(0, 1, (1,), float32)``: the pull index divided by ``horizon`` (capped at 1).

    ## Rewards
    ``1`` with the pulled arm's probability, else ``0``.

    ## Starting State
    The task is drawn by ``variant``: ``independent`` (``p1, p2 ~ U[0, 1]``), ``dependent``
    (``p1 ~ U[0, 1]``, ``p2 = 1 - p1``), and the dependent sets ``easy`` / ``medium`` / ``hard``
    where ``p1`` is drawn 50/50 from ``{0.9, 0.1}`` / ``{0.75, 0.25}`` / ``{0.6, 0.4}``.

    ## Episode End
    The task never terminates. The registered id truncates after 100 pulls; change it with
    ``gymnasium.make(id, max_episode_steps=T)`` (and ``horizon=T`` for the time feature).

    ## Arguments
    * ``variant`` (default ``"independent"``): one of ``independent``, ``dependent``, ``easy``,
      ``medium``, ``hard``. Hand-set tasks must lie in the variant's support.
    * ``horizon`` (default ``100``): the divisor of the pull index in the observation.
    * ``swap_steps`` (default ``()``): pull indices before which the two arms swap probabilities.
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": BanditTask | {"arm0_probability": p1, "arm1_probability": p2}}``.

    ## Version History
    * v0: initial version.
    """

    core_class = BanditCore
