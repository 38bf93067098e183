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

Every seed's gap is kept, as it is computed, in a :class:`GapStore`: a JSON file beside the
report (``docs/zoo/shift_gaps.json``), committed with it like the zoo's cards. A report replays
only the seeds whose model file, shift or set size differ from a stored gap's, so that shipping
new seeds of one task replays that task's seeds alone, and an interrupted report loses nothing
it had finished. A change to an environment's or a policy's code is not in that key: replay
everything then (``nmn-zoo report --replay-shifts``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evaluate.generalisation import generalisation_gap, scores
from evaluate.harness import evaluate
from evaluate.report import format_interval
from evaluate.schema import EvaluationResult, GeneralisationGap, Interval
from evaluate.shifts import Shift, shifts
from evaluate.stats import DEFAULT_REPS, bootstrap_interval, score_column
from evaluate.task_sets import SET_SIZE, in_distribution_kwargs
from training import zoo
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


class StoredGap(BaseModel):
    """One seed's gap on one shift as a report computed it, with what it was computed from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env_id: str
    shift: str
    shift_kwargs: dict[str, Any] = Field(description="the shift's env kwargs when the gap was played")
    policy: str
    seed: int = Field(ge=0)
    model_sha256: str = Field(description="sha256 of the zoo model file that played")
    n_tasks: int = Field(gt=0)
    reps: int = Field(gt=0)
    inside: Interval | None
    shifted: Interval | None
    gap: GeneralisationGap

    def key(self) -> tuple[str, str, str, int]:
        """Which seed on which shift this gap is of."""
        return _key(self.env_id, self.shift, self.policy, self.seed)


def _key(env_id: str, shift: str, policy: str, seed: int, **_: Any) -> tuple[str, str, str, int]:
    return env_id, shift, policy, seed


class StoredGaps(BaseModel):
    """The file of a :class:`GapStore`."""

    model_config = ConfigDict(extra="forbid")

    gaps: list[StoredGap]


def model_sha256(card: ZooCard) -> str:
    """sha256 of the zoo model file of ``card``."""
    path, _ = zoo.find(card.name, card.env_id)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class GapStore:
    """The seeds' gaps kept in a JSON file (see the module docstring); ``replay`` ignores the
    gaps already there (each one is replaced as it is played again).

    Raises:
        ValueError: for a file that is not a store of gaps (it names the file and what is wrong).
    """

    def __init__(self, path: Path, replay: bool = False) -> None:
        self.path = path
        self.replay = replay
        self.gaps: dict[tuple[str, str, str, int], StoredGap] = {}
        if path.exists():
            try:
                stored = StoredGaps.model_validate_json(path.read_text())
            except ValueError as problem:
                raise ValueError(f"{path} is not a store of shift gaps ({problem}); remove it to replay every gap") from None
            self.gaps = {gap.key(): gap for gap in stored.gaps}

    def find(self, wanted: dict[str, Any]) -> StoredGap | None:
        """The stored gap whose fields equal ``wanted``'s (a seed on a shift, played from the same
        model file, shift kwargs, set size and reps), if any and not replaying."""
        stored = self.gaps.get(_key(**wanted))
        if self.replay or stored is None:
            return None
        return stored if all(getattr(stored, field) == value for field, value in wanted.items()) else None

    def keep(self, gap: StoredGap) -> None:
        """Store ``gap`` (replacing that seed's on that shift) and write the file at once."""
        self.gaps[gap.key()] = gap
        self.write()

    def prune(self, env_id: str, kept: Sequence[SeedGap]) -> None:
        """Drop ``env_id``'s stored gaps of seeds or shifts that ``kept`` does not hold."""
        wanted = {(env_id, each.shift.name, each.card.policy, each.card.seed) for each in kept}
        self.gaps = {key: gap for key, gap in self.gaps.items() if key[0] != env_id or key in wanted}
        self.write()

    def write(self) -> None:
        """Write every stored gap, ordered by task, shift, policy and seed (a whole new file
        replaces the old one, so an interruption leaves either)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ordered = [self.gaps[key] for key in sorted(self.gaps)]
        partial = self.path.with_suffix(".partial")
        partial.write_text(StoredGaps(gaps=ordered).model_dump_json(indent=1) + "\n")
        partial.replace(self.path)


def seed_gaps(
    env_id: str,
    held: Sequence[ZooCard],
    n_tasks: int = SET_SIZE,
    reps: int = DEFAULT_REPS,
    store: GapStore | None = None,
) -> list[SeedGap]:
    """Every compared seed of ``held`` on every shift of ``env_id`` (none for an env without
    shifts), read from ``store`` where it holds the gap and played (then kept there) where not."""
    found = shifts(env_id)
    gaps = []
    for card in (card for card in held if card.policy in COMPARED):
        digest = model_sha256(card)
        inside: EvaluationResult | None = None

        def run(shift: str | None, kwargs: dict) -> EvaluationResult:
            return evaluate(card.name, env_id, n_tasks=n_tasks, env_kwargs=kwargs, shift=shift, reps=reps, cache=True)

        for name, shift in found.items():
            wanted = dict(
                env_id=env_id, shift=name, shift_kwargs=shift.env_kwargs(), policy=card.policy, seed=card.seed,
                model_sha256=digest, n_tasks=n_tasks, reps=reps,
            )
            stored = None if store is None else store.find(wanted)
            if stored is None:
                if inside is None:
                    inside = run(None, in_distribution_kwargs(env_id))
                shifted = run(name, {})
                stored = StoredGap(
                    **wanted, inside=scores(inside)[0], shifted=scores(shifted)[0], gap=generalisation_gap(inside, shifted)
                )
                if store is not None:
                    store.keep(stored)
            gaps.append(SeedGap(shift, card, stored.inside, stored.shifted, stored.gap))
    if store is not None:
        store.prune(env_id, gaps)
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
        "distribution; the oracle's 1 on the tasks without a Bayes value: NMN-Navigation2D, and the "
        "HalfCheetah tasks, whose oracle is a trained policy; NMN-Harlow "
        "in distribution plays its training objects). A gap near 0 keeps the score; the mean gap "
        "over seeds (their number in parentheses) and the RNN's minus the NMN's with a 95% "
        "bootstrap CI across seeds. `readapt`: the task changes within a meta-episode. Regenerate "
        "with `nmn-zoo report`."
    )
    full = "\n".join([intro, "", *summary, "", sentence, "", "<details><summary>per seed</summary>", "", *per_seed, "", "</details>", ""])
    return full, "\n".join([intro, "", *summary, "", sentence])
