"""The building blocks of the graph-network predictors (``glassgen.predictors.graphnet``: bapst, botan, se3).

- :func:`periodic_graph`: periodic radius graphs (2D/3D) as torch-geometric ``Data``; batch them with ``Batch``.
- :func:`crop`: neighbourhood crops whose core particles get exactly their full-graph outputs (CPU training).
- :class:`BapstGNN` (Bapst et al. 2020), :class:`BotanGNN` (Shiba et al. 2023, with :func:`edge_targets` and
  :func:`botan_loss`), :class:`SE3GNN` (e3nn, after Pezzicoli et al. 2024): ``torch.nn.Module``s giving K outputs per
  particle, float32 or float64.
- :func:`assert_invariant`: translations, relabellings, box symmetries and rotations, as each network promises.
- ``training.py``: the CPU training loop the three predictors share (crops, early stopping, budget, checkpoints).
"""

from glassgen.predictors.gnn.bapst import BapstGNN, random_cubic_symmetry
from glassgen.predictors.gnn.botan import BotanGNN, NodeEdgeOutput, botan_loss, edge_targets
from glassgen.predictors.gnn.crops import crop
from glassgen.predictors.gnn.equivariance import assert_invariant
from glassgen.predictors.gnn.graph import EDGE_CUTOFF, cubic_symmetries, periodic_graph, transform_graph
from glassgen.predictors.gnn.se3 import SE3GNN

__all__ = [
    "EDGE_CUTOFF", "BapstGNN", "BotanGNN", "NodeEdgeOutput", "SE3GNN", "assert_invariant", "botan_loss", "crop",
    "cubic_symmetries", "edge_targets", "periodic_graph", "random_cubic_symmetry", "transform_graph",
]
