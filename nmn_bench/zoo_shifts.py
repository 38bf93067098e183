"""The zoo on the shifted task distributions: every seed's generalisation gap (``nmn-zoo report``).

For each task and each of its shifts (:mod:`evaluate.shifts`), every shipped seed of the zoo's NMN
and RNN plays, never retrained, the distribution it was trained on and the shift's published
task set through the harness (with the evaluation cache, :mod:`evaluate.cache`, so that a re-run
replays nothing). Its generalisation gap (:func:`evaluate.generalisation.generalisation_gap`) is
its normalised score in distribution minus on the shift, with the bootstrap's 95% CI over tasks.
Per shift, the RNN's mean gap minus the NMN's, with a 95% bootstrap CI across seeds, says which
keeps more of its score; the shifts whose task changes within a meta-episode
(:attr:`evaluate.shifts.Shift.readapt`) test the NMN paper's claim that neuromodulation helps an
agent readapt, and :func:`verdict` reads that claim off them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluate.generalisation import generalisation_gap, scores
from evaluate.harness import evaluate
from evaluate.report import format_interval
from evaluate.schema import EvaluationResult, GeneralisationGap, Interval
from evaluate.shifts import Shift, shifts
from evaluate.stats import DEFAULT_REPS, bootstrap_interval, score_column
from evaluate.task_sets import SET_SIZE, in_distribution_kwargs
from training.zoo import ZooCard

COMPARED = ("nmn", "rnn")
"""The zoo's policies the shifts compare (the NMN paper's two agents)."""
NAMES = {"nmn": "NMN", "rnn": "RNN (GRU)"}


@dataclass(frozen=True)
class SeedGap:
    """One seed on one shift: its normalised scores in distribution and on the shift, and its gap."""

    shift: Shift
    card: ZooCard
    inside: Interval | None
    shifted: Interval | None
    gap: GeneralisationGap


def seed_gaps(env_id: str, held: Sequence[ZooCard], n_tasks: int = SET_SIZE, reps: int = DEFAULT_REPS) -> list[SeedGap]:
    """Every compared seed of ``held`` on every shift of ``env_id`` (none for an env without shifts)."""
    found = shifts(env_id)
    gaps = []
    for card in (card for card in held if card.policy in COMPARED):

        def run(shift: str | None, kwargs: dict) -> EvaluationResult:
            return evaluate(card.name, env_id, n_tasks=n_tasks, env_kwargs=kwargs, shift=shift, reps=reps, cache=True)

        inside = run(None, in_distribution_kwargs(env_id)) if found else None
        for name, shift in found.items():
            shifted = run(name, {})
            gaps.append(SeedGap(shift, card, scores(inside)[0], scores(shifted)[0], generalisation_gap(inside, shifted)))
    return gaps


def rnn_minus_nmn(gaps: Sequence[SeedGap], reps: int = DEFAULT_REPS) -> Interval | None:
    """The RNN's mean normalised gap minus the NMN's over their seeds, with a 95% bootstrap CI
    resampling each agent's seeds on its own; ``None`` without two seeds of each."""
    values = {
        policy: np.array([each.gap.normalised.value for each in gaps if each.card.policy == policy and each.gap.normalised])
        for policy in COMPARED
    }
    if min(len(found) for found in values.values()) < 2:
        return None
    return bootstrap_interval(
        [score_column(values["rnn"]), score_column(values["nmn"])], lambda rnn, nmn: float(rnn.mean() - nmn.mean()), reps
    )


def keeps_more(difference: Interval | None) -> str:
    """Which agent the difference of gaps says keeps more of its score on the shift."""
    if difference is None:
        return "not tested (fewer than two seeds)"
    if difference.low > 0.0:
        return "NMN keeps more"
    if difference.high < 0.0:
        return "RNN keeps more"
    return "no difference shown"


