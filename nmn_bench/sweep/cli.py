"""``nmn-sweep``: run a sweep config's trials on Ray Tune, locally or on a cluster, and summarise them.

Usage::

    nmn-sweep sweeps/quick.yml                                 # a local Ray on this machine's cores
    nmn-sweep sweeps/zoo.yml --address auto --out /nfs/zoo     # join the cluster of `ray start`
    nmn-sweep sweeps/zoo.yml --out /nfs/zoo --resume           # after an interruption

The config (:mod:`nmn_bench.sweep.config`) is validated before Ray starts. Each trial is one Ray
Tune trial of ``cpus_per_trial`` CPUs that runs :func:`nmn_bench.sweep.trial.run_trial`; Tune
keeps the bookkeeping (``OUT/tune``) and prints the progress. The trials' run folders live in
``OUT/trials/<env id>/<agent>/seed<N>``, so ``OUT`` must be a folder every node of a cluster
mounts. ``--resume`` restores the Tune experiment: finished trials are kept, the others start
again and continue their training from its latest checkpoint. At the end the summary
(:mod:`nmn_bench.sweep.summary`) is written to ``OUT`` and its table printed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch as th
import yaml

from nmn_bench.sweep.config import ConfigError, SweepConfig, load_config
from nmn_bench.sweep.summary import JSON_FILE, MARKDOWN_FILE, summarise, write_summary
from nmn_bench.sweep.trial import run_trial, training_curve

SWEEP_FILE = "sweep.yml"
TUNE_DIR = "tune"
RAY_EXTRA = "pip install 'nmn-bench[ray]'"
PROGRESS_INTERVAL_S = 10.0
# Tune's progress table takes its columns from the first result: every result has all of them.
TUNE_METRICS = ("timesteps", "train_return", "normalised_score", "mean_return")


class SweepError(Exception):
    """A sweep that cannot start as asked; the message says why and what to do."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmn-sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", help="sweep config (YAML), e.g. sweeps/quick.yml")
    parser.add_argument(
        "--address",
        help="join a running Ray cluster: 'auto' (on one of its nodes) or ray://HOST:PORT; "
        "without it a local Ray starts",
    )
    parser.add_argument("--out", help="output folder (default: runs/sweep-<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    parser.add_argument(
        "--num-cpus", type=int, help="CPUs of the local Ray (default: all of this machine's)"
    )
    parser.add_argument(
        "--working-dir",
        help="ship this folder to the cluster's workers (Ray runtime_env working_dir) instead of "
        "relying on the same install on every node",
    )
    return parser


