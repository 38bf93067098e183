"""The main job of ``make demo``: every environment played by a random agent and by an oracle.

Each agent plays ``--episodes`` meta-episodes of full length (the registered
``max_episode_steps``) per environment, in the native vector env where there is one (Gymnasium's
``SyncVectorEnv`` for the MuJoCo tasks, which are listed only when the ``mujoco`` extra is
installed and have no oracle); the table shows the mean meta-episode return with its
standard error.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import nmn_envs
from evaluate.oracles import ORACLES

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


def play(env_id: str, agent: str, episodes: int, seed: int) -> np.ndarray:
    """Meta-episode returns of ``agent`` ("random" or "oracle") on ``episodes`` tasks."""
    env = gym.make_vec(env_id, num_envs=episodes)
    observation, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    returns = np.zeros(episodes)
    for _ in tqdm(range(nmn_envs.ENV_IDS[env_id]), desc=f"{env_id} {agent}", leave=False):
        if agent == "oracle":
            actions = ORACLES[env_id](observation["observation"], env.unwrapped.tasks)
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
    has_mujoco = importlib.util.find_spec("mujoco") is not None
    for env_id in nmn_envs.ENV_IDS:
        if env_id in nmn_envs.MUJOCO_TASKS and not has_mujoco:
            continue
        cells = []
        for agent in ("random", "oracle"):
            if agent == "oracle" and env_id not in ORACLES:
                cells.append(f"{'-':>22}")
                continue
            returns = play(env_id, agent, args.episodes, args.seed)
            error = returns.std(ddof=1) / np.sqrt(returns.size)
            cells.append(f"{returns.mean():12.1f} ± {error:7.1f}")
        rows.append(f"| {env_id:<21} | {nmn_envs.ENV_IDS[env_id]:>5} | {cells[0]} | {cells[1]} |")
    print(f"\nMean meta-episode return over {args.episodes} tasks (± standard error)\n")
    print(
        f"| {'environment':<21} | {'steps':>5} | {'random agent':>22} |"
        f" {'oracle (told the task)':>22} |"
    )
    print(f"|{'-' * 23}|{'-' * 7}|{'-' * 24}|{'-' * 24}|")
    print("\n".join(rows))
    if not has_mujoco:
        print("\nThe HalfCheetah tasks need the mujoco extra: pip install 'nmn-bench[mujoco]'.")


if __name__ == "__main__":
    main()
