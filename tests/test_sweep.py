"""nmn-sweep: the config and its errors, one trial end to end, the summary, and a real Ray sweep
killed during its second trial and resumed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from sb3_contrib import RecurrentPPO

from evaluate.harness import evaluate
from evaluate.report import RESULT_FILE, write_report
from leaderboard.store import Store
from nmn_bench.sweep.cli import TUNE_METRICS, main, report_training
from nmn_bench.sweep.config import ConfigError, load_config, parse_config
from nmn_bench.sweep.summary import (
    JSON_FILE,
    MARKDOWN_FILE,
    SweepSummary,
    curve_file,
    summarise,
    write_summary,
)
from nmn_bench.sweep.trial import EVALUATION_DIR, STATUS_FILE, read_status, run_trial, training_curve

th.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "sweeps"
BANDIT = "NMN-Bandit-v0"
MINIMAL = {"envs": [BANDIT], "policies": ["nmn"], "seeds": [0], "timesteps": 1000}
# A tiny RecurrentPPO rollout, so that a trial trains in about a second.
TINY = {"name": "tiny", "n_envs": 2, "n_steps": 64, "batch_size": 128, "n_epochs": 1}


def config_error(document: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    return str(caught.value)


# --- the config --------------------------------------------------------------------------


def test_the_shipped_configs_are_valid_and_the_zoo_covers_every_native_task() -> None:
    quick = load_config(SWEEPS / "quick.yml")
    assert [(trial.env_id, trial.agent, trial.seed) for trial in quick.trials()] == [
        (BANDIT, "nmn", 0),
        (BANDIT, "rnn", 0),
    ]
    zoo = load_config(SWEEPS / "zoo.yml")
    # every native task but NMN-Bench1, which the learning benchmark trains at the source's budget
    assert set(zoo.envs) == {
        "NMN-Bench2-v0", "NMN-Bench3-v0", BANDIT, "NMN-TwoStep-v0", "NMN-Harlow-v0", "NMN-Navigation2D-v0",
    }
    # nmn and rnn with seeds 0 1 2, lstm with seed 0, on each of the 6 tasks
    assert len(list(zoo.trials())) == 6 * (3 + 3 + 1)
    assert zoo.evaluation is None  # nmn-zoo add scores each run's best validated model
    full = load_config(SWEEPS / "source_budgets.yml")
    assert full.timesteps_of("NMN-Bench1-v0") == 20_000 * 400
    assert full.timesteps_of("NMN-Bench2-v0") == full.timesteps_of("NMN-Bench3-v0") == 100_000 * 2000


def test_the_grid_is_env_x_variant_x_policy_x_the_policys_seeds() -> None:
    config = parse_config({
        "envs": [BANDIT, "NMN-TwoStep-v0"],
        "policies": ["nmn", "lstm"],
        "seeds": {"nmn": [0, 1], "lstm": [5]},
        "timesteps": {BANDIT: 100, "NMN-TwoStep-v0": 200},
        "overrides": [{"learning_rate": 0.001}, {"name": "slow", "learning_rate": 0.0001}],
    })
    trials = list(config.trials())
    assert len(trials) == 2 * 2 * (2 + 1)
    assert {trial.agent for trial in trials} == {"nmn-v0", "lstm-v0", "nmn-slow", "lstm-slow"}
    assert {trial.timesteps for trial in trials if trial.env_id == "NMN-TwoStep-v0"} == {200}
    assert {trial.seed for trial in trials if trial.policy == "lstm"} == {5}
    assert config.overrides_of("slow") == {"learning_rate": 0.0001}
    assert len({trial.name for trial in trials}) == len(trials)
    # first seeds first: every cell has a trial before any cell has its second
    assert [(trial.seed, trial.policy) for trial in trials[:8]] == [(0, "nmn")] * 4 + [(5, "lstm")] * 4
    assert {trial.seed for trial in trials[8:]} == {1}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"envs": ["NMN-Bandit-v9"]}, "envs: unknown environment id 'NMN-Bandit-v9'"),
        ({"policies": ["gru"]}, "policies: unknown policy 'gru'"),
        ({"policies": ["policies.rnn.NotThere"]}, "does not import as a RecurrentPPO policy class"),
        ({"seeds": []}, "seeds: each list of seeds must be non-empty"),
        ({"seeds": {"rnn": [0]}}, "one entry per policy ['nmn']"),
        ({"timesteps": 0}, "timesteps"),
        ({"timesteps": {"NMN-TwoStep-v0": 10}}, "one entry per env ['NMN-Bandit-v0']"),
        ({"overrides": {"learning_rat": 0.1}}, "learning_rat: Extra inputs are not permitted"),
        ({"overrides": [{"gamma": 2.0}]}, "variant 'v0' (entry 0) on NMN-Bandit-v0: gamma"),
        ({"evaluat": True}, "evaluat: Extra inputs are not permitted; the fields are ['envs'"),
        ({"evaluate": {"n_tasks": 5000}}, "evaluate"),
        ({"submit": "lb.sqlite", "evaluate": {"n_tasks": 100}}, "the leaderboard takes results on the full task set"),
        ({"cpus_per_trial": 0}, "cpus_per_trial"),
    ],
)
def test_a_bad_field_is_named_with_what_is_allowed(change: dict, expected: str) -> None:
    assert expected in config_error(MINIMAL | change)


def test_a_relative_leaderboard_database_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_config(MINIMAL | {"submit": "lb.sqlite"}).submit == str(tmp_path / "lb.sqlite")
    assert parse_config(MINIMAL | {"submit": "sqlite:///lb.sqlite"}).submit == f"sqlite:///{tmp_path}/lb.sqlite"
    url = "postgresql://user@db.example/board"
    assert parse_config(MINIMAL | {"submit": url}).submit == url


def test_a_custom_policy_class_is_accepted_by_its_dotted_path() -> None:
    config = parse_config(MINIMAL | {"policies": ["policies.rnn.RNNPolicy"]})
    assert [trial.agent for trial in config.trials()] == ["RNNPolicy"]


def test_cli_refuses_a_bad_config_before_starting_ray(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(MINIMAL | {"policies": ["nmn", "transformer"]}))
    with pytest.raises(SystemExit) as caught:
        main([str(path), "--out", str(tmp_path / "out")])
    assert caught.value.code == 2
    assert "policies: unknown policy 'transformer'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_without_ray_names_the_extra_to_install(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump(MINIMAL))
    blocked = (
        "import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
        "from nmn_bench.sweep.cli import main\n"
        f"main([{str(path)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "pip install 'nmn-bench[ray]'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_refuses_to_overwrite_a_sweep_or_to_resume_a_missing_or_different_one(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path, out = tmp_path / "sweep.yml", tmp_path / "out"
    path.write_text(yaml.safe_dump(MINIMAL))
    for argv, message in [
        ([str(path), "--out", str(out), "--resume"], "holds no sweep to resume"),
        ([str(path), "--out", str(out), "--num-cpus", "1", "--address", "auto"], "for a local Ray only"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
    out.mkdir()
    (out / "sweep.yml").write_text(yaml.safe_dump(MINIMAL | {"seeds": [1]}))
    with pytest.raises(SystemExit):
        main([str(path), "--out", str(out)])
    assert "already holds a sweep; continue it with --resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(path), "--out", str(out), "--resume"])
    error = capsys.readouterr().err
    assert "the config differs from the sweep in" in error and "['seeds']" in error


# --- one trial -----------------------------------------------------------------------------


def test_a_trial_trains_evaluates_and_submits_once(tmp_path: Path) -> None:
    database = tmp_path / "leaderboard.sqlite"
    config = parse_config(
        MINIMAL | {"policies": ["rnn"], "timesteps": 256, "overrides": [TINY], "submit": str(database)}
    )
    (trial,) = config.trials()
    metrics = run_trial(trial, config, tmp_path)
    folder = trial.folder(tmp_path)
    assert folder == tmp_path / "trials" / BANDIT / "rnn-tiny" / "seed0"
    recorded = yaml.safe_load((folder / "config.yml").read_text())
    assert (recorded["policy"], recorded["timesteps"], recorded["hyperparams"]["n_envs"]) == ("rnn", 256, 2)
    result = json.loads((folder / EVALUATION_DIR / RESULT_FILE).read_text())
    assert result["agent"]["name"] == "rnn-tiny-seed0"
    assert result["task_set"]["n_tasks"] == 1000
    assert metrics["normalised_score"] == pytest.approx(result["agent"]["normalised_score"]["value"])
    status = read_status(folder)
    assert status.trained and status.evaluated
    store = Store(database)
    assert [entry.id for entry in store.entries(BANDIT)] == [status.leaderboard_entry]
    store.close()

    stamps = {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}
    assert run_trial(trial, config, tmp_path) == metrics
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()} == stamps
    store = Store(database)
    assert len(store.entries(BANDIT)) == 1
    store.close()


def test_a_trial_killed_after_its_model_was_saved_is_not_trained_again(tmp_path: Path) -> None:
    config = parse_config(MINIMAL | {"policies": ["rnn"], "timesteps": 256, "overrides": [TINY], "evaluate": False})
    (trial,) = config.trials()
    run_trial(trial, config, tmp_path)
    folder = trial.folder(tmp_path)
    (folder / STATUS_FILE).unlink()  # as if killed between the model's save and the status's
    saved = (folder / "model.safe.zip").stat().st_mtime_ns
    run_trial(trial, config, tmp_path)
    assert read_status(folder).trained
    assert (folder / "model.safe.zip").stat().st_mtime_ns == saved


def test_a_custom_policy_class_trains_through_nmn_train(tmp_path: Path) -> None:
    custom = "policies.rnn.RNNPolicy"
    overrides = TINY | {"policy_kwargs": {custom: {"recurrent_sizes": [8], "net_arch": [8]}}}
    config = parse_config(
        MINIMAL | {"policies": [custom], "timesteps": 256, "overrides": [overrides], "evaluate": False}
    )
    (trial,) = config.trials()
    metrics = run_trial(trial, config, tmp_path)
    folder = trial.folder(tmp_path)
    assert yaml.safe_load((folder / "config.yml").read_text())["policy"] == custom
    assert read_status(folder).trained and not read_status(folder).evaluated
    assert set(metrics) == {"timesteps", "train_return"}
    model = RecurrentPPO.load(folder / "model.zip", device="cpu")
    assert type(model.policy).__name__ == "RNNPolicy"
    assert list(model.policy.recurrent_sizes) == [8]
    # without evaluation the summary ranks by the last training return
    (env,) = summarise(config, tmp_path).envs
    assert env.score == "training return"
    assert env.agents[0].scores == {0: metrics["train_return"]}


# --- the summary ---------------------------------------------------------------------------


def write_progress(folder: Path, start: int, steps: list[int], returns: list[float]) -> None:
    log = folder / "logs" / f"run_{start}"
    log.mkdir(parents=True)
    lines = ["time/total_timesteps,rollout/ep_rew_mean,train/loss"]
    lines += [f"{step},{value},0.5" for step, value in zip(steps, returns)]
    (log / "progress.csv").write_text("\n".join(lines) + "\n")


def test_the_training_curve_joins_resumed_segments(tmp_path: Path) -> None:
    write_progress(tmp_path, 0, [100, 200, 300, 400], [1.0, 2.0, 3.0, 4.0])
    write_progress(tmp_path, 200, [300, 400, 500], [30.0, 40.0, 50.0])  # resumed from step 200
    steps, returns = training_curve(tmp_path)
    assert steps.tolist() == [100, 200, 300, 400, 500]
    assert returns.tolist() == [1.0, 2.0, 30.0, 40.0, 50.0]


def test_training_progress_is_reported_as_the_run_logs_it(tmp_path: Path) -> None:
    reports: list[dict[str, float]] = []
    stop = threading.Event()
    watcher = threading.Thread(target=report_training, args=(tmp_path, stop, reports.append, 0.01))
    watcher.start()
    time.sleep(0.1)  # nothing logged yet: nothing reported
    assert reports == []
    write_progress(tmp_path, 0, [100, 200], [1.0, 2.0])
    deadline = time.monotonic() + 10
    while not reports and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the same last step is not reported twice
    stop.set()
    watcher.join()
    assert len(reports) == 1
    assert tuple(reports[0]) == TUNE_METRICS
    assert (reports[0]["timesteps"], reports[0]["train_return"]) == (200.0, 2.0)
    assert np.isnan(reports[0]["normalised_score"])


def test_the_summary_aggregates_across_seeds_with_rliable(tmp_path: Path) -> None:
    """Reference agents stand in for trained ones: bayes scores ~1, random ~0, every seed."""
    config = parse_config(MINIMAL | {"policies": ["nmn", "rnn"], "seeds": [0, 1, 2]})
    players = {"nmn": "bayes", "rnn": "random"}
    for trial in config.trials():
        folder = trial.folder(tmp_path)
        # a different number of tasks per seed, so that the seeds' scores differ
        result = evaluate(players[trial.policy], BANDIT, n_tasks=100 + 50 * trial.seed, reps=100)
        write_report(result, folder / EVALUATION_DIR)
        (folder / STATUS_FILE).write_text('{"trained": true, "evaluated": true}')
        slope = 2.0 if trial.policy == "nmn" else 1.0
        steps = list(range(0, 1100, 100))
        write_progress(folder, 0, steps, [slope * step + trial.seed for step in steps])

    summary = summarise(config, tmp_path, reps=500)
    (env,) = summary.envs
    assert env.score == "normalised score" and env.missing == []
    nmn, rnn = env.agents
    assert (nmn.agent, rnn.agent) == ("nmn", "rnn")
    assert sorted(nmn.scores) == [0, 1, 2]
    assert len(set(nmn.scores.values())) == 3
    for agent, target in [(nmn, 1.0), (rnn, 0.0)]:
        assert agent.iqm.low <= agent.iqm.value <= agent.iqm.high
        assert min(agent.scores.values()) <= agent.iqm.value <= max(agent.scores.values())
        # a 3-run IQM is the mean; each seed's score is a Monte Carlo estimate of the target
        assert agent.iqm.value == pytest.approx(np.mean(list(agent.scores.values())))
        assert agent.iqm.value == pytest.approx(target, abs=0.15)
    assert env.probability_of_improvement["nmn"]["rnn"].value == 1.0
    assert env.probability_of_improvement["rnn"]["nmn"].value == 0.0
    curves = {curve.agent: curve for curve in env.curves}
    assert curves["nmn"].seeds == 3 and curves["nmn"].steps[-1] == 1000
    # seeds offset the curves by 0, 1, 2: the IQM (here the mean) is the middle one
    assert curves["nmn"].iqm[-1] == pytest.approx(2001.0)
    assert all(low <= value <= high for low, value, high in zip(curves["nmn"].low, curves["nmn"].iqm, curves["nmn"].high))

    text = write_summary(summary, tmp_path)
    assert "| nmn |" in text and "P(row > column)" in text
    assert (tmp_path / MARKDOWN_FILE).read_text() == text
    assert SweepSummary.model_validate_json((tmp_path / JSON_FILE).read_text()) == summary
    assert (tmp_path / curve_file(BANDIT)).read_bytes()[:4] == b"\x89PNG"


# --- a real sweep on a local Ray, killed and resumed ------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Ray's raylet and workers start sessions of their own, so a
    process-group kill alone can miss them), read from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
    return found


def sweep_command(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nmn_bench.sweep.cli", str(config), "--out", str(out), "--num-cpus", "1", *extra]


def test_a_killed_sweep_resumes_without_redoing_finished_trials(tmp_path: Path) -> None:
    """sweeps/quick.yml (two policies x one task x one seed, 4096 steps, a checkpoint every 1024)
    on one CPU, so the trials run one after the other; killed once the second trial has a
    checkpoint, then resumed."""
    document = yaml.safe_load((SWEEPS / "quick.yml").read_text())
    document["evaluate"] |= {"n_tasks": 250, "reps": 500}  # the full set is not the point here
    config, out = tmp_path / "sweep.yml", tmp_path / "out"
    config.write_text(yaml.safe_dump(document))
    environment = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    with open(tmp_path / "first.log", "w") as log:
        sweep = subprocess.Popen(
            sweep_command(config, out), stdout=log, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True,  # its own process group: the kill reaches Ray's processes too
        )
    folders = [trial.folder(out) for trial in load_config(config).trials()]
    deadline = time.monotonic() + 600  # generous: a busy machine slows Ray and the first trial
    while time.monotonic() < deadline and sweep.poll() is None:
        finished = [folder for folder in folders if read_status(folder).evaluated]
        started = [folder for folder in folders if list(folder.glob("checkpoints/model_*_steps.safe.zip"))]
        if len(finished) == 1 and len(started) == 2:
            break
        time.sleep(0.1)
    assert sweep.poll() is None, "the sweep ended before its second trial could be killed"
    tree = descendants(sweep.pid)
    os.killpg(sweep.pid, signal.SIGKILL)
    for pid in tree:  # the trial's worker too, as a crash of the machine would
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    sweep.wait()
    (first,) = finished
    (second,) = [folder for folder in folders if folder != first]
    assert not read_status(second).trained
    first_files = {path: path.stat().st_mtime_ns for path in first.rglob("*") if path.is_file()}

    resumed = subprocess.run(
        sweep_command(config, out, "--resume"), capture_output=True, text=True, env=environment, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    # the finished trial was neither trained nor evaluated again
    assert {path: path.stat().st_mtime_ns for path in first.rglob("*") if path.is_file()} == first_files
    # the interrupted one continued from its latest checkpoint (nmn-train's resume)
    segments = sorted(int(log.name.removeprefix("run_")) for log in (second / "logs").iterdir())
    assert segments[0] == 0 and len(segments) == 2 and segments[1] > 0
    assert read_status(second).evaluated
    summary = SweepSummary.model_validate_json((out / JSON_FILE).read_text())
    assert [agent.agent for agent in summary.envs[0].agents] == ["nmn", "rnn"]
    assert summary.envs[0].missing == []
    assert "# Sweep summary" in resumed.stdout and "| nmn |" in resumed.stdout and "| rnn |" in resumed.stdout
    assert "TERMINATED" in resumed.stdout  # Tune's progress view
