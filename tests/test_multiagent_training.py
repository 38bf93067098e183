"""Parameter-shared training of teams (``nmn-train --agents N``) through the native SB3 VecEnv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from sb3_contrib import RecurrentPPO

from nmn_envs.multiagent import OTHERS_KEYS
from nmn_envs.sb3_vec_env import make_sb3_team_vec_env
from training.train import main, resume

th.set_num_threads(1)

def test_team_vec_env_rows_are_agents_and_teams_end_together():
    venv = make_sb3_team_vec_env("NMN-Bench1-v0", num_teams=3, num_agents=2, seed=5, max_episode_steps=4)
    assert venv.num_envs == 6
    assert set(OTHERS_KEYS) <= set(venv.observation_space.spaces)
    observation = venv.reset()
    assert observation["others_observation"].shape == (6, 1, 1)
    for step in range(4):
        observation, rewards, dones, infos = venv.step(np.zeros((6, 1), np.float32))
        if step < 3:
            np.testing.assert_array_equal(observation["others_prev_reward"][0::2, 0, 0], rewards[1::2])
    assert dones.all()
    assert all(info["TimeLimit.truncated"] for info in infos)
    assert set(OTHERS_KEYS) <= set(infos[0]["terminal_observation"])
    assert not any(np.any(observation[key]) for key in OTHERS_KEYS)  # the next meta-episode
    tasks = venv.env.unwrapped.core.task_table[:, 0]
    np.testing.assert_array_equal(tasks[0::2], tasks[1::2])


def test_cli_trains_one_shared_policy_and_resumes(tmp_path: Path, tiny_hyperparams: Path) -> None:
    out = tmp_path / "run"
    argv = ["NMN-Bench1-v0", "--agents", "2", "--timesteps", "64", "--out", str(out),
            "--hyperparams", str(tiny_hyperparams), "--checkpoint-freq", "64", "--validation-tasks", "2",
            "--no-progress-bar"]
    assert main(argv) == 0
    config = yaml.safe_load((out / "config.yml").read_text())
    assert config["agents"] == 2
    model = RecurrentPPO.load(out / "model.zip")
    assert set(OTHERS_KEYS) <= set(model.observation_space.spaces)
    # as if interrupted after its checkpoint, and asked for more steps
    (out / "model.zip").unlink()
    config["timesteps"] = 128
    (out / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    resumed = resume(out, progress_bar=False)
    assert resumed.num_timesteps >= 128 and resumed.n_envs == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agents", "0"], "agents must be a positive integer"),
        (["--agents", "2", "NMN-HalfCheetahDir-v0"], "native batched cores"),
    ],
)
def test_bad_agents_are_refused(tmp_path: Path, argv, message, capsys) -> None:
    env_id = next((arg for arg in argv if arg.startswith("NMN-")), "NMN-Bench1-v0")
    options = [arg for arg in argv if not arg.startswith("NMN-")]
    with pytest.raises(SystemExit):
        main([env_id, *options, "--timesteps", "10", "--out", str(tmp_path / "run")])
    assert message in capsys.readouterr().err
