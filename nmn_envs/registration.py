"""Entry points that build the registered, meta-RL ready environments.

A registered id gives the base task wrapped in :class:`~nmn_envs.wrappers.FeedbackWrapper`
(single env) or :class:`~nmn_envs.wrappers.FeedbackVectorWrapper` (native vector env);
``feedback=False`` gives the bare task.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from gymnasium import Env
from gymnasium.envs.registration import register
from gymnasium.vector import VectorEnv

from nmn_envs.core import TaskCore
from nmn_envs.views import TaskEnv, TaskVectorEnv
from nmn_envs.wrappers import FeedbackVectorWrapper, FeedbackWrapper


def make_task_env(
    env_class: type[TaskEnv],
    *,
    feedback: bool = True,
    trials_per_task: int = 1,
    render_mode: str | None = None,
    **task_kwargs: Any,
) -> Env:
    """Build one environment of ``env_class``, with feedback unless ``feedback=False``.

    Args:
        env_class: the single-env view of a task.
        feedback: wrap in :class:`FeedbackWrapper` (the meta-RL ready form).
        trials_per_task: inner episodes per meta-episode (needs ``feedback=True``).
        render_mode: ``"rgb_array"`` or ``None``.
        task_kwargs: the task's own constructor arguments.
    """
    env = env_class(render_mode=render_mode, **task_kwargs)
    if feedback:
        return FeedbackWrapper(env, trials_per_task=trials_per_task)
    if trials_per_task != 1:
        raise ValueError("trials_per_task needs feedback=True: trials are a meta-episode notion")
    return env


def make_task_vector_env(
    core_class: type[TaskCore],
    *,
    num_envs: int = 1,
    feedback: bool = True,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    **task_kwargs: Any,
) -> VectorEnv:
    """Build the native batched vector env of ``core_class`` (``vector_entry_point``).

    Args:
        core_class: the batched core of a task.
        num_envs: the number of sub-environments.
        feedback: wrap in :class:`FeedbackVectorWrapper`.
        max_episode_steps: meta-episode length (the registered default unless given).
        render_mode: ``"rgb_array"`` or ``None``.
        task_kwargs: the task's own constructor arguments.
    """
    env: VectorEnv = TaskVectorEnv(core_class(num_envs, **task_kwargs), max_episode_steps, render_mode)
    return FeedbackVectorWrapper(env) if feedback else env


def register_task(env_id: str, env_class: type[TaskEnv], max_episode_steps: int | None) -> None:
    """Register ``env_id`` with its single and vector entry points."""
    register(
        id=env_id,
        entry_point=partial(make_task_env, env_class),
        vector_entry_point=partial(make_task_vector_env, env_class.core_class),
        max_episode_steps=max_episode_steps,
    )
