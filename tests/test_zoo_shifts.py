"""The zoo on the shifts (nmn-zoo report): every seed's gap, the comparison across seeds, the verdict."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from evaluate.schema import Interval
from evaluate.shifts import get_shift
from nmn_bench import zoo as zoo_cli
from nmn_bench.zoo_report import GAP_STORE, SHIFT_MARKERS, write_shift_results
from nmn_bench.zoo_shifts import StoredGaps, keeps_more, rnn_minus_nmn, seed_gaps, verdict
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
    # a second run replays nothing: the same numbers from the gaps it kept
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


def _rewrite(path: Path, change) -> None:
    stored = StoredGaps.model_validate_json(path.read_text())
    path.write_text(StoredGaps(gaps=[change(gap) for gap in stored.gaps]).model_dump_json())


def test_the_report_reads_each_seed_s_gap_from_its_store_until_its_model_changes(tmp_path: Path) -> None:
    out = tmp_path / "zoo"
    write_shift_results(out, None, tasks=(ENV,), n_tasks=60)
    path = out / GAP_STORE
    stored = StoredGaps.model_validate_json(path.read_text()).gaps
    compared = [card for card in zoo.cards(ENV) if card.policy in ("nmn", "rnn")]
    assert sorted(gap.key() for gap in stored) == sorted((ENV, "held_out_objects", card.policy, card.seed) for card in compared)
    first = stored[0]
    assert first.model_sha256 == hashlib.sha256(zoo.find(f"zoo:{first.policy}@seed{first.seed}", ENV)[0].read_bytes()).hexdigest()

    def marked(gap):  # a value no play gives: the report shows it only if it reads the store
        normalised = gap.gap.normalised.model_copy(update={"value": 0.4242, "low": 0.4, "high": 0.45})
        return gap.model_copy(update={"gap": gap.gap.model_copy(update={"normalised": normalised})})

    _rewrite(path, marked)
    assert "0.424 [0.400, 0.450]" in write_shift_results(out, None, tasks=(ENV,), n_tasks=60)
    # a stored gap of another model file is played again, the others are read
    _rewrite(path, lambda gap: gap.model_copy(update={"model_sha256": "0" * 64}) if gap.key() == first.key() else gap)
    write_shift_results(out, None, tasks=(ENV,), n_tasks=60)
    replayed = {gap.key(): gap for gap in StoredGaps.model_validate_json(path.read_text()).gaps}
    assert replayed[first.key()] == first  # played again from the real model: the first numbers
    assert all(gap.gap.normalised.value == 0.4242 for key, gap in replayed.items() if key != first.key())
    # --replay-shifts plays every seed again; a seed the zoo no longer holds leaves the store
    gone = first.model_copy(update={"seed": 99})
    path.write_text(StoredGaps(gaps=[*replayed.values(), gone]).model_dump_json())
    write_shift_results(out, None, tasks=(ENV,), n_tasks=60, replay=True)
    assert StoredGaps.model_validate_json(path.read_text()).gaps == stored


def test_a_broken_gap_store_is_named_and_left_as_it_is(tmp_path: Path) -> None:
    out = tmp_path / "zoo"
    out.mkdir()
    (out / GAP_STORE).write_text('{"gaps": [{"env_id": 3}]}')
    with pytest.raises(ValueError, match=f"{GAP_STORE} is not a store of shift gaps"):
        write_shift_results(out, None, tasks=(ENV,), n_tasks=60)
    assert (out / GAP_STORE).read_text() == '{"gaps": [{"env_id": 3}]}'


def test_replaying_the_shifts_without_playing_them_is_refused(capsys) -> None:
    with pytest.raises(SystemExit, match="--replay-shifts plays the shifts' gaps"):
        zoo_cli.main(["report", "--no-shifts", "--replay-shifts"])
