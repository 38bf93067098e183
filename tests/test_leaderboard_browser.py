"""The served board in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

``make install-dev`` installs the browser; Playwright never downloads one here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from playwright.sync_api import Page, sync_playwright

from leaderboard.seed import reference_submissions
from leaderboard.store import Store
from leaderboard.submission import AgentCard, Submission
from tests.served import post, serving
from tests.submissions import agent_submission

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ENV = "NMN-Bench1-v0"
INJECTED = "<img src=x onerror=\"document.title='owned'\">"


@pytest.fixture(scope="module")
def references() -> Mapping[str, Submission]:
    return reference_submissions(ENV)


@pytest.fixture(scope="module")
def token_and_server(
    tmp_path_factory: pytest.TempPathFactory, references: Mapping[str, Submission]
) -> Iterator[tuple[str, str]]:
    """``nmn-leaderboard serve`` on a free localhost port, over a store holding the references,
    and a write token."""
    db = tmp_path_factory.mktemp("board") / "board.sqlite"
    store = Store(db)
    for submission in references.values():
        store.add(submission)
    token = store.create_token("browser tests")
    store.close()
    with serving(db) as url:
        yield token, url


@pytest.fixture(scope="module")
def server(token_and_server: tuple[str, str]) -> str:
    return token_and_server[1]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield context.new_page()
        context.close()


def ranking(page: Page) -> list[str]:
    return page.locator("#ranking tbody td.agent .name").all_inner_texts()


def test_the_page_renders_the_ranking(page: Page, server: str) -> None:
    page.goto(f"{server}/")
    page.click(f"text={ENV}")
    page.wait_for_selector("#ranking")
    assert ranking(page) == ["oracle", "bayes", "memoryless", "random"]
    assert page.locator("#bounds li").count() == 2
    page.wait_for_load_state("load")  # images included
    assert page.evaluate("document.querySelector('#curve').naturalWidth") > 0  # a decoded PNG


def test_a_column_sorts_on_click(page: Page, server: str) -> None:
    page.goto(f"{server}/env/{ENV}")
    header = page.locator("#ranking th", has_text="Normalised IQM")
    header.click()  # ascending
    assert ranking(page) == ["random", "memoryless", "bayes", "oracle"]
    header.click()  # descending
    assert ranking(page) == ["oracle", "bayes", "memoryless", "random"]
    adaptation = page.locator("#ranking th", has_text="Adaptation score")
    adaptation.click()  # ascending: random below the memoryless agent's 0, bayes at 1
    assert ranking(page) == ["random", "memoryless", "bayes", "oracle"]


def test_a_submission_made_through_the_api_appears_on_the_page(
    page: Page, token_and_server: tuple[str, str]
) -> None:
    token, server = token_and_server
    card = AgentCard(name=INJECTED, authors=["Ada"], description="a posted agent")
    body = agent_submission().model_copy(update={"card": card}).model_dump_json()
    status, created = post(server, body, token)
    assert status == 201, created
    page.goto(f"{server}/env/{ENV}")
    names = ranking(page)
    assert INJECTED in names  # shown as text, not as markup
    assert page.title() != "owned"
    assert page.locator("#ranking img").count() == 0
    row = page.locator("#ranking tbody tr", has_text="Ada")
    assert row.locator("td").last.inner_text() == str(created["id"])


def test_the_api_documentation_renders_the_openapi_document(page: Page, server: str) -> None:
    """Swagger UI, served by the board itself, reads FastAPI's OpenAPI 3.1 document."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server}/docs")
    operations = page.locator(".opblock-summary-path")
    operations.first.or_(page.get_by_text("Unable to render")).wait_for(timeout=30_000)
    assert "Unable to render" not in page.locator("body").inner_text()
    paths = set(operations.all_inner_texts())
    assert {"/api/envs", "/api/tables/{env_id}", "/api/submissions"} <= {
        path.replace("\u200b", "") for path in paths
    }
    assert all(url.startswith(server) for url in requests)  # nothing from a CDN


def test_the_page_leads_with_the_interval_plot_and_interval_cells_keep_to_one_line(
    page: Page, server: str
) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{server}/env/{ENV}")
    page.wait_for_load_state("load")  # images included
    plot = page.locator("#intervals")
    assert page.evaluate("document.querySelector('#intervals').naturalWidth") > 0  # a decoded SVG
    assert plot.bounding_box()["y"] < page.locator("#ranking").bounding_box()["y"]
    # the height of each interval cell's text, in font sizes: one line is about 1.2
    lines = page.evaluate(
        """[...document.querySelectorAll('#ranking td.interval')].map(cell => {
            const text = document.createRange();
            text.selectNodeContents(cell);
            return text.getBoundingClientRect().height / parseFloat(getComputedStyle(cell).fontSize);
        })"""
    )
    assert len(lines) == 3 * len(ranking(page)) and max(lines) < 1.6, lines
