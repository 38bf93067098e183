"""Shared test fixtures."""

import gymnasium as gym
import numpy as np
import pytest

import nmn_envs

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
