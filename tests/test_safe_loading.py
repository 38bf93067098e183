"""Agents load without unpickling: the safe form, crafted files, and reference names."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import FlattenObservation
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

import nmn_envs  # noqa: F401  (registers the ids)
from evaluate import evaluate
from evaluate.cli import main as nmn_eval
from evaluate.harness import resolve_agent
from evaluate.references import REFERENCE_NAMES
from policies import LSTMPolicy, NMNPolicy, RNNPolicy
from policies.serialization import (
    MAX_METADATA_BYTES,
    METADATA_FILE,
    WEIGHTS_FILE,
    UnsafeModelError,
    load_agent,
    load_safe,
    read_metadata,
    save_safe,
)

ENV_ID = "NMN-Bench1-v0"
FAST = {"n_tasks": 4, "env_kwargs": {"max_episode_steps": 20}, "reps": 50}


class _Payload:
    """Unpickling this runs ``code``: what a hostile model file would carry."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


def _touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def crafted_sb3_zip(path: Path, marker: Path) -> Path:
    """A Stable-Baselines3-shaped zip whose ``data`` holds a pickle that creates ``marker``."""
    serialized = base64.b64encode(pickle.dumps(_Payload(_touch(marker)))).decode()
    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": serialized}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps(data))
        archive.writestr("_stable_baselines3_version", "2.4.0")
    return path


@pytest.fixture(scope="module")
def env() -> gym.Env:
    return gym.make(ENV_ID)


@pytest.mark.parametrize(
    ("algorithm", "policy", "policy_kwargs", "flat"),
    [
        (RecurrentPPO, NMNPolicy, {}, False),
        (RecurrentPPO, NMNPolicy, {"slope_gain": 10.0, "scale_output_offset": True}, False),
        (RecurrentPPO, RNNPolicy, {"cell": "lstm", "recurrent_sizes": [12]}, False),
        (RecurrentPPO, "MultiInputLstmPolicy", {"lstm_hidden_size": 16}, False),
        (RecurrentPPO, LSTMPolicy, {"lstm_hidden_size": 16, "state_dependent_std": True}, False),
        (PPO, "MlpPolicy", {"net_arch": [8]}, True),
    ],
)
def test_the_safe_form_acts_as_the_trained_model(
    tmp_path, env, algorithm, policy, policy_kwargs, flat
):
    played = FlattenObservation(env) if flat else env
    model = algorithm(policy, played, policy_kwargs=policy_kwargs, n_steps=8, batch_size=8, seed=3)
    path = save_safe(model, tmp_path / "model.safe.zip", env_id=ENV_ID)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [METADATA_FILE, WEIGHTS_FILE]
        metadata = json.loads(archive.read(METADATA_FILE))
    assert metadata["algorithm"] == algorithm.__name__
    assert metadata["observation_layout"] == ("flat" if flat else "dict")
    assert metadata["policy_kwargs"].items() >= policy_kwargs.items()
    loaded = load_safe(path)
    observations = [played.observation_space.sample() for _ in range(5)]
    state = loaded_state = None
    for observation in observations:
        expected, state = model.predict(observation, state, deterministic=True)
        actual, loaded_state = loaded.predict(observation, loaded_state, deterministic=True)
        np.testing.assert_array_equal(actual, expected)


def test_a_model_loaded_to_act_builds_no_training_machinery():
    """No optimizer, and so no ``torch._dynamo``: building a torch optimizer, or arithmetic on
    the meta device where the size check builds its skeleton, imports it (over a second of
    every ``nmn-eval``). In a new interpreter, where nothing imported it before."""
    code = (
        "import sys\n"
        "from training import zoo\n"
        "from policies.serialization import load_safe\n"
        "for name in zoo.available('NMN-Bench1-v0'):\n"
        "    policy = load_safe(zoo.find(name, 'NMN-Bench1-v0')[0]).policy\n"
        "    assert not hasattr(policy.optimizer, 'step'), name\n"
        "print(sorted(zoo.available('NMN-Bench1-v0')), 'torch._dynamo' in sys.modules)\n"
    )
    root = Path(__file__).parents[1]
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert shown.stdout.split("\n")[0] == "['zoo:lstm', 'zoo:nmn', 'zoo:rnn'] False"


def test_a_crafted_pickle_zip_is_refused_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "marker"
    crafted = crafted_sb3_zip(tmp_path / "model.zip", marker)
    with pytest.raises(UnsafeModelError, match="--trust-pickle"):
        load_agent(crafted)
    with pytest.raises(ValueError, match="not a safe nmn-bench model"):
        evaluate(str(crafted), ENV_ID, **FAST)
    with pytest.raises(SystemExit, match="--trust-pickle"):
        nmn_eval([ENV_ID, "--agent", str(crafted), "--out", str(tmp_path / "out")])
    assert not marker.exists()


