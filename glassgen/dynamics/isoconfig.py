"""Isoconfigurational ensembles: dynamical labels of one configuration from replicas with fresh velocities.

All R replicas of a configuration advance as one batch (B = R) through the force field, so a label costs one batched
MD run. Definitions follow GlassBench (REFERENCE.md section 2):

- displacement propensity R_i(t) = < |r_i(t) - r_i(0)| >_iso, from unwrapped positions;
- bond-breaking propensity C_B^i(t) = < n_i(t) / n_i(0) >_iso, where the n_i(0) bonds are the pairs closer than
  1.4 sigma_ij at t = 0 and a bond counts at t while the pair is closer than 1.8 sigma_ij (a snapshot at t: a bond
  that breaks and re-forms counts). Particles without bonds at t = 0 get C_B = 1;
- BOTAN edge target (optional): < |r_ij(t)| - |r_ij(0)| >_iso for the pairs closer than 2.0 at t = 0.

Two by-products come for free from the same run: F_s(q, t) of the A particles (q at the first peak of S(q), the
relaxation a label time stands for) and the propensity of each half of the replicas, from which the noise ceiling
rho_max (REFERENCE.md section 2) follows by the split-half correlation.

Velocities are Maxwell-Boltzmann at T with zero total momentum, rescaled so each replica's kinetic temperature is
exactly T (the usual isoconfigurational protocol: replicas differ in directions, not in energy). NVE by default; NVT
(Bussi) on request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glassgen.dynamics.integrators import BussiNVT, VelocityVerlet, run
from glassgen.dynamics.observables import Q_PEAK, self_intermediate_scattering
from glassgen.dynamics.velocities import maxwell_boltzmann
from glassgen.errors import InvalidInputError
from glassgen.systems.forcefield import ForceField
from glassgen.systems.neighbors import pairs_within
from glassgen.systems.system import System

BOND_START, BOND_KEEP, EDGE_RANGE = 1.4, 1.8, 2.0
ENSEMBLES = ("nve", "nvt")


@dataclass
class IsoconfigLabels:
    """Labels of one configuration at K times.

    times : (K,) the times reached (multiples of dt); propensity, bond_breaking : (K, N);
    propensity_halves : (2, K, N) the propensity of the first and of the second half of the replicas;
    fs : (K,) F_s(q, t) of the A particles over all replicas; edges : (P, 2) particle pairs of the edge target or
    None; edge_change : (K, P) or None.
    """

    times: np.ndarray
    propensity: np.ndarray
    bond_breaking: np.ndarray
    propensity_halves: np.ndarray
    fs: np.ndarray
    edges: np.ndarray | None = None
    edge_change: np.ndarray | None = None


def log_times(t_min: float, t_max: float, n: int) -> np.ndarray:
    """``n`` times spaced evenly in log between t_min and t_max (the GlassBench-style grid)."""
    if not 0 < t_min < t_max or n < 1:
        raise InvalidInputError(f"need 0 < t_min < t_max and n >= 1; got t_min={t_min}, t_max={t_max}, n={n}.")
    return np.geomspace(t_min, t_max, n)


def check_label_settings(times, n_replicas: int, temperature: float, dt: float, ensemble: str) -> np.ndarray:
    """Validate label settings before any work is done; returns the times as float64."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if times.size == 0 or not np.all(np.isfinite(times)) or times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise InvalidInputError(f"label times must be positive and strictly increasing; got {times.tolist()}.")
    if times[0] < dt:
        raise InvalidInputError(f"the first label time {times[0]} is shorter than the time step dt = {dt}.")
    if int(n_replicas) < 2:
        raise InvalidInputError(f"an isoconfigurational ensemble needs at least 2 replicas; got {n_replicas}.")
    if not temperature > 0:
        raise InvalidInputError(f"temperature must be positive; got {temperature}.")
    if ensemble not in ENSEMBLES:
        raise InvalidInputError(f"ensemble must be one of {ENSEMBLES}; got {ensemble!r}.")
    return times


def _bonds_within(system: System, factor_of_sigma: float):
    """Pairs of one configuration closer than ``factor_of_sigma`` * sigma_ab: (i, j, separation)."""
    sigma = torch.tensor(system.spec.sigma, dtype=torch.float64)
    i, j, separation = pairs_within(system.positions, system.box, factor_of_sigma * float(sigma.max()))
    keep = separation.norm(dim=-1) < factor_of_sigma * sigma[system.types[i], system.types[j]]
    return i[keep], j[keep], separation[keep]


