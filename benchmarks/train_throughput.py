"""Training throughput: the default recipe's NMN against stock sb3-contrib and against today's
recurrence, side by side in one run.

Every setup trains RecurrentPPO on the same environment for the same budget of env steps with
the same number of envs, rollout length, minibatch size and epochs (those of
``policies/hyperparams/<ENV_ID>.yml``, or ``--epochs``; the KL target is switched off so that
every setup runs all its epochs) and the same torch threads:

* ``stock lstm / DummyVecEnv``: sb3-contrib's ``MlpLstmPolicy`` (the file's parameter-matched
  LSTM sizes) on SB3's ``DummyVecEnv`` of single envs (``FlattenObservation`` gives the flat layout it needs), the
  baseline of the ratio;
* ``nmn / native``: the model ``nmn-train`` builds, the NMN at the source's sizes (GRU cells,
  the actor's and the critic's recurrences as one pass, in C++ in the training passes) on the
  native batched env;
* ``nmn / native, PyTorch recurrence``: the same model with the recurrence of
  :mod:`policies.gru` in PyTorch (``select_recurrence("reference")``), as it trained before
  the C++ loop (with ``--before-epochs N``: and N epochs an update, the recipe's former number):
  the ``vs PyTorch`` column divides each policy's rate by this one's;
* ``rnn / native`` (and its PyTorch-recurrence twin): the GRU RNN baseline, the same way;
* ``lstm / native``: the parameter-matched sb3-contrib LSTM policy on the native env.

``--policies`` picks the setups (``stock``, ``nmn``, ``rnn``, ``lstm``). The process tunes the
allocator as ``nmn-train`` does, for every setup alike. The setups alternate, repeat after
repeat, so that a shared machine slows them alike; the table shows the median env steps per
second of CPU time of the process (env steps / CPU seconds of ``learn``: with one torch thread,
per core; other processes on a shared machine do not count) and the ratios. Each budget is
rounded up to whole rollouts; the steps actually run are shown.

Usage::

    python benchmarks/train_throughput.py                       # NMN-Bench1-v0, 4 updates
    python benchmarks/train_throughput.py --env-id NMN-Bench2-v0 --policies nmn --repeats 5 --before-epochs 10
    python benchmarks/train_throughput.py --env-id NMN-Bench2-v0 --policies nmn --epochs 5 --before-epochs 10
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import torch as th
from gymnasium.wrappers import FlattenObservation
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor, VecNormalize

import nmn_envs  # noqa: F401  (registers the environment ids)
from policies.config import Hyperparams, load_hyperparams
from policies.gru import Recurrence, recurrence_selected
from training.train import build_model, keep_freed_memory
from measuring import benchmark_parser, machine_description, parse_positive

Setup = Callable[[], RecurrentPPO]
POLICIES = ("stock", "nmn", "rnn", "lstm")
GRU_POLICIES = ("nmn", "rnn")
TODAY = "PyTorch recurrence"


def stock_lstm(env_id: str, hyperparams: Hyperparams, seed: int) -> RecurrentPPO:
    """sb3-contrib's ``MlpLstmPolicy`` on ``DummyVecEnv`` over the single env."""

    def make_env() -> gym.Env:
        return FlattenObservation(gym.make(env_id, **hyperparams.env_kwargs))

    venv: VecEnv = VecMonitor(DummyVecEnv([make_env] * hyperparams.n_envs))
    venv.seed(seed)
    if hyperparams.normalize_reward:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=hyperparams.gamma)
    return RecurrentPPO(
        "MlpLstmPolicy", venv, policy_kwargs=hyperparams.policy_kwargs["lstm"], seed=seed, **hyperparams.algorithm_kwargs()
    )


