"""Compiled policy-guided sweeps (samplers.compiled_policy, samplers.kernels.PolicySweeps) against the torch kernels
of samplers.pgmc, exact enumeration, the radial Boltzmann law, compiled Metropolis and exact resumption."""

import itertools
import math

import numpy as np
import pytest
import torch

from samplers.compiled_policy import PolicyPairSweeps
from samplers.mc import MetropolisMC
from samplers.pgmc import PolicyGuidedMC
from samplers.target import HarmonicTrap, SamplerInputError
from tests.test_compiled_mc import _chains, _TableTarget
from tests.statistics import balance_p_values, distance_ks
from tests.test_samplers import _error, run_split_and_resumed


def _set(policy, slope=None, bias=None):
    with torch.no_grad():
        if slope is not None:
            policy.energy_slope.copy_(torch.as_tensor(slope, dtype=torch.float64))
        if bias is not None:
            policy.swap_bias.copy_(torch.as_tensor(bias, dtype=torch.float64))


def _ka2d_table():
    from glassgen.targets import KATarget

    return KATarget("ka2d", 300).pair_coefficients()


def test_single_proposals_have_the_log_ratios_of_the_torch_kernels():
    """The same displacement or swap, from the same KA2D state: the compiled dU and log Metropolis-Hastings ratio
    equal those of propose_moves / propose_swaps, with a non-zero energy slope and swap bias (whose Hastings terms
    are checked to matter)."""
    target, x, types = _chains("ka2d", 44, 6, seed=2)
    mc = PolicyGuidedMC(target, x, types, temperature=0.8, scale=0.3, energy_scale=True, energy_swap=True,
                        p_swap=0.5, seed=1, engine="torch")
    _set(mc.policy, slope=[0.15, -0.2, 0.1], bias=[0.8, -0.6, 0.5])
    kernel = PolicyGuidedMC(target, x, types, temperature=0.8, policy=mc.policy, p_swap=0.5).kernels[0]
    sweeps, table, log_max = kernel.sweeps, kernel.table(), mc.policy.log_max_scale
    xs, ts = mc.x.numpy(), mc.types.numpy()
    for _ in range(3):
        moves = mc.propose_moves(1)
        index, new = moves.move
        for b in range(6):
            i = int(index[b, 0])
            du, log_ratio = sweeps.move_log_ratio(xs, ts, b, i, (new[b, 0] - mc.x[b, i]).numpy(), table, log_max,
                                                  mc.beta)
            assert du == pytest.approx(float(moves.delta[b, 0]), rel=1e-10, abs=1e-10)
            assert log_ratio == pytest.approx(float(moves.log_ratio[b, 0]), rel=1e-9, abs=1e-9)
        hastings = moves.log_ratio + mc.beta * moves.delta
        assert float(hastings.abs().max()) > 1e-2
        swaps = mc.propose_swaps(1)
        i, j, _ = swaps.move
        for b in range(6):
            du, log_ratio, _ = sweeps.swap_log_ratio(xs, ts, b, int(i[b]), int(j[b]), table, mc.beta)
            assert du == pytest.approx(float(swaps.delta[b]), rel=1e-10, abs=1e-10)
            assert log_ratio == pytest.approx(float(swaps.log_ratio[b]), rel=1e-9, abs=1e-9)
        assert float((swaps.log_ratio + mc.beta * swaps.delta).abs().max()) > 1e-2


def test_the_early_rejection_bound_of_biased_swaps_holds_and_is_tight():
    """The sweeps reject a biased swap whose uniform number exceeds exp(bound) before computing the new weight sums:
    the bound must be at least the exact log ratio for every pair, also with strong biases and for pairs whose
    neighbours' local energies change a lot, and close to it for most (else it saves nothing); relaxed KA2D chains."""
    target, x, types = _chains("ka2d", 44, 4, seed=9)
    relaxed = MetropolisMC(target, x, types, temperature=1.0, p_swap=0.2, seed=1, record_overlap=False)
    relaxed.sweep(50)
    x, types = relaxed.x, relaxed.types
    sweeps = PolicyPairSweeps(target.pair_coefficients(), target.box.numpy())
    for bias in ([0.3, -0.3, 0.5], [2.0, -1.5, 1.0]):
        table = np.zeros((3, 3))
        table[2] = bias
        gaps = []
        for b in range(4):
            t = types[b].numpy()
            for i in np.flatnonzero(t == 0)[:8]:
                for j in np.flatnonzero(t != 0)[:8]:
                    du, log_ratio, bound = sweeps.swap_log_ratio(x.numpy(), types.numpy(), b, int(i), int(j),
                                                                 table, 1.0)
                    if math.isfinite(log_ratio):
                        gaps.append(bound - log_ratio)
        gaps = np.array(gaps)
        assert gaps.size > 200 and gaps.min() > 0, gaps.min()
        if bias[0] == 0.3:  # the biases of the benchmark: measured median 0.06, 0.4 % above 1
            assert np.median(gaps) < 0.1 and np.mean(gaps > 1.0) < 0.05, (np.median(gaps), np.mean(gaps > 1.0))


