"""The Gaussian wrapped around the circle of headings (policies.heading)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from policies.heading import MAX_LOG_STD, WrappedGaussianDistribution, heading_mean, wrap

th.set_num_threads(1)


def wrapped(mean: float | list[float], log_std: float | list[float]) -> WrappedGaussianDistribution:
    means = th.tensor(mean, dtype=th.float64).reshape(-1, 1)
    log_stds = th.tensor(log_std, dtype=th.float64).reshape(-1, 1).expand_as(means)
    return WrappedGaussianDistribution(1).proba_distribution(means, log_stds)


def test_wrap_brings_every_action_into_the_half_open_box() -> None:
    actions = th.tensor([-3.0, -1.0, -0.5, 0.0, 0.999, 1.0, 2.5, 7.0])
    th.testing.assert_close(wrap(actions), th.tensor([-1.0, -1.0, -0.5, 0.0, 0.999, -1.0, 0.5, -1.0]))


@pytest.mark.parametrize("log_std", [-3.0, -1.0, 0.0, 1.0, 4.0])
@pytest.mark.parametrize("mean", [0.0, 0.9, -1.0])
def test_the_density_integrates_to_one_over_the_circle(mean: float, log_std: float) -> None:
    grid = th.linspace(-1.0, 1.0, 40_001, dtype=th.float64)
    distribution = wrapped([mean] * len(grid), log_std)
    density = th.exp(distribution.log_prob(grid[:, None]))
    assert float(th.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-4)


def test_the_density_is_one_heading_s_all_round() -> None:
    distribution = wrapped([0.95, 0.95, 0.95, 0.95], -1.0)
    log_prob = distribution.log_prob(th.tensor([[-0.9], [1.1], [0.999999], [-0.999999]], dtype=th.float64))
    th.testing.assert_close(log_prob[0], log_prob[1])  # -0.9 and 1.1 are one heading
    th.testing.assert_close(log_prob[2], log_prob[3], atol=1e-4, rtol=0.0)  # no jump at due west


def test_a_wider_gaussian_is_taken_at_the_widest_width_already_uniform() -> None:
    grid = th.linspace(-1.0, 1.0, 101, dtype=th.float64)[:, None]
    for log_std in (MAX_LOG_STD, 4.0):
        density = th.exp(wrapped([0.3] * len(grid), log_std).log_prob(grid))
        th.testing.assert_close(density, th.full_like(density, 0.5), atol=1e-4, rtol=0.0)
    assert float(wrapped(0.3, 4.0).distribution.stddev) == pytest.approx(np.exp(MAX_LOG_STD))


def test_a_narrow_wrapped_gaussian_is_the_gaussian_away_from_the_seam() -> None:
    distribution = wrapped([0.1, 0.1], -3.0)
    actions = th.tensor([[0.12], [0.05]], dtype=th.float64)
    on_the_line = th.distributions.Normal(0.1, np.exp(-3.0)).log_prob(actions[:, 0])
    th.testing.assert_close(distribution.log_prob(actions), on_the_line)


def test_samples_lie_in_the_box_and_follow_the_density() -> None:
    th.manual_seed(3)
    n = 200_000
    distribution = wrapped([0.9] * n, -0.5)
    samples = distribution.sample()[:, 0]
    assert samples.min() >= -1.0 and samples.max() < 1.0
    edges = th.linspace(-1.0, 1.0, 21, dtype=th.float64)
    counts = th.histc(samples, bins=20, min=-1.0, max=1.0)
    grid = th.linspace(-1.0, 1.0, 20_001, dtype=th.float64)
    density = th.exp(wrapped([0.9] * len(grid), -0.5).log_prob(grid[:, None]))
    expected = th.stack(
        [th.trapezoid(density[(grid >= lo) & (grid <= hi)], grid[(grid >= lo) & (grid <= hi)]) for lo, hi in zip(edges[:-1], edges[1:])]
    )
    standard_errors = th.sqrt(n * expected * (1 - expected))
    assert th.all(th.abs(counts - n * expected) < 4 * standard_errors)
    assert counts[0] > 0.05 * n  # the mass past due west comes back in at the other edge


def test_the_mode_is_the_wrapped_mean_and_the_entropy_is_left_to_ppo() -> None:
    distribution = wrapped([0.5, 1.5, -2.25], -1.0)
    th.testing.assert_close(distribution.mode()[:, 0], th.tensor([0.5, -0.5, -0.25], dtype=th.float64))
    th.testing.assert_close(distribution.get_actions(deterministic=True), distribution.mode())
    assert distribution.entropy() is None


def test_the_log_prob_is_smooth_as_the_mean_crosses_due_west() -> None:
    means = th.tensor([[0.9999], [1.0001]], dtype=th.float64, requires_grad=True)
    distribution = WrappedGaussianDistribution(1).proba_distribution(means, th.full((2, 1), -1.0, dtype=th.float64))
    log_prob = distribution.log_prob(th.tensor([[-0.95], [-0.95]], dtype=th.float64))
    (gradient,) = th.autograd.grad(log_prob.sum(), means)
    th.testing.assert_close(log_prob[0], log_prob[1], atol=1e-2, rtol=0.0)
    th.testing.assert_close(gradient[0], gradient[1], atol=1e-2, rtol=0.0)
    assert gradient[0, 0] > 0  # -0.95 is 1.05, just past due west: the mean is pulled on across it


def test_the_heading_mean_has_no_seam_and_starts_east() -> None:
    east = th.tensor([-2.0, -2.0, 0.0, 0.0])
    north = th.tensor([1e-4, -1e-4, 0.0, 1.0])
    means = heading_mean(east, north)
    th.testing.assert_close(means, th.tensor([1.0, -1.0, 0.0, 0.25]), atol=1e-4, rtol=0.0)
    assert th.abs(th.exp(1j * th.pi * means[0]) - th.exp(1j * th.pi * means[1])) < 1e-3
