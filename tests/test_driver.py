"""The Monte Carlo driver (samplers.driver) with a kernel it has never seen, and its refusals."""

import numpy as np
import pytest
import torch

from samplers.diagnostics import standard_error
from samplers.driver import Driver, Production, build_kernels
from samplers.kernels import Counting, Displacement, Kernel
from samplers.mc import MetropolisMC
from samplers.state import ChainState
from samplers.target import HarmonicTrap, SamplerInputError
from tests.test_samplers import run_split_and_resumed


class RandomWalk(Counting):
    """A kernel written outside `samplers`: a Gaussian step of one uniformly chosen particle per chain, accepted by
    Metropolis (the proposal is symmetric)."""

    name = "random walk"
    options = frozenset({"width"})
    attempts = 1

    def __init__(self, state, *, width=0.5):
        self.width = float(width)
        self.counts = {"walk": torch.zeros(2, 1, dtype=torch.int64)}

    def attempt(self, state):
        n_conf, n, dim = state.shape
        index = torch.randint(n, (n_conf,), generator=state.generator)
        noise = torch.randn(n_conf, dim, generator=state.generator, dtype=state.x.dtype)
        new = state.x[torch.arange(n_conf), index] + self.width * noise
        delta = state.target.energy_change_move(state.x, state.t(), index, new)
        ok = state.accept(delta)
        state.move(index, new, ok, delta)
        self.tally("walk", torch.zeros_like(index), ok)
        state.n_evaluations += n_conf
        return ok


def _walker(trap, x0, temperature=0.5, seed=1, mix=((RandomWalk, 1.0),), **options):
    state = ChainState(trap, x0, temperature=temperature, seed=seed)
    return Driver(state, build_kernels(state, mix, {"width": 0.6, **options}), record_overlap=False)


def test_a_new_kernel_needs_no_change_to_the_driver():
    """The test-only random walk, alone and mixed with the library's displacements, samples the trap exactly:
    <sum |x - c|^2> = d N / (beta k); the driver counts its attempts and adapts only the kernel that adapts."""
    trap = HarmonicTrap(4, dim=3, k=2.0, center=[1.0, -0.5, 0.2])
    x0 = trap.center + torch.zeros(64, 4, 3, dtype=torch.float64)
    exact = trap.mean_square_distance(1.0 / 0.5)
    alone = _walker(trap, x0)
    mixed = _walker(trap, x0, mix=((RandomWalk, 0.5), (Displacement, 0.5)), step=0.05)
    assert isinstance(alone.kernel("random walk"), Kernel)
    assert repr(mixed) == "Driver(64 chains x 4 particles in 3D at T = 0.5 | random walk 0.5, displacement 0.5)"
    for driver in (alone, mixed):
        msd = 2.0 * driver.run(300, burn_in=30).energies / trap.k
        assert abs(msd.mean() - exact) < 4 * standard_error(msd), (msd.mean(), exact)
        tried, accepted = driver.counts("walk")
        assert 0 < int(accepted[0]) < int(tried[0])
    assert int(alone.counts("walk")[0, 0]) == 300 * 4 * 64 and alone.step is None
    assert float(mixed.step[0]) > 0.1  # the displacement step grew from 0.05 in burn-in
    assert 0.25 < mixed.acceptance[0] < 0.6


