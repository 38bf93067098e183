"""Train a recurrent policy with sb3-contrib RecurrentPPO: ``nmn-train`` / ``python -m policies.train``.

Usage::

    nmn-train NMN-Bench1-v0 --policy nmn --seed 0 --timesteps 2000000 --out runs/bench1-nmn-0
    nmn-train --resume runs/bench1-nmn-0        # after an interruption

Hyperparameters come from ``policies/hyperparams/<ENV_ID>.yml`` (see :mod:`policies.config`);
``--timesteps`` defaults to the file's ``n_timesteps``. The run folder ``DIR`` receives
``config.yml`` (what was run), ``logs/run_<start step>/`` (TensorBoard events and
``progress.csv``), ``checkpoints/model_<step>_steps.zip`` (with the reward-scaling statistics
where ``normalize_reward`` is set), ``validation.csv`` (the learning curve on the validation task
set) and ``best_model.zip`` (the best model on it, see :mod:`policies.validation`) and, at the
end, ``model.zip`` (the last model), which ``RecurrentPPO.load`` reads in a fresh process, and
``model.safe.zip`` and ``best_model.safe.zip``, the same policies in the pickle-free form of
:mod:`policies.serialization` that ``nmn-eval`` and the leaderboard load.
"""

from __future__ import annotations

import argparse
import ctypes
import pydoc
import re
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch as th
import yaml
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize
from tqdm import TqdmExperimentalWarning

import nmn_envs
from nmn_envs.sb3_vec_env import make_sb3_team_vec_env, make_sb3_vec_env
from policies.config import POLICY_NAMES, Hyperparams, load_hyperparams
from policies.nmn import NMNPolicy
from policies.rnn import RNNPolicy
from policies.validation import ValidationCallback
from policies.serialization import save_safe

CONFIG_FILE = "config.yml"
MODEL_FILE = "model.zip"
SAFE_MODEL_FILE = "model.safe.zip"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "model"
LOG_FORMATS = ["csv", "tensorboard"]
VALIDATION_EVERY_UPDATES = 20
"""Default validation period, in updates (``n_envs * n_steps`` environment steps each)."""


def policy_class(policy: str, observation_space: spaces.Space) -> type | str:
    """The RecurrentPPO policy for ``policy`` (``nmn``, ``rnn``, ``lstm`` or ``package.module.Class``)."""
    if "." in policy and isinstance(custom := pydoc.locate(policy), type):
        return custom
    if policy == "nmn":
        return NMNPolicy
    if policy == "rnn":
        return RNNPolicy
    if policy == "lstm":
        return "MultiInputLstmPolicy" if isinstance(observation_space, spaces.Dict) else "MlpLstmPolicy"
    raise ValueError(f"unknown policy {policy!r}; choose one of {list(POLICY_NAMES)}")


def check_env_id(env_id: str) -> None:
    """Raise a ValueError when ``env_id`` is not registered with Gymnasium."""
    if env_id not in gym.registry:
        suite = sorted(name for name in gym.registry if name.startswith("NMN-"))
        raise ValueError(f"unknown environment id {env_id!r}; the suite registers {suite}")


def make_training_env(env_id: str, seed: int, hyperparams: Hyperparams, agents: int = 1) -> VecEnv:
    """``n_envs`` copies of ``env_id`` (sub-env ``i`` seeded ``seed + i``) as a monitored SB3 VecEnv.

    Tasks with a batched core step in the native vector env (many times faster than SB3's
    ``DummyVecEnv``, with the same semantics); other ids go through ``make_vec_env``. With
    ``normalize_reward`` the training reward is scaled by ``VecNormalize`` (observations stay raw,
    so a saved model acts without it). With ``agents > 1`` the ``n_envs`` sub-envs become teams
    of ``agents`` agents who share a task and see each other, one row each (parameter sharing).
    """
    n_envs, env_kwargs = hyperparams.n_envs, hyperparams.env_kwargs
    if agents > 1:
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
) -> RecurrentPPO:
    """A fresh RecurrentPPO model of ``policy`` on ``env_id`` with ``hyperparams``."""
    check_env_id(env_id)
    env = make_training_env(env_id, seed, hyperparams, agents)
    return RecurrentPPO(
        policy_class(policy, env.observation_space),
        env,
        policy_kwargs=hyperparams.policy_kwargs.get(policy, {}),
        seed=seed,
        device=device,
        **hyperparams.algorithm_kwargs(),
    )


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    """The steps and path of the checkpoint of ``run_dir`` with the most steps, or ``None``."""
    pattern = re.compile(rf"{CHECKPOINT_PREFIX}_(\d+)_steps\.zip")
    found = [
        (int(match.group(1)), path)
        for path in (run_dir / CHECKPOINT_DIR).glob("*.zip")
        if (match := pattern.fullmatch(path.name))
    ]
    return max(found) if found else None


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


