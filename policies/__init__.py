"""Policies for sb3-contrib RecurrentPPO: the NMN policy and the RNN baselines.

Example::

    import gymnasium as gym
    import nmn_envs
    from sb3_contrib import RecurrentPPO
    from policies import NMNPolicy

    env = gym.make("NMN-Bench1-v0", max_episode_steps=400)
    model = RecurrentPPO(NMNPolicy, env, policy_kwargs={"cell": "lstm"}, gamma=0.998, gae_lambda=0.98)
    model.learn(100_000)

``nmn-train`` (:mod:`training.train`) trains with the per-environment hyperparameters of
``policies/hyperparams``; the ``lstm`` baseline there is sb3-contrib's own LSTM policy
(:class:`LSTMPolicy`, which may take the package's heads).
"""

from policies.action_head import HeadedRecurrentPolicy
from policies.lstm import LSTMPolicy
from policies.nmn import NeuromodulatedLinear, NeuromodulatedNetwork, NMNPolicy
from policies.recurrent import RecurrentStack, StackedRecurrentPolicy
from policies.rnn import RNNPolicy

__all__ = [
    "HeadedRecurrentPolicy",
    "LSTMPolicy",
    "NMNPolicy",
    "NeuromodulatedLinear",
    "NeuromodulatedNetwork",
    "RNNPolicy",
    "RecurrentStack",
    "StackedRecurrentPolicy",
]
