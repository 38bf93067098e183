"""Meta-episode wrappers: show the agent its previous action and reward.

An agent adapts to a hidden task only through what it observes. :class:`FeedbackWrapper`
(single env) and :class:`FeedbackVectorWrapper` (vector env, any autoreset mode) turn
an observation into a ``Dict``:

* ``observation``: the wrapped env's observation;
* ``prev_action``: the previous action as played (after clipping), one-hot for ``Discrete``;
* ``prev_reward``: the previous reward, shape ``(1,)``;
* ``trial_start`` (multi-trial use only): ``1.0`` on the first step of a trial, shape ``(1,)``.

Feedback is all zeros on the first step of a meta-episode. With ``trials_per_task=K`` the
single-env wrapper plays ``K`` inner episodes of one task as one meta-episode: when an inner
episode ends it is reset on the same task (``options={"task": ...}`` for envs of this
suite; a plain ``reset()`` otherwise) and feedback carries over. A base env may also mark
trial starts inside one episode with ``info["trial_start"]``.

``gymnasium.wrappers.FlattenObservation`` turns the ``Dict`` into one vector, in the key
order above: ``[observation..., prev_action..., prev_reward, trial_start]``.

:class:`TaskObservationWrapper` does the opposite of hiding the task: it appends the task's
fields to the bare observation (``feedback=False``), ``[observation..., task fields...]``, for a
policy that is told the task (an oracle, a reference: agents under test never see it).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import Env, ObservationWrapper, Wrapper, error, spaces
from gymnasium.utils import RecordConstructorArgs
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from nmn_envs.actions import check_actions, encode_actions, encoded_action_space
from nmn_envs.tasks import Task


def feedback_space(
    observation_space: spaces.Space, action_space: spaces.Space, mark_trials: bool
) -> spaces.Dict:
    """The ``Dict`` observation space of one feedback-wrapped environment."""
    entries: dict[str, spaces.Space] = {
        "observation": observation_space,
        "prev_action": encoded_action_space(action_space),
        "prev_reward": spaces.Box(-np.inf, np.inf, (1,), np.float32),
    }
    if mark_trials:
        entries["trial_start"] = spaces.Box(0.0, 1.0, (1,), np.float32)
    return spaces.Dict(entries)


def _trial_flag(info: dict[str, Any], default: bool) -> bool:
    return bool(info.get("trial_start", default))


class FeedbackWrapper(Wrapper, RecordConstructorArgs):
    """Append the previous action and reward to the observation of a single environment.

    Args:
        env: any environment with a ``Box`` or ``Discrete`` action space.
        trials_per_task: inner episodes of one task that make one meta-episode (default 1).
        mark_trials: add the ``trial_start`` key (default: when ``trials_per_task > 1``).

    Stepping after the meta-episode ended raises :class:`gymnasium.error.ResetNeeded`.
    """

    def __init__(self, env: Env, trials_per_task: int = 1, mark_trials: bool | None = None) -> None:
        if not isinstance(trials_per_task, (int, np.integer)) or trials_per_task < 1:
            raise ValueError(f"trials_per_task must be a positive integer, got {trials_per_task!r}")
        RecordConstructorArgs.__init__(self, trials_per_task=trials_per_task, mark_trials=mark_trials)
        Wrapper.__init__(self, env)
        self.trials_per_task = int(trials_per_task)
        self.mark_trials = self.trials_per_task > 1 if mark_trials is None else bool(mark_trials)
        self.observation_space = feedback_space(
            env.observation_space, env.action_space, self.mark_trials
        )
        self._trial = 0
        self._needs_reset = True

    def _feedback(
        self, observation: Any, action: np.ndarray | None, reward: float, trial_start: bool
    ) -> dict[str, Any]:
        prev_action = self.observation_space["prev_action"]
        feedback: dict[str, Any] = {
            "observation": observation,
            "prev_action": (
                np.zeros(prev_action.shape, np.float32)
                if action is None
                else encode_actions(action, self.env.action_space)[0]
            ),
            "prev_reward": np.array([reward], dtype=np.float32),
        }
        if self.mark_trials:
            feedback["trial_start"] = np.array([float(trial_start)], dtype=np.float32)
        return feedback

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        self._trial = 0
        self._needs_reset = False
        return self._feedback(observation, None, 0.0, _trial_flag(info, True)), info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise error.ResetNeeded(
                "the meta-episode has ended (or never started): call reset() before step()"
            )
        played = check_actions(np.asarray(action)[None], self.env.action_space, 1)
        observation, reward, terminated, truncated, info = self.env.step(action)
        trial_start = _trial_flag(info, False)
        if (terminated or truncated) and self._trial + 1 < self.trials_per_task:
            self._trial += 1
            observation, info = self.env.reset(options=self._same_task())
            terminated = truncated = False
            trial_start = True
        self._needs_reset = bool(terminated or truncated)
        if self.trials_per_task > 1:
            info = {**info, "trial": self._trial}
        return (
            self._feedback(observation, played, float(reward), trial_start),
            float(reward),
            bool(terminated),
            bool(truncated),
            info,
        )

    def _same_task(self) -> dict[str, Any] | None:
        unwrapped = self.env.unwrapped
        if hasattr(unwrapped, "task") and hasattr(unwrapped, "sample_task"):
            return {"task": unwrapped.task}
        return None


class FeedbackVectorWrapper(VectorWrapper):
    """Append the previous action and reward to the observations of a vector environment.

    Args:
        env: a vector env (any Gymnasium autoreset mode) with a ``Box`` or ``Discrete`` action
            space.
        mark_trials: add the ``trial_start`` key, read from ``info["trial_start"]`` where the
            env marks trials (and set on the first step of every meta-episode).

    A sub-environment that is reset by autoreset starts its new meta-episode with zero feedback.
    With same-step autoreset, ``info["final_obs"]`` holds the last observation of an ended
    meta-episode with its feedback, as a single feedback-wrapped env would have shown it.
    A reset with ``options={"reset_mask": mask}`` zeroes the feedback of the marked
    sub-environments only; the others keep the feedback they were last given.

    TorchRL's ``GymWrapper`` (0.14) reads ``final_obs`` of ``Box`` observations only: on this
    ``Dict`` it fails at the first same-step reset ("generator raised StopIteration"). So a
    same-step env is refused when TorchRL asks for its :attr:`autoreset_mode`, as it wraps it.
    """

    def __init__(self, env: VectorEnv, mark_trials: bool = False) -> None:
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self._autoreset_mode = AutoresetMode(mode)
        self.mark_trials = bool(mark_trials)
        self.single_observation_space = feedback_space(
            env.single_observation_space, env.single_action_space, self.mark_trials
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._restarting = np.zeros(self.num_envs, dtype=bool)
        self._last_feedback: dict[str, Any] = {}

    @property
    def autoreset_mode(self) -> AutoresetMode:
        """The wrapped env's autoreset mode.

        Raises:
            ValueError: when TorchRL asks for it on a same-step env, naming the modes that work.
        """
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if self._autoreset_mode == AutoresetMode.SAME_STEP and caller.startswith("torchrl."):
            raise ValueError(
                "TorchRL reads the final observation of a SAME_STEP autoreset for Box observations "
                "only, not for the feedback Dict (it would fail at the first reset): make the "
                "vector env with autoreset_mode=AutoresetMode.DISABLED (TorchRL's own reset "
                "protocol), or with feedback=False to keep SAME_STEP"
            )
        return self._autoreset_mode

    def _feedback(
        self,
        observation: Any,
        actions: np.ndarray,
        rewards: np.ndarray,
        fresh: np.ndarray,
        trial_start: np.ndarray,
    ) -> dict[str, Any]:
        prev_action = encode_actions(actions, self.env.single_action_space)
        prev_action[fresh] = 0.0
        prev_reward = np.where(fresh, 0.0, rewards).astype(np.float32)[:, None]
        feedback: dict[str, Any] = {
            "observation": observation,
            "prev_action": prev_action,
            "prev_reward": prev_reward,
        }
        if self.mark_trials:
            feedback["trial_start"] = (fresh | trial_start).astype(np.float32)[:, None]
        return feedback

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        reset_mask = (options or {}).get("reset_mask")
        fresh = np.ones(self.num_envs, dtype=bool) if reset_mask is None else np.asarray(reset_mask)
        self._restarting &= ~fresh
        blank = np.zeros(self.num_envs, dtype=np.int64)
        if isinstance(self.env.single_action_space, spaces.Box):
            blank = np.zeros((self.num_envs, *self.env.single_action_space.shape))
        rewards = np.zeros(self.num_envs)
        feedback = self._feedback(observation, blank, rewards, fresh, fresh)
        kept = ~fresh
        if kept.any():
            for key, values in self._last_feedback.items():
                if key != "observation":
                    feedback[key][kept] = values[kept]
        self._last_feedback = feedback
        return feedback, info

    def step(
        self, actions: Any
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        played = check_actions(actions, self.env.single_action_space, self.num_envs)
        observation, rewards, terminated, truncated, info = self.env.step(actions)
        trial_start = np.asarray(info.get("trial_start", np.zeros(self.num_envs, dtype=bool)))
        ended = np.logical_or(terminated, truncated)
        if self._autoreset_mode == AutoresetMode.SAME_STEP:
            if ended.any():
                info = {**info, "final_obs": self._final_feedback(info, played, rewards, ended)}
            feedback = self._feedback(observation, played, rewards, ended, trial_start)
        else:
            feedback = self._feedback(observation, played, rewards, self._restarting, trial_start)
            self._restarting = ended & (self._autoreset_mode == AutoresetMode.NEXT_STEP)
        self._last_feedback = feedback
        return feedback, rewards, terminated, truncated, info

    def _final_feedback(
        self, info: dict[str, Any], played: np.ndarray, rewards: np.ndarray, ended: np.ndarray
    ) -> np.ndarray:
        """``info["final_obs"]`` of a same-step autoreset, each observation with its feedback."""
        rows = np.flatnonzero(ended)
        final_info = info.get("final_info", {})
        trial_start = np.asarray(final_info.get("trial_start", np.zeros(self.num_envs, dtype=bool)))
        feedback = self._feedback(
            np.stack([info["final_obs"][row] for row in rows]),
            played[rows],
            rewards[rows],
            np.zeros(rows.size, dtype=bool),
            trial_start[rows],
        )
        final_obs = np.full(self.num_envs, None, dtype=object)
        for index, row in enumerate(rows):
            final_obs[row] = {key: values[index] for key, values in feedback.items()}
        return final_obs


def task_class_of(env: Env) -> type[Task]:
    """The :class:`~nmn_envs.tasks.Task` class of an environment of the suite (single env).

    Raises:
        ValueError: for an environment without a task distribution.
    """
    unwrapped = env.unwrapped
    found = getattr(unwrapped, "task_class", None) or getattr(getattr(unwrapped, "core", None), "task_class", None)
    if found is None:
        raise ValueError(f"{unwrapped} has no task distribution (no task_class)")
    return found


def task_observation_space(observation_space: spaces.Box, task_class: type[Task]) -> spaces.Box:
    """``observation_space`` with the fields of ``task_class`` appended, bounded by their supports.

    Raises:
        ValueError: for an observation space that is not a flat ``Box``.
    """
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"the task is appended to a flat Box observation, got {observation_space}")
    supports = [(field.metadata["low"], field.metadata["high"]) for field in dataclasses.fields(task_class)]
    low, high = np.array(supports, dtype=observation_space.dtype).reshape(-1, 2).T
    return spaces.Box(
        np.concatenate([observation_space.low, low]),
        np.concatenate([observation_space.high, high]),
        dtype=observation_space.dtype,
    )


def task_fields(tasks: Sequence[Task]) -> np.ndarray:
    """The fields of each task, in the order its class declares them (shape ``(n, fields)``)."""
    return np.array([[getattr(task, name) for name in task.field_names()] for task in tasks], dtype=np.float64)


def task_observations(observations: np.ndarray, tasks: Sequence[Task] | np.ndarray) -> np.ndarray:
    """A batch of bare observations (shape ``(n, d)``) with the fields of each row's task appended,
    in the order the task class declares them (shape ``(n, d + fields)``); ``tasks`` may be the
    fields already read (:func:`task_fields`)."""
    fields = tasks if isinstance(tasks, np.ndarray) else task_fields(tasks)
    observations = np.asarray(observations)
    return np.concatenate([observations, fields.astype(observations.dtype)], axis=1)


class TaskObservationWrapper(ObservationWrapper, RecordConstructorArgs):
    """Append the task's fields to the observation of a bare environment of the suite.

    The observation becomes ``[observation..., task fields...]`` (:func:`task_observations`), in
    the space :func:`task_observation_space` gives: the fields are bounded by the supports their
    :class:`~nmn_envs.tasks.Task` class declares. The task is read from the environment at every
    step, so a task drawn at a reset is shown from that reset's observation on.

    Args:
        env: an environment of the suite with a flat ``Box`` observation, such as
            ``gym.make("NMN-HalfCheetahVel-v0", feedback=False)``.

    Example::

        env = TaskObservationWrapper(gym.make("NMN-HalfCheetahVel-v0", feedback=False))
        observation, _ = env.reset(seed=0)  # 17 joint values, then the target velocity
    """

    def __init__(self, env: Env) -> None:
        RecordConstructorArgs.__init__(self)
        ObservationWrapper.__init__(self, env)
        self.observation_space = task_observation_space(env.observation_space, task_class_of(env))

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return task_observations(observation[None], [self.env.unwrapped.task])[0]