def learn(model: RecurrentPPO, run_dir: Path, config: dict[str, Any], checkpoint_freq: int, progress_bar: bool) -> None:
    """Train ``model`` up to ``config["timesteps"]`` steps in all, logging, validating and
    checkpointing into ``run_dir``."""
    start = model.num_timesteps
    model.set_logger(configure(str(run_dir / "logs" / f"run_{start}"), LOG_FORMATS))
    checkpoints = CheckpointCallback(
        save_freq=max(checkpoint_freq // model.n_envs, 1),
        save_path=str(run_dir / CHECKPOINT_DIR),
        name_prefix=CHECKPOINT_PREFIX,
        save_vecnormalize=True,
    )
    validation = ValidationCallback(
        config["env_id"], run_dir, config["eval_freq"], config["validation_tasks"],
        config.get("agents", 1), config["hyperparams"]["env_kwargs"],
    )
    model.learn(
        total_timesteps=config["timesteps"] - start,
        callback=[checkpoints, validation],
        reset_num_timesteps=start == 0,
        progress_bar=progress_bar,
    )
    model.save(run_dir / MODEL_FILE)
    save_safe(
        model, run_dir / SAFE_MODEL_FILE, env_id=config["env_id"],
        env_kwargs=config["hyperparams"]["env_kwargs"], num_agents=config.get("agents", 1),
    )


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
    validation_tasks: int = 100,
    progress_bar: bool = True,
    device: str = "cpu",
    agents: int = 1,
) -> RecurrentPPO:
    """Train ``policy`` on ``env_id`` for ``timesteps`` environment steps into the folder ``out``.

    ``timesteps`` defaults to the hyperparameter file's ``n_timesteps``; ``eval_freq`` (steps
    between validations) to :func:`default_eval_freq`. ``agents > 1`` trains one policy shared
    by the agents of teams who face one task and see each other (:mod:`nmn_envs.multiagent`);
    ``timesteps`` counts the steps of every agent.
    """
    policy_class(policy, spaces.Box(0, 1))  # reject unknown policy names before any work
    run_dir = Path(out)
    if (run_dir / CONFIG_FILE).exists():
        raise ValueError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    hyperparams = load_hyperparams(env_id, hyperparams_file).for_policy(policy)
    timesteps = hyperparams.n_timesteps if timesteps is None else timesteps
    eval_freq = default_eval_freq(hyperparams) if eval_freq is None else eval_freq
    checked = (("timesteps", timesteps), ("eval_freq", eval_freq), ("validation_tasks", validation_tasks), ("agents", agents))
    for name, value in checked:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    model = build_model(env_id, policy, seed, hyperparams, device, agents)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "env_id": env_id,
        "policy": policy,
        "seed": seed,
        "timesteps": timesteps,
        "eval_freq": eval_freq,
        "validation_tasks": validation_tasks,
    }
    if agents > 1:
        config["agents"] = agents
    config["git_revision"] = git_revision()
    config["hyperparams"] = hyperparams.model_dump()
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    learn(model, run_dir, config, checkpoint_freq, progress_bar)
    return model


def git_revision() -> str | None:
    """The commit the code runs from (``+dirty`` when it has uncommitted changes), or ``None``
    outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if changed else commit


class RunComplete(Exception):
    """The run to resume has finished: its final model is saved."""


def resume(
    out: str | Path, *, checkpoint_freq: int = 100_000, progress_bar: bool = True, device: str = "cpu"
) -> RecurrentPPO:
    """Continue the run in the folder ``out`` from its latest checkpoint.

    Raises:
        RunComplete: if the run finished (its ``model.zip`` is written only at the end).
    """
    run_dir = Path(out)
    if not (run_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{run_dir} holds no run to resume (no {CONFIG_FILE})")
    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
    if (run_dir / MODEL_FILE).is_file():
        raise RunComplete(
            f"{run_dir} is complete: {run_dir / MODEL_FILE} holds the model trained for "
            f"{config['timesteps']} steps; nothing to resume"
        )
    hyperparams = Hyperparams.model_validate(config["hyperparams"])
    latest = latest_checkpoint(run_dir)
    if latest is None:
        model = build_model(
            config["env_id"], config["policy"], config["seed"], hyperparams, device, config.get("agents", 1)
        )
    else:
        steps, checkpoint = latest
        # Fresh task draws after the restart: the sub-envs are seeded past the steps done.
        env = make_training_env(config["env_id"], config["seed"] + steps, hyperparams, config.get("agents", 1))
        statistics = checkpoint.with_name(f"{CHECKPOINT_PREFIX}_vecnormalize_{steps}_steps.pkl")
        if isinstance(env, VecNormalize) and statistics.is_file():
            env = VecNormalize.load(str(statistics), env.venv)
        model = RecurrentPPO.load(checkpoint, env=env, device=device)
    learn(model, run_dir, config, checkpoint_freq, progress_bar)
    return model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmn-train", description="Train an NMN or RNN policy with sb3-contrib RecurrentPPO."
    )
    parser.add_argument("env_id", nargs="?", help="registered environment id, e.g. NMN-Bench1-v0")
    parser.add_argument("--policy", choices=POLICY_NAMES, default="nmn", help="policy to train (default: nmn)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--timesteps", type=int, help="environment steps in all (default: the hyperparameter file's n_timesteps)"
    )
    parser.add_argument("--out", help="run folder (config, logs, checkpoints, model.zip)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    parser.add_argument("--hyperparams", help="YAML file to use instead of policies/hyperparams/<ENV_ID>.yml")
    parser.add_argument("--checkpoint-freq", type=int, default=100_000, help="environment steps between checkpoints")
    parser.add_argument(
        "--eval-freq", type=int,
        help=f"environment steps between validations (default: {VALIDATION_EVERY_UPDATES} updates)",
    )
    parser.add_argument(
        "--validation-tasks", type=int, default=100, help="validation tasks played each time (default: 100)"
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
        if args.resume:
            if args.env_id or args.out:
                parser.error("--resume DIR takes the environment, policy and folder from DIR/config.yml")
            resume(args.resume, **options)
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


if __name__ == "__main__":
    sys.exit(main())
