"""The served board in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

``make install-dev`` installs the browser; Playwright never downloads one here.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping

import pytest
from playwright.sync_api import Page, sync_playwright

from leaderboard.seed import reference_submissions
from leaderboard.store import Store
from leaderboard.submission import AgentCard, Submission

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
STARTUP_POLLS = 480  # of 0.25 s: imports are slow on a busy machine
INJECTED = "<img src=x onerror=\"document.title='owned'\">"


@pytest.fixture(scope="module")
def references() -> Mapping[str, Submission]:
    return reference_submissions(ENV)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, references: Mapping[str, Submission]
) -> Iterator[str]:
    """``nmn-leaderboard serve`` on a free localhost port, over a store holding the references."""
    db = tmp_path_factory.mktemp("board") / "board.sqlite"
    store = Store(db)
    for submission in references.values():
        store.add(submission)
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "leaderboard.cli",
        "--db",
        str(db),
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_serving(url: str, process: subprocess.Popen) -> None:
    for _ in range(STARTUP_POLLS):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/envs"):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within {STARTUP_POLLS * 0.25} s")


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
