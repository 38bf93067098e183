"""How far each NMN agent's signal ``z`` moves the slopes of its actor's hidden neurons, one row each.

Each main-network neuron's slope is ``1 + z W_s``: where it varies from step to step, the
network multiplies its observation by what ``z`` holds (on NMN-Harlow: the objects shown by the
object remembered). Per agent, per hidden layer, the standard deviation of each neuron's slope
over every step of the first ``--n-tasks`` evaluation tasks (mean actions), averaged over the
layer's neurons, and the share of slopes below 0 (:func:`evaluate.analyses.slope_spread`).
``--fresh-gains`` adds untrained NMNs of the env's recipe with that ``slope_gain``, one per
torch seed ``0 .. --fresh-seeds - 1``.

Usage, from the repository root::

    python benchmarks/slope_table.py NMN-Harlow-v0 zoo:nmn@seed0 zoo:nmn@seed1 --fresh-gains 1 10
    python benchmarks/slope_table.py NMN-Harlow-v0 runs/harlow_slope_gain/trials/NMN-Harlow-v0/nmn-slopegain10/seed0/best_model.safe.zip
"""

from __future__ import annotations

import argparse

from evaluate.agents import PredictPolicy
from evaluate.analyses import is_neuromodulated, slope_spread
from measuring import parse_positive, table_agent
from policies.config import load_hyperparams
from training.train import build_model


def fresh_nmn(env_id: str, gain: float, seed: int) -> PredictPolicy:
    """An untrained NMN of ``env_id``'s recipe with ``slope_gain=gain``, initialised from ``seed``."""
    hyperparams = load_hyperparams(env_id)
    policy_kwargs = {**hyperparams.policy_kwargs, "nmn": {**hyperparams.policy_kwargs["nmn"], "slope_gain": gain}}
    hyperparams = hyperparams.model_copy(update={"policy_kwargs": policy_kwargs})
    return PredictPolicy(build_model(env_id, "nmn", seed, hyperparams), name=f"fresh, slope_gain {gain:g}, seed {seed}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_id")
    parser.add_argument("agents", nargs="*", help="catalogued names (zoo:nmn@seed0) or NMN model files")
    parser.add_argument("--fresh-gains", type=float, nargs="*", default=[], help="slope gains of untrained NMNs to add")
    parser.add_argument("--fresh-seeds", type=int, default=3, help="untrained NMNs per gain (default 3)")
    parser.add_argument("--n-tasks", type=int, default=200, help="evaluation tasks played (default 200)")
    args = parse_positive(parser, argv, ["fresh_seeds", "n_tasks"])
    gains = " ".join(f"{gain:g}" for gain in args.fresh_gains)
    print(
        f"# python benchmarks/slope_table.py {args.env_id} {' '.join(args.agents)}"
        + (f" --fresh-gains {gains} --fresh-seeds {args.fresh_seeds}" if gains else "")
        + f" --n-tasks {args.n_tasks}"
    )
    print("agent | per hidden layer: the slopes' standard deviation over steps (mean over neurons) | share below 0")
    policies = [table_agent(agent, args.env_id) for agent in args.agents]
    policies += [fresh_nmn(args.env_id, gain, seed) for gain in args.fresh_gains for seed in range(args.fresh_seeds)]
    for policy in policies:
        if not is_neuromodulated(policy):
            parser.error(f"{policy.name} is not an NMN agent: it has no slopes")
    for policy in policies:
        measured = slope_spread(policy, args.env_id, args.n_tasks)
        deviation = " ".join(f"{value:.3f}" for value in measured.deviation)
        below = " ".join(f"{value:.3f}" for value in measured.below_zero)
        print(f"{policy.name} | {deviation} | {below}", flush=True)


if __name__ == "__main__":
    main()
