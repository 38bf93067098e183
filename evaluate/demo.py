"""The main job of ``make demo``: every benchmark played by a random agent and by an oracle.

Each agent plays ``--episodes`` meta-episodes of full length per environment in the native
vector env; the table shows the mean meta-episode return with its standard error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import nmn_envs
from evaluate.oracles import ORACLES

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


def play(env_id: str, agent: str, episodes: int, seed: int) -> np.ndarray:
    """Meta-episode returns of ``agent`` ("random" or "oracle") on ``episodes`` tasks."""
    env = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="vector_entry_point")
    observation, _ = env.reset(seed=seed)
    tasks = env.unwrapped.tasks
    env.action_space.seed(seed)
    returns = np.zeros(episodes)
    steps = gym.spec(env_id).max_episode_steps
    for _ in tqdm(range(steps), desc=f"{env_id} {agent}", leave=False):
        if agent == "oracle":
            actions = ORACLES[env_id](observation["observation"], tasks)
        else:
            actions = env.action_space.sample()
        observation, rewards, _, _, _ = env.step(actions)
        returns += rewards
    env.close()
    return returns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=32, help="meta-episodes per agent and env")
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args(argv)
    rows = []
    for env_id in nmn_envs.BENCHMARKS:
        cells = []
        for agent in ("random", "oracle"):
            returns = play(env_id, agent, args.episodes, args.seed)
            error = returns.std(ddof=1) / np.sqrt(returns.size)
            cells.append(f"{returns.mean():12.1f} ± {error:7.1f}")
        rows.append(f"| {env_id:<14} | {cells[0]} | {cells[1]} |")
    print(f"\nMean meta-episode return over {args.episodes} tasks (± standard error)\n")
    print(f"| {'environment':<14} | {'random agent':>22} | {'oracle (told the task)':>22} |")
    print(f"|{'-' * 16}|{'-' * 24}|{'-' * 24}|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
