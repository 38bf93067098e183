"""Hostile models, run folders and configs are refused with a clear error before any work."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from sb3_contrib import RecurrentPPO

import nmn_envs  # noqa: F401  (registers the ids)
from evaluate.cli import main as nmn_eval
from nmn_bench.sweep.cli import main as nmn_sweep
from nmn_bench.zoo import main as nmn_zoo
from nmn_envs.multiagent import MAX_AGENTS, parallel_env
from policies import RNNPolicy
from policies.config import Hyperparams, dump_hyperparams, load_hyperparams
from policies.serialization import MAX_PARAMETERS, UnsafeModelError, load_safe, save_safe
from training.train import CONFIG_FILE, MODEL_FILE, latest_checkpoint, main as nmn_train, resume, train
from tests.conftest import TINY
from tests.test_safe_loading import _rewrite, crafted_sb3_zip

ENV_ID = "NMN-Bench1-v0"


def _tensors(**shapes: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    torch.save({name: torch.zeros(shape) for name, shape in shapes.items()}, buffer)
    return buffer.getvalue()


@pytest.fixture
def safe_model(tmp_path):
    model = RecurrentPPO(RNNPolicy, gym.make(ENV_ID), n_steps=8, batch_size=8, seed=0)
    return save_safe(model, tmp_path / "rnn.safe.zip", env_id=ENV_ID)


@pytest.mark.parametrize(
    ("metadata", "weights", "message"),
    [
        # an empty tensor with a huge dimension used to pass the size guard
        ({"policy_kwargs": {"recurrent_sizes": [10**12]}}, _tensors(x=(0, 10**12)), "positive integers of at most"),
        # each size is modest, the network is not: counted before anything is allocated
        ({"policy_kwargs": {"recurrent_sizes": [30_000, 30_000]}}, _tensors(x=(0, 30_000), y=(1,)), f"over the limit of {MAX_PARAMETERS}"),
        ({"policy_kwargs": {"recurrent_sizes": [64]}}, _tensors(x=(0, 64)), "the weights do not fit the policy: missing"),
        ({"policy_class": "MultiInputLstmPolicy", "policy_kwargs": {"lstm_hidden_size": -1}}, None, "'lstm_hidden_size' = -1: layer sizes must be positive"),
        ({"policy_kwargs": {"net_arch": [-3]}}, None, "'net_arch' = -3: layer sizes must be positive"),
        ({"policy_kwargs": {"net_arch": {"pi": [0], "vf": [8]}}}, None, r"'net_arch.pi' = 0: layer sizes must be positive"),
        ({"env_kwargs": {"feedback": False}}, None, r"do not build a RNNPolicy on the spaces of NMN-Bench1-v0 with env_kwargs \{'feedback': False\}"),
    ],
)
def test_a_safe_model_is_sized_from_its_metadata_before_anything_is_built(safe_model, metadata, weights, message):
    _rewrite(safe_model, metadata, weights)
    with pytest.raises(ValueError, match=message):
        load_safe(safe_model)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny finished Bench1 RNN run (64 steps, a checkpoint every 32); tests copy it."""
    folder = tmp_path_factory.mktemp("run")
    hyperparams = folder / "tiny.yml"
    hyperparams.write_text(dump_hyperparams(Hyperparams(**TINY, policy_kwargs=load_hyperparams(ENV_ID).policy_kwargs), ENV_ID))
    train(ENV_ID, "rnn", 0, 64, folder / "run", hyperparams_file=hyperparams, validation_tasks=4,
          eval_freq=32, checkpoint_freq=32, progress_bar=False)
    return folder / "run"


def _copy(run: Path, tmp_path: Path, **config_changes) -> Path:
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    config = yaml.safe_load((copy / CONFIG_FILE).read_text())
    (copy / CONFIG_FILE).write_text(yaml.safe_dump({**config, **config_changes}, sort_keys=False))
    return copy


