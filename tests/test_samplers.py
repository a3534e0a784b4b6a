"""Metropolis and swap Monte Carlo (samplers.mc) against exact results and against NVT molecular dynamics."""

import math
import time

import numpy as np
import pytest
import torch
from scipy import stats

from samplers.diagnostics import standard_error
from samplers.mc import MetropolisMC
from samplers.target import BaseTarget, HarmonicTrap, PeriodicPair, SamplerInputError, Target
from tests.statistics import distance_ks


def test_harmonic_trap_mean_square_distance_is_exact():
    """<sum |x - c|^2> = d N / (beta k) for non-interacting particles in a trap."""
    target = HarmonicTrap(4, dim=3, k=2.0, center=[1.0, -0.5, 0.2])
    assert isinstance(target, Target)
    temperature = 0.5
    x0 = target.center + torch.zeros(64, 4, 3, dtype=torch.float64)
    mc = MetropolisMC(target, x0, temperature=temperature, step=0.3, seed=1)
    result = mc.run(400, burn_in=50)
    msd = 2.0 * result.energies / target.k
    exact = target.mean_square_distance(1.0 / temperature)
    error = standard_error(msd)
    assert abs(msd.mean() - exact) < 4 * error, (msd.mean(), exact, error)
    assert error < 0.02 * exact
    assert 0.25 < mc.acceptance[0] < 0.6  # adapted during burn-in, then frozen


def test_periodic_pair_distance_follows_the_radial_integral():
    """Minimum-image pair distance of two soft spheres in a periodic box: p(r) ~ 4 pi r^2 exp(-beta v(r)), r < L/2."""
    target = PeriodicPair(dim=3, box_length=3.0, epsilon=5.0, sigma=1.2)
    beta = 1.0
    generator = torch.Generator().manual_seed(5)
    x0 = torch.rand(256, 2, 3, generator=generator, dtype=torch.float64) * 3.0
    mc = MetropolisMC(target, x0, temperature=1.0 / beta, step=0.5, seed=2)
    mc.sweep(30, adapt=True)
    distances = []
    for _ in range(300):
        mc.sweep(1)
        distances.append(target.pair_distance(mc.x).numpy())
    r = np.stack(distances, 1)  # (B, S)
    grid = np.linspace(0.0, 1.5, 4001)
    # KS at 99.9 % (1.95 / sqrt(n)) with n the effective number of samples inside r < L/2.
    ks, n_eff = distance_ks(r, grid, target.distance_density(grid, beta), 1.5)
    assert ks < 1.95 / math.sqrt(n_eff), (ks, n_eff)
    # The repulsion must matter: the constrained density differs visibly from the ideal-gas r^2 law.
    assert distance_ks(r, grid, grid**2, 1.5)[0] > 10 / math.sqrt(n_eff)


class SiteField(BaseTarget):
    """Three particles at fixed sites, energy sum_i h[type_i, i]: swaps visit the 6 permutations of 3 species."""

    def __init__(self):
        self.dim, self.n_particles, self.n_types = 1, 3, 3
        self.swap_pairs = ((0, 2), (1, 2))
        self.h = torch.tensor([[0.0, 1.0, 2.0], [0.5, -0.5, 0.0], [1.5, 0.0, -1.0]], dtype=torch.float64)

    def energy(self, x, types):
        return self.h[types, torch.arange(3)].sum(-1)


def test_swap_moves_sample_the_boltzmann_weights_of_permutations():
    """Detailed balance of swaps on a discrete space: independent chains end in exp(-beta E) proportions."""
    target = SiteField()
    chains = 3000
    x0 = torch.zeros(chains, 3, 1, dtype=torch.float64)
    mc = MetropolisMC(target, x0, torch.tensor([0, 1, 2]), temperature=1.0, step=0.1, p_swap=1.0, seed=3)
    mc.sweep(20)
    perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    codes = (mc.types * torch.tensor([9, 3, 1])).sum(-1).numpy()
    counts = np.array([(codes == 9 * a + 3 * b + c).sum() for a, b, c in perms])
    assert counts.sum() == chains  # composition kept: every chain is a permutation of (0, 1, 2)
    energies = np.array([float(target.energy(None, torch.tensor([p]))[0]) for p in perms])
    expected = np.exp(-energies) / np.exp(-energies).sum() * chains
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, 5) > 1e-3, (counts, expected)
    assert 0 < mc.swap_acceptance.min() < 1


