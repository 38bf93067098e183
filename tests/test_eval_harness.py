"""The evaluation harness: task sets, agents of every kind, scores, reports and bad input."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from evaluate import evaluate, load_result
from evaluate.agents import model_name
from evaluate.cli import main
from evaluate.report import CURVE_FILE, RESULT_FILE, RETURNS_FILE, TABLE_FILE
from evaluate.task_sets import EVALUATION_SEED_BASE, PINNED, SET_SIZE, task_set
from policies.serialization import save_safe

ENV_ID = "NMN-Bench1-v0"
SHORT = {"max_episode_steps": 40}
FAST = {"n_tasks": 16, "env_kwargs": SHORT, "reps": 200}


def test_published_task_sets_regenerate_to_their_pinned_hashes():
    for version, digest in PINNED.items():
        env_id = version.split("/")[0]
        found = task_set(env_id)
        assert found.version == version
        assert found.sha256 == digest
        assert len(found) == SET_SIZE
        assert min(found.seeds) > EVALUATION_SEED_BASE


def test_the_episode_length_keeps_the_task_set():
    assert task_set(ENV_ID, **SHORT).sha256 == task_set(ENV_ID).sha256
    assert task_set("NMN-Bandit-v0", variant="hard").version == "NMN-Bandit-v0/custom"


def test_bayes_scores_one_and_random_zero_and_the_result_round_trips(tmp_path):
    result = evaluate("bayes", ENV_ID, baselines=["random"], **FAST)
    normalised = result.agent.normalised_score
    assert normalised.low <= normalised.value <= normalised.high
    assert abs(normalised.value - 1.0) < 0.01
    random = result.score("random").normalised_score
    assert random.low <= 0.0 <= random.high
    assert result.agent.probability_of_improvement["random"].value == 1.0
    assert result.bound("bayes").kind == "exact"
    assert len(result.agent.adaptation_curve) == SHORT["max_episode_steps"]
    path = tmp_path / "result.json"
    path.write_text(result.model_dump_json())
    assert load_result(path) == result


def test_tasks_are_played_with_their_seeds_as_single_envs_would():
    """A plain callable's per-task returns equal single-env rollouts of the same task and seed."""
    result = evaluate(
        lambda observation: np.full((len(observation["observation"]), 1), 0.3), ENV_ID, **FAST
    )
    tasks, seeds = task_set(ENV_ID).head(3)
    for index, (task, seed) in enumerate(zip(tasks, seeds)):
        env = gym.make(ENV_ID, **SHORT)
        env.reset(seed=seed, options={"task": task})
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(np.array([0.3], dtype=np.float32))
            total += reward
            done = terminated or truncated
        assert result.agent.returns[index] == pytest.approx(total)


class CountingAgent:
    """An agent with SB3's predict signature whose state counts its own steps."""

    def __init__(self):
        self.starts = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.starts.append(np.asarray(episode_start).copy())
        steps = np.zeros(len(episode_start)) if state is None else state + 1
        return np.tanh(steps)[:, None] * 0.1, steps


def test_predict_agents_get_their_state_back_and_episode_starts():
    agent = CountingAgent()
    evaluate(agent, ENV_ID, **FAST)
    assert agent.starts[0].all()
    assert not any(start.any() for start in agent.starts[1 : SHORT["max_episode_steps"]])
    assert len(agent.starts) == SHORT["max_episode_steps"]


