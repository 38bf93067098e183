"""Tasks: the hidden parameters that one member of a task distribution is made of.

A task is a small frozen dataclass of numbers. Each field declares its support with
:func:`task_field`, so that a task built by hand (from a dict, a JSON file, or ``options``)
is checked the same way everywhere: unknown or missing fields, non-finite values and values
outside the distribution's support are refused with a :class:`ValueError` that names them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

TaskT = TypeVar("TaskT", bound="Task")


def task_field(low: float, high: float, *, integer: bool = False) -> Any:
    """Declare a task field whose values lie in the closed interval ``[low, high]``.

    Args:
        low: smallest value in the support.
        high: largest value in the support.
        integer: whether the field only takes whole values (a category or a flag).
    """
    return dataclasses.field(metadata={"low": low, "high": high, "integer": integer})


@dataclasses.dataclass(frozen=True)
class Task:
    """Base class of every task; subclasses declare their fields with :func:`task_field`."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            low, high = field.metadata["low"], field.metadata["high"]
            name = f"{type(self).__name__}.{field.name}"
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
            if field.metadata["integer"]:
                if value != int(value):
                    raise ValueError(f"{name} must be a whole number, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            if not low <= value <= high:
                raise ValueError(
                    f"{name}={value!r} is outside the task distribution's support [{low}, {high}]"
                )
            object.__setattr__(self, field.name, value)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the task's fields, in declaration order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def coerce(cls: type[TaskT], value: TaskT | Mapping[str, Any]) -> TaskT:
        """Return ``value`` as a validated task of this class.

        Args:
            value: a task of this class, or a mapping from field names to numbers.

        Raises:
            ValueError: for another task class, unknown or missing fields, or invalid values.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, Task):
            raise ValueError(f"expected a {cls.__name__}, got a {type(value).__name__}")
        if not isinstance(value, Mapping):
            raise ValueError(
                f"a task must be a {cls.__name__} or a mapping of its fields "
                f"{cls.field_names()}, got {type(value).__name__}"
            )
        names = cls.field_names()
        unknown = sorted(set(value) - set(names))
        missing = [name for name in names if name not in value]
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {list(names)}")
        if missing:
            raise ValueError(f"missing {cls.__name__} field(s) {missing}")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, float | int]:
        """The task as a JSON-serialisable dict."""
        return dataclasses.asdict(self)
