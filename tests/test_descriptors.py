"""glassgen.descriptors: brute-force cross-checks, lattice values, invariances, and correlations on real KA3D data."""

import numpy as np
import pytest
from scipy.special import sph_harm_y

from glassgen import io
from glassgen.descriptors import (BoattiniDescriptors, BondOrientation, LocalDensity, PotentialEnergy, bond_order,
                                  coarse_grain, full_pairs)
from glassgen.errors import InvalidInputError
from tests.conftest import BOTAN_DIR


# -- brute-force references --------------------------------------------------------------------------------------

def brute_pairs(x, box, cutoff):
    """All ordered pairs at minimum image (cutoff < box / 2), as lists of (i, j, rij)."""
    out = []
    for a in range(len(x)):
        for b in range(len(x)):
            if a == b:
                continue
            d = x[b] - x[a]
            d -= box * np.round(d / box)
            if np.linalg.norm(d) < cutoff:
                out.append((a, b, d))
    return out


def brute_ql(pairs, n, l):  # noqa: E741
    q = np.zeros(n)
    for a in range(n):
        vecs = [d for (i, _, d) in pairs if i == a]
        if not vecs:
            continue
        vecs = np.array(vecs)
        r = np.linalg.norm(vecs, axis=1)
        if vecs.shape[1] == 2:
            q[a] = abs(np.mean(np.exp(1j * l * np.arctan2(vecs[:, 1], vecs[:, 0]))))
            continue
        theta = np.arccos(vecs[:, 2] / r)
        phi = np.mod(np.arctan2(vecs[:, 1], vecs[:, 0]), 2 * np.pi)
        total = sum(abs(np.mean(sph_harm_y(l, m, theta, phi))) ** 2 for m in range(-l, l + 1))
        q[a] = np.sqrt(4 * np.pi / (2 * l + 1) * total)
    return q


def random_system(n, dim, seed, density=1.0, n_species=2):
    rng = np.random.default_rng(seed)
    box = np.full(dim, (n / density) ** (1 / dim))
    x = rng.uniform(0, box, size=(2, n, dim))
    types = rng.integers(0, n_species, size=n)
    return box, x, types


# -- unit tests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [2, 3])
def test_pairs_match_brute_force(dim):
    box, x, _ = random_system(120, dim, 0)
    i, j, rij = full_pairs(x[0], box, 1.7)
    ref = brute_pairs(x[0], box, 1.7)
    got = sorted((int(a), int(b), *np.round(d, 9)) for a, b, d in zip(i, j, rij))
    want = sorted((a, b, *np.round(d, 9)) for a, b, d in ref)
    assert got == want


@pytest.mark.parametrize("dim", [2, 3])
def test_coarse_grain_matches_brute_force(dim):
    box, x, types = random_system(80, dim, 1)
    values = np.random.default_rng(2).normal(size=(2, 80))
    length, cut = 0.7, 1.9
    got = coarse_grain(values, (box, x, types), length, cutoff=cut)
    for b in range(2):
        want = values[b].copy()
        norm = np.ones(80)
        for a, c, d in brute_pairs(x[b], box, cut):
            w = np.exp(-np.linalg.norm(d) / length)
            want[a] += w * values[b, c]
            norm[a] += w
        np.testing.assert_allclose(got[b], want / norm, rtol=1e-12)
    np.testing.assert_array_equal(coarse_grain(values, (box, x, types), 0.0), values)  # L = 0: no averaging
    assert coarse_grain(values[..., None], (box, x, types), length, cutoff=cut).shape == (2, 80, 1)