class RecordingTarget(BaseTarget):
    """A KA target that remembers the displacements proposed to it (and offers no compiled sweeps)."""

    def __init__(self, target):
        self.target, self.proposals = target, []
        self.dim, self.n_particles, self.n_types = target.dim, target.n_particles, target.n_types
        self.box, self.swap_pairs = target.box, target.swap_pairs

    def energy(self, x, types):
        return self.target.energy(x, types)

    def energy_change_move(self, x, types, index, new_position):
        self.proposals.append((index.clone(), new_position.clone()))
        return self.target.energy_change_move(x, types, index, new_position)


def test_displacement_acceptance_probability_is_the_boltzmann_factor_of_total_energies():
    """One displacement attempt in each of 8000 chains of KA2D at T = 0.5: each proposal is taken with probability
    min(1, exp(-dU / T)), dU from total energies of the configurations before and after (the force field, not the
    local energy change the sampler used). Downhill moves are always taken, accepted ones land on the proposal, and
    the number of uphill moves taken agrees with the sum of their probabilities within 4 binomial standard
    deviations (with beta off by a factor 2 it misses by more than 10)."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 44, batch=8, seed=4)
    target = RecordingTarget(KATarget("ka2d", system))
    before = system.positions.repeat(1000, 1, 1)  # 8000 chains
    types = system.types.expand(len(before), -1)
    mc = MetropolisMC(target, before, system.types, temperature=0.5, step=0.15, seed=0)
    taken = mc.kernel("displacement").attempt(mc.state)
    (index, new), = target.proposals
    after = before.clone()
    after[torch.arange(len(before)), index] = new
    change = target.energy(after, types) - target.energy(before, types)
    probability = torch.clamp(torch.exp(-change / 0.5), max=1.0)
    torch.testing.assert_close(mc.x, torch.where(taken[:, None, None], after, before), rtol=0, atol=0)
    downhill = change <= 0
    assert bool(taken[downhill].all()) and 400 < int(downhill.sum()) < 7600
    uphill = probability[~downhill]
    expected, spread = float(uphill.sum()), float((uphill * (1 - uphill)).sum().sqrt())
    assert spread > 10 and abs(int(taken[~downhill].sum()) - expected) < 4 * spread, (taken[~downhill].sum(), expected)


def test_ka_local_energy_changes_match_total_energies():
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 44, batch=16, seed=6)
    local, total = KATarget("ka2d", system), KATarget("ka2d", system, local=False)
    g = torch.Generator().manual_seed(1)
    types = system.types[torch.stack([torch.randperm(44, generator=g) for _ in range(16)])]
    index = torch.randint(44, (16,), generator=g)
    new = torch.rand(16, 2, generator=g, dtype=torch.float64) * local.box
    dl, dt = local.energy_change_move(system.positions, types, index, new), total.energy_change_move(
        system.positions, types, index, new)
    torch.testing.assert_close(dl, dt, rtol=1e-9, atol=1e-8)
    i, j = torch.randint(44, (16,), generator=g), torch.randint(44, (16,), generator=g)
    torch.testing.assert_close(local.energy_change_swap(system.positions, types, i, j),
                               total.energy_change_swap(system.positions, types, i, j), rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def ka2d_md():
    """KA2D, N = 44, T = 1.0, 32 configurations: MD-equilibrated starts and the MD potential energy per particle."""
    from glassgen.dynamics.equilibration import equilibrate
    from glassgen.systems import random_start

    start = random_start("ka2d", 44, batch=32, seed=3)
    t0 = time.perf_counter()
    system, velocities = equilibrate(start, 1.0, 4000, seed=1, progress=False)
    series = []
    equilibrate(system, 1.0, 6000, seed=2, velocities=velocities, progress=False, every=10,
                callback=lambda step, state: series.append(state.potential_energy.numpy().copy()))
    energy = np.stack(series, 1) / 44
    return system, energy, time.perf_counter() - t0


def _error(series):
    """Standard error of the mean of (B, S) series: the larger of the autocorrelation estimate and the spread of
    the B independent chain means (the latter stays honest when slow modes outlast the window of tau_int)."""
    chains = series.mean(1)
    return max(standard_error(series), float(chains.std(ddof=1) / math.sqrt(len(chains))))


@pytest.mark.parametrize("p_swap", [0.0, 0.2])
def test_ka2d_metropolis_energy_agrees_with_md(ka2d_md, p_swap):
    """The issue's key check: Metropolis (and swap) MC and Bussi NVT MD give the same mean energy at T = 1.0."""
    from glassgen.targets import KATarget

    system, md, _ = ka2d_md
    target = KATarget("ka2d", system)
    types = system.types
    mc = MetropolisMC(target, system.positions, types, temperature=1.0, step=0.1, p_swap=p_swap, seed=7)
    result = mc.run(150, burn_in=20, recompute_every=50)
    mc_energy = result.energies / 44
    torch.testing.assert_close(mc.energy, target.energy(mc.x, mc.types), rtol=1e-9, atol=1e-8)
    difference = mc_energy.mean() - md.mean()
    error = math.hypot(_error(mc_energy), _error(md))
    print(f"p_swap={p_swap}: MC {mc_energy.mean():.4f} +- {_error(mc_energy):.4f} vs MD {md.mean():.4f} +- "
          f"{_error(md):.4f}; acceptance {mc.acceptance}, swap {mc.swap_acceptance}, step {mc.step.tolist()}, "
          f"{result.seconds:.1f} s for 150 sweeps, tau_E {result.tau_energy():.1f} sweeps")
    assert abs(difference) < 4 * error, (mc_energy.mean(), md.mean(), error)
    assert error < 0.03
    assert np.all(0.25 < mc.acceptance) and np.all(mc.acceptance < 0.6)
    counts = torch.stack([torch.bincount(row, minlength=3) for row in mc.types])
    assert torch.equal(counts, torch.bincount(types, minlength=3).expand(32, -1))
    if p_swap:
        assert np.all(mc.swap_acceptance > 0)
        assert not torch.equal(mc.types, types.expand(32, -1))


