"""NMN-Bench1 reward rules on hand-built situations, and its distributions."""

import numpy as np
import pytest

from nmn_envs import MovingTargetEnv, MovingTargetTask


def placed(offset: float, position: float, **kwargs) -> MovingTargetEnv:
    env = MovingTargetEnv(**kwargs)
    env.reset(seed=0, options={"task": {"offset": offset}, "state": {"position": position}})
    return env


def test_hit_gives_ten_and_redraws_the_position():
    env = placed(offset=3.0, position=2.0)
    observation, reward, terminated, truncated, info = env.step(np.array([5.0 / 20.0]))
    assert reward == 10.0 and not terminated and not truncated and info == {}
    assert observation[0] != np.float32(2.0) and -5.0 <= observation[0] <= 5.0
    assert env.task == MovingTargetTask(offset=3.0)


def test_miss_costs_the_distance_and_keeps_the_position():
    env = placed(offset=3.0, position=2.0)
    observation, reward, *_ = env.step(np.array([-0.5]))  # e = -10, target 5
    assert reward == pytest.approx(-15.0)
    assert observation[0] == np.float32(2.0)


def test_distance_of_exactly_one_is_a_miss():
    env = placed(offset=1.0, position=0.0)
    _, reward, *_ = env.step(np.array([0.0]))
    assert reward == -1.0
    _, reward, *_ = env.step(np.array([0.5 / 20.0]))
    assert reward == 10.0


def test_out_of_range_actions_are_clipped():
    env = placed(offset=10.0, position=5.0)  # target 15
    _, reward, *_ = env.step(np.array([3.0]))  # clipped to e = 20
    assert reward == pytest.approx(-5.0)


def test_switch_probability_redraws_the_offset_only_after_hits():
    env = placed(offset=3.0, position=2.0, switch_probability=1.0)
    env.step(np.array([-0.5]))
    assert env.task.offset == 3.0
    env.step(np.array([5.0 / 20.0]))
    assert env.task.offset != 3.0
    steady = placed(offset=3.0, position=2.0)
    for _ in range(20):
        x = steady.core.position[0]
        steady.step(np.array([(x + 3.0) / 20.0]))
    assert steady.task.offset == 3.0


def test_offset_and_position_are_uniform():
    env = MovingTargetEnv()
    offsets, positions = [], []
    for seed in range(4000):
        observation, _ = env.reset(seed=seed)
        offsets.append(env.task.offset)
        positions.append(float(observation[0]))
    for values, half_width in ((np.array(offsets), 10.0), (np.array(positions), 5.0)):
        sd = 2 * half_width / np.sqrt(12)
        se_mean = sd / np.sqrt(values.size)
        assert abs(values.mean()) < 4 * se_mean
        # the standard error of a uniform sample's variance is sqrt((mu4 - sd^4) / n)
        se_var = np.sqrt((9 / 5 - 1) * sd**4 / values.size)
        assert abs(values.var() - sd**2) < 4 * se_var
        assert values.min() >= -half_width and values.max() <= half_width


def test_sample_task_uses_the_given_generator():
    env = MovingTargetEnv()
    first = env.sample_task(np.random.default_rng(3))
    assert first == env.sample_task(np.random.default_rng(3))
    assert isinstance(first, MovingTargetTask) and -10 <= first.offset <= 10


def test_a_miss_costs_at_most_twenty():
    env = placed(offset=-10.0, position=-5.0)  # target -15
    _, reward, *_ = env.step(np.array([1.0]))  # e = 20: 35 away
    assert reward == -20.0
    _, reward, *_ = env.step(np.array([0.25]))  # e = 5: exactly 20 away
    assert reward == -20.0
    _, reward, *_ = env.step(np.array([0.2]))  # e = 4: 19 away
    assert reward == pytest.approx(-19.0)


def test_random_play_averages_the_sources_value_per_step():
    """Uniform actions score -2399/240 per step; the s.e. is taken over independent meta-episodes."""
    import gymnasium as gym

    import nmn_envs  # noqa: F401

    n_envs, steps = 2000, 400
    env = gym.make_vec("NMN-Bench1-v0", num_envs=n_envs, vectorization_mode="vector_entry_point", feedback=False)
    env.reset(seed=11)
    rng = np.random.default_rng(12)
    totals = np.zeros(n_envs)
    for _ in range(steps):
        _, rewards, *_ = env.step(rng.uniform(-1.0, 1.0, (n_envs, 1)).astype(np.float32))
        totals += rewards
    per_step = totals / steps
    standard_error = per_step.std(ddof=1) / np.sqrt(n_envs)
    assert abs(per_step.mean() - (-2399 / 240)) < 4 * standard_error
