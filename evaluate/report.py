"""Reports of an :class:`~evaluate.schema.EvaluationResult`: a Markdown table and PNG plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from evaluate.schema import (
    AgentScore,
    EvaluationResult,
    Interval,
    adaptation_scale,
    normalised_scale,
)

RESULT_FILE = "result.json"
TABLE_FILE = "report.md"
CURVE_FILE = "adaptation_curve.png"
RETURNS_FILE = "returns.png"


def format_interval(interval: Interval | None, digits: int = 1) -> str:
    """``value [low, high]`` with ``digits`` decimals; ``–`` for no interval."""
    if interval is None:
        return "–"
    return f"{interval.value:.{digits}f} [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def _scores(result: EvaluationResult) -> list[AgentScore]:
    return [result.agent, *result.baselines, *result.references]


def markdown(result: EvaluationResult) -> str:
    """The result as Markdown: the agents' scores, then the bounds next to Monte Carlo means."""
    baselines = [baseline.name for baseline in result.baselines]
    lines = [
        f"## {result.agent.name} on {result.env_id}",
        "",
        (
            f"Task set {result.task_set.version} (sha256 {result.task_set.sha256[:12]}…), "
            f"{result.task_set.n_tasks} tasks, {result.max_episode_steps} steps per meta-episode; "
            f"95% stratified-bootstrap CIs ({result.bootstrap_reps} resamples)."
        ),
        "",
        f"Normalised mean and normalised IQM map the mean and the IQM to the scale "
        f"{normalised_scale(result.normaliser, result.bounds)}; the leaderboard ranks by normalised IQM.",
        "",
        f"Adaptation score: {adaptation_scale(result.normaliser)}.",
        "",
        "| agent | role | mean return | IQM | normalised mean | normalised IQM | adaptation score"
        " | regret to bayes |"
        + "".join(f" P(> {name}) |" for name in baselines),
        "|---|---|---|---|---|---|---|---|" + "---|" * len(baselines),
    ]
    for entry in _scores(result):
        cells = [
            entry.name,
            entry.role,
            format_interval(entry.mean),
            format_interval(entry.iqm),
            format_interval(entry.normalised_score, 3),
            format_interval(result.normalised(entry.iqm), 3),
            format_interval(entry.adaptation_score, 3),
            format_interval(entry.regret),
            *(format_interval(entry.probability_of_improvement.get(name), 3) for name in baselines),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if result.num_agents > 1:
        lines += [
            "",
            (
                f"Teams of {result.num_agents} agents who see each other: every return is a team's"
                f" mean per agent. Social gain: per-agent return minus {result.alone} alone on the"
                " same task."
            ),
            "",
            "| agent | normalised to the team bound | social gain |",
            "|---|---|---|",
            *(
                f"| {entry.name} | {format_interval(entry.team_normalised_score, 3)}"
                f" | {format_interval(entry.social_gain, 2)} |"
                for entry in _scores(result)
            ),
        ]
    lines += trial_table(result)
    lines += [
        "",
        "| bound | kind | value | Monte Carlo mean of that agent here | difference / s.e. |",
        "|---|---|---|---|---|",
    ]
    played = {entry.name: np.asarray(entry.returns) for entry in (*result.references, result.agent)}
    for bound in result.bounds:
        value = f"{bound.value:.2f}" + (
            f" ± {bound.standard_error:.2f}" if bound.standard_error else ""
        )
        monte_carlo = gap = "–"
        returns = played.get(bound.name)
        if returns is not None and returns.size > 1:
            error = returns.std(ddof=1) / np.sqrt(returns.size)
            monte_carlo = f"{returns.mean():.2f} ± {error:.2f}"
            if bound.standard_error is None and error > 0:
                gap = f"{(returns.mean() - bound.value) / error:+.2f}"
        lines.append(f"| {bound.name} | {bound.kind} | {value} | {monte_carlo} | {gap} |")
    return "\n".join(lines) + "\n"


MAX_TRIAL_COLUMNS = 25
"""The most trials whose mean returns the per-trial table lists one by one."""


def trial_table(result: EvaluationResult) -> list[str]:
    """Markdown lines of the per-trial adaptation curve: each agent's mean return per trial and
    the gain of its last trial over its first (95% CI); none for a task not played in trials."""
    if result.trials_per_task is None or result.trials_per_task < 2:
        return []
    trials = result.trials_per_task
    shown = range(1, trials + 1) if trials <= MAX_TRIAL_COLUMNS else ()
    lines = [
        "",
        f"Per-trial adaptation curve: {trials} trials per meta-episode (an agent that adapts by gradient"
        f" steps learns from the first {trials - 1}); mean return per trial, and the last trial's gain"
        " over the first (95% CI).",
        "",
        "| agent |" + "".join(f" trial {k} |" for k in shown) + f" trial {trials} − trial 1 |",
        "|---|" + "---|" * len(shown) + "---|",
    ]
    for entry in _scores(result):
        gains = entry.trial_gains or [None]
        means = "".join(f" {value:.2f} |" for value in entry.adaptation_curve[: len(shown)])
        lines.append(f"| {entry.name} |{means} {format_interval(gains[-1], 2)} |")
    return lines


def plot_adaptation_curves(result: EvaluationResult, path: Path) -> None:
    """Mean reward per step (or trial) of every agent, with the Bayes bound's average as a line."""
    figure, axes = plt.subplots(figsize=(8, 4.5))
    unit = result.agent.curve_unit
    for entry in _scores(result):
        curve = np.asarray(entry.adaptation_curve)
        axes.plot(np.arange(1, curve.size + 1), curve, label=entry.name, linewidth=1.2)
    length = len(result.agent.adaptation_curve)
    for bound in result.bounds:
        style = "--" if bound.name == "bayes" else ":"
        axes.axhline(
            bound.value / length,
            color="black",
            linestyle=style,
            linewidth=1,
            label=f"{bound.name} bound ({bound.kind}), per {unit}",
        )
    if unit == "step" and length > 50:
        axes.set_xscale("log")
    axes.set_xlabel(f"{unit} of the meta-episode")
    axes.set_ylabel(f"mean reward per {unit} across tasks")
    axes.set_title(f"Adaptation on {result.env_id} ({result.task_set.n_tasks} tasks)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_returns(result: EvaluationResult, path: Path) -> None:
    """The distribution of per-task meta-episode returns of every agent, with the bounds."""
    scores = _scores(result)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.boxplot([entry.returns for entry in scores], showmeans=True)
    axes.set_xticks(range(1, len(scores) + 1), [entry.name for entry in scores])
    for bound in result.bounds:
        style = "--" if bound.name == "bayes" else ":"
        axes.axhline(
            bound.value,
            color="black",
            linestyle=style,
            linewidth=1,
            label=f"{bound.name} ({bound.kind})",
        )
    axes.set_ylabel("meta-episode return")
    axes.set_title(f"Per-task returns on {result.env_id}")
    if result.bounds:
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(result: EvaluationResult, out: str | Path) -> str:
    """Write ``result.json``, ``report.md`` and the PNG plots into ``out``; return the Markdown."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT_FILE).write_text(result.model_dump_json(indent=2))
    table = markdown(result)
    (out / TABLE_FILE).write_text(table)
    plot_adaptation_curves(result, out / CURVE_FILE)
    plot_returns(result, out / RETURNS_FILE)
    return table
