"""The SB3 adapter over a Gymnasium vector env behaves like SB3's DummyVecEnv over the single env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import error
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

import nmn_envs
from nmn_envs.sb3_vec_env import SB3VecEnv, make_sb3_vec_env

NATIVE_IDS = list(nmn_envs.BENCHMARKS) + list(nmn_envs.CLASSIC_TASKS)


def short_length(env_id: str) -> int:
    """A short meta-episode length; an episodic task keeps its own (its trials fix it)."""
    env_class = {**nmn_envs.BENCHMARKS, **nmn_envs.CLASSIC_TASKS}[env_id][0]
    return nmn_envs.ENV_IDS[env_id] if env_class.core_class.trial_steps else 9


def assert_same_observation(first, second, context):
    assert first.keys() == second.keys(), context
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=f"{context} {key}")


@pytest.mark.parametrize(
    ("env_id", "mode"),
    [(env_id, "vector_entry_point") for env_id in NATIVE_IDS] + [("NMN-Bench1-v0", "sync")],
)
def test_matches_dummy_vec_env_over_the_single_env(env_id, mode):
    num_envs, seed = 3, 21
    length = short_length(env_id)
    steps = 2 * length + 5
    vector = gym.make_vec(env_id, num_envs, vectorization_mode=mode, max_episode_steps=length)
    adapted = SB3VecEnv(vector)
    adapted.seed(seed)
    dummy = DummyVecEnv([lambda: gym.make(env_id, max_episode_steps=length)] * num_envs)
    dummy.seed(seed)
    assert adapted.observation_space == dummy.observation_space
    assert adapted.action_space == dummy.action_space
    assert_same_observation(adapted.reset(), dummy.reset(), "reset")
    space = adapted.action_space
    space.seed(0)
    ended = truncated = 0
    for t in range(steps):
        actions = np.stack([space.sample() for _ in range(num_envs)])
        adapted_step = adapted.step(actions)
        dummy_step = dummy.step(actions)
        assert_same_observation(adapted_step[0], dummy_step[0], f"step {t}")
        for got, expected in zip(adapted_step[1:3], dummy_step[1:3]):
            np.testing.assert_array_equal(got, expected, err_msg=f"step {t}")
            assert got.dtype == expected.dtype
        for row, (got, expected) in enumerate(zip(adapted_step[3], dummy_step[3])):
            assert got["TimeLimit.truncated"] == expected["TimeLimit.truncated"]
            assert ("terminal_observation" in got) == ("terminal_observation" in expected)
            if "terminal_observation" in expected:
                assert_same_observation(
                    got["terminal_observation"],
                    expected["terminal_observation"],
                    f"step {t} row {row}",
                )
                ended += 1
                truncated += expected["TimeLimit.truncated"]
    assert ended >= num_envs and truncated >= 1


def test_reset_mask_resets_only_the_marked_sub_environments():
    env = gym.make_vec("NMN-Bench1-v0", num_envs=3, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    actions = np.full((3, 1), 0.3)
    stepped, *_ = env.step(actions)
    tasks = env.unwrapped.tasks
    mask = np.array([False, True, False])
    observation, _ = env.reset(options={"reset_mask": mask})
    for key in ("observation", "prev_action", "prev_reward"):
        np.testing.assert_array_equal(observation[key][~mask], stepped[key][~mask])
    assert np.all(observation["prev_action"][1] == 0.0) and observation["prev_reward"][1, 0] == 0.0
    after = env.unwrapped.tasks
    assert after[0] == tasks[0] and after[2] == tasks[2] and after[1] != tasks[1]


def test_reset_mask_is_checked():
    env = gym.make_vec("NMN-Bench2-v0", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(error.ResetNeeded, match="first reset"):
        env.reset(options={"reset_mask": np.array([True, False])})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="boolean array of shape"):
        env.reset(options={"reset_mask": np.array([1, 0])})
    with pytest.raises(ValueError, match="boolean array of shape"):
        env.reset(options={"reset_mask": np.array([True])})


def test_attributes_are_read_from_the_vector_env():
    venv = make_sb3_vec_env("NMN-Bench3-v0", 4, seed=1)
    assert venv.get_attr("render_mode") == [None] * 4
    assert venv.get_attr("max_episode_steps", indices=[0, 2]) == [5000, 5000]
    task = venv.env_method("sample_task", np.random.default_rng(0))[0]
    assert isinstance(task, nmn_envs.TwoTargetsTask)
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 4
    with pytest.raises(ValueError, match="indices=None"):
        venv.set_attr("max_episode_steps", 10, indices=[0])
    with pytest.raises(AttributeError, match="no_such_attribute"):
        venv.get_attr("no_such_attribute")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="gymnasium.vector.VectorEnv"):
        SB3VecEnv(gym.make("NMN-Bench1-v0"))
    same_step = gym.make_vec(
        "NMN-Bench1-v0",
        num_envs=2,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    with pytest.raises(ValueError, match="next-step autoreset"):
        SB3VecEnv(same_step)
    venv = make_sb3_vec_env("NMN-Bench1-v0", 2)
    venv.set_options({"task": {"offset": 1.0}})
    with pytest.raises(ValueError, match="reset options"):
        venv.reset()


def test_recurrent_ppo_trains_on_the_native_vector_env():
    num_envs, n_steps, length = 4, 16, 8
    venv = VecMonitor(make_sb3_vec_env("NMN-Bench1-v0", num_envs, seed=0, max_episode_steps=length))
    model = RecurrentPPO(
        "MultiInputLstmPolicy",
        venv,
        n_steps=n_steps,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"lstm_hidden_size": 8, "net_arch": []},
    )
    model.learn(total_timesteps=2 * num_envs * n_steps)
    assert model.num_timesteps == 2 * num_envs * n_steps
    episodes = list(model.ep_info_buffer)
    assert len(episodes) == 2 * num_envs * n_steps // length
    assert all(episode["l"] == length for episode in episodes)


def test_the_documented_vec_monitor_line_serves_eval_callback(tmp_path):
    import warnings

    from stable_baselines3.common.callbacks import EvalCallback

    length = 8
    train_env = VecMonitor(make_sb3_vec_env("NMN-Bench1-v0", 2, seed=0, max_episode_steps=length))
    eval_env = VecMonitor(make_sb3_vec_env("NMN-Bench1-v0", 2, seed=50, max_episode_steps=length))
    callback = EvalCallback(eval_env, n_eval_episodes=2, eval_freq=16, log_path=str(tmp_path), verbose=0)
    model = RecurrentPPO(
        "MultiInputLstmPolicy", train_env, n_steps=16, batch_size=32, n_epochs=1, seed=0,
        policy_kwargs={"lstm_hidden_size": 8, "net_arch": []},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(total_timesteps=64, callback=callback)
    assert not [w for w in caught if "Monitor" in str(w.message)]
    evaluations = np.load(tmp_path / "evaluations.npz")
    assert evaluations["ep_lengths"].shape[1] == 2 and np.all(evaluations["ep_lengths"] == length)
    assert np.isfinite(callback.last_mean_reward)
