"""The checks a submitted model passes at the door, before it is queued to be played.

A model submission (``nmn-leaderboard submit-model``, ``POST /api/models``) is a file in the safe
form of :mod:`policies.serialization` with the environment to play it on and its agent's card.
:func:`check_model` refuses it, with a :class:`~leaderboard.submission.SubmissionError` naming
the field and the reason, unless:

- the file holds at most :data:`MAX_MODEL_BYTES` bytes;
- it is the safe form: a zip whose ``metadata.json`` is valid metadata and which holds
  ``weights.pt`` (a Stable-Baselines3 zip, or anything else, is refused: the board never
  unpickles);
- its policy class is one of the allow-list (:data:`~policies.serialization.POLICY_CLASSES`);
- it is the policy of one agent (``num_agents`` 1) whose spaces fit the environment's, as the
  harness checks them (:meth:`~evaluate.agents.PredictPolicy.check_spaces`): the same actions,
  and the feedback ``Dict``, its flattened ``Box`` or its bare observation;
- its environment kwargs, from which its spaces are rebuilt, are plain values (booleans, numbers
  of magnitude at most :data:`MAX_ENV_KWARG_NUMBER`, strings of at most
  :data:`MAX_ENV_KWARG_CHARS` characters), so that no kwarg makes the server build a huge
  environment;
- its policy has at most ``max_parameters`` parameters, counted from the metadata on PyTorch's
  meta device (:func:`~policies.serialization.policy_blueprint`: nothing is allocated), and its
  ``weights.pt`` is no larger than the weights of such a policy can be (8 bytes a parameter and
  :data:`WEIGHTS_OVERHEAD_BYTES` of framing);
- its card's name is one the board accepts (:func:`~leaderboard.validation.check_agent_name`).

Nothing of the file is loaded here beyond its metadata: the worker loads the weights, in a
child process with limits (:mod:`leaderboard.worker`), and checks them against these shapes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

import gymnasium as gym
from pydantic import JsonValue

from evaluate.agents import PredictPolicy
from evaluate.task_sets import evaluation_kwargs
from leaderboard.submission import AgentCard, SubmissionError
from leaderboard.validation import check_agent_name
from nmn_envs import check_env_id
from policies.serialization import (
    METADATA_FILE,
    WEIGHTS_FILE,
    PolicyMetadata,
    environment_spaces,
    policy_blueprint,
    read_metadata,
)

MAX_MODEL_BYTES = 16 * 2**20
"""The largest model file the board takes (the zoo's models are under 80 kB)."""
DEFAULT_MAX_PARAMETERS = 10_000_000
"""The board's default parameter cap (``--max-parameters``); the zoo's policies have some 20,000."""
MAX_ENV_KWARG_NUMBER = 100_000
MAX_ENV_KWARG_CHARS = 100
WEIGHTS_OVERHEAD_BYTES = 2**20
BYTES_PER_PARAMETER = 8


class NamedStream(io.BytesIO):
    """The bytes of an uploaded file, named in error messages by its file name."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.shown_name = name

    def __str__(self) -> str:
        return self.shown_name


@dataclass(frozen=True)
class CheckedModel:
    """A model that passed the door: its bytes, their SHA-256, its metadata and size."""

    data: bytes
    sha256: str
    metadata: PolicyMetadata
    parameters: int


def check_model(
    data: bytes,
    env_id: str,
    card: AgentCard,
    max_parameters: int = DEFAULT_MAX_PARAMETERS,
    file_name: str = "model",
) -> CheckedModel:
    """The model ``data`` if it passes every check of the module docstring.

    Args:
        data: the model file's bytes.
        env_id: the environment to play it on.
        card: the agent's card.
        max_parameters: the board's parameter cap.
        file_name: how refusals name the file.

    Raises:
        SubmissionError: the first failed check, naming the field (``model``, ``env_id`` or
            ``card.name``) and the reason.
    """
    if len(data) > MAX_MODEL_BYTES:
        raise SubmissionError(
            "model", f"{len(data)} bytes, over the limit of {MAX_MODEL_BYTES} bytes"
        )
    try:
        check_env_id(env_id)
    except gym.error.Error as error:
        raise SubmissionError("env_id", str(error)) from None
    check_agent_name(card.name)
    stream = NamedStream(data, file_name)
    try:
        metadata = read_metadata(stream)
    except ValueError as error:
        raise SubmissionError(
            "model",
            f"not a safe nmn-bench model ({METADATA_FILE} + {WEIGHTS_FILE}; the board never "
            f"unpickles): {error}",
        ) from None
    weights_bytes = _weights_size(stream)
    if metadata.num_agents != 1:
        raise SubmissionError(
            "model",
            f"a policy of an agent of a team of {metadata.num_agents}; the board plays single "
            "agents",
        )
    _check_env_kwargs(metadata.env_kwargs)
    try:
        blueprint = policy_blueprint(metadata, file_name)
    except ValueError as error:
        raise SubmissionError("model", str(error)) from None
    if blueprint.parameters > max_parameters:
        raise SubmissionError(
            "model",
            f"policy_kwargs ask for a {metadata.policy_class} of "
            f"{blueprint.parameters} parameters, over the board's limit of {max_parameters}",
        )
    most = BYTES_PER_PARAMETER * blueprint.parameters + WEIGHTS_OVERHEAD_BYTES
    if weights_bytes > most:
        raise SubmissionError(
            "model",
            f"{WEIGHTS_FILE} inflates to {weights_bytes} bytes; the weights of a "
            f"policy of {blueprint.parameters} parameters take at most {most}",
        )
    stand_in = PredictPolicy(blueprint, card.name)
    env_observations, env_actions = environment_spaces(env_id, evaluation_kwargs(env_id))
    try:
        stand_in.check_spaces(env_id, env_observations, env_actions)
    except ValueError as error:
        trained_for = f" (trained for {metadata.env_id})" if metadata.env_id != env_id else ""
        raise SubmissionError(
            "model", f"its spaces do not fit {env_id}{trained_for}: {error}"
        ) from None
    return CheckedModel(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        metadata=metadata,
        parameters=blueprint.parameters,
    )


def _weights_size(stream: NamedStream) -> int:
    """The size ``weights.pt`` declares (the loader also stops reading past it)."""
    with zipfile.ZipFile(stream) as archive:
        try:
            return archive.getinfo(WEIGHTS_FILE).file_size
        except KeyError:
            raise SubmissionError(
                "model", f"{stream}: no {WEIGHTS_FILE} in the archive; not a safe nmn-bench model"
            ) from None


def _check_env_kwargs(env_kwargs: dict[str, JsonValue]) -> None:
    for name, value in env_kwargs.items():
        plain = (
            isinstance(value, bool)
            or (isinstance(value, (int, float)) and abs(value) <= MAX_ENV_KWARG_NUMBER)
            or (isinstance(value, str) and len(value) <= MAX_ENV_KWARG_CHARS)
        )
        if not plain:
            raise SubmissionError(
                f"model.env_kwargs.{name[:40]}",
                f"the board rebuilds the model's spaces from its env kwargs and takes booleans, "
                f"numbers of magnitude at most {MAX_ENV_KWARG_NUMBER} and strings of at most "
                f"{MAX_ENV_KWARG_CHARS} characters",
            )
