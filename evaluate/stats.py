"""Interval estimates through rliable: mean, IQM and probability of improvement, with 95% CIs.

Each meta-episode is one run of one environment, so an agent's returns form a
``(n_tasks, 1)`` score matrix; rliable's stratified bootstrap resamples the meta-episodes.
Every bootstrap is seeded with ``seed``, so the same returns give the same interval. rliable's
stratified bootstraps draw their indices from NumPy's global generator whatever ``random_state``
they are given; the subclasses here draw them from the bootstrap's own
``numpy.random.Generator`` instead, so that calls in several threads at once (the leaderboard
server validates submissions in threads) neither share nor disturb any state.

rliable and SciPy are imported when a bootstrap first runs, not with this module: their imports
(arch, pandas, statsmodels, SciPy's statistics) take seconds, and an ``nmn-eval`` whose intervals
all come from its cache needs none of them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from evaluate.schema import Interval

DEFAULT_REPS = 2000
DEFAULT_SEED = 0
CONFIDENCE = 0.95


@functools.cache
def _bootstraps() -> tuple[Any, Any]:
    """rliable's stratified bootstrap and its independent variant, each subclassed to draw its
    indices from its own generator (built once, on first use)."""
    from rliable import library as rly

    class LocalStratifiedBootstrap(rly.StratifiedBootstrap):
        """rliable's stratified bootstrap, drawing its indices from its own generator."""

        def update_indices(self) -> tuple[np.ndarray, ...]:
            indices = self.generator.choice(self._num_items, self._args_shape, replace=True)
            return (indices, *self._strata_indices)

    class LocalStratifiedIndependentBootstrap(rly.StratifiedIndependentBootstrap):
        """rliable's independent stratified bootstrap, drawing its indices from its own
        generator."""

        def _get_indices(
            self, num_runs: int, array_shape: tuple[int, ...], strata_indices: list[np.ndarray]
        ) -> tuple[np.ndarray, ...]:
            return (self.generator.choice(num_runs, array_shape, replace=True), *strata_indices)

    return LocalStratifiedBootstrap, LocalStratifiedIndependentBootstrap


