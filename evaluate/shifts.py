"""Named shifts: task distributions beyond the one an agent was trained on (SPEC 10).

A shift is a set of env kwargs that changes the task distribution of a native task and never
its spaces, so that an agent trained on the registered distribution plays it as it is, never
retrained. ``shifts(env_id)`` gives an environment's shifts by name; each has its own
published task set (:func:`evaluate.task_sets.shift_task_set`) and its own bounds
(:func:`evaluate.bounds.bounds` with the shift's kwargs). The generalisation gap of an agent
is its score on the registered distribution minus its score on the shift (``nmn-eval --shift``).

The in-distribution side of a gap is the distribution agents train on. It is the evaluation
protocol's everywhere but on NMN-Harlow, whose protocol already holds out the training objects
(:data:`evaluate.task_sets.EVALUATION_KWARGS`): there the held-out pool is the shift, and the
in-distribution side plays the training pool (:func:`evaluate.task_sets.in_distribution_kwargs`).

Left out, and why: NMN-HalfCheetahDir, whose task is a direction, ``+1`` or ``-1``: there is
nothing outside the training range to move it to.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import gymnasium as gym

from nmn_envs import check_env_id

BENCH1_SWITCH_PROBABILITY = 0.2
"""Probability per hit that NMN-Bench1's offset is redrawn under the ``switching`` shift."""


@dataclass(frozen=True)
class Shift:
    """A named change of an environment's task distribution.

    Attributes:
        env_id: the environment it shifts.
        name: its name, unique within the environment.
        slot: its place among the environment's shifts, which fixes its task set's seeds
            (never reused, so that two shifts never share a task or a reset seed).
        kwargs: the env kwargs that make it (read-only).
        description: what moves and why that tests adaptation.
        readapt: whether the task changes within a meta-episode, so that an agent must readapt
            to a task it had already identified (the NMN paper's claim is about these).
    """

    env_id: str
    name: str
    slot: int
    kwargs: Mapping[str, Any]
    description: str
    readapt: bool = False

    def env_kwargs(self) -> dict[str, Any]:
        """The shift's kwargs as a plain dict (a copy)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in self.kwargs.items()}


def _shift(env_id: str, name: str, slot: int, description: str, readapt: bool = False, **kwargs: Any) -> Shift:
    return Shift(env_id, name, slot, types.MappingProxyType(kwargs), " ".join(description.split()), readapt)


SHIFTS: dict[str, tuple[Shift, ...]] = {
    "NMN-Bench1-v0": (
        _shift(
            "NMN-Bench1-v0",
            "wider",
            1,
            """Offsets drawn from U[-15, 15] instead of U[-10, 10]. A third of the tasks lie
            beyond every offset met in training: an agent that learnt to infer the offset from
            the size of its misses extrapolates; one that memorised the training range probes
            in the wrong place and never corrects.""",
            offset_limit=15.0,
        ),
        _shift(
            "NMN-Bench1-v0",
            "switching",
            2,
            f"""After every hit the offset is redrawn with probability
            {BENCH1_SWITCH_PROBABILITY}: the task changes without notice mid meta-episode, so
            an agent must notice that its identified offset stopped working and identify the
            new one (readapt), which training on fixed offsets never asked of it.""",
            readapt=True,
            switch_probability=BENCH1_SWITCH_PROBABILITY,
        ),
    ),
    "NMN-Bench2-v0": (
        _shift(
            "NMN-Bench2-v0",
            "wind_switch",
            1,
            """The wind's main direction is redrawn at step 2000, half way through the
            meta-episode and right where training episodes ended: what the agent inferred
            about the wind turns wrong and must be inferred again.""",
            readapt=True,
            wind_switch_steps=(2000,),
        ),
    ),
    "NMN-Bench3-v0": (
        _shift(
            "NMN-Bench3-v0",
            "swap",
            1,
            """The good and the bad target swap at step 2500, half way through the
            meta-episode: an agent that locked on the good target must unlock on the first
            -50 and turn to the other (the source's lock/unlock study).""",
            readapt=True,
            swap_steps=(2500,),
        ),
    ),
    "NMN-Bandit-v0": tuple(
        _shift(
            "NMN-Bandit-v0",
            variant,
            slot,
            f"""The {variant} variant: {how}. The arms are no longer independent, so one arm's
            outcome tells about the other's; an agent trained on independent arms must
            exploit a structure it never met.""",
            variant=variant,
        )
        for slot, (variant, how) in enumerate(
            (
                ("dependent", "p2 = 1 - p1 with p1 ~ U[0, 1]"),
                ("easy", "p1 drawn 50/50 from {0.9, 0.1}, p2 = 1 - p1"),
                ("medium", "p1 drawn 50/50 from {0.75, 0.25}, p2 = 1 - p1"),
                ("hard", "p1 drawn 50/50 from {0.6, 0.4}, p2 = 1 - p1"),
            ),
            start=1,
        )
    ),
    "NMN-Harlow-v0": (
        _shift(
            "NMN-Harlow-v0",
            "held_out_objects",
            1,
            """Objects drawn from the held-out test pool instead of the training pool: the agent
            has seen neither object's features. An agent that learnt the rule (one blind
            choice, then follow the reward) applies it to any pair; one that memorised which
            training objects tend to pay, or leans on their features, loses what it memorised.""",
            pool="test",
        ),
    ),
    "NMN-Navigation2D-v0": (
        _shift(
            "NMN-Navigation2D-v0",
            "wider_goals",
            1,
            """Goals drawn from U[-1, 1]^2 instead of U[-0.5, 0.5]^2: three goals in four lie
            outside the training square. An agent that reads the goal's direction and distance
            off the rewards of its first trial walks there in the second; one that learnt to
            search the training square never looks beyond it.""",
            goal_half_width=1.0,
        ),
    ),
    "NMN-HalfCheetahVel-v0": (
        _shift(
            "NMN-HalfCheetahVel-v0",
            "faster",
            1,
            """Target velocities drawn from U[2, 3] instead of U[0, 2]: every target is faster
            than any met in training. An agent that infers the target from the reward's slope
            (it grows while the cheetah is too slow) speeds up until it levels off; one that
            learnt the training speeds settles below the target.""",
            velocity_range=(2.0, 3.0),
        ),
    ),
    "NMN-TwoStep-v0": (
        _shift(
            "NMN-TwoStep-v0",
            "frequent_swaps",
            1,
            """The good second-stage state swaps with probability 0.1 before every trial
            instead of 0.025: evidence goes stale four times as fast, so an agent must weigh
            recent outcomes more than it learnt to.""",
            readapt=True,
            swap_probability=0.1,
        ),
    ),
}