def isoconfigurational_labels(system: System, temperature: float, times, *, n_replicas: int = 32, dt: float = 0.005,
                              seed: int = 0, ensemble: str = "nve", tau: float | None = None, edges: bool = False,
                              dtype: torch.dtype = torch.float64, forcefield: ForceField | None = None
                              ) -> IsoconfigLabels:
    """Run ``n_replicas`` replicas of one configuration and measure the propensities at ``times``.

    Parameters
    ----------
    system : System
        One configuration (N, d).
    temperature : float
        Temperature of the velocities (and of the thermostat with ``ensemble="nvt"``).
    times : array of shape (K,)
        Increasing label times; each is rounded to a whole number of steps.
    n_replicas : int
        Replicas R >= 2 (GlassBench: 32 in 3D, 20 in 2D).
    seed : int
        Seeds velocities and thermostat noise: the same seed gives the same labels.
    edges : bool
        Also compute the BOTAN edge target.
    """
    times = check_label_settings(times, n_replicas, temperature, dt, ensemble)
    if system.is_batched:
        raise InvalidInputError("isoconfigurational_labels takes one configuration (N, d); loop over a batch.")
    steps = np.maximum(np.rint(times / dt).astype(np.int64), 1)
    if np.any(np.diff(steps) <= 0):
        raise InvalidInputError(f"label times {times.tolist()} fall on the same step at dt = {dt}; space them out.")
    n, dim, r_count = system.n_particles, system.dim, int(n_replicas)
    generator = torch.Generator().manual_seed(int(seed))
    x0 = system.positions.to(dtype).unsqueeze(0).expand(r_count, n, dim).contiguous()
    v0 = maxwell_boltzmann(r_count, n, dim, temperature, generator, dtype)
    ff = forcefield or ForceField(system.model, system.box, system.types)
    integrator = (VelocityVerlet(ff, dt) if ensemble == "nve"
                  else BussiNVT(ff, dt, temperature, tau=tau, generator=generator))
    state = integrator.init(x0, v0)

    bond_i, bond_j, bond_separation = _bonds_within(system, BOND_START)
    bond_offset = bond_separation - (x0[0, bond_j] - x0[0, bond_i]).to(torch.float64)
    spec = system.spec
    keep2 = (BOND_KEEP * torch.tensor(spec.sigma, dtype=torch.float64)[system.types[bond_i], system.types[bond_j]]) ** 2
    n_bonds = torch.zeros(n, dtype=torch.float64).index_add_(0, bond_i, torch.ones_like(keep2))
    n_bonds.index_add_(0, bond_j, torch.ones_like(keep2))
    if edges:
        edge_i, edge_j, edge_separation = pairs_within(system.positions, system.box, EDGE_RANGE)
        edge_offset = edge_separation - (x0[0, edge_j] - x0[0, edge_i]).to(torch.float64)
        edge_r0 = edge_separation.norm(dim=-1)

    propensity = np.empty((len(steps), n))
    halves = np.empty((2, len(steps), n))
    fs = np.empty(len(steps))
    bond_breaking = np.empty((len(steps), n))
    edge_change = np.empty((len(steps), int(edge_i.numel()))) if edges else None
    done = 0
    for k, target in enumerate(steps):
        state = run(integrator, state, int(target - done))
        done = int(target)
        x = state.positions.to(torch.float64)
        displacement = (x - x0.to(torch.float64)).numpy()
        distance = np.linalg.norm(displacement, axis=-1)
        propensity[k] = distance.mean(0)
        halves[0, k], halves[1, k] = distance[: r_count // 2].mean(0), distance[r_count // 2:].mean(0)
        fs[k] = np.mean(self_intermediate_scattering(displacement, Q_PEAK[dim], system.types.numpy(), 0))
        bonded = ((x[:, bond_j] - x[:, bond_i] + bond_offset).square().sum(-1) < keep2).to(torch.float64)
        kept = torch.zeros(r_count, n, dtype=torch.float64)
        kept.index_add_(1, bond_i, bonded).index_add_(1, bond_j, bonded)
        fraction = torch.where(n_bonds > 0, kept / n_bonds.clamp_min(1), torch.ones_like(kept))
        bond_breaking[k] = fraction.mean(0).numpy()
        if edges:
            r_t = (x[:, edge_j] - x[:, edge_i] + edge_offset).norm(dim=-1)
            edge_change[k] = (r_t - edge_r0).mean(0).numpy()
    return IsoconfigLabels(
        times=steps * dt, propensity=propensity, bond_breaking=bond_breaking, propensity_halves=halves, fs=fs,
        edges=torch.stack([edge_i, edge_j], 1).numpy() if edges else None, edge_change=edge_change,
    )
