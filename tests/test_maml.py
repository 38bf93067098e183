"""Agents that adapt by gradient steps: the harness protocol, MAML's batched adaptation, its
training, its safe form and its refusals, and nmn-eval on a MAML file."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from gymnasium import spaces
from torch.func import functional_call

import nmn_envs  # noqa: F401  (registers the ids)
from evaluate.agents import as_policy
from evaluate.policy import LearningPolicy, Observation, Trial
from evaluate.cli import main as nmn_eval
from evaluate.harness import evaluate
from evaluate.maml_agent import MAMLAgent
from evaluate.rollout import play
from evaluate.task_sets import task_set
from policies.maml import Adaptation, Episodes, GaussianMLPPolicy, adaptation_step, advantages, expand, reinforce_loss
from policies.maml_trpo import MAML_HYPERPARAMS_FILE, load_maml_hyperparams
from policies.serialization import METADATA_FILE, environment_spaces, load_safe, save_maml
from training.maml_train import read_maml_config, resume_maml, train_maml
from training.runs import CONFIG_FILE, RunComplete
from training.validation import read_curve

NAVIGATION = "NMN-Navigation2D-v0"
ADAPTATION = Adaptation(inner_learning_rate=0.1, inner_steps=1, gamma=0.99, gae_lambda=1.0)


class RecordingAgent(LearningPolicy):
    """Moves each row at its own constant velocity and keeps every trial it is handed."""

    name = "recorder"

    def reset(self, env) -> None:  # type: ignore[no-untyped-def]
        self.velocity = 0.01 * (np.arange(env.num_envs)[:, None] + 1.0) * np.array([1.0, -0.5])
        self.seen: list[tuple[int, Trial]] = []

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        return self.velocity

    def learn(self, rows: np.ndarray, trials: Sequence[Trial]) -> None:
        self.seen += list(zip(rows.tolist(), trials))


def test_a_learning_agent_sees_exactly_its_own_meta_episodes_finished_trials() -> None:
    tasks, seeds = task_set(NAVIGATION).head(4)
    agent = RecordingAgent()
    kwargs = {"trials_per_task": 3, "max_episode_steps": 300}
    rollout = play(agent, NAVIGATION, tasks, seeds, kwargs, record=True)
    # Two finished trials with a trial to follow per meta-episode; never the last one.
    assert sorted(row for row, _ in agent.seen) == [0, 0, 1, 1, 2, 2, 3, 3]
    for index, (row, trial) in enumerate(agent.seen):
        first = 0 if index < 4 else 100  # every row ends its first trial at step 99, its second at 199
        steps = slice(first, first + 100)
        np.testing.assert_array_equal(trial.observations["observation"], rollout.observations[row, steps])
        np.testing.assert_array_equal(trial.actions, rollout.actions[row, steps])
        np.testing.assert_array_equal(trial.rewards, rollout.step_rewards[row, steps])
        assert trial.observations["trial_start"][0, 0] == 1.0 and trial.observations["trial_start"][1:].sum() == 0
    # Each row's trials hold its own movement only: positions grow by its own velocity.
    for row, trial in agent.seen:
        moves = np.diff(trial.observations["observation"], axis=0)
        np.testing.assert_allclose(moves, np.broadcast_to(agent.velocity[row], moves.shape), atol=1e-6)


def tiny_episodes(generator: th.Generator, tasks: int = 3) -> Episodes:
    shape = (tasks, 2, 5)
    mask = th.ones(shape)
    mask[1, 0, 3:] = 0.0  # a shorter trajectory among them
    return Episodes(
        th.randn(*shape, 2, generator=generator), th.randn(*shape, 2, generator=generator),
        th.randn(*shape, generator=generator), mask,
    )


def test_the_batched_torch_func_step_equals_a_per_task_autograd_step() -> None:
    generator = th.Generator().manual_seed(0)
    box = spaces.Box(-1.0, 1.0, (2,), np.float32)
    module = GaussianMLPPolicy(box, box, hidden_sizes=[3], generator=generator)
    episodes = tiny_episodes(generator)
    task_advantages = advantages(episodes, gamma=0.9, gae_lambda=0.95)
    theta = {name: value.detach().clone().requires_grad_() for name, value in module.named_parameters()}
    batched = adaptation_step(module, expand(theta, 3), episodes, task_advantages, 0.1)
    for task in range(3):
        loss = reinforce_loss(
            module, theta, episodes.observations[task], episodes.actions[task], task_advantages[task], episodes.mask[task]
        )
        gradients = th.autograd.grad(loss, list(theta.values()), create_graph=True)
        reference = {name: theta[name] - 0.1 * gradient for name, gradient in zip(theta, gradients)}
        for name in theta:
            th.testing.assert_close(batched[name][task], reference[name])
        # and the second-order gradient through the step agrees (what the outer loop uses)
        outer = lambda params: functional_call(module, params, (episodes.observations[task],))[0].sum()  # noqa: E731
        expected = th.autograd.grad(outer(reference), list(theta.values()))
        task_params = {name: batched[name][task] for name in theta}
        actual = th.autograd.grad(outer(task_params), list(theta.values()), retain_graph=True)
        for left, right in zip(actual, expected):
            th.testing.assert_close(left, right)


def test_advantages_are_normalised_per_task_on_played_steps() -> None:
    episodes = tiny_episodes(th.Generator().manual_seed(1))
    values = advantages(episodes, gamma=0.99, gae_lambda=1.0)
    for task in range(3):
        played = values[task][episodes.mask[task] > 0]
        assert abs(played.mean().item()) < 1e-5 and abs(played.std(unbiased=False).item() - 1.0) < 1e-4
    assert (values[1, 0, 3:] == 0).all()


def navigation_policy(seed: int = 0, hidden_sizes: Sequence[int] = (8,)) -> GaussianMLPPolicy:
    observation_space, action_space = environment_spaces(NAVIGATION, {})
    generator = th.Generator().manual_seed(seed)
    return GaussianMLPPolicy(observation_space["observation"], action_space, hidden_sizes, generator=generator)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short MAML run on NMN-Navigation2D: 4 outer updates of 10 tasks."""
    folder = tmp_path_factory.mktemp("maml")
    recipe = yaml.safe_load(MAML_HYPERPARAMS_FILE.read_text())[NAVIGATION]
    recipe.update(hidden_sizes=[32, 32], meta_batch_size=10, fast_batch_size=10, num_batches=4)
    (folder / "maml.yml").write_text(yaml.safe_dump({NAVIGATION: recipe}))
    th.set_num_threads(1)
    train_maml(
        NAVIGATION, 0, None, folder / "run", hyperparams_file=folder / "maml.yml", checkpoint_freq=20_000,
        eval_freq=40_000, validation_tasks=20, progress_bar=False,
    )
    return folder / "run"


