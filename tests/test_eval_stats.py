"""Interval estimates reproduce exactly for a given seed and leave NumPy's global state alone."""

import numpy as np
import pytest

from evaluate.stats import improvement_interval, iqm_interval, mean_interval, spread_ratio_interval


def test_same_seed_same_interval_and_global_state_untouched():
    returns = np.random.default_rng(0).normal(size=500)
    baseline = returns + np.random.default_rng(1).normal(0.1, 1.0, size=500)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for estimate, args in ((mean_interval, (returns,)), (iqm_interval, (returns,)),
                           (improvement_interval, (returns, baseline)),
                           (spread_ratio_interval, (returns, baseline))):
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


def test_the_spread_ratio_interval_has_the_normal_theory_width_on_the_log_scale():
    rng = np.random.default_rng(3)
    n = 400
    narrow, wide = rng.normal(0.0, 1.0, n), rng.normal(5.0, 2.0, n)
    interval = spread_ratio_interval(narrow, wide, reps=2000, seed=0)
    assert interval.value == pytest.approx(narrow.std(ddof=1) / wide.std(ddof=1))
    assert interval.low < 0.5 < interval.high  # the true ratio of the spreads
    # for normal samples the log of a sample spread has variance 1 / (2 (n - 1)): the log ratio
    # of two independent ones has standard error sqrt(1 / (n - 1)), and a 95% CI about 3.92 of them
    log_width = np.log(interval.high / interval.low)
    assert abs(log_width - 2 * 1.96 / np.sqrt(n - 1)) < 0.2 * 2 * 1.96 / np.sqrt(n - 1)


def test_a_few_seeds_give_an_honest_wide_interval_and_no_spread_is_refused():
    few = spread_ratio_interval(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.1, 1.2]), reps=500)
    # a resample that repeats one baseline seed has no spread: the upper end is infinite, not nan
    assert few.low == 0.0 and few.high == np.inf and few.value == pytest.approx(10.0)
    with pytest.raises(ValueError, match="runs that differ in each set"):
        spread_ratio_interval(np.array([1.0, 2.0]), np.array([4.0, 4.0]))


def test_the_probability_of_improvement_is_rliables_and_so_is_its_interval():
    from rliable import metrics

    from evaluate.stats import bootstrap_interval, score_column, probability_of_improvement

    rng = np.random.default_rng(3)
    for shape_x, shape_y in (((200, 1), (150, 1)), ((7, 3), (5, 3))):
        x = rng.integers(0, 6, shape_x).astype(float)  # many ties, as with discrete returns
        y = rng.integers(0, 6, shape_y).astype(float)
        assert probability_of_improvement(x, y) == metrics.probability_of_improvement(x, y)
        assert probability_of_improvement(y, x) == metrics.probability_of_improvement(y, x)
    same = rng.normal(size=(9, 2))
    assert probability_of_improvement(same, same) == metrics.probability_of_improvement(same, same) == 0.5
    returns, baseline = rng.normal(1.0, 2.0, 120), rng.integers(-2, 3, 90).astype(float)
    columns = [score_column(returns), score_column(baseline)]
    assert improvement_interval(returns, baseline, reps=300, seed=5) == bootstrap_interval(
        columns, metrics.probability_of_improvement, 300, 5
    )


def test_the_interquartile_mean_is_rliables_and_so_is_its_interval():
    from rliable import metrics

    from evaluate.stats import score_column, bootstrap_interval, interquartile_mean

    rng = np.random.default_rng(4)
    for size in (2, 3, 4, 7, 100, 1001):
        scores = rng.normal(size=(size, 1)) * 1000.0
        scores[: size // 3] = scores[0]  # ties
        assert interquartile_mean(scores) == metrics.aggregate_iqm(scores)
    returns = rng.exponential(10.0, 300)
    assert iqm_interval(returns, reps=300, seed=2) == bootstrap_interval(score_column(returns), metrics.aggregate_iqm, 300, 2)
