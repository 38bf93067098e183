"""Hostile but honest input to the environments: refused with a clear error, nothing changed.

The reproductions come first; then a sweep over every native environment that throws malformed
actions, tasks and reset options at single and vector envs and checks, after each refusal,
that the environment is exactly as it was (same observation, same next step).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

import nmn_envs
from nmn_envs import MovingTargetEnv
from tests.conftest import NUMPY_IDS, random_actions


def test_a_complex_action_is_refused_not_cast():
    env = gym.make("NMN-Bench1-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="real, not complex"):
        env.step(np.array([0.1 + 0.5j]))
    vec = gym.make_vec("NMN-Bench1-v0", num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="real, not complex"):
        vec.step(np.array([[0.1], [0.2 + 1j]]))


@pytest.mark.parametrize("value", ["3", True, np.bool_(False), b"3", None, [3.0]])
def test_task_fields_must_be_numbers(value):
    with pytest.raises(ValueError, match=r"MovingTargetTask.offset must be a number, got "):
        MovingTargetEnv().reset(options={"task": {"offset": value}})


def test_numpy_numbers_are_numbers():
    env = MovingTargetEnv()
    env.reset(options={"task": {"offset": np.float32(2.5)}})
    assert env.unwrapped.task.offset == 2.5


@pytest.mark.parametrize("value", ["0.5", True, None, [0.5]])
def test_a_probability_given_as_anything_else_is_a_value_error(value):
    with pytest.raises(ValueError, match="switch_probability must be a probability"):
        gym.make("NMN-Bench1-v0", switch_probability=value)
    with pytest.raises(ValueError, match="swap_probability must be a probability"):
        gym.make("NMN-TwoStep-v0", swap_probability=value)


def test_trials_per_task_is_refused_alike_by_make_and_make_vec():
    message = "trials_per_task=3 needs an episodic task; MovingTargetCore plays one long episode"
    with pytest.raises(ValueError, match=message):
        gym.make("NMN-Bench1-v0", trials_per_task=3)
    with pytest.raises(ValueError, match=message):
        gym.make_vec(
            "NMN-Bench1-v0", num_envs=2, vectorization_mode="vector_entry_point", trials_per_task=3
        )
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match="trials_per_task must be a positive integer"):
            gym.make("NMN-Navigation2D-v0", trials_per_task=bad)
    assert gym.make("NMN-Bench1-v0", trials_per_task=1) is not None


@pytest.mark.parametrize("action", [0.3, np.float64(0.3), [[0.3]]])
def test_a_wrong_shaped_action_is_reported_with_its_own_shape(action):
    env = gym.make("NMN-Bench1-v0", feedback=False)
    env.reset(seed=0)
    shape = np.shape(action)
    with pytest.raises(ValueError, match=rf"an action of shape {re_shape(shape)} does not fit"):
        env.step(action)


def re_shape(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_a_discrete_action_of_the_wrong_shape_is_reported_with_its_own_shape():
    env = gym.make("NMN-Bandit-v0", feedback=False)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"an action of shape \(1,\) does not fit Discrete\(2\)"):
        env.step(np.array([1]))


def test_a_failed_vector_reset_changes_nothing():
    """The reproduction: offsets [1, 2, 3] became [5, 6, 3] after a refused reset."""
    vec = gym.make_vec("NMN-Bench1-v0", num_envs=3, vectorization_mode="vector_entry_point")
    vec.reset(seed=0, options={"tasks": [{"offset": 1.0}, {"offset": 2.0}, {"offset": 3.0}]})
    with pytest.raises(ValueError, match="outside the task distribution's support"):
        vec.reset(seed=7, options={"tasks": [{"offset": 5.0}, {"offset": 6.0}, {"offset": 99.0}]})
    assert [task.offset for task in vec.unwrapped.tasks] == [1.0, 2.0, 3.0]


def _snapshot(env: gym.Env | gym.vector.VectorEnv, action: np.ndarray) -> tuple:
    """What the env does next: the observation and reward of ``action`` on a copy."""
    twin = copy.deepcopy(env)
    observation, reward, *_ = twin.step(action)
    flat = (
        observation
        if isinstance(observation, np.ndarray)
        else np.concatenate([np.ravel(value) for value in observation.values()])
    )
    return (
        np.asarray(flat).tolist(),
        np.asarray(reward).tolist(),
        [task.to_dict() for task in _tasks(env)],
    )


def _tasks(env) -> list:
    unwrapped = env.unwrapped
    return unwrapped.tasks if hasattr(unwrapped, "tasks") else [unwrapped.task]


HOSTILE_ACTIONS = [
    "left",
    None,
    1 + 2j,
    [[[0.1]]],
    [0.1, [0.2]],
    {"action": 0},
    np.array(["1"]),
    np.full((64, 64), 0.1),
]


@pytest.mark.parametrize("env_id", NUMPY_IDS)
def test_sweep_single_envs_refuse_hostile_input_and_stay_unchanged(env_id):
    env = gym.make(env_id)
    env.reset(seed=3)
    probe = random_actions(env.unwrapped.action_space, 1, 0)[0]
    before = _snapshot(env, probe)
    task_class = type(env.unwrapped.task)
    hostile_tasks = [
        {name: "1" for name in task_class.field_names()},
        {name: float("nan") for name in task_class.field_names()},
        {name: 1e308 for name in task_class.field_names()},
        {"not_a_field": 0.0},
        [0.0],
    ]
    for task in hostile_tasks:
        with pytest.raises(ValueError):
            env.reset(seed=5, options={"task": task})
        assert _snapshot(env, probe) == before, task
    for options in ({"tasks": []}, {"task": None, "bogus": 1}, {"state": {"position": "x"}}):
        with pytest.raises(ValueError):
            env.reset(seed=5, options=options)
        assert _snapshot(env, probe) == before, options
    for action in HOSTILE_ACTIONS:
        with pytest.raises(ValueError):
            env.step(action)
        assert _snapshot(env, probe) == before, action


@pytest.mark.parametrize("env_id", NUMPY_IDS)
def test_sweep_vector_envs_refuse_hostile_resets_and_stay_unchanged(env_id):
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    vec.reset(seed=11)
    space = vec.unwrapped.single_action_space
    probe = np.stack([random_actions(space, 1, seed)[0] for seed in range(3)])
    before = _snapshot(vec, probe)
    good = [task.to_dict() for task in vec.unwrapped.tasks]
    bad = {name: float("inf") for name in good[0]}
    for options in (
        {"tasks": [good[0], good[1], bad]},
        {"tasks": good[:2]},
        {"tasks": good, "states": [None, None, {"bogus": 1}]},
        {"reset_mask": [1, 0, 1]},
    ):
        with pytest.raises(ValueError):
            vec.reset(seed=99, options=options)
        assert _snapshot(vec, probe) == before, options
    with pytest.raises(ValueError):
        vec.reset(seed=[1, 2])
    assert _snapshot(vec, probe) == before


@pytest.mark.parametrize("env_id", NUMPY_IDS)
def test_every_reward_lies_in_the_declared_step_range(env_id):
    """The leaderboard bounds returns by ``core.reward_range``; random play never leaves it."""
    vec = gym.make_vec(env_id, num_envs=16, vectorization_mode="vector_entry_point")
    low, high = vec.unwrapped.core.reward_range
    assert np.isfinite(low) and np.isfinite(high) and low < high
    vec.reset(seed=0)
    space = vec.unwrapped.single_action_space
    for step in range(600):
        actions = np.stack([random_actions(space, 1, 1000 * step + row)[0] for row in range(16)])
        _, rewards, *_ = vec.step(actions)
        assert np.all((rewards >= low) & (rewards <= high)), (step, rewards)


def test_every_env_of_the_suite_with_a_leaderboard_declares_a_reward_range():
    for env_id in NUMPY_IDS:
        core = gym.make(env_id).unwrapped.core
        assert type(core).reward_range != nmn_envs.core.TaskCore.reward_range, env_id
