"""Team Bayes bounds: the best expected return per agent when ``N`` agents share one task.

In :mod:`nmn_envs.multiagent` the agents of a team play one hidden task and, with
``observe_others``, see each other's previous step. A team that pools what it sees can adapt
faster than one agent alone. The **team bound** is the Bayes-optimal expected meta-episode
return per agent of ``N`` agents who know the task distribution, see each other and act
together (the joint policy may be any function of everything the team has seen). The
**social gain** is the team bound minus the single-agent bound of :mod:`evaluate.exact`.

Each value is exact, derived in its docstring, and attained (as a supremum where marked) by
the team reference agents of :mod:`evaluate.team_references`. :func:`team_bounds` is the
public entry point; ids and variants without a derivation get no team bound.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import Any

import numpy as np

from evaluate import exact
from evaluate.bounds import _check_kwargs, episode_steps
from evaluate.schema import Bound
from nmn_envs.envs.classic.bandit import PAIRED_PROBABILITIES
from nmn_envs.envs.nmn.moving_target import HIT_RADIUS, HIT_REWARD, OFFSET_LIMIT
from nmn_envs.multiagent.team import check_multiagent_id, check_positive

# ------------------------------------------------------------------------------ NMN-Bench1
_R, _A, _H = HIT_RADIUS, OFFSET_LIMIT, HIT_REWARD


def moving_target_first_loss(guess: float) -> float:
    """Expected loss against a hit of one blind guess ``d = e - x`` of the offset.

    ``f(d) = E[(H + |alpha - d|) 1{|alpha - d| >= R}] = H (1 - R/A) + (A^2 + d^2 - R^2) / 2A``
    for ``|d| <= A - R`` (``alpha ~ U[-A, A]``); ``f(0) = 13.95`` with the constants of SPEC 3.1.
    """
    if not abs(guess) <= _A - _R:
        raise ValueError(f"guess must lie in [{_R - _A}, {_A - _R}], got {guess!r}")
    return _H * (1.0 - _R / _A) + (_A**2 + guess**2 - _R**2) / (2.0 * _A)


def team_moving_target_value(max_episode_steps: int, num_agents: int = 2) -> float:
    r"""Team Bayes-optimal expected return per agent of NMN-Bench1 for agents who see each other.

    As for one agent (:func:`evaluate.exact.moving_target_value`) an action is a guess
    ``d = e - x`` of the offset ``alpha ~ U[-A, A]``, a hit keeps hitting, and a policy is
    scored by its expected loss against ``H T`` (``A = 10``, ``R = 1``, ``H = 10``).

    *Lower bound.* On the first step nobody has seen anything, so each agent's guess ``d_i``
    is independent of ``alpha``; its expected loss is ``f(d_i) = H P(miss) + E[|alpha - d_i|;
    miss] >= f(0)`` where, for ``|d| <= A - R`` (a wider guess loses more),

    ``f(d) = H (1 - R/A) + (A^2 + d^2 - R^2) / 2A``, so ``f(0) = 9 + 99/20 = 13.95``.

    Later steps lose at least 0. So no team loses less than ``f(0)`` per agent.

    *Attained.* The optimal joint probes are simultaneous guesses at different distances
    ``d_1 != d_2`` close to 0. A hit of either shows ``|alpha - d_i| < R``: everyone hits with
    ``d_i`` from the second step on. Two misses show ``r_i = |alpha - d_i|``: agent ``i``'s
    candidates are ``d_i - r_i`` and ``d_i + r_i``. Both pairs hold ``alpha``; they cannot both
    be shared (equal pairs have equal midpoints, ``d_1 = d_2``), so their intersection is
    ``alpha`` itself and every agent hits from the second step on: no hedging step is needed.
    The team's loss is ``f(d_1) + f(d_2) -> 2 f(0)`` as the probes close in on 0 (a
    supremum, like the single agent's hedge): the reference agents probe at
    ``+-TEAM_PROBE_SPACING / 2``, which costs ``(spacing / 2)^2 / 2A`` per agent (0.003).
    More agents gain nothing more: each still pays its blind first step.

    So, per agent, ``V_team(T) = H T - 13.95`` for ``T >= 2`` and ``N >= 2``, against
    ``H T - 17.69375`` alone: a social gain of ``3.74375`` per agent, for any ``T >= 2``. With
    ``T = 1`` (or one agent) it is the single-agent value.

    Raises:
        ValueError: unless both arguments are positive integers.
    """
    steps = check_positive("max_episode_steps", max_episode_steps)
    agents = check_positive("num_agents", num_agents)
    if steps == 1 or agents == 1:
        return exact.moving_target_value(steps)
    return _H * steps - moving_target_first_loss(0.0)


TEAM_PROBE_SPACING = 0.5
"""Distance between the two closest first guesses of the Bench1 team reference agents."""


def team_probe_guesses(num_agents: int) -> np.ndarray:
    """The first guesses ``d_i`` of the Bench1 team reference agents, centred on 0."""
    return TEAM_PROBE_SPACING * (np.arange(num_agents) - (num_agents - 1) / 2.0)


# ------------------------------------------------------------------------------ NMN-Bandit
def pooled_outcome_probabilities(
    evidence: np.ndarray, pulls: int, num_agents: int, variant: str
) -> np.ndarray:
    """``P(k of the next num_agents outcomes favour p1)`` for each count of ``evidence``.

    The outcomes are exchangeable, so a count ``k`` has ``C(N, k)`` equally likely orders; one
    order's probability is the product of the posterior predictive probabilities
    (:func:`evaluate.exact.dependent_bandit_mean`) along it. Shape ``(len(evidence), N + 1)``.
    """
    evidence = np.asarray(evidence, dtype=np.float64)
    table = np.empty((evidence.size, num_agents + 1))
    for favouring in range(num_agents + 1):
        probability = np.full(evidence.size, float(comb(num_agents, favouring)))
        for made in range(num_agents):
            seen = evidence + min(made, favouring)
            mean = exact.dependent_bandit_mean(seen, np.float64(pulls + made), variant)
            probability *= mean if made < favouring else 1.0 - mean
        table[:, favouring] = probability
    return table


def team_dependent_bandit_value(horizon: int, num_agents: int, variant: str = "dependent") -> float:
    r"""Team Bayes-optimal expected rewards per agent of a dependent bandit, pulls pooled.

    Every agent pulls one arm per step and sees the others' arms and rewards. In a dependent
    bandit (``p2 = 1 - p1``) every outcome favours ``p1`` with probability ``p1`` whichever arm
    gave it (arm 0 pays, or arm 1 does not): the team's belief about ``p1`` after ``t`` steps
    depends only on the count ``e`` of favouring outcomes among the ``n = N t`` pooled ones,
    and evolves the same way whatever the agents pull. The pulls change the rewards now and
    nothing that is learnt, so each agent's best pull is myopic: arm 0 iff the posterior mean
    ``m(e, n)`` of ``p1`` exceeds 1/2 (all agents pull the same arm). The next step's ``N``
    outcomes add ``k`` to ``e`` with the posterior predictive probability ``P(k | e, n)``
    (:func:`pooled_outcome_probabilities`). Backward induction over ``e``:

    ``V_T = 0``, ``V_t(e) = N max(m, 1 - m) + sum_k P(k | e, N t) V_{t+1}(e + k)``,

    and the bound per agent is ``V_0(0) / N``. With ``N = 1`` it is
    :func:`evaluate.exact.dependent_bandit_value`. ``variant``: ``dependent`` (``p1 ~ U[0,1]``)
    or a paired set (``easy``/``medium``/``hard``).
    """
    horizon = check_positive("horizon", horizon)
    agents = check_positive("num_agents", num_agents)
    if variant != "dependent" and variant not in PAIRED_PROBABILITIES:
        raise ValueError(
            f"the pooled bound is derived for the dependent variants, got {variant!r};"
            f" allowed: {['dependent', *PAIRED_PROBABILITIES]}"
        )
    following = np.zeros(agents * horizon + 1)
    with np.errstate(over="ignore"):  # the paired odds overflow to a posterior of 0 or 1
        return _backward_induction(following, horizon, agents, variant) / agents


def _backward_induction(following: np.ndarray, horizon: int, agents: int, variant: str) -> float:
    for step in range(horizon - 1, -1, -1):
        pulls = agents * step
        evidence = np.arange(pulls + 1, dtype=np.float64)
        mean = exact.dependent_bandit_mean(evidence, np.float64(pulls), variant)
        outcomes = pooled_outcome_probabilities(evidence, pulls, agents, variant)
        later = np.stack([following[k : k + pulls + 1] for k in range(agents + 1)], axis=1)
        following = agents * np.maximum(mean, 1.0 - mean) + np.sum(outcomes * later, axis=1)
    return float(following[0])


# ------------------------------------------------------------------------------ registry
TeamBounds = Callable[[int, int, dict[str, Any]], "tuple[float, float, str] | None"]
"""``(team bound per agent, single-agent bound, how)`` or ``None`` where nothing is derived."""


def _moving_target(steps: int, agents: int, env_kwargs: dict[str, Any]) -> tuple[float, float, str]:
    _check_kwargs("NMN-Bench1-v0", env_kwargs, switch_probability=0.0)
    return (
        team_moving_target_value(steps, agents),
        exact.moving_target_value(steps),
        "simultaneous probes at different distances near x; two misses intersect (supremum)",
    )


def _bandit(steps: int, agents: int, env_kwargs: dict[str, Any]) -> tuple[float, float, str] | None:
    _check_kwargs("NMN-Bandit-v0", env_kwargs, ("variant", "horizon"), swap_steps=())
    variant = env_kwargs.get("variant", "independent")
    if variant == "independent":
        return None  # four Beta posteriors with pooled counts: not derived here
    return (
        team_dependent_bandit_value(steps, agents, variant),
        exact.bandit_value(steps, variant),
        "pooled pulls, myopic rule on the posterior of p1 (dynamic programming)",
    )


TEAM_BOUNDS: dict[str, TeamBounds] = {
    "NMN-Bench1-v0": _moving_target,
    "NMN-Bandit-v0": _bandit,
}


def team_bounds(env_id: str, num_agents: int, **env_kwargs: Any) -> list[Bound]:
    """The team bound per agent and the social gain of ``env_id`` for ``num_agents`` agents.

    Returns ``[Bound("team_bayes"), Bound("social_gain")]`` (both exact) where a derivation
    is derived for the id, else ``[]``. The agents are assumed to see each other
    (``observe_others=True``); without it the single-agent bound holds.

    Raises:
        ValueError: for kwargs under which the derivation does not hold (as
            :func:`evaluate.bounds.bounds`).
    """
    check_multiagent_id(env_id)
    agents = check_positive("num_agents", num_agents)
    derive = TEAM_BOUNDS.get(env_id)
    if derive is None:
        return []
    derived = derive(episode_steps(env_id, env_kwargs), agents, env_kwargs)
    if derived is None:
        return []
    team, single, how = derived
    return [
        Bound(name="team_bayes", kind="exact", value=team, description=f"{agents} agents: {how}"),
        Bound(
            name="social_gain",
            kind="exact",
            value=team - single,
            description="team bound per agent minus the single-agent bound",
        ),
    ]
