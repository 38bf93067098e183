"""The zoo's marks: the score the median seed of each task's NMN and RNN should reach, how far
each is, and what its validation curves say.

A mark is set on one score of the evaluation set: the normalised score (random 0, Bayes 1), the
adaptation score (memoryless 0, Bayes 1) or, on NMN-Navigation2D, which has no Bayes bound, the
**oracle adaptation** ``(agent - memoryless) / (oracle - memoryless)``: 0 is the best policy that
ignores its feedback, 1 the scripted oracle told the goal (a Monte Carlo mean on the same 1000
tasks). Both adaptation scores are the harness's, read off the card (a card scored before the
harness normalised to the oracle has none). The median seed is the lower median of the seeds'
scores, so that it is a seed's.

The curve of a seed is its validation curve (100 tasks of the validation set, every 256k steps
or so). A seed is **still rising** when its best validation came in the last quarter of its
budget and the mean of that quarter's validations is above the mean of the quarter before; it is
**flat** otherwise.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from evaluate.schema import Interval, ceiling
from training.zoo import ZooCard

Score = Literal["normalised", "adaptation", "oracle adaptation"]

MARKS: dict[str, tuple[Score, float]] = {
    "NMN-Bench1-v0": ("normalised", 0.98),
    "NMN-Bench2-v0": ("adaptation", 0.5),
    "NMN-Bench3-v0": ("normalised", 0.8),
    "NMN-Bandit-v0": ("normalised", 0.9),
    "NMN-TwoStep-v0": ("normalised", 0.95),
    "NMN-Harlow-v0": ("normalised", 0.9),
    "NMN-Navigation2D-v0": ("oracle adaptation", 0.4),
}
"""Per task, the score its mark is set on and the mark."""

MARKED_POLICIES = ("nmn", "rnn")


def adaptation_interval(card: ZooCard) -> tuple[Interval | None, str]:
    """The seed's adaptation score and its name: ``"adaptation"`` against the Bayes value where
    the task has one, ``"oracle adaptation"`` against the oracle where it has none (``None``
    where neither is defined)."""
    top = ceiling(card.evaluation.normaliser)
    name: Score = "oracle adaptation" if top is not None and top[0] == "oracle" else "adaptation"
    return card.evaluation.score.adaptation_score, name


def adapts(interval: Interval) -> bool:
    """Whether a seed's adaptation score, with its 95% CI, lies wholly above 0: the seed beats
    the best policy that ignores its feedback."""
    return interval.low > 0.0


def seed_score(card: ZooCard, score: Score) -> Interval | None:
    """A seed's score on the evaluation set with its 95% CI over the tasks (``None`` where the
    task does not define it)."""
    if score == "normalised":
        return card.evaluation.score.normalised_score
    interval, name = adaptation_interval(card)
    return interval if name == score else None


def lower_median(values: list[float]) -> float:
    """The median of ``values`` that is one of them (the lower one of an even count)."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def still_rising(card: ZooCard) -> bool:
    """Whether the seed's validation curve is still rising at the end of its budget (see the
    module's docstring)."""
    values = [point.score if point.score is not None else point.mean_return for point in card.curve]
    steps = [point.steps for point in card.curve]
    if len(values) < 4:
        return False
    last = [value for step, value in zip(steps, values) if step > 0.75 * steps[-1]]
    before = [value for step, value in zip(steps, values) if 0.5 * steps[-1] < step <= 0.75 * steps[-1]]
    best_in_last = steps[int(np.argmax(values))] > 0.75 * steps[-1]
    return bool(last and before and best_in_last and np.mean(last) > np.mean(before))


def mark_rows(cards_by_task: dict[str, list[ZooCard]]) -> list[str]:
    """One Markdown row per marked task: the mark, each marked policy's median seed (and its
    seeds' range), whether the median reaches the mark, and how many seeds' curves still rise."""
    rows = []
    for env_id, held in cards_by_task.items():
        if env_id not in MARKS:
            continue
        score, mark = MARKS[env_id]
        cells = []
        for policy in MARKED_POLICIES:
            cards = [card for card in held if card.policy == policy]
            values = [interval.value for card in cards if (interval := seed_score(card, score)) is not None]
            if not values:
                cells.append("–")
                continue
            median = lower_median(values)
            reached = "**met**" if median >= mark else f"missed by {mark - median:.3f}"
            rising = sum(still_rising(card) for card in cards)
            cells.append(
                f"{median:.3f} ({len(values)} seeds, {min(values):.3f} to {max(values):.3f}): {reached};"
                f" {rising} of {len(cards)} still rising"
            )
        rows.append(f"| {env_id} | {score} >= {mark} | " + " | ".join(cells) + " |")
    return rows


def marks_table(cards_by_task: dict[str, list[ZooCard]]) -> list[str]:
    """The marks' Markdown table with its legend."""
    return [
        "The marks: the score the median seed should reach on each task's evaluation set "
        "(normalised: random 0, Bayes 1; adaptation: memoryless 0, Bayes 1; oracle adaptation, on "
        "NMN-Navigation2D, which has no Bayes bound: memoryless 0, oracle 1), the seeds' range, and "
        "how many seeds' validation curves still rise at the end of the budget (the best validation "
        "in its last quarter, that quarter's mean above the one before); the others are flat.",
        "",
        "| task | mark | NMN median seed | RNN median seed |",
        "|---|---|---|---|",
        *mark_rows(cards_by_task),
    ]
