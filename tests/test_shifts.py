"""Shifted task distributions (SPEC 10): named shifts, their task sets, bounds and the generalisation gap."""

import gymnasium as gym
import numpy as np
import pytest

import nmn_envs  # noqa: F401  (registers the ids)
from evaluate import bounds, load_result
from evaluate.cli import main
from evaluate.generalisation import _gap_interval
from evaluate.harness import evaluate
from evaluate.exact import (
    MOVING_TARGET_PROBE,
    moving_target_loss,
    moving_target_memoryless_value,
    moving_target_probe,
    moving_target_value,
)
from evaluate.references import reference
from evaluate.rollout import play
from evaluate.shifts import SHIFTS, check_same_spaces, get_shift, shifts
from evaluate.task_sets import (
    SHIFT_PINNED,
    SET_SIZE,
    shift_seed,
    shift_task_set,
    task_set,
    validation_set,
)
from tests.test_bounds_moving_target import brute_force_value

ALL_SHIFTS = [shift for listed in SHIFTS.values() for shift in listed]


# ---------------------------------------------------------------------------- named shifts
def test_every_listed_shift_keeps_the_spaces_and_changes_the_distribution():
    for env_id, listed in SHIFTS.items():
        found = shifts(env_id)
        assert sorted(found) == sorted(shift.name for shift in listed)
        for shift in found.values():
            plain, shifted = gym.make(env_id), gym.make(env_id, **shift.env_kwargs())
            assert plain.observation_space == shifted.observation_space
            assert plain.action_space == shifted.action_space
            assert len(shift.description) > 80
            with pytest.raises(TypeError):
                shift.kwargs["extra"] = 1  # read-only


def test_the_issue_s_shifts_are_there():
    assert get_shift("NMN-Bench1-v0", "wider").env_kwargs() == {"offset_limit": 15.0}
    assert get_shift("NMN-Bench1-v0", "switching").env_kwargs()["switch_probability"] > 0
    assert set(shifts("NMN-Bandit-v0")) == {"dependent", "easy", "medium", "hard"}
    assert "wind_switch_steps" in get_shift("NMN-Bench2-v0", "wind_switch").kwargs
    assert "swap_steps" in get_shift("NMN-Bench3-v0", "swap").kwargs
    assert get_shift("NMN-TwoStep-v0", "frequent_swaps").kwargs["swap_probability"] > 0.025
    assert get_shift("NMN-Harlow-v0", "held_out_objects").env_kwargs() == {"pool": "test"}
    assert get_shift("NMN-Navigation2D-v0", "wider_goals").env_kwargs() == {"goal_half_width": 1.0}
    assert get_shift("NMN-HalfCheetahVel-v0", "faster").env_kwargs() == {"velocity_range": [2.0, 3.0]}
    assert shifts("NMN-HalfCheetahDir-v0") == {}  # a direction is +1 or -1: nothing lies outside


def test_bad_shift_names_say_what_is_allowed():
    with pytest.raises(ValueError, match=r"unknown shift 'widr' for NMN-Bench1-v0; its shifts: \['switching', 'wider'\]"):
        get_shift("NMN-Bench1-v0", "widr")
    with pytest.raises(ValueError, match=r"'wider' for NMN-Bench2-v0 \(a shift of NMN-Bench1-v0\)"):
        get_shift("NMN-Bench2-v0", "wider")
    with pytest.raises(ValueError, match="its shifts: none"):
        get_shift("NMN-HalfCheetahDir-v0", "faster")
    with pytest.raises(gym.error.NameNotFound):
        shifts("CartPole-v1")


def test_kwargs_that_change_the_spaces_are_refused():
    with pytest.raises(ValueError, match="change the observation_space of NMN-Bench1-v0"):
        check_same_spaces("NMN-Bench1-v0", {"feedback": False})
    with pytest.raises(ValueError, match="do not make NMN-Bench1-v0"):
        check_same_spaces("NMN-Bench1-v0", {"offset_limit": 16.0})


