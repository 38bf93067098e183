"""VecNormalize observation statistics of a model, loaded only when the user asks for them.

A model trained inside SB3's ``VecNormalize`` with ``norm_obs=True`` acts on normalised
observations; played on raw ones it scores wrongly without any error. rl-baselines3-zoo saves
the statistics beside the model (``<run>/<env id>.zip`` and ``<run>/<env id>/vecnormalize.pkl``).

The statistics file is a pickle, and unpickling runs code. So the harness never loads one by
itself: ``nmn-eval --vecnormalize PATH`` (``vec_normalize=PATH``) is the user's explicit choice
to load that file. A statistics file found beside a model that was given without it stops the
evaluation before any play, naming the file and both ways on: load it with
``--vecnormalize PATH``, or score the model on raw observations with ``--no-vecnormalize``
(``vec_normalize=False``), which is right when the statistics only scaled rewards.
"""

from __future__ import annotations

import ast
import pickle
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


def zoo_normalises_observations(model_path: str | Path) -> Path | None:
    """rl-zoo's ``config.yml`` beside ``model_path`` if it says observations were normalised."""
    model_path = Path(model_path)
    config_path = model_path.parent / model_path.stem / ZOO_CONFIG_FILE
    if not config_path.is_file():
        return None
    config = yaml.load(config_path.read_text(), Loader=_ZooConfigLoader)  # noqa: S506 (safe loader)
    normalize = config.get("normalize", False) if isinstance(config, dict) else False
    if isinstance(normalize, str):
        normalize = ast.literal_eval(normalize) if normalize.startswith("{") else normalize == "True"
    if isinstance(normalize, dict):
        normalize = normalize.get("norm_obs", True)
    return config_path if normalize else None


def statistics_beside(model_path: str | Path) -> Path | None:
    """The ``vecnormalize.pkl`` that rl-zoo or a user saved beside ``model_path``, if any."""
    model_path = Path(model_path)
    for candidate in (
        model_path.parent / model_path.stem / STATISTICS_FILE,  # rl-zoo's layout
        model_path.parent / STATISTICS_FILE,
    ):
        if candidate.is_file():
            return candidate
    return None


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

    Raises:
        ValueError: when ``choice`` is ``None`` and statistics lie beside the model, or rl-zoo's
            ``config.yml`` beside it says observations were normalised: the user must say
            whether to load statistics (a pickle) or to play on raw observations.
    """
    if choice is False:
        return None
    if choice is not None:
        return Path(choice)
    found = statistics_beside(model_path)
    if found is not None:
        raise ValueError(
            f"found VecNormalize statistics {str(found)!r} beside the model {str(model_path)!r}: "
            "a model trained on normalised observations scores wrongly without them. Pass "
            f"--vecnormalize {found} to load them (a pickle: only for a file you trust), or "
            "--no-vecnormalize to score the model on raw observations"
        )
    config = zoo_normalises_observations(model_path)
    if config is not None:
        raise ValueError(
            f"{str(config)!r} says the model {str(model_path)!r} was trained on normalised "
            f"observations, but no {STATISTICS_FILE} lies beside it: pass --vecnormalize PATH "
            "with its statistics, or --no-vecnormalize to score it on raw observations anyway"
        )
    return None
