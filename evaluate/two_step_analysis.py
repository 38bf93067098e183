"""The stay-probability table of the two-step task: the signature of model-based choice.

After each trial, an agent either repeats its first-stage action (a *stay*) or switches.
Splitting trials by transition (common or uncommon) and outcome (rewarded or not) gives four
stay probabilities. A model-free learner stays after any reward; a model-based one stays
after a reward reached by a common transition but switches after a reward reached by an
uncommon one (the reward says the *other* first-stage action leads there more often), and
the reverse after no reward (Daw et al. 2011; Wang et al. 2018, Fig. 5).
"""

from __future__ import annotations

import dataclasses

import numpy as np

TRANSITIONS = ("common", "uncommon")
OUTCOMES = ("rewarded", "unrewarded")


@dataclasses.dataclass(frozen=True)
class StayTable:
    """Stays and trials counted per (transition, outcome) of the trial before the choice."""

    stays: dict[tuple[str, str], int]
    trials: dict[tuple[str, str], int]

    def probability(self, transition: str, outcome: str) -> float:
        """The stay probability after a ``transition`` trial with ``outcome`` (NaN if none)."""
        count = self.trials[transition, outcome]
        return self.stays[transition, outcome] / count if count else float("nan")

    def standard_error(self, transition: str, outcome: str) -> float:
        """The binomial standard error of :meth:`probability`."""
        p, count = self.probability(transition, outcome), self.trials[transition, outcome]
        return float(np.sqrt(p * (1.0 - p) / count)) if count else float("nan")


def stay_table(observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> StayTable:
    """Count stays in meta-episodes of NMN-TwoStep played from their first step.

    Args:
        observations: the base observation (one-hot S1, S2, S3) *before* each step, shape
            ``(episodes, steps, 3)`` or ``(steps, 3)``.
        actions: the action taken at each step, shape ``(episodes, steps)`` or ``(steps,)``.
        rewards: the reward of each step, same shape as ``actions``.

    Raises:
        ValueError: for mismatched shapes or steps that do not alternate S1, second stage.
    """
    observations = np.asarray(observations, dtype=np.float64)
    actions, rewards = np.atleast_2d(actions), np.atleast_2d(rewards)
    if observations.ndim == 2:
        observations = observations[None]
    if observations.shape[:2] != actions.shape or actions.shape != rewards.shape or observations.shape[2] != 3:
        raise ValueError(
            f"expected observations (episodes, steps, 3) and actions, rewards (episodes, steps); got "
            f"{observations.shape}, {actions.shape}, {rewards.shape}"
        )
    trials = actions.shape[1] // 2
    states = np.argmax(observations[:, : 2 * trials], axis=2)
    if np.any(states[:, 0::2] != 0) or np.any(states[:, 1::2] == 0):
        raise ValueError("steps must alternate between S1 and a second-stage state from the first step")
    first_actions = actions[:, 0 : 2 * trials : 2]
    common = (states[:, 1::2] - 1) == first_actions
    rewarded = rewards[:, 1 : 2 * trials : 2] > 0
    stayed = first_actions[:, 1:] == first_actions[:, :-1]
    common, rewarded = common[:, :-1], rewarded[:, :-1]
    stays, counts = {}, {}
    for transition, is_common in zip(TRANSITIONS, (True, False)):
        for outcome, is_rewarded in zip(OUTCOMES, (True, False)):
            cell = (common == is_common) & (rewarded == is_rewarded)
            stays[transition, outcome] = int(np.sum(stayed & cell))
            counts[transition, outcome] = int(np.sum(cell))
    return StayTable(stays, counts)