# ---------------------------------------------------------------------------- offset_limit
def test_offset_limit_widens_bench1_in_the_single_and_the_vector_env():
    wide = gym.make("NMN-Bench1-v0", offset_limit=15.0)
    offsets = [wide.unwrapped.sample_task(np.random.default_rng(i)).offset for i in range(400)]
    assert max(np.abs(offsets)) > 14.0 and max(np.abs(offsets)) <= 15.0
    vec = gym.make_vec("NMN-Bench1-v0", num_envs=64, vectorization_mode="vector_entry_point", offset_limit=15.0)
    vec.reset(seed=3)
    drawn = vec.unwrapped.core.task_params["offset"]
    assert np.abs(drawn).max() > 10.0 and np.abs(drawn).max() <= 15.0
    default = gym.make("NMN-Bench1-v0")
    default_offsets = [default.unwrapped.sample_task(np.random.default_rng(i)).offset for i in range(400)]
    assert max(np.abs(default_offsets)) <= 10.0
    # a task is checked against the env's own support
    wide.reset(options={"task": {"offset": 12.5}})
    assert wide.unwrapped.task.offset == 12.5
    with pytest.raises(ValueError, match=r"support \[-10.0, 10.0\] \(offset_limit=10.0\)"):
        default.reset(options={"task": {"offset": 12.5}})
    for bad in (0.0, 15.5, "15", True, float("nan")):
        with pytest.raises(ValueError, match=r"offset_limit must be a number in \(0, 15.0\]"):
            gym.make("NMN-Bench1-v0", offset_limit=bad)


# ---------------------------------------------------------------------------- task sets
def test_every_shift_has_a_pinned_task_set_with_seeds_of_its_own():
    seen: dict[int, str] = {}
    for env_id in SHIFTS:
        for label, tasks in (("evaluation", task_set(env_id)), ("validation", validation_set(env_id))):
            for seed in tasks.seeds:
                seen[seed] = f"{env_id} {label}"
    for shift in ALL_SHIFTS:
        shifted = shift_task_set(shift)
        assert shifted.version == f"{shift.env_id}/{shift.name}/v1"
        assert SHIFT_PINNED[shifted.version] == shifted.sha256
        assert len(shifted) == SET_SIZE and shifted.generator_seed == shift_seed(shift)
        clashes = {seen[seed] for seed in shifted.seeds if seed in seen}
        assert not clashes, f"{shifted.version} shares seeds with {clashes}"
        seen.update({seed: shifted.version for seed in shifted.seeds})
    wider = shift_task_set(get_shift("NMN-Bench1-v0", "wider"))
    assert max(abs(task.offset) for task in wider.tasks) > 14.0


def test_a_shift_set_refuses_kwargs_that_clash_with_the_shift():
    wider = get_shift("NMN-Bench1-v0", "wider")
    with pytest.raises(ValueError, match=r"\['offset_limit'\] clash with the shift 'wider'"):
        shift_task_set(wider, offset_limit=12.0)
    longer = shift_task_set(wider, max_episode_steps=50)
    assert longer.sha256 == SHIFT_PINNED["NMN-Bench1-v0/wider/v1"]


