"""Agents the harness can play: one batched interface over every kind of agent a user brings.

The harness plays a batch of meta-episodes in a native vector env and asks a :class:`~evaluate.policy.Policy`
for a batch of actions at each step. :func:`as_policy` turns into a policy:

* a Stable-Baselines3 / sb3-contrib model, or any object with SB3's
  ``predict(obs, state, episode_start, deterministic)`` (the recurrent state is carried
  between steps and ``episode_start`` marks each sub-environment's first step);
* a path to a saved model: the safe form of :mod:`policies.serialization` (JSON metadata and
  a ``state_dict``; nothing is unpickled), or, only with ``trust_pickle=True``, a
  Stable-Baselines3 ``RecurrentPPO`` or ``PPO`` zip (whose pickles can run code);
* a plain callable ``observations -> actions`` (called with the batch: a dict of arrays with a
  leading sub-environment axis, as the vector env returns it);
* a :class:`~evaluate.policy.Policy` (the reference agents of :mod:`evaluate.references` are policies).

A safe MAML model (:mod:`policies.maml`) becomes a :class:`evaluate.maml_agent.MAMLAgent`, a
:class:`~evaluate.policy.LearningPolicy`: an agent that adapts by gradient steps. Within a meta-episode it acts,
is shown each finished trial's transitions, and may update its own parameters for that
meta-episode before the next trial; it never sees another meta-episode's data, so it learns
from exactly what a recurrent agent sees.

A model is given the observation in the form it was trained on: the feedback ``Dict`` as the
env returns it; the flattened observation, in the documented key order of
:mod:`nmn_envs.wrappers`, for a flat ``Box`` space (trained through
``gymnasium.wrappers.FlattenObservation``); or the bare ``observation`` for a model trained on
``feedback=False`` (it sees no feedback, so it cannot adapt through it, and is scored as such).
A model told the task (the ``bare+task`` layout of a trained oracle,
:mod:`evaluate.trained_references`) is refused: only the ``oracle`` reference reads the task.
With VecNormalize statistics (:mod:`evaluate.observation_statistics`) that input is normalised
as in training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from gymnasium.vector import VectorEnv

from evaluate.observation_statistics import VecNormalizeChoice, check_choice, load_statistics
from evaluate.policy import Observation, Policy
from evaluate.schema import ActionSelection

def flatten_batch(space: spaces.Dict, observation: Observation) -> np.ndarray:
    """Flatten a batch of ``Dict`` observations as ``FlattenObservation`` flattens one."""
    parts = [
        np.asarray(observation[key]).reshape(len(observation[key]), -1) for key in space.spaces
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def model_input(
    model_space: spaces.Space | None, env_space: spaces.Space
) -> Callable[[Observation], Any]:
    """How the env's batch of observations becomes the input of a model trained on ``model_space``.

    Raises:
        ValueError: if ``model_space`` is none of the forms the env's observation takes.
    """
    as_given = model_space is None or isinstance(model_space, spaces.Dict)
    if as_given or not isinstance(env_space, spaces.Dict):
        return lambda observation: observation
    if isinstance(model_space, spaces.Box):
        if model_space.shape == (spaces.flatdim(env_space),):
            return lambda observation: flatten_batch(env_space, observation)
        if model_space.shape == env_space["observation"].shape:  # trained with feedback=False
            return lambda observation: observation["observation"]
    raise ValueError(
        f"the model acts on observations of {model_space}, which is none of the forms the env "
        f"gives: the feedback Dict {env_space}, its flattened Box of size "
        f"{spaces.flatdim(env_space)} (FlattenObservation), or the bare observation "
        f"{env_space['observation']} (feedback=False)"
    )


class PredictPolicy(Policy):
    """An object with SB3's ``predict`` signature (recurrent state carried between steps).

    ``observation_statistics`` (a ``VecNormalize`` in evaluation mode) normalises the model's
    input as in training.
    """

    def __init__(
        self,
        model: Any,
        name: str,
        deterministic: bool = True,
        seed: int = 0,
        observation_statistics: Any = None,
    ) -> None:
        self.model = model
        self.name = name
        self.deterministic = deterministic
        self.seed = seed
        self.observation_statistics = observation_statistics
        self.actions = (
            ActionSelection(mode="mean")
            if deterministic
            else ActionSelection(mode="sampled", torch_seed=seed)
        )
        kind = "mean actions" if deterministic else f"sampled actions, torch seed {seed}"
        normalised = (
            ", VecNormalize observation statistics" if observation_statistics is not None else ""
        )
        self.description = f"{getattr(model, 'label', type(model).__name__)} ({kind}{normalised})"
        self._state: Any = None
        self._input: Callable[[Observation], Any] = lambda observation: observation

    def reset(self, env: VectorEnv) -> None:
        self._state = None
        if not self.deterministic:  # SB3 samples actions from torch's global generator
            th.manual_seed(self.seed)
        model_space = getattr(self.model, "observation_space", None)
        self._input = model_input(model_space, env.single_observation_space)

    def check_spaces(
        self, env_id: str, observation_space: spaces.Space, action_space: spaces.Space
    ) -> None:
        """Refuse a model that cannot act in an env with these (single) spaces.

        The model may observe the env's feedback Dict, its flattened Box or its bare observation
        (a model trained with ``feedback=False``), as :func:`model_input` feeds it.

        Raises:
            ValueError: naming the model's spaces and the environment's.
        """
        trained_for = getattr(getattr(self.model, "metadata", None), "env_id", None)
        where = f" (trained for {trained_for})" if trained_for and trained_for != env_id else ""
        model_observations = getattr(self.model, "observation_space", None)
        model_actions = getattr(self.model, "action_space", None)
        try:
            model_input(model_observations, observation_space)
            fits_observations = (
                not isinstance(model_observations, spaces.Dict) or model_observations == observation_space
            )
        except ValueError:
            fits_observations = False
        if not fits_observations:
            raise ValueError(
                f"agent {self.name!r}{where} observes {model_observations}, but {env_id} "
                f"gives {observation_space}: a model may take it as it is, flattened "
                "(FlattenObservation) or as its bare observation (trained with feedback=False)"
            )
        if model_actions is not None and model_actions != action_space:
            raise ValueError(
                f"agent {self.name!r}{where} acts in {model_actions}, but {env_id} takes "
                f"{action_space}"
            )

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        inputs = self._input(observation)
        if self.observation_statistics is not None:
            inputs = self.observation_statistics.normalize_obs(inputs)
        actions, self._state = self.model.predict(
            inputs,
            state=self._state,
            episode_start=episode_start,
            deterministic=self.deterministic,
        )
        return actions


class CallablePolicy(Policy):
    """A plain callable ``observations -> actions`` over the batch."""

    def __init__(self, function: Callable[[Observation], Any], name: str) -> None:
        self.function = function
        self.name = name

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        return np.asarray(self.function(observation))


def load_model(path: str | Path, trust_pickle: bool = False) -> Any:
    """Load a saved model on the CPU through :func:`policies.serialization.load_agent`.

    Raises:
        ValueError: if the file does not exist, does not load, or needs unpickling while
            ``trust_pickle`` is not set.
    """
    from policies.serialization import load_agent

    return load_agent(path, trust_pickle=trust_pickle)


def is_maml(model: Any) -> bool:
    """Whether a loaded model is a safe MAML model (it plays as a :class:`LearningPolicy`)."""
    return getattr(getattr(model, "metadata", None), "algorithm", None) == "MAML"


def model_name(path: Path) -> str:
    """The name of a saved model: its file stem, or its run folder for a run's ``model.zip``
    (or ``model.safe.zip``)."""
    from policies.serialization import SAFE_SUFFIX

    stem = path.name.removesuffix(SAFE_SUFFIX) if path.name.endswith(SAFE_SUFFIX) else path.stem
    return path.parent.name if stem == "model" and path.parent.name else stem


def as_policy(
    agent: Any,
    name: str | None = None,
    deterministic: bool = True,
    seed: int = 0,
    vec_normalize: VecNormalizeChoice = None,
    trust_pickle: bool = False,
) -> Policy:
    """Wrap any supported agent as a :class:`Policy` (see the module docstring).

    Args:
        agent: a policy, an object with ``predict``, a path to a model zip, or a callable.
        name: the name shown in results (default: :func:`model_name` or the class name).
        deterministic: passed to ``predict``; ``False`` samples actions (meta-RL policies
            often probe through their action noise).
        seed: seed of torch's generator for sampled actions, set at every rollout.
        vec_normalize: for a model path, its VecNormalize statistics file to load (the caller's
            explicit choice: a pickle), ``False`` to play it on raw observations, or ``None``
            (see :func:`evaluate.observation_statistics.check_choice`).
        trust_pickle: allow a model file that is not in the safe form (it is unpickled).

    Raises:
        ValueError: for anything else, a file that does not load, or statistics found beside
            a model without a choice.
    """
    if isinstance(agent, Policy):
        if name is not None:
            agent.name = name
        return agent
    if isinstance(agent, (str, Path)) or callable(getattr(agent, "predict", None)):
        if isinstance(agent, (str, Path)):
            statistics_file = check_choice(agent, vec_normalize)
            model, name = load_model(agent, trust_pickle), name or model_name(Path(agent))
            if getattr(getattr(model, "metadata", None), "observation_layout", None) == "bare+task":
                raise ValueError(
                    f"agent {str(agent)!r} is told the task (observation_layout 'bare+task'): no agent under "
                    "test may see it; a trained oracle plays as the reference 'oracle'"
                )
            if is_maml(model):
                from evaluate.maml_agent import maml_agent

                return maml_agent(model, name, seed)
        else:
            statistics_file = Path(vec_normalize) if vec_normalize else None
            model, name = agent, name or type(agent).__name__
        statistics = (
            None
            if statistics_file is None
            else load_statistics(statistics_file, model.observation_space)
        )
        return PredictPolicy(model, name, deterministic, seed, statistics)
    if callable(agent):
        return CallablePolicy(agent, name or getattr(agent, "__name__", type(agent).__name__))
    raise ValueError(
        "an agent must be an SB3 model, an object with predict(obs, state, episode_start, "
        f"deterministic), a path to a saved model, or a callable; got {type(agent).__name__}"
    )
