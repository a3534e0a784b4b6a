"""Autocorrelation diagnostics against the exact results of an AR(1) process."""

import numpy as np
import pytest

from samplers.diagnostics import effective_sample_size, integrated_autocorrelation_time, standard_error


def ar1(phi: float, n: int, chains: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, n))
    noise = rng.normal(size=(chains, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_tau_int_of_ar1_matches_the_exact_value(phi):
    """For x_t = phi x_{t-1} + noise, tau_int = (1 + phi) / (1 - phi)."""
    series = ar1(phi, 20000, 4, seed=1)
    assert integrated_autocorrelation_time(series) == pytest.approx((1 + phi) / (1 - phi), rel=0.1)
    assert effective_sample_size(series) == pytest.approx(series.size * (1 - phi) / (1 + phi), rel=0.1)


def test_standard_error_covers_the_true_mean():
    """Over independent repetitions, |mean| / stderr behaves like a standard normal (90 % within 1.645)."""
    ratios = [abs(s.mean()) / standard_error(s) for s in (ar1(0.8, 4000, 1, seed=k) for k in range(200))]
    assert 0.84 < np.mean(np.array(ratios) < 1.645) < 0.96


def test_constant_series_has_no_correlation():
    assert integrated_autocorrelation_time(np.ones(100)) == 1.0
