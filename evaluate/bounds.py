"""Bounds: the expected meta-episode returns an environment is scored against.

``bounds(env_id, **env_kwargs)`` returns, for the environment exactly as those kwargs build it
(the meta-episode length included):

* ``bayes``: the Bayes-optimal expected return. ``kind="exact"`` where it is derived in
  :mod:`evaluate.exact` (NMN-Bench1, every bandit variant, two-step, Harlow); on NMN-Bench2
  and NMN-Bench3, ``kind="reference"``: the Monte Carlo mean of the belief planner of
  :mod:`evaluate.references` on the evaluation task set, with its standard error.
* ``oracle``: an agent told the task (``kind="ceiling"``): exact where it is obvious, else
  the Monte Carlo mean of the scripted oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from evaluate import exact
from evaluate.schema import Bound
from evaluate.task_sets import check_env_id
from nmn_envs.moving_target import HIT_REWARD

ExactBounds = Callable[[int, dict[str, Any]], list[Bound]]


def episode_steps(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """The meta-episode length the kwargs give (the registered default unless overridden)."""
    steps = env_kwargs.get("max_episode_steps", gym.spec(env_id).max_episode_steps)
    if steps is None:
        raise ValueError(f"{env_id} has no meta-episode length: pass max_episode_steps")
    return int(steps)


def _check_default_dynamics(env_id: str, env_kwargs: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Refuse kwargs under which an exact derivation does not hold (non-default dynamics)."""
    free = {"max_episode_steps", "render_mode"}
    changed = {key: value for key, value in env_kwargs.items() if key not in free and defaults.get(key, key) != value}
    if changed:
        raise ValueError(
            f"the exact bound of {env_id} is derived for the default dynamics; {changed} "
            f"changes them (allowed: max_episode_steps and the defaults {defaults})"
        )


def _moving_target(steps: int, env_kwargs: dict[str, Any]) -> list[Bound]:
    _check_default_dynamics("NMN-Bench1-v0", env_kwargs, {"switch_probability": 0.0})
    return [
        Bound(
            name="bayes",
            kind="exact",
            value=exact.moving_target_value(steps),
            description="three-phase Bayes-optimal policy, closed form (probe at x + 7.25)",
        ),
        Bound(
            name="oracle",
            kind="ceiling",
            value=HIT_REWARD * steps,
            description="told the offset: a hit at every step",
        ),
    ]


EXACT_BOUNDS: dict[str, ExactBounds] = {
    "NMN-Bench1-v0": _moving_target,
}


def exact_bounds(env_id: str, **env_kwargs: Any) -> list[Bound]:
    """The bounds of ``env_id`` that need no simulation (empty where none is derived)."""
    check_env_id(env_id)
    derive = EXACT_BOUNDS.get(env_id)
    return [] if derive is None else derive(episode_steps(env_id, env_kwargs), env_kwargs)


def reference_bound(name: str, returns: np.ndarray) -> Bound:
    """A bound estimated by the mean return of the reference agent ``name``, with its standard error.

    ``oracle`` gives a ``"ceiling"``; ``bayes`` (a belief planner where no exact value is
    derived) gives a ``"reference"``.
    """
    returns = np.asarray(returns, dtype=np.float64)
    error = float(returns.std(ddof=1) / np.sqrt(returns.size)) if returns.size > 1 else None
    kind, description = REFERENCE_KINDS[name]
    return Bound(name=name, kind=kind, value=float(returns.mean()), standard_error=error, description=description)


REFERENCE_KINDS: dict[str, tuple[str, str]] = {
    "oracle": ("ceiling", "scripted oracle told the task (Monte Carlo on the evaluation set)"),
    "bayes": ("reference", "belief planner, not a proven optimum (Monte Carlo on the evaluation set)"),
}


def bounds(env_id: str, n_tasks: int = 200, **env_kwargs: Any) -> list[Bound]:
    """The Bayes-optimal bound and the oracle ceiling of ``env_id`` under ``env_kwargs``.

    Exact values come from :mod:`evaluate.exact`, with their derivations. Where none is
    derived, the ``bayes`` reference agent and the oracle play the first ``n_tasks`` tasks of
    the evaluation set and their means are returned with standard errors.

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

    tasks, seeds = task_set(env_id, **env_kwargs).head(n_tasks)
    for name in missing_bounds(found):
        policy = reference(name, env_id, **env_kwargs)
        found.append(reference_bound(name, play(policy, env_id, tasks, seeds, env_kwargs).returns))
    return found


def missing_bounds(found: list[Bound]) -> list[str]:
    """Which of ``bayes`` and ``oracle`` ``found`` lacks."""
    names = {bound.name for bound in found}
    return [name for name in REFERENCE_KINDS if name not in names]
