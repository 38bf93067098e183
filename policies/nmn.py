"""The neuromodulated network (NMN) policy of the NMN paper, for sb3-contrib RecurrentPPO.

Two networks make one NMN (one for the actor, another for the critic, no shared weights):

* the **neuromodulatory network** reads the whole observation (base observation, previous
  action, previous reward) through a recurrent stack and emits ``z = ReLU(Linear(h))``, a
  signal of ``modulation_size`` numbers shared by every neuron of the main network;
* the **main network** reads the base observation only; each layer computes
  ``pre = (x W) * (1 + z W_s) + b + z W_b``, so ``z`` sets the slope and the offset of every
  neuron. Hidden layers apply ``clip(pre, -1, 1)`` (or a sigmoid); the output layer is linear
  in ``pre`` and gives the action distribution's parameters (the critic's: the value).

Source sizes: Bench1 GRU(50), ``k = 20``, main hidden (10); Bench2/3 GRU(100) -> GRU(75),
``k = 45``, main hidden (30, 10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from policies.recurrent import Cell, RecurrentStack, RecurrentState, StackedRecurrentPolicy, check_sizes

Activation = Literal["clip", "sigmoid"]
ACTIVATIONS: dict[str, Callable[[th.Tensor], th.Tensor]] = {
    "clip": lambda pre: th.clamp(pre, -1.0, 1.0),
    "sigmoid": th.sigmoid,
}
BASE_KEY = "observation"


def base_observation_slice(observation_space: spaces.Space) -> slice:
    """Where the base observation lies in the flat features of ``observation_space``.

    Dict observations are flattened key after key in the space's order (SB3's
    ``CombinedExtractor``); the base observation is the ``"observation"`` entry. Any other
    space is the base observation as a whole.
    """
    if not isinstance(observation_space, spaces.Dict):
        return slice(0, get_flattened_obs_dim(observation_space))
    if BASE_KEY not in observation_space.spaces:
        raise ValueError(
            f"a Dict observation needs an {BASE_KEY!r} key for the main network, "
            f"got keys {list(observation_space.spaces)}"
        )
    start = 0
    for key, subspace in observation_space.spaces.items():
        size = get_flattened_obs_dim(subspace)
        if key == BASE_KEY:
            return slice(start, start + size)
        start += size
    raise AssertionError("unreachable: the key was checked above")


class NeuromodulatedLinear(nn.Module):
    """One main-network layer: ``(x W) * (1 + z W_s) + b + z W_b``.

    Args:
        in_features: inputs per step.
        out_features: neurons.
        modulation_size: size of the neuromodulatory signal ``z``.
    """

    def __init__(self, in_features: int, out_features: int, modulation_size: int) -> None:
        super().__init__()
        self.weight = nn.Linear(in_features, out_features, bias=False)
        self.scale = nn.Linear(modulation_size, out_features, bias=False)
        self.shift = nn.Linear(modulation_size, out_features)  # its bias is b

    def forward(self, x: th.Tensor, z: th.Tensor) -> th.Tensor:
        return self.weight(x) * (1.0 + self.scale(z)) + self.shift(z)


class NeuromodulatedNetwork(nn.Module):
    """A neuromodulatory recurrent network driving a neuromodulated main network.

    It has the interface of :class:`~policies.recurrent.RecurrentStack` (the recurrent state is
    that of the neuromodulatory network), so that RecurrentPPO can carry its state.

    Args:
        input_size: flat features per step (the whole observation).
        base: where the base observation lies in the features.
        output_size: outputs of the linear neuromodulated output layer.
        recurrent_sizes: hidden units of each recurrent layer of the neuromodulatory network.
        modulation_size: size ``k`` of ``z``.
        main_sizes: hidden layers of the main network.
        cell: ``"gru"`` or ``"lstm"``.
        activation: ``"clip"`` (``clip(pre, -1, 1)``) or ``"sigmoid"`` for hidden layers.
        output_gain: scale of the output layer's initial weights ``W``.
        scale_output_offset: scale the output layer's offset path (``W_b`` and ``b``) by
            ``output_gain`` too, so that with a small gain the first outputs are near 0 whatever
            ``z`` is, as with SB3's heads. Without it that path keeps PyTorch's initialisation and
            the actor's first action mean is a few hundredths to a tenth in size (see
            :class:`NMNPolicy`).
        slope_gain: scale of every layer's initial ``W_s`` (see :class:`NMNPolicy`).
    """

    num_layers = 1

    def __init__(
        self,
        input_size: int,
        base: slice,
        output_size: int,
        recurrent_sizes: Sequence[int],
        modulation_size: int,
        main_sizes: Sequence[int],
        cell: Cell,
        activation: Activation,
        output_gain: float = 1.0,
        scale_output_offset: bool = False,
        slope_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not isinstance(modulation_size, int) or modulation_size < 1:
            raise ValueError(f"modulation_size must be a positive int, got {modulation_size!r}")
        self.neuromodulator = RecurrentStack(input_size, recurrent_sizes, cell)
        self.input_size = input_size
        self.hidden_size = self.neuromodulator.hidden_size
        self.base = base
        self.modulation = nn.Linear(self.neuromodulator.output_size, modulation_size)
        widths = (base.stop - base.start, *check_sizes("main_sizes", main_sizes), output_size)
        self.layers = nn.ModuleList(
            NeuromodulatedLinear(n_in, n_out, modulation_size) for n_in, n_out in zip(widths, widths[1:])
        )
        with th.no_grad():
            for layer in self.layers:
                layer.scale.weight.mul_(slope_gain)
            output = self.layers[-1]
            output.weight.weight.mul_(output_gain)
            if scale_output_offset:
                output.shift.weight.mul_(output_gain)
                output.shift.bias.mul_(output_gain)
        self.activation = ACTIVATIONS[activation]

    @property
    def recurrent(self) -> RecurrentStack:
        """The neuromodulatory network's recurrent stack."""
        return self.neuromodulator

    def read_out(self, hidden: th.Tensor, x: th.Tensor) -> th.Tensor:
        """The main network's output for the features ``x``, modulated by ``z = ReLU(Linear(hidden))``."""
        z = th.relu(self.modulation(hidden))
        y = x[..., self.base]
        for layer in self.layers[:-1]:
            y = self.activation(layer(y, z))
        return self.layers[-1](y, z)

    def forward(self, x: th.Tensor, state: RecurrentState) -> tuple[th.Tensor, RecurrentState]:
        hidden, state = self.neuromodulator(x, state)
        return self.read_out(hidden, x), state


