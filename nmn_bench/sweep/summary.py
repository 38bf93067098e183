"""A sweep's summary: per environment, each agent across its seeds, with rliable intervals.

Each trial gives one score: the harness's normalised score ``(mean - random) / (bayes - random)``
of its evaluation (the mean return where the environment has no Bayes bound; the last training
return where the sweep does not evaluate). Per environment and agent, the seeds are the runs of
rliable's ``(runs, tasks)`` score matrix: the table shows each seed's score, their IQM with a
95% stratified-bootstrap CI, and ``P(agent A > agent B)`` over seed pairs with its CI
(:mod:`evaluate.stats`). With a single seed there is no interval across seeds; the point is shown
alone. The learning curves are the training meta-episode returns (``rollout/ep_rew_mean`` of the
run folders' ``progress.csv``, every resumed segment), IQM across seeds with a 95% band.

Written into the sweep's output folder: ``summary.md``, ``summary.json`` and one
``learning_curves_<env id>.png`` per environment.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from pydantic import BaseModel
from rliable import metrics

from evaluate.references import BAYES
from evaluate.stats import (
    DEFAULT_REPS,
    improvement_interval,
    iqm_curve_intervals,
    iqm_interval,
)
from nmn_bench.sweep.config import SweepConfig, Trial
from nmn_bench.sweep.trial import evaluation_result, read_status, training_curve

MARKDOWN_FILE = "summary.md"
JSON_FILE = "summary.json"
CURVE_POINTS = 50
SCORE_KINDS = {
    "normalised score": "the harness's normalised score (mean return - random) / (bayes - random)",
    "mean return": "the mean meta-episode return on the evaluation set (no Bayes bound to normalise by)",
    "training return": "the last training meta-episode return (the sweep does not evaluate)",
}


class Estimate(BaseModel):
    """A point estimate and, where there are at least two seeds, its 95% CI."""

    value: float
    low: float | None = None
    high: float | None = None

    def text(self, digits: int) -> str:
        point = f"{self.value:.{digits}f}"
        if self.low is None or self.high is None:
            return point
        return f"{point} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


class AgentSummary(BaseModel):
    """One agent on one environment: each seed's score and their IQM."""

    agent: str
    scores: dict[int, float]
    iqm: Estimate


class LearningCurve(BaseModel):
    """The training return of one agent, IQM across its seeds, with a 95% band (two seeds or more)."""

    agent: str
    seeds: int
    steps: list[float]
    iqm: list[float]
    low: list[float] | None = None
    high: list[float] | None = None


class EnvSummary(BaseModel):
    """The agents of one environment, their pairwise probabilities of improvement, their curves."""

    env_id: str
    score: str
    agents: list[AgentSummary]
    probability_of_improvement: dict[str, dict[str, Estimate]]
    curves: list[LearningCurve]
    missing: list[str]


class SweepSummary(BaseModel):
    """Every environment of a sweep."""

    envs: list[EnvSummary]


def _curve(agent: str, runs: list[tuple[np.ndarray, np.ndarray]], reps: int) -> LearningCurve | None:
    runs = [(steps, returns) for steps, returns in runs if len(steps) >= 2]
    if not runs:
        return None
    first = max(steps[0] for steps, _ in runs)
    last = min(steps[-1] for steps, _ in runs)
    if not last > first:
        return None
    grid = np.linspace(first, last, CURVE_POINTS)
    curves = np.stack([np.interp(grid, steps, returns) for steps, returns in runs])
    if len(runs) < 2:
        return LearningCurve(agent=agent, seeds=1, steps=grid.tolist(), iqm=curves[0].tolist())
    iqm, low, high = iqm_curve_intervals(curves, reps)
    return LearningCurve(
        agent=agent, seeds=len(runs), steps=grid.tolist(), iqm=iqm.tolist(), low=low.tolist(), high=high.tolist()
    )


def _score(trial: Trial, folder: Path, kind: str) -> float | None:
    if kind == "training return":
        _, returns = training_curve(folder)
        return float(returns[-1]) if read_status(folder).trained and len(returns) else None
    result = evaluation_result(folder)
    if result is None:
        return None
    if kind == "normalised score":
        score = result.agent.normalised_score
        return None if score is None else score.value
    return result.agent.mean.value


def _iqm(scores: list[float], reps: int) -> Estimate:
    if len(scores) < 2:
        return Estimate(value=scores[0])
    interval = iqm_interval(np.array(scores), reps)
    return Estimate(value=interval.value, low=interval.low, high=interval.high)


def _improvement(first: list[float], second: list[float], reps: int) -> Estimate:
    if min(len(first), len(second)) < 2:
        value = metrics.probability_of_improvement(np.reshape(first, (-1, 1)), np.reshape(second, (-1, 1)))
        return Estimate(value=float(value))
    interval = improvement_interval(np.array(first), np.array(second), reps)
    return Estimate(value=interval.value, low=interval.low, high=interval.high)


