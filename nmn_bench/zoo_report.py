"""The zoo's results: the NMN paper's claims tested on the shipped agents (``nmn-zoo report``).

From the zoo's cards (:mod:`training.zoo`: every seed's score on the evaluation set, mean
actions, and its validation curve) and fresh harness runs of the shipped models, this writes
``docs/zoo/results.md`` and its figures (the documentation site's results page includes them as
they are), and puts a headline table (:func:`headline`) into the README between the markers
``<!-- zoo-results -->`` and ``<!-- /zoo-results -->``. The full section holds:

* per task: random, memoryless, the RNN, LSTM and NMN (mean over seeds, 95% bootstrap CI across
  seeds, rliable's stratified bootstrap), and the Bayes bound (or, without one, the oracle
  ceiling); normalised scores ``(agent - random) / (bayes - random)`` and adaptation scores
  ``(agent - memoryless) / (bayes - memoryless)``;
* ``P(NMN > RNN)`` per task across seeds (rliable's probability of improvement) with its CI, and
  the spread of each agent's seeds (the paper says NMNs are more stable);
* learning curves (validation score against steps), IQM across seeds with 95% bands;
* NMN-Bench1: the zoo NMN's neuromodulatory signal ``z`` over the meta-episode, coloured by the
  task's offset (the paper's Figure 7);
* the classic tasks' signatures: the bandit's cumulative regret against the Bayes policy, the
  two-step task's stay probabilities (model-based pattern: a positive reward x transition
  interaction), Harlow's trial-2 accuracy.

Every number comes with its interval; a seed count below two gives no interval across seeds and
says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rliable import metrics

from evaluate.analyses import MODULATION_FILE, modulation_trace, plot_modulation, two_step_stays, write_stay_table
from evaluate.bounds import exact_bounds
from evaluate.harness import resolve_agent
from evaluate.report import format_interval
from evaluate.rollout import play
from evaluate.stats import improvement_interval, iqm_curve_intervals, mean_interval, spread_ratio_interval
from evaluate.task_sets import task_set
from nmn_bench.zoo_marks import adaptation_interval, adapts, marks_table
from nmn_bench.zoo_shifts import GapStore, seed_gaps, shift_section
from training import zoo
from training.zoo import ZooCard

DOCS_DIR = Path("docs/zoo")
README = Path("README.md")
START, END = "<!-- zoo-results -->", "<!-- /zoo-results -->"
SHIFT_MARKERS = ("<!-- zoo-shifts -->", "<!-- /zoo-shifts -->")
GAP_STORE = "shift_gaps.json"
SHIFT_TASKS = 200
"""Tasks of each set (in distribution and shifted) the shifts' gaps are played on: every seed of
the NMN and the RNN plays two sets per shift, so the full set size would make the report play
hours on this machine; 200 tasks keep each gap's CI within a few hundredths."""
TASKS = (
    "NMN-Bench1-v0", "NMN-Bench2-v0", "NMN-Bench3-v0", "NMN-Bandit-v0",
    "NMN-TwoStep-v0", "NMN-Harlow-v0", "NMN-Navigation2D-v0",
    "NMN-HalfCheetahDir-v0", "NMN-HalfCheetahVel-v0",
)
"""The tasks reported, those the zoo holds models of: the native tasks, then the MuJoCo ones
(scored against their trained oracle)."""
LABELS = {"nmn": "NMN", "rnn": "RNN (GRU)", "lstm": "LSTM", "maml": "MAML"}
CURVE_POINTS = 50
REPS = 2000
ANALYSIS_TASKS = 1000
MIN_SEEDS_FOR_VERDICT = 3
"""Seeds each agent needs before the report reads a verdict off a bootstrap interval across seeds
(with two, the percentile bootstrap has almost nothing to resample)."""


def _value(card: ZooCard, field: str) -> float | None:
    """A card's normalised (or adaptation) score, ``None`` where the card has none (a task
    without a Bayes bound, scored before the harness normalised to the oracle)."""
    interval = getattr(card.evaluation.score, field)
    if interval is None:
        return None
    return interval.value


