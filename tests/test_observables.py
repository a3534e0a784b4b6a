"""glassgen.dynamics.observables: physical sanity cases, loop references written here, errors, real KA3D data."""

import math

import numpy as np
import pytest
import torch
from scipy.special import j0

from glassgen.dynamics.observables import (
    chi4, chi4_propensity, displacements, msd, noise_ceiling, non_gaussian, overlap, relaxation_time,
    self_intermediate_scattering,
)
from glassgen.errors import InvalidInputError
from tests.conftest import BOTAN_DIR

DIMS = pytest.mark.parametrize("dim", [2, 3])


def isotropic_shell(rng, n, dim, radius):
    """n displacements of length ``radius`` in uniformly random directions."""
    u = rng.normal(size=(n, dim))
    return radius * u / np.linalg.norm(u, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------------- MSD, alpha_2
@DIMS
def test_ballistic_msd_is_d_T_t2(dim):
    rng = np.random.default_rng(1)
    temperature, m, n = 0.7, 4, 20000
    times = np.array([0.01, 0.1, 0.5, 1.0])
    v = rng.normal(scale=math.sqrt(temperature), size=(m, n, dim))
    dr = v[:, None] * times[None, :, None, None]  # (M, T, N, d)
    got = msd(dr)
    expected = dim * temperature * times**2
    # |v|^2 / T is chi-squared with d degrees of freedom: variance 2 d, so the mean has relative error sqrt(2/(d N M))
    tolerance = 5 * math.sqrt(2.0 / (dim * n * m))
    assert got.shape == (4,)
    np.testing.assert_allclose(got, expected, rtol=tolerance)
    assert msd(dr, per_configuration=True).shape == (m, 4)
    assert abs(non_gaussian(dr)[-1]) < 0.03  # Gaussian velocities: alpha_2 = 0


def test_msd_per_species_and_torch_input():
    rng = np.random.default_rng(2)
    dr = rng.normal(size=(3, 5, 40, 3))
    types = np.repeat([0, 1, 2], [20, 12, 8])
    dr[..., types == 1, :] *= 2.0
    expected = np.square(dr[..., types == 1, :]).sum(-1).mean(axis=(0, 2))
    np.testing.assert_allclose(msd(dr, types, species=1), expected, rtol=1e-12)
    both = np.isin(types, [0, 2])
    np.testing.assert_allclose(msd(dr, types, [0, 2]), np.square(dr[..., both, :]).sum(-1).mean(axis=(0, 2)))
    from_torch = msd(torch.as_tensor(dr, dtype=torch.float32), torch.as_tensor(types), 1)
    assert isinstance(from_torch, np.ndarray) and from_torch.dtype == np.float64
    np.testing.assert_allclose(from_torch, expected, rtol=1e-5)
    single = msd(dr[0, 0])
    assert np.ndim(single) == 0 and single == pytest.approx(np.square(dr[0, 0]).sum(-1).mean())


@DIMS
def test_non_gaussian_of_a_fixed_length_is_minus_two_over_d_plus_two(dim):
    # |dr| = r0 for all: <r^4> = <r^2>^2, so alpha_2 = d / (d + 2) - 1, whatever the directions
    dr = isotropic_shell(np.random.default_rng(3), 500, dim, 0.7)
    assert non_gaussian(dr) == pytest.approx(-2.0 / (dim + 2), abs=1e-12)


@DIMS
def test_gaussian_displacements(dim):
    rng = np.random.default_rng(4)
    s, q = 0.15, 7.25
    dr = rng.normal(scale=s, size=(2, 1, 100000, dim))
    expected = math.exp(-q * q * s * s / 2)
    for method in ("isotropic", "axes"):
        got = self_intermediate_scattering(dr, q, method=method)
        assert got.shape == (1,)
        assert got[0] == pytest.approx(expected, abs=0.01), method
    assert abs(non_gaussian(dr)[0]) < 0.03


# ------------------------------------------------------------------------------------------------------------ F_s
@DIMS
def test_fs_of_a_uniform_shift_along_x(dim):
    q, dx = 7.25, 0.31
    dr = np.zeros((2, 3, 10, dim))
    dr[..., 0] = dx
    axes = self_intermediate_scattering(dr, q, method="axes")
    np.testing.assert_allclose(axes, (math.cos(q * dx) + dim - 1) / dim, rtol=1e-12)
    exact = math.sin(q * dx) / (q * dx) if dim == 3 else j0(q * dx)  # |dr| = dx for every particle
    np.testing.assert_allclose(self_intermediate_scattering(dr, q), exact, rtol=1e-12)
    assert self_intermediate_scattering(np.zeros((4, dim)), q) == 1.0  # no motion: F_s = 1, also at r = 0


@DIMS
def test_fs_methods_agree_on_isotropic_displacements(dim):
    rng = np.random.default_rng(5)
    q, r0, n = 7.25, 0.4, 200000
    dr = isotropic_shell(rng, n, dim, r0)
    isotropic = self_intermediate_scattering(dr, q)
    axes_each = np.cos(q * dr).mean(axis=1)
    axes = self_intermediate_scattering(dr, q, method="axes")
    assert axes == pytest.approx(axes_each.mean(), abs=1e-12)
    assert abs(axes - isotropic) < 5 * axes_each.std() / math.sqrt(n)
    assert isotropic == pytest.approx(math.sin(q * r0) / (q * r0) if dim == 3 else j0(q * r0), abs=1e-12)


def test_fs_species_selection():
    dr = np.zeros((1, 6, 3))
    dr[0, 3:, 0] = 0.5  # species 1 moves, species 0 does not
    types = np.array([0, 0, 0, 1, 1, 1])
    assert self_intermediate_scattering(dr, 7.25, types, 0)[0] == 1.0
    assert self_intermediate_scattering(dr, 7.25, types, 1)[0] == pytest.approx(math.sin(3.625) / 3.625)


# ---------------------------------------------------------------------------------------------------- tau_alpha
def test_relaxation_time_of_an_exponential():
    tau = 37.0
    times = np.logspace(-2, 4, 300)
    assert relaxation_time(times, np.exp(-times / tau)) == pytest.approx(tau, rel=1e-3)
    # a stretched exponential crosses 1/e at tau too; batched curves give one tau each
    curves = np.stack([np.exp(-(times / tau) ** 0.6), np.exp(-times / 5.0)])
    np.testing.assert_allclose(relaxation_time(times, curves), [tau, 5.0], rtol=2e-3)
    # exactly linear in log t: the interpolation is exact; the level is a parameter
    t = np.array([1.0, 10.0, 100.0])
    assert relaxation_time(t, [1.0, 0.8, 0.2], level=0.5) == pytest.approx(math.sqrt(1000.0), rel=1e-12)
    # a bracket that starts at t = 0 is interpolated linearly in t
    assert relaxation_time([0.0, 2.0, 4.0], [1.0, 0.0, -1.0], level=0.5) == pytest.approx(1.0)


def test_relaxation_time_errors():
    t = np.array([1.0, 2.0, 4.0])
    with pytest.raises(InvalidInputError, match=r"strictly increasing; got t\[1\] = 2 followed by t\[2\] = 2"):
        relaxation_time([1.0, 2.0, 2.0], [1.0, 0.5, 0.1])
    with pytest.raises(InvalidInputError, match=r"never falls to the level 0\.3679: its last value is 0\.5"):
        relaxation_time(t, [0.9, 0.7, 0.5])
    with pytest.raises(InvalidInputError, match=r"curve \(1,\): the curve never falls"):
        relaxation_time(t, [[0.9, 0.5, 0.1], [0.9, 0.7, 0.5]])
    with pytest.raises(InvalidInputError, match="starts at or below"):
        relaxation_time(t, [0.3, 0.2, 0.1])
    with pytest.raises(InvalidInputError, match=r"same T; got times \(3,\) and fs \(4,\)"):
        relaxation_time(t, [0.9, 0.7, 0.5, 0.1])
    with pytest.raises(InvalidInputError, match="NaN"):
        relaxation_time(t, [0.9, np.nan, 0.1])


# ------------------------------------------------------------------------------------------------ displacements
@DIMS
def test_minimum_image_equals_unwrapped_displacement(dim):
    rng = np.random.default_rng(6)
    box = np.array([10.0, 12.0, 9.0])[:dim]
    start = rng.uniform(-30, 30, size=(5, 50, dim))  # unwrapped, several images away
    later = start[:, None] + rng.uniform(-4.4, 4.4, size=(5, 3, 50, dim))  # (M, T, N, d), |dx| < L/2
    exact = displacements(start, later)
    np.testing.assert_allclose(exact, later - start[:, None], atol=1e-12)
    wrapped = displacements(np.mod(start, box), np.mod(later, box), box=box)
    np.testing.assert_allclose(wrapped, exact, atol=1e-9)
    assert not np.allclose(displacements(np.mod(start, box), np.mod(later, box)), exact)  # the box is needed
    # (N, d) initial serves every configuration and frame
    np.testing.assert_allclose(displacements(start[0], later[0]), later[0] - start[0])


def test_displacement_errors():
    with pytest.raises(InvalidInputError, match=r"initial must have shape .* got initial \(4, 3\) and positions"):
        displacements(np.zeros((4, 3)), np.zeros((2, 5, 3)))
    with pytest.raises(InvalidInputError, match="box must hold d = 3 positive edge lengths"):
        displacements(np.zeros((4, 3)), np.zeros((4, 3)), box=[1.0, 1.0])
    with pytest.raises(InvalidInputError, match="box must hold"):
        displacements(np.zeros((4, 3)), np.zeros((4, 3)), box=[1.0, 0.0, 1.0])


def test_shape_and_species_errors():
    with pytest.raises(InvalidInputError, match=r"dr must have shape \(M, T, N, d\).* got \(4,\)"):
        msd(np.zeros(4))
    with pytest.raises(InvalidInputError, match=r"d = 2 or 3.*got \(3, 5\)"):
        self_intermediate_scattering(np.zeros((3, 5)), 7.25)  # (d, N) passed by mistake
    with pytest.raises(InvalidInputError, match=r"types must be an int array of shape \(N,\) = \(4,\)"):
        msd(np.zeros((4, 3)), np.zeros(5, dtype=int), 0)
    with pytest.raises(InvalidInputError, match=r"no particle of species \[2\].*present are \[0, 1\]"):
        msd(np.zeros((4, 3)), [0, 0, 1, 1], 2)
    with pytest.raises(InvalidInputError, match="needs types"):
        overlap(np.zeros((4, 3)), species=0)
    with pytest.raises(InvalidInputError, match="method must be one of"):
        self_intermediate_scattering(np.zeros((4, 3)), 7.25, method="random")
    with pytest.raises(InvalidInputError, match="q must be a positive finite number"):
        self_intermediate_scattering(np.zeros((4, 3)), -1.0)


# ---------------------------------------------------------------------------------------------- overlap and chi_4
def loop_overlap(dr, a, selected):
    m, t = dr.shape[:2]
    q = np.zeros((m, t))
    for i in range(m):
        for j in range(t):
            count = 0
            for k in selected:
                count += math.sqrt(sum(float(x) ** 2 for x in dr[i, j, k])) < a
            q[i, j] = count / len(selected)
    return q


def loop_chi4(q, n):
    m, t = q.shape
    out = np.zeros(t)
    for j in range(t):
        mean = sum(q[i, j] for i in range(m)) / m
        mean_sq = sum(q[i, j] ** 2 for i in range(m)) / m
        out[j] = n * (mean_sq - mean * mean)
    return out


def test_overlap_and_chi4_against_loops():
    rng = np.random.default_rng(7)
    dr = rng.normal(scale=rng.uniform(0.05, 0.4, size=(6, 4, 1, 1)), size=(6, 4, 30, 3))
    types = rng.integers(0, 2, size=30)
    selected = np.flatnonzero(types == 0)
    q = overlap(dr, 0.3, types, 0)
    np.testing.assert_allclose(q, loop_overlap(dr, 0.3, selected), atol=1e-15)
    np.testing.assert_allclose(overlap(dr, 0.25), loop_overlap(dr, 0.25, range(30)), atol=1e-15)
    expected = loop_chi4(q, len(selected))
    assert expected.max() > 0.1
    np.testing.assert_allclose(chi4(q, len(selected)), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(chi4(q.T, len(selected), axis=1), expected, rtol=1e-10, atol=1e-14)
    identical = overlap(np.broadcast_to(dr[:1], dr.shape))
    np.testing.assert_array_equal(chi4(identical, 30), 0.0)
    with pytest.raises(InvalidInputError, match="at least 2 configurations"):
        chi4(q[:1], 10)


def loop_chi4_propensity(propensity, types, a, smooth):
    m, k, n = propensity.shape
    out = np.zeros(k)
    for j in range(k):
        totals = []
        for i in range(m):
            total = 0.0
            for p in range(n):
                if types[i][p] == 0:
                    r = propensity[i, j, p]
                    total += (math.tanh(20 * (r - a)) + 1) / 2 if smooth else float(r > a)
            totals.append(total)
        n_a = sum(1 for t in types[0] if t == 0)
        out[j] = np.var(np.array(totals)) / n_a
    return out


def test_chi4_propensity_against_a_loop():
    rng = np.random.default_rng(8)
    m, k, n, a = 7, 3, 40, 0.44
    propensity = rng.uniform(0.1, 0.9, size=(m, k, n))
    types = np.repeat([0, 1], [30, 10])
    per_config = np.stack([rng.permutation(types) for _ in range(m)])
    for smooth in (False, True):
        expected = loop_chi4_propensity(propensity, [types] * m, a, smooth)
        assert expected.min() > 0
        np.testing.assert_allclose(chi4_propensity(propensity, types, a, smooth=smooth), expected, rtol=1e-10)
        np.testing.assert_allclose(chi4_propensity(propensity, per_config, a, smooth=smooth),
                                   loop_chi4_propensity(propensity, per_config, a, smooth), rtol=1e-10)
    one_time = chi4_propensity(propensity[:, 0], types, a)  # (M, N) -> one number
    assert np.ndim(one_time) == 0
    assert one_time == pytest.approx(loop_chi4_propensity(propensity[:, :1], [types] * m, a, False)[0])


def test_chi4_propensity_smooth_equals_hard_far_from_threshold():
    rng = np.random.default_rng(9)
    a = 0.44
    # every value at least 0.5 away from a: tanh(20 * 0.5) differs from +-1 by 4e-9
    side = np.where(rng.random((20, 2, 50)) < 0.3, 1.0, -1.0)
    far = a + side * rng.uniform(0.5, 2.0, size=side.shape)
    types = np.zeros(50, dtype=int)
    hard = chi4_propensity(far, types, a)
    assert hard.min() > 0.1
    np.testing.assert_allclose(chi4_propensity(far, types, a, smooth=True), hard, rtol=1e-6)
    # near the threshold they differ
    near = a + rng.uniform(-0.02, 0.02, size=(20, 50))
    assert abs(chi4_propensity(near, types, a, smooth=True) - chi4_propensity(near, types, a)) > 0.05


def test_chi4_propensity_errors():
    with pytest.raises(InvalidInputError, match=r"M >= 2 configurations; got \(1, 5\)"):
        chi4_propensity(np.ones((1, 5)), np.zeros(5, dtype=int), 0.44)
    with pytest.raises(InvalidInputError, match=r"types must have shape \(N,\) = \(5,\) or \(M, N\) = \(3, 5\)"):
        chi4_propensity(np.ones((3, 5)), np.zeros((2, 5), dtype=int), 0.44)
    with pytest.raises(InvalidInputError, match="same number of particles of species 0"):
        chi4_propensity(np.ones((2, 3)), np.array([[0, 0, 1], [0, 1, 1]]), 0.44)


# ----------------------------------------------------------------------------------------------------- noise ceiling
@pytest.mark.parametrize("noise", [0.5, 2.0])
def test_noise_ceiling_of_a_known_signal(noise):
    # label = signal + independent replica noise: the R-replica mean has reliability 1 / (1 + noise^2 / R)
    rng = np.random.default_rng(10)
    m, r, n = 4, 16, 3000
    signal = rng.normal(size=(m, 1, n))
    replicas = signal + rng.normal(scale=noise, size=(m, r, n))
    expected = math.sqrt(1.0 / (1.0 + noise**2 / r))
    assert noise_ceiling(replicas, n_splits=10) == pytest.approx(expected, abs=0.01)
    mask = rng.random(n) < 0.5
    assert noise_ceiling(replicas, mask, n_splits=10) == pytest.approx(expected, abs=0.015)
    assert noise_ceiling(replicas, mask, seed=3) == noise_ceiling(replicas, mask, seed=3)  # seeded


def test_noise_ceiling_of_pure_noise_and_errors():
    rng = np.random.default_rng(11)
    assert noise_ceiling(rng.normal(size=(8, 2000))) < 0.2
    with pytest.raises(InvalidInputError, match=r"R >= 2 replicas; got \(1, 10\)"):
        noise_ceiling(np.ones((1, 10)))
    with pytest.raises(InvalidInputError, match="mask must be a bool array"):
        noise_ceiling(np.ones((4, 10)), mask=np.ones(10))


# --------------------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def botan(shared_data):
    files = sorted(BOTAN_DIR.glob("*.npz"))
    assert files, f"no BOTAN files in {BOTAN_DIR}"
    drs, types = [], None
    for path in files:
        with np.load(path) as data:
            drs.append(displacements(data["initial_positions"], data["positions"]))  # unwrapped: no box
            assert types is None or np.array_equal(types, data["types"])
            types = data["types"]
    return np.stack(drs), types  # (M, R, N, 3)


def test_real_ka3d_fs_at_tau_alpha(botan):
    dr, types = botan
    m, r, n, _ = dr.shape
    replicas = dr.reshape(m * r, 1, n, 3)  # every replica of every configuration, one time
    fs = self_intermediate_scattering(replicas, 7.25, types, 0)[0]
    fs_axes = self_intermediate_scattering(replicas, 7.25, types, 0, method="axes")[0]
    print(f"\nKA3D T=0.44, t=4120, {m} configurations x {r} replicas: F_s(q=7.25, A) = {fs:.4f} "
          f"(axes {fs_axes:.4f}), 1/e = {math.exp(-1):.4f}")
    assert 0.2 < fs < 0.55
    assert abs(fs - fs_axes) < 0.005
    rho_max = noise_ceiling(np.linalg.norm(dr, axis=-1), types == 0)
    print(f"noise ceiling rho_max (A, {m} configurations) = {rho_max:.4f} (GlassBench 0.943)")
    assert 0.85 < rho_max < 0.98
