"""Interval estimates reproduce exactly for a given seed and leave NumPy's global state alone."""

import numpy as np

from evaluate.stats import improvement_interval, iqm_interval, mean_interval


def test_same_seed_same_interval_and_global_state_untouched():
    returns = np.random.default_rng(0).normal(size=500)
    baseline = returns + np.random.default_rng(1).normal(0.1, 1.0, size=500)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for estimate, args in ((mean_interval, (returns,)), (iqm_interval, (returns,)),
                           (improvement_interval, (returns, baseline))):
        first = estimate(*args, reps=300, seed=4)
        assert first == estimate(*args, reps=300, seed=4)
        assert first != estimate(*args, reps=300, seed=5)
        assert first.low <= first.value <= first.high
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_mean_interval_covers_the_sample_mean_with_the_normal_width():
    returns = np.random.default_rng(2).normal(10.0, 2.0, size=2000)
    interval = mean_interval(returns, reps=1000, seed=0)
    se = returns.std(ddof=1) / np.sqrt(returns.size)
    assert interval.value == returns.mean()
    # a percentile bootstrap of a mean is close to mean +- 1.96 s.e.
    assert abs((interval.high - interval.low) - 2 * 1.96 * se) < 0.2 * 2 * 1.96 * se
