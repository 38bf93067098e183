"""Checks a submission must pass before it is stored; what is stored is rebuilt by the board.

The board takes only the submitted agent's per-task returns and adaptation curve from a
submission; its references, bounds and normaliser are the board's own
(:mod:`leaderboard.references`). A submission is refused, with a
:class:`~leaderboard.submission.SubmissionError` naming the field and the reason, unless:

- its environment id is one of the suite's and its kwargs are the registered configuration
  (the board ranks one configuration per id; other kwargs would change what is scored), played
  by one agent per task (team results, ``num_agents > 1``, are scored against other bounds),
  with none of the team results' fields (``alone``, ``team_normalised_score``,
  ``social_gain``);
- a result played on a shift (``result.shift``) names one of the environment's shifts
  (:mod:`evaluate.shifts`) with exactly its kwargs, on top of the registered configuration; it
  is checked and stored on that shift's track, against the board's references of the shift;
- its task set is the current published set of its track (the environment's, or the shift's:
  version, generator seed, hash, size), played in full, and its tasks and seeds are exactly
  that set's;
- it carries no mark of a board play (``played``: only the board's own plays of submitted
  models have one);
- its agent has the role ``agent`` (reference rows are the board's own) and a card name with
  no invisible characters that does not read as a reference agent's or a zoo agent's (names
  are compared in the form :func:`~leaderboard.submission.name_key` gives them: ``b\u0430yes``
  with a Cyrillic ``a``, or a fullwidth ``ｂａｙｅｓ``, is ``bayes``);
- every per-task return lies in the environment's attainable range (per-step reward range
  times the steps of a meta-episode), the adaptation curve has the board's length and
  attainable values and sums to the mean return, and the returns are not a reference
  agent's own;
- the agent's mean and IQM equal those recomputed from its returns, its normalised score,
  adaptation score and regret follow from them and the board's normaliser (to the bayes value,
  or the oracle's where the environment has none; an adaptation score is refused where the
  board defines none, a regret where it has no bayes value), and its confidence intervals equal a
  fresh stratified bootstrap (rliable, through :mod:`evaluate.stats`) with the result's own
  ``bootstrap_reps`` and ``bootstrap_seed`` (at most :data:`MAX_BOOTSTRAP_REPS` resamples);
- whatever it claims of the references, bounds and normaliser equals the board's own values
  (a faked reference is refused, not just ignored).

:func:`validate` returns the submission to store: the agent's score (named after its card,
its probabilities of improvement over unchecked baselines and its generalisation gap (the board
holds one track's returns, not the other's) dropped, its mean and IQM intervals
the board's own bootstrap, its normalised score, adaptation score and regret re-derived from
that mean and the board's normaliser, also where a result written before the adaptation score
existed has none) with the board's references, bounds and normaliser: every number stored is
one the board computed or compared. Text is bounded by the schema
(:mod:`evaluate.schema`) and the card (:class:`~leaderboard.submission.AgentCard`). Nothing in
a submission is executed or unpickled: it is JSON validated by pydantic.
"""

from __future__ import annotations

import functools
import math

import gymnasium as gym
import numpy as np
from rliable import metrics

from evaluate.schema import EvaluationResult, Interval, ShiftInfo, adaptation_anchors, normalised_anchors
from evaluate.shifts import get_shift
from evaluate.stats import iqm_interval, mean_interval
from evaluate.task_sets import SET_SIZE, TaskSet, evaluation_kwargs, shift_task_set, task_set
from nmn_envs import check_env_id
from leaderboard.references import BoardReferences, board_references
from leaderboard.submission import (
    RESERVED_NAMES,
    Submission,
    SubmissionError,
    invisible_characters,
    make_card,
    name_key,
    parse_submission_json,
)
from training import zoo

