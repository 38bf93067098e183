"""Catalogues of named trained agents: how the harness reads ``zoo:nmn`` without importing the zoo.

Every import in nmn-bench points down the layers (their order is ``LAYERS`` in
``tests/test_layers.py``). The zoo's cards (:mod:`training.zoo`) sit above this package, with the
training pipeline that makes the models: each card holds the harness's score of its model,
and ``zoo:nmn`` means the seed of median score, so reading a zoo name takes the card schema, which
is built on :mod:`evaluate.schema`. Yet ``evaluate("zoo:nmn", ...)``, ``nmn-eval --agent zoo:nmn``
and the board's checks all name agents that way.

So the harness knows catalogues only by a protocol, and finds them the way Gymnasium and pytest
find plugins: through the entry-point group ``nmn_bench.agent_catalogues`` of the installed
packages. Each entry point is named after the prefix of its names and points at the catalogue;
nmn-bench's ``pyproject.toml`` declares its zoo::

    [project.entry-points."nmn_bench.agent_catalogues"]
    zoo = "training.zoo"

A catalogue is loaded (its module imported) the first time one of its names is met. Any package can
ship agents this way: a catalogue is any object, a module will do, with ``find(name, env_id)``
returning the model file and an entry with a ``name`` (the name results record, such as
``zoo:nmn@seed2``), and ``available(env_id)`` listing the names it holds for an environment.
The models themselves load through the same safe path as any model file
(:func:`evaluate.agents.as_policy`).
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

GROUP = "nmn_bench.agent_catalogues"
SEPARATOR = ":"


class Entry(Protocol):
    """What a catalogue knows of one of its models; the harness reads only its name."""

    @property
    def name(self) -> str:
        """The model's full name in its catalogue (``zoo:nmn@seed2``)."""
        ...


class Catalogue(Protocol):
    """A source of named models: the zoo (:mod:`training.zoo`) or any installed package's."""

    def find(self, name: str, env_id: str) -> tuple[Path, Entry]:
        """The model file that ``name`` means on ``env_id``, and its entry.

        Raises:
            ValueError: for a name the catalogue does not hold, saying what it holds.
        """
        ...

    def available(self, env_id: str) -> list[str]:
        """The names the catalogue holds models for on ``env_id``."""
        ...


def prefixes() -> list[str]:
    """The prefixes of the installed catalogues (``["zoo"]`` for nmn-bench alone)."""
    return sorted({point.name for point in entry_points(group=GROUP)})


@functools.cache
def load(prefix: str) -> Catalogue | None:
    """The installed catalogue of ``prefix``'s names (``None`` when there is none).

    Raises:
        ValueError: when two installed packages declare a catalogue of the same prefix.
    """
    points = entry_points(group=GROUP, name=prefix)
    targets = sorted({point.value for point in points})
    if len(targets) > 1:
        raise ValueError(f"installed packages declare {len(targets)} catalogues of {prefix!r} names: {targets}")
    return next(iter(points)).load() if targets else None


def catalogue_of(agent: Any) -> Catalogue | None:
    """The installed catalogue that holds ``agent``'s name (``prefix:...``), or ``None`` for
    anything else: a reference agent, a model path, an agent object."""
    if not isinstance(agent, str):
        return None
    prefix, separator, _ = agent.partition(SEPARATOR)
    return load(prefix) if separator and prefix else None


def find(name: str, env_id: str) -> tuple[Path, str]:
    """The model file that the catalogued ``name`` means on ``env_id``, and its full name.

    Raises:
        ValueError: for a name of no installed catalogue, or one its catalogue does not hold.
    """
    catalogue = catalogue_of(name)
    if catalogue is None:
        raise ValueError(f"{name!r} is in no installed catalogue; the installed ones hold {named_forms()}")
    path, entry = catalogue.find(name, env_id)
    return path, entry.name


def available(env_id: str) -> list[str]:
    """Every name that the installed catalogues hold models for on ``env_id``."""
    return [name for prefix in prefixes() if (catalogue := load(prefix)) for name in catalogue.available(env_id)]


def named_forms() -> str:
    """The forms of catalogued names, for messages: ``zoo:...`` (or ``none`` without catalogues)."""
    return ", ".join(f"{prefix}{SEPARATOR}..." for prefix in prefixes()) or "none"
