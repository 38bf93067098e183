"""Save and load trained policies without pickle: JSON metadata plus a ``state_dict``.

A Stable-Baselines3 ``model.zip`` stores part of its content as pickles (the policy class, the
spaces, schedules), so loading one can run any code its author put in it. The **safe form**
of a model holds nothing that executes:

``<name>.safe.zip``, a zip archive with two members:

- ``metadata.json``: plain JSON (:class:`PolicyMetadata`): the algorithm (``RecurrentPPO``,
  ``PPO`` or ``MAML``), the policy class, named from an allow-list (:data:`POLICY_CLASSES`), the policy's
  constructor kwargs as JSON (a class-valued kwarg such as ``activation_fn`` is written
  ``{"class": "torch.nn.modules.activation.Tanh"}`` and resolved only inside
  :data:`ALLOWED_CLASS_MODULES`), the registered environment id and kwargs the spaces are
  rebuilt from (with ``num_agents`` above 1: the spaces of an agent of a team,
  :mod:`nmn_envs.multiagent`), the observation layout (:data:`LAYOUTS`: ``dict``, ``flat`` for a
  model trained through ``FlattenObservation``, ``bare`` for a policy of the base observation alone
  (MAML, or a PPO policy trained with ``feedback=False``), or ``bare+task`` for a PPO policy told
  the task, whose fields follow the base observation
  (:class:`nmn_envs.wrappers.TaskObservationWrapper`), with the names of those fields,
  ``task_fields``), the training steps, the SHA-256 of the weights and, for MAML, how the policy
  adapts (:class:`policies.maml.Adaptation`: inner learning rate and steps);
- ``weights.pt``: the policy's ``state_dict``, read with ``torch.load(weights_only=True)``.

Example::

    from policies.serialization import load_safe, save_safe

    save_safe(model, "runs/bench1-nmn-0/model.safe.zip", env_id="NMN-Bench1-v0")
    policy = load_safe("runs/bench1-nmn-0/model.safe.zip")   # predict(obs, state, episode_start)

``nmn-train`` writes ``model.safe.zip`` beside ``model.zip`` (a MAML run writes only the safe form,
with :func:`save_maml`). :func:`load_agent` is what the
harness and the leaderboard use: it loads the safe form, and loads an SB3 zip (pickles and
all) only when ``trust_pickle=True`` is given, with a warning. :func:`policy_blueprint` measures
a model's spaces and parameter count from its metadata alone, before any weight is read.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator
from sb3_contrib.common.recurrent.policies import (
    RecurrentActorCriticPolicy,
    RecurrentMultiInputActorCriticPolicy,
)
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import (
    ActorCriticPolicy,
    BasePolicy,
    MultiInputActorCriticPolicy,
)
from torch import nn
from torch.overrides import TorchFunctionMode

from nmn_envs.multiagent import MAX_AGENTS
from nmn_envs.tasks import Task
from nmn_envs.wrappers import task_class_of, task_observation_space
from policies.config import first_problem
from policies.maml import Adaptation, GaussianMLPPolicy
from policies.lstm import LSTMPolicy
from policies.nmn import NMNPolicy
from policies.rnn import RNNPolicy

FORMAT = "nmn-bench-policy"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "weights.pt"
SAFE_SUFFIX = ".safe.zip"
MAX_METADATA_BYTES = 2**20
MAX_WEIGHTS_BYTES = 2**30
MAX_PARAMETERS = MAX_WEIGHTS_BYTES // 4
"""The most parameters a safe model's policy may have: float32 weights within the weights' limit."""
SIZE_KWARGS = ("net_arch", "recurrent_sizes", "latent_size", "lstm_hidden_size", "n_lstm_layers", "hidden_sizes")
"""Policy kwargs that size layers: each of their numbers must be a positive integer."""

Algorithm = Literal["RecurrentPPO", "PPO", "MAML"]
Layout = Literal["dict", "flat", "bare", "bare+task"]
LAYOUTS: tuple[Layout, ...] = ("dict", "flat", "bare", "bare+task")
"""The observations a safe model's policy may act on: the env's feedback ``Dict``, that ``Dict``
flattened, its base observation alone, or the base observation with the task's fields appended."""
BARE_LAYOUTS: dict[Algorithm, tuple[Layout, ...]] = {
    "RecurrentPPO": (),
    "PPO": ("bare", "bare+task"),
    "MAML": ("bare",),
}
"""The layouts of the bare task (one agent, no feedback) each algorithm may act on; MAML acts on
nothing else."""
POLICY_CLASSES: dict[Algorithm, dict[str, type[nn.Module]]] = {
    "RecurrentPPO": {
        "NMNPolicy": NMNPolicy,
        "RNNPolicy": RNNPolicy,
        "LSTMPolicy": LSTMPolicy,
        "MlpLstmPolicy": RecurrentActorCriticPolicy,
        "MultiInputLstmPolicy": RecurrentMultiInputActorCriticPolicy,
    },
    "PPO": {"MlpPolicy": ActorCriticPolicy, "MultiInputPolicy": MultiInputActorCriticPolicy},
    "MAML": {"GaussianMLPPolicy": GaussianMLPPolicy},
}
"""The policy classes a safe model may name, per algorithm."""

