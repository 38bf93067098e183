"""The sweep config: a plain YAML file, validated with pydantic before anything starts.

Example (``sweeps/quick.yml``)::

    envs: [NMN-Bandit-v0]
    policies: [nmn, rnn]          # nmn, rnn, lstm, or "package.module.Class" (a RecurrentPPO policy)
    seeds: [0]                    # or a list per policy: {nmn: [0, 1, 2], lstm: [0]}
    timesteps: 4096               # or a mapping per env: {NMN-Bandit-v0: 4096, ...}
    overrides: {}                 # hyperparameters on top of policies/hyperparams/<env>.yml,
                                  # or a list of such variants (each may carry a `name`)
    evaluate: true                # or {n_tasks: 1000, reps: 2000, sample_actions: false}
    submit: false                 # or a leaderboard database (URL or SQLite path, relative to
                                  # the working directory of nmn-sweep)
    cpus_per_trial: 1
    checkpoint_freq: 100000       # env steps between nmn-train checkpoints

The grid is every env x hyperparameter variant x policy x seed of that policy. A bad field is
reported by name with what is allowed (:class:`ConfigError`).
"""

from __future__ import annotations

import pydoc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sqlalchemy.engine import make_url

from evaluate.stats import DEFAULT_REPS
from evaluate.task_sets import SET_SIZE
from policies.config import POLICY_NAMES, Hyperparams, first_problem, load_hyperparams, read_yaml
from nmn_envs import check_env_id


class ConfigError(ValueError):
    """A sweep config that cannot run; the message names each bad field."""


class EvaluationSettings(BaseModel):
    """How each trained agent is played on its environment's evaluation task set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_tasks: int = Field(SET_SIZE, ge=2, le=SET_SIZE, description="first tasks of the set to play")
    reps: PositiveInt = Field(DEFAULT_REPS, description="bootstrap resamples of each interval")
    sample_actions: bool = Field(False, description="sample actions instead of the mean action")


class Variant(BaseModel):
    """One set of hyperparameter overrides; ``name`` tells its agents apart ('' for the only one)."""

    model_config = ConfigDict(frozen=True)

    name: str
    overrides: dict[str, Any]


class Trial(BaseModel):
    """One cell of the grid: a policy with a hyperparameter variant, trained on an env with a seed."""

    model_config = ConfigDict(frozen=True)

    env_id: str
    policy: str
    variant: str
    seed: NonNegativeInt
    timesteps: PositiveInt

    @property
    def agent(self) -> str:
        """The agent's label: the policy (a custom class by its name) and the variant."""
        label = self.policy.rsplit(".", 1)[-1]
        return f"{label}-{self.variant}" if self.variant else label

    @property
    def name(self) -> str:
        return f"{self.env_id}-{self.agent}-seed{self.seed}"

    def folder(self, out: Path) -> Path:
        """The trial's folder under the sweep's output folder (an ``nmn-train`` run folder)."""
        return out / "trials" / self.env_id / self.agent / f"seed{self.seed}"


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top, mappings merged key by key (``policy_kwargs.nmn.cell``)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _variants(overrides: dict[str, Any] | list[dict[str, Any]]) -> list[Variant]:
    if isinstance(overrides, dict):
        return [Variant(name="", overrides=overrides)]
    variants = []
    for index, entry in enumerate(overrides):
        entry = dict(entry)
        variants.append(Variant(name=str(entry.pop("name", f"v{index}")), overrides=entry))
    return variants


def absolute_database(database: str) -> str:
    """A leaderboard path or SQLite URL made absolute: trials run in other working directories."""
    if "://" not in database:
        return str(Path(database).expanduser().resolve())
    url = make_url(database)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return url.set(database=str(Path(url.database).expanduser().resolve())).render_as_string(
            hide_password=False
        )
    return database


def _check_policy(policy: str) -> None:
    if policy in POLICY_NAMES:
        return
    if "." not in policy:
        raise ValueError(
            f"unknown policy {policy!r}; use one of {list(POLICY_NAMES)} or a class path "
            "'package.module.Class'"
        )
    found = pydoc.locate(policy)
    if not (isinstance(found, type) and issubclass(found, RecurrentActorCriticPolicy)):
        raise ValueError(
            f"{policy!r} does not import as a RecurrentPPO policy class "
            "(a subclass of sb3_contrib's RecurrentActorCriticPolicy)"
        )


def _distinct(kind: str, names: list[str]) -> list[str]:
    """``names``, refused when one of them is listed twice (``kind`` names what they are)."""
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} is listed twice: {names}")
    return names