def test_input_errors():
    trap = HarmonicTrap(2, dim=2)
    x = torch.zeros(4, 2, 2, dtype=torch.float64)
    with pytest.raises(SamplerInputError, match="temperature"):
        MetropolisMC(trap, x, temperature=0.0)
    with pytest.raises(SamplerInputError, match="temperature"):
        MetropolisMC(trap, x, temperature=-1.0)
    with pytest.raises(SamplerInputError, match="step"):
        MetropolisMC(trap, x, temperature=1.0, step=0.0)
    with pytest.raises(SamplerInputError, match="step"):
        MetropolisMC(trap, x, temperature=1.0, step=[0.1, 0.2])
    with pytest.raises(SamplerInputError, match="chains"):
        MetropolisMC(trap, torch.zeros(0, 2, 2), temperature=1.0)
    with pytest.raises(SamplerInputError, match="swap"):
        MetropolisMC(trap, x, temperature=1.0, p_swap=0.1)
    with pytest.raises(SamplerInputError, match="shape"):
        MetropolisMC(trap, torch.zeros(4, 3, 2), temperature=1.0)
    assert issubclass(SamplerInputError, ValueError)


def test_same_seed_same_chain():
    trap = HarmonicTrap(3, dim=2)
    runs = [MetropolisMC(trap, torch.zeros(5, 3, 2, dtype=torch.float64), temperature=1.0, seed=11) for _ in range(2)]
    for mc in runs:
        mc.sweep(5, adapt=True)
    torch.testing.assert_close(runs[0].x, runs[1].x, rtol=0, atol=0)


