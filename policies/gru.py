"""A GRU layer for CPU training of long sequences: the recurrence runs in few, large ops.

PyTorch's CPU ``nn.GRU`` has no fused kernel: every time step dispatches the input and hidden
projections, the gates and their autograd bookkeeping one small op at a time (about a hundred
ops per step, forward and backward), and the cost of a sequence is nearly independent of how
many sequences run side by side. :class:`SequenceGRU` computes the same function with

* the input projections of all steps in one matrix product, outside the recurrence;
* a forward recurrence of one ``addmm`` and a few element-wise ops per step, without autograd
  (the recurrence is one :class:`torch.autograd.Function`);
* a hand-written backward through time of four ops per step: the gate derivatives are
  precomputed for the whole sequence, and the weight gradients are one matrix product over all
  steps at the end;
* several GRUs of one size (the actor's and the critic's) in one recurrence
  (:func:`run_grus`), batched matrix products over the networks, so that the per-step cost is
  paid once for both.

It subclasses ``nn.GRU`` (one layer, unidirectional, ``batch_first=False``), so its parameters
and state dicts are those of ``nn.GRU``; the gradients equal autograd's through ``nn.GRU`` up
to float rounding (tested).

Where gradients are wanted (a training minibatch), the recurrence runs by default as one C++ loop
through time (:mod:`policies.gru_extension`), forward and backward: one matrix product and one
vectorised pass of gate math per step, without the Python loop and its dozen small ops. The
PyTorch recurrence of this module stays the reference (the C++ one is tested to equal it up to
float rounding) and the fallback where the C++ one cannot be built; it also runs wherever no
gradient is wanted (acting, evaluation), so that the returns the harness reports do not depend on
a compiler. :func:`select_recurrence` chooses between them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch as th
from torch import nn
from torch.autograd.function import FunctionCtx

from policies.gru_extension import load_recurrence

Recurrence = Literal["compiled", "reference"]
RECURRENCES: tuple[Recurrence, ...] = ("compiled", "reference")
_selected: list[Recurrence] = ["compiled"]


class _Recurrence(th.autograd.Function):
    """``h_t = GRU(h_{t-1})`` over a sequence, for ``P`` independent GRUs of the same size at once.

    Tensors carry a leading dimension of size ``P`` (the actor's and the critic's networks run
    as one pass with ``P = 2``): input projections ``(P, T, B, 3H)``, initial states
    ``(P, B, H)``, hidden weights ``(P, 3H, H)`` and biases ``(P, 3H)``; it returns the outputs
    ``(P, T, B, H)``. Every per-step op writes into a buffer allocated once per sequence
    (temporaries of a few hundred kilobytes a step would each be mapped and faulted in afresh).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, gates_input: th.Tensor, h0: th.Tensor, weight_hh: th.Tensor, bias_hh: th.Tensor
    ) -> th.Tensor:
        pairs, steps, batch, three_hidden = gates_input.shape
        hidden = three_hidden // 3
        outputs = gates_input.new_empty(steps, pairs, batch, hidden)
        gates_hidden = gates_input.new_empty(steps, pairs, batch, three_hidden)
        reset_update = gates_input.new_empty(steps, pairs, batch, 2 * hidden)
        candidate = gates_input.new_empty(steps, pairs, batch, hidden)
        gates_by_step = gates_input.transpose(0, 1)
        weight_t, bias = weight_hh.transpose(1, 2), bias_hh.unsqueeze(1)
        h = h0
        for t in range(steps):
            gi, gh, ru, n, out = gates_by_step[t], gates_hidden[t], reset_update[t], candidate[t], outputs[t]
            th.baddbmm(bias, h, weight_t, out=gh)
            th.add(gi[..., : 2 * hidden], gh[..., : 2 * hidden], out=ru).sigmoid_()
            th.mul(ru[..., :hidden], gh[..., 2 * hidden :], out=n).add_(gi[..., 2 * hidden :]).tanh_()
            th.sub(h, n, out=out).mul_(ru[..., hidden:]).add_(n)  # n + z (h - n)
            h = out
        ctx.save_for_backward(h0, outputs, gates_hidden, reset_update, candidate, weight_hh)
        return outputs.transpose(0, 1)

    @staticmethod
    def backward(ctx: Any, grad_outputs: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        h0, outputs, gates_hidden, reset_update, candidate, weight_hh = ctx.saved_tensors
        steps, pairs, batch, hidden = outputs.shape
        grad_outputs = grad_outputs.transpose(0, 1)
        previous = th.empty_like(outputs)
        previous[0] = h0
        previous[1:] = outputs[:-1]
        r, z = reset_update[..., :hidden], reset_update[..., hidden:]
        n, hidden_candidate = candidate, gates_hidden[..., 2 * hidden :]
        # d(pre-activation of each gate) = dh * factor: the factors of the whole sequence at once.
        factors = outputs.new_empty(steps, pairs, batch, 3, hidden)
        d_candidate = factors[..., 2, :]  # (1 - z)(1 - n^2), turned into d_candidate * r below
        th.mul(n, n, out=d_candidate).neg_().add_(1.0).mul_(1.0 - z)
        th.mul(hidden_candidate, r, out=factors[..., 0, :]).mul_(1.0 - r).mul_(d_candidate)
        th.sub(previous, n, out=factors[..., 1, :]).mul_(z).mul_(1.0 - z)
        grad_candidate = d_candidate.clone()
        d_candidate.mul_(r)
        grad_gates_hidden = outputs.new_empty(steps, pairs, batch, 3, hidden)
        grad_h_all = th.empty_like(outputs)
        grad_h, carried = th.zeros_like(h0), th.empty_like(h0)
        for t in range(steps - 1, -1, -1):
            dh = th.add(grad_outputs[t], grad_h, out=grad_h_all[t])
            th.mul(dh.unsqueeze(2), factors[t], out=grad_gates_hidden[t])
            th.mul(dh, z[t], out=carried)
            th.baddbmm(carried, grad_gates_hidden[t].view(pairs, batch, 3 * hidden), weight_hh, out=grad_h)
        grad_gates_hidden = grad_gates_hidden.view(steps, pairs, batch, 3 * hidden)
        grad_gates_input = grad_gates_hidden.clone()
        th.mul(grad_h_all, grad_candidate, out=grad_gates_input[..., 2 * hidden :])
        flat_grad = grad_gates_hidden.transpose(0, 1).reshape(pairs, steps * batch, 3 * hidden)
        flat_previous = previous.transpose(0, 1).reshape(pairs, steps * batch, hidden)
        grad_weight = th.bmm(flat_grad.transpose(1, 2), flat_previous)
        return grad_gates_input.transpose(0, 1), grad_h, grad_weight, flat_grad.sum(dim=1)


class _CompiledRecurrence(th.autograd.Function):
    """:class:`_Recurrence`'s function, forward and backward in C++ (:mod:`policies.gru_extension`)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, gates_input: th.Tensor, h0: th.Tensor, weight_hh: th.Tensor, bias_hh: th.Tensor
    ) -> th.Tensor:
        extension = load_recurrence()
        h0, weight_hh = h0.contiguous(), weight_hh.contiguous()
        outputs, saved = extension.forward(gates_input.contiguous(), h0, weight_hh, bias_hh.contiguous())
        ctx.save_for_backward(h0, weight_hh, outputs, saved)
        return outputs

    @staticmethod
    def backward(ctx: Any, grad_outputs: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        h0, weight_hh, outputs, saved = ctx.saved_tensors
        return tuple(load_recurrence().backward(grad_outputs.contiguous(), h0, weight_hh, outputs, saved))


def select_recurrence(recurrence: Recurrence) -> None:
    """Run the recurrences that need gradients in C++ (``"compiled"``, the default) or in PyTorch
    (``"reference"``, the recurrence of this module, as before the C++ one existed)."""
    if recurrence not in RECURRENCES:
        raise ValueError(f"recurrence must be one of {list(RECURRENCES)}, got {recurrence!r}")
    _selected[0] = recurrence


@contextmanager
def recurrence_selected(recurrence: Recurrence) -> Iterator[None]:
    """:func:`select_recurrence` for the duration of a ``with`` block."""
    before = _selected[0]
    select_recurrence(recurrence)
    try:
        yield
    finally:
        _selected[0] = before


def _recurrence_for(tensors: Sequence[th.Tensor]) -> type[th.autograd.Function]:
    """The compiled recurrence where it is selected, gradients are wanted and it builds; else the reference."""
    wanted = th.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors)
    compiled = wanted and _selected[0] == "compiled" and tensors[0].device.type == "cpu"
    compiled = compiled and tensors[0].dtype == th.float32 and load_recurrence() is not None
    return _CompiledRecurrence if compiled else _Recurrence


def run_grus(layers: Sequence[nn.GRU], inputs: Sequence[th.Tensor], h0: Sequence[th.Tensor]) -> list[th.Tensor]:
    """Run GRU layers of one size on their own inputs as one recurrence.

    Args:
        layers: one-layer ``nn.GRU`` modules of the same ``hidden_size``.
        inputs: each layer's input sequence, ``(T, batch, input_size)`` (sizes may differ).
        h0: each layer's initial state, ``(batch, hidden_size)``.

    Returns:
        Each layer's outputs ``(T, batch, hidden_size)``.
    """
    recurrence = _recurrence_for([*inputs, *h0, *(layer.weight_hh_l0 for layer in layers)])
    # With the compiled recurrence (a training pass) the input weights' transposes are made
    # contiguous: autograd then computes their gradient as x^T dG, several times faster than
    # dG^T x for a few input features. Acting keeps its products as they were, bit for bit.
    compiled = recurrence is _CompiledRecurrence
    gates_input = th.stack(
        [
            th.addmm(
                layer.bias_ih_l0,
                x.reshape(-1, x.shape[-1]),
                layer.weight_ih_l0.t().contiguous() if compiled else layer.weight_ih_l0.t(),
            ).view(*x.shape[:2], -1)
            for layer, x in zip(layers, inputs)
        ]
    )
    outputs = recurrence.apply(
        gates_input,
        th.stack(list(h0)),
        th.stack([layer.weight_hh_l0 for layer in layers]),
        th.stack([layer.bias_hh_l0 for layer in layers]),
    )
    return list(outputs.unbind(0))


class SequenceGRU(nn.GRU):
    """One GRU layer (``nn.GRU``'s parameters and interface) with a fast CPU recurrence.

    Args:
        input_size: features per step.
        hidden_size: hidden units.

    ``forward(x, h0)`` takes ``x`` of shape ``(T, batch, input_size)`` and ``h0`` of shape
    ``(1, batch, hidden_size)``; it returns the outputs ``(T, batch, hidden_size)`` and the last
    state ``(1, batch, hidden_size)``, as ``nn.GRU`` does.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)

    def forward(self, x: th.Tensor, h0: th.Tensor | None = None) -> tuple[th.Tensor, th.Tensor]:  # type: ignore[override]
        if h0 is None:
            h0 = x.new_zeros(1, x.shape[1], self.hidden_size)
        (outputs,) = run_grus([self], [x], [h0[0]])
        return outputs, outputs[-1:]
