"""The RNN baseline of the NMN paper: a GRU stack followed by dense layers.

The whole observation (base observation, previous action, previous reward) goes through the
recurrent stack; the top layer's output goes through dense layers (``net_arch``) to the action
distribution and, in a separate network, to the value. Source sizes: Bench1 GRU(50) -> 20 -> 10;
Bench2/3 GRU(100) -> GRU(75) -> 45 -> 30 -> 10.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from policies.recurrent import Cell, RecurrentStack, StackedRecurrentPolicy, check_sizes


class RNNPolicy(StackedRecurrentPolicy):
    """Recurrent actor-critic policy: separate GRU (or LSTM) stacks, then dense layers.

    Args:
        observation_space: the (Dict) observation space.
        action_space: ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``.
        lr_schedule: learning-rate schedule (given by RecurrentPPO).
        recurrent_sizes: hidden units of each recurrent layer, bottom first.
        cell: ``"gru"`` (the source's choice) or ``"lstm"``.
        net_arch: dense layers after the recurrent stack (the same for actor and critic,
            separate weights).
        kwargs: ``state_dependent_std`` (default ``True``), ``max_log_std`` and ``heading_action``
            (see :class:`~policies.recurrent.StackedRecurrentPolicy`) and the other arguments of
            ``ActorCriticPolicy`` (``activation_fn``, ``log_std_init``, ``ortho_init``,
            ``optimizer_class``, ...).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        recurrent_sizes: Sequence[int] = (50,),
        cell: Cell = "gru",
        net_arch: Sequence[int] = (20, 10),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            recurrent_sizes=recurrent_sizes,
            cell=cell,
            latent_size=check_sizes("recurrent_sizes", recurrent_sizes)[-1],
            net_arch=list(net_arch),
            **kwargs,
        )

    def _build_recurrent_networks(self) -> None:
        self.lstm_actor = RecurrentStack(self.features_dim, self.recurrent_sizes, self.cell)
        self.lstm_critic = RecurrentStack(self.features_dim, self.recurrent_sizes, self.cell)