def test_samplers_import_nothing_from_glassgen():
    import subprocess
    import sys

    code = "import sys, samplers.mc, samplers.target; print(any(m.startswith('glassgen') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_local_energies_are_full_pair_sums():
    """KATarget.local_energies = sum_j v(r_ij) (twice the half-pair brute force); analytic targets likewise."""
    from glassgen.systems import get_model, random_start
    from glassgen.targets import KATarget
    from tests.reference import brute_force

    system = random_start("ka3d", 160, batch=2, seed=8)
    target = KATarget("ka3d", system)
    g = torch.Generator().manual_seed(2)
    types = system.types[torch.stack([torch.randperm(160, generator=g) for _ in range(2)])]
    local = target.local_energies(system.positions, types)
    spec = get_model("ka3d")
    for b in range(2):
        half, _ = brute_force(system.positions[b].numpy(), types[b].numpy(), target.box.numpy(), spec.sigma,
                              spec.epsilon, spec.form, spec.cutoff)
        np.testing.assert_allclose(local[b].numpy(), 2 * half, rtol=1e-10, atol=1e-10)
    pair = PeriodicPair(dim=2, box_length=3.0, epsilon=2.0, sigma=1.2)
    x = torch.tensor([[[0.0, 0.0], [2.5, 0.3]]], dtype=torch.float64)  # minimum-image distance sqrt(0.5^2 + 0.3^2)
    v = 2.0 * (1 - math.hypot(0.5, 0.3) / 1.2) ** 2
    torch.testing.assert_close(pair.local_energies(x, None), torch.tensor([[v, v]], dtype=torch.float64))
    trap = HarmonicTrap(3, dim=2, k=2.0)
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]], dtype=torch.float64)
    torch.testing.assert_close(trap.local_energies(x, None), torch.tensor([[1.0, 4.0, 2.0]], dtype=torch.float64))


def test_batched_move_changes_equal_single_moves():
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 44, batch=3, seed=9)
    target = KATarget("ka2d", system)
    g = torch.Generator().manual_seed(3)
    index = torch.randint(44, (3, 5), generator=g)
    new = torch.remainder(system.positions[torch.arange(3)[:, None], index]
                          + 0.3 * torch.randn(3, 5, 2, generator=g, dtype=torch.float64), target.box)
    batched = target.energy_change_moves(system.positions, system.types, index, new)
    single = torch.stack([target._total_difference(system.positions, system.types, index[:, k], new[:, k])
                          for k in range(5)], 1)
    torch.testing.assert_close(batched, single, rtol=1e-9, atol=1e-9)


