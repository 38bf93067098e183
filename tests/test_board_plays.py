"""The board plays submitted models itself: a real server and real worker processes, on SQLite and
on a throwaway PostgreSQL server.

One server per database (started without workers) and one worker process per database at a time
(:class:`Workers`), with a short lease and a memory limit that a zoo model's play fits in and a
large network's does not. Every model is a shipped zoo model of NMN-Bandit (a few seconds to
play on the full task sets) or one written here.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
import torch as th

from evaluate.cli import main as nmn_eval
from evaluate.harness import evaluate
from evaluate.report import format_interval
from evaluate.schema import EvaluationResult
from evaluate.task_sets import SET_SIZE
from leaderboard.cli import main as leaderboard
from leaderboard.store import Store
from leaderboard.submission import Submission, normalise
from leaderboard.verify import PRIVATE_SEED_ENV_VAR
from policies.serialization import (
    METADATA_FILE,
    WEIGHTS_FILE,
    PolicyMetadata,
    policy_blueprint,
    read_metadata,
)
from tests.postgres import fresh_database
from tests.served import get, serving

ENV = "NMN-Bandit-v0"
ZOO = Path(__file__).resolve().parent.parent / "policies" / "zoo" / ENV
PRIVATE_SEED = 271828
LEASE_S = 3
MEMORY_MIB = 1700
"""Enough for a zoo model's play (it passes at 1400 MiB of address space on the development
machine, the worker's imports included), too little for building the network of
:func:`large_model` (refused at 1900 MiB there)."""
CPU_S = 120
"""Enough for a zoo model's play (some 10 s); a large network that loaded would stop here."""
LARGE_LSTM = 3000
"""The LSTM size of :func:`large_model`: two LSTMs of 3000 units, some 72 million parameters."""
BOARD_MAX_PARAMETERS = 100_000_000
JOB_TIMEOUT_S = 600


class Workers:
    """One ``nmn-leaderboard worker`` process on a board's database, restarted on demand."""

    def __init__(self, db: str, log: Path) -> None:
        self.db = db
        self.log = log
        self.process: subprocess.Popen | None = None

    def running(self) -> subprocess.Popen:
        """The worker, started if none runs."""
        if self.process is None or self.process.poll() is not None:
            environment = {**os.environ, PRIVATE_SEED_ENV_VAR: str(PRIVATE_SEED)}
            command = [
                sys.executable, "-m", "leaderboard.cli", "--db", self.db, "worker",
                "--lease-s", str(LEASE_S), "--memory-mib", str(MEMORY_MIB), "--cpu-s", str(CPU_S),
            ]
            with self.log.open("a") as log:
                self.process = subprocess.Popen(
                    command, env=environment, stdout=log, stderr=subprocess.STDOUT
                )
        return self.process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def board(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str, Workers]]:
    """A served board with no worker of its own: its database, URL, a token and its workers."""
    folder = tmp_path_factory.mktemp(f"plays-{request.param}")
    with _database(request, folder) as db:
        token = Store(db).create_token("tests")
        with serving(db, "--max-parameters", str(BOARD_MAX_PARAMETERS)) as url:
            workers = Workers(db, folder / "worker.log")
            try:
                yield db, url, token, workers
            finally:
                workers.stop()


def _database(request: pytest.FixtureRequest, folder: Path) -> AbstractContextManager[str]:
    if request.param == "sqlite":
        return nullcontext(str(folder / "board.sqlite"))
    return fresh_database(request.getfixturevalue("postgres_server"))