def test_resume_unpickles_nothing_and_an_old_pickled_checkpoint_needs_the_opt_in(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path, timesteps=96)
    (run / MODEL_FILE).unlink()
    assert all(path.name.endswith((".safe.zip", ".training.pt")) for path in (run / "checkpoints").iterdir())
    # a run folder of an earlier version: its latest checkpoint is a Stable-Baselines3 zip
    marker = tmp_path / "marker"
    crafted_sb3_zip(run / "checkpoints" / "model_80_steps.zip", marker)
    with pytest.raises(UnsafeModelError, match="--trust-pickle"):
        resume(run, progress_bar=False)
    with pytest.raises(SystemExit):
        nmn_train(["--resume", str(run), "--no-progress-bar"])
    assert "resume with --trust-pickle (trust_pickle=True) only a run folder you trust" in capsys.readouterr().err
    assert not marker.exists()
    # a genuine one of an earlier version still resumes, with the opt-in
    (run / "checkpoints" / "model_80_steps.zip").unlink()
    for stale in (run / "checkpoints").glob("model_64_steps.*"):
        stale.unlink()
    shutil.copyfile(finished_run / MODEL_FILE, run / "checkpoints" / "model_64_steps.zip")
    assert latest_checkpoint(run) == (64, run / "checkpoints" / "model_64_steps.zip")
    with pytest.warns(UserWarning, match="with pickle"):
        assert resume(run, progress_bar=False, trust_pickle=True).num_timesteps == 96


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nmn: !!python/object/apply:os.system ['echo pwned']\n", "is not plain YAML"),
        ("nmn: {policy: [\n", "is not plain YAML"),
        (None, "policy_kwargs is over the limit of"),
        ({"bogus_size": 3}, "do not build the nmn policy: .*bogus_size"),
    ],
)
def test_a_hostile_hyperparameter_file_is_refused_before_training(tmp_path, capsys, content, message):
    path = tmp_path / "hyperparams.yml"
    if isinstance(content, str):
        path.write_text(content)
    else:
        sizes = {"recurrent_sizes": [8] * 70_000} if content is None else content  # about 200 KB
        entries = yaml.safe_load(dump_hyperparams(load_hyperparams(ENV_ID), ENV_ID))
        entries["nmn"]["policy_kwargs"] = {**entries["nmn"]["policy_kwargs"], **sizes}
        path.write_text(yaml.safe_dump(entries))
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as caught:
        nmn_train([ENV_ID, "--out", str(out), "--hyperparams", str(path), "--no-progress-bar"])
    assert caught.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_resume_refuses_a_run_config_with_a_tag(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    (run / MODEL_FILE).unlink()
    (run / CONFIG_FILE).write_text("env_id: !!python/name:os.system\n")
    with pytest.raises(SystemExit):
        nmn_train(["--resume", str(run), "--no-progress-bar"])
    assert "is not plain YAML" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"env_id": "../../../escaped"}, "env_id: unknown environment id '../../../escaped'"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"env_id": "NMN-Bench2-v0"}, "best_model.safe.zip acts in NMN-Bench1-v0, the run trained on NMN-Bench2-v0"),
        (["env_id", "NMN-Bench1-v0"], "config.yml must be a mapping"),
    ],
)
def test_zoo_add_refuses_a_hostile_run_folder_before_playing(finished_run, tmp_path, capsys, change, message):
    run = _copy(finished_run, tmp_path, **(change if isinstance(change, dict) else {}))
    if isinstance(change, list):
        (run / CONFIG_FILE).write_text(yaml.safe_dump(change))
    zoo = tmp_path / "zoo"
    with pytest.raises(SystemExit) as caught:
        nmn_zoo(["add", str(run), "--trained-by", "a test", "--zoo", str(zoo), "--n-tasks", "4"])
    assert message in str(caught.value.code)
    assert not zoo.exists() and not (tmp_path / "escaped").exists()


def test_nmn_eval_caps_the_meta_episode_before_allocating(tmp_path):
    with pytest.raises(SystemExit, match="max_episode_steps must be a positive integer of at most 100000, got 10{12}"):
        nmn_eval([ENV_ID, "--agent", "random", "--max-episode-steps", str(10**12), "--out", str(tmp_path / "out")])


def test_pettingzoo_caps_the_team_and_names_a_bad_action_key():
    with pytest.raises(ValueError, match=f"num_agents must be at most {MAX_AGENTS}, got 10000000"):
        parallel_env(ENV_ID, num_agents=10**7)
    env = parallel_env(ENV_ID, num_agents=2)
    env.reset(seed=0)
    actions = {"agent_0": np.zeros(1), 1: np.zeros(1)}
    with pytest.raises(ValueError, match=r"step\(\) needs one action for each of \['agent_0', 'agent_1'\], got \[\"'agent_0'\", '1'\]"):
        env.step(actions)


def test_nmn_sweep_refuses_an_env_outside_the_suite_before_ray_starts(tmp_path, capsys):
    config = tmp_path / "sweep.yml"
    config.write_text(yaml.safe_dump({"envs": ["CartPole-v1"], "policies": ["nmn"], "seeds": [0], "timesteps": 1000}))
    with pytest.raises(SystemExit) as caught:
        nmn_sweep([str(config), "--out", str(tmp_path / "out")])
    assert caught.value.code == 2
    assert "envs: unknown environment id 'CartPole-v1'; the suite's ids" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
