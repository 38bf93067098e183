"""Shared test fixtures."""

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nmn_envs
from policies.config import Hyperparams, dump_hyperparams, load_hyperparams
from tests.postgres import fresh_database, throwaway_postgres

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a unix socket; yields the socket's folder."""
    with throwaway_postgres() as socket_dir:
        yield socket_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty leaderboard database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "board.sqlite")
        return
    with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def _result_cache_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests keep the entries of :mod:`evaluate.cache` in a folder of their own, never in
    the user's cache directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NMN_BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("result-cache")))
        yield
