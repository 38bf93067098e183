"""``nmn-zoo``: add trained runs to the model zoo, and list what it holds.

Usage::

    nmn-zoo add runs/zoo/NMN-Bandit-v0/nmn-v0-seed0 [RUN_DIR ...] --trained-by "nmn-sweep sweeps/zoo.yml"
    nmn-zoo list [ENV_ID]
    nmn-zoo report                 # the results section and figures (nmn_bench.zoo_report)

``add`` takes finished ``nmn-train`` run folders (a sweep's trial folders are such folders). For
each, it scores the run's best validated model (``best_model.safe.zip``, chosen on the
validation task set, which is disjoint from the evaluation set; ``--model final`` takes the
last one) with the harness's protocol: mean actions, the whole evaluation set, the random,
memoryless and Bayes anchors. It then copies the model into ``policies/zoo/<env id>/`` with its
card (:class:`training.zoo.ZooCard`). Everything is checked before anything is played or
written: a run whose ``config.yml`` is not valid (an environment outside the suite, a negative
seed, ...), that is unfinished, of an unknown policy, without its safe model, or whose model
acts in another environment than the run's is refused with the reason.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluate.harness import DEFAULT_N_TASKS, evaluate
from policies.serialization import load_safe, read_metadata
from training import zoo
from training.maml_train import is_maml_run, read_maml_config
from training.runs import CONFIG_FILE, SAFE_MODEL_FILE
from training.train import read_run_config
from training.validation import SAFE_BEST_MODEL_FILE, read_curve
from nmn_bench.zoo_report import add_arguments as add_report_arguments
from nmn_bench.zoo_report import write_results, write_shift_results
from training.zoo import CurvePoint, ZooCard, ZooEvaluation

MODEL_FILES = {"best": SAFE_BEST_MODEL_FILE, "final": SAFE_MODEL_FILE}


class RunChecked:
    """A finished run folder, read and checked, ready to be scored and shipped."""

    def __init__(self, run_dir: Path, model: str) -> None:
        config_path = run_dir / CONFIG_FILE
        if not config_path.is_file():
            raise ValueError(f"{run_dir}: not a run folder (no {CONFIG_FILE})")
        self.config = read_maml_config(run_dir) if is_maml_run(run_dir) else read_run_config(run_dir)
        self.run_dir = run_dir
        self.env_id: str = self.config.env_id
        self.policy: str = self.config.policy
        self.seed: int = self.config.seed
        if self.policy not in zoo.POLICIES:
            raise ValueError(f"{run_dir}: policy {self.policy!r} is not a zoo policy {list(zoo.POLICIES)}")
        if getattr(self.config, "agents", 1) != 1:
            raise ValueError(f"{run_dir}: a team policy; the zoo holds single agents")
        if not (run_dir / SAFE_MODEL_FILE).is_file():
            raise ValueError(f"{run_dir}: unfinished (no {SAFE_MODEL_FILE}); finish it with nmn-train --resume")
        self.model_path = run_dir / MODEL_FILES[model]
        if not self.model_path.is_file():
            raise ValueError(f"{run_dir}: no {self.model_path.name}")
        acts_in = read_metadata(self.model_path).env_id
        if acts_in != self.env_id:
            raise ValueError(f"{run_dir}: {self.model_path.name} acts in {acts_in}, the run trained on {self.env_id}")
        self.curve = [
            CurvePoint(
                steps=int(row["steps"]),
                minutes=row["minutes"],
                cpu_minutes=row["cpu_minutes"],
                mean_return=row["mean_return"],
                score=row["normalised_score"] if math.isfinite(row["normalised_score"]) else None,
            )
            for row in read_curve(run_dir)
        ]
        if not self.curve:
            raise ValueError(f"{run_dir}: no validation curve (validation.csv)")
        self.model = model

    @property
    def selected_steps(self) -> int:
        """Steps of the shipped model: the first validation of best mean return, or the run's end."""
        if self.model == "final":
            return self.config.timesteps
        best = max(point.mean_return for point in self.curve)
        return next(point.steps for point in self.curve if point.mean_return == best)


