"""Env throughput: the native batched vector env against Gymnasium's ``SyncVectorEnv``.

For every environment and every batch size ``N`` the script builds both vector forms of the
registered (feedback-wrapped) id, steps them with the same pre-drawn random actions (autoreset
included) and reports env steps per second (``N`` steps per vector step). The two forms are
measured alternately, repeat after repeat, in one run, so that a shared or busy machine slows
both alike and the ratio stays meaningful; the table shows medians over the repeats.

Usage::

    python benchmarks/env_throughput.py          # every NMN benchmark, N in 1 64 1024 4096
    python benchmarks/env_throughput.py --envs NMN-Bench1-v0 --sizes 4096 --repeats 7
"""

from __future__ import annotations

import statistics
import time

import gymnasium as gym
import numpy as np

import nmn_envs
from measuring import benchmark_parser, machine_description, parse_positive

ACTION_POOL = 64


def steps_per_second(env: gym.vector.VectorEnv, actions: list[np.ndarray], seconds: float) -> float:
    """Env steps per second while stepping ``env`` for at least ``seconds`` (and 3 vector steps)."""
    env.step(actions[0])
    count, start = 0, time.perf_counter()
    while True:
        env.step(actions[count % len(actions)])
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 3:
            return count * env.num_envs / elapsed


def measure(env_id: str, num_envs: int, repeats: int, seconds: float) -> dict[str, float]:
    """Median steps/s of the native and the sync vector env of ``env_id`` with ``num_envs``."""
    envs = {
        mode: gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
        for mode in ("vector_entry_point", "sync")
    }
    space = envs["sync"].action_space
    space.seed(0)
    actions = [space.sample() for _ in range(ACTION_POOL)]
    rates: dict[str, list[float]] = {mode: [] for mode in envs}
    for env in envs.values():
        env.reset(seed=0)
    for _ in range(repeats):
        for mode, env in envs.items():
            rates[mode].append(steps_per_second(env, actions, seconds))
    for env in envs.values():
        env.close()
    return {mode: statistics.median(values) for mode, values in rates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=5)
    parser.add_argument("--envs", nargs="+", default=list(nmn_envs.BENCHMARKS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 64, 1024, 4096])
    parser.add_argument("--seconds", type=float, default=0.3, help="stepping time per measurement")
    args = parse_positive(parser, argv, ["repeats", "seconds"])
    if any(size < 1 for size in args.sizes):
        parser.error("--sizes must be positive integers")

    print(f"{machine_description()}, gymnasium {gym.__version__}")
    print(f"median of {args.repeats} repeats of {args.seconds:g} s each; env steps per second")
    header = f"{'env':<16}{'N':>6}{'native':>14}{'sync':>12}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    for env_id in args.envs:
        for num_envs in args.sizes:
            rates = measure(env_id, num_envs, args.repeats, args.seconds)
            native, sync = rates["vector_entry_point"], rates["sync"]
            print(
                f"{env_id:<16}{num_envs:>6}{native:>14,.0f}{sync:>12,.0f}{native / sync:>8.0f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
