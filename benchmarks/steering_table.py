"""The steering table of several agents on NMN-Bench2 or NMN-Bench3, one row each.

``nmn-eval`` prints one agent's steering table (:mod:`evaluate.steering`) with its other
results; this script prints the same measurement for many agents side by side, to compare a
grid's runs with the zoo's cards: per agent, the hits of each target per meta-episode and the
mean angle between its heading and the oracle's by the oracle's heading (45-degree sectors from
-180 degrees; 0 east, +-180 west), on the first ``--n-tasks`` evaluation tasks, mean actions.

Usage, from the repository root::

    python benchmarks/steering_table.py NMN-Bench2-v0 zoo:nmn@seed0 zoo:rnn@seed1
    python benchmarks/steering_table.py NMN-Bench3-v0 runs/bench3_heading/trials/NMN-Bench3-v0/nmn-heading/seed0/model.zip
"""

from __future__ import annotations

import argparse

from evaluate.steering import HIT_REWARDS, steering
from measuring import parse_positive, table_agent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_id", choices=sorted(HIT_REWARDS))
    parser.add_argument("agents", nargs="+", help="catalogued names (zoo:nmn@seed0) or model files")
    parser.add_argument("--n-tasks", type=int, default=32, help="evaluation tasks played (default 32, as nmn-eval)")
    args = parse_positive(parser, argv, ["n_tasks"])
    print(f"# python benchmarks/steering_table.py {args.env_id} {' '.join(args.agents)} --n-tasks {args.n_tasks}")
    print("agent | hits per meta-episode | mean error (degrees) by the oracle's heading, -180 to 180 in 45-degree sectors")
    for agent in args.agents:
        policy = table_agent(agent, args.env_id)
        measured = steering(policy, args.env_id, args.n_tasks)
        print(f"{policy.name} | {measured.hits_text} | " + " ".join(f"{error:5.1f}" for error in measured.mean_error), flush=True)


if __name__ == "__main__":
    main()