# ---------------------------------------------------------------------------- bounds under a shift
def test_wider_offsets_have_an_exact_bound_above_every_simple_strategy():
    found = {bound.name: bound for bound in bounds("NMN-Bench1-v0", offset_limit=15, max_episode_steps=400)}
    bayes = found["bayes"]
    assert bayes.kind == "exact" and bayes.standard_error is None
    assert bayes.value == pytest.approx(4000 - 22.55)
    assert moving_target_probe(400, 15.0) == pytest.approx(7.5)
    # the best feedback-free policy, the default distribution's probe, and every other probe
    assert bayes.value > moving_target_memoryless_value(400, 15.0) + 6000
    default_probe = 10 * 400 - moving_target_loss(MOVING_TARGET_PROBE, 15.0, 400)
    never_capped = 10 * 400 - moving_target_loss(5.0, 15.0, 400)  # no probe miss reaches the cap
    assert bayes.value > default_probe and bayes.value > never_capped
    for probe in np.linspace(0.0, 14.0, 57):
        assert moving_target_loss(float(probe), 15.0, 400) >= 22.55 - 1e-9
    assert bayes.value < found["oracle"].value == 4000.0
    # the default distribution keeps its value, and a wider one is harder
    assert moving_target_value(400) == pytest.approx(4000 - 17.69375)
    assert moving_target_value(400, 12.0) < moving_target_value(400)


@pytest.mark.parametrize(("horizon", "unit"), [(1, 0.05), (2, 0.25), (3, 0.5)])
def test_wider_offsets_bound_against_brute_force(horizon, unit):
    """A probe miss of 20 or more only says so (the cap): on U[-15, 15] the search then starts
    again on what is left. The discretised optimum (every policy, capped outcomes merged) lies
    below the supremum by no more than the grid's cost (a hedge a whole unit inside the radius)."""
    exact, brute = moving_target_value(horizon, 15.0), brute_force_value(horizon, unit, 15.0)
    assert -1e-9 <= exact - brute <= 0.25 * unit + 1e-9


@pytest.mark.parametrize("horizon", [2, 30])
def test_bayes_agent_attains_the_wider_bound(horizon):
    """Monte Carlo of the bayes agent on the wider shift's task set: within 3 standard errors,
    with capped probe misses among the tasks (offsets below 7.5 - 20)."""
    kwargs = {"max_episode_steps": horizon}
    wider = get_shift("NMN-Bench1-v0", "wider")
    tasks, seeds = shift_task_set(wider, **kwargs).head(1000)
    assert sum(task.offset < -12.5 for task in tasks) > 50
    kwargs.update(wider.env_kwargs())
    returns = play(reference("bayes", "NMN-Bench1-v0", **kwargs), "NMN-Bench1-v0", tasks, seeds, kwargs).returns
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - moving_target_value(horizon, 15.0)) < 3 * error
    memoryless = play(reference("memoryless", "NMN-Bench1-v0", **kwargs), "NMN-Bench1-v0", tasks, seeds, kwargs).returns
    memoryless_error = memoryless.std(ddof=1) / np.sqrt(memoryless.size)
    assert abs(memoryless.mean() - moving_target_memoryless_value(horizon, 15.0)) < 3 * memoryless_error


def test_the_bayes_agent_readapts_after_a_switch():
    """With switches the bayes agent reads the miss of its stale offset as a probe of the new
    one: it keeps most of the oracle's return, far above probing afresh from nothing."""
    kwargs = {"max_episode_steps": 200, **get_shift("NMN-Bench1-v0", "switching").env_kwargs()}
    tasks, seeds = shift_task_set(get_shift("NMN-Bench1-v0", "switching"), max_episode_steps=200).head(200)
    returns = play(reference("bayes", "NMN-Bench1-v0", **kwargs), "NMN-Bench1-v0", tasks, seeds, kwargs)
    hits = (returns.step_rewards > 0).mean()
    assert hits > 0.75
    switched_misses = (returns.step_rewards[:, 10:] < 0).mean()
    assert 0.0 < switched_misses < 0.25


def test_bounds_of_the_other_shifts_are_named_for_what_they_are():
    for name in ("dependent", "easy", "medium", "hard"):
        (bayes,) = [b for b in bounds("NMN-Bandit-v0", **get_shift("NMN-Bandit-v0", name).env_kwargs()) if b.name == "bayes"]
        assert bayes.kind == "exact"
    swaps = get_shift("NMN-TwoStep-v0", "frequent_swaps").env_kwargs()
    two_step = {b.name: b for b in bounds("NMN-TwoStep-v0", **swaps)}
    assert two_step["bayes"].kind == "exact"
    assert two_step["bayes"].value < {b.name: b for b in bounds("NMN-TwoStep-v0")}["bayes"].value


