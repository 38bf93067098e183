"""Bad input gets a clear error that names what was wrong."""

import gymnasium as gym
import numpy as np
import pytest

from nmn_envs import (
    FeedbackWrapper,
    MovingTargetEnv,
    MovingTargetTask,
    TwoTargetsEnv,
    TwoTargetsTask,
    WindNavigationEnv,
    WindNavigationTask,
)
from tests.conftest import BENCH_IDS


@pytest.mark.parametrize("env_id", BENCH_IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_are_refused(env_id, bad):
    env = gym.make(env_id)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        env.step(np.array([bad]))
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        vec.step(np.array([[0.0], [bad]]))


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_wrong_action_shapes_are_refused(env_id):
    env = gym.make(env_id, feedback=False)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected \(1,\)"):
        env.step(np.array([0.1, 0.2]))
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(3, 1\) for a batch of 3"):
        vec.step(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="must be numbers"):
        env.step("left")


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"offset": 1.0, "speed": 2.0}, r"unknown MovingTargetTask field\(s\) \['speed'\]"),
        ({}, r"missing MovingTargetTask field\(s\) \['offset'\]"),
        ({"offset": 10.5}, r"outside the task distribution's support \[-10.0, 10.0\]"),
        ({"offset": float("nan")}, "must be finite"),
        ({"offset": "far"}, "must be a number"),
        ("offset=1", "must be a MovingTargetTask or a mapping"),
    ],
)
def test_bad_tasks_are_refused(task, message):
    env = MovingTargetEnv()
    with pytest.raises(ValueError, match=message):
        env.reset(options={"task": task})


def test_task_of_another_benchmark_and_bad_categories_are_refused():
    bench3 = TwoTargetsEnv()
    with pytest.raises(ValueError, match="expected a TwoTargetsTask, got a MovingTargetTask"):
        bench3.reset(options={"task": MovingTargetEnv().sample_task(np.random.default_rng(0))})
    task = {"target0_x": 0, "target0_y": 0, "target1_x": 0.5, "target1_y": 0.5, "good_target": 0.5}
    with pytest.raises(ValueError, match="good_target must be a whole number"):
        bench3.reset(options={"task": task})


def test_bad_states_and_options_are_refused():
    env = WindNavigationEnv()
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['tsk'\]"):
        env.reset(options={"tsk": {}})
    with pytest.raises(ValueError, match=r"position=\[3.0, 0.0\] must be finite and inside \[-2.0, 2.0\]"):
        env.reset(options={"state": {"position": (3.0, 0.0)}})
    with pytest.raises(ValueError, match=r"unknown state key\(s\) \['velocity'\]"):
        env.reset(options={"state": {"position": (0.0, 0.0), "velocity": 1}})
    vec = gym.make_vec("NMN-Bench1-v0", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match=r"options\['tasks'\] has 1 entries for 2 sub-environments"):
        vec.reset(options={"tasks": [{"offset": 0.0}]})


def test_bad_constructor_arguments_are_refused():
    with pytest.raises(ValueError, match="switch_probability must be a probability in"):
        gym.make("NMN-Bench1-v0", switch_probability=1.5)
    with pytest.raises(ValueError, match="swap_steps must be non-negative step indices"):
        gym.make("NMN-Bench3-v0", swap_steps=[-1])
    with pytest.raises(ValueError, match="trials_per_task must be a positive integer"):
        gym.make("NMN-Bench1-v0", trials_per_task=0)
    with pytest.raises(ValueError, match="render_mode must be one of"):
        MovingTargetEnv(render_mode="ansi")
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        gym.make_vec("NMN-Bench1-v0", num_envs=0, vectorization_mode="vector_entry_point")


def test_stepping_before_reset_or_after_the_end_is_refused():
    env = MovingTargetEnv()
    with pytest.raises(gym.error.ResetNeeded, match="call reset"):
        env.step(np.array([0.0]))
    wrapped = FeedbackWrapper(gym.wrappers.TimeLimit(MovingTargetEnv(), 3))
    wrapped.reset(seed=0)
    for _ in range(3):
        truncated = wrapped.step(np.array([0.0]))[3]
    assert truncated
    with pytest.raises(gym.error.ResetNeeded, match="meta-episode has ended"):
        wrapped.step(np.array([0.0]))
    vec = gym.make_vec("NMN-Bench1-v0", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(gym.error.ResetNeeded):
        vec.step(np.zeros((2, 1)))


def _task_twins(env_id: str):
    """Two tasks of ``env_id`` that differ only in what the agent must infer."""
    if env_id == "NMN-Bench1-v0":
        return MovingTargetTask(offset=-7.0), MovingTargetTask(offset=4.0)
    if env_id == "NMN-Bench2-v0":
        return WindNavigationTask(0.3, -0.2, 1.0), WindNavigationTask(0.3, -0.2, 4.0)
    return TwoTargetsTask(0.1, 0.2, -0.5, 0.6, 0), TwoTargetsTask(0.1, 0.2, -0.5, 0.6, 1)


@pytest.mark.parametrize("env_id", BENCH_IDS)
def test_task_never_leaks_into_observations_or_info(env_id):
    env = gym.make(env_id)
    position = 1.0 if env_id == "NMN-Bench1-v0" else (1.9, -1.9)
    results = [
        env.reset(seed=0, options={"task": task, "state": {"position": position}})
        for task in _task_twins(env_id)
    ]
    (first_obs, first_info), (second_obs, second_info) = results
    for key in first_obs:
        np.testing.assert_array_equal(first_obs[key], second_obs[key])
    assert first_info == second_info == {}
