"""The tools users run around ``nmn-eval``: agent names, report folders, rl-zoo runs, TorchRL,
the validation curve in TensorBoard and the cache of deterministic players' rollouts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
from training import zoo

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
    assert "| bayes | exact | " in markdown(result)
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


# ------------------------------------------------------------------------------ TensorBoard
def test_the_validation_curve_goes_to_tensorboard_beside_validation_csv(tmp_path, tiny_hyperparams):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from training.train import train
    from training.validation import read_curve

    out = tmp_path / "run"
    train(
        ENV_ID, "rnn", 0, 128, out, hyperparams_file=tiny_hyperparams, eval_freq=64,
        validation_tasks=3, progress_bar=False,
    )
    curve = read_curve(out)
    events = EventAccumulator(str(out))
    events.Reload()
    for tag, column in (("validation/mean_return", "mean_return"), ("validation/normalised_score", "normalised_score")):
        scalars = events.Scalars(tag)
        assert [scalar.step for scalar in scalars] == [row["steps"] for row in curve] == [64, 128]
        assert [scalar.value for scalar in scalars] == pytest.approx([row[column] for row in curve], abs=1e-3)


# ------------------------------------------------------------------------------ rl-zoo runs
@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory) -> Path:
    """A real rl-baselines3-zoo run of the shipped file (rewards normalised, observations raw),
    with its last model, its best model and checkpoints."""
    import subprocess
    import sys

    from policies.config import HYPERPARAMS_DIR

    folder = tmp_path_factory.mktemp("rl-zoo")
    command = [
        sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo_lstm", "--env", ENV_ID,
        "-conf", str(HYPERPARAMS_DIR / f"{ENV_ID}.yml"), "--gym-packages", "nmn_envs", "-n", "128",
        "--log-folder", str(folder), "--eval-freq", "64", "--eval-episodes", "1", "--n-eval-envs", "1",
        "--save-freq", "64", "--seed", "0", "--device", "cpu",
        "-params", "n_envs:2", "n_steps:32", "batch_size:64", "env_kwargs:dict(max_episode_steps=20)",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder / "ppo_lstm" / f"{ENV_ID}_1"


MODEL_FILES = (f"{ENV_ID}.zip", "best_model.zip", "rl_model_64_steps.zip")


def test_an_rl_zoo_run_whose_config_kept_observations_raw_plays_every_model(zoo_run):
    config = (zoo_run / ENV_ID / "config.yml").read_text()
    assert "dict(norm_obs=False, norm_reward=True)" in config  # as rl-zoo dumps the shipped file
    assert (zoo_run / ENV_ID / "vecnormalize.pkl").is_file()  # reward statistics only
    for model in MODEL_FILES:
        played = evaluate(str(zoo_run / model), ENV_ID, trust_pickle=True, **FAST)
        raw = evaluate(str(zoo_run / model), ENV_ID, trust_pickle=True, vec_normalize=False, **FAST)
        assert played.agent.returns == raw.agent.returns
        assert "VecNormalize" not in played.agent.description


def test_every_model_of_an_rl_zoo_run_that_normalised_observations_finds_its_statistics(zoo_run, tmp_path):
    run = tmp_path / zoo_run.name
    shutil.copytree(zoo_run, run)
    config = run / ENV_ID / "config.yml"
    config.write_text(config.read_text().replace("norm_obs=False", "norm_obs=True"))
    statistics = run / ENV_ID / "vecnormalize.pkl"
    for model in MODEL_FILES:
        with pytest.raises(ValueError, match=f"found VecNormalize statistics '{statistics}'.*--vecnormalize"):
            evaluate(str(run / model), ENV_ID, trust_pickle=True, **FAST)
    own = run / "rl_model_vecnormalize_64_steps.pkl"  # SB3's checkpoint with its own statistics
    shutil.copy(statistics, own)
    with pytest.raises(ValueError, match=f"found VecNormalize statistics '{own}'"):
        evaluate(str(run / "rl_model_64_steps.zip"), ENV_ID, trust_pickle=True, **FAST)
    statistics.unlink()
    own.unlink()
    with pytest.raises(ValueError, match="says the model .*best_model.zip' was trained on normalised"):
        evaluate(str(run / "best_model.zip"), ENV_ID, trust_pickle=True, **FAST)
    config.write_text("normalize: [unclosed")  # an unreadable config: the files decide
    assert evaluate(str(run / "best_model.zip"), ENV_ID, trust_pickle=True, **FAST).agent.returns


# ------------------------------------------------------------------------------ the cache
CACHED = {**FAST, "baselines": ["zoo:rnn"], "cache": True}
PLAYERS = 6  # the agent, zoo:rnn and the references random, oracle, bayes and memoryless


def _files(folder: Path, kind: str) -> list[Path]:
    return sorted(path for path in (folder / kind).rglob("*") if path.is_file())


def _agent_key(store, player, n_tasks: int = FAST["n_tasks"]):
    from evaluate.cache import weights_hash
    from evaluate.rollout import DEFAULT_BATCH_SIZE
    from evaluate.task_sets import task_set

    return store.rollout_key(
        {"weights": weights_hash(player)}, ENV_ID, SHORT, task_set(ENV_ID, **SHORT).sha256,
        n_tasks, DEFAULT_BATCH_SIZE, 1,
    )


def _without_time(result) -> dict:
    return result.model_dump(exclude={"created"})


def test_a_second_run_reads_the_cache_and_gives_the_same_result(tmp_path, monkeypatch):
    from evaluate.cache import CACHE_ENV, ResultCache
    from evaluate.harness import package_version, resolve_agent
    from evaluate.rollout import Rollout

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = evaluate("zoo:nmn", ENV_ID, **CACHED)
    rollouts, intervals = _files(tmp_path, "rollout"), _files(tmp_path, "interval")
    assert len(rollouts) == PLAYERS and all(path.suffix == ".npz" for path in rollouts)
    second = evaluate("zoo:nmn", ENV_ID, **CACHED)
    assert _without_time(second) == _without_time(first)
    assert (_files(tmp_path, "rollout"), _files(tmp_path, "interval")) == (rollouts, intervals)
    # what the second run scored is what the cache holds: a changed entry changes the result
    store = ResultCache(tmp_path, package_version())
    key = _agent_key(store, resolve_agent("zoo:nmn", ENV_ID, SHORT))
    held = store.rollout(key, FAST["n_tasks"])
    assert held is not None and held.returns.tolist() == first.agent.returns
    store.store_rollout(key, Rollout(held.step_rewards * 2, None))
    doubled = evaluate("zoo:nmn", ENV_ID, **CACHED)
    assert doubled.agent.returns == [2 * value for value in first.agent.returns]
    # sampled actions are no deterministic player: played every time, never kept
    evaluate("zoo:nmn", ENV_ID, **{**CACHED, "baselines": []}, sample_actions=True)
    assert len(_files(tmp_path, "rollout")) == PLAYERS


def test_changed_weights_a_changed_task_set_or_version_miss_the_cache(tmp_path, monkeypatch):
    from evaluate import task_sets
    from evaluate.cache import CACHE_ENV, ResultCache
    from evaluate.harness import package_version, resolve_agent
    from policies.serialization import load_agent

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    model = load_agent(zoo_model())
    evaluate(model, ENV_ID, **CACHED)
    assert len(_files(tmp_path, "rollout")) == PLAYERS
    with th.no_grad():
        next(model.policy.parameters()).add_(0.25)
    evaluate(model, ENV_ID, **CACHED)
    assert len(_files(tmp_path, "rollout")) == PLAYERS + 1  # the changed model only
    version, generator_seed = task_sets.VERSIONS[ENV_ID]
    monkeypatch.setitem(task_sets.VERSIONS, ENV_ID, (version + 1, generator_seed + 17))
    evaluate(model, ENV_ID, **CACHED)  # a new published set: every player again
    assert len(_files(tmp_path, "rollout")) == 2 * PLAYERS + 1
    monkeypatch.undo()
    store = ResultCache(tmp_path, package_version())
    key = _agent_key(store, resolve_agent("zoo:nmn", ENV_ID, SHORT))
    assert store.rollout(key, FAST["n_tasks"]) is not None
    other_version = ResultCache(tmp_path, "0.0.1")  # never trusted across package versions
    assert other_version.rollout(_agent_key(other_version, resolve_agent("zoo:nmn", ENV_ID, SHORT)), 8) is None


class _Marker:
    """Unpickling it writes the file it names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (self.path, "unpickled"))