def test_a_new_kernel_resumes_exactly(tmp_path):
    trap = HarmonicTrap(5, dim=2, k=1.0, box_length=4.0)
    x0 = torch.rand(3, 5, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 4.0
    mix = ((RandomWalk, 0.3), (Displacement, 0.7))
    make = lambda: _walker(trap, x0, temperature=1.0, seed=3, mix=mix)  # noqa: E731
    whole, (first, part1), (second, part2) = run_split_and_resumed(make, 4, 6, 2, tmp_path / "walk.pt")
    np.testing.assert_array_equal(np.concatenate([part1.energies, part2.energies], 1), whole.energies)
    assert second.n_attempts_total == (2 + 4 + 6) * 5
    restored = make()
    restored.load_state_dict(first.state_dict())
    assert torch.equal(restored.counts("walk"), first.counts("walk")) and torch.equal(restored.x, first.x)


def test_a_production_saved_mid_way_and_continued_is_one_production(tmp_path):
    """A Production advanced 7 sweeps, saved, loaded into a fresh driver and advanced 8 more gives the records,
    counters (acceptance) and evaluations of one production of 15, on schedules (records every 2 sweeps, energies
    recomputed every 4) that the cut at 7 does not align with; a schedule other than the saved one is refused."""
    trap = HarmonicTrap(5, dim=2, k=1.0, box_length=4.0)
    x0 = torch.rand(3, 5, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 4.0
    schedule = {"every": 2, "recompute_every": 4}

    def make():
        driver = _walker(trap, x0, temperature=1.0, seed=5, mix=((RandomWalk, 0.4), (Displacement, 0.6)))
        driver.record_overlap = True
        return driver

    whole = make()
    expected = whole.run(15, burn_in=3, **schedule)
    first = make()
    first.sweep(3, adapt=True)
    first.start_production()
    production = Production(first, **schedule)
    first.run(7, production=production, **schedule)
    torch.save(production.state_dict(), tmp_path / "production.pt")
    second = make()
    resumed = Production(second, **schedule)
    resumed.load_state_dict(torch.load(tmp_path / "production.pt", weights_only=False))
    result = second.run(8, production=resumed, **schedule)
    assert resumed.done == 15 and result.energies.shape == (3, 7)
    np.testing.assert_array_equal(result.energies, expected.energies)
    np.testing.assert_array_equal(result.overlap, expected.overlap)
    assert result.evaluations == expected.evaluations and result.energy_drift == expected.energy_drift
    np.testing.assert_array_equal(second.acceptance, whole.acceptance)
    assert torch.equal(second.counts("walk"), whole.counts("walk"))
    with pytest.raises(SamplerInputError, match="schedule"):
        Production(make(), every=3).load_state_dict(production.state_dict())
    with pytest.raises(SamplerInputError, match="keeps its schedule"):
        second.run(1, production=resumed, every=1)


def test_options_no_kernel_takes_are_refused():
    trap = HarmonicTrap(3, dim=2, box_length=4.0)
    x = torch.zeros(2, 3, 2, dtype=torch.float64)
    with pytest.raises(SamplerInputError, match=r"cells applies to none of the kernels of this sampler \(random walk"):
        _walker(trap, x, cells=4)
    with pytest.raises(SamplerInputError, match="cells applies to none of the kernels of this sampler "
                                                r"\(displacement\)"):
        MetropolisMC(trap, x, temperature=1.0, cells=4)  # cells are for checkerboard updates
    with pytest.raises(SamplerInputError, match="swap_pairs applies to swap moves only"):
        MetropolisMC(trap, x, temperature=1.0, swap_pairs=[(0, 1)])
    state = ChainState(trap, x, temperature=1.0)
    with pytest.raises(SamplerInputError, match="sum to 1"):
        Driver(state, [(RandomWalk(state), 0.5)])
    with pytest.raises(SamplerInputError, match="is not a kernel"):
        Driver(state, [(object(), 1.0)])
    with pytest.raises(SamplerInputError, match="no 'swap' kernel"):
        _walker(trap, x).kernel("swap")


def test_wall_clock_budget_ends_production():
    trap = HarmonicTrap(8, dim=2)
    driver = _walker(trap, torch.zeros(4, 8, 2, dtype=torch.float64))
    result = driver.run(10**7, budget_seconds=0.3)
    assert 0 < result.energies.shape[1] < 10**6 and result.seconds < 5
    with pytest.raises(SamplerInputError, match="budget_seconds"):
        driver.run(1, budget_seconds=0)


def test_driver_and_kernels_import_nothing_from_glassgen():
    import subprocess
    import sys

    code = ("import sys, samplers.driver, samplers.kernels, samplers.mc, samplers.tempering, samplers.pgmc; "
            "print(any(m.startswith('glassgen') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_overlap_records_follow_the_reference_of_each_production():
    """The driver keeps the reference's cells between records: each record equals the overlap by its definition
    with the reference of its own production, also after a new production, and after a state is loaded."""
    from tests.test_compiled_mc import _chains
    from tests.test_diagnostics import _brute_force_overlap

    target, x, types = _chains("ka2d", 44, 3, seed=4)
    mc = MetropolisMC(target, x, types, temperature=1.0, step=0.3, p_swap=0.3, seed=1)

    def check():
        reference, reference_types = mc.reference
        expected = _brute_force_overlap(reference, reference_types, mc.x, mc.types, mc.box, mc.state.n_types)
        np.testing.assert_array_equal(mc.observe()[1], expected)
        return expected

    first = mc.run(3, burn_in=1).overlap
    assert first.shape == (3, 3, 3) and check().min() < 1
    saved = mc.state_dict()
    mc.run(3, burn_in=2)  # a new production: a new reference
    assert not torch.equal(mc.reference[0], saved["reference"][0])
    check()
    mc.load_state_dict(saved)  # back to the first reference
    np.testing.assert_array_equal(check(), first[:, -1])
