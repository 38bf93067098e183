"""Recurrent building blocks shared by the NMN policy and the RNN baseline.

sb3-contrib's :class:`~sb3_contrib.common.recurrent.policies.RecurrentActorCriticPolicy` was
written around one ``nn.LSTM`` per network. :class:`RecurrentPPO` sizes its rollout buffer from
``policy.lstm_actor.num_layers`` and ``policy.lstm_actor.hidden_size`` and passes ``(h, c)``
state pairs everywhere. :class:`RecurrentStack` therefore keeps ``nn.LSTM``'s interface while
stacking GRU or LSTM layers of different sizes: it reports ``num_layers = 1`` and packs the
states of all its layers side by side into one vector of ``hidden_size = sum(sizes)``; a GRU
carries an all-zero ``c``.

:class:`StackedRecurrentPolicy` is the policy base: it swaps the parent's LSTMs for networks
built by a subclass (the optimizer is rebuilt over them, see :mod:`policies.action_head`, whose
heads it takes, the source's by default), runs a whole minibatch sequence in one recurrent call
(the actor's and the critic's GRUs as one recurrence, see :mod:`policies.gru`), and saves its
own constructor arguments.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from policies.action_head import HeadedRecurrentPolicy
from policies.gru import SequenceGRU, run_grus

Cell = Literal["gru", "lstm"]
CELLS: dict[str, type[nn.RNNBase]] = {"gru": SequenceGRU, "lstm": nn.LSTM}
RecurrentState = tuple[th.Tensor, th.Tensor]
SOURCE_LOG_STD_INIT = -0.5
"""The source's Gaussian head: log-variance = output - 1, so log-std = -0.5 + output / 2."""
LSTM_ARGUMENTS = {"lstm_hidden_size", "n_lstm_layers", "shared_lstm", "enable_critic_lstm", "lstm_kwargs"}


def check_sizes(name: str, sizes: Sequence[int]) -> tuple[int, ...]:
    """Return ``sizes`` as a tuple of positive ints, or raise a ValueError naming ``name``."""
    sizes = tuple(sizes)
    if not sizes or not all(isinstance(size, int) and size > 0 for size in sizes):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {sizes!r}")
    return sizes


class RecurrentStack(nn.Module):
    """GRU or LSTM layers of possibly different sizes behind ``nn.LSTM``'s interface.

    Args:
        input_size: features per step.
        sizes: hidden units of each layer, bottom first.
        cell: ``"gru"`` or ``"lstm"``.

    ``forward(x, (h, c))`` takes ``x`` of shape ``(T, batch, input_size)`` and states of shape
    ``(1, batch, sum(sizes))``; it returns the top layer's outputs ``(T, batch, sizes[-1])``
    and the new packed states.
    """

    num_layers = 1

    def __init__(self, input_size: int, sizes: Sequence[int], cell: Cell = "gru") -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.sizes = check_sizes("recurrent sizes", sizes)
        self.cell = cell
        self.input_size = input_size
        self.hidden_size = sum(self.sizes)
        self.output_size = self.sizes[-1]
        widths = (input_size, *self.sizes)
        self.layers = nn.ModuleList(CELLS[cell](n_in, n_out) for n_in, n_out in zip(widths, widths[1:]))

    @property
    def recurrent(self) -> RecurrentStack:
        """The recurrent part of this network: all of it (the interface of the NMN's networks)."""
        return self

    def read_out(self, hidden: th.Tensor, features: th.Tensor) -> th.Tensor:
        """The network's output from the top layer's outputs: those outputs themselves."""
        return hidden

    def forward(self, x: th.Tensor, state: RecurrentState) -> tuple[th.Tensor, RecurrentState]:
        (output,), (state,) = run_stacks([self], [x], [state])
        return output, state


def run_stacks(
    stacks: Sequence[RecurrentStack], inputs: Sequence[th.Tensor], states: Sequence[RecurrentState]
) -> tuple[list[th.Tensor], list[RecurrentState]]:
    """Run recurrent stacks over their own inputs; GRU stacks of one shape share each recurrence.

    Args:
        stacks: the stacks (for example the actor's and the critic's).
        inputs: each stack's input sequence, ``(T, batch, input_size)``.
        states: each stack's packed ``(h, c)`` states, ``(1, batch, hidden_size)``.

    Returns:
        Each stack's top-layer outputs ``(T, batch, sizes[-1])`` and new packed states.
    """
    fused = len(stacks) > 1 and all(stack.cell == "gru" and stack.sizes == stacks[0].sizes for stack in stacks)
    if not fused and len(stacks) > 1:
        runs = [run_stacks([stack], [x], [state]) for stack, x, state in zip(stacks, inputs, states)]
        return [outputs[0] for outputs, _ in runs], [new[0] for _, new in runs]
    sizes = stacks[0].sizes
    hidden = [state[0].split(sizes, dim=-1) for state in states]
    cells = [state[1].split(sizes, dim=-1) for state in states]
    xs = list(inputs)
    for level in range(len(sizes)):
        if stacks[0].cell == "gru":
            layers = [stack.layers[level] for stack in stacks]
            xs = run_grus(layers, xs, [h[level][0] for h in hidden])
            new_hidden = [x[-1:] for x in xs]
            new_cells = [c[level] for c in cells]
        else:
            (stack,), (x,), (h,), (c,) = stacks, xs, hidden, cells
            output, (h_level, c_level) = stack.layers[level](x, (h[level].contiguous(), c[level].contiguous()))
            xs, new_hidden, new_cells = [output], [h_level], [c_level]
        for i in range(len(stacks)):
            hidden[i] = (*hidden[i][:level], new_hidden[i], *hidden[i][level + 1 :])
            cells[i] = (*cells[i][:level], new_cells[i], *cells[i][level + 1 :])
    return xs, [(th.cat(h, dim=-1), th.cat(c, dim=-1)) for h, c in zip(hidden, cells)]


