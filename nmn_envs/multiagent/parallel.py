"""The PettingZoo environments: several agents face one hidden task and see each other."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import error, spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec, parallel_to_aec_wrapper

from nmn_envs.multiagent.team import make_team_vector_env
from nmn_envs.tasks import Task

RESET_OPTIONS = ("task", "states")


class SocialParallelEnv(ParallelEnv):
    """Agents ``agent_0 ... agent_{N-1}`` play one hidden task of a suite id, simultaneously.

    ## Description
    Meta-RL agents adapt to a hidden task from their own feedback. Here ``N`` agents face the
    same task at once, each with its own state and random stream (NMN-Bench1: its own
    position; the bandit: its own pulls), and each may also see what the others saw, did and
    got on the previous step: a population can learn the task from everyone's experience.
    The dynamics are those of the single-agent id: the agents are ``N`` rows of the id's
    batched core grouped into one team (:class:`~nmn_envs.multiagent.team.TeamVectorWrapper`).

    ## Action Space
    The single-agent id's, per agent; out-of-bounds finite actions are clipped, as there.

    ## Observation Space
    Per agent, the single-agent ``Dict`` (``observation``, ``prev_action``, ``prev_reward``,
    ``trial_start`` where trials are marked) and, with ``observe_others``,
    ``others_observation``, ``others_prev_action`` (as played) and ``others_prev_reward``:
    the previous step of the other agents in agent order, zeros on the first step.

    ## Rewards
    Each agent gets its own reward of the single-agent task.

    ## Episode End
    All agents end together, after the single-agent id's ``max_episode_steps`` (or its own
    trials); call ``reset()`` then.

    ## Task changes
    The switch kwargs work as in the single-agent id: deterministic switches (step lists)
    happen for the whole team at once; random ones (NMN-Bench1's ``switch_probability``,
    NMN-TwoStep's swaps) follow ``agent_0``'s draws, so the team's task follows exactly the
    single-agent task process (:meth:`nmn_envs.core.TaskCore.share_tasks`).

    ## Arguments
    * ``env_id``: an id with a native core (:data:`~nmn_envs.multiagent.MULTIAGENT_IDS`).
    * ``num_agents`` (default 2), ``observe_others`` (default ``True``).
    * the single-agent id's kwargs: ``max_episode_steps``, switch and task arguments,
      ``render_mode="rgb_array"`` (the agents' frames side by side).
    * Reset: ``seed=s`` seeds ``agent_i``'s stream with ``s + i``;
      ``options={"task": Task | dict}`` plays that task (else one is drawn from
      ``agent_0``'s stream), ``options={"states": {agent: state}}`` sets start states by hand.
    """

    metadata = {"name": "nmn_social_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}

    def __init__(
        self,
        env_id: str,
        num_agents: int = 2,
        observe_others: bool = True,
        **env_kwargs: Any,
    ) -> None:
        self.team = make_team_vector_env(env_id, 1, num_agents, observe_others, **env_kwargs)
        self.env_id = env_id
        self.render_mode = self.team.render_mode
        self.observe_others = self.team.observe_others
        self.possible_agents = [f"agent_{index}" for index in range(self.team.num_agents)]
        self.agents: list[str] = []
        self.observation_spaces = {
            agent: copy.deepcopy(self.team.single_observation_space) for agent in self.possible_agents
        }
        self.action_spaces = {
            agent: copy.deepcopy(self.team.single_action_space) for agent in self.possible_agents
        }

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    @property
    def task(self) -> Task:
        """The task the team plays (for analysis and reference agents; never observed)."""
        return self.team.tasks[0]

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw one task from the distribution with ``rng``."""
        return self.team.sample_task(rng)

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        options = dict(options or {})
        ignored = sorted(set(options) - set(RESET_OPTIONS))
        if ignored:
            warnings.warn(
                f"ignoring unknown reset option(s) {ignored}; allowed: {list(RESET_OPTIONS)}",
                stacklevel=2,
            )
        team_options: dict[str, Any] = {}
        if options.get("task") is not None:
            team_options["tasks"] = [options["task"]]
        if options.get("states") is not None:
            team_options["states"] = self._per_agent_states(options["states"])
        observation, info = self.team.reset(seed=seed, options=team_options)
        self.agents = list(self.possible_agents)
        return self._split(observation), self._split_info(info)

    def _per_agent_states(self, states: Any) -> list[Any]:
        if not isinstance(states, Mapping) or not set(states) <= set(self.possible_agents):
            raise ValueError(
                f"options['states'] must map agents among {self.possible_agents} to start states,"
                f" got {states!r}"
            )
        return [states.get(agent) for agent in self.possible_agents]

    def step(self, actions: Mapping[str, Any]) -> tuple[
        dict[str, Any],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        if not self.agents:
            raise error.ResetNeeded(
                "the meta-episode has ended (or never started): call reset() before step()"
            )
        if not isinstance(actions, Mapping) or set(actions) != set(self.agents):
            given = sorted(map(repr, actions)) if isinstance(actions, Mapping) else actions
            raise ValueError(f"step() needs one action for each of {self.agents}, got {given!r}")
        batch = np.stack([np.asarray(actions[agent]) for agent in self.possible_agents])
        observation, rewards, terminated, truncated, info = self.team.step(batch)
        agents = self.possible_agents
        result = (
            self._split(observation),
            {agent: float(rewards[row]) for row, agent in enumerate(agents)},
            {agent: bool(terminated[row]) for row, agent in enumerate(agents)},
            {agent: bool(truncated[row]) for row, agent in enumerate(agents)},
            self._split_info(info),
        )
        if np.any(terminated | truncated):
            self.agents = []
        return result

    def _split(self, observation: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        return {
            agent: {key: values[row] for key, values in observation.items()}
            for row, agent in enumerate(self.possible_agents)
        }

    def _split_info(self, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
        entries = {key: values for key, values in info.items() if not key.startswith("_")}
        return {
            agent: {key: values[row].item() for key, values in entries.items()}
            for row, agent in enumerate(self.possible_agents)
        }

    def render(self) -> np.ndarray | None:
        frames = self.team.render()
        return None if frames is None else np.concatenate(frames, axis=1)

    def close(self) -> None:
        self.team.close()


def parallel_env(
    env_id: str, num_agents: int = 2, observe_others: bool = True, **env_kwargs: Any
) -> SocialParallelEnv:
    """The PettingZoo parallel environment of ``env_id`` for ``num_agents`` agents."""
    return SocialParallelEnv(env_id, num_agents, observe_others, **env_kwargs)


def raw_env(
    env_id: str, num_agents: int = 2, observe_others: bool = True, **env_kwargs: Any
) -> AECEnv:
    """The AEC form (agents act in turn, the step happens once all have acted), unwrapped."""
    return parallel_to_aec_wrapper(parallel_env(env_id, num_agents, observe_others, **env_kwargs))


def env(
    env_id: str, num_agents: int = 2, observe_others: bool = True, **env_kwargs: Any
) -> AECEnv:
    """The AEC form through PettingZoo's ``parallel_to_aec`` (with its order enforcing)."""
    return parallel_to_aec(parallel_env(env_id, num_agents, observe_others, **env_kwargs))
