"""Recurrence throughput: the actor's and the critic's GRUs, forward and backward over a sequence.

Three ways to run two GRUs of one size (the NMN's neuromodulatory networks, or the RNN
baseline's stacks) over a minibatch of ``--steps``-step sequences, side by side in one run:

* ``nn.GRU x2``: PyTorch's CPU ``nn.GRU``, actor and critic one after the other (the former path);
* ``SequenceGRU x2``: :class:`policies.gru.SequenceGRU` (input projections in one product, a
  hand-written backward through time), one network after the other;
* ``run_grus pair``: both networks in one recurrence (:func:`policies.gru.run_grus`), what the
  policies run in training.

Each setup is timed ``--repeats`` times, alternately, for each minibatch width; the table shows
the median milliseconds of one forward and backward pass and the speed-up over ``nn.GRU x2``.

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
from policies.gru import SequenceGRU, run_grus
from training.train import keep_freed_memory


def timed_pass(run: Callable[[], list[th.Tensor]]) -> float:
    """Milliseconds of one forward and backward pass of ``run``."""
    start = time.perf_counter()
    outputs = run()
    sum(output.sum() for output in outputs).backward()
    return 1000.0 * (time.perf_counter() - start)


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
    header = f"{'width':>6}{'nn.GRU x2 ms':>15}{'SequenceGRU x2 ms':>20}{'run_grus pair ms':>19}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for width in args.widths:
        x = th.randn(args.steps, width, args.inputs)
        h0 = th.zeros(width, args.hidden)
        setups: dict[str, Callable[[], list[th.Tensor]]] = {
            "nn.GRU": lambda: [layer(x, h0[None])[0] for layer in reference],
            "SequenceGRU": lambda: [layer(x, h0[None])[0] for layer in fast],
            "pair": lambda: run_grus(fast, [x, x], [h0, h0]),
        }
        times: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(args.repeats):
            for name, run in setups.items():
                times[name].append(timed_pass(run))
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"{width:>6}{medians['nn.GRU']:>15.1f}{medians['SequenceGRU']:>20.1f}{medians['pair']:>19.1f}"
              f"{medians['nn.GRU'] / medians['pair']:>9.1f}x")


if __name__ == "__main__":
    main()
