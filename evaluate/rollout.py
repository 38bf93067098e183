"""Playing a policy on given tasks, in batch, through the environment's vector env.

Ids with a batched core play in their native vector env. The MuJoCo ids have none and play
in Gymnasium's ``SyncVectorEnv`` of single envs, each reset on its own task.

An agent that learns between trials (:class:`evaluate.policy.LearningPolicy`) is handed, as
each trial of a meta-episode ends with another to follow, that trial's observations, actions
and rewards (:class:`evaluate.agents.Trial`), sub-environment by sub-environment, before the
next trial's first action: all the meta-episodes of a batch learn in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from evaluate.policy import LearningPolicy, Policy, Trial
from nmn_envs.multiagent.team import make_team_vector_env
from nmn_envs.tasks import Task

DEFAULT_BATCH_SIZE = 256


@dataclass(frozen=True)
class Rollout:
    """Rewards of one policy on a list of tasks.

    Attributes:
        step_rewards: shape ``(n_tasks, T)``: reward of each task at each step of its
            meta-episode (``NaN`` after a meta-episode that ended early).
        trial_rewards: shape ``(n_tasks, K)``: summed reward of each trial, for
            environments that mark trials (``trial_start`` in the observation), else ``None``.
        observations: with ``record=True``, the base observation before each step, shape
            ``(n_tasks, T, *observation_shape)``; else ``None``.
        actions: with ``record=True``, the agent's action at each step, shape
            ``(n_tasks, T, *action_shape)``; else ``None``.
    """

    step_rewards: np.ndarray
    trial_rewards: np.ndarray | None
    observations: np.ndarray | None = None
    actions: np.ndarray | None = None

    @property
    def returns(self) -> np.ndarray:
        """Meta-episode return of each task."""
        return np.nansum(self.step_rewards, axis=1)

    @property
    def curve_unit(self) -> str:
        """``"trial"`` where trials are marked, else ``"step"``."""
        return "step" if self.trial_rewards is None else "trial"

    @property
    def adaptation_curve(self) -> np.ndarray:
        """Mean reward per step (or per trial) index across tasks."""
        rewards = self.step_rewards if self.trial_rewards is None else self.trial_rewards
        counts = np.sum(~np.isnan(rewards), axis=0)
        return np.nansum(rewards, axis=0) / np.maximum(counts, 1)


def has_native_vector_env(env_id: str) -> bool:
    """Whether ``env_id`` registers a native (batched) vector entry point."""
    return gym.spec(env_id).vector_entry_point is not None


def make_vector_env(env_id: str, num_envs: int, env_kwargs: dict[str, Any]) -> gym.vector.VectorEnv:
    """The native vector env of ``env_id`` with ``env_kwargs``, else Gymnasium's ``SyncVectorEnv``."""
    mode = "vector_entry_point" if has_native_vector_env(env_id) else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **env_kwargs)


def reset_on_tasks(
    env: gym.vector.VectorEnv, seeds: Sequence[int], tasks: Sequence[Task]
) -> Any:
    """Reset sub-environment ``i`` with ``seeds[i]`` on ``tasks[i]``; return the observation.

    A native vector env takes ``options={"tasks": ...}``; a ``SyncVectorEnv`` resets each
    sub-environment on its task in turn (``reset_mask``), exactly as a single env reset with
    ``seed=seeds[i], options={"task": tasks[i]}``.
    """
    if has_native_vector_env(env.spec.id):
        return env.reset(seed=list(seeds), options={"tasks": list(tasks)})[0]
    observation, _ = env.reset(seed=list(seeds))
    for row, (seed, task) in enumerate(zip(seeds, tasks)):
        row_seeds: list[int | None] = [None] * env.num_envs
        row_seeds[row] = seed
        mask = np.arange(env.num_envs) == row
        observation, _ = env.reset(seed=row_seeds, options={"reset_mask": mask, "task": task})
    return observation


