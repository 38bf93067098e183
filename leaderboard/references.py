"""The board's own references: reference agents, bounds, normaliser and attainable returns.

Nothing here comes from a submission. For each environment the board plays the reference
agents (``random``, ``oracle``, ``bayes``: the Bayes-optimal policy or, on NMN-Bench2/3, the
belief planner; ``memoryless``: the best policy that ignores all feedback) with the harness on
the full published task set, and takes the bounds and the normaliser (random mean, bayes
bound, memoryless mean: the anchors of the normalised and the adaptation score; where the
environment has no bayes value, NMN-Navigation2D and the HalfCheetah tasks, the oracle's mean
return in the bayes bound's place: on the HalfCheetah tasks a trained oracle's, a ceiling
estimate) from that run. The task set and the agents are seeded, so the run is the same on every machine; it is
read from the cache of :mod:`evaluate.cache` after the first time on a machine, and done once
per process and track (under a lock, so that concurrent requests wait for one run instead of
starting several). A shift's track (:mod:`evaluate.shifts`) has references of its own: the
same agents, told the shifted prior, on the shift's published task set.

The **attainable range** of a per-task return is the environment's per-step reward range
(``core.reward_range``, from the task's dynamics, or the MuJoCo env's ``reward_range``, bounded by
its speed limit) times the meta-episode's steps: on NMN-Bench1 the top of it is exactly the
oracle's ceiling (a hit at every step).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import gymnasium as gym

from evaluate.schema import AgentScore, Bound, EvaluationResult, normalised_anchors
from evaluate.shifts import get_shift
from evaluate.task_sets import SET_SIZE


@dataclass(frozen=True)
class BoardReferences:
    """What the board computes itself for one environment (its registered configuration).

    Attributes:
        result: the harness run of the reference agents (``random`` in the agent slot).
        scores: each reference agent's score, by name (role ``reference``).
        bounds: the environment's bounds.
        normaliser: ``{"random": mean return of random, "bayes": the bayes bound,
            "memoryless": mean return of memoryless}`` (no memoryless where the environment
            has no such agent; ``"oracle"``, the oracle's mean return, instead of ``"bayes"``
            where it has no bayes value: :func:`evaluate.harness.make_normaliser`).
        step_reward_range: the lowest and highest reward of one step.
        steps: steps of a meta-episode.
    """

    result: EvaluationResult
    scores: Mapping[str, AgentScore]
    bounds: list[Bound]
    normaliser: Mapping[str, float]
    step_reward_range: tuple[float, float]
    steps: int

    @property
    def return_range(self) -> tuple[float, float]:
        """The lowest and highest return a meta-episode can have."""
        low, high = self.step_reward_range
        return low * self.steps, high * self.steps

    @property
    def curve_length(self) -> int:
        """Entries of an adaptation curve (steps or trials of a meta-episode)."""
        return len(self.result.agent.adaptation_curve)

    def curve_range(self) -> tuple[float, float]:
        """The lowest and highest value of one adaptation-curve entry (a step or a trial)."""
        per_entry = self.steps / self.curve_length
        low, high = self.step_reward_range
        return low * per_entry, high * per_entry


_computed: dict[tuple[str, str | None], BoardReferences] = {}
_lock = threading.Lock()


def board_references(env_id: str, progress: bool = False, shift: str | None = None) -> BoardReferences:
    """The board's references of ``env_id``'s main track, or of its shift ``shift``'s
    (computed on first use, then kept).

    Raises:
        ValueError: the environment has no finite reward range, or neither a bayes value nor
            an oracle above random play, so the board cannot check or normalise its returns;
            an unknown shift.
    """
    with _lock:
        if (env_id, shift) not in _computed:
            _computed[env_id, shift] = _compute(env_id, progress, shift)
        return _computed[env_id, shift]


def _compute(env_id: str, progress: bool, shift: str | None) -> BoardReferences:
    from evaluate import evaluate

    env = gym.make(env_id, **({} if shift is None else get_shift(env_id, shift).env_kwargs()))
    dynamics = getattr(env.unwrapped, "core", env.unwrapped)  # a native task's core, or a MuJoCo env
    low, high = getattr(dynamics, "reward_range", (-math.inf, math.inf))
    env.close()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{env_id} declares no finite reward range; the board cannot rank it")
    result = evaluate(
        "random", env_id, n_tasks=SET_SIZE, progress=progress, cache=True, shift=shift
    )
    if normalised_anchors(result.normaliser) is None:
        raise ValueError(f"{env_id} has no bayes or oracle value; the board cannot normalise its scores")
    scores = [result.agent.model_copy(update={"role": "reference"}), *result.references]
    return BoardReferences(
        result=result,
        scores=MappingProxyType({score.name: score for score in scores}),
        bounds=list(result.bounds),
        normaliser=MappingProxyType(dict(result.normaliser)),
        step_reward_range=(float(low), float(high)),
        steps=result.max_episode_steps,
    )
