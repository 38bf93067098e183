"""The fast GRU recurrence computes nn.GRU's function and gradients."""

import pytest
import torch as th
from torch import nn

from policies.gru import SequenceGRU, run_grus

th.set_num_threads(1)


def gradients(module_outputs: list[th.Tensor], tensors: list[th.Tensor]) -> list[th.Tensor]:
    loss = sum(((index + 1) * output**2).sum() for index, output in enumerate(module_outputs))
    return list(th.autograd.grad(loss, tensors))


@pytest.mark.parametrize(("steps", "batch"), [(1, 1), (9, 4), (60, 17)])
def test_sequence_gru_equals_nn_gru(steps: int, batch: int) -> None:
    generator = th.Generator().manual_seed(steps)
    reference = nn.GRU(5, 8)
    fast = SequenceGRU(5, 8)
    fast.load_state_dict(reference.state_dict())
    x = th.randn(steps, batch, 5, generator=generator, requires_grad=True)
    h0 = th.randn(1, batch, 8, generator=generator, requires_grad=True)
    expected, expected_last = reference(x, h0)
    got, got_last = fast(x, h0)
    th.testing.assert_close(got, expected)
    th.testing.assert_close(got_last, expected_last)
    expected_grads = gradients([expected, expected_last], [x, h0, *reference.parameters()])
    got_grads = gradients([got, got_last], [x, h0, *fast.parameters()])
    for name, want, have in zip(["x", "h0", *dict(fast.named_parameters())], expected_grads, got_grads):
        th.testing.assert_close(have, want, rtol=1e-4, atol=1e-5, msg=name)


def test_several_grus_in_one_recurrence_equal_each_alone() -> None:
    generator = th.Generator().manual_seed(0)
    layers = [SequenceGRU(3, 6), SequenceGRU(7, 6)]
    inputs = [th.randn(11, 5, size, generator=generator, requires_grad=True) for size in (3, 7)]
    states = [th.randn(5, 6, generator=generator) for _ in layers]
    together = run_grus(layers, inputs, states)
    alone = [layer(x, h[None])[0] for layer, x, h in zip(layers, inputs, states)]
    for got, want in zip(together, alone):
        th.testing.assert_close(got, want)
    parameters = [parameter for layer in layers for parameter in layer.parameters()]
    for got, want in zip(gradients(together, [*inputs, *parameters]), gradients(alone, [*inputs, *parameters])):
        th.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_the_state_dict_is_nn_grus() -> None:
    assert list(SequenceGRU(2, 3).state_dict()) == list(nn.GRU(2, 3).state_dict())
