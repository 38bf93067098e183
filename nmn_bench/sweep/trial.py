"""One trial of a sweep: ``nmn-train``'s run, the harness's evaluation, a leaderboard submission.

The trial's folder is an ``nmn-train`` run folder (``config.yml``, ``logs/``, ``checkpoints/``,
``model.zip`` and ``model.safe.zip``; :mod:`training.train`) with the evaluation report in ``evaluation/`` and, where the
config overrides hyperparameters, the merged ``hyperparams.yml`` it trained with. ``trial.json``
records which steps are done, so that a trial started again does only what is left: an
unfinished training run continues from its latest checkpoint (``nmn-train --resume``), a
finished one is neither trained nor evaluated again. :func:`training_curve` reads the training
returns that the run logged (``progress.csv``), its resumed segments joined.

Nothing here imports Ray: a trial runs the same in a Ray worker as in a plain process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from evaluate.harness import evaluate
from evaluate.report import RESULT_FILE, write_report
from evaluate.schema import EvaluationResult, load_result
from leaderboard.store import DuplicateSubmission, Store
from leaderboard.submission import Submission, make_card
from leaderboard.validation import validate
from nmn_bench.sweep.config import SweepConfig, Trial, merge
from policies.config import Hyperparams, dump_hyperparams, load_hyperparams
from training.train import CONFIG_FILE, SAFE_MODEL_FILE, RunComplete, resume, train

STATUS_FILE = "trial.json"
EVALUATION_DIR = "evaluation"
HYPERPARAMS_FILE = "hyperparams.yml"
STEP_COLUMN = "time/total_timesteps"
RETURN_COLUMN = "rollout/ep_rew_mean"


class TrialStatus(BaseModel):
    """What a trial has finished."""

    trained: bool = False
    evaluated: bool = False
    leaderboard_entry: int | None = None


def read_status(folder: Path) -> TrialStatus:
    """The status recorded in ``folder`` (nothing done when there is none)."""
    path = folder / STATUS_FILE
    return TrialStatus.model_validate_json(path.read_text()) if path.is_file() else TrialStatus()


def _write_status(folder: Path, status: TrialStatus) -> None:
    """Write the status atomically: a kill leaves the old file or the new one, never half of one."""
    staged = folder / f".{STATUS_FILE}.tmp"
    staged.write_text(status.model_dump_json(indent=2))
    os.replace(staged, folder / STATUS_FILE)


def evaluation_result(folder: Path) -> EvaluationResult | None:
    """The trial's evaluation result, or ``None`` before it is evaluated."""
    path = folder / EVALUATION_DIR / RESULT_FILE
    return load_result(path) if read_status(folder).evaluated and path.is_file() else None


def training_curve(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Steps and training returns of a run folder, its resumed segments joined.

    A segment ``logs/run_<start>`` continues from the checkpoint at ``start``: what an earlier
    segment logged past ``start`` was redone and is dropped.
    """
    segments = sorted(
        (int(log.parent.name.removeprefix("run_")), log)
        for log in (folder / "logs").glob("run_*/progress.csv")
    )
    steps: list[np.ndarray] = []
    returns: list[np.ndarray] = []
    for start, log in segments:
        try:
            frame = pd.read_csv(log)
        except pd.errors.EmptyDataError:
            continue
        if STEP_COLUMN not in frame or RETURN_COLUMN not in frame:
            continue
        frame = frame[[STEP_COLUMN, RETURN_COLUMN]].dropna()
        before = [done <= start for done in steps]
        steps = [done[keep] for done, keep in zip(steps, before)] + [frame[STEP_COLUMN].to_numpy(np.float64)]
        returns = [value[keep] for value, keep in zip(returns, before)] + [frame[RETURN_COLUMN].to_numpy(np.float64)]
    if not steps:
        return np.empty(0), np.empty(0)
    return np.concatenate(steps), np.concatenate(returns)


def _train(trial: Trial, config: SweepConfig, folder: Path) -> None:
    options = {"checkpoint_freq": config.checkpoint_freq, "progress_bar": False}
    if (folder / CONFIG_FILE).is_file():
        try:
            # The trial's own folder: checkpoints it wrote before they took the safe form are pickled.
            resume(folder, trust_pickle=True, **options)
        except RunComplete:  # killed after the model was saved, before the status was written
            pass
        return
    folder.mkdir(parents=True, exist_ok=True)
    overrides = config.overrides_of(trial.variant)
    hyperparams_file = None
    if overrides:
        hyperparams_file = folder / HYPERPARAMS_FILE
        recipe = load_hyperparams(trial.env_id).for_policy(trial.policy)
        merged = Hyperparams.model_validate(merge(recipe.model_dump(), overrides))
        hyperparams_file.write_text(dump_hyperparams(merged, trial.env_id))
    train(
        trial.env_id, trial.policy, trial.seed, trial.timesteps, folder,
        hyperparams_file=hyperparams_file, **options,
    )


def submit(result: EvaluationResult, trial: Trial, database: str) -> int:
    """Validate ``result`` as the leaderboard does and store it; return its entry id."""
    card = make_card(
        name=result.agent.name,
        description=(
            f"{trial.policy} trained with RecurrentPPO for {trial.timesteps} steps, seed "
            f"{trial.seed} (nmn-sweep{', variant ' + trial.variant if trial.variant else ''})"
        ),
    )
    store = Store(database)
    try:
        return store.add(validate(Submission(card=card, result=result))).id
    except DuplicateSubmission as duplicate:
        if duplicate.existing_id is None:
            raise
        return duplicate.existing_id
    finally:
        store.close()


def run_trial(trial: Trial, config: SweepConfig, out: Path) -> dict[str, float]:
    """Train, evaluate and submit ``trial`` (each step at most once); return its final metrics."""
    folder = trial.folder(out)
    status = read_status(folder)
    if not status.trained:
        _train(trial, config, folder)
        status = status.model_copy(update={"trained": True})
        _write_status(folder, status)
    settings = config.evaluation
    if settings is not None and not status.evaluated:
        result = evaluate(
            str(folder / SAFE_MODEL_FILE),
            trial.env_id,
            n_tasks=settings.n_tasks,
            reps=settings.reps,
            sample_actions=settings.sample_actions,
            agent_name=f"{trial.agent}-seed{trial.seed}",
        )
        write_report(result, folder / EVALUATION_DIR)
        status = status.model_copy(update={"evaluated": True})
        _write_status(folder, status)
    if config.submit is not False and status.leaderboard_entry is None:
        entry = submit(evaluation_result(folder), trial, config.submit)
        status = status.model_copy(update={"leaderboard_entry": entry})
        _write_status(folder, status)
    metrics: dict[str, float] = {"timesteps": float(trial.timesteps)}
    _, returns = training_curve(folder)
    if len(returns):
        metrics["train_return"] = float(returns[-1])
    result = evaluation_result(folder)
    if result is not None:
        metrics["mean_return"] = result.agent.mean.value
        if result.agent.normalised_score is not None:
            metrics["normalised_score"] = result.agent.normalised_score.value
    return metrics
