"""Exact bounds of the classic tasks: brute force on tiny horizons and Monte Carlo of the bayes agents."""

import itertools
from functools import cache

import numpy as np
import pytest

from evaluate import bounds
from evaluate.exact import bandit_value, harlow_value, two_step_value
from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import task_set


def brute_force_bandit(horizon: int, variant: str, cells: int = 400) -> float:
    """Backward induction over whole histories, the prior integrated on a grid (no conjugacy).

    The prior over ``(p1, p2)`` is a midpoint grid of ``cells`` per axis (independent), or
    points on ``p2 = 1 - p1`` (dependent), or the two points of a paired set.
    """
    midpoints = (np.arange(cells) + 0.5) / cells
    if variant == "independent":
        p1, p2 = (axis.ravel() for axis in np.meshgrid(midpoints, midpoints))
    elif variant == "dependent":
        p1, p2 = midpoints, 1 - midpoints
    else:
        q = {"easy": 0.9, "medium": 0.75, "hard": 0.6}[variant]
        p1, p2 = np.array([q, 1 - q]), np.array([1 - q, q])
    arms = np.stack([p1, p2])

    @cache
    def value(history: tuple[tuple[int, int], ...]) -> float:
        if len(history) == horizon:
            return 0.0
        weights = np.ones_like(p1)
        for arm, reward in history:
            weights = weights * (arms[arm] if reward else 1 - arms[arm])
        best = -np.inf
        for arm in (0, 1):
            pays = float(np.sum(weights * arms[arm]) / np.sum(weights))
            best = max(
                best,
                pays * (1 + value((*history, (arm, 1)))) + (1 - pays) * value((*history, (arm, 0))),
            )
        return best

    return value(())


def brute_force_two_step(trials: int, common=0.8, reward=0.9, swap=0.025) -> float:
    """Backward induction over whole histories; beliefs by summing over every good-state path."""
    paths = np.array(list(itertools.product((0, 1), repeat=trials)))  # good state per trial
    prior = 0.5 * np.prod(np.where(paths[:, 1:] != paths[:, :-1], swap, 1 - swap), axis=1)

    @cache
    def value(history: tuple[tuple[int, int], ...]) -> float:
        trial = len(history)
        if trial == trials:
            return 0.0
        weights = prior.copy()
        for index, (landed, paid) in enumerate(history):
            good = paths[:, index] == landed
            weights = weights * np.where(good == bool(paid), reward, 1 - reward)
        weights = weights / weights.sum()
        good_now = paths[:, trial]
        best = -np.inf
        for action in (0, 1):
            total = 0.0
            for landed in (0, 1):
                reach = common if landed == action else 1 - common
                pays = float(np.sum(weights * np.where(good_now == landed, reward, 1 - reward)))
                total += reach * (
                    pays * (1 + value((*history, (landed, 1))))
                    + (1 - pays) * value((*history, (landed, 0)))
                )
            best = max(best, total)
        return best

    return value(())


@pytest.mark.parametrize("variant", ["independent", "dependent", "easy", "hard"])
@pytest.mark.parametrize("horizon", [1, 2, 4])
def test_bandit_value_matches_brute_force(variant, horizon):
    # The grid prior integrates polynomials of degree <= horizon per axis with error O(1/cells^2).
    assert bandit_value(horizon, variant) == pytest.approx(
        brute_force_bandit(horizon, variant), abs=1e-4
    )


@pytest.mark.parametrize("trials", [1, 2, 3, 5])
def test_two_step_value_matches_brute_force(trials):
    assert two_step_value(trials) == pytest.approx(brute_force_two_step(trials), abs=1e-9)


def test_two_step_value_with_other_parameters():
    parameters = {"common": 0.7, "reward": 0.8, "swap": 0.1}
    assert two_step_value(4, **parameters) == pytest.approx(
        brute_force_two_step(4, **parameters), abs=1e-9
    )


def brute_force_harlow(trials: int) -> float:
    """Backward induction over whole histories of the Harlow task, the hidden part enumerated.

    Hidden: which of the two objects (``A`` or ``B``) is rewarded, and the shuffled side
    schedule (one of the 20 arrangements of L,L,L,R,R,R). The agent sees which object is on
    the left, picks a side, and gets +5 or -5.
    """
    schedules = [
        tuple(1 if i in rights else 0 for i in range(6))
        for rights in itertools.combinations(range(6), 3)
    ]
    hidden = [(rewarded, schedule) for rewarded in "AB" for schedule in schedules]

    def left_object(rewarded: str, schedule: tuple[int, ...], trial: int) -> str:
        other = "B" if rewarded == "A" else "A"
        return rewarded if schedule[trial % 6] == 0 else other

    def consistent(history):
        return [
            (rewarded, schedule)
            for rewarded, schedule in hidden
            if all(
                left_object(rewarded, schedule, t) == seen
                and (5 if schedule[t % 6] == side else -5) == reward
                for t, (seen, side, reward) in enumerate(history)
            )
        ]

    @cache
    def value(history) -> float:
        trial = len(history)
        if trial == trials:
            return 0.0
        worlds = consistent(history)
        total = 0.0
        for seen in "AB":
            given = [world for world in worlds if left_object(*world, trial) == seen]
            if not given:
                continue
            best = -np.inf
            for side in (0, 1):
                outcomes = [5 if schedule[trial % 6] == side else -5 for _, schedule in given]
                expected = sum(
                    reward + value((*history, (seen, side, reward))) for reward in outcomes
                )
                best = max(best, expected / len(given))
            total += len(given) / len(worlds) * best
        return total

    return value(())


@pytest.mark.parametrize("trials", [1, 2, 3, 6])
def test_harlow_value_matches_brute_force(trials):
    assert harlow_value(trials) == pytest.approx(brute_force_harlow(trials), abs=1e-12)


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("NMN-Bandit-v0", {}),
        ("NMN-Bandit-v0", {"variant": "dependent", "max_episode_steps": 30}),
        ("NMN-Bandit-v0", {"variant": "medium", "max_episode_steps": 30}),
        ("NMN-TwoStep-v0", {}),
        ("NMN-Harlow-v0", {}),
    ],
)
def test_bayes_agent_attains_the_bound(env_id, kwargs):
    """Monte Carlo of the bayes agent on 1000 evaluation tasks: within 3 standard errors."""
    tasks, seeds = task_set(env_id, **kwargs).head(1000)
    returns = play(reference("bayes", env_id, **kwargs), env_id, tasks, seeds, kwargs).returns
    bound = {found.name: found for found in bounds(env_id, **kwargs)}["bayes"]
    assert bound.kind == "exact"
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - bound.value) < 3 * error


def test_exact_bounds_refuse_changed_dynamics():
    with pytest.raises(ValueError, match="swap_steps"):
        bounds("NMN-Bandit-v0", swap_steps=[10])
