"""Submission validation: every claimed number is re-derived, and a refusal names the field."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from evaluate.task_sets import SET_SIZE
from leaderboard.references import board_references
from leaderboard.submission import (
    AgentCard,
    Submission,
    SubmissionError,
    make_card,
    parse_submission_json,
)
from leaderboard.validation import MAX_SUBMISSION_BYTES, accept
from tests.submissions import agent_submission

Document = dict[str, Any]


@pytest.fixture(scope="module")
def bayes() -> Submission:
    """A valid submission (named after the fixture the checks were first written for)."""
    return agent_submission(name="my-agent")


@pytest.fixture
def result(bayes: Submission) -> Document:
    """A fresh, editable copy of a valid harness result on NMN-Bench1."""
    return copy.deepcopy(bayes.model_dump(mode="json")["result"])


def refusal(document: Document) -> SubmissionError:
    with pytest.raises(SubmissionError) as caught:
        accept(json.dumps(document))
    return caught.value


def test_a_harness_result_and_a_full_submission_are_accepted(
    bayes: Submission, result: Document
) -> None:
    stored = accept(bayes.model_dump_json())
    assert stored.card == bayes.card
    assert stored.result.agent.returns == bayes.result.agent.returns
    bare = accept(json.dumps(result))
    assert bare.result == stored.result
    assert bare.card == AgentCard(name="my-agent")


def test_the_stored_result_holds_the_boards_own_references_bounds_and_normaliser(
    bayes: Submission,
) -> None:
    with_baseline = bayes.result.model_copy(
        update={"baselines": [bayes.result.references[0].model_copy(update={"role": "baseline"})]}
    )
    stored = accept(bayes.model_copy(update={"result": with_baseline}).model_dump_json()).result
    board = board_references("NMN-Bench1-v0")
    assert stored.references == list(board.scores.values())
    assert stored.bounds == board.bounds
    assert stored.normaliser == dict(board.normaliser)
    assert stored.baselines == []  # claims about other agents are not the board's to check


def test_the_board_derives_the_adaptation_score_itself(bayes: Submission, result: Document) -> None:
    board = board_references("NMN-Bench1-v0")
    assert board.normaliser["memoryless"] == pytest.approx(
        np.mean(board.scores["memoryless"].returns)
    )
    stored = accept(bayes.model_dump_json()).result
    memoryless, bayes_value = board.normaliser["memoryless"], board.normaliser["bayes"]
    expected = stored.agent.mean.on_scale(memoryless, bayes_value)
    assert stored.agent.adaptation_score == expected
    assert stored.score("memoryless").adaptation_score.value == pytest.approx(0.0, abs=1e-12)
    # An interval of its own making around the right value is replaced, not kept.
    result["agent"]["adaptation_score"]["low"] -= 5.0
    assert accept(json.dumps(result)).result.agent.adaptation_score == expected


def test_an_older_result_without_adaptation_scores_is_accepted_and_given_one(
    bayes: Submission, result: Document
) -> None:
    del result["normaliser"]["memoryless"]
    result["references"] = [r for r in result["references"] if r["name"] != "memoryless"]
    for entry in (result["agent"], *result["references"]):
        del entry["adaptation_score"]
    stored = accept(json.dumps(result)).result
    current = accept(bayes.model_dump_json()).result.agent.adaptation_score
    assert current is not None and stored.agent.adaptation_score == current


def test_a_memoryless_name_is_reserved_for_the_board(result: Document) -> None:
    result["agent"]["name"] = "memoryless"
    error = refusal(result)
    assert error.field == "card.name"


def test_content_hash_survives_a_json_round_trip_and_ignores_card_and_date(
    bayes: Submission,
) -> None:
    again = parse_submission_json(bayes.model_dump_json())
    assert again.content_hash() == bayes.content_hash()
    renamed = bayes.model_copy(
        update={
            "card": AgentCard(name="another name", authors=["someone else"]),
            "result": bayes.result.model_copy(
                update={"created": datetime(2020, 1, 1, tzinfo=timezone.utc)}
            ),
        }
    )
    assert renamed.content_hash() == bayes.content_hash()
    assert agent_submission(variant=1).content_hash() != bayes.content_hash()


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


def _bump_adaptation(result: Document) -> None:
    result["agent"]["adaptation_score"]["value"] += 0.01


def _bump_memoryless_anchor(result: Document) -> None:
    result["normaliser"]["memoryless"] -= 100.0


def _narrow_iqm_interval(result: Document) -> None:
    iqm = result["agent"]["iqm"]
    iqm["low"] = iqm["value"] - (iqm["value"] - iqm["low"]) / 4


def _bump_bound(result: Document) -> None:
    result["bounds"][0]["value"] += 100.0


def _bump_normaliser(result: Document) -> None:
    result["normaliser"]["random"] -= 100.0


def _bump_reference_mean(result: Document) -> None:
    result["references"][1]["mean"]["value"] += 1.0  # the oracle's


def _fake_random_returns(result: Document) -> None:
    """The reproduction: a random reference with inflated returns lowers the normaliser."""
    random = result["references"][0]
    random["returns"] = [value + 9000.0 for value in random["returns"]]


TAMPERINGS: list[tuple[Callable[[Document], None], str, str]] = [
    (_bump_return, "result.agent.mean.value", "per-task returns"),
    (_bump_iqm, "result.agent.iqm.value", "per-task returns"),
    (_bump_curve, "result.agent.adaptation_curve", "mean return"),
    (_bump_normalised, "result.agent.normalised_score.value", "per-task returns"),
    (_bump_regret, "result.agent.regret.value", "per-task returns"),
    (_bump_adaptation, "result.agent.adaptation_score.value", "per-task returns"),
    (_narrow_iqm_interval, "result.agent.iqm.low", "bootstrap"),
    (_bump_bound, "result.bounds.bayes.value", "derived"),
    (_bump_normaliser, "result.normaliser.random", "the board's random anchor"),
    (_bump_memoryless_anchor, "result.normaliser.memoryless", "the board's memoryless anchor"),
    (_bump_reference_mean, "result.references.1.mean.value", "the board's own oracle agent"),
    (_fake_random_returns, "result.references.0.returns.0", "the board's own random agent"),
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


def test_a_submission_may_not_claim_the_reference_role_or_name(result: Document) -> None:
    result["agent"]["role"] = "reference"
    result["agent"]["name"] = "bayes"
    error = refusal(result)
    assert (error.field, "computes its reference agents itself" in error.reason) == (
        "result.agent.role",
        True,
    )
    result["agent"]["role"] = "agent"
    assert refusal(result).field == "card.name"
    result["agent"]["name"] = "Oracle"
    assert "reference agents" in refusal(result).reason


@pytest.mark.parametrize("value", [20000.0, 1e12, -1e12])
def test_returns_outside_the_attainable_range_are_refused(result: Document, value: float) -> None:
    result["agent"]["returns"][5] = value
    error = refusal(result)
    assert error.field == "result.agent.returns.5"
    assert "attainable range [-49000.0, 14000.0]" in error.reason


def test_the_oracle_ceiling_itself_is_attainable() -> None:
    board = board_references("NMN-Bench1-v0")
    assert board.return_range[1] == 14000.0
    assert max(board.scores["oracle"].returns) <= board.return_range[1]
    assert min(board.scores["random"].returns) >= board.return_range[0]


def test_a_reference_agents_own_returns_are_refused(result: Document) -> None:
    oracle = board_references("NMN-Bench1-v0").scores["oracle"]
    for key in ("returns", "adaptation_curve", "mean", "iqm", "normalised_score", "regret"):
        result["agent"][key] = copy.deepcopy(oracle.model_dump(mode="json")[key])
    error = refusal(result)
    assert error.field == "result.agent.returns"
    assert "oracle" in error.reason


@pytest.mark.parametrize(
    ("curve", "field"),
    [([], "result.agent.adaptation_curve"), ([1.0] * 10, "result.agent.adaptation_curve")],
)
def test_curves_of_the_wrong_length_are_refused(result: Document, curve: list, field: str) -> None:
    result["agent"]["adaptation_curve"] = curve
    error = refusal(result)
    assert error.field == field
    assert "1400 per step" in error.reason


def test_numbers_json_cannot_hold_are_refused(result: Document) -> None:
    result["bounds"][0]["standard_error"] = 1.0
    text = json.dumps(result).replace('"standard_error": 1.0', '"standard_error": 1e400', 1)
    with pytest.raises(SubmissionError, match="1e400 overflows"):
        accept(text)
    text = json.dumps(result).replace('"bootstrap_seed": 0', '"bootstrap_seed": ' + "9" * 5000, 1)
    with pytest.raises(SubmissionError, match="an integer of 5000 digits"):
        accept(text)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "null\x00byte"}, "card.name"),
        ({"name": "\x1b[2J\x1b[31mred"}, "card.name"),
        ({"name": "ok", "authors": ["bell\x07"]}, "card.authors"),
        ({"name": "ok", "description": "line\x1b]0;title\x07"}, "card.description"),
    ],
)
def test_control_characters_are_refused_at_the_door(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(SubmissionError, match="control characters") as caught:
        make_card(**fields)
    assert caught.value.field == field


def test_right_to_left_text_and_line_breaks_are_kept() -> None:
    card = make_card(name="\u202eעברית", description="two\nlines\tand a tab")
    assert card.name == "\u202eעברית"
    assert card.description == "two\nlines\tand a tab"


@pytest.mark.parametrize(
    ("name", "field"),
    [("x" * 81, "card.name"), ("   ", "card.name"), ("", "card.name")],
)
def test_bare_results_with_names_no_page_could_show_are_refused(
    result: Document, name: str, field: str
) -> None:
    """A bare result's card is named after its agent: the same rules as every card."""
    result["agent"]["name"] = name
    assert refusal(result).field == field