@pytest.mark.parametrize(("env_id", "shift_name", "steps"), [("NMN-Bench2-v0", "wind_switch", 2400), ("NMN-Bench3-v0", "swap", 3000)])
def test_the_references_know_a_switch_of_the_shifted_prior(env_id, shift_name, steps):
    """After the switch the bayes reference earns per step what it earned before it (it knows
    when the task changes), where a planner that ignored the switch would lose its way."""
    shift = get_shift(env_id, shift_name)
    kwargs = {"max_episode_steps": steps, **shift.env_kwargs()}
    tasks, seeds = shift_task_set(shift, max_episode_steps=steps).head(20)
    rewards = play(reference("bayes", env_id, **kwargs), env_id, tasks, seeds, kwargs).step_rewards
    switch = next(iter(shift.kwargs.values()))[0]
    before, after = rewards[:, 400:switch].mean(), rewards[:, switch:].mean()
    assert after > 0.8 * before > 0


# ---------------------------------------------------------------------------- scoring
def _cli(*arguments: str) -> list[str]:
    return ["--n-tasks", "20", "--reps", "200", "--max-episode-steps", "60", "--no-progress", "--baseline", "none", *arguments]


def test_nmn_eval_scores_every_shift_with_its_gap(tmp_path, capsys):
    main(["NMN-Bench1-v0", "--agent", "memoryless", "--shift", "all", "--out", str(tmp_path), *_cli()])
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| wider") or line.startswith("| switching")]
    assert len(rows) == 2
    inside = load_result(tmp_path / "in_distribution" / "result.json")
    assert inside.shift is None and inside.task_set.version == "NMN-Bench1-v0/v1"
    wider = load_result(tmp_path / "wider" / "result.json")
    assert wider.shift.name == "wider" and wider.shift.kwargs == {"offset_limit": 15.0}
    assert wider.env_kwargs["offset_limit"] == 15.0
    assert wider.task_set.version == "NMN-Bench1-v0/wider/v1"
    assert wider.task_set.sha256 == SHIFT_PINNED["NMN-Bench1-v0/wider/v1"]
    assert wider.bound("bayes").kind == "exact"
    assert wider.bound("bayes").value == pytest.approx(moving_target_value(60, 15.0))
    # the gap is the in-distribution score minus the shifted score, with the bootstrap's interval
    gap = wider.shift.generalisation_gap
    assert gap.agent == "memoryless" and gap.in_distribution_task_set == inside.task_set
    expected = inside.agent.normalised_score.value - wider.agent.normalised_score.value
    assert gap.normalised.value == pytest.approx(expected)
    assert gap.normalised.low < gap.normalised.value < gap.normalised.high
    assert f"{gap.normalised.value:.3f}" in rows[0]
    # the memoryless agent has no adaptation to lose: its adaptation scores are 0 on both sides
    assert gap.adaptation.value == pytest.approx(0.0, abs=0.15)
    switching = load_result(tmp_path / "switching" / "result.json")
    assert switching.bound("bayes").kind == "reference"


def test_a_gap_interval_comes_from_the_bootstrap_of_both_sets():
    rng = np.random.default_rng(0)
    inside, outside = rng.normal(10.0, 2.0, 400), rng.normal(6.0, 2.0, 400)
    interval = _gap_interval(inside, (0.0, 10.0), outside, (0.0, 10.0), 2000, 0)
    assert interval.value == pytest.approx((inside.mean() - outside.mean()) / 10.0)
    error = np.hypot(inside.std(ddof=1), outside.std(ddof=1)) / np.sqrt(400) / 10.0
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * error, rel=0.15)


