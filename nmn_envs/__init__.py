"""nmn-bench environments: meta-RL task distributions as registered Gymnasium environments.

Importing this package registers every id, so that ``gymnasium.make("NMN-Bench2-v0")`` works;
``gymnasium.make("nmn_envs:NMN-Bench2-v0")`` works without the import.

==================  =====================================================  ==========
id                  task distribution                                      steps
==================  =====================================================  ==========
NMN-Bench1-v0       moving target with a hidden offset                     1400
NMN-Bench2-v0       navigation on a torus with a hidden wind               4000
NMN-Bench3-v0       two targets, one good and one bad, which is hidden     5000
==================  =====================================================  ==========
"""

from nmn_envs.moving_target import MovingTargetEnv, MovingTargetTask
from nmn_envs.registration import make_task_env, make_task_vector_env, register_task
from nmn_envs.tasks import Task
from nmn_envs.two_targets import TwoTargetsEnv, TwoTargetsTask
from nmn_envs.views import TaskEnv, TaskVectorEnv
from nmn_envs.wind_navigation import WindNavigationEnv, WindNavigationTask
from nmn_envs.wrappers import FeedbackVectorWrapper, FeedbackWrapper

__version__ = "0.1.0"

BENCHMARKS: dict[str, tuple[type[TaskEnv], int]] = {
    "NMN-Bench1-v0": (MovingTargetEnv, 1400),
    "NMN-Bench2-v0": (WindNavigationEnv, 4000),
    "NMN-Bench3-v0": (TwoTargetsEnv, 5000),
}

for _env_id, (_env_class, _steps) in BENCHMARKS.items():
    register_task(_env_id, _env_class, _steps)

__all__ = [
    "BENCHMARKS",
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
