"""The harness with teams: per-agent scores against both bounds and the measured social gain."""

import json

import pytest

from evaluate.cli import main
from evaluate.harness import evaluate
from evaluate.schema import EvaluationResult
from evaluate.team_references import MovingTargetTeam
from leaderboard.submission import AgentCard, Submission, SubmissionError
from leaderboard.validation import validate

KWARGS = {"max_episode_steps": 20}


def test_team_agents_show_the_social_gain_over_the_best_lone_agent():
    result = evaluate(
        MovingTargetTeam(), "NMN-Bench1-v0", n_tasks=200, num_agents=2,
        references=("random",), env_kwargs=KWARGS, reps=300,
    )
    assert result.num_agents == 2 and result.alone == "bayes"
    bounds = {bound.name: bound.value for bound in result.bounds}
    assert bounds["team_bayes"] - bounds["bayes"] == pytest.approx(3.74375)
    assert bounds["social_gain"] == pytest.approx(3.74375)
    gain = result.agent.social_gain
    assert gain.low > 0.0 and gain.low <= bounds["social_gain"] <= gain.high
    assert result.agent.team_normalised_score.low <= 1.0 <= result.agent.team_normalised_score.high
    assert result.agent.normalised_score.value > 1.0  # beyond what any agent alone can reach
    names = {entry.name for entry in result.references}
    assert names == {"random", "team_bayes"}
    assert EvaluationResult.model_validate_json(result.model_dump_json()) == result
    with pytest.raises(SubmissionError, match="single agents only"):
        validate(Submission(card=AgentCard(name="team"), result=result))


def test_a_lone_agent_in_a_team_gains_nothing():
    result = evaluate(
        "bayes", "NMN-Bandit-v0", n_tasks=150, num_agents=2, references=("random",),
        env_kwargs={"variant": "dependent"}, reps=300,
    )
    gain = result.agent.social_gain
    assert gain.low <= 0.0 <= gain.high
    assert result.score("team_bayes").mean.value > result.score("random").mean.value


def test_teams_need_a_native_core_and_a_positive_count():
    with pytest.raises(ValueError, match="native batched cores"):
        evaluate("random", "NMN-HalfCheetahDir-v0", n_tasks=2, num_agents=2)
    with pytest.raises(ValueError, match="num_agents"):
        evaluate("random", "NMN-Bench1-v0", n_tasks=2, num_agents=0)


def test_cli_reports_teams(tmp_path, capsys):
    out = tmp_path / "team"
    main([
        "NMN-Bench1-v0", "--agents", "2", "--agent", "random", "--n-tasks", "20",
        "--max-episode-steps", "10", "--references", "--reps", "100", "--no-progress",
        "--out", str(out),
    ])
    printed = capsys.readouterr().out
    assert "Teams of 2 agents" in printed and "social gain" in printed
    saved = json.loads((out / "result.json").read_text())
    assert saved["num_agents"] == 2 and saved["alone"] == "bayes"
    assert saved["agent"]["social_gain"]["value"] < 0