def test_verify_on_the_private_set_keeps_an_honest_agent_and_flags_a_memoriser() -> None:
    """An agent scores alike on the private set (same distribution); a submission whose
    returns only a task reader could get (the oracle's) drops there beyond the intervals."""
    import numpy as np

    from leaderboard.verify import verify
    from tests.submissions import ACTION

    def fixed(observation: dict) -> np.ndarray:
        return np.full((len(observation["observation"]), 1), ACTION)

    honest = verify(agent_submission(), fixed, private_seed=314159)
    assert honest.rerun.task_set.version == "NMN-Bench1-v0/private"
    assert honest.consistent
    oracle = board_references("NMN-Bench1-v0").scores["oracle"]
    memoriser = agent_submission().result.model_copy(
        update={"agent": oracle.model_copy(update={"role": "agent", "name": "memoriser"})}
    )
    flagged = verify(
        Submission(card=AgentCard(name="memoriser"), result=memoriser), fixed, private_seed=314159
    )
    assert not flagged.consistent


def test_a_claimed_reference_that_is_not_one_of_the_boards_is_refused(result: Document) -> None:
    """A reference row no page could show (an 81-character name) never reaches the store."""
    result["references"][0]["name"] = "r" * 81
    error = refusal(result)
    assert error.field == "result.references.0.name"
    assert "is not a reference agent" in error.reason
