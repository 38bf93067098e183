"""Every benchmark id is registered, passes Gymnasium's and SB3's checkers, and renders."""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import nmn_envs
from nmn_envs.wrappers import FeedbackWrapper
from tests.conftest import BENCH_IDS, NUMPY_IDS, random_actions


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_gymnasium_checker_on_bare_and_wrapped(env_id):
    env_class, _ = nmn_envs.BENCHMARKS[env_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env_class())
        gym_check_env(FeedbackWrapper(env_class()))


@pytest.mark.parametrize("env_id", BENCH_IDS)
@pytest.mark.parametrize("feedback", [True, False])
def test_sb3_checker_on_registered_ids(env_id, feedback):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(gym.make(env_id, feedback=feedback))


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_registered_defaults_and_length_override(env_id):
    _, steps = nmn_envs.BENCHMARKS[env_id]
    assert gym.spec(env_id).max_episode_steps == steps
    env = gym.make(env_id, max_episode_steps=7)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", max_episode_steps=7)
    vec.reset(seed=0)
    truncations = [vec.step(vec.action_space.sample())[3] for _ in range(8)]
    assert truncations[6].all() and not truncations[5].any() and not truncations[7].any()


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_wrapped_observation_layout(env_id):
    env = gym.make(env_id)
    observation, info = env.reset(seed=3)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert list(observation) == ["observation", "prev_action", "prev_reward"]
    assert np.all(observation["prev_action"] == 0) and np.all(observation["prev_reward"] == 0)
    assert info == {}
    bare = gym.make(env_id, feedback=False)
    assert isinstance(bare.observation_space, gym.spaces.Box)
    flat = gym.wrappers.FlattenObservation(env)
    assert flat.observation_space.shape == (bare.observation_space.shape[0] + 2,)


def test_namespaced_id_works_without_import():
    code = "import gymnasium as g; e = g.make('nmn_envs:NMN-Bench2-v0'); print(type(e.reset(seed=0)[0]).__name__)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "dict"


@pytest.mark.parametrize("env_id", NUMPY_IDS)
def test_rgb_array_frames(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=1)
    first = env.render()
    assert first.dtype == np.uint8 and first.shape == (256, 256, 3)
    for action in random_actions(env.action_space, 3, 1):
        env.step(action)
    assert not np.array_equal(first, env.render())
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", render_mode="rgb_array")
    vec.reset(seed=1)
    frames = vec.render()
    assert len(frames) == 2 and frames[0].shape == (256, 256, 3)
    plain = gym.make(env_id)
    plain.reset(seed=1)
    assert plain.render() is None
