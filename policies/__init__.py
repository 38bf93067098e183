"""Policies for sb3-contrib RecurrentPPO: the NMN policy and the RNN baselines."""