def test_running_and_local_energies_equal_fresh_ones_after_many_sweeps():
    """A dilute KA2D fluid with large, energy-dependent steps and biased swaps: many moves change cells, and the
    running energies and the kernel's local energies (updated move by move) stay those of a fresh evaluation."""
    target, x, types = _chains("ka2d", 300, 2, seed=3, density=0.4)
    mc = PolicyGuidedMC(target, x, types, temperature=2.0, scale=0.6, energy_scale=True, energy_swap=True,
                        p_swap=0.3, seed=1, record_overlap=False)
    _set(mc.policy, slope=[0.3, 0.2, -0.2], bias=[0.5, -0.5, 1.0])
    result = mc.run(30)
    kernel = mc.kernels[0]
    assert mc.engine == "compiled" and result.energy_drift < 1e-9
    np.testing.assert_array_equal(kernel.local[0], mc.x.numpy())  # the kept energies belong to the chains
    fresh = target.local_energies(mc.x, mc.types).numpy()
    assert np.abs(kernel.local[2] - fresh).max() < 1e-9 * max(1.0, np.abs(fresh).max())
    assert float(mc.acceptance.min()) > 0.1 and float(mc.swap_acceptance.min()) > 0.01
    tried = int(mc.move_tried.sum() + mc.swap_tried.sum())
    assert tried == 2 * 30 * 300 and 0.25 < int(mc.swap_tried.sum()) / tried < 0.35
    fresh_at_start = 2 * 300  # the first call evaluates the local energies, N per chain
    assert result.evaluations == int(mc.move_tried.sum()) + 2 * int(mc.swap_tried.sum()) + fresh_at_start


def test_energy_dependent_displacements_keep_the_radial_boltzmann_law():
    """Two particles (sigma 2, cut-off 5, L = 15.5): with log sigma = a + b e the proposal is asymmetric, and the
    distance must still follow p(r) ~ 2 pi r exp(-beta u(r)) (99.9 % Kolmogorov-Smirnov)."""
    from glassgen.targets import KATarget

    table = KATarget("ka3d", 1000).pair_coefficients()
    table = type(table)(table.sigma2 * 4, table.epsilon, table.cutoff2 * 4, table.coefficients)
    target = _TableTarget(table, [15.5, 15.5], 2)
    x0 = torch.rand(256, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 15.5
    mc = PolicyGuidedMC(target, x0, torch.zeros(2, dtype=torch.int64), temperature=0.6, scale=1.5,
                        energy_scale=True, seed=2, record_overlap=False)
    _set(mc.policy, slope=[0.5])  # steps from ~1 at the well to the cap L/4 on overlap
    assert mc.engine == "compiled"
    mc.sweep(20)
    distances = []
    for _ in range(300):
        mc.sweep(1)
        d = mc.x[:, 1] - mc.x[:, 0]
        distances.append((d - 15.5 * torch.round(d / 15.5)).norm(dim=-1).numpy())
    r = np.stack(distances, 1)
    grid = np.linspace(1.0, 7.75, 20001)
    weight = grid * np.exp(-target.pair_energy(torch.tensor(grid) ** 2, 0, 0).numpy() / 0.6)
    ks, n_eff = distance_ks(r, grid, weight, 7.75)
    assert ks < 1.95 / math.sqrt(n_eff), (ks, n_eff)
    assert np.mean(r < 5.0) > 0.2 and 0.1 < float(mc.acceptance[0]) < 0.9


def test_energy_biased_swaps_obey_detailed_balance():
    """Four KA2D particles on fixed sites, species (0, 0, 1, 2), swaps only with a strong bias: chains started from
    exp(-beta E) over the 12 arrangements stay there, and the flows s -> s' and s' -> s of a sweep balance (a sweep
    is a power of one reversible kernel, so it is reversible too)."""
    sites = torch.tensor([[1.0, 1.0], [2.05, 1.1], [1.4, 2.0], [2.3, 2.2]], dtype=torch.float64)
    target = _TableTarget(_ka2d_table(), [6.0, 6.0], 4, swap_pairs=((0, 1), (0, 2), (1, 2)))
    table = torch.tensor(sorted(set(itertools.permutations((0, 0, 1, 2)))))
    energies = target.energy(sites.expand(12, 4, 2), table).numpy()
    assert np.ptp(energies) > 1.0
    pi = np.exp(-(energies - energies.min()))
    pi /= pi.sum()
    chains = 4000
    start = torch.multinomial(torch.as_tensor(pi), chains, replacement=True, generator=torch.Generator().manual_seed(4))
    mc = PolicyGuidedMC(target, sites.expand(chains, 4, 2), table[start], temperature=1.0, p_swap=1.0,
                        energy_swap=True, seed=5, record_overlap=False)
    _set(mc.policy, bias=[2.0, -1.5, 1.0])
    assert mc.engine == "compiled"
    codes = torch.tensor([27, 9, 3, 1])
    lookup = np.zeros(81, dtype=np.int64)
    lookup[(table * codes).sum(-1).numpy()] = np.arange(12)
    flows = np.zeros((12, 12))
    before = lookup[(mc.types * codes).sum(-1).numpy()]
    for _ in range(10):
        mc.sweep(1)
        after = lookup[(mc.types * codes).sum(-1).numpy()]
        np.add.at(flows, (before, after), 1)
        before = after
    counts = np.bincount(after, minlength=12)
    assert 0 < mc.swap_acceptance.min() and mc.swap_acceptance.max() < 1
    assert min(balance_p_values(flows, counts, chains * pi)) > 1e-3, (counts, chains * pi)
    assert torch.equal(mc.x, sites.expand(chains, 4, 2))


def test_small_system_energy_agrees_with_compiled_metropolis():
    """Ten KA2D particles in a 6 x 6 box at T = 1.5: compiled PGMC with energy slopes and swap biases and compiled
    Metropolis with swaps give one mean energy."""
    target = _TableTarget(_ka2d_table(), [6.0, 6.0], 10, swap_pairs=((0, 2), (1, 2)))
    grid = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(3.0), indexing="ij"), -1).reshape(-1, 2)[:10]
    x0 = (grid * torch.tensor([1.5, 2.0]) + 0.3).to(torch.float64).expand(64, 10, 2)
    types = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    metropolis = MetropolisMC(target, x0, types, temperature=1.5, step=0.4, p_swap=0.3, seed=1, record_overlap=False)
    pgmc = PolicyGuidedMC(target, x0, types, temperature=1.5, scale=0.4, energy_scale=True, energy_swap=True,
                          p_swap=0.3, seed=2, record_overlap=False)
    _set(pgmc.policy, slope=[0.3, -0.2, 0.2], bias=[1.0, -1.0, 0.5])
    assert metropolis.engine == pgmc.engine == "compiled"
    reference = metropolis.run(1500, burn_in=100).energies
    energy = pgmc.run(1500, burn_in=100).energies
    error = math.hypot(_error(energy), _error(reference))
    assert abs(energy.mean() - reference.mean()) < 4 * error, (energy.mean(), reference.mean(), error)
    assert error < 0.02 * abs(reference.mean())
    assert np.all(pgmc.swap_acceptance > 0.05) and np.all(pgmc.acceptance > 0.2)


