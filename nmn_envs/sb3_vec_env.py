"""Stable-Baselines3 ``VecEnv`` over a Gymnasium vector env, to train on the native batched envs.

SB3 algorithms (and sb3-contrib's ``RecurrentPPO``) step a
:class:`stable_baselines3.common.vec_env.VecEnv`.
:class:`SB3VecEnv` presents any Gymnasium vector env with next-step autoreset and
``reset_mask`` support (the native :class:`~nmn_envs.views.TaskVectorEnv`, with or without
feedback, and Gymnasium's ``SyncVectorEnv``) with the semantics of SB3's ``DummyVecEnv`` over
the single env: a sub-environment that ends is reset in the same step, its last observation is
kept in ``infos[i]["terminal_observation"]`` (for bootstrapping) and
``infos[i]["TimeLimit.truncated"]`` says whether it was cut by the time limit. With the same
seeds and actions the two give the same observations, rewards, dones and terminal observations.

Like SB3's own ``make_vec_env`` without a monitor, it records no episode statistics: wrap it in
``VecMonitor`` (one line, as below) for ``rollout/ep_rew_mean`` in the logs and for
``EvalCallback``.

Example::

    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.vec_env import VecMonitor
    from nmn_envs.sb3_vec_env import make_sb3_vec_env

    venv = VecMonitor(make_sb3_vec_env("NMN-Bench1-v0", num_envs=64, seed=0))
    model = RecurrentPPO("MultiInputLstmPolicy", venv).learn(10_000)

:func:`make_sb3_team_vec_env` does the same for teams of agents who share a task and see each
other (:mod:`nmn_envs.multiagent`): every agent is a row, so one policy trained on it is shared
by all agents (parameter sharing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.wrappers.vector import DictInfoToList
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn


class SB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` that steps a Gymnasium vector env in one batched call.

    Args:
        env: a Gymnasium vector env with next-step autoreset whose ``reset`` accepts
            ``options={"reset_mask": mask}``.

    Attributes that SB3 reads per sub-environment (``get_attr``, ``env_method``) are read once
    from the vector env, whose sub-environments share them.
    """

    def __init__(self, env: VectorEnv) -> None:
        if not isinstance(env, VectorEnv):
            raise ValueError(
                f"SB3VecEnv needs a gymnasium.vector.VectorEnv, got {type(env).__name__}"
            )
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.NEXT_STEP:
            raise ValueError(f"SB3VecEnv needs a vector env with next-step autoreset, got {mode}")
        self.env = DictInfoToList(env)
        self._actions: np.ndarray | None = None
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)

    def reset(self) -> VecEnvObs:
        if any(self._options):
            raise ValueError(
                "SB3VecEnv does not take per-sub-environment reset options; reset the vector env"
                " with options={'tasks': [...]} instead"
            )
        observation, infos = self.env.reset(seed=self._seeds)
        self.reset_infos = list(infos)
        self._reset_seeds()
        return observation

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise ValueError("step_wait() needs step_async(actions) first")
        observation, rewards, terminated, truncated, infos = self.env.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        time_limit = (truncated & ~terminated).tolist()
        for info, cut in zip(infos, time_limit):
            info["TimeLimit.truncated"] = cut
        ended = np.flatnonzero(dones)
        if ended.size:
            for row in ended:
                infos[row]["terminal_observation"] = _row_of(observation, row)
            observation, reset_infos = self.env.reset(options={"reset_mask": dones})
            for row in ended:
                self.reset_infos[row] = reset_infos[row]
        return observation, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.env.render()
        return list(frames) if frames is not None else [None] * self.num_envs

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(_holder_of(self.env, attr_name), attr_name)
        return [value] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        _check_all_indices(indices, self.num_envs, "set_attr")
        setattr(_holder_of(self.env, attr_name), attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        _check_all_indices(indices, self.num_envs, "env_method")
        result = getattr(_holder_of(self.env, method_name), method_name)(
            *method_args, **method_kwargs
        )
        return [result] * self.num_envs

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False] * len(self._get_indices(indices))


def _holder_of(env: VectorEnv, name: str) -> VectorEnv:
    """The outermost env of a wrapper chain that has the attribute ``name``."""
    current = env
    while not hasattr(current, name):
        if not isinstance(current, VectorWrapper):
            raise AttributeError(f"no vector env in {env} has the attribute {name!r}")
        current = current.env
    return current


def _row_of(observation: Any, row: int) -> Any:
    """The observation of one sub-environment from a batched (possibly ``Dict``) observation."""
    if isinstance(observation, dict):
        return {key: _row_of(value, row) for key, value in observation.items()}
    return observation[row]


def _check_all_indices(indices: VecEnvIndices, num_envs: int, method: str) -> None:
    if indices is None:
        return
    chosen = {int(indices)} if isinstance(indices, (int, np.integer)) else {int(i) for i in indices}
    if chosen != set(range(num_envs)):
        raise ValueError(
            f"{method} acts on the vector env as a whole: pass indices=None (all"
            f" {num_envs} sub-environments share it), got {indices!r}"
        )


def make_sb3_vec_env(
    env_id: str, num_envs: int, seed: int | None = None, **kwargs: Any
) -> SB3VecEnv:
    """The native vector env of ``env_id`` as an SB3 ``VecEnv`` (``seed`` used at the first reset).

    Wrap it in ``stable_baselines3.common.vec_env.VecMonitor`` for episode statistics.

    Args:
        env_id: a registered id with a native vector entry point.
        num_envs: the number of sub-environments.
        seed: sub-environment ``i`` is seeded with ``seed + i``, as ``VecEnv.seed`` does.
        kwargs: passed to :func:`gymnasium.make_vec` (``max_episode_steps``, task arguments).
    """
    venv = SB3VecEnv(
        gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    )
    if seed is not None:
        venv.seed(seed)
    return venv


def make_sb3_team_vec_env(
    env_id: str,
    num_teams: int,
    num_agents: int,
    seed: int | None = None,
    observe_others: bool = True,
    **kwargs: Any,
) -> SB3VecEnv:
    """``num_teams`` teams of ``num_agents`` agents of ``env_id`` as one SB3 ``VecEnv``.

    Row ``t * num_agents + i`` is agent ``i`` of team ``t``
    (:func:`nmn_envs.multiagent.make_team_vector_env`); a policy trained on it acts for every
    agent. A team's rows end their meta-episodes together and are reset together.

    Args:
        env_id: an id with a native core.
        num_teams: teams played at once.
        num_agents: agents per team.
        seed: row ``r`` is seeded with ``seed + r``, as ``VecEnv.seed`` does.
        observe_others: show each agent its teammates' previous step.
        kwargs: the id's kwargs (``max_episode_steps``, task arguments).
    """
    from nmn_envs.multiagent.team import make_team_vector_env

    venv = SB3VecEnv(make_team_vector_env(env_id, num_teams, num_agents, observe_others, **kwargs))
    if seed is not None:
        venv.seed(seed)
    return venv