def test_opting_in_does_unpickle_with_a_warning(tmp_path):
    """The crafted file is live: trusting it runs its code (the reason it is refused above)."""
    marker = tmp_path / "marker"
    crafted = crafted_sb3_zip(tmp_path / "model.zip", marker)
    with pytest.warns(UserWarning, match="with pickle"), pytest.raises(ValueError):
        load_agent(crafted, trust_pickle=True)
    assert marker.exists()


def _rewrite(path: Path, metadata: dict | None = None, weights: bytes | None = None) -> Path:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members[METADATA_FILE])
    if weights is not None:
        members[WEIGHTS_FILE] = weights
        document["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    document.update(metadata or {})
    members[METADATA_FILE] = json.dumps(document).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


@pytest.fixture
def safe_model(tmp_path, env) -> Path:
    model = RecurrentPPO(RNNPolicy, env, n_steps=8, batch_size=8, seed=0)
    return save_safe(model, tmp_path / "rnn.safe.zip", env_id=ENV_ID)


def test_pickled_weights_are_refused_and_run_nothing(tmp_path, safe_model):
    marker = tmp_path / "marker"
    buffer = io.BytesIO()
    torch.save({"weights": _Payload(_touch(marker))}, buffer)
    _rewrite(safe_model, weights=buffer.getvalue())
    with pytest.raises(ValueError, match="the weights do not fit the policy"):
        load_safe(safe_model)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"policy_class": "os.system"}, "policy_class 'os.system' is not one of"),
        ({"algorithm": "A2C"}, "algorithm"),
        ({"policy_kwargs": {"activation_fn": {"class": "os.system"}}}, "outside the allowed"),
        (
            {"policy_kwargs": {"activation_fn": {"class": "torch.nn.modules.activation.F"}}},
            "not a torch module or optimizer class",
        ),
        ({"env_id": "CartPole-v1"}, "not an environment of the suite"),
        ({"env_kwargs": {"bogus": 1}}, "do not make NMN-Bench1-v0"),
        ({"policy_kwargs": {"recurrent_sizes": [7]}}, "the weights do not fit the policy"),
        ({"policy_kwargs": {"recurrent_sizes": [10**9]}}, "layer sizes must be positive integers of at most"),
        ({"policy_kwargs": {"net_arch": [8] * 10**5}}, "more sizes than there are weights"),
        ({"weights_sha256": "0" * 64}, "does not match the weights_sha256"),
        ({"extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
def test_hostile_metadata_is_refused_naming_the_field(safe_model, metadata, message):
    _rewrite(safe_model, metadata)
    with pytest.raises(ValueError, match=message):
        load_safe(safe_model)


def test_broken_archives_are_refused(tmp_path):
    oversized = tmp_path / "big.safe.zip"
    with zipfile.ZipFile(oversized, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_FILE, " " * (MAX_METADATA_BYTES + 1))
        archive.writestr(WEIGHTS_FILE, b"")
    with pytest.raises(ValueError, match="over the limit"):
        read_metadata(oversized)
    text = tmp_path / "text.safe.zip"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable zip archive"):
        load_safe(text)
    with pytest.raises(ValueError, match="does not exist"):
        load_agent(tmp_path / "missing.safe.zip")


def test_a_model_for_another_env_is_refused_before_anything_plays(safe_model):
    with pytest.raises(ValueError, match=r"trained for NMN-Bench1-v0\) observes"):
        evaluate(str(safe_model), "NMN-Bench2-v0", n_tasks=4, reps=50)


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_names_never_resolve_to_a_file(tmp_path, monkeypatch, name):
    marker = tmp_path / "marker"
    crafted_sb3_zip(tmp_path / name, marker)
    monkeypatch.chdir(tmp_path)
    policy = resolve_agent(name, ENV_ID, {})
    assert policy.name == name and type(policy).__module__ == "evaluate.references"
    with pytest.raises(UnsafeModelError):
        resolve_agent(os.path.join(".", name), ENV_ID, {})  # a file is reached by its path
    assert not marker.exists()


def test_the_harness_plays_the_reference_when_a_file_has_its_name(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    crafted_sb3_zip(tmp_path / "bayes", marker)
    monkeypatch.chdir(tmp_path)
    result = evaluate("bayes", ENV_ID, **FAST)
    assert result.agent.name == "bayes"
    assert abs(result.agent.normalised_score.value - 1.0) < 0.05
    assert not marker.exists()


def test_seeding_a_board_in_an_untrusted_folder_runs_nothing(tmp_path, monkeypatch, capsys):
    from leaderboard.cli import main as leaderboard

    marker = tmp_path / "marker"
    from training import zoo

    for name in (*REFERENCE_NAMES, *zoo.available(ENV_ID)):  # zoo names mean the shipped models
        crafted_sb3_zip(tmp_path / name, marker)
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "board.sqlite")
    assert leaderboard(["--db", db, "seed", "--env", ENV_ID, "--no-progress"]) == 0
    rows = len(REFERENCE_NAMES) + len(zoo.available(ENV_ID))
    assert f"{rows} reference and zoo rows added" in capsys.readouterr().out
    assert not marker.exists()
