"""Evaluation task sets: a fixed, versioned, content-hashed list of tasks and seeds per environment.

A task set is generated, not stored: task ``i`` is the ``i``-th draw of
``env.unwrapped.sample_task(numpy.random.default_rng(generator_seed))`` and it is played
with reset seed ``generator_seed + 1 + i`` (the seed of the sub-environment's own random
stream: start states, respawns). ``sha256`` hashes the canonical JSON of the tasks and seeds.

Evaluation seeds start at ``EVALUATION_SEED_BASE`` (10^9); training seeds must stay below it,
so that no agent is evaluated on a task stream it was trained on.

``PINNED`` records the hash of every published set (default env kwargs). If the task
distribution's code or the generator seed changes, the regenerated hash no longer matches and
:func:`task_set` refuses to label the set with the old version: a changed set needs a new
version in ``VERSIONS`` and a new pinned hash, never a silent change. ``SHIFT_PINNED`` does the
same for the task set of every shift (:func:`shift_task_set`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from evaluate.schema import TaskSetInfo
from evaluate.shifts import SHIFTS, Shift, shifted_kwargs
from nmn_envs import check_env_id
from nmn_envs.tasks import Task

EVALUATION_SEED_BASE = 10**9
SET_SIZE = 1000

# env id -> (version, generator seed); bump the version whenever the set changes.
VERSIONS: dict[str, tuple[int, int]] = {
    "NMN-Bench1-v0": (1, EVALUATION_SEED_BASE + 1_000_000),
    "NMN-Bench2-v0": (1, EVALUATION_SEED_BASE + 2_000_000),
    "NMN-Bench3-v0": (1, EVALUATION_SEED_BASE + 3_000_000),
    "NMN-Bandit-v0": (1, EVALUATION_SEED_BASE + 4_000_000),
    "NMN-TwoStep-v0": (1, EVALUATION_SEED_BASE + 5_000_000),
    "NMN-Harlow-v0": (1, EVALUATION_SEED_BASE + 6_000_000),
    "NMN-Navigation2D-v0": (1, EVALUATION_SEED_BASE + 7_000_000),
    "NMN-HalfCheetahDir-v0": (1, EVALUATION_SEED_BASE + 8_000_000),
    # The seed its sets had while unpublished: the shift "faster", pinned then, keeps its tasks.
    "NMN-HalfCheetahVel-v0": (1, EVALUATION_SEED_BASE + 9_000_000),
}
EVALUATION_KWARGS: dict[str, dict[str, Any]] = {"NMN-Harlow-v0": {"pool": "test"}}
"""Env kwargs the evaluation protocol fixes: Harlow is scored on its held-out object pool, whose
objects no agent met in training (the pool changes the objects' features, not the tasks)."""

TRAINING_KWARGS: dict[str, dict[str, Any]] = {"NMN-Harlow-v0": {"pool": "train"}}
"""What :data:`EVALUATION_KWARGS` changes, as agents train on it: the in-distribution side of a
generalisation gap (:mod:`evaluate.shifts`), for which Harlow's held-out pool is a shift."""

UNPUBLISHED_SEED = EVALUATION_SEED_BASE + 99_000_000
"""Generator seed of the sets of ids without a published version (labelled ``unpublished``), far
from every published one (it was ``+ 9_000_000`` until NMN-HalfCheetahVel took that seed)."""

SHIFT_OFFSET = 200_000
SHIFT_STRIDE = 10_000
"""The task set of a shift in slot ``k`` (:class:`evaluate.shifts.Shift`) is drawn with the
evaluation set's generator seed plus ``SHIFT_OFFSET + k * SHIFT_STRIDE``: ``SET_SIZE`` reset seeds
above that, so that no task or seed is shared with the evaluation set, the validation set or
another shift (slots stay below ``(VALIDATION_OFFSET - SHIFT_OFFSET) / SHIFT_STRIDE - 1``)."""

SHIFT_SET_VERSION = 1
"""The version of every shift's task set; bump it (and the pinned hashes) when one changes."""

VALIDATION_OFFSET = 500_000
"""A validation set is drawn with the evaluation set's generator seed plus this offset: other
tasks, and reset seeds far from the evaluation set's (``SET_SIZE`` above their generator seed)."""

# "<env id>/v<N>" -> sha256 of the set built with the env's default kwargs.
PINNED: dict[str, str] = {
    "NMN-Bench1-v0/v1": "0e0369b9db7265e9f1b8ab221cc2fc06038f76359f6cc04000a811a7de92d027",
    "NMN-Bench2-v0/v1": "0991acb433b95b7fb695b0d3d6041b1fb96c09155edf577c71c76c0babd20197",
    "NMN-Bench3-v0/v1": "1e471e8cca779bc340bad6c589ded4315ba5347abab95e7d03426ef79ee7f12e",
    "NMN-Bandit-v0/v1": "e33275f5a1732047d54c503dbb7483f13583ef1f058e6036b2363ddc44d727ca",
    "NMN-TwoStep-v0/v1": "7fa1fe7194f9bf975870f620b94f42d3c4e2e63b2fbc1e411d4c2562334fca24",
    "NMN-Harlow-v0/v1": "15ebe9dad6f0caef5349b457a05efbf556088b34adf2dac882e23f95f56ae9ba",
    "NMN-Navigation2D-v0/v1": "d845b2b634c96bcc17264dd5c71d8b90f9caaec264bb361a62bb4a25168847f0",
    "NMN-HalfCheetahDir-v0/v1": "21b10455096dc72a61c2282544318afcf5860a06a46e790d47727657357dab98",
    "NMN-HalfCheetahVel-v0/v1": "7a0de37b3a139ef7c1d6f687b860684e30af82a3c9b1ee565bb249164f715fb0",
}

# "<env id>/<shift>/v<N>" -> sha256 of a shift's set (evaluate.shifts), the env's other kwargs at
# their defaults.
SHIFT_PINNED: dict[str, str] = {
    "NMN-Bench1-v0/wider/v1": "37261891f40029adeeae17d66cef97835ee3c7e93a8d1e8ebc4bb4c21ef014c8",
    "NMN-Bench1-v0/switching/v1": "4350fe4a46094dc889c36dd46891b6694e327e8f4824e6ef7fc58363d9471eaa",
    "NMN-Bench2-v0/wind_switch/v1": "5567d31a0d7ee01a400fe452938b09fd195a598012974f73d939306e4e585a5a",
    "NMN-Bench3-v0/swap/v1": "ae4e99859232342fbaf7ebbc650c7b311fc91e7ff5cb5b9cc29d7fa5ef3f4e98",
    "NMN-Bandit-v0/dependent/v1": "39a23ccde09c60cd79255caf0e3cbc496d7956253a9b00ca0c63d58d33606aca",
    "NMN-Bandit-v0/easy/v1": "c7171eaee79fd53615a705103d7b63902bfebcdfb445b1d2c4c36a1363d7c7bb",
    "NMN-Bandit-v0/medium/v1": "12f8096ad1c3adcd567c77a28c76dad11b6707ebd48b78afa01b945b0a718dc4",
    "NMN-Bandit-v0/hard/v1": "bed3fe9476f16ce9bbbe5a3c2c520c0579dece12e1d53c1f1e39e4010e5b70ca",
    "NMN-TwoStep-v0/frequent_swaps/v1": "63059aa0883a34e456abc2d4b519c7f33cb9c6525d74af9cebd78e9a9f48d2d6",
    "NMN-Harlow-v0/held_out_objects/v1": "8ebc8f915a8160d8d5a1cf4f48bcb95ca49acf1ecb6bb8a3db0ad847436cfd6f",
    "NMN-Navigation2D-v0/wider_goals/v1": "269c7d2470a32d88a73b25dc3247533058e142800faf051b3a2258cfb618efbf",
    "NMN-HalfCheetahVel-v0/faster/v1": "ca73898333d99d20a2f8a2e1c5372af61dbdb4f5ef77d2909514f708e55eec6b",
}


@dataclass(frozen=True)
class TaskSet:
    """A generated evaluation task set.

    Attributes:
        env_id: the environment the tasks belong to.
        version: ``"<env_id>/v<N>"``; ``"<env_id>/custom"`` for env kwargs that change the
            task distribution; ``"<env_id>/unpublished"`` for ids without a published set.
        generator_seed: the seed of the generator the tasks are drawn with.
        tasks: the tasks, in order.
        seeds: the reset seed of each task's sub-environment.
        sha256: hash of the canonical JSON of tasks and seeds.
    """

    env_id: str
    version: str
    generator_seed: int
    tasks: tuple[Task, ...]
    seeds: tuple[int, ...]
    sha256: str

    def __len__(self) -> int:
        return len(self.tasks)

    def info(self, n_tasks: int) -> TaskSetInfo:
        """The schema record of this set when its first ``n_tasks`` tasks are played."""
        return TaskSetInfo(
            version=self.version,
            sha256=self.sha256,
            generator_seed=self.generator_seed,
            size=len(self),
            n_tasks=n_tasks,
        )

    def head(self, n_tasks: int | None) -> tuple[list[Task], list[int]]:
        """The first ``n_tasks`` tasks and seeds (all when ``None``); refuses more than the set has."""
        if n_tasks is None:
            return list(self.tasks), list(self.seeds)
        if not isinstance(n_tasks, (int, np.integer)) or isinstance(n_tasks, bool) or n_tasks < 1:
            raise ValueError(f"n_tasks must be a positive integer, got {n_tasks!r}")
        if n_tasks > len(self):
            raise ValueError(
                f"n_tasks={n_tasks} exceeds the {len(self)} tasks of the evaluation set "
                f"{self.version}; use at most {len(self)}"
            )
        return list(self.tasks[:n_tasks]), list(self.seeds[:n_tasks])


def content_hash(tasks: list[dict[str, Any]], seeds: list[int]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of ``tasks`` and ``seeds``."""
    payload = json.dumps({"tasks": tasks, "seeds": seeds}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


MAX_EPISODE_STEPS = 100_000
"""The longest meta-episode the harness plays: it keeps every step's reward of every task played
(20 times the longest registered length)."""


def check_env_kwargs(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Refuse kwargs that do not make ``env_id`` (an unknown name, a value of the wrong type, a
    meta-episode longer than :data:`MAX_EPISODE_STEPS`).

    Raises:
        ValueError: naming the kwarg and what ``env_id`` takes.
    """
    steps = env_kwargs.get("max_episode_steps")
    if steps is not None and (
        not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or not 1 <= steps <= MAX_EPISODE_STEPS
    ):
        raise ValueError(f"max_episode_steps must be a positive integer of at most {MAX_EPISODE_STEPS}, got {steps!r}")
    try:
        gym.make(env_id, **env_kwargs).close()
    except (TypeError, ValueError, gym.error.Error) as error:
        raise ValueError(f"env kwargs {env_kwargs} do not make {env_id}: {error}") from None


def task_set(env_id: str, **env_kwargs: Any) -> TaskSet:
    """The evaluation task set of ``env_id``: ``SET_SIZE`` tasks and their seeds.

    Args:
        env_id: a registered id of the suite.
        env_kwargs: kwargs of the environment; any that change the task distribution give a
            ``"<env_id>/custom"`` set, since no version is published for them.

    Raises:
        gymnasium.error.NameNotFound: for an unknown id.
        ValueError: if a published set no longer regenerates to its pinned hash.
    """
    check_env_id(env_id)
    number, generator_seed = VERSIONS.get(env_id, (0, UNPUBLISHED_SEED))
    version = f"{env_id}/v{number}" if number else f"{env_id}/unpublished"
    generated = _generate(env_id, version, generator_seed, env_kwargs)
    pinned = PINNED.get(version)
    if pinned is not None and generated.sha256 != pinned:
        if not _distribution_kwargs(env_kwargs):
            raise ValueError(
                f"the evaluation set {version} regenerates to hash {generated.sha256}, not its "
                f"pinned {pinned}: the task distribution changed; publish it as a new version"
            )
        return dataclasses.replace(generated, version=f"{env_id}/custom")
    return generated


def private_task_set(env_id: str, generator_seed: int, **env_kwargs: Any) -> TaskSet:
    """A private evaluation set of ``env_id``: same distribution and size, another seed.

    A board operator keeps ``generator_seed`` secret, so no agent can know the tasks in
    advance; the set is labelled ``"<env_id>/private"``.

    Raises:
        ValueError: a seed that is not a non-negative integer, or one of a published set.
    """
    check_env_id(env_id)
    if (
        not isinstance(generator_seed, (int, np.integer))
        or isinstance(generator_seed, bool)
        or generator_seed < 0
    ):
        raise ValueError(
            f"a private set's seed must be a non-negative integer, got {generator_seed!r}"
        )
    published = {seed for _, seed in VERSIONS.values()} | {UNPUBLISHED_SEED}
    published |= {shift_seed(shift) for listed in SHIFTS.values() for shift in listed}
    if generator_seed in published:
        raise ValueError("a private set's seed must not be the seed of a published set")
    return _generate(env_id, f"{env_id}/private", int(generator_seed), env_kwargs)


def shift_seed(shift: Shift) -> int:
    """The generator seed of ``shift``'s task set (see :data:`SHIFT_OFFSET`), above the seed of
    its env's evaluation set (the unpublished sets' for an env without a published one)."""
    base = VERSIONS.get(shift.env_id, (0, UNPUBLISHED_SEED))[1]
    return base + SHIFT_OFFSET + shift.slot * SHIFT_STRIDE


def shift_task_set(shift: Shift, **env_kwargs: Any) -> TaskSet:
    """The published task set of ``shift``: ``SET_SIZE`` tasks of the shifted distribution.

    Drawn like the evaluation set, with the shift's kwargs on top of ``env_kwargs`` and its own
    generator seed (:func:`shift_seed`); labelled ``"<env_id>/<shift>/v<N>"`` and pinned in
    :data:`SHIFT_PINNED` like the evaluation sets.

    Raises:
        ValueError: for ``env_kwargs`` that clash with the shift or change the spaces with it
            (:func:`evaluate.shifts.shifted_kwargs`), or if the set no longer regenerates to its
            pinned hash.
    """
    check_env_id(shift.env_id)
    version = f"{shift.env_id}/{shift.name}/v{SHIFT_SET_VERSION}"
    generated = _generate(shift.env_id, version, shift_seed(shift), shifted_kwargs(shift, env_kwargs))
    pinned = SHIFT_PINNED.get(version)
    if pinned is not None and generated.sha256 != pinned and not _distribution_kwargs(env_kwargs):
        raise ValueError(
            f"the shifted task set {version} regenerates to hash {generated.sha256}, not its pinned"
            f" {pinned}: the shifted distribution changed; publish it as a new version"
        )
    if pinned is not None and generated.sha256 != pinned:
        return dataclasses.replace(generated, version=f"{shift.env_id}/{shift.name}/custom")
    return generated


def _generate(
    env_id: str, version: str, generator_seed: int, env_kwargs: dict[str, Any]
) -> TaskSet:
    env = gym.make(env_id, **env_kwargs)
    rng = np.random.default_rng(generator_seed)
    tasks = tuple(env.unwrapped.sample_task(rng) for _ in range(SET_SIZE))
    env.close()
    seeds = tuple(generator_seed + 1 + i for i in range(SET_SIZE))
    digest = content_hash([task.to_dict() for task in tasks], list(seeds))
    return TaskSet(env_id, version, generator_seed, tasks, seeds, digest)


def validation_set(env_id: str, **env_kwargs: Any) -> TaskSet:
    """The validation task set of ``env_id``: what training picks its best model on.

    ``SET_SIZE`` tasks drawn like the evaluation set's but with a generator seed
    ``VALIDATION_OFFSET`` above it, so that no task or reset seed is shared with it (labelled
    ``"<env_id>/validation"``). Play it with the env's own kwargs (Harlow's training pool): model
    selection must not see the held-out evaluation conditions either.

    Raises:
        gymnasium.error.NameNotFound: for an unknown id.
    """
    check_env_id(env_id)
    generator_seed = VERSIONS.get(env_id, (0, UNPUBLISHED_SEED))[1] + VALIDATION_OFFSET
    return _generate(env_id, f"{env_id}/validation", generator_seed, env_kwargs)


def evaluation_kwargs(env_id: str, env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``env_kwargs`` on top of the kwargs the evaluation protocol fixes for ``env_id``."""
    return {**EVALUATION_KWARGS.get(env_id, {}), **(env_kwargs or {})}


def in_distribution_kwargs(env_id: str, env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``env_kwargs`` on top of the kwargs agents train ``env_id`` with where the evaluation protocol
    fixes others (:data:`TRAINING_KWARGS`): the in-distribution side of a generalisation gap."""
    return {**TRAINING_KWARGS.get(env_id, {}), **(env_kwargs or {})}


def _distribution_kwargs(env_kwargs: dict[str, Any]) -> bool:
    """Whether kwargs other than the episode length, rendering and the object pool were given."""
    return bool(set(env_kwargs) - {"max_episode_steps", "render_mode", "pool"})
