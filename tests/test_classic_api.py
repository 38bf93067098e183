"""The classic NumPy tasks: checkers, task API, determinism, vector == single, no leaks, bad input."""

import json
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import error
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import nmn_envs
from nmn_envs.registration import make_task_env
from nmn_envs.tasks import Task
from nmn_envs.wrappers import FeedbackWrapper
from tests.conftest import random_actions

CLASSIC_IDS = list(nmn_envs.CLASSIC_TASKS)
MARKS_TRIALS = {"NMN-TwoStep-v0", "NMN-Navigation2D-v0"}
ALLOWED_INFO_KEYS = {"trial_start", "_trial_start", "trial", "_trial"}
BANDIT_VARIANTS = ["independent", "dependent", "easy", "medium", "hard"]

# Settings that exercise options of each task: switches, variants, several trials, no feedback.
VECTOR_CASES = [
    ("NMN-Bandit-v0", {}),
    ("NMN-Bandit-v0", {"variant": "hard", "swap_steps": [3, 40]}),
    ("NMN-Bandit-v0", {"variant": "dependent", "max_episode_steps": 30}),
    ("NMN-TwoStep-v0", {}),
    ("NMN-TwoStep-v0", {"swap_probability": 0.3, "max_episode_steps": 31}),
    ("NMN-Harlow-v0", {}),
    ("NMN-Harlow-v0", {"pool": "test", "max_episode_steps": 20}),
    ("NMN-Navigation2D-v0", {}),
    ("NMN-Navigation2D-v0", {"trials_per_task": 3, "max_episode_steps": 250}),
    ("NMN-Navigation2D-v0", {"feedback": False}),
]


def flat(observation) -> np.ndarray:
    if isinstance(observation, dict):
        return np.concatenate([np.ravel(value) for value in observation.values()])
    return np.ravel(observation)


