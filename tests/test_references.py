"""Reference agents: seeded random actions, the Bench2 wind belief, the Bench2/3 references' labels."""

import numpy as np
import pytest

from evaluate import bounds
from evaluate.references import REFERENCE_NAMES, WindNavigationPlanner, reference
from evaluate.rollout import play
from evaluate.task_sets import task_set


def test_random_agent_is_reproducible():
    tasks, seeds = task_set("NMN-Bandit-v0").head(8)
    first = play(reference("random", "NMN-Bandit-v0"), "NMN-Bandit-v0", tasks, seeds).returns
    second = play(reference("random", "NMN-Bandit-v0"), "NMN-Bandit-v0", tasks, seeds).returns
    assert np.array_equal(first, second)


def test_wind_planner_infers_the_wind_from_its_own_displacements():
    env_id, kwargs = "NMN-Bench2-v0", {"max_episode_steps": 60}
    tasks, seeds = task_set(env_id).head(32)
    planner = WindNavigationPlanner()
    play(planner, env_id, tasks, seeds, kwargs)
    truth = np.array([task.wind_direction for task in tasks])
    error = np.angle(np.exp(1j * (planner.believed_wind - truth)))
    # After dozens of gusts spread over pi/2, the arc intersection is a few hundredths wide.
    assert np.max(np.abs(error)) < 0.1


@pytest.mark.parametrize("env_id", ["NMN-Bench2-v0", "NMN-Bench3-v0"])
def test_belief_references_are_labelled_and_close_to_the_oracle(env_id):
    kwargs = {"max_episode_steps": 400}
    found = {bound.name: bound for bound in bounds(env_id, n_tasks=32, **kwargs)}
    assert found["bayes"].kind == "reference" and found["bayes"].standard_error is not None
    assert found["oracle"].kind == "ceiling"
    tasks, seeds = task_set(env_id).head(32)
    random = play(reference("random", env_id), env_id, tasks, seeds, kwargs).returns.mean()
    share = (found["bayes"].value - random) / (found["oracle"].value - random)
    assert share > 0.9


def test_unknown_reference_names_are_refused():
    with pytest.raises(ValueError, match="unknown reference agent"):
        reference("greedy", "NMN-Bench1-v0")
    with pytest.raises(ValueError, match="no bayes agent for NMN-Navigation2D-v0"):
        reference("bayes", "NMN-Navigation2D-v0")
    assert REFERENCE_NAMES == ("random", "oracle", "bayes", "memoryless")