def add_run(
    run: RunChecked,
    trained_by: str,
    n_tasks: int = DEFAULT_N_TASKS,
    git_revision: str | None = None,
    folder: Path = zoo.ZOO_DIR,
    progress: bool = False,
) -> ZooCard:
    """Score ``run``'s model on the evaluation set and ship it with its card into ``folder``."""
    name = f"{zoo.PREFIX}{run.policy}@seed{run.seed}"
    result = evaluate(
        str(run.model_path), run.env_id, n_tasks=n_tasks, references=(), agent_name=name, progress=progress
    )
    safe = load_safe(run.model_path)
    stem = zoo.stem(run.policy, run.seed)
    card = ZooCard(
        env_id=run.env_id,
        policy=run.policy,
        seed=run.seed,
        model_file=f"{stem}{zoo.MODEL_SUFFIX}",
        trained_by=trained_by,
        git_revision=run.config.git_revision or git_revision,
        config=run.config.model_dump(exclude={"agents"}),
        parameters=sum(parameter.numel() for parameter in safe.policy.parameters() if parameter.requires_grad),
        env_steps=run.config.timesteps,
        selected_steps=run.selected_steps,
        wall_minutes=run.curve[-1].minutes,
        cpu_minutes=run.curve[-1].cpu_minutes,
        curve=run.curve,
        evaluation=ZooEvaluation(task_set=result.task_set, normaliser=result.normaliser, score=result.agent),
    )
    target = folder / run.env_id
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run.model_path, target / card.model_file)
    (target / f"{stem}{zoo.CARD_SUFFIX}").write_text(card.model_dump_json(indent=1) + "\n")
    return card


def _format(card: ZooCard) -> str:
    score = card.evaluation.score
    adaptation = score.adaptation_score
    return (
        f"{card.env_id:22} {card.name:18} mean return {score.mean.value:10.2f}"
        + ("" if score.normalised_score is None else f"  normalised {score.normalised_score.value:6.3f}")
        + ("" if adaptation is None else f"  adaptation {adaptation.value:6.3f}")
        + f"  {card.env_steps:>10,} steps  {card.cpu_minutes:6.1f} CPU min"
    )


def parser() -> argparse.ArgumentParser:
    """The command-line parser of ``nmn-zoo``."""
    arguments = argparse.ArgumentParser(
        prog="nmn-zoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = arguments.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="score finished runs and ship them into the zoo")
    add.add_argument("runs", nargs="+", type=Path, help="finished nmn-train run folders")
    add.add_argument("--trained-by", required=True, help="the command that trained the runs (kept in the cards)")
    add.add_argument(
        "--git-revision", default=None, help="the revision the runs trained from, for runs that did not record it"
    )
    add.add_argument("--model", choices=sorted(MODEL_FILES), default="best", help="which model of each run to ship")
    add.add_argument("--n-tasks", type=int, default=DEFAULT_N_TASKS, help="evaluation tasks to score on")
    add.add_argument("--zoo", type=Path, default=zoo.ZOO_DIR, help="zoo folder (default: the package's)")
    listing = commands.add_parser("list", help="the zoo's models and their scores")
    listing.add_argument("env_id", nargs="?", help="only this environment")
    listing.add_argument("--zoo", type=Path, default=zoo.ZOO_DIR, help="zoo folder (default: the package's)")
    add_report_arguments(commands.add_parser("report", help="the results section and its figures (docs/zoo), the headline table (README)"))
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "report":
        if args.shift_tasks < 1:
            sys.exit(f"nmn-zoo: error: --shift-tasks must be a positive integer, got {args.shift_tasks}")
        if args.replay_shifts and args.no_shifts:
            sys.exit("nmn-zoo: error: --replay-shifts plays the shifts' gaps, which --no-shifts leaves as they are: give one")
        readme = None if args.no_readme else args.readme
        try:
            if args.shifts_only:
                print(write_shift_results(args.out, readme, n_tasks=args.shift_tasks, replay=args.replay_shifts))
            else:
                shift_tasks = None if args.no_shifts else args.shift_tasks
                print(write_results(args.out, readme, shift_tasks=shift_tasks, replay_shifts=args.replay_shifts))
        except ValueError as problem:
            sys.exit(f"nmn-zoo: error: {problem}")
        return
    if args.command == "list":
        for env_id in [args.env_id] if args.env_id else zoo.zoo_envs(args.zoo):
            for card in zoo.cards(env_id, args.zoo):
                print(_format(card))
        return
    if args.n_tasks < 1:
        sys.exit(f"nmn-zoo: error: --n-tasks must be a positive integer, got {args.n_tasks}")
    try:
        runs = [RunChecked(run_dir, args.model) for run_dir in args.runs]
    except ValueError as problem:
        sys.exit(f"nmn-zoo: error: {problem}")
    for run in runs:
        card = add_run(run, args.trained_by, args.n_tasks, args.git_revision, args.zoo, progress=sys.stderr.isatty())
        print(_format(card))


if __name__ == "__main__":
    main()