def test_a_corrupt_or_truncated_cache_is_a_miss_and_nothing_is_unpickled(tmp_path, monkeypatch):
    from evaluate.cache import CACHE_ENV, ResultCache
    from evaluate.harness import package_version, resolve_agent

    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    first = evaluate("zoo:nmn", ENV_ID, **CACHED)
    for path in _files(cache, "rollout"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for path in _files(cache, "interval"):
        path.write_text('{"key": ')
    assert _without_time(evaluate("zoo:nmn", ENV_ID, **CACHED)) == _without_time(first)
    store = ResultCache(cache, package_version())
    key = _agent_key(store, resolve_agent("zoo:nmn", ENV_ID, SHORT))
    assert store.rollout(key, FAST["n_tasks"]).returns.tolist() == first.agent.returns  # rewritten
    marker = tmp_path / "marker"
    np.savez(key[1], key=np.array(key[0]), step_rewards=np.array([_Marker(marker)], dtype=object))
    assert _without_time(evaluate("zoo:nmn", ENV_ID, **CACHED)) == _without_time(first)
    assert not marker.exists()


WARM_RUN = """
import sys
from evaluate.cli import main
main(sys.argv[1:])
print(sorted(name for name in ("rliable", "scipy.optimize", "scipy.stats") if name in sys.modules))
"""


def test_a_second_nmn_eval_bootstraps_nothing_and_imports_no_bootstrap_library(
    tmp_path, monkeypatch, capsys
):
    """Everything a warm run shows comes from the cache: its process never needs rliable's
    bootstrap or SciPy's statistics and optimisers, whose imports alone took seconds of it."""
    from evaluate.cache import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    command = [ENV_ID, "--agent", "zoo:nmn", "--baseline", "zoo:rnn", *CLI_FAST]
    nmn_eval([*command, "--out", str(tmp_path / "a")])
    capsys.readouterr()
    warm = subprocess.run(
        [sys.executable, "-c", WARM_RUN, *command, "--out", str(tmp_path / "b")],
        capture_output=True, text=True, env=os.environ, check=False, timeout=600,
    )
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "a" / "report.md").read_text() == (tmp_path / "b" / "report.md").read_text()


