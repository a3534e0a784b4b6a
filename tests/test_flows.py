"""Flows: exact densities (change of variables, inverse), symmetries of log q, unbiased reweighting, training,
checkpoints, and the flow Metropolis-Hastings kernel against exact references."""

import math

import numpy as np
import pytest
import torch

from samplers.flows import FlowSettings, FlowTrainer, ParticleFlow, TrainingSettings, draw
from samplers.target import PeriodicPair, SamplerInputError
from tests.statistics import distance_ks

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def small_flow(types=(0, 0, 0, 1, 1), box=(3.0, 2.5), layers=3, conditioned=False, seed=1, scale=0.5,
               messages="spectral"):
    """A flow far from the identity (random last layers), so that the checks below test a non-trivial map."""
    torch.manual_seed(seed)
    flow = ParticleFlow(FlowSettings("test", types=types, box=box, n_layers=layers, hidden=16, n_bins=5,
                                     messages=messages, temperature_conditioned=conditioned))
    with torch.no_grad():
        for layer in flow.flow.flows:
            layer.conditioner.head[-1].weight.normal_(0.0, scale)
    return flow


@pytest.mark.parametrize("messages", ["spectral", "pairwise"])
def test_log_density_is_the_change_of_variables_with_an_autograd_jacobian(messages):
    flow = small_flow(messages=messages)
    z, log_prior = flow.flow.q0(3)
    for row in range(3):
        def forward(v):
            out = v.reshape(1, *z.shape[1:])
            for layer in flow.flow.flows:
                out, _ = layer(out)
            return out.reshape(-1)
        jacobian = torch.autograd.functional.jacobian(forward, z[row].reshape(-1))
        expected = float(log_prior[row]) - torch.linalg.slogdet(jacobian)[1].item()
        angles = forward(z[row].reshape(-1)).reshape(1, *z.shape[1:])
        assert float(flow.flow.log_prob(angles)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("messages", ["spectral", "pairwise"])
def test_inverse_of_forward_is_the_identity_in_float64(messages):
    flow = small_flow(conditioned=True, messages=messages)
    z, _ = flow.flow.q0(50)
    context = torch.full((50, 1), 0.7, dtype=torch.float64)
    x = flow.flow.forward(z, context=context)
    assert float((x - z).abs().max()) > 1e-2  # the map is not the identity
    back = flow.flow.inverse(x, context=context)
    assert float((back - z).abs().max()) < 1e-10


@pytest.mark.parametrize("messages,box", [("spectral", (3.0, 3.0)), ("pairwise", (3.0, 3.0)),
                                          ("spectral", (3.0, 3.0, 3.0))])
def test_log_q_is_invariant_under_translations_and_relabelling_of_identical_particles(messages, box):
    flow = small_flow(box=box, messages=messages)
    generator = torch.Generator().manual_seed(3)
    x, types, log_q = flow.sample(8, generator=generator)
    pins = torch.zeros(8, dtype=torch.int64)  # sample() puts the pinned particle first
    assert torch.allclose(flow.log_prob(x, types, pins=pins), log_q, atol=1e-10, rtol=0)
    shifted = torch.remainder(x + torch.tensor([1.234, -0.71, 2.2][: len(box)], dtype=torch.float64), 3.0)
    assert torch.allclose(flow.log_prob(shifted, types, pins=pins), log_q, atol=1e-10, rtol=0)
    # Relabel: reverse the order of the particles (species follow), the pinned one moves to the end.
    order = torch.arange(4, -1, -1)
    assert torch.allclose(flow.log_prob(x[:, order], types[:, order], pins=torch.full((8,), 4)), log_q, atol=1e-10,
                          rtol=0)
    # Another pinned particle gives another (valid) value of the extended density, not the same one.
    assert not torch.allclose(flow.log_prob(x, types, pins=torch.ones(8, dtype=torch.int64)), log_q, atol=1e-6)


def test_uniform_flow_gives_the_ideal_gas_partition_function_exactly():
    """No interaction and the identity flow: every weight is V^N, so log Z = N log V with no error."""
    flow = ParticleFlow(FlowSettings("test", types=(0, 0), box=(2.0, 3.0), n_layers=2, hidden=8))
    ideal = PeriodicPair(dim=2, box_length=3.0, epsilon=0.0)
    ideal.box = torch.tensor([2.0, 3.0], dtype=torch.float64)
    x, types, log_q = flow.sample(10)
    assert torch.allclose(log_q, torch.full_like(log_q, -2 * math.log(6.0)), atol=1e-12)
    samples = draw(flow, ideal, temperature=1.0, n=256, generator=torch.Generator().manual_seed(0))
    log_z, error = samples.log_partition()
    assert log_z == pytest.approx(2 * math.log(6.0), abs=1e-9) and error < 1e-9
    assert samples.kish == pytest.approx(256, rel=1e-9)


def test_reweighted_averages_are_unbiased_on_an_analytic_target():
    # Two particles with a soft repulsion in a periodic square: the exact density of their distance is known.
    target = PeriodicPair(dim=2, box_length=3.0, epsilon=3.0, sigma=1.2)
    flow = small_flow(types=(0, 0), box=(3.0, 3.0), layers=2, scale=0.3)
    samples = draw(flow, target, temperature=0.5, n=20000, batch_size=5000, generator=torch.Generator().manual_seed(5))
    assert 0.05 < samples.kish / samples.n < 0.999  # weights far from uniform: the test is not trivial
    grid = np.linspace(0.0, 1.5, 30001)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    inside = trapezoid(target.distance_density(grid, beta=2.0), grid)  # the density of r < L/2 is normalised
    energy = target.epsilon * np.clip(1 - grid / target.sigma, 0, None) ** 2
    # <v> over the whole box: r < L/2 carries weight pi (L/2)^2 / L^2 of the ideal measure; corners have v = 0.
    disk = np.pi * 1.5**2 / 9.0
    inner = trapezoid(2 * np.pi * grid * np.exp(-2.0 * energy), grid) / 9.0
    corner = 1.0 - disk
    exact = trapezoid(2 * np.pi * grid * np.exp(-2.0 * energy) * energy, grid) / 9.0 / (inner + corner)
    estimate = samples.energy_per_particle()
    assert inside == pytest.approx(1.0, abs=1e-6)
    assert abs(2 * estimate.mean - exact) < 4 * 2 * estimate.stderr
    # The same flow's log Z: the integral of exp(-beta v) over the box^2 is V (inner + corner) V.
    log_z, error = samples.log_partition()
    assert abs(log_z - math.log(81.0 * (inner + corner))) < 4 * error


def test_flow_settings_and_files_refuse_what_they_cannot_serve(tmp_path):
    with pytest.raises(SamplerInputError, match="n_layers"):
        FlowSettings("ka2d", types=(0, 1), box=(3.0, 3.0), n_layers=0)
    flow = small_flow()
    path = tmp_path / "flow.pt"
    flow.save(path, temperature=0.5)
    loaded, extra = ParticleFlow.load(path)
    assert extra == {"temperature": 0.5}
    x, types, _ = flow.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded.log_prob(x, types, pins=torch.zeros(4, dtype=torch.int64)),
                       flow.log_prob(x, types, pins=torch.zeros(4, dtype=torch.int64)))
    with pytest.raises(SamplerInputError, match="trained for test"):
        loaded.check_system("ka2d", torch.tensor([0, 0, 0, 1, 1]), torch.tensor([3.0, 2.5]))
    with pytest.raises(SamplerInputError, match="composition"):
        loaded.log_prob(x, torch.tensor([0, 0, 1, 1, 1]))
    with pytest.raises(SamplerInputError, match="glassgen flow file"):
        torch.save({"something": 1}, tmp_path / "other.pt")
        ParticleFlow.load(tmp_path / "other.pt")


