"""A real ``nmn-leaderboard serve`` on a free localhost port, for the tests that need one."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STARTUP_POLLS = 480  # of 0.25 s: imports are slow on a busy machine
READ_TIMEOUT_S = 30.0  # well below SQLite's busy timeout (60 s): a read that waits for a lock fails


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(db: str | Path, *options: str) -> Iterator[str]:
    """``nmn-leaderboard --db DB serve OPTIONS`` on 127.0.0.1 (a SQLite file or a database URL);
    yields its URL. Without ``--workers`` among the options it starts no worker."""
    port = free_port()
    workers = () if "--workers" in options else ("--workers", "0")
    command = [
        sys.executable,
        "-m",
        "leaderboard.cli",
        "--db",
        str(db),
        "serve",
        "--port",
        str(port),
        *workers,
        *options,
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


def get(url: str) -> tuple[int, Any]:
    """GET ``url``; the status and the JSON answer (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT_S) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def post(server: str, body: str, token: str | None) -> tuple[int, dict]:
    """POST a submission; the status and the JSON answer (errors included)."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{server}/api/submissions", data=body.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
