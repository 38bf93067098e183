"""Checking actions and encoding them as feedback.

Every environment of the suite checks a batch of actions the same way: the shape must match
the action space, values must be finite, finite values outside a ``Box`` are clipped to it
(documented behaviour), and a ``Discrete`` action must be one of the allowed integers.
The feedback wrappers encode the previous action with :func:`encode_actions`.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


def check_actions(actions: object, space: spaces.Space, batch_size: int) -> np.ndarray:
    """Validate a batch of actions for ``space`` and return them clipped, as an array.

    Args:
        actions: ``batch_size`` actions stacked along the first axis.
        space: the action space of one sub-environment (``Box`` or ``Discrete``).
        batch_size: the number of sub-environments.

    Raises:
        ValueError: for a wrong shape, a NaN or infinite value, or a Discrete action out of range.
    """
    if isinstance(space, spaces.Box):
        try:
            raw = np.asarray(actions)
            if raw.dtype.kind not in "fiu":  # complex, bool, text, objects
                raise TypeError
            batch = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"actions must be numbers (real, not complex or boolean) for {space}, got {actions!r}"
            ) from None
        expected = (batch_size, *space.shape)
        if batch.shape != expected:
            raise ValueError(
                f"actions of shape {batch.shape} do not fit {space}: expected {space.shape}"
                f" per sub-environment, {expected} for a batch of {batch_size}"
            )
        if not np.all(np.isfinite(batch)):
            raise ValueError(f"action contains NaN or infinite values: {actions!r}")
        return np.clip(batch, space.low, space.high)
    if isinstance(space, spaces.Discrete):
        batch = np.asarray(actions)
        if batch.shape != (batch_size,):
            raise ValueError(
                f"a Discrete action is one integer per sub-environment; got shape {batch.shape},"
                f" expected {(batch_size,)}"
            )
        if batch.dtype.kind == "f":
            if not np.all(np.isfinite(batch)):
                raise ValueError(f"action contains NaN or infinite values: {actions!r}")
            if np.any(batch != np.round(batch)):
                raise ValueError(f"Discrete actions must be whole numbers, got {actions!r}")
        elif batch.dtype.kind not in "iu":
            raise ValueError(f"Discrete actions must be integers, got {actions!r}")
        batch = batch.astype(np.int64)
        low, high = int(space.start), int(space.start + space.n - 1)
        if np.any((batch < low) | (batch > high)):
            raise ValueError(f"Discrete action out of range: {actions!r}; allowed {low}..{high}")
        return batch
    raise ValueError(f"only Box and Discrete action spaces are supported, got {space}")


def check_single_action(action: object, space: spaces.Space) -> np.ndarray:
    """One sub-environment's action as a batch of one; a wrong shape is reported as given.

    Raises:
        ValueError: as :func:`check_actions`, naming the shape of ``action`` itself.
    """
    expected = space.shape if isinstance(space, spaces.Box) else ()
    try:
        raw = np.asarray(action)
    except ValueError:  # ragged nesting
        raise ValueError(
            f"an action must have shape {expected} for {space}, got {action!r}"
        ) from None
    if raw.dtype.kind in "fiu" and raw.shape != expected:
        raise ValueError(
            f"an action of shape {raw.shape} does not fit {space}: expected {expected}"
        )
    return raw[None]


def encoded_action_space(space: spaces.Space) -> spaces.Box:
    """The space of :func:`encode_actions` for one sub-environment: one-hot or the Box itself."""
    if isinstance(space, spaces.Discrete):
        return spaces.Box(0.0, 1.0, shape=(int(space.n),), dtype=np.float32)
    if isinstance(space, spaces.Box):
        return spaces.Box(
            space.low.astype(np.float32), space.high.astype(np.float32), dtype=np.float32
        )
    raise ValueError(
        f"feedback needs a Box or Discrete action space, got {type(space).__name__}: {space}"
    )


def encode_actions(actions: np.ndarray, space: spaces.Space) -> np.ndarray:
    """Encode checked actions (a batch) as float32 feedback: one-hot for Discrete, as is for Box."""
    if isinstance(space, spaces.Discrete):
        one_hot = np.zeros((actions.shape[0], int(space.n)), dtype=np.float32)
        one_hot[np.arange(actions.shape[0]), actions - int(space.start)] = 1.0
        return one_hot
    return actions.astype(np.float32)