class StackedRecurrentPolicy(HeadedRecurrentPolicy):
    """Base of the policies of this package: separate actor and critic recurrent networks.

    ``recurrent_sizes`` and ``cell`` describe the recurrent stack (see :class:`RecurrentStack`);
    ``latent_size`` is the size of the networks' per-step output, the latent the parent feeds to
    ``mlp_extractor`` and then to ``action_net`` / ``value_net``. Subclasses implement
    :meth:`_build_recurrent_networks`, which sets ``lstm_actor`` and ``lstm_critic`` to modules
    with the interface of :class:`RecurrentStack` (``input_size``, ``hidden_size``,
    ``num_layers = 1``, ``forward(x, (h, c))``, ``recurrent`` and ``read_out``).

    The action heads are :class:`~policies.action_head.HeadedRecurrentPolicy`'s; here
    ``state_dependent_std`` defaults to ``True`` and ``log_std_init`` to
    :data:`SOURCE_LOG_STD_INIT`: the source's head.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *,
        recurrent_sizes: Sequence[int],
        cell: Cell,
        latent_size: int,
        state_dependent_std: bool = True,
        **kwargs: Any,
    ) -> None:
        self.recurrent_sizes = check_sizes("recurrent_sizes", recurrent_sizes)
        self.cell = cell
        unsupported = sorted(LSTM_ARGUMENTS & kwargs.keys())
        if unsupported:
            raise ValueError(
                f"{type(self).__name__} does not take {unsupported}: its actor and critic have"
                " separate recurrent networks, sized by recurrent_sizes and cell"
            )
        kwargs.setdefault("log_std_init", SOURCE_LOG_STD_INIT)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            state_dependent_std=state_dependent_std,
            lstm_hidden_size=latent_size,
            **kwargs,
        )
        self.lstm_hidden_state_shape = (1, 1, self.lstm_actor.hidden_size)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(recurrent_sizes=self.recurrent_sizes, cell=self.cell)
        return data

    @abstractmethod
    def _build_recurrent_networks(self) -> None:
        """Set ``lstm_actor`` and ``lstm_critic`` (and change the heads where needed)."""

    def forward(
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, RNNStates]:
        distribution, values, lstm_states = self._actor_and_critic(obs, lstm_states, episode_starts)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob, lstm_states

    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        distribution, values, _ = self._actor_and_critic(obs, lstm_states, episode_starts)
        return values, distribution.log_prob(actions), distribution.entropy()

    def _actor_and_critic(
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[Distribution, th.Tensor, RNNStates]:
        """The action distribution, the values and the new states, both networks in one pass."""
        features = self.extract_features(obs)
        pi_features, vf_features = (features, features) if self.share_features_extractor else features
        networks = (self.lstm_actor, self.lstm_critic)
        inputs = [
            whole_sequences(features, state, episode_starts, network.input_size)
            for features, state, network in zip((pi_features, vf_features), lstm_states, networks)
        ]
        if None in inputs:  # a start inside a sequence: the parent's per-step loop
            latent_pi, states_pi = self._process_sequence(pi_features, lstm_states.pi, episode_starts, self.lstm_actor)
            latent_vf, states_vf = self._process_sequence(vf_features, lstm_states.vf, episode_starts, self.lstm_critic)
        else:
            sequences, states = zip(*inputs)
            hidden, (states_pi, states_vf) = run_stacks([network.recurrent for network in networks], sequences, states)
            latent_pi, latent_vf = (
                flatten_sequences(network.read_out(h, x)) for network, h, x in zip(networks, hidden, sequences)
            )
        values = self.value_net(self.mlp_extractor.forward_critic(latent_vf))
        distribution = self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent_pi))
        return distribution, values, RNNStates(states_pi, states_vf)

    @staticmethod
    def _process_sequence(
        features: th.Tensor,
        lstm_states: RecurrentState,
        episode_starts: th.Tensor,
        lstm: nn.Module,
    ) -> tuple[th.Tensor, RecurrentState]:
        """Run ``lstm`` over the sequences of a batch, resetting states at episode starts.

        Whole sequences (see :func:`whole_sequences`) run in one recurrent call; starts later in
        a sequence fall back to the parent's per-step loop.
        """
        inputs = whole_sequences(features, lstm_states, episode_starts, lstm.input_size)
        if inputs is None:
            return RecurrentActorCriticPolicy._process_sequence(features, lstm_states, episode_starts, lstm)
        output, lstm_states = lstm(*inputs)
        return flatten_sequences(output), lstm_states


def whole_sequences(
    features: th.Tensor, states: RecurrentState, episode_starts: th.Tensor, input_size: int
) -> tuple[th.Tensor, RecurrentState] | None:
    """A flat batch of sequences as ``(T, n_seq, input_size)`` with its states zeroed at starts.

    :class:`RecurrentPPO`'s buffer cuts sequences at episode starts, so a start is normally the
    first step of a sequence; ``None`` when one lies inside a sequence.
    """
    n_seq = states[0].shape[1]
    starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)
    if th.any(starts[1:] != 0.0):
        return None
    keep = (1.0 - starts[0]).view(1, n_seq, 1)
    sequence = features.reshape((n_seq, -1, input_size)).swapaxes(0, 1)
    return sequence, (keep * states[0], keep * states[1])


def flatten_sequences(output: th.Tensor) -> th.Tensor:
    """``(T, n_seq, size)`` outputs back to the buffer's flat order, sequence after sequence."""
    return th.flatten(output.transpose(0, 1), start_dim=0, end_dim=1)
