"""A cache of what deterministic players return on published task sets, so that ``nmn-eval``
replays nothing it has played before.

``nmn-eval`` plays the reference agents, the zoo baselines and the agent on up to 1000 tasks;
all but sampled-action agents play the same actions whenever they meet the same tasks, so their
rollouts are kept here, with the interval estimates computed from them and the arrays of the
analyses of :mod:`evaluate.analyses` (an NMN agent's signal ``z``, its lock/unlock study). An
entry is keyed by the player (a reference agent's name, or a model's weights hash: its class,
constructor parameters and every weight), the task set's hash and the number of its tasks
played, the env kwargs, the batch size, the agents per task, and the software: the package
version, a hash of the package's own source files (a checkout's edits never read stale
entries), the versions of NumPy, torch, Gymnasium and SB3, and torch's thread count. Private
task sets are never cached.

Entries live in the user cache directory (``platformdirs.user_cache_dir("nmn-bench")``), or in
the folder the environment variable :data:`CACHE_ENV` names. Arrays are NumPy ``.npz`` files
read with ``allow_pickle=False``, intervals JSON; each holds its full key, checked on reading. A
file that is missing, truncated, corrupt or of another key is a miss (computed again and
rewritten), never an error; a cache folder that cannot be written is skipped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from evaluate.agents import PredictPolicy
from evaluate.policy import Policy
from evaluate.rollout import Rollout
from evaluate.schema import Interval

CACHE_ENV = "NMN_BENCH_CACHE_DIR"
FORMAT = 1
_SOURCE_PACKAGES = ("nmn_envs", "policies", "evaluate")
_LIBRARIES = ("numpy", "torch", "gymnasium", "stable-baselines3", "sb3-contrib")
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def cache_dir() -> Path:
    """The cache folder: ``$NMN_BENCH_CACHE_DIR``, else the user cache directory."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("nmn-bench"))


@functools.cache
def source_hash() -> str:
    """sha256 of the package's own Python source files (their paths and contents)."""
    import importlib

    digest = hashlib.sha256()
    for package in _SOURCE_PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def weights_hash(policy: Policy) -> str | None:
    """sha256 of a mean-action model agent's network: its class, its constructor parameters
    (SB3's ``_get_constructor_parameters``: spaces, architecture) and every weight.

    ``None`` for any other player (sampled actions, observation statistics, a callable, a
    policy without a torch network): the cache does not keep it.
    """
    import torch as th

    if not isinstance(policy, PredictPolicy) or not policy.deterministic:
        return None
    if policy.observation_statistics is not None:
        return None
    network = getattr(policy.model, "policy", None)
    if not isinstance(network, th.nn.Module):
        return None
    describe = getattr(network, "_get_constructor_parameters", dict)
    parameters = {  # bound methods (a learning-rate schedule) print their address: left out
        key: value for key, value in describe().items() if isinstance(value, type) or not callable(value)
    }
    digest = hashlib.sha256(f"{type(network)!r}{sorted(parameters.items())!r}".encode())
    for name, tensor in network.state_dict().items():
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}{data.dtype}{tuple(data.shape)}".encode())
        digest.update(data.reshape(-1).view(th.uint8).numpy().tobytes())
    return digest.hexdigest()


def _array_hash(array: np.ndarray) -> str:
    values = np.ascontiguousarray(array)
    return hashlib.sha256(f"{values.dtype}{values.shape}".encode() + values.tobytes()).hexdigest()


