"""Molecular dynamics (velocity Verlet, Bussi NVT), equilibration, production with equilibrium checks, FIRE
minimisation, isoconfigurational labels and relaxation observables, batched over configurations."""

from glassgen.dynamics.equilibration import Equilibrated, equilibrate
from glassgen.dynamics.integrators import (
    DEFAULT_TAU_STEPS, BussiNVT, MDState, VelocityVerlet, init_state, run, run_nve, run_nvt,
)
from glassgen.dynamics.isoconfig import IsoconfigLabels, isoconfigurational_labels, log_times
from glassgen.dynamics.minimization import DEFAULT_FMAX, MinimizationResult, fire, minimize
from glassgen.dynamics.observables import (
    chi4, chi4_propensity, displacements, msd, noise_ceiling, non_gaussian, overlap, relaxation_time,
    self_intermediate_scattering,
)
from glassgen.dynamics.production import Production, produce
from glassgen.dynamics.velocities import (
    degrees_of_freedom, kinetic_energy, kinetic_temperature, maxwell_boltzmann, remove_drift,
)

__all__ = [
    "DEFAULT_FMAX", "DEFAULT_TAU_STEPS", "BussiNVT", "Equilibrated", "IsoconfigLabels", "MDState",
    "MinimizationResult", "Production", "VelocityVerlet", "chi4", "chi4_propensity", "degrees_of_freedom",
    "displacements", "equilibrate", "fire", "init_state", "isoconfigurational_labels", "kinetic_energy",
    "kinetic_temperature", "log_times", "maxwell_boltzmann", "minimize", "msd", "noise_ceiling", "non_gaussian",
    "overlap", "produce", "relaxation_time", "remove_drift", "run", "run_nve", "run_nvt",
    "self_intermediate_scattering",
]
