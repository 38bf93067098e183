"""The web app and the static export: JSON API, limits, escaping, injection strings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from xml.etree import ElementTree

from leaderboard.board import table
from leaderboard.export import export_site
from leaderboard.plots import curve_figure
from leaderboard.seed import reference_submissions
from leaderboard.store import Store
from leaderboard.submission import AgentCard, Submission
from leaderboard.web import create_app
from tests.submissions import agent_submission

ENV = "NMN-Bench1-v0"
SCRIPT_NAME = "<script>alert('owned')</script>"
IMAGE_DESCRIPTION = '<img src=x onerror="alert(1)">'
SQL_NAME = "x'); DROP TABLE submissions; --"
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def random_submission() -> Submission:
    """A valid submission (named after the fixture the checks were first written for)."""
    return agent_submission(name="my-agent")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "board.sqlite")
    yield store
    store.close()


@pytest.fixture
def token(store: Store) -> str:
    return store.create_token("tests")


@pytest.fixture
def client(store: Store, token: str) -> TestClient:
    """A client of the app on localhost that holds a write token."""
    return TestClient(
        create_app(store), base_url="http://localhost", headers={"Authorization": f"Bearer {token}"}
    )


def carded(submission: Submission, **card: object) -> str:
    return submission.model_copy(update={"card": AgentCard(**card)}).model_dump_json()


def test_a_posted_submission_is_ranked_and_served_back(
    client: TestClient, random_submission: Submission
) -> None:
    response = client.post(
        "/api/submissions", content=random_submission.model_dump_json(), headers=JSON_HEADERS
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["content_hash"] == random_submission.content_hash()

    table = client.get(f"/api/tables/{ENV}").json()
    stored = [row for row in table["rows"] if row["id"] == created["id"]]
    assert len(stored) == 1
    assert stored[0]["agent"] == "my-agent"
    assert stored[0]["normalised_iqm"]["low"] <= stored[0]["normalised_iqm"]["value"]
    # The board's reference rows sit beside it, best first.
    assert [row["agent"] for row in table["rows"]] == [
        "oracle", "bayes", "memoryless", "my-agent", "random"
    ]
    # Each row's adaptation score: its mean on the scale memoryless = 0, bayes = 1.
    memoryless, bayes = table["normaliser"]["memoryless"], table["normaliser"]["bayes"]
    for row in table["rows"]:
        expected = (row["mean_return"]["value"] - memoryless) / (bayes - memoryless)
        assert row["adaptation_score"]["value"] == pytest.approx(expected, abs=1e-12)
    # A result file's row is the submitter's word; the board's own rows are played by the board.
    assert {row["agent"]: row["provenance"] for row in table["rows"]} == {
        "my-agent": "self-reported",
        **{name: "played by the board" for name in ("oracle", "bayes", "memoryless", "random")},
    }
    page = client.get(f"/env/{ENV}").text
    assert "Adaptation score [95% CI]" in page
    assert '<td class="provenance">self-reported</td>' in page
    assert {bound["name"] for bound in table["bounds"]} == {"bayes", "oracle"}

    served = client.get(f"/api/submissions/{created['id']}")
    assert Submission.model_validate_json(served.content) == random_submission
    assert client.get("/api/envs").json() == [{"env_id": ENV, "entries": 1}]


def test_a_bare_result_is_accepted_under_its_agent_name(
    client: TestClient, random_submission: Submission
) -> None:
    body = random_submission.result.model_dump_json()
    assert client.post("/api/submissions", content=body, headers=JSON_HEADERS).status_code == 201


def test_duplicates_are_refused_with_409(client: TestClient, random_submission: Submission) -> None:
    body = random_submission.model_dump_json()
    first = client.post("/api/submissions", content=body, headers=JSON_HEADERS).json()
    again = client.post("/api/submissions", content=body, headers=JSON_HEADERS)
    assert again.status_code == 409
    assert again.json()["id"] == first["id"]


def test_tampered_numbers_are_refused_with_422_naming_the_field(
    client: TestClient, random_submission: Submission
) -> None:
    document = random_submission.model_dump(mode="json")
    document["result"]["agent"]["returns"][0] += 10.0
    response = client.post("/api/submissions", content=json.dumps(document), headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.json()["field"] == "result.agent.mean.value"
    assert client.get(f"/api/tables/{ENV}").json()["rows"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "(document)"),
        (b"\xff\xfe", "(document)"),
        (b"[" * 200_000, "(document)"),
        (b"{}", "package_version"),
    ],
)
def test_malformed_bodies_are_422_json(client: TestClient, body: bytes, field: str) -> None:
    response = client.post("/api/submissions", content=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_bodies_that_are_not_json_are_415(client: TestClient) -> None:
    response = client.post(
        "/api/submissions", content=b"a=b", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


def test_oversized_bodies_are_413_with_or_without_a_length(store: Store, token: str) -> None:
    client = TestClient(
        create_app(store, max_body_bytes=1024),
        base_url="http://localhost",
        headers={"Authorization": f"Bearer {token}"},
    )
    declared = client.post(
        "/api/submissions", content=b"{" + b" " * 2048 + b"}", headers=JSON_HEADERS
    )
    assert declared.status_code == 413
    streamed = client.post(
        "/api/submissions",
        content=(b" " * 512 for _ in range(8)),  # chunked: no Content-Length to trust
        headers=JSON_HEADERS,
    )
    assert streamed.status_code == 413
    assert store.entries() == []


def test_user_text_is_escaped_on_pages_and_script_is_locked_down(
    client: TestClient, random_submission: Submission
) -> None:
    body = carded(
        random_submission, name=SCRIPT_NAME, authors=[SCRIPT_NAME], description=IMAGE_DESCRIPTION
    )
    assert client.post("/api/submissions", content=body, headers=JSON_HEADERS).status_code == 201
    for path in ("/", f"/env/{ENV}"):
        page = client.get(path)
        assert page.status_code == 200
        assert SCRIPT_NAME not in page.text
        assert IMAGE_DESCRIPTION not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    page = client.get(f"/env/{ENV}").text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert client.get(f"/env/{ENV}/curve.png").content.startswith(b"\x89PNG")


def test_names_are_plain_text_in_the_plot(client: TestClient, random_submission: Submission) -> None:
    body = carded(random_submission, name=r"$\frac{broken mathtext$")
    assert client.post("/api/submissions", content=body, headers=JSON_HEADERS).status_code == 201
    assert client.get(f"/env/{ENV}/curve.png").content.startswith(b"\x89PNG")


def test_sql_injection_strings_are_plain_data(
    client: TestClient, random_submission: Submission, store: Store
) -> None:
    body = carded(random_submission, name=SQL_NAME, authors=["' OR '1'='1"])
    created = client.post("/api/submissions", content=body, headers=JSON_HEADERS).json()
    assert store.get(created["id"]).agent_name == SQL_NAME
    rows = client.get(f"/api/tables/{ENV}").json()["rows"]
    assert [row["authors"] for row in rows if row["id"] == created["id"]] == [["' OR '1'='1"]]
    assert client.get(f"/api/tables/{ENV}' OR '1'='1").status_code == 404
    assert client.get("/api/submissions/1 OR 1=1").status_code == 422
    assert len(store.entries()) == 1


def test_writes_need_a_valid_token_and_reads_stay_open(
    store: Store, token: str, random_submission: Submission
) -> None:
    body = random_submission.model_dump_json()
    anonymous = TestClient(create_app(store), base_url="http://localhost")
    for headers in ({}, {"Authorization": "Bearer nmnlb_wrong"}, {"Authorization": token}):
        response = anonymous.post(
            "/api/submissions", content=body, headers={**JSON_HEADERS, **headers}
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert store.entries() == []
    assert anonymous.get("/api/envs").status_code == 200
    assert anonymous.get(f"/env/{ENV}").status_code == 200
    store.revoke_token("tests")
    with_token = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}
    revoked = anonymous.post("/api/submissions", content=body, headers=with_token)
    assert revoked.status_code == 401


def test_requests_for_another_host_are_refused(store: Store) -> None:
    app = create_app(store)
    assert TestClient(app, base_url="http://evil.example").get("/").status_code == 400
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/").status_code == 200
    public = create_app(store, allowed_hosts=["board.example.org"])
    assert TestClient(public, base_url="https://board.example.org").get("/").status_code == 200


def test_a_faked_reference_and_the_reference_role_are_refused(
    client: TestClient, random_submission: Submission
) -> None:
    document = random_submission.model_dump(mode="json")
    random = document["result"]["references"][0]
    random["returns"] = [value + 9000.0 for value in random["returns"]]
    response = client.post("/api/submissions", content=json.dumps(document), headers=JSON_HEADERS)
    field = "result.references.0.returns.0"
    assert (response.status_code, response.json()["field"]) == (422, field)
    document = random_submission.model_dump(mode="json")
    document["result"]["agent"]["role"] = "reference"
    document["card"]["name"] = "bayes"
    response = client.post("/api/submissions", content=json.dumps(document), headers=JSON_HEADERS)
    assert (response.status_code, response.json()["field"]) == (422, "result.agent.role")
    document = random_submission.model_dump(mode="json")
    document["result"]["agent"]["returns"][0] = 20000.0
    response = client.post("/api/submissions", content=json.dumps(document), headers=JSON_HEADERS)
    assert (response.status_code, response.json()["field"]) == (422, "result.agent.returns.0")
    assert client.get(f"/api/tables/{ENV}").json()["rows"] == []


def test_a_redated_and_recarded_copy_is_a_duplicate(
    client: TestClient, random_submission: Submission
) -> None:
    first = client.post(
        "/api/submissions", content=random_submission.model_dump_json(), headers=JSON_HEADERS
    )
    assert first.status_code == 201
    document = random_submission.model_dump(mode="json")
    document["result"]["created"] = "2030-01-01T00:00:00Z"
    document["card"] = {"name": "someone else's name", "authors": ["Mallory"]}
    again = client.post("/api/submissions", content=json.dumps(document), headers=JSON_HEADERS)
    assert again.status_code == 409
    assert again.json()["id"] == first.json()["id"]


def test_a_bound_of_1e400_is_a_clean_422(client: TestClient, random_submission: Submission) -> None:
    text = random_submission.model_dump_json()
    text = text.replace('"standard_error":null', '"standard_error":1e400', 1)
    assert "1e400" in text
    response = client.post("/api/submissions", content=text, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert "overflows" in response.json()["reason"]


def test_every_page_renders_whatever_the_store_holds(
    store: Store, client: TestClient, random_submission: Submission, tmp_path: Path
) -> None:
    """Longest names and descriptions, right-to-left marks, and an older row with no curve."""
    card = AgentCard(
        name="\u202e" + "n" * 79, authors=["a" * 80] * 20, description="d\n" * 1000
    )
    agent = random_submission.result.agent.model_copy(update={"adaptation_curve": []})
    store.add(
        Submission(card=card, result=random_submission.result.model_copy(update={"agent": agent}))
    )
    for path in ("/", f"/env/{ENV}", f"/api/tables/{ENV}", f"/env/{ENV}/curve.png"):
        assert client.get(path).status_code == 200, path
    page = client.get(f"/env/{ENV}").text
    assert "<bdi>\u202e" + "n" * 79 + "</bdi>" in page
    assert export_site(store, tmp_path / "site").is_file()


def test_unknown_ids_are_404(client: TestClient) -> None:
    assert client.get("/api/submissions/999").status_code == 404
    for huge in ("0", "-1", str(2**63), "9" * 400):  # clean 4xx, never a server error
        assert client.get(f"/api/submissions/{huge}").status_code == 422
    assert client.get("/env/NMN-Bench9-v0").status_code == 404
    assert client.get(f"/env/{ENV}/curve.png").status_code == 404  # nothing to plot yet
    assert client.get("/static/../store.py").status_code == 404


def test_static_export_writes_a_page_per_environment(
    tmp_path: Path, store: Store, random_submission: Submission
) -> None:
    store.add(Submission.model_validate_json(carded(random_submission, name=SCRIPT_NAME)))
    index = export_site(store, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    assert f'href="{ENV}.html"' in index.read_text()
    page = (tmp_path / "site" / f"{ENV}.html").read_text()
    assert SCRIPT_NAME not in page and "&lt;script&gt;" in page
    assert 'src="static/sort.js"' in page
    assert (tmp_path / "site" / f"{ENV}-curve.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "site" / "static" / "sort.js").exists()


def test_the_api_lists_its_endpoints_and_serves_openapi_docs(client: TestClient) -> None:
    import base64
    import hashlib
    import re

    listed = client.get("/api").json()
    schema = client.get("/openapi.json").json()
    assert {entry["path"] for entry in listed} == {path for path in schema["paths"] if path.startswith("/api")}
    assert {(entry["method"], entry["path"]) for entry in listed} >= {
        ("GET", "/api/envs"),
        ("GET", "/api/tables/{env_id}"),
        ("GET", "/api/submissions/{entry_id}"),
        ("POST", "/api/submissions"),
    }
    assert all(entry["summary"] for entry in listed)
    documented = (Path(__file__).parents[1] / "docs" / "leaderboard.md").read_text()
    for entry in listed:
        assert f"`{entry['method']} {entry['path']}`" in documented, entry

    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
    policy = docs.headers["content-security-policy"]
    (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy and "unsafe-inline" not in policy
    assert "https:" not in policy  # nothing is fetched from elsewhere: the assets are the app's
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', docs.text):
        assert client.get(asset).status_code == 200, asset
    assert re.search(r'src="/docs/assets/swagger-ui-bundle.js"', docs.text)
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'none'; script-src 'self';")


SVG = "{http://www.w3.org/2000/svg}"


def test_the_page_leads_with_an_interval_plot_of_every_row_best_first(
    client: TestClient, random_submission: Submission
) -> None:
    body = carded(random_submission, name=SCRIPT_NAME)
    assert client.post("/api/submissions", content=body, headers=JSON_HEADERS).status_code == 201
    plot = client.get(f"/env/{ENV}/intervals.svg")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/svg+xml"
    assert "script-src" not in plot.headers["content-security-policy"]  # default-src 'none'
    assert SCRIPT_NAME.encode() not in plot.content  # a name is text, never markup
    texts = {text.text: text for text in ElementTree.fromstring(plot.content).iter(f"{SVG}text")}
    rows = client.get(f"/api/tables/{ENV}").json()["rows"]
    labels = [texts[f"#{row['rank']} {row['agent']}"] for row in rows]  # every row, by rank
    heights = [float(label.get("y")) for label in labels]
    assert heights == sorted(heights)  # the best on top
    grey = {row["agent"]: "fill: #707070" in label.get("style") for row, label in zip(rows, labels)}
    assert grey == {row["agent"]: row["role"] == "reference" for row in rows}
    assert {"bayes bound (exact)", "oracle bound (ceiling)"} <= set(texts)
    page = client.get(f"/env/{ENV}").text
    assert page.index(f'src="/env/{ENV}/intervals.svg"') < page.index('id="ranking"')
    assert "Rows are ranked by their normalised IQM" in page


def test_the_index_names_the_best_agent_as_leader_not_a_reference(
    client: TestClient, store: Store, random_submission: Submission
) -> None:
    for submission in reference_submissions(ENV).values():
        store.add(submission)
    assert 'class="leader"></td>' in client.get("/").text  # references alone: no leader
    assert client.post("/api/submissions", content=random_submission.model_dump_json(), headers=JSON_HEADERS).status_code == 201
    rows = client.get(f"/api/tables/{ENV}").json()["rows"]
    assert rows[0]["role"] == "reference" and rows[0]["agent"] == "oracle"
    assert '<td class="leader"><bdi>my-agent</bdi></td>' in client.get("/").text


def with_ramp(submission: Submission, ramp_steps: int) -> Submission:
    """``submission`` with an agent whose mean reward per step climbs from -10 (random's) to 10
    (bayes') over its first ``ramp_steps`` steps, with noise."""
    steps = len(submission.result.agent.adaptation_curve)
    noise = np.random.default_rng(7).normal(0.0, 0.3, steps)
    curve = -10.0 + 20.0 * np.minimum(np.arange(steps) / ramp_steps, 1.0) + noise
    agent = submission.result.agent.model_copy(update={"adaptation_curve": curve.tolist()})
    return submission.model_copy(
        update={"result": submission.result.model_copy(update={"agent": agent})}
    )


def test_the_adaptation_plot_shows_the_adaptation_phase(
    client: TestClient, store: Store, random_submission: Submission
) -> None:
    """Bench1's meta-episode is 1400 steps; its references settle within a few (bayes finds the
    target in two), so an agent that adapts over its first 100 steps sets the plot's range."""
    store.add(with_ramp(random_submission, ramp_steps=100))
    board = table(store, ENV)
    assert len(board.rows[0].adaptation_curve) == 1400
    (axes,) = curve_figure(board).axes
    low, high = axes.get_xlim()
    assert low == 1 and 100 <= high <= 300
    assert axes.get_xlabel() == f"step of the meta-episode (the first {high:.0f} of 1400)"
    assert f"the first {high:.0f} steps of the meta-episode" in client.get(f"/env/{ENV}").text
    assert client.get(f"/env/{ENV}/curve.png").content.startswith(b"\x89PNG")

    store.add(with_ramp(agent_submission(variant=1, name="slow"), ramp_steps=1400))
    assert curve_figure(table(store, ENV)).axes[0].get_xlim() == (1, 1400)  # it never settles


def test_the_page_names_two_agents_whose_iqm_and_mean_disagree(client: TestClient, store: Store) -> None:
    """Two agents whose IQMs and means disagree: the page names them and says why."""
    def stored(name: str, variant: int, iqm_shift: float, mean_shift: float) -> None:
        base = agent_submission(variant=variant)
        agent = base.result.agent
        agent = agent.model_copy(
            update={
                "iqm": agent.iqm.affine(1.0, iqm_shift),
                "mean": agent.mean.affine(1.0, mean_shift),
            }
        )
        result = base.result.model_copy(update={"agent": agent})
        store.add(Submission(card=AgentCard(name=name), result=result))

    stored("steady", 2, iqm_shift=0.0, mean_shift=-5.0)
    stored("spiky", 3, iqm_shift=-1.0, mean_shift=0.0)  # better at the ends, worse in the middle
    page = client.get(f"/env/{ENV}").text
    assert (
        "Here <bdi>steady</bdi> ranks above <bdi>spiky</bdi> although the mean return of "
        "<bdi>spiky</bdi> is higher"
    ) in page
    assert page.count('<td class="interval"') == 3 * len(table(store, ENV).rows)