def test_a_short_maml_run_adapts_after_its_update(trained: Path) -> None:
    model = trained / "model.safe.zip"
    assert load_safe(model).metadata.adaptation == ADAPTATION
    assert [row["steps"] for row in read_curve(trained)] == [40_000, 80_000]
    tasks, seeds = task_set(NAVIGATION).head(60)
    agent = as_policy(str(model), seed=3)
    assert isinstance(agent, MAMLAgent)
    rollout = play(agent, NAVIGATION, tasks, seeds, {"trials_per_task": 6, "max_episode_steps": 600})
    trials = rollout.trial_rewards  # 5 trials learnt from, one inner step, then the adapted trial
    gain = trials[:, 5] - trials[:, :5].mean(axis=1)
    assert gain.mean() > 3 * gain.std(ddof=1) / np.sqrt(len(gain))
    with pytest.raises(RunComplete):
        resume_maml(trained, progress_bar=False)


def test_an_interrupted_maml_run_resumes_from_its_checkpoint(trained: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    config = read_maml_config(trained).model_copy(update={"timesteps": 60_000})
    (run / CONFIG_FILE).write_text(yaml.safe_dump(config.model_dump()))
    (run / "checkpoints").mkdir()
    for name in ("model_20000_steps.safe.zip", "model_20000_steps.training.pt"):
        (run / "checkpoints" / name).write_bytes((trained / "checkpoints" / name).read_bytes())
    resumed = resume_maml(run, checkpoint_freq=20_000, progress_bar=False)
    assert (run / "logs" / "run_20000").is_dir()
    assert sorted(path.name for path in (run / "checkpoints").glob("*.safe.zip"))[-1] == "model_60000_steps.safe.zip"
    assert load_safe(run / "model.safe.zip").metadata.num_timesteps == 60_000
    saved = load_safe(trained / "checkpoints" / "model_20000_steps.safe.zip").policy
    assert any(not th.equal(a, b) for a, b in zip(resumed.parameters(), saved.parameters()))


def rewrite_metadata(path: Path, out: Path, **changes: object) -> Path:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members[METADATA_FILE])
    for key, value in changes.items():
        if value is None:
            metadata.pop(key)
        else:
            metadata[key] = value
    members[METADATA_FILE] = json.dumps(metadata).encode()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "maml.safe.zip"
    return save_maml(navigation_policy(), path, env_id=NAVIGATION, adaptation=ADAPTATION, num_timesteps=5)