ALLOWED_CLASS_MODULES = (
    "torch.nn.modules.",
    "torch.optim.",
    "stable_baselines3.common.torch_layers",
    "policies.",
)
"""Modules a class-valued constructor kwarg may come from (modules or optimizers only)."""

_CLASS_KEY = "class"
_BUILT_BY_ALGORITHM = {"observation_space", "action_space", "lr_schedule"}


class PolicyMetadata(BaseModel):
    """The JSON member of a safe model (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["nmn-bench-policy"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    algorithm: Algorithm
    policy_class: str
    policy_kwargs: dict[str, JsonValue]
    env_id: str
    env_kwargs: dict[str, JsonValue] = Field(default_factory=dict)
    num_agents: int = Field(1, ge=1, le=MAX_AGENTS)
    observation_layout: Layout
    task_fields: list[str] | None = Field(None, max_length=64)
    num_timesteps: int = Field(0, ge=0)
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    adaptation: Adaptation | None = None

    @model_validator(mode="after")
    def _layout_fits_the_algorithm(self) -> PolicyMetadata:
        maml = self.algorithm == "MAML"
        if maml != (self.adaptation is not None):
            raise ValueError("adaptation (inner_learning_rate, inner_steps, ...) is given exactly for MAML")
        if maml and self.observation_layout != "bare":
            raise ValueError("a MAML policy acts on the bare observation (observation_layout 'bare'), and only it")
        layout = self.observation_layout
        if layout in ("bare", "bare+task") and layout not in BARE_LAYOUTS[self.algorithm]:
            allowed = BARE_LAYOUTS[self.algorithm]
            raise ValueError(
                f"a {self.algorithm} policy acts on observation_layout {list(allowed) or ['dict', 'flat']}, not {layout!r}"
            )
        if layout in ("bare", "bare+task") and self.num_agents != 1:
            raise ValueError(f"observation_layout {layout!r} is the bare task of one agent: num_agents must be 1")
        if (layout == "bare+task") != (self.task_fields is not None):
            raise ValueError("task_fields (the task's fields appended to the observation) are given exactly for 'bare+task'")
        return self


@dataclass(frozen=True)
class SafeModel:
    """A policy rebuilt from a safe model: SB3's ``predict`` (not for MAML, whose agent is
    :class:`evaluate.maml_agent.MAMLAgent`) and the spaces it acts in."""

    policy: BasePolicy | GaussianMLPPolicy
    metadata: PolicyMetadata

    @property
    def label(self) -> str:
        """``"<algorithm> <policy class>"``, as results describe the agent."""
        return f"{self.metadata.algorithm} {self.metadata.policy_class}"

    @property
    def observation_space(self) -> spaces.Space:
        return self.policy.observation_space

    @property
    def action_space(self) -> spaces.Space:
        return self.policy.action_space

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict`` of the rebuilt policy."""
        return self.policy.predict(observation, state, episode_start, deterministic)


class UnsafeModelError(ValueError):
    """A model file that would need unpickling to load, refused without an explicit opt-in."""


