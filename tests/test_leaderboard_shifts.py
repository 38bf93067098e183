"""The board's shift tracks: a result played on a shift is checked and ranked on that shift's own
track, against the board's own references of the shifted distribution and the shift's task set."""

from __future__ import annotations

import sqlite3
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from evaluate import bounds
from evaluate.harness import evaluate
from evaluate.schema import GeneralisationGap, Interval
from evaluate.task_sets import SHIFT_PINNED
from leaderboard.board import table
from leaderboard.cli import main
from leaderboard.store import Store
from leaderboard.submission import AgentCard, Submission, SubmissionError
from leaderboard.validation import validate
from tests.served import get, serving

ENV = "NMN-Bandit-v0"
SHIFT = "easy"


def _arm_zero(observation: dict[str, np.ndarray]) -> np.ndarray:
    return np.zeros(len(observation["observation"]), dtype=np.int64)


@pytest.fixture(scope="module")
def shifted() -> Submission:
    """An agent (always the first arm) scored by the harness on the full task set of the shift."""
    result = evaluate(_arm_zero, ENV, shift=SHIFT, agent_name="arm-zero", references=())
    return Submission(card=AgentCard(name="arm-zero"), result=result)


@pytest.fixture(scope="module")
def board_file(tmp_path_factory: pytest.TempPathFactory, shifted: Submission) -> Path:
    db = tmp_path_factory.mktemp("tracks") / "board.sqlite"
    store = Store(db)
    store.add(validate(shifted))
    store.close()
    return db


def _with(submission: Submission, **result_update: object) -> Submission:
    return submission.model_copy(update={"result": submission.result.model_copy(update=result_update)})


def test_a_shifted_result_is_stored_and_ranked_on_its_shift_s_track(board_file: Path) -> None:
    store = Store(board_file, read_only=True)
    assert store.entries(ENV) == []  # the main track holds nothing
    (entry,) = store.entries(ENV, SHIFT)
    assert entry.shift == SHIFT and entry.task_set_version == f"{ENV}/{SHIFT}/v1"
    assert store.shifts(ENV) == [SHIFT]
    board = table(store, ENV, SHIFT)
    assert board.shift == SHIFT and board.title == f"{ENV} / {SHIFT}"
    assert {row.agent for row in board.rows} >= {"arm-zero", "random", "bayes", "oracle", "memoryless"}
    # the board's own bounds of the shifted distribution: the exact value of the easy variant
    exact = {bound.name: bound.value for bound in bounds(ENV, variant=SHIFT)}
    assert board.normaliser["bayes"] == pytest.approx(exact["bayes"])
    stored = entry.submission().result
    assert stored.task_set.sha256 == SHIFT_PINNED[f"{ENV}/{SHIFT}/v1"]
    arm_zero = next(row for row in board.rows if row.agent == "arm-zero")
    random, bayes = board.normaliser["random"], board.normaliser["bayes"]
    assert arm_zero.mean_return.on_scale(random, bayes).value == pytest.approx(
        (np.mean(stored.agent.returns) - random) / (bayes - random)
    )
    assert table(store, ENV).rows == []
    store.close()


def test_the_board_keeps_no_submitted_gap(shifted: Submission) -> None:
    gap = GeneralisationGap(
        agent="arm-zero",
        in_distribution_task_set=shifted.result.task_set,
        normalised=Interval(value=-5.0, low=-6.0, high=-4.0),
    )
    claimed = _with(shifted, shift=shifted.result.shift.model_copy(update={"generalisation_gap": gap}))
    assert validate(claimed).result.shift.generalisation_gap is None


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda r: {"shift": r.shift.model_copy(update={"name": "harder"})}, "result.shift.name", "unknown shift 'harder'"),
        (lambda r: {"shift": r.shift.model_copy(update={"kwargs": {"variant": "hard"}})}, "result.shift.kwargs", "of the shift 'easy'"),
        (lambda r: {"shift": r.shift.model_copy(update={"name": "hard", "kwargs": {"variant": "hard"}}),
                    "env_kwargs": {"variant": "hard"}}, "result.task_set.version", "not the current set's"),
        (lambda r: {"shift": None}, "result.env_kwargs.variant", "registered configuration"),
        (lambda r: {"agent": r.agent.model_copy(update={"normalised_score": r.agent.normalised_score.affine(1.0, 0.1)})},
         "result.agent.normalised_score.value", "recomputed from the per-task returns"),
    ],
)
def test_a_shifted_result_is_checked_as_the_main_track_is(shifted: Submission, change, field: str, reason: str) -> None:
    with pytest.raises(SubmissionError, match=reason) as refused:
        validate(_with(shifted, **change(shifted.result)))
    assert refused.value.field == field


