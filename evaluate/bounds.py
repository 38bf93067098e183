"""Bounds: the expected meta-episode returns an environment is scored against.

``bounds(env_id, **env_kwargs)`` returns, for the environment exactly as those kwargs build it
(the meta-episode length included):

* ``bayes``: the Bayes-optimal expected return. ``kind="exact"`` where it is derived in
  :mod:`evaluate.exact` (NMN-Bench1, every bandit variant, two-step, Harlow); on NMN-Bench2
  and NMN-Bench3, ``kind="reference"``: the Monte Carlo mean of the belief planner of
  :mod:`evaluate.references` on the evaluation task set, with its standard error.
* ``oracle``: an agent told the task (``kind="ceiling"``): exact where it is obvious, else
  the Monte Carlo mean of the scripted oracle or, on the HalfCheetah tasks, of the trained one
  (:mod:`evaluate.trained_references`: a ceiling estimate, its model named in the bound's
  description).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from evaluate import exact
from evaluate.schema import Bound
from evaluate.task_sets import check_env_kwargs
from nmn_envs import check_env_id
from nmn_envs.envs.classic.bandit import PAIRED_PROBABILITIES
from nmn_envs.envs.classic.harlow import REWARD as HARLOW_REWARD
from nmn_envs.envs.nmn.moving_target import HIT_REWARD, OFFSET_LIMIT
from nmn_envs.envs.classic.two_step import COMMON_PROBABILITY, REWARD_PROBABILITY

ExactBounds = Callable[[int, dict[str, Any]], list[Bound]]


def episode_steps(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """The meta-episode length the kwargs give (the registered default unless overridden)."""
    steps = env_kwargs.get("max_episode_steps", gym.spec(env_id).max_episode_steps)
    if steps is None:
        raise ValueError(f"{env_id} has no meta-episode length: pass max_episode_steps")
    return int(steps)


def _check_kwargs(
    env_id: str, env_kwargs: dict[str, Any], free: tuple[str, ...] = (), **defaults: Any
) -> None:
    """Refuse kwargs under which an exact derivation does not hold.

    ``free`` kwargs (and the meta-episode length) may take any value; those in ``defaults``
    only their default; any other kwarg is refused.
    """
    allowed = {"max_episode_steps", "render_mode", *free}
    for key, value in env_kwargs.items():
        if key in allowed:
            continue
        if key in defaults and _same(value, defaults[key]):
            continue
        raise ValueError(
            f"the exact bound of {env_id} is derived for {key}={defaults.get(key, 'its default')!r}, "
            f"got {key}={value!r} (free here: {sorted(allowed)})"
        )


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple)) and tuple(value) == default
    return value == default


def _exact_pair(
    bayes: float, bayes_description: str, oracle: float, oracle_description: str
) -> list[Bound]:
    return [
        Bound(name="bayes", kind="exact", value=bayes, description=bayes_description),
        Bound(name="oracle", kind="ceiling", value=oracle, description=oracle_description),
    ]


def _moving_target(steps: int, env_kwargs: dict[str, Any]) -> list[Bound]:
    _check_kwargs("NMN-Bench1-v0", env_kwargs, ("offset_limit", "switch_probability"))
    oracle = Bound(
        name="oracle", kind="ceiling", value=HIT_REWARD * steps, description="told the offset: a hit at every step"
    )
    if env_kwargs.get("switch_probability", 0.0) > 0.0:
        # No exact value with switches: after a hit the belief is "the known offset a with
        # probability 1 - p, else uniform", and the best next action (aim at a, or hedge so
        # that a miss splits the new offset's two candidates better near the support's edges)
        # depends on a and on the steps left: a dynamic programme over a continuous state. The
        # bayes reference agent (a belief planner reading a stale offset's miss as a probe of
        # the new one) stands in, as a reference.
        return [oracle]
    limit = env_kwargs.get("offset_limit", OFFSET_LIMIT)
    probe = exact.moving_target_probe(steps, limit)
    return [
        Bound(
            name="bayes",
            kind="exact",
            value=exact.moving_target_value(steps, limit),
            description=f"three-phase Bayes-optimal policy (probe at x + {probe:.4g}; derived in evaluate.exact)",
        ),
        oracle,
    ]


def _bandit(steps: int, env_kwargs: dict[str, Any]) -> list[Bound]:
    _check_kwargs("NMN-Bandit-v0", env_kwargs, ("variant", "horizon"), swap_steps=())
    variant = env_kwargs.get("variant", "independent")
    if variant == "independent":
        best_arm = 2.0 / 3.0  # E[max(p1, p2)] for independent uniforms
        how = "dynamic programming over the arms' Beta posteriors"
    elif variant == "dependent":
        best_arm = 0.75  # E[max(p, 1 - p)] for a uniform p
        how = "myopic rule on the posterior of p1 (optimal: the choice does not change what is learnt)"
    else:
        best_arm = PAIRED_PROBABILITIES[variant]
        how = "myopic rule on the two-point posterior of p1"
    return _exact_pair(
        exact.bandit_value(steps, variant), how, best_arm * steps, "told the better arm"
    )


def _two_step(steps: int, env_kwargs: dict[str, Any]) -> list[Bound]:
    _check_kwargs(
        "NMN-TwoStep-v0",
        env_kwargs,
        ("common_probability", "reward_probability", "swap_probability"),
    )
    parameters = {
        key.removesuffix("_probability"): value
        for key, value in env_kwargs.items()
        if key.endswith("probability")
    }
    trials = steps // 2
    common = parameters.get("common", COMMON_PROBABILITY)
    reward = parameters.get("reward", REWARD_PROBABILITY)
    per_trial = common * reward + (1 - common) * (1 - reward)
    return _exact_pair(
        exact.two_step_value(trials, **parameters),
        f"belief filter and myopic choice, value iteration over the belief ({trials} trials)",
        per_trial * trials,
        "told the good state at every trial",
    )


def _harlow(steps: int, env_kwargs: dict[str, Any]) -> list[Bound]:
    _check_kwargs("NMN-Harlow-v0", env_kwargs, ("pool",))
    return _exact_pair(
        exact.harlow_value(steps),
        "a blind first choice, then the rewarded object",
        HARLOW_REWARD * steps,
        "told the rewarded object",
    )


EXACT_BOUNDS: dict[str, ExactBounds] = {
    "NMN-Bench1-v0": _moving_target,
    "NMN-Bandit-v0": _bandit,
    "NMN-TwoStep-v0": _two_step,
    "NMN-Harlow-v0": _harlow,
}


def exact_bounds(env_id: str, **env_kwargs: Any) -> list[Bound]:
    """The bounds of ``env_id`` that need no simulation (empty where none is derived)."""
    check_env_id(env_id)
    check_env_kwargs(env_id, env_kwargs)
    derive = EXACT_BOUNDS.get(env_id)
    return [] if derive is None else derive(episode_steps(env_id, env_kwargs), env_kwargs)


def reference_bound(name: str, returns: np.ndarray, description: str | None = None) -> Bound:
    """A bound estimated by the mean return of the reference agent ``name``, with its standard error.

    ``oracle`` gives a ``"ceiling"``; ``bayes`` (a belief planner where no exact value is
    derived) gives a ``"reference"``. ``description`` replaces the kind's own words (a trained
    reference's, :func:`evaluate.trained_references.bound_description`).
    """
    returns = np.asarray(returns, dtype=np.float64)
    error = float(returns.std(ddof=1) / np.sqrt(returns.size)) if returns.size > 1 else None
    kind, default_description = REFERENCE_KINDS[name]
    return Bound(
        name=name,
        kind=kind,
        value=float(returns.mean()),
        standard_error=error,
        description=description or default_description,
    )


REFERENCE_KINDS: dict[str, tuple[str, str]] = {
    "oracle": (
        "ceiling",
        (
            "scripted oracle told the task, greedy one-step steering (Monte Carlo on the evaluation"
            " set; on NMN-Bench2 the belief planner can match it, so it is not a strict ceiling)"
        ),
    ),
    "bayes": (
        "reference",
        "belief planner, not a proven optimum (Monte Carlo on the evaluation set)",
    ),
}


def bounds(env_id: str, n_tasks: int = 200, **env_kwargs: Any) -> list[Bound]:
    """The Bayes-optimal bound and the oracle ceiling of ``env_id`` under ``env_kwargs``.

    Exact values come from :mod:`evaluate.exact`, with their derivations. Where none is
    derived, the ``bayes`` reference agent and the oracle play the first ``n_tasks`` tasks of
    the evaluation set and their means are returned with standard errors. An environment with
    no ``bayes`` agent (NMN-Navigation2D, the HalfCheetah tasks) has its oracle ceiling alone.

    Raises:
        gymnasium.error.NameNotFound: for an unknown id.
        ValueError: for kwargs under which the exact derivation does not hold.
    """
    found = exact_bounds(env_id, **env_kwargs)
    if not missing_bounds(found):
        return found
    from evaluate.references import reference
    from evaluate.rollout import play
    from evaluate.task_sets import task_set
    from evaluate.trained_references import bound_description

    tasks, seeds = task_set(env_id, **env_kwargs).head(n_tasks)
    for name in missing_bounds(found):
        try:
            policy = reference(name, env_id, **env_kwargs)
        except ValueError:  # the environment has no such agent (the kwargs are checked above)
            continue
        returns = play(policy, env_id, tasks, seeds, env_kwargs).returns
        found.append(reference_bound(name, returns, bound_description(policy)))
    return found


def missing_bounds(found: list[Bound]) -> list[str]:
    """Which of ``bayes`` and ``oracle`` ``found`` lacks."""
    names = {bound.name for bound in found}
    return [name for name in REFERENCE_KINDS if name not in names]