def save_safe(
    model: BaseAlgorithm,
    path: str | Path,
    *,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    num_agents: int = 1,
) -> Path:
    """Write ``model`` (a ``RecurrentPPO`` or ``PPO`` of an allowed policy) in the safe form.

    Args:
        model: the trained model.
        path: the file to write (conventionally ending in ``.safe.zip``).
        env_id: the registered environment the model acts in; its spaces are rebuilt from it.
        env_kwargs: kwargs of that environment (plain JSON values).
        num_agents: agents per team, for a policy trained in teams who see each other.

    Raises:
        ValueError: for another algorithm or policy class, a constructor kwarg that is not
            plain JSON or an allowed class, or spaces that are not those of ``env_id``.
    """
    algorithm = type(model).__name__
    if algorithm not in POLICY_CLASSES:
        raise ValueError(f"the safe form holds {list(POLICY_CLASSES)} models, got {algorithm}")
    names = {cls: name for name, cls in POLICY_CLASSES[algorithm].items()}  # type: ignore[index]
    policy = model.policy
    if type(policy) not in names:
        raise ValueError(
            f"the safe form of a {algorithm} holds the policies {sorted(names.values())}, "
            f"got {type(policy).__name__}"
        )
    env_kwargs = dict(env_kwargs or {})
    kwargs = {
        key: value
        for key, value in {**policy._get_constructor_parameters(), **model.policy_kwargs}.items()
        if key not in _BUILT_BY_ALGORITHM
    }
    layouts = layout_spaces(env_id, env_kwargs, num_agents)
    layout = next((name for name, space in layouts.items() if policy.observation_space == space), None)
    if layout is None or (layout in ("bare", "bare+task") and layout not in BARE_LAYOUTS[algorithm]):  # type: ignore[index]
        raise ValueError(
            f"the model's observation space {policy.observation_space} is none of the forms of {env_id}'s "
            f"observation a {algorithm} policy may act on: {layouts}"
        )
    return _write(
        path,
        policy,
        algorithm=algorithm,
        policy_class=names[type(policy)],
        policy_kwargs={key: _to_json(key, value) for key, value in kwargs.items()},
        env_id=env_id,
        env_kwargs=env_kwargs,
        num_agents=num_agents,
        observation_layout=layout,
        task_fields=list(environment_task_class(env_id, env_kwargs).field_names()) if layout == "bare+task" else None,
        num_timesteps=int(model.num_timesteps),
    )


def save_maml(
    policy: GaussianMLPPolicy,
    path: str | Path,
    *,
    env_id: str,
    adaptation: Adaptation,
    num_timesteps: int,
    env_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write a MAML policy in the safe form: its initial weights and how it adapts.

    Args:
        policy: the meta-learnt policy (its parameters are the initial ones).
        path: the file to write (conventionally ending in ``.safe.zip``).
        env_id: the registered environment the policy acts in.
        adaptation: the inner learning rate and steps (and the advantage estimation).
        num_timesteps: environment steps of training.
        env_kwargs: kwargs of that environment (plain JSON values).

    Raises:
        ValueError: for spaces that are not those of ``env_id``'s base observation and actions.
    """
    env_kwargs = dict(env_kwargs or {})
    observation_space, action_space = environment_spaces(env_id, env_kwargs)
    if policy.observation_space != observation_space["observation"] or policy.action_space != action_space:
        raise ValueError(
            f"the policy acts on {policy.observation_space} with {policy.action_space}, not on {env_id}'s base "
            f"observation {observation_space['observation']} with {action_space}"
        )
    return _write(
        path,
        policy,
        algorithm="MAML",
        policy_class="GaussianMLPPolicy",
        policy_kwargs=policy.constructor_kwargs(),
        env_id=env_id,
        env_kwargs=env_kwargs,
        observation_layout="bare",
        num_timesteps=num_timesteps,
        adaptation=adaptation,
    )


def _write(path: str | Path, policy: nn.Module, **metadata: Any) -> Path:
    """Write ``policy``'s weights and ``metadata`` (the fields of :class:`PolicyMetadata` but the
    hash of the weights) as a safe model at ``path``."""
    buffer = io.BytesIO()
    th.save({key: value.detach().cpu() for key, value in policy.state_dict().items()}, buffer)
    weights = buffer.getvalue()
    record = PolicyMetadata(**metadata, weights_sha256=hashlib.sha256(weights).hexdigest())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        unused = {name for name in ("adaptation", "task_fields") if getattr(record, name) is None}
        archive.writestr(METADATA_FILE, record.model_dump_json(indent=2, exclude=unused))
        archive.writestr(WEIGHTS_FILE, weights)
    return path


def is_safe_model(path: str | Path) -> bool:
    """Whether ``path`` is a zip holding a safe model's metadata (nothing is loaded)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return METADATA_FILE in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_metadata(path: str | Path | IO[bytes]) -> PolicyMetadata:
    """The metadata of the safe model at ``path`` (a file, or a binary stream whose ``str``
    names it in errors); the weights are not read.

    Raises:
        ValueError: the file is not a readable zip or its metadata is not valid.
    """
    with _open_zip(path) as archive:
        return _metadata(archive, path)


