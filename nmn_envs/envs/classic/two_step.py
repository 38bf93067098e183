"""NMN-TwoStep: the two-step task (Daw et al. 2011) as used by Wang et al. (2018)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from nmn_envs.core import TaskCore, check_probability, check_state_keys
from nmn_envs.rendering import AGENT, GOOD, MARK, Canvas
from nmn_envs.tasks import Task, task_field
from nmn_envs.views import TaskEnv

DEFAULT_TRIALS = 100
STEPS_PER_TRIAL = 2
COMMON_PROBABILITY = 0.8
REWARD_PROBABILITY = 0.9
SWAP_PROBABILITY = 0.025

FIRST_STAGE, SECOND_STAGE = 0, 1


def _check_choice(name: str, value: Any) -> int:
    if value not in (0, 1) or isinstance(value, bool):
        raise ValueError(f"{name} must be 0 or 1, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class TwoStepTask(Task):
    """Which second-stage state is currently good: 0 for S2, 1 for S3."""

    good_state: int = task_field(0, 1, integer=True)


class TwoStepCore(TaskCore):
    """Batched dynamics of NMN-TwoStep (see :class:`TwoStepEnv`)."""

    task_class = TwoStepTask
    reward_range = (0.0, 1.0)
    task_uniform_count = 1
    marks_trials = True

    def __init__(
        self,
        num_envs: int,
        common_probability: float = COMMON_PROBABILITY,
        reward_probability: float = REWARD_PROBABILITY,
        swap_probability: float = SWAP_PROBABILITY,
    ) -> None:
        super().__init__(num_envs)
        self.common_probability = check_probability("common_probability", common_probability)
        self.reward_probability = check_probability("reward_probability", reward_probability)
        self.swap_probability = check_probability("swap_probability", swap_probability)
        self.observation_space = spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.stage = np.zeros(num_envs, dtype=np.int64)
        self.second_state = np.zeros(num_envs, dtype=np.int64)

    def tasks_from_uniforms(self, uniforms: np.ndarray) -> dict[str, np.ndarray]:
        return {"good_state": (uniforms[:, 0] < 0.5).astype(np.float64)}

    def start(self, rows: np.ndarray) -> None:
        self.stage[rows] = FIRST_STAGE
        self.second_state[rows] = 0

    def apply_state(self, row: int, state: Mapping[str, Any]) -> None:
        check_state_keys(self, state, ("stage", "second_state"))
        self.stage[row] = _check_choice("stage", state["stage"])
        self.second_state[row] = _check_choice("second_state", state["second_state"])
        self.trial_start[row] = self.stage[row] == FIRST_STAGE

    def state_index(self) -> np.ndarray:
        """The state of every row: 0 for S1, 1 for S2, 2 for S3."""
        return np.where(self.stage == FIRST_STAGE, 0, 1 + self.second_state)

    def observe(self) -> np.ndarray:
        return np.eye(3, dtype=np.float32)[self.state_index()]

    def advance(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rewards = np.zeros(self.num_envs)
        first = np.flatnonzero(active & (self.stage == FIRST_STAGE))
        second = np.flatnonzero(active & (self.stage == SECOND_STAGE))
        if first.size:
            common = self.streams.uniform(first, 1)[:, 0] < self.common_probability
            self.second_state[first] = np.where(common, actions[first], 1 - actions[first])
            self.stage[first] = SECOND_STAGE
        if second.size:
            draws = self.streams.uniform(second, 2)
            good = self.task_params["good_state"]
            in_good = self.second_state[second] == good[second]
            paying = np.where(in_good, self.reward_probability, 1.0 - self.reward_probability)
            rewards[second] = (draws[:, 0] < paying).astype(np.float64)
            swap = second[draws[:, 1] < self.swap_probability]
            good[swap] = 1.0 - good[swap]
            self.stage[second] = FIRST_STAGE
            self.trial_start[second] = True
        return rewards, np.zeros(self.num_envs, dtype=bool)

    def draw_frame(self, row: int) -> np.ndarray:
        canvas = Canvas(0.0, 1.0)
        nodes = [np.array([0.5, 0.75]), np.array([0.25, 0.25]), np.array([0.75, 0.25])]
        for end in nodes[1:]:
            canvas.segment(nodes[0], end, MARK, 0.01)
        good = 1 + int(self.task_params["good_state"][row])
        for index, node in enumerate(nodes):
            canvas.ring(node, 0.1, GOOD if index == good else MARK, 0.02)
        canvas.disc(nodes[int(self.state_index()[row])], 0.06, AGENT)
        return canvas.pixels


class TwoStepEnv(TaskEnv):
    """NMN-TwoStep: choose in S1, land in S2 or S3, and collect a reward whose odds drift.

    ## Description
    The two-step task of Daw et al. (2011) in the form of Wang et al. (2018), "Prefrontal
    cortex as a meta-reinforcement learning system". Each trial has two steps. In S1, action
    0 leads to S2 with probability 0.8 (else S3) and action 1 leads to S3 with probability 0.8
    (else S2). In S2 or S3 any action is rewarded with probability 0.9 in the currently good
    state and 0.1 in the other. Before every trial after the first, the good state swaps with
    probability 0.025. The task is the good state; the agent must track it from rewards.

    ## Action Space
    ``Discrete(2)``. At the second stage the action does not matter. Anything outside
    ``{0, 1}`` raises ``ValueError``.

    ## Observation Space
    ``Box(0, 1, (3,), float32)``: the one-hot state ``(S1, S2, S3)``.

    ## Rewards
    ``0`` at the first stage; ``1`` or ``0`` at the second stage as above.

    ## Starting State
    S1; the first good state is a fair coin. ``info["trial_start"]`` is ``True`` whenever the
    agent is back in S1 (the feedback wrapper shows it as ``trial_start``).

    ## Episode End
    The task never terminates. The registered id truncates after 200 steps (100 trials);
    change it with ``gymnasium.make(id, max_episode_steps=T)``.

    ## Arguments
    * ``common_probability`` (default ``0.8``), ``reward_probability`` (default ``0.9``; the
      other state pays ``1 - reward_probability``), ``swap_probability`` (default ``0.025``).
    * ``render_mode``: ``"rgb_array"`` or ``None``.
    * Reset options: ``{"task": TwoStepTask | {"good_state": 0 | 1}}`` and
      ``{"state": {"stage": 0 | 1, "second_state": 0 | 1}}`` (``second_state`` 0 is S2).

    ## Version History
    * v0: initial version.
    """

    core_class = TwoStepCore
