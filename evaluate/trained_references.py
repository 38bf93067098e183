"""Trained references: the ``oracle`` and ``memoryless`` agents of tasks whose best policies cannot
be written down (the MuJoCo HalfCheetah tasks: a gait is learnt, not scripted).

The oracle is the MAML paper's: a policy trained with the task in its observation, SB3 PPO with an
MLP policy on the bare task with the task's fields appended
(:class:`nmn_envs.wrappers.TaskObservationWrapper`; ``nmn-train ENV --policy oracle``). The
memoryless reference is PPO on the same bare task with the base observation alone, over the whole
task distribution: the best policy that ignores the task and all feedback, as well as PPO finds it
(``nmn-train ENV --policy memoryless``). Both play their mean actions, so they are deterministic
players; the oracle reads each sub-environment's task from the vector env (Gymnasium's
``SyncVectorEnv`` of the MuJoCo envs), as only a reference may.

Their models ship as data of the :mod:`policies` package, ``policies/zoo/<env id>/<name>-seed0.safe.zip``
(the pickle-free form of :mod:`policies.serialization`). A file is checked before anything is
played: it must be a PPO model of the environment it stands for, acting on its name's layout
(``bare+task`` for the oracle, whose task fields must be the environment's; ``bare`` for the
memoryless one). Every result names the model's weights hash and the command that trains it
again (:func:`trained_by`).

A trained oracle is a ceiling estimate, not a bound: PPO at a finite budget is not the optimal
policy told the task, so an agent may come close to it, or pass it, without knowing the task; it
is the ``oracle`` bound and the 1 of the normalised scales where the environment has no bayes
value, described as what it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import Env
from gymnasium.vector import SyncVectorEnv, VectorEnv

import policies
from evaluate.policy import Observation, Policy
from nmn_envs.wrappers import task_fields, task_observations
from policies.serialization import SafeModel, load_safe, read_metadata

MODELS_DIR = Path(policies.__file__).resolve().parent / "zoo"
"""Where the trained references ship: beside the zoo's models, as data of :mod:`policies`."""
SEED = 0
"""The training seed of every shipped trained reference."""
TRAINED_REFERENCES: dict[str, tuple[str, ...]] = {
    "NMN-HalfCheetahDir-v0": ("oracle", "memoryless"),
    "NMN-HalfCheetahVel-v0": ("oracle", "memoryless"),
}
"""The reference agents each environment has as trained models."""
REFERENCE_LAYOUTS = {"oracle": "bare+task", "memoryless": "bare"}
"""The observation layout (:data:`policies.serialization.LAYOUTS`) each trained reference acts on."""
WHAT = {
    "oracle": "PPO told the task (trained oracle: a ceiling estimate, not Bayes)",
    "memoryless": "PPO on the bare observation, task and feedback ignored (adaptation score 0)",
}


def model_path(name: str, env_id: str) -> Path:
    """The shipped model of the trained reference ``name`` of ``env_id``."""
    return MODELS_DIR / env_id / f"{name}-seed{SEED}.safe.zip"


def trained_by(name: str, env_id: str, steps: int) -> str:
    """The command that trains the reference ``name`` of ``env_id`` for ``steps`` steps."""
    return f"nmn-train {env_id} --policy {name} --seed {SEED} --timesteps {steps} --out <run folder>"


def load_reference_model(name: str, env_id: str, path: str | Path | None = None) -> SafeModel:
    """The model of the trained reference ``name`` of ``env_id``: the shipped one, or ``path``.

    Raises:
        FileNotFoundError: the shipped model is missing (an incomplete install).
        ValueError: before any weight is read, for a reference the environment has no model
            for, or a file that is not a PPO model of ``env_id`` on the layout of ``name``
            (:data:`REFERENCE_LAYOUTS`); then for weights or task fields that do not fit
            (:func:`policies.serialization.load_safe`).
    """
    held = TRAINED_REFERENCES.get(env_id, ())
    if name not in held:
        raise ValueError(
            f"{env_id} has no trained {name} reference; trained references: "
            f"{ {env: list(names) for env, names in TRAINED_REFERENCES.items()} }"
        )
    if path is None and not model_path(name, env_id).is_file():  # a broken install, not a missing agent
        raise FileNotFoundError(f"the shipped {name} reference of {env_id}, {model_path(name, env_id)}, is missing")
    path = model_path(name, env_id) if path is None else Path(path)
    if not path.is_file():
        raise ValueError(f"the {name} reference of {env_id} has no model file {str(path)!r}")
    metadata = read_metadata(path)
    if metadata.algorithm != "PPO" or metadata.env_id != env_id or metadata.observation_layout != REFERENCE_LAYOUTS[name]:
        raise ValueError(
            f"{path}: a {metadata.algorithm} model of {metadata.env_id} on the "
            f"{metadata.observation_layout!r} layout; the {name} reference of {env_id} is a PPO model "
            f"of {env_id} on the {REFERENCE_LAYOUTS[name]!r} layout"
        )
    return load_safe(path)


class TrainedReference(Policy):
    """A trained reference agent (see the module docstring): its model's mean actions.

    Args:
        name: ``"oracle"`` or ``"memoryless"``.
        model: its model (:func:`load_reference_model`).
    """

    def __init__(self, name: str, model: SafeModel) -> None:
        self.name = name
        self.model = model
        metadata = model.metadata
        self.weights_sha256 = metadata.weights_sha256
        self.description = (
            f"{WHAT[name]}; {metadata.num_timesteps} steps, "
            f"`{trained_by(name, metadata.env_id, metadata.num_timesteps)}`, "
            f"weights sha256 {metadata.weights_sha256}"
        )
        self.envs: list[Env] = []
        self.fields = np.empty((0, 0))
        """Each sub-environment's task fields, read at its meta-episode's start (a task holds
        for a whole meta-episode)."""

    def reset(self, env: VectorEnv) -> None:
        unwrapped = env.unwrapped
        if not isinstance(unwrapped, SyncVectorEnv):
            raise ValueError(f"the trained {self.name} plays Gymnasium's SyncVectorEnv, got {type(unwrapped).__name__}")
        self.envs = list(unwrapped.envs)
        self.fields = np.empty((0, 0))

    def act(self, observation: Observation, episode_start: np.ndarray) -> np.ndarray:
        inputs = np.asarray(observation["observation"])
        if self.name == "oracle":
            started = np.flatnonzero(episode_start)
            if len(self.fields) != len(self.envs):  # the first step after reset()
                self.fields = task_fields([env.unwrapped.task for env in self.envs])
            elif started.size:
                self.fields[started] = task_fields([self.envs[row].unwrapped.task for row in started])
            inputs = task_observations(inputs, self.fields)
        actions, _ = self.model.predict(inputs, deterministic=True)
        return actions


def bound_description(player: Policy) -> str | None:
    """What the bound that ``player``'s mean return estimates is, for a trained reference (its
    description, which names its model); ``None`` for any other player (the kind's own words)."""
    return player.description if isinstance(player, TrainedReference) else None


def trained_reference(name: str, env_id: str, path: str | Path | None = None) -> TrainedReference:
    """The trained reference ``name`` of ``env_id``, from its shipped model or ``path``.

    Raises:
        ValueError: as :func:`load_reference_model`, before anything is played.
    """
    return TrainedReference(name, load_reference_model(name, env_id, path))
