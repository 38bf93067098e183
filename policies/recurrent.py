"""Recurrent building blocks shared by the NMN policy and the RNN baseline.

sb3-contrib's :class:`~sb3_contrib.common.recurrent.policies.RecurrentActorCriticPolicy` was
written around one ``nn.LSTM`` per network. :class:`RecurrentPPO` sizes its rollout buffer from
``policy.lstm_actor.num_layers`` and ``policy.lstm_actor.hidden_size`` and passes ``(h, c)``
state pairs everywhere. :class:`RecurrentStack` therefore keeps ``nn.LSTM``'s interface while
stacking GRU or LSTM layers of different sizes: it reports ``num_layers = 1`` and packs the
states of all its layers side by side into one vector of ``hidden_size = sum(sizes)``; a GRU
carries an all-zero ``c``.

:class:`StackedRecurrentPolicy` is the policy base: it swaps the parent's LSTMs for networks
built by a subclass, rebuilds the optimizer so that the new modules train, runs a whole
minibatch sequence in one fused recurrent call, and saves its own constructor arguments.
"""

from __future__ import annotations

from abc import abstractmethod

from collections.abc import Sequence
from typing import Any, Literal

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

Cell = Literal["gru", "lstm"]
CELLS: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM}
RecurrentState = tuple[th.Tensor, th.Tensor]
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

    def forward(self, x: th.Tensor, state: RecurrentState) -> tuple[th.Tensor, RecurrentState]:
        hidden = state[0].split(self.sizes, dim=-1)
        cells = state[1].split(self.sizes, dim=-1)
        new_hidden, new_cells = [], []
        for layer, h, c in zip(self.layers, hidden, cells):
            if self.cell == "lstm":
                x, (h, c) = layer(x, (h.contiguous(), c.contiguous()))
            else:
                x, h = layer(x, h.contiguous())
            new_hidden.append(h)
            new_cells.append(c)
        return x, (th.cat(new_hidden, dim=-1), th.cat(new_cells, dim=-1))


class StackedRecurrentPolicy(RecurrentActorCriticPolicy):
    """Base of the policies of this package: separate actor and critic recurrent networks.

    ``recurrent_sizes`` and ``cell`` describe the recurrent stack (see :class:`RecurrentStack`);
    ``latent_size`` is the size of the networks' per-step output, the latent the parent feeds to
    ``mlp_extractor`` and then to ``action_net`` / ``value_net``. Subclasses implement
    :meth:`_build_recurrent_networks`, which sets ``lstm_actor`` and ``lstm_critic`` to modules
    with the interface of :class:`RecurrentStack` (``input_size``, ``hidden_size``,
    ``num_layers = 1``, ``forward(x, (h, c))``).

    Dict observations are flattened by SB3's :class:`CombinedExtractor` (one vector, keys in
    the space's order), other observations by :class:`FlattenExtractor`.
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
        **kwargs: Any,
    ) -> None:
        self.recurrent_sizes = check_sizes("recurrent_sizes", recurrent_sizes)
        self.cell = cell
        if kwargs.get("use_sde"):
            raise ValueError(f"{type(self).__name__} does not support gSDE (use_sde=True)")
        unsupported = sorted(LSTM_ARGUMENTS & kwargs.keys())
        if unsupported:
            raise ValueError(
                f"{type(self).__name__} does not take {unsupported}: its actor and critic have"
                " separate recurrent networks, sized by recurrent_sizes and cell"
            )
        if isinstance(observation_space, spaces.Dict):
            kwargs.setdefault("features_extractor_class", CombinedExtractor)
        else:
            kwargs.setdefault("features_extractor_class", FlattenExtractor)
        super().__init__(observation_space, action_space, lr_schedule, lstm_hidden_size=latent_size, **kwargs)
        self._build_recurrent_networks()
        self.lstm_hidden_state_shape = (1, 1, self.lstm_actor.hidden_size)
        # The parent built its optimizer over the LSTMs replaced above: rebuild it.
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(recurrent_sizes=self.recurrent_sizes, cell=self.cell)
        return data

    @abstractmethod
    def _build_recurrent_networks(self) -> None:
        """Set ``lstm_actor`` and ``lstm_critic`` (and change the heads where needed)."""

    @staticmethod
    def _process_sequence(
        features: th.Tensor,
        lstm_states: RecurrentState,
        episode_starts: th.Tensor,
        lstm: nn.Module,
    ) -> tuple[th.Tensor, RecurrentState]:
        """Run ``lstm`` over the sequences of a batch, resetting states at episode starts.

        :class:`RecurrentPPO`'s buffer cuts sequences at episode starts, so a start can only be
        the first step of a sequence: then the state is zeroed once and the whole sequence runs
        in one fused call. Starts later in a sequence fall back to the parent's per-step loop.
        """
        n_seq = lstm_states[0].shape[1]
        starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)
        if th.any(starts[1:] != 0.0):
            return RecurrentActorCriticPolicy._process_sequence(features, lstm_states, episode_starts, lstm)
        keep = (1.0 - starts[0]).view(1, n_seq, 1)
        sequence = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        output, lstm_states = lstm(sequence, (keep * lstm_states[0], keep * lstm_states[1]))
        return th.flatten(output.transpose(0, 1), start_dim=0, end_dim=1), lstm_states
