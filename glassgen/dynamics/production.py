"""Independent equilibrium configurations from MD, with the checks that say whether they are.

After equilibration, B chains run at T and save a configuration every ``spacing`` time units. Two checks are
reported (never hidden):

- decorrelation: F_s(q, spacing) of A particles between successive saved configurations is below 1/e, i.e. the
  spacing is at least one relaxation time;
- stationarity: the mean potential energies of the first and second halves of the production run are equal by a
  paired t-test on block means (:func:`samplers.diagnostics.energy_stationarity`; p > 0.003, the two-sided 3-sigma
  level). Blocks are the stretches between saved configurations, at least one relaxation time long when the first
  check passes, so their means are nearly independent; shorter blocks would hide the slow energy fluctuations of a
  supercooled liquid and flag drifts that are not there. A drift means ageing, an unfinished quench or
  crystallisation. With fewer than 6 blocks in all (chains x configurations) the test has no power and is reported
  as not done (None).

Order checks look for crystals and demixing directly (:mod:`glassgen.dynamics.crystallinity`): the largest fraction
of solid-like particles among the saved configurations must stay below 5 % in 3D (ten Wolde-Frenkel) and 40 % in 2D
(coarse-grained hexatic order), and their largest demixing index below 0.3.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from glassgen.dynamics.crystallinity import order_checks, order_failures
from glassgen.dynamics.equilibration import equilibrate
from glassgen.dynamics.integrators import BussiNVT, init_state, run
from glassgen.dynamics.observables import Q_PEAK, self_intermediate_scattering
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.systems.forcefield import ForceField
from glassgen.systems.system import System
from samplers.diagnostics import energy_stationarity



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
                    and not self.checks["crystallised"] and not self.checks["demixed"])


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
    p_value, stationary, _, _ = energy_stationarity(series, int(n_configurations))
    checks = {"fs_between_saved": float(np.max(fs)),
              "decorrelated": bool(np.max(fs) < 1 / math.e), "energy_halves_p_value": p_value,
              "stationary": stationary,
              "energy_per_particle": float(series.mean())}
    wrapped = torch.remainder(unwrapped, system.box.to(torch.float64))
    checks.update(order_checks(wrapped.reshape(-1, *wrapped.shape[2:]).numpy(), system.types.numpy(),
                               system.box.numpy()))
    production = Production(wrapped, series, checks)
    failures = []
    if not checks["decorrelated"]:
        failures.append(f"F_s between saved configurations is {checks['fs_between_saved']:.3f}, not below 1/e: "
                        "increase the spacing")
    if stationary is False:
        failures.append(f"the energy differs between the halves of the run (t-test p = {p_value:.2g}): equilibrate "
                        "longer (a steady fall can also mean crystallisation)")
    failures += order_failures(checks)
    if failures:
        warnings.warn(f"equilibrium check failed at T = {temperature}: " + "; ".join(failures) + ".",
                      ConvergenceWarning, stacklevel=2)
    return production
