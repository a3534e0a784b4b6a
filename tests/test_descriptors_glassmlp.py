"""GlassMLP descriptors, Voronoi cells and SBO: lattices with known cells, brute-force sums, PCA against eigh."""

import json
import time

import numpy as np
import pytest

from glassgen import io
from glassgen.descriptors import (GlassMLPDescriptors, PotentialEnergy, StructuralBondOrder, coarse_grain,
                                  descriptor_from_settings, voronoi_cells)
from glassgen.errors import InvalidInputError
from tests.conftest import BOTAN_DIR
from tests.test_descriptors import brute_pairs, brute_ql


def lattice(n, dim, a, offset=0.1):
    grid = np.stack(np.meshgrid(*[np.arange(n) * a] * dim, indexing="ij"), -1).reshape(-1, dim)
    return grid + offset, np.full(dim, n * a)


@pytest.fixture(scope="module")
def small_systems():
    """KA3D (N = 900, box 9.1: 3 cells per edge at the default reach) and KA2D (N = 300), two configurations each."""
    from glassgen.systems import random_start

    return {3: random_start("ka3d", 900, batch=2, seed=3), 2: random_start("ka2d", 300, batch=2, seed=4)}


# -- Voronoi cells -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim, surface", [(3, 6.0), (2, 4.0)])
def test_voronoi_cells_of_a_lattice(dim, surface):
    """Simple cubic: volume a^3, surface 6 a^2; square: area a^2, perimeter 4 a (freud's facet weights summed)."""
    a = 1.3
    x, box = lattice(5 if dim == 3 else 6, dim, a)
    # a small uniform shift and wrapped or unwrapped images must not matter
    volumes, surfaces = voronoi_cells(x + box * np.array([1, -2, 3][:dim]), box)
    np.testing.assert_allclose(volumes, a ** dim, rtol=1e-5)
    np.testing.assert_allclose(surfaces, surface * a ** (dim - 1), rtol=1e-5)


@pytest.mark.parametrize("dim", [2, 3])
def test_voronoi_volumes_fill_the_box(dim):
    rng = np.random.default_rng(dim)
    box = np.array([7.0, 8.0, 9.0][:dim])
    volumes, surfaces = voronoi_cells(rng.uniform(0, box, size=(200, dim)), box)
    np.testing.assert_allclose(volumes.sum(), np.prod(box), rtol=1e-5)
    # isoperimetric inequality: a cell's surface is at least that of the sphere (disc) of the same volume
    if dim == 3:
        sphere = (36 * np.pi) ** (1 / 3) * volumes ** (2 / 3)
    else:
        sphere = 2 * np.sqrt(np.pi * volumes)
    assert (surfaces > sphere).all()


# -- GlassMLP descriptors against a brute-force loop -------------------------------------------------------------

def brute_glassmlp(x, box, types, energy, cells, lengths, cutoffs, n_species, rows):
    """The docstring's formulas for the particles ``rows``, one at a time from all minimum-image distances."""
    n = len(x)
    out = np.full((len(rows), 4, len(lengths), n_species + 1), np.nan)
    for row, i in enumerate(rows):
        d = x - x[i]
        d -= box * np.round(d / box)
        r = np.sqrt((d * d).sum(-1))
        for blk in range(n_species + 1):
            member = np.ones(n, bool) if blk == n_species else types == blk
            for k, (L, cut) in enumerate(zip(lengths, cutoffs, strict=True)):
                if L == 0:
                    others = np.where(member)[0]
                    nearest = others[np.argmin(r[others])]  # i itself when it belongs to the block (r = 0)
                    out[row, :, k, blk] = [float(member[i]), energy[nearest], cells[nearest], 0.0]
                    continue
                sel = member & (r < cut)
                w = np.exp(-r[sel] / L)
                rho = w.sum()
                mean_e = (w * energy[sel]).sum() / rho
                variance = (w * (energy[sel] - mean_e) ** 2).sum() / rho
                out[row, :, k, blk] = [rho, mean_e, (w * cells[sel]).sum() / rho, variance]
    return out


@pytest.mark.parametrize("dim, lengths, cutoff", [(3, (0, 0.7, 1.5), None), (2, (0, 1, 2.5), None),
                                                  (2, (2,), 4.0)])
