"""NMN-Bench1's exact Bayes bound: closed form vs brute force vs Monte Carlo of the bayes agent."""

import re
from functools import cache

import numpy as np
import pytest

from evaluate import bounds
from evaluate.exact import MOVING_TARGET_PROBE, moving_target_loss, moving_target_probe, moving_target_value
from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import task_set

ENV_ID = "NMN-Bench1-v0"


def brute_force_value(horizon: int, unit: float, offset_limit: float = 10.0) -> float:
    """Exhaustive search over every policy of a discretised NMN-Bench1.

    Offsets are the midpoints of cells ``2 * unit`` wide over ``[-A, A]`` (uniform prior);
    guesses ``d = e - x`` are every multiple of ``unit`` in ``[-min(A + 1, 15), min(A + 1, 15)]``
    (up to 15 every guess is playable at any ``x``). Distances are whole numbers of units, so a
    miss's reward splits the belief exactly; a miss of 20 or more shows only that (the cap). A
    hit leaves the set of offsets it is consistent with (``x`` is redrawn, which carries no
    information).
    """
    half_width = round(offset_limit / unit)
    offsets = np.arange(-half_width + 1, half_width, 2)
    reach = round(min(offset_limit + 1, 15) / unit)
    guesses = np.arange(-reach, reach + 1)
    distance = np.abs(offsets[None, :] - guesses[:, None])
    rewards = np.where(distance < round(1 / unit), 10.0, -np.minimum(distance * unit, 20.0))
    seen = np.minimum(distance, round(20 / unit))

    @cache
    def value(belief: tuple[int, ...], steps: int) -> float:
        rows = np.array(belief)
        if steps == 1:
            return float(rewards[:, rows].mean(axis=1).max())
        best = -np.inf
        for guess in range(guesses.size):
            outcome = np.where(rewards[guess, rows] > 0, -1, seen[guess, rows])
            total = rewards[guess, rows].sum()
            for key in np.unique(outcome):
                posterior = tuple(rows[outcome == key])
                total += len(posterior) * value(posterior, steps - 1)
            best = max(best, total / rows.size)
        return best

    return value(tuple(range(offsets.size)), horizon)


def test_closed_form_values():
    assert MOVING_TARGET_PROBE == pytest.approx(7.25)
    assert moving_target_loss(MOVING_TARGET_PROBE) == pytest.approx(17.69375)
    assert moving_target_value(1) == pytest.approx(-3.95)
    assert moving_target_value(1400) == pytest.approx(14000 - 17.69375)


def test_the_derivation_states_the_wider_offsets_values_it_computes():
    """The docstring's worked example for ``offset_limit = 15`` is the probe and the loss that
    :func:`moving_target_value` computes (to the digits it states)."""
    text = " ".join(moving_target_value.__doc__.split())
    stated = re.search(r"For ``A = 15``: ``a\* = ([0-9.]+?)(\.\.\.)?`` and ``V\(T\) = 10 T - ([0-9.]+?)(\.\.\.)?``", text)
    assert stated, "the docstring no longer works the example of offset_limit = 15"
    for value, computed in ((stated[1], moving_target_probe(400, 15.0)), (stated[3], 4000 - moving_target_value(400, 15.0))):
        digits = len(value.partition(".")[2])
        assert computed == pytest.approx(float(value), abs=10.0**-digits), (value, computed)


def test_probe_minimises_the_integrated_loss():
    """The quadratic loss matches direct integration of the policy's loss over the offset."""
    offsets = np.linspace(-10, 10, 400_001)[:-1] + 2.5e-5
    for probe in (0.0, 3.0, MOVING_TARGET_PROBE, 8.5):
        miss = np.abs(offsets - probe)
        both = (probe - miss >= -10) & (probe + miss <= 10)
        loss = np.where(miss < 1, 0.0, np.where(both, 14.5 + 2 * miss, 10 + miss))
        assert loss.mean() == pytest.approx(moving_target_loss(probe), abs=1e-3)
        assert moving_target_loss(probe) >= moving_target_loss(MOVING_TARGET_PROBE)


@pytest.mark.parametrize(("horizon", "unit"), [(1, 0.05), (2, 0.05), (3, 0.25)])
def test_brute_force_on_tiny_horizons(horizon, unit):
    """The discretised optimum lies below the supremum by at most the grid's hedging cost.

    On the grid the hedged action stays a whole unit inside the hit radius, which costs
    0.0875 units (plus rounding of the probe's hit interval: bounded by 0.125 units here).
    """
    exact = moving_target_value(horizon)
    brute = brute_force_value(horizon, unit)
    assert 0.0 <= exact - brute <= 0.125 * unit + 1e-9


@pytest.mark.parametrize("horizon", [1, 2, 30])
def test_bayes_agent_attains_the_bound(horizon):
    """Monte Carlo of the bayes agent on 1000 evaluation tasks: within 3 standard errors."""
    kwargs = {"max_episode_steps": horizon}
    tasks, seeds = task_set(ENV_ID, **kwargs).head(1000)
    returns = play(reference("bayes", ENV_ID, **kwargs), ENV_ID, tasks, seeds, kwargs).returns
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - moving_target_value(horizon)) < 3 * error


def test_bayes_agent_never_misses_by_more_than_the_probe_allows():
    """The miss cap of 20 never binds on the Bayes policy: its worst miss is 10 + 7.25 = 17.25,
    so the closed form (derived without the cap) is the bound of the capped env too."""
    kwargs = {"max_episode_steps": 30}
    tasks, seeds = task_set(ENV_ID, **kwargs).head(1000)
    rewards = play(reference("bayes", ENV_ID, **kwargs), ENV_ID, tasks, seeds, kwargs).step_rewards
    assert rewards.min() >= -(10.0 + MOVING_TARGET_PROBE) - 1e-9
    assert rewards.min() < -17.0  # the worst case is reached on the evaluation set


def test_public_bounds_follow_the_episode_length():
    found = {bound.name: bound for bound in bounds(ENV_ID, max_episode_steps=400)}
    assert found["bayes"].kind == "exact"
    assert found["bayes"].value == pytest.approx(4000 - 17.69375)
    assert found["oracle"].value == 4000.0
    with pytest.raises(ValueError, match="switch_probability"):
        bounds(ENV_ID, switch_probability="often")
    switching = {bound.name: bound for bound in bounds(ENV_ID, switch_probability=0.2, max_episode_steps=40, n_tasks=50)}
    assert switching["bayes"].kind == "reference" and switching["bayes"].standard_error > 0
    assert switching["oracle"].value == 400.0