def episode_length(env: gym.vector.VectorEnv) -> int:
    """The meta-episode length of a vector env of the suite (it must have one)."""
    steps = getattr(env.unwrapped, "max_episode_steps", None)
    if steps is None and isinstance(env.unwrapped, gym.vector.SyncVectorEnv):
        steps = env.unwrapped.envs[0].spec.max_episode_steps
    if steps is None:
        raise ValueError("the harness needs a finite meta-episode: pass max_episode_steps")
    return int(steps)


def play(
    policy: Policy,
    env_id: str,
    tasks: Sequence[Task],
    seeds: Sequence[int],
    env_kwargs: dict[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    record: bool = False,
    num_agents: int = 1,
) -> Rollout:
    """Play one meta-episode of ``policy`` on each task (task ``i`` reset with ``seeds[i]``).

    With ``num_agents > 1`` each task is played by a team of agents who see each other
    (:mod:`nmn_envs.multiagent`), all of them ``policy``; agent ``j`` of task ``i`` is reset
    with seed ``seeds[i] * num_agents + j``, and the rewards are the team's mean per agent.

    Args:
        policy: the batched agent.
        env_id: a registered id of the suite.
        tasks: the tasks to play.
        seeds: one reset seed per task.
        env_kwargs: kwargs of the environment (for example ``max_episode_steps``).
        batch_size: sub-environments played at once.
        progress: show a progress bar.
        record: keep every base observation and action (for analyses; one agent only).
        num_agents: agents per task.

    Raises:
        ValueError: if the agent returns actions of the wrong shape, NaN or infinite values.
    """
    env_kwargs = dict(env_kwargs or {})
    if num_agents > 1 and (record or isinstance(policy, LearningPolicy)):
        raise ValueError("record=True and agents that learn between trials play one agent per task")
    blocks: list[Rollout] = []
    for start in range(0, len(tasks), batch_size):
        stop = min(start + batch_size, len(tasks))
        block_seeds = [int(seed) for seed in seeds[start:stop]]
        if num_agents == 1:
            env = make_vector_env(env_id, stop - start, env_kwargs)
        else:
            env = make_team_vector_env(env_id, stop - start, num_agents, **env_kwargs)
            block_seeds = [seed * num_agents + j for seed in block_seeds for j in range(num_agents)]
        try:
            block = _play_batch(
                policy, env, list(tasks[start:stop]), block_seeds, progress, record
            )
        finally:
            env.close()
        blocks.append(block if num_agents == 1 else _team_means(block, num_agents))

    def joined(name: str) -> np.ndarray | None:
        arrays = [getattr(block, name) for block in blocks]
        if arrays[0] is None:
            return None
        width = max(array.shape[1] for array in arrays)
        return np.concatenate([_pad(array, width) for array in arrays])

    return Rollout(
        *(joined(name) for name in ("step_rewards", "trial_rewards", "observations", "actions"))
    )


def _team_means(rollout: Rollout, num_agents: int) -> Rollout:
    """The rewards of each team's consecutive rows averaged: the team's reward per agent."""

    def per_agent(rewards: np.ndarray | None) -> np.ndarray | None:
        if rewards is None:
            return None
        return rewards.reshape(-1, num_agents, rewards.shape[1]).mean(axis=1)

    return Rollout(per_agent(rollout.step_rewards), per_agent(rollout.trial_rewards))


def _pad(block: np.ndarray, width: int) -> np.ndarray:
    """Pad the step (or trial) axis of ``block`` to ``width`` with NaN (or -1 for integers)."""
    padding = [(0, 0), (0, width - block.shape[1])] + [(0, 0)] * (block.ndim - 2)
    return np.pad(block, padding, constant_values=-1 if block.dtype.kind in "iu" else np.nan)


class TrialRecorder:
    """The transitions of every sub-environment's current trial, for a :class:`LearningPolicy`."""

    def __init__(self, num_envs: int, length: int) -> None:
        self.length = length
        self.observations: dict[str, np.ndarray] = {}
        self.actions: np.ndarray | None = None
        self.rewards = np.zeros((num_envs, length))
        self.trial_start = np.zeros(num_envs, dtype=np.int64)

    def add(self, t: int, observation: dict[str, np.ndarray], actions: np.ndarray, rewards: np.ndarray) -> None:
        """Keep step ``t`` of every sub-environment."""
        actions = np.asarray(actions)
        if self.actions is None:
            num_envs = len(self.rewards)
            self.observations = {
                key: np.zeros((num_envs, self.length, *np.shape(value)[1:]), np.asarray(value).dtype)
                for key, value in observation.items()
            }
            self.actions = np.zeros((num_envs, self.length, *actions.shape[1:]), actions.dtype)
        for key, value in observation.items():
            self.observations[key][:, t] = value
        self.actions[:, t] = actions
        self.rewards[:, t] = rewards

    def finish(self, rows: np.ndarray, t: int) -> list[Trial]:
        """The trials of ``rows`` that ended at step ``t``; their next trials start at ``t + 1``."""
        trials = []
        for row in rows:
            steps = slice(self.trial_start[row], t + 1)
            trials.append(
                Trial(
                    {key: values[row, steps].copy() for key, values in self.observations.items()},
                    self.actions[row, steps].copy(),
                    self.rewards[row, steps].copy(),
                )
            )
        self.trial_start[rows] = t + 1
        return trials


def _play_batch(
    policy: Policy,
    env: gym.vector.VectorEnv,
    tasks: list[Task],
    seeds: list[int],
    progress: bool,
    record: bool,
) -> Rollout:
    num_envs = env.num_envs
    length = episode_length(env)
    observation = reset_on_tasks(env, seeds, tasks)
    policy.reset(env)
    marks_trials = isinstance(observation, dict) and "trial_start" in observation
    step_rewards = np.full((num_envs, length), np.nan)
    trial_rewards = np.zeros((num_envs, length)) if marks_trials else None
    observations: list[np.ndarray] = []
    actions_played: list[np.ndarray] = []
    trial = np.zeros(num_envs, dtype=np.int64)
    learns = isinstance(policy, LearningPolicy) and marks_trials
    recorder = TrialRecorder(num_envs, length) if learns else None
    running = np.ones(num_envs, dtype=bool)
    episode_start = np.ones(num_envs, dtype=bool)
    name = env.spec.id if env.spec else "env"
    bar = tqdm(
        total=length,
        desc=f"{policy.name} on {name}",
        leave=False,
        disable=not progress,
        unit="step",
    )
    for t in range(length):
        actions = policy.act(observation, episode_start)
        try:
            observation_next, rewards, terminated, truncated, _ = env.step(actions)
        except ValueError as error:
            raise ValueError(
                f"agent {policy.name!r} gave invalid actions at step {t}: {error}"
            ) from None
        if record:
            observations.append(np.array(observation["observation"]))
            actions_played.append(np.array(actions))
        rows = np.flatnonzero(running)
        step_rewards[rows, t] = rewards[rows]
        if trial_rewards is not None:
            new_trial = running & ~episode_start & (observation["trial_start"][:, 0] > 0.5)
            trial += new_trial
            trial_rewards[rows, trial[rows]] += rewards[rows]
        running &= ~(terminated | truncated)
        if recorder is not None:
            recorder.add(t, observation, actions, rewards)
            learning = np.flatnonzero(running & (observation_next["trial_start"][:, 0] > 0.5))
            if learning.size:
                policy.learn(learning, recorder.finish(learning, t))
        episode_start = np.zeros(num_envs, dtype=bool)
        observation = observation_next
        bar.update()
        if not running.any():
            break
    bar.close()
    if trial_rewards is not None:
        trial_rewards = trial_rewards[:, : int(trial.max()) + 1]
    return Rollout(
        step_rewards[:, : t + 1],
        trial_rewards,
        np.stack(observations, axis=1) if record else None,
        np.stack(actions_played, axis=1) if record else None,
    )
