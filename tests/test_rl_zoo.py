"""rl-baselines3-zoo trains the NMN from the shipped hyperparameter file, as the file is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sb3_contrib import RecurrentPPO

from policies import NMNPolicy
from policies.config import HYPERPARAMS_DIR, load_hyperparams

ENV_ID = "NMN-Bench1-v0"


def test_rl_zoo_trains_the_nmn_from_the_shipped_file(tmp_path: Path) -> None:
    shipped = HYPERPARAMS_DIR / f"{ENV_ID}.yml"
    command = [
        sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo_lstm", "--env", ENV_ID,
        "-conf", str(shipped), "--gym-packages", "nmn_envs", "-n", "256",
        "--log-folder", str(tmp_path), "--eval-freq", "-1", "--save-freq", "-1", "--seed", "0",
        "--device", "cpu",
        # a small rollout, so that a few hundred steps make whole updates; the rest is the file's
        "-params", "n_envs:4", "n_steps:32", "batch_size:64",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = tmp_path / "ppo_lstm" / f"{ENV_ID}_1"
    # the run's model is the harness's own kind of file: trusted here because this test made it
    model = RecurrentPPO.load(run / f"{ENV_ID}.zip", device="cpu")
    recipe = load_hyperparams(ENV_ID)
    assert isinstance(model.policy, NMNPolicy) and model.num_timesteps >= 256
    assert model.policy.recurrent_sizes == tuple(recipe.policy_kwargs["nmn"]["recurrent_sizes"])
    # the file's head for the NMN on Bench1: SB3's state-independent std (its comment says why)
    assert model.policy.std_from_actor == recipe.policy_kwargs["nmn"]["state_dependent_std"] is False
    assert (model.gamma, model.gae_lambda, model.n_epochs) == (recipe.gamma, recipe.gae_lambda, recipe.n_epochs)
    assert (run / ENV_ID / "vecnormalize.pkl").is_file()  # normalize: rewards scaled, as the file says
