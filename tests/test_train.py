"""The training command line: runs, logs, checkpoints, resume, saved models, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from stable_baselines3.common.utils import LinearSchedule

from policies.config import HYPERPARAMS_DIR, dump_hyperparams, hyperparams_path, literal_mapping, load_hyperparams
from policies.serialization import load_safe
from training.train import CONFIG_FILE, latest_checkpoint, main, resume, train
from training.validation import BEST_MODEL_FILE, read_curve

# One intra-op thread, as nmn-train uses: the networks are tiny.
th.set_num_threads(1)

def test_every_hyperparameter_file_is_valid() -> None:
    files = sorted(HYPERPARAMS_DIR.glob("*.yml"))
    assert {path.stem for path in files} >= {"NMN-Bench1-v0", "NMN-Bench2-v0", "NMN-Bench3-v0", "default"}
    for path in files:
        hyperparams = load_hyperparams(path.stem, path)
        assert set(hyperparams.policy_kwargs) == {"nmn", "rnn", "lstm"}
    bench1 = load_hyperparams("NMN-Bench1-v0")
    assert (bench1.gamma, bench1.gae_lambda) == (0.998, 0.98)
    assert load_hyperparams("NMN-TwoStep-v0") == load_hyperparams("default", HYPERPARAMS_DIR / "default.yml")


def test_the_bandit_and_harlow_share_the_classic_recipe_with_the_nmns_slope_gain() -> None:
    family = HYPERPARAMS_DIR / "NMN-Bandit-Harlow.yml"
    assert [hyperparams_path(env_id) for env_id in ("NMN-Bandit-v0", "NMN-Harlow-v0")] == [family, family]
    gained, classic = load_hyperparams("NMN-Harlow-v0"), load_hyperparams("NMN-TwoStep-v0")
    assert load_hyperparams("NMN-Bandit-v0") == gained
    assert gained.policy_kwargs["nmn"] == {**classic.policy_kwargs["nmn"], "slope_gain": 10.0}
    assert gained.model_copy(update={"policy_kwargs": classic.policy_kwargs}) == classic


def test_a_family_file_serves_every_id_it_names() -> None:
    family = HYPERPARAMS_DIR / "NMN-HalfCheetah.yml"
    ids = [key for key in yaml.safe_load(family.read_text()) if key.startswith("NMN-")]
    assert sorted(ids) == ["NMN-HalfCheetahDir-v0", "NMN-HalfCheetahVel-v0"]
    assert [hyperparams_path(env_id) for env_id in ids] == [family, family]
    assert load_hyperparams("NMN-HalfCheetahDir-v0") == load_hyperparams("NMN-HalfCheetahVel-v0")
    assert load_hyperparams("NMN-HalfCheetahDir-v0") != load_hyperparams("NMN-Bandit-v0")
    assert hyperparams_path("NMN-Bench2-v0") == HYPERPARAMS_DIR / "NMN-Bench2-v0.yml"


def test_a_misspelt_hyperparameter_is_rejected(tmp_path: Path, tiny_hyperparams: Path) -> None:
    content = yaml.safe_load(tiny_hyperparams.read_text())
    for name in ("nmn", "rnn", "lstm"):
        content[name]["learning_rat"] = 0.1
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(content))
    with pytest.raises(ValueError, match="learning_rat"):
        load_hyperparams("NMN-Bench1-v0", bad)


def test_a_policy_may_set_recipe_keys_of_its_own(tmp_path: Path, tiny_hyperparams: Path) -> None:
    content = yaml.safe_load(tiny_hyperparams.read_text())
    content["rnn"] = {**content["rnn"], "gamma": 0.9, "learning_rate": "lin_0.0005"}
    own = tmp_path / "own.yml"
    own.write_text(yaml.safe_dump(content))
    hyperparams = load_hyperparams("NMN-Bench1-v0", own)
    assert hyperparams.own_recipes == {"rnn": {"gamma": 0.9, "learning_rate": "lin_0.0005"}}
    rnn, nmn = hyperparams.for_policy("rnn"), hyperparams.for_policy("nmn")
    assert (rnn.gamma, rnn.learning_rate, rnn.n_steps) == (0.9, "lin_0.0005", nmn.n_steps)
    assert (nmn.gamma, nmn.learning_rate) == (0.998, 0.001) and hyperparams.for_policy("lstm") == nmn
    # Written back, each entry holds its policy's whole recipe, and reads the same.
    dumped = tmp_path / "dumped.yml"
    dumped.write_text(dump_hyperparams(hyperparams, "NMN-Bench1-v0"))
    assert yaml.safe_load(dumped.read_text())["rnn"]["gamma"] == 0.9
    assert load_hyperparams("NMN-Bench1-v0", dumped) == hyperparams


def test_a_policys_own_recipe_is_validated(tmp_path: Path, tiny_hyperparams: Path) -> None:
    content = yaml.safe_load(tiny_hyperparams.read_text())
    content["lstm"] = {**content["lstm"], "gamma": 2.0}
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(content))
    with pytest.raises(ValueError, match=r"lstm's own recipe.*gamma"):
        load_hyperparams("NMN-Bench1-v0", bad)


def test_a_run_records_its_policys_own_recipe(tmp_path: Path, tiny_hyperparams: Path) -> None:
    content = yaml.safe_load(tiny_hyperparams.read_text())
    content["rnn"] = {**content["rnn"], "learning_rate": 0.0005}
    own = tmp_path / "own.yml"
    own.write_text(yaml.safe_dump(content))
    train("NMN-Bench1-v0", "rnn", 0, 64, tmp_path / "run", hyperparams_file=own, progress_bar=False,
          eval_freq=64, validation_tasks=2)
    config = yaml.safe_load((tmp_path / "run" / CONFIG_FILE).read_text())
    assert config["hyperparams"]["learning_rate"] == 0.0005 and config["hyperparams"]["own_recipes"] == {}


def test_the_files_speak_rl_zoos_schema() -> None:
    """The env id's entry is what rl-zoo reads: a dotted policy, kwargs as a literal string."""
    raw = yaml.safe_load((HYPERPARAMS_DIR / "NMN-Bench1-v0.yml").read_text())
    entry = raw["NMN-Bench1-v0"]
    assert entry == raw["nmn"] and entry["policy"] == "policies.NMNPolicy"
    assert isinstance(entry["policy_kwargs"], str) and entry["n_timesteps"] > 0
    assert raw["rnn"]["gamma"] == entry["gamma"] and raw["rnn"]["policy"] == "policies.RNNPolicy"
    assert "default" in yaml.safe_load((HYPERPARAMS_DIR / "default.yml").read_text())
    schedule = load_hyperparams("NMN-Bench1-v0").algorithm_kwargs()["learning_rate"]
    assert isinstance(schedule, LinearSchedule) and schedule(1.0) == 1e-3 and schedule(0.0) == 0.0
    # NMN-Bench3's RNN and LSTM merge in the NMN's rate: the entries' merge keys resolve.
    bench3 = yaml.safe_load((HYPERPARAMS_DIR / "NMN-Bench3-v0.yml").read_text())
    rnn_schedule = load_hyperparams("NMN-Bench3-v0").for_policy("rnn").algorithm_kwargs()["learning_rate"]
    assert rnn_schedule(1.0) == 1e-3 and rnn_schedule(0.0) == 0.0
    assert bench3["nmn"]["learning_rate"] == bench3["rnn"]["learning_rate"] == bench3["lstm"]["learning_rate"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dict(recurrent_sizes=[50], cell='gru')", {"recurrent_sizes": [50], "cell": "gru"}),
        ("{'net_arch': [20, 10]}", {"net_arch": [20, 10]}),
        ({"a": 1}, {"a": 1}),
    ],
)
def test_literal_mappings_are_read(text, expected) -> None:
    assert literal_mapping(text, "policy_kwargs") == expected


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('touch pwned')", "dict(a=open('x'))", "dict(**{'a': 1})", "[1, 2]", "dict(1)"],
)
def test_code_in_a_literal_mapping_is_refused_unrun(text, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="policy_kwargs"):
        literal_mapping(text, "policy_kwargs")
    assert not (tmp_path / "pwned").exists()