def bootstrap_interval(
    scores: np.ndarray | list[np.ndarray],
    aggregate: Callable[..., float],
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """``aggregate`` of ``scores`` with its 95% percentile stratified-bootstrap interval.

    Args:
        scores: one ``(runs, 1)`` score matrix (:func:`score_column`), resampled by rliable's
            stratified bootstrap; or a list of them, each resampled on its own (rliable's
            independent stratified bootstrap: independent sets of runs, such as two task sets).
        aggregate: maps the matrices (one argument each) to a number.
        reps: bootstrap resamples.
        seed: seed of the bootstrap's own generator.
    """
    matrices = scores if isinstance(scores, list) else [scores]
    stratified, independent = _bootstraps()
    bootstrap_class = independent if isinstance(scores, list) else stratified
    bootstrap = bootstrap_class(*matrices, seed=np.random.default_rng(seed))
    value = float(aggregate(*matrices))
    intervals = bootstrap.conf_int(
        lambda *resampled: np.array([aggregate(*resampled)]),
        reps=reps,
        size=CONFIDENCE,
        method="percentile",
    )
    low, high = intervals[:, 0]
    return Interval(
        value=value, low=min(float(low), value), high=max(float(high), value), confidence=CONFIDENCE
    )


def score_column(returns: np.ndarray) -> np.ndarray:
    """``returns`` as the ``(runs, 1)`` score matrix of rliable (one task, one run per meta-episode).

    Raises:
        ValueError: for fewer than two returns or a return that is not finite.
    """
    values = np.asarray(returns, dtype=np.float64).reshape(-1, 1)
    if values.shape[0] < 2 or not np.all(np.isfinite(values)):
        raise ValueError("interval estimates need at least two finite returns")
    return values


def interquartile_mean(scores: np.ndarray) -> float:
    """rliable's ``metrics.aggregate_iqm`` (the 25% trimmed mean of all scores), computed as
    SciPy's ``trim_mean`` computes it (a partition, then the mean of the middle half) without
    its per-call dispatch, which dominated a bootstrap of thousands of resamples."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    cut = int(0.25 * values.size)
    middle = np.partition(values, (cut, values.size - cut - 1))[cut : values.size - cut]
    return float(np.mean(middle))


def mean_interval(
    returns: np.ndarray, reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED
) -> Interval:
    """Mean return with its 95% stratified-bootstrap confidence interval."""
    from rliable import metrics

    return bootstrap_interval(score_column(returns), metrics.aggregate_mean, reps, seed)


def iqm_interval(
    returns: np.ndarray, reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED
) -> Interval:
    """Interquartile mean with its 95% stratified-bootstrap confidence interval."""
    return bootstrap_interval(score_column(returns), interquartile_mean, reps, seed)


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's ``metrics.probability_of_improvement``, counted by sorting instead of one
    Mann-Whitney test per task.

    Per task (column), ``P(X > Y) + P(X = Y) / 2`` over all pairs of a run of ``X`` and a run of
    ``Y`` (0.5 where the columns are equal), averaged over tasks: the pairs that rliable's U
    statistic counts, so the values are the same, at a fraction of the cost of a bootstrap
    that computes it thousands of times.
    """
    per_task = []
    for x, y in zip(np.asarray(scores_x).T, np.asarray(scores_y).T):
        if np.array_equal(x, y):
            per_task.append(0.5)
            continue
        ordered = np.sort(y)
        below = np.searchsorted(ordered, x, side="left")
        at_most = np.searchsorted(ordered, x, side="right")
        pairs = float(below.sum()) + 0.5 * float((at_most - below).sum())
        per_task.append(pairs / (x.size * y.size))
    return float(np.mean(per_task))


def improvement_interval(
    returns: np.ndarray, baseline: np.ndarray, reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED
) -> Interval:
    """``P(agent > baseline)`` over meta-episodes with its 95% bootstrap confidence interval."""
    return bootstrap_interval([score_column(returns), score_column(baseline)], probability_of_improvement, reps, seed)


def iqm_curve_intervals(
    curves: np.ndarray, reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM across runs at each point of ``curves`` (runs x points), with 95% bootstrap CIs.

    rliable's sample-efficiency recipe: the runs are resampled together, so each resample
    gives a whole curve. Returns the IQM, the lower and the upper ends, one value per point.
    """
    runs = np.asarray(curves, dtype=np.float64)
    if runs.ndim != 2 or runs.shape[0] < 2 or not np.all(np.isfinite(runs)):
        raise ValueError("curve intervals need a finite (runs, points) array of at least two runs")
    from scipy.stats import trim_mean

    def iqm_per_point(scores: np.ndarray) -> np.ndarray:
        # rliable's aggregate_iqm (a 25% trimmed mean over runs) at every point at once
        return trim_mean(scores.reshape(scores.shape[0], -1), proportiontocut=0.25, axis=0)

    bootstrap = _bootstraps()[0](runs[:, None, :], seed=np.random.default_rng(seed))
    intervals = bootstrap.conf_int(iqm_per_point, reps=reps, size=CONFIDENCE, method="percentile")
    value = iqm_per_point(runs[:, None, :])
    return value, np.minimum(intervals[0], value), np.maximum(intervals[1], value)


def _spread_ratio(scores: np.ndarray, baseline: np.ndarray) -> float:
    """Standard deviation of ``scores`` over that of ``baseline`` (over runs, ``ddof=1``).

    Two sets without spread have the same spread (ratio 1); ``scores`` with spread against a
    baseline without has an infinite ratio.
    """
    spread, baseline_spread = float(np.std(scores, ddof=1)), float(np.std(baseline, ddof=1))
    if baseline_spread == 0.0:
        return 1.0 if spread == 0.0 else float("inf")
    return spread / baseline_spread


def spread_ratio_interval(
    scores: np.ndarray, baseline: np.ndarray, reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED
) -> Interval:
    """Ratio of the spreads (standard deviations) of two sets of runs, with its 95% CI.

    Each set is resampled on its own (rliable's independent stratified bootstrap), so the
    interval is that of a ratio of two independent sample spreads; with few runs a resample may
    repeat one run only, which has no spread (see :func:`_spread_ratio`), and such resamples
    widen the interval, as they should. A ratio below 1 means ``scores`` spread less than
    ``baseline``: an upper end below 1 supports "more stable". Runs without spread have no ratio
    (a ``ValueError``). The percentile ends are order statistics of the resampled ratios (NumPy's
    ``inverted_cdf``), so an infinite ratio at an end stays infinite rather than interpolated.
    """
    first, second = score_column(scores), score_column(baseline)
    if np.ptp(first) == 0.0 or np.ptp(second) == 0.0:
        raise ValueError("a ratio of spreads needs runs that differ in each set")
    bootstrap = _bootstraps()[1](first, second, seed=np.random.default_rng(seed))
    ratios = bootstrap.apply(lambda *resampled: np.array([_spread_ratio(*resampled)]), reps=reps)[:, 0]
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail], method="inverted_cdf")
    value = _spread_ratio(first, second)
    return Interval(value=value, low=min(float(low), value), high=max(float(high), value), confidence=CONFIDENCE)