def test_nmn_eval_reads_the_analyses_of_an_nmn_agent_from_the_cache(tmp_path, monkeypatch, capsys):
    from evaluate.cache import CACHE_ENV, ResultCache
    from evaluate.harness import package_version

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    command = [ENV_ID, "--agent", "zoo:nmn", "--baseline", "none", *CLI_FAST]
    nmn_eval([*command, "--out", str(tmp_path / "a")])
    studies = {kind: _files(tmp_path / "cache", kind) for kind in ("modulation", "lock_unlock")}
    assert all(len(files) == 1 for files in studies.values())
    nmn_eval([*command, "--out", str(tmp_path / "b")])
    assert (tmp_path / "a" / "report.md").read_text() == (tmp_path / "b" / "report.md").read_text()
    # the second run drew the study from the cache: a changed entry shows in its report
    (path,) = studies["lock_unlock"]
    store = ResultCache(tmp_path / "cache", package_version())
    with np.load(path, allow_pickle=False) as stored:
        key, z, curve = (str(stored["key"]), path), stored["z"], stored["curve"]
    store.store_arrays(key, {"curve": np.full_like(curve, 7.0), "z": z})
    capsys.readouterr()
    nmn_eval([*command, "--out", str(tmp_path / "c")])
    assert "adapted 7.000, z locked after a task switch 7.000" in capsys.readouterr().out
    nmn_eval([*command, "--out", str(tmp_path / "d"), "--no-cache"])
    assert (tmp_path / "d" / "report.md").read_text() == (tmp_path / "a" / "report.md").read_text()
