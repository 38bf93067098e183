"""Submission validation: every claimed number is re-derived, and a refusal names the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from evaluate.task_sets import SET_SIZE
from leaderboard.seed import reference_submissions
from leaderboard.submission import (
    AgentCard,
    Submission,
    SubmissionError,
    make_card,
    parse_submission_json,
)
from leaderboard.validation import MAX_SUBMISSION_BYTES, accept

Document = dict[str, Any]


@pytest.fixture(scope="module")
def bayes() -> Submission:
    return reference_submissions("NMN-Bench1-v0")["bayes"]


@pytest.fixture
def result(bayes: Submission) -> Document:
    """A fresh, editable copy of a valid harness result (the Bayes agent on NMN-Bench1)."""
    return copy.deepcopy(bayes.model_dump(mode="json")["result"])


def refusal(document: Document) -> SubmissionError:
    with pytest.raises(SubmissionError) as caught:
        accept(json.dumps(document))
    return caught.value


def test_a_harness_result_and_a_full_submission_are_accepted(
    bayes: Submission, result: Document
) -> None:
    assert accept(bayes.model_dump_json()) == bayes
    bare = accept(json.dumps(result))
    assert bare.result == bayes.result
    assert bare.card == AgentCard(name="bayes")


def test_content_hash_survives_a_json_round_trip_and_covers_the_card(bayes: Submission) -> None:
    again = parse_submission_json(bayes.model_dump_json())
    assert again.content_hash() == bayes.content_hash()
    renamed = bayes.model_copy(update={"card": AgentCard(name="another name")})
    assert renamed.content_hash() != bayes.content_hash()


def _bump_return(result: Document) -> None:
    result["agent"]["returns"][7] += 25.0


def _bump_iqm(result: Document) -> None:
    result["agent"]["iqm"]["value"] += 1.0


def _bump_curve(result: Document) -> None:
    result["agent"]["adaptation_curve"][10] += 5.0


def _bump_normalised(result: Document) -> None:
    result["agent"]["normalised_score"]["value"] += 0.01


def _bump_regret(result: Document) -> None:
    result["agent"]["regret"]["value"] -= 1.0


def _narrow_iqm_interval(result: Document) -> None:
    iqm = result["agent"]["iqm"]
    iqm["low"] = iqm["value"] - (iqm["value"] - iqm["low"]) / 4


def _bump_bound(result: Document) -> None:
    result["bounds"][0]["value"] += 100.0


def _bump_normaliser(result: Document) -> None:
    result["normaliser"]["random"] -= 100.0


def _bump_reference_mean(result: Document) -> None:
    result["references"][1]["mean"]["value"] += 1.0  # the oracle's


TAMPERINGS: list[tuple[Callable[[Document], None], str, str]] = [
    (_bump_return, "result.agent.mean.value", "per-task returns"),
    (_bump_iqm, "result.agent.iqm.value", "per-task returns"),
    (_bump_curve, "result.agent.adaptation_curve", "mean return"),
    (_bump_normalised, "result.agent.normalised_score.value", "per-task returns"),
    (_bump_regret, "result.agent.regret.value", "per-task returns"),
    (_narrow_iqm_interval, "result.agent.iqm.low", "bootstrap"),
    (_bump_bound, "result.bounds.bayes.value", "derived"),
    (_bump_normaliser, "result.normaliser.random", "random agent"),
    (_bump_reference_mean, "result.references.1.mean.value", "per-task returns"),
]


@pytest.mark.parametrize(
    ("tamper", "field", "reason"), TAMPERINGS, ids=lambda t: getattr(t, "__name__", None)
)
def test_tampered_numbers_are_refused_naming_the_mismatch(
    result: Document, tamper: Callable[[Document], None], field: str, reason: str
) -> None:
    tamper(result)
    error = refusal(result)
    assert error.field == field
    assert reason in error.reason


def test_unknown_environment_is_refused(result: Document) -> None:
    result["env_id"] = "NMN-Bench9-v0"
    error = refusal(result)
    assert error.field == "result.env_id"
    assert "NMN-Bench1-v0" in error.reason  # the known ids are listed


def test_env_kwargs_must_be_the_registered_configuration(result: Document) -> None:
    result["env_kwargs"] = {"switch_probability": 0.5}
    assert refusal(result).field == "result.env_kwargs.switch_probability"
    result["env_kwargs"] = {"no_such_kwarg": 1}
    error = refusal(result)
    assert error.field == "result.env_kwargs.no_such_kwarg"
    assert "registered configuration" in error.reason
    result["env_kwargs"] = {"max_episode_steps": 1400}  # the registered value itself is fine
    assert accept(json.dumps(result)).result.env_kwargs == {"max_episode_steps": 1400}


def test_a_partial_task_set_is_refused(result: Document) -> None:
    keep = 100
    result["task_set"]["n_tasks"] = keep
    for key in ("seeds", "tasks"):
        result[key] = result[key][:keep]
    for score in (result["agent"], *result["references"]):
        score["returns"] = score["returns"][:keep]
    error = refusal(result)
    assert error.field == "result.task_set.n_tasks"
    assert str(SET_SIZE) in error.reason


@pytest.mark.parametrize(
    ("name", "value"),
    [("version", "NMN-Bench1-v0/v0"), ("sha256", "0" * 64), ("generator_seed", 7)],
)
def test_another_task_set_is_refused(result: Document, name: str, value: object) -> None:
    result["task_set"][name] = value
    error = refusal(result)
    assert error.field == f"result.task_set.{name}"
    assert "current set" in error.reason


def test_edited_tasks_and_seeds_are_refused(result: Document) -> None:
    edited = copy.deepcopy(result)
    edited["tasks"][0]["offset"] = 0.0
    assert refusal(edited).field == "result.tasks"
    result["seeds"][0] += 1
    assert refusal(result).field == "result.seeds"


def test_non_finite_numbers_are_refused(result: Document) -> None:
    text = json.dumps(result).replace(json.dumps(result["agent"]["returns"][0]), "NaN", 1)
    with pytest.raises(SubmissionError, match="NaN is not a number JSON allows"):
        accept(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{not json", "(document)"),
        ("[1, 2, 3]", "(document)"),
        ("{}", "package_version"),
        (json.dumps({"card": {"name": "x"}, "result": {}}), "result"),
    ],
)
def test_malformed_documents_name_the_field(text: str, field: str) -> None:
    with pytest.raises(SubmissionError) as caught:
        accept(text)
    assert caught.value.field.split(".")[0] == field


def test_unknown_fields_are_refused(bayes: Submission) -> None:
    document = bayes.model_dump(mode="json")
    document["card"]["homepage"] = "https://example.org"
    with pytest.raises(SubmissionError) as caught:
        accept(json.dumps(document))
    assert caught.value.field == "card.homepage"
    assert "Extra inputs are not permitted" in caught.value.reason


def test_schema_versions_are_checked(result: Document, bayes: Submission) -> None:
    result["schema_version"] = "0.9"
    assert refusal(result).field == "schema_version"
    document = bayes.model_dump(mode="json")
    document["submission_version"] = "0"
    with pytest.raises(SubmissionError) as caught:
        accept(json.dumps(document))
    assert caught.value.field == "submission_version"


def test_oversized_documents_are_refused() -> None:
    with pytest.raises(SubmissionError, match="exceeds the limit"):
        accept(" " * (MAX_SUBMISSION_BYTES + 1))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "card.name"),
        ({"name": "x" * 81}, "card.name"),
        ({"name": "ok", "url": "javascript:alert(1)"}, "card.url"),
        ({"name": "ok", "authors": [" "]}, "card.authors"),
        ({"name": "ok", "description": "d" * 2001}, "card.description"),
    ],
)
def test_agent_cards_are_bounded(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(SubmissionError) as caught:
        make_card(**fields)
    assert caught.value.field == field