def test_cli_trains_logs_checkpoints_and_saves_a_model_loadable_in_a_fresh_process(
    tmp_path: Path, tiny_hyperparams: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    argv = ["NMN-Bench1-v0", "--policy", "nmn", "--seed", "3", "--timesteps", "96", "--out", str(out)]
    assert main([*argv, "--hyperparams", str(tiny_hyperparams), "--checkpoint-freq", "32", "--validation-tasks", "4"]) == 0
    assert "saved" in capsys.readouterr().out
    config = yaml.safe_load((out / "config.yml").read_text())
    assert (config["env_id"], config["policy"], config["seed"], config["timesteps"]) == ("NMN-Bench1-v0", "nmn", 3, 96)
    logs = out / "logs" / "run_0"
    assert "time/total_timesteps" in (logs / "progress.csv").read_text()
    assert list(logs.glob("events.out.tfevents.*"))
    assert latest_checkpoint(out)[0] == 96
    script = (
        "import numpy as np, gymnasium as gym, nmn_envs\n"
        "from sb3_contrib import RecurrentPPO\n"
        f"model = RecurrentPPO.load({str(out / 'model.zip')!r}, device='cpu')\n"
        "env = gym.make('NMN-Bench1-v0')\n"
        "obs, _ = env.reset(seed=0)\n"
        "action, state = model.predict(obs, None, np.array([True]), deterministic=True)\n"
        "action, state = model.predict(obs, state, np.array([False]), deterministic=True)\n"
        "print(type(model.policy).__name__, action.shape, state[0].shape, model.num_timesteps)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["NMNPolicy", "(1,)", "(1,", "1,", "50)", "96"]
    safe = load_safe(out / "model.safe.zip")
    assert (safe.metadata.policy_class, safe.metadata.num_timesteps) == ("NMNPolicy", 96)


def test_resume_continues_from_the_latest_checkpoint(tmp_path: Path, tiny_hyperparams: Path) -> None:
    out = tmp_path / "run"
    train("NMN-Bench1-v0", "rnn", 0, 128, out, hyperparams_file=tiny_hyperparams, validation_tasks=4, checkpoint_freq=64, progress_bar=False)
    # as if interrupted between the checkpoints at 64 and 128 steps
    (out / "model.zip").unlink()
    (out / "checkpoints" / "model_128_steps.safe.zip").unlink()
    assert latest_checkpoint(out)[0] == 64
    # nothing in a checkpoint is unpickled: the safe form and the training state as tensors
    assert sorted(path.name for path in (out / "checkpoints").iterdir()) == [
        "model_128_steps.training.pt", "model_64_steps.safe.zip", "model_64_steps.training.pt"
    ]
    model = resume(out, checkpoint_freq=64, progress_bar=False)
    assert model.num_timesteps == 128
    # 64 steps of 2 envs before the checkpoint and 64 after: the statistics went on from there
    assert model.get_vec_normalize_env().ret_rms.count == pytest.approx(128, abs=1)
    assert (out / "model.zip").is_file()
    assert latest_checkpoint(out)[0] == 128
    assert (out / "logs" / "run_64" / "progress.csv").is_file()


def test_lstm_baseline_trains_through_the_cli(tmp_path: Path, tiny_hyperparams: Path) -> None:
    out = tmp_path / "lstm"
    model = train("NMN-Bench1-v0", "lstm", 0, 64, out, hyperparams_file=tiny_hyperparams, validation_tasks=4, progress_bar=False)
    sizes = load_hyperparams("NMN-Bench1-v0").policy_kwargs["lstm"]
    assert model.policy.lstm_actor.hidden_size == sizes["lstm_hidden_size"]
    assert (out / "model.zip").is_file()
    safe = load_safe(out / "model.safe.zip")
    observation = model.observation_space.sample()
    expected, _ = model.predict(observation, deterministic=True)
    np.testing.assert_array_equal(safe.predict(observation, deterministic=True)[0], expected)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["NMN-Nope-v0", "--out", "x"], "unknown environment id 'NMN-Nope-v0'"),
        (["NMN-Bench1-v0", "--policy", "mlp", "--out", "x"], "invalid choice: 'mlp'"),
        (["NMN-Bench1-v0"], "--out DIR are required"),
        (["--resume", "nowhere"], "holds no run to resume"),
        (["NMN-Bench1-v0", "--out", "x", "--timesteps", "0"], "timesteps must be a positive integer"),
    ],
)
def test_cli_errors_are_clear(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_policy_name_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown policy 'gru'"):
        train("NMN-Bench1-v0", "gru", 0, 10, tmp_path / "run")


def test_an_existing_run_is_not_overwritten(tmp_path: Path, tiny_hyperparams: Path) -> None:
    out = tmp_path / "run"
    train("NMN-Bench1-v0", "nmn", 0, 32, out, hyperparams_file=tiny_hyperparams, validation_tasks=4, progress_bar=False)
    with pytest.raises(ValueError, match="already holds a run"):
        train("NMN-Bench1-v0", "nmn", 0, 32, out, hyperparams_file=tiny_hyperparams, validation_tasks=4, progress_bar=False)


def test_a_run_validates_and_keeps_its_best_model(tmp_path: Path, tiny_hyperparams: Path) -> None:
    out = tmp_path / "run"
    train(
        "NMN-Bench1-v0", "nmn", 0, 128, out, hyperparams_file=tiny_hyperparams,
        eval_freq=64, validation_tasks=3, progress_bar=False,
    )
    curve = read_curve(out)
    assert [row["steps"] for row in curve] == [64, 128]
    assert all(row["minutes"] > 0 and row["cpu_minutes"] > 0 for row in curve)
    assert curve[0]["minutes"] <= curve[1]["minutes"]
    # an untrained policy scores between random play (0) and below the Bayes bound (1)
    assert all(-1.0 < row["normalised_score"] < 1.0 for row in curve)
    assert (out / BEST_MODEL_FILE).is_file()
    config = yaml.safe_load((out / "config.yml").read_text())
    assert (config["eval_freq"], config["validation_tasks"]) == (64, 3)


def test_resume_of_a_finished_run_says_it_is_complete(
    tmp_path: Path, tiny_hyperparams: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    train("NMN-Bench1-v0", "rnn", 0, 64, out, hyperparams_file=tiny_hyperparams, validation_tasks=4, progress_bar=False)
    assert latest_checkpoint(out) is None  # finished before its first checkpoint
    final = (out / "model.zip").read_bytes()
    assert main(["--resume", str(out), "--no-progress-bar"]) == 0
    assert f"{out} is complete" in capsys.readouterr().out
    assert (out / "model.zip").read_bytes() == final