@pytest.mark.parametrize("dim", [2, 3])
def test_boattini_matches_brute_force(dim):
    box, x, types = random_system(n := 100 if dim == 3 else 70, dim, 3, density=0.8)
    assert box[0] > 2 * (1.8 + 0.45)  # the brute force takes minimum images only
    shells = [0.9, 1.3, 1.8]
    desc = BoattiniDescriptors(shells, width=0.15, ls=[2, 4, 6], bond_shell=1.4, generations=1, r_c=1.0).compute(
        (box, x, types))
    names = desc.names
    assert desc.values.shape == (2, n, len(names)) and len(names) == 2 * (2 * 3 + 3)
    radial_cut = max(shells) + 3 * 0.15
    for b in range(2):
        pairs = brute_pairs(x[b], box, radial_cut)
        for s in range(2):
            for c in shells:
                want = np.zeros(n)
                for a, o, d in pairs:
                    if types[o] == s:
                        want[a] += np.exp(-0.5 * ((np.linalg.norm(d) - c) / 0.15) ** 2)
                np.testing.assert_allclose(desc.feature(f"G_s{s}_r{c:.2f}_g0")[b], want, rtol=1e-10, atol=1e-14)
        bond_pairs = [p for p in pairs if np.linalg.norm(p[2]) < 1.4]
        for l in (2, 4, 6):  # noqa: E741
            np.testing.assert_allclose(desc.feature(f"q{l}_g0")[b], brute_ql(bond_pairs, n, l), atol=1e-10)
    # generation 1 is the exp(-r/r_c) average of generation 0 within r_c
    g0 = desc.values[..., :len(names) // 2]
    np.testing.assert_allclose(desc.values[..., len(names) // 2:],
                               coarse_grain(g0, (box, x, types), 1.0, cutoff=1.0), rtol=1e-12)


def lattice(kind):
    if kind == "sc":
        cell, basis, reps = 1.0, np.zeros((1, 3)), 6
    elif kind == "fcc":
        cell, basis, reps = np.sqrt(2), np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]), 4
    elif kind == "square":
        cell, basis, reps = 1.0, np.zeros((1, 2)), 8
    dim = basis.shape[1]
    grid = np.stack(np.meshgrid(*[np.arange(reps)] * dim, indexing="ij"), -1).reshape(-1, dim)
    x = ((grid[:, None, :] + basis[None]) * cell).reshape(-1, dim)
    return np.full(dim, reps * cell), x


def triangular():
    nx, ny = 8, 8
    a = 1.0
    pts = [((i + 0.5 * (j % 2)) * a, j * a * np.sqrt(3) / 2) for j in range(ny) for i in range(nx)]
    return np.array([nx * a, ny * a * np.sqrt(3) / 2]), np.array(pts)


@pytest.mark.parametrize("kind, l, want", [("sc", 4, 0.76376), ("sc", 6, 0.35355), ("fcc", 4, 0.19094),
                                           ("fcc", 6, 0.57452), ("square", 4, 1.0), ("square", 6, 0.0)])
def test_lattice_bond_orders(kind, l, want):  # noqa: E741
    box, x = lattice(kind)
    types = np.zeros(len(x), dtype=int)
    shift = np.random.default_rng(0).uniform(0, 1, size=box.shape)
    desc = BondOrientation(lengths=(0, 2), l=l, shell=1.2).compute((box, x + shift, types))
    np.testing.assert_allclose(desc.values, want, atol=1e-4)


def test_triangular_psi6_and_density():
    box, x = triangular()
    types = np.zeros(len(x), dtype=int)
    np.testing.assert_allclose(BondOrientation(lengths=(0,), l=6, shell=1.2).compute((box, x, types)).values, 1.0,
                               atol=1e-12)
    den = LocalDensity(lengths=(0, 1), shell=1.2).compute((box, x, types))
    np.testing.assert_allclose(den.values, 6 / (np.pi * 1.2 ** 2), rtol=1e-12)  # 6 neighbours in every disc


@pytest.mark.parametrize("dim", [2, 3])
def test_bond_order_rotation_invariant(dim):
    rng = np.random.default_rng(5)
    rij = rng.normal(size=(60, dim))
    i = rng.integers(0, 5, size=60)
    j = rng.integers(0, 5, size=60)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    ls = range(1, 13)
    np.testing.assert_allclose(bond_order(i, j, rij @ q.T, 5, ls), bond_order(i, j, rij, 5, ls), atol=1e-10)


