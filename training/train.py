"""Train a recurrent policy with sb3-contrib RecurrentPPO: ``nmn-train`` / ``python -m training.train``.

Usage::

    nmn-train NMN-Bench1-v0 --policy nmn --seed 0 --timesteps 2000000 --out runs/bench1-nmn-0
    nmn-train --resume runs/bench1-nmn-0        # after an interruption
    nmn-train NMN-HalfCheetahVel-v0 --policy oracle --out runs/vel-oracle-0

``--policy oracle`` and ``--policy memoryless`` train the trained references of
:mod:`evaluate.trained_references` with SB3 PPO and an MLP policy, through the same pipeline, on
the bare task (``feedback=False``: one trial per episode, a fresh task at each reset): the oracle
is told the task (:class:`nmn_envs.wrappers.TaskObservationWrapper`), the memoryless reference
sees the bare observation alone. Their recipe is ``policies/hyperparams/references/ppo.yml``
(:func:`policies.config.load_reference_hyperparams`). They skip the validation curve: the harness
gives no agent the task, so it cannot play the oracle, and a reference is the end of its
training, not a model picked on a validation set (the memoryless one is trained alike, for a like
comparison); ``logs/`` holds the training curve (``rollout/ep_rew_mean``, per trial).

Other hyperparameters come from ``policies/hyperparams/<ENV_ID>.yml`` (see :mod:`policies.config`);
``--timesteps`` defaults to the file's ``n_timesteps``. The run folder ``DIR`` receives
``config.yml`` (what was run), ``logs/run_<start step>/`` (TensorBoard events and
``progress.csv``), ``checkpoints/model_<step>_steps.safe.zip`` with
``checkpoints/model_<step>_steps.training.pt`` (see :func:`save_checkpoint`), ``validation.csv`` (the learning curve on the validation task
set) and ``best_model.zip`` (the best model on it, see :mod:`training.validation`) and, at the
end, ``model.zip`` (the last model), which ``RecurrentPPO.load`` reads in a fresh process, and
``model.safe.zip`` and ``best_model.safe.zip``, the same policies in the pickle-free form of
:mod:`policies.serialization` that ``nmn-eval`` and the leaderboard load.

Resuming reads nothing that executes: a checkpoint is the policy's safe form plus the optimizer's
and the reward scaling's state as tensors, read with ``torch.load(weights_only=True)``. Run folders
written before checkpoints took this form hold Stable-Baselines3 zips, which are unpickled to
resume and can run any code their author put in them: they resume only with ``--trust-pickle``
(``trust_pickle=True``), for a folder one trusts.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pydoc
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch as th
import yaml
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError, field_validator
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize
from tqdm import TqdmExperimentalWarning

import nmn_envs
from nmn_envs import check_env_id
from nmn_envs.sb3_vec_env import make_sb3_team_vec_env, make_sb3_vec_env
from nmn_envs.multiagent import MAX_AGENTS
from nmn_envs.wrappers import TaskObservationWrapper
from policies.config import (
    POLICY_NAMES,
    REFERENCE_POLICIES,
    REFERENCE_POLICY_CLASS,
    Hyperparams,
    first_problem,
    load_hyperparams,
    load_reference_hyperparams,
    read_yaml,
)
from policies.lstm import LSTMPolicy
from policies.nmn import NMNPolicy
from policies.rnn import RNNPolicy
from policies.serialization import SAFE_SUFFIX, UnsafeModelError, load_safe, save_safe
from training.runs import (
    CHECKPOINT_DIR,
    CHECKPOINT_PREFIX,
    CONFIG_FILE,
    LOG_FORMATS,
    MODEL_FILE,
    SAFE_MODEL_FILE,
    TRAINING_STATE_SUFFIX,
    RunComplete,
    git_revision,
    latest_checkpoint,
)
from training.validation import VALIDATION_TASKS, ValidationCallback

VALIDATION_EVERY_UPDATES = 20
"""Default validation period, in updates (``n_envs * n_steps`` environment steps each)."""


def policy_class(policy: str) -> type | str:
    """The policy for ``policy``: RecurrentPPO's (``nmn``, ``rnn``, ``lstm`` or
    ``package.module.Class``), or PPO's MLP for a trained reference (``oracle``, ``memoryless``)."""
    if "." in policy and isinstance(custom := pydoc.locate(policy), type):
        return custom
    if policy in REFERENCE_POLICIES:
        return REFERENCE_POLICY_CLASS
    if policy == "nmn":
        return NMNPolicy
    if policy == "rnn":
        return RNNPolicy
    if policy == "lstm":
        return LSTMPolicy
    raise ValueError(f"unknown policy {policy!r}; choose one of {[*POLICY_NAMES, *REFERENCE_POLICIES]}")


