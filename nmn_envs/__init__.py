"""nmn-bench environments: meta-RL task distributions as registered Gymnasium environments.

Importing this package registers every id, so that ``gymnasium.make("NMN-Bench2-v0")`` works;
``gymnasium.make("nmn_envs:NMN-Bench2-v0")`` works without the import.

==================  =====================================================  ==========
id                  task distribution                                      steps
==================  =====================================================  ==========
NMN-Bench1-v0       moving target with a hidden offset                     1400
NMN-Bench2-v0       navigation on a torus with a hidden wind               4000
NMN-Bench3-v0       two targets, one good and one bad, which is hidden     5000
NMN-Bandit-v0       two-armed Bernoulli bandit (``variant`` kwarg)          100
NMN-TwoStep-v0      two-step task, 100 trials of two steps                  200
NMN-Harlow-v0       Harlow task, 6 trials with two new objects              6
NMN-Navigation2D-v0 2D point-mass navigation, 2 trials of 100 steps         200
NMN-HalfCheetahDir  MuJoCo HalfCheetah, run forward or backward             400
NMN-HalfCheetahVel  MuJoCo HalfCheetah, run at a target velocity            400
==================  =====================================================  ==========

:data:`ENV_IDS` maps every id to its meta-episode length (the registered ``max_episode_steps``).
The two HalfCheetah ids (``-v0``) need the ``mujoco`` extra and have no native vector env.
:mod:`nmn_envs.multiagent` offers every id with a native vector env to several agents at once
(PettingZoo), all facing one hidden task and seeing each other.
"""

from gymnasium import Env
from gymnasium.error import NameNotFound

from nmn_envs.envs.classic.bandit import BanditEnv, BanditTask
from nmn_envs.envs.maml.half_cheetah import (
    HalfCheetahDirEnv,
    HalfCheetahDirTask,
    HalfCheetahVelEnv,
    HalfCheetahVelTask,
)
from nmn_envs.envs.classic.harlow import HarlowEnv, HarlowTask
from nmn_envs.envs.nmn.moving_target import MovingTargetEnv, MovingTargetTask
from nmn_envs.envs.maml.navigation2d import Navigation2DEnv, Navigation2DTask
from nmn_envs.registration import (
    DEFAULT_TRIALS_PER_TASK,
    make_task_env,
    make_task_vector_env,
    register_task,
)
from nmn_envs.tasks import Task
from nmn_envs.envs.classic.two_step import TwoStepEnv, TwoStepTask
from nmn_envs.envs.nmn.two_targets import TwoTargetsEnv, TwoTargetsTask
from nmn_envs.views import TaskEnv, TaskVectorEnv
from nmn_envs.envs.nmn.wind_navigation import WindNavigationEnv, WindNavigationTask
from nmn_envs.wrappers import FeedbackVectorWrapper, FeedbackWrapper

__version__ = "0.1.0"

BENCHMARKS: dict[str, tuple[type[TaskEnv], int]] = {
    "NMN-Bench1-v0": (MovingTargetEnv, 1400),
    "NMN-Bench2-v0": (WindNavigationEnv, 4000),
    "NMN-Bench3-v0": (TwoTargetsEnv, 5000),
}

CLASSIC_TASKS: dict[str, tuple[type[TaskEnv], int]] = {
    "NMN-Bandit-v0": (BanditEnv, 100),
    "NMN-TwoStep-v0": (TwoStepEnv, 200),
    "NMN-Harlow-v0": (HarlowEnv, 6),
    "NMN-Navigation2D-v0": (Navigation2DEnv, 100 * DEFAULT_TRIALS_PER_TASK),
}

MUJOCO_TASKS: dict[str, tuple[type[Env], int]] = {
    "NMN-HalfCheetahDir-v0": (HalfCheetahDirEnv, 200 * DEFAULT_TRIALS_PER_TASK),
    "NMN-HalfCheetahVel-v0": (HalfCheetahVelEnv, 200 * DEFAULT_TRIALS_PER_TASK),
}

ENV_IDS: dict[str, int] = {
    env_id: steps
    for table in (BENCHMARKS, CLASSIC_TASKS, MUJOCO_TASKS)
    for env_id, (_, steps) in table.items()
}
"""Every registered id and its meta-episode length (the registered ``max_episode_steps``)."""


class UnknownEnvironment(NameNotFound, ValueError):
    """An id that is not an environment of the suite (Gymnasium's ``NameNotFound``, and a ``ValueError``)."""


def check_env_id(env_id: str) -> None:
    """Refuse an id that is not an environment of the suite (unknown, or another package's)."""
    if env_id not in ENV_IDS:
        raise UnknownEnvironment(f"unknown environment id {env_id!r}; the suite's ids: {sorted(ENV_IDS)}")

for _table in (BENCHMARKS, CLASSIC_TASKS, MUJOCO_TASKS):
    for _env_id, (_env_class, _steps) in _table.items():
        register_task(_env_id, _env_class, _steps)

__all__ = [
    "BENCHMARKS",
    "CLASSIC_TASKS",
    "ENV_IDS",
    "MUJOCO_TASKS",
    "UnknownEnvironment",
    "check_env_id",
    "BanditEnv",
    "BanditTask",
    "HalfCheetahDirEnv",
    "HalfCheetahDirTask",
    "HalfCheetahVelEnv",
    "HalfCheetahVelTask",
    "HarlowEnv",
    "HarlowTask",
    "Navigation2DEnv",
    "Navigation2DTask",
    "TwoStepEnv",
    "TwoStepTask",
    "FeedbackVectorWrapper",
    "FeedbackWrapper",
    "MovingTargetEnv",
    "MovingTargetTask",
    "Task",
    "TaskEnv",
    "TaskVectorEnv",
    "TwoTargetsEnv",
    "TwoTargetsTask",
    "WindNavigationEnv",
    "WindNavigationTask",
    "make_task_env",
    "make_task_vector_env",
]
