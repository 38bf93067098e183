"""Learning benchmark: the NMN policy against the RNN baseline on NMN-Bench1-v0.

Each policy is trained with RecurrentPPO and the hyperparameters of
``policies/hyperparams/NMN-Bench1-v0.yml`` (400-step training meta-episodes, as in the source)
for a fixed budget of environment steps per seed, then played on the evaluation task set over
full 1400-step meta-episodes. The table gives the mean return per meta-episode (and over its
first 400 steps) of the trained policy, whose sampled actions are part of how it probes the
hidden offset, and the return of its mean actions alone (``mean-action``); next to the
references: uniform random actions, the best agent that never adapts (it plays the target of
the prior mean offset, ``e = x``) and the exact Bayes-optimal agent; and the training speed in
environment steps per second.

Usage::

    python benchmarks/learn_bench1.py --timesteps 500000 --seeds 0 1 2 --jobs 2 --out runs/learn_bench1
    python benchmarks/learn_bench1.py --cell lstm ...  # LSTM cells instead of the file's GRU

This is a measurement, not a test; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch as th
import yaml

from evaluate.agents import CallablePolicy, Observation, Policy, as_policy
from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import task_set
from nmn_envs.envs.nmn.moving_target import ACTION_SCALE
from policies.config import load_hyperparams
from policies.train import train

ENV_ID = "NMN-Bench1-v0"
TRAINED_STEPS = 400
EVALUATION_SEED = 0


def never_adapting(observation: Observation) -> np.ndarray:
    """Play the target of the prior mean offset (``alpha = 0``): ``e = x``, whatever happened."""
    return np.clip(observation["observation"] / ACTION_SCALE, -1.0, 1.0)


def evaluate(policy: Policy, n_tasks: int) -> tuple[float, float]:
    """Mean return per meta-episode and over its first 400 steps, on the evaluation set."""
    tasks = task_set(ENV_ID)
    th.manual_seed(EVALUATION_SEED)  # the draws of sampled actions
    rewards = play(policy, ENV_ID, tasks.tasks[:n_tasks], tasks.seeds[:n_tasks]).step_rewards
    return float(np.mean(np.sum(rewards, axis=1))), float(np.mean(np.sum(rewards[:, :TRAINED_STEPS], axis=1)))


def hyperparams_with_cell(cell: str, out: Path) -> Path:
    """A copy of the Bench1 hyperparameter file whose NMN and RNN use ``cell``."""
    hyperparams = load_hyperparams(ENV_ID)
    for policy in ("nmn", "rnn"):
        hyperparams.policy_kwargs[policy]["cell"] = cell
    path = out / f"hyperparams-{cell}.yml"
    path.write_text(yaml.safe_dump(hyperparams.model_dump()))
    return path


def run(policy: str, seed: int, timesteps: int, out: Path, n_tasks: int, hyperparams: Path | None) -> dict:
    """Train one policy on one seed, then evaluate it."""
    th.set_num_threads(1)
    start = time.perf_counter()
    model = train(
        ENV_ID, policy, seed, timesteps, out / f"{policy}-{seed}", hyperparams_file=hyperparams, progress_bar=False
    )
    seconds = time.perf_counter() - start
    full, first = evaluate(as_policy(model, policy, deterministic=False), n_tasks)
    mean_action, _ = evaluate(as_policy(model, policy, deterministic=True), n_tasks)
    return {"agent": policy, "seed": seed, "return": full, "first": first, "mean_action": mean_action,
            "steps_per_s": model.num_timesteps / seconds, "minutes": seconds / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=1_000_000, help="training steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--policies", nargs="+", default=["nmn", "rnn"], choices=["nmn", "rnn", "lstm"])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at the same time")
    parser.add_argument("--cell", choices=["gru", "lstm"], help="recurrent cell of nmn and rnn (default: the file's)")
    parser.add_argument("--eval-tasks", type=int, default=1000, help="tasks of the evaluation set played")
    parser.add_argument("--out", type=Path, default=Path("runs/learn_bench1"))
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists; choose another --out")
    args.out.mkdir(parents=True)
    hyperparams = hyperparams_with_cell(args.cell, args.out) if args.cell else None

    cell = args.cell or "the hyperparameter file's"
    print(f"{ENV_ID}: training budget {args.timesteps} steps per run, {args.jobs} runs at a time, {cell} cells;"
          f" evaluation on {args.eval_tasks} tasks of the set {task_set(ENV_ID).version}, 1400-step meta-episodes")
    rows = [{"agent": name, **dict(zip(("return", "first"), evaluate(agent, args.eval_tasks)))}
            for name, agent in [("random", reference("random", ENV_ID)),
                                ("never-adapting", CallablePolicy(never_adapting, "never-adapting")),
                                ("bayes-optimal", reference("bayes", ENV_ID))]]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run, policy, seed, args.timesteps, args.out, args.eval_tasks, hyperparams)
                   for policy in args.policies for seed in args.seeds]
        rows += [future.result() for future in futures]

    print(f"{'agent':<16}{'seed':>5}{'return':>12}{'first 400':>12}{'mean-action':>13}{'train steps/s':>15}"
          f"{'train min':>11}")
    for row in rows:
        trained = "seed" in row
        print(f"{row['agent']:<16}{row['seed'] if trained else '':>5}{row['return']:>12.0f}{row['first']:>12.0f}"
              + (f"{row['mean_action']:>13.0f}{row['steps_per_s']:>15.0f}{row['minutes']:>11.1f}" if trained else ""))
    for policy in args.policies:
        returns = np.array([row["return"] for row in rows if row["agent"] == policy])
        error = returns.std(ddof=1) / np.sqrt(len(returns)) if len(returns) > 1 else float("nan")
        print(f"{policy}: mean return over seeds {returns.mean():.0f} ± {error:.0f} (s.e.)")


if __name__ == "__main__":
    main()