@pytest.fixture
def one_torch_thread():
    """Small recurrent nets step fastest on one thread (as nmn-eval --threads 1 does)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_saved_recurrent_and_flat_models_load_from_their_zips(tmp_path, one_torch_thread):
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    recurrent = RecurrentPPO(
        "MultiInputLstmPolicy", gym.make(ENV_ID), n_steps=8, batch_size=8, seed=0, device="cpu"
    )
    save_safe(recurrent, tmp_path / "recurrent.safe.zip", env_id=ENV_ID)
    flat = PPO(
        "MlpPolicy",
        gym.wrappers.FlattenObservation(gym.make(ENV_ID)),
        n_steps=8,
        batch_size=8,
        seed=0,
        device="cpu",
    )
    flat.save(tmp_path / "flat.zip")  # Stable-Baselines3's own zip: pickles, trusted here
    with pytest.warns(UserWarning, match="with pickle: it can run any code"):
        first = evaluate(
            str(tmp_path / "recurrent.safe.zip"),
            ENV_ID,
            baselines=[tmp_path / "flat.zip"],
            trust_pickle=True,
            **FAST,
        )
    again = evaluate(str(tmp_path / "recurrent.safe.zip"), ENV_ID, **FAST)
    assert first.agent.name == "recurrent"
    assert first.agent.description.startswith("RecurrentPPO MultiInputLstmPolicy")
    assert first.agent.returns == again.agent.returns
    assert "flat" in first.agent.probability_of_improvement


def test_sampled_actions_reproduce_and_differ_from_mean_actions(tmp_path, one_torch_thread):
    from sb3_contrib import RecurrentPPO

    model = RecurrentPPO(
        "MultiInputLstmPolicy", gym.make(ENV_ID), n_steps=8, batch_size=8, seed=0, device="cpu"
    )
    path = save_safe(model, tmp_path / "model.safe.zip", env_id=ENV_ID)
    sampled = [evaluate(str(path), ENV_ID, sample_actions=True, **FAST) for _ in range(2)]
    mean = evaluate(str(path), ENV_ID, **FAST)
    assert sampled[0].agent.returns == sampled[1].agent.returns
    assert sampled[0].agent.returns != mean.agent.returns
    assert "sampled actions" in sampled[0].agent.description
    assert "mean actions" in mean.agent.description


def test_saved_models_are_named_by_file_or_run_folder():
    assert model_name(Path("runs/nmn-bench1/model.zip")) == "nmn-bench1"
    assert model_name(Path("agents/rnn_baseline.zip")) == "rnn_baseline"
    assert model_name(Path("runs/nmn-bench1/model.safe.zip")) == "nmn-bench1"
    assert model_name(Path("agents/rnn_baseline.safe.zip")) == "rnn_baseline"


def test_cli_writes_a_valid_report(tmp_path, capsys):
    out = tmp_path / "report"
    main(
        [
            ENV_ID,
            "--agent",
            "random",
            "--n-tasks",
            "8",
            "--max-episode-steps",
            "20",
            "--reps",
            "100",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert "| random | agent |" in printed and "| bayes | exact |" in printed
    result = load_result(out / RESULT_FILE)
    assert json.loads((out / RESULT_FILE).read_text())["schema_version"] == result.schema_version
    assert (out / TABLE_FILE).read_text() in printed
    for plot in (CURVE_FILE, RETURNS_FILE):
        assert (out / plot).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("agent", "kwargs", "error", "message"),
    [
        ("bayes", {"env_id": "NMN-Nothing-v0"}, gym.error.NameNotFound, "unknown environment id"),
        ("no-such-agent", {}, ValueError, "neither a reference agent"),
        ("bayes", {"n_tasks": SET_SIZE + 1}, ValueError, "exceeds the 1000 tasks"),
        ("bayes", {"env_kwargs": {"feedback": False}}, ValueError, "feedback=False"),
        (
            lambda obs: np.zeros((len(obs["observation"]), 2)),
            {},
            ValueError,
            "invalid actions at step 0",
        ),
        (lambda obs: np.full((len(obs["observation"]), 1), np.nan), {}, ValueError, "NaN"),
    ],
)
def test_bad_input_gets_a_clear_error(agent, kwargs, error, message):
    arguments = {"env_id": ENV_ID, **FAST, **kwargs}
    with pytest.raises(error, match=message):
        evaluate(agent, **arguments)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a safe nmn-bench model"):
        evaluate(str(broken), ENV_ID, **FAST)
    with pytest.raises(ValueError, match="not a loadable RecurrentPPO or PPO model"):
        with pytest.warns(UserWarning, match="with pickle"):
            evaluate(str(broken), ENV_ID, trust_pickle=True, **FAST)


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    with pytest.raises(SystemExit, match="unknown environment id"):
        main(["NMN-Nothing-v0", "--agent", "random", "--out", str(tmp_path)])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--reps", "0"], "--reps must be a positive integer, got 0"),
        (["--n-tasks", "0"], "--n-tasks must be a positive integer, got 0"),
        (["--env-kwarg", "bogus=1"], "env kwargs {'bogus': 1} do not make NMN-Bench1-v0"),
        (["--env-kwarg", "max_episode_steps=abc"], "max_episode_steps must be a positive integer"),
        (["--env-kwarg", 'switch_probability="0.5"'], "switch_probability must be a probability"),
        (["--references", "bogus"], r"unknown reference agents \['bogus'\]"),
    ],
)
def test_cli_refuses_bad_options_up_front_in_one_line(tmp_path, argv, message):
    out = tmp_path / "report"
    with pytest.raises(SystemExit, match=message) as caught:
        main([ENV_ID, "--agent", "random", "--out", str(out), "--no-progress", *argv])
    assert "\n" not in str(caught.value.code)


def test_cli_refuses_an_id_outside_the_suite(tmp_path):
    with pytest.raises(SystemExit, match="unknown environment id 'CartPole-v1'; the suite's ids"):
        main(["CartPole-v1", "--agent", "random", "--out", str(tmp_path)])


def test_cli_checks_the_output_folder_before_playing(tmp_path):
    """The reproduction lost a whole evaluation to an unwritable --out (a raw OSError once the
    report was written): the folder is checked first, and the refusal is one line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit, match="cannot write the report to --out") as caught:
        main([ENV_ID, "--agent", "random", "--n-tasks", "4", "--out", str(blocker / "report")])
    assert "\n" not in str(caught.value.code)


def test_batch_size_and_reps_below_one_are_refused():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        evaluate("random", ENV_ID, batch_size=0, **FAST)
    with pytest.raises(ValueError, match="reps must be a positive integer, got 0"):
        evaluate("random", ENV_ID, n_tasks=4, reps=0)
