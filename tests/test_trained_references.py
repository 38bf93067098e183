"""The trained references of the HalfCheetah tasks: the wrapper that tells the task, their training
(``nmn-train --policy oracle | memoryless``), their safe layouts, the shipped models as the
``oracle`` and ``memoryless`` references and bounds, and the board's random -> oracle normaliser."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3 import PPO

import nmn_envs  # noqa: F401  (registers the ids)
from evaluate import evaluate
from evaluate.bounds import bounds
from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import PINNED, VERSIONS, task_set, validation_set
from evaluate.trained_references import TrainedReference, model_path, trained_reference
from nmn_envs.envs.maml.half_cheetah import MAX_CONTROL_COST, SPEED_LIMIT
from nmn_envs.wrappers import TaskObservationWrapper
from policies.config import REFERENCE_HYPERPARAMS_FILE
from policies.serialization import METADATA_FILE, load_safe, read_metadata, save_safe
from training.train import main as nmn_train
from training.train import resume, train

VEL, DIR = "NMN-HalfCheetahVel-v0", "NMN-HalfCheetahDir-v0"
TINY = {"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 1, "n_timesteps": 128}


def bare(env_id: str, oracle: bool) -> gym.Env:
    env = gym.make(env_id, feedback=False)
    return TaskObservationWrapper(env) if oracle else env


def tiny_model(env_id: str, oracle: bool) -> PPO:
    return PPO("MlpPolicy", bare(env_id, oracle), n_steps=64, batch_size=32, policy_kwargs={"net_arch": [8]}, seed=0)


# --- the wrapper ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "task", "support"),
    [(VEL, {"target_velocity": 1.25}, (0.0, 4.0)), (DIR, {"direction": -1}, (-1.0, 1.0))],
)
def test_the_wrapper_appends_the_task_bounded_by_its_support(env_id, task, support) -> None:
    plain, told = gym.make(env_id, feedback=False), bare(env_id, oracle=True)
    base = plain.observation_space
    assert told.observation_space.shape == (base.shape[0] + 1,)
    assert told.observation_space.dtype == base.dtype
    assert np.array_equal(told.observation_space.low[:-1], base.low)
    assert (told.observation_space.low[-1], told.observation_space.high[-1]) == support
    observation, _ = told.reset(seed=3, options={"task": task})
    expected, _ = plain.reset(seed=3, options={"task": task})
    value = next(iter(task.values()))
    assert np.array_equal(observation, np.append(expected, value))
    for action in np.random.default_rng(0).uniform(-1, 1, size=(5, 6)):
        observation, *_ = told.step(action)
        expected, *_ = plain.step(action)
        assert np.array_equal(observation, np.append(expected, value))
        assert told.observation_space.contains(observation)
    drawn, _ = told.reset(seed=4)  # a fresh task from the distribution, shown at once
    assert drawn[-1] == next(iter(told.unwrapped.task.to_dict().values()))


def test_the_wrapper_refuses_an_observation_it_cannot_append_to() -> None:
    with pytest.raises(ValueError, match="appended to a flat Box observation, got Dict"):
        TaskObservationWrapper(gym.make(VEL))


def test_halfcheetah_rewards_lie_in_the_declared_range() -> None:
    assert gym.make(DIR).unwrapped.reward_range == (-SPEED_LIMIT - MAX_CONTROL_COST, SPEED_LIMIT)
    assert gym.make(VEL).unwrapped.reward_range == (-(SPEED_LIMIT + 2.0) - MAX_CONTROL_COST, 0.0)
    assert gym.make(VEL, velocity_range=(2.0, 3.0)).unwrapped.reward_range[0] == -(SPEED_LIMIT + 3.0) - MAX_CONTROL_COST


# --- training and the safe layouts ---------------------------------------------------------------


@pytest.fixture
def tiny_reference_hyperparams(tmp_path: Path) -> Path:
    """The shipped recipe of both HalfCheetah ids with a tiny rollout and network."""
    path = tmp_path / "ppo.yml"
    shipped = yaml.safe_load(REFERENCE_HYPERPARAMS_FILE.read_text())
    entry = {**shipped[VEL], **TINY, "policy_kwargs": "dict(net_arch=[8])"}
    path.write_text(yaml.safe_dump({VEL: entry, DIR: entry}))
    return path


@pytest.mark.parametrize(("policy", "layout", "fields"), [("oracle", "bare+task", ["target_velocity"]), ("memoryless", "bare", None)])
def test_nmn_train_trains_a_reference_with_ppo_on_the_bare_task_and_resumes(
    tmp_path: Path, tiny_reference_hyperparams: Path, policy: str, layout: str, fields
) -> None:
    run = tmp_path / policy
    args = [VEL, "--policy", policy, "--timesteps", "64", "--checkpoint-freq", "64", "--out", str(run)]
    assert nmn_train([*args, "--hyperparams", str(tiny_reference_hyperparams), "--no-progress-bar"]) == 0
    config = yaml.safe_load((run / "config.yml").read_text())
    assert (config["policy"], config["hyperparams"]["n_steps"]) == (policy, 64)
    assert not (run / "validation.csv").exists()  # a reference keeps its last model (training.train)
    metadata = read_metadata(run / "model.safe.zip")
    assert (metadata.algorithm, metadata.observation_layout, metadata.task_fields) == ("PPO", layout, fields)
    assert metadata.num_timesteps == 64
    # an interrupted run (its final model not yet written) resumes from its safe checkpoint
    config["timesteps"] = 128
    (run / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run / "model.zip").unlink()
    model = resume(run, checkpoint_freq=64, progress_bar=False)
    assert isinstance(model, PPO) and model.num_timesteps == 128
    assert read_metadata(run / "model.safe.zip").num_timesteps == 128


def test_a_reference_trains_one_agent_per_task(tmp_path: Path, tiny_reference_hyperparams: Path) -> None:
    with pytest.raises(ValueError, match="plays one agent per task: agents must be 1"):
        train(VEL, "oracle", 0, 64, tmp_path / "team", hyperparams_file=tiny_reference_hyperparams, agents=2)
    with pytest.raises(ValueError, match=r"no recipe for NMN-Bench1-v0; it has recipes for \['NMN-HalfCheetahDir-v0'"):
        train("NMN-Bench1-v0", "memoryless", 0, 64, tmp_path / "bench")


@pytest.mark.parametrize(("oracle", "layout"), [(True, "bare+task"), (False, "bare")])
def test_both_reference_layouts_round_trip_through_the_safe_form(tmp_path: Path, oracle: bool, layout: str) -> None:
    model = tiny_model(VEL, oracle)
    path = save_safe(model, tmp_path / "model.safe.zip", env_id=VEL)
    loaded = load_safe(path)
    assert loaded.metadata.observation_layout == layout
    assert loaded.metadata.task_fields == (["target_velocity"] if oracle else None)
    assert loaded.observation_space == model.observation_space
    observations = np.stack([model.observation_space.sample() for _ in range(16)]).clip(-5, 5)
    assert np.array_equal(loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0])


def _edit_metadata(path: Path, **changes) -> Path:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = {**json.loads(members[METADATA_FILE]), **changes}
    members[METADATA_FILE] = json.dumps(document).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_bad_reference_files_are_refused_before_anything_is_played(tmp_path: Path) -> None:
    memoryless = save_safe(tiny_model(VEL, False), tmp_path / "memoryless.safe.zip", env_id=VEL)
    with pytest.raises(ValueError, match=r"a PPO model of NMN-HalfCheetahVel-v0 on the 'bare' layout; the memoryless reference of NMN-HalfCheetahDir-v0"):
        trained_reference("memoryless", DIR, memoryless)
    with pytest.raises(ValueError, match=r"on the 'bare' layout; the oracle reference of NMN-HalfCheetahVel-v0 is a PPO model of NMN-HalfCheetahVel-v0 on the 'bare\+task' layout"):
        trained_reference("oracle", VEL, memoryless)
    oracle = save_safe(tiny_model(VEL, True), tmp_path / "oracle.safe.zip", env_id=VEL)
    _edit_metadata(oracle, task_fields=["direction"])
    with pytest.raises(ValueError, match=r"told the task fields \['direction'\], but the tasks of NMN-HalfCheetahVel-v0 have the fields \['target_velocity'\]"):
        trained_reference("oracle", VEL, oracle)
    _edit_metadata(oracle, task_fields=None)
    with pytest.raises(ValueError, match="task_fields .* are given exactly for 'bare\\+task'"):
        read_metadata(oracle)
    with pytest.raises(ValueError, match="has no trained oracle reference"):
        trained_reference("oracle", "NMN-Bench1-v0")
    told = save_safe(tiny_model(DIR, True), tmp_path / "told.safe.zip", env_id=DIR)
    with pytest.raises(ValueError, match="is told the task .*plays as the reference 'oracle'"):
        evaluate(str(told), DIR, n_tasks=1, references=())


def test_a_recurrent_model_takes_no_bare_layout(tmp_path: Path) -> None:
    path = save_safe(tiny_model(VEL, False), tmp_path / "bare.safe.zip", env_id=VEL)
    _edit_metadata(path, algorithm="RecurrentPPO", policy_class="MlpLstmPolicy")
    with pytest.raises(ValueError, match=r"a RecurrentPPO policy acts on observation_layout \['dict', 'flat'\], not 'bare'"):
        read_metadata(path)


# --- the shipped references ----------------------------------------------------------------------


@pytest.mark.parametrize("env_id", [VEL, DIR])
def test_the_halfcheetah_ids_have_published_pinned_task_sets(env_id: str) -> None:
    published = task_set(env_id)
    assert published.version == f"{env_id}/v1" and PINNED[published.version] == published.sha256
    assert VERSIONS[env_id][1] == published.generator_seed
    assert not set(published.seeds) & set(validation_set(env_id).seeds)


@pytest.mark.parametrize("env_id", [VEL, DIR])
def test_the_shipped_references_are_the_reference_agents(env_id: str) -> None:
    for name, layout in (("oracle", "bare+task"), ("memoryless", "bare")):
        agent = reference(name, env_id)
        metadata = read_metadata(model_path(name, env_id))
        assert isinstance(agent, TrainedReference) and agent.model.metadata == metadata
        assert (metadata.env_id, metadata.observation_layout) == (env_id, layout)
        assert metadata.weights_sha256 in agent.description
        assert f"nmn-train {env_id} --policy {name} --seed 0 --timesteps {metadata.num_timesteps}" in agent.description


def paired_gap(better: list[float], worse: list[float]) -> tuple[float, float]:
    """The mean of the per-task differences and its standard error."""
    differences = np.asarray(better) - np.asarray(worse)
    return float(differences.mean()), float(differences.std(ddof=1) / np.sqrt(differences.size))


@pytest.mark.parametrize(("env_id", "n_tasks", "beaten"), [(DIR, 4, ("memoryless", "random")), (VEL, 6, ("random",))])
def test_the_trained_oracle_beats_the_other_references(env_id: str, n_tasks: int, beaten: tuple[str, ...]) -> None:
    result = evaluate("oracle", env_id, n_tasks=n_tasks, reps=100)
    oracle = result.agent.returns
    for name in beaten:
        gap, error = paired_gap(oracle, result.score(name).returns)
        assert gap > 3 * error, (name, gap, error)
    assert set(result.normaliser) == {"random", "memoryless", "oracle"}
    (ceiling,) = [bound for bound in result.bounds if bound.name == "oracle"]
    assert ceiling.kind == "ceiling" and ceiling.value == result.normaliser["oracle"] == np.mean(oracle)
    weights = read_metadata(model_path("oracle", env_id)).weights_sha256
    assert "a ceiling estimate, not Bayes" in ceiling.description and weights in ceiling.description


def test_the_oracle_bound_is_the_trained_oracle_played_on_the_evaluation_set() -> None:
    (ceiling,) = [bound for bound in bounds(VEL, n_tasks=2) if bound.name == "oracle"]
    tasks, seeds = task_set(VEL).head(2)
    expected = play(reference("oracle", VEL), VEL, tasks, seeds, {}).returns
    assert ceiling.kind == "ceiling" and ceiling.value == pytest.approx(np.mean(expected), abs=1e-9)
    assert read_metadata(model_path("oracle", VEL)).weights_sha256 in ceiling.description


# --- the board -----------------------------------------------------------------------------------

SMALL_SET = 2


@pytest.fixture(scope="module")
def small_board():
    """The board as it runs, on the first tasks of NMN-HalfCheetahVel's published set.

    The board plays each reference on the whole set, 400,000 MuJoCo steps per agent (minutes on
    one core); cut to its first :data:`SMALL_SET` tasks (the same draws and seeds, so a hash of
    its own), every check below runs as it does on the full set, in seconds.
    """
    from evaluate import task_sets
    from leaderboard import references, validation

    with pytest.MonkeyPatch.context() as patch:
        for module in (task_sets, references, validation):
            patch.setattr(module, "SET_SIZE", SMALL_SET)
        patch.delitem(task_sets.PINNED, f"{VEL}/v1")
        patch.setattr(references, "_computed", {})
        validation.published_task_set.cache_clear()
        yield
    validation.published_task_set.cache_clear()


def steady(observation: dict[str, np.ndarray]) -> np.ndarray:
    """The same small torques at every step."""
    return np.full((len(observation["observation"]), 6), 0.2)


@pytest.fixture(scope="module")
def submitted(small_board) -> str:
    """A result of :func:`steady` on the cut set, as nmn-eval writes it (the references' rollouts
    kept in the cache, which the board's own run of them reads)."""
    result = evaluate(steady, VEL, n_tasks=SMALL_SET, agent_name="steady-torque", reps=200, cache=True)
    return result.model_dump_json()


def test_the_board_ranks_a_halfcheetah_result_on_the_random_to_oracle_scale(
    small_board, submitted: str, tmp_path: Path
) -> None:
    from leaderboard.board import table
    from leaderboard.references import board_references
    from leaderboard.store import Store
    from leaderboard.validation import accept

    board = board_references(VEL)
    assert set(board.normaliser) == {"random", "memoryless", "oracle"}
    random, oracle = board.normaliser["random"], board.normaliser["oracle"]
    assert random < oracle and board.return_range == (400 * board.step_reward_range[0], 0.0)
    stored = accept(submitted)
    agent = stored.result.agent
    assert agent.normalised_score.value == pytest.approx((agent.mean.value - random) / (oracle - random), abs=1e-12)
    assert agent.regret is None and stored.normalised_iqm() == agent.iqm.on_scale(random, oracle)
    path = tmp_path / "board.sqlite"
    Store(path).add(stored)
    ranked = table(Store(path), VEL)
    assert {row.agent for row in ranked.rows} == {"steady-torque", "random", "memoryless", "oracle"}
    values = [row.normalised_iqm.value for row in ranked.rows]
    assert values == sorted(values, reverse=True)
    assert next(row for row in ranked.rows if row.agent == "steady-torque").normalised_iqm == stored.normalised_iqm()


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("result.agent.normalised_score.value", lambda result: result["agent"]["normalised_score"].update(value=0.9)),
        ("result.normaliser.oracle", lambda result: result["normaliser"].update(oracle=0.0)),
        ("result.bounds.oracle.value", lambda result: result["bounds"][0].update(value=-1.0)),
        ("result.agent.returns.0", lambda result: result["agent"]["returns"].__setitem__(0, 1.0)),
        ("result.agent.regret", lambda result: result["agent"].update(regret={"value": 1.0, "low": 0.0, "high": 2.0})),
    ],
)
def test_the_board_refuses_forged_halfcheetah_numbers(small_board, submitted: str, field: str, edit) -> None:
    from leaderboard.submission import SubmissionError
    from leaderboard.validation import accept

    document = json.loads(submitted)
    assert [bound["name"] for bound in document["bounds"]] == ["oracle"]
    edit(document)
    with pytest.raises(SubmissionError) as refused:
        accept(json.dumps(document))
    assert refused.value.field.startswith(field)