def across_seeds(values: list[float], digits: int = 3) -> str:
    """Mean over seeds with rliable's 95% bootstrap CI over seeds; one seed gives no interval."""
    if not values:
        return "–"
    if len(values) < 2:
        return f"{values[0]:.{digits}f} (one seed)"
    return format_interval(mean_interval(np.array(values), reps=REPS), digits)


def task_rows(env_id: str, held: list[ZooCard]) -> list[str]:
    """The Markdown rows of one task: each policy's mean over seeds, per score."""
    normaliser = held[0].evaluation.normaliser
    rows = []
    by_policy = {policy: [card for card in held if card.policy == policy] for policy in zoo.POLICIES}
    exact = any(bound.name == "bayes" for bound in exact_bounds(env_id))
    if "bayes" in normaliser:
        ceiling = f"{'Bayes bound' if exact else 'belief planner'} {normaliser['bayes']:.2f}"
    else:
        oracle = normaliser.get("oracle")
        ceiling = "no Bayes bound" if oracle is None else f"no Bayes bound (oracle {oracle:.2f})"
    for policy, cards in by_policy.items():
        if not cards:
            continue
        normalised = [value for card in cards if (value := _value(card, "normalised_score")) is not None]
        adaptation = [value for card in cards if (value := _value(card, "adaptation_score")) is not None]
        spread = np.std([card.evaluation.score.mean.value for card in cards], ddof=1) if len(cards) > 1 else None
        rows.append(
            f"| {env_id} | {LABELS[policy]} | {len(cards)} | "
            f"{across_seeds([card.evaluation.score.mean.value for card in cards], 2)} | "
            f"{across_seeds(normalised)} | {across_seeds(adaptation)} | "
            + ("–" if spread is None else f"{spread:.2f}")
            + f" | {normaliser['random']:.2f} / {normaliser.get('memoryless', float('nan')):.2f} / {ceiling} |"
        )
    return rows


def _seed_returns(held: list[ZooCard], policy: str) -> list[float]:
    return [card.evaluation.score.mean.value for card in held if card.policy == policy]


def improvement(held: list[ZooCard], first: str, second: str) -> tuple[str, str]:
    """``P(first > second)`` across seeds (rliable), on the mean return of each seed, with its CI;
    and the verdict it supports."""
    a, b = _seed_returns(held, first), _seed_returns(held, second)
    if not a or not b:
        return "–", "not tested (an agent is missing)"
    if min(len(a), len(b)) < 2:
        value = float(metrics.probability_of_improvement(np.reshape(a, (-1, 1)), np.reshape(b, (-1, 1))))
        return f"{value:.3f} ({len(a)} against {len(b)} seeds: no interval)", "inconclusive (one seed)"
    interval = improvement_interval(np.array(a), np.array(b), reps=REPS)
    estimate = f"{format_interval(interval, 3)} ({len(a)} against {len(b)} seeds)"
    if min(len(a), len(b)) < MIN_SEEDS_FOR_VERDICT:
        return estimate, f"inconclusive (fewer than {MIN_SEEDS_FOR_VERDICT} seeds each)"
    if interval.low > 0.5:
        verdict = f"{LABELS[first]} better"
    elif interval.high < 0.5:
        verdict = f"{LABELS[second]} better"
    else:
        verdict = "inconclusive (the interval holds 0.5)"
    return estimate, verdict


def stability(held: list[ZooCard], first: str, second: str) -> tuple[str, str]:
    """The ratio of the spreads of ``first``'s and ``second``'s seeds (standard deviations of the
    seeds' mean returns) with its 95% CI (a bootstrap over seeds), and the verdict it supports."""
    a, b = _seed_returns(held, first), _seed_returns(held, second)
    if min(len(a), len(b)) < MIN_SEEDS_FOR_VERDICT:
        return "–", f"not tested (fewer than {MIN_SEEDS_FOR_VERDICT} seeds each)"
    try:
        interval = spread_ratio_interval(np.array(a), np.array(b), reps=REPS)
    except ValueError:
        return "–", "not tested (every seed of an agent scores the same)"
    estimate = f"{format_interval(interval, 2)} ({len(a)} against {len(b)} seeds)"
    if interval.high < 1.0:
        return estimate, f"{LABELS[first]} more stable"
    if interval.low > 1.0:
        return estimate, f"{LABELS[second]} more stable"
    return estimate, "inconclusive (the interval holds 1)"


