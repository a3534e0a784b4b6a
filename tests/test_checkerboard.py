"""Checkerboard (cell-coloured) updates of samplers.mc against exact results and the sequential sampler."""

import math

import numpy as np
import pytest
import torch

from samplers.diagnostics import standard_error
from samplers.mc import MetropolisMC
from samplers.target import HarmonicTrap, PeriodicPair, SamplerInputError
from tests.statistics import distance_ks


def test_moved_particles_never_interact():
    """Additivity: the running energy (sum of independent single-move changes) equals the recomputed total."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 300, batch=2, seed=1)
    target = KATarget("ka2d", system)
    mc = MetropolisMC(target, system.positions, system.types, temperature=1.0, step=0.15, update="checkerboard",
                      seed=2)
    board = mc.kernel("checkerboard")
    assert board.cells.tolist() == [6, 6] and float(board.cell_width[0]) >= target.interaction_range
    together = max(int(board.attempt(mc.state).sum(1).max()) for _ in range(20))
    assert together >= 3  # several accepted moves in one update of one chain
    torch.testing.assert_close(mc.energy, target.energy(mc.x, mc.types), rtol=1e-10, atol=1e-9)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads make these small-tensor updates 10-30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class _Recording:
    """Wraps a KATarget: records the arguments of every fast-path call, or hides the fast path (``fast=False``)."""

    def __init__(self, target, fast=True):
        self.target, self.calls = target, []
        if fast:
            self.energy_change_moves_near = self._near

    def __getattr__(self, name):
        return getattr(self.target, name)

    def _near(self, x, types, indices, new, neighbours):
        self.calls.append((x.clone(), types.clone(), indices, new, neighbours))
        return self.target.energy_change_moves_near(x, types, indices, new, neighbours)


@pytest.mark.parametrize("model, n", [("ka2d", 300), ("ka3d", 1300)])
def test_cell_neighbours_give_exact_energy_changes(model, n):
    """The fast path (particles of the cells around each moved cell) against brute force: every particle within the
    cut-off of the old or new position is listed, once, and each single-move change equals the force field's total
    energy difference."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start(model, n, batch=2, seed=11)
    target = KATarget(model, system)
    spy = _Recording(target)
    mc = MetropolisMC(spy, system.positions, system.types, temperature=1.0, step=0.3, update="checkerboard", seed=12,
                      record_overlap=False)
    assert int(mc.kernel("checkerboard").cells.min()) >= 4  # 3^d distinct cells around each cell
    for _ in range(3):
        mc.kernel("checkerboard").attempt(mc.state)
    box = target.box
    checked = 0
    for x, types, indices, new, neighbours in spy.calls:
        rows = torch.arange(2)[:, None]
        times = torch.zeros(*indices.shape, n + 1).scatter_add_(2, neighbours, torch.ones(neighbours.shape))[..., :n]
        assert float(times.max()) == 1.0  # no particle twice in one list
        assert bool((times.gather(2, indices[..., None]) == 1).all())  # the particle's own cell is listed
        for where in (x[rows, indices], new):
            d = x[:, None, :, :] - where[:, :, None, :]
            r = (d - box * torch.round(d / box)).norm(dim=-1)  # (B, K, N)
            assert bool((times > 0)[r < target.interaction_range].all())
        fast = target.energy_change_moves_near(x, types, indices, new, neighbours)
        for k in range(indices.shape[1]):
            after = x.clone()
            after[torch.arange(2), indices[:, k]] = new[:, k]
            exact = target.energy(after, types) - target.energy(x, types)
            torch.testing.assert_close(fast[:, k], exact, rtol=1e-9, atol=1e-9)
            checked += 2
    assert checked >= 20


def test_fast_path_and_fallback_give_the_same_chain():
    """Same seed, same random numbers: the cell-list fast path and the all-pairs fallback make the same moves."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 300, batch=2, seed=13)
    target = KATarget("ka2d", system)
    chains = [MetropolisMC(_Recording(target, fast), system.positions, system.types, temperature=0.8, step=0.2,
                           update="checkerboard", seed=14, record_overlap=False) for fast in (True, False)]
    for mc in chains:
        mc.sweep(2)
    assert chains[0].target.calls and not chains[1].target.calls
    torch.testing.assert_close(chains[0].x, chains[1].x, rtol=0, atol=1e-12)
    torch.testing.assert_close(chains[0].energy, chains[1].energy, rtol=1e-12, atol=1e-9)
    assert int(chains[0].move_accepted.sum()) > 100


@pytest.mark.parametrize("model, n, sweeps", [("ka2d", 1290, 3), ("ka3d", 1300, 3)])
def test_running_energy_equals_recomputation(model, n, sweeps):
    """After whole sweeps of the fast path the running sum of accepted changes is the force field's total energy."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start(model, n, batch=2, seed=15)
    target = KATarget(model, system)
    mc = MetropolisMC(target, system.positions, system.types, temperature=0.6, step=0.15, update="checkerboard",
                      seed=16, record_overlap=False)
    mc.sweep(sweeps, adapt=True)
    assert float(mc.acceptance.min()) > 0.1
    torch.testing.assert_close(mc.energy, target.energy(mc.x, mc.types), rtol=1e-10, atol=1e-8)