def load_safe(path: str | Path) -> SafeModel:
    """Rebuild the policy of the safe model at ``path`` on the CPU; nothing is unpickled.

    Raises:
        ValueError: naming what is wrong: not a safe model, invalid metadata, a policy class
            or kwarg outside the allow-list, an unknown environment, or weights that do not
            fit the policy.
    """
    with _open_zip(path) as archive:
        metadata = _metadata(archive, path)
        weights = _member(archive, WEIGHTS_FILE, MAX_WEIGHTS_BYTES, path)
    if hashlib.sha256(weights).hexdigest() != metadata.weights_sha256:
        raise ValueError(
            f"{path}: {WEIGHTS_FILE} does not match the weights_sha256 of its metadata"
        )
    _check_policy_class(metadata, path)
    try:
        state = th.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (torch's refusals come in several types)
        raise ValueError(
            f"{path}: the weights do not fit the policy: {_first_line(error)}"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(value, th.Tensor) for value in state.values()
    ):
        raise ValueError(
            f"{path}: the weights do not fit the policy: {WEIGHTS_FILE} is not a state_dict"
        )
    blueprint = _blueprint(metadata, path, len(state), "there are weights")
    _check_shapes(metadata, blueprint, state, path)
    policy = _build_policy(
        metadata, blueprint.observation_space, blueprint.action_space, blueprint.kwargs, path
    )
    try:
        policy.load_state_dict(state)
    except Exception as error:  # noqa: BLE001
        raise ValueError(
            f"{path}: the weights do not fit the policy: {_first_line(error)}"
        ) from None
    policy.train(False)
    return SafeModel(policy=policy, metadata=metadata)


def load_agent(path: str | Path, trust_pickle: bool = False) -> SafeModel | BaseAlgorithm:
    """Load a model file: the safe form, or (only with ``trust_pickle``) an SB3 zip.

    Raises:
        ValueError: the file does not exist or does not load.
        UnsafeModelError: the file is not in the safe form and ``trust_pickle`` is not set.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"agent file {str(path)!r} does not exist")
    if is_safe_model(path):
        return load_safe(path)
    if not trust_pickle:
        raise UnsafeModelError(
            f"agent file {str(path)!r} is not a safe nmn-bench model ({METADATA_FILE} + "
            f"{WEIGHTS_FILE}); a Stable-Baselines3 zip holds pickles that can run code when "
            "loaded. Use the model.safe.zip nmn-train writes (or policies.serialization.save_safe), "
            "or opt in with --trust-pickle (trust_pickle=True) for a file you trust"
        )
    warnings.warn(
        f"loading {path} with pickle: it can run any code its author put in it",
        UserWarning,
        stacklevel=2,
    )
    return _load_pickled(path)


def _load_pickled(path: Path) -> BaseAlgorithm:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    errors = []
    for algorithm in (RecurrentPPO, PPO):
        try:
            return algorithm.load(path, device="cpu")
        except Exception as error:  # noqa: BLE001  (each loader fails its own way)
            errors.append(f"{algorithm.__name__}: {type(error).__name__}: {error}")
    raise ValueError(
        f"agent file {str(path)!r} is not a loadable RecurrentPPO or PPO model ({'; '.join(errors)})"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_sizes(
    policy_kwargs: dict[str, JsonValue], max_entries: int, bound: str, path: str | Path
) -> None:
    """Refuse kwargs that could not fit the weights, before anything is built.

    Each number of a :data:`SIZE_KWARGS` kwarg must be a positive integer no larger than
    :data:`MAX_PARAMETERS`, and no list of sizes may be longer than ``max_entries`` (the
    number of weights: a layer has at least one; ``bound`` says what that number is).
    """

    def visit(key: str, value: JsonValue, size: bool) -> None:
        if isinstance(value, bool) or value is None:
            return
        if size and isinstance(value, int) and not 1 <= value <= MAX_PARAMETERS:
            raise ValueError(
                f"{path}: policy kwarg {key!r} = {value}: layer sizes must be positive integers "
                f"of at most {MAX_PARAMETERS}"
            )
        if isinstance(value, list):
            if len(value) > max_entries:
                raise ValueError(f"{path}: policy kwarg {key!r} lists more sizes than {bound}")
            for item in value:
                visit(key, item, size)
        if isinstance(value, dict):
            for name, item in value.items():
                visit(f"{key}.{name}", item, size)

    for key, value in policy_kwargs.items():
        visit(key, value, key in SIZE_KWARGS)


_ARITHMETIC = frozenset(
    {th.Tensor.add, th.Tensor.sub, th.Tensor.mul, th.Tensor.div, th.add, th.sub, th.mul, th.div}
)


class _KeepOnMeta(TorchFunctionMode):
    """Build a skeleton on the meta device, cheaply.

    Meta tensors stay on the meta device when a constructor moves them (``.to("cpu")``), and
    the arithmetic of two operands that constructors do (SB3's ``th.ones(n) * log_std_init``)
    gets its result's shape and dtype here: PyTorch would compute them with its Python
    reference kernels, whose first use imports ``torch._dynamo`` (over a second of CPU time,
    on every load of a model).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is th.Tensor.to and args and isinstance(args[0], th.Tensor) and args[0].is_meta:
            return args[0]
        if func in _ARITHMETIC and _meta_operands(args) and set(kwargs) <= {"alpha"}:
            shapes = [operand.shape if isinstance(operand, th.Tensor) else () for operand in args]
            return th.empty(th.broadcast_shapes(*shapes), dtype=th.result_type(*args), device="meta")
        return func(*args, **kwargs)


def _meta_operands(args: tuple) -> bool:
    """Whether ``args`` are two operands, numbers or tensors, at least one a meta tensor."""
    return (
        len(args) == 2
        and all(isinstance(operand, (th.Tensor, int, float, bool)) for operand in args)
        and any(isinstance(operand, th.Tensor) and operand.is_meta for operand in args)
    )


class _NoOptimizer:
    """Stands in for the optimizer SB3 builds with every policy (see :data:`_TO_ACT`)."""

    def __init__(self, params: Any, **kwargs: Any) -> None:
        del params, kwargs  # nothing is trained


_TO_ACT = {"optimizer_class": _NoOptimizer, "ortho_init": False}
"""Constructor kwargs of a policy that is loaded to act: a loaded safe model is never trained
(restoring a checkpoint takes its weights alone) and its weights replace any initial ones, so
it gets no optimizer (building a torch optimizer imports ``torch._dynamo``: over a second of
CPU time) and no orthogonal initialisation (QR decompositions: most of the rest of a load)."""


def _build_policy(
    metadata: PolicyMetadata,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    kwargs: dict[str, Any],
    path: str | Path,
) -> BasePolicy:
    """The policy ``metadata`` names, built on the spaces with ``kwargs``, to act
    (:data:`_TO_ACT`).

    Raises:
        ValueError: naming the class, the spaces and the constructor's complaint.
    """
    built_by = POLICY_CLASSES[metadata.algorithm][metadata.policy_class]
    if metadata.algorithm == "MAML":  # no SB3 learning-rate schedule, optimizer or orthogonal initialisation
        schedule, to_act = (), {}
    else:
        schedule, to_act = (lambda _progress: 0.0,), _TO_ACT
    try:
        return built_by(observation_space, action_space, *schedule, **{**kwargs, **to_act})
    except Exception as error:  # noqa: BLE001  (constructors refuse their input in many types)
        raise ValueError(
            f"{path}: policy_kwargs do not build a {metadata.policy_class} on the spaces of "
            f"{metadata.env_id} with env_kwargs {metadata.env_kwargs} (observations "
            f"{observation_space}): {type(error).__name__}: {_first_line(error)}"
        ) from None


@dataclass(frozen=True)
class PolicyBlueprint:
    """What a safe model's policy is built from (its spaces and constructor kwargs) and the
    shapes of its weights, measured on PyTorch's meta device (nothing allocated)."""

    observation_space: spaces.Space
    action_space: spaces.Space
    kwargs: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]

    @property
    def parameters(self) -> int:
        """The number of the policy's parameters."""
        return sum(math.prod(shape) for shape in self.shapes.values())


def _check_policy_class(metadata: PolicyMetadata, path: str | Path) -> None:
    allowed = POLICY_CLASSES[metadata.algorithm]
    if metadata.policy_class not in allowed:
        raise ValueError(
            f"{path}: policy_class {metadata.policy_class!r} is not one of {sorted(allowed)}"
        )


def _blueprint(
    metadata: PolicyMetadata, path: str | Path, max_entries: int, bound: str
) -> PolicyBlueprint:
    """The spaces, kwargs and weight shapes of the policy ``metadata`` describes.

    The policy is built on PyTorch's meta device (shapes without memory), so that a network
    of any size costs nothing to measure; lists of sizes longer than ``max_entries`` are
    refused before (see :func:`_check_sizes`).

    Raises:
        ValueError: for size kwargs out of bounds, an unknown environment, env kwargs that do
            not make it, or kwargs that do not build the policy.
    """
    _check_sizes(metadata.policy_kwargs, max_entries, bound, path)
    env_kwargs = dict(metadata.env_kwargs)
    _, action_space = environment_spaces(metadata.env_id, env_kwargs, metadata.num_agents)
    if metadata.task_fields is not None:
        fields = list(environment_task_class(metadata.env_id, env_kwargs).field_names())
        if metadata.task_fields != fields:
            raise ValueError(
                f"{path}: the policy is told the task fields {metadata.task_fields}, but the tasks of "
                f"{metadata.env_id} have the fields {fields}"
            )
    observation_space = layout_spaces(metadata.env_id, env_kwargs, metadata.num_agents).get(metadata.observation_layout)
    if observation_space is None:
        raise ValueError(f"{path}: {metadata.env_id} has no {metadata.observation_layout!r} observation to act on")
    kwargs = {key: _from_json(key, value) for key, value in metadata.policy_kwargs.items()}
    with th.device("meta"), _KeepOnMeta():
        skeleton = _build_policy(metadata, observation_space, action_space, kwargs, path)
    shapes = {name: tuple(tensor.shape) for name, tensor in skeleton.state_dict().items()}
    return PolicyBlueprint(observation_space, action_space, kwargs, shapes)


def policy_blueprint(
    metadata: PolicyMetadata, path: str | Path = "the model", max_entries: int = 1000
) -> PolicyBlueprint:
    """The spaces and parameter count of the policy ``metadata`` describes, measured without
    reading the weights or allocating any (on PyTorch's meta device).

    Args:
        metadata: a safe model's metadata (:func:`read_metadata`).
        path: how errors name the model.
        max_entries: the longest list of layer sizes allowed.

    Raises:
        ValueError: a policy class outside the allow-list, size kwargs out of bounds, or kwargs
            that do not build the policy on the spaces of its environment.
    """
    _check_policy_class(metadata, path)
    return _blueprint(metadata, path, max_entries, f"the limit of {max_entries}")


def _check_shapes(
    metadata: PolicyMetadata,
    blueprint: PolicyBlueprint,
    state: dict[str, th.Tensor],
    path: str | Path,
) -> None:
    """Match the policy's parameter count to the limit and its shapes to the weights.

    The policy must have at most :data:`MAX_PARAMETERS` parameters, and exactly the weights'
    names and shapes.

    Raises:
        ValueError: for a policy over the limit or weights that do not fit it.
    """
    expected = blueprint.shapes
    count = blueprint.parameters
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"{path}: policy_kwargs ask for a {metadata.policy_class} of {count} parameters, over "
            f"the limit of {MAX_PARAMETERS}"
        )
    actual = {name: tuple(tensor.shape) for name, tensor in state.items()}
    if actual != expected:
        missing = sorted(expected.keys() - actual.keys())
        unexpected = sorted(actual.keys() - expected.keys())
        resized = [
            f"{name} {actual[name]} (the policy's: {expected[name]})"
            for name in sorted(expected.keys() & actual.keys())
            if actual[name] != expected[name]
        ]
        problems = [
            f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("resized", resized))
            if names
        ]
        raise ValueError(f"{path}: the weights do not fit the policy: {'; '.join(problems)}")