class ResultCache:
    """Rollouts and intervals of one software version in ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path, package_version: str) -> None:
        self.folder = Path(folder)
        self.software = {
            "format": FORMAT,
            "nmn-bench": package_version,
            "source": source_hash(),
            **_library_versions(),
            "torch_threads": _torch_threads(),
        }

    def _key(self, kind: str, parts: dict[str, Any]) -> tuple[str, Path] | None:
        """The canonical JSON of an entry's key and its file (``None``: not JSON, not cached)."""
        try:
            text = json.dumps({"kind": kind, **parts, "software": self.software}, sort_keys=True)
        except (TypeError, ValueError):
            return None
        name = hashlib.sha256(text.encode()).hexdigest()
        return text, self.folder / kind / name[:2] / f"{name}.{'json' if kind == 'interval' else 'npz'}"

    def rollout_key(
        self,
        player: dict[str, Any],
        env_id: str,
        env_kwargs: dict[str, Any],
        task_set_hash: str,
        n_tasks: int,
        batch_size: int,
        num_agents: int,
    ) -> tuple[str, Path] | None:
        """The key of ``player``'s rollout on the first ``n_tasks`` tasks of a task set."""
        return self._key(
            "rollout",
            {
                "player": player,
                "env_id": env_id,
                "env_kwargs": env_kwargs,
                "task_set": task_set_hash,
                "n_tasks": n_tasks,
                "batch_size": batch_size,
                "num_agents": num_agents,
            },
        )

    def arrays(self, key: tuple[str, Path]) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key`` (``None``: a miss, whatever the file holds)."""
        text, path = key
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["key"]) != text:
                    return None
                return {name: np.array(stored[name]) for name in stored.files if name != "key"}
        except _READ_ERRORS:
            return None

    def store_arrays(self, key: tuple[str, Path], arrays: dict[str, np.ndarray]) -> None:
        """Keep ``arrays`` under ``key``."""
        entry = {"key": np.array(key[0]), **arrays}
        self._write(key[1], lambda file: np.savez_compressed(file, **entry))

    def rollout(self, key: tuple[str, Path], n_tasks: int) -> Rollout | None:
        """The rollout stored under ``key`` (``None``: a miss, or arrays of another shape)."""
        stored = self.arrays(key)
        if stored is None or "step_rewards" not in stored:
            return None
        steps, trials = stored["step_rewards"], stored.get("trial_rewards")
        rows_fit = all(
            array is None or (array.ndim == 2 and array.shape[0] == n_tasks and array.dtype.kind == "f")
            for array in (steps, trials)
        )
        return Rollout(steps, trials) if rows_fit else None

    def store_rollout(self, key: tuple[str, Path], rollout: Rollout) -> None:
        """Keep ``rollout``'s rewards under ``key``."""
        arrays = {"step_rewards": rollout.step_rewards}
        if rollout.trial_rewards is not None:
            arrays["trial_rewards"] = rollout.trial_rewards
        self.store_arrays(key, arrays)

    def study(
        self, study: str, policy: Policy, parts: dict[str, Any], compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """The arrays of an analysis ``study`` of a mean-action model (``parts``: what else
        decides them), read from the cache or computed by ``compute`` and kept."""
        weights = weights_hash(policy)
        key = None if weights is None else self._key(study, {"weights": weights, **parts})
        stored = None if key is None else self.arrays(key)
        if stored is not None:
            return stored
        arrays = compute()
        if key is not None:
            self.store_arrays(key, arrays)
        return arrays

    def interval(
        self, estimate: Callable[..., Interval], *arrays: np.ndarray, reps: int, seed: int
    ) -> Interval:
        """``estimate(*arrays, reps, seed)``, read from the cache when it was computed before."""
        key = self._key(
            "interval",
            {
                "estimate": f"{estimate.__module__}.{estimate.__qualname__}",
                "arrays": [_array_hash(np.asarray(array)) for array in arrays],
                "reps": reps,
                "seed": seed,
            },
        )
        if key is not None:
            try:
                stored = json.loads(key[1].read_text())
                if stored["key"] == key[0]:
                    return Interval.model_validate(stored["interval"])
            except (*_READ_ERRORS, TypeError):
                pass
        interval = estimate(*arrays, reps, seed)
        if key is not None:
            entry = json.dumps({"key": key[0], "interval": interval.model_dump()})
            self._write(key[1], lambda file: file.write(entry.encode()))
        return interval

    def _write(self, path: Path, write: Callable[[Any], None]) -> None:
        """Write a file through ``write`` atomically (a reader never sees half of it); a folder
        that cannot be written leaves the cache as it is."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as file:
                write(file)
            os.replace(file.name, path)
        except OSError:
            return


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def cached_study(
    cache: ResultCache | None,
    study: str,
    policy: Policy,
    parts: dict[str, Any],
    compute: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """``compute()``, through ``cache`` where there is one (see :meth:`ResultCache.study`)."""
    return compute() if cache is None else cache.study(study, policy, parts, compute)


def estimate_interval(
    cache: ResultCache | None,
    estimate: Callable[..., Interval],
    *arrays: np.ndarray,
    reps: int,
    seed: int,
) -> Interval:
    """``estimate(*arrays, reps, seed)`` through ``cache`` where there is one."""
    if cache is None:
        return estimate(*arrays, reps, seed)
    return cache.interval(estimate, *arrays, reps=reps, seed=seed)
