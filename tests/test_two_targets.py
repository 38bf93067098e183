"""NMN-Bench3 rules: the closer target counts, good/bad rewards, respawn distance, swaps."""

import numpy as np
import pytest

from nmn_envs import TwoTargetsEnv


def placed(first, second, good: int, position, **kwargs) -> TwoTargetsEnv:
    env = TwoTargetsEnv(**kwargs)
    task = {"target0_x": first[0], "target0_y": first[1], "target1_x": second[0],
            "target1_y": second[1], "good_target": good}
    env.reset(seed=0, options={"task": task, "state": {"position": position}})
    return env


@pytest.mark.parametrize(("good", "expected"), [(0, -50.0), (1, 100.0)])
def test_the_closer_of_two_reached_targets_counts(good, expected):
    env = placed((0.0, 0.0), (0.5, 0.0), good, (0.3, 0.0))  # 0.3 from g0, 0.2 from g1
    _, reward, *_ = env.step(np.array([0.0]))
    assert reward == expected


def test_reaching_respawns_far_from_both_targets_without_moving():
    for seed in range(200):
        env = placed((0.0, 0.0), (0.8, 0.8), 0, (0.1, 0.1))
        env.reset(seed=seed, options={"task": env.task, "state": {"position": (0.1, 0.1)}})
        observation, reward, *_ = env.step(np.array([0.0]))
        assert reward == 100.0
        position = env.core.position[0]
        assert np.linalg.norm(position) > 0.6 and np.linalg.norm(position - 0.8) > 0.6
        assert np.all(np.abs(position) <= 1.5)
        np.testing.assert_allclose(observation, np.r_[-position, 0.8 - position], rtol=1e-5)


def test_moving_pays_nothing_and_wraps():
    env = placed((0.0, 0.0), (0.5, 0.5), 0, (-1.9, 0.0))
    _, reward, *_ = env.step(np.array([1.0]))  # heading pi: -x
    assert reward == 0.0
    np.testing.assert_allclose(env.core.position[0], [1.85, 0.0], atol=1e-12)


def test_swap_steps_exchange_good_and_bad():
    env = placed((0.0, 0.0), (0.9, 0.9), 0, (-1.5, -1.5), swap_steps=[1])
    env.step(np.array([0.0]))
    assert env.task.good_target == 0
    env.step(np.array([0.0]))
    assert env.task.good_target == 1


def test_good_target_is_a_fair_coin():
    env = TwoTargetsEnv()
    goods = []
    for seed in range(2000):
        env.reset(seed=seed)
        task = env.task
        goods.append(task.good_target)
        position = env.core.position[0]
        for k in (0, 1):
            target = np.array([getattr(task, f"target{k}_x"), getattr(task, f"target{k}_y")])
            assert np.linalg.norm(position - target) > 0.6
    assert abs(np.mean(goods) - 0.5) < 4 * np.sqrt(0.25 / len(goods))