def seed_adaptation_rows(env_id: str, held: list[ZooCard]) -> list[str]:
    """One Markdown row per shipped seed: its adaptation score (against the oracle where the task
    has no Bayes bound) with its 95% CI over the tasks."""
    rows = []
    for card in sorted(held, key=lambda card: (card.policy, card.seed)):
        interval, name = adaptation_interval(card)
        verdict = "not defined" if interval is None else ("adapts" if adapts(interval) else "**does not adapt**")
        if interval is not None and name != "adaptation":
            verdict += f" ({name})"
        rows.append(f"| {env_id} | {LABELS[card.policy]} | {card.seed} | {format_interval(interval, 3)} | {verdict} |")
    return rows


def plot_learning_curves(cards_by_task: dict[str, list[ZooCard]], path: Path) -> None:
    """Validation score against steps, IQM across seeds with its 95% band, one panel per task."""
    figure, panels = plt.subplots(2, 4, figsize=(16, 7))
    for axes, (env_id, held) in zip(panels.flat, cards_by_task.items()):
        for policy in zoo.POLICIES:
            runs = [card.curve for card in held if card.policy == policy and len(card.curve) >= 2]
            if not runs:
                continue
            last = min(run[-1].steps for run in runs)
            grid = np.linspace(0, last, CURVE_POINTS)
            curves = np.stack([
                np.interp(grid, [p.steps for p in run], [p.mean_return if p.score is None else p.score for p in run],
                          left=np.nan)
                for run in runs
            ])
            valid = ~np.isnan(curves).any(axis=0)
            label = f"{LABELS[policy]} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"
            if len(runs) > 1:
                iqm, low, high = iqm_curve_intervals(curves[:, valid], reps=500)
                (line,) = axes.plot(grid[valid], iqm, label=label)
                axes.fill_between(grid[valid], low, high, color=line.get_color(), alpha=0.25)
            else:
                axes.plot(grid[valid], curves[0, valid], label=label)
        axes.set_title(env_id, fontsize=10)
        axes.set_xlabel("environment steps")
        axes.set_ylabel("validation score")
        axes.legend(fontsize=7)
    for axes in list(panels.flat)[len(cards_by_task):]:
        axes.axis("off")
    figure.suptitle("Learning curves: validation score (normalised; mean return without a Bayes bound), "
                    "IQM across seeds, 95% CI")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def bandit_regret(out: Path) -> str:
    """Cumulative regret per pull against the Bayes policy, zoo NMN and RNN; a figure and a line."""
    from evaluate.harness import evaluate

    env_id = "NMN-Bandit-v0"
    bayes = evaluate("bayes", env_id, n_tasks=ANALYSIS_TASKS, references=(), reps=REPS)
    figure, axes = plt.subplots(figsize=(6, 4))
    lines = []
    for name in ("zoo:rnn", "zoo:nmn"):
        _, card = zoo.find(name, env_id)
        regret = np.cumsum(np.array(bayes.agent.adaptation_curve) - np.array(card.evaluation.score.adaptation_curve))
        axes.plot(np.arange(1, len(regret) + 1), regret, label=f"{name} ({card.name})")
        lines.append(f"{name} {format_interval(card.evaluation.score.regret, 2)}")
    axes.set_xlabel("pull")
    axes.set_ylabel("cumulative regret against the Bayes policy")
    axes.set_title(f"{env_id}: regret (mean over {ANALYSIS_TASKS} tasks)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out / "bandit_regret.png", dpi=110)
    plt.close(figure)
    return (
        "**Bandit regret** (`bandit_regret.png`): total regret over 100 pulls against the Bayes "
        f"policy, with its 95% CI: {'; '.join(lines)}."
    )


def two_step_pattern(out: Path) -> str:
    """The zoo agents' stay probabilities on the two-step task and their reward x transition interaction."""
    env_id = "NMN-TwoStep-v0"
    sections = []
    for name in ("zoo:rnn", "zoo:nmn"):
        policy = resolve_agent(name, env_id, {})
        table = two_step_stays(policy, ANALYSIS_TASKS)
        p = {key: table.probability(*key) for key in table.trials}
        se = {key: table.standard_error(*key) for key in table.trials}
        keys = [("common", "rewarded"), ("common", "unrewarded"), ("uncommon", "rewarded"), ("uncommon", "unrewarded")]
        interaction = p[keys[0]] - p[keys[1]] - p[keys[2]] + p[keys[3]]
        error = 1.96 * float(np.sqrt(sum(se[key] ** 2 for key in keys)))
        folder = out / f"two_step_{name.removeprefix('zoo:')}"
        report = write_stay_table(table, policy.name, ANALYSIS_TASKS, folder)
        verdict = (
            "a model-based pattern (the interval is above 0)"
            if interaction - error > 0
            else "no model-based pattern shown (the interval reaches 0)"
        )
        sections.append(
            f"{report}\nReward x transition interaction of {name}: {interaction:.3f} ± {error:.3f} "
            f"(95%, normal approximation): {verdict}.\n"
        )
    return "**Two-step stays**:\n\n" + "\n".join(sections)


def harlow_trial_two() -> str:
    """Accuracy of the zoo agents on Harlow's second trial (the first informed choice)."""
    env_id = "NMN-Harlow-v0"
    tasks, seeds = task_set(env_id).head(ANALYSIS_TASKS)
    cells = []
    for name in ("zoo:rnn", "zoo:nmn"):
        rollout = play(resolve_agent(name, env_id, {}), env_id, tasks, seeds)
        correct = (rollout.step_rewards[:, 1] > 0).astype(np.float64)
        cells.append(f"{name} {format_interval(mean_interval(correct, reps=REPS), 3)}")
    return (
        f"**Harlow, trial 2** (chance 0.5, Bayes 1.0; {ANALYSIS_TASKS} meta-episodes, 95% bootstrap CI): "
        + "; ".join(cells) + "."
    )


def bench1_modulation(out: Path) -> str:
    """The zoo NMN's ``z`` over the meta-episode on NMN-Bench1, coloured by the offset."""
    env_id = "NMN-Bench1-v0"
    policy = resolve_agent("zoo:nmn", env_id, {})
    z, tasks = modulation_trace(policy, env_id, 64)
    plot_modulation(z, np.array([task.offset for task in tasks]), "offset alpha", out / f"bench1_{MODULATION_FILE}")
    return (
        f"**NMN-Bench1, the neuromodulatory signal** (`bench1_{MODULATION_FILE}`, the paper's "
        "Figure 7): `z` of zoo:nmn on 64 evaluation tasks, projected on its first principal "
        "component, coloured by the task's offset."
    )


def section(cards_by_task: dict[str, list[ZooCard]], analyses: list[str]) -> str:
    """The results section in Markdown."""
    lines = [
        "Scores on each task's evaluation set (1000 tasks, mean actions): mean over seeds with its "
        "95% bootstrap CI across seeds (rliable; with three seeds it spans about the seeds' range, "
        "with one there is none); `spread` is the standard deviation of the seeds' mean returns. "
        "Normalised: random 0, Bayes 1; adaptation: memoryless 0, Bayes 1 (where the task has "
        "no Bayes bound, the oracle told the task is the 1 of cards the harness scored against it, "
        "`–` on the others; on NMN-Bench2/3 the Bayes anchor is the belief planner, a reference "
        "that an agent can beat, not a bound). Regenerate with `nmn-zoo report`.",
        "",
        "| task | agent | seeds | mean return | normalised | adaptation | spread | random / memoryless / ceiling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for env_id, held in cards_by_task.items():
        lines += task_rows(env_id, held)
    lines += ["", *marks_table(cards_by_task)]
    claims = (
        (
            "The paper's claim that the NMN beats the RNN, task by task: rliable's probability of "
            "improvement across seeds, and the verdict its 95% CI supports (none with fewer than "
            f"{MIN_SEEDS_FOR_VERDICT} seeds each).",
            "P(NMN > RNN) across seeds, 95% CI",
            improvement,
        ),
        (
            "The paper's claim that the NMN is more stable across seeds: the ratio of the spreads of "
            "the seeds' mean returns (NMN over RNN) with its 95% CI, a bootstrap over each agent's "
            "seeds (below 1: the NMN's seeds spread less).",
            "spread NMN / RNN, 95% CI",
            stability,
        ),
    )
    for intro, column, test in claims:
        lines += ["", intro, "", f"| task | {column} | verdict |", "|---|---|---|"]
        for env_id, held in cards_by_task.items():
            value, verdict = test(held, "nmn", "rnn")
            lines.append(f"| {env_id} | {value} | {verdict} |")
    lines += [
        "",
        "Every shipped seed's adaptation score (memoryless 0, Bayes 1; on NMN-Navigation2D the "
        "oracle adaptation, memoryless 0, oracle 1) with its 95% CI over the evaluation tasks: a "
        "seed adapts when the whole interval lies above 0 (it beats the best policy that ignores "
        "its feedback).",
        "",
        "<details><summary>per seed</summary>",
        "",
        "| task | agent | seed | adaptation, 95% CI | verdict |",
        "|---|---|---|---|---|",
    ]
    for env_id, held in cards_by_task.items():
        lines += seed_adaptation_rows(env_id, held)
    lines += ["", "</details>", "", "Learning curves: `docs/zoo/learning_curves.png`.", ""]
    lines += [f"{text}\n" for text in analyses]
    return "\n".join(lines)


def headline(cards_by_task: dict[str, list[ZooCard]]) -> str:
    """The README's short table: each agent's normalised score per task, mean over its seeds (the
    mean return where a card was scored without a ceiling), and the verdict on ``P(NMN > RNN)``; a column
    per policy the zoo holds."""
    held_anywhere = {card.policy for held in cards_by_task.values() for card in held}
    shown = [policy for policy in zoo.POLICIES if policy in held_anywhere]
    lines = [
        "Normalised score on each task's evaluation set (random 0, Bayes 1, or the oracle told the "
        "task where the task has no Bayes bound: NMN-Navigation2D, and the HalfCheetah tasks, whose "
        "oracle is trained; 1000 tasks, mean actions, mean over the seeds shipped, their number in "
        "parentheses), and what rliable's probability of improvement across seeds "
        "says of the NMN against the RNN. Intervals, adaptation scores and figures: "
        "[docs/zoo/results.md](docs/zoo/results.md) and the site's results page. Regenerate with "
        "`nmn-zoo report`.",
        "",
        "| task | " + " | ".join(LABELS[policy] for policy in shown) + " | NMN against RNN |",
        "|---|" + "---|" * len(shown) + "---|",
    ]
    for env_id, held in cards_by_task.items():
        cells = []
        for policy in shown:
            cards = [card for card in held if card.policy == policy]
            normalised = [value for card in cards if (value := _value(card, "normalised_score")) is not None]
            if not cards:
                cells.append("–")
            elif len(normalised) == len(cards):
                cells.append(f"{np.mean(normalised):.3f} ({len(cards)})")
            else:
                cells.append(f"return {np.mean(_seed_returns(held, policy)):.2f} ({len(cards)})")
        lines.append(f"| {env_id} | " + " | ".join(cells) + f" | {improvement(held, 'nmn', 'rnn')[1]} |")
    lines += ["", *marks_table(cards_by_task)]
    return "\n".join(lines)


def splice(readme: Path, text: str, markers: tuple[str, str] = (START, END)) -> None:
    """Put ``text`` between the README's ``markers`` (refusing a README without them)."""
    start, end = markers
    content = readme.read_text()
    if start not in content or end not in content:
        raise ValueError(f"{readme} has no {start} ... {end} markers to put the results between")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def write_shift_results(
    out: Path = DOCS_DIR,
    readme: Path | None = README,
    tasks: Sequence[str] = TASKS,
    n_tasks: int = SHIFT_TASKS,
    replay: bool = False,
) -> str:
    """Write the zoo's generalisation gaps on every shift (:mod:`nmn_bench.zoo_shifts`) into
    ``out/shifts.md`` and their short table into the README; return the section. The seeds' gaps
    are kept in ``out/shift_gaps.json`` and read back from there (``replay``: every gap played again)."""
    store = GapStore(out / GAP_STORE, replay)
    gaps_by_task = {
        env_id: gaps for env_id in tasks if (gaps := seed_gaps(env_id, zoo.cards(env_id), n_tasks, REPS, store))
    }
    if not gaps_by_task:
        raise ValueError("the zoo holds no models of a task with shifts: nothing to report")
    full, short = shift_section(gaps_by_task, n_tasks, REPS)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shifts.md").write_text(full)
    if readme is not None:
        splice(readme, short, SHIFT_MARKERS)
    return full


def write_results(
    out: Path = DOCS_DIR,
    readme: Path | None = README,
    tasks: Sequence[str] = TASKS,
    shift_tasks: int | None = SHIFT_TASKS,
    replay_shifts: bool = False,
) -> str:
    """Write the results section and figures into ``out`` and the headline table into the README,
    then the shifts' (:func:`write_shift_results`, ``shift_tasks`` tasks per set; ``None``: leave
    them as they are); return the section."""
    cards_by_task = {env_id: held for env_id in tasks if (held := zoo.cards(env_id))}
    if not cards_by_task:
        raise ValueError("the zoo holds no models: nothing to report")
    if shift_tasks is not None:
        write_shift_results(out, readme, tasks, shift_tasks, replay_shifts)
    out.mkdir(parents=True, exist_ok=True)
    plot_learning_curves(cards_by_task, out / "learning_curves.png")
    analyses = []
    held = {env_id: set(zoo.available(env_id)) for env_id in cards_by_task}
    if "zoo:nmn" in held.get("NMN-Bench1-v0", ()):
        analyses.append(bench1_modulation(out))
    if {"zoo:nmn", "zoo:rnn"} <= held.get("NMN-Bandit-v0", set()):
        analyses.append(bandit_regret(out))
    if {"zoo:nmn", "zoo:rnn"} <= held.get("NMN-TwoStep-v0", set()):
        analyses.append(two_step_pattern(out))
    if {"zoo:nmn", "zoo:rnn"} <= held.get("NMN-Harlow-v0", set()):
        analyses.append(harlow_trial_two())
    text = section(cards_by_task, analyses)
    (out / "results.md").write_text(text + "\n")
    if readme is not None:
        splice(readme, headline(cards_by_task))
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``nmn-zoo report``."""
    parser.add_argument("--out", type=Path, default=DOCS_DIR, help="folder of results.md and the figures")
    parser.add_argument("--readme", type=Path, default=README, help="README to put the headline table into")
    parser.add_argument("--no-readme", action="store_true", help="leave the README alone")
    parser.add_argument(
        "--shift-tasks", type=int, default=SHIFT_TASKS, help="tasks of each set the shifts' gaps are played on"
    )
    parser.add_argument(
        "--replay-shifts",
        action="store_true",
        help=f"play every seed on every shift again instead of reading the gaps kept in {GAP_STORE}"
        " (after a change to an environment's or a policy's code)",
    )
    sections = parser.add_mutually_exclusive_group()
    sections.add_argument(
        "--shifts-only", action="store_true", help="write the shifts' gaps alone (docs/zoo/shifts.md, README)"
    )
    sections.add_argument(
        "--no-shifts",
        action="store_true",
        help="write the results section alone, leaving the shifts' gaps as they are (they play every seed on every shift)",
    )