def submit(
    url: str, token: str, model: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``nmn-leaderboard submit-model MODEL --env ENV --server URL --token T --no-wait``."""
    code = leaderboard(
        [
            "submit-model", str(model), "--env", ENV, "--name", name, "--author", "tests",
            "--server", url, "--token", token, "--no-wait",
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def job_id(out: str) -> int:
    return int(out.split("queued job ")[1].split()[0])


def wait_for(url: str, job: int, states: tuple[str, ...] = ("done", "failed")) -> dict:
    """The job's status once it is in one of ``states``."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status, answer = get(f"{url}/api/jobs/{job}")
        assert status == 200, answer
        if answer["state"] in states:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not reach {states} within {JOB_TIMEOUT_S} s: {answer}")


def resized(path: Path, base: Path, lstm_hidden_size: int, zero_weights: bool) -> Path:
    """``base``'s model with LSTMs of ``lstm_hidden_size`` units, written in the safe form: with
    weights of that size, all zeros (a small file: they compress), or with ``base``'s own
    (which do not fit; only the metadata asks for the network)."""
    metadata = read_metadata(base)
    kwargs = {**metadata.policy_kwargs, "lstm_hidden_size": lstm_hidden_size}
    if zero_weights:
        shapes = policy_blueprint(metadata.model_copy(update={"policy_kwargs": kwargs})).shapes
        buffer = io.BytesIO()
        th.save({name: th.zeros(shape) for name, shape in shapes.items()}, buffer)
        weights = buffer.getvalue()
    else:
        with zipfile.ZipFile(base) as archive:
            weights = archive.read(WEIGHTS_FILE)
    document = {
        **metadata.model_dump(mode="json"),
        "policy_kwargs": kwargs,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_FILE, PolicyMetadata.model_validate(document).model_dump_json())
        archive.writestr(WEIGHTS_FILE, weights)
    return path


@pytest.fixture(scope="module")
def large_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of :data:`LARGE_LSTM` units (made once for every database)."""
    return resized(
        tmp_path_factory.mktemp("large") / "large.safe.zip",
        ZOO / "lstm-seed0.safe.zip",
        LARGE_LSTM,
        zero_weights=True,
    )


def test_a_model_posted_over_http_is_played_by_the_board_with_the_score_nmn_eval_gives(
    board: tuple[str, str, str, Workers], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, url, token, workers = board
    workers.running()
    model = ZOO / "nmn-seed0.safe.zip"
    code, out, err = submit(url, token, model, "posted nmn", capsys)
    assert code == 0, err
    job = job_id(out)
    status, pending = get(f"{url}/api/jobs/{job}")
    assert status == 200 and pending["state"] in ("queued", "running")
    done = wait_for(url, job)
    assert done["state"] == "done", done
    status, payload = get(f"{url}/api/submissions/{done['entry_id']}")
    entry = Submission.model_validate(payload)
    assert entry.provenance == "played by the board" and entry.card.name == "posted nmn"

    nmn_eval([ENV, "--agent", str(model), "--baseline", "none", "--out", str(tmp_path / "eval"),
              "--no-progress", "--no-cache"])
    capsys.readouterr()
    result = EvaluationResult.model_validate_json((tmp_path / "eval" / "result.json").read_text())
    assert entry.result.agent.returns == result.agent.returns
    assert entry.result.agent.iqm == result.agent.iqm
    assert entry.normalised_iqm() == normalise(result.agent.iqm, result.normaliser)

    private = evaluate(str(model), ENV, n_tasks=SET_SIZE, references=(), private_seed=PRIVATE_SEED)
    played = entry.played
    assert played is not None and played.private_iqm == private.agent.iqm
    assert played.private_normalised_iqm == normalise(private.agent.iqm, result.normaliser)
    assert played.model_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert not played.private_flagged  # the same distribution: no drop beyond the intervals

    status, table = get(f"{url}/api/tables/{ENV}")
    row = next(row for row in table["rows"] if row["id"] == done["entry_id"])
    assert row["provenance"] == "played by the board"
    assert row["private_score"] == played.private_normalised_iqm.model_dump()
    assert leaderboard(["list", "--server", url, "--env", ENV]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if "posted nmn" in line)
    assert format_interval(played.private_normalised_iqm, 3) in listed


def test_a_job_whose_worker_is_killed_mid_play_is_played_again_after_a_restart(
    board: tuple[str, str, str, Workers], capsys: pytest.CaptureFixture[str]
) -> None:
    db, url, token, workers = board
    killed = workers.running()
    code, out, err = submit(url, token, ZOO / "rnn-seed0.safe.zip", "restarted rnn", capsys)
    assert code == 0, err
    job = job_id(out)
    wait_for(url, job, ("running",))  # claimed: its play has started
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    status, shown = get(f"{url}/api/jobs")
    assert [each["id"] for each in shown if each["state"] == "running"] == [job]
    page = _page(url)
    assert "Models being played" in page and "restarted rnn" in page

    restarted = workers.running()
    done = wait_for(url, job)
    assert done["state"] == "done" and done["tries"] == 2, done
    assert restarted.poll() is None
    assert Store(db).get(done["entry_id"]).submission().played.job_id == job


def test_a_huge_network_is_refused_at_the_door_and_a_large_one_by_the_memory_limit(
    board: tuple[str, str, str, Workers],
    large_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, url, token, workers = board
    worker = workers.running()
    huge = resized(tmp_path / "huge.safe.zip", ZOO / "lstm-seed0.safe.zip", 10**5, False)
    code, out, err = submit(url, token, huge, "huge lstm", capsys)
    assert code == 1, err
    assert err.startswith("refused: model: policy_kwargs ask for a MultiInputLstmPolicy of ")
    assert f"over the board's limit of {BOARD_MAX_PARAMETERS}" in err
    assert "queued job" not in out

    code, out, err = submit(url, token, large_model, "large lstm", capsys)
    assert code == 0, err
    failed = wait_for(url, job_id(out))
    assert failed["state"] == "failed", failed
    assert failed["reason"] == f"the play ran out of its memory limit of {MEMORY_MIB} MiB"

    assert worker.poll() is None  # alive, and playing the next model
    code, out, err = submit(url, token, ZOO / "lstm-seed0.safe.zip", "after the large one", capsys)
    assert code == 0, err
    assert wait_for(url, job_id(out))["state"] == "done"


def _page(url: str) -> str:
    with urllib.request.urlopen(f"{url}/", timeout=30) as response:
        return response.read().decode()