def test_harmonic_trap_in_a_box_is_exact():
    trap = HarmonicTrap(64, dim=2, k=1.0, box_length=5.0)
    x0 = torch.randn(16, 64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # near equilibrium
    mc = MetropolisMC(trap, x0, temperature=1.0, step=0.5, update="checkerboard", seed=1, record_overlap=False)
    result = mc.run(150, burn_in=20)
    msd = 2.0 * result.energies / trap.k
    exact = trap.mean_square_distance(1.0)
    assert exact < 0.95 * 128  # the box truncates the Gaussian visibly
    assert abs(msd.mean() - exact) < 4 * standard_error(msd), (msd.mean(), exact, standard_error(msd))
    assert 0.25 < mc.acceptance[0] < 0.6


def test_periodic_pair_distance_is_exact():
    """KS test of the pair distance against p(r) ~ 2 pi r exp(-beta v(r)) with cell-confined moves."""
    target = PeriodicPair(dim=2, box_length=3.0, epsilon=5.0, sigma=1.2)
    x0 = torch.rand(256, 2, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3.0
    mc = MetropolisMC(target, x0, temperature=1.0, step=0.4, update="checkerboard", seed=4, record_overlap=False)
    mc.sweep(20, adapt=True)
    distances = []
    for _ in range(200):
        mc.sweep(1)
        distances.append(target.pair_distance(mc.x).numpy())
    r = np.stack(distances, 1)
    grid = np.linspace(0.0, 1.5, 4001)
    ks, n_eff = distance_ks(r, grid, target.distance_density(grid, 1.0), 1.5)
    assert ks < 1.95 / math.sqrt(n_eff), (ks, n_eff)
    assert distance_ks(r, grid, grid, 1.5)[0] > 10 / math.sqrt(n_eff)  # the repulsion matters (ideal gas: 2 pi r)


def test_detailed_balance_of_one_update_on_a_ring():
    """Three non-interacting particles on a ring of 4 cells of a flat potential, steps larger than a cell: the
    uniform density is stationary, so in equilibrium the flux between coarse states (cell occupations) balances."""
    trap = HarmonicTrap(3, dim=1, k=1e-12, box_length=4.0)
    x0 = torch.rand(20000, 3, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 4.0
    mc = MetropolisMC(trap, x0, temperature=1.0, step=1.5, update="checkerboard", cells=4, seed=6,
                      record_overlap=False)
    before = torch.floor(mc.x[..., 0]).long() @ torch.tensor([16, 4, 1])
    mc.kernel("checkerboard").attempt(mc.state)
    after = torch.floor(mc.x[..., 0]).long() @ torch.tensor([16, 4, 1])
    flux = np.zeros((64, 64))
    np.add.at(flux, (before.numpy(), after.numpy()), 1)
    off = flux - np.diag(np.diag(flux))
    assert off.sum() > 1500
    upper, lower = off[np.triu_indices(64, 1)], off.T[np.triu_indices(64, 1)]
    both = upper + lower > 0
    chi2 = ((upper - lower)[both] ** 2 / (upper + lower)[both]).sum()
    from scipy import stats
    assert stats.chi2.sf(chi2, both.sum()) > 1e-3, chi2


def test_bad_checkerboard_settings():
    pair = PeriodicPair(dim=2, box_length=3.0, sigma=1.2)
    x = torch.zeros(2, 2, 2, dtype=torch.float64)
    with pytest.raises(SamplerInputError, match="even"):
        MetropolisMC(pair, x, temperature=1.0, update="checkerboard", cells=3)
    with pytest.raises(SamplerInputError, match="interaction range"):
        MetropolisMC(pair, x, temperature=1.0, update="checkerboard", cells=4)
    with pytest.raises(SamplerInputError, match="periodic box"):
        MetropolisMC(HarmonicTrap(2, dim=2), x, temperature=1.0, update="checkerboard")
    with pytest.raises(SamplerInputError, match="update"):
        MetropolisMC(pair, x, temperature=1.0, update="parallel")


@pytest.mark.slow
def test_checkerboard_agrees_with_sequential_on_ka2d():
    """KA2D N = 300 at T = 1.0: checkerboard and sequential mean energies agree within errors."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 300, batch=8, seed=7)
    target = KATarget("ka2d", system)
    means = []
    for update in ("sequential", "checkerboard"):
        mc = MetropolisMC(target, system.positions, system.types, temperature=1.0, step=0.1, update=update, seed=8,
                          record_overlap=False)
        e = mc.run(200, burn_in=100, recompute_every=50).energies[:, 50:] / 300
        means.append((e.mean(), standard_error(e)))
        print(update, means[-1])
    (a, da), (b, db) = means
    assert abs(a - b) < 4 * math.hypot(da, db)