class SweepConfig(BaseModel):
    """A sweep: which envs, policies, seeds and budgets, and what follows each training run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    envs: list[str] = Field(min_length=1)
    policies: list[str] = Field(min_length=1)
    seeds: list[NonNegativeInt] | dict[str, list[NonNegativeInt]]
    timesteps: PositiveInt | dict[str, PositiveInt]
    overrides: dict[str, Any] | list[dict[str, Any]] = Field(default_factory=dict)
    evaluate: bool | EvaluationSettings = True
    submit: Literal[False] | str = False
    cpus_per_trial: PositiveInt = 1
    checkpoint_freq: PositiveInt = 100_000

    @field_validator("envs")
    @classmethod
    def _registered_envs(cls, envs: list[str]) -> list[str]:
        for env_id in envs:
            check_env_id(env_id)
        return _distinct("an environment", envs)

    @field_validator("policies")
    @classmethod
    def _known_policies(cls, policies: list[str]) -> list[str]:
        for policy in policies:
            _check_policy(policy)
        return _distinct("a policy", policies)

    @field_validator("seeds")
    @classmethod
    def _seeds_per_policy(
        cls, seeds: list[int] | dict[str, list[int]], info: ValidationInfo
    ) -> list[int] | dict[str, list[int]]:
        lists = seeds.values() if isinstance(seeds, dict) else [seeds]
        for values in lists:
            if not values or len(set(values)) != len(values):
                raise ValueError(f"each list of seeds must be non-empty without repeats, got {values}")
        policies = info.data.get("policies")
        if isinstance(seeds, dict) and policies is not None and set(seeds) != set(policies):
            raise ValueError(
                f"a mapping of seeds needs exactly one entry per policy {policies}, got {sorted(seeds)}"
            )
        return seeds

    @field_validator("timesteps")
    @classmethod
    def _timesteps_per_env(
        cls, timesteps: int | dict[str, int], info: ValidationInfo
    ) -> int | dict[str, int]:
        envs = info.data.get("envs")
        if isinstance(timesteps, dict) and envs is not None and set(timesteps) != set(envs):
            raise ValueError(
                f"a mapping of timesteps needs exactly one entry per env {envs}, got {sorted(timesteps)}"
            )
        return timesteps

    @field_validator("overrides")
    @classmethod
    def _valid_overrides(
        cls, overrides: dict[str, Any] | list[dict[str, Any]], info: ValidationInfo
    ) -> dict[str, Any] | list[dict[str, Any]]:
        variants = _variants(overrides)
        names = [variant.name for variant in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must differ, got {names}")
        for index, variant in enumerate(variants):
            where = f"variant {variant.name!r} (entry {index})" if variant.name else "overrides"
            for env_id in info.data.get("envs") or []:
                hyperparams = load_hyperparams(env_id)
                try:
                    for policy in info.data.get("policies") or POLICY_NAMES:
                        recipe = hyperparams.for_policy(policy)
                        Hyperparams.model_validate(merge(recipe.model_dump(), variant.overrides))
                except ValidationError as error:
                    allowed = sorted(Hyperparams.model_fields)
                    raise ValueError(
                        f"{where} on {env_id}: {first_problem(error)} (hyperparameters: {allowed})"
                    ) from None
        return overrides

    @field_validator("submit")
    @classmethod
    def _database(cls, submit: Literal[False] | str) -> Literal[False] | str:
        if submit is False:
            return submit
        if not submit.strip():
            raise ValueError("give a leaderboard database URL or path, or false")
        return absolute_database(submit.strip())

    @model_validator(mode="after")
    def _submission_needs_the_full_set(self) -> SweepConfig:
        if self.submit is not False:
            if self.evaluation is None or self.evaluation.n_tasks != SET_SIZE:
                raise ValueError(
                    f"submit: the leaderboard takes results on the full task set; set evaluate "
                    f"to true (or n_tasks: {SET_SIZE})"
                )
        return self

    @property
    def evaluation(self) -> EvaluationSettings | None:
        """The evaluation settings, or ``None`` when trials are not evaluated."""
        if self.evaluate is True:
            return EvaluationSettings()
        return self.evaluate or None

    @property
    def variants(self) -> list[Variant]:
        return _variants(self.overrides)

    def seeds_of(self, policy: str) -> list[int]:
        return self.seeds[policy] if isinstance(self.seeds, dict) else self.seeds

    def timesteps_of(self, env_id: str) -> int:
        return self.timesteps[env_id] if isinstance(self.timesteps, dict) else self.timesteps

    def trials(self) -> Iterator[Trial]:
        """Every trial of the grid: env x variant x policy x seed, first seeds first.

        The grid runs in rounds: round ``k`` holds each policy's ``k``-th seed, policy after
        policy, each over every env and variant. A sweep cut short thus covers every cell with
        one seed before it adds the second.
        """
        rounds = max(len(self.seeds_of(policy)) for policy in self.policies)
        for round_index in range(rounds):
            for policy in self.policies:
                seeds = self.seeds_of(policy)
                if round_index >= len(seeds):
                    continue
                for env_id in self.envs:
                    for variant in self.variants:
                        yield Trial(
                            env_id=env_id,
                            policy=policy,
                            variant=variant.name,
                            seed=seeds[round_index],
                            timesteps=self.timesteps_of(env_id),
                        )

    def overrides_of(self, variant: str) -> dict[str, Any]:
        return next(entry.overrides for entry in self.variants if entry.name == variant)


def _message(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(config)"
        text = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            text += f"; the fields are {list(SweepConfig.model_fields)}"
        lines.append(f"{field}: {text}")
    return "\n".join(lines)


def parse_config(document: Any, source: str = "config") -> SweepConfig:
    """A :class:`SweepConfig` from decoded YAML.

    Raises:
        ConfigError: naming each invalid field and what it allows.
    """
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping of fields {list(SweepConfig.model_fields)}")
    try:
        return SweepConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"{source}:\n{_message(error)}") from None


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate the sweep config at ``path`` (see :func:`parse_config`)."""
    try:
        document = read_yaml(path, "sweep config")
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return parse_config(document, str(path))
