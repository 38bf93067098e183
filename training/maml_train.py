"""Train MAML on a task of the suite: ``nmn-train ENV --policy maml`` (and ``--resume DIR``).

Each outer update draws ``meta_batch_size`` tasks, plays ``fast_batch_size`` trajectories (one
trial each) of every task with the current initial parameters, adapts them per task
(:func:`policies.maml.adapt`, batched over tasks), plays as many trajectories with the adapted
parameters, and takes a TRPO step on those (:func:`policies.maml_trpo.trpo_step`). Trajectories
are played by the harness's batched rollout (:func:`evaluate.rollout.play`), every task's rows at
once, each row with its task's parameters.

The run folder is laid out as ``nmn-train``'s: ``config.yml``, ``logs/run_<start step>/``
(``progress.csv`` and TensorBoard: returns before and after the update, surrogate loss, KL, line
search step), ``checkpoints/model_<step>_steps.safe.zip`` (the policy in the safe form) with
``.training.pt`` (the update count), ``validation.csv`` (the harness protocol on the validation
set: meta-episodes of the registered trials, adapting between them) with ``best_model.safe.zip``,
and, at the end, ``model.safe.zip``. Nothing in it is unpickled to resume. Task draws and action
noise come from generators seeded with ``seed`` plus the steps done.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import gymnasium as gym
import numpy as np
import torch as th
import yaml
from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt, ValidationError, field_validator
from stable_baselines3.common.logger import configure
from tqdm import trange

from evaluate.policy import Observation, Policy
from evaluate.maml_agent import MAMLAgent
from evaluate.rollout import play
from nmn_envs import check_env_id
from nmn_envs.tasks import Task
from policies.config import first_problem, read_yaml
from policies.maml import Episodes, GaussianMLPPolicy, Parameters, adapt, expand, sample_actions
from policies.maml_trpo import MAMLHyperparams, MetaBatch, load_maml_hyperparams, trpo_step
from policies.serialization import SAFE_SUFFIX, environment_spaces, load_safe, save_maml
from training.runs import (
    CHECKPOINT_DIR,
    CHECKPOINT_PREFIX,
    CONFIG_FILE,
    LOG_FORMATS,
    SAFE_MODEL_FILE,
    TRAINING_STATE_SUFFIX,
    RunComplete,
    git_revision,
    latest_checkpoint,
)
from training.validation import SAFE_BEST_MODEL_FILE, VALIDATION_TASKS, ValidationCurve

TRAINING_SEED_LIMIT = 10**9
"""Reset seeds of training trajectories stay below the evaluation seeds (:mod:`evaluate.task_sets`)."""
VALIDATION_EVERY_BATCHES = 10
"""Default validation period, in outer updates."""


class MAMLRunConfig(BaseModel):
    """The ``config.yml`` of a MAML run folder."""

    model_config = ConfigDict(extra="forbid")

    env_id: str
    policy: Literal["maml"] = "maml"
    seed: NonNegativeInt
    timesteps: PositiveInt
    eval_freq: PositiveInt
    validation_tasks: PositiveInt
    git_revision: str | None = None
    hyperparams: MAMLHyperparams

    @field_validator("env_id")
    @classmethod
    def _suite_env(cls, env_id: str) -> str:
        check_env_id(env_id)
        return env_id


def is_maml_run(run_dir: str | Path) -> bool:
    """Whether the run folder ``run_dir`` holds a MAML run (its ``config.yml`` says ``policy: maml``)."""
    path = Path(run_dir) / CONFIG_FILE
    document = read_yaml(path, "run config") if path.is_file() else None
    return isinstance(document, dict) and document.get("policy") == "maml"


def trial_steps(env_id: str) -> int:
    """The length of one trial of ``env_id`` (an episodic task of the suite).

    Raises:
        ValueError: for a task that is not played in trials.
    """
    env = gym.make(env_id)
    unwrapped = env.unwrapped
    env.close()
    steps = getattr(getattr(unwrapped, "core", unwrapped), "trial_steps", None)
    if steps is None:
        raise ValueError(f"MAML trains on tasks played in trials (episodic tasks); {env_id} is one long episode")
    return int(steps)


def steps_per_batch(env_id: str, hyperparams: MAMLHyperparams) -> int:
    """Environment steps of one outer update: every trajectory before and after adaptation."""
    trajectories = hyperparams.meta_batch_size * hyperparams.fast_batch_size * (hyperparams.inner_steps + 1)
    return trajectories * trial_steps(env_id)


class RowSampler(Policy):
    """Samples actions of a Gaussian policy with parameters of its own for each sub-environment."""

    name = "maml-sampler"

    def __init__(self, module: GaussianMLPPolicy, row_params: Parameters, generator: th.Generator) -> None:
        self.module, self.row_params, self.generator = module, row_params, generator

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        inputs = th.as_tensor(np.asarray(observation["observation"]), dtype=th.float32)
        with th.no_grad():
            return sample_actions(self.module, self.row_params, inputs, self.generator).numpy()


class MetaBatchSampler:
    """Draws the tasks and plays the trajectories of outer updates."""

    def __init__(self, env_id: str, hyperparams: MAMLHyperparams, seed: int) -> None:
        self.env_id, self.hyperparams = env_id, hyperparams
        self.trial_steps = trial_steps(env_id)
        self.rng = np.random.default_rng(seed)
        self.generator = th.Generator().manual_seed(seed)
        self.env = gym.make(env_id)

    def sample(self, module: GaussianMLPPolicy) -> MetaBatch:
        """Tasks, their pre-update trajectories and, after adaptation, their post-update ones."""
        hyperparams = self.hyperparams
        tasks = [self.env.unwrapped.sample_task(self.rng) for _ in range(hyperparams.meta_batch_size)]
        params = expand({key: value.detach() for key, value in module.named_parameters()}, len(tasks))
        train = []
        for _ in range(hyperparams.inner_steps):
            episodes = self.play(module, params, tasks)
            train.append(episodes)
            with th.no_grad():
                params = adapt(module, params, [episodes], hyperparams.adaptation(), first_order=True)
        return MetaBatch(train, self.play(module, params, tasks))

    def play(self, module: GaussianMLPPolicy, task_params: Parameters, tasks: list[Task]) -> Episodes:
        """``fast_batch_size`` one-trial trajectories of each task, played with its parameters."""
        copies = self.hyperparams.fast_batch_size
        rows = [task for task in tasks for _ in range(copies)]
        row_params = {key: value.repeat_interleave(copies, dim=0) for key, value in task_params.items()}
        seeds = self.rng.integers(0, TRAINING_SEED_LIMIT, size=len(rows)).tolist()
        kwargs = {"trials_per_task": 1, "max_episode_steps": self.trial_steps}
        rollout = play(
            RowSampler(module, row_params, self.generator), self.env_id, rows, seeds, kwargs,
            batch_size=len(rows), record=True,
        )
        shape = (len(tasks), copies, rollout.step_rewards.shape[1])
        played = ~np.isnan(rollout.step_rewards)

        def tensor(array: np.ndarray, trailing: tuple[int, ...] = ()) -> th.Tensor:
            return th.as_tensor(np.asarray(array, np.float32).reshape(*shape, *trailing))

        return Episodes(
            observations=tensor(rollout.observations, rollout.observations.shape[2:]),
            actions=tensor(rollout.actions, rollout.actions.shape[2:]),
            rewards=tensor(np.where(played, rollout.step_rewards, 0.0)),
            mask=tensor(played),
        )


def save_checkpoint(module: GaussianMLPPolicy, config: MAMLRunConfig, folder: Path, steps: int, batches: int) -> Path:
    """Write the policy's safe form and the update count at ``steps`` into ``folder`` (the safe
    form renamed into place last, so a kill leaves a whole checkpoint or none)."""
    stem = folder / f"{CHECKPOINT_PREFIX}_{steps}_steps"
    folder.mkdir(parents=True, exist_ok=True)
    staged = stem.with_name(f".{stem.name}.safe.tmp")
    th.save({"num_timesteps": steps, "batches": batches}, stem.with_name(stem.name + TRAINING_STATE_SUFFIX))
    save_maml(module, staged, env_id=config.env_id, adaptation=config.hyperparams.adaptation(), num_timesteps=steps)
    os.replace(staged, stem.with_name(stem.name + SAFE_SUFFIX))
    return stem.with_name(stem.name + SAFE_SUFFIX)


def read_maml_config(run_dir: Path) -> MAMLRunConfig:
    """The checked ``config.yml`` of a MAML run folder.

    Raises:
        ValueError: naming the folder and the first field that is wrong.
    """
    try:
        return MAMLRunConfig.model_validate(read_yaml(run_dir / CONFIG_FILE, "run config"))
    except ValidationError as error:
        raise ValueError(f"{run_dir}: {CONFIG_FILE}: {first_problem(error, '(config)')}") from None


def new_policy(env_id: str, hyperparams: MAMLHyperparams, seed: int) -> GaussianMLPPolicy:
    """A fresh policy for ``env_id``'s base observations and actions, initialised from ``seed``."""
    observation_space, action_space = environment_spaces(env_id, {})
    generator = th.Generator().manual_seed(seed)
    return GaussianMLPPolicy(observation_space["observation"], action_space, **hyperparams.policy_kwargs(), generator=generator)


