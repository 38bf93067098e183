"""Hostile models, run folders and configs are refused with a clear error before any work."""

from __future__ import annotations

import io

import gymnasium as gym
import pytest
import torch
from sb3_contrib import RecurrentPPO

import nmn_envs  # noqa: F401  (registers the ids)
from policies import RNNPolicy
from policies.serialization import MAX_PARAMETERS, load_safe, save_safe
from tests.test_safe_loading import _rewrite

ENV_ID = "NMN-Bench1-v0"


def _tensors(**shapes: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    torch.save({name: torch.zeros(shape) for name, shape in shapes.items()}, buffer)
    return buffer.getvalue()


@pytest.fixture
def safe_model(tmp_path):
    model = RecurrentPPO(RNNPolicy, gym.make(ENV_ID), n_steps=8, batch_size=8, seed=0)
    return save_safe(model, tmp_path / "rnn.safe.zip", env_id=ENV_ID)


@pytest.mark.parametrize(
    ("metadata", "weights", "message"),
    [
        # an empty tensor with a huge dimension used to pass the size guard
        ({"policy_kwargs": {"recurrent_sizes": [10**12]}}, _tensors(x=(0, 10**12)), "positive integers of at most"),
        # each size is modest, the network is not: counted before anything is allocated
        ({"policy_kwargs": {"recurrent_sizes": [30_000, 30_000]}}, _tensors(x=(0, 30_000), y=(1,)), f"over the limit of {MAX_PARAMETERS}"),
        ({"policy_kwargs": {"recurrent_sizes": [64]}}, _tensors(x=(0, 64)), "the weights do not fit the policy: missing"),
        ({"policy_class": "MultiInputLstmPolicy", "policy_kwargs": {"lstm_hidden_size": -1}}, None, "'lstm_hidden_size' = -1: layer sizes must be positive"),
        ({"policy_kwargs": {"net_arch": [-3]}}, None, "'net_arch' = -3: layer sizes must be positive"),
        ({"policy_kwargs": {"net_arch": {"pi": [0], "vf": [8]}}}, None, r"'net_arch.pi' = 0: layer sizes must be positive"),
        ({"env_kwargs": {"feedback": False}}, None, r"do not build a RNNPolicy on the spaces of NMN-Bench1-v0 with env_kwargs \{'feedback': False\}"),
    ],
)
def test_a_safe_model_is_sized_from_its_metadata_before_anything_is_built(safe_model, metadata, weights, message):
    _rewrite(safe_model, metadata, weights)
    with pytest.raises(ValueError, match=message):
        load_safe(safe_model)
