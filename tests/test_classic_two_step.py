"""NMN-TwoStep: transitions, rewards, drifting good state and trial marks."""

import gymnasium as gym
import numpy as np
import pytest

from evaluate.two_step_analysis import stay_table
from nmn_envs.envs.classic.two_step import TwoStepTask

S1, S2, S3 = np.eye(3, dtype=np.float32)


def within(observed: np.ndarray, p: float) -> bool:
    """Whether the frequency of ``observed`` lies within 4 standard errors of ``p``."""
    return abs(observed.mean() - p) < 4 * np.sqrt(p * (1 - p) / observed.size)


def play_trials(rows: int, trials: int, first_actions: np.ndarray, seed: int = 1, **kwargs):
    """Second-stage states (0 for S2), rewards and good states over ``trials`` trials of each row."""
    vec = gym.make_vec("NMN-TwoStep-v0", num_envs=rows, vectorization_mode="vector_entry_point",
                       feedback=False, max_episode_steps=2 * trials, **kwargs)
    vec.reset(seed=seed)
    states, rewards, good = [], [], []
    for _ in range(trials):
        good.append([task.good_state for task in vec.unwrapped.tasks])
        observation = vec.step(first_actions)[0]
        states.append(np.argmax(observation, axis=1) - 1)
        rewards.append(vec.step(np.zeros(rows, dtype=np.int64))[1])
    return np.array(states), np.array(rewards), np.array(good)


def test_common_transitions_have_probability_point_eight():
    actions = np.arange(600) % 2
    states, _, _ = play_trials(600, 20, actions)
    assert within(states == actions, 0.8)


def test_rewards_pay_point_nine_in_the_good_state_and_point_one_elsewhere():
    states, rewards, good = play_trials(600, 20, np.zeros(600, dtype=np.int64), swap_probability=0.0)
    in_good = states == good
    assert within(rewards[in_good], 0.9) and within(rewards[~in_good], 0.1)


def test_good_state_starts_as_a_fair_coin_and_swaps_with_probability_0_025():
    _, _, good = play_trials(800, 40, np.zeros(800, dtype=np.int64), seed=2)
    assert within(good[0], 0.5)
    assert within(good[1:] != good[:-1], 0.025)


def test_hand_built_second_stage_pays_by_the_good_state():
    env = gym.make("NMN-TwoStep-v0", feedback=False, reward_probability=1.0)
    for good, second, reward in ((1, 1, 1.0), (1, 0, 0.0), (0, 0, 1.0), (0, 1, 0.0)):
        observation, info = env.reset(
            seed=0, options={"task": {"good_state": good}, "state": {"stage": 1, "second_state": second}}
        )
        np.testing.assert_array_equal(observation, (S2, S3)[second])
        assert info == {"trial_start": False}
        observation, paid, *_, info = env.step(0)
        assert paid == reward and info == {"trial_start": True}
        np.testing.assert_array_equal(observation, S1)


def test_sure_transitions_follow_the_action_and_pay_nothing():
    env = gym.make("NMN-TwoStep-v0", feedback=False, common_probability=1.0)
    for action, state in ((0, S2), (1, S3)):
        env.reset(seed=0)
        observation, reward, *_, info = env.step(action)
        np.testing.assert_array_equal(observation, state)
        assert reward == 0.0 and info == {"trial_start": False}


def test_second_stage_action_does_not_matter():
    def rewards(second_actions):
        env = gym.make("NMN-TwoStep-v0")
        env.reset(seed=9)
        paid = []
        for action in second_actions:
            env.step(0)
            paid.append(env.step(action)[1])
        return paid

    assert rewards([0] * 50) == rewards([1] * 50)


def test_trial_start_marks_every_return_to_s1():
    env = gym.make("NMN-TwoStep-v0")
    observation, _ = env.reset(seed=4)
    for step in range(200):
        assert observation["trial_start"][0] == float(np.array_equal(observation["observation"], S1))
        assert observation["trial_start"][0] == float(step % 2 == 0)
        observation, *_ = env.step(step % 3 % 2)


