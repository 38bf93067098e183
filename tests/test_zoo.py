"""The model zoo: shipping runs with their cards, zoo names, the shipped models, default baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch as th

from evaluate.cli import main as nmn_eval
from evaluate.harness import evaluate, resolve_agent
from nmn_bench.zoo import RunChecked, add_run
from nmn_bench.zoo import main as nmn_zoo
from nmn_bench.zoo_marks import MARKED_POLICIES, adaptation_interval, adapts
from nmn_bench.zoo_report import LABELS, seed_adaptation_rows
from training import zoo
from training.train import train

th.set_num_threads(1)
NATIVE_TASKS = (
    "NMN-Bench1-v0", "NMN-Bench2-v0", "NMN-Bench3-v0", "NMN-Bandit-v0",
    "NMN-TwoStep-v0", "NMN-Harlow-v0", "NMN-Navigation2D-v0",
)


@pytest.fixture
def tiny_zoo(tmp_path: Path, tiny_hyperparams: Path) -> Path:
    """A zoo of two tiny Bench1 runs (NMN seed 0 and RNN seed 2), each scored on 8 tasks."""
    folder = tmp_path / "zoo"
    for policy, seed in (("nmn", 0), ("rnn", 2)):
        run = tmp_path / f"{policy}-{seed}"
        train("NMN-Bench1-v0", policy, seed, 64, run, hyperparams_file=tiny_hyperparams,
              validation_tasks=4, eval_freq=32, checkpoint_freq=32, progress_bar=False)
        add_run(RunChecked(run, "best"), "a test", n_tasks=8, folder=folder)
    return folder


def test_a_shipped_run_has_its_model_and_a_card_that_tells_how_it_was_made(tiny_zoo: Path) -> None:
    cards = zoo.cards("NMN-Bench1-v0", tiny_zoo)
    assert [card.name for card in cards] == ["zoo:nmn@seed0", "zoo:rnn@seed2"]
    nmn = cards[0]
    assert (nmn.env_steps, nmn.config["policy"], nmn.trained_by) == (64, "nmn", "a test")
    assert nmn.git_revision == nmn.config["git_revision"] and nmn.git_revision
    assert [point.steps for point in nmn.curve] == [32, 64]
    assert nmn.selected_steps in (32, 64)
    assert nmn.evaluation.task_set.n_tasks == len(nmn.evaluation.score.returns) == 8
    assert nmn.evaluation.score.actions.mode == "mean"
    assert set(nmn.evaluation.normaliser) >= {"random", "bayes", "memoryless"}
    assert nmn.parameters > 1000
    assert (tiny_zoo / "NMN-Bench1-v0" / "nmn-seed0.safe.zip").is_file()
    # the card's returns are what the harness gives the shipped file
    path, card = zoo.find("zoo:rnn", "NMN-Bench1-v0", tiny_zoo)
    replayed = evaluate(str(path), "NMN-Bench1-v0", n_tasks=8, references=())
    assert replayed.agent.returns == card.evaluation.score.returns


def test_a_run_on_a_task_without_a_bayes_bound_validates_on_its_mean_return_and_ships(
    tmp_path: Path, tiny_hyperparams: Path
) -> None:
    run = tmp_path / "navigation"
    train("NMN-Navigation2D-v0", "rnn", 0, 64, run, hyperparams_file=tiny_hyperparams, validation_tasks=4,
          eval_freq=32, checkpoint_freq=32, progress_bar=False)
    card = add_run(RunChecked(run, "best"), "a test", n_tasks=8, folder=tmp_path / "zoo")
    assert [point.score for point in card.curve] == [None, None]
    best = max(card.curve, key=lambda point: point.mean_return)
    assert card.selected_steps == best.steps
    # scored against the oracle, yet ranked by its mean return, as the cards scored before that are
    random, oracle = card.evaluation.normaliser["random"], card.evaluation.normaliser["oracle"]
    assert card.evaluation.score.normalised_score == card.evaluation.score.mean.on_scale(random, oracle)
    assert card.rank_value == card.evaluation.score.mean.value


def test_a_plain_zoo_name_means_the_seed_of_median_score(tiny_zoo: Path) -> None:
    (card,) = [card for card in zoo.cards("NMN-Bench1-v0", tiny_zoo) if card.policy == "nmn"]

    def scored(seed: int, value: float) -> zoo.ZooCard:
        normalised = card.evaluation.score.normalised_score.model_copy(update={"value": value, "low": value, "high": value})
        score = card.evaluation.score.model_copy(update={"normalised_score": normalised})
        evaluation = card.evaluation.model_copy(update={"score": score})
        return card.model_copy(update={"seed": seed, "evaluation": evaluation})

    trio = [scored(0, 0.9), scored(1, 0.2), scored(2, 0.5)]
    assert zoo.median_card(trio).seed == 2
    assert zoo.median_card(trio[:2]).seed == 1  # the lower median of two
    assert zoo.median_card(trio[:1]).seed == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("zoo:gru", "is not a zoo name: use zoo:<policy> or zoo:<policy>@seed<K>"),
        ("zoo:nmn@7", "is not a zoo name"),
        ("zoo:lstm", "holds no lstm model for NMN-Bench1-v0; it holds ['zoo:nmn@seed0', 'zoo:rnn@seed2']"),
        ("zoo:rnn@seed0", "holds no rnn model of seed 0 for NMN-Bench1-v0; its seeds are [2]"),
    ],
)
def test_a_name_the_zoo_does_not_hold_is_refused_with_what_it_holds(tiny_zoo: Path, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("<", "<")):
        zoo.find(name, "NMN-Bench1-v0", tiny_zoo)
    with pytest.raises(ValueError, match="holds no models for NMN-Bench2-v0; it has models for \\['NMN-Bench1-v0'\\]"):
        zoo.find("zoo:nmn", "NMN-Bench2-v0", tiny_zoo)


def test_an_unfinished_run_is_refused_before_anything_is_played(tmp_path: Path, tiny_hyperparams: Path, capsys) -> None:
    run = tmp_path / "run"
    train("NMN-Bench1-v0", "nmn", 0, 64, run, hyperparams_file=tiny_hyperparams, validation_tasks=4,
          eval_freq=32, checkpoint_freq=32, progress_bar=False)
    (run / "model.safe.zip").unlink()
    with pytest.raises(SystemExit, match="unfinished \\(no model.safe.zip\\); finish it with nmn-train --resume"):
        nmn_zoo(["add", str(run), "--trained-by", "a test", "--zoo", str(tmp_path / "zoo")])
    assert not (tmp_path / "zoo").exists()


# --- the shipped zoo -----------------------------------------------------------------------


ZOO_SEEDS = 5


@pytest.mark.parametrize("env_id", NATIVE_TASKS)
def test_the_zoo_ships_the_whole_grid_for_every_native_task_clearly_above_random(env_id: str) -> None:
    cards = zoo.cards(env_id)
    seeds = {policy: sorted(card.seed for card in cards if card.policy == policy) for policy in ("nmn", "rnn", "lstm")}
    # Five seeds from 0 without a gap: every seed trained with the shipped recipe is shipped.
    for policy in ("nmn", "rnn"):
        assert seeds[policy] == list(range(ZOO_SEEDS)), seeds
    assert len(seeds["lstm"]) >= 1, seeds
    for card in cards:
        assert card.env_id == env_id and card.evaluation.task_set.n_tasks == 1000
        score = card.evaluation.score
        if score.normalised_score is not None:
            assert score.normalised_score.low > 0.0, card.name
        else:  # no Bayes bound (NMN-Navigation2D): above random play's mean return
            assert score.mean.low > card.evaluation.normaliser["random"], card.name
        # the shipped file plays as its card says (its first tasks, replayed)
        path = zoo.ZOO_DIR / env_id / card.model_file
        policy = resolve_agent(card.name, env_id, {})
        assert policy.name == card.name and path.is_file()


@pytest.mark.parametrize("env_id", NATIVE_TASKS)
def test_every_shipped_seed_adapts_its_interval_above_the_feedback_free_policy(env_id: str) -> None:
    for card in zoo.cards(env_id):  # the LSTM's and MAML's seeds too, not only the marked ones
        interval, name = adaptation_interval(card)
        assert interval is not None and adapts(interval), (card.name, name, interval)


@pytest.mark.parametrize("env_id", NATIVE_TASKS)
def test_the_results_page_shows_every_marked_seeds_adaptation_as_its_card_says(env_id: str) -> None:
    lines = (Path(__file__).parents[1] / "docs" / "zoo" / "results.md").read_text().splitlines()
    for card in zoo.cards(env_id):
        if card.policy in MARKED_POLICIES:
            (row,) = seed_adaptation_rows(env_id, [card])  # the seed's row, its interval and verdict
            assert row in lines, row


def test_the_zoo_is_small() -> None:
    total = sum(path.stat().st_size for path in zoo.ZOO_DIR.rglob("*") if path.is_file())
    assert total < 30 * 2**20


def test_a_shipped_model_replays_its_cards_returns() -> None:
    path, card = zoo.find("zoo:nmn", "NMN-Bandit-v0")
    replayed = evaluate(str(path), "NMN-Bandit-v0", n_tasks=50, references=())
    assert replayed.agent.returns == card.evaluation.score.returns[:50]


def test_nmn_eval_compares_with_the_zoo_by_default_and_not_with_baseline_none(tmp_path: Path) -> None:
    out = tmp_path / "default"
    nmn_eval(["NMN-Bandit-v0", "--agent", "random", "--n-tasks", "40", "--reps", "200", "--out", str(out), "--no-progress"])
    result = json.loads((out / "result.json").read_text())
    # named by the seed each plain name means
    shipped = [zoo.find(name, "NMN-Bandit-v0")[1].name for name in ("zoo:rnn", "zoo:nmn")]
    assert [baseline["name"] for baseline in result["baselines"]] == shipped
    assert set(result["agent"]["probability_of_improvement"]) == set(shipped)
    assert f"P(> {shipped[1]})" in (out / "report.md").read_text()
    alone = tmp_path / "alone"
    nmn_eval(["NMN-Bandit-v0", "--agent", "zoo:nmn", "--baseline", "none", "--n-tasks", "40", "--reps", "200",
              "--out", str(alone), "--no-progress"])
    result = json.loads((alone / "result.json").read_text())
    assert (result["agent"]["name"], result["baselines"]) == (shipped[1], [])


@pytest.mark.parametrize("agent", ["zoo:rnn", "zoo:rnn@seed{seed}"])
def test_the_zoo_agent_itself_is_not_its_own_default_baseline(tmp_path: Path, agent: str) -> None:
    _, card = zoo.find("zoo:rnn", "NMN-TwoStep-v0")
    nmn_eval(["NMN-TwoStep-v0", "--agent", agent.format(seed=card.seed), "--n-tasks", "20", "--reps", "100",
              "--out", str(tmp_path), "--no-progress"])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["agent"]["name"] == card.name
    assert [baseline["name"] for baseline in result["baselines"]] == [zoo.find("zoo:nmn", "NMN-TwoStep-v0")[1].name]


def test_seeding_a_board_adds_the_zoo_agents_as_baseline_rows_played_by_the_board(tmp_path: Path) -> None:
    from leaderboard.board import table
    from leaderboard.seed import seed
    from leaderboard.store import Store

    store = Store(tmp_path / "board.sqlite")
    added = seed(store, ["NMN-Harlow-v0"])
    baselines = {entry.agent_name: entry for entry in added if entry.role == "baseline"}
    assert set(baselines) == set(zoo.available("NMN-Harlow-v0"))
    for name, entry in baselines.items():
        _, card = zoo.find(name, "NMN-Harlow-v0")
        # the board's own play of the shipped model: the card's returns, task for task
        stored = entry.submission().result
        assert stored.agent.returns == card.evaluation.score.returns
        # beside the board's own references, bounds and normaliser, as a checked submission
        references = {row.agent: row for row in table(store, "NMN-Harlow-v0").rows if row.role == "reference"}
        assert {score.name for score in stored.references} == set(references) == {"random", "oracle", "bayes", "memoryless"}
        assert {bound.name for bound in stored.bounds} == {"bayes", "oracle"} and stored.baselines == []
    rows = {row.agent: row.role for row in table(store, "NMN-Harlow-v0").rows}
    assert rows["zoo:nmn"] == rows["zoo:rnn"] == "baseline" and rows["bayes"] == "reference"
    assert seed(store, ["NMN-Harlow-v0"]) == []  # seeding again adds nothing


def test_the_results_section_and_its_figures_regenerate_from_one_command(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- zoo-results -->\nSTALE SECTION\n<!-- /zoo-results -->\n\n## after\n")
    nmn_zoo(["report", "--out", str(tmp_path / "docs"), "--readme", str(readme), "--no-shifts"])
    assert not (tmp_path / "docs" / "shifts.md").exists()  # --no-shifts plays no shift
    text = (tmp_path / "docs" / "results.md").read_text()
    for env_id in NATIVE_TASKS:
        assert f"| {env_id} | NMN |" in text and f"| {env_id} | RNN (GRU) |" in text
        assert f"| {env_id} | " in text.split("P(NMN > RNN) across seeds, 95% CI | verdict |")[1]
        assert f"| {env_id} | " in text.split("| spread NMN / RNN, 95% CI | verdict |")[1]
        for card in zoo.cards(env_id):  # every shipped seed has its adaptation row
            assert f"| {env_id} | {LABELS[card.policy]} | {card.seed} | " in text
    for figure in ("learning_curves.png", "bench1_modulation.png", "bandit_regret.png", "two_step_nmn/stay_probability.png"):
        assert (tmp_path / "docs" / figure).stat().st_size > 1000
    assert "Harlow, trial 2" in text and "interaction" in text
    content = readme.read_text()
    assert "STALE SECTION" not in content and content.endswith("## after\n")
    # the README gets the headline table (one row per task), the docs the full section
    front = content.split("<!-- zoo-results -->")[1].split("<!-- /zoo-results -->")[0]
    assert "docs/zoo/results.md" in front and "P(NMN > RNN) across seeds, 95% CI" not in front
    for env_id in NATIVE_TASKS:
        # its headline row, then its mark's row (the mark, each median seed, how far)
        row, mark = [line for line in front.splitlines() if line.startswith(f"| {env_id} | ")]
        assert ">= " in mark and mark in text
        verdict = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert f"| {env_id} | " in text and f" | {verdict} |" in text  # the same verdict as the full section
    for env_id in ("NMN-HalfCheetahDir-v0", "NMN-HalfCheetahVel-v0"):  # reported beside them, without a mark
        (row,) = [line for line in front.splitlines() if line.startswith(f"| {env_id} | ")]
        assert all(f"| {env_id} | {LABELS[card.policy]} | {card.seed} | " in text for card in zoo.cards(env_id))
    with pytest.raises(SystemExit, match="no <!-- zoo-results --> ... <!-- /zoo-results --> markers"):
        nmn_zoo(["report", "--out", str(tmp_path / "again"), "--readme", str(tmp_path / "docs" / "results.md"), "--no-shifts"])