def test_glassmlp_matches_brute_force(small_systems, dim, lengths, cutoff):
    system = small_systems[dim]
    desc = GlassMLPDescriptors(lengths, cutoff=cutoff).compute(system)
    n_species = int(system.types.max()) + 1
    assert desc.values.shape == (2, system.n_particles, 4 * len(lengths) * (n_species + 1))
    x_all = system.positions.numpy()
    box, types = system.box.numpy(), system.types.numpy()
    energy = PotentialEnergy(lengths=(0,)).compute(system).values[..., 0]
    cutoffs = [min(3 * L, box.min() / 2) if cutoff is None else cutoff for L in lengths]
    rows = np.random.default_rng(dim).choice(system.n_particles, 120, replace=False)
    for b in (0, 1):
        _, cells = voronoi_cells(x_all[b], box)
        want = brute_glassmlp(x_all[b], box, types, energy[b], cells, lengths, cutoffs, n_species, rows)
        np.testing.assert_allclose(desc.values[b, rows], want.reshape(len(rows), -1), rtol=1e-9, atol=1e-9)


def test_glassmlp_names_and_energy_agree_with_potential_energy(small_systems):
    system = small_systems[3]
    desc = GlassMLPDescriptors((0, 1, 2)).compute(system)
    blocks = ["s0", "s1", "all"]
    assert desc.names == [f"{o}_L{L}_{b}" for o in ("DEN", "EPOT", "VOR", "EVAR") for L in (0, 1, 2) for b in blocks]
    # the all-species energy average is GlassBench's EPOT, computed by another path (full_pairs + exp_average)
    epot = PotentialEnergy((0, 1, 2)).compute(system)
    for L in (0, 1, 2):
        np.testing.assert_allclose(desc.feature(f"EPOT_L{L}_all"), epot.feature(f"EPOT_L{L}"), rtol=1e-10)
    np.testing.assert_array_equal(desc.feature("DEN_L0_all"), 1.0)
    np.testing.assert_array_equal(desc.feature("EVAR_L0_s1"), 0.0)
    # a species absent from the configurations gives NaN, not a crash
    wide = GlassMLPDescriptors((0, 1), n_species=3).compute(system)
    assert np.isnan(wide.feature("EPOT_L1_s2")).all() and np.isnan(wide.feature("EVAR_L0_s2")).all()
    assert wide.values.shape[-1] == 4 * 2 * 4


def test_glassmlp_invariant_under_translation_and_permutation(small_systems):
    system = small_systems[2]
    x, box, types = system.positions.numpy(), system.box.numpy(), system.types.numpy()
    ref = GlassMLPDescriptors((0, 1.5)).compute((box, x, types, "ka2d")).values
    perm = np.random.default_rng(0).permutation(len(types))
    moved = GlassMLPDescriptors((0, 1.5)).compute((box, x[:, perm] + np.array([3.3, -7.1]), types[perm], "ka2d"))
    np.testing.assert_allclose(moved.values, ref[:, perm], rtol=1e-5, atol=1e-6)  # freud is float32


def test_glassmlp_refusals_and_settings(small_systems):
    system = small_systems[3]
    with pytest.raises(RuntimeError, match="compute"):
        _ = GlassMLPDescriptors().values
    with pytest.raises(InvalidInputError, match="lengths"):
        GlassMLPDescriptors((-1,))
    with pytest.raises(InvalidInputError, match="cutoff"):
        GlassMLPDescriptors(cutoff=0)
    with pytest.raises(InvalidInputError, match="half the shortest box edge"):
        GlassMLPDescriptors((1,), cutoff=6.0).compute(system)
    with pytest.raises(InvalidInputError, match="model"):
        GlassMLPDescriptors().compute((system.box, system.positions, system.types))
    with pytest.raises(InvalidInputError, match="n_species"):
        GlassMLPDescriptors(n_species=1).compute(system)
    desc = GlassMLPDescriptors((0, 2), cutoff=3.0, n_species=2)
    rebuilt = descriptor_from_settings(json.loads(json.dumps(desc.settings())))
    assert repr(rebuilt) == repr(desc)
    np.testing.assert_array_equal(rebuilt.compute(system).values, desc.compute(system).values)


@pytest.mark.slow
def test_glassmlp_on_real_ka3d_is_fast_and_predictive(shared_data):
    """One N = 4096 BOTAN configuration: measured 0.9 s on one core (thermal state), all 72 features finite."""
    dataset = io.load(BOTAN_DIR).subset([0])
    GlassMLPDescriptors((1,)).compute(dataset.subset([0]))  # compile once
    start = time.perf_counter()
    desc = GlassMLPDescriptors().compute(dataset)
    assert time.perf_counter() - start < 5.0
    assert desc.values.shape == (1, 4096, 72) and np.isfinite(desc.values).all()
    a = dataset.types == 0
    y = dataset.propensity[0, 0, a]
    # thermal state, one configuration: EPOT_L2_all 0.34, DEN_L2_all -0.33, VOR_L2_all 0.35 measured
    assert np.corrcoef(desc.feature("EPOT_L2_all")[0, a], y)[0, 1] > 0.25
    assert np.corrcoef(desc.feature("DEN_L2_all")[0, a], y)[0, 1] < -0.2


