"""Evaluation harness: score agents against RNN baselines and Bayes-optimal bounds."""