def _open_zip(path: str | Path | IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable zip archive ({error})") from None


def _member(archive: zipfile.ZipFile, name: str, limit: int, path: str | Path | IO[bytes]) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"{path}: no {name} in the archive; not a safe nmn-bench model") from None
    if info.file_size > limit:
        raise ValueError(f"{path}: {name} is {info.file_size} bytes, over the limit of {limit}")
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: {name} inflates past the limit of {limit} bytes")
    return data


def _metadata(archive: zipfile.ZipFile, path: str | Path | IO[bytes]) -> PolicyMetadata:
    text = _member(archive, METADATA_FILE, MAX_METADATA_BYTES, path)
    try:
        return PolicyMetadata.model_validate_json(text)
    except ValidationError as error:
        raise ValueError(f"{path}: {METADATA_FILE}: {first_problem(error)}") from None


def environment_spaces(
    env_id: str, env_kwargs: dict[str, Any], num_agents: int = 1
) -> tuple[spaces.Space, spaces.Space]:
    """The observation and action spaces of the suite's environment ``env_id`` (of one agent of
    a team of ``num_agents`` where that is above 1)."""
    import nmn_envs
    from nmn_envs.multiagent import make_team_vector_env

    if env_id not in nmn_envs.ENV_IDS:
        raise ValueError(
            f"env_id {env_id!r} is not an environment of the suite {sorted(nmn_envs.ENV_IDS)}"
        )
    try:
        if num_agents > 1:
            team = make_team_vector_env(env_id, 1, num_agents, **env_kwargs)
            team.close()
            return team.single_observation_space, team.single_action_space
        env = gym.make(env_id, **env_kwargs)
    except (TypeError, ValueError, gym.error.Error) as error:
        raise ValueError(f"env_kwargs {env_kwargs} do not make {env_id}: {error}") from None
    env.close()
    return env.observation_space, env.action_space


