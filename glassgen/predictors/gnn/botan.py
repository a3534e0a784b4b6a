"""BOTAN (Shiba et al., J. Chem. Phys. 158, 084503 (2023)): Bapst et al.'s skeleton that also predicts, per edge,
the replica-averaged change of the pair distance <|r_ij(t)| - |r_ij(0)|> (pairs closer than 2.0 at t = 0).

As in the authors' PyG code (github.com/h3-Open-BDEC/pyg_botan), an edge update sees [sender, receiver, edge,
encoded edge] (not the encoded nodes, unlike ``bapst.py``) and one decoder 64-64-K reads both the final node and the
final edge features: 54,209 parameters with their scalar type input and K = 1, which this module reproduces
(``BotanGNN(n_species=1)``); with the one-hot of the 2 KA3D species, 54,273. ``separate_edge_decoder=True`` gives
the edge target a decoder of its own (+8,385 at K = 1).

Training (:func:`botan_loss`): p MSE_node + (1 - p) MSE_edge with p = 0.4, after edge-only pretraining (p = 0).
The labels come from ``glassgen.dynamics.isoconfigurational_labels(..., edges=True)``; :func:`edge_targets` puts
its pairs on the graph's edges.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch_geometric.data import Data

from glassgen.errors import InvalidInputError
from glassgen.predictors.gnn.bapst import STEPS, WIDTH, GraphNetwork
from glassgen.predictors.gnn.layers import mlp

#: BOTAN's weight of the node loss.
NODE_WEIGHT = 0.4


class NodeEdgeOutput(NamedTuple):
    """Outputs of a network with node and edge targets: node (N, K), edge (E, K) in the graph's edge order."""

    node: torch.Tensor
    edge: torch.Tensor


class BotanGNN(GraphNetwork):
    """BOTAN (module docstring); returns :class:`NodeEdgeOutput`."""

    published_parameters = 54_209

    def __init__(self, n_species: int = 2, dim: int = 3, n_outputs: int = 1, *, width: int = WIDTH,
                 n_steps: int = STEPS, separate_edge_decoder: bool = False):
        super().__init__(n_species, dim, n_outputs, width=width, n_steps=n_steps, encoded_nodes_in_edges=False)
        self.edge_decoder = (mlp([width, width, width, n_outputs], activate_final=False) if separate_edge_decoder
                             else None)

    def forward(self, data: Data) -> NodeEdgeOutput:
        nodes, edges = self.propagate_graph(data)
        edge_decoder = self.node_decoder if self.edge_decoder is None else self.edge_decoder
        return NodeEdgeOutput(self.node_decoder(nodes), edge_decoder(edges))


def edge_targets(data: Data, pairs, change) -> torch.Tensor:
    """The edge target (E, K) of a full graph, in its edge order, from labels over particle pairs.

    ``pairs`` (P, 2) and ``change`` (K, P) are ``IsoconfigLabels.edges`` and ``.edge_change``; both directions of a
    pair get its value. Every graph edge must be among the pairs (labels made with the graph's cutoff or a longer one).
    """
    if "particle_id" in data:
        raise InvalidInputError("edge_targets takes the full graph; for a crop, index the full graph's targets with "
                                "crop.edge_id.")
    pairs = torch.as_tensor(np.asarray(pairs), dtype=torch.int64)
    change = torch.as_tensor(np.asarray(change), dtype=data.edge_vec.dtype)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or change.ndim != 2 or change.shape[1] != pairs.shape[0]:
        raise InvalidInputError(f"need pairs (P, 2) and change (K, P); got {tuple(pairs.shape)} and "
                                f"{tuple(change.shape)}.")
    n = data.num_nodes
    label_keys = pairs.min(1).values * n + pairs.max(1).values
    order = torch.argsort(label_keys)
    label_keys = label_keys[order]
    sender, receiver = data.edge_index
    keys = torch.minimum(sender, receiver) * n + torch.maximum(sender, receiver)
    where = torch.searchsorted(label_keys, keys).clamp_max(max(len(label_keys) - 1, 0))
    found = label_keys[where] == keys if len(label_keys) else torch.zeros_like(keys, dtype=torch.bool)
    if not bool(found.all()):
        missing = int((~found).sum())
        raise InvalidInputError(f"{missing} of {len(keys)} graph edges have no edge label; label with the graph's "
                                f"cutoff ({float(data.cutoff[0])}) or build the graph with the labels' range.")
    return change[:, order[where]].T.contiguous()


def _masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if target is None or prediction.shape != target.shape:
        raise InvalidInputError(f"a target of shape {tuple(prediction.shape)} is needed; got "
                                f"{None if target is None else tuple(target.shape)}.")
    if mask is not None:
        prediction, target = prediction[mask], target[mask]
    return (prediction - target).square().mean()


def botan_loss(output: NodeEdgeOutput, node_target: torch.Tensor | None, edge_target: torch.Tensor | None, *,
               p: float = NODE_WEIGHT, node_mask: torch.Tensor | None = None,
               edge_mask: torch.Tensor | None = None) -> torch.Tensor:
    """p MSE_node + (1 - p) MSE_edge over the masked entries (masks (N,) and (E,) bool: e.g. a crop's loss particles).

    p = 0 is the edge-only pretraining (``node_target`` may then be None); p = 1 trains the nodes alone.
    """
    if not 0.0 <= p <= 1.0:
        raise InvalidInputError(f"p weighs the node loss against the edge loss and must lie in [0, 1]; got {p}.")
    loss = output.node.new_zeros(())
    if p > 0:
        loss = loss + p * _masked_mse(output.node, node_target, node_mask)
    if p < 1:
        loss = loss + (1 - p) * _masked_mse(output.edge, edge_target, edge_mask)
    return loss
