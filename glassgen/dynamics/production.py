"""Independent equilibrium configurations from MD, with the checks that say whether they are.

After equilibration, B chains run at T and save a configuration every ``spacing`` time units. Two checks are
reported (never hidden):

- decorrelation: F_s(q, spacing) of A particles between successive saved configurations is below 1/e, i.e. the
  spacing is at least one relaxation time;
- stationarity: the mean potential energies of the first and second halves of the production run are equal by
  Student's t-test on block means (p > 0.003, the two-sided 3-sigma level). Blocks are the stretches between saved
  configurations, at least one relaxation time long when the first check passes, so their means are nearly
  independent; shorter blocks would hide the slow energy fluctuations of a supercooled liquid and flag drifts that
  are not there. A drift means ageing, an unfinished quench or crystallisation. With fewer than 6 blocks in all
  (chains x configurations) the test has no power and is reported as not done (None).

In 3D a third check looks for crystals directly: the largest fraction of solid-like particles among the saved
configurations (:mod:`glassgen.dynamics.crystallinity`) must stay below 5 %.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.stats
import torch

from glassgen.dynamics.crystallinity import CRYSTALLISED_FRACTION, solid_like_fraction
from glassgen.dynamics.equilibration import equilibrate
from glassgen.dynamics.integrators import BussiNVT, init_state, run
from glassgen.dynamics.observables import self_intermediate_scattering
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.systems.forcefield import ForceField
from glassgen.systems.system import System

#: Wave vector of the F_s check: the first peak of S(q) of the A particles.
Q_PEAK = {2: 7.0, 3: 7.25}
#: Fewest blocks (chains x saved configurations) for the stationarity test, and its p-value threshold.
MIN_BLOCKS = 6
P_THRESHOLD = 0.0027


@dataclass
class Production:
    """Saved configurations and the equilibrium checks.

    positions : (B, M, N, d) wrapped configurations of B chains, M per chain; energies : (B, S) potential energy per
    particle sampled along the production run; checks : dict of the check values and verdicts.
    """

    positions: torch.Tensor
    energies: np.ndarray
    checks: dict = field(default_factory=dict)

    @property
    def equilibrated(self) -> bool:
        """All checks passed (a test that could not be done counts as not failed)."""
        return bool(self.checks["decorrelated"] and self.checks["stationary"] is not False
                    and not self.checks["crystallised"])


def energy_stationarity(series: np.ndarray, n_blocks: int) -> tuple[float | None, bool | None]:
    """p-value that the two halves of (B, S) energy series, cut into ``n_blocks`` blocks per chain, share one mean.

    Returns (p, p > threshold), or (None, None) when there are too few blocks to test.
    """
    chains, samples = series.shape
    per_block = samples // n_blocks
    if chains * (n_blocks // 2) * 2 < MIN_BLOCKS or per_block < 1:
        return None, None
    blocks = series[:, : n_blocks * per_block].reshape(chains, n_blocks, per_block).mean(-1)
    half = n_blocks // 2
    p = float(scipy.stats.ttest_ind(blocks[:, :half].ravel(), blocks[:, n_blocks - half:].ravel()).pvalue)
    return p, p > P_THRESHOLD


def produce(system: System, temperature: float, n_configurations: int, spacing: float, *, equilibration_steps: int,
            dt: float = 0.005, seed: int = 0, melt_temperature: float = 2.0, melt_steps: int = 0,
            cool_steps: int = 0, dtype: torch.dtype | None = None, progress: bool = True) -> Production:
    """Equilibrate ``system`` (one or B chains) and save ``n_configurations`` per chain, ``spacing`` apart.

    The energy is sampled every 10 steps, or more often for short spacings (at least 10 samples per spacing).
    ``progress`` shows each stage on stderr: those of :func:`equilibrate`, then "produce M configurations" (all chains).
    """
    if int(n_configurations) < 1:
        raise InvalidInputError(f"the number of configurations must be >= 1; got {n_configurations}.")
    spacing_steps = round(spacing / dt)
    if spacing_steps < 1:
        raise InvalidInputError(f"spacing {spacing} is shorter than the time step {dt}.")
    energy_every = max(1, min(10, spacing_steps // 10))
    spacing_steps -= spacing_steps % energy_every
    generator = torch.Generator().manual_seed(int(seed))
    ff = ForceField(system.model, system.box, system.types)
    equilibrated, velocities = equilibrate(
        system, temperature, equilibration_steps, dt=dt, seed=generator, melt_temperature=melt_temperature,
        melt_steps=melt_steps, cool_steps=cool_steps, dtype=dtype, progress=progress, forcefield=ff,
    )
    x = equilibrated.batched_positions()
    state = init_state(ff, x, velocities.reshape(x.shape))
    nvt = BussiNVT(ff, dt, temperature, generator=generator)
    frames, energies = [state.positions], []

    def record(step, current):
        energies.append((current.potential_energy / x.shape[1]).double().numpy())
        if step % spacing_steps == 0:
            frames.append(current.positions)

    run(nvt, state, int(n_configurations) * spacing_steps, callback=record, every=energy_every, progress=progress,
        desc=f"produce {x.shape[0] * int(n_configurations)} configurations")
    unwrapped = torch.stack(frames[1:], 1).to(torch.float64)  # (B, M, N, d)
    previous = torch.stack(frames[:-1], 1).to(torch.float64)
    a_particles = system.types == 0
    fs = self_intermediate_scattering(
        (unwrapped - previous)[:, :, a_particles].reshape(-1, 1, int(a_particles.sum()), system.dim).numpy(),
        Q_PEAK[system.dim], per_configuration=True)
    series = np.stack(energies, 1)
    p_value, stationary = energy_stationarity(series, int(n_configurations))
    checks = {"fs_between_saved": float(np.max(fs)),
              "decorrelated": bool(np.max(fs) < 1 / math.e), "energy_halves_p_value": p_value,
              "stationary": stationary,
              "energy_per_particle": float(series.mean())}
    wrapped = torch.remainder(unwrapped, system.box.to(torch.float64))
    if system.dim == 3:
        solid = float(solid_like_fraction(wrapped.reshape(-1, *wrapped.shape[2:]).numpy(), system.box.numpy()).max())
        checks.update(solid_like_fraction=solid, crystallised=solid > CRYSTALLISED_FRACTION)
    else:
        checks.update(solid_like_fraction=None, crystallised=None)
    production = Production(wrapped, series, checks)
    failures = []
    if not checks["decorrelated"]:
        failures.append(f"F_s between saved configurations is {checks['fs_between_saved']:.3f}, not below 1/e: "
                        "increase the spacing")
    if stationary is False:
        failures.append(f"the energy differs between the halves of the run (t-test p = {p_value:.2g}): equilibrate "
                        "longer (a steady fall can also mean crystallisation)")
    if checks["crystallised"]:
        failures.append(f"{100 * checks['solid_like_fraction']:.1f} % of the particles are solid-like: the run "
                        "crystallised; start again from a new melt (another seed) or at a higher temperature")
    if failures:
        warnings.warn(f"equilibrium check failed at T = {temperature}: " + "; ".join(failures) + ".",
                      ConvergenceWarning, stacklevel=2)
    return production