def train_maml(
    env_id: str,
    seed: int,
    timesteps: int | None,
    out: str | Path,
    *,
    hyperparams_file: str | Path | None = None,
    checkpoint_freq: int = 100_000,
    eval_freq: int | None = None,
    validation_tasks: int = VALIDATION_TASKS,
    progress_bar: bool = True,
) -> GaussianMLPPolicy:
    """Train MAML on ``env_id`` for ``timesteps`` environment steps into the folder ``out``.

    ``timesteps`` defaults to the recipe's ``num_batches`` outer updates; ``eval_freq`` to
    :data:`VALIDATION_EVERY_BATCHES` updates.

    Raises:
        ValueError: for an env that is not played in trials, a folder that holds a run, or a
            bad recipe or budget.
    """
    check_env_id(env_id)
    run_dir = Path(out)
    if (run_dir / CONFIG_FILE).exists():
        raise ValueError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    hyperparams = load_maml_hyperparams(env_id, hyperparams_file)
    per_batch = steps_per_batch(env_id, hyperparams)
    try:
        config = MAMLRunConfig(
            env_id=env_id, seed=seed, git_revision=git_revision(), hyperparams=hyperparams,
            timesteps=hyperparams.num_batches * per_batch if timesteps is None else timesteps,
            eval_freq=VALIDATION_EVERY_BATCHES * per_batch if eval_freq is None else eval_freq,
            validation_tasks=validation_tasks,
        )
    except ValidationError as error:
        raise ValueError(first_problem(error, "(config)")) from None
    module = new_policy(env_id, hyperparams, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    learn(module, run_dir, config, 0, checkpoint_freq, progress_bar)
    return module


def resume_maml(out: str | Path, *, checkpoint_freq: int = 100_000, progress_bar: bool = True) -> GaussianMLPPolicy:
    """Continue the MAML run in ``out`` from its latest checkpoint (nothing is unpickled).

    Raises:
        RunComplete: the run has finished (its ``model.safe.zip`` is written only at the end).
        ValueError: the folder's config or checkpoint is not valid.
    """
    run_dir = Path(out)
    config = read_maml_config(run_dir)
    if (run_dir / SAFE_MODEL_FILE).is_file():
        raise RunComplete(f"{run_dir} is complete: {run_dir / SAFE_MODEL_FILE} holds the model; nothing to resume")
    module = new_policy(config.env_id, config.hyperparams, config.seed)
    latest = latest_checkpoint(run_dir)
    steps = 0
    if latest is not None:
        steps, checkpoint = latest
        module.load_state_dict(load_safe(checkpoint).policy.state_dict())
    learn(module, run_dir, config, steps, checkpoint_freq, progress_bar)
    return module


def learn(
    module: GaussianMLPPolicy, run_dir: Path, config: MAMLRunConfig, steps: int, checkpoint_freq: int, progress_bar: bool
) -> None:
    """Train ``module`` from ``steps`` up to ``config.timesteps``, logging, validating and checkpointing."""
    hyperparams, adaptation = config.hyperparams, config.hyperparams.adaptation()
    per_batch = steps_per_batch(config.env_id, hyperparams)
    logger = configure(str(run_dir / "logs" / f"run_{steps}"), LOG_FORMATS)
    sampler = MetaBatchSampler(config.env_id, hyperparams, config.seed + steps)
    curve = ValidationCurve(config.env_id, run_dir, config.validation_tasks)
    curve.start()
    last_checkpoint = steps
    first, total = steps // per_batch, math.ceil(config.timesteps / per_batch)

    def validate() -> None:
        agent = MAMLAgent(module, adaptation, "validation", trained_for=config.env_id)
        scalars, best = curve.record(agent, steps)
        for key, value in scalars.items():
            logger.record(key, value)
        if best:
            save_maml(
                module, run_dir / SAFE_BEST_MODEL_FILE, env_id=config.env_id, adaptation=adaptation, num_timesteps=steps
            )

    for batch in trange(first, total, desc=f"MAML on {config.env_id}", disable=not progress_bar, unit="update"):
        meta_batch = sampler.sample(module)
        logs = trpo_step(module, meta_batch, hyperparams)
        steps += per_batch
        logger.record("maml/pre_update_return", trajectory_return(meta_batch.train[0]))
        logger.record("maml/post_update_return", trajectory_return(meta_batch.valid))
        for key, value in logs.items():
            logger.record(f"maml/{key}", value)
        if steps - max(curve.last_steps, 0) >= config.eval_freq or batch + 1 == total:
            validate()
        logger.dump(steps)
        if steps - last_checkpoint >= checkpoint_freq:
            save_checkpoint(module, config, run_dir / CHECKPOINT_DIR, steps, batch + 1)
            last_checkpoint = steps
    curve.close()
    save_maml(module, run_dir / SAFE_MODEL_FILE, env_id=config.env_id, adaptation=adaptation, num_timesteps=steps)


def trajectory_return(episodes: Episodes) -> float:
    """The mean return of one trajectory of a batch."""
    return float((episodes.rewards * episodes.mask).sum(-1).mean())