def rollout(env_id: str, seed: int, steps: int, options=None, **kwargs):
    """Observations, rewards and end flags of ``steps`` steps (resetting after an end)."""
    env = gym.make(env_id, **kwargs)
    observation, info = env.reset(seed=seed, options=options)
    infos = [info]
    trace = [flat(observation)]
    for action in random_actions(env.action_space, steps, seed):
        observation, reward, terminated, truncated, info = env.step(action)
        trace.append(np.concatenate([flat(observation), [reward, terminated, truncated]]))
        infos.append(info)
        if terminated or truncated:
            observation, info = env.reset()
            trace.append(flat(observation))
    return np.concatenate(trace), infos, env


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_gymnasium_and_sb3_checkers(env_id):
    """Gymnasium's checker on the bare class and the meta-RL ready env, SB3's on both ids."""
    env_class, _ = nmn_envs.CLASSIC_TASKS[env_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for env in (env_class(), make_task_env(env_class), gym.make(env_id).unwrapped):
            gym_check_env(env)
        for feedback in (True, False):
            sb3_check_env(gym.make(env_id, feedback=feedback))


@pytest.mark.parametrize("variant", BANDIT_VARIANTS)
def test_bandit_variants_step_through_an_episode(variant):
    env = gym.make("NMN-Bandit-v0", variant=variant)
    env.reset(seed=0)
    ends = [env.step(env.action_space.sample())[2:4] for _ in range(100)]
    assert ends == [(False, False)] * 99 + [(False, True)]


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_registered_length_is_the_meta_episode_and_can_be_changed(env_id):
    _, steps = nmn_envs.CLASSIC_TASKS[env_id]
    assert gym.spec(env_id).max_episode_steps == steps == nmn_envs.ENV_IDS[env_id]
    for length in (steps, 7):
        env = gym.make(env_id, max_episode_steps=length)
        env.reset(seed=0)
        ends = [env.step(env.action_space.sample())[3] for _ in range(length)]
        assert ends == [False] * (length - 1) + [True]
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", max_episode_steps=7)
    vec.reset(seed=0)
    truncations = [vec.step(vec.action_space.sample())[3] for _ in range(8)]
    assert truncations[6].all() and not np.any(truncations[:6]) and not truncations[7].any()


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_wrapped_observation_layout(env_id):
    env = gym.make(env_id)
    observation, _ = env.reset(seed=3)
    keys = ["observation", "prev_action", "prev_reward"]
    assert list(observation) == keys + (["trial_start"] if env_id in MARKS_TRIALS else [])
    assert not np.any(observation["prev_action"]) and not np.any(observation["prev_reward"])
    if env_id in MARKS_TRIALS:
        assert observation["trial_start"][0] == 1.0
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    observation, reward, *_ = env.step(1 if discrete else env.action_space.high)
    expected = [0.0, 1.0] if discrete else env.action_space.high
    np.testing.assert_array_equal(observation["prev_action"], expected)
    assert observation["prev_reward"][0] == np.float32(reward)


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_same_seed_same_rollout_bit_for_bit(env_id):
    first, _, env = rollout(env_id, seed=7, steps=230)
    second, _, same = rollout(env_id, seed=7, steps=230)
    other, _, _ = rollout(env_id, seed=8, steps=230)
    assert first.tobytes() == second.tobytes() and env.unwrapped.task == same.unwrapped.task
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("env_id", "kwargs"), VECTOR_CASES)
def test_vector_sub_env_equals_single_env_across_trials_and_autoresets(env_id, kwargs):
    num_envs, seed = 3, 11
    steps = 2 * (kwargs.get("max_episode_steps") or nmn_envs.ENV_IDS[env_id]) + 5
    vec = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(num_envs)]
    actions = np.stack([random_actions(vec.single_action_space, steps, i) for i in range(num_envs)], 1)
    vec_obs, vec_info = vec.reset(seed=seed)
    single = [env.reset(seed=seed + i) for i, env in enumerate(singles)]
    done = [False] * num_envs
    for t in range(steps):
        for i, (observation, info) in enumerate(single):
            np.testing.assert_array_equal(flat(observation), flat(
                {key: value[i] for key, value in vec_obs.items()} if isinstance(vec_obs, dict) else vec_obs[i]
            ), err_msg=f"step {t}, sub-env {i}")
            if "trial_start" in info:
                assert info["trial_start"] == vec_info["trial_start"][i]
        vec_obs, rewards, terminated, truncated, vec_info = vec.step(actions[t])
        for i, env in enumerate(singles):
            if done[i]:
                single[i] = env.reset()
                reward, ended = 0.0, False
            else:
                observation, reward, term, trunc, info = env.step(actions[t, i])
                single[i] = (observation, info)
                ended = term or trunc
                assert (terminated[i], truncated[i]) == (term, trunc), (t, i)
            assert rewards[i] == reward, (t, i)
            done[i] = ended


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_task_api(env_id):
    env = gym.make(env_id)
    task = env.unwrapped.sample_task(np.random.default_rng(3))
    assert isinstance(task, Task)
    assert type(task).coerce(json.loads(json.dumps(task.to_dict()))) == task
    env.reset(seed=0, options={"task": task})
    assert env.unwrapped.task == task
    env.reset(seed=0, options={"task": task.to_dict()})
    assert env.unwrapped.task == task
    env.reset(seed=0)
    drawn = env.unwrapped.task
    env.reset(seed=0)
    assert env.unwrapped.task == drawn
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=1, options={"tasks": [task, None]})
    assert vec.unwrapped.tasks[0] == task


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_info_never_carries_the_task(env_id):
    _, infos, env = rollout(env_id, seed=2, steps=220)
    assert len(infos) > 220 and all(set(info) <= ALLOWED_INFO_KEYS for info in infos)
    assert not any(name in info for info in infos for name in env.unwrapped.task.to_dict())