def _score_kind(config: SweepConfig, env_id: str, out: Path) -> str:
    if config.evaluation is None:
        return "training return"
    results = [evaluation_result(trial.folder(out)) for trial in config.trials() if trial.env_id == env_id]
    found = [result for result in results if result is not None]
    normalised = all(result.agent.normalised_score is not None for result in found)
    if normalised and (found or env_id in BAYES):
        return "normalised score"
    return "mean return"


def summarise_env(config: SweepConfig, env_id: str, out: Path, reps: int = DEFAULT_REPS) -> EnvSummary:
    """The summary of ``env_id``'s trials, from their folders under ``out``."""
    kind = _score_kind(config, env_id, out)
    scores: dict[str, dict[int, float]] = {}
    runs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    missing = []
    for trial in config.trials():
        if trial.env_id != env_id:
            continue
        folder = trial.folder(out)
        runs.setdefault(trial.agent, []).append(training_curve(folder))
        score = _score(trial, folder, kind)
        if score is None:
            missing.append(trial.name)
        else:
            scores.setdefault(trial.agent, {})[trial.seed] = score
    agents = [
        AgentSummary(agent=agent, scores=seeds, iqm=_iqm(list(seeds.values()), reps))
        for agent, seeds in scores.items()
    ]
    improvement = {
        first: {
            second: _improvement(list(scores[first].values()), list(scores[second].values()), reps)
            for second in scores
            if second != first
        }
        for first in scores
    }
    curves = [curve for agent, agent_runs in runs.items() if (curve := _curve(agent, agent_runs, reps))]
    return EnvSummary(
        env_id=env_id,
        score=kind,
        agents=agents,
        probability_of_improvement=improvement,
        curves=curves,
        missing=missing,
    )


def summarise(config: SweepConfig, out: Path, reps: int = DEFAULT_REPS) -> SweepSummary:
    """The summary of every environment of the sweep whose trials live under ``out``."""
    return SweepSummary(envs=[summarise_env(config, env_id, out, reps) for env_id in config.envs])


def curve_file(env_id: str) -> str:
    return f"learning_curves_{env_id}.png"


def plot_curves(summary: EnvSummary, path: Path) -> None:
    """The learning curves of ``summary``'s agents, IQM across seeds and 95% band, as a PNG."""
    figure, axes = plt.subplots(figsize=(7, 4))
    for curve in summary.curves:
        label = f"{curve.agent} ({curve.seeds} seed{'s' if curve.seeds > 1 else ''})"
        (line,) = axes.plot(curve.steps, curve.iqm, label=label)
        if curve.low is not None and curve.high is not None:
            axes.fill_between(curve.steps, curve.low, curve.high, color=line.get_color(), alpha=0.25)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("training meta-episode return")
    axes.set_title(f"{summary.env_id}: IQM across seeds, 95% CI")
    if summary.curves:
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(summary: SweepSummary) -> str:
    """The summary as Markdown: per environment, the score table and ``P(row > column)``."""
    lines = ["# Sweep summary"]
    for env in summary.envs:
        digits = 3 if env.score == "normalised score" else 1
        lines += ["", f"## {env.env_id}"]
        if env.agents:
            lines += ["", f"Score: {SCORE_KINDS[env.score]}."]
            seeds = sorted({seed for agent in env.agents for seed in agent.scores})
            lines += [
                "",
                "| agent | " + " | ".join(f"seed {seed}" for seed in seeds) + " | IQM across seeds [95% CI] |",
                "|---" * (len(seeds) + 2) + "|",
            ]
            for agent in env.agents:
                cells = [f"{agent.scores[seed]:.{digits}f}" if seed in agent.scores else "–" for seed in seeds]
                lines.append(f"| {agent.agent} | " + " | ".join(cells) + f" | {agent.iqm.text(digits)} |")
        if len(env.agents) > 1:
            names = [agent.agent for agent in env.agents]
            lines += [
                "",
                "P(row > column) over pairs of seeds [95% CI]:",
                "",
                "| | " + " | ".join(names) + " |",
                "|---" * (len(names) + 1) + "|",
            ]
            for first in names:
                cells = [
                    "" if first == second else env.probability_of_improvement[first][second].text(2)
                    for second in names
                ]
                lines.append(f"| {first} | " + " | ".join(cells) + " |")
        if env.curves:
            lines += ["", f"Learning curves: {curve_file(env.env_id)}"]
        if env.missing:
            lines += ["", f"No result yet: {', '.join(env.missing)}"]
    return "\n".join(lines) + "\n"


def write_summary(summary: SweepSummary, out: Path) -> str:
    """Write ``summary.md``, ``summary.json`` and the learning-curve PNGs into ``out``; return the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(summary)
    (out / MARKDOWN_FILE).write_text(text)
    (out / JSON_FILE).write_text(summary.model_dump_json(indent=2))
    for env in summary.envs:
        plot_curves(env, out / curve_file(env.env_id))
    return text
