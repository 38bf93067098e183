"""The board's checks against a submitter who spoofs names, inflates text or slips in numbers.

Reference names hidden behind invisible or look-alike characters, text fields of megabytes,
numbers the board would store as claimed, a duplicate moved in its last digits, an unknown
environment listed, and a server that redirects a token elsewhere.
"""

from __future__ import annotations

import copy
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leaderboard.cli import main
from leaderboard.store import DuplicateSubmission, Store
from leaderboard.submission import Submission, SubmissionError
from leaderboard.validation import accept
from tests.served import serving
from tests.submissions import ENV_ID, agent_submission

Document = dict[str, Any]
LONG = 10_000


@pytest.fixture(scope="module")
def submission() -> Submission:
    return agent_submission(name="my-agent")


@pytest.fixture
def document(submission: Submission) -> Document:
    """A fresh, editable copy of a valid full submission (card and result)."""
    return copy.deepcopy(submission.model_dump(mode="json"))


def refusal(document: Document) -> SubmissionError:
    with pytest.raises(SubmissionError) as caught:
        accept(json.dumps(document))
    return caught.value


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ba\u200byes", "invisible characters (U+200B)"),
        ("rand\u200bom", "invisible characters (U+200B)"),
        ("bay\u00ades", "invisible characters (U+00AD)"),
        ("\u2066bayes\u2069", "invisible characters (U+2066, U+2069)"),
        ("\u200dbayes\u200d", "invisible characters (U+200D)"),
        ("\ufeffmemoryless", "invisible characters (U+FEFF)"),
        ("oracle\u034f", "invisible characters (U+034F)"),
        ("b\u0430yes", "looks like the board's reference agent 'bayes'"),  # Cyrillic a
        ("\uff42\uff41\uff59\uff45\uff53", "looks like the board's reference agent 'bayes'"),
        ("\u03bfracle", "looks like the board's reference agent 'oracle'"),  # Greek omicron
        ("RAND\u041eM", "looks like the board's reference agent 'random'"),  # Cyrillic O
        ("0racle", "looks like the board's reference agent 'oracle'"),
        ("memoryIess", "looks like the board's reference agent 'memoryless'"),
        ("\U0001d41b\U0001d41a\U0001d432\U0001d41e\U0001d42c", "reference agent 'bayes'"),
        ("z\u043e\u043e:nmn", "looks like the board's zoo agents"),
        ("\u0299\u1d00\u028f\u1d07\ua731", "reference agent 'bayes'"),  # small capitals
        ("\u1d0demoryless", "reference agent 'memoryless'"),  # a small capital M
    ],
)
def test_reference_names_spoofed_with_invisible_or_look_alike_characters_are_refused(
    document: Document, name: str, reason: str
) -> None:
    document["card"]["name"] = name
    error = refusal(document)
    assert error.field == "card.name"
    assert reason in error.reason


def test_names_in_other_scripts_that_look_like_no_reference_are_accepted(
    document: Document,
) -> None:
    for name in ("Байесовский агент", "עברית", "ベイズ"):
        document["card"]["name"] = name
        assert accept(json.dumps(document)).card.name == name


