"""Models, the System value, periodic neighbour lists, batched energies and forces, and initial configurations."""

from glassgen.systems.models import MODELS, PairModel, get_model, infer_model
from glassgen.systems.system import System

__all__ = ["MODELS", "PairModel", "System", "get_model", "infer_model"]
