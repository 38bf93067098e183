"""Where one RecurrentPPO update's time goes: rollout (env and policy) and training (forward,
backward, optimiser, the rest), for the model ``nmn-train`` builds.

The script builds the model of ``policies/hyperparams/<ENV_ID>.yml`` (KL target off, so that every
update runs all its epochs), times a first update to warm up, then times ``--updates`` more with
timers of the thread's CPU time (``time.thread_time``: a shared machine's other processes do not count)
around the parts of SB3's loop:

* ``rollout / env``: the vector env's ``step`` (the batched task core, monitor, normaliser);
* ``rollout / policy``: the policy's forward pass that chooses each step's actions;
* ``rollout / rest``: the rest of ``collect_rollouts`` (the buffer, GAE);
* ``train / forward``: ``evaluate_actions`` over the minibatches' sequences (the recurrence);
* ``train / backward``: ``loss.backward()``;
* ``train / optimiser``: Adam's ``step``;
* ``train / rest``: the rest of ``train`` (losses, gradient clipping, minibatch sampling, logging).

Each row is the share of the measured time and the seconds per update. The timers add a few
function calls per step, a negligible share.

Usage::

    python benchmarks/update_profile.py --env-id NMN-Bench2-v0 --policy nmn --updates 2
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch as th

import nmn_envs  # noqa: F401  (registers the environment ids)
from measuring import benchmark_parser, machine_description, parse_positive
from policies.config import POLICY_NAMES, load_hyperparams
from policies.gru import RECURRENCES, select_recurrence
from training.train import build_model, keep_freed_memory

PARTS = (
    "rollout / env",
    "rollout / policy",
    "rollout / rest",
    "train / forward",
    "train / backward",
    "train / optimiser",
    "train / rest",
)


class Timers:
    """Seconds spent in each named part, accumulated by wrapped callables."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[part] += time.thread_time() - start

        return timed


def profile_updates(
    env_id: str, policy: str, seed: int, updates: int, changes: dict[str, Any]
) -> tuple[dict[str, float], int]:
    """Seconds per part over ``updates`` updates after a warm-up update, and the env steps of one.

    ``changes`` replaces recipe keys of the hyperparameter file (``batch_size``, ``n_epochs``).
    """
    hyperparams = load_hyperparams(env_id).model_copy(update={"target_kl": None, **changes})
    model = build_model(env_id, policy, seed, hyperparams)
    steps_per_update = hyperparams.n_envs * hyperparams.n_steps
    model.learn(total_timesteps=steps_per_update)  # warm-up: allocations, first-call costs

    timers = Timers()
    env, network = model.env, model.policy
    env.step = timers.wrap("env", env.step)
    network.forward = timers.wrap("policy", network.forward)
    network.evaluate_actions = timers.wrap("forward", network.evaluate_actions)
    network.optimizer.step = timers.wrap("optimiser", network.optimizer.step)
    model.collect_rollouts = timers.wrap("rollout", model.collect_rollouts)
    model.train = timers.wrap("train", model.train)
    tensor_backward = th.Tensor.backward
    th.Tensor.backward = timers.wrap("backward", tensor_backward)
    try:
        model.learn(total_timesteps=updates * steps_per_update, reset_num_timesteps=False)
    finally:
        th.Tensor.backward = tensor_backward
        model.env.close()
    seconds = timers.seconds
    parts = {
        "rollout / env": seconds["env"],
        "rollout / policy": seconds["policy"],
        "rollout / rest": seconds["rollout"] - seconds["env"] - seconds["policy"],
        "train / forward": seconds["forward"],
        "train / backward": seconds["backward"],
        "train / optimiser": seconds["optimiser"],
        "train / rest": seconds["train"] - seconds["forward"] - seconds["backward"] - seconds["optimiser"],
    }
    return {part: value / updates for part, value in parts.items()}, steps_per_update


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__, repeats=1)
    parser.add_argument("--env-id", default="NMN-Bench2-v0")
    parser.add_argument("--policy", default="nmn", choices=list(POLICY_NAMES))
    parser.add_argument("--updates", type=int, default=2, help="timed updates after the warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (nmn-train's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, help="minibatch size (default: the file's)")
    parser.add_argument("--n-epochs", type=int, help="epochs per update (default: the file's)")
    parser.add_argument("--recurrence", choices=RECURRENCES, default="compiled", help="GRU recurrence (policies.gru)")
    args = parse_positive(parser, argv, ["updates", "threads"])
    th.set_num_threads(args.threads)
    keep_freed_memory()
    select_recurrence(args.recurrence)
    changes = {
        key: value for key, value in (("batch_size", args.batch_size), ("n_epochs", args.n_epochs)) if value
    }
    per_update, steps = profile_updates(args.env_id, args.policy, args.seed, args.updates, changes)
    total = sum(per_update.values())
    hyperparams = load_hyperparams(args.env_id).model_copy(update=changes)
    print(machine_description())
    print(
        f"{args.env_id}, {args.policy}: {steps:,} env steps an update ({hyperparams.n_envs} envs x"
        f" n_steps {hyperparams.n_steps}), minibatch {hyperparams.batch_size}, {hyperparams.n_epochs}"
        f" epochs, {args.recurrence} recurrence; torch {th.__version__}, {th.get_num_threads()} threads; {args.updates} updates timed"
    )
    header = f"{'part':<20}{'s / update':>12}{'share':>8}"
    print(header)
    print("-" * len(header))
    for part in PARTS:
        print(f"{part:<20}{per_update[part]:>12.2f}{per_update[part] / total:>8.1%}")
    print(f"{'total':<20}{total:>12.2f}{'':>8}   ({steps / total:,.0f} env steps/s)")


if __name__ == "__main__":
    main()