@pytest.mark.parametrize(
    ("state", "message"),
    [({"stage": 2, "second_state": 0}, "stage"), ({"stage": 0, "second_state": True}, "second_state")],
)
def test_bad_hand_built_states_are_refused(state, message):
    env = gym.make("NMN-TwoStep-v0")
    with pytest.raises(ValueError, match=message):
        env.reset(options={"state": state})


def test_the_task_tracks_the_current_good_state():
    env = gym.make("NMN-TwoStep-v0", feedback=False, swap_probability=1.0)
    env.reset(seed=0, options={"task": TwoStepTask(good_state=0)})
    env.step(0)
    assert env.unwrapped.task == TwoStepTask(good_state=0)
    env.step(0)
    assert env.unwrapped.task == TwoStepTask(good_state=1)


def test_stay_table_counts_a_hand_built_sequence():
    # trials: (action, landing state, reward): (0, S2, 1) common rewarded, then stay;
    # (0, S3, 1) uncommon rewarded, then switch; (1, S3, 0) common unrewarded, then stay; (1, S2, 0).
    trials = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 0.0), (1, 1, 0.0)]
    observations, actions, rewards = [], [], []
    for action, state, reward in trials:
        observations += [S1, np.eye(3)[state]]
        actions += [action, 0]
        rewards += [0.0, reward]
    table = stay_table(np.array(observations), np.array(actions), np.array(rewards))
    assert table.trials == {("common", "rewarded"): 1, ("uncommon", "rewarded"): 1,
                            ("common", "unrewarded"): 1, ("uncommon", "unrewarded"): 0}
    assert table.probability("common", "rewarded") == 1.0
    assert table.probability("uncommon", "rewarded") == 0.0
    assert table.probability("common", "unrewarded") == 1.0
    assert np.isnan(table.probability("uncommon", "unrewarded"))
    with pytest.raises(ValueError, match="alternate"):
        stay_table(np.array(observations[1:] + [S1]), np.array(actions), np.array(rewards))


def play_two_step(choose, rows: int = 300, seed: int = 0):
    """Play full meta-episodes with ``choose(belief_in_s2, previous trial) -> actions``."""
    vec = gym.make_vec("NMN-TwoStep-v0", num_envs=rows, vectorization_mode="vector_entry_point", feedback=False)
    observation, _ = vec.reset(seed=seed)
    belief = np.full(rows, 0.5)  # P(S2 is good)
    previous = (np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64), np.ones(rows))
    observations, actions, rewards = [], [], []
    for _ in range(100):
        first = choose(belief, previous)
        observations.append(observation)
        observation, reward, *_ = vec.step(first)
        actions.append(first)
        rewards.append(reward)
        landed = np.argmax(observation, axis=1) - 1
        observations.append(observation)
        observation, reward, *_ = vec.step(np.zeros(rows, dtype=np.int64))
        actions.append(np.zeros(rows, dtype=np.int64))
        rewards.append(reward)
        supports_s2 = (landed == 0) == (reward > 0)
        likelihood_s2 = np.where(supports_s2, 0.9, 0.1)
        posterior = belief * likelihood_s2 / (belief * likelihood_s2 + (1 - belief) * (1 - likelihood_s2))
        belief = posterior * (1 - 0.025) + (1 - posterior) * 0.025
        previous = (first, landed, reward)
    return stay_table(np.stack(observations, 1), np.stack(actions, 1), np.stack(rewards, 1))


def test_a_belief_filter_agent_shows_the_model_based_signature():
    table = play_two_step(lambda belief, previous: np.where(belief >= 0.5, 0, 1))
    for outcome, sign in (("rewarded", 1), ("unrewarded", -1)):
        gap = table.probability("common", outcome) - table.probability("uncommon", outcome)
        error = np.hypot(table.standard_error("common", outcome), table.standard_error("uncommon", outcome))
        assert sign * gap > 4 * error, (outcome, gap, error)


def test_win_stay_lose_shift_shows_no_transition_effect():
    def win_stay(belief, previous):
        action, _, reward = previous
        return np.where(reward > 0, action, 1 - action)

    table = play_two_step(win_stay)
    for transition in ("common", "uncommon"):
        assert table.probability(transition, "rewarded") == 1.0
        assert table.probability(transition, "unrewarded") == 0.0
