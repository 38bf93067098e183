"""Entry points that build the registered, meta-RL ready environments.

A registered id gives the base task wrapped in :class:`~nmn_envs.wrappers.FeedbackWrapper`
(single env) or :class:`~nmn_envs.wrappers.FeedbackVectorWrapper` (native vector env);
``feedback=False`` gives the bare task. An episodic task (its core sets ``trial_steps``) ends
its episodes after ``trial_steps`` steps, and with feedback plays ``trials_per_task`` of them
on one task (default :data:`DEFAULT_TRIALS_PER_TASK`) as one meta-episode.
"""

from __future__ import annotations

from functools import partial
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import Env
from gymnasium.envs.registration import register
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers import TimeLimit

from nmn_envs.core import TaskCore
from nmn_envs.views import TaskEnv, TaskVectorEnv
from nmn_envs.wrappers import FeedbackVectorWrapper, FeedbackWrapper


DEFAULT_TRIALS_PER_TASK = 2


def resolve_trials_per_task(
    trials_per_task: int | None, feedback: bool, episodic: bool, task_name: str = "the task"
) -> int:
    """The number of trials per meta-episode: ``trials_per_task`` or the task's default.

    The single and the vector entry points resolve it alike, so that both refuse (or both
    take) the same kwargs.

    Raises:
        ValueError: for a count that is not a positive integer, more than one trial without
            feedback, or more than one trial of a task that is not episodic.
    """
    if trials_per_task is None:
        return DEFAULT_TRIALS_PER_TASK if feedback and episodic else 1
    if (
        not isinstance(trials_per_task, (int, np.integer))
        or isinstance(trials_per_task, bool)
        or trials_per_task < 1
    ):
        raise ValueError(f"trials_per_task must be a positive integer, got {trials_per_task!r}")
    if trials_per_task != 1 and not feedback:
        raise ValueError("trials_per_task needs feedback=True: trials are a meta-episode notion")
    if trials_per_task != 1 and not episodic:
        raise ValueError(
            f"trials_per_task={trials_per_task} needs an episodic task; {task_name} plays one "
            "long episode per meta-episode"
        )
    return int(trials_per_task)


def make_task_env(
    env_class: type[Env],
    *,
    feedback: bool = True,
    trials_per_task: int | None = None,
    render_mode: str | None = None,
    **task_kwargs: Any,
) -> Env:
    """Build one environment of ``env_class``, with feedback unless ``feedback=False``.

    Args:
        env_class: the single-env view of a task, or an env class with the task API and the
            ``trial_steps`` / ``marks_trials`` attributes of :class:`~nmn_envs.core.TaskCore`.
        feedback: wrap in :class:`FeedbackWrapper` (the meta-RL ready form).
        trials_per_task: inner episodes per meta-episode (needs ``feedback=True``); by default
            :data:`DEFAULT_TRIALS_PER_TASK` for an episodic task, else 1.
        render_mode: ``"rgb_array"`` or ``None``.
        task_kwargs: the task's own constructor arguments.
    """
    structure = getattr(env_class, "core_class", env_class)
    trial_steps, marks_trials = structure.trial_steps, structure.marks_trials
    trials = resolve_trials_per_task(
        trials_per_task, feedback, trial_steps is not None, structure.__name__
    )
    env: Env = env_class(render_mode=render_mode, **task_kwargs)
    if trial_steps is not None:
        env = TimeLimit(env, trial_steps)
    if feedback:
        mark_trials = marks_trials or trial_steps is not None
        return FeedbackWrapper(env, trials_per_task=trials, mark_trials=mark_trials)
    return env


def make_task_vector_env(
    core_class: type[TaskCore],
    *,
    num_envs: int = 1,
    feedback: bool = True,
    trials_per_task: int | None = None,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    **task_kwargs: Any,
) -> VectorEnv:
    """Build the native batched vector env of ``core_class`` (``vector_entry_point``).

    Args:
        core_class: the batched core of a task.
        num_envs: the number of sub-environments.
        feedback: wrap in :class:`FeedbackVectorWrapper`.
        trials_per_task: as for :func:`make_task_env`.
        max_episode_steps: meta-episode length (the registered default unless given).
        render_mode: ``"rgb_array"`` or ``None``.
        autoreset_mode: Gymnasium's ``AutoresetMode``: ``NEXT_STEP`` (default), ``SAME_STEP``
            or ``DISABLED``.
        task_kwargs: the task's own constructor arguments.
    """
    episodic = core_class.trial_steps is not None
    trials = resolve_trials_per_task(trials_per_task, feedback, episodic, core_class.__name__)
    env: VectorEnv = TaskVectorEnv(
        core_class(num_envs, **task_kwargs), max_episode_steps, render_mode, trials, autoreset_mode
    )
    if feedback:
        return FeedbackVectorWrapper(env, mark_trials=core_class.marks_trials or episodic)
    return env


ENTRY_POINTS: dict[str, Callable[..., Env | VectorEnv]] = {}
"""The entry points of the registered ids by name, as ``nmn_envs.registration:<name>`` resolves them."""


def __getattr__(name: str) -> Callable[..., Env | VectorEnv]:
    try:
        return ENTRY_POINTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def register_task(env_id: str, env_class: type[Env], max_episode_steps: int | None) -> None:
    """Register ``env_id`` with its single and (for a :class:`TaskEnv`) native vector entry point.

    Other env classes get no vector entry point: ``gymnasium.make_vec`` then builds
    Gymnasium's ``SyncVectorEnv``.
    """
    single = f"make_{env_class.__name__}"
    ENTRY_POINTS[single] = partial(make_task_env, env_class)
    vector_entry_point = None
    if issubclass(env_class, TaskEnv):
        vector = f"make_vec_{env_class.__name__}"
        ENTRY_POINTS[vector] = partial(make_task_vector_env, env_class.core_class)
        vector_entry_point = f"{__name__}:{vector}"
    register(
        id=env_id,
        entry_point=f"{__name__}:{single}",
        vector_entry_point=vector_entry_point,
        max_episode_steps=max_episode_steps,
    )