def verdict(by_shift: Sequence[tuple[Shift, Interval | None]]) -> str:
    """One sentence on the NMN paper's readaptation claim, read off the shifts whose task changes
    within a meta-episode (each with the RNN's mean gap minus the NMN's)."""
    readapt = [(shift, difference) for shift, difference in by_shift if shift.readapt]
    if not readapt:
        return "No shift here changes the task within a meta-episode, so these numbers do not test the claim."
    counts = {label: [] for label in ("NMN keeps more", "RNN keeps more", "no difference shown", "not tested (fewer than two seeds)")}
    for shift, difference in readapt:
        counts[keeps_more(difference)].append(f"{shift.env_id} {shift.name}")
    nmn, rnn = len(counts["NMN keeps more"]), len(counts["RNN keeps more"])
    claim = "the paper's claim that neuromodulation helps an agent readapt when its task changes"
    if nmn and rnn:
        reading = f"are mixed on {claim}"
    elif nmn or rnn:
        leaning = "support" if nmn else "contradict"
        reading = f"{leaning} {claim}" if nmn + rnn == len(readapt) else f"partly {leaning} {claim} (the other shifts show no difference)"
    else:
        reading = f"neither support nor contradict {claim}, at this number of seeds"
    parts = [f"{label} on {len(names)} ({', '.join(names)})" for label, names in counts.items() if names]
    return (
        f"On the {len(readapt)} shifts whose task changes within a meta-episode, comparing the RNN's mean"
        f" gap with the NMN's (95% CI across seeds): {'; '.join(parts)}. The zoo's agents {reading}."
    )


def shift_section(gaps_by_task: dict[str, list[SeedGap]], n_tasks: int, reps: int = DEFAULT_REPS) -> tuple[str, str]:
    """The Markdown of the shifts: the full section (per seed, per shift, the verdict) and the
    README's short table with the verdict."""
    differences: list[tuple[Shift, Interval | None]] = []
    summary = [
        "| task | shift | readapt | NMN gap | RNN gap | RNN gap - NMN gap, 95% CI | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    per_seed = [
        "| task | shift | agent | seed | normalised in distribution | normalised on the shift | gap (normalised) | gap (adaptation) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for env_id, gaps in gaps_by_task.items():
        for name in dict.fromkeys(each.shift.name for each in gaps):
            on_shift = [each for each in gaps if each.shift.name == name]
            shift, difference = on_shift[0].shift, rnn_minus_nmn(on_shift, reps)
            differences.append((shift, difference))
            means = []
            for policy in COMPARED:
                values = [each.gap.normalised.value for each in on_shift if each.card.policy == policy and each.gap.normalised]
                means.append(f"{np.mean(values):.3f} ({len(values)})" if values else "–")
            summary.append(
                f"| {env_id} | {shift.name} | {'yes' if shift.readapt else 'no'} | {' | '.join(means)}"
                f" | {format_interval(difference, 3)} | {keeps_more(difference)} |"
            )
            for each in sorted(on_shift, key=lambda each: (each.card.policy, each.card.seed)):
                per_seed.append(
                    f"| {env_id} | {shift.name} | {NAMES[each.card.policy]} | {each.card.seed}"
                    f" | {format_interval(each.inside, 3)} | {format_interval(each.shifted, 3)}"
                    f" | {format_interval(each.gap.normalised, 3)} | {format_interval(each.gap.adaptation, 3)} |"
                )
    sentence = verdict(differences)
    intro = (
        f"Generalisation gaps: each shipped seed of the NMN and the RNN, never retrained, on its "
        f"training distribution and on every shift ({n_tasks} tasks each, mean actions): its "
        "normalised score in distribution minus on the shift (random 0, Bayes 1 of each "
        "distribution; the oracle's 1 on NMN-Navigation2D, which has no Bayes value; NMN-Harlow "
        "in distribution plays its training objects). A gap near 0 keeps the score; the mean gap "
        "over seeds (their number in parentheses) and the RNN's minus the NMN's with a 95% "
        "bootstrap CI across seeds. `readapt`: the task changes within a meta-episode. Regenerate "
        "with `nmn-zoo report`."
    )
    full = "\n".join([intro, "", *summary, "", sentence, "", "<details><summary>per seed</summary>", "", *per_seed, "", "</details>", ""])
    return full, "\n".join([intro, "", *summary, "", sentence])