@pytest.mark.parametrize(
    ("env_id", "arguments", "message"),
    [
        ("NMN-Bench1-v0", ["--shift", "widr"], r"unknown shift 'widr' for NMN-Bench1-v0; its shifts: \['switching', 'wider'\]"),
        ("NMN-Bench2-v0", ["--shift", "wider"], r"\(a shift of NMN-Bench1-v0\); its shifts: \['wind_switch'\]"),
        ("NMN-HalfCheetahDir-v0", ["--shift", "all"], r"NMN-HalfCheetahDir-v0 has no shifts; envs with shifts: \["),
        ("NMN-Harlow-v0", ["--shift", "held_out_objects", "--env-kwarg", "pool=train"], r"\['pool'\] clash with the shift"),
        ("NMN-Bench1-v0", ["--shift", "wider", "--env-kwarg", "feedback=false"], "change the observation_space"),
        ("NMN-Bench1-v0", ["--shift", "all", "--env-kwarg", "offset_limit=12"], r"\['offset_limit'\] clash with the shift 'wider'"),
    ],
)
def test_bad_shift_input_is_refused_in_one_line_before_anything_plays(tmp_path, env_id, arguments, message):
    out = tmp_path / "report"
    with pytest.raises(SystemExit, match=message) as caught:
        main([env_id, "--agent", "bayes", "--out", str(out), *_cli(*arguments)])
    assert "\n" not in str(caught.value)
    assert not out.exists()  # refused before the report folder, let alone any play


def test_the_harness_takes_a_shift_by_name():
    result = evaluate("bayes", "NMN-Bandit-v0", n_tasks=20, reps=100, shift="easy", references=("random",))
    assert result.shift.name == "easy" and result.env_kwargs["variant"] == "easy"
    assert result.task_set.version == "NMN-Bandit-v0/easy/v1"
    assert result.bound("bayes").kind == "exact"
    with pytest.raises(ValueError, match="takes no private_seed"):
        evaluate("bayes", "NMN-Bandit-v0", n_tasks=5, shift="easy", private_seed=123)


# ---------------------------------------------------------------------------- the other tasks' shifts
def test_goal_half_width_widens_navigation2d_and_its_support():
    wide = gym.make("NMN-Navigation2D-v0", goal_half_width=1.0)
    goals = np.array([list(wide.unwrapped.sample_task(np.random.default_rng(i)).to_dict().values()) for i in range(400)])
    assert 0.9 < np.abs(goals).max() <= 1.0
    assert 0.6 < np.mean(np.abs(goals).max(axis=1) > 0.5) < 0.9  # three in four outside the training square
    wide.reset(options={"task": {"goal_x": 0.9, "goal_y": -0.8}})
    with pytest.raises(ValueError, match=r"support \[-0.5, 0.5\] \(goal_half_width=0.5\)"):
        gym.make("NMN-Navigation2D-v0").reset(options={"task": {"goal_x": 0.9, "goal_y": -0.8}})
    for bad in (0.0, 1.5, "1", True):
        with pytest.raises(ValueError, match=r"goal_half_width must be a number in \(0, 1.0\]"):
            gym.make("NMN-Navigation2D-v0", goal_half_width=bad)
    # the attainable rewards follow the goal square (the board bounds returns by them)
    assert wide.unwrapped.core.reward_range[0] < gym.make("NMN-Navigation2D-v0").unwrapped.core.reward_range[0]


def test_velocity_range_moves_half_cheetah_vel_targets():
    faster = gym.make("NMN-HalfCheetahVel-v0", **get_shift("NMN-HalfCheetahVel-v0", "faster").env_kwargs())
    targets = [faster.unwrapped.sample_task(np.random.default_rng(i)).target_velocity for i in range(200)]
    assert 2.0 <= min(targets) and max(targets) <= 3.0
    default = gym.make("NMN-HalfCheetahVel-v0")
    same = [default.unwrapped.sample_task(np.random.default_rng(i)).target_velocity for i in range(20)]
    assert same == [2.0 * np.random.default_rng(i).random() for i in range(20)]  # MAML's U[0, 2], unchanged
    with pytest.raises(ValueError, match=r"support \[0.0, 2.0\]"):
        default.reset(options={"task": {"target_velocity": 2.5}})
    for bad in ((3.0, 2.0), (0.0, 5.0), "ab", 2.0):
        with pytest.raises(ValueError, match=r"velocity_range must be two numbers \(low, high\) with 0 <= low < high <= 4.0"):
            gym.make("NMN-HalfCheetahVel-v0", velocity_range=bad)
    faster.close()
    default.close()


