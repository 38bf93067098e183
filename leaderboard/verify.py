"""Re-run the harness on a submitted agent and compare what it gets with what was claimed.

``nmn-leaderboard verify ID --agent PATH`` plays the agent on the same full evaluation task
set, choosing actions as the result records (``agent.actions``: mean actions, or sampled with
the recorded torch seed), and flags the entry when a claimed estimate (mean return or IQM) lies
outside the confidence interval of the re-run. It runs with ``nmn-eval``'s torch settings
(one thread by default).

Loading an agent runs its code: a saved Stable-Baselines3 model is a zip of pickles. Verify
only agents you trust, on your own machine; the leaderboard server never loads agents, it
only reads submitted JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluate.observation_statistics import VecNormalizeChoice
from evaluate.schema import EvaluationResult, Interval
from leaderboard.submission import Submission

LOAD_WARNING = (
    "verify loads and runs the agent on this machine (a saved SB3 model is a pickle and can "
    "execute code): verify only agents you trust. The leaderboard server never loads agents."
)
CHECKED = ("mean", "iqm")


@dataclass(frozen=True)
class Check:
    """One claimed estimate against the re-run's interval."""

    statistic: str
    claimed: Interval
    rerun: Interval

    @property
    def inside(self) -> bool:
        """Whether the claimed value lies in the re-run's confidence interval."""
        return self.rerun.low <= self.claimed.value <= self.rerun.high


@dataclass(frozen=True)
class Verification:
    """The outcome of re-running an entry's agent."""

    checks: list[Check]
    rerun: EvaluationResult

    @property
    def consistent(self) -> bool:
        """Whether every claimed estimate lies inside the re-run's interval."""
        return all(check.inside for check in self.checks)


def verify(
    submission: Submission,
    agent: Any,
    progress: bool = False,
    vec_normalize: VecNormalizeChoice = None,
) -> Verification:
    """Play ``agent`` (a model path, a reference name, or any agent the harness takes) on the
    submission's environment and full task set, choosing actions as the result records, and
    check its claims against the re-run. ``vec_normalize`` is as for :func:`evaluate.evaluate`."""
    from evaluate import evaluate

    claimed = submission.result
    actions = claimed.agent.actions
    sampled = actions is not None and actions.mode == "sampled"
    rerun = evaluate(
        agent,
        claimed.env_id,
        n_tasks=claimed.task_set.n_tasks,
        references=(),
        env_kwargs=dict(claimed.env_kwargs),
        reps=claimed.bootstrap_reps,
        seed=claimed.bootstrap_seed,
        progress=progress,
        sample_actions=sampled,
        action_seed=actions.torch_seed if sampled else 0,
        vec_normalize=vec_normalize,
    )
    checks = [
        Check(statistic, getattr(claimed.agent, statistic), getattr(rerun.agent, statistic))
        for statistic in CHECKED
    ]
    return Verification(checks=checks, rerun=rerun)
