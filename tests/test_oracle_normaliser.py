"""The oracle normaliser: where an environment has no bayes value (NMN-Navigation2D), its scales
run to the oracle told the task, in the harness's results, its report and on the board."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

from evaluate import evaluate
from evaluate.bounds import bounds
from evaluate.report import markdown
from evaluate.schema import (
    ADAPTATION_MIN_GAP,
    EvaluationResult,
    adaptation_anchors,
    normalised_anchors,
)
from evaluate.task_sets import SET_SIZE
from leaderboard.board import table
from leaderboard.cli import main as leaderboard
from leaderboard.pages import Links, env_page
from leaderboard.plots import intervals_svg
from leaderboard.references import board_references
from leaderboard.store import DB_ENV_VAR, Store
from leaderboard.submission import SubmissionError
from leaderboard.validation import accept

NAVIGATION = "NMN-Navigation2D-v0"
ONE_IS_THE_ORACLE = "1 = the oracle told the task"


def standard_error(returns: list[float]) -> float:
    values = np.asarray(returns, dtype=np.float64)
    return float(values.std(ddof=1) / np.sqrt(values.size))


@pytest.fixture(scope="module")
def navigation() -> EvaluationResult:
    """The memoryless agent on the first 64 tasks of NMN-Navigation2D, with every reference."""
    return evaluate("memoryless", NAVIGATION, n_tasks=64, reps=200)


def test_without_a_bayes_value_the_normaliser_records_the_oracle(navigation: EvaluationResult) -> None:
    assert set(navigation.normaliser) == {"random", "memoryless", "oracle"}
    assert navigation.normaliser["oracle"] == navigation.bound("oracle").value
    random, oracle = navigation.normaliser["random"], navigation.normaliser["oracle"]
    memoryless = navigation.normaliser["memoryless"]
    assert random < memoryless < oracle
    for entry in (navigation.agent, *navigation.references):
        mean = entry.mean.value
        assert entry.normalised_score.value == pytest.approx((mean - random) / (oracle - random), abs=1e-12)
        assert entry.adaptation_score.value == pytest.approx(
            (mean - memoryless) / (oracle - memoryless), abs=1e-12
        )
        assert entry.normalised_score.low <= entry.normalised_score.value <= entry.normalised_score.high
        assert entry.regret is None  # the regret is to a bayes value, which there is none of
    assert navigation.agent.adaptation_score.value == pytest.approx(0.0, abs=1e-12)
    assert navigation.score("oracle").adaptation_score.value == pytest.approx(1.0, abs=1e-12)


def test_the_oracle_scores_one_and_random_play_zero_within_their_standard_errors(
    navigation: EvaluationResult,
) -> None:
    random, oracle = navigation.normaliser["random"], navigation.normaliser["oracle"]
    span = oracle - random
    # The oracle on the full evaluation set (another estimate of the ceiling) scores 1 on this
    # result's scale, within the standard errors of both estimates.
    (full,) = [bound for bound in bounds(NAVIGATION, n_tasks=SET_SIZE) if bound.name == "oracle"]
    error = np.hypot(full.standard_error, navigation.bound("oracle").standard_error) / span
    assert abs(navigation.normalised(navigation.score("oracle").mean).value - 1.0) < 1e-12
    assert abs((full.value - random) / span - 1.0) < 3 * error
    # A random agent of its own (not the reference's draws) scores 0 within its standard errors.
    generator = np.random.default_rng(7)

    def uniform(observation: dict[str, np.ndarray]) -> np.ndarray:
        return generator.uniform(-0.1, 0.1, size=(len(observation["observation"]), 2))

    played = evaluate(uniform, NAVIGATION, n_tasks=64, reps=200, agent_name="uniform")
    error = np.hypot(
        standard_error(played.agent.returns), standard_error(played.score("random").returns)
    ) / (played.normaliser["oracle"] - played.normaliser["random"])
    assert played.normaliser == navigation.normaliser  # the same tasks, the same anchors
    assert abs(played.agent.normalised_score.value) < 3 * error


def test_the_report_says_that_one_is_the_oracle(navigation: EvaluationResult) -> None:
    report = markdown(navigation)
    scales = [line for line in report.splitlines() if ONE_IS_THE_ORACLE in line]
    assert len(scales) == 2  # the normalised scale and the adaptation scale
    assert scales[0].startswith("Normalised mean and normalised IQM map")
    assert scales[1].startswith("Adaptation score: (mean - memoryless) / (oracle - memoryless)")
    assert "no agent that must find the task reaches it" in scales[0]
    row = next(line for line in report.splitlines() if line.startswith("| memoryless |"))
    assert f"{navigation.agent.normalised_score.value:.3f} [" in row


def test_an_environment_with_a_bayes_value_keeps_it_as_the_one() -> None:
    result = evaluate("memoryless", "NMN-Bench1-v0", n_tasks=16, env_kwargs={"max_episode_steps": 40}, reps=100)
    assert set(result.normaliser) == {"random", "bayes", "memoryless"}
    random, bayes = result.normaliser["random"], result.normaliser["bayes"]
    assert result.normaliser["bayes"] == result.bound("bayes").value != result.bound("oracle").value
    assert result.agent.normalised_score == result.agent.mean.on_scale(random, bayes)
    assert result.agent.regret == result.agent.mean.affine(-1.0, bayes)
    report = markdown(result)
    assert "1 = the Bayes-optimal bound" in report and "oracle told" not in report


def test_the_anchors_take_bayes_first_then_the_oracle() -> None:
    assert normalised_anchors({"random": 0.0, "oracle": 10.0}) == (0.0, 10.0)
    assert normalised_anchors({"random": 0.0, "bayes": 8.0, "oracle": 10.0}) == (0.0, 8.0)
    assert normalised_anchors({"random": 0.0, "oracle": -1.0}) is None
    assert normalised_anchors({"random": 0.0}) is None
    assert adaptation_anchors({"random": 0.0, "oracle": 10.0, "memoryless": 4.0}) == (4.0, 10.0)
    assert adaptation_anchors({"random": 0.0, "bayes": 8.0, "oracle": 10.0, "memoryless": 4.0}) == (4.0, 8.0)
    close = 10.0 - 0.5 * ADAPTATION_MIN_GAP * 10.0
    assert adaptation_anchors({"random": 0.0, "oracle": 10.0, "memoryless": close}) is None


def test_a_result_written_before_the_oracle_normaliser_loads_and_scores_as_before(
    navigation: EvaluationResult,
) -> None:
    document = json.loads(navigation.model_dump_json())
    del document["normaliser"]["oracle"]
    for entry in (document["agent"], *document["references"]):
        entry["normalised_score"] = entry["adaptation_score"] = None
    older = EvaluationResult.model_validate_json(json.dumps(document))
    assert older.normalised(older.agent.mean) is None and older.adaptation(older.agent.mean) is None
    report = markdown(older)
    assert "no normalised scale" in report and ONE_IS_THE_ORACLE not in report


# --- the board ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def submitted() -> EvaluationResult:
    """A fixed step towards the upper right, played by the harness on the full published set."""

    def steady(observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.full((len(observation["observation"]), 2), 0.05)

    return evaluate(steady, NAVIGATION, n_tasks=SET_SIZE, agent_name="steady-step", reps=500, cache=True)


def test_the_board_ranks_a_navigation2d_result_by_its_normalised_iqm_to_the_oracle(
    submitted: EvaluationResult, tmp_path, monkeypatch, capsys
) -> None:
    board = board_references(NAVIGATION)
    assert set(board.normaliser) == {"random", "memoryless", "oracle"}
    random, oracle = board.normaliser["random"], board.normaliser["oracle"]
    stored = accept(submitted.model_dump_json())
    agent = stored.result.agent
    assert stored.normalised_iqm() == agent.iqm.on_scale(random, oracle)
    assert agent.normalised_score.value == pytest.approx((agent.mean.value - random) / (oracle - random), abs=1e-12)
    assert agent.regret is None
    path = tmp_path / "board.sqlite"
    Store(path).add(stored)
    ranked = table(Store(path), NAVIGATION)
    row = next(row for row in ranked.rows if row.agent == "steady-step")
    assert row.normalised_iqm == stored.normalised_iqm()
    assert [row.agent for row in ranked.rows][0] == "oracle"
    assert [row.normalised_iqm.value for row in ranked.rows] == sorted(
        (row.normalised_iqm.value for row in ranked.rows), reverse=True
    )
    page = html.unescape(env_page(ranked, Links(served=True)))
    assert f"Normalised IQM: 0 = the random agent's mean return, {ONE_IS_THE_ORACLE}" in page
    assert f"{row.normalised_iqm.value:.3f} [" in page
    assert b"(IQM - random) / (oracle - random)" in intervals_svg(ranked)
    monkeypatch.setenv(DB_ENV_VAR, str(path))
    monkeypatch.setenv("COLUMNS", "200")
    assert leaderboard(["list", "--env", NAVIGATION]) == 0
    out = capsys.readouterr().out
    assert f"normalised IQM: 0 = the random agent's mean return, {ONE_IS_THE_ORACLE}" in out
    line = next(line for line in out.splitlines() if "steady-step" in line)
    assert f"{row.normalised_iqm.value:.3f} [" in line


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("result.agent.normalised_score.value", lambda result: result["agent"]["normalised_score"].update(value=0.9)),
        ("result.normaliser.oracle", lambda result: result["normaliser"].update(oracle=0.0)),
        ("result.agent.regret", lambda result: result["agent"].update(regret={"value": 1.0, "low": 0.0, "high": 2.0})),
    ],
)
def test_the_board_recomputes_what_a_navigation2d_result_claims(
    submitted: EvaluationResult, field: str, edit
) -> None:
    document = json.loads(submitted.model_dump_json())
    edit(document)
    with pytest.raises(SubmissionError) as refused:
        accept(json.dumps(document))
    assert refused.value.field.startswith(field)