@pytest.mark.parametrize("env_id", ["NMN-Bandit-v0", "NMN-TwoStep-v0", "NMN-Navigation2D-v0"])
def test_observations_do_not_depend_on_the_task(env_id):
    """Same seed and actions on two different tasks: the base observations are identical."""
    env = gym.make(env_id, feedback=False)
    rng = np.random.default_rng(0)
    first = second = env.unwrapped.sample_task(rng)
    while second == first:
        second = env.unwrapped.sample_task(rng)
    traces = []
    for task in (first, second):
        observation, _ = env.reset(seed=4, options={"task": task})
        trace = [observation]
        for action in random_actions(env.action_space, 99, 4):
            trace.append(env.step(action)[0])
        traces.append(np.stack(trace))
    np.testing.assert_array_equal(*traces)


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_bad_tasks_and_options_are_refused(env_id):
    env = gym.make(env_id)
    task = env.unwrapped.sample_task(np.random.default_rng(0)).to_dict()
    name = next(iter(task))
    with pytest.raises(ValueError, match="unknown"):
        env.reset(options={"task": {**task, "speed": 1.0}})
    with pytest.raises(ValueError, match="missing"):
        env.reset(options={"task": {}})
    with pytest.raises(ValueError, match="outside"):
        env.reset(options={"task": {**task, name: 1e6}})
    with pytest.raises(ValueError, match="finite"):
        env.reset(options={"task": {**task, name: float("nan")}})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"goal": 1})
    with pytest.raises(ValueError, match="unknown state key"):
        env.reset(options={"state": {"velocity": 1}})


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_bad_actions_and_stepping_after_the_end_are_refused(env_id):
    env = gym.make(env_id, max_episode_steps=2)
    env.reset(seed=0)
    if isinstance(env.action_space, gym.spaces.Discrete):
        for bad in (2, -1, 0.5, "left"):
            with pytest.raises(ValueError):
                env.step(bad)
    else:
        with pytest.raises(ValueError, match="NaN or infinite"):
            env.step(np.array([np.nan, 0.0]))
        with pytest.raises(ValueError, match="shape"):
            env.step(np.zeros(3))
    env_class, _ = nmn_envs.CLASSIC_TASKS[env_id]
    with pytest.raises(error.ResetNeeded, match="call reset"):
        env_class().step(env.action_space.sample())
    wrapped = FeedbackWrapper(gym.wrappers.TimeLimit(env_class(), 2))
    wrapped.reset(seed=0)
    wrapped.step(env.action_space.sample())
    assert wrapped.step(env.action_space.sample())[3]
    with pytest.raises(error.ResetNeeded, match="meta-episode has ended"):
        wrapped.step(env.action_space.sample())


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("NMN-Bandit-v0", {"variant": "contextual"}, "unknown bandit variant"),
        ("NMN-Bandit-v0", {"horizon": 0}, "horizon"),
        ("NMN-Bandit-v0", {"swap_steps": [-1]}, "swap_steps"),
        ("NMN-TwoStep-v0", {"common_probability": 1.5}, "common_probability"),
        ("NMN-TwoStep-v0", {"swap_probability": -0.1}, "swap_probability"),
        ("NMN-Harlow-v0", {"pool": "validation"}, "unknown object pool"),
        ("NMN-Navigation2D-v0", {"trials_per_task": 0}, "trials_per_task"),
        ("NMN-Navigation2D-v0", {"feedback": False, "trials_per_task": 2}, "needs feedback"),
        ("NMN-TwoStep-v0", {"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_constructor_arguments_are_refused(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)


def test_trials_need_an_episodic_task_in_the_vector_env():
    with pytest.raises(ValueError, match="episodic"):
        gym.make_vec("NMN-TwoStep-v0", num_envs=2, vectorization_mode="vector_entry_point", trials_per_task=2)


@pytest.mark.parametrize("env_id", list(nmn_envs.MUJOCO_TASKS))
def test_mujoco_ids_say_which_extra_they_need_when_mujoco_is_missing(env_id, monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", None)
    with pytest.raises(error.DependencyNotInstalled, match=r"pip install -e \"\.\[mujoco\]\""):
        gym.make(env_id)
