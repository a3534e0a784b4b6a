"""Policy-guided Monte Carlo (samplers.pgmc) against exact results, exact enumeration and NVT molecular dynamics."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import optimize

from samplers.diagnostics import standard_error
from samplers.pgmc import MovePolicy, PolicyGuidedMC
from samplers.target import BaseTarget, HarmonicTrap, PeriodicPair, SamplerInputError
from tests.statistics import balance_p_values, distance_ks
from tests.test_samplers import _error, ka2d_md  # noqa: F401  (the MD reference fixture)


class NoHastings(PolicyGuidedMC):
    """PGMC with the proposal correction log q_b - log q_f dropped on purpose: the tests must catch it."""

    def _drop(self, p):
        p.log_ratio = torch.where(torch.isfinite(p.log_ratio), -self.beta * p.delta, float("-inf"))
        return p

    def propose_moves(self, k=1):
        return self._drop(super().propose_moves(k))

    def propose_swaps(self, k=1):
        return self._drop(super().propose_swaps(k))


def _set(parameter, values):
    with torch.no_grad():
        parameter.copy_(torch.as_tensor(values, dtype=parameter.dtype))


@pytest.mark.parametrize("sampler, slope", [(PolicyGuidedMC, 0.0), (PolicyGuidedMC, -0.5), (PolicyGuidedMC, 0.5),
                                            (NoHastings, -0.5)])
def test_harmonic_trap_mean_square_distance_is_exact(sampler, slope):
    """<sum |x|^2> = d N / (beta k), also with log sigma = a + b e_i (asymmetric proposal, Hastings correction);
    without the correction the same chains drift far from it. Chains start from exact samples of the trap."""
    target = HarmonicTrap(4, dim=2, k=1.0)
    x0 = torch.randn(128, 4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mc = sampler(target, x0, temperature=1.0, scale=1.2 if slope <= 0 else 0.5, energy_scale=True, seed=1)
    _set(mc.policy.energy_slope, [slope])
    result = mc.run(150)
    msd = 2.0 * result.energies / target.k
    exact = target.mean_square_distance(1.0)
    error = max(standard_error(msd), float(msd.mean(1).std(ddof=1) / math.sqrt(len(msd))))
    if sampler is NoHastings:
        assert abs(msd.mean() - exact) > 10 * error, (msd.mean(), exact, error)
    else:
        assert error < 0.04 * exact
        assert abs(msd.mean() - exact) < 4 * error, (msd.mean(), exact, error)
        assert 0.3 < mc.acceptance[0] < 0.9


def test_periodic_pair_distance_follows_the_radial_integral():
    """Wrapped Gaussian proposals with an energy-dependent scale in a periodic box: p(r) ~ 4 pi r^2 exp(-beta v)."""
    target = PeriodicPair(dim=3, box_length=3.0, epsilon=5.0, sigma=1.2)
    x0 = torch.rand(256, 2, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 3.0
    mc = PolicyGuidedMC(target, x0, temperature=1.0, scale=0.4, energy_scale=True, seed=2)
    _set(mc.policy.energy_slope, [0.6])  # bigger steps when the pair overlaps, capped at L/4
    mc.run(30)
    distances = []
    for _ in range(300):
        mc.sweep(1)
        distances.append(target.pair_distance(mc.x).numpy())
    r = np.stack(distances, 1)  # (B, S)
    grid = np.linspace(0.0, 1.5, 4001)
    ks, n_eff = distance_ks(r, grid, target.distance_density(grid, 1.0), 1.5)
    assert ks < 1.95 / math.sqrt(n_eff), (ks, n_eff)  # KS at 99.9 %
    assert distance_ks(r, grid, grid**2, 1.5)[0] > 10 / math.sqrt(n_eff)  # the repulsion matters


class SitePairs(BaseTarget):
    """Four particles on fixed sites with species-dependent pair and site energies: 12 arrangements of the species
    (0, 0, 1, 2), so the within-species choice of an energy-biased swap matters (two particles of species 0)."""

    def __init__(self):
        self.dim, self.n_particles, self.n_types = 1, 4, 3
        self.swap_pairs = ((0, 1), (0, 2), (1, 2))
        g = torch.Generator().manual_seed(3)
        self.h = torch.randn(3, 4, generator=g, dtype=torch.float64)
        self.coupling = torch.randn(3, 3, generator=g, dtype=torch.float64)
        self.coupling = 0.5 * (self.coupling + self.coupling.T)
        w = torch.rand(4, 4, generator=g, dtype=torch.float64) + 0.5
        self.w = (w + w.T) * (1 - torch.eye(4, dtype=torch.float64))

    def one_body(self, x, types):
        return self.h[types, torch.arange(4)]

    def pair_energies(self, x, types):
        return self.coupling[types[:, :, None], types[:, None, :]] * self.w

    def energy(self, x, types):
        return self.one_body(x, types).sum(-1) + 0.5 * self.pair_energies(x, types).sum((-1, -2))


@pytest.mark.parametrize("sampler", [PolicyGuidedMC, NoHastings])
def test_energy_biased_swaps_obey_detailed_balance(sampler):
    """Exact enumeration of the 12 arrangements: chains started from exp(-beta E) stay there, and the empirical
    flows s -> s' and s' -> s balance (pi(x) q(x->y) alpha = pi(y) q(y->x) alpha'). Dropping the correction of the
    biased choice breaks both."""
    target = SitePairs()
    states = sorted(set(itertools.permutations((0, 0, 1, 2))))
    table = torch.tensor(states)
    beta = 1.0
    energies = target.energy(None, table).numpy()
    pi = np.exp(-beta * (energies - energies.min()))
    pi /= pi.sum()
    chains = 4000
    start = torch.multinomial(torch.as_tensor(pi), chains, replacement=True, generator=torch.Generator().manual_seed(4))
    mc = sampler(target, torch.zeros(chains, 4, 1, dtype=torch.float64), table[start], temperature=1.0 / beta,
                 p_swap=1.0, energy_swap=True, seed=5)
    _set(mc.policy.swap_bias, [2.0, -1.5, 1.0])
    mc.freeze()
    codes = torch.tensor([27, 9, 3, 1])
    lookup = np.zeros(81, dtype=np.int64)
    lookup[(table * codes).sum(-1).numpy()] = np.arange(12)

    def state():
        return lookup[(mc.types * codes).sum(-1).numpy()]

    flows = np.zeros((12, 12))
    before = state()
    for _ in range(20):
        mc.kernel("policy swap").attempt(mc.state)
        after = state()
        np.add.at(flows, (before, after), 1)
        before = after
    counts = np.bincount(after, minlength=12)
    p_pi, p_flow = balance_p_values(flows, counts, chains * pi)
    assert 0 < mc.swap_acceptance.min() and mc.swap_acceptance.max() < 1
    if sampler is NoHastings:
        assert min(p_pi, p_flow) < 1e-6, (p_pi, p_flow)
    else:
        assert min(p_pi, p_flow) > 1e-3, (p_pi, p_flow, counts, chains * pi)


def _best_scale_1d() -> float:
    """argmax_s E[(s z)^2 min(1, exp(-((x + s z)^2 - x^2) / 2))], x, z standard normal: the J-optimal Gaussian scale
    in a 1D harmonic well in units of the thermal width 1 / sqrt(beta k), by quadrature on a grid and a 1-D search."""
    g = np.linspace(-9.0, 9.0, 1201)
    w = np.exp(-0.5 * g**2) / math.sqrt(2 * math.pi) * (g[1] - g[0])
    x, z = np.meshgrid(g, g, indexing="ij")
    weight = np.outer(w, w)

    def reward(s):
        return float((weight * (s * z) ** 2 * np.minimum(1.0, np.exp(-0.5 * ((x + s * z) ** 2 - x**2)))).sum())

    return optimize.minimize_scalar(lambda s: -reward(s), bounds=(0.5, 6.0), method="bounded").x


@pytest.mark.parametrize("optimizer, lr, baseline", [("sgd", 1.0, False), ("sgd", 1.0, True), ("adam", 0.05, True)])
def test_training_finds_the_scale_that_maximises_the_mean_jump(optimizer, lr, baseline):
    """Two species in a 1D trap (k = 2, T = 0.5), started at 0.15 and 4 (thermal width 0.5): both learned scales end
    within 8 % of the optimum computed independently (2.43 thermal widths)."""
    target = HarmonicTrap(4, dim=1, k=2.0)
    best = _best_scale_1d() / math.sqrt(target.k / 0.5)
    mc = PolicyGuidedMC(target, torch.zeros(64, 4, 1, dtype=torch.float64), torch.tensor([0, 0, 1, 1]),
                        temperature=0.5, scale=[0.15, 4.0], seed=2)
    history = mc.train(300, lr=lr, optimizer=optimizer, baseline=baseline, n_virtual=16)
    learned = history.scales[-100:].mean(0)
    assert np.all(np.abs(learned / best - 1) < 0.08), (learned, best)
    assert history.reward[-50:].mean() > 3 * history.reward[:5].mean()
    assert history.scales.shape == (300, 2) and len(history.parameters) == 300 and history.seconds > 0


def test_ka2d_frozen_pgmc_energy_agrees_with_md(ka2d_md):  # noqa: F811
    """KA2D, N = 44, T = 1.0: a briefly trained, then frozen PGMC (with learnable swaps) gives the MD energy."""
    from glassgen.targets import KATarget

    system, md, _ = ka2d_md
    target = KATarget("ka2d", system)
    mc = PolicyGuidedMC(target, system.positions, system.types, temperature=1.0, scale=0.1, p_swap=0.2,
                        energy_swap=True, seed=7)
    history = mc.train(20, lr=0.05, n_virtual=4)
    result = mc.run(120, burn_in=10, recompute_every=40)
    energy = result.energies / 44
    torch.testing.assert_close(mc.energy, target.energy(mc.x, mc.types), rtol=1e-9, atol=1e-8)
    error = math.hypot(_error(energy), _error(md))
    print(f"PGMC {energy.mean():.4f} +- {_error(energy):.4f} vs MD {md.mean():.4f} +- {_error(md):.4f}; scales "
          f"{mc.policy.scales.tolist()}, acceptance {mc.acceptance}, swaps {mc.swap_acceptance}, "
          f"training {history.seconds:.1f} s, production {result.seconds:.1f} s")
    assert abs(energy.mean() - md.mean()) < 4 * error, (energy.mean(), md.mean(), error)
    assert error < 0.03
    assert np.all(mc.swap_acceptance > 0) and np.all(mc.acceptance > 0.1)
    counts = torch.stack([torch.bincount(row, minlength=3) for row in mc.types])
    assert torch.equal(counts, torch.bincount(system.types, minlength=3).expand(32, -1))


def test_state_dict_resumes_the_same_chain_and_policy():
    """train(a), save, load into a fresh sampler, train(b) and run == the uninterrupted sampler, bit for bit."""
    target = PeriodicPair(dim=2, box_length=3.0)
    x0 = torch.rand(8, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3.0

    def build():
        return PolicyGuidedMC(target, x0, temperature=1.0, scale=0.2, energy_scale=True, seed=3)

    whole = build()
    whole.train(6, n_virtual=2)
    whole.train(4, n_virtual=2)
    expected = whole.run(5).energies
    first = build()
    first.train(6, n_virtual=2)
    second = build()
    second.load_state_dict(first.state_dict())
    second.train(4, n_virtual=2)
    np.testing.assert_array_equal(second.run(5).energies, expected)
    torch.testing.assert_close(second.policy.energy_slope, whole.policy.energy_slope, rtol=0, atol=0)
    frozen = build()
    frozen.load_state_dict(second.state_dict())
    assert frozen.frozen and not frozen.policy.log_scale.requires_grad


def test_same_seed_same_chain_and_training_then_freeze():
    trap = HarmonicTrap(3, dim=2)
    runs = [PolicyGuidedMC(trap, torch.zeros(5, 3, 2, dtype=torch.float64), temperature=1.0, seed=11)
            for _ in range(2)]
    for mc in runs:
        mc.train(5, n_virtual=2)
        mc.sweep(3)
    torch.testing.assert_close(runs[0].x, runs[1].x, rtol=0, atol=0)
    torch.testing.assert_close(runs[0].policy.scales, runs[1].policy.scales, rtol=0, atol=0)
    scales = runs[0].policy.scales.clone()
    runs[0].run(2)
    torch.testing.assert_close(runs[0].policy.scales, scales, rtol=0, atol=0)  # frozen in production
    with pytest.raises(SamplerInputError, match="frozen"):
        runs[0].train(1)


def test_policy_repr_and_wrapped_density_is_normalised():
    policy = MovePolicy(3, 0.2, energy_scale=True, energy_swap=True, max_scale=0.75)
    assert repr(policy) == "MovePolicy(3 species, energy scale, energy swap | 9 parameters)"
    # The wrapped Gaussian at the cap (sigma = L/4) integrates to 1 over the periodic cell (1D, fine grid).
    box = torch.tensor([3.0], dtype=torch.float64)
    d = torch.linspace(-1.5, 1.5, 30001, dtype=torch.float64)[:, None]
    density = MovePolicy.log_displacement_density(d, torch.full((30001,), math.log(0.75), dtype=torch.float64),
                                                  box).exp()
    assert abs(float(torch.trapezoid(density, d[:, 0])) - 1.0) < 1e-7


def test_input_errors():
    trap = HarmonicTrap(2, dim=2)
    x = torch.zeros(4, 2, 2, dtype=torch.float64)
    for scale in (0.0, -0.1, [0.1, 0.2], float("nan")):
        with pytest.raises(SamplerInputError, match="scale"):
            PolicyGuidedMC(trap, x, temperature=1.0, scale=scale)
    with pytest.raises(SamplerInputError, match="chains"):
        PolicyGuidedMC(trap, torch.zeros(0, 2, 2), temperature=1.0)
    mc = PolicyGuidedMC(trap, x, temperature=1.0)
    for lr in (0.0, -1.0, float("inf")):
        with pytest.raises(SamplerInputError, match="learning rate"):
            mc.train(1, lr=lr)
    with pytest.raises(SamplerInputError, match="optimizer"):
        mc.train(1, optimizer="rmsprop")
    with pytest.raises(SamplerInputError, match="n_virtual"):
        mc.train(1, n_virtual=0)
    with pytest.raises(SamplerInputError, match="species"):
        PolicyGuidedMC(trap, x, temperature=1.0, policy=MovePolicy(2))
    with pytest.raises(SamplerInputError, match="max_scale"):
        PolicyGuidedMC(PeriodicPair(dim=2), torch.zeros(4, 2, 2, dtype=torch.float64), temperature=1.0,
                       policy=MovePolicy(1))


def test_pgmc_imports_nothing_from_glassgen():
    import subprocess
    import sys

    code = "import sys, samplers.pgmc; print(any(m.startswith('glassgen') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_survives_trial_moves_into_overlaps():
    """A steep negative energy slope sends the backward scale of a move into an overlap towards 0; the floor of
    the scale keeps the density, the ratio and the policy gradient finite (they were NaN, and training died)."""
    target = PeriodicPair(dim=2, box_length=3.0, epsilon=1e6, sigma=1.4)
    x0 = torch.rand(64, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3.0
    mc = PolicyGuidedMC(target, x0, temperature=1.0, scale=0.5, energy_scale=True, seed=3)
    with torch.no_grad():
        mc.policy.energy_slope.fill_(-5.0)
    moves = mc.propose_moves(8)
    assert not torch.isnan(moves.log_ratio).any() and torch.isinf(moves.log_ratio).sum() < moves.log_ratio.numel()
    mc.train(3, lr=0.01)
    assert all(torch.isfinite(p).all() for p in mc.policy.parameters())
