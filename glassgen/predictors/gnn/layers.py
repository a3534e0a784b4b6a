"""Pieces shared by the graph networks: plain MLPs, the graph-network block of Bapst et al. and BOTAN, input checks
and the parameter count that every model's ``repr`` shows."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import MessagePassing

from glassgen.errors import InvalidInputError


def mlp(sizes: list[int], *, activate_final: bool = True) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (and after the last with ``activate_final``), the
    MLPs of Bapst et al. and BOTAN (encoders and updates end with a ReLU, decoders do not)."""
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if activate_final or k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class GraphNetworkBlock(MessagePassing):
    """One graph-network block without globals (Battaglia et al. 2018): each edge is updated from [edge, sender,
    receiver], then each node from [node, sum of its incoming updated edges].

    ``edge_inputs`` is the width of [edge, sender, receiver] and ``node_inputs`` that of [node] (the caller decides
    which encoded features each sees); both MLPs are ``inputs -> width -> width``.
    """

    def __init__(self, edge_inputs: int, node_inputs: int, width: int):
        super().__init__(aggr="add")
        self.edge_mlp = mlp([edge_inputs, width, width])
        self.node_mlp = mlp([node_inputs + width, width, width])

    def forward(self, nodes_for_edges: torch.Tensor, nodes: torch.Tensor, edge_index: torch.Tensor,
                edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sender, receiver = edge_index
        # The edge MLP's first layer on [edge, sender, receiver] is W_e edge + W_s sender + W_r receiver + b: the node
        # terms are computed once per node and gathered, not once per edge (a graph has ~40 times more edges).
        first = self.edge_mlp[0]
        w_edge, w_sender, w_receiver = first.weight.split([edges.shape[-1]] + [nodes_for_edges.shape[-1]] * 2, dim=1)
        hidden = (nn.functional.linear(edges, w_edge, first.bias) + (nodes_for_edges @ w_sender.T)[sender]
                  + (nodes_for_edges @ w_receiver.T)[receiver])
        edges = self.edge_mlp[1:](hidden)
        incoming = self.propagate(edge_index, edges=edges, size=(nodes.shape[0], nodes.shape[0]))
        return self.node_mlp(torch.cat([nodes, incoming], dim=-1)), edges

    def message(self, edges: torch.Tensor) -> torch.Tensor:
        return edges

    __repr__ = nn.Module.__repr__  # show the MLPs, not MessagePassing's one-line summary


def check_graph(data: Data, module: nn.Module, *, n_species: int, dim: int, needs_inherent: bool = False) -> None:
    """Refuse a graph that does not fit the model (species, dimension, dtype, inherent vectors) with a message
    saying how to build one that does."""
    name = type(module).__name__
    if "edge_vec" not in data or data.edge_index is None:
        raise InvalidInputError(f"{name} takes a graph from glassgen.predictors.gnn.periodic_graph; this one has no "
                                f"edge_vec.")
    if data.x.shape[-1] != n_species:
        raise InvalidInputError(f"{name} was built for {n_species} species but the graph's one-hot has "
                                f"{data.x.shape[-1]}; pass n_species={n_species} to periodic_graph.")
    if data.edge_vec.shape[-1] != dim:
        raise InvalidInputError(f"{name} takes {dim}D graphs but this one is {data.edge_vec.shape[-1]}D; build "
                                f"BapstGNN or BotanGNN with dim={data.edge_vec.shape[-1]} (SE3GNN is 3D only).")
    dtype = next(module.parameters()).dtype
    if data.edge_vec.dtype != dtype or data.x.dtype != dtype:
        raise InvalidInputError(f"{name} is {dtype} but the graph is {data.edge_vec.dtype}; build the graph from "
                                f"{dtype} positions or convert the model (model.to({dtype})).")
    if needs_inherent and "edge_vec_inherent" not in data:
        raise InvalidInputError(f"{name} was built with inherent=True but the graph has no inherent-state vectors; "
                                f"pass inherent_positions to periodic_graph.")