def test_same_seed_same_chain_and_exact_resumption(tmp_path):
    target, x, types = _chains("ka2d", 44, 3, seed=8)

    def make(seed=5):
        mc = PolicyGuidedMC(target, x, types, temperature=0.8, scale=0.1, energy_scale=True, energy_swap=True,
                            p_swap=0.3, seed=seed)
        _set(mc.policy, slope=[0.1, 0.1, -0.1], bias=[0.5, 0.5, -0.5])
        return mc

    whole, (first, part1), (second, part2) = run_split_and_resumed(make, 4, 6, 3, tmp_path / "pgmc.pt")
    assert second.engine == "compiled"
    np.testing.assert_array_equal(np.concatenate([part1.energies, part2.energies], 1), whole.energies)
    np.testing.assert_array_equal(np.concatenate([part1.overlap, part2.overlap], 1), whole.overlap)
    other = make(seed=6)
    other.sweep(3)
    again = make()
    again.sweep(3)
    assert not torch.equal(other.x, again.x)


def test_engine_choice_and_refusals():
    target, x, types = _chains("ka2d", 44, 2, seed=6)
    assert PolicyGuidedMC(target, x, types, temperature=1.0, engine="compiled").engine == "compiled"
    assert PolicyGuidedMC(target, x.float(), types, temperature=1.0).engine == "torch"
    trap = HarmonicTrap(3, dim=2, box_length=4.0)
    with pytest.raises(SamplerInputError, match="pair_coefficients"):
        PolicyGuidedMC(trap, torch.zeros(2, 3, 2, dtype=torch.float64), temperature=1.0, engine="compiled")
    with pytest.raises(SamplerInputError, match="float64"):
        PolicyGuidedMC(target, x.float(), types, temperature=1.0, engine="compiled")
    with pytest.raises(SamplerInputError, match="engine"):
        PolicyGuidedMC(target, x, types, temperature=1.0, engine="gpu")
    sweeps = PolicyPairSweeps(target.pair_coefficients(), target.box.numpy())
    with pytest.raises(SamplerInputError, match="quarter"):
        sweeps.move_log_ratio(x.numpy(), types.numpy(), 0, 0, np.zeros(2), np.zeros((3, 3)), 10.0, 1.0)


def test_sample_command_runs_pgmc_compiled(capsys, tmp_path):
    import json

    from glassgen.cli import main

    assert main(["sample", "--sampler", "pgmc", "--n", "44", "--chains", "2", "--sweeps", "10", "--burn-in", "2",
                 "--train-steps", "2", "--engine", "compiled", "--quiet", "--json", "-o", str(tmp_path / "p.h5")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= summary["energy_drift"] < 1e-9
