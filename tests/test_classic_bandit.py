"""NMN-Bandit: the reward rule, the time feature, the variants' distributions, the arm swap."""

import gymnasium as gym
import numpy as np
import pytest

from nmn_envs.envs.classic.bandit import PAIRED_PROBABILITIES, BanditCore, BanditTask


def bare(**kwargs):
    return gym.make("NMN-Bandit-v0", feedback=False, **kwargs)


def test_rewards_follow_the_pulled_arm_on_hand_built_tasks():
    env = bare()
    env.reset(seed=0, options={"task": {"arm0_probability": 1.0, "arm1_probability": 0.0}})
    assert [env.step(arm)[1] for arm in (0, 0, 1, 0, 1, 1)] == [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]


def test_reward_frequency_matches_the_arm_probability():
    rows, pulls = 400, 50
    vec = gym.make_vec("NMN-Bandit-v0", num_envs=rows, vectorization_mode="vector_entry_point", feedback=False)
    task = BanditTask(arm0_probability=0.3, arm1_probability=0.7)
    vec.reset(seed=3, options={"tasks": [task] * rows})
    arms = np.arange(rows) % 2
    rewards = np.stack([vec.step(arms)[1] for _ in range(pulls)])
    for arm, p in ((0, 0.3), (1, 0.7)):
        observed = rewards[:, arms == arm]
        standard_error = np.sqrt(p * (1 - p) / observed.size)
        assert abs(observed.mean() - p) < 4 * standard_error


def test_observation_is_the_pull_index_over_the_horizon_capped_at_one():
    env = bare(horizon=10, max_episode_steps=15)
    observation, _ = env.reset(seed=0)
    seen = [observation[0]] + [env.step(0)[0][0] for _ in range(14)]
    np.testing.assert_allclose(seen, np.minimum(np.arange(15) / 10, 1.0), rtol=1e-6)
    assert bare().reset(seed=0)[0][0] == 0.0 and bare().observation_space.high[0] == 1.0


def tasks_drawn(variant: str, count: int = 4000) -> np.ndarray:
    core = BanditCore(1, variant=variant)
    rng = np.random.default_rng(7)
    tasks = [core.sample_task(rng) for _ in range(count)]
    return np.array([[task.arm0_probability, task.arm1_probability] for task in tasks])


def test_independent_variant_draws_two_independent_uniforms():
    drawn = tasks_drawn("independent")
    n = len(drawn)
    np.testing.assert_array_less(np.abs(drawn.mean(0) - 0.5), 4 * np.sqrt(1 / 12 / n))
    np.testing.assert_array_less(np.abs(drawn.var(0) - 1 / 12), 4 * np.sqrt(1 / 180 / n))
    assert abs(np.corrcoef(drawn.T)[0, 1]) < 4 / np.sqrt(n)


def test_dependent_variant_draws_one_uniform_and_its_complement():
    drawn = tasks_drawn("dependent")
    np.testing.assert_allclose(drawn.sum(1), 1.0)
    assert abs(drawn[:, 0].mean() - 0.5) < 4 * np.sqrt(1 / 12 / len(drawn))
    assert np.histogram(drawn[:, 0], bins=4, range=(0, 1))[0].min() > 0.2 * len(drawn)


@pytest.mark.parametrize("variant", list(PAIRED_PROBABILITIES))
def test_paired_variants_draw_p1_fifty_fifty_from_their_set(variant):
    q = PAIRED_PROBABILITIES[variant]
    drawn = tasks_drawn(variant)
    np.testing.assert_allclose(drawn.sum(1), 1.0)
    high = np.isclose(drawn[:, 0], q)
    assert np.all(high | np.isclose(drawn[:, 0], 1 - q))
    assert abs(high.mean() - 0.5) < 4 * np.sqrt(0.25 / len(drawn))


@pytest.mark.parametrize(
    ("variant", "task", "message"),
    [
        ("dependent", (0.3, 0.3), "1 - arm0_probability"),
        ("easy", (0.75, 0.25), "draws arm0_probability from"),
        ("hard", (0.4, 0.5), "1 - arm0_probability"),
    ],
)
def test_hand_set_tasks_must_lie_in_the_variant_support(variant, task, message):
    env = bare(variant=variant)
    options = {"task": {"arm0_probability": task[0], "arm1_probability": task[1]}}
    with pytest.raises(ValueError, match=message):
        env.reset(options=options)


def test_hand_set_tasks_inside_the_variant_support_are_played():
    env = bare(variant="hard")
    env.reset(seed=0, options={"task": {"arm0_probability": 0.4, "arm1_probability": 0.6}})
    assert env.unwrapped.task == BanditTask(0.4, 0.6)
    independent = bare()
    independent.reset(seed=0, options={"task": {"arm0_probability": 0.3, "arm1_probability": 0.3}})


def test_arms_swap_before_the_given_pulls():
    env = bare(swap_steps=[3, 5])
    env.reset(seed=0, options={"task": {"arm0_probability": 1.0, "arm1_probability": 0.0}})
    rewards = [env.step(0)[1] for _ in range(7)]
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert env.unwrapped.task == BanditTask(1.0, 0.0)
    env.reset(seed=0, options={"task": {"arm0_probability": 1.0, "arm1_probability": 0.0}})
    for _ in range(4):
        env.step(1)
    assert env.unwrapped.task == BanditTask(0.0, 1.0)
