"""Checks a submission must pass before it is stored: every number it claims is re-derived.

A submission is refused, with a :class:`~leaderboard.submission.SubmissionError` naming the
field and the reason, unless:

- its environment id is registered and its kwargs are the registered configuration (the board
  ranks one configuration per id; other kwargs would change what is scored), played by one
  agent per task (team results, ``num_agents > 1``, are scored against other bounds);
- its task set is the current published set of that environment (version, generator seed,
  hash, size), played in full, and its tasks and seeds are exactly that set's;
- every agent score in it (agent, baselines, references) has finite returns and curves, a
  mean and an IQM that equal those recomputed from the per-task returns, intervals that hold
  their point estimates, an adaptation curve that sums to the mean return, and a normalised
  score and regret that follow from the mean and the normaliser;
- the submitted agent's mean and IQM confidence intervals equal a fresh stratified bootstrap
  (rliable, through :mod:`evaluate.stats`) of its returns with the result's own
  ``bootstrap_reps`` and ``bootstrap_seed`` (at most :data:`MAX_BOOTSTRAP_REPS` resamples), so
  a narrowed or shifted interval is caught;
- its bounds agree with the harness: exact bounds equal the derived values, Monte Carlo bounds
  equal the mean return of the reference agent they come from; the normaliser is the ``bayes``
  bound and the ``random`` agent's mean, and spans a positive range.

Nothing in a submission is executed or unpickled: it is JSON validated by pydantic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
from rliable import metrics

from evaluate.bounds import exact_bounds
from evaluate.schema import AgentScore, EvaluationResult, Interval
from evaluate.stats import iqm_interval, mean_interval
from evaluate.task_sets import SET_SIZE, TaskSet, check_env_id, evaluation_kwargs, task_set
from leaderboard.submission import Submission, SubmissionError, parse_submission_json

MAX_SUBMISSION_BYTES = 8 * 2**20
# Recomputed statistics must match to this relative precision (float64 arithmetic, JSON round trip).
RELATIVE_TOLERANCE = 1e-9
# The adaptation curve sums thousands of per-step means; allow for their rounding.
CURVE_RELATIVE_TOLERANCE = 1e-6
# The submitted agent's intervals are re-estimated with the result's own bootstrap settings;
# this caps the work one submission can ask of the server.
MAX_BOOTSTRAP_REPS = 10_000


def accept(text: str | bytes) -> Submission:
    """Parse and :func:`validate` JSON text (a submission, or a bare result named after its agent).

    Raises:
        SubmissionError: oversized, malformed or invalid, naming the field and the reason.
    """
    if len(text) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(
            "(document)", f"{len(text)} bytes exceeds the limit of {MAX_SUBMISSION_BYTES} bytes"
        )
    return validate(parse_submission_json(text))


def validate(submission: Submission) -> Submission:
    """Return ``submission`` if every check of the module docstring passes.

    Raises:
        SubmissionError: the first failed check, naming the field and the reason.
    """
    result = submission.result
    _check_environment(result)
    _check_task_set(result, published_task_set(result.env_id))
    _check_bounds(result)
    for field, score in _scores(result):
        _check_score(field, score, result)
    _check_agent_intervals(result)
    return submission


@functools.cache
def published_task_set(env_id: str) -> TaskSet:
    """The current published evaluation task set of ``env_id`` (generated once per process)."""
    return task_set(env_id)


def _check_environment(result: EvaluationResult) -> None:
    try:
        check_env_id(result.env_id)
    except gym.error.Error as error:
        raise SubmissionError("result.env_id", str(error)) from None
    if result.num_agents != 1:
        raise SubmissionError(
            "result.num_agents",
            f"{result.num_agents} agents per task: the board ranks single agents only",
        )
    registered_steps = gym.spec(result.env_id).max_episode_steps
    if result.max_episode_steps != registered_steps:
        raise SubmissionError(
            "result.max_episode_steps",
            f"{result.max_episode_steps} is not the registered length {registered_steps} "
            f"of {result.env_id}; the board ranks the registered configuration",
        )
    registered = evaluation_kwargs(
        result.env_id, {**gym.spec(result.env_id).kwargs, "max_episode_steps": registered_steps}
    )
    # Compared, never passed to the environment: submitted kwargs are not run on the server.
    for name, value in result.env_kwargs.items():
        if name not in registered or registered[name] != value:
            raise SubmissionError(
                f"result.env_kwargs.{name}",
                f"{value!r} is not the registered configuration of {result.env_id} "
                f"({registered}); the board ranks that configuration only",
            )


def _check_task_set(result: EvaluationResult, published: TaskSet) -> None:
    claimed = result.task_set
    expected = published.info(len(published))
    for name in ("version", "sha256", "generator_seed", "size"):
        if getattr(claimed, name) != getattr(expected, name):
            raise SubmissionError(
                f"result.task_set.{name}",
                f"{getattr(claimed, name)!r} is not the current set's {getattr(expected, name)!r}",
            )
    if claimed.n_tasks != SET_SIZE:
        raise SubmissionError(
            "result.task_set.n_tasks",
            f"{claimed.n_tasks} tasks played; the board needs the full set of {SET_SIZE} "
            f"(nmn-eval {result.env_id} --n-tasks {SET_SIZE} ...)",
        )
    if result.seeds != list(published.seeds):
        raise SubmissionError("result.seeds", f"not the seeds of {published.version}")
    if result.tasks != [task.to_dict() for task in published.tasks]:
        raise SubmissionError("result.tasks", f"not the tasks of {published.version}")


def _check_bounds(result: EvaluationResult) -> None:
    derived = {bound.name: bound for bound in exact_bounds(result.env_id)}
    claimed = {bound.name: bound for bound in result.bounds}
    for name, bound in derived.items():
        if name not in claimed:
            raise SubmissionError(f"result.bounds.{name}", "missing")
        _check_value(
            f"result.bounds.{name}.value", claimed[name].value, bound.value, "derived value"
        )
    scores = {score.name: score for _, score in _scores(result)}
    for index, bound in enumerate(result.bounds):
        if bound.name not in derived and bound.name in scores:
            mean = scores[bound.name].mean.value
            _check_value(
                f"result.bounds.{index}.value",
                bound.value,
                mean,
                f"mean return of the {bound.name} agent",
            )
    if "bayes" not in claimed or "random" not in scores:
        raise SubmissionError("result", "needs the bayes bound and the random agent to normalise")
    anchors = (
        ("bayes", claimed["bayes"].value, "the bayes bound"),
        ("random", scores["random"].mean.value, "mean return of the random agent"),
    )
    for name, anchor, source in anchors:
        value = result.normaliser.get(name)
        if value is None:
            raise SubmissionError(f"result.normaliser.{name}", "missing")
        _check_value(f"result.normaliser.{name}", value, anchor, source)
    if not result.normaliser["bayes"] > result.normaliser["random"]:
        raise SubmissionError("result.normaliser", "bayes must exceed random")


def _scores(result: EvaluationResult) -> Iterator[tuple[str, AgentScore]]:
    yield "result.agent", result.agent
    for group in ("baselines", "references"):
        for index, score in enumerate(getattr(result, group)):
            yield f"result.{group}.{index}", score


def _check_score(field: str, score: AgentScore, result: EvaluationResult) -> None:
    returns = np.asarray(score.returns, dtype=np.float64)
    curve = np.asarray(score.adaptation_curve, dtype=np.float64)
    for name, values in (("returns", returns), ("adaptation_curve", curve)):
        if not np.all(np.isfinite(values)):
            raise SubmissionError(f"{field}.{name}", "holds a value that is not finite")
    column = returns.reshape(-1, 1)
    mean = float(metrics.aggregate_mean(column))
    _check_estimate(f"{field}.mean", score.mean, mean)
    _check_estimate(f"{field}.iqm", score.iqm, float(metrics.aggregate_iqm(column)))
    curve_total = float(curve.sum())
    curve_tolerance = CURVE_RELATIVE_TOLERANCE * float(np.abs(curve).sum())
    if not math.isclose(
        curve_total, mean, rel_tol=CURVE_RELATIVE_TOLERANCE, abs_tol=curve_tolerance
    ):
        raise SubmissionError(
            f"{field}.adaptation_curve",
            f"sums to {curve_total}, not to the mean return {mean} of the per-task returns",
        )
    random, bayes = result.normaliser.get("random"), result.normaliser.get("bayes")
    if score.normalised_score is not None and random is not None and bayes is not None:
        expected = (mean - random) / (bayes - random)
        _check_estimate(f"{field}.normalised_score", score.normalised_score, expected)
    if score.regret is not None and bayes is not None:
        _check_estimate(f"{field}.regret", score.regret, bayes - mean)
    for baseline, probability in score.probability_of_improvement.items():
        if not 0.0 <= probability.low <= probability.value <= probability.high <= 1.0:
            raise SubmissionError(
                f"{field}.probability_of_improvement.{baseline}", "not a probability in [0, 1]"
            )


def _check_agent_intervals(result: EvaluationResult) -> None:
    if result.bootstrap_reps > MAX_BOOTSTRAP_REPS:
        raise SubmissionError(
            "result.bootstrap_reps",
            f"{result.bootstrap_reps} resamples; the board recomputes at most {MAX_BOOTSTRAP_REPS}",
        )
    returns = np.asarray(result.agent.returns, dtype=np.float64)
    for name, estimate in (("mean", mean_interval), ("iqm", iqm_interval)):
        claimed = getattr(result.agent, name)
        fresh = estimate(returns, result.bootstrap_reps, result.bootstrap_seed)
        tolerance = _tolerance(fresh.high - fresh.low) + _tolerance(fresh.value)
        for end in ("low", "high"):
            if abs(getattr(claimed, end) - getattr(fresh, end)) > tolerance:
                raise SubmissionError(
                    f"result.agent.{name}.{end}",
                    f"claims {getattr(claimed, end)} but a bootstrap of the per-task returns "
                    f"gives {getattr(fresh, end)} (tolerance {tolerance:.3g})",
                )


def _tolerance(reference: float) -> float:
    return RELATIVE_TOLERANCE * max(1.0, abs(reference))


def _check_value(field: str, claimed: float, recomputed: float, source: str) -> None:
    if not math.isfinite(claimed):
        raise SubmissionError(field, "not a finite number")
    if abs(claimed - recomputed) > _tolerance(recomputed):
        raise SubmissionError(field, f"claims {claimed}; {source}: {recomputed}")


def _check_estimate(field: str, claimed: Interval, recomputed: float) -> None:
    if not all(math.isfinite(value) for value in (claimed.value, claimed.low, claimed.high)):
        raise SubmissionError(field, "holds a value that is not finite")
    _check_value(
        f"{field}.value", claimed.value, recomputed, "recomputed from the per-task returns"
    )
    if not claimed.low <= claimed.value <= claimed.high:
        raise SubmissionError(
            field, f"interval [{claimed.low}, {claimed.high}] excludes {claimed.value}"
        )
