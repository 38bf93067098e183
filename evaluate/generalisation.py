"""The generalisation gap: an agent's score on its registered task distribution minus its score on a shift.

Both scores come from the harness (:func:`evaluate.harness.evaluate`, once without and once
with ``shift=``), each against its own distribution's bounds; the gap's 95% interval comes from
the same stratified bootstrap as every other interval (:mod:`evaluate.stats`), resampling each
task set on its own (they are independent).
"""

from __future__ import annotations

import numpy as np

from evaluate.report import format_interval
from evaluate.schema import EvaluationResult, GeneralisationGap, Interval, adaptation_anchors
from evaluate.stats import score_column, bootstrap_interval


def _gap_interval(
    inside: np.ndarray,
    inside_anchors: tuple[float, float],
    shifted: np.ndarray,
    shifted_anchors: tuple[float, float],
    reps: int,
    seed: int,
) -> Interval:
    """``scale_in(mean(inside)) - scale_shift(mean(shifted))``, each on ``(x - zero) / (one - zero)``."""

    def gap(first: np.ndarray, second: np.ndarray) -> float:
        (zero_in, one_in), (zero_shift, one_shift) = inside_anchors, shifted_anchors
        return float(
            (first.mean() - zero_in) / (one_in - zero_in)
            - (second.mean() - zero_shift) / (one_shift - zero_shift)
        )

    return bootstrap_interval([score_column(inside), score_column(shifted)], gap, reps, seed)


def _normalised_anchors(result: EvaluationResult) -> tuple[float, float] | None:
    random, bayes = result.normaliser.get("random"), result.normaliser.get("bayes")
    return None if random is None or bayes is None or not bayes > random else (random, bayes)


def generalisation_gap(in_distribution: EvaluationResult, shifted: EvaluationResult) -> GeneralisationGap:
    """The agent's normalised and adaptation scores in ``in_distribution`` minus those in ``shifted``.

    Raises:
        ValueError: unless both results score the same agent on the same env, the first
            without a shift and the second with one.
    """
    if in_distribution.shift is not None or shifted.shift is None:
        raise ValueError("a generalisation gap takes an in-distribution result and a shifted one")
    if in_distribution.env_id != shifted.env_id or in_distribution.agent.name != shifted.agent.name:
        raise ValueError(
            f"a generalisation gap compares one agent on one env, got {in_distribution.agent.name!r} on"
            f" {in_distribution.env_id} and {shifted.agent.name!r} on {shifted.env_id}"
        )
    inside, outside = np.asarray(in_distribution.agent.returns), np.asarray(shifted.agent.returns)
    reps, seed = shifted.bootstrap_reps, shifted.bootstrap_seed
    gaps: dict[str, Interval | None] = {}
    for label, anchors in (
        ("normalised", _normalised_anchors),
        ("adaptation", lambda result: adaptation_anchors(result.normaliser)),
    ):
        first, second = anchors(in_distribution), anchors(shifted)
        gaps[label] = None if first is None or second is None else _gap_interval(inside, first, outside, second, reps, seed)
    return GeneralisationGap(
        agent=shifted.agent.name, in_distribution_task_set=in_distribution.task_set, **gaps
    )


def with_gap(in_distribution: EvaluationResult, shifted: EvaluationResult) -> EvaluationResult:
    """``shifted`` with its agent's generalisation gap recorded in its ``shift``."""
    gap = generalisation_gap(in_distribution, shifted)
    return shifted.model_copy(update={"shift": shifted.shift.model_copy(update={"generalisation_gap": gap})})


def gap_table(in_distribution: EvaluationResult, shifted: list[EvaluationResult]) -> str:
    """A Markdown table: one row per shift with the agent's scores and its generalisation gap."""
    agent = in_distribution.agent
    lines = [
        f"Generalisation of {agent.name} on {in_distribution.env_id} (gap = in-distribution score"
        " minus shifted score; 95% CIs):",
        "",
        "| task set | kwargs | set sha256 | normalised | adaptation | gap (normalised) | gap (adaptation) |",
        "|---|---|---|---|---|---|---|",
        f"| in distribution | | {in_distribution.task_set.sha256[:12]} | {format_interval(agent.normalised_score, 3)}"
        f" | {format_interval(agent.adaptation_score, 3)} | | |",
    ]
    for result in shifted:
        shift, score = result.shift, result.agent
        gap = shift.generalisation_gap
        lines.append(
            f"| {shift.name} | {shift.kwargs} | {result.task_set.sha256[:12]} | {format_interval(score.normalised_score, 3)}"
            f" | {format_interval(score.adaptation_score, 3)} | {format_interval(gap and gap.normalised, 3)}"
            f" | {format_interval(gap and gap.adaptation, 3)} |"
        )
    return "\n".join(lines)