def _import_ray() -> ModuleType:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.tune  # noqa: F401
    except ImportError:
        raise SweepError(f"nmn-sweep runs on Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def check_out(config: SweepConfig, out: Path, resume: bool) -> None:
    """Refuse to start over a sweep in ``out``, or to resume one that is not there or differs."""
    saved = out / SWEEP_FILE
    if not resume:
        if saved.exists():
            raise SweepError(f"{out} already holds a sweep; continue it with --resume or choose another --out")
        return
    if not saved.is_file():
        raise SweepError(f"{out} holds no sweep to resume (no {SWEEP_FILE}); drop --resume to start it")
    recorded = load_config(saved)
    if recorded != config:
        changed = [name for name in SweepConfig.model_fields if getattr(recorded, name) != getattr(config, name)]
        raise SweepError(
            f"the config differs from the sweep in {out} in {changed}; resume it with the same "
            "config, or start the new one with another --out"
        )


def record_config(config: SweepConfig, out: Path) -> None:
    """Write the config as run into ``out``, where ``--resume`` checks it."""
    out.mkdir(parents=True, exist_ok=True)
    (out / SWEEP_FILE).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def tune_metrics(known: dict[str, float]) -> dict[str, float]:
    """Every metric of :data:`TUNE_METRICS`, NaN where not known yet."""
    return {name: known.get(name, math.nan) for name in TUNE_METRICS}


def report_training(
    folder: Path,
    stop: threading.Event,
    report: Callable[[dict[str, float]], None],
    interval_s: float = PROGRESS_INTERVAL_S,
) -> None:
    """Report the steps and training return of the run in ``folder`` every ``interval_s`` until ``stop``."""
    reported = None
    while not stop.wait(interval_s):
        try:
            steps, returns = training_curve(folder)
        except (ValueError, OSError):  # a log line half written
            continue
        if len(steps) and steps[-1] != reported:
            reported = steps[-1]
            report(tune_metrics({"timesteps": float(steps[-1]), "train_return": float(returns[-1])}))


def sweep_trial(params: dict[str, Any], config: SweepConfig, out: str) -> None:
    """The Tune trainable: trial number ``params['trial']`` of ``config``'s grid, its progress reported."""
    from ray import tune

    th.set_num_threads(config.cpus_per_trial)
    trial = list(config.trials())[params["trial"]]
    stop = threading.Event()
    progress = threading.Thread(
        target=report_training, args=(trial.folder(Path(out)), stop, tune.report), daemon=True
    )
    progress.start()
    try:
        metrics = run_trial(trial, config, Path(out))
    finally:
        stop.set()
        progress.join()
    tune.report(tune_metrics(metrics))


class TrialNames:
    """Tune's name (and folder name) of each trial: the grid's name for its number."""

    def __init__(self, config: SweepConfig) -> None:
        self.names = [trial.name for trial in config.trials()]

    def __call__(self, tune_trial: Any) -> str:
        return self.names[tune_trial.config["trial"]]


def run_tune(config: SweepConfig, out: Path, resume: bool) -> list[str]:
    """Run (or restore and continue) the sweep's Tune experiment; return the trials that failed."""
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(sweep_trial, config=config, out=str(out)), {"cpu": config.cpus_per_trial}
    )
    names = TrialNames(config)
    experiment = out / TUNE_DIR
    if resume and tune.Tuner.can_restore(str(experiment)):
        tuner = tune.Tuner.restore(str(experiment), trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(list(range(len(names.names))))},
            tune_config=tune.TuneConfig(trial_name_creator=names, trial_dirname_creator=names),
            run_config=tune.RunConfig(name=TUNE_DIR, storage_path=str(out)),
        )
    results = tuner.fit()
    return [names.names[result.config["trial"]] for result in results if result.error is not None]


def start_ray(ray: ModuleType, address: str | None, num_cpus: int | None, working_dir: str | None) -> None:
    """Start a local Ray (no ``address``) or join the cluster at ``address``."""
    runtime_env = {"working_dir": str(Path(working_dir).resolve())} if working_dir else None
    if address is None:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env)
    else:
        try:
            ray.init(address=address, runtime_env=runtime_env)
        except ConnectionError as error:
            raise SweepError(
                f"could not join the Ray cluster at {address}: {error}; is `ray start` running there, "
                "and (token authentication) is RAY_AUTH_MODE=token set with the cluster's token?"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out or f"runs/sweep-{Path(args.config).stem}").resolve()
    try:
        if args.num_cpus is not None and (args.num_cpus < 1 or args.address):
            raise SweepError("--num-cpus takes a positive count, for a local Ray only (not with --address)")
        config = load_config(args.config)
        check_out(config, out, args.resume)
        ray = _import_ray()
        start_ray(ray, args.address, args.num_cpus, args.working_dir)
    except (ConfigError, SweepError) as error:
        parser.exit(2, f"nmn-sweep: error: {error}\n")
    if not args.resume:
        record_config(config, out)
    try:
        failed = run_tune(config, out, args.resume)
    finally:
        ray.shutdown()
    summary = summarise(config, out)
    print(write_summary(summary, out))
    print(f"wrote {out / MARKDOWN_FILE}, {out / JSON_FILE} and the learning curves")
    unfinished = [name for env in summary.envs for name in env.missing]
    if unfinished:
        print(
            f"unfinished trials: {', '.join(unfinished)} (failed: {', '.join(failed) or 'none'}); "
            f"continue with: nmn-sweep {args.config} --out {out} --resume",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
