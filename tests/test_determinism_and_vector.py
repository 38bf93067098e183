"""Same seed => same rollout, and the native vector env equals the single env per sub-env."""

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import BENCH_IDS, NUMPY_IDS, random_actions


def rollout(env_id: str, seed: int, steps: int, **kwargs):
    env = gym.make(env_id, **kwargs)
    observation, _ = env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1.2, 1.2, size=(steps, 1))
    trace = [observation["observation"]]
    for action in actions:
        observation, reward, *_ = env.step(action)
        trace.extend([observation["observation"], observation["prev_action"], [reward]])
    return np.concatenate([np.ravel(item) for item in trace]), env.unwrapped.task


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_same_seed_same_rollout_bit_for_bit(env_id):
    first, task = rollout(env_id, seed=7, steps=300)
    second, same_task = rollout(env_id, seed=7, steps=300)
    other, other_task = rollout(env_id, seed=8, steps=300)
    assert first.tobytes() == second.tobytes() and task == same_task
    assert not np.array_equal(first, other) and task != other_task


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_vector_sub_env_equals_single_env_across_autoresets(env_id):
    num_envs, horizon, steps, seed = 4, 25, 80, 11
    vec = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                       max_episode_steps=horizon)
    singles = [gym.make(env_id, max_episode_steps=horizon) for _ in range(num_envs)]
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, num_envs, 1))
    vec_obs, _ = vec.reset(seed=seed)
    single_obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    done = [False] * num_envs
    for t in range(steps):
        for i in range(num_envs):
            for key in vec_obs:
                assert np.array_equal(vec_obs[key][i], single_obs[i][key]), (t, i, key)
        vec_obs, rewards, terminated, truncated, _ = vec.step(actions[t])
        for i, env in enumerate(singles):
            if done[i]:
                single_obs[i], _ = env.reset()
                reward, ended = 0.0, False
            else:
                single_obs[i], reward, term, trunc, _ = env.step(actions[t, i])
                ended = term or trunc
                assert (terminated[i], truncated[i]) == (term, trunc)
            assert rewards[i] == reward
            done[i] = ended


@pytest.mark.parametrize("env_id", NUMPY_IDS)
def test_native_vector_env_matches_sync_vector_env(env_id):
    """Autoresets included: the NMN benchmarks are cut to 10 steps, the classic tasks end by themselves."""
    length = {"max_episode_steps": 10} if env_id in BENCH_IDS else {}
    native = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **length)
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync", **length)
    native_obs, _ = native.reset(seed=5)
    sync_obs, _ = sync.reset(seed=5)
    actions = np.stack([random_actions(native.single_action_space, 220, i) for i in range(3)], 1)
    for step_actions in actions:
        for key in native_obs:
            np.testing.assert_array_equal(native_obs[key], sync_obs[key])
        native_obs, native_r, native_term, native_trunc, _ = native.step(step_actions)
        sync_obs, sync_r, sync_term, sync_trunc, _ = sync.step(step_actions)
        np.testing.assert_array_equal(native_r, sync_r)
        np.testing.assert_array_equal(native_term, sync_term)
        np.testing.assert_array_equal(native_trunc, sync_trunc)


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_vector_tasks_option_and_own_streams(env_id):
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    env = gym.make(env_id)
    tasks = [env.unwrapped.sample_task(np.random.default_rng(i)) for i in range(3)]
    vec.reset(seed=0, options={"tasks": tasks})
    assert vec.unwrapped.tasks == tasks
    vec.reset(seed=0)
    drawn = vec.unwrapped.tasks
    assert len(set(drawn)) == 3
