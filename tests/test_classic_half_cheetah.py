"""NMN-HalfCheetahDir and NMN-HalfCheetahVel on Gymnasium's MuJoCo HalfCheetah-v5."""

import os
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("mujoco", reason='the HalfCheetah tasks need the mujoco extra: pip install -e ".[mujoco]"')

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.utils.env_checker import check_env as gym_check_env  # noqa: E402
from stable_baselines3.common.env_checker import check_env as sb3_check_env  # noqa: E402

import nmn_envs  # noqa: E402
from nmn_envs.envs.maml import half_cheetah  # noqa: E402
from nmn_envs.envs.maml.half_cheetah import CONTROL_COST_WEIGHT, HalfCheetahDirTask, HalfCheetahVelTask  # noqa: E402

CHEETAH_IDS = list(nmn_envs.MUJOCO_TASKS)


@pytest.mark.parametrize("env_id", CHEETAH_IDS)
def test_checkers(env_id):
    env_class, _ = nmn_envs.MUJOCO_TASKS[env_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env_class())
        sb3_check_env(gym.make(env_id))


@pytest.mark.parametrize("env_id", CHEETAH_IDS)
def test_an_episode_is_two_trials_of_one_task(env_id):
    env = gym.make(env_id)
    assert gym.spec(env_id).max_episode_steps == 400
    observation, _ = env.reset(seed=0)
    task = env.unwrapped.task
    starts = []
    for step in range(400):
        if observation["trial_start"][0] == 1.0:
            starts.append(step)
        observation, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.unwrapped.task == task
        assert set(info) <= {"x_position", "x_velocity", "trial"}
        assert (terminated, truncated) == (False, step == 399)
    assert starts == [0, 200]


@pytest.mark.parametrize(
    ("env_id", "task", "forward"),
    [
        ("NMN-HalfCheetahDir-v0", HalfCheetahDirTask(direction=-1), lambda v: -v),
        ("NMN-HalfCheetahDir-v0", HalfCheetahDirTask(direction=1), lambda v: v),
        ("NMN-HalfCheetahVel-v0", HalfCheetahVelTask(target_velocity=1.5), lambda v: -abs(v - 1.5)),
    ],
)
def test_reward_is_the_task_forward_term_minus_the_control_cost(env_id, task, forward):
    env = gym.make(env_id, feedback=False)
    env.reset(seed=1, options={"task": task})
    assert env.unwrapped.task == task
    for action in np.random.default_rng(0).uniform(-1.5, 1.5, size=(20, 6)):
        _, reward, _, _, info = env.step(action)
        control = CONTROL_COST_WEIGHT * np.sum(np.clip(action, -1, 1) ** 2)
        assert reward == pytest.approx(forward(info["x_velocity"]) - control, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("env_id", CHEETAH_IDS)
def test_same_seed_same_rollout(env_id):
    def trace(seed):
        env = gym.make(env_id)
        observation, _ = env.reset(seed=seed)
        out = [observation["observation"]]
        for action in np.random.default_rng(0).uniform(-1, 1, size=(30, 6)):
            observation, reward, *_ = env.step(action)
            out.extend([observation["observation"], [reward]])
        return np.concatenate(out), env.unwrapped.task

    first, task = trace(4)
    second, same_task = trace(4)
    assert first.tobytes() == second.tobytes() and task == same_task
    assert not np.array_equal(first, trace(5)[0])


def test_task_distributions_and_bad_tasks():
    rng = np.random.default_rng(0)
    dir_env = nmn_envs.HalfCheetahDirEnv()
    directions = np.array([dir_env.sample_task(rng).direction for _ in range(2000)])
    assert set(directions) == {-1, 1}
    assert abs((directions == 1).mean() - 0.5) < 4 * np.sqrt(0.25 / directions.size)
    vel_env = nmn_envs.HalfCheetahVelEnv()
    velocities = np.array([vel_env.sample_task(rng).target_velocity for _ in range(2000)])
    assert velocities.min() >= 0.0 and velocities.max() <= 2.0
    assert abs(velocities.mean() - 1.0) < 4 * np.sqrt(4 / 12 / velocities.size)
    with pytest.raises(ValueError, match="must be \\+1 or -1"):
        gym.make("NMN-HalfCheetahDir-v0").reset(options={"task": {"direction": 0}})
    with pytest.raises(ValueError, match="outside"):
        gym.make("NMN-HalfCheetahVel-v0").reset(options={"task": {"target_velocity": 3.0}})
    with pytest.raises(ValueError, match="NaN or infinite"):
        env = gym.make("NMN-HalfCheetahVel-v0")
        env.reset(seed=0)
        env.step(np.full(6, np.nan))


def test_making_an_env_prints_no_deprecation_notice_and_passes_other_mujoco_warnings_on(capfd):
    envs = [gym.make(env_id) for env_id in CHEETAH_IDS for _ in range(3)]
    assert all(env.reset(seed=0) for env in envs)
    printed = capfd.readouterr()
    assert "settotalmass" not in printed.out + printed.err
    with pytest.warns(RuntimeWarning, match="MuJoCo: Nan, Inf or huge value in QACC"):
        half_cheetah._forward_mujoco_warning("Nan, Inf or huge value in QACC at DOF 0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        half_cheetah._forward_mujoco_warning(f"{half_cheetah.DEPRECATED_TOTAL_MASS} and will be removed")


def test_sync_vectorisation():
    vec = gym.make_vec("NMN-HalfCheetahDir-v0", num_envs=2)
    assert isinstance(vec, gym.vector.SyncVectorEnv)
    observation, _ = vec.reset(seed=0)
    assert observation["observation"].shape == (2, 17)
    with pytest.raises(gym.error.Error, match="vector entry point"):
        gym.make_vec("NMN-HalfCheetahDir-v0", num_envs=2, vectorization_mode="vector_entry_point")


def test_rgb_array_frames_headless_without_setting_mujoco_gl():
    """A fresh process with no display and no MUJOCO_GL: the env picks EGL by itself."""
    script = (
        "import os, gymnasium as gym, nmn_envs\n"
        "env = gym.make('NMN-HalfCheetahDir-v0', render_mode='rgb_array')\n"
        "env.reset(seed=0)\n"
        "frame = env.render()\n"
        "print(os.environ['MUJOCO_GL'], frame.dtype, frame.ndim, frame.shape[2])\n"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY", "PYOPENGL_PLATFORM")
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["egl", "uint8", "3", "3"]


def test_harness_plays_half_cheetah_through_the_sync_vector_env(tmp_path):
    """Each sub-env plays its own task of the set: returns equal a single env's on that task."""
    from evaluate import evaluate
    from evaluate.cli import main
    from evaluate.schema import load_result
    from evaluate.task_sets import task_set

    def still(observation):
        return np.full((len(observation["observation"]), 6), 0.3)

    result = evaluate(still, "NMN-HalfCheetahVel-v0", n_tasks=3, references=(), reps=100)
    tasks, seeds = task_set("NMN-HalfCheetahVel-v0").head(3)
    for task, seed, harness_return in zip(tasks, seeds, result.agent.returns):
        env = gym.make("NMN-HalfCheetahVel-v0")
        env.reset(seed=seed, options={"task": task})
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(np.full(6, 0.3))
            total += reward
            done = terminated or truncated
        assert harness_return == pytest.approx(total, rel=1e-12)
    assert result.max_episode_steps == 400

    main(["NMN-HalfCheetahDir-v0", "--agent", "random", "--n-tasks", "2", "--reps", "100",
          "--out", str(tmp_path), "--no-progress"])
    assert load_result(tmp_path / "result.json").agent.name == "random"
