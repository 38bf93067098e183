"""The action heads of the package's recurrent policies, on top of sb3-contrib's.

sb3-contrib's :class:`~sb3_contrib.common.recurrent.policies.RecurrentActorCriticPolicy` gives a
``Box`` action SB3's Gaussian: a mean from the actor and a log standard deviation that is one
parameter, the same at every step. :class:`HeadedRecurrentPolicy` keeps that head and offers two
others, each a constructor argument, so that every recurrent policy of the package (the NMN, the
RNN and the LSTM baselines) can take either:

* ``state_dependent_std``: the actor outputs the log-std at every step, like the mean (the
  source's head); exploration can then depend on the history.
* ``heading_action``: a ``Box(-1, 1)`` action read as a heading ``theta = pi * a`` (NMN-Bench2/3)
  gets a mean that is the angle of an output vector and a Gaussian wrapped around the circle
  (:mod:`policies.heading`), so that neither jumps at due west.

A subclass may replace the parent's LSTMs in :meth:`HeadedRecurrentPolicy._build_recurrent_networks`;
the optimizer is rebuilt over whatever the head and the networks hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.torch_layers import CombinedExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from policies.heading import WrappedGaussianDistribution, heading_mean

LOG_STD_BOUNDS = (-5.0, 1.0)
"""Bounds of a state-dependent log-std (std from 0.0067 to 2.7 in units of the action box)."""


def is_unit_box(space: spaces.Space) -> bool:
    """Whether ``space`` is a ``Box`` whose every bound is -1 below and 1 above."""
    return isinstance(space, spaces.Box) and bool((space.low == -1.0).all() and (space.high == 1.0).all())


class HeadedRecurrentPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's recurrent actor-critic policy with a choice of Gaussian heads.

    With ``state_dependent_std`` a ``Box`` action's Gaussian takes its log standard deviation
    from the actor at every step: the actor's output has an ``s`` per action dimension after the
    mean, and ``log_std = log_std_init + s / 2`` bounded to :data:`LOG_STD_BOUNDS`
    (``max_log_std`` lowers the upper bound, which forces the mean, not the noise, to do the
    searching). Without it, SB3's state-independent ``log_std`` parameter is used. A model saved
    with the latter loads into either: its weights say which head it has.

    With ``heading_action`` the actor outputs a vector ``(u, v)`` per action dimension in place
    of the mean; the mean is its angle (:func:`~policies.heading.heading_mean`) and the Gaussian
    is wrapped around the circle (:class:`~policies.heading.WrappedGaussianDistribution`).

    Dict observations are flattened by SB3's :class:`CombinedExtractor` (one vector, keys in the
    space's order), other observations by the parent's default.

    Args:
        observation_space: the observation space.
        action_space: the action space (``heading_action`` needs ``Box(-1, 1)``).
        lr_schedule: learning-rate schedule (given by RecurrentPPO).
        state_dependent_std: whether the actor outputs the log-std (see above).
        max_log_std: upper bound of a state-dependent log-std, in ``LOG_STD_BOUNDS``.
        heading_action: whether the action is a heading (see above).
        kwargs: the arguments of sb3-contrib's ``RecurrentActorCriticPolicy``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *,
        state_dependent_std: bool,
        max_log_std: float = LOG_STD_BOUNDS[1],
        heading_action: bool = False,
        **kwargs: Any,
    ) -> None:
        if not LOG_STD_BOUNDS[0] < max_log_std <= LOG_STD_BOUNDS[1]:
            raise ValueError(f"max_log_std must lie in ({LOG_STD_BOUNDS[0]}, {LOG_STD_BOUNDS[1]}], got {max_log_std!r}")
        if heading_action and not is_unit_box(action_space):
            raise ValueError(
                f"heading_action reads a Box(-1, 1) action as a heading pi * a; got the action space {action_space}"
            )
        if kwargs.get("use_sde"):
            raise ValueError(f"{type(self).__name__} does not support gSDE (use_sde=True)")
        self.max_log_std = float(max_log_std)
        self.heading_action = bool(heading_action)
        self.state_dependent_std = bool(state_dependent_std)
        if isinstance(observation_space, spaces.Dict):
            kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self._build_networks()

    @property
    def std_from_actor(self) -> bool:
        """Whether the actor outputs the log-std of a Gaussian action (see the class docstring)."""
        return self.state_dependent_std and isinstance(self.action_dist, DiagGaussianDistribution)

    @property
    def actor_outputs_per_action(self) -> int:
        """What the actor outputs per action dimension: the mean (``(u, v)`` with
        ``heading_action``), then, with a state-dependent std, the log-std's ``s``."""
        return (2 if self.heading_action else 1) + (1 if self.std_from_actor else 0)

    def _build_networks(self) -> None:
        """Build the action head and the recurrent networks, then the optimizer over them all."""
        if self.heading_action:
            self.action_dist = WrappedGaussianDistribution(self.action_dist.action_dim)
        if self.actor_outputs_per_action > 1:
            action_size = self.action_net.out_features
            self.action_net = nn.Linear(self.mlp_extractor.latent_dim_pi, self.actor_outputs_per_action * action_size)
            if self.ortho_init:
                self.init_weights(self.action_net, gain=0.01)
        if self.std_from_actor and "log_std" in self._parameters:
            del self.log_std
        self._build_recurrent_networks()
        # The parent built its optimizer over the modules replaced above: rebuild it.
        self.optimizer = self.optimizer_class(self.parameters(), lr=self.lr_schedule(1), **self.optimizer_kwargs)

    def _build_recurrent_networks(self) -> None:
        """Set ``lstm_actor`` and ``lstm_critic``: here the parent's LSTMs are kept."""

    def _build(self, lr_schedule: Schedule) -> None:
        self.lr_schedule = lr_schedule
        super()._build(lr_schedule)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load weights; those of a state-independent log-std switch the head to that form."""
        if "log_std" in state_dict and self.std_from_actor:
            self.state_dependent_std = False
            self.action_net, self.log_std = self.action_dist.proba_distribution_net(
                latent_dim=self.mlp_extractor.latent_dim_pi, log_std_init=self.log_std_init
            )
            self._build_networks()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def set_training_mode(self, mode: bool) -> None:
        """SB3's switch between training and evaluation mode, skipped when the policy is in
        ``mode`` already: ``predict`` calls it at every step, and walking every submodule took a
        third of the time of a step that the harness plays."""
        if mode != self.training:
            super().set_training_mode(mode)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(state_dependent_std=self.state_dependent_std)
        if self.max_log_std != LOG_STD_BOUNDS[1]:
            data.update(max_log_std=self.max_log_std)
        if self.heading_action:
            data.update(heading_action=True)
        return data

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> Distribution:
        if self.actor_outputs_per_action == 1:
            return super()._get_action_dist_from_latent(latent_pi)
        outputs = self.action_net(latent_pi).chunk(self.actor_outputs_per_action, dim=-1)
        mean = heading_mean(outputs[0], outputs[1]) if self.heading_action else outputs[0]
        if not self.std_from_actor:
            return self.action_dist.proba_distribution(mean, self.log_std)
        log_std = th.clamp(self.log_std_init + 0.5 * outputs[-1], LOG_STD_BOUNDS[0], self.max_log_std)
        return self.action_dist.proba_distribution(mean, log_std)