@pytest.mark.parametrize(
    ("env_id", "name"),
    [
        ("NMN-Bandit-v0", "dependent"),
        ("NMN-Bandit-v0", "hard"),
        ("NMN-TwoStep-v0", "frequent_swaps"),
        ("NMN-Harlow-v0", "held_out_objects"),
    ],
)
def test_the_bayes_reference_attains_the_exact_shifted_bound(env_id, name):
    """Monte Carlo of the bayes agent, told the shifted prior, on the shift's own 1000 tasks:
    within 3 standard errors of the exact value of the shifted distribution."""
    shift = get_shift(env_id, name)
    kwargs = shift.env_kwargs()
    tasks, seeds = shift_task_set(shift).head(1000)
    returns = play(reference("bayes", env_id, **kwargs), env_id, tasks, seeds, kwargs).returns
    bound = {found.name: found for found in bounds(env_id, **kwargs)}["bayes"]
    assert bound.kind == "exact"
    error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - bound.value) < 3 * error


def test_harlow_gap_plays_the_training_objects_against_the_held_out_ones(tmp_path, capsys):
    main(["NMN-Harlow-v0", "--agent", "bayes", "--shift", "all", "--out", str(tmp_path), *_cli()])
    inside = load_result(tmp_path / "in_distribution" / "result.json")
    held_out = load_result(tmp_path / "held_out_objects" / "result.json")
    assert inside.env_kwargs["pool"] == "train" and held_out.env_kwargs["pool"] == "test"
    assert inside.task_set.version == "NMN-Harlow-v0/v1"
    assert held_out.task_set.sha256 == SHIFT_PINNED["NMN-Harlow-v0/held_out_objects/v1"]
    # the bayes agent follows the rule, whatever the objects: no gap beyond the bootstrap's
    gap = held_out.shift.generalisation_gap.normalised
    assert gap.low < 0.0 < gap.high
    assert "| held_out_objects | {'pool': 'test'} |" in capsys.readouterr().out


def test_navigation2d_gap_is_normalised_to_the_oracle(tmp_path, capsys):
    main(["NMN-Navigation2D-v0", "--agent", "memoryless", "--shift", "all", "--out", str(tmp_path), *_cli()])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| wider_goals"))
    wider = load_result(tmp_path / "wider_goals" / "result.json")
    inside = load_result(tmp_path / "in_distribution" / "result.json")
    gap = wider.shift.generalisation_gap
    assert gap.normalised_to == "oracle" and wider.normaliser["oracle"] == wider.bound("oracle").value
    assert wider.bound("oracle").kind == "ceiling" and wider.env_kwargs["goal_half_width"] == 1.0

    def on_oracle_scale(result, zero):
        zero = result.normaliser[zero]
        return (result.agent.mean.value - zero) / (result.bound("oracle").value - zero)

    def gap_from(zero):
        return on_oracle_scale(inside, zero) - on_oracle_scale(wider, zero)

    assert gap.normalised.value == pytest.approx(gap_from("random"))
    # the memoryless agent is the adaptation scale's 0 on both task sets: no adaptation to lose
    assert gap.adaptation.value == pytest.approx(gap_from("memoryless"))
    assert gap.adaptation.value == pytest.approx(0.0, abs=1e-12)
    assert f"{gap.normalised.value:.3f}" in row