def environment_task_class(env_id: str, env_kwargs: dict[str, Any]) -> type[Task]:
    """The task class of ``env_id``, whose fields a task observation appends, in its order."""
    env = gym.make(env_id, **env_kwargs)
    try:
        return task_class_of(env)
    finally:
        env.close()


def layout_spaces(env_id: str, env_kwargs: dict[str, Any], num_agents: int = 1) -> dict[Layout, spaces.Space]:
    """The observation space of each layout of :data:`LAYOUTS` for the suite's environment
    ``env_id`` (the bare layouts for one agent only, of an env with a ``Dict`` observation)."""
    observation_space, _ = environment_spaces(env_id, env_kwargs, num_agents)
    found: dict[Layout, spaces.Space] = {"dict": observation_space, "flat": spaces.flatten_space(observation_space)}
    if num_agents == 1 and isinstance(observation_space, spaces.Dict):
        bare = found["bare"] = observation_space["observation"]
        if isinstance(bare, spaces.Box) and len(bare.shape) == 1:
            found["bare+task"] = task_observation_space(bare, environment_task_class(env_id, env_kwargs))
    return found


def _to_json(key: str, value: Any) -> JsonValue:
    if isinstance(value, type):
        name = f"{value.__module__}.{value.__qualname__}"
        _check_class_name(key, name)
        return {_CLASS_KEY: name}
    if isinstance(value, (list, tuple)):
        return [_to_json(key, item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(name, str) for name in value):
            raise ValueError(f"policy kwarg {key!r}: keys must be strings")
        return {name: _to_json(f"{key}.{name}", item) for name, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"policy kwarg {key!r} = {value!r} is neither plain JSON nor a class; the safe form "
        "cannot hold it"
    )


def _from_json(key: str, value: JsonValue) -> Any:
    if isinstance(value, dict):
        if set(value) == {_CLASS_KEY} and isinstance(value[_CLASS_KEY], str):
            return _resolve_class(key, value[_CLASS_KEY])
        return {name: _from_json(f"{key}.{name}", item) for name, item in value.items()}
    if isinstance(value, list):
        return [_from_json(key, item) for item in value]
    return value


def _check_class_name(key: str, name: str) -> None:
    if not name.startswith(ALLOWED_CLASS_MODULES):
        raise ValueError(
            f"policy kwarg {key!r}: class {name} is outside the allowed modules "
            f"{list(ALLOWED_CLASS_MODULES)}"
        )


def _resolve_class(key: str, name: str) -> type:
    _check_class_name(key, name)
    module_name, _, attribute = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        raise ValueError(f"policy kwarg {key!r}: no class {name}") from None
    if not (isinstance(found, type) and issubclass(found, (nn.Module, th.optim.Optimizer))):
        raise ValueError(f"policy kwarg {key!r}: {name} is not a torch module or optimizer class")
    return found