def _set(path: str, value: Any) -> Callable[[Document], None]:
    def edit(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    edit.__name__ = path
    return edit


def _new_key(path: str, key: str, value: Any) -> Callable[[Document], None]:
    def edit(document: Document) -> None:
        node: Any = document
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        node[key] = value

    edit.__name__ = f"{path}.<key>"
    return edit


BOUNDED_FIELDS = [
    (_set("card.url", "https://example.org/" + "u" * LONG), "card.url", "2083"),
    (_set("result.package_version", "1" * LONG), "result.package_version", "100"),
    (_set("result.alone", "a" * LONG), "result.alone", "255"),
    (_set("result.env_id", "N" * LONG), "result.env_id", "100"),
    (_set("result.task_set.version", "v" * LONG), "result.task_set.version", "100"),
    (_set("result.agent.description", "d" * LONG), "result.agent.description", "2000"),
    (_set("result.agent.name", "n" * LONG), "result.agent.name", "255"),
    (_set("result.bounds.0.description", "d" * LONG), "result.bounds.0.description", "2000"),
    (_set("result.bounds.0.name", "b" * LONG), "result.bounds.0.name", "255"),
    (_set("result.references.0.name", "r" * LONG), "result.references.0.name", "255"),
    (_new_key("result.normaliser", "k" * LONG, 1.0), "result.normaliser.kkkk", "255"),
    (
        _new_key("result.agent.probability_of_improvement", "p" * LONG, None),
        "result.agent.probability_of_improvement.pppp",
        "255",
    ),
    (_new_key("result.env_kwargs", "w" * LONG, 1), "result.env_kwargs.wwww", "255"),
    (_set("card.authors", ["a" * LONG]), "card.authors", "80"),
]


@pytest.mark.parametrize(
    ("edit", "field", "limit"), BOUNDED_FIELDS, ids=lambda item: getattr(item, "__name__", None)
)
def test_every_text_field_is_bounded_and_the_refusal_names_field_and_limit(
    document: Document, edit: Callable[[Document], None], field: str, limit: str
) -> None:
    edit(document)
    error = refusal(document)
    assert error.field.startswith(field)
    assert limit in error.reason
    assert len(str(error)) < 500  # the refusal does not echo the megabytes back


def test_a_refused_env_kwarg_is_not_echoed_in_full(document: Document) -> None:
    document["result"]["env_kwargs"] = {"switch_probability": "x" * LONG}
    error = refusal(document)
    assert error.field == "result.env_kwargs.switch_probability"
    assert len(str(error)) < 1000


@pytest.mark.parametrize(
    ("field", "name"),
    [
        ("result.agent.social_gain", "social_gain"),
        ("result.agent.team_normalised_score", "team_normalised_score"),
    ],
)
def test_team_numbers_on_a_single_agent_result_are_refused(
    document: Document, field: str, name: str
) -> None:
    document["result"]["agent"][name] = {"value": 1e300, "low": 0.0, "high": 1e300}
    error = refusal(document)
    assert error.field == field
    assert "teams only" in error.reason


def test_an_alone_agent_on_a_single_agent_result_is_refused(document: Document) -> None:
    document["result"]["alone"] = "bayes"
    error = refusal(document)
    assert (error.field, "teams only" in error.reason) == ("result.alone", True)


def test_every_stored_number_of_the_agent_is_the_boards_own(
    document: Document, submission: Submission
) -> None:
    """Interval ends and confidence levels the board does not compare are recomputed, not kept."""
    agent = document["result"]["agent"]
    agent["normalised_score"]["low"] = -1e300
    agent["regret"]["high"] = 1e300
    agent["mean"]["confidence"] = 0.5
    agent["iqm"]["confidence"] = 0.999
    stored = accept(json.dumps(document)).result.agent
    honest = accept(submission.model_dump_json()).result.agent
    assert stored == honest
    assert stored.normalised_score == honest.mean.on_scale(
        submission.result.normaliser["random"], submission.result.normaliser["bayes"]
    )
    assert stored.mean.confidence == stored.iqm.confidence == 0.95


def _moved(submission: Submission, index: int, relative: float) -> Submission:
    """``submission`` with its return ``index`` moved by ``relative`` of its size."""
    agent = submission.result.agent
    returns = list(agent.returns)
    returns[index] *= 1.0 + relative
    result = submission.result.model_copy(
        update={"agent": agent.model_copy(update={"returns": returns})}
    )
    return Submission(card=submission.card.model_copy(update={"name": "resent"}), result=result)


def test_a_duplicate_with_a_return_moved_in_its_last_digits_is_refused(
    database: str, submission: Submission
) -> None:
    store = Store(database)
    first = store.add(accept(submission.model_dump_json()))
    for index, relative in ((3, 1e-13), (999, -4e-10), (0, 9e-10)):
        moved = accept(_moved(submission, index, relative).model_dump_json())
        assert moved.content_hash() != first.content_hash
        with pytest.raises(DuplicateSubmission, match=f"entry {first.id}") as caught:
            store.add(moved)
        assert caught.value.existing_id == first.id
    # A return moved by more than the rounding of a meta-episode's sum is another result.
    other = store.add(accept(_moved(submission, 3, 1e-6).model_dump_json()))
    assert [entry.id for entry in store.entries(ENV_ID)] == [first.id, other.id]
    store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_listing_an_unknown_environment_fails_locally_and_on_a_server(
    tmp_path: Path, submission: Submission, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "board.sqlite"
    store = Store(db)
    store.add(accept(submission.model_dump_json()))
    store.close()
    code, out, err = run(capsys, "--db", str(db), "list", "--env", "Nope-v0")
    assert (code, out) == (1, "")
    assert "unknown environment id 'Nope-v0'" in err and "NMN-Bench1-v0" in err
    with serving(db) as url:
        code, out, err = run(capsys, "list", "--server", url, "--env", "Nope-v0")
        assert (code, out) == (1, "")
        assert "404" in err and "unknown environment id 'Nope-v0'" in err
        code, out, _ = run(capsys, "list", "--server", url, "--env", ENV_ID)
        assert code == 0 and f"{ENV_ID} leaderboard" in out and "my-agent" in out
        code, out, _ = run(capsys, "list", "--server", url)
        assert code == 0 and "my-agent" in out and "bound bayes (exact)" in out


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records every request it gets (method, path, headers) and answers 201."""

    seen: list[tuple[str, str, dict[str, str]]]

    def _record(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path, dict(self.headers)))
        body = json.dumps({"id": 1, "env_id": ENV_ID}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _record

    def log_message(self, *args: Any) -> None:
        pass


def _redirector(code: int, target: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(code)
            self.send_header("location", target + self.path)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Redirect


@pytest.fixture
def recorder() -> Iterator[tuple[str, list]]:
    seen: list[tuple[str, str, dict[str, str]]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    with _Server(handler) as url:
        yield url, seen


class _Server:
    """A plain HTTP server on a free localhost port, in a thread; entering yields its URL."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_submit_to_a_server_does_not_follow_a_redirect_with_the_token(
    code: int,
    recorder: tuple[str, list],
    submission: Submission,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    elsewhere, seen = recorder
    result = tmp_path / "result.json"
    result.write_text(submission.model_dump_json())
    with _Server(_redirector(code, elsewhere)) as board:
        code_, out, err = run(
            capsys, "submit", str(result), "--server", board, "--token", "nmnlb_secret"
        )
    assert seen == []  # nothing, and above all not the token, went to where it pointed
    assert (code_, out) == (1, "")
    assert f"redirected to {elsewhere}/api/submissions" in err
    assert "not followed with the token" in err and "nmnlb_secret" not in err