def test_a_served_board_shows_a_tab_and_a_table_per_shift(board_file: Path) -> None:
    with serving(board_file) as url:
        status, document = get(f"{url}/api/tables/{ENV}?shift={SHIFT}")
        assert status == 200 and document["shift"] == SHIFT
        assert "arm-zero" in {row["agent"] for row in document["rows"]}
        status, main_track = get(f"{url}/api/tables/{ENV}")
        assert status == 200 and main_track["rows"] == [] and main_track["shift"] is None
        status, refused = get(f"{url}/api/tables/{ENV}?shift=wider")
        assert status == 404 and "a shift of NMN-Bench1-v0" in refused["detail"]
        with urllib.request.urlopen(f"{url}/env/{ENV}?shift={SHIFT}") as response:
            page = response.read().decode()
        assert 'id="tracks"' in page and "shift: easy" in page and "shift: hard" in page
        assert 'aria-current="page">shift: easy' in page and "arm-zero" in page
        with urllib.request.urlopen(f"{url}/env/{ENV}/curve.png?shift={SHIFT}") as response:
            assert response.read().startswith(b"\x89PNG")


def test_nmn_leaderboard_lists_a_shift_s_track(board_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(board_file), "list", "--env", ENV, "--shift", SHIFT]) == 0
    out = capsys.readouterr().out
    assert f"{ENV} / {SHIFT} leaderboard" in out and "arm-zero" in out
    assert main(["--db", str(board_file), "list", "--env", ENV]) == 0
    assert "arm-zero" not in capsys.readouterr().out
    for arguments, message in (
        (["--env", ENV, "--shift", "wider"], "unknown shift 'wider' for NMN-Bandit-v0 (a shift of NMN-Bench1-v0)"),
        (["--shift", SHIFT], "name its environment with --env"),
    ):
        assert main(["--db", str(board_file), "list", *arguments]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_a_board_written_before_the_tracks_opens_with_its_entries_on_the_main_tracks(
    tmp_path: Path, board_file: Path
) -> None:
    old = tmp_path / "old.sqlite"
    old.write_bytes(board_file.read_bytes())
    with sqlite3.connect(old) as connection:
        connection.execute("UPDATE submissions SET shift = ''")
        connection.execute("ALTER TABLE submissions DROP COLUMN shift")
    store = Store(old)
    assert [entry.shift for entry in store.entries(ENV)] == [""]
    store.close()


def test_an_empty_track_says_it_has_no_entries_yet_not_that_its_env_has_no_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh board's track of NMN-Bench1's ``wider`` shift (which has an exact bayes value)
    has no scale yet because it has no rows, and says so, on the command line and on its page."""
    db = str(tmp_path / "fresh.sqlite")
    assert main(["--db", db, "list", "--env", "NMN-Bench1-v0", "--shift", "wider"]) == 0
    out = capsys.readouterr().out
    assert "has no bayes or oracle value" not in out and "has no memoryless reference" not in out
    assert "normalised IQM: none yet: this track has no entries" in out
    assert "adaptation: none yet: this track has no entries" in out
    with serving(Path(db)) as url, urllib.request.urlopen(f"{url}/env/NMN-Bench1-v0?shift=wider") as response:
        page = response.read().decode()
    assert "has no bayes or oracle value" not in page and "none yet: this track has no entries" in page
