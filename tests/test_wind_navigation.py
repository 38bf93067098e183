"""NMN-Bench2 rules: zone entry, respawn without moving, wind, wrap-around; distributions."""

import numpy as np
import pytest

from nmn_envs import WindNavigationEnv
from nmn_envs.envs.nmn.arena import wrap


def placed(target, wind: float, position, **kwargs) -> WindNavigationEnv:
    env = WindNavigationEnv(**kwargs)
    task = {"target_x": target[0], "target_y": target[1], "wind_direction": wind}
    env.reset(seed=0, options={"task": task, "state": {"position": position}})
    return env


def test_entering_the_zone_pays_and_respawns_without_moving():
    env = placed((0.0, 0.0), 1.0, (0.4, 0.0))  # exactly on the zone's edge
    observation, reward, *_ = env.step(np.array([0.0]))
    assert reward == 100.0
    position = env.core.position[0]
    assert np.linalg.norm(position) > 0.6 and np.all(np.abs(position) <= 1.5)
    assert np.allclose(observation, -position)


def test_outside_the_zone_costs_two_and_moves_with_the_wind():
    env = placed((0.0, 0.0), 0.5, (1.0, -1.0))
    observation, reward, *_ = env.step(np.array([0.5]))  # heading pi/2
    assert reward == -2.0
    own = 0.25 * np.array([np.cos(np.pi / 2), np.sin(np.pi / 2)])
    gust = env.core.position[0] - np.array([1.0, -1.0]) - own
    assert np.linalg.norm(gust) == pytest.approx(0.25)
    assert abs(np.angle(np.exp(1j * (np.arctan2(gust[1], gust[0]) - 0.5)))) <= np.pi / 4 + 1e-9


def test_gusts_spread_uniformly_around_the_main_direction():
    wind = 2.0
    env = placed((0.0, 0.0), wind, (-1.9, 1.9))
    deviations = []
    for _ in range(3000):
        env.core.apply_state(0, {"position": (-1.9, 1.9)})
        env.step(np.array([0.0]))
        gust = wrap(env.core.position[0] - np.array([-1.9, 1.9]) - np.array([0.25, 0.0]))
        deviations.append(np.angle(np.exp(1j * (np.arctan2(gust[1], gust[0]) - wind))))
    deviations = np.array(deviations)
    half = np.pi / 4
    assert np.all(np.abs(deviations) <= half + 1e-9)
    se = (2 * half / np.sqrt(12)) / np.sqrt(deviations.size)
    assert abs(deviations.mean()) < 4 * se
    assert abs(deviations.std() - 2 * half / np.sqrt(12)) < 4 * se * np.sqrt(0.8)


def test_leaving_one_side_reenters_at_the_opposite_side():
    env = placed((0.0, 0.0), 0.0, (1.95, 0.0))
    env.step(np.array([0.0]))  # own move +0.25 in x, wind within 45 degrees of +x
    x, y = env.core.position[0]
    assert -2.0 <= x < -1.5
    gust = np.array([x + 4.0 - 1.95 - 0.25, y])
    assert np.linalg.norm(gust) == pytest.approx(0.25)


def test_observation_is_the_plain_difference():
    env = placed((0.5, -0.5), 0.0, (-1.8, 1.8))
    observation = env.core.observe()[0]
    np.testing.assert_allclose(observation, [2.3, -2.3], rtol=1e-6)


def test_switch_steps_redraw_target_and_wind():
    env = placed((0.0, 0.0), 1.0, (1.9, 1.9), target_switch_steps=[2], wind_switch_steps=[3])
    start = env.task
    env.step(np.array([1.0]))
    env.step(np.array([1.0]))
    assert env.task == start
    env.step(np.array([1.0]))
    after_target = env.task
    assert (after_target.target_x, after_target.target_y) != (0.0, 0.0)
    assert after_target.wind_direction == 1.0
    env.step(np.array([1.0]))
    assert env.task.wind_direction != 1.0


def test_start_is_uniform_outside_the_clearance_disc():
    env = WindNavigationEnv()
    task = {"target_x": 0.0, "target_y": 0.0, "wind_direction": 0.0}
    distances, lefts = [], []
    for seed in range(4000):
        observation, _ = env.reset(seed=seed, options={"task": task})
        position = -observation.astype(np.float64)
        assert np.all(np.abs(position) <= 1.5)
        distances.append(np.linalg.norm(position))
        lefts.append(position[0] < 0)
    distances = np.array(distances)
    assert distances.min() > 0.6
    inside_one = np.mean(distances < 1.0)
    expected = (np.pi * (1.0 - 0.36)) / (9.0 - np.pi * 0.36)
    se = np.sqrt(expected * (1 - expected) / distances.size)
    assert abs(inside_one - expected) < 4 * se
    assert abs(np.mean(lefts) - 0.5) < 4 * np.sqrt(0.25 / len(lefts))


def test_task_distribution_is_uniform():
    env = WindNavigationEnv()
    tasks = [env.sample_task(np.random.default_rng(seed)) for seed in range(3000)]
    winds = np.array([task.wind_direction for task in tasks])
    targets = np.array([[task.target_x, task.target_y] for task in tasks])
    n = len(tasks)
    assert abs(winds.mean() - np.pi) < 4 * (2 * np.pi / np.sqrt(12)) / np.sqrt(n)
    assert np.all(np.abs(targets.mean(axis=0)) < 4 * (2 / np.sqrt(12)) / np.sqrt(n))
    assert np.all(np.abs(targets) <= 1.0) and np.all((winds >= 0) & (winds < 2 * np.pi))
