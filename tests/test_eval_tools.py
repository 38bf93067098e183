"""The tools users run around ``nmn-eval``: agent names, report folders, rl-zoo runs, TorchRL,
the validation curve in TensorBoard and the cache of deterministic players' rollouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.vector import AutoresetMode

import nmn_envs  # noqa: F401  (registers the ids)
from evaluate import evaluate
from evaluate.cli import main as nmn_eval
from evaluate.report import markdown
from policies import zoo

ENV_ID = "NMN-Bench1-v0"
SHORT = {"max_episode_steps": 20}
FAST = {"n_tasks": 8, "env_kwargs": SHORT, "reps": 50}
CLI_FAST = ["--n-tasks", "4", "--reps", "50", "--max-episode-steps", "20", "--no-progress"]

th.set_num_threads(1)


def zoo_model(policy: str = "nmn") -> Path:
    """The file of a shipped zoo model of :data:`ENV_ID` (a safe model)."""
    return zoo.find(f"zoo:{policy}", ENV_ID)[0]


# ------------------------------------------------------------------------------ agent names
def test_a_model_file_named_like_a_reference_never_takes_its_name(tmp_path, monkeypatch):
    shutil.copy(zoo_model(), tmp_path / "bayes")
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        shutil.copy(zoo_model("rnn"), tmp_path / run / "best_model.safe.zip")
    monkeypatch.chdir(tmp_path)
    result = evaluate(
        "./bayes", ENV_ID, baselines=["a/best_model.safe.zip", "b/best_model.safe.zip"], **FAST
    )
    assert result.agent.name == "bayes-2"
    assert [baseline.name for baseline in result.baselines] == ["best_model", "best_model-2"]
    names = [entry.name for entry in (result.agent, *result.baselines, *result.references)]
    assert len(names) == len(set(names))
    reference = result.score("bayes")
    assert reference.role == "reference" and reference.returns != result.agent.returns
    # the bound check compares the bound with the bayes reference's Monte Carlo mean, not the file's
    returns = np.asarray(reference.returns)
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert f"| bayes | exact | " in markdown(result)
    assert f"{returns.mean():.2f} ± {error:.2f}" in markdown(result)
    # the reference itself keeps its name
    assert evaluate("bayes", ENV_ID, **FAST).agent.name == "bayes"


def test_default_report_folders_are_never_overwritten(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    command = [ENV_ID, "--agent", "random", "--baseline", "none", "--references", "random", *CLI_FAST]
    nmn_eval(command)
    first = tmp_path / "out" / f"{ENV_ID}-random" / "result.json"
    written = first.read_bytes()
    nmn_eval(command)
    assert first.read_bytes() == written
    assert (tmp_path / "out" / f"{ENV_ID}-random-2" / "result.json").is_file()
    assert f"wrote out/{ENV_ID}-random-2/result.json" in capsys.readouterr().out
    nmn_eval([*command, "--out", str(first.parent)])  # a folder named explicitly is the user's to reuse
    assert not (tmp_path / "out" / f"{ENV_ID}-random-3").exists()


# ------------------------------------------------------------------------------ TorchRL
def test_torchrl_same_step_on_the_feedback_dict_is_refused_with_the_alternatives():
    from torchrl.envs import GymWrapper

    def native(**kwargs):
        return gym.make_vec(
            ENV_ID, 2, vectorization_mode="vector_entry_point", max_episode_steps=3, **kwargs
        )

    with pytest.raises(ValueError, match=r"SAME_STEP.*Dict.*DISABLED.*feedback=False"):
        GymWrapper(native(autoreset_mode=AutoresetMode.SAME_STEP))
    # what the refusal points to works, and Gymnasium's own same-step Dict stays as it is
    rollout = GymWrapper(native(autoreset_mode=AutoresetMode.DISABLED)).rollout(
        5, break_when_any_done=False
    )
    assert tuple(rollout.batch_size) == (2, 5)
    same_step = native(autoreset_mode=AutoresetMode.SAME_STEP)
    assert same_step.autoreset_mode == AutoresetMode.SAME_STEP
    same_step.reset(seed=0)
    for _ in range(3):
        *_, info = same_step.step(np.zeros((2, 1)))
    assert set(info["final_obs"][0]) == {"observation", "prev_action", "prev_reward"}