def algorithm_class(policy: str) -> type[BaseAlgorithm]:
    """The algorithm that trains ``policy``: PPO for a trained reference, else RecurrentPPO."""
    return PPO if policy in REFERENCE_POLICIES else RecurrentPPO


class RunConfig(BaseModel):
    """The ``config.yml`` of a run folder: what ``nmn-train`` runs, checked when it is read back."""

    model_config = ConfigDict(extra="forbid")

    env_id: str
    policy: str
    seed: NonNegativeInt
    timesteps: PositiveInt
    eval_freq: PositiveInt
    validation_tasks: PositiveInt
    agents: int = Field(1, ge=1, le=MAX_AGENTS)
    git_revision: str | None = None
    hyperparams: Hyperparams

    @field_validator("env_id")
    @classmethod
    def _suite_env(cls, env_id: str) -> str:
        check_env_id(env_id)
        return env_id

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, policy: str) -> str:
        policy_class(policy)
        return policy

    def dump(self) -> str:
        """The YAML of ``config.yml`` (``agents`` only for teams)."""
        return yaml.safe_dump(self.model_dump(exclude=set() if self.agents > 1 else {"agents"}), sort_keys=False)


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The checked ``config.yml`` of the run folder ``run_dir``.

    Raises:
        ValueError: naming the folder and the first field that is wrong (or the YAML problem).
    """
    document = read_yaml(Path(run_dir) / CONFIG_FILE, "run config")
    if not isinstance(document, dict):
        raise ValueError(f"{run_dir}: {CONFIG_FILE} must be a mapping of {list(RunConfig.model_fields)}")
    try:
        return RunConfig.model_validate(document)
    except ValidationError as error:
        raise ValueError(f"{run_dir}: {CONFIG_FILE}: {first_problem(error, '(config)')}") from None


def make_training_env(
    env_id: str, seed: int, hyperparams: Hyperparams, agents: int = 1, policy: str | None = None
) -> VecEnv:
    """``n_envs`` copies of ``env_id`` (sub-env ``i`` seeded ``seed + i``) as a monitored SB3 VecEnv.

    Tasks with a batched core step in the native vector env (many times faster than SB3's
    ``DummyVecEnv``, with the same semantics); other ids go through ``make_vec_env``. A trained
    reference (``policy`` in :data:`~policies.config.REFERENCE_POLICIES`) plays the bare task,
    ``feedback=False``, the oracle told the task (:class:`~nmn_envs.wrappers.TaskObservationWrapper`). With
    ``normalize_reward`` the training reward is scaled by ``VecNormalize`` (observations stay raw,
    so a saved model acts without it). With ``agents > 1`` the ``n_envs`` sub-envs become teams
    of ``agents`` agents who share a task and see each other, one row each (parameter sharing).
    """
    n_envs, env_kwargs = hyperparams.n_envs, hyperparams.env_kwargs
    if policy in REFERENCE_POLICIES:
        wrapper = TaskObservationWrapper if policy == "oracle" else None
        env = make_vec_env(
            env_id, n_envs=n_envs, seed=seed, env_kwargs={**env_kwargs, "feedback": False}, wrapper_class=wrapper
        )
    elif agents > 1:
        team = make_sb3_team_vec_env(env_id, n_envs, agents, seed=seed, **env_kwargs)
        env: VecEnv = VecMonitor(team)
    elif env_id in nmn_envs.BENCHMARKS or env_id in nmn_envs.CLASSIC_TASKS:
        env = VecMonitor(make_sb3_vec_env(env_id, n_envs, seed=seed, **env_kwargs))
    else:
        env = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    if hyperparams.normalize_reward:
        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=hyperparams.gamma)
    return env


def build_model(
    env_id: str, policy: str, seed: int, hyperparams: Hyperparams, device: str = "cpu", agents: int = 1
) -> BaseAlgorithm:
    """A fresh model of ``policy`` on ``env_id`` with ``hyperparams``: RecurrentPPO, or PPO for a
    trained reference."""
    check_env_id(env_id)
    env = make_training_env(env_id, seed, hyperparams, agents, policy)
    policy_kwargs = hyperparams.policy_kwargs.get(policy, {})
    try:
        return algorithm_class(policy)(
            policy_class(policy),
            env,
            policy_kwargs=policy_kwargs,
            seed=seed,
            device=device,
            **hyperparams.algorithm_kwargs(),
        )
    except (TypeError, ValueError, RuntimeError) as error:
        env.close()
        raise ValueError(f"policy_kwargs {policy_kwargs} do not build the {policy} policy: {error}") from None


def save_checkpoint(model: BaseAlgorithm, folder: Path, config: RunConfig) -> Path:
    """Write the checkpoint of ``model`` at its step count into ``folder``; nothing in it executes.

    ``model_<steps>_steps.training.pt`` holds the optimizer's state, the update count and,
    where rewards are scaled, the running statistics of the returns, as tensors and numbers
    (``torch.save``); ``model_<steps>_steps.safe.zip`` holds the policy
    (:func:`policies.serialization.save_safe`). The safe form is renamed into place last, so a
    kill leaves either a whole checkpoint or none.
    """
    stem = folder / f"{CHECKPOINT_PREFIX}_{model.num_timesteps}_steps"
    state: dict[str, Any] = {
        "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates),
        "optimizer": model.policy.optimizer.state_dict(),
    }
    normaliser = model.get_vec_normalize_env()
    if normaliser is not None:
        returns = normaliser.ret_rms
        state["return_statistics"] = {
            "mean": th.as_tensor(returns.mean), "var": th.as_tensor(returns.var), "count": float(returns.count)
        }
    folder.mkdir(parents=True, exist_ok=True)
    staged_state, staged_policy = stem.with_name(f".{stem.name}.training.tmp"), stem.with_name(f".{stem.name}.safe.tmp")
    th.save(state, staged_state)
    save_safe(
        model, staged_policy, env_id=config.env_id, env_kwargs=config.hyperparams.env_kwargs, num_agents=config.agents
    )
    os.replace(staged_state, stem.with_name(stem.name + TRAINING_STATE_SUFFIX))
    os.replace(staged_policy, stem.with_name(stem.name + SAFE_SUFFIX))
    return stem.with_name(stem.name + SAFE_SUFFIX)


def restore_checkpoint(model: BaseAlgorithm, checkpoint: Path, steps: int) -> None:
    """Load the safe checkpoint ``checkpoint`` (written by :func:`save_checkpoint` at ``steps``)
    into ``model``, built with the run's config; nothing is unpickled.

    Raises:
        ValueError: naming the file that is missing or does not fit the model.
    """
    policy = load_safe(checkpoint).policy
    training = checkpoint.with_name(checkpoint.name.removesuffix(SAFE_SUFFIX) + TRAINING_STATE_SUFFIX)
    if not training.is_file():
        raise ValueError(f"{checkpoint} has no {training.name} beside it; the checkpoint is incomplete")
    try:
        state = th.load(training, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("num_timesteps") != steps:
            raise ValueError(f"it is not the training state of the checkpoint at {steps} steps")
        model.policy.load_state_dict(policy.state_dict())
        model.policy.optimizer.load_state_dict(state["optimizer"])
        model.num_timesteps, model._n_updates = steps, int(state["n_updates"])
        normaliser = model.get_vec_normalize_env()
        if normaliser is not None and "return_statistics" in state:
            statistics = state["return_statistics"]
            normaliser.ret_rms.mean = statistics["mean"].double().numpy()
            normaliser.ret_rms.var = statistics["var"].double().numpy()
            normaliser.ret_rms.count = float(statistics["count"])
    except Exception as error:  # noqa: BLE001  (torch and the state dicts refuse in several types)
        raise ValueError(f"{training} does not resume this run: {type(error).__name__}: {error}") from None


class SafeCheckpointCallback(BaseCallback):
    """Every ``save_freq`` calls (``save_freq * n_envs`` steps), :func:`save_checkpoint`."""

    def __init__(self, save_freq: int, folder: Path, config: RunConfig) -> None:
        super().__init__()
        self.save_freq, self.folder, self.config = save_freq, folder, config

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            save_checkpoint(self.model, self.folder, self.config)
        return True


def keep_freed_memory() -> None:
    """Have glibc's allocator reuse freed memory rather than map fresh pages for large tensors.

    A training minibatch allocates tensors of a few megabytes per step of the recurrence; by
    default glibc maps each one afresh and the kernel faults its pages in, which costs more than
    the arithmetic at large batches. A no-op where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_top_pad, 256 << 20)


