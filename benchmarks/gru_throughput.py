"""Recurrence throughput: the actor's and the critic's GRUs, forward and backward over a sequence.

Four ways to run two GRUs of one size (the NMN's neuromodulatory networks, or the RNN
baseline's stacks) over a minibatch of ``--steps``-step sequences, side by side in one run:

* ``nn.GRU x2``: PyTorch's CPU ``nn.GRU``, actor and critic one after the other (the former path);
* ``SequenceGRU x2``: :class:`policies.gru.SequenceGRU` (input projections in one product, a
  hand-written backward through time), one network after the other;
* ``run_grus pair``: both networks in one recurrence (:func:`policies.gru.run_grus`), in PyTorch
  (the reference recurrence);
* ``C++ pair``: the same in C++ (:mod:`policies.gru_extension`), what the policies run in training.

The first three run the PyTorch recurrence (``select_recurrence("reference")``).

Each setup is timed ``--repeats`` times, alternately, for each minibatch width; the table shows
the median CPU milliseconds of one forward and backward pass and the speed-ups of the C++ pair over
``nn.GRU x2`` and over the PyTorch pair.

Usage::

    python benchmarks/gru_throughput.py                     # hidden 50, 200 steps, widths 4 16 64
    python benchmarks/gru_throughput.py --hidden 100 --widths 16 64
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch as th
from torch import nn

from measuring import benchmark_parser, machine_description, parse_positive
from policies.gru import Recurrence, SequenceGRU, recurrence_selected, run_grus
from training.train import keep_freed_memory


def timed_pass(run: Callable[[], list[th.Tensor]], recurrence: Recurrence) -> float:
    """CPU milliseconds (of this thread) of one forward and backward pass of ``run`` with ``recurrence``."""
    with recurrence_selected(recurrence):
        start = time.thread_time()
        outputs = run()
        sum(output.sum() for output in outputs).backward()
        return 1000.0 * (time.thread_time() - start)


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=7)
    parser.add_argument("--hidden", type=int, default=50, help="hidden units (Bench1: 50)")
    parser.add_argument("--inputs", type=int, default=4, help="input features (Bench1's flat observation: 4)")
    parser.add_argument("--steps", type=int, default=200, help="sequence length (truncated BPTT: 200)")
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 16, 64], help="sequences per minibatch")
    args = parse_positive(parser, argv, ["hidden", "inputs", "steps", "repeats"])
    th.set_num_threads(1)
    keep_freed_memory()
    reference = [nn.GRU(args.inputs, args.hidden) for _ in range(2)]
    fast = [SequenceGRU(args.inputs, args.hidden) for _ in range(2)]
    for layer, twin in zip(fast, reference):
        layer.load_state_dict(twin.state_dict())
    print(machine_description())
    print(f"two GRUs of {args.hidden} units, {args.inputs} inputs, {args.steps} steps, torch {th.__version__}, 1 thread")
    header = (
        f"{'width':>6}{'nn.GRU x2 ms':>15}{'SequenceGRU x2 ms':>20}{'run_grus pair ms':>19}{'C++ pair ms':>14}"
        f"{'vs nn.GRU':>11}{'vs pair':>9}"
    )
    print(header)
    print("-" * len(header))
    for width in args.widths:
        x = th.randn(args.steps, width, args.inputs)
        h0 = th.zeros(width, args.hidden)
        setups: dict[str, tuple[Callable[[], list[th.Tensor]], Recurrence]] = {
            "nn.GRU": (lambda: [layer(x, h0[None])[0] for layer in reference], "reference"),
            "SequenceGRU": (lambda: [layer(x, h0[None])[0] for layer in fast], "reference"),
            "pair": (lambda: run_grus(fast, [x, x], [h0, h0]), "reference"),
            "C++ pair": (lambda: run_grus(fast, [x, x], [h0, h0]), "compiled"),
        }
        times: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(args.repeats):
            for name, (run, recurrence) in setups.items():
                times[name].append(timed_pass(run, recurrence))
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(
            f"{width:>6}{medians['nn.GRU']:>15.1f}{medians['SequenceGRU']:>20.1f}{medians['pair']:>19.1f}"
            f"{medians['C++ pair']:>14.1f}{medians['nn.GRU'] / medians['C++ pair']:>10.1f}x"
            f"{medians['pair'] / medians['C++ pair']:>8.1f}x"
        )


if __name__ == "__main__":
    main()
