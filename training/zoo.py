"""The model zoo: trained NMN, GRU and LSTM agents for every task with a native env (and MAML
agents, :mod:`policies.maml`, where shipped).

Each model lives in ``policies/zoo/<env id>/`` as ``<policy>-seed<K>.safe.zip`` (the pickle-free
form of :mod:`policies.serialization`: JSON metadata and weights, no optimiser state) beside its
card ``<policy>-seed<K>.json`` (:class:`ZooCard`: the run's config and git revision, env steps,
minutes, validation curve, and the harness's score on the evaluation set with mean actions).

Names: ``zoo:<policy>`` is the shipped model of median evaluation score among the policy's seeds
(the typical run, not the luckiest); ``zoo:<policy>@seed<K>`` is seed ``K``. ``nmn-zoo``
(:mod:`nmn_bench.zoo`) adds trained runs to the zoo. The harness, a layer below, reads these names
through this module, which ``pyproject.toml`` registers as the ``zoo`` catalogue
(:mod:`evaluate.catalogues`): :func:`find` and :func:`available` are what a catalogue offers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import policies
from evaluate.schema import AgentScore, TaskSetInfo

ZOO_DIR = Path(policies.__file__).resolve().parent / "zoo"
"""The shipped models and their cards: data of the :mod:`policies` package, in their safe form."""
PREFIX = "zoo:"
POLICIES = ("nmn", "rnn", "lstm", "maml")
ZooPolicy = Literal["nmn", "rnn", "lstm", "maml"]
CARD_SUFFIX = ".json"
MODEL_SUFFIX = ".safe.zip"
_NAME = re.compile(r"zoo:(?P<policy>[a-z]+)(@seed(?P<seed>\d+))?")


class CurvePoint(BaseModel):
    """One validation of the run: its steps, minutes, mean return and normalised score on the
    validation set (``None`` on a task without a Bayes bound)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(ge=0)
    minutes: float = Field(ge=0)
    cpu_minutes: float = Field(ge=0)
    mean_return: float
    score: float | None


class ZooEvaluation(BaseModel):
    """The harness's evaluation of a zoo model: its score on the evaluation task set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_set: TaskSetInfo
    normaliser: dict[str, float]
    score: AgentScore


class ZooCard(BaseModel):
    """What a zoo model is and how it was made (``<policy>-seed<K>.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env_id: str
    policy: ZooPolicy
    seed: int = Field(ge=0)
    model_file: str
    trained_by: str = Field(description="the command that trained the run")
    git_revision: str | None = Field(description="the commit the run was trained from, when recorded")
    config: dict[str, Any] = Field(description="the run's config.yml: hyperparameters and budget")
    parameters: int = Field(gt=0, description="trainable parameters of the policy (actor and critic)")
    env_steps: int = Field(gt=0, description="environment steps the run trained for")
    selected_steps: int = Field(ge=0, description="steps at which the shipped model was saved")
    wall_minutes: float = Field(ge=0)
    cpu_minutes: float = Field(ge=0, description="CPU minutes of the training process")
    curve: list[CurvePoint] = Field(description="the run's validation curve")
    evaluation: ZooEvaluation

    @property
    def name(self) -> str:
        """The model's zoo name, ``zoo:<policy>@seed<K>``."""
        return f"{PREFIX}{self.policy}@seed{self.seed}"

    @property
    def rank_value(self) -> float:
        """What seeds are ranked by: the normalised score on the evaluation set (mean actions),
        or the mean return on a task without a Bayes bound (in the order of its score on the
        oracle's scale, which cards scored before the harness normalised to the oracle lack)."""
        evaluated = self.evaluation.score
        normalised = evaluated.normalised_score if "bayes" in self.evaluation.normaliser else None
        score = normalised or evaluated.mean
        return score.value


def stem(policy: str, seed: int) -> str:
    """The file stem of a zoo model and its card: ``<policy>-seed<K>``."""
    return f"{policy}-seed{seed}"


def parse_name(name: str) -> tuple[str, int | None]:
    """``zoo:<policy>[@seed<K>]`` -> ``(policy, K or None)``.

    Raises:
        ValueError: for any other string, naming the forms allowed.
    """
    match = _NAME.fullmatch(name)
    if match is None or match["policy"] not in POLICIES:
        raise ValueError(
            f"{name!r} is not a zoo name: use zoo:<policy> or zoo:<policy>@seed<K>, "
            f"<policy> one of {list(POLICIES)}"
        )
    seed = match["seed"]
    return match["policy"], None if seed is None else int(seed)


def cards(env_id: str, folder: Path = ZOO_DIR) -> list[ZooCard]:
    """The cards of every zoo model of ``env_id``, by policy then seed."""
    found = [ZooCard.model_validate_json(path.read_text()) for path in (folder / env_id).glob(f"*{CARD_SUFFIX}")]
    return sorted(found, key=lambda card: (POLICIES.index(card.policy), card.seed))


def zoo_envs(folder: Path = ZOO_DIR) -> list[str]:
    """The env ids with at least one zoo model."""
    return sorted(path.name for path in folder.iterdir() if path.is_dir() and any(path.glob(f"*{CARD_SUFFIX}")))


def median_card(candidates: list[ZooCard]) -> ZooCard:
    """The card of median score (:attr:`ZooCard.rank_value`; the lower median for an even count)."""
    if not candidates:
        raise ValueError("no cards to choose from")
    ranked = sorted(candidates, key=lambda card: (card.rank_value, card.seed))
    return ranked[(len(ranked) - 1) // 2]


def find(name: str, env_id: str, folder: Path = ZOO_DIR) -> tuple[Path, ZooCard]:
    """The model file and card that the zoo name ``name`` means on ``env_id``.

    Raises:
        ValueError: for a malformed name, an env without zoo models, or a policy or seed the zoo
            does not hold for ``env_id`` (the message lists what it holds).
    """
    policy, seed = parse_name(name)
    held = cards(env_id, folder)
    if not held:
        raise ValueError(f"the zoo holds no models for {env_id}; it has models for {zoo_envs(folder)}")
    of_policy = [card for card in held if card.policy == policy]
    if not of_policy:
        raise ValueError(
            f"the zoo holds no {policy} model for {env_id}; it holds {sorted({card.name for card in held})}"
        )
    if seed is None:
        card = median_card(of_policy)
    else:
        matching = [card for card in of_policy if card.seed == seed]
        if not matching:
            raise ValueError(
                f"the zoo holds no {policy} model of seed {seed} for {env_id}; "
                f"its seeds are {[card.seed for card in of_policy]}"
            )
        card = matching[0]
    return folder / env_id / card.model_file, card


def available(env_id: str, folder: Path = ZOO_DIR) -> list[str]:
    """The plain zoo names (``zoo:<policy>``) that ``env_id`` has models for."""
    return [f"{PREFIX}{policy}" for policy in dict.fromkeys(card.policy for card in cards(env_id, folder))]
