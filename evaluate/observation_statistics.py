"""VecNormalize observation statistics of a model, loaded only when the user asks for them.

A model trained inside SB3's ``VecNormalize`` with ``norm_obs=True`` acts on normalised
observations; played on raw ones it scores wrongly without any error. rl-baselines3-zoo keeps
the statistics and its ``config.yml`` in the run's ``<env id>`` folder, for every model file of
the run: ``<run>/<env id>.zip`` (the last model), ``<run>/best_model.zip`` and the checkpoints
``<run>/rl_model_<N>_steps.zip`` (whose own statistics, when saved, are
``rl_model_vecnormalize_<N>_steps.pkl`` beside them), the run folder being ``<env id>_<N>``.

The statistics file is a pickle, and unpickling runs code. So the harness never loads one by
itself: ``nmn-eval --vecnormalize PATH`` (``vec_normalize=PATH``) is the user's explicit choice
to load that file. Where rl-zoo's ``config.yml`` says whether observations were normalised, it
decides: ``norm_obs`` false plays the model on raw observations (the statistics only scaled
rewards); true needs the statistics. Otherwise (or when the config cannot be read) a statistics
file found beside a model that was given without it stops the evaluation before any play,
naming the file and both ways on: load it with ``--vecnormalize PATH``, or score the model on
raw observations with ``--no-vecnormalize`` (``vec_normalize=False``).
"""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from gymnasium import spaces

STATISTICS_FILE = "vecnormalize.pkl"
ZOO_CONFIG_FILE = "config.yml"

VecNormalizeChoice = str | Path | Literal[False] | None
"""A statistics file to load, ``False`` to play on raw observations, or ``None``: look beside
the model and refuse when statistics are there (or rl-zoo's config says they should be)."""


class _ZooConfigLoader(yaml.SafeLoader):
    """A safe loader that reads the ``OrderedDict`` rl-zoo dumps its ``config.yml`` as."""


def _ordered_dict(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> dict[str, Any]:
    (pairs,) = loader.construct_sequence(node, deep=True)
    return dict(pairs)


_ZooConfigLoader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered_dict
)


def zoo_run_folder(model_path: str | Path) -> Path | None:
    """The folder where rl-zoo keeps the ``config.yml`` (and statistics) of the run that
    ``model_path`` belongs to, ``<run>/<env id>``, if there is one."""
    model_path = Path(model_path)
    run = model_path.parent
    candidates = [run / model_path.stem]
    if run.is_dir():  # any model file of a run named <env id>_<N>: its <env id> folder
        candidates += sorted(
            folder for folder in run.iterdir() if folder.is_dir() and run.name.startswith(f"{folder.name}_")
        )
    return next((folder for folder in candidates if (folder / ZOO_CONFIG_FILE).is_file()), None)


def _normalize_kwargs(value: Any) -> dict[str, Any] | bool | None:
    """rl-zoo's ``normalize`` hyperparameter as a kwargs dict or a bool (``None``: unreadable).

    rl-zoo writes it as a bool, a dict, or a string of Python: ``"{'norm_obs': False}"`` or
    ``"dict(norm_obs=False, norm_reward=True)"``; the string is parsed, never run.
    """
    if isinstance(value, (bool, dict)):
        return value
    if not isinstance(value, str):
        return None
    try:
        tree = ast.parse(value.strip(), mode="eval").body
        if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "dict":
            if tree.args or any(keyword.arg is None for keyword in tree.keywords):
                return None
            return {keyword.arg: ast.literal_eval(keyword.value) for keyword in tree.keywords}
        parsed = ast.literal_eval(tree)
    except (SyntaxError, ValueError):
        return None
    return parsed if isinstance(parsed, (bool, dict)) else None


def zoo_normalises_observations(config_path: str | Path) -> bool | None:
    """Whether rl-zoo's ``config_path`` says observations were normalised (``None``: it cannot
    be read, or does not say)."""
    try:
        config = yaml.load(Path(config_path).read_text(), Loader=_ZooConfigLoader)  # noqa: S506 (safe loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(config, dict):
        return None
    normalize = _normalize_kwargs(config.get("normalize", False))
    if isinstance(normalize, dict):
        normalize = normalize.get("norm_obs", True)
    return normalize if isinstance(normalize, bool) else None


