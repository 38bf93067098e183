"""Each normalised figure is named for what it is, in report.md, on the board and in the CLI."""

import pytest

from evaluate import evaluate
from evaluate.report import markdown
from evaluate.schema import Bound
from leaderboard.board import Table
from leaderboard.cli import print_table
from leaderboard.pages import Links, env_page

SHORT = {"n_tasks": 8, "env_kwargs": {"max_episode_steps": 40}, "reps": 100}


def test_report_names_the_normalised_mean_and_iqm_and_says_what_one_is():
    exact = evaluate("random", "NMN-Bench1-v0", references=("bayes",), **SHORT)
    table = markdown(exact)
    assert "| normalised mean | normalised IQM |" in table and "normalised score" not in table
    assert "1 = the Bayes-optimal bound" in table
    row = next(line for line in table.splitlines() if line.startswith("| random |"))
    random_iqm = exact.agent.iqm.value
    expected = (random_iqm - exact.normaliser["random"]) / (
        exact.normaliser["bayes"] - exact.normaliser["random"]
    )
    assert row.split("|")[6].strip().startswith(f"{expected:.3f}")

    planner = evaluate("bayes", "NMN-Bench2-v0", **SHORT)
    assert "not the Bayes-optimal bound" in markdown(planner)
    assert planner.bound("bayes").kind == "reference"


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [("exact", "1 = the Bayes-optimal bound"), ("reference", "not the Bayes-optimal bound")],
)
def test_the_board_says_what_one_is_for_its_environment(kind, phrase, capsys):
    board = Table(
        env_id="NMN-Bench2-v0",
        rows=[],
        bounds=[Bound(name="bayes", kind=kind, value=100.0, description="belief planner")],
        normaliser={"random": 0.0, "bayes": 100.0},
    )
    assert phrase in env_page(board, Links(served=True))
    print_table(board)
    assert phrase in capsys.readouterr().out
