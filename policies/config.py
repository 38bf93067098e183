"""Training hyperparameters per environment, read from the YAML files of ``policies/hyperparams``.

One file per environment id (``NMN-Bench1-v0.yml``), or per family of ids that share a recipe
(``NMN-HalfCheetah.yml`` names each of its ids at its top level); ids without one use
``default.yml``. The files are in rl-baselines3-zoo's schema, so that the same file drives ``nmn-train`` and rl-zoo::

    python -m rl_zoo3.train --algo ppo_lstm --env NMN-Bench1-v0 \\
        -conf policies/hyperparams/NMN-Bench1-v0.yml --gym-packages nmn_envs

The file holds one entry per policy, ``nmn``, ``rnn`` and ``lstm``: the recipe (``n_envs``,
``n_timesteps``, ``env_kwargs``, ``normalize``, RecurrentPPO's keyword arguments) is written
once under ``nmn`` and merged into the others with YAML's ``<<: *nmn``, which then set their
``policy`` and ``policy_kwargs`` and, where a policy trains better otherwise, their own value of a
recipe key (say ``learning_rate``; :meth:`Hyperparams.for_policy` gives a policy's whole recipe).
The environment id's own key (or ``default``) is an alias of
the ``nmn`` entry: the one rl-zoo reads. A policy class of one's own may have an entry too, named
by its dotted path (``my_package.MyPolicy``, with ``policy: my_package.MyPolicy``). As in rl-zoo, ``policy_kwargs`` and ``normalize`` may be
Python-literal strings such as ``"dict(recurrent_sizes=[50], cell='gru')"`` (read here with
:func:`ast.literal_eval` on each argument, never evaluated as code), and ``learning_rate`` may be
``"lin_<value>"``, a rate decaying linearly to zero over the run.

The trained references (``nmn-train ENV --policy oracle`` or ``memoryless``: SB3 PPO with an MLP
policy, see :mod:`training.train`) have their own file, ``policies/hyperparams/references/ppo.yml``,
in rl-zoo's schema for one algorithm: an entry per environment id, which both references train with
(:func:`load_reference_hyperparams`).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator, model_validator
from stable_baselines3.common.utils import LinearSchedule

HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"
POLICY_NAMES = ("nmn", "rnn", "lstm")
POLICY_CLASSES = {"nmn": "policies.NMNPolicy", "rnn": "policies.RNNPolicy", "lstm": "policies.LSTMPolicy"}
"""The ``policy`` each entry names (rl-zoo imports a dotted path; ``lstm`` is sb3-contrib's own
LSTM policy with the package's heads)."""
REFERENCE_POLICIES = ("oracle", "memoryless")
"""The references ``nmn-train`` trains with PPO: told the task, or the bare observation alone."""
REFERENCE_HYPERPARAMS_FILE = HYPERPARAMS_DIR / "references" / "ppo.yml"
REFERENCE_POLICY_CLASS = "MlpPolicy"
LINEAR_PREFIX = "lin_"
MAX_YAML_BYTES = 2**20
"""The largest hyperparameter or run config file read."""
MAX_POLICY_KWARGS_CHARS = 4096
"""The longest ``policy_kwargs`` of an entry, as written (a few sizes and names, never data)."""


def first_problem(error: ValidationError, whole: str = "(document)") -> str:
    """``field: message`` of the first problem pydantic found (``whole`` names a document-level one)."""
    problem = error.errors()[0]
    field = ".".join(str(part) for part in problem["loc"]) or whole
    return f"{field}: {problem['msg'].removeprefix('Value error, ')}"


def read_yaml(path: str | Path, what: str) -> Any:
    """The content of the YAML file ``path`` (``what`` names it in errors), read with
    ``yaml.safe_load``: tags such as ``!!python/object`` are refused, never constructed.

    Raises:
        ValueError: the file is missing, over :data:`MAX_YAML_BYTES`, or not plain YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ValueError(f"{what} {str(path)!r} is over the limit of {MAX_YAML_BYTES} bytes")
    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        problem = " ".join(str(error).split())
        raise ValueError(f"{what} {str(path)!r} is not plain YAML (no tags such as !!python/object): {problem}") from None


def literal_mapping(text: str | dict[str, Any], field: str) -> dict[str, Any]:
    """A mapping written as rl-zoo writes it: a dict, or the string ``"dict(key=literal, ...)"``
    or ``"{'key': literal}"``. Only literals are read; nothing is evaluated as code.

    Raises:
        ValueError: naming ``field``, for anything else.
    """
    if isinstance(text, dict):
        return text
    try:
        tree = ast.parse(str(text), mode="eval").body
        if isinstance(tree, ast.Dict):
            return ast.literal_eval(tree)
        is_dict_call = isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "dict"
        if is_dict_call and not tree.args and all(keyword.arg for keyword in tree.keywords):
            return {keyword.arg: ast.literal_eval(keyword.value) for keyword in tree.keywords}
    except (SyntaxError, ValueError) as error:
        raise ValueError(f"{field}: {text!r} is not a mapping of literals ({error})") from None
    raise ValueError(f"{field}: {text!r} is not a mapping of literals; write dict(key=value, ...)")


class Hyperparams(BaseModel):
    """The recipe of one hyperparameter file (shared by its policies) and each policy's kwargs."""

    model_config = ConfigDict(extra="forbid")

    n_envs: PositiveInt
    n_timesteps: PositiveInt
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    normalize_reward: bool = False
    gamma: float = Field(gt=0.0, le=1.0)
    gae_lambda: float = Field(ge=0.0, le=1.0)
    learning_rate: float | str
    n_steps: PositiveInt
    batch_size: PositiveInt
    n_epochs: PositiveInt
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    clip_range: float = Field(0.2, gt=0.0)
    max_grad_norm: float = Field(0.5, gt=0.0)
    target_kl: float | None = Field(None, gt=0.0)
    policy_kwargs: dict[str, dict[str, Any]]
    own_recipes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per policy, the recipe keys it sets to values of its own (its entry's, where they differ
    from the ``nmn`` entry's, whose recipe the fields above hold)."""

    @field_validator("learning_rate")
    @classmethod
    def _rate(cls, value: float | str) -> float | str:
        initial = float(value[len(LINEAR_PREFIX) :]) if isinstance(value, str) and value.startswith(LINEAR_PREFIX) else value
        if not isinstance(initial, (int, float)) or initial <= 0:
            raise ValueError(f"learning_rate must be a positive number or '{LINEAR_PREFIX}<positive number>', got {value!r}")
        return value

    @model_validator(mode="after")
    def _own_recipes_are_recipes(self) -> Hyperparams:
        for policy, own in self.own_recipes.items():
            unknown = sorted(set(own) - set(RECIPE_FIELDS))
            if unknown:
                raise ValueError(f"{policy}: {unknown} are not recipe keys (allowed: {sorted(RECIPE_FIELDS)})")
            self.for_policy(policy)
        return self

    def for_policy(self, policy: str) -> Hyperparams:
        """The recipe ``policy`` trains with: the shared one, with the keys it sets on its own."""
        own = self.own_recipes.get(policy, {})
        try:
            return Hyperparams.model_validate({**self.model_dump(exclude={"own_recipes"}), **own})
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors())
            raise ValueError(f"{policy}'s own recipe: {problems}") from None

    def algorithm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``RecurrentPPO`` (without the policy's); ``lin_`` rates as schedules.

        These are the shared recipe's; a policy's own come from :meth:`for_policy`.
        """
        kwargs = self.model_dump(
            exclude={"n_envs", "n_timesteps", "env_kwargs", "normalize_reward", "policy_kwargs", "own_recipes"}
        )
        rate = self.learning_rate
        if isinstance(rate, str):
            kwargs["learning_rate"] = LinearSchedule(float(rate[len(LINEAR_PREFIX) :]), 0.0, 1.0)
        return kwargs


RECIPE_FIELDS = tuple(name for name in Hyperparams.model_fields if name not in ("policy_kwargs", "own_recipes"))
"""The keys of a recipe (RecurrentPPO's keyword arguments and the run's set-up)."""


def hyperparams_path(env_id: str) -> Path:
    """The file that holds ``env_id``'s hyperparameters: ``<env_id>.yml``, else the file that names
    ``env_id`` at its top level (a family's recipe), else ``default.yml``."""
    own = HYPERPARAMS_DIR / f"{env_id}.yml"
    if own.is_file():
        return own
    for path in sorted(HYPERPARAMS_DIR.glob("*.yml")):
        entries = read_yaml(path, "hyperparameter file")
        if isinstance(entries, dict) and env_id in entries:
            return path
    return HYPERPARAMS_DIR / "default.yml"


def reward_normalisation(normalize: Any, field: str) -> bool:
    """Whether rl-zoo's ``normalize`` entry scales rewards; observations may not be scaled (a saved
    model acts on raw observations).

    Raises:
        ValueError: naming ``field``, for an entry that scales observations or is not a mapping.
    """
    if isinstance(normalize, bool):
        if normalize:
            raise ValueError(f"{field} may scale rewards only: dict(norm_obs=False, norm_reward=True)")
        return False
    normalize = literal_mapping(normalize, field)
    if normalize.get("norm_obs", True):
        raise ValueError(f"{field} may scale rewards only (norm_obs=False)")
    return bool(normalize.get("norm_reward", True))


def parse_hyperparams(entries: Any, source: str) -> Hyperparams:
    """Validate the ``nmn``/``rnn``/``lstm`` entries of a file's content (``source`` names it)."""
    if not isinstance(entries, dict):
        raise ValueError(f"{source}: expected a mapping with entries {list(POLICY_NAMES)}")
    missing = [name for name in POLICY_NAMES if not isinstance(entries.get(name), dict)]
    if missing:
        raise ValueError(f"{source}: lacks the entries {missing} (needs {list(POLICY_NAMES)})")
    custom = [key for key in entries if "." in key and isinstance(entries[key], dict)]
    recipes, policy_kwargs = [], {}
    for name in (*POLICY_NAMES, *custom):
        entry = dict(entries[name])
        policy = entry.pop("policy", None)
        if policy != POLICY_CLASSES.get(name, name):
            raise ValueError(f"{source}: entry {name!r} must have policy: {POLICY_CLASSES.get(name, name)}, got {policy!r}")
        kwargs = entry.pop("policy_kwargs", {})
        if len(repr(kwargs)) > MAX_POLICY_KWARGS_CHARS:
            raise ValueError(f"{source}: {name}.policy_kwargs is over the limit of {MAX_POLICY_KWARGS_CHARS} characters")
        policy_kwargs[name] = literal_mapping(kwargs, f"{source}: {name}.policy_kwargs")
        normalize = reward_normalisation(entry.pop("normalize", False), f"{source}: {name}.normalize")
        recipes.append({**entry, "normalize_reward": normalize})
    shared = recipes[0]
    own_recipes = {}
    for name, recipe in zip((*POLICY_NAMES, *custom), recipes):
        own = {key: value for key, value in recipe.items() if key not in shared or repr(value) != repr(shared[key])}
        if own:
            own_recipes[name] = own
    try:
        return Hyperparams.model_validate({**shared, "policy_kwargs": policy_kwargs, "own_recipes": own_recipes})
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def load_hyperparams(env_id: str, path: str | Path | None = None) -> Hyperparams:
    """Read and validate the hyperparameters of ``env_id`` (or those of the file ``path``)."""
    path = Path(path) if path is not None else hyperparams_path(env_id)
    return parse_hyperparams(read_yaml(path, "hyperparameter file"), str(path))


def load_reference_hyperparams(env_id: str, path: str | Path | None = None) -> Hyperparams:
    """The PPO recipe of ``env_id``'s trained references in ``path`` (default: the shipped
    :data:`REFERENCE_HYPERPARAMS_FILE`), the same for :data:`REFERENCE_POLICIES`.

    Raises:
        ValueError: naming the file and the environments it has recipes for, or the first
            problem of the entry.
    """
    path = Path(path) if path is not None else REFERENCE_HYPERPARAMS_FILE
    entries = read_yaml(path, "reference hyperparameter file")
    if not isinstance(entries, dict) or not isinstance(entries.get(env_id), dict):
        listed = sorted(entries) if isinstance(entries, dict) else []
        raise ValueError(f"{path}: no recipe for {env_id}; it has recipes for {listed}")
    entry = dict(entries[env_id])
    source = f"{path}: {env_id}"
    policy = entry.pop("policy", None)
    if policy != REFERENCE_POLICY_CLASS:
        raise ValueError(f"{source}: policy must be {REFERENCE_POLICY_CLASS}, got {policy!r}")
    kwargs = literal_mapping(entry.pop("policy_kwargs", {}), f"{source}.policy_kwargs")
    normalize = reward_normalisation(entry.pop("normalize", False), f"{source}.normalize")
    recipe = {**entry, "normalize_reward": normalize, "policy_kwargs": dict.fromkeys(REFERENCE_POLICIES, kwargs)}
    try:
        return Hyperparams.model_validate(recipe)
    except ValidationError as error:
        raise ValueError(f"{source}: {first_problem(error)}") from None


def dump_hyperparams(hyperparams: Hyperparams, env_id: str) -> str:
    """``hyperparams`` as the YAML of a hyperparameter file of ``env_id`` (rl-zoo's schema)."""
    entries = {}
    for name, kwargs in hyperparams.policy_kwargs.items():
        recipe = hyperparams.for_policy(name)
        entry = recipe.model_dump(exclude={"normalize_reward", "policy_kwargs", "own_recipes"})
        entry["normalize"] = "dict(norm_obs=False, norm_reward=True)" if recipe.normalize_reward else False
        entries[name] = {**entry, "policy": POLICY_CLASSES.get(name, name), "policy_kwargs": kwargs}
    return yaml.safe_dump({env_id: entries["nmn"], **entries}, sort_keys=False)
