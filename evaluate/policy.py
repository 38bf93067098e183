"""The harness's agent interface: a batched :class:`Policy`, and the :class:`LearningPolicy` that
may update its own parameters between the trials of a meta-episode (the MAML agent of
:mod:`evaluate.maml_agent`). :mod:`evaluate.agents` turns what a user brings into one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv

from evaluate.schema import ActionSelection

Observation = Mapping[str, np.ndarray]


class Policy(ABC):
    """A batched agent: :meth:`reset` before a batch of meta-episodes, :meth:`act` at each step.

    Subclasses override :meth:`act`; :meth:`reset` receives the vector env (reference agents
    that are told the task read it from there; agents under test must not).
    """

    name = "policy"
    description = ""
    actions: ActionSelection | None = None
    """How a model agent chooses its actions (``None``: the agent decides its own way)."""

    def reset(self, env: VectorEnv) -> None:
        """Prepare for a batch of ``env.num_envs`` meta-episodes played in ``env``."""

    @abstractmethod
    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        """A batch of actions for a batch of observations.

        Args:
            observation: the vector env's observation (leading axis: sub-environments).
            episode_start: ``True`` for a sub-environment's first step of its meta-episode.
        """


@dataclass(frozen=True)
class Trial:
    """The transitions of one finished trial of one meta-episode.

    Attributes:
        observations: each key of the observation the agent was shown before each step,
            shape ``(steps, ...)``.
        actions: the actions the agent returned, shape ``(steps, ...)`` (before clipping).
        rewards: the reward of each step, shape ``(steps,)``.
    """

    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray


class LearningPolicy(Policy):
    """A policy that may update its own parameters between the trials of a meta-episode.

    The harness calls :meth:`learn` whenever trials end with another trial of the same
    meta-episode to follow, before that trial's first action; it hands each sub-environment its
    own trial only. :meth:`reset` starts new meta-episodes: what was learnt is dropped.
    """

    @abstractmethod
    def learn(self, rows: np.ndarray, trials: Sequence[Trial]) -> None:
        """Take in the trial each sub-environment of ``rows`` has just finished (``trials[i]``
        is that of ``rows[i]``); update their parameters if need be."""


def trials_per_task(env: VectorEnv) -> int:
    """The trials of each meta-episode of a vector env of the suite (1 for a task without trials)."""
    unwrapped = env.unwrapped
    if isinstance(unwrapped, SyncVectorEnv):
        return int(unwrapped.envs[0].get_wrapper_attr("trials_per_task"))
    return int(getattr(unwrapped, "trials_per_task", 1))
