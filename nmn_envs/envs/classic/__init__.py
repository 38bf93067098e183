"""The classic meta-RL tasks of Wang et al. (2016, 2018): two-armed bandits, two-step task, Harlow."""