def test_reverse_kl_training_raises_the_ess_and_resumes_exactly(tmp_path):
    target = PeriodicPair(dim=2, box_length=3.0, epsilon=4.0, sigma=1.2)
    settings = TrainingSettings(steps=60, batch_size=128, lr=5e-3, schedule="reverse", temperatures=(0.5,), seed=2)

    def trained(steps, checkpoint=None, first=None):
        torch.manual_seed(0)
        flow = ParticleFlow(FlowSettings("test", types=(0, 0), box=(3.0, 3.0), n_layers=2, hidden=16))
        trainer = FlowTrainer(flow, target, settings)
        if first is not None:
            FlowTrainer(flow, target, TrainingSettings(**{**settings.__dict__, "steps": first})).train(
                checkpoint=checkpoint)
        trainer.train(checkpoint=checkpoint)
        return flow, trainer.history

    flow, history = trained(60)
    before = np.nanmean(history.ess_fraction[:5])
    after = np.nanmean(history.ess_fraction[-5:])
    assert after > before + 0.05
    resumed, resumed_history = trained(60, checkpoint=tmp_path / "train.pt", first=25)
    assert resumed_history.reverse == history.reverse
    for a, b in zip(flow.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("hybrid, prior", [(False, None), (True, None), (False, 2.0)])
def test_flow_metropolis_hastings_samples_the_exact_distance_density(hybrid, prior):
    """Independent MH with a flow far from the target (and mixed with displacements), and the exchange with a
    Boltzmann prior's chains at T_high = 2: p(r) ~ 2 pi r exp(-beta v) at T = 0.5."""
    from samplers.driver import Driver
    from samplers.kernels import Displacement, FlowProposal
    from samplers.state import ChainState

    target = PeriodicPair(dim=2, box_length=3.0, epsilon=4.0, sigma=1.2)
    if prior is None:
        flow = small_flow(types=(0, 0), box=(3.0, 3.0), layers=2, scale=2.0)
    else:
        torch.manual_seed(1)
        flow = ParticleFlow(FlowSettings("test", types=(0, 0), box=(3.0, 3.0), n_layers=2, hidden=8,
                                         prior_temperature=prior))
        with torch.no_grad():
            for layer in flow.flow.flows:
                layer.conditioner.head[-1].weight.normal_(0.0, 2.0)
        hot = torch.rand(256, 2, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3.0
        flow.attach_prior(target, hot, torch.zeros(2, dtype=torch.int64), sweeps_between=1, burn_in=20, seed=3)
    x0 = torch.rand(256, 2, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64) * 3.0
    state = ChainState(target, x0, temperature=0.5, seed=9)
    mix = [(FlowProposal(state, flow=flow), 0.5), (Displacement(state, step=0.3), 0.5)] if hybrid else \
        [(FlowProposal(state, flow=flow), 1.0)]
    driver = Driver(state, mix, record_overlap=False)
    driver.sweep(5)
    distances = []
    for _ in range(60):
        driver.sweep(1)
        distances.append(target.pair_distance(driver.x).numpy())
    r = np.stack(distances, 1)
    grid = np.linspace(0.0, 1.5, 4001)
    density = target.distance_density(grid, 2.0)
    ks, n_eff = distance_ks(r, grid, density, 1.5)
    assert ks < 1.95 / math.sqrt(n_eff), (ks, n_eff)
    tried, accepted = driver.counts("flow")
    assert 0.05 < float(accepted.sum()) / float(tried.sum()) < 0.95  # proposals are neither all taken nor all refused
    with torch.no_grad():
        own, _, _ = flow.sample(20000, generator=torch.Generator().manual_seed(1))
    own_r = target.pair_distance(own).numpy()[None]
    ks_flow, count_flow = distance_ks(own_r, grid, density, 1.5, independent=True)
    assert ks_flow > 10 / math.sqrt(count_flow)  # the flow alone is wrong
    # and far from the ideal gas: MH that forgot q would sample q p, not p, and the test above would see it.
    assert distance_ks(own_r, grid, grid, 1.5, independent=True)[0] > 10 / math.sqrt(count_flow)
    assert driver.state.fresh_energy().sub(driver.energy).abs().max() < 1e-12


@pytest.mark.parametrize("model, n", [("ka2d", 44), ("ka3d", 160), ("ka3d-sf", 160)])
def test_dense_pair_energy_equals_the_force_field_with_its_gradient(model, n):
    from glassgen.systems import random_start
    from glassgen.targets import KATarget
    from samplers.flows.energy import DensePairEnergy

    start = random_start(model, n, batch=3, seed=4)
    target = KATarget(model, start)
    x = start.batched_positions().clone().requires_grad_(True)
    types = target.types.expand(3, -1)
    energy = DensePairEnergy(target).energy(x, types)
    reference = target.forcefield.compute(x.detach(), energy=True, forces=True)
    assert torch.allclose(energy, reference.energy, rtol=1e-12, atol=1e-10)
    energy.sum().backward()
    assert torch.allclose(x.grad, -reference.forces, rtol=1e-9, atol=1e-9)


def test_thermodynamic_integration_recovers_an_exact_free_energy_difference():
    """Two soft particles in a periodic square: log Z(beta) by quadrature, <U>_beta = -d log Z / d beta; the
    trapezoid integral of <U> over beta gives log Z(beta_0) - log Z(beta)."""
    from samplers.reweight import thermodynamic_integration

    target = PeriodicPair(dim=2, box_length=3.0, epsilon=3.0, sigma=1.2)
    r = np.linspace(0.0, 1.5, 20001)
    v = target.epsilon * np.clip(1 - r / target.sigma, 0, None) ** 2
    trapezoid = getattr(np, "trapezoid", None) or np.trapz

    def log_z(beta):
        return math.log(9.0 * (trapezoid(2 * np.pi * r * np.exp(-beta * v), r) + 9.0 - np.pi * 1.5**2))

    def mean_energy(beta):
        weight = 2 * np.pi * r * np.exp(-beta * v)
        return trapezoid(weight * v, r) / (trapezoid(weight, r) + 9.0 - np.pi * 1.5**2)

    betas = np.linspace(0.5, 3.0, 101)
    integral, error = thermodynamic_integration(betas, [mean_energy(b) for b in betas], np.full(101, 0.01))
    assert integral[-1] == pytest.approx(log_z(0.5) - log_z(3.0), abs=1e-4)
    assert integral[0] == 0.0 and error[1] == pytest.approx(0.5 * 0.025 * math.sqrt(2) * 0.01)
    with pytest.raises(SamplerInputError, match="increasing"):
        thermodynamic_integration(betas[::-1], np.zeros(101))


def test_a_temperature_conditioned_flow_gives_log_z_at_every_temperature():
    """One set of weights, two temperatures: each reweighted log Z agrees with quadrature."""
    target = PeriodicPair(dim=2, box_length=3.0, epsilon=3.0, sigma=1.2)
    flow = small_flow(types=(0, 0), box=(3.0, 3.0), layers=2, scale=0.3, conditioned=True)
    r = np.linspace(0.0, 1.5, 20001)
    v = target.epsilon * np.clip(1 - r / target.sigma, 0, None) ** 2
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    for temperature in (0.5, 2.0):
        samples = draw(flow, target, temperature, 20000, batch_size=5000,
                       generator=torch.Generator().manual_seed(int(10 * temperature)))
        exact = math.log(9.0 * (trapezoid(2 * np.pi * r * np.exp(-v / temperature), r) + 9.0 - np.pi * 1.5**2))
        log_z, error = samples.log_partition()
        assert abs(log_z - exact) < 4 * error and error < 0.05


def test_a_boltzmann_prior_gives_exact_averages_and_the_free_energy_difference():
    """An untrained flow from the Boltzmann distribution at T_high = 2 to T = 0.5, two soft particles: reweighted
    <v> and log Z(T) - log Z(T_high) against quadrature; the prior's chains are Metropolis chains of the target."""
    target = PeriodicPair(dim=2, box_length=3.0, epsilon=3.0, sigma=1.2)
    torch.manual_seed(0)
    flow = ParticleFlow(FlowSettings("test", types=(0, 0), box=(3.0, 3.0), n_layers=2, hidden=8, prior_temperature=2.0))
    with pytest.raises(SamplerInputError, match="attach"):
        flow.sample(3)
    start = torch.rand(256, 2, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3.0
    flow.attach_prior(target, start, torch.zeros(2, dtype=torch.int64), sweeps_between=2, burn_in=50, seed=4)
    samples = draw(flow, target, 0.5, 20480, batch_size=2048, generator=torch.Generator().manual_seed(6))
    r = np.linspace(0.0, 1.5, 20001)
    v = target.epsilon * np.clip(1 - r / target.sigma, 0, None) ** 2
    trapezoid = getattr(np, "trapezoid", None) or np.trapz

    def z_and_energy(beta):
        weight = 2 * np.pi * r * np.exp(-beta * v)
        z = trapezoid(weight, r) + 9.0 - np.pi * 1.5**2
        return z, trapezoid(weight * v, r) / z

    (z_low, energy), (z_high, _) = z_and_energy(2.0), z_and_energy(0.5)
    estimate = samples.energy_per_particle()
    assert abs(2 * estimate.mean - energy) < 4 * 2 * estimate.stderr  # errors over the 256 independent chains
    assert estimate.ess <= samples.kish
    log_ratio, error = samples.log_partition()
    assert abs(log_ratio - math.log(z_low / z_high)) < 4 * error
    assert samples.prior_temperature == 2.0


def test_reweighted_mean_and_the_jackknife_agree_with_brute_force():
    from samplers.flows.importance import FlowSamples
    from samplers.reweight import reweighted_mean

    rng = np.random.default_rng(3)
    values, log_w = rng.normal(size=4000), rng.normal(scale=0.7, size=4000)
    w = np.exp(log_w) / np.exp(log_w).sum()
    mean, delta = reweighted_mean(values, log_w)
    assert mean == pytest.approx(w @ values, rel=1e-12)
    samples = FlowSamples(values, -log_w, log_w, np.arange(4000) % 40, 1.0, 1, 0.0)
    jack = samples.reweighted(values)
    assert jack.mean == pytest.approx(mean, rel=1e-12) and jack.stderr == pytest.approx(delta, rel=0.3)
    assert jack.ess <= samples.kish
