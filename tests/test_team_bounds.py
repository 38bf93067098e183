"""Team Bayes bounds: closed forms and dynamic programming against Monte Carlo of the team agents."""

import numpy as np
import pytest

from evaluate.exact import bandit_value, moving_target_value
from evaluate.team_bounds import (
    moving_target_first_loss,
    team_bounds,
    team_dependent_bandit_value,
    team_moving_target_value,
    team_probe_guesses,
)
from evaluate.team_references import BanditTeam, MovingTargetTeam
from nmn_envs.multiagent import make_team_vector_env


def team_returns(env_id, policy, num_teams, num_agents, seed=0, **env_kwargs):
    """Mean return per agent of each team, one meta-episode of ``num_teams`` teams at once."""
    env = make_team_vector_env(env_id, num_teams, num_agents, **env_kwargs)
    observation, _ = env.reset(seed=seed)
    policy.reset(env)
    total = np.zeros(env.num_envs)
    start = np.ones(env.num_envs, dtype=bool)
    running = True
    while running:
        observation, rewards, terminated, truncated, _ = env.step(policy.act(observation, start))
        total += rewards
        start[:] = False
        running = not np.any(terminated | truncated)
    return total.reshape(num_teams, num_agents).mean(axis=1)


def assert_within_three_errors(returns, value):
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - value) < 3 * error, (returns.mean(), value, error)


def test_bench1_closed_form():
    assert moving_target_first_loss(0.0) == pytest.approx(13.95)
    assert team_moving_target_value(1400, 2) == pytest.approx(14000 - 13.95)
    assert team_moving_target_value(400, 5) == pytest.approx(4000 - 13.95)
    assert team_moving_target_value(1400, 2) - moving_target_value(1400) == pytest.approx(3.74375)
    assert team_moving_target_value(1, 2) == moving_target_value(1)
    assert team_moving_target_value(30, 1) == moving_target_value(30)


def test_bench1_first_loss_matches_integration_and_is_least_at_zero():
    offsets = np.linspace(-10, 10, 400_001)[:-1] + 2.5e-5
    for guess in (0.0, 0.25, 3.0, 9.0):
        miss = np.abs(offsets - guess)
        loss = np.where(miss < 1, 0.0, 10.0 + miss).mean()
        assert loss == pytest.approx(moving_target_first_loss(guess), abs=1e-3)
        assert moving_target_first_loss(guess) >= moving_target_first_loss(0.0)


@pytest.mark.parametrize(("horizon", "num_agents"), [(2, 2), (30, 2), (3, 3)])
def test_bench1_team_agents_attain_the_bound(horizon, num_agents):
    """Monte Carlo of 3000 teams within 3 standard errors of the bound, less the probes' spacing cost."""
    returns = team_returns(
        "NMN-Bench1-v0", MovingTargetTeam(), 3000, num_agents, max_episode_steps=horizon
    )
    spacing_cost = np.mean(team_probe_guesses(num_agents) ** 2) / 20.0
    assert spacing_cost < 0.01
    assert_within_three_errors(returns, team_moving_target_value(horizon, num_agents) - spacing_cost)
    assert returns.mean() > moving_target_value(horizon)


def test_pooled_bandit_with_one_agent_is_the_single_agent_bound():
    for variant in ("dependent", "easy", "medium", "hard"):
        assert team_dependent_bandit_value(100, 1, variant) == pytest.approx(bandit_value(100, variant))


def test_pooled_bandit_small_case_by_hand():
    """Two agents, two pulls each, p1 ~ U[0, 1]: 1/2 now, then E[max(m, 1 - m)] over the pooled pair.

    After two pooled outcomes with ``e`` favouring (probabilities 1/3 each for e = 0, 1, 2 under
    the uniform prior) the posterior mean is ``(e + 1)/4``: ``max(m, 1 - m)`` is 3/4, 1/2, 3/4.
    """
    assert team_dependent_bandit_value(2, 2) == pytest.approx(0.5 + (0.75 + 0.5 + 0.75) / 3)


@pytest.mark.parametrize(("variant", "num_agents"), [("dependent", 2), ("dependent", 3), ("hard", 2)])
def test_bandit_team_agents_attain_the_bound(variant, num_agents):
    returns = team_returns(
        "NMN-Bandit-v0", BanditTeam(), 4000, num_agents,
        max_episode_steps=20, variant=variant, horizon=20,
    )
    assert_within_three_errors(returns, team_dependent_bandit_value(20, num_agents, variant))


def test_team_bounds_registry():
    found = {bound.name: bound for bound in team_bounds("NMN-Bench1-v0", 2, max_episode_steps=400)}
    assert found["team_bayes"].value == pytest.approx(4000 - 13.95)
    assert found["social_gain"].value == pytest.approx(3.74375)
    bandit = {bound.name: bound for bound in team_bounds("NMN-Bandit-v0", 3, variant="dependent")}
    assert bandit["social_gain"].value == pytest.approx(
        team_dependent_bandit_value(100, 3) - bandit_value(100, "dependent")
    )
    assert bandit["social_gain"].value > 0
    assert team_bounds("NMN-Bandit-v0", 2) == []  # independent arms: not derived
    assert team_bounds("NMN-Bench2-v0", 2) == []
    with pytest.raises(ValueError, match="switch_probability"):
        team_bounds("NMN-Bench1-v0", 2, switch_probability=0.1)
    with pytest.raises(ValueError, match="num_agents"):
        team_bounds("NMN-Bench1-v0", 0)