@cache
def _checked(env_id: str) -> dict[str, Shift]:
    found = {shift.name: shift for shift in SHIFTS.get(env_id, ())}
    for shift in found.values():
        check_same_spaces(env_id, shift.env_kwargs())
    return found


def shifts(env_id: str) -> dict[str, Shift]:
    """The named shifts of ``env_id`` (empty for an environment without any).

    Every shift is checked to keep the environment's spaces.

    Raises:
        gymnasium.error.NameNotFound: for an id that is not an environment of the suite.
    """

    check_env_id(env_id)
    return dict(_checked(env_id))


def get_shift(env_id: str, name: str) -> Shift:
    """The shift ``name`` of ``env_id``.

    Raises:
        ValueError: for a name that is not one of ``env_id``'s shifts (naming those it has, and
            the environment a shift of another one belongs to).
    """
    own = shifts(env_id)
    if name in own:
        return own[name]
    others = sorted(other for other, listed in SHIFTS.items() if other != env_id and any(s.name == name for s in listed))
    where = f" (a shift of {', '.join(others)})" if others else ""
    allowed = sorted(own) if own else "none"
    raise ValueError(f"unknown shift {name!r} for {env_id}{where}; its shifts: {allowed}")


def shifted_kwargs(shift: Shift, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` with ``shift``'s kwargs on top, checked to keep the env's spaces.

    Raises:
        ValueError: for ``env_kwargs`` that set one of the shift's own kwargs to another value,
            or that change the spaces together with the shift.
    """
    kwargs = shift.env_kwargs()
    clashing = sorted(key for key in kwargs if key in env_kwargs and env_kwargs[key] != kwargs[key])
    if clashing:
        raise ValueError(f"env kwargs {clashing} clash with the shift {shift.name!r}, which sets {kwargs}")
    merged = {**env_kwargs, **kwargs}
    check_same_spaces(shift.env_id, merged)
    return merged


def check_same_spaces(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Refuse kwargs under which ``env_id`` has other spaces than with its defaults.

    Raises:
        ValueError: naming the kwargs and the space they change (a shift may change the task
            distribution only), or for kwargs that do not make the environment.
    """
    plain = gym.make(env_id)
    try:
        shifted = gym.make(env_id, **env_kwargs)
    except (TypeError, ValueError, gym.error.Error) as error:
        plain.close()
        raise ValueError(f"env kwargs {env_kwargs} do not make {env_id}: {error}") from None
    try:
        for label in ("observation_space", "action_space"):
            before, after = getattr(plain, label), getattr(shifted, label)
            if before != after:
                raise ValueError(
                    f"env kwargs {env_kwargs} change the {label} of {env_id} ({before} -> {after});"
                    " a shift may change the task distribution only, never the spaces"
                )
    finally:
        plain.close()
        shifted.close()
