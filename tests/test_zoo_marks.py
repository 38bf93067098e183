"""The zoo's marks: median seeds, the curve's verdict and the oracle adaptation of NMN-Navigation2D."""

from __future__ import annotations

import numpy as np
import pytest

from evaluate.bounds import bounds
from evaluate.task_sets import SET_SIZE
from nmn_bench.zoo_marks import (
    MARKS,
    adaptation_interval,
    lower_median,
    mark_rows,
    seed_score,
    still_rising,
)
from training import zoo
from training.zoo import CurvePoint

NAVIGATION = "NMN-Navigation2D-v0"


def with_curve(card: zoo.ZooCard, scores: list[float]) -> zoo.ZooCard:
    points = [
        CurvePoint(steps=100 * (k + 1), minutes=0.0, cpu_minutes=0.0, mean_return=0.0, score=value)
        for k, value in enumerate(scores)
    ]
    return card.model_copy(update={"curve": points})


def test_the_median_seed_is_one_of_the_seeds() -> None:
    assert lower_median([0.3, 0.9, 0.1]) == 0.3
    assert lower_median([0.4, 0.2, 0.9, 0.7]) == 0.4  # the lower of the middle two


def test_a_curve_rises_when_its_best_is_in_the_last_quarter_and_that_quarter_gains() -> None:
    card = zoo.cards("NMN-TwoStep-v0")[0]
    assert still_rising(with_curve(card, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]))
    assert not still_rising(with_curve(card, [0.1, 0.5, 0.9, 0.6, 0.6, 0.6, 0.6, 0.6]))  # best early
    assert not still_rising(with_curve(card, [0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 0.5, 0.81]))  # last quarter below
    assert not still_rising(with_curve(card, [0.1, 0.9]))  # too short to tell


def test_oracle_adaptation_maps_the_memoryless_agent_to_0_and_the_oracle_to_1() -> None:
    card = zoo.cards(NAVIGATION)[0]
    memoryless = card.evaluation.normaliser["memoryless"]
    interval = seed_score(card, "oracle adaptation")
    mean = card.evaluation.score.mean.value
    (oracle,) = [bound.value for bound in bounds(NAVIGATION, n_tasks=SET_SIZE) if bound.name == "oracle"]
    assert card.evaluation.normaliser["oracle"] == pytest.approx(oracle)
    assert interval.value == pytest.approx((mean - memoryless) / (oracle - memoryless))
    assert oracle > memoryless and interval.low <= interval.value <= interval.high
    assert adaptation_interval(card) == (interval, "oracle adaptation")
    assert seed_score(card, "adaptation") is None


def test_a_task_with_a_bayes_value_reads_its_adaptation_score() -> None:
    bench2 = zoo.cards("NMN-Bench2-v0")[0]
    assert adaptation_interval(bench2) == (bench2.evaluation.score.adaptation_score, "adaptation")
    assert seed_score(bench2, "oracle adaptation") is None


def test_every_native_task_has_one_mark_row_per_shipped_task() -> None:
    cards_by_task = {env_id: zoo.cards(env_id) for env_id in MARKS}
    rows = mark_rows(cards_by_task)
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == list(MARKS)
    for row, (env_id, (score, mark)) in zip(rows, MARKS.items()):
        nmn = [seed_score(card, score).value for card in cards_by_task[env_id] if card.policy == "nmn"]
        median = lower_median(nmn)
        assert f"| {score} >= {mark} | {median:.3f} ({len(nmn)} seeds" in row
        assert ("**met**" in row.split(" | ")[2]) == (median >= mark)
        assert np.isfinite(median)
