"""Teams of agents on the native vector env: rows grouped in teams that share one hidden task.

:func:`make_team_vector_env` builds the registered native vector env of a task with
``num_teams * num_agents`` rows (sub-environments) and groups them, ``num_agents`` consecutive
rows to a team (:meth:`nmn_envs.core.TaskCore.share_tasks`): the agents of a team play the same
task, each with its own state and its own random stream. Row ``t * num_agents + i`` is agent
``i`` of team ``t``. :class:`TeamVectorWrapper` adds to every row's feedback ``Dict`` what its
teammates saw, did and got on the previous step. The PettingZoo environments of
:mod:`nmn_envs.multiagent` are one team of it; parameter-shared training and the harness play
many teams at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import error, spaces
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

import nmn_envs
from nmn_envs.tasks import Task

OTHERS_KEYS = ("others_observation", "others_prev_action", "others_prev_reward")
TEAM_RESET_OPTIONS = ("tasks", "states", "reset_mask")

MAX_AGENTS = 64
"""The most agents a team may have (each sees the other agents' previous step)."""
MULTIAGENT_IDS: tuple[str, ...] = (*nmn_envs.BENCHMARKS, *nmn_envs.CLASSIC_TASKS)
"""The ids with a native batched core, which the multi-agent suite plays."""


def check_multiagent_id(env_id: str) -> None:
    """Refuse an id without a native core, naming those allowed."""
    if env_id not in MULTIAGENT_IDS:
        raise ValueError(
            f"the multi-agent suite runs on the native batched cores; {env_id!r} has none."
            f" Allowed: {list(MULTIAGENT_IDS)}"
        )


def check_positive(name: str, value: Any) -> int:
    """``value`` as an int, or a ``ValueError`` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class TeamVectorWrapper(VectorWrapper):
    """Group the rows of a feedback vector env in teams that share a task and see each other.

    Args:
        env: the feedback-wrapped native vector env of a task
            (:class:`~nmn_envs.wrappers.FeedbackVectorWrapper` over a
            :class:`~nmn_envs.views.TaskVectorEnv`) with a multiple of ``num_agents`` rows.
        num_agents: agents per team.
        observe_others: add the teammates' previous step (below). Ignored for one agent.

    ## Observation Space
    Each row's feedback ``Dict`` (``observation``, ``prev_action``, ``prev_reward`` and
    ``trial_start`` where trials are marked) and, with ``observe_others``, for the
    ``num_agents - 1`` other agents of its team in agent order (agent ``i`` sees agents
    ``0..i-1, i+1..N-1``):

    * ``others_observation``: shape ``(N - 1, *observation_shape)``, the observation each of
      them acted on at the previous step;
    * ``others_prev_action``: shape ``(N - 1, *prev_action_shape)``, the action each played
      (after clipping; one-hot for ``Discrete``), exactly as its own ``prev_action``;
    * ``others_prev_reward``: shape ``(N - 1, 1)``, the reward each got.

    All zeros on the first step of a meta-episode, like the feedback. The task never appears.

    ## Reset options
    ``{"tasks": [Task | dict | None, ...]}`` one task per team; ``{"states": [...]}`` one
    start state per row; ``{"reset_mask": bool array}`` per row, marking whole teams only.
    """

    def __init__(self, env: VectorEnv, num_agents: int, observe_others: bool = True) -> None:
        super().__init__(env)
        self.num_agents = check_positive("num_agents", num_agents)
        if self.num_envs % self.num_agents:
            raise ValueError(
                f"{self.num_envs} sub-environments do not split into teams of {self.num_agents}"
            )
        feedback = env.single_observation_space
        if not isinstance(feedback, spaces.Dict) or "prev_action" not in feedback.spaces:
            raise ValueError(
                "a team needs the feedback observation (observation, prev_action, prev_reward):"
                " build the env with feedback=True"
            )
        self.num_teams = self.num_envs // self.num_agents
        self.core = env.unwrapped.core
        self.core.share_tasks(self.num_agents)
        self.observe_others = bool(observe_others) and self.num_agents > 1
        if self.observe_others:
            others = self.num_agents - 1
            self.single_observation_space = spaces.Dict(
                {
                    **feedback.spaces,
                    "others_observation": batch_space(feedback["observation"], others),
                    "others_prev_action": batch_space(feedback["prev_action"], others),
                    "others_prev_reward": batch_space(feedback["prev_reward"], others),
                }
            )
            self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        rows = np.arange(self.num_envs)
        agent = rows % self.num_agents
        others_of_agent = np.array(
            [[j for j in range(self.num_agents) if j != i] for i in range(self.num_agents)],
            dtype=np.int64,
        ).reshape(self.num_agents, self.num_agents - 1)
        self.teammates = (rows - agent)[:, None] + others_of_agent[agent]
        """``teammates[r]``: the rows of the other agents of row ``r``'s team, in agent order."""
        observation_shape = self.single_observation_space["observation"].shape
        self._acted_on = np.zeros((self.num_envs, *observation_shape), np.float32)
        self._restarting = np.zeros(self.num_envs, dtype=bool)
        self._last_others: dict[str, np.ndarray] = {}
        self._started = False

    @property
    def tasks(self) -> list[Task]:
        """The task of every team (for analysis and reference agents; never observed)."""
        return [self.core.get_task(team * self.num_agents) for team in range(self.num_teams)]

    def sample_task(self, rng: np.random.Generator) -> Task:
        """Draw one task from the distribution with ``rng``."""
        return self.core.sample_task(rng)

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        options = dict(options or {})
        unknown = sorted(set(options) - set(TEAM_RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; allowed: {list(TEAM_RESET_OPTIONS)}")
        if options.get("tasks") is not None:
            tasks = list(options["tasks"])
            if len(tasks) != self.num_teams:
                raise ValueError(f"options['tasks'] has {len(tasks)} entries for {self.num_teams} teams")
            options["tasks"] = [task for task in tasks for _ in range(self.num_agents)]
        fresh = np.ones(self.num_envs, dtype=bool)
        if options.get("reset_mask") is not None:
            fresh = np.asarray(options["reset_mask"])
            teams = fresh.reshape(-1, self.num_agents) if fresh.size == self.num_envs else None
            if fresh.dtype != np.bool_ or teams is None or np.any(teams != teams[:, :1]):
                raise ValueError(
                    f"options['reset_mask'] must be a boolean array of shape ({self.num_envs},)"
                    f" that resets whole teams of {self.num_agents}, got {options['reset_mask']!r}"
                )
        observation, info = self.env.reset(seed=seed, options=options)
        self._restarting &= ~fresh
        self._started = True
        return self._with_others(observation, fresh, kept=~fresh), info

    def step(
        self, actions: Any
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise error.ResetNeeded("call reset() before step()")
        observation, rewards, terminated, truncated, info = self.env.step(actions)
        kept = np.zeros(self.num_envs, dtype=bool)
        observation = self._with_others(observation, self._restarting, kept)
        self._restarting = np.logical_or(terminated, truncated)
        return observation, rewards, terminated, truncated, info

    def _with_others(
        self, feedback: dict[str, Any], fresh: np.ndarray, kept: np.ndarray
    ) -> dict[str, Any]:
        """Add the teammates' previous step to ``feedback``: zeros on ``fresh`` rows, and on
        ``kept`` rows (left alone by a masked reset) what they were last shown."""
        if self.observe_others:
            others = {
                "others_observation": self._acted_on[self.teammates],
                "others_prev_action": feedback["prev_action"][self.teammates],
                "others_prev_reward": feedback["prev_reward"][self.teammates],
            }
            for key, values in others.items():
                values[fresh] = 0.0
                if kept.any():
                    values[kept] = self._last_others[key][kept]
            self._last_others = others
            feedback = {**feedback, **others}
        self._acted_on[~kept] = feedback["observation"][~kept]
        return feedback


def make_team_vector_env(
    env_id: str,
    num_teams: int = 1,
    num_agents: int = 2,
    observe_others: bool = True,
    **env_kwargs: Any,
) -> TeamVectorWrapper:
    """``num_teams`` teams of ``num_agents`` agents on the native vector env of ``env_id``.

    Args:
        env_id: an id of :data:`MULTIAGENT_IDS`.
        num_teams: teams played at once (each its own task).
        num_agents: agents per team (rows ``t * num_agents + i``).
        observe_others: show each agent its teammates' previous step.
        env_kwargs: the single-agent id's kwargs (``max_episode_steps``, switch options,
            task arguments, ``render_mode``); ``feedback=False`` is refused.

    Seeding follows the vector env: ``reset(seed=s)`` seeds row ``r`` with ``s + r``.
    """
    check_multiagent_id(env_id)
    num_teams = check_positive("num_teams", num_teams)
    num_agents = check_positive("num_agents", num_agents)
    if num_agents > MAX_AGENTS:
        raise ValueError(f"num_agents must be at most {MAX_AGENTS}, got {num_agents}")
    if not env_kwargs.get("feedback", True):
        raise ValueError("the multi-agent suite shows feedback: feedback=False is not allowed")
    env = gym.make_vec(
        env_id,
        num_envs=num_teams * num_agents,
        vectorization_mode="vector_entry_point",
        **env_kwargs,
    )
    return TeamVectorWrapper(env, num_agents, observe_others)
