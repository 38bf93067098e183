"""Team reference agents: the joint policies that attain the team bounds of :mod:`evaluate.team_bounds`.

They play the team vector env of :mod:`nmn_envs.multiagent.team` (row ``t N + i`` is agent
``i`` of team ``t``) and act from what each agent sees: its own observation and feedback, the
others' previous step (``others_*``) and its own memory of what it played. None reads the task.
"""

from __future__ import annotations

import numpy as np

from evaluate.policy import Observation, Policy
from evaluate.exact import dependent_bandit_mean
from evaluate.rollout import episode_length
from evaluate.team_bounds import team_probe_guesses
from nmn_envs.envs.nmn.moving_target import ACTION_SCALE
from nmn_envs.multiagent.team import TeamVectorWrapper


def _check_team(env: object) -> TeamVectorWrapper:
    if not isinstance(env, TeamVectorWrapper) or not env.observe_others:
        raise ValueError("team reference agents play a team vector env with observe_others=True")
    return env


class MovingTargetTeam(Policy):
    """NMN-Bench1: probe once each at different distances, then read the offset off everyone.

    Step 1: agent ``i`` guesses ``d_i`` (:func:`evaluate.team_bounds.team_probe_guesses`).
    Step 2 on: every agent knows each probe ``d_j = 20 a_j - x_j`` and its reward (its own from
    memory and feedback, the others' from ``others_*``). A hit pins the offset within the hit
    radius of ``d_j``; otherwise the candidate ``d_i +- r_i`` that lies on a candidate
    ``d_j +- r_j`` of another agent is the offset. If the offset in use misses (the task
    switched), the agents probe again.
    """

    name = "team_bayes"
    description = "team Bayes-optimal (exact, supremum)"

    def reset(self, env: TeamVectorWrapper) -> None:
        team = _check_team(env)
        agent = np.arange(team.num_envs) % team.num_agents
        self.first_guess = team_probe_guesses(team.num_agents)[agent]
        self.guess = np.zeros(team.num_envs)
        self.probing = np.ones(team.num_envs, dtype=bool)
        self.single_step = episode_length(team) == 1

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        x = observation["observation"][:, 0].astype(np.float64)
        reward = observation["prev_reward"][:, 0].astype(np.float64)
        read = ~episode_start & self.probing
        if np.any(read):
            self.guess[read] = self._offset(observation, reward)[read]
        probe_again = ~episode_start & ~self.probing & (reward < 0.0)
        self.probing = episode_start | probe_again
        self.guess[self.probing] = 0.0 if self.single_step else self.first_guess[self.probing]
        return ((x + self.guess) / ACTION_SCALE)[:, None]

    def _offset(self, observation: Observation, reward: np.ndarray) -> np.ndarray:
        """The offset read off every agent's probe (own guess and reward, the others' step)."""
        others_guess = (
            ACTION_SCALE * observation["others_prev_action"][..., 0].astype(np.float64)
            - observation["others_observation"][..., 0].astype(np.float64)
        )
        others_reward = observation["others_prev_reward"][..., 0].astype(np.float64)
        guesses = np.concatenate([self.guess[:, None], others_guess], axis=1)
        rewards = np.concatenate([reward[:, None], others_reward], axis=1)
        hit = rewards > 0.0
        first_hit = guesses[np.arange(len(reward)), np.argmax(hit, axis=1)]
        own = guesses[:, :1] + np.array([-1.0, 1.0]) * -rewards[:, :1]  # (rows, 2)
        other = guesses[:, 1:2] + np.array([-1.0, 1.0]) * -rewards[:, 1:2]
        distance = np.abs(own[:, :, None] - other[:, None, :]).min(axis=2)
        shared = own[np.arange(len(reward)), np.argmin(distance, axis=1)]
        return np.where(hit.any(axis=1), first_hit, shared)


class BanditTeam(Policy):
    """Dependent bandits: pool every agent's pulls and pull the arm the posterior favours.

    Evidence for ``p1`` is every outcome that favours it (arm 0 paid or arm 1 did not), own and
    others' alike; all agents of a team hold the same counts and pull the same arm (the myopic
    rule, optimal here: :func:`evaluate.team_bounds.team_dependent_bandit_value`).
    """

    name = "team_bayes"
    description = "team Bayes-optimal (exact)"

    def reset(self, env: TeamVectorWrapper) -> None:
        team = _check_team(env)
        self.variant = team.unwrapped.core.variant
        if self.variant == "independent":
            raise ValueError("the pooling team agent plays the dependent bandit variants")
        self.evidence = np.zeros(team.num_envs)
        self.pulls = np.zeros(team.num_envs)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        actions = np.concatenate(
            [observation["prev_action"][:, None, :], observation["others_prev_action"]], axis=1
        )
        rewards = np.concatenate(
            [observation["prev_reward"][:, None, 0], observation["others_prev_reward"][..., 0]],
            axis=1,
        )
        favouring = (actions[..., 0] > 0.5) == (rewards > 0.5)
        self.evidence = np.where(episode_start, 0.0, self.evidence + favouring.sum(axis=1))
        self.pulls = np.where(episode_start, 0.0, self.pulls + actions.shape[1])
        with np.errstate(over="ignore"):
            mean = dependent_bandit_mean(self.evidence, self.pulls, self.variant)
        return (mean < 0.5).astype(np.int64)


TEAM_REFERENCES: dict[str, type[Policy]] = {
    "NMN-Bench1-v0": MovingTargetTeam,
    "NMN-Bandit-v0": BanditTeam,
}