def test_overlap_is_label_invariant_and_matches_brute_force():
    """Grid-based overlap = direct O(N^2) definition; exchanging two species' identities in place changes nothing."""
    from samplers.diagnostics import overlap

    g = torch.Generator().manual_seed(0)
    box = torch.tensor([7.0, 6.0, 6.5], dtype=torch.float64)
    ref = torch.rand(2, 400, 3, generator=g, dtype=torch.float64) * box
    x = torch.remainder(ref + 0.25 * torch.randn(2, 400, 3, generator=g, dtype=torch.float64), box)
    types = torch.randint(2, (2, 400), generator=g)
    q = overlap(ref, types, x, types, box, 2)
    d = x[:, None] - ref[:, :, None]
    d = torch.remainder(d + box / 2, box) - box / 2
    hit = ((d.square().sum(-1) < 0.09) & (types[:, :, None] == types[:, None, :])).any(2).double()
    for b in range(2):
        for s in range(2):
            assert float(q[b, s]) == pytest.approx(float(hit[b][types[b] == s].mean()), abs=1e-12)
    perm = torch.randperm(400, generator=g)
    assert torch.equal(overlap(ref, types, x[:, perm], types[:, perm], box, 2), q)
    same = overlap(ref, types, ref, types, box, 2)
    assert torch.all(same == 1)
    from samplers.diagnostics import _covered  # the torch path (other devices) gives the same hits as the compiled one
    for b in range(2):
        assert torch.equal(_covered(ref[b], types[b], x[b], types[b], box, 2, 0.3), hit[b].bool())
    flat = torch.tensor([5.0, 4.0], dtype=torch.float64)  # 2D, and a box of few cells
    ref2 = torch.rand(1, 60, 2, generator=g, dtype=torch.float64) * flat
    x2 = torch.remainder(ref2 + 0.3 * torch.randn(1, 60, 2, generator=g, dtype=torch.float64), flat)
    t2 = torch.randint(3, (1, 60), generator=g)
    d2 = torch.remainder(x2[:, None] - ref2[:, :, None] + flat / 2, flat) - flat / 2
    hit2 = ((d2.square().sum(-1) < 0.09) & (t2[:, :, None] == t2[:, None, :])).any(2)
    q2 = overlap(ref2, t2, x2, t2, flat, 3)
    for s in range(3):
        assert float(q2[0, s]) == pytest.approx(float(hit2[0][t2[0] == s].double().mean()), abs=1e-12)


def test_result_reports_efficiency_and_structural_decorrelation():
    """Trap at high T: the overlap decays from 1 to about the random plateau within a few sweeps."""
    trap = HarmonicTrap(32, dim=2, k=0.5, box_length=6.0)
    x0 = torch.rand(8, 32, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 6.0
    mc = MetropolisMC(trap, x0, temperature=4.0, step=1.0, seed=4)
    result = mc.run(60, burn_in=10, every=2)
    assert result.overlap.shape == (8, 30, 1) and result.evaluations == 60 * 32 * 8
    energy, q = result.efficiency("energy"), result.efficiency("overlap")
    assert 1 <= energy["tau_sweeps"] < 60 and energy["ess_per_second"] > 0
    assert energy["ess_per_evaluation"] == pytest.approx(energy["ess"] / result.evaluations)
    assert 2 <= q["decorrelation_sweeps"] <= 30
    assert abs(result.total_overlap()[:, 20:].mean() - result.q_random[0]) < 0.1


@pytest.mark.parametrize("p_swap", [0.0, 0.3])
def test_resumed_chain_equals_one_long_chain(tmp_path, p_swap):
    """run(a) + save + load into a fresh sampler + run(b) = run(a + b), bit for bit (energies, overlaps, state)."""
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 44, batch=4, seed=10)
    target = KATarget("ka2d", system)
    make = lambda: MetropolisMC(target, system.positions, system.types, temperature=1.0, p_swap=p_swap,
                                seed=5)
    whole, (first, part1), (second, part2) = run_split_and_resumed(make, 5, 7, 3, tmp_path / "mc.pt")
    np.testing.assert_array_equal(np.concatenate([part1.energies, part2.energies], 1), whole.energies)
    np.testing.assert_array_equal(np.concatenate([part1.overlap, part2.overlap], 1), whole.overlap)
    assert second.n_evaluations > first.n_evaluations > 0


def run_split_and_resumed(make, first_sweeps: int, second_sweeps: int, burn_in: int, path):
    """Results of one run of make() for all sweeps, and of a run stopped after ``first_sweeps``, saved to ``path``,
    loaded into a fresh sampler and continued: (whole, (first sampler, its result), (second sampler, its result))."""
    whole = make().run(first_sweeps + second_sweeps, burn_in=burn_in)
    first = make()
    part1 = first.run(first_sweeps, burn_in=burn_in)
    torch.save(first.state_dict(), path)
    second = make()
    second.load_state_dict(torch.load(path, weights_only=False))
    return whole, (first, part1), (second, second.run(second_sweeps))