@pytest.mark.parametrize(
    ("adaptation", "problem"),
    [
        ({**ADAPTATION.model_dump(), "inner_steps": 0}, "adaptation.inner_steps"),
        ({**ADAPTATION.model_dump(), "inner_steps": "1"}, "adaptation.inner_steps"),
        ({**ADAPTATION.model_dump(), "inner_steps": 1000}, "adaptation.inner_steps"),
        ({**ADAPTATION.model_dump(), "inner_learning_rate": -0.1}, "adaptation.inner_learning_rate"),
        (None, "adaptation (inner_learning_rate, inner_steps, ...) is given exactly for MAML"),
    ],
)
def test_bad_inner_step_metadata_is_refused_before_any_play(
    saved: Path, tmp_path: Path, adaptation: object, problem: str
) -> None:
    bad = rewrite_metadata(saved, tmp_path / "bad.safe.zip", adaptation=adaptation)
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_safe(bad)
    with pytest.raises(ValueError, match="metadata.json"):
        evaluate(str(bad), NAVIGATION, n_tasks=2, reps=10)


def test_more_inner_steps_than_the_trials_allow_are_refused_before_any_play(tmp_path: Path) -> None:
    steps = Adaptation(**{**ADAPTATION.model_dump(), "inner_steps": 2})
    path = save_maml(navigation_policy(), tmp_path / "two.safe.zip", env_id=NAVIGATION, adaptation=steps, num_timesteps=1)
    with pytest.raises(ValueError, match="takes 2 inner step.*trials_per_task of at least 3"):
        evaluate(str(path), NAVIGATION, n_tasks=2, reps=10)
    result = evaluate(
        str(path), NAVIGATION, n_tasks=2, reps=10, references=(),
        env_kwargs={"trials_per_task": 3, "max_episode_steps": 300},
    )
    assert result.trials_per_task == 3 and len(result.agent.adaptation_curve) == 3


def test_a_maml_file_of_another_env_is_refused_before_any_play(tmp_path: Path) -> None:
    observation_space, action_space = environment_spaces("NMN-HalfCheetahVel-v0", {})
    cheetah = GaussianMLPPolicy(observation_space["observation"], action_space, [4])
    path = save_maml(cheetah, tmp_path / "cheetah.safe.zip", env_id="NMN-HalfCheetahVel-v0", adaptation=ADAPTATION, num_timesteps=1)
    with pytest.raises(ValueError, match=r"trained for NMN-HalfCheetahVel-v0\) acts on observations Box"):
        evaluate(str(path), NAVIGATION, n_tasks=2, reps=10)
    relabelled = rewrite_metadata(path, tmp_path / "relabelled.safe.zip", env_id=NAVIGATION)
    with pytest.raises(ValueError, match="the weights do not fit the policy"):
        load_safe(relabelled)


def test_nmn_eval_scores_a_maml_file_with_its_per_trial_curve(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    nmn_eval([NAVIGATION, "--agent", str(saved), "--n-tasks", "8", "--reps", "50", "--baseline", "none",
              "--out", str(out), "--no-progress", "--no-cache"])
    printed = capsys.readouterr().out
    assert "| maml | agent |" in printed and "trial 2 − trial 1" in printed
    result = json.loads((out / "result.json").read_text())
    assert result["trials_per_task"] == 2
    assert result["agent"]["actions"] == {"mode": "sampled", "torch_seed": 0}
    assert len(result["agent"]["trial_gains"]) == 1
    assert len(result["agent"]["adaptation_curve"]) == 2


def test_a_finished_maml_run_ships_into_the_zoo_and_plays_by_its_zoo_name(trained: Path, tmp_path: Path) -> None:
    from nmn_bench.zoo import main as nmn_zoo
    from training import zoo

    nmn_zoo(["add", str(trained), "--trained-by", "a short run", "--n-tasks", "20", "--zoo", str(tmp_path)])
    (card,) = zoo.cards(NAVIGATION, tmp_path)
    assert (card.policy, card.seed, card.selected_steps) == ("maml", 0, 80_000)
    assert card.config["hyperparams"]["hidden_sizes"] == [32, 32] and card.parameters > 0
    assert card.evaluation.score.trial_gains is not None  # scored trial by trial, as a learning agent
    shipped = tmp_path / NAVIGATION / card.model_file
    assert load_safe(shipped).metadata.adaptation == ADAPTATION


def test_zoo_names_take_maml() -> None:
    from training.zoo import parse_name

    assert parse_name("zoo:maml") == ("maml", None) and parse_name("zoo:maml@seed2") == ("maml", 2)


def test_the_shipped_maml_recipes_follow_pytorch_maml_rl() -> None:
    navigation, velocity, direction = (
        load_maml_hyperparams(env_id) for env_id in (NAVIGATION, "NMN-HalfCheetahVel-v0", "NMN-HalfCheetahDir-v0")
    )
    assert navigation.adaptation() == ADAPTATION and navigation.hidden_sizes == [100, 100]
    assert (navigation.fast_batch_size, navigation.meta_batch_size, navigation.max_kl) == (20, 20, 0.01)
    assert velocity.meta_batch_size == direction.meta_batch_size == 40
    assert load_maml_hyperparams("NMN-Bandit-v0") == navigation
