"""The zoo on the shifts (nmn-zoo report): every seed's gap, the comparison across seeds, the verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluate.schema import Interval
from evaluate.shifts import get_shift
from nmn_bench.zoo_report import SHIFT_MARKERS, write_shift_results
from nmn_bench.zoo_shifts import keeps_more, rnn_minus_nmn, seed_gaps, verdict
from training import zoo

ENV = "NMN-Harlow-v0"


def test_the_report_writes_every_seed_s_gap_and_reads_the_verdict_off_them(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{SHIFT_MARKERS[0]}\nold\n{SHIFT_MARKERS[1]}\ntail\n")
    full = write_shift_results(tmp_path / "zoo", readme, tasks=(ENV,), n_tasks=60)
    assert (tmp_path / "zoo" / "shifts.md").read_text() == full
    compared = [card for card in zoo.cards(ENV) if card.policy in ("nmn", "rnn")]
    per_seed = [line for line in full.splitlines() if line.startswith(f"| {ENV} | held_out_objects | ")]
    assert len(per_seed) == 1 + len(compared)  # the summary row, then one row per seed
    # no shift of Harlow changes the task within a meta-episode: the claim is not tested here
    assert "do not test the claim" in full
    text = readme.read_text()
    assert "old" not in text and text.endswith(f"{SHIFT_MARKERS[1]}\ntail\n") and "held_out_objects" in text
    # a second run replays nothing: the same numbers from the evaluation cache
    assert write_shift_results(tmp_path / "zoo", None, tasks=(ENV,), n_tasks=60) == full


def test_the_comparison_resamples_each_agent_s_seeds() -> None:
    gaps = seed_gaps(ENV, zoo.cards(ENV), n_tasks=30, reps=200)
    difference = rnn_minus_nmn(gaps, reps=500)
    values = {
        policy: [each.gap.normalised.value for each in gaps if each.card.policy == policy] for policy in ("nmn", "rnn")
    }
    assert difference.value == pytest.approx(np.mean(values["rnn"]) - np.mean(values["nmn"]))
    assert difference.low <= difference.value <= difference.high
    for each in gaps:  # the gap is the in-distribution score minus the shifted one
        assert each.gap.normalised.value == pytest.approx(each.inside.value - each.shifted.value)


def test_the_verdict_follows_the_intervals_of_the_readapt_shifts() -> None:
    switching, wider = get_shift("NMN-Bench1-v0", "switching"), get_shift("NMN-Bench1-v0", "wider")
    swap = get_shift("NMN-Bench3-v0", "swap")
    above, below, across = (Interval(value=v, low=lo, high=hi) for v, lo, hi in ((0.2, 0.1, 0.3), (-0.2, -0.3, -0.1), (0.0, -0.1, 0.1)))
    assert keeps_more(above) == "NMN keeps more" and keeps_more(below) == "RNN keeps more"
    assert keeps_more(across) == "no difference shown" and keeps_more(None).startswith("not tested")
    assert "The zoo's agents support the paper's claim" in verdict([(switching, above), (wider, below)])
    assert "The zoo's agents contradict the paper's claim" in verdict([(switching, below), (swap, below)])
    assert "partly contradict the paper's claim" in verdict([(switching, below), (swap, across)])
    assert "partly support the paper's claim" in verdict([(switching, above), (swap, None)])
    assert "mixed" in verdict([(switching, above), (swap, below)])
    assert "neither support nor contradict" in verdict([(switching, across), (swap, None)])
    assert "do not test the claim" in verdict([(wider, above)])
