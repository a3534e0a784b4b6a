"""Physics tests of glassgen.systems against brute-force sums, autograd, analytic facts and real data."""

import numpy as np
import pytest
import torch

from glassgen.errors import InvalidInputError
from glassgen.systems import (
    ForceField, System, VerletList, energy, forces, get_model, infer_model, lattice_start, per_particle_energy,
    random_start,
)
from tests.conftest import BOTAN_DIR, KA2D_FILE
from tests.reference import brute_force

MODELS = ["ka3d", "ka3d-sf", "ka2d"]


def _random_configuration(model: str, n: int, seed: int) -> System:
    """A random start, shifted by random whole boxes so coordinates are unwrapped and cross the box edges."""
    system = random_start(model, n, seed=seed)
    rng = np.random.default_rng(seed)
    images = torch.as_tensor(rng.integers(-2, 3, size=(n, system.dim)), dtype=torch.float64)
    return system.with_positions(system.positions + images * system.box)


def _reference(system: System):
    spec = system.spec
    return brute_force(system.positions.numpy(), system.types.numpy(), system.box.numpy(),
                       spec.sigma, spec.epsilon, spec.form, spec.cutoff)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("all_pairs", [True, False], ids=["all-pairs", "cell-list"])
@pytest.mark.parametrize("model", MODELS)
def test_energy_and_forces_equal_brute_force(model, all_pairs, backend):
    system = _random_configuration(model, 300, seed=3)
    site_ref, force_ref = _reference(system)
    ff = ForceField(model, system.box, system.types, all_pairs=all_pairs, backend=backend)
    out = ff.compute(system.positions, per_particle=True)
    np.testing.assert_allclose(out.per_particle.numpy(), site_ref, rtol=1e-10, atol=1e-10 * np.abs(site_ref).max())
    np.testing.assert_allclose(float(out.energy), site_ref.sum(), rtol=1e-10)
    np.testing.assert_allclose(out.forces.numpy(), force_ref, rtol=1e-10, atol=1e-10 * np.abs(force_ref).max())
    forces_only = ff.compute(system.positions, energy=False).forces  # MD's call: a kernel of its own
    np.testing.assert_allclose(forces_only.numpy(), force_ref, rtol=1e-10, atol=1e-10 * np.abs(force_ref).max())


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("model", MODELS)
def test_pairs_just_inside_and_outside_the_cut_across_the_box_edge(model, backend):
    """A pair at r_c (1 - 1e-9) across the edge interacts; one at r_c (1 + 1e-9) does not."""
    spec = get_model(model)
    system = random_start(model, 200, seed=5)
    x = system.positions.clone()
    a, b = 0, int(torch.nonzero(system.types == system.types[0])[1])
    rc = spec.cutoff * spec.sigma[int(system.types[a])][int(system.types[b])]
    box = system.box
    for factor in (1 - 1e-9, 1 + 1e-9):
        x[a] = 0.01
        x[b] = 0.01
        x[b, 0] = box[0] + 0.01 - rc * factor  # the nearest image of b sits across the x = 0 face
        moved = system.with_positions(x)
        site_ref, force_ref = _reference(moved)
        out = ForceField(model, box, system.types, all_pairs=False, backend=backend).compute(x, per_particle=True)
        np.testing.assert_allclose(out.per_particle.numpy(), site_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out.forces.numpy(), force_ref, rtol=1e-10, atol=1e-10 * np.abs(force_ref).max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("model", MODELS)
def test_forces_are_minus_the_autograd_gradient(model, dtype):
    system = random_start(model, 250, seed=1).to(dtype=dtype)
    x = system.positions.clone().requires_grad_(True)
    out = ForceField(model, system.box, system.types).compute(x)
    (grad,) = torch.autograd.grad(out.energy, x)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    scale = float(out.forces.detach().abs().max())
    torch.testing.assert_close(out.forces.detach(), -grad, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("model", MODELS)
def test_float32_agrees_with_float64(model, backend):
    system = random_start(model, 300, seed=2)
    ff = ForceField(model, system.box, system.types, backend=backend)
    e64 = ff.compute(system.positions, per_particle=True).per_particle
    e32 = ff.compute(system.positions.float(), per_particle=True).per_particle
    assert e32.dtype == torch.float32
    torch.testing.assert_close(e32.double(), e64, rtol=1e-5, atol=1e-5 * float(e64.abs().max()))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_batched_equals_one_by_one_and_types_may_differ_per_configuration(backend):
    batch = random_start("ka2d", 200, batch=3, seed=4)
    types = torch.stack([batch.types[torch.randperm(200, generator=torch.Generator().manual_seed(k))]
                         for k in range(3)])
    ff = ForceField("ka2d", batch.box, types, all_pairs=False, backend=backend)
    out = ff.compute(batch.positions, per_particle=True)
    for b in range(3):
        single = ForceField("ka2d", batch.box, types[b]).compute(batch.positions[b], per_particle=True)
        torch.testing.assert_close(out.energy[b], single.energy, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.forces[b], single.forces, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.per_particle[b], single.per_particle, rtol=1e-12, atol=1e-12)


def test_verlet_list_is_reused_within_half_the_skin_and_stays_exact():
    system = random_start("ka3d", 500, seed=6)
    ff = ForceField("ka3d", system.box, system.types, skin=0.3, all_pairs=False)
    ff.compute(system.positions)
    generator = torch.Generator().manual_seed(0)
    small = system.positions + 0.08 * (torch.rand(system.positions.shape, generator=generator, dtype=torch.float64)
                                       - 0.5)
    out = ff.compute(small)
    assert ff.neighbors.n_builds == 1
    fresh = ForceField("ka3d", system.box, system.types, all_pairs=False).compute(small)
    torch.testing.assert_close(out.forces, fresh.forces, rtol=1e-12, atol=1e-12)
    ff.compute(small + torch.tensor([0.2, 0.0, 0.0], dtype=torch.float64) * (torch.arange(500) == 7)[:, None])
    assert ff.neighbors.n_builds == 2


def test_lennard_jones_minimum_has_zero_force():
    """Two A particles at 2^(1/6) sigma sit in the LJ minimum: zero force, energy -eps minus the cut shift."""
    box = torch.full((3,), 10.0, dtype=torch.float64)
    x = torch.zeros(2, 3, dtype=torch.float64)
    x[1, 0] = 2 ** (1 / 6)
    out = ForceField("ka3d", box, [0, 0]).compute(x)
    assert float(out.forces.abs().max()) < 1e-12
    assert float(out.energy) == pytest.approx(-1.0 - 4 * (2.5**-12 - 2.5**-6), rel=1e-14)


@pytest.mark.parametrize("model", ["ka3d-sf", "ka2d"])
def test_smooth_forms_vanish_with_their_derivative_at_the_cut(model):
    spec = get_model(model)
    box = torch.full((spec.dim,), 20.0, dtype=torch.float64)
    rc = spec.cutoff
    ff = ForceField(model, box, [0, 0])
    for r in (rc - 1e-7, rc + 1e-7):
        x = torch.zeros(2, spec.dim, dtype=torch.float64)
        x[1, 0] = r
        out = ff.compute(x)
        # The published KA2D coefficients carry 11 digits, which leaves V(r_c) = -1.3e-9: bound at 1e-8.
        assert abs(float(out.energy)) < 1e-8 and float(out.forces.abs().max()) < 1e-7


def test_real_ka3d_energies_match_the_notice(shared_data):
    expected = {1: -7.0079, 10: -7.0423}
    for k, e_per_particle in expected.items():
        data = np.load(BOTAN_DIR / f"isoconfig_N4096T0.44_{k}_tc07.npz")
        box = [get_model("ka3d").box_length(4096)] * 3
        system = System(data["initial_positions"], data["types"], box, "ka3d")
        assert float(energy(system)) / 4096 == pytest.approx(e_per_particle, abs=1e-4)
        assert float(per_particle_energy(system).sum()) == pytest.approx(float(energy(system)), rel=1e-12)


def test_real_ka2d_energy_matches_the_notice(shared_data):
    data = np.load(KA2D_FILE)
    box = np.broadcast_to(np.asarray(data["box"], dtype=float), (2,))
    system = System(data["initial_positions"], data["types"] - 1, box, "ka2d")
    assert float(energy(system)) / 1290 == pytest.approx(-2.6068, abs=1e-4)
    assert float(forces(system).sum(0).abs().max()) < 1e-9  # Newton's third law: no net force


@pytest.mark.parametrize("model,n", [("ka3d", 1000), ("ka2d", 44)])
def test_random_start_removes_overlaps_with_the_model_composition(model, n):
    system = random_start(model, n, batch=2, seed=11)
    ratio, *_ = ForceField(model, system.box, system.types).min_pair_distance_ratio(system.positions)
    assert ratio >= 0.8
    assert tuple(torch.bincount(system.types).tolist()) == get_model(model).composition(n)
    torch.testing.assert_close(system.positions, random_start(model, n, batch=2, seed=11).positions)
    assert not torch.equal(system.positions, random_start(model, n, batch=2, seed=12).positions)
    spec = get_model(model)
    assert system.volume == pytest.approx(n / spec.density)


def test_lattice_start_has_finite_energy_and_no_overlaps():
    system = lattice_start("ka3d", 1000, seed=0)
    ratio, *_ = ForceField("ka3d", system.box, system.types).min_pair_distance_ratio(system.positions)
    assert ratio > 0.9 and torch.isfinite(energy(system))  # spacing 0.94 sigma_AA at density 1.2


def test_infer_model_and_composition():
    assert infer_model(3, 2).name == "ka3d" and infer_model(2, 3).name == "ka2d"
    assert get_model("ka3d").composition(4096) == (3277, 819)
    assert get_model("ka2d").composition(1290) == (600, 330, 360)
    assert get_model("ka3d").box_length(4096) == pytest.approx(15.05658, abs=1e-5)
    with pytest.raises(InvalidInputError, match="no default model"):
        infer_model(2, 2)


@pytest.mark.parametrize("make,match", [
    (lambda s: System(s.positions[:, :2], s.types, s.box, "ka3d"), "positions must have shape"),
    (lambda s: System(s.positions.masked_fill(torch.arange(3) == 1, float("nan")), s.types, s.box, "ka3d"), "NaN"),
    (lambda s: System(s.positions, s.types + 1, s.box, "ka3d"), "0-based"),
    (lambda s: System(s.positions, s.types, s.box[:2], "ka3d"), "box must hold"),
    (lambda s: System(s.positions, s.types, s.box * 0.5, "ka3d"), "shorter than twice the cut-off"),
    (lambda s: System(s.positions, s.types, s.box, "lj"), "unknown model"),
    (lambda s: energy(s.with_positions(torch.cat([s.positions[:1], s.positions[:1] + 1e-3, s.positions[2:]]))),
     "overlap"),
], ids=["shape", "nan", "types", "box-shape", "box-small", "model", "overlap"])
def test_bad_input_names_the_problem(make, match):
    system = random_start("ka3d", 300, seed=0)
    with pytest.raises(InvalidInputError, match=match):
        make(system)


def test_box_that_does_not_match_the_density_is_caught():
    spec = get_model("ka3d")
    spec.check_density(4096, 15.05658**3)
    with pytest.raises(InvalidInputError, match="does not match the density"):
        spec.check_density(4096, 16.0**3)


# --------------------------------------------------------------------------------------- compiled neighbour lists


def _pair_set(i, j, offset, positions):
    """Listed pairs as {(i, j, separation rounded)}, each pair oriented with i < j."""
    flat = positions.reshape(-1, positions.shape[-1]).numpy()
    separation = flat[j.numpy()] - flat[i.numpy()] + offset.numpy()
    swap = i.numpy() > j.numpy()
    a = np.where(swap, j.numpy(), i.numpy())
    b = np.where(swap, i.numpy(), j.numpy())
    separation = np.where(swap[:, None], -separation, separation)
    return {(int(p), int(q), *np.round(s, 9).tolist()) for p, q, s in zip(a, b, separation)}


@pytest.mark.parametrize("model,n", [("ka3d", 1000), ("ka3d", 300), ("ka3d", 200), ("ka2d", 1290), ("ka2d", 80)],
                         ids=["3d-3cells", "3d-2cells", "3d-1cell", "2d-many-cells", "2d-2cells"])
def test_compiled_cell_list_holds_the_pairs_of_vesin(model, n):
    """Same pairs and images as vesin-torch (the GPU path), unwrapped and batched, 1 to 11 cells per box edge."""
    spec = get_model(model)
    batch = random_start(model, n, batch=2, seed=8)
    rng = np.random.default_rng(0)
    x = batch.positions + torch.as_tensor(rng.integers(-2, 3, size=batch.positions.shape)) * batch.box
    compiled = VerletList(spec.max_cutoff, skin=0.3, all_pairs=False)
    compiled.update(x, batch.box)
    reference = VerletList(spec.max_cutoff, skin=0.3, all_pairs=False)
    reference._update_vesin(x, batch.box)  # the GPU path, run on the CPU
    assert compiled.n_pairs == reference.i.numel() > 0
    assert _pair_set(compiled.i, compiled.j, compiled.offset, x) == _pair_set(
        reference.i, reference.j, reference.offset, x)


def test_per_species_ranges_keep_exactly_the_pairs_within_their_range():
    spec = get_model("ka3d")
    system = random_start("ka3d", 1000, seed=9)
    skin = 0.3
    ranges = spec.cutoff * np.asarray(spec.sigma)
    nl = VerletList(spec.max_cutoff, skin=skin, all_pairs=False, pair_ranges=ranges)
    nl.update(system.positions[None], system.box, system.types)
    full = VerletList(spec.max_cutoff, skin=skin, all_pairs=False)
    full.update(system.positions[None], system.box)
    separation = (system.positions[full.j] - system.positions[full.i] + full.offset).norm(dim=-1)
    keep = separation < torch.as_tensor(ranges)[system.types[full.i], system.types[full.j]] + skin
    assert nl.n_pairs == int(keep.sum()) < full.n_pairs
    assert _pair_set(nl.i, nl.j, nl.offset, system.positions) == _pair_set(
        full.i[keep], full.j[keep], full.offset[keep], system.positions)


def test_only_configurations_that_moved_are_rebuilt():
    batch = random_start("ka3d", 1000, batch=3, seed=10)
    ff = ForceField("ka3d", batch.box, batch.types, skin=0.3)
    ff.compute(batch.positions)
    assert (ff.neighbors.n_builds, ff.neighbors.n_config_builds) == (1, 3)
    moved = batch.positions.clone()
    moved[1, 17, 0] += 0.2  # beyond half the skin, in configuration 1 only
    out = ff.compute(moved, per_particle=True)
    assert (ff.neighbors.n_builds, ff.neighbors.n_config_builds) == (2, 4)
    fresh = ForceField("ka3d", batch.box, batch.types).compute(moved, per_particle=True)
    for got, expected in zip((out.energy, out.per_particle, out.forces),
                             (fresh.energy, fresh.per_particle, fresh.forces)):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_changing_species_rebuilds_the_per_species_list(backend):
    system = random_start("ka3d", 1000, seed=12)
    ff = ForceField("ka3d", system.box, system.types, backend=backend)
    ff.compute(system.positions)
    swapped = system.types[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    ff.set_types(swapped)
    out = ff.compute(system.positions, per_particle=True)
    assert ff.neighbors.n_builds == 2
    site_ref, force_ref = _reference(System(system.positions, swapped, system.box, "ka3d"))
    np.testing.assert_allclose(out.per_particle.numpy(), site_ref, rtol=1e-10, atol=1e-10 * np.abs(site_ref).max())
    np.testing.assert_allclose(out.forces.numpy(), force_ref, rtol=1e-10, atol=1e-10 * np.abs(force_ref).max())


@pytest.mark.parametrize("all_pairs", [True, False], ids=["all-pairs", "cell-list"])
def test_non_finite_and_coinciding_positions_are_reported(all_pairs):
    batch = random_start("ka3d", 300, batch=2, seed=13)
    ff = ForceField("ka3d", batch.box, batch.types, all_pairs=all_pairs, backend="numba")
    x = batch.positions.clone()
    x[1, 5, 1] = float("nan")
    out = ff.compute(x)
    assert torch.isfinite(out.energy[0]) and torch.isnan(out.energy[1]) and torch.isnan(out.forces[1]).any()
    x = batch.positions.clone()
    x[0, 3] = x[0, 4]
    with pytest.raises(ZeroDivisionError):
        ff.compute(x)