def default_eval_freq(hyperparams: Hyperparams) -> int:
    """Validate every :data:`VALIDATION_EVERY_UPDATES` updates."""
    return VALIDATION_EVERY_UPDATES * hyperparams.n_envs * hyperparams.n_steps


def learn(model: BaseAlgorithm, run_dir: Path, config: RunConfig, checkpoint_freq: int, progress_bar: bool) -> None:
    """Train ``model`` up to ``config.timesteps`` steps in all, logging, validating (not a trained
    reference: see the module docstring) and checkpointing into ``run_dir``."""
    start = model.num_timesteps
    model.set_logger(configure(str(run_dir / "logs" / f"run_{start}"), LOG_FORMATS))
    checkpoints = SafeCheckpointCallback(max(checkpoint_freq // model.n_envs, 1), run_dir / CHECKPOINT_DIR, config)
    env_kwargs = config.hyperparams.env_kwargs
    callbacks: list[BaseCallback] = [checkpoints]
    if config.policy not in REFERENCE_POLICIES:
        callbacks.append(
            ValidationCallback(config.env_id, run_dir, config.eval_freq, config.validation_tasks, config.agents, env_kwargs)
        )
    model.learn(
        total_timesteps=config.timesteps - start,
        callback=callbacks,
        reset_num_timesteps=start == 0,
        progress_bar=progress_bar,
    )
    model.save(run_dir / MODEL_FILE)
    save_safe(model, run_dir / SAFE_MODEL_FILE, env_id=config.env_id, env_kwargs=env_kwargs, num_agents=config.agents)


def train(
    env_id: str,
    policy: str,
    seed: int,
    timesteps: int | None,
    out: str | Path,
    *,
    hyperparams_file: str | Path | None = None,
    checkpoint_freq: int = 100_000,
    eval_freq: int | None = None,
    validation_tasks: int = VALIDATION_TASKS,
    progress_bar: bool = True,
    device: str = "cpu",
    agents: int = 1,
) -> BaseAlgorithm:
    """Train ``policy`` on ``env_id`` for ``timesteps`` environment steps into the folder ``out``.

    ``timesteps`` defaults to the hyperparameter file's ``n_timesteps``; ``eval_freq`` (steps
    between validations) to :func:`default_eval_freq`. ``agents > 1`` trains one policy shared
    by the agents of teams who face one task and see each other (:mod:`nmn_envs.multiagent`);
    ``timesteps`` counts the steps of every agent. A trained reference (``oracle``,
    ``memoryless``) reads its recipe with :func:`~policies.config.load_reference_hyperparams`.
    """
    policy_class(policy)  # reject unknown policy names before any work
    if policy in REFERENCE_POLICIES and agents != 1:
        raise ValueError(f"the {policy} reference plays one agent per task: agents must be 1, got {agents!r}")
    run_dir = Path(out)
    if (run_dir / CONFIG_FILE).exists():
        raise ValueError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    if policy in REFERENCE_POLICIES:
        hyperparams = load_reference_hyperparams(env_id, hyperparams_file)
    else:
        hyperparams = load_hyperparams(env_id, hyperparams_file).for_policy(policy)
    timesteps = hyperparams.n_timesteps if timesteps is None else timesteps
    eval_freq = default_eval_freq(hyperparams) if eval_freq is None else eval_freq
    checked = (("timesteps", timesteps), ("eval_freq", eval_freq), ("validation_tasks", validation_tasks), ("agents", agents))
    for name, value in checked:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    try:
        config = RunConfig(
            env_id=env_id, policy=policy, seed=seed, timesteps=timesteps, eval_freq=eval_freq,
            validation_tasks=validation_tasks, agents=agents, git_revision=git_revision(), hyperparams=hyperparams,
        )
    except ValidationError as error:
        raise ValueError(first_problem(error, "(config)")) from None
    model = build_model(env_id, policy, seed, hyperparams, device, agents)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(config.dump())
    learn(model, run_dir, config, checkpoint_freq, progress_bar)
    return model


def resume(
    out: str | Path,
    *,
    checkpoint_freq: int = 100_000,
    progress_bar: bool = True,
    device: str = "cpu",
    trust_pickle: bool = False,
) -> BaseAlgorithm:
    """Continue the run in the folder ``out`` from its latest checkpoint.

    A safe checkpoint (:func:`save_checkpoint`) resumes without unpickling anything. A
    Stable-Baselines3 checkpoint of a folder written before checkpoints took that form is
    unpickled, which can run any code its author put in it: only with ``trust_pickle``.

    Raises:
        RunComplete: if the run finished (its ``model.zip`` is written only at the end).
        UnsafeModelError: the latest checkpoint is pickled and ``trust_pickle`` is not set.
        ValueError: the folder holds no run, or its config or checkpoint is not valid.
    """
    run_dir = Path(out)
    if not (run_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{run_dir} holds no run to resume (no {CONFIG_FILE})")
    config = read_run_config(run_dir)
    if (run_dir / MODEL_FILE).is_file():
        raise RunComplete(
            f"{run_dir} is complete: {run_dir / MODEL_FILE} holds the model trained for "
            f"{config.timesteps} steps; nothing to resume"
        )
    latest = latest_checkpoint(run_dir)
    steps, checkpoint = latest if latest is not None else (0, None)
    if checkpoint is not None and not checkpoint.name.endswith(SAFE_SUFFIX) and not trust_pickle:
        raise UnsafeModelError(
            f"the latest checkpoint {checkpoint} is a Stable-Baselines3 zip, which is unpickled to resume "
            "and can run any code its author put in it (run folders written before checkpoints took "
            "the safe form hold such zips); resume with --trust-pickle (trust_pickle=True) only a "
            "run folder you trust"
        )
    # Fresh task draws after the restart: the model and its sub-envs are seeded past the steps done.
    if checkpoint is None or checkpoint.name.endswith(SAFE_SUFFIX):
        model = build_model(
            config.env_id, config.policy, config.seed + steps, config.hyperparams, device, config.agents
        )
        if checkpoint is not None:
            restore_checkpoint(model, checkpoint, steps)
    else:
        warnings.warn(f"resuming from {checkpoint} with pickle: it can run any code its author put in it", UserWarning, stacklevel=2)
        env = make_training_env(config.env_id, config.seed + steps, config.hyperparams, config.agents, config.policy)
        statistics = checkpoint.with_name(f"{CHECKPOINT_PREFIX}_vecnormalize_{steps}_steps.pkl")
        if isinstance(env, VecNormalize) and statistics.is_file():
            env = VecNormalize.load(str(statistics), env.venv)
        model = algorithm_class(config.policy).load(checkpoint, env=env, device=device)
    learn(model, run_dir, config, checkpoint_freq, progress_bar)
    return model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmn-train",
        description="Train an NMN or RNN policy with sb3-contrib RecurrentPPO (or MAML, or a trained reference "
        "with PPO: oracle, memoryless).",
        epilog="Checkpoints hold nothing that executes: the policy's safe form and the optimizer's and "
        "reward scaling's state as tensors. --resume reads them without unpickling; a run folder "
        "written before checkpoints took that form holds Stable-Baselines3 zips, which resume only "
        "with --trust-pickle (they are unpickled and can run code: only a folder you trust).",
    )
    parser.add_argument("env_id", nargs="?", help="registered environment id, e.g. NMN-Bench1-v0")
    parser.add_argument(
        "--policy", choices=(*POLICY_NAMES, *REFERENCE_POLICIES, "maml"), default="nmn",
        help="policy to train (default: nmn); maml trains MAML with TRPO (training.maml_train); oracle "
        "and memoryless train the references of the bare task with PPO, the oracle told the task",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--timesteps", type=int, help="environment steps in all (default: the hyperparameter file's n_timesteps)"
    )
    parser.add_argument("--out", help="run folder (config, logs, checkpoints, model.zip)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    parser.add_argument(
        "--trust-pickle", action="store_true",
        help="with --resume: also resume from a Stable-Baselines3 checkpoint (an older run folder), which "
        "is unpickled and can run code: only for a folder you trust",
    )
    parser.add_argument(
        "--hyperparams",
        help="YAML file to use instead of policies/hyperparams/<ENV_ID>.yml (references/ppo.yml for oracle and memoryless)",
    )
    parser.add_argument("--checkpoint-freq", type=int, default=100_000, help="environment steps between checkpoints")
    parser.add_argument(
        "--eval-freq", type=int,
        help=f"environment steps between validations (default: {VALIDATION_EVERY_UPDATES} updates)",
    )
    parser.add_argument(
        "--validation-tasks", type=int, default=VALIDATION_TASKS, help=f"validation tasks played each time (default: {VALIDATION_TASKS})"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default: 1, the fastest for these small recurrent networks)",
    )
    parser.add_argument("--no-progress-bar", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--agents", type=int, default=1,
        help="agents per task who see each other (nmn_envs.multiagent), one shared policy (default: 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    keep_freed_memory()
    # SB3 draws its progress bar with tqdm's rich front end, which tqdm labels experimental.
    warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    options = {
        "checkpoint_freq": args.checkpoint_freq,
        "progress_bar": not args.no_progress_bar,
        "device": args.device,
    }
    try:
        if args.policy == "maml" or (args.resume and is_maml_run(args.resume)):
            return train_maml_from(parser, args)
        if args.resume:
            if args.env_id or args.out:
                parser.error("--resume DIR takes the environment, policy and folder from DIR/config.yml")
            resume(args.resume, trust_pickle=args.trust_pickle, **options)
            out = args.resume
        else:
            if not args.env_id or not args.out:
                parser.error("ENV_ID and --out DIR are required (or --resume DIR)")
            train(
                args.env_id, args.policy, args.seed, args.timesteps, args.out,
                hyperparams_file=args.hyperparams, eval_freq=args.eval_freq,
                validation_tasks=args.validation_tasks, agents=args.agents, **options,
            )
            out = args.out
    except RunComplete as complete:
        print(complete)
        return 0
    except ValueError as error:
        parser.error(str(error))
    print(f"saved {Path(out) / MODEL_FILE}")
    return 0


def is_maml_run(run_dir: str) -> bool:
    """Whether ``run_dir`` holds a MAML run (see :mod:`training.maml_train`)."""
    from training.maml_train import is_maml_run as maml_run

    return maml_run(run_dir)


def train_maml_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``nmn-train ENV --policy maml`` or ``--resume DIR`` of a MAML run (:mod:`training.maml_train`)."""
    from training.maml_train import resume_maml, train_maml

    options = {"checkpoint_freq": args.checkpoint_freq, "progress_bar": not args.no_progress_bar}
    if args.agents != 1:
        parser.error("MAML trains one agent per task: --agents must be 1")
    if args.resume:
        if args.env_id or args.out:
            parser.error("--resume DIR takes the environment, policy and folder from DIR/config.yml")
        resume_maml(args.resume, **options)
        out = args.resume
    else:
        if not args.env_id or not args.out:
            parser.error("ENV_ID and --out DIR are required (or --resume DIR)")
        train_maml(
            args.env_id, args.seed, args.timesteps, args.out, hyperparams_file=args.hyperparams,
            eval_freq=args.eval_freq, validation_tasks=args.validation_tasks, **options,
        )
        out = args.out
    print(f"saved {Path(out) / SAFE_MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
