"""A leaderboard submission: a harness result plus who made the agent, as a versioned pydantic model.

A submission is what ``nmn-leaderboard submit`` and ``POST /api/submissions`` take. It wraps
the :class:`~evaluate.schema.EvaluationResult` that ``nmn-eval`` writes with an
:class:`AgentCard` (name, authors, a code or paper URL, a short description). Its
:meth:`Submission.content_hash` is the SHA-256 of the agent's per-task returns and the task
set they were played on, so the same returns sent again (re-dated, renamed, under another
author) are recognised and refused.

Card text is checked at the door with the rules every page and the terminal display by: names
of 1 to 80 characters, descriptions up to 2000, URLs up to 2083, no control characters (NUL,
escape sequences) anywhere but the line breaks and tabs of a description. Bidirectional-text
marks are kept in authors and descriptions (pages isolate them and the terminal shows them
escaped, :func:`for_terminal`); the board refuses invisible characters in an agent's name
(:func:`invisible_characters`) and compares names in the form :func:`name_key` gives them, so
that no name passes for a reference agent's by hidden or look-alike characters.

A submission the board made itself by playing a submitted model (:mod:`leaderboard.worker`) is
marked with a :class:`BoardPlay`: which job played it, the model file's hash, and the agent's
score on the board's private task set; a result file cannot carry one (it is "self-reported").

``SUBMISSION_VERSION`` changes whenever a field is renamed, removed or changes meaning.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
)

from evaluate.schema import EvaluationResult, Interval, ceiling, normalised_anchors

SUBMISSION_VERSION = "1"

# Limits on user text: enough for any honest use, small enough to keep pages and rows bounded.
MAX_NAME_CHARS = 80
MAX_AUTHORS = 20
MAX_DESCRIPTION_CHARS = 2000
RESERVED_NAMES = ("random", "oracle", "bayes", "memoryless")
"""Names of the board's own reference agents, which no submission may take."""

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Default-ignorable code points (Unicode's DerivedCoreProperties) that are not format
# characters (category Cf): drawn as nothing, so they hide inside a name like a zero-width space.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
# Latin letters and digits that pass for one another in most fonts (Unicode's confusables map
# them to one prototype too): ``0racle`` and ``memoryIess`` read as the reference names.
_ASCII_LOOK_ALIKES = str.maketrans({"0": "o", "1": "l", "I": "l", "|": "l"})
_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
"""Unicode's name of a small capital (``ᴀ``, ``ʙ``, ...): it reads as its Latin letter, but
NFKC keeps it and the confusables map several of them to Cyrillic or Cherokee letters."""
_ASCII_ALPHANUMERIC = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
RETURN_RELATIVE_TOLERANCE = 1e-9
"""Per-task returns that agree to this share of ``max(1, |return|)`` are the same result.

A return sums a meta-episode's float64 rewards (1400 steps on NMN-Bench1), so the same agent
re-run with another summation order or math library differs in the last digits (about
``steps x 2e-16`` of the sum); a margin of thousands above that still lies far below any
difference two agents make on a task."""


def _is_control(character: str) -> bool:
    return unicodedata.category(character) == "Cc"


def _check_text(text: str, what: str, allowed: str = "") -> str:
    bad = sorted(
        {character for character in text if _is_control(character) and character not in allowed}
    )
    if bad:
        shown = ", ".join(f"U+{ord(character):04X}" for character in bad)
        raise ValueError(f"{what} holds control characters ({shown})")
    return text


def _is_invisible(character: str) -> bool:
    code = ord(character)
    return unicodedata.category(character) == "Cf" or any(
        low <= code <= high for low, high in _IGNORABLE_RANGES
    )


def invisible_characters(text: str) -> list[str]:
    """The invisible characters of ``text`` as ``U+`` code points, sorted: format characters
    (category Cf: zero-width spaces and joiners, soft hyphens, bidirectional controls, byte
    order marks) and the other default-ignorable code points (variation selectors, ...)."""
    return [f"U+{ord(c):04X}" for c in sorted({c for c in text if _is_invisible(c)})]


def name_key(name: str) -> str:
    """``name`` in the form names are compared in: two names with the same key read alike.

    NFKC-normalised (fullwidth and mathematical letters become plain ones), invisible
    characters removed (:func:`invisible_characters`), small capitals (``ʙᴀʏᴇꜱ``) mapped to
    their letters, each letter that Unicode's confusables list as a homoglyph of a Latin
    letter or digit (Cyrillic ``а``, Greek ``ο``, ...) mapped to it, Latin look-alikes (``0``/``o``, ``1``/``I``/``l``) to one, then case-folded.
    """
    from confusable_homoglyphs.confusables import confusables_data

    def latin(character: str) -> str:
        if character in _ASCII_ALPHANUMERIC:
            return character
        if small_capital := _SMALL_CAPITAL.fullmatch(unicodedata.name(character, "")):
            return small_capital.group(1).lower()
        for homoglyph in confusables_data.get(character, ()):
            if homoglyph["c"] in _ASCII_ALPHANUMERIC:
                return homoglyph["c"]
        return character

    visible = "".join(c for c in unicodedata.normalize("NFKC", name) if not _is_invisible(c))
    skeleton = "".join(latin(character) for character in visible)
    return unicodedata.normalize("NFKC", skeleton.translate(_ASCII_LOOK_ALIKES).casefold())


def same_returns(returns: Sequence[float], others: Sequence[float]) -> bool:
    """Whether two lists of per-task returns are the same up to :data:`RETURN_RELATIVE_TOLERANCE`."""
    first, second = np.asarray(returns, np.float64), np.asarray(others, np.float64)
    if first.shape != second.shape:
        return False
    scale = np.maximum(1.0, np.maximum(np.abs(first), np.abs(second)))
    return bool(np.all(np.abs(first - second) <= RETURN_RELATIVE_TOLERANCE * scale))


def printable(text: str) -> str:
    """``text`` with control characters (NUL, escape, ...) shown as ``\\u`` and four hex digits."""
    return "".join(
        f"\\u{ord(character):04x}" if _is_control(character) else character for character in text
    )


def for_terminal(text: str) -> str:
    """``text`` safe to print: control and bidirectional characters shown as ``\\u`` and four hex digits.

    The stored text is unchanged; only what reaches a terminal is escaped, so that no name can
    move the cursor, recolour the screen or reorder the characters around it.
    """
    return "".join(
        (
            f"\\u{ord(character):04x}"
            if _is_control(character) or character in _BIDI_CONTROLS
            else character
        )
        for character in text
    )


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
    url: HttpUrl | None = Field(None, description="code or paper (http or https, 2083 characters)")
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _check_text(name, "the name")

    @field_validator("description")
    @classmethod
    def _description(cls, description: str) -> str:
        return _check_text(description, "the description", allowed="\n\t")

    @field_validator("authors")
    @classmethod
    def _author_names(cls, authors: list[str]) -> list[str]:
        cleaned = [author.strip() for author in authors]
        for author in cleaned:
            if not 0 < len(author) <= MAX_NAME_CHARS:
                raise ValueError(f"each author needs 1 to {MAX_NAME_CHARS} characters")
            _check_text(author, "an author")
        return cleaned


class BoardPlay(BaseModel):
    """How the board played a submitted model itself: on the published task set (the
    submission's result) and on its private task set (the scores here; the private set's seed
    and tasks are never stored).

    ``private_flagged``: the private set's mean or IQM interval lies wholly below the published
    set's (a drop beyond both intervals, as ``nmn-leaderboard verify --private`` flags it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: int = Field(ge=1)
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    private_mean: Interval
    private_iqm: Interval
    private_normalised_iqm: Interval
    private_flagged: bool


PLAYED_BY_BOARD = "played by the board"
SELF_REPORTED = "self-reported"


class Submission(BaseModel):
    """A harness result and the card of the agent that produced it (``played``: set when the
    board played the agent's model itself)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission_version: Literal["1"] = SUBMISSION_VERSION
    card: AgentCard
    result: EvaluationResult
    played: BoardPlay | None = None

    @property
    def provenance(self) -> str:
        """:data:`PLAYED_BY_BOARD` for a model the board played (and the board's own reference
        and zoo rows), else :data:`SELF_REPORTED`."""
        board_row = self.result.agent.role != "agent"
        return PLAYED_BY_BOARD if self.played is not None or board_row else SELF_REPORTED

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of what makes a result: the agent's per-task returns
        and the task set (environment, version, hash) they were played on. The card, the
        creation time and everything the board recomputes are left out."""
        result = self.result
        key = {
            "env_id": result.env_id,
            "task_set": [result.task_set.version, result.task_set.sha256],
            "returns": result.agent.returns,
        }
        canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def same_result(self, other: Submission) -> bool:
        """Whether ``other`` is this result again: the same environment and task set, and
        per-task returns that agree to the last digits a meta-episode's sum can differ in
        (:func:`same_returns`). The content hash catches a copy bit for bit; this, one whose
        returns were moved within rounding."""
        mine, theirs = self.result, other.result
        return (
            (mine.env_id, mine.task_set.version, mine.task_set.sha256)
            == (theirs.env_id, theirs.task_set.version, theirs.task_set.sha256)
            and same_returns(mine.agent.returns, theirs.agent.returns)
        )

    def score_tolerance(self) -> float:
        """How far the normalised IQM of a :meth:`same_result` can lie from this one's (the IQM
        moves at most as far as the returns; twice that, for the rounding of the scores)."""
        returns = np.abs(np.asarray(self.result.agent.returns, np.float64))
        random, one = _anchors(self.result.normaliser)
        span = one - random
        largest = max(1.0, float(returns.max(initial=0.0)))
        return 2.0 * RETURN_RELATIVE_TOLERANCE * largest / span

    def normalised_iqm(self) -> Interval:
        """The agent's IQM and its CI on the normalised scale (see :func:`normalise`)."""
        return normalise(self.result.agent.iqm, self.result.normaliser)


def normalise(interval: Interval, normaliser: Mapping[str, float]) -> Interval:
    """``interval`` on the scale ``(x - random) / (one - random)`` of a result's normaliser, with
    ``one`` its bayes value, or its oracle's where it has none (:func:`evaluate.schema.ceiling`).

    Raises:
        SubmissionError: the normaliser lacks ``random`` or both ``bayes`` and ``oracle``, or
            they do not span a positive range.
    """
    return interval.on_scale(*_anchors(normaliser))


def _anchors(normaliser: Mapping[str, float]) -> tuple[float, float]:
    """The ``(random, one)`` of a normaliser's normalised scale (see :func:`normalise`)."""
    if "random" not in normaliser:
        raise SubmissionError("result.normaliser.random", "missing")
    top = ceiling(normaliser)
    if top is None:
        raise SubmissionError("result.normaliser.bayes", "missing (and no oracle in its place)")
    anchors = normalised_anchors(normaliser)
    if anchors is None:
        name, one = top
        raise SubmissionError(
            "result.normaliser", f"{name} ({one}) must exceed random ({normaliser['random']})"
        )
    return anchors


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
    """:func:`parse_submission` of JSON text; malformed JSON is a :class:`SubmissionError`.

    Numbers are read strictly: ``NaN``, ``Infinity`` and a float that overflows (``1e400``)
    are refused, and so is an integer of more than :data:`MAX_INTEGER_DIGITS` digits.
    """
    try:
        document = json.loads(
            text, parse_constant=_refuse_non_finite, parse_float=_finite, parse_int=_bounded
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SubmissionError("(document)", f"not valid JSON: {error}") from None
    except RecursionError:
        raise SubmissionError("(document)", "JSON nested too deeply") from None
    return parse_submission(document)


MAX_INTEGER_DIGITS = 19
"""Digits of the longest integer a submission may hold (every integer field fits 64 bits)."""


def _refuse_non_finite(constant: str) -> float:
    raise SubmissionError("(document)", f"{constant} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SubmissionError("(document)", f"{text[:40]} overflows a double-precision number")
    return value


def _bounded(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise SubmissionError(
            "(document)", f"an integer of {len(text)} digits; at most {MAX_INTEGER_DIGITS} allowed"
        )
    return int(text)


MAX_SHOWN_KEY_CHARS = 40
"""Characters of a mapping's key shown in a refusal's field (a key may be as long as the document)."""


def _first_error(error: ValidationError, prefix: str = "") -> SubmissionError:
    first = error.errors()[0]
    parts = [str(part) for part in (prefix, *first["loc"]) if part != ""]
    shown = [
        part if len(part) <= MAX_SHOWN_KEY_CHARS else part[:MAX_SHOWN_KEY_CHARS] + "..."
        for part in parts
    ]
    return SubmissionError(".".join(shown) or "(document)", first["msg"])
