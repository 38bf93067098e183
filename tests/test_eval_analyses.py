"""Analyses: two-step stay probabilities, NMN-Bench3 steering, and the NMN agent's signal z
(trace, lock/unlock)."""

import gymnasium as gym
import numpy as np
import pytest

from evaluate.agents import as_policy
from policies.serialization import save_safe
from evaluate.analyses import (
    LOCK_FILE,
    MODULATION_FILE,
    STAY_FILE,
    STEERING_FILE,
    lock_unlock,
    modulation_trace,
    principal_direction,
    slope_spread,
    write_analyses,
)
from evaluate.references import reference
from evaluate.steering import DIRECTION_BINS, heading_errors, steering

BENCH1 = "NMN-Bench1-v0"
BENCH2 = "NMN-Bench2-v0"
BENCH3 = "NMN-Bench3-v0"


def test_the_bayes_agent_shows_the_model_based_stay_signature(tmp_path):
    markdown = write_analyses(reference("bayes", "NMN-TwoStep-v0"), "NMN-TwoStep-v0", 200, tmp_path)
    rows = {
        line.split("|")[1].strip(): line
        for line in markdown.splitlines()
        if line.startswith(("| common", "| uncommon"))
    }

    def cell(transition, column):
        return float(rows[transition].split("|")[column].split("±")[0])

    assert cell("common", 2) > cell("uncommon", 2) + 0.2  # rewarded: stay after common only
    assert cell("uncommon", 3) > cell("common", 3) + 0.2  # unrewarded: stay after uncommon only
    assert (tmp_path / STAY_FILE).read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def nmn_agent(tmp_path_factory):
    from sb3_contrib import RecurrentPPO

    from policies import NMNPolicy

    model = RecurrentPPO(NMNPolicy, gym.make(BENCH1), n_steps=8, batch_size=8, seed=0, device="cpu")
    path = save_safe(model, tmp_path_factory.mktemp("nmn") / "nmn.safe.zip", env_id=BENCH1)
    return as_policy(str(path))


def test_modulation_trace_has_one_z_per_step_and_task(nmn_agent):
    z, tasks = modulation_trace(nmn_agent, BENCH1, 6, {"max_episode_steps": 30})
    assert z.shape == (6, 30, 20)
    assert len(tasks) == 6
    assert np.all(z >= 0.0)  # z = ReLU(...)


def test_slope_spread_measures_how_far_z_moves_one_plus_z_w_s():
    import torch as th
    from sb3_contrib import RecurrentPPO

    from policies import NMNPolicy

    model = RecurrentPPO(
        NMNPolicy, gym.make(BENCH1), n_steps=8, batch_size=8, seed=0, device="cpu", policy_kwargs={"main_sizes": [6, 4]}
    )
    actor = model.policy.lstm_actor
    with th.no_grad():  # the action is the output layer's bias, whatever the slopes: every measurement plays the same steps
        for part in (actor.layers[-1].weight, actor.layers[-1].scale, actor.layers[-1].shift):
            part.weight.zero_()
    agent = as_policy(model)

    def measure():
        return slope_spread(agent, BENCH1, 4, {"max_episode_steps": 30})

    first = measure()
    assert len(first.deviation) == len(first.below_zero) == 2  # the two hidden layers, not the output
    assert min(first.deviation) > 0.0
    with th.no_grad():
        actor.layers[0].scale.weight.mul_(-3.0)
    turned = measure()
    assert turned.deviation[0] == pytest.approx(3.0 * first.deviation[0], rel=1e-5)
    assert turned.deviation[1] == pytest.approx(first.deviation[1], rel=1e-6)
    with th.no_grad():
        actor.layers[0].scale.weight.zero_()
    assert measure().deviation[0] == 0.0 and measure().below_zero[0] == 0.0


def test_locked_z_stays_fixed_and_released_z_moves(nmn_agent):
    study = lock_unlock(nmn_agent, BENCH1, n_tasks=4, phases=(5, 6, 5))
    z = study.z
    assert z.shape == (4, 16, 20)
    assert np.all(z[:, 5:11] == z[:, 4:5])  # locked at the last adapted value
    assert not np.all(z[:, 11:] == z[:, 4:5])
    assert study.curve.shape == (16,)


