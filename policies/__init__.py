"""Policies for sb3-contrib RecurrentPPO: the NMN policy and the RNN baselines."""

from policies.nmn import NeuromodulatedLinear, NeuromodulatedNetwork, NMNPolicy
from policies.recurrent import RecurrentStack, StackedRecurrentPolicy
from policies.rnn import RNNPolicy

__all__ = [
    "NMNPolicy",
    "NeuromodulatedLinear",
    "NeuromodulatedNetwork",
    "RNNPolicy",
    "RecurrentStack",
    "StackedRecurrentPolicy",
]
