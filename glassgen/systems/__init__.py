"""Models, the System value, periodic neighbour lists, batched energies and forces, and initial configurations."""

from glassgen.systems.forcefield import Evaluation, ForceField, energy, evaluate, forces, per_particle_energy
from glassgen.systems.initial import lattice_start, random_start
from glassgen.systems.models import MODELS, PairModel, get_model, infer_model
from glassgen.systems.neighbors import VerletList
from glassgen.systems.system import System

__all__ = [
    "MODELS", "Evaluation", "ForceField", "PairModel", "System", "VerletList", "energy", "evaluate", "forces",
    "get_model",
    "infer_model", "lattice_start", "per_particle_energy", "random_start",
]
