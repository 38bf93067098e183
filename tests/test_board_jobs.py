"""Model submissions without playing them: the checks at the door, the job queue's claims,
leases and tries on SQLite and PostgreSQL, and the API that takes models (in-process app)."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from leaderboard.cli import main as leaderboard
from leaderboard.cli import multipart_form
from leaderboard.intake import MAX_MODEL_BYTES, CheckedModel, check_model
from leaderboard.jobs import ClaimedJob, DuplicateModel, JobQueue
from leaderboard.store import Store
from leaderboard.submission import AgentCard, SubmissionError
from leaderboard.validation import validate
from leaderboard.verify import PRIVATE_SEED_ENV_VAR
from leaderboard.web import create_app
from leaderboard.worker import _board_play
from policies.serialization import METADATA_FILE, WEIGHTS_FILE, read_metadata
from tests.submissions import agent_submission

ENV = "NMN-Bandit-v0"
ZOO = Path(__file__).resolve().parent.parent / "policies" / "zoo" / ENV
MODEL = ZOO / "nmn-seed0.safe.zip"
CARD = AgentCard(name="my-agent", authors=["Ada"])
CLAIMERS = 4
JOBS = 8


def rewritten(base: Path = MODEL, **metadata: object) -> bytes:
    """``base``'s file with ``metadata`` fields replaced (its weights kept)."""
    with zipfile.ZipFile(base) as archive:
        document = json.loads(archive.read(METADATA_FILE))
        weights = archive.read(WEIGHTS_FILE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(METADATA_FILE, json.dumps({**document, **metadata}))
        archive.writestr(WEIGHTS_FILE, weights)
    return buffer.getvalue()


def refusal(data: bytes, env_id: str = ENV, card: AgentCard = CARD, **options: object) -> str:
    with pytest.raises(SubmissionError) as refused:
        check_model(data, env_id, card, **options)  # type: ignore[arg-type]
    return str(refused.value)


def test_a_zoo_model_passes_the_door_with_its_size_and_hash() -> None:
    checked = check_model(MODEL.read_bytes(), ENV, CARD)
    assert checked.metadata.policy_class == "NMNPolicy"
    assert 10_000 < checked.parameters < 100_000
    assert len(checked.sha256) == 64


@pytest.mark.parametrize(
    ("data", "env_id", "expected"),
    [
        (b"\0" * (MAX_MODEL_BYTES + 1), ENV, f"over the limit of {MAX_MODEL_BYTES} bytes"),
        (b"not a zip", ENV, "not a safe nmn-bench model"),
        (rewritten(policy_class="EvilPolicy"), ENV, "policy_class 'EvilPolicy' is not one of"),
        (rewritten(num_agents=2), ENV, "a team of 2; the board plays single agents"),
        (rewritten(env_kwargs={"n_arms": 10**9}), ENV, "env_kwargs.n_arms: the board rebuilds"),
        (MODEL.read_bytes(), "NMN-TwoStep-v0", "spaces do not fit NMN-TwoStep-v0 (trained for"),
        (MODEL.read_bytes(), "Nope-v0", "env_id: "),
    ],
    ids=["size", "not-a-zip", "policy-class", "team", "env-kwargs", "spaces", "unknown-env"],
)
def test_the_door_refuses_with_the_field_and_the_reason(
    data: bytes, env_id: str, expected: str
) -> None:
    assert expected in refusal(data, env_id)


def test_a_pickled_zip_is_refused_unopened() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", b"\x80\x04pickle")
    assert "the board never unpickles" in refusal(buffer.getvalue())


def test_the_parameter_cap_and_the_weights_size_are_checked_from_the_metadata() -> None:
    assert "over the board's limit of 1000" in refusal(MODEL.read_bytes(), max_parameters=1000)
    lstm = ZOO / "lstm-seed0.safe.zip"
    kwargs = read_metadata(lstm).policy_kwargs
    huge = rewritten(lstm, policy_kwargs={**kwargs, "lstm_hidden_size": 10**5})
    assert "MultiInputLstmPolicy of 80" in refusal(huge)  # two LSTMs: 8 x 10^10 weights


def test_a_reference_name_is_refused_at_the_door() -> None:
    assert refusal(MODEL.read_bytes(), card=AgentCard(name="b\u0430yes")).startswith("card.name:")


@pytest.fixture
def queue(database: str) -> Iterator[JobQueue]:
    store = Store(database)
    yield JobQueue(store, max_tries=2)
    store.close()


def checked(variant: int) -> CheckedModel:
    """The zoo model under another hash (the queue does not look inside)."""
    model = check_model(MODEL.read_bytes(), ENV, CARD)
    return CheckedModel(model.data, f"{variant:064x}", model.metadata, model.parameters)


def test_concurrent_claims_take_every_job_once(database: str, queue: JobQueue) -> None:
    for variant in range(JOBS):
        queue.enqueue(checked(variant), ENV, CARD)
    claimed: list[int] = []

    def claim_all(worker: str) -> None:
        own = JobQueue(Store(database))
        while (job := own.claim(worker)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{k}",)) for k in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == list(range(1, JOBS + 1))
    assert [job.state for job in queue.pending()] == ["running"] * JOBS


def test_an_expired_lease_passes_the_job_on_and_tries_are_bounded(queue: JobQueue) -> None:
    job = queue.enqueue(checked(0), ENV, CARD)
    with pytest.raises(DuplicateModel, match=f"already job {job.id} \\(queued\\)"):
        queue.enqueue(checked(0), ENV, CARD)
    first = queue.claim("first", lease_s=0.05)
    assert first is not None and first.try_number == 1 and first.model == MODEL.read_bytes()
    assert queue.claim("second") is None  # leased
    time.sleep(0.1)
    second = queue.claim("second", lease_s=0.05)
    assert second is not None and second.id == job.id and second.try_number == 2
    assert not queue.finish(job.id, "first", entry_id=1)  # the first worker lost it
    assert not queue.renew(job.id, "first")
    time.sleep(0.1)
    assert queue.claim("third") is None  # out of tries: failed, with the reason
    failed = queue.get(job.id)
    assert failed.state == "failed" and failed.tries == 2
    last = "its worker stopped (its lease expired)"
    assert failed.reason == f"2 tries did not finish; the last: {last}"
    queue.enqueue(checked(0), ENV, CARD)  # a failed model may be sent again


def test_a_requeued_job_keeps_its_reason_and_a_finished_one_its_entry(queue: JobQueue) -> None:
    job = queue.enqueue(checked(1), ENV, CARD)
    assert queue.claim("w") is not None
    assert queue.retry(job.id, "w", "the play crashed (exit status -11)")
    assert queue.get(job.id).state == "queued"
    assert queue.claim("w") is not None
    assert queue.finish(job.id, "w", entry_id=7)
    done = queue.get(job.id)
    assert (done.state, done.entry_id, done.reason, done.tries) == ("done", 7, None, 2)
    assert queue.pending() == []


def test_the_private_seed_is_drawn_once_unless_the_operator_sets_it(
    database: str, queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PRIVATE_SEED_ENV_VAR, raising=False)
    drawn = queue.private_seed()
    assert JobQueue(Store(database)).private_seed() == drawn
    monkeypatch.setenv(PRIVATE_SEED_ENV_VAR, "271828")
    assert queue.private_seed() == 271828
    monkeypatch.setenv(PRIVATE_SEED_ENV_VAR, "secret")
    with pytest.raises(ValueError, match="non-negative integer"):
        queue.private_seed()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    """An app on a new board that holds a write token, taking model submissions only."""
    store = Store(tmp_path / "board.sqlite")
    token = store.create_token("tests")
    app = create_app(store, board_played_only=True)
    headers = {"Authorization": f"Bearer {token}"}
    yield TestClient(app, base_url="http://localhost", headers=headers), store
    store.close()


def post_model(
    client: TestClient, data: bytes, env_id: str = ENV, card: str | None = None
) -> httpx.Response:
    body, content_type = multipart_form(
        {"env_id": env_id.encode(), "card": (card or CARD.model_dump_json()).encode()},
        ("file", "my.safe.zip", data),
    )
    return client.post("/api/models", content=body, headers={"content-type": content_type})


def test_a_posted_model_is_queued_and_shown_until_it_is_played(
    client: tuple[TestClient, Store],
) -> None:
    app, _ = client
    answer = post_model(app, MODEL.read_bytes())
    assert answer.status_code == 202, answer.text
    job = answer.json()
    shown = (job["state"], job["env_id"], job["agent"], job["tries"])
    assert shown == ("queued", ENV, "my-agent", 0)
    assert app.get(f"/api/jobs/{job['id']}").json() == job
    assert app.get("/api/jobs").json() == [job]
    assert "Models being played" in app.get("/").text
    assert app.get("/api/jobs/999").status_code == 404
    assert post_model(app, MODEL.read_bytes()).status_code == 409


def test_posted_models_are_refused_with_the_reason(client: tuple[TestClient, Store]) -> None:
    app, _ = client
    spaces = post_model(app, MODEL.read_bytes(), env_id="NMN-TwoStep-v0")
    assert spaces.status_code == 422 and spaces.json()["field"] == "model"
    assert "its spaces do not fit NMN-TwoStep-v0" in spaces.json()["reason"]
    card = post_model(app, MODEL.read_bytes(), card='{"name": "x", "homepage": "y"}')
    assert card.status_code == 422 and card.json()["field"] == "card.homepage"
    too_large = post_model(app, b"\0" * (MAX_MODEL_BYTES + 2**20))
    assert too_large.status_code == 413
    as_json = app.post("/api/models", content=b"{}", headers={"content-type": "application/json"})
    assert as_json.status_code == 415
    anonymous = app.post("/api/models", headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_a_board_of_played_models_only_refuses_result_files(
    client: tuple[TestClient, Store],
) -> None:
    app, _ = client
    json_body = {"content-type": "application/json"}
    answer = app.post("/api/submissions", content=b"{}", headers=json_body)
    assert answer.status_code == 403 and "POST /api/models" in answer.json()["detail"]


@pytest.mark.parametrize(("widths", "flagged"), [(0.0, False), (2.0, True)])
def test_a_private_score_below_the_published_one_beyond_the_intervals_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], widths: float, flagged: bool
) -> None:
    """The private set's returns, all lower than the published ones by ``widths`` times the
    widest published interval: the entry, its row on the page and ``list`` flag a drop beyond
    both intervals, and only such a drop."""
    stored = validate(agent_submission(name="reader"))
    agent = stored.result.agent
    drop = widths * max(agent.mean.high - agent.mean.low, agent.iqm.high - agent.iqm.low)
    private = agent.model_copy(update={"returns": [value - drop for value in agent.returns]})
    job = ClaimedJob(1, stored.result.env_id, stored.card, b"", "0" * 64, 1)
    play = _board_play(job, stored, private)
    assert play.private_flagged is flagged
    assert (play.private_iqm.high < agent.iqm.low) is flagged

    store = Store(tmp_path / "board.sqlite")
    store.add(stored.model_copy(update={"played": play}))
    page = TestClient(create_app(store), base_url="http://localhost").get(
        f"/env/{stored.result.env_id}"
    )
    assert ("flagged: below the published score" in page.text) is flagged
    assert leaderboard(["--db", str(tmp_path / "board.sqlite"), "list"]) == 0
    assert ("FLAGGED" in capsys.readouterr().out) is flagged
    store.close()
