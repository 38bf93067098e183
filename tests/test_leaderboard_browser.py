"""The served board in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

``make install-dev`` installs the browser; Playwright never downloads one here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright

from leaderboard.seed import reference_submissions
from leaderboard.store import Store
from leaderboard.submission import AgentCard, Submission
from leaderboard.web import create_app

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
def server(tmp_path_factory: pytest.TempPathFactory, references: Mapping[str, Submission]) -> Iterator[str]:
    """The app on a free localhost port, with the seeded reference rows stored."""
    store = Store(tmp_path_factory.mktemp("board") / "board.sqlite")
    for submission in references.values():
        store.add(submission)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app_server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    while not app_server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app_server.should_exit = True
    thread.join()
    store.close()


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


def post(server: str, body: str) -> dict:
    request = urllib.request.Request(
        f"{server}/api/submissions",
        data=body.encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
        return json.load(response)


def test_the_page_renders_the_ranking(page: Page, server: str) -> None:
    page.goto(f"{server}/")
    page.click(f"text={ENV}")
    page.wait_for_selector("#ranking")
    assert ranking(page) == ["oracle", "bayes", "random"]
    assert page.locator("#bounds li").count() == 2
    page.wait_for_load_state("load")  # images included
    assert page.evaluate("document.querySelector('#curve').naturalWidth") > 0  # a decoded PNG


def test_a_column_sorts_on_click(page: Page, server: str) -> None:
    page.goto(f"{server}/env/{ENV}")
    header = page.locator("#ranking th", has_text="Normalised IQM")
    header.click()  # ascending
    assert ranking(page) == ["random", "bayes", "oracle"]
    header.click()  # descending
    assert ranking(page) == ["oracle", "bayes", "random"]


def test_a_submission_made_through_the_api_appears_on_the_page(
    page: Page, server: str, references: Mapping[str, Submission]
) -> None:
    card = AgentCard(name=INJECTED, authors=["Ada"], description="a posted agent")
    body = references["bayes"].model_copy(update={"card": card}).model_dump_json()
    created = post(server, body)
    page.goto(f"{server}/env/{ENV}")
    names = ranking(page)
    assert INJECTED in names  # shown as text, not as markup
    assert page.title() != "owned"
    assert page.locator("#ranking img").count() == 0
    row = page.locator("#ranking tbody tr", has_text="Ada")
    assert row.locator("td").last.inner_text() == str(created["id"])
