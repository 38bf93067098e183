"""Model agents in the harness: how actions were chosen, bare-observation models, VecNormalize."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from evaluate import evaluate, load_result
from evaluate.agents import as_policy
from evaluate.cli import main
from evaluate.report import write_report
from evaluate.schema import ActionSelection
from nmn_envs.sb3_vec_env import make_sb3_vec_env

ENV_ID = "NMN-Bench1-v0"
SHORT = {"max_episode_steps": 40}
FAST = {"n_tasks": 16, "env_kwargs": SHORT, "reps": 200}
TRUSTED = {**FAST, "trust_pickle": True}  # SB3 zips made by the tests themselves

th.set_num_threads(1)


def test_how_actions_were_chosen_is_stored_as_fields(tmp_path):
    model = PPO("MultiInputPolicy", gym.make(ENV_ID), n_steps=8, batch_size=8, seed=0, device="cpu")
    sampled = evaluate(model, ENV_ID, sample_actions=True, action_seed=5, **FAST)
    assert sampled.agent.actions == ActionSelection(mode="sampled", torch_seed=5)
    again = evaluate(model, ENV_ID, sample_actions=True, action_seed=5, **FAST)
    other_seed = evaluate(model, ENV_ID, sample_actions=True, action_seed=6, **FAST)
    assert sampled.agent.returns == again.agent.returns != other_seed.agent.returns
    mean = evaluate(model, ENV_ID, **FAST)
    assert mean.agent.actions == ActionSelection(mode="mean")
    assert all(reference.actions is None for reference in mean.references)
    write_report(sampled, tmp_path)
    assert load_result(tmp_path / "result.json").agent.actions.torch_seed == 5
    with pytest.raises(ValueError, match="torch_seed is set exactly when actions are sampled"):
        ActionSelection(mode="sampled")


def test_a_model_trained_without_feedback_is_given_the_bare_observation(tmp_path):
    bare = PPO(
        "MlpPolicy", gym.make(ENV_ID, feedback=False), n_steps=8, batch_size=8, seed=0, device="cpu"
    )
    bare.save(tmp_path / "bare.zip")
    scored = evaluate(str(tmp_path / "bare.zip"), ENV_ID, **TRUSTED)

    def by_hand(observation):
        return bare.predict(observation["observation"], deterministic=True)[0]

    assert scored.agent.returns == evaluate(by_hand, ENV_ID, **FAST).agent.returns


def test_a_model_of_another_observation_space_is_refused_before_play(tmp_path):
    other = PPO("MlpPolicy", gym.make("NMN-Bench2-v0", feedback=False), n_steps=8, batch_size=8,
                device="cpu")
    other.save(tmp_path / "other.zip")
    with pytest.raises(ValueError, match="observes Box.*but NMN-Bench1-v0 gives.*feedback=False"):
        evaluate(str(tmp_path / "other.zip"), ENV_ID, **TRUSTED)


@pytest.fixture(scope="module")
def normalised_run(tmp_path_factory) -> tuple[Path, Path]:
    """A model trained inside VecNormalize(norm_obs=True), saved as rl-zoo saves it."""
    run = tmp_path_factory.mktemp("zoo") / "ppo" / f"{ENV_ID}_1"
    run.mkdir(parents=True)
    venv = VecNormalize(make_sb3_vec_env(ENV_ID, 2, seed=0, **SHORT), norm_obs=True, norm_reward=False)
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    model.save(run / f"{ENV_ID}.zip")
    statistics = run / ENV_ID / "vecnormalize.pkl"
    statistics.parent.mkdir()
    venv.save(statistics)
    return run / f"{ENV_ID}.zip", statistics


def test_statistics_beside_a_model_are_never_loaded_by_themselves(normalised_run):
    model, statistics = normalised_run
    with pytest.raises(ValueError, match=f"found VecNormalize statistics '{statistics}'.*--vecnormalize"):
        evaluate(str(model), ENV_ID, **TRUSTED)
    loaded = evaluate(str(model), ENV_ID, vec_normalize=statistics, **TRUSTED)
    raw = evaluate(str(model), ENV_ID, vec_normalize=False, **TRUSTED)
    assert "VecNormalize observation statistics" in loaded.agent.description
    assert loaded.agent.returns != raw.agent.returns

    policy = as_policy(str(model), vec_normalize=statistics, trust_pickle=True)
    saved = VecNormalize.load(str(statistics), make_sb3_vec_env(ENV_ID, 2, **SHORT))
    for key in saved.obs_rms:
        np.testing.assert_array_equal(policy.observation_statistics.obs_rms[key].mean, saved.obs_rms[key].mean)
    assert policy.observation_statistics.training is False


def test_nmn_eval_takes_vecnormalize_and_refuses_without_a_choice(normalised_run, tmp_path, capsys):
    model, statistics = normalised_run
    common = [ENV_ID, "--agent", str(model), "--trust-pickle", "--n-tasks", "4", "--reps", "100",
              "--max-episode-steps", "20", "--no-progress", "--references", "random"]
    with pytest.raises(SystemExit) as refused:
        main([*common, "--out", str(tmp_path / "a")])
    assert "--no-vecnormalize" in str(refused.value) and str(statistics) in str(refused.value)
    main([*common, "--out", str(tmp_path / "b"), "--vecnormalize", str(statistics)])
    assert "VecNormalize" in load_result(tmp_path / "b" / "result.json").agent.description
    main([*common, "--out", str(tmp_path / "c"), "--no-vecnormalize"])
    with pytest.raises(SystemExit):
        main([*common, "--vecnormalize", str(statistics), "--no-vecnormalize"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_rl_zoo_config_that_normalised_observations_needs_the_statistics(tmp_path):
    model = PPO("MultiInputPolicy", gym.make(ENV_ID), n_steps=8, batch_size=8, device="cpu")
    model.save(tmp_path / f"{ENV_ID}.zip")
    (tmp_path / ENV_ID).mkdir()
    (tmp_path / ENV_ID / "config.yml").write_text(  # as rl-zoo dumps its OrderedDict
        "!!python/object/apply:collections.OrderedDict\n"
        "- - - n_envs\n    - 8\n  - - normalize\n    - '{''norm_obs'': True, ''norm_reward'': False}'\n"
    )
    with pytest.raises(ValueError, match="trained on normalised observations, but no vecnormalize.pkl"):
        evaluate(str(tmp_path / f"{ENV_ID}.zip"), ENV_ID, **TRUSTED)
    assert evaluate(str(tmp_path / f"{ENV_ID}.zip"), ENV_ID, vec_normalize=False, **TRUSTED).agent.returns
