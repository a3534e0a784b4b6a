"""Parallel tempering (samplers.tempering) against exact distributions, exchange statistics and MD."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from samplers.diagnostics import standard_error
from samplers.target import HarmonicTrap, SamplerInputError
from samplers.tempering import ParallelTempering, Replicas
from tests.test_samplers import SiteField, _error, ka2d_md, run_split_and_resumed  # noqa: F401  (ka2d_md: fixture)


def test_harmonic_trap_every_temperature_is_exact():
    trap = HarmonicTrap(4, dim=3, k=2.0)
    ladder = [0.5, 0.7, 1.0]
    pt = ParallelTempering(trap, torch.zeros(32, 4, 3, dtype=torch.float64), temperatures=ladder, step=0.3, seed=1,
                           record_overlap=False)
    result = pt.run(300, burn_in=40)
    for t, energies in zip(ladder, result.energies):
        msd = 2.0 * energies / trap.k
        exact = trap.mean_square_distance(1.0 / t)
        assert abs(msd.mean() - exact) < 4 * standard_error(msd), (t, msd.mean(), exact)
    assert np.all(result.exchange_acceptance > 0.1)


def test_discrete_permutations_and_exchange_acceptance_are_exact():
    """Swap-only chains over the 6 permutations of SiteField at T = 0.5, 1, 2: each temperature holds exp(-E/T)
    proportions, and the exchange acceptance equals sum_{s,s'} p_i(s) p_j(s') min(1, exp((b_i - b_j)(E_s - E_s')))."""
    target = SiteField()
    ladder = np.array([0.5, 1.0, 2.0])
    pt = ParallelTempering(target, torch.zeros(2000, 3, 1, dtype=torch.float64), torch.tensor([0, 1, 2]),
                           temperatures=ladder, p_swap=1.0, seed=2, record_overlap=False)
    pt.sweep(10)
    pt.reset_counters()
    pt.sweep(10)
    perms = list(itertools.permutations(range(3)))
    energies = np.array([float(target.energy(None, torch.tensor([p]))[0]) for p in perms])
    probs = [np.exp(-energies / t) / np.exp(-energies / t).sum() for t in ladder]
    for mc, p in zip(pt.chains, probs):
        codes = (mc.types * torch.tensor([9, 3, 1])).sum(-1).numpy()
        counts = np.array([(codes == 9 * a + 3 * b + c).sum() for a, b, c in perms])
        assert counts.sum() == 2000
        chi2 = ((counts - 2000 * p) ** 2 / (2000 * p)).sum()
        assert stats.chi2.sf(chi2, 5) > 1e-3, (counts, 2000 * p)
    for k in range(2):
        db = 1 / ladder[k] - 1 / ladder[k + 1]
        exact = sum(probs[k][s] * probs[k + 1][u] * min(1.0, math.exp(db * (energies[s] - energies[u])))
                    for s in range(6) for u in range(6))
        n = pt.exchange_tried[k]
        assert abs(pt.exchange_acceptance[k] - exact) < 4 * math.sqrt(exact * (1 - exact) / n), (k, exact)


def test_exchange_returns_the_chains_that_exchanged():
    """exchange() marks exactly the chains whose configurations moved between rungs k and k + 1 (even pairs, then
    odd ones), as the counters do, so that a subclass can follow replicas without copying the exchange."""
    trap = HarmonicTrap(2, dim=2)
    starts = torch.randn(3, 64, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pt = ParallelTempering(trap, starts, temperatures=[0.5, 0.7, 1.0], seed=1, record_overlap=False)
    for pair in (0, 1):
        before, accepted = [mc.x.clone() for mc in pt.chains], pt.exchange_accepted.copy()
        ok = pt.exchange()
        assert ok.shape == (2, 64) and not bool(ok[1 - pair].any()) and 0 < int(ok[pair].sum()) < 64
        low, high = pt.chains[pair].x, pt.chains[pair + 1].x
        moved, kept = ok[pair], ~ok[pair]
        assert torch.equal(low[moved], before[pair + 1][moved]) and torch.equal(high[moved], before[pair][moved])
        assert torch.equal(low[kept], before[pair][kept])
        np.testing.assert_array_equal(pt.exchange_accepted - accepted, ok.sum(1).numpy())


def test_round_trips_of_a_hand_made_sequence_of_exchanges():
    """Three rungs, two columns; column 0 exchanges (0-1), (1-2), ... in turn, column 1 never: replica 0 goes up in
    rounds 1-2 and is back at round 5 (a trip of 5 rounds from its start at the bottom), replica 1 arrives at the
    bottom at round 1, tops at round 4 and is back at round 7 (6 rounds); replica 2 tops from the start but only
    reaches the bottom at round 3, so it has no trip yet; column 1 has none."""
    replicas = Replicas(3, 2)
    expected = [(1, 0, 2), (1, 2, 0), (2, 1, 0), (2, 0, 1), (0, 2, 1), (0, 1, 2), (1, 0, 2)]  # replicas at rungs 0-2
    completed = [0, 0, 0, 0, 1, 1, 2]
    for k, (at, done) in enumerate(zip(expected, completed)):
        accepted = np.zeros((2, 2), dtype=bool)
        accepted[k % 2, 0] = True
        replicas.update(accepted)
        assert tuple(replicas.at[:, 0]) == at and replicas.completed == done, k
    assert replicas.trip_rounds == 5 + 6 and replicas.mean_trip_rounds == 5.5
    np.testing.assert_array_equal(replicas.rung[:, 0], [1, 0, 2])  # replica 0 at rung 1, 1 at 0, 2 at 2
    np.testing.assert_array_equal(replicas.at[:, 1], [0, 1, 2])
    replicas.update(np.zeros((2, 2), dtype=bool))  # a round without exchanges ends no trip
    assert replicas.completed == 2 and replicas.rounds == 8
    replicas.reset_counts()
    assert replicas.completed == 0 and replicas.mean_trip_rounds is None
    one = Replicas(1, 4)
    one.update(np.zeros((0, 4), dtype=bool))
    assert one.completed == 0 and one.mean_trip_rounds is None  # a one-rung ladder has no trips


def test_a_tempering_run_reports_round_trips_of_its_replicas():
    """Close temperatures on a harmonic trap exchange often: replicas cross the three rungs and come back many times,
    each trip at least 2 (K - 1) = 4 exchange rounds long (a replica moves one rung per round at most)."""
    trap = HarmonicTrap(2, dim=2)
    pt = ParallelTempering(trap, torch.zeros(8, 2, 2, dtype=torch.float64), temperatures=[0.5, 0.6, 0.7], seed=3,
                           record_overlap=False)
    result = pt.run(200, burn_in=20)
    assert result.round_trips == pt.replicas.completed > 10
    assert 4 <= result.round_trip_rounds < 200
    assert sorted(pt.replicas.rung[:, 0].tolist()) == [0, 1, 2]


def test_resumed_tempering_equals_one_long_run(tmp_path):
    from glassgen.systems import random_start
    from glassgen.targets import KATarget

    system = random_start("ka2d", 44, batch=2, seed=3)
    target = KATarget("ka2d", system)
    make = lambda: ParallelTempering(target, system.positions, system.types, temperatures=[1.0, 1.5],
                                     p_swap=0.2, exchange_every=2, seed=4, update="checkerboard")
    whole, (_, part1), (_, part2) = run_split_and_resumed(make, 4, 5, 3, tmp_path / "pt.pt")
    for k in range(2):
        np.testing.assert_array_equal(np.concatenate([part1.energies[k], part2.energies[k]], 1), whole.energies[k])
        np.testing.assert_array_equal(np.concatenate([part1.results[k].overlap, part2.results[k].overlap], 1),
                                      whole.results[k].overlap)
    assert part1.round_trips + part2.round_trips == whole.round_trips


def test_bad_input():
    trap = HarmonicTrap(2, dim=2)
    x = torch.zeros(3, 2, 2, dtype=torch.float64)
    with pytest.raises(SamplerInputError, match="positive"):
        ParallelTempering(trap, x, temperatures=[0.0, 1.0])
    with pytest.raises(SamplerInputError, match="positive"):
        ParallelTempering(trap, x, temperatures=[-1.0, 1.0])
    with pytest.raises(SamplerInputError, match="increasing"):
        ParallelTempering(trap, x, temperatures=[1.0, 1.0])
    with pytest.raises(SamplerInputError, match="increasing"):
        ParallelTempering(trap, x, temperatures=[2.0, 1.0])
    with pytest.raises(SamplerInputError, match="chains"):
        ParallelTempering(trap, torch.zeros(0, 2, 2), temperatures=[1.0, 2.0])
    with pytest.raises(SamplerInputError, match="step"):
        ParallelTempering(trap, x, temperatures=[1.0, 2.0], step=-0.1)
    with pytest.raises(SamplerInputError, match="exchange_every"):
        ParallelTempering(trap, x, temperatures=[1.0, 2.0], exchange_every=0)
    with pytest.raises(SamplerInputError, match="n_sweeps"):
        ParallelTempering(trap, x, temperatures=[1.0, 2.0]).run(-1)


@pytest.mark.slow
def test_ka2d_tempering_energy_at_t1_agrees_with_md(ka2d_md):  # noqa: F811
    """KA2D N = 44: the T = 1.0 member of a ladder 1.0, 1.25, 1.5 has the MD mean energy within error bars."""
    from glassgen.targets import KATarget

    system, md, _ = ka2d_md
    target = KATarget("ka2d", system)
    pt = ParallelTempering(target, system.positions, system.types, temperatures=[1.0, 1.25, 1.5], step=0.1, seed=5,
                           record_overlap=False)
    result = pt.run(120, burn_in=20, recompute_every=40)
    mc_energy = result.energies[0] / 44
    error = math.hypot(_error(mc_energy), _error(md))
    print(f"PT T=1.0: {mc_energy.mean():.4f} +- {_error(mc_energy):.4f} vs MD {md.mean():.4f}; exchange "
          f"{result.exchange_acceptance}, {result.seconds:.1f} s")
    assert abs(mc_energy.mean() - md.mean()) < 4 * error
    assert error < 0.03
    assert np.all(result.exchange_acceptance > 0.05)
