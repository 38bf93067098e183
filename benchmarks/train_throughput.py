"""Training throughput: RecurrentPPO with the NMN policy on the native vector env against
sb3-contrib's stock ``MlpLstmPolicy`` on SB3's ``DummyVecEnv``, side by side in one run.

Every run trains on the same environment for the same budget of env steps with the
hyperparameters of ``policies/hyperparams/<ENV_ID>.yml`` (the LSTM with its parameter-matched
size, reward scaling where the file asks for it) and the same number of torch threads. They
differ where the fast path differs:

* ``lstm / DummyVecEnv``: the stock setup, ``n_envs`` single envs (``FlattenObservation`` gives
  the flat layout ``MlpLstmPolicy`` needs);
* ``nmn / native``, same ``n_envs``: the model ``nmn-train`` builds (NMN policy with its fused
  sequence path, native batched env through :class:`nmn_envs.sb3_vec_env.SB3VecEnv`), all
  hyperparameters unchanged;
* ``nmn / native``, ``--native-envs`` sub-environments, the batch size scaled so that an epoch
  still takes the same number of minibatches.

The runs alternate, repeat after repeat, so that a shared machine slows them alike; the table
shows the median env steps per second (env steps / wall time of ``learn``) and the ratio to the
stock setup. Each budget is rounded up to whole rollouts; the steps actually run are shown.

Usage::

    python benchmarks/train_throughput.py                       # NMN-Bench1-v0, 51,200 steps
    python benchmarks/train_throughput.py --budget 102400 --repeats 3 --native-envs 512
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
from policies.train import build_model
from measuring import benchmark_parser, machine_description, parse_positive

Setup = Callable[[], RecurrentPPO]


def stock_lstm(env_id: str, hyperparams: Hyperparams, seed: int) -> RecurrentPPO:
    """sb3-contrib's ``MlpLstmPolicy`` on ``DummyVecEnv`` over the single env."""

    def make_env() -> gym.Env:
        return FlattenObservation(gym.make(env_id, **hyperparams.env_kwargs))

    venv: VecEnv = VecMonitor(DummyVecEnv([make_env] * hyperparams.n_envs))
    venv.seed(seed)
    if hyperparams.normalize_reward:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=hyperparams.gamma)
    return RecurrentPPO(
        "MlpLstmPolicy",
        venv,
        policy_kwargs=hyperparams.policy_kwargs["lstm"],
        seed=seed,
        **hyperparams.algorithm_kwargs(),
    )


def native_nmn(env_id: str, hyperparams: Hyperparams, seed: int, num_envs: int) -> RecurrentPPO:
    """The model ``nmn-train`` builds, with ``num_envs`` sub-environments of the native env.

    The batch size is scaled with the number of envs so that an epoch takes as many
    minibatches as with the hyperparameters' ``n_envs``.
    """
    batch_size = hyperparams.batch_size * num_envs // hyperparams.n_envs
    scaled = hyperparams.model_copy(update={"n_envs": num_envs, "batch_size": batch_size})
    return build_model(env_id, "nmn", seed, scaled)


def steps_per_second(setup: Setup, budget: int) -> tuple[float, int]:
    """Env steps per second of ``learn(budget)`` on a fresh model, and the steps run."""
    model = setup()
    start = time.perf_counter()
    model.learn(total_timesteps=budget)
    elapsed = time.perf_counter() - start
    model.get_env().close()
    return model.num_timesteps / elapsed, model.num_timesteps


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=1)
    parser.add_argument("--env-id", default="NMN-Bench1-v0")
    parser.add_argument("--budget", type=int, default=51_200, help="env steps per run")
    parser.add_argument(
        "--native-envs", type=int, default=256, help="sub-envs of the many-envs run"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (nmn-train's default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parse_positive(parser, argv, ["budget", "native_envs", "repeats", "threads"])
    th.set_num_threads(args.threads)

    hyperparams = load_hyperparams(args.env_id)
    n_envs = hyperparams.n_envs
    setups: dict[str, Setup] = {
        f"lstm / DummyVecEnv x{n_envs}": lambda: stock_lstm(args.env_id, hyperparams, args.seed),
        f"nmn / native x{n_envs}": lambda: native_nmn(args.env_id, hyperparams, args.seed, n_envs),
        f"nmn / native x{args.native_envs}": lambda: native_nmn(
            args.env_id, hyperparams, args.seed, args.native_envs
        ),
    }
    print(machine_description())
    print(
        f"{args.env_id}, budget {args.budget:,} env steps, n_steps {hyperparams.n_steps},"
        f" {hyperparams.n_epochs} epochs, torch {th.__version__}, {th.get_num_threads()} threads"
    )
    rates: dict[str, list[float]] = {name: [] for name in setups}
    steps: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, setup in setups.items():
            rate, steps[name] = steps_per_second(setup, args.budget)
            rates[name].append(rate)
    header = f"{'policy / env':<26}{'steps run':>11}{'env steps/s':>13}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    baseline = statistics.median(next(iter(rates.values())))
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<26}{steps[name]:>11,}{rate:>13,.0f}{rate / baseline:>7.1f}x")


if __name__ == "__main__":
    main()
