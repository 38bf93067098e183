"""The LSTM baseline: sb3-contrib's own LSTM policy, with the package's choice of action heads.

With its defaults :class:`LSTMPolicy` is sb3-contrib's ``MlpLstmPolicy`` (``MultiInputLstmPolicy``
for ``Dict`` observations): an LSTM for the actor and another for the critic
(``lstm_hidden_size``, ``n_lstm_layers``), then dense layers (``net_arch``), and SB3's
state-independent Gaussian; built from the same seed it has the same weights. Its
``heading_action`` and ``state_dependent_std`` are :class:`~policies.action_head.HeadedRecurrentPolicy`'s,
so that on NMN-Bench2/3 the LSTM can take the head on the circle that the NMN and the RNN take.
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from policies.action_head import HeadedRecurrentPolicy


class LSTMPolicy(HeadedRecurrentPolicy):
    """sb3-contrib's recurrent actor-critic LSTM policy with a choice of action heads.

    Args:
        observation_space: the (Dict) observation space.
        action_space: any action space of sb3-contrib's policy (``heading_action`` needs ``Box(-1, 1)``).
        lr_schedule: learning-rate schedule (given by RecurrentPPO).
        state_dependent_std: whether the actor outputs the log-std at every step (default
            ``False``: SB3's state-independent ``log_std``, sb3-contrib's head).
        kwargs: ``max_log_std`` and ``heading_action`` (see
            :class:`~policies.action_head.HeadedRecurrentPolicy`) and the other arguments of
            sb3-contrib's ``RecurrentActorCriticPolicy`` (``lstm_hidden_size``, ``n_lstm_layers``,
            ``net_arch``, ``log_std_init``, ...).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        state_dependent_std: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(observation_space, action_space, lr_schedule, state_dependent_std=state_dependent_std, **kwargs)
