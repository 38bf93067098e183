"""The evaluation result: a versioned pydantic model, what ``nmn-eval`` writes and the leaderboard reads.

A result holds everything needed to check and compare a score: the package version, the
environment id and kwargs, the evaluation task set (version, content hash, seed), the seeds
played, every agent's per-task returns and adaptation curve, the bounds of the environment,
and the aggregate statistics (mean and IQM with 95% confidence intervals, normalised score,
adaptation score, regret, probability of improvement over each baseline).

``SCHEMA_VERSION`` changes whenever a field is renamed, removed or changes meaning; adding an
optional field keeps it. Read a file with :func:`load_result`. Every text field is bounded
(:data:`MAX_ID_CHARS`, :data:`MAX_LABEL_CHARS`, :data:`MAX_DESCRIPTION_CHARS`), so that a
result read from anyone stays the size of its numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SCHEMA_VERSION = "1.0"

MAX_ID_CHARS = 100
"""Characters of an environment id, a task set version or a package version."""
MAX_LABEL_CHARS = 255
"""Characters of a name (an agent's, a bound's, a key of the result's mappings): a file name's."""
MAX_DESCRIPTION_CHARS = 2000
"""Characters of a description."""

Identifier = Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)]
Label = Annotated[str, StringConstraints(max_length=MAX_LABEL_CHARS)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS)]

ADAPTATION_MIN_GAP = 0.01
"""The adaptation score is defined only where ``one - memoryless`` exceeds this share of
``one - random`` (``one``: the ceiling of :func:`ceiling`): below it, the gap left to adapt is
too small to divide by."""

CEILINGS = ("bayes", "oracle")
"""The values a normaliser's scales may take as their 1, first the one that takes precedence: the
bayes value, else (NMN-Navigation2D and the HalfCheetah tasks, which have none) the oracle told the task."""

ORACLE_CEILING = "a ceiling: no agent that must find the task reaches it"
"""What the oracle's mean return is as the 1 of a scale (for reports and pages)."""

AgentRole = Literal["agent", "baseline", "reference"]
BoundKind = Literal["exact", "reference", "ceiling"]
Ceiling = Literal["bayes", "oracle"]
CurveUnit = Literal["step", "trial"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Interval(_Frozen):
    """A point estimate with its confidence interval (95% unless ``confidence`` says otherwise)."""

    value: float
    low: float
    high: float
    confidence: float = Field(0.95, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if not self.low <= self.high:
            raise ValueError(f"interval low {self.low} exceeds high {self.high}")
        return self

    def affine(self, scale: float, shift: float) -> Interval:
        """``scale * x + shift`` of this interval (``scale`` may be negative)."""
        ends = sorted((scale * self.low + shift, scale * self.high + shift))
        return Interval(value=scale * self.value + shift, low=ends[0], high=ends[1], confidence=self.confidence)

    def on_scale(self, zero: float, one: float) -> Interval:
        """This interval on the scale ``(x - zero) / (one - zero)`` (``one`` above ``zero``)."""
        return self.affine(1.0 / (one - zero), -zero / (one - zero))


class TaskSetInfo(_Frozen):
    """The evaluation task set a result was played on.

    ``version`` names the set (``"<env_id>/v<N>"``); ``sha256`` is the hash of its canonical
    JSON (tasks and seeds), so two results with the same hash played the same tasks.
    """

    version: Identifier
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    generator_seed: int
    size: int = Field(gt=0, description="tasks in the whole set")
    n_tasks: int = Field(gt=0, description="tasks played (the first n_tasks of the set)")

    @model_validator(mode="after")
    def _within(self) -> TaskSetInfo:
        if self.n_tasks > self.size:
            raise ValueError(f"n_tasks={self.n_tasks} exceeds the task set size {self.size}")
        return self


class Bound(_Frozen):
    """An expected meta-episode return the environment is scored against.

    ``kind``: ``"exact"`` (the Bayes-optimal value, derived), ``"ceiling"`` (an oracle that is
    told the task; looser than Bayes) or ``"reference"`` (a strong but not provably optimal
    agent, such as a belief planner). ``standard_error`` is set when the value is a Monte
    Carlo estimate, ``None`` when it is computed exactly.
    """

    name: Label
    kind: BoundKind
    value: float
    standard_error: float | None = None
    description: Description = ""


class ActionSelection(_Frozen):
    """How a model agent chose its actions, so that a re-run replays exactly that.

    ``mode``: ``"mean"`` (the policy's deterministic action) or ``"sampled"`` (drawn from the
    policy's distribution with torch's generator, seeded with ``torch_seed`` before each batch
    of meta-episodes).
    """

    mode: Literal["mean", "sampled"]
    torch_seed: int | None = None

    @model_validator(mode="after")
    def _seeded(self) -> ActionSelection:
        if (self.mode == "sampled") != (self.torch_seed is not None):
            raise ValueError("torch_seed is set exactly when actions are sampled")
        return self


class AgentScore(_Frozen):
    """One agent's play of the task set and its aggregate statistics.

    ``returns[i]`` is the meta-episode return on task ``i`` of the set. ``adaptation_curve[t]``
    is the mean over tasks of the reward at step (or trial) ``t``. ``normalised_score`` is
    ``(agent - random) / (one - random)``, ``adaptation_score`` is
    ``(agent - memoryless) / (one - memoryless)``, with ``one`` the bayes value, or the oracle's
    where the environment has none (see :func:`ceiling` and :func:`adaptation_anchors`; ``None``
    where it is not defined, and in results written before it existed), and ``regret`` is
    ``bayes - agent`` (``None`` without a bayes value), all on the mean return;
    ``probability_of_improvement`` maps a baseline's name to ``P(agent > baseline)``.
    ``actions`` says how a model agent chose its actions (``None`` for agents that choose their
    own way: reference agents, callables).
    """

    name: Label
    role: AgentRole
    description: Description = ""
    actions: ActionSelection | None = None
    returns: list[float]
    adaptation_curve: list[float]
    curve_unit: CurveUnit
    mean: Interval
    iqm: Interval
    normalised_score: Interval | None = None
    adaptation_score: Interval | None = Field(
        None,
        description=(
            "(agent - memoryless) / (one - memoryless) on the mean return: 0 for the best"
            " policy that ignores all feedback, 1 for the bayes value (one), or the oracle's where"
            " the environment has none"
        ),
    )
    regret: Interval | None = None
    probability_of_improvement: dict[Label, Interval] = Field(default_factory=dict)
    team_normalised_score: Interval | None = Field(
        None, description="teams only: (agent - random) / (team_bayes - random), per agent"
    )
    social_gain: Interval | None = Field(
        None,
        description=(
            "teams only: mean over tasks of the per-agent team return minus the return of the"
            " result's `alone` agent playing the same task by itself"
        ),
    )
    trial_gains: list[Interval] | None = Field(
        None,
        description=(
            "tasks played in trials (the result's trials_per_task): for each trial after the"
            " first, the mean over tasks of its return minus the first trial's"
        ),
    )


class GeneralisationGap(_Frozen):
    """An agent's score on the registered distribution minus its score on a shift, with 95% CIs.

    Each score is taken against its own distribution's bounds; the two task sets are
    independent, so each is resampled on its own by the bootstrap (same reps and seed as the
    result's other intervals). ``None`` where a score is not defined on either side.
    """

    agent: str = Field(max_length=255)
    in_distribution_task_set: TaskSetInfo
    normalised: Interval | None = None
    adaptation: Interval | None = None
    normalised_to: Ceiling = Field(
        default="bayes",
        description="the 1 of the normalised scale: the bayes value, or the oracle ceiling where the"
        " environment has none (its 0 is the random agent's mean return)",
    )


class ShiftInfo(_Frozen):
    """The shift of the task distribution a result was played on (:mod:`evaluate.shifts`).

    ``kwargs`` are the env kwargs that make it (also in the result's ``env_kwargs``); its task
    set (version and hash) is the result's ``task_set``.
    """

    name: str = Field(max_length=255)
    kwargs: dict[str, Any]
    generalisation_gap: GeneralisationGap | None = None


class EvaluationResult(_Frozen):
    """A complete, self-describing evaluation of one agent on one environment."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    package_version: Identifier
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    env_id: Identifier
    env_kwargs: dict[Label, Any] = Field(default_factory=dict)
    max_episode_steps: int = Field(gt=0)
    task_set: TaskSetInfo
    seeds: list[int]
    tasks: list[dict[Label, float | int]]
    agent: AgentScore
    baselines: list[AgentScore] = Field(default_factory=list)
    references: list[AgentScore] = Field(default_factory=list)
    bounds: list[Bound] = Field(default_factory=list)
    normaliser: dict[Label, float] = Field(
        default_factory=dict,
        description=(
            'the "random" value and the "bayes" value (or, where the environment has none, the'
            ' "oracle" value) that the normalised score uses, and the "memoryless" value the'
            " adaptation score uses"
        ),
    )
    bootstrap_reps: int = Field(gt=0)
    bootstrap_seed: int = Field(
        default=0, ge=0, description="seed of every bootstrap, so that the intervals reproduce"
    )
    num_agents: int = Field(
        default=1,
        ge=1,
        description=(
            "agents per task who see each other (nmn_envs.multiagent); with more than one, every"
            " return is a team's mean per agent"
        ),
    )
    alone: Label | None = Field(
        default=None, description="teams only: the single agent each social gain is measured against"
    )
    shift: ShiftInfo | None = Field(
        default=None, description="the named shift of the task distribution played, if any"
    )
    trials_per_task: int | None = Field(
        default=None,
        ge=1,
        description=(
            "tasks played in trials: the trials of each meta-episode, the budget of an agent that"
            " adapts by gradient steps (it learns from the first trials_per_task - 1)"
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> EvaluationResult:
        n = self.task_set.n_tasks
        if len(self.seeds) != n or len(self.tasks) != n:
            raise ValueError(f"seeds and tasks must have n_tasks={n} entries")
        for score in (self.agent, *self.baselines, *self.references):
            if len(score.returns) != n:
                raise ValueError(f"{score.name}: {len(score.returns)} returns for {n} tasks")
        return self

    def score(self, name: str) -> AgentScore:
        """The agent, baseline or reference called ``name``."""
        for score in (self.agent, *self.baselines, *self.references):
            if score.name == name:
                return score
        raise KeyError(f"no agent called {name!r} in this result")

    def normalised(self, interval: Interval) -> Interval | None:
        """``interval`` on the scale ``(x - random) / (one - random)`` of :attr:`normaliser`
        (``None`` where :func:`normalised_anchors` finds none)."""
        anchors = normalised_anchors(self.normaliser)
        return None if anchors is None else interval.on_scale(*anchors)

    def adaptation(self, interval: Interval) -> Interval | None:
        """``interval`` on the scale ``(x - memoryless) / (one - memoryless)`` of
        :attr:`normaliser` (``None`` where :func:`adaptation_anchors` finds none)."""
        anchors = adaptation_anchors(self.normaliser)
        return None if anchors is None else interval.on_scale(*anchors)

    def bound(self, name: str) -> Bound:
        """The bound called ``name``."""
        for bound in self.bounds:
            if bound.name == name:
                return bound
        raise KeyError(f"no bound called {name!r}; have {[b.name for b in self.bounds]}")


def ceiling(normaliser: Mapping[str, float]) -> tuple[Ceiling, float] | None:
    """The name and value of the 1 of a normaliser's scales, or ``None`` where it has neither.

    The bayes value takes precedence (it is the bound an agent that must find the task can
    reach); a normaliser without one (NMN-Navigation2D, the HalfCheetah tasks) has the oracle's mean return, a ceiling
    no such agent reaches.
    """
    return next(((name, normaliser[name]) for name in CEILINGS if name in normaliser), None)


def normalised_anchors(normaliser: Mapping[str, float]) -> tuple[float, float] | None:
    """The ``(random, one)`` values the normalised score maps to 0 and 1, or ``None``.

    ``one`` is the value of :func:`ceiling`; ``None`` without a random value or a ceiling, or
    where the ceiling does not lie above the random agent's mean return.
    """
    random, top = normaliser.get("random"), ceiling(normaliser)
    if random is None or top is None or not top[1] > random:
        return None
    return random, top[1]


def adaptation_anchors(normaliser: Mapping[str, float]) -> tuple[float, float] | None:
    """The ``(memoryless, one)`` values the adaptation score maps to 0 and 1, or ``None``.

    ``one`` is the 1 of the normalised scale (:func:`normalised_anchors`). ``None`` without a
    memoryless value or a normalised scale, or where ``one - memoryless`` is not clearly
    positive (at most :data:`ADAPTATION_MIN_GAP` of ``one - random``): the score is then not
    defined, rather than a ratio of noise. Where the memoryless agent plays at chance (its
    value is the random agent's) the adaptation score is the normalised score, up to Monte
    Carlo error.
    """
    scale, memoryless = normalised_anchors(normaliser), normaliser.get("memoryless")
    if scale is None or memoryless is None:
        return None
    random, one = scale
    if not one - memoryless > ADAPTATION_MIN_GAP * (one - random):
        return None
    return memoryless, one


def adaptation_scale(normaliser: Mapping[str, float]) -> str:
    """What 0 and 1 mean on the adaptation scale of a result's ``normaliser`` (for reports and pages)."""
    anchors, top = adaptation_anchors(normaliser), ceiling(normaliser)
    if anchors is not None:
        memoryless, one = anchors
        meaning = (
            f"the bayes value ({one:.2f})"
            if top[0] == "bayes"
            else f"the oracle told the task ({one:.2f}), {ORACLE_CEILING}"
        )
        return (
            f"(mean - memoryless) / ({top[0]} - memoryless): 0 = the best policy that ignores all "
            f"feedback ({memoryless:.2f}), 1 = {meaning}"
        )
    if "memoryless" not in normaliser or normalised_anchors(normaliser) is None:
        return "not defined: this environment has no memoryless reference or no bayes or oracle value"
    memoryless, one = normaliser["memoryless"], top[1]
    where = (
        f"scores above the {top[0]} value ({memoryless:.2f} against {one:.2f})"
        if memoryless >= one
        else f"comes within {ADAPTATION_MIN_GAP:.0%} of the {top[0]} value"
    )
    return f"not defined: the best policy that ignores all feedback {where}, leaving nothing to measure adaptation by"


def normalised_scale(normaliser: Mapping[str, float], bounds: Sequence[Bound]) -> str:
    """What 0 and 1 mean on the normalised scale of a result's ``normaliser`` and ``bounds`` (for
    reports and pages).

    1 is the value of :func:`ceiling`: the ``bayes`` value, the Bayes-optimal bound where it is
    exact, else (NMN-Bench2/3) the mean return of the ``bayes`` reference agent, a belief
    planner, which an agent may beat; or, where the environment has no bayes value
    (NMN-Navigation2D, the HalfCheetah tasks), the mean return of the oracle told the task, a ceiling.
    """
    if normalised_anchors(normaliser) is None:
        return "no normalised scale: this environment has no bayes or oracle value above random play"
    name, one = ceiling(normaliser)
    zero = "0 = the random agent's mean return"
    if name == "oracle":
        return f"{zero}, 1 = the oracle told the task ({one:.2f}), {ORACLE_CEILING}"
    bayes = next((bound for bound in bounds if bound.name == "bayes"), None)
    if bayes is not None and bayes.kind == "exact":
        return f"{zero}, 1 = the Bayes-optimal bound ({one:.2f}, exact)"
    how = "" if bayes is None else f"; {bayes.description or bayes.kind}"
    return (
        f"{zero}, 1 = the mean return of the bayes reference agent ({one:.2f}{how}): a reference, "
        "not the Bayes-optimal bound, so scores above 1 are possible"
    )


def load_result(path: str | Path) -> EvaluationResult:
    """Read and validate a ``result.json``."""
    return EvaluationResult.model_validate_json(Path(path).read_text())


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`EvaluationResult` (for tools outside Python)."""
    return EvaluationResult.model_json_schema()