def steps_per_second(setup: Setup, budget: int, recurrence: Recurrence) -> tuple[float, int]:
    """Env steps per CPU second of ``learn(budget)`` on a fresh model with ``recurrence``, and the steps run."""
    with recurrence_selected(recurrence):
        model = setup()
        start = time.process_time()
        model.learn(total_timesteps=budget)
        elapsed = time.process_time() - start
    model.get_env().close()
    return model.num_timesteps / elapsed, model.num_timesteps


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=1)
    parser.add_argument("--env-id", default="NMN-Bench1-v0")
    parser.add_argument("--updates", type=int, default=4, help="updates (rollouts) per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (nmn-train's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--policies", nargs="+", choices=POLICIES, default=list(POLICIES), help="setups to run (default: all)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="epochs an update of the setups with today's code, a candidate recipe's n_epochs (default: the file's)",
    )
    parser.add_argument(
        "--before-epochs",
        type=int,
        help="epochs an update of the setups as trained before (PyTorch recurrence): the recipe's"
        " former n_epochs, 10 for NMN-Bench2 (default: the file's)",
    )
    args = parse_positive(parser, argv, ["updates", "repeats", "threads", "epochs", "before_epochs"])
    th.set_num_threads(args.threads)
    keep_freed_memory()

    hyperparams = load_hyperparams(args.env_id)
    hyperparams = hyperparams.model_copy(update={"target_kl": None, "n_epochs": args.epochs or hyperparams.n_epochs})
    before = hyperparams
    today = TODAY
    if args.before_epochs is not None:
        before = hyperparams.model_copy(update={"n_epochs": args.before_epochs})
        today = f"{TODAY}, {args.before_epochs} epochs"
    budget = args.updates * hyperparams.n_envs * hyperparams.n_steps
    n_envs = hyperparams.n_envs
    setups: dict[str, tuple[Setup, Recurrence]] = {}
    if "stock" in args.policies:
        setups[f"stock lstm / DummyVecEnv x{n_envs}"] = (
            lambda: stock_lstm(args.env_id, hyperparams, args.seed), "reference"
        )
    for policy in ("nmn", "rnn", "lstm"):
        if policy not in args.policies:
            continue
        build: Setup = lambda policy=policy, recipe=hyperparams: build_model(args.env_id, policy, args.seed, recipe)  # noqa: E731
        setups[f"{policy} / native x{n_envs}"] = (build, "compiled")
        if policy in GRU_POLICIES:
            as_before: Setup = lambda policy=policy: build_model(args.env_id, policy, args.seed, before)  # noqa: E731
            setups[f"{policy} / native x{n_envs}, {today}"] = (as_before, "reference")
    print(machine_description())
    print(
        f"{args.env_id}, {budget:,} env steps per run: {n_envs} envs x n_steps {hyperparams.n_steps},"
        f" minibatch {hyperparams.batch_size}, {hyperparams.n_epochs} epochs"
        f"{'' if before is hyperparams else f' ({before.n_epochs} as trained before)'};"
        f" torch {th.__version__}, {th.get_num_threads()} threads; medians of {args.repeats}"
    )
    rates: dict[str, list[float]] = {name: [] for name in setups}
    steps: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, (setup, recurrence) in setups.items():
            rate, steps[name] = steps_per_second(setup, budget, recurrence)
            rates[name].append(rate)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    header = f"{'policy / env':<56}{'steps run':>11}{'env steps/CPU s':>17}{'vs stock':>10}{'vs PyTorch':>12}"
    print(header)
    print("-" * len(header))
    stock = next((rate for name, rate in medians.items() if name.startswith("stock")), None)
    for name, rate in medians.items():
        before_rate = medians.get(f"{name}, {today}")
        versus_stock = f"{rate / stock:>9.1f}x" if stock else f"{'':>10}"
        versus_today = f"{rate / before_rate:>11.2f}x" if before_rate else f"{'':>12}"
        print(f"{name:<56}{steps[name]:>11,}{rate:>17,.0f}{versus_stock}{versus_today}")


if __name__ == "__main__":
    main()