def statistics_beside(model_path: str | Path) -> Path | None:
    """The ``vecnormalize.pkl`` that rl-zoo, SB3's checkpoints or a user saved for ``model_path``,
    if any: a checkpoint's own statistics first, then the run's (rl-zoo's layout), then a file
    beside the model."""
    model_path = Path(model_path)
    candidates = []
    checkpoint = re.fullmatch(r"(?P<prefix>.+)_(?P<steps>\d+)_steps", model_path.stem)
    if checkpoint is not None:  # SB3's CheckpointCallback(save_vecnormalize=True)
        candidates.append(
            model_path.parent / f"{checkpoint['prefix']}_vecnormalize_{checkpoint['steps']}_steps.pkl"
        )
    run_folder = zoo_run_folder(model_path)
    if run_folder is not None:
        candidates.append(run_folder / STATISTICS_FILE)
    candidates += [model_path.parent / model_path.stem / STATISTICS_FILE, model_path.parent / STATISTICS_FILE]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def load_statistics(path: str | Path, observation_space: spaces.Space) -> Any:
    """Unpickle the ``VecNormalize`` saved at ``path`` (the caller chose to trust it), for evaluation.

    Raises:
        ValueError: if the file is missing, is not a ``VecNormalize``, or normalises
            observations of another space than ``observation_space`` (the model's).
    """
    from stable_baselines3.common.vec_env import VecNormalize

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"VecNormalize statistics file {str(path)!r} does not exist")
    with path.open("rb") as file:
        statistics = pickle.load(file)  # noqa: S301  (the user passed this file explicitly)
    if not isinstance(statistics, VecNormalize):
        raise ValueError(
            f"{str(path)!r} holds a {type(statistics).__name__}, not SB3 VecNormalize statistics"
        )
    if statistics.observation_space != observation_space:
        raise ValueError(
            f"the statistics in {str(path)!r} normalise observations of {statistics.observation_space},"
            f" but the model acts on {observation_space}"
        )
    statistics.training = False
    statistics.norm_reward = False
    return statistics


def check_choice(model_path: str | Path, choice: VecNormalizeChoice) -> Path | None:
    """The statistics file to load for the model at ``model_path`` (``None``: play it raw).

    Without a choice, rl-zoo's ``config.yml`` of the model's run decides where it says whether
    observations were normalised; otherwise statistics found beside the model stop the run.

    Raises:
        ValueError: when ``choice`` is ``None`` and the config says observations were
            normalised, or it does not say and statistics lie beside the model: the user must
            say whether to load statistics (a pickle) or to play on raw observations.
    """
    if choice is False:
        return None
    if choice is not None:
        return Path(choice)
    run_folder = zoo_run_folder(model_path)
    config = None if run_folder is None else run_folder / ZOO_CONFIG_FILE
    normalised = None if config is None else zoo_normalises_observations(config)
    if normalised is False:  # the statistics only scaled rewards
        return None
    found = statistics_beside(model_path)
    said = (
        f" ({str(config)!r} says observations were normalised)" if normalised else ""
    )
    if found is not None:
        raise ValueError(
            f"found VecNormalize statistics {str(found)!r} beside the model {str(model_path)!r}"
            f"{said}: a model trained on normalised observations scores wrongly without them. Pass "
            f"--vecnormalize {found} to load them (a pickle: only for a file you trust), or "
            "--no-vecnormalize to score the model on raw observations"
        )
    if normalised:
        raise ValueError(
            f"{str(config)!r} says the model {str(model_path)!r} was trained on "
            f"normalised observations, but no {STATISTICS_FILE} lies beside it: pass "
            "--vecnormalize PATH with its statistics, or --no-vecnormalize to score it on raw "
            "observations anyway"
        )
    return None
