"""NMN-Navigation2D: moves, rewards, goals, and several trials of one task per meta-episode."""

import gymnasium as gym
import numpy as np
import pytest

import evaluate
from evaluate.oracles import navigation2d_oracle
from nmn_envs.envs.maml.navigation2d import Navigation2DTask

GOAL = {"goal_x": 0.3, "goal_y": -0.2}


def test_moves_add_the_clipped_action_and_reward_minus_the_new_distance():
    env = gym.make("NMN-Navigation2D-v0", feedback=False)
    observation, _ = env.reset(seed=0, options={"task": GOAL})
    np.testing.assert_array_equal(observation, [0.0, 0.0])
    observation, reward, *_ = env.step(np.array([0.1, -0.05]))
    np.testing.assert_allclose(observation, [0.1, -0.05], rtol=1e-6)
    assert reward == pytest.approx(-np.hypot(0.2, 0.15))
    observation, reward, *_ = env.step(np.array([3.0, -3.0]))  # clipped to (0.1, -0.1)
    np.testing.assert_allclose(observation, [0.2, -0.15], rtol=1e-6)
    assert reward == pytest.approx(-np.hypot(0.1, 0.05))


def test_hand_set_start_position():
    env = gym.make("NMN-Navigation2D-v0", feedback=False)
    env.reset(seed=0, options={"task": GOAL, "state": {"position": (0.3, -0.1)}})
    assert env.step(np.zeros(2))[1] == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="position"):
        env.reset(options={"state": {"position": (50.0, 0.0)}})


def test_goals_are_uniform_on_the_square():
    env = gym.make("NMN-Navigation2D-v0")
    rng = np.random.default_rng(1)
    goals = np.array([[t.goal_x, t.goal_y] for t in (env.unwrapped.sample_task(rng) for _ in range(4000))])
    assert np.all(np.abs(goals) <= 0.5)
    np.testing.assert_array_less(np.abs(goals.mean(0)), 4 * np.sqrt(1 / 12 / len(goals)))
    np.testing.assert_array_less(np.abs(goals.var(0) - 1 / 12), 4 * np.sqrt(1 / 180 / len(goals)))


def test_the_registered_id_plays_two_trials_of_one_task_from_the_origin():
    env = gym.make("NMN-Navigation2D-v0")
    observation, _ = env.reset(seed=3)
    task = env.unwrapped.task
    starts = []
    for step in range(200):
        if observation["trial_start"][0] == 1.0:
            starts.append(step)
            np.testing.assert_array_equal(observation["observation"], [0.0, 0.0])
        observation, reward, terminated, truncated, info = env.step(np.array([0.1, 0.1]))
        assert info["trial"] == (step + 1) // 100 - (step == 199)
        assert env.unwrapped.task == task
        assert (terminated, truncated) == (False, step == 199)
        if step == 99:  # feedback carries over into the next trial
            np.testing.assert_array_equal(observation["prev_action"], np.float32([0.1, 0.1]))
            assert observation["prev_reward"][0] == np.float32(reward)
    assert starts == [0, 100]
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(2))


def test_trials_per_task_and_the_bare_task():
    env = gym.make("NMN-Navigation2D-v0", trials_per_task=3, max_episode_steps=300)
    env.reset(seed=0)
    ends = [env.step(np.zeros(2))[3] for _ in range(300)]
    assert ends == [False] * 299 + [True]
    bare = gym.make("NMN-Navigation2D-v0", feedback=False)
    bare.reset(seed=0)
    ends = [bare.step(np.zeros(2))[3] for _ in range(100)]
    assert ends == [False] * 99 + [True]


def test_vector_env_restarts_trials_on_the_same_task():
    vec = gym.make_vec("NMN-Navigation2D-v0", num_envs=2, vectorization_mode="vector_entry_point")
    observation, info = vec.reset(seed=0, options={"tasks": [GOAL, Navigation2DTask(0.5, 0.5)]})
    assert info["trial_start"].all()
    for _ in range(100):
        observation, _, _, truncated, info = vec.step(np.full((2, 2), 0.1))
    assert not truncated.any() and info["trial_start"].all() and np.all(info["trial"] == 1)
    np.testing.assert_array_equal(observation["observation"], np.zeros((2, 2)))
    assert vec.unwrapped.tasks == [Navigation2DTask(**GOAL), Navigation2DTask(0.5, 0.5)]


def test_the_oracle_walks_straight_to_the_goal():
    vec = gym.make_vec("NMN-Navigation2D-v0", num_envs=1, vectorization_mode="vector_entry_point",
                       feedback=False)
    observation, _ = vec.reset(seed=0, options={"tasks": [GOAL]})
    rewards = []
    for _ in range(5):
        observation, reward, *_ = vec.step(navigation2d_oracle(observation, vec.unwrapped.tasks))
        rewards.append(reward[0])
    np.testing.assert_allclose(rewards, [-np.hypot(0.2, 0.1), -0.1, 0.0, 0.0, 0.0], atol=1e-7)  # float32 observations


def test_bounds_of_a_task_without_a_bayes_agent_are_its_oracle_ceiling():
    (ceiling,) = evaluate.bounds("NMN-Navigation2D-v0", n_tasks=20)
    assert (ceiling.name, ceiling.kind) == ("oracle", "ceiling")
    # the oracle reaches any goal of the square within 5 steps a trial, then stays on it
    assert -2 * 5 * np.sqrt(2) * 0.5 < ceiling.value < 0 and ceiling.standard_error > 0
