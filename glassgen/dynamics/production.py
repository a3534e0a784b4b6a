"""Independent equilibrium configurations from MD, with the checks that say whether they are.

After equilibration, B chains run at T and save a configuration every ``spacing`` time units. Two checks are
reported (never hidden):

- decorrelation: F_s(q, spacing) of A particles between successive saved configurations is below 1/e, i.e. the
  spacing is at least one relaxation time;
- stationarity: the mean potential energy of the first and second halves of the production run agree within
  three standard errors (block averages). A drift means ageing, an unfinished quench or crystallisation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from glassgen.dynamics.equilibration import equilibrate
from glassgen.dynamics.integrators import BussiNVT, init_state, run
from glassgen.dynamics.observables import self_intermediate_scattering
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.systems.forcefield import ForceField
from glassgen.systems.system import System

#: Wave vector of the F_s check: the first peak of S(q) of the A particles.
Q_PEAK = {2: 7.0, 3: 7.25}
#: Number of blocks for the standard error of the energy mean of each half.
N_BLOCKS = 10


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
        return bool(self.checks["decorrelated"] and self.checks["stationary"])


def energy_stationarity(series: np.ndarray) -> tuple[float, bool]:
    """How many standard errors apart the means of the two halves of (B, S) energy series are, and whether <= 3."""
    half = series.shape[-1] // 2
    if half < N_BLOCKS:
        raise InvalidInputError(f"need at least {2 * N_BLOCKS} energy samples to test stationarity; got {half * 2}.")

    def mean_and_error(part):
        blocks = part[:, : (part.shape[1] // N_BLOCKS) * N_BLOCKS].reshape(part.shape[0], N_BLOCKS, -1).mean(-1)
        pooled = blocks.mean(0)  # chains are independent: average them block by block
        return pooled.mean(), pooled.std(ddof=1) / math.sqrt(N_BLOCKS)

    m1, e1 = mean_and_error(series[:, :half])
    m2, e2 = mean_and_error(series[:, half: 2 * half])
    z = abs(m1 - m2) / max(math.hypot(e1, e2), 1e-300)
    return float(z), bool(z <= 3.0)


def produce(system: System, temperature: float, n_configurations: int, spacing: float, *, equilibration_steps: int,
            dt: float = 0.005, seed: int = 0, melt_temperature: float = 2.0, melt_steps: int = 0,
            cool_steps: int = 0, dtype: torch.dtype | None = None, progress: bool = True) -> Production:
    """Equilibrate ``system`` (one or B chains) and save ``n_configurations`` per chain, ``spacing`` apart.

    The energy is sampled every 10 steps, or more often in short runs (at least 4 samples per block).
    """
    if int(n_configurations) < 1:
        raise InvalidInputError(f"the number of configurations must be >= 1; got {n_configurations}.")
    spacing_steps = round(spacing / dt)
    total_steps = int(n_configurations) * spacing_steps
    if total_steps < 8 * N_BLOCKS:
        raise InvalidInputError(
            f"a production of {n_configurations} x spacing {spacing} is only {total_steps} steps; the checks need at "
            f"least {8 * N_BLOCKS}: increase the spacing."
        )
    energy_every = max(1, min(10, total_steps // (4 * N_BLOCKS)))
    spacing_steps -= spacing_steps % energy_every
    generator = torch.Generator().manual_seed(int(seed))
    equilibrated, velocities = equilibrate(
        system, temperature, equilibration_steps, dt=dt, seed=generator, melt_temperature=melt_temperature,
        melt_steps=melt_steps, cool_steps=cool_steps, dtype=dtype, progress=progress,
    )
    ff = ForceField(system.model, system.box, system.types)
    x = equilibrated.batched_positions()
    state = init_state(ff, x, velocities.reshape(x.shape))
    nvt = BussiNVT(ff, dt, temperature, generator=generator)
    frames, energies = [state.positions], []

    def record(step, current):
        energies.append((current.potential_energy / x.shape[1]).double().numpy())
        if step % spacing_steps == 0:
            frames.append(current.positions)

    run(nvt, state, int(n_configurations) * spacing_steps, callback=record, every=energy_every, progress=progress,
        desc="production")
    unwrapped = torch.stack(frames[1:], 1).to(torch.float64)  # (B, M, N, d)
    previous = torch.stack(frames[:-1], 1).to(torch.float64)
    a_particles = system.types == 0
    fs = self_intermediate_scattering(
        (unwrapped - previous)[:, :, a_particles].reshape(-1, 1, int(a_particles.sum()), system.dim).numpy(),
        Q_PEAK[system.dim], per_configuration=True)
    series = np.stack(energies, 1)
    z, stationary = energy_stationarity(series)
    checks = {"fs_between_saved": float(np.max(fs)),
              "decorrelated": bool(np.max(fs) < 1 / math.e), "energy_halves_sigma": z, "stationary": stationary,
              "energy_per_particle": float(series.mean())}
    production = Production(torch.remainder(unwrapped, system.box.to(torch.float64)), series, checks)
    failures = []
    if not checks["decorrelated"]:
        failures.append(f"F_s between saved configurations is {checks['fs_between_saved']:.3f}, not below 1/e: "
                        "increase the spacing")
    if not stationary:
        failures.append(f"the energy halves are {z:.1f} standard errors apart: equilibrate longer (a steady fall "
                        "can also mean crystallisation)")
    if failures:
        warnings.warn(f"equilibrium check failed at T = {temperature}: " + "; ".join(failures) + ".",
                      ConvergenceWarning, stacklevel=2)
    return production
