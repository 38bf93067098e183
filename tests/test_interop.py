"""The suite in the tools meta-RL users run: spec JSON, Minari datasets, Gymnasium's vector
autoreset modes, TorchRL, and the render modes."""

import gymnasium as gym
import minari
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode
from minari import DataCollector
from torchrl.envs import GymWrapper

import nmn_envs
from tests.conftest import NUMPY_IDS, random_actions


@pytest.mark.parametrize("env_id", list(nmn_envs.ENV_IDS))
def test_every_spec_round_trips_through_json(env_id):
    spec = gym.spec(env_id)
    assert EnvSpec.from_json(spec.to_json()) == spec
    assert isinstance(spec.entry_point, str)
    assert spec.vector_entry_point is None or isinstance(spec.vector_entry_point, str)


@pytest.mark.parametrize("env_id", NUMPY_IDS)
def test_a_made_env_rebuilds_from_its_json_spec(env_id):
    env = gym.make(env_id, max_episode_steps=7)
    rebuilt = gym.make(EnvSpec.from_json(env.spec.to_json()))
    first, _ = env.reset(seed=3)
    again, _ = rebuilt.reset(seed=3)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert rebuilt.spec.max_episode_steps == 7


def test_minari_dataset_of_a_bandit_is_created_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = DataCollector(gym.make("NMN-Bandit-v0"))
    played = []
    for episode in range(3):
        env.reset(seed=episode)
        rewards, done = [], False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            rewards.append(reward)
            done = terminated or truncated
        played.append(rewards)
    env.create_dataset(
        dataset_id="nmn/bandit/random-v0",
        algorithm_name="random",
        author="nmn-bench",
        author_email="nmn-bench@localhost",
        code_permalink="https://localhost/nmn-bench",
        description="uniformly random pulls on NMN-Bandit-v0",
        eval_env="NMN-Bandit-v0",
    )
    env.close()

    dataset = minari.load_dataset("nmn/bandit/random-v0")
    assert (dataset.total_episodes, dataset.total_steps) == (3, 300)
    for rewards, episode in zip(played, dataset.iterate_episodes()):
        np.testing.assert_array_equal(episode.rewards, rewards)
        assert set(episode.observations) == {"observation", "prev_action", "prev_reward"}
        assert episode.observations["prev_reward"].shape == (101, 1)
    recovered = dataset.recover_environment()
    assert recovered.spec.id == "NMN-Bandit-v0"
    observation, _ = recovered.reset(seed=0)
    assert recovered.observation_space.contains(observation)


MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
VECTOR_CASES = [
    ("NMN-Bench1-v0", {"max_episode_steps": 10}),
    ("NMN-Bench3-v0", {"max_episode_steps": 10, "feedback": False}),
    ("NMN-TwoStep-v0", {"max_episode_steps": 12}),
    ("NMN-Navigation2D-v0", {}),
    ("NMN-Harlow-v0", {}),
]


def _assert_same_obs(native, sync):
    if isinstance(native, dict):
        assert native.keys() == sync.keys()
        for key in native:
            np.testing.assert_array_equal(native[key], sync[key])
    else:
        np.testing.assert_array_equal(native, sync)


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize(("env_id", "kwargs"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_native_vector_env_matches_sync_vector_env_in_each_autoreset_mode(env_id, kwargs, mode):
    num_envs = 3
    native = gym.make_vec(
        env_id, num_envs, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs
    )
    sync = gym.make_vec(
        env_id, num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **kwargs
    )
    assert native.autoreset_mode == native.metadata["autoreset_mode"] == mode
    assert native.unwrapped.autoreset_mode == mode
    native_obs, _ = native.reset(seed=5)
    sync_obs, _ = sync.reset(seed=5)
    steps = 230 if env_id == "NMN-Navigation2D-v0" else 40
    actions = np.stack(
        [random_actions(native.single_action_space, steps, i) for i in range(num_envs)], 1
    )
    endings = 0
    for step_actions in actions:
        _assert_same_obs(native_obs, sync_obs)
        native_obs, native_r, native_term, native_trunc, native_info = native.step(step_actions)
        sync_obs, sync_r, sync_term, sync_trunc, sync_info = sync.step(step_actions)
        np.testing.assert_array_equal(native_r, sync_r)
        np.testing.assert_array_equal(native_term, sync_term)
        np.testing.assert_array_equal(native_trunc, sync_trunc)
        ended = native_term | native_trunc
        endings += int(ended.sum())
        if mode == AutoresetMode.SAME_STEP:
            none = np.zeros(num_envs, dtype=bool)
            np.testing.assert_array_equal(native_info.get("_final_obs", none), ended)
            np.testing.assert_array_equal(sync_info.get("_final_obs", none), ended)
            for row in np.flatnonzero(ended):
                _assert_same_obs(native_info["final_obs"][row], sync_info["final_obs"][row])
        if mode == AutoresetMode.DISABLED and ended.any():
            native_obs, _ = native.reset(options={"reset_mask": ended})
            sync_obs, _ = sync.reset(options={"reset_mask": ended})
    assert endings >= num_envs


def test_disabled_autoreset_refuses_to_step_an_ended_sub_env():
    vec = gym.make_vec(
        "NMN-Bench1-v0", 2, vectorization_mode="vector_entry_point", max_episode_steps=1,
        autoreset_mode="Disabled",
    )
    vec.reset(seed=0)
    vec.step(np.zeros((2, 1)))
    with pytest.raises(gym.error.ResetNeeded, match="reset_mask"):
        vec.step(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="autoreset_mode must be"):
        gym.make_vec("NMN-Bench1-v0", 2, vectorization_mode="vector_entry_point", autoreset_mode="later")


def test_torchrl_gym_wrapper_steps_the_native_vector_env():
    """TorchRL takes same-step or disabled autoreset; disabled is its own reset protocol."""
    horizon, steps = 5, 12
    native = gym.make_vec(
        "NMN-Bench1-v0", 4, vectorization_mode="vector_entry_point",
        max_episode_steps=horizon, autoreset_mode=AutoresetMode.DISABLED,
    )
    env = GymWrapper(native)
    assert tuple(env.batch_size) == (4,)
    rollout = env.rollout(steps, break_when_any_done=False)
    assert tuple(rollout.batch_size) == (4, steps)
    done = rollout["next", "done"][..., 0].numpy()
    expected = (np.arange(1, steps + 1) % horizon == 0)[None].repeat(4, 0)
    np.testing.assert_array_equal(done, expected)
    prev_reward = rollout["prev_reward"][..., 0].numpy()
    np.testing.assert_array_equal(prev_reward[:, horizon], 0.0)  # a fresh meta-episode
    np.testing.assert_array_equal(
        rollout["next", "prev_reward"][..., 0].numpy(), rollout["next", "reward"][..., 0].numpy()
    )

    bare = gym.make_vec(
        "NMN-Bench1-v0", 2, vectorization_mode="vector_entry_point", feedback=False,
        max_episode_steps=horizon, autoreset_mode=AutoresetMode.SAME_STEP,
    )
    rollout = GymWrapper(bare).rollout(steps, break_when_any_done=False)
    np.testing.assert_array_equal(rollout["next", "done"][..., 0].numpy(), expected[:2])


@pytest.mark.parametrize("env_id", ["NMN-Bench2-v0", "NMN-HalfCheetahDir-v0"])
def test_human_render_mode_points_to_rgb_array_and_the_gymnasium_wrappers(env_id):
    with pytest.raises(ValueError, match="rgb_array.*HumanRendering.*RecordVideo"):
        gym.make(env_id, render_mode="human")
