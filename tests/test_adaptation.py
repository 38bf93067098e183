"""The memoryless references and the adaptation score ``(agent - memoryless) / (bayes - memoryless)``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluate import evaluate
from evaluate.exact import moving_target_memoryless_value
from evaluate.references import MEMORYLESS, REFERENCE_NAMES, reference
from evaluate.report import markdown
from evaluate.rollout import make_vector_env, play
from evaluate.schema import ADAPTATION_MIN_GAP, EvaluationResult, adaptation_anchors, adaptation_scale
from evaluate.task_sets import SET_SIZE, task_set


def _feedback_history(
    env, steps: int, seed: int, base: list[np.ndarray]
) -> list[tuple[dict, np.ndarray]]:
    """``steps`` observations with the base observations ``base`` and seeded random feedback."""
    env.observation_space.seed(seed)
    rng = np.random.default_rng(seed)
    history = []
    for step in range(steps):
        observation = env.observation_space.sample()
        observation["observation"] = base[step]
        starts = rng.random(env.num_envs) < 0.2 if step else np.ones(env.num_envs, dtype=bool)
        history.append((observation, starts))
    return history


@pytest.mark.parametrize("env_id", sorted(MEMORYLESS))
def test_memoryless_agents_ignore_all_feedback(env_id: str) -> None:
    env = make_vector_env(env_id, 6, {})
    env.observation_space.seed(0)
    base = [env.observation_space.sample()["observation"] for _ in range(12)]
    played = []
    for feedback_seed in (1, 2):
        policy = reference("memoryless", env_id)
        policy.reset(env)
        played.append(
            [
                np.asarray(policy.act(observation, starts))
                for observation, starts in _feedback_history(env, 12, feedback_seed, base)
            ]
        )
    env.close()
    first, second = played
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_bench1_memoryless_value_matches_the_closed_form() -> None:
    env_id, steps = "NMN-Bench1-v0", 50
    tasks, seeds = task_set(env_id).head(SET_SIZE)
    kwargs = {"max_episode_steps": steps}
    returns = play(reference("memoryless", env_id), env_id, tasks, seeds, kwargs).returns
    offsets = np.array([task.offset for task in tasks])
    # e = x: every step of a task hits (+10) when |alpha| < 1, else misses by |alpha|
    # (|alpha| <= 10: the miss cap of 20 is never reached).
    per_task = np.where(np.abs(offsets) < 1.0, 10.0, -np.abs(offsets)) * steps
    np.testing.assert_allclose(returns, per_task, rtol=1e-4)
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - moving_target_memoryless_value(steps)) < 3 * error
    assert moving_target_memoryless_value(steps) == pytest.approx(-3.95 * steps)


@pytest.fixture(scope="module")
def bench2() -> EvaluationResult:
    return evaluate(
        "memoryless", "NMN-Bench2-v0", n_tasks=SET_SIZE, reps=500, references=["random", "bayes"]
    )


def test_bench2_memoryless_scores_high_without_adapting(bench2: EvaluationResult) -> None:
    memoryless, bayes = bench2.agent, bench2.score("bayes")
    # Heading straight at the target already earns most of the normalised scale...
    assert memoryless.normalised_score.low > 0.6
    # ...yet the belief planner, which adapts to the wind, beats it task by task.
    gain = np.asarray(bayes.returns) - np.asarray(memoryless.returns)
    assert gain.mean() > 3 * gain.std(ddof=1) / np.sqrt(gain.size)
    assert memoryless.adaptation_score.value == pytest.approx(0.0, abs=1e-12)
    assert bayes.adaptation_score.value == pytest.approx(1.0, abs=1e-12)
    random = bench2.score("random")
    assert random.adaptation_score.value < 0 < random.normalised_score.high
    assert "Adaptation score: (mean - memoryless) / (bayes - memoryless)" in markdown(bench2)


def test_the_adaptation_interval_is_the_mean_interval_on_its_scale(
    bench2: EvaluationResult,
) -> None:
    memoryless, bayes = bench2.normaliser["memoryless"], bench2.normaliser["bayes"]
    for entry in (bench2.agent, *bench2.references):
        expected = entry.mean.on_scale(memoryless, bayes)
        assert entry.adaptation_score == expected
        assert bench2.adaptation(entry.mean) == expected


@pytest.mark.parametrize("env_id", ["NMN-Bandit-v0", "NMN-TwoStep-v0", "NMN-Harlow-v0"])
def test_at_chance_memoryless_plays_its_own_draws_worth_the_random_agents(env_id: str) -> None:
    result = evaluate("memoryless", env_id, n_tasks=200, reps=100, references=["random"])
    memoryless = np.asarray(result.agent.returns)
    random = np.asarray(result.score("random").returns)
    assert not np.array_equal(memoryless, random)
    error = np.hypot(*(r.std(ddof=1) / np.sqrt(r.size) for r in (memoryless, random)))
    assert abs(memoryless.mean() - random.mean()) < 3 * error
    assert result.agent.adaptation_score.value == pytest.approx(0.0, abs=1e-12)


def test_without_a_bayes_value_the_oracle_anchors_it_and_without_a_memoryless_agent_none_does() -> None:
    result = evaluate("memoryless", "NMN-Navigation2D-v0", n_tasks=8, reps=50)
    assert "memoryless" in result.normaliser and "bayes" not in result.normaliser
    assert result.agent.adaptation_score.value == pytest.approx(0.0, abs=1e-12)
    assert "Adaptation score: (mean - memoryless) / (oracle - memoryless)" in markdown(result)
    assert "not defined" in markdown(result.model_copy(update={"normaliser": {"random": 0.0, "oracle": 1.0}}))
    with pytest.raises(ValueError, match=r"no memoryless agent for CartPole-v1; memoryless agents exist for \['NMN-Bandit-v0'"):
        reference("memoryless", "CartPole-v1")
    assert "memoryless" in REFERENCE_NAMES


def test_no_adaptation_score_where_memoryless_comes_too_close_to_bayes() -> None:
    assert adaptation_anchors({"random": 0.0, "bayes": 10.0, "memoryless": 4.0}) == (4.0, 10.0)
    close = 10.0 - 0.5 * ADAPTATION_MIN_GAP * 10.0
    assert adaptation_anchors({"random": 0.0, "bayes": 10.0, "memoryless": close}) is None
    assert adaptation_anchors({"random": 0.0, "bayes": 10.0, "memoryless": 10.0}) is None
    assert adaptation_anchors({"random": 0.0, "bayes": 10.0, "memoryless": 12.0}) is None
    assert adaptation_anchors({"random": 0.0, "bayes": 10.0}) is None
    # the text says which: too close, or a memoryless reference that scores above the ceiling
    assert "comes within 1% of the bayes value" in adaptation_scale({"random": 0.0, "bayes": 10.0, "memoryless": close})
    above = adaptation_scale({"random": -509.9, "oracle": -333.13, "memoryless": -312.1})
    assert "scores above the oracle value (-312.10 against -333.13)" in above and "within" not in above


def test_older_results_without_the_adaptation_score_still_load(bench2: EvaluationResult) -> None:
    document = json.loads(bench2.model_dump_json())
    del document["normaliser"]["memoryless"]
    document["references"] = [r for r in document["references"] if r["name"] != "memoryless"]
    for entry in (document["agent"], *document["references"]):
        del entry["adaptation_score"]
    older = EvaluationResult.model_validate_json(json.dumps(document))
    assert older.agent.adaptation_score is None
    assert older.adaptation(older.agent.mean) is None
    assert "not defined" in markdown(older)
