"""Harness throughput: 1,000 NMN-Bench1 meta-episodes played by an NMN agent.

The harness plays the evaluation task set in the native vector env, ``--batch-size``
meta-episodes at once, and asks the agent for a batch of actions per step (SB3's ``predict``,
which runs the policy under ``torch.no_grad``). The script times

* ``play``: the agent's meta-episodes alone (:func:`evaluate.rollout.play`);
* ``evaluate``: the whole harness call (:func:`evaluate.harness.evaluate`): the agent, the
  ``random`` and ``bayes`` reference agents on the same tasks, bounds and bootstrap intervals.

Both are timed ``--repeats`` times, alternately; the table shows the medians.
The agent is a saved model in the safe form (``--model``) or, without one, a freshly built NMN
model with the hyperparameters ``nmn-train`` uses: its weights are untrained, its inference
cost is that of a trained one.

Usage::

    python benchmarks/eval_throughput.py                          # fresh NMN model
    python benchmarks/eval_throughput.py --model runs/bench1-nmn-0/model.safe.zip --batch-size 1000
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch as th

from evaluate.agents import as_policy
from evaluate.harness import evaluate
from evaluate.rollout import DEFAULT_BATCH_SIZE, play
from evaluate.task_sets import task_set
from policies.config import load_hyperparams
from training.train import build_model
from measuring import benchmark_parser, machine_description, parse_positive

ENV_ID = "NMN-Bench1-v0"


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``call()`` and its result."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=3)
    parser.add_argument("--model", help="a saved model in the safe form, model.safe.zip (default: a fresh NMN model)")
    parser.add_argument("--n-tasks", type=int, default=1000, help="meta-episodes to play")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="meta-episodes at once"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parse_positive(parser, argv, ["n_tasks", "batch_size", "threads", "repeats"])
    th.set_num_threads(args.threads)

    agent = args.model or build_model(ENV_ID, "nmn", 0, load_hyperparams(ENV_ID))
    tasks, seeds = task_set(ENV_ID).head(args.n_tasks)
    print(machine_description())
    print(
        f"{ENV_ID}: {len(tasks):,} meta-episodes, batch {args.batch_size},"
        f" torch {th.__version__} with {th.get_num_threads()} threads,"
        f" agent {args.model or 'fresh NMN model'}"
    )

    play_times, harness_times = [], []
    for _ in range(args.repeats):
        seconds, rollout = timed(
            lambda: play(
                as_policy(agent, name="nmn"), ENV_ID, tasks, seeds, batch_size=args.batch_size
            )
        )
        play_times.append(seconds)
        seconds, result = timed(
            lambda: evaluate(
                agent, ENV_ID, n_tasks=args.n_tasks, references=(), batch_size=args.batch_size
            )
        )
        harness_times.append(seconds)
    played, harness = statistics.median(play_times), statistics.median(harness_times)
    steps = rollout.step_rewards.size

    print(f"{'timed':<44}{'seconds':>9}{'agent steps/s':>15}")
    print(
        f"{'play: the agent, ' + format(len(tasks), ',') + ' meta-episodes':<44}{played:>9.1f}"
        f"{steps / played:>15,.0f}"
    )
    print(f"{'evaluate: agent + random + bayes + intervals':<44}{harness:>9.1f}")
    print(
        f"{steps:,} agent steps; mean return: play {rollout.returns.mean():.1f},"
        f" evaluate {result.agent.mean.value:.1f}"
    )


if __name__ == "__main__":
    main()
