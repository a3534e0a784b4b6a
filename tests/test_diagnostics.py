"""Autocorrelation diagnostics against the exact results of an AR(1) process."""

import numpy as np
import pytest
import torch

from samplers.diagnostics import (
    effective_sample_size,
    energy_stationarity,
    integrated_autocorrelation_time,
    standard_error,
)


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


def test_stationarity_flags_a_drift_common_to_chains_at_scattered_levels():
    """After a quench, 32 chains sit at scattered energies and all still fall a little (the issue's Metropolis run):
    the halves of one chain must be compared with each other, as a comparison of the halves of all chains as two
    independent samples sees the drift drowned in the spread (p ~ 0.4). The same chains without the drift pass."""
    n = 2000
    stationary = np.random.default_rng(0).normal(0, 0.1, (32, 1)) + 0.01 * ar1(0.95, n, 32, 1)
    drifting = stationary - 0.05 * (1 - np.exp(-np.arange(n) / 1500))
    test = energy_stationarity(drifting)
    assert test.stationary is False and test.p_value < 1e-6 and test.second_half < test.first_half - 0.01
    test = energy_stationarity(stationary)
    assert test.stationary is True and abs(test.second_half - test.first_half) < 0.01


def test_stationarity_false_alarms_stay_rare_for_slow_chains():
    """Equilibrium chains as slow as the run is long (tau_int = 199 samples, halves of 200) are independent of each
    other, so their paired half differences keep the nominal 0.27 % false-alarm rate (1.35 expected of 500)."""
    runs = ar1(0.99, 400, 8 * 500, 3).reshape(500, 8, 400)
    assert sum(energy_stationarity(run).stationary is False for run in runs) <= 5
    assert energy_stationarity(runs[0, :2, :3]) == (None, None, None, None)  # 3 samples, 4 blocks


def test_a_rigid_drift_of_the_centre_of_mass_is_no_structural_relaxation():
    """Shifting every particle by the same vector (what single-particle MC's centre-of-mass random walk does) leaves
    the drift-corrected overlap at 1, while the raw one falls to about the random plateau."""
    import torch

    from samplers.diagnostics import overlap, without_drift

    g = torch.Generator().manual_seed(5)
    box = torch.tensor([8.0, 7.0], dtype=torch.float64)
    ref = torch.rand(3, 300, 2, generator=g, dtype=torch.float64) * box
    types = torch.randint(2, (3, 300), generator=g)
    moved = torch.remainder(ref + torch.tensor([0.45, -0.3], dtype=torch.float64), box)  # across the periodic edge too
    assert float(overlap(ref, types, moved, types, box, 2).max()) < 0.7  # the random plateau here is ~0.5
    corrected = overlap(ref, types, without_drift(ref, moved, box), types, box, 2)
    assert torch.all(corrected == 1)


def _brute_force_overlap(ref, ref_types, x, types, box, n_types, a=0.3):
    """The overlap by its definition: all pairs, minimum image, after the drift (as without_drift)."""
    d = x - ref
    x = x - (torch.remainder(d + box / 2, box) - box / 2).mean(1, keepdim=True)
    d = x[:, None] - ref[:, :, None]  # (B, N reference, N, d)
    d = torch.remainder(d + box / 2, box) - box / 2
    hit = ((d.square().sum(-1) < a * a) & (ref_types[:, :, None] == types[:, None, :])).any(2).double()
    species = torch.nn.functional.one_hot(ref_types, n_types).double()
    return ((hit[:, :, None] * species).sum(1) / species.sum(1)).numpy()


@pytest.mark.parametrize("box", [(8.0, 7.0), (5.0, 4.0), (4.0, 3.5, 3.8)])
def test_cached_overlap_records_equal_the_definition(box):
    """OverlapReference (the driver's records: cells of the reference built once) gives the overlap of the all-pairs
    definition after the drift, for new configurations and after the reference changes; a species absent from the
    reference gives NaN. The boxes have many cells, few cells (2D) and 3D."""
    from samplers.diagnostics import OverlapReference

    g = torch.Generator().manual_seed(7)
    box = torch.tensor(box, dtype=torch.float64)
    refs = [torch.rand(3, 150, box.numel(), generator=g, dtype=torch.float64) * box for _ in range(2)]
    ref_types = torch.randint(3, (3, 150), generator=g)
    ref_types[2][ref_types[2] == 2] = 1  # species 2 absent from chain 2's reference
    for ref in refs:
        cached = OverlapReference(ref, ref_types, box, 3)
        for width in (0.05, 0.2, 0.5):
            swapped = ref_types.clone()
            swapped[:, :10] = torch.randint(3, (3, 10), generator=g)
            x = torch.remainder(ref + width * torch.randn(ref.shape, generator=g, dtype=torch.float64)
                                + torch.tensor(0.4) * width, box)  # a drift, across the periodic edges too
            expected = _brute_force_overlap(ref, ref_types, x, swapped, box, 3)
            np.testing.assert_array_equal(cached.overlap(x, swapped), expected)
            assert np.isnan(expected[2, 2]) and 0 < np.nanmin(expected) < 1
