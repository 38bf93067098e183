"""Model selection during training: score the policy on a validation task set, keep the best.

Every ``eval_freq`` environment steps (and at the end of training) :class:`ValidationCallback`
plays the policy's mean actions over whole meta-episodes of the registered length on the first
``n_tasks`` tasks of :func:`evaluate.task_sets.validation_set` (disjoint from the evaluation set,
so that picking a model never looks at the tasks it is scored on), and appends a row to the run's
``validation.csv``: environment steps, wall-clock minutes of the run, CPU minutes of the
training process (on a shared machine, the time the run would take on a core of its own), mean
return and normalised score ``(return - random) / (bayes - random)`` (the anchors: uniform random play on the same tasks
and the harness's Bayes bound or belief-planner reference; ``nan`` on a task without a Bayes
agent, such as NMN-Navigation2D). That file is the run's learning curve; every row goes to
TensorBoard too, as ``validation/mean_return`` and ``validation/normalised_score`` at its step, in
an events file beside it (``tensorboard --logdir <run>`` shows it with the training logs of
``<run>/logs``). Whenever the mean
return beats every earlier row, the model is saved as ``best_model.zip`` and, in the
pickle-free form of :mod:`policies.serialization`, as ``best_model.safe.zip``.
:class:`ValidationCurve` is that curve on its own, which MAML's trainer keeps too.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat

from policies.serialization import save_safe

VALIDATION_FILE = "validation.csv"
BEST_MODEL_FILE = "best_model.zip"
SAFE_BEST_MODEL_FILE = "best_model.safe.zip"
COLUMNS = ("steps", "minutes", "cpu_minutes", "mean_return", "normalised_score")
VALIDATION_TASKS = 100
"""Tasks of the validation set a run plays at each validation, unless told otherwise."""


def read_curve(run: str | Path) -> list[dict[str, float]]:
    """The rows of a run's ``validation.csv``, given its run folder or the file itself (a copy
    under another name); empty when there is none yet."""
    path = Path(run)
    if path.is_dir():
        path = path / VALIDATION_FILE
    if not path.is_file():
        return []
    with path.open() as file:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(file)]


class ValidationCurve:
    """A run's learning curve on the validation set: plays a policy, appends its row to
    ``validation.csv`` and to TensorBoard, and tells whether it is the best so far.

    Args:
        env_id: the environment trained on.
        run_dir: the run folder.
        n_tasks: validation tasks played each time.
        num_agents: agents per task, for a policy trained in teams (each agent's return counts).

    A resumed run continues the file: the best score and the minutes carry over.
    """

    def __init__(self, env_id: str, run_dir: str | Path, n_tasks: int = VALIDATION_TASKS, num_agents: int = 1) -> None:
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be positive, got {n_tasks}")
        self.env_id = env_id
        self.run_dir = Path(run_dir)
        self.n_tasks = n_tasks
        self.num_agents = num_agents
        earlier = read_curve(self.run_dir)
        self.best = max((row["mean_return"] for row in earlier), default=-np.inf)
        self.minutes_before = earlier[-1]["minutes"] if earlier else 0.0
        self.cpu_minutes_before = earlier[-1]["cpu_minutes"] if earlier else 0.0
        self.last_steps = int(earlier[-1]["steps"]) if earlier else -1
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        self.tensorboard: TensorBoardOutputFormat | None = None

    def start(self) -> None:
        """Draw the validation tasks and play the random anchor; the run's clocks start here."""
        from evaluate.bounds import bounds
        from evaluate.references import BAYES, reference
        from evaluate.rollout import play
        from evaluate.task_sets import validation_set

        self.tasks, self.seeds = validation_set(self.env_id).head(self.n_tasks)
        self.random = float(play(reference("random", self.env_id), self.env_id, self.tasks, self.seeds).returns.mean())
        self.bayes = (
            next(bound.value for bound in bounds(self.env_id) if bound.name == "bayes")
            if self.env_id in BAYES
            else None
        )
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def record(self, policy: Any, steps: int) -> tuple[dict[str, float], bool]:
        """Play ``policy`` (an :class:`evaluate.agents.Policy`) on the validation tasks at ``steps``
        environment steps; append its row. Returns the scalars written (mean return, and the
        normalised score where a Bayes bound exists) and whether the mean return beats every
        earlier row."""
        from evaluate.rollout import play

        rollout = play(policy, self.env_id, self.tasks, self.seeds, num_agents=self.num_agents)
        mean_return = float(rollout.returns.mean())
        score = np.nan if self.bayes is None else (mean_return - self.random) / (self.bayes - self.random)
        minutes = self.minutes_before + (time.perf_counter() - self.started) / 60.0
        cpu_minutes = self.cpu_minutes_before + (time.process_time() - self.cpu_started) / 60.0
        path = self.run_dir / VALIDATION_FILE
        new_file = not path.is_file()
        with path.open("a", newline="") as file:
            writer = csv.writer(file)
            if new_file:
                writer.writerow(COLUMNS)
            writer.writerow([steps, f"{minutes:.3f}", f"{cpu_minutes:.3f}", f"{mean_return:.4f}", f"{score:.5f}"])
        scalars = {"validation/mean_return": mean_return}
        if self.bayes is not None:
            scalars["validation/normalised_score"] = score
        if self.tensorboard is None:
            self.tensorboard = TensorBoardOutputFormat(str(self.run_dir))
        self.tensorboard.write(scalars, {key: None for key in scalars}, steps)
        self.tensorboard.writer.flush()
        self.last_steps = steps
        best = mean_return > self.best
        self.best = max(self.best, mean_return)
        return scalars, best

    def close(self) -> None:
        """Close the TensorBoard events file."""
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None


class ValidationCallback(BaseCallback):
    """Score the model on the validation set every ``eval_freq`` steps; save the best one.

    Args:
        env_id: the environment trained on.
        run_dir: the run folder (``validation.csv`` and ``best_model.zip`` go there).
        eval_freq: environment steps between validations.
        n_tasks: validation tasks played each time.
        num_agents: agents per task, for a policy trained in teams (each agent's return counts).
        env_kwargs: the training env's kwargs, recorded in the safe form of the best model.

    A resumed run continues the file: the best score and the minutes carry over.
    """

    def __init__(
        self,
        env_id: str,
        run_dir: str | Path,
        eval_freq: int,
        n_tasks: int = VALIDATION_TASKS,
        num_agents: int = 1,
        env_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        if eval_freq < 1:
            raise ValueError(f"eval_freq must be positive, got {eval_freq}")
        self.curve = ValidationCurve(env_id, run_dir, n_tasks, num_agents)
        self.eval_freq = eval_freq
        self.env_kwargs = dict(env_kwargs or {})

    def _init_callback(self) -> None:
        self.curve.start()

    def _on_step(self) -> bool:
        if self.num_timesteps - max(self.curve.last_steps, 0) >= self.eval_freq:
            self.validate()
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps != self.curve.last_steps:
            self.validate()
        self.curve.close()

    def validate(self) -> float:
        """Score the current model, record the row, save it if best; return its normalised
        score (``nan`` without a Bayes bound)."""
        from evaluate.agents import as_policy

        curve = self.curve
        scalars, best = curve.record(as_policy(self.model, "validation", deterministic=True), self.num_timesteps)
        for key, value in scalars.items():
            self.logger.record(key, value)
        if best:
            self.model.save(curve.run_dir / BEST_MODEL_FILE)
            save_safe(
                self.model, curve.run_dir / SAFE_BEST_MODEL_FILE, env_id=curve.env_id,
                env_kwargs=self.env_kwargs, num_agents=curve.num_agents,
            )
        return scalars.get("validation/normalised_score", np.nan)
