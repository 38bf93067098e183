"""Social meta-RL: PettingZoo environments where several agents face one hidden task.

``N`` agents ``agent_0 ... agent_{N-1}`` play the same hidden task of a suite id, each with its
own state and random stream, simultaneously; with ``observe_others`` each also sees what the
others saw, did and got on the previous step. The dynamics are the id's batched core, the
agents its rows (:mod:`nmn_envs.multiagent.team`).

Example::

    from nmn_envs import multiagent

    env = multiagent.parallel_env("NMN-Bench1-v0", num_agents=2, max_episode_steps=400)
    observations, infos = env.reset(seed=0)
    actions = {agent: env.action_space(agent).sample() for agent in env.agents}
    observations, rewards, terminations, truncations, infos = env.step(actions)

``env(...)`` gives the AEC form through PettingZoo's ``parallel_to_aec``; ``raw_env(...)`` the
same without the order enforcing.
"""

from nmn_envs.multiagent.parallel import SocialParallelEnv, env, parallel_env, raw_env
from nmn_envs.multiagent.team import (
    MAX_AGENTS,
    MULTIAGENT_IDS,
    OTHERS_KEYS,
    TeamVectorWrapper,
    make_team_vector_env,
)

__all__ = [
    "MAX_AGENTS",
    "MULTIAGENT_IDS",
    "OTHERS_KEYS",
    "SocialParallelEnv",
    "TeamVectorWrapper",
    "env",
    "make_team_vector_env",
    "parallel_env",
    "raw_env",
]