# -- SBO ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [2, 3])
def test_sbo_averaged_bond_orders_match_brute_force(dim):
    rng = np.random.default_rng(dim)
    n = 80
    box = np.full(dim, (n / 1.0) ** (1 / dim))
    x = rng.uniform(0, box, size=(n, dim))
    sbo = StructuralBondOrder(ls=(2, 4, 6), bond_shell=1.3)
    q_bar = sbo.averaged_bond_orders((box, x, np.zeros(n, int)))[0]
    pairs = brute_pairs(x, box, 1.3)
    q = np.stack([brute_ql(pairs, n, degree) for degree in (2, 4, 6)], axis=1)
    want = np.array([(q[a] + sum(q[j] for (i, j, _) in pairs if i == a)) / (1 + sum(i == a for (i, _, _) in pairs))
                     for a in range(n)])
    np.testing.assert_allclose(q_bar, want, rtol=1e-10, atol=1e-12)


def test_sbo_is_the_top_eigenvector_with_a_label_free_sign(small_systems):
    system = small_systems[2]
    sbo = StructuralBondOrder(coarse_grain_length=1.0).fit(system).compute(system)
    assert sbo.names == ["SBO", "SBO_CG"] and sbo.values.shape == (2, 300, 2)
    q_bar = sbo.averaged_bond_orders(system).reshape(-1, 8)
    z = (q_bar - q_bar.mean(0)) / q_bar.std(0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(z, rowvar=False))
    top = eigenvectors[:, -1] * np.sign(eigenvectors[:, -1].sum())
    np.testing.assert_allclose(sbo.components_, top, atol=1e-8)
    assert sbo.components_.sum() > 0
    np.testing.assert_allclose(sbo.explained_variance_ratio_, eigenvalues[-1] / eigenvalues.sum(), rtol=1e-8)
    np.testing.assert_allclose(sbo.feature("SBO").ravel(), z @ top, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sbo.feature("SBO_CG"), coarse_grain(sbo.feature("SBO"), system, 1.0), rtol=1e-12)
    # the sign does not depend on the order in which particles (or configurations) come
    perm = np.random.default_rng(1).permutation(300)
    x, box, types = system.positions.numpy(), system.box.numpy(), system.types.numpy()
    flipped = StructuralBondOrder().compute((box, x[::-1][:, perm], types[perm]))
    np.testing.assert_allclose(flipped.values[::-1][:, np.argsort(perm)], sbo.values[..., :1], rtol=1e-8, atol=1e-10)


def test_sbo_fit_is_reused_and_an_unfitted_compute_keeps_nothing(small_systems):
    """compute projects on the axis fitted on other configurations; unfitted, it fits on its own and keeps no fit."""
    system = small_systems[3]
    x, box, types = system.positions.numpy(), system.box.numpy(), system.types.numpy()
    train, test = (box, x[:1], types), (box, x[1:], types)
    fitted = StructuralBondOrder().fit(train)
    q_bar = fitted.averaged_bond_orders(test)
    np.testing.assert_allclose(fitted.compute(test).feature("SBO"), (q_bar - fitted.mean_) / fitted.scale_
                               @ fitted.components_, rtol=1e-12, atol=1e-12)
    alone = StructuralBondOrder().compute(test)
    assert alone.fitted_arrays() == {}
    np.testing.assert_array_equal(alone.values, StructuralBondOrder().fit(test).compute(test).values)
    assert np.abs(alone.values - fitted.values).max() > 1e-3  # the test configuration's own axis is another


def test_sbo_refusals_and_settings():
    with pytest.raises(RuntimeError, match="compute"):
        _ = StructuralBondOrder().names
    for bad in ({"ls": (6,)}, {"bond_shell": 0}, {"coarse_grain_length": -1}):
        with pytest.raises(InvalidInputError, match=next(iter(bad))):
            StructuralBondOrder(**bad)
    sbo = StructuralBondOrder(ls=range(2, 7), bond_shell=1.4, coarse_grain_length=2)
    assert repr(descriptor_from_settings(json.loads(json.dumps(sbo.settings())))) == repr(sbo)
