"""NMN-Harlow: objects, rewards, the side schedule, the pools, and that sides leak nothing."""

import itertools
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

from evaluate.oracles import harlow_oracle
from nmn_envs.envs.classic.harlow import BLOCK, FEATURE_SIZE, POOL_SIZE, HarlowTask, object_pool, shuffled_blocks

ARRANGEMENTS = [sides for sides in itertools.product((0, 1), repeat=BLOCK) if sum(sides) == BLOCK // 2]


def bare(**kwargs):
    return gym.make("NMN-Harlow-v0", feedback=False, **kwargs)


def test_each_trial_shows_both_objects_and_pays_five_for_the_rewarded_one():
    env = bare()
    task = HarlowTask(rewarded_object=3, unrewarded_object=10)
    sides = [0, 1, 1, 0, 1, 0]
    observation, _ = env.reset(seed=0, options={"task": task, "state": {"rewarded_sides": sides}})
    pool = object_pool("train").astype(np.float32)
    for trial, side in enumerate(sides):
        left, right = observation[:FEATURE_SIZE], observation[FEATURE_SIZE:]
        shown = (left, right) if side == 0 else (right, left)
        np.testing.assert_array_equal(shown[0], pool[3])
        np.testing.assert_array_equal(shown[1], pool[10])
        choice = side if trial % 2 else 1 - side
        observation, reward, *_ = env.step(choice)
        assert reward == (5.0 if choice == side else -5.0)


def test_sides_come_in_shuffled_blocks_of_three_lefts_and_three_rights():
    vec = gym.make_vec("NMN-Harlow-v0", num_envs=2000, vectorization_mode="vector_entry_point",
                       feedback=False, max_episode_steps=2 * BLOCK)
    vec.reset(seed=5)
    core = vec.unwrapped.core
    blocks = []
    for _ in range(2):
        blocks.append(core.rewarded_sides.copy())
        for _ in range(BLOCK):
            vec.step(np.zeros(2000, dtype=np.int64))
    blocks = np.concatenate(blocks)
    assert np.all(blocks.sum(1) == BLOCK // 2)
    counts = Counter(map(tuple, blocks))
    assert set(counts) == set(ARRANGEMENTS)
    p = 1 / len(ARRANGEMENTS)
    standard_error = np.sqrt(p * (1 - p) / len(blocks))
    assert max(abs(count / len(blocks) - p) for count in counts.values()) < 4 * standard_error


def test_shuffled_blocks_rank_the_uniforms():
    uniforms = np.array([[0.9, 0.1, 0.5, 0.3, 0.7, 0.2]])
    np.testing.assert_array_equal(shuffled_blocks(uniforms), [[1, 0, 1, 0, 1, 0]])


def observation_sequences(task: HarlowTask) -> Counter:
    """The multiset of six-trial observation sequences over all 20 side schedules."""
    env = bare()
    sequences = Counter()
    for sides in ARRANGEMENTS:
        observation, _ = env.reset(seed=0, options={"task": task, "state": {"rewarded_sides": sides}})
        trace = [observation]
        for _ in range(BLOCK - 1):
            trace.append(env.step(0)[0])
        sequences[np.stack(trace).tobytes()] += 1
    return sequences


def test_the_side_schedule_leaks_nothing_about_which_object_is_rewarded():
    """Exactly: every sequence of displays is as likely when object a is rewarded as when b is.

    Under a uniform schedule of three lefts and three rights, swapping which object is
    rewarded maps each schedule onto its mirror image, so the two multisets of what the agent
    sees are equal.
    """
    a_rewarded = observation_sequences(HarlowTask(rewarded_object=4, unrewarded_object=77))
    b_rewarded = observation_sequences(HarlowTask(rewarded_object=77, unrewarded_object=4))
    assert len(a_rewarded) == len(ARRANGEMENTS)
    assert a_rewarded == b_rewarded


def test_sampled_meta_episodes_leak_nothing_either():
    """Statistically: the object first seen on the left is the rewarded one half of the time,
    whatever the left/right pattern that follows, and pool positions carry no reward signal."""
    rows = 4000
    vec = gym.make_vec("NMN-Harlow-v0", num_envs=rows, vectorization_mode="vector_entry_point", feedback=False)
    observation, _ = vec.reset(seed=8)
    first_left = observation[:, :FEATURE_SIZE].copy()
    pattern = []
    for _ in range(BLOCK):
        pattern.append(np.all(observation[:, :FEATURE_SIZE] == first_left, axis=1))
        observation = vec.step(np.zeros(rows, dtype=np.int64))[0]
    pattern = np.stack(pattern, 1)
    pool = object_pool("train").astype(np.float32)
    rewarded = np.array([task.rewarded_object for task in vec.unwrapped.tasks])
    unrewarded = np.array([task.unrewarded_object for task in vec.unwrapped.tasks])
    first_is_rewarded = np.all(first_left == pool[rewarded], axis=1)
    assert abs(first_is_rewarded.mean() - 0.5) < 4 * np.sqrt(0.25 / rows)
    for shape in {tuple(row) for row in pattern}:
        group = first_is_rewarded[np.all(pattern == shape, axis=1)]
        assert abs(group.mean() - 0.5) < 4 * np.sqrt(0.25 / group.size)
    index_error = POOL_SIZE / np.sqrt(12 * rows)
    assert abs(rewarded.mean() - unrewarded.mean()) < 4 * np.sqrt(2) * index_error


def test_objects_are_two_different_members_of_the_pool():
    env = bare()
    rng = np.random.default_rng(0)
    tasks = [env.unwrapped.sample_task(rng) for _ in range(3000)]
    assert all(task.rewarded_object != task.unrewarded_object for task in tasks)
    used = {task.rewarded_object for task in tasks} | {task.unrewarded_object for task in tasks}
    assert len(used) > 0.9 * POOL_SIZE
    with pytest.raises(ValueError, match="two different objects"):
        env.reset(options={"task": {"rewarded_object": 5, "unrewarded_object": 5}})
    with pytest.raises(ValueError, match="whole number"):
        env.reset(options={"task": {"rewarded_object": 5.5, "unrewarded_object": 6}})


def test_train_and_test_pools_are_fixed_and_disjoint():
    train, test = object_pool("train"), object_pool("test")
    assert train.shape == test.shape == (POOL_SIZE, FEATURE_SIZE)
    assert np.all(np.abs(train) <= 1.0)
    assert not set(map(bytes, train)) & set(map(bytes, test))
    task = HarlowTask(rewarded_object=1, unrewarded_object=2)
    observation, _ = bare(pool="test").reset(seed=0, options={"task": task})
    assert {observation[:FEATURE_SIZE].tobytes(), observation[FEATURE_SIZE:].tobytes()} == {
        test[1].astype(np.float32).tobytes(), test[2].astype(np.float32).tobytes()
    }


def test_bad_side_schedules_are_refused():
    env = bare()
    for sides, message in (([0, 0, 0, 0, 1, 1], "three lefts"), ([0, 1, 2, 0, 1, 1], "values in"),
                           ([0, 1], "values in")):
        with pytest.raises(ValueError, match=message):
            env.reset(options={"state": {"rewarded_sides": sides}})


@pytest.mark.parametrize("pool", ["train", "test"])
def test_the_oracle_always_wins_and_guess_then_stick_earns_twenty_five(pool):
    rows = 3000
    vec = gym.make_vec("NMN-Harlow-v0", num_envs=rows, vectorization_mode="vector_entry_point",
                       feedback=False, pool=pool)
    observation, _ = vec.reset(seed=2)
    oracle_return = np.zeros(rows)
    for _ in range(BLOCK):
        observation, rewards, *_ = vec.step(harlow_oracle(observation, vec.unwrapped.tasks))
        oracle_return += rewards
    assert np.all(oracle_return == 5.0 * BLOCK)

    observation, _ = vec.reset(seed=3)
    left, right = observation[:, :FEATURE_SIZE], observation[:, FEATURE_SIZE:]
    observation, returns, *_ = vec.step(np.zeros(rows, dtype=np.int64))  # guess: left
    remembered = np.where((returns > 0)[:, None], left, right)  # the rewarded object
    for _ in range(BLOCK - 1):
        on_left = np.all(observation[:, :FEATURE_SIZE] == remembered, axis=1)
        observation, rewards, *_ = vec.step(np.where(on_left, 0, 1))
        assert np.all(rewards == 5.0)
        returns += rewards
    assert abs(returns.mean() - 25.0) < 4 * 5.0 / np.sqrt(rows)
