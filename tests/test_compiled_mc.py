"""Compiled sweeps (samplers.compiled) against the force field's energies, against MD, and for exact resumption."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from samplers.compiled import C0, PairSweeps
from samplers.mc import MetropolisMC
from samplers.pgmc import PolicyGuidedMC
from samplers.target import HarmonicTrap, SamplerInputError
from samplers.tempering import ParallelTempering
from tests.statistics import distance_ks
from tests.test_samplers import _error, run_split_and_resumed


def _chains(model, n, batch, seed, density=None):
    """KATarget and B configurations of it with the species shuffled per chain (so swaps and lists are exercised)."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start(model, n, batch=batch, seed=seed, density=density)
    target = KATarget(model, system)
    g = torch.Generator().manual_seed(seed)
    types = system.types[torch.stack([torch.randperm(n, generator=g) for _ in range(batch)])].contiguous()
    return target, torch.remainder(system.positions, target.box).contiguous(), types


# (model, N): small boxes fall back to all pairs, larger ones have cells at both subdivisions.
BOXES = [("ka2d", 44, False), ("ka2d", 300, True), ("ka3d", 256, False), ("ka3d", 2000, True),
         ("ka3d-sf", 256, False), ("ka3d-sf", 2000, True)]


@pytest.mark.parametrize("subdivision", [1, 2])
@pytest.mark.parametrize("model, n, cells", BOXES)
def test_energies_equal_the_force_field(model, n, cells, subdivision):
    target, x, types = _chains(model, n, 3, seed=n)
    sweeps = PairSweeps(target.pair_coefficients(), target.box.numpy(), subdivision)
    assert bool((sweeps.cells > 1).all()) == cells and bool((sweeps.cells == 1).all()) != cells
    compiled = sweeps.energies(x.numpy(), types.numpy())
    np.testing.assert_allclose(compiled, target.energy(x, types).numpy(), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("model, n, cells", BOXES[:4])
@pytest.mark.parametrize("p_swap", [0.0, 1.0])
def test_one_move_or_swap_changes_the_energy_by_the_difference_of_totals(model, n, cells, p_swap):
    """One attempt per chain at a huge temperature (all accepted): running energy = fresh total after the move.
    Steps of 1.5 take many particles into other cells."""
    target, x, types = _chains(model, n, 16, seed=n + 1)
    sweeps = PairSweeps(target.pair_coefficients(), target.box.numpy())
    x, types = x.numpy().copy(), types.numpy().copy()
    before_x, before_types = x.copy(), types.copy()
    energy = target.energy(torch.from_numpy(x), torch.from_numpy(types)).numpy().copy()
    moves, swaps = np.zeros((2, target.n_types), np.int64), np.zeros((2, 1), np.int64)
    pair = [target.swap_pairs[0] if target.swap_pairs else (0, 1)]
    sweeps.sweep(x, types, energy, np.full(target.n_types, 1.5), 1e-30, p_swap, pair, 1, 7, moves, swaps)
    assert (moves[1].sum() if p_swap == 0 else swaps[1, 0]) == 16  # every chain changed
    changed = (x != before_x).any(-1).sum(1) if p_swap == 0 else (types != before_types).sum(1)
    assert np.all(changed == (1 if p_swap == 0 else 2))
    fresh = target.energy(torch.from_numpy(x), torch.from_numpy(types)).numpy()
    np.testing.assert_allclose(energy, fresh, rtol=1e-11, atol=1e-9)


@pytest.mark.parametrize("model, n, p_swap", [("ka2d", 300, 0.3), ("ka3d", 2000, 0.0)])
def test_running_energy_equals_a_fresh_evaluation_after_many_sweeps(model, n, p_swap):
    """A dilute fluid with large steps: many particles change cells within each sweep (the cell tables are updated
    move by move, rebuilt only at the next call), and every energy change must still be exact."""
    target, x, types = _chains(model, n, 2, seed=3, density=0.4)
    mc = MetropolisMC(target, x, types, temperature=2.0, step=1.0, p_swap=p_swap, seed=1, record_overlap=False)
    result = mc.run(30 if n < 1000 else 6)
    fresh = target.energy(mc.x, mc.types)
    assert mc.engine == "compiled" and result.energy_drift < 1e-9 and float(mc.acceptance.min()) > 0.15
    assert float(((mc.energy - fresh).abs() / fresh.abs()).max()) == pytest.approx(result.energy_drift, abs=1e-15)
    counts = torch.stack([torch.bincount(row, minlength=target.n_types) for row in mc.types])
    assert torch.equal(counts, torch.stack([torch.bincount(row, minlength=target.n_types) for row in types]))
    assert bool((mc.x >= 0).all()) and bool((mc.x <= target.box).all())


def test_a_wrong_energy_change_is_refused():
    """A kernel whose pair energy is off by 1e-6 per pair must not pass: the run raises at its end."""
    target, x, types = _chains("ka2d", 300, 2, seed=4)
    mc = MetropolisMC(target, x, types, temperature=1.0, p_swap=0.2, seed=2, record_overlap=False)
    mc.kernel("compiled").sweeps.table[..., C0] += 1e-6
    with pytest.raises(RuntimeError, match="drifted"):
        mc.run(3)


def test_counters_and_step_adaptation():
    target, x, types = _chains("ka2d", 300, 3, seed=5)
    mc = MetropolisMC(target, x, types, temperature=1.0, step=0.02, p_swap=0.25, seed=3, record_overlap=False)
    mc.sweep(30, adapt=True)
    assert bool((mc.step > 0.05).all())
    mc.reset_counters()
    evaluations = mc.n_evaluations
    mc.sweep(4)
    assert np.all(0.25 < mc.acceptance) and np.all(mc.acceptance < 0.6)
    moves, swaps = int(mc.move_tried.sum()), int(mc.swap_tried.sum())
    assert moves + swaps == 3 * 4 * 300 and mc.n_attempts_total == 34 * 300
    assert 0.2 < swaps / (moves + swaps) < 0.3 and mc.n_evaluations - evaluations == moves + 2 * swaps
    assert mc.seconds > 0 and bool((mc.swap_accepted > 0).all())


def test_engine_choice():
    target, x, types = _chains("ka2d", 300, 2, seed=6)
    assert MetropolisMC(target, x, types, temperature=1.0).engine == "compiled"
    assert MetropolisMC(target, x, types, temperature=1.0, engine="torch").engine == "torch"
    assert MetropolisMC(target, x, types, temperature=1.0, update="checkerboard").engine == "torch"
    assert MetropolisMC(target, x.float(), types, temperature=1.0).engine == "torch"
    assert PolicyGuidedMC(target, x, types, temperature=1.0).engine == "compiled"
    assert PolicyGuidedMC(target, x, types, temperature=1.0, engine="torch").engine == "torch"
    ladder = ParallelTempering(target, x, types, temperatures=[1.0, 1.5], record_overlap=False)
    assert [mc.engine for mc in ladder.chains] == ["compiled", "compiled"]
    trap = HarmonicTrap(3, dim=2, box_length=4.0)
    assert MetropolisMC(trap, torch.zeros(2, 3, 2, dtype=torch.float64), temperature=1.0).engine == "torch"
    with pytest.raises(SamplerInputError, match="pair_coefficients"):
        MetropolisMC(trap, torch.zeros(2, 3, 2, dtype=torch.float64), temperature=1.0, engine="compiled")
    with pytest.raises(SamplerInputError, match="sequential updates"):
        MetropolisMC(target, x, types, temperature=1.0, update="checkerboard", engine="compiled")
    with pytest.raises(SamplerInputError, match="engine"):
        MetropolisMC(target, x, types, temperature=1.0, engine="gpu")


class _TableTarget:
    """A pair target given only by a PairCoefficients table: energies by brute force in torch, written from the
    formula (not through the kernels), for exact small-system checks of the compiled sweeps."""

    def __init__(self, table, box, n, swap_pairs=()):
        self.table, self.n_particles, self.n_types, self.swap_pairs = table, n, table.n_types, swap_pairs
        self.box = torch.tensor(box, dtype=torch.float64)
        self.dim = len(box)

    def pair_coefficients(self):
        return self.table

    def pair_energy(self, r2, a, b):
        pick = lambda m: torch.as_tensor(m)[a, b]  # noqa: E731
        x = torch.sqrt(r2 / pick(self.table.sigma2))
        c = torch.as_tensor(self.table.coefficients)[a, b]
        u = 4 * pick(self.table.epsilon) * (x**-12 - x**-6 + c[..., 0] + c[..., 1] * x + c[..., 2] * x**2
                                             + c[..., 3] * x**4)
        return torch.where(r2 < pick(self.table.cutoff2), u, 0.0)

    def energy(self, x, types):
        d = x[:, :, None] - x[:, None]
        d = d - self.box * torch.round(d / self.box)
        r2 = d.square().sum(-1)
        off = ~torch.eye(x.shape[1], dtype=torch.bool)
        u = self.pair_energy(torch.where(off, r2, 1.0), types[:, :, None], types[:, None])
        return 0.5 * torch.where(off, u, 0.0).sum((1, 2))


@pytest.mark.parametrize("dim", [2, 3])
def test_two_particles_follow_the_radial_boltzmann_law(dim):
    """p(r) ~ S_d(r) exp(-beta u(r)) for r < L/2, exactly, in a box with cells (sigma 2, cut 5, L 15.5)."""
    from glassgen.targets import KATarget

    table = KATarget("ka3d", 1000).pair_coefficients()
    table = type(table)(table.sigma2 * 4, table.epsilon, table.cutoff2 * 4, table.coefficients)  # sigma_AA = 2
    target = _TableTarget(table, [15.5] * dim, 2)
    g = torch.Generator().manual_seed(dim)
    x0 = torch.rand(200, 2, dim, generator=g, dtype=torch.float64) * 15.5
    mc = MetropolisMC(target, x0, torch.zeros(2, dtype=torch.int64), temperature=0.6, step=2.0, seed=dim,
                      record_overlap=False)
    assert mc.engine == "compiled" and (mc.kernel("compiled").sweeps.cells > 1).all()
    mc.sweep(20, adapt=True)
    distances = []
    for _ in range(400):
        mc.sweep(1)
        d = mc.x[:, 1] - mc.x[:, 0]
        distances.append((d - 15.5 * torch.round(d / 15.5)).norm(dim=-1).numpy())
    r = np.stack(distances, 1)
    grid = np.linspace(1.0, 7.75, 20001)
    weight = grid ** (dim - 1) * np.exp(-target.pair_energy(torch.tensor(grid) ** 2, 0, 0).numpy() / 0.6)
    ks, n_eff = distance_ks(r, grid, weight, 7.75)
    assert ks < 1.95 / math.sqrt(n_eff), (ks, n_eff)  # 99.9 % Kolmogorov-Smirnov
    assert np.mean(r < 5.0) > 0.1  # within the cut-off often enough to test the potential


def test_swaps_visit_permutations_with_boltzmann_weights():
    """Three KA2D particles at fixed places (swaps only): the 6 assignments of species 0, 1, 2 in exp(-beta U)."""
    from glassgen.targets import KATarget

    target = _TableTarget(KATarget("ka2d", 300).pair_coefficients(), [6.0, 6.0], 3, swap_pairs=((0, 2), (1, 2)))
    chains = 4000
    x0 = torch.tensor([[1.0, 1.0], [1.9, 1.0], [1.3, 1.95]], dtype=torch.float64).expand(chains, 3, 2)
    mc = MetropolisMC(target, x0, torch.tensor([0, 1, 2]), temperature=0.7, p_swap=1.0, seed=3, record_overlap=False)
    assert mc.engine == "compiled"
    mc.sweep(20)
    perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    codes = (mc.types * torch.tensor([9, 3, 1])).sum(-1).numpy()
    counts = np.array([(codes == 9 * a + 3 * b + c).sum() for a, b, c in perms])
    energies = target.energy(x0[:6], torch.tensor(perms)).numpy()
    assert np.ptp(energies) > 1.0  # the assignments differ enough to test the weights
    expected = np.exp(-energies / 0.7) / np.exp(-energies / 0.7).sum() * chains
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert counts.sum() == chains and stats.chi2.sf(chi2, 5) > 1e-3, (counts, expected)
    assert torch.equal(mc.x, x0)


def test_ka2d_swap_energy_agrees_with_md():
    """KA2D N = 44, T = 1.0: compiled swap MC and Bussi NVT MD (its own integrator and force field) started from
    the same swap-equilibrated chains give one mean energy.

    MD from random starts would not do as reference: it and Metropolis stay ~0.025 per particle above the swap value
    for over 4e4 sweeps (a slow mode they do not equilibrate), and stay at the swap value when started from swap
    states; the torch engine agrees with the compiled one (-1.862 +- 0.004 against -1.860 over three seeds)."""
    from glassgen.dynamics.equilibration import equilibrate
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    start = random_start("ka2d", 44, batch=32, seed=3)
    target = KATarget("ka2d", start)
    mc = MetropolisMC(target, start.positions, start.types, temperature=1.0, step=0.1, p_swap=0.2, seed=1,
                      record_overlap=False)
    mc.sweep(1000, adapt=True)
    # The chains' configurations with the species in the order of the System's type vector, for MD.
    x = torch.empty_like(mc.x)
    by_species = torch.argsort(mc.types, dim=1, stable=True)[..., None].expand_as(mc.x)
    x[:, torch.argsort(start.types, stable=True)] = torch.gather(mc.x, 1, by_species)
    system, velocities = equilibrate(start.with_positions(x), 1.0, 1000, seed=1, progress=False)
    series = []
    equilibrate(system, 1.0, 6000, seed=2, velocities=velocities, progress=False, every=10,
                callback=lambda step, state: series.append(state.potential_energy.numpy().copy()))
    md = np.stack(series, 1) / 44
    energy = mc.run(1500, every=5).energies / 44
    error = math.hypot(_error(energy), _error(md))
    print(f"compiled swap {energy.mean():.4f} +- {_error(energy):.4f}, MD {md.mean():.4f} +- {_error(md):.4f}; "
          f"acceptance {mc.acceptance}, swap {mc.swap_acceptance}")
    assert abs(energy.mean() - md.mean()) < 4 * error and error < 0.01
    assert np.all(0.3 < mc.acceptance) and np.all(mc.acceptance < 0.5) and np.all(mc.swap_acceptance > 0.02)


def test_same_seed_same_chain_and_exact_resumption(tmp_path):
    target, x, types = _chains("ka2d", 300, 2, seed=8)
    make = lambda seed=5: MetropolisMC(target, x, types, temperature=0.8, p_swap=0.3, seed=seed)  # noqa: E731
    whole, (first, part1), (second, part2) = run_split_and_resumed(make, 4, 6, 3, tmp_path / "mc.pt")
    assert second.engine == "compiled"
    np.testing.assert_array_equal(np.concatenate([part1.energies, part2.energies], 1), whole.energies)
    np.testing.assert_array_equal(np.concatenate([part1.overlap, part2.overlap], 1), whole.overlap)
    again, other = make(), make(seed=6)
    again.sweep(3)
    other.sweep(3)
    reference = make()
    reference.sweep(3)
    assert torch.equal(again.x, reference.x) and torch.equal(again.types, reference.types)
    assert not torch.equal(other.x, reference.x)


def test_bad_inputs_are_refused_before_the_kernels():
    target, x, types = _chains("ka2d", 300, 1, seed=9)
    table = target.pair_coefficients()
    sweeps = PairSweeps(table, target.box.numpy())
    with pytest.raises(SamplerInputError, match="twice the largest cut-off"):
        PairSweeps(table, [4.0, 4.0])
    with pytest.raises(SamplerInputError, match="wrapped into the box"):
        sweeps.energies(x.numpy() - 1.0, types.numpy())
    with pytest.raises(SamplerInputError, match="float64"):
        sweeps.energies(x.float().numpy(), types.numpy())
    with pytest.raises(SamplerInputError, match="species 0..2"):
        sweeps.energies(x.numpy(), types.numpy() + 1)
    with pytest.raises(SamplerInputError, match="PairCoefficients needs"):
        type(table)(table.sigma2, table.epsilon, table.cutoff2, table.coefficients[..., :3])


def test_compiled_sweeps_import_nothing_from_glassgen():
    import subprocess
    import sys

    code = "import sys, samplers.compiled; print(any(m.startswith('glassgen') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sample_command_chooses_the_engine_and_reports_the_drift(capsys, tmp_path):
    import json

    from glassgen.cli import main

    for engine in ("compiled", "torch"):
        assert main(["sample", "--sampler", "swap", "--n", "44", "--chains", "2", "--sweeps", "10", "--burn-in", "5",
                     "--engine", engine, "--quiet", "--json", "-o", str(tmp_path / f"{engine}.h5")]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert 0 <= summary["energy_drift"] < 1e-9
