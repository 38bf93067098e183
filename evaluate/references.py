"""Reference agents, usable by name: ``random``, ``oracle`` (told the task), ``bayes``, ``memoryless``.

``bayes`` is the Bayes-optimal policy where it is exact (NMN-Bench1 and the classic tasks);
on NMN-Bench2 and NMN-Bench3 it is a belief-based planner, a reference and not a proven
optimum (the bounds of :mod:`evaluate.bounds` say which). ``reference(name, env_id, **env_kwargs)`` builds one.

The ``bayes`` agents act from what any agent sees (observation, previous reward) and their
own memory of what they played; only ``oracle`` reads the task.

``memoryless`` is the best policy that ignores all feedback (previous action, previous reward,
trial marks) and keeps no memory: it acts on the current base observation only. It is the 0
of the adaptation score ``(agent - memoryless) / (bayes - memoryless)``: what an agent earns
beyond it, it earns by adapting to the task.

Where neither can be scripted (the HalfCheetah tasks), ``oracle`` and ``memoryless`` are trained
models (:mod:`evaluate.trained_references`): PPO told the task, and PPO on the bare observation.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv

from evaluate.policy import Observation, Policy
from evaluate.exact import (
    MOVING_TARGET_HEDGE_MARGIN,
    dependent_bandit_mean,
    independent_bandit_policy,
    moving_target_probe,
)
from evaluate.oracles import ORACLES, _heading_action, wind_heading
from evaluate.rollout import episode_length
from evaluate.trained_references import TRAINED_REFERENCES, trained_reference
from nmn_envs.envs.nmn import arena
from nmn_envs.envs.nmn.moving_target import ACTION_SCALE, HIT_RADIUS, MAX_MISS_COST
from nmn_envs.envs.nmn.wind_navigation import WIND_SPREAD

REFERENCE_NAMES = ("random", "oracle", "bayes", "memoryless")
RANDOM_SEED = 20_200_527
MEMORYLESS_SEED = 20_200_528


class RandomPolicy(Policy):
    """Uniform random actions from a seeded generator."""

    name = "random"
    description = "uniform random actions"

    def __init__(self, seed: int = RANDOM_SEED) -> None:
        self.rng = np.random.default_rng(seed)
        self.space: spaces.Space | None = None

    def reset(self, env: VectorEnv) -> None:
        self.space = env.single_action_space

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        n = len(episode_start)
        space = self.space
        if isinstance(space, spaces.Discrete):
            return self.rng.integers(space.start, space.start + space.n, size=n)
        if isinstance(space, spaces.Box):
            return self.rng.uniform(space.low, space.high, size=(n, *space.shape))
        raise ValueError(f"the random agent supports Box and Discrete actions, got {space}")


class OraclePolicy(Policy):
    """Told the task: the scripted oracle of :mod:`evaluate.oracles` (a ceiling, not Bayes)."""

    name = "oracle"
    description = "told the task (ceiling)"

    def __init__(self, env_id: str) -> None:
        self.oracle = ORACLES[env_id]
        self.env: VectorEnv | None = None
        self.table = np.empty(0)
        self.tasks: list[Any] = []

    def reset(self, env: VectorEnv) -> None:
        self.env = env
        self.table = np.empty(0)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        table = self.env.unwrapped.core.task_table
        if not np.array_equal(table, self.table):  # read the tasks again only when they change
            self.table = table.copy()
            self.tasks = self.env.unwrapped.tasks
        return self.oracle(observation["observation"], self.tasks)


class MovingTargetBayes(Policy):
    """NMN-Bench1: the three-phase Bayes-optimal policy (see :func:`evaluate.exact.moving_target_value`).

    The offset is uniform on an interval, at first ``[-A, A]`` (``A`` the env's
    ``offset_limit``). Probe its centre plus :func:`~evaluate.exact.moving_target_probe`
    (``x + 7.25`` for the default offsets; the centre with one step left); on a hit, keep that
    offset. On a miss of ``r``, the candidates are ``probe - r`` and ``probe + r``: if one lies
    outside the interval the other is the offset; else play the lower one, hedged just inside
    the hit radius towards the upper one, and the reward tells which it is. A miss of 20 or
    more (the cap) says only that the offset lies 20 or more below the probe: search that
    interval the same way. If the offset in use ever misses, the task switched
    (``switch_probability``): the offset is again uniform on ``[-A, A]``, and that miss is read
    as a probe of it. Exact without switches; with them, a reference.
    """

    name = "bayes"
    description = "Bayes-optimal (exact)"
    PROBE, READ_PROBE, READ_HEDGE, EXPLOIT = range(4)

    def reset(self, env: VectorEnv) -> None:
        n = env.num_envs
        self.limit = env.unwrapped.core.offset_limit
        self.horizon = episode_length(env)
        self.phase = np.full(n, self.PROBE)
        self.step = np.zeros(n, dtype=np.int64)
        self.low, self.high = np.full(n, -self.limit), np.full(n, self.limit)
        self.offset = np.zeros(n)
        self.lower = np.zeros(n)
        self.upper = np.zeros(n)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        x = observation["observation"][:, 0].astype(np.float64)
        reward = observation["prev_reward"][:, 0].astype(np.float64)
        hit = reward > 0.0
        step = np.where(episode_start, 0, self.step)
        phase = np.where(episode_start, self.PROBE, self.phase)
        switched = (phase == self.EXPLOIT) & ~hit
        whole = episode_start | switched
        self.low, self.high = np.where(whole, -self.limit, self.low), np.where(whole, self.limit, self.high)
        phase[switched] = self.READ_PROBE  # the exploited offset was a probe of the new one

        read_hedge = phase == self.READ_HEDGE
        self.offset = np.where(read_hedge, np.where(hit, self.lower, self.upper), self.offset)
        phase[read_hedge] = self.EXPLOIT

        read_probe = phase == self.READ_PROBE
        capped = read_probe & ~hit & (reward <= -MAX_MISS_COST)
        below = self.offset - MAX_MISS_COST > self.low  # the side of the probe a capped miss lies on
        self.high = np.where(capped & below, self.offset - MAX_MISS_COST, self.high)
        self.low = np.where(capped & ~below, self.offset + MAX_MISS_COST, self.low)
        phase[capped] = self.PROBE
        distance = -reward
        lower, upper = self.offset - distance, self.offset + distance
        lower_fits, upper_fits = lower >= self.low, upper <= self.high
        read = read_probe & ~capped
        both = read & ~hit & lower_fits & upper_fits
        self.offset = np.where(read & ~hit & ~both, np.where(lower_fits, lower, upper), self.offset)
        phase[read & ~both] = self.EXPLOIT
        self.lower = np.where(both, lower, self.lower)
        self.upper = np.where(both, upper, self.upper)
        phase[both] = self.READ_HEDGE

        probing = np.flatnonzero(phase == self.PROBE)
        centre, half = 0.5 * (self.low + self.high), 0.5 * (self.high - self.low)
        for row in probing:
            left = max(int(self.horizon - step[row]), 1)
            self.offset[row] = centre[row] + moving_target_probe(left, float(half[row]))
        phase[probing] = self.READ_PROBE
        guess = np.where(both, lower + HIT_RADIUS - MOVING_TARGET_HEDGE_MARGIN, self.offset)
        self.phase = phase
        self.step = step + 1
        return ((x + guess) / ACTION_SCALE)[:, None]


class WindNavigationPlanner(Policy):
    """NMN-Bench2: infer the wind from its own displacements, then steer as the oracle would.

    Each move shows a displacement (from the change of ``g - p``); minus the agent's own move,
    it is a wind sample ``0.25 (cos w, sin w)`` with ``w ~ U[W - pi/4, W + pi/4]``. The
    posterior of ``W`` under its uniform prior is uniform on the intersection of the arcs
    ``[w_i - pi/4, w_i + pi/4]``; the planner steers for the arc's midpoint (no wind is
    assumed before the first sample). At the env's ``wind_switch_steps`` it knows the wind is
    drawn again and starts over. A reference, not a proven optimum.
    """

    name = "bayes"
    description = "belief planner (reference, not exact)"

    def reset(self, env: VectorEnv) -> None:
        n = env.num_envs
        self.switch_steps = env.unwrapped.core.wind_switch_steps
        self.step = np.zeros(n, dtype=np.int64)
        self.anchor = np.full(n, np.nan)
        self.low = np.full(n, -np.inf)
        self.high = np.full(n, np.inf)
        self.previous = np.zeros((n, 2))
        self.heading = np.zeros((n, 2))

    @property
    def believed_wind(self) -> np.ndarray:
        """The wind direction steered against, per row (``NaN`` before the first wind sample)."""
        wind = np.full(self.anchor.shape, np.nan)
        known = ~np.isnan(self.anchor)
        wind[known] = self.anchor[known] + 0.5 * (self.low[known] + self.high[known])
        return wind

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        relative = observation["observation"].astype(np.float64)
        reward = observation["prev_reward"][:, 0]
        self.anchor[episode_start] = np.nan
        self.low[episode_start], self.high[episode_start] = -np.inf, np.inf
        moved = ~episode_start & (reward < 0.0)
        if np.any(moved):
            displacement = arena.wrap(self.previous[moved] - relative[moved])
            gust = displacement - arena.STEP_LENGTH * self.heading[moved]
            angle = np.arctan2(gust[:, 1], gust[:, 0])
            anchor = np.where(np.isnan(self.anchor[moved]), angle, self.anchor[moved])
            self.anchor[moved] = anchor
            offset = np.angle(np.exp(1j * (angle - anchor)))
            self.low[moved] = np.maximum(self.low[moved], offset - WIND_SPREAD)
            self.high[moved] = np.minimum(self.high[moved], offset + WIND_SPREAD)
        self.step = np.where(episode_start, 0, self.step)
        redrawn = np.isin(self.step, self.switch_steps)  # the wind is drawn again before this move
        self.anchor[redrawn] = np.nan
        self.low[redrawn], self.high[redrawn] = -np.inf, np.inf
        self.step += 1
        known = ~np.isnan(self.anchor)
        wind = np.where(known, np.nan_to_num(self.believed_wind), 0.0)
        still_air = _heading_action(arena.wrap(relative))
        actions = np.where(known[:, None], wind_heading(relative, wind), still_air)
        self.previous = relative
        self.heading = arena.heading(actions)
        return actions


class TwoTargetsBayes(Policy):
    """NMN-Bench3: go to the nearer target; its reward says which target is good; then exploit.

    Which target was reached is the one within the reach radius at the step the reward came
    (the closer of the two). At the env's ``swap_steps`` it knows good and bad swap. A
    reference: only the first visit differs from the oracle.
    """

    name = "bayes"
    description = "visit one target, then exploit (reference, not exact)"

    def reset(self, env: VectorEnv) -> None:
        n = env.num_envs
        self.swap_steps = env.unwrapped.core.swap_steps
        self.step = np.zeros(n, dtype=np.int64)
        self.good = np.full(n, -1)
        self.first = np.full(n, -1)
        self.previous = np.zeros((n, 4))

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        relative = observation["observation"].astype(np.float64)
        reward = observation["prev_reward"][:, 0]
        self.good[episode_start] = -1
        distances = np.stack(
            [
                np.linalg.norm(self.previous[:, :2], axis=1),
                np.linalg.norm(self.previous[:, 2:], axis=1),
            ],
            1,
        )
        reached = np.argmin(distances, axis=1)
        scored = ~episode_start & (reward != 0.0) & (self.good < 0)
        self.good[scored] = np.where(reward[scored] > 0, reached[scored], 1 - reached[scored])
        self.step = np.where(episode_start, 0, self.step)
        swapped = np.isin(self.step, self.swap_steps) & (self.good >= 0)  # good and bad swap now
        self.good[swapped] = 1 - self.good[swapped]
        self.step += 1
        torus = [arena.wrap(relative[:, :2]), arena.wrap(relative[:, 2:])]
        nearer = np.where(np.linalg.norm(torus[1], axis=1) < np.linalg.norm(torus[0], axis=1), 1, 0)
        self.first = np.where(episode_start, nearer, self.first)
        goal = np.where(self.good >= 0, self.good, self.first)
        direction = np.where(goal[:, None] == 0, torus[0], torus[1])
        self.previous = relative
        return _heading_action(direction)


class BanditBayes(Policy):
    """NMN-Bandit: the Bayes-optimal policy of :mod:`evaluate.exact` for the env's variant.

    Counts each arm's successes and failures. Independent arms: the backward-induction table
    of :func:`evaluate.exact.independent_bandit_policy`; dependent variants: the myopic rule
    on the posterior mean of ``p1`` (:func:`evaluate.exact.dependent_bandit_value` shows why
    it is optimal).
    """

    name = "bayes"
    description = "Bayes-optimal (exact)"

    def reset(self, env: VectorEnv) -> None:
        self.variant = env.unwrapped.core.variant
        self.horizon = episode_length(env)
        self.counts = np.zeros((env.num_envs, 2, 2), dtype=np.int64)  # arm, (success, failure)
        self.last = np.zeros(env.num_envs, dtype=np.int64)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        reward = observation["prev_reward"][:, 0]
        self.counts[episode_start] = 0
        rows = np.flatnonzero(~episode_start)
        self.counts[rows, self.last[rows], np.where(reward[rows] > 0.5, 0, 1)] += 1
        successes, failures = self.counts[:, :, 0], self.counts[:, :, 1]
        pulls = self.counts.sum(axis=(1, 2))
        if self.variant == "independent":
            choices = independent_bandit_policy(self.horizon)[1]
            made = np.minimum(pulls, self.horizon - 1)
            actions = np.array(
                [choices[t][s[0], f[0], s[1]] for t, s, f in zip(made, successes, failures)],
                dtype=np.int64,
            )
        else:
            evidence = successes[:, 0] + failures[:, 1]
            mean = dependent_bandit_mean(
                evidence.astype(np.float64), pulls.astype(np.float64), self.variant
            )
            actions = (mean < 0.5).astype(np.int64)
        self.last = actions
        return actions


class TwoStepBayes(Policy):
    """NMN-TwoStep: the belief filter and the myopic choice, Bayes-optimal here.

    Keeps ``b = P(S2 is good)``: after each trial, Bayes' rule with the landing state and the
    reward, then the swap. In S1 it takes the action whose common transition leads to the
    more likely good state (see :func:`evaluate.exact.two_step_value` for why myopic is optimal).
    """

    name = "bayes"
    description = "Bayes-optimal (exact)"

    def reset(self, env: VectorEnv) -> None:
        core = env.unwrapped.core
        self.common = core.common_probability
        self.reward = core.reward_probability
        self.swap = core.swap_probability
        self.belief = np.full(env.num_envs, 0.5)
        self.landed = np.full(env.num_envs, -1)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        state = np.argmax(observation["observation"], axis=1)
        reward = observation["prev_reward"][:, 0]
        self.belief[episode_start] = 0.5
        self.landed[episode_start] = -1
        finished = (state == 0) & (self.landed >= 0)
        agrees = (self.landed == 1) == (reward > 0.5)  # the outcome favours S2 being good
        favour_s2 = np.where(agrees, self.reward, 1.0 - self.reward)
        posterior = (
            self.belief
            * favour_s2
            / (self.belief * favour_s2 + (1 - self.belief) * (1 - favour_s2))
        )
        swapped = (1 - self.swap) * posterior + self.swap * (1 - posterior)
        self.belief = np.where(finished, swapped, self.belief)
        self.landed = np.where(state == 0, -1, state)
        return np.where((state == 0) & (self.belief < 0.5), 1, 0).astype(np.int64)


class HarlowBayes(Policy):
    """NMN-Harlow: pick the left object first; then always the object its reward points to."""

    name = "bayes"
    description = "Bayes-optimal (exact)"

    def reset(self, env: VectorEnv) -> None:
        width = env.single_observation_space["observation"].shape[0] // 2
        self.width = width
        self.remembered = np.zeros((env.num_envs, width))
        self.rewarded = np.zeros(env.num_envs, dtype=bool)
        self.known = np.zeros(env.num_envs, dtype=bool)

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        objects = (
            observation["observation"].reshape(len(episode_start), 2, self.width).astype(np.float64)
        )
        reward = observation["prev_reward"][:, 0]
        learning = ~episode_start & ~self.known
        self.rewarded = np.where(learning, reward > 0, self.rewarded)
        self.known = np.where(episode_start, False, self.known | learning)
        distance = np.linalg.norm(objects - self.remembered[:, None, :], axis=2)
        remembered_side = np.argmin(distance, axis=1)
        actions = np.where(
            self.known, np.where(self.rewarded, remembered_side, 1 - remembered_side), 0
        )
        first = ~self.known
        self.remembered[first] = objects[first, 0]
        return actions.astype(np.int64)


BAYES: dict[str, Callable[[], Policy]] = {
    "NMN-Bench1-v0": MovingTargetBayes,
    "NMN-Bench2-v0": WindNavigationPlanner,
    "NMN-Bench3-v0": TwoTargetsBayes,
    "NMN-Bandit-v0": BanditBayes,
    "NMN-TwoStep-v0": TwoStepBayes,
    "NMN-Harlow-v0": HarlowBayes,
}


class MemorylessPolicy(Policy):
    """Acts on the current base observation alone, through :meth:`action` (no feedback, no memory)."""

    name = "memoryless"

    def reset(self, env: VectorEnv) -> None:
        pass

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        return self.action(observation["observation"].astype(np.float64))

    @abstractmethod
    def action(self, base: np.ndarray) -> np.ndarray:
        """The actions for a batch of base observations."""


class MovingTargetMemoryless(MemorylessPolicy):
    """NMN-Bench1: play ``e = x`` (``a = x / 20``), the prior mean offset 0.

    Without feedback the played offset ``c = e - x`` is a function of ``x`` alone, and the
    reward of a step depends on ``alpha - c`` only: a hit (``+10``) when ``|alpha - c| < 1``,
    else ``-|alpha - c|`` (the miss cap of 20 never binds: ``|alpha - c| <= A <= 15`` for
    ``c = 0``). For every ``|c| <= A - 1`` the hit probability under ``alpha ~ U[-A, A]`` is
    ``2/2A``, and the expected miss cost is smallest at the prior median ``c = 0``; so ``c = 0``
    maximises the expected reward of every step, whatever ``x`` is, for any ``offset_limit``
    ``A``. Its value per step is ``10 * 2/20 - (1/20) * 2 * (10^2 - 1) / 2 = -3.95`` for
    ``A = 10`` (:func:`evaluate.exact.moving_target_memoryless_value`). With switches the
    offset's law at a step depends on the hits before it, so there it is a reference.
    """

    description = "e = x: the prior mean offset, no feedback (adaptation score 0)"

    def action(self, base: np.ndarray) -> np.ndarray:
        return base[:, :1] / ACTION_SCALE


class WindNavigationMemoryless(MemorylessPolicy):
    """NMN-Bench2: head straight for the target along the base observation ``g - p``, wind ignored.

    Without feedback nothing tells the wind: its direction ``W`` is uniform on the prior, so the
    expected gust of a step is zero and the greedy heading is the oracle's with no wind. It
    follows the plain difference ``g - p``, not the torus-shortest vector: the latter flips
    where the target lies half the torus away, and gusts as long as the agent's own step then
    carry it to and fro across that seam; the plain difference has no seam (the target lies in
    ``[-1, 1]^2``, inside the arena) and scores higher. A reference (like the planner), not a
    proven optimum.
    """

    description = "straight at the target, wind ignored (adaptation score 0)"

    def action(self, base: np.ndarray) -> np.ndarray:
        return _heading_action(base[:, :2])


class TwoTargetsMemoryless(MemorylessPolicy):
    """NMN-Bench3: head for the nearer target (on the torus), every time.

    Without feedback each target is the good one with probability 1/2 at every visit (the
    fair coin), so every visit is worth ``(100 - 50) / 2 = 25`` on average whichever target it
    is, and the nearer one is reached soonest: the most visits per step.
    """

    description = "the nearer target, every visit (adaptation score 0)"

    def action(self, base: np.ndarray) -> np.ndarray:
        first, second = arena.wrap(base[:, :2]), arena.wrap(base[:, 2:4])
        nearer = np.linalg.norm(second, axis=1) < np.linalg.norm(first, axis=1)
        return _heading_action(np.where(nearer[:, None], second, first))


class Navigation2DMemoryless(MemorylessPolicy):
    """NMN-Navigation2D: stay at the start (action 0), the centre of the goal distribution.

    The position follows the agent's own actions only, so a feedback-free agent plays a fixed
    path; each step costs the expected distance to the goal, ``E|p - g|`` with
    ``g ~ U[-w, w]^2`` (``w = goal_half_width``, 0.5 by default), which is convex in ``p`` and
    symmetric about the origin, so the origin (where every trial starts) is the best place for
    every step, for any ``w``.
    """

    description = "stays at the start, the centre of the goal distribution (adaptation score 0)"

    def action(self, base: np.ndarray) -> np.ndarray:
        return np.zeros((len(base), 2))


class ChanceMemoryless(RandomPolicy):
    """NMN-Bandit, NMN-TwoStep, NMN-Harlow: chance, the random agent's own seeded actions.

    Every feedback-free policy has the chance value here, by the symmetry of the task prior:
    the bandit's arms are exchangeable (``p1, p2`` i.i.d., or ``p1 <-> 1 - p1`` in the dependent
    variants), so every pull of either arm is worth 1/2; in the two-step task the good state is
    a fair coin at every trial (the swap keeps 1/2), whatever state the first action reaches;
    Harlow's rewarded object is a coin flip unrelated to the objects' features. Uniform random
    actions are such a policy; they are drawn with a seed of their own, so that their returns
    are not the random agent's (the board keeps one row per set of returns), though their value
    is: the adaptation score is the normalised score up to Monte Carlo error.
    """

    name = "memoryless"
    description = "chance: every feedback-free policy scores it here (adaptation score 0)"

    def __init__(self, seed: int = MEMORYLESS_SEED) -> None:
        super().__init__(seed)


MEMORYLESS: dict[str, Callable[[], Policy]] = {
    "NMN-Bench1-v0": MovingTargetMemoryless,
    "NMN-Bench2-v0": WindNavigationMemoryless,
    "NMN-Bench3-v0": TwoTargetsMemoryless,
    "NMN-Bandit-v0": ChanceMemoryless,
    "NMN-TwoStep-v0": ChanceMemoryless,
    "NMN-Harlow-v0": ChanceMemoryless,
    "NMN-Navigation2D-v0": Navigation2DMemoryless,
}


def reference(name: str, env_id: str, **env_kwargs: Any) -> Policy:
    """The reference agent ``name`` (one of :data:`REFERENCE_NAMES`) for ``env_id``.

    Raises:
        ValueError: for an unknown name, or one the environment has no agent for.
    """
    if name == "random":
        return RandomPolicy()
    if name in TRAINED_REFERENCES.get(env_id, ()):
        return trained_reference(name, env_id)
    if name == "oracle":
        if env_id not in ORACLES:
            raise ValueError(f"no oracle for {env_id}; oracles exist for {_envs_with('oracle', ORACLES)}")
        return OraclePolicy(env_id)
    if name == "bayes":
        if env_id not in BAYES:
            raise ValueError(f"no bayes agent for {env_id}; bayes agents exist for {sorted(BAYES)}")
        return BAYES[env_id]()
    if name == "memoryless":
        if env_id not in MEMORYLESS:
            raise ValueError(
                f"no memoryless agent for {env_id}; memoryless agents exist for {_envs_with('memoryless', MEMORYLESS)}"
            )
        return MEMORYLESS[env_id]()
    raise ValueError(f"unknown reference agent {name!r}; reference agents: {list(REFERENCE_NAMES)}")


def _envs_with(name: str, scripted: dict[str, Any]) -> list[str]:
    """The environments that have the reference agent ``name``, scripted or trained."""
    return sorted({*scripted, *(env_id for env_id, names in TRAINED_REFERENCES.items() if name in names)})
