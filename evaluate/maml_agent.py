"""A saved MAML model as a harness agent: it adapts by gradient steps within each meta-episode.

The model (:mod:`policies.maml`, loaded from its safe form) records ``inner_steps`` and
``inner_learning_rate``. On a meta-episode of ``K`` trials the agent spends the first ``K - 1``
learning: it splits them into ``inner_steps`` batches of ``B = (K - 1) // inner_steps`` trials,
plays each batch with its current parameters and takes one inner step on it, then plays the
remaining trials with the adapted parameters. With one inner step, ``trials_per_task=2``
adapts on one trajectory and ``trials_per_task=21`` on twenty, the MAML papers' budget; the
per-trial adaptation curve shows the trials before and after the update.

Every meta-episode of a batch has its own fast weights, all updated in one batched
``torch.func`` step. The agent samples its actions (a policy-gradient step learns from its own
exploration noise) from a torch generator seeded with the action seed at every reset, so a
result replays exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium.vector import VectorEnv

from evaluate.policy import LearningPolicy, Observation, Trial, trials_per_task
from evaluate.schema import ActionSelection
from policies.maml import Adaptation, Episodes, GaussianMLPPolicy, adapt, expand, sample_actions
from policies.serialization import SafeModel, environment_spaces


class MAMLAgent(LearningPolicy):
    """A MAML policy that adapts to each meta-episode's task on that meta-episode's trials.

    Args:
        module: the meta-learnt policy (its parameters, copied here, are the initial ones).
        adaptation: how it adapts (inner learning rate and steps).
        name: the name shown in results.
        seed: the seed of the torch generator its actions are sampled with.
        trained_for: the env id it was trained on (named when it is refused elsewhere).
    """

    def __init__(
        self,
        module: GaussianMLPPolicy,
        adaptation: Adaptation,
        name: str,
        seed: int = 0,
        trained_for: str | None = None,
    ) -> None:
        self.module, self.adaptation, self.trained_for = module, adaptation, trained_for
        self.name, self.seed = name, seed
        self.actions = ActionSelection(mode="sampled", torch_seed=seed)
        self.description = (
            f"MAML GaussianMLPPolicy: {adaptation.inner_steps} inner step(s) of size "
            f"{adaptation.inner_learning_rate:g} on its meta-episode's trials (sampled actions, torch seed {seed})"
        )
        self.initial = {key: value.detach().clone() for key, value in module.named_parameters()}
        self.generator = th.Generator()
        self.params: dict[str, th.Tensor] = {}
        self.trials_per_step = 1
        self.pending: list[list[Trial]] = []
        self.steps_taken = np.zeros(0, dtype=np.int64)

    def check_env(self, env_id: str, env_kwargs: dict[str, Any], num_agents: int = 1) -> None:
        """Refuse an env whose spaces are not the model's, or whose trials leave too few to learn from.

        Raises:
            ValueError: naming the model's spaces or inner steps and what the env offers.
        """
        trained_for = self.trained_for
        where = f" (trained for {trained_for})" if trained_for and trained_for != env_id else ""
        if num_agents > 1:
            raise ValueError(f"agent {self.name!r} is a MAML model: it plays one agent per task")
        observation_space, action_space = environment_spaces(env_id, env_kwargs)
        module = self.module
        if module.observation_space != observation_space["observation"] or module.action_space != action_space:
            raise ValueError(
                f"agent {self.name!r}{where} acts on observations {module.observation_space} with actions "
                f"{module.action_space}, but {env_id} gives {observation_space['observation']} and takes "
                f"{action_space}"
            )
        env = gym.make(env_id, **env_kwargs)
        trials = int(env.get_wrapper_attr("trials_per_task"))
        env.close()
        steps = self.adaptation.inner_steps
        if trials - 1 < steps:
            raise ValueError(
                f"agent {self.name!r} takes {steps} inner step(s), each on trials of its own, but {env_id} plays "
                f"{trials} trial(s) per meta-episode, leaving {trials - 1} to learn from: pass trials_per_task of "
                f"at least {steps + 1} (and max_episode_steps to match)"
            )

    def reset(self, env: VectorEnv) -> None:
        self.generator.manual_seed(self.seed)
        self.params = {key: value.clone() for key, value in expand(self.initial, env.num_envs).items()}
        self.trials_per_step = max((trials_per_task(env) - 1) // self.adaptation.inner_steps, 1)
        self.pending = [[] for _ in range(env.num_envs)]
        self.steps_taken = np.zeros(env.num_envs, dtype=np.int64)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        inputs = th.as_tensor(np.asarray(observation["observation"]), dtype=th.float32)
        with th.no_grad():
            return sample_actions(self.module, self.params, inputs, self.generator).numpy()

    def learn(self, rows: np.ndarray, trials: Sequence[Trial]) -> None:
        for row, trial in zip(rows, trials):
            if self.steps_taken[row] < self.adaptation.inner_steps:
                self.pending[row].append(trial)
        ready = np.asarray([row for row in rows if len(self.pending[row]) == self.trials_per_step], dtype=np.int64)
        if not ready.size:
            return
        episodes = padded_episodes([self.pending[row] for row in ready])
        index = th.as_tensor(ready)
        adapted = adapt(
            self.module,
            {key: value[index] for key, value in self.params.items()},
            [episodes],
            self.adaptation,
            first_order=True,
        )
        for key, value in adapted.items():
            self.params[key][index] = value.detach()
        for row in ready:
            self.pending[row] = []
        self.steps_taken[ready] += 1


def maml_agent(model: SafeModel, name: str, seed: int = 0) -> MAMLAgent:
    """The agent of a safe MAML model (:func:`policies.serialization.load_safe`)."""
    if model.metadata.adaptation is None or not isinstance(model.policy, GaussianMLPPolicy):
        raise ValueError(f"{name}: not a MAML model (its metadata has no adaptation)")
    return MAMLAgent(model.policy, model.metadata.adaptation, name, seed, model.metadata.env_id)


def padded_episodes(trials: Sequence[Sequence[Trial]]) -> Episodes:
    """The trials of each task (``trials[i]``: task ``i``'s, as many for every task) as
    :class:`~policies.maml.Episodes`, padded to the longest trial."""
    steps = max(len(trial.rewards) for task in trials for trial in task)
    shape = (len(trials), len(trials[0]), steps)
    first = trials[0][0]
    observations = np.zeros((*shape, *first.observations["observation"].shape[1:]), np.float32)
    actions = np.zeros((*shape, *first.actions.shape[1:]), np.float32)
    rewards, mask = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for task, task_trials in enumerate(trials):
        for episode, trial in enumerate(task_trials):
            length = len(trial.rewards)
            observations[task, episode, :length] = trial.observations["observation"]
            actions[task, episode, :length] = trial.actions
            rewards[task, episode, :length] = trial.rewards
            mask[task, episode, :length] = 1.0
    return Episodes(*(th.from_numpy(array) for array in (observations, actions, rewards, mask)))
