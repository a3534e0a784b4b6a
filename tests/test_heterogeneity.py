"""Dynamic heterogeneity of fields: C(r) against a brute-force double loop, xi against fields of known exponential
covariance, and the per-temperature summary against chi_4 and Pearson computed directly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glassgen.bench.metrics import CHI4_THRESHOLD
from glassgen.dynamics.observables import chi4_propensity
from glassgen.errors import InvalidInputError
from glassgen.heterogeneity import correlation_length, field_lengths, heterogeneity, spatial_correlation
from glassgen.io import Dataset


def _minimum_image_distances(x, box):
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.round(d / box)
    return np.linalg.norm(d, axis=-1)


def test_spatial_correlation_matches_a_double_loop():
    rng = np.random.default_rng(1)
    box = np.array([7.0, 8.0])
    positions = rng.uniform(0, box, size=(3, 50, 2))
    types = np.array([0] * 35 + [1] * 15)
    fields = rng.normal(size=(3, 2, 50)) + positions[:, None, :, 0] / 4  # some structure along x
    r, c, pairs = spatial_correlation(fields, positions, box, types, r_max=3.5, bin_width=0.5)
    products, counts, squares, n = np.zeros((2, 7)), np.zeros(7), np.zeros(2), 0
    a = types == 0
    mean = fields[:, :, a].mean(axis=(0, 2))
    for field, x in zip(fields, positions):
        dy = field[:, a] - mean[:, None]
        dist = _minimum_image_distances(x[a], box)
        for i in range(a.sum()):
            for j in range(i + 1, a.sum()):
                if dist[i, j] < 3.5:
                    b = int(dist[i, j] / 0.5)
                    products[:, b] += dy[:, i] * dy[:, j]
                    counts[b] += 1
        squares += (dy ** 2).sum(axis=1)
        n += a.sum()
    np.testing.assert_allclose(pairs, counts)
    np.testing.assert_allclose(r, np.arange(7) * 0.5 + 0.25)
    np.testing.assert_allclose(c, products / counts / (squares / n)[:, None], rtol=1e-12)


@pytest.mark.parametrize("xi", [1.2, 2.0])
def test_correlation_length_recovers_an_exponential_covariance(xi):
    """Gaussian fields with covariance exp(-r/xi) (minimum image; positive definite for xi << L) at random points."""
    rng = np.random.default_rng(2)
    box = np.array([30.0, 30.0])
    n, m = 700, 20
    positions = rng.uniform(0, box, size=(m, n, 2))
    fields = np.empty((m, 1, n))
    for k, x in enumerate(positions):
        covariance = np.exp(-_minimum_image_distances(x, box) / xi) + 1e-9 * np.eye(n)
        fields[k, 0] = np.linalg.cholesky(covariance) @ rng.normal(size=n)
    r, c, pairs = spatial_correlation(fields, positions, box, np.zeros(n, dtype=int), r_max=10, bin_width=0.25)
    assert correlation_length(r, c[0], pairs) == pytest.approx(xi, rel=0.15)


def test_correlation_length_is_nan_without_correlation_and_infinite_when_growing():
    r = np.arange(0.25, 6, 0.5)
    assert math.isnan(correlation_length(r, np.where(r < 1, 1.0, 0.0)))
    assert correlation_length(r, 0.5 + 0.01 * r) == math.inf
    assert correlation_length(r, np.exp(-r / 3.0)) == pytest.approx(3.0)


def test_spatial_correlation_refuses_mismatched_shapes_and_constant_fields():
    x = np.random.default_rng(0).uniform(0, 6, size=(2, 20, 2))
    with pytest.raises(InvalidInputError, match="same particles"):
        spatial_correlation(np.ones((2, 1, 19)), x, np.array([6.0, 6.0]), np.zeros(20, dtype=int))
    with pytest.raises(InvalidInputError, match="constant"):
        spatial_correlation(np.ones((2, 1, 20)), x, np.array([6.0, 6.0]), np.zeros(20, dtype=int))
    with pytest.raises(InvalidInputError, match="half the box"):
        spatial_correlation(np.ones((2, 1, 20)), x, np.array([6.0, 6.0]), np.zeros(20, dtype=int), r_max=4)


def _two_temperature_data(rng, m=4, n=120):
    box = np.array([10.0, 10.0])
    return Dataset(model="ka2d", positions=rng.uniform(0, 10, size=(m, n, 2)), box=box,
                   types=np.array([0] * 60 + [1] * 30 + [2] * 30), temperatures=np.array([0.3, 0.4] * (m // 2)))


def test_heterogeneity_per_temperature_matches_direct_computation():
    rng = np.random.default_rng(3)
    data = _two_temperature_data(rng)
    members = rng.uniform(0.2, 0.6, size=(3, 4, 2, 120))
    truth = members.mean(0) + rng.normal(scale=0.05, size=(4, 2, 120))
    summaries = heterogeneity(members, data, [0.5, 1.0], truth=truth)
    assert [s["temperature"] for s in summaries] == [0.3, 0.4]
    cold = summaries[0]
    rows = [0, 2]
    a = CHI4_THRESHOLD[2]
    assert cold["n_configurations"] == 2
    np.testing.assert_allclose(list(cold["chi4"].values()),
                               chi4_propensity(members[:, rows].mean(0), data.types, a))
    np.testing.assert_allclose(list(cold["chi4_true"].values()), chi4_propensity(truth[rows], data.types, a))
    spread = np.std([chi4_propensity(f, data.types, a) for f in members[:, rows]], axis=0)
    np.testing.assert_allclose(list(cold["chi4_std"].values()), spread)
    pooled = np.corrcoef(members[:, rows].mean(0)[:, 1][:, data.types == 0].ravel(),
                         truth[rows][:, 1][:, data.types == 0].ravel())[0, 1]
    assert cold["pearson"]["1"] == pytest.approx(pooled)
    assert set(cold["length"]) == {"0.5", "1"}


def test_heterogeneity_lengths_are_those_of_each_field_alone():
    """xi of the mean field, its spread over the members and xi of the truth, computed from one neighbour search,
    are exactly those of each set of fields taken alone."""
    rng = np.random.default_rng(5)
    positions = rng.uniform(0, 20, size=(4, 400, 2))
    data = Dataset(model="ka2d", positions=positions, box=np.array([20.0, 20.0]),
                   types=np.array([0] * 200 + [1] * 100 + [2] * 100), temperatures=np.array([0.3, 0.4, 0.3, 0.4]))
    smooth = (np.sin(positions[..., 0] / 3) + np.cos(positions[..., 1] / 4))[:, None, :]
    members = smooth[None] * np.array([1.0, 1.2])[:, None] + rng.normal(scale=0.3, size=(3, 4, 2, 400))
    truth = members.mean(0) + rng.normal(scale=0.2, size=(4, 2, 400))
    cold = heterogeneity(members, data, [0.5, 1.0], truth=truth)[0]
    rows = [0, 2]

    def alone(fields):
        return field_lengths(fields, positions[rows], data.box, data.types)

    assert np.isfinite(list(cold["length"].values())).all()
    np.testing.assert_array_equal(list(cold["length"].values()), alone(members[:, rows].mean(0)))
    np.testing.assert_array_equal(list(cold["length_std"].values()), np.std([alone(m) for m in members[:, rows]], 0))
    np.testing.assert_array_equal(list(cold["length_true"].values()), alone(truth[rows]))


def test_heterogeneity_of_one_configuration_has_no_chi4_and_one_model_no_spread():
    rng = np.random.default_rng(4)
    data = _two_temperature_data(rng, m=2)
    summaries = heterogeneity(rng.uniform(size=(1, 2, 1, 120)), data, [1.0])
    assert all(s["chi4"] is None and "chi4_std" not in s for s in summaries)