MAX_SUBMISSION_BYTES = 8 * 2**20
# Recomputed statistics must match to this relative precision (float64 arithmetic, JSON round trip).
RELATIVE_TOLERANCE = 1e-9
# The adaptation curve sums thousands of per-step means; allow for their rounding.
CURVE_RELATIVE_TOLERANCE = 1e-6
# The submitted agent's intervals are re-estimated with the result's own bootstrap settings;
# this caps the work one submission can ask of the server.
MAX_BOOTSTRAP_REPS = 10_000
# A refusal quotes at most this many characters of a submitted value.
MAX_QUOTED_CHARS = 80


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
    """The submission to store, if every check of the module docstring passes.

    Raises:
        SubmissionError: the first failed check, naming the field and the reason.
    """
    if submission.played is not None:
        raise SubmissionError(
            "played",
            "only the board marks an entry as played by itself; submit the model "
            "(nmn-leaderboard submit-model) to have it played",
        )
    result = submission.result
    _check_environment(result)
    shift = track_shift(result)
    _check_task_set(result, published_task_set(result.env_id, shift))
    _check_agent(submission)
    try:
        board = board_references(result.env_id, shift=shift)
    except ValueError as error:
        raise SubmissionError("result.env_id", str(error)) from None
    _check_attainable(result, board)
    _check_agent_statistics(result, board)
    mean, iqm = _check_agent_intervals(result)
    _check_claims(result, board)
    return _rebuilt(submission, board, mean, iqm)


@functools.cache
def published_task_set(env_id: str, shift: str | None = None) -> TaskSet:
    """The current published task set of ``env_id``'s main track, or of its shift ``shift``'s
    (generated once per process)."""
    return task_set(env_id) if shift is None else shift_task_set(get_shift(env_id, shift))


