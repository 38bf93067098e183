"""Shared test fixtures."""

import functools
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nmn_envs
from policies.config import Hyperparams, dump_hyperparams, load_hyperparams

BENCH_IDS = list(nmn_envs.BENCHMARKS)
NUMPY_IDS = BENCH_IDS + list(nmn_envs.CLASSIC_TASKS)
"""Every id with a native NumPy vector env."""


def random_actions(space, count: int, seed: int) -> np.ndarray:
    """``count`` actions for one sub-environment; Box actions reach past the bounds (clipped)."""
    generator = np.random.default_rng(seed)
    if isinstance(space, gym.spaces.Discrete):
        return generator.integers(0, space.n, size=count)
    return generator.uniform(1.2 * space.low, 1.2 * space.high, size=(count, *space.shape))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


TINY = {
    "n_envs": 2,
    "n_timesteps": 96,
    "normalize_reward": True,
    "env_kwargs": {"max_episode_steps": 30},
    "gamma": 0.998,
    "gae_lambda": 0.98,
    "learning_rate": 0.001,
    "n_steps": 16,
    "batch_size": 32,
    "n_epochs": 1,
}


@pytest.fixture
def tiny_hyperparams(tmp_path: Path) -> Path:
    """The Bench1 policy sizes with a tiny rollout, so that a run takes a second or two."""
    hyperparams = Hyperparams(**TINY, policy_kwargs=load_hyperparams("NMN-Bench1-v0").policy_kwargs)
    path = tmp_path / "tiny.yml"
    path.write_text(dump_hyperparams(hyperparams, "NMN-Bench1-v0"))
    return path


def _postgres_tool(name: str) -> str:
    """A PostgreSQL server program (Debian installs them under /usr/lib/postgresql/N/bin)."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.fail(f"{name} not found: install Debian's postgresql package (make install-dev)")
    return found


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a unix socket; yields the socket's folder."""
    root = Path(tempfile.mkdtemp(prefix="nmn-postgres-"))
    data, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(socket_dir, "postgres")
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True)
    run(
        _as_server_user(
            [
                _postgres_tool("initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        )
    )
    options = f"-k {socket_dir} -c listen_addresses='' -F"
    pg_ctl = _postgres_tool("pg_ctl")
    run(
        _as_server_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
        )
    )
    try:
        yield str(socket_dir)
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty leaderboard database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "board.sqlite")
        return
    import psycopg

    socket_dir = request.getfixturevalue("postgres_server")
    name = f"board_{uuid.uuid4().hex}"
    with psycopg.connect(
        host=socket_dir, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@/{name}?host={socket_dir}"
    with psycopg.connect(
        host=socket_dir, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True, scope="session")
def _result_cache_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests keep the entries of :mod:`evaluate.cache` in a folder of their own, never in
    the user's cache directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NMN_BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("result-cache")))
        yield