class NMNPolicy(StackedRecurrentPolicy):
    """Actor-critic policy of two neuromodulated networks (actor and critic), for RecurrentPPO.

    The actor's output layer gives the action distribution's parameters directly (for ``Box``
    actions the Gaussian's mean and, with ``state_dependent_std``, its log-std: the output
    layer is neuromodulated like the rest, so the exploration noise depends on the history;
    the logits for ``Discrete``); the critic's gives the value.

    Args:
        observation_space: the Dict observation of the feedback wrapper (its ``"observation"``
            key feeds the main network), or any flat space (then the main network sees it all).
        action_space: ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``.
        lr_schedule: learning-rate schedule (given by RecurrentPPO).
        recurrent_sizes: hidden units of each recurrent layer of the neuromodulatory network.
        modulation_size: size ``k`` of the neuromodulatory signal ``z``.
        main_sizes: hidden layers of the main network.
        cell: ``"gru"`` (the source's choice) or ``"lstm"``.
        activation: ``"clip"`` (the source's saturated activation) or ``"sigmoid"``.
        state_dependent_std: the actor outputs the log-std of ``Box`` actions at every step (the
            source's head, default) instead of SB3's state-independent parameter.
        max_log_std: upper bound of that log-std (see :class:`~policies.recurrent.StackedRecurrentPolicy`).
        heading_action: read a ``Box(-1, 1)`` action as a heading ``pi * a``, with a mean and a
            Gaussian on the circle (see :class:`~policies.recurrent.StackedRecurrentPolicy`).
        scale_output_offset: start the actor's output near 0, as SB3's action head does (its gain
            0.01 then scales the output layer's offset ``b + z W_b`` as well as ``W``). Off by
            default, which keeps the recipes trained before it: there the offset path keeps
            PyTorch's initialisation and the first action mean is a few hundredths to a tenth in
            size (a ``Box(-0.1, 0.1)`` action starts near its edge; the first logits are not
            uniform).
        slope_gain: scale of the initial slope weights ``W_s`` of every layer of both networks
            (a positive number). With PyTorch's initialisation (``1``, the default, which keeps
            the recipes trained before it) a fresh network's slopes ``1 + z W_s`` move by a few
            hundredths from one step to the next, and the gradients of ``W_s`` and of ``z``'s
            weights are each proportional to the other's small size: the product of the
            observation with what ``z`` remembers starts nearly absent.
        kwargs: the other arguments of ``ActorCriticPolicy`` (``log_std_init``,
            ``optimizer_class``, ``optimizer_kwargs``, ...).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        recurrent_sizes: Sequence[int] = (50,),
        modulation_size: int = 20,
        main_sizes: Sequence[int] = (10,),
        cell: Cell = "gru",
        activation: Activation = "clip",
        scale_output_offset: bool = False,
        slope_gain: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if isinstance(slope_gain, bool) or not isinstance(slope_gain, (int, float)) or not 0 < slope_gain < float("inf"):
            raise ValueError(f"slope_gain must be a positive finite number, got {slope_gain!r}")
        self.modulation_size = modulation_size
        self.scale_output_offset = bool(scale_output_offset)
        self.slope_gain = float(slope_gain)
        self.main_sizes = check_sizes("main_sizes", main_sizes)
        self.activation = activation
        # The output layer of each network is its head: no dense layers after it.
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            recurrent_sizes=recurrent_sizes,
            cell=cell,
            latent_size=1,
            net_arch=[],
            **kwargs,
        )

    def _build_recurrent_networks(self) -> None:
        def network(output_size: int, output_gain: float) -> NeuromodulatedNetwork:
            return NeuromodulatedNetwork(
                self.features_dim,
                base_observation_slice(self.observation_space),
                output_size,
                self.recurrent_sizes,
                self.modulation_size,
                self.main_sizes,
                self.cell,
                self.activation,
                output_gain,
                self.scale_output_offset,
                self.slope_gain,
            )

        # Gains follow SB3's initialisation of the action and value heads.
        self.lstm_actor = network(self.action_net.out_features, output_gain=0.01)
        self.lstm_critic = network(1, output_gain=1.0)
        self.action_net = nn.Identity()
        self.value_net = nn.Identity()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for fixed in ("net_arch", "activation_fn"):
            del data[fixed]
        data.update(modulation_size=self.modulation_size, main_sizes=self.main_sizes, activation=self.activation)
        if self.scale_output_offset:
            data.update(scale_output_offset=True)
        if self.slope_gain != 1.0:
            data.update(slope_gain=self.slope_gain)
        return data
