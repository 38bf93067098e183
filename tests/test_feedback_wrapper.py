"""The feedback wrapper, step by step, on the suite and on any Gymnasium env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

from nmn_envs import FeedbackVectorWrapper, FeedbackWrapper, MovingTargetEnv


def test_feedback_is_zero_first_then_the_previous_action_and_reward():
    env = FeedbackWrapper(MovingTargetEnv())
    observation, _ = env.reset(seed=0, options={"task": {"offset": 2.0}, "state": {"position": 1.0}})
    assert observation["prev_action"].tolist() == [0.0] and observation["prev_reward"].tolist() == [0.0]
    observation, reward, *_ = env.step(np.array([1.7]))  # clipped to 1
    assert observation["prev_action"].tolist() == [1.0]
    assert observation["prev_reward"].tolist() == [np.float32(reward)] and reward == pytest.approx(-17.0)
    observation, reward, *_ = env.step(np.array([3.0 / 20.0]))
    assert reward == 10.0 and observation["prev_reward"].tolist() == [10.0]
    np.testing.assert_allclose(observation["prev_action"], [0.15], rtol=1e-6)
    observation, _ = env.reset()
    assert observation["prev_action"].tolist() == [0.0] and observation["prev_reward"].tolist() == [0.0]


def test_discrete_actions_are_one_hot_and_trials_carry_feedback_on_cartpole():
    env = FeedbackWrapper(gym.make("CartPole-v1"), trials_per_task=3)
    observation, _ = env.reset(seed=0)
    assert observation["trial_start"].tolist() == [1.0]
    assert observation["prev_action"].tolist() == [0.0, 0.0]
    observation, reward, terminated, truncated, info = env.step(1)
    assert observation["prev_action"].tolist() == [0.0, 1.0] and observation["trial_start"].tolist() == [0.0]
    trial_starts, steps = 0, 1
    while not (terminated or truncated):
        action = steps % 2 if steps < 5 else 1  # push right until the pole falls
        observation, reward, terminated, truncated, info = env.step(action)
        steps += 1
        if observation["trial_start"][0] == 1.0:
            trial_starts += 1
            assert observation["prev_reward"].tolist() == [1.0]  # feedback carries over
            assert observation["prev_action"].tolist() == [0.0, 1.0]
            assert info["trial"] == trial_starts
    assert trial_starts == 2 and terminated and info["trial"] == 2
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(0)


def test_box_actions_on_pendulum_are_clipped_and_trials_are_replayed():
    env = FeedbackWrapper(gym.make("Pendulum-v1"), trials_per_task=2)
    observation, _ = env.reset(seed=0)
    observation, *_ = env.step(np.array([5.0]))
    assert observation["prev_action"].tolist() == [2.0]
    length = 1
    truncated = False
    while not truncated:
        observation, _, terminated, truncated, _ = env.step(np.array([-0.5]))
        length += 1
    assert length == 400 and not terminated


def test_wrapper_passes_gymnasium_checker_on_classic_envs():
    for env_id in ("CartPole-v1", "Pendulum-v1"):
        gym_check_env(FeedbackWrapper(gym.make(env_id).unwrapped, trials_per_task=2), skip_render_check=True)


def test_trials_replay_the_same_task_of_the_suite():
    env = FeedbackWrapper(gym.wrappers.TimeLimit(MovingTargetEnv(), 5), trials_per_task=2)
    env.reset(seed=4)
    task = env.unwrapped.task
    for step in range(10):
        observation, _, terminated, truncated, _ = env.step(np.array([0.0]))
        assert env.unwrapped.task == task
        assert observation["trial_start"][0] == (1.0 if step == 4 else 0.0)
    assert truncated and not terminated


def test_vector_feedback_zeroes_the_rows_that_autoreset():
    env = FeedbackVectorWrapper(gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync"))
    observation, _ = env.reset(seed=0)
    assert observation["prev_action"].shape == (3, 2) and not observation["prev_action"].any()
    previous_done = np.zeros(3, dtype=bool)
    autoresets = 0
    for _ in range(60):
        actions = np.ones(3, dtype=np.int64)
        observation, rewards, terminated, truncated, _ = env.step(actions)
        for i in range(3):
            if previous_done[i]:
                autoresets += 1
                assert observation["prev_action"][i].tolist() == [0.0, 0.0]
                assert observation["prev_reward"][i, 0] == 0.0
            else:
                assert observation["prev_action"][i].tolist() == [0.0, 1.0]
                assert observation["prev_reward"][i, 0] == rewards[i] == 1.0
        previous_done = terminated | truncated
    assert autoresets >= 3  # pushing right topples every pole within 60 steps


def test_unsupported_action_space_is_refused():
    class Pairs(gym.Env):
        observation_space = gym.spaces.Discrete(2)
        action_space = gym.spaces.MultiDiscrete([2, 2])

    with pytest.raises(ValueError, match="Box or Discrete"):
        FeedbackWrapper(Pairs())
