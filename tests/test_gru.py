"""The fast GRU recurrence computes nn.GRU's function and gradients, in PyTorch and in C++."""

import os
import shutil
import subprocess
import sys

import pytest
import torch as th
from torch import nn

from policies.gru import RECURRENCES, SequenceGRU, recurrence_selected, run_grus, select_recurrence
from policies.gru_extension import SOURCE, build_folder, build_recurrence, extension_name, load_recurrence

th.set_num_threads(1)


def gradients(module_outputs: list[th.Tensor], tensors: list[th.Tensor]) -> list[th.Tensor]:
    loss = sum(((index + 1) * output**2).sum() for index, output in enumerate(module_outputs))
    return list(th.autograd.grad(loss, tensors))


@pytest.mark.parametrize("recurrence", RECURRENCES)
@pytest.mark.parametrize(("steps", "batch"), [(1, 1), (9, 4), (60, 17)])
def test_sequence_gru_equals_nn_gru(steps: int, batch: int, recurrence: str) -> None:
    generator = th.Generator().manual_seed(steps)
    reference = nn.GRU(5, 8)
    fast = SequenceGRU(5, 8)
    fast.load_state_dict(reference.state_dict())
    x = th.randn(steps, batch, 5, generator=generator, requires_grad=True)
    h0 = th.randn(1, batch, 8, generator=generator, requires_grad=True)
    expected, expected_last = reference(x, h0)
    with recurrence_selected(recurrence):
        got, got_last = fast(x, h0)
    th.testing.assert_close(got, expected)
    th.testing.assert_close(got_last, expected_last)
    expected_grads = gradients([expected, expected_last], [x, h0, *reference.parameters()])
    got_grads = gradients([got, got_last], [x, h0, *fast.parameters()])
    for name, want, have in zip(["x", "h0", *dict(fast.named_parameters())], expected_grads, got_grads):
        th.testing.assert_close(have, want, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("recurrence", RECURRENCES)
def test_several_grus_in_one_recurrence_equal_each_alone(recurrence: str) -> None:
    generator = th.Generator().manual_seed(0)
    layers = [SequenceGRU(3, 6), SequenceGRU(7, 6)]
    inputs = [th.randn(11, 5, size, generator=generator, requires_grad=True) for size in (3, 7)]
    states = [th.randn(5, 6, generator=generator) for _ in layers]
    with recurrence_selected(recurrence):
        together = run_grus(layers, inputs, states)
        alone = [layer(x, h[None])[0] for layer, x, h in zip(layers, inputs, states)]
    for got, want in zip(together, alone):
        th.testing.assert_close(got, want)
    parameters = [parameter for layer in layers for parameter in layer.parameters()]
    for got, want in zip(gradients(together, [*inputs, *parameters]), gradients(alone, [*inputs, *parameters])):
        th.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_the_compiled_recurrence_equals_the_reference_at_the_source_sizes() -> None:
    """Bench2/3's first layer: the actor's and the critic's GRU(100) over 200 steps of 17 sequences
    (hidden widths that are not multiples of the SIMD width exercise the vectors' tails)."""
    assert load_recurrence() is not None, "g++ and ninja are available here: the C++ recurrence must build"
    results = {}
    for recurrence in RECURRENCES:
        th.manual_seed(0)
        layers = [SequenceGRU(4, 100), SequenceGRU(4, 100)]
        generator = th.Generator().manual_seed(1)
        inputs = [th.randn(200, 17, 4, generator=generator, requires_grad=True) for _ in layers]
        states = [th.randn(17, 100, generator=generator, requires_grad=True) for _ in layers]
        with recurrence_selected(recurrence):
            outputs = run_grus(layers, inputs, states)
        parameters = [parameter for layer in layers for parameter in layer.parameters()]
        grads = gradients(outputs, [*inputs, *states, *parameters])
        results[recurrence] = [output.detach() for output in outputs] + grads
    for got, want in zip(results["compiled"], results["reference"]):
        # float32 sums of a few thousand terms in another order: relative differences near 1e-6
        th.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_without_gradients_the_reference_recurrence_runs() -> None:
    """Acting and evaluation run the PyTorch recurrence whatever is selected: bit for bit the same."""
    generator = th.Generator().manual_seed(4)
    layer = SequenceGRU(3, 10)
    x, h0 = th.randn(7, 2, 3, generator=generator), th.randn(1, 2, 10, generator=generator)
    with th.no_grad():
        with recurrence_selected("reference"):
            reference, _ = layer(x, h0)
        with recurrence_selected("compiled"):
            compiled, _ = layer(x, h0)
    assert th.equal(compiled, reference)


def test_an_unknown_recurrence_is_refused() -> None:
    with pytest.raises(ValueError, match=r"recurrence must be one of \['compiled', 'reference'\], got 'fast'"):
        select_recurrence("fast")  # type: ignore[arg-type]


def test_a_recurrence_that_cannot_be_built_warns_and_leaves_the_reference(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    with pytest.warns(RuntimeWarning, match="could not be built .* using the PyTorch recurrence"):
        assert build_recurrence(SOURCE) is None


def test_a_build_killed_midway_does_not_block_the_next_one(tmp_path) -> None:
    """A process killed while it builds (a board job past its limits, a kill -9) leaves torch's
    ``lock`` file behind; the next build must not wait on it forever."""
    assert load_recurrence() is not None, "g++ and ninja are available here: the C++ recurrence must build"
    cache = tmp_path / "cache"
    built = build_folder()
    shutil.copytree(built, cache / built.name, ignore=shutil.ignore_patterns("*.flock"))
    (cache / built.name / "lock").touch()
    child = subprocess.run(
        [sys.executable, "-c", "from policies.gru_extension import build_recurrence; print(build_recurrence().__name__)"],
        env={**os.environ, "TORCH_EXTENSIONS_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == extension_name()
    assert not (cache / built.name / "lock").exists()


def test_the_state_dict_is_nn_grus() -> None:
    assert list(SequenceGRU(2, 3).state_dict()) == list(nn.GRU(2, 3).state_dict())
