"""The generalisation gap: an agent's score on its training distribution minus its score on a shift.

Both scores come from the harness (:func:`evaluate.harness.evaluate`, once without and once
with ``shift=``), each against its own distribution's bounds; the gap's 95% interval comes from
the same stratified bootstrap as every other interval (:func:`evaluate.stats.bootstrap_interval`),
resampling each task set on its own (they are independent).

Two scales, the result's own (:func:`evaluate.schema.normalised_anchors` and
:func:`evaluate.schema.adaptation_anchors`): the normalised one, ``(mean - random) / (one - random)``
with ``one`` the bayes value, or the oracle ceiling where the environment has none
(NMN-Navigation2D: the gap is then on the scale of the MAML line's oracle normaliser); and the
adaptation one, ``(mean - memoryless) / (one - memoryless)``, where it is defined. A gap is taken
only between two scores whose ``one`` is of the same kind.
"""

from __future__ import annotations

import numpy as np

from evaluate.report import format_interval
from evaluate.schema import (
    Ceiling,
    EvaluationResult,
    GeneralisationGap,
    Interval,
    adaptation_anchors,
    ceiling,
    normalised_anchors,
)
from evaluate.stats import bootstrap_interval, score_column
from evaluate.task_sets import TRAINING_KWARGS

Anchors = tuple[float, float]


def _gap_interval(
    inside: np.ndarray, inside_anchors: Anchors, shifted: np.ndarray, shifted_anchors: Anchors, reps: int, seed: int
) -> Interval:
    """``scale_in(mean(inside)) - scale_shift(mean(shifted))``, each on ``(x - zero) / (one - zero)``."""

    def gap(first: np.ndarray, second: np.ndarray) -> float:
        (zero_in, one_in), (zero_shift, one_shift) = inside_anchors, shifted_anchors
        return float(
            (first.mean() - zero_in) / (one_in - zero_in)
            - (second.mean() - zero_shift) / (one_shift - zero_shift)
        )

    return bootstrap_interval([score_column(inside), score_column(shifted)], gap, reps, seed)


def one_of(result: EvaluationResult) -> Ceiling:
    """The name of the 1 of ``result``'s scales (:func:`evaluate.schema.ceiling`; ``"bayes"``
    where it has none)."""
    top = ceiling(result.normaliser)
    return "bayes" if top is None else top[0]


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
    one_in = one_of(in_distribution)
    same_one = one_of(shifted) == one_in
    scales: dict[str, tuple[Anchors | None, Anchors | None]] = {
        label: (anchors(in_distribution.normaliser), anchors(shifted.normaliser) if same_one else None)
        for label, anchors in (("normalised", normalised_anchors), ("adaptation", adaptation_anchors))
    }
    gaps = {
        label: None if first is None or second is None else _gap_interval(inside, first, outside, second, reps, seed)
        for label, (first, second) in scales.items()
    }
    return GeneralisationGap(
        agent=shifted.agent.name, in_distribution_task_set=in_distribution.task_set, normalised_to=one_in, **gaps
    )


def with_gap(in_distribution: EvaluationResult, shifted: EvaluationResult) -> EvaluationResult:
    """``shifted`` with its agent's generalisation gap recorded in its ``shift``."""
    gap = generalisation_gap(in_distribution, shifted)
    return shifted.model_copy(update={"shift": shifted.shift.model_copy(update={"generalisation_gap": gap})})


def scores(result: EvaluationResult) -> tuple[Interval | None, Interval | None]:
    """``result``'s agent on the gap's two scales: normalised (to bayes, else the oracle) and adaptation."""
    mean = result.agent.mean
    return result.normalised(mean), result.adaptation(mean)


def gap_table(in_distribution: EvaluationResult, shifted: list[EvaluationResult]) -> str:
    """A Markdown table: one row per shift with the agent's scores and its generalisation gap."""
    agent = in_distribution.agent
    one = one_of(in_distribution)
    inside_normalised, inside_adaptation = scores(in_distribution)
    lines = [
        f"Generalisation of {agent.name} on {in_distribution.env_id} (gap = in-distribution score"
        f" minus shifted score; normalised to the {one} value; 95% CIs):",
        "",
        "| task set | kwargs | set sha256 | normalised | adaptation | gap (normalised) | gap (adaptation) |",
        "|---|---|---|---|---|---|---|",
        f"| in distribution | {_kwargs_cell(in_distribution)} | {in_distribution.task_set.sha256[:12]}"
        f" | {format_interval(inside_normalised, 3)} | {format_interval(inside_adaptation, 3)} | | |",
    ]
    for result in shifted:
        shift = result.shift
        normalised, adaptation = scores(result)
        gap = shift.generalisation_gap
        lines.append(
            f"| {shift.name} | {shift.kwargs} | {result.task_set.sha256[:12]} | {format_interval(normalised, 3)}"
            f" | {format_interval(adaptation, 3)} | {format_interval(gap and gap.normalised, 3)}"
            f" | {format_interval(gap and gap.adaptation, 3)} |"
        )
    return "\n".join(lines)


def _kwargs_cell(result: EvaluationResult) -> str:
    """The kwargs of the training distribution that the evaluation protocol would have changed
    (Harlow's training pool), as the in-distribution row names them; else nothing."""
    own = {
        key: value
        for key, value in TRAINING_KWARGS.get(result.env_id, {}).items()
        if result.env_kwargs.get(key) == value
    }
    return str(own) if own else ""
