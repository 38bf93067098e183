"""The recipe grids' table (benchmarks/grid_table.py): curves collected from a sweep, seeds summarised."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluate.references import reference
from evaluate.rollout import play
from evaluate.task_sets import validation_set
from training import zoo
from training.validation import VALIDATION_TASKS

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("grid_table", ROOT / "benchmarks" / "grid_table.py")
grid_table = sys.modules["grid_table"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grid_table)


def write_validation(path: Path, scores: list[float], cpu_minutes: float) -> None:
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["steps", "minutes", "cpu_minutes", "mean_return", "normalised_score"])
        for k, score in enumerate(scores):
            writer.writerow([1000 * (k + 1), 1.0, cpu_minutes * (k + 1) / len(scores), 10 * score, score])


def test_a_sweeps_curves_are_collected_under_their_trial_names_and_summarised_across_seeds(tmp_path: Path) -> None:
    runs = tmp_path / "sweep"
    curves = {0: [0.2, 0.6, 0.9], 1: [0.3, 0.4, 0.5], 2: [0.1, 0.7, 0.8]}
    for seed, scores in curves.items():
        write_validation(runs / "trials" / "NMN-Harlow-v0" / "nmn-long3m" / f"seed{seed}" / "validation.csv", scores, 6.0)
    folder = tmp_path / "results"
    copied = grid_table.collect(runs, folder)
    assert sorted(path.name for path in copied) == [f"NMN-Harlow-v0-nmn-long3m-seed{seed}.csv" for seed in range(3)]
    read = grid_table.grid_curves(folder)
    assert [(curve.variant, curve.seed, curve.scores, curve.cpu_minutes) for curve in read] == [
        ("long3m", seed, scores, 6.0) for seed, scores in curves.items()
    ]
    *seed_rows, summary = grid_table.table(read)[1:]
    assert len(seed_rows) == 3
    ends = np.array([0.9, 0.5, 0.8])
    assert f"{ends.mean():.3f}" in summary and f"of the end {np.std(ends, ddof=1) / np.sqrt(3):.3f}" in summary
    assert "median end 0.800" in summary and "3 seeds" in summary


def test_a_sweep_without_named_variants_is_collected_under_the_variant_it_is_given(tmp_path: Path) -> None:
    runs = tmp_path / "sweep"
    write_validation(runs / "trials" / "NMN-Bench2-v0" / "lstm" / "seed0" / "validation.csv", [0.4, 0.9], 20.0)
    with pytest.raises(ValueError, match="needs --variant NAME"):
        grid_table.collect(runs, tmp_path / "refused")
    copied = grid_table.collect(runs, tmp_path / "results", variant="long4m")
    assert [path.name for path in copied] == ["NMN-Bench2-v0-lstm-long4m-seed0.csv"]
    (curve,) = grid_table.grid_curves(tmp_path / "results")
    assert (curve.policy, curve.variant, curve.seed, curve.scores) == ("lstm", "long4m", 0, [0.4, 0.9])


def test_a_folder_that_is_not_a_sweep_output_is_refused_with_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an nmn-sweep output folder"):
        grid_table.collect(tmp_path, tmp_path / "results")


def test_the_base_rows_are_the_zoos_cards_at_a_revision() -> None:
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    status = subprocess.run(
        ["git", "status", "--porcelain", "policies/zoo/NMN-Harlow-v0"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    if status:
        pytest.fail(f"the Harlow cards differ from HEAD, so HEAD's cannot be compared with them: {status}")
    base = grid_table.base_curves(revision, "NMN-Harlow-v0", "rnn")
    cards = sorted((card for card in zoo.cards("NMN-Harlow-v0") if card.policy == "rnn"), key=lambda card: card.seed)
    assert [curve.seed for curve in base] == [card.seed for card in cards]
    assert [curve.scores for curve in base] == [[point.score for point in card.curve] for card in cards]


def test_a_task_without_a_bayes_bound_is_scored_against_the_oracle_on_request(tmp_path: Path) -> None:
    env_id = "NMN-Navigation2D-v0"
    memoryless, oracle = grid_table.oracle_anchors(env_id)
    tasks, seeds = validation_set(env_id).head(VALIDATION_TASKS)
    assert memoryless == pytest.approx(float(play(reference("memoryless", env_id), env_id, tasks, seeds).returns.mean()))
    assert oracle > memoryless
    path = tmp_path / f"{env_id}-nmn-wide-seed0.csv"
    with path.open("w", newline="") as handle:  # what training writes on a task without a Bayes bound
        writer = csv.writer(handle)
        writer.writerow(["steps", "minutes", "cpu_minutes", "mean_return", "normalised_score"])
        for k, value in enumerate((memoryless, (memoryless + oracle) / 2, oracle)):
            writer.writerow([1000 * (k + 1), 1.0, 2.0, value, "nan"])
    with pytest.raises(ValueError, match="no normalised score .* use --score oracle-adaptation"):
        grid_table.grid_curves(tmp_path)
    (curve,) = grid_table.grid_curves(tmp_path, "oracle-adaptation")
    assert curve.scores == pytest.approx([0.0, 0.5, 1.0])
