"""The PettingZoo suite: API conformance, shared tasks, what agents see of each other, no leaks."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import error
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from evaluate.exact import moving_target_value
from evaluate.team_references import MovingTargetTeam
from nmn_envs import multiagent
from nmn_envs.multiagent import MULTIAGENT_IDS, OTHERS_KEYS, make_team_vector_env

# Long meta-episodes are cut so that the API tests also see the end of one.
SHORT = {"NMN-Bench1-v0": 40, "NMN-Bench2-v0": 40, "NMN-Bench3-v0": 40}


def kwargs_of(env_id):
    return {"max_episode_steps": SHORT[env_id]} if env_id in SHORT else {}


@pytest.mark.filterwarnings("ignore::UserWarning")  # PettingZoo's style hints and its dummy option
@pytest.mark.parametrize("observe_others", [True, False])
@pytest.mark.parametrize("env_id", MULTIAGENT_IDS)
def test_pettingzoo_api(env_id, observe_others):
    kwargs = kwargs_of(env_id)
    parallel_api_test(multiagent.parallel_env(env_id, 2, observe_others, **kwargs), num_cycles=300)
    parallel_seed_test(lambda: multiagent.parallel_env(env_id, 3, observe_others, **kwargs), 100)
    api_test(multiagent.env(env_id, 2, observe_others, **kwargs), num_cycles=300)


def random_play(env, seed, steps):
    """Observations and rewards of ``steps`` seeded random joint actions (reset with ``seed``)."""
    observations, _ = env.reset(seed=seed)
    for index, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(seed + index)
    trace = [observations]
    for _ in range(steps):
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        observations, rewards, *_ = env.step(actions)
        trace.append((actions, observations, rewards))
    return trace


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("NMN-Bench1-v0", {"switch_probability": 0.5}),
        ("NMN-Bench2-v0", {"wind_switch_steps": [3, 7], "target_switch_steps": [5]}),
        ("NMN-Bench3-v0", {"swap_steps": [4]}),
        ("NMN-Bandit-v0", {"variant": "dependent", "swap_steps": [6]}),
        ("NMN-TwoStep-v0", {"swap_probability": 0.3}),
        ("NMN-Harlow-v0", {}),
        ("NMN-Navigation2D-v0", {}),
    ],
)
def test_agent_0_plays_the_single_agent_env_and_the_team_shares_its_task(env_id, kwargs):
    """agent_0 seeded ``s`` sees what the single-agent id seeded ``s`` shows for the same actions,
    switches included; every agent plays that task at every step; same seed, same run."""
    team = multiagent.parallel_env(env_id, 3, max_episode_steps=12, **kwargs)
    single = gym.make(env_id, max_episode_steps=12, **kwargs)
    trace = random_play(team, 7, 12)
    observation, _ = single.reset(seed=7)
    np.testing.assert_array_equal(observation["observation"], trace[0]["agent_0"]["observation"])
    rows = team.team.core.task_table
    for actions, observations, rewards in trace[1:]:
        observation, reward, *_ = single.step(actions["agent_0"])
        for key, value in observation.items():
            np.testing.assert_array_equal(value, observations["agent_0"][key])
        assert reward == rewards["agent_0"]
        assert np.all(rows == rows[0])
    again = random_play(multiagent.parallel_env(env_id, 3, max_episode_steps=12, **kwargs), 7, 12)
    for (_, first, first_rewards), (_, second, second_rewards) in zip(trace[1:], again[1:]):
        assert first_rewards == second_rewards
        for agent in first:
            for key in first[agent]:
                np.testing.assert_array_equal(first[agent][key], second[agent][key])


def test_agents_have_their_own_streams_and_see_each_others_previous_step():
    env = multiagent.parallel_env("NMN-Bench1-v0", 3, max_episode_steps=5)
    trace = random_play(env, 0, 4)
    start = trace[0]
    assert len({float(start[agent]["observation"][0]) for agent in env.possible_agents}) == 3
    for agent in env.possible_agents:
        for key in OTHERS_KEYS:
            assert not np.any(start[agent][key])
    previous = start
    for actions, observations, rewards in trace[1:]:
        for index, agent in enumerate(env.possible_agents):
            others = [other for other in env.possible_agents if other != agent]
            seen = observations[agent]
            for slot, other in enumerate(others):
                played = np.clip(actions[other], -1.0, 1.0)
                np.testing.assert_array_equal(seen["others_prev_action"][slot], played)
                np.testing.assert_array_equal(
                    seen["others_prev_action"][slot], observations[other]["prev_action"]
                )
                assert seen["others_prev_reward"][slot, 0] == np.float32(rewards[other])
                np.testing.assert_array_equal(
                    seen["others_observation"][slot], previous[other]["observation"]
                )
        previous = observations
    observations, _ = env.reset()
    assert not any(np.any(observations[agent][key]) for agent in env.agents for key in OTHERS_KEYS)


def test_others_actions_are_one_hot_as_played_for_discrete_tasks():
    env = multiagent.parallel_env("NMN-Bandit-v0", 2)
    env.reset(seed=1)
    observations, *_ = env.step({"agent_0": 1, "agent_1": 0})
    np.testing.assert_array_equal(observations["agent_0"]["others_prev_action"], [[1.0, 0.0]])
    np.testing.assert_array_equal(observations["agent_1"]["others_prev_action"], [[0.0, 1.0]])


@pytest.mark.parametrize("env_id", MULTIAGENT_IDS)
def test_the_task_never_leaks(env_id):
    """Keys are the documented ones, infos hold no task, and two tasks look alike at reset."""
    env = multiagent.parallel_env(env_id, 2, **kwargs_of(env_id))
    rng = np.random.default_rng(0)
    tasks = [env.sample_task(rng)]
    while len(tasks) < 2:
        task = env.sample_task(rng)
        tasks += [task] if task != tasks[0] else []
    shown = []
    for task in tasks:
        observations, infos = env.reset(seed=3, options={"task": task})
        assert env.task == task
        shown.append((observations, infos))
        for agent in env.agents:
            expected = set(gym.make(env_id).observation_space.spaces) | set(OTHERS_KEYS)
            assert set(observations[agent]) == expected
            assert set(infos[agent]) <= {"trial_start", "trial"}
    if env_id not in ("NMN-Harlow-v0", "NMN-Bench2-v0", "NMN-Bench3-v0"):  # these show the task
        for agent in env.possible_agents:
            for key, value in shown[0][0][agent].items():
                np.testing.assert_array_equal(value, shown[1][0][agent][key])


def test_vector_teams_share_a_task_per_team_and_reset_whole_teams():
    env = make_team_vector_env("NMN-Bandit-v0", num_teams=3, num_agents=2, variant="dependent")
    tasks = [{"arm0_probability": p, "arm1_probability": 1 - p} for p in (0.1, 0.5, 0.9)]
    env.reset(seed=0, options={"tasks": tasks})
    assert [task.arm0_probability for task in env.tasks] == [0.1, 0.5, 0.9]
    np.testing.assert_array_equal(env.unwrapped.core.task_table[:, 0], [0.1, 0.1, 0.5, 0.5, 0.9, 0.9])
    with pytest.raises(ValueError, match="whole teams"):
        env.reset(options={"reset_mask": np.array([True, False, False, False, False, False])})
    with pytest.raises(ValueError, match="3 teams"):
        env.reset(options={"tasks": tasks[:2]})


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="native batched cores"):
        multiagent.parallel_env("NMN-HalfCheetahDir-v0")
    with pytest.raises(ValueError, match="num_agents"):
        multiagent.parallel_env("NMN-Bench1-v0", num_agents=0)
    with pytest.raises(ValueError, match="feedback=False"):
        multiagent.parallel_env("NMN-Bench1-v0", feedback=False)
    env = multiagent.parallel_env("NMN-Bench1-v0", 2, max_episode_steps=1)
    with pytest.raises(error.ResetNeeded):
        env.step({"agent_0": [0.0], "agent_1": [0.0]})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="one action for each"):
        env.step({"agent_0": [0.0]})
    with pytest.raises(ValueError, match="NaN"):
        env.step({"agent_0": [np.nan], "agent_1": [0.0]})
    with pytest.raises(ValueError, match="options\\['states'\\]"):
        env.reset(options={"states": {"agent_7": {"position": 0.0}}})
    env.reset(options={"states": {"agent_1": {"position": 2.5}}})
    *_, truncations, _ = env.step({"agent_0": [0.0], "agent_1": [0.0]})
    assert truncations == {"agent_0": True, "agent_1": True} and env.agents == []
    with pytest.raises(error.ResetNeeded):
        env.step({"agent_0": [0.0], "agent_1": [0.0]})


def test_render_draws_the_agents_side_by_side():
    env = multiagent.parallel_env("NMN-Bench1-v0", 2, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    single = gym.make("NMN-Bench1-v0", render_mode="rgb_array")
    single.reset(seed=0)
    height, width, _ = single.render().shape
    assert frame.shape == (height, 2 * width, 3) and frame.dtype == np.uint8


def test_two_agents_read_the_offset_off_each_others_probe():
    """Bench1 information flow: two scripted agents probe once each, then hit at every step.

    Each reads the offset off its own probe and the other's (observation, action and reward
    in ``others_*``): two misses at different distances intersect in one candidate, so no
    hedging step is needed, and each beats the single-agent Bayes bound (which must hedge).
    """
    env = multiagent.parallel_env("NMN-Bench1-v0", 2, max_episode_steps=20)
    agents = MovingTargetTeam()
    agents.reset(env.team)
    returns = []
    for seed in range(300):
        observations, _ = env.reset(seed=seed)
        total = np.zeros(2)
        start = np.ones(2, dtype=bool)
        for step in range(20):
            batch = {key: np.stack([observations[a][key] for a in env.agents]) for key in observations["agent_0"]}
            actions = agents.act(batch, start)
            observations, rewards, *_ = env.step(dict(zip(env.agents, actions)))
            if step >= 1:
                assert rewards == {"agent_0": 10.0, "agent_1": 10.0}
            total += list(rewards.values())
            start[:] = False
        returns.append(total)
    per_agent = np.asarray(returns)
    error_of_mean = per_agent.std(ddof=1) / np.sqrt(per_agent.shape[0])
    assert np.all(per_agent.mean(axis=0) > moving_target_value(20) + 3 * error_of_mean)
