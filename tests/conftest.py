"""Shared test fixtures."""

import numpy as np
import pytest

import nmn_envs

BENCH_IDS = list(nmn_envs.BENCHMARKS)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