def test_boattini_invariant_under_translation_and_cubic_rotation():
    box, x, types = random_system(90, 3, 7, density=1.0)
    desc = BoattiniDescriptors(np.arange(0.9, 2.0, 0.3), generations=1, r_c=1.0)
    ref = desc.compute((box, x, types)).values
    moved = (x @ np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]]).T + np.array([0.3, -2.0, 5.1])) % box
    np.testing.assert_allclose(desc.compute((box, moved, types)).values, ref, atol=1e-9)


def test_refusals():
    for cls in (PotentialEnergy, LocalDensity, BondOrientation, BoattiniDescriptors):
        with pytest.raises(RuntimeError, match="compute"):
            cls().values
        with pytest.raises(RuntimeError, match="compute"):
            cls().names
    with pytest.raises(InvalidInputError, match="lengths"):
        LocalDensity(lengths=(-1,))
    with pytest.raises(InvalidInputError):
        BoattiniDescriptors(width=0)
    box, x, types = random_system(50, 3, 0)
    with pytest.raises(InvalidInputError, match="model"):
        PotentialEnergy().compute((box, x, types))
    with pytest.raises(InvalidInputError, match="types"):
        LocalDensity().compute((box, x, types[:-1]))
    with pytest.raises(InvalidInputError, match="System"):
        LocalDensity().compute(x)


@pytest.mark.parametrize("model", ["ka3d", "ka2d"])
def test_inputs_system_and_dataset(model):
    from glassgen.systems import energy, random_start

    system = random_start(model, 180 if model == "ka3d" else 300, batch=2, seed=1)
    epot = PotentialEnergy(lengths=(0, 1.5)).compute(system)
    assert epot.values.shape == (2, system.n_particles, 2) and epot.names == ["EPOT_L0", "EPOT_L1.5"]
    np.testing.assert_allclose(epot.values[..., 0].sum(1), energy(system).numpy(), rtol=1e-10)
    dataset = io.Dataset(system.positions.numpy(), system.types.numpy(), system.box.numpy(), model)
    np.testing.assert_allclose(PotentialEnergy(lengths=(0, 1.5)).compute(dataset).values, epot.values)
    with pytest.raises(InvalidInputError, match="inherent"):
        LocalDensity().compute(dataset, inherent=True)
    one = LocalDensity(lengths=(1,)).compute((system.box, system.positions[0], system.types))
    np.testing.assert_allclose(one.values[0], LocalDensity(lengths=(1,)).compute(system).values[0])


# -- real data ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def botan_inherent(shared_data):
    from glassgen.dynamics.minimization import minimize
    from glassgen.systems import System

    dataset = io.load(BOTAN_DIR)
    # max|F| < 1e-2 gives the same coarse-grained EPOT correlation as 1e-8 (0.5619 both) in a fraction of the time.
    result = minimize(System(dataset.positions, dataset.types, dataset.box, dataset.model), fmax=1e-2, warn=False)
    return dataset, result.system


#: GlassBench's rho_P of the coarse-grained inherent-state descriptors, KA3D T = 0.44, t = 4120, type A, pooled over
#: its 100 test configurations (REFERENCE.md section 4): the independent reference of the correlations below.
PUBLISHED = {"EPOT_L2": 0.507, "DEN_L2": -0.246}
PUBLISHED_CONFIGURATIONS = 100


def pooled_pearson(feature, dataset):
    a = dataset.types == 0
    return float(np.corrcoef(feature[:, a].ravel(), dataset.propensity[:, 0, a].ravel())[0, 1])


