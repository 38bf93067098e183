"""The task distributions, one family a folder, each task's dynamics written once as a batched core.

* :mod:`nmn_envs.envs.nmn`: the three benchmarks of the NMN paper (moving target, wind
  navigation, two targets) and the torus arena that Bench2 and Bench3 share;
* :mod:`nmn_envs.envs.classic`: the classic meta-RL tasks of Wang et al. (bandits, two-step
  task, Harlow);
* :mod:`nmn_envs.envs.maml`: the tasks of the gradient-based meta-RL line (2D navigation,
  HalfCheetah direction and velocity).

The machinery they share (cores, views, random streams, wrappers, registration) lies one level
up, in :mod:`nmn_envs`.
"""