def test_write_analyses_plots_z_and_lock_unlock_for_nmn_agents(nmn_agent, tmp_path):
    markdown = write_analyses(nmn_agent, BENCH1, 4, tmp_path, {"max_episode_steps": 30})
    assert "Lock/unlock" in markdown
    for name in (MODULATION_FILE, LOCK_FILE):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_the_modulation_plot_projects_z_on_its_first_principal_component():
    """The direction of largest variance of every ``z`` of every step (the SVD's first right
    singular vector of the centred trace), with one sign whatever the linear algebra library:
    its largest entry is positive. A trace without variance projects on the first unit."""
    rng = np.random.default_rng(0)
    axis = rng.normal(size=20)
    z = rng.normal(size=(64, 200, 1)) * 3.0 * axis + rng.normal(size=(64, 200, 20)) * 0.5
    direction = principal_direction(z)
    flat = z.reshape(-1, 20)
    expected = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)[2][0]
    assert np.allclose(direction, expected) or np.allclose(direction, -expected)
    assert direction[np.argmax(np.abs(direction))] > 0.0
    assert np.allclose(principal_direction(-z), direction)
    assert np.array_equal(principal_direction(np.ones((3, 5, 4))), np.eye(4)[0])


def test_heading_errors_measure_the_angle_to_the_oracle_s_heading_across_due_west():
    actions = np.array([[1.0], [-1.0], [0.0], [0.5], [3.0]])  # west, west, east, north, clipped west
    direction, error = heading_errors(np.full((5, 1), -1.0), actions)  # the oracle heads due west
    np.testing.assert_allclose(np.abs(direction), np.pi)
    np.testing.assert_allclose(error, [0.0, 0.0, np.pi, np.pi / 2, 0.0], atol=1e-12)
    _, error = heading_errors(np.zeros((5, 1)), actions)  # the oracle heads east
    np.testing.assert_allclose(error, [np.pi, np.pi, 0.0, np.pi / 2, np.pi], atol=1e-12)


def test_the_belief_planner_steers_all_round_and_the_feedback_free_rule_hits_both_targets(tmp_path):
    short = {"max_episode_steps": 500}
    planner = write_analyses(reference("bayes", BENCH3), BENCH3, 8, tmp_path, short)
    measured = {name: steering(reference(name, BENCH3), BENCH3, 8, short) for name in ("bayes", "memoryless")}
    assert np.nanmax(measured["bayes"].mean_error) < 1.0  # once it knows the good target it is the oracle
    assert measured["bayes"].hits["good"] > 3 * measured["bayes"].hits["bad"]
    assert measured["memoryless"].hits["bad"] > 0.5 * measured["memoryless"].hits["good"]  # it cannot tell them apart
    assert np.nanmin(measured["memoryless"].mean_error) > 5.0  # many of its trips are to the bad target
    assert measured["bayes"].steps == 400  # the first fifth is left out
    assert f"good {measured['bayes'].hits['good']:.1f}, bad {measured['bayes'].hits['bad']:.1f}" in planner
    (row,) = [line for line in planner.splitlines() if line.startswith("| mean error |")]
    cells = [float(cell) for cell in row.strip("| ").split("|")[1:]]
    np.testing.assert_allclose(cells, measured["bayes"].mean_error, atol=0.05)
    assert len(cells) == DIRECTION_BINS
    assert (tmp_path / STEERING_FILE).read_bytes().startswith(b"\x89PNG")


def test_on_bench2_the_wind_planner_steers_as_the_oracle_and_the_feedback_free_rule_does_not(tmp_path):
    short = {"max_episode_steps": 500}
    report = write_analyses(reference("bayes", BENCH2), BENCH2, 8, tmp_path, short)
    measured = {name: steering(reference(name, BENCH2), BENCH2, 8, short) for name in ("bayes", "memoryless")}
    assert np.nanmax(measured["bayes"].mean_error) < 1.0  # it has inferred the wind
    assert np.nanmin(measured["memoryless"].mean_error) > 2.0  # it ignores the wind's drift
    assert measured["bayes"].hits["target"] > measured["memoryless"].hits["target"]
    assert f"Hits per meta-episode: target {measured['bayes'].hits['target']:.1f}." in report
    assert (tmp_path / STEERING_FILE).read_bytes().startswith(b"\x89PNG")


def test_steering_refuses_a_task_that_changes_and_the_report_leaves_it_out(tmp_path):
    swapping = {"max_episode_steps": 50, "swap_steps": [25]}
    with pytest.raises(ValueError, match=r"measures no run whose task changes \(swap_steps\)"):
        steering(reference("bayes", BENCH3), BENCH3, 2, swapping)
    assert "Steering" not in write_analyses(reference("bayes", BENCH3), BENCH3, 2, tmp_path, swapping)
    assert not (tmp_path / STEERING_FILE).exists()
    windy = {"max_episode_steps": 50, "wind_switch_steps": [25]}
    with pytest.raises(ValueError, match=r"whose task changes \(target_switch_steps, wind_switch_steps\)"):
        steering(reference("bayes", BENCH2), BENCH2, 2, windy)
    with pytest.raises(ValueError, match=r"steering measures \['NMN-Bench2-v0', 'NMN-Bench3-v0'\], not 'NMN-Bench1-v0'"):
        steering(reference("bayes", BENCH1), BENCH1, 2)