def test_real_data_correlations(botan_inherent):
    """EPOT and DEN at L = 2 on inherent states, type A pooled over the 10 BOTAN configurations (KA3D T = 0.44,
    t = 4120), agree with GlassBench's published values within the statistical error of both. PSI6 (q6 within 1.5)
    is not asserted: its sign is opposite to GlassBench's Psi_6, whose 3D definition is not published."""
    dataset, inherent = botan_inherent
    # averaging range 5.0 instead of the default 3 L = 6 to keep the test fast (EPOT_L2: 0.559 instead of 0.562)
    epot = PotentialEnergy(lengths=(0, 2), cutoff=5.0).compute(inherent)
    den = LocalDensity(lengths=(2,), cutoff=5.0).compute(inherent)
    assert epot.values.shape == (10, 4096, 2) and epot.names == ["EPOT_L0", "EPOT_L2"]
    # Statistical error of a pooled rho_P. Independent particles would give about 1/sqrt(n_A) = 1/sqrt(3277) = 0.017
    # per configuration, but mobility is correlated over several particle diameters, and the 10 per-configuration
    # values scatter far more: s = 0.11 (EPOT) and 0.15 (DEN) here. So the error of our pooled value is about
    # s/sqrt(10) and that of the published one s/sqrt(100): sqrt(1/10 + 1/100) s = 0.035 (EPOT), 0.049 (DEN), taken
    # from the data at run time; the bound is 3 of those (0.10, 0.15): 1/sqrt(n_A) would be 6-8x too tight.
    for name, feature in (("EPOT_L2", epot.feature("EPOT_L2")), ("DEN_L2", den.feature("DEN_L2"))):
        rho = pooled_pearson(feature, dataset)
        per_configuration = [pooled_pearson(feature[m:m + 1], dataset.subset([m])) for m in range(10)]
        error = np.std(per_configuration, ddof=1) * np.sqrt(1 / 10 + 1 / PUBLISHED_CONFIGURATIONS)
        assert abs(rho - PUBLISHED[name]) < 3 * error, (name, rho, PUBLISHED[name], error)
    assert pooled_pearson(epot.feature("EPOT_L0"), dataset) < pooled_pearson(epot.feature("EPOT_L2"), dataset)


def test_coarse_grained_density_of_real_data_matches_brute_force(botan_inherent):
    """DEN_L2 of a real inherent state against a plain O(N^2) minimum-image sum (shell 1.5, weights exp(-r/2) within
    5, which is below half the box, 7.5, so minimum images are all the neighbours)."""
    dataset, inherent = botan_inherent
    x, box, n = inherent.positions[0].numpy(), dataset.box, dataset.n_particles
    got = LocalDensity(lengths=(2,), cutoff=5.0).compute((box, x, dataset.types)).feature("DEN_L2")[0]

    def distances(rows):  # to every particle, self excluded (infinite)
        d = x[None] - x[rows, None]
        d -= box * np.round(d / box)
        r = np.sqrt((d * d).sum(-1))
        r[np.arange(len(rows)), rows] = np.inf
        return r

    blocks = np.array_split(np.arange(n), 16)
    bare = np.concatenate([(distances(rows) < 1.5).sum(1) for rows in blocks]) / (4.0 / 3.0 * np.pi * 1.5**3)
    want = np.empty(n)
    for rows in blocks:
        r = distances(rows)
        w = np.where(r < 5.0, np.exp(-r / 2.0), 0.0)
        want[rows] = (bare[rows] + w @ bare) / (1.0 + w.sum(1))
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("descriptor", [
    PotentialEnergy((0, 2)), LocalDensity(shell=1.4), BondOrientation(l=4),
    BoattiniDescriptors(shells=[1.0, 1.5], ls=range(1, 5), generations=1)])
def test_settings_round_trip_rebuilds_the_same_descriptor(descriptor):
    import json

    from glassgen.descriptors import descriptor_from_settings

    settings = json.loads(json.dumps(descriptor.settings()))
    assert repr(descriptor_from_settings(settings)) == repr(descriptor)


def test_unknown_descriptor_class_in_settings_is_named():
    from glassgen.descriptors import descriptor_from_settings

    with pytest.raises(InvalidInputError, match="Nonsense"):
        descriptor_from_settings({"class": "Nonsense", "params": {}})