def track_shift(result: EvaluationResult) -> str | None:
    """The shift whose track ``result`` belongs to (``None``: the main track)."""
    return None if result.shift is None else result.shift.name


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
    team_fields = {
        "result.alone": result.alone,
        "result.agent.team_normalised_score": result.agent.team_normalised_score,
        "result.agent.social_gain": result.agent.social_gain,
    }
    for field, value in team_fields.items():
        if value is not None:
            raise SubmissionError(
                field, "teams only (num_agents > 1): a single agent's result has none"
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
    if result.shift is not None:
        try:
            shift = get_shift(result.env_id, result.shift.name)
        except ValueError as error:
            raise SubmissionError("result.shift.name", str(error)) from None
        if result.shift.kwargs != shift.env_kwargs():
            raise SubmissionError(
                "result.shift.kwargs",
                f"{_quoted(result.shift.kwargs)} are not the kwargs {shift.env_kwargs()} of the shift"
                f" {shift.name!r}",
            )
        registered.update(shift.env_kwargs())
    # Compared, never passed to the environment: submitted kwargs are not run on the server.
    for name, value in result.env_kwargs.items():
        if name not in registered or registered[name] != value:
            raise SubmissionError(
                f"result.env_kwargs.{name}",
                f"{_quoted(value)} is not the registered configuration of {result.env_id} "
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


def _check_agent(submission: Submission) -> None:
    agent = submission.result.agent
    if agent.role != "agent":
        raise SubmissionError(
            "result.agent.role",
            f"{agent.role!r}: a submission's agent has the role 'agent'; the board computes its "
            "reference agents itself",
        )
    check_agent_name(submission.card.name)
    try:
        make_card(name=agent.name, description=agent.description)
    except SubmissionError as error:
        raise SubmissionError(f"result.agent.{error.field.split('.')[-1]}", error.reason) from None


def check_agent_name(name: str) -> None:
    """Refuse a card name with invisible characters or one that reads as a reference agent's
    or a zoo agent's (see the module docstring).

    Raises:
        SubmissionError: for the field ``card.name``, with the reason.
    """
    hidden = invisible_characters(name)
    if hidden:
        raise SubmissionError(
            "card.name",
            f"holds invisible characters ({', '.join(hidden)}): a name shows every character "
            "it has; type it without them",
        )
    key = name_key(name)
    spoofed = next((own for own in RESERVED_NAMES if name_key(own) == key), None)
    if spoofed is not None or key.startswith(name_key(zoo.PREFIX)):
        what = (
            f"the board's reference agent {spoofed!r}"
            if spoofed is not None
            else f"the board's zoo agents ({zoo.PREFIX}...)"
        )
        raise SubmissionError(
            "card.name",
            f"{name!r} looks like {what}; the board's reference agents "
            f"{list(RESERVED_NAMES)} and zoo agents are its own rows: give your agent its own "
            "name (--name)",
        )


def _check_attainable(result: EvaluationResult, board: BoardReferences) -> None:
    agent = result.agent
    returns = np.asarray(agent.returns, dtype=np.float64)
    curve = np.asarray(agent.adaptation_curve, dtype=np.float64)
    for name, values in (("returns", returns), ("adaptation_curve", curve)):
        if not np.all(np.isfinite(values)):
            raise SubmissionError(f"result.agent.{name}", "holds a value that is not finite")
    low, high = board.return_range
    step_low, step_high = board.step_reward_range
    outside = np.flatnonzero((returns < low) | (returns > high))
    if outside.size:
        index = int(outside[0])
        raise SubmissionError(
            f"result.agent.returns.{index}",
            f"{returns[index]} is outside the attainable range [{low}, {high}] of a "
            f"{result.env_id} meta-episode ({board.steps} steps of rewards in "
            f"[{step_low}, {step_high}])",
        )
    expected = board.result.agent
    if agent.curve_unit != expected.curve_unit or len(curve) != board.curve_length:
        raise SubmissionError(
            "result.agent.adaptation_curve",
            f"{len(curve)} entries per {agent.curve_unit}; {result.env_id} has "
            f"{board.curve_length} per {expected.curve_unit}",
        )
    curve_low, curve_high = board.curve_range()
    outside = np.flatnonzero((curve < curve_low) | (curve > curve_high))
    if outside.size:
        index = int(outside[0])
        raise SubmissionError(
            f"result.agent.adaptation_curve.{index}",
            f"{curve[index]} is outside the attainable range [{curve_low}, {curve_high}]",
        )
    for name, score in board.scores.items():
        if np.array_equal(returns, np.asarray(score.returns, dtype=np.float64)):
            raise SubmissionError(
                "result.agent.returns", f"the board's own {name} agent's returns, not an agent's"
            )


def _check_claims(result: EvaluationResult, board: BoardReferences) -> None:
    """What a submission says about references, bounds and normaliser must be the board's."""
    for index, claimed in enumerate(result.references):
        field = f"result.references.{index}"
        own = board.scores.get(claimed.name)
        if own is None:
            raise SubmissionError(
                f"{field}.name", f"{claimed.name!r} is not a reference agent {sorted(board.scores)}"
            )
        source = f"the board's own {claimed.name} agent"
        if claimed.returns != own.returns:
            first = next(i for i, (a, b) in enumerate(zip(claimed.returns, own.returns)) if a != b)
            raise SubmissionError(
                f"{field}.returns.{first}",
                f"claims {claimed.returns[first]}; {source}: {own.returns[first]}",
            )
        for statistic in ("mean", "iqm"):
            _check_value(
                f"{field}.{statistic}.value",
                getattr(claimed, statistic).value,
                getattr(own, statistic).value,
                source,
            )
    own_bounds = {bound.name: bound for bound in board.bounds}
    for bound in result.bounds:
        own_bound = own_bounds.get(bound.name)
        if own_bound is None:
            raise SubmissionError(
                f"result.bounds.{bound.name}",
                f"not a bound of {result.env_id} {sorted(own_bounds)}",
            )
        _check_value(
            f"result.bounds.{bound.name}.value",
            bound.value,
            own_bound.value,
            "the board's derived value",
        )
        if bound.standard_error is not None and not math.isfinite(bound.standard_error):
            raise SubmissionError(
                f"result.bounds.{bound.name}.standard_error", "not a finite number"
            )
    for name, value in result.normaliser.items():
        own_value = board.normaliser.get(name)
        if own_value is None:
            raise SubmissionError(
                f"result.normaliser.{name}",
                f"not an anchor of the board's normaliser {sorted(board.normaliser)}",
            )
        _check_value(f"result.normaliser.{name}", value, own_value, f"the board's {name} anchor")


def _check_agent_statistics(result: EvaluationResult, board: BoardReferences) -> None:
    agent = result.agent
    column = np.asarray(agent.returns, dtype=np.float64).reshape(-1, 1)
    mean = float(metrics.aggregate_mean(column))
    _check_estimate("result.agent.mean", agent.mean, mean)
    _check_estimate("result.agent.iqm", agent.iqm, float(metrics.aggregate_iqm(column)))
    curve = np.asarray(agent.adaptation_curve, dtype=np.float64)
    curve_total = float(curve.sum())
    curve_tolerance = CURVE_RELATIVE_TOLERANCE * float(np.abs(curve).sum())
    if not math.isclose(
        curve_total, mean, rel_tol=CURVE_RELATIVE_TOLERANCE, abs_tol=curve_tolerance
    ):
        raise SubmissionError(
            "result.agent.adaptation_curve",
            f"sums to {curve_total}, not to the mean return {mean} of the per-task returns",
        )
    random, one = normalised_anchors(board.normaliser)
    if agent.normalised_score is not None:
        expected = (mean - random) / (one - random)
        _check_estimate("result.agent.normalised_score", agent.normalised_score, expected)
    if agent.regret is not None:
        if "bayes" not in board.normaliser:
            raise SubmissionError(
                "result.agent.regret", f"{result.env_id} has no bayes value to take a regret to"
            )
        _check_estimate("result.agent.regret", agent.regret, board.normaliser["bayes"] - mean)
    if agent.adaptation_score is not None:
        anchors = adaptation_anchors(board.normaliser)
        if anchors is None:
            raise SubmissionError(
                "result.agent.adaptation_score",
                f"{result.env_id} has no adaptation score on the board (no memoryless reference, "
                "or one too close to the bayes or oracle value)",
            )
        memoryless, one = anchors
        expected = (mean - memoryless) / (one - memoryless)
        _check_estimate("result.agent.adaptation_score", agent.adaptation_score, expected)


def _rebuilt(
    submission: Submission, board: BoardReferences, mean: Interval, iqm: Interval
) -> Submission:
    """The submission as stored: the agent's statistics from the board's bootstrap (``mean``,
    ``iqm``) and normaliser, the board's references, bounds and normaliser."""
    result = submission.result
    anchors = adaptation_anchors(board.normaliser)
    bayes = board.normaliser.get("bayes")
    agent = result.agent.model_copy(
        update={
            "name": submission.card.name,
            "mean": mean,
            "iqm": iqm,
            "normalised_score": mean.on_scale(*normalised_anchors(board.normaliser)),
            "regret": None if bayes is None else mean.affine(-1.0, bayes),
            "probability_of_improvement": {},
            "adaptation_score": None if anchors is None else mean.on_scale(*anchors),
        }
    )
    stored = result.model_copy(
        update={
            "shift": None if result.shift is None else ShiftInfo(name=result.shift.name, kwargs=result.shift.kwargs),
            "agent": agent,
            "baselines": [],
            "references": list(board.scores.values()),
            "bounds": list(board.bounds),
            "normaliser": dict(board.normaliser),
        }
    )
    return Submission(
        card=submission.card, result=EvaluationResult.model_validate(stored.model_dump())
    )


def _check_agent_intervals(result: EvaluationResult) -> tuple[Interval, Interval]:
    """The board's own mean and IQM intervals, if the claimed ones match them."""
    if result.bootstrap_reps > MAX_BOOTSTRAP_REPS:
        raise SubmissionError(
            "result.bootstrap_reps",
            f"{result.bootstrap_reps} resamples; the board recomputes at most {MAX_BOOTSTRAP_REPS}",
        )
    returns = np.asarray(result.agent.returns, dtype=np.float64)
    intervals = []
    for name, estimate in (("mean", mean_interval), ("iqm", iqm_interval)):
        claimed = getattr(result.agent, name)
        fresh = estimate(returns, result.bootstrap_reps, result.bootstrap_seed)
        intervals.append(fresh)
        tolerance = _tolerance(fresh.high - fresh.low) + _tolerance(fresh.value)
        for end in ("low", "high"):
            if abs(getattr(claimed, end) - getattr(fresh, end)) > tolerance:
                raise SubmissionError(
                    f"result.agent.{name}.{end}",
                    f"claims {getattr(claimed, end)} but a bootstrap of the per-task returns "
                    f"gives {getattr(fresh, end)} (tolerance {tolerance:.3g})",
                )
    mean, iqm = intervals
    return mean, iqm


def _quoted(value: object) -> str:
    """``repr(value)``, cut to :data:`MAX_QUOTED_CHARS` characters."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else f"{text[:MAX_QUOTED_CHARS]}... ({len(text)} characters)"


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
