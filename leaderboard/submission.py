"""A leaderboard submission: a harness result plus who made the agent, as a versioned pydantic model.

A submission is what ``nmn-leaderboard submit`` and ``POST /api/submissions`` take. It wraps
the :class:`~evaluate.schema.EvaluationResult` that ``nmn-eval`` writes with an
:class:`AgentCard` (name, authors, a code or paper URL, a short description). Its
:meth:`Submission.content_hash` is the SHA-256 of its canonical JSON, so the same submission
sent twice is recognised and refused.

``SUBMISSION_VERSION`` changes whenever a field is renamed, removed or changes meaning.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from evaluate.schema import EvaluationResult, Interval

SUBMISSION_VERSION = "1"

# Limits on user text: enough for any honest use, small enough to keep pages and rows bounded.
MAX_NAME_CHARS = 80
MAX_AUTHORS = 20
MAX_DESCRIPTION_CHARS = 2000


class SubmissionError(ValueError):
    """A submission that is refused; ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AgentCard(BaseModel):
    """Who made the agent and where to read about it (shown on the board, HTML-escaped)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    authors: list[str] = Field(default_factory=list, max_length=MAX_AUTHORS)
    url: AnyHttpUrl | None = Field(None, description="code or paper (http or https)")
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)

    @field_validator("authors")
    @classmethod
    def _author_names(cls, authors: list[str]) -> list[str]:
        cleaned = [author.strip() for author in authors]
        for author in cleaned:
            if not 0 < len(author) <= MAX_NAME_CHARS:
                raise ValueError(f"each author needs 1 to {MAX_NAME_CHARS} characters")
        return cleaned


class Submission(BaseModel):
    """A harness result and the card of the agent that produced it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission_version: Literal["1"] = SUBMISSION_VERSION
    card: AgentCard
    result: EvaluationResult

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys, no spaces) of the whole submission."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def normalised_iqm(self) -> Interval:
        """The agent's IQM and its CI on the normalised scale (see :func:`normalise`)."""
        return normalise(self.result.agent.iqm, self.result.normaliser)


def normalise(interval: Interval, normaliser: dict[str, float]) -> Interval:
    """``interval`` on the scale ``(x - random) / (bayes - random)`` of a result's normaliser.

    Raises:
        SubmissionError: the normaliser lacks ``random`` or ``bayes``, or they do not span a
            positive range.
    """
    for name in ("random", "bayes"):
        if name not in normaliser:
            raise SubmissionError(f"result.normaliser.{name}", "missing")
    random, bayes = normaliser["random"], normaliser["bayes"]
    if not bayes > random:
        raise SubmissionError("result.normaliser", f"bayes ({bayes}) must exceed random ({random})")
    scale = bayes - random
    return Interval(
        value=(interval.value - random) / scale,
        low=(interval.low - random) / scale,
        high=(interval.high - random) / scale,
        confidence=interval.confidence,
    )


def make_card(**fields: Any) -> AgentCard:
    """An :class:`AgentCard` from its fields; an invalid one is a :class:`SubmissionError`."""
    try:
        return AgentCard(**fields)
    except ValidationError as error:
        raise _first_error(error, "card") from None


def parse_submission(document: Any) -> Submission:
    """A :class:`Submission` from decoded JSON: a full submission, or a bare harness result.

    A bare ``result.json`` gets a card named after the result's agent.

    Raises:
        SubmissionError: naming the first invalid field and why it is invalid.
    """
    if not isinstance(document, dict):
        raise SubmissionError("(document)", "expected a JSON object")
    try:
        if "result" in document:
            return Submission.model_validate(document)
        result = EvaluationResult.model_validate(document)
    except ValidationError as error:
        raise _first_error(error) from None
    return Submission(card=make_card(name=result.agent.name), result=result)


def parse_submission_json(text: str | bytes) -> Submission:
    """:func:`parse_submission` of JSON text; malformed JSON is a :class:`SubmissionError`."""
    try:
        document = json.loads(text, parse_constant=_refuse_non_finite)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SubmissionError("(document)", f"not valid JSON: {error}") from None
    except RecursionError:
        raise SubmissionError("(document)", "JSON nested too deeply") from None
    return parse_submission(document)


def _refuse_non_finite(constant: str) -> float:
    raise SubmissionError("(document)", f"{constant} is not a number JSON allows")


def _first_error(error: ValidationError, prefix: str = "") -> SubmissionError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "") or "(document)"
    return SubmissionError(field, first["msg"])
