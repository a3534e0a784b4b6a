"""The graph network of Bapst et al. (Nat. Phys. 16, 448 (2020)), the skeleton BOTAN extends.

Node features (one-hot species) and edge features (the raw vector r_j - r_i) are encoded to 64 by two-layer MLPs;
one graph-network block with shared weights is applied ``n_steps`` = 7 times, each time to the current features
concatenated with the encoded input; a node decoder 64-64-K gives K outputs per particle (one per label time).
Concatenation as in DeepMind's ``glassy_dynamics``: nodes and edges both carry [current, encoded], so an edge update
sees 384 features and a node update 192.

The network sees raw edge vectors: it is invariant under periodic translations and permutations of identical
particles, but not under rotations, not even under the 48 symmetries of the cubic box; Bapst et al. train it with
random symmetries of the box (:func:`random_cubic_symmetry`).

Parameters, KA3D (2 species), K = 1: 62,465; 62,401 with the scalar type input of the original code. Bapst et al. do
not state a count; BOTAN's published 54,209 is the lighter edge update of ``botan.py``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Data

from glassgen.errors import InvalidInputError
from glassgen.predictors.gnn.graph import cubic_symmetries, transform_graph
from glassgen.predictors.gnn.layers import GraphNetworkBlock, check_graph, count_parameters, mlp

WIDTH, STEPS = 64, 7


class GraphNetwork(nn.Module):
    """Encoders, one shared graph-network block applied ``n_steps`` times, node decoder ``width-width-K``.

    ``encoded_nodes_in_edges``: whether edge updates see the encoded node features besides the current ones
    (DeepMind's Bapst et al.: yes; BOTAN's code: no). ``forward`` returns (N, K).
    """

    published_parameters: int | None = None
    #: What the outputs are invariant under (``equivariance.assert_invariant``): raw edge vectors rule out rotations.
    invariances = ("translations", "permutations")

    def __init__(self, n_species: int = 2, dim: int = 3, n_outputs: int = 1, *, width: int = WIDTH,
                 n_steps: int = STEPS, encoded_nodes_in_edges: bool = True):
        super().__init__()
        if min(n_species, n_outputs, width, n_steps) < 1 or dim not in (2, 3):
            raise InvalidInputError(f"{type(self).__name__} needs n_species, n_outputs, width, n_steps >= 1 and dim "
                                    f"2 or 3; got {n_species}, {n_outputs}, {width}, {n_steps}, dim={dim}.")
        self.n_species, self.dim, self.n_outputs, self.n_steps = n_species, dim, n_outputs, n_steps
        self.encoded_nodes_in_edges = encoded_nodes_in_edges
        self.node_encoder = mlp([n_species, width, width])
        self.edge_encoder = mlp([dim, width, width])
        seen = 2 * width if encoded_nodes_in_edges else width
        self.block = GraphNetworkBlock(edge_inputs=2 * width + 2 * seen, node_inputs=2 * width, width=width)
        self.node_decoder = mlp([width, width, width, n_outputs], activate_final=False)

    def propagate_graph(self, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
        """Node and edge features after the ``n_steps`` applications of the block."""
        check_graph(data, self, n_species=self.n_species, dim=self.dim)
        nodes0, edges0 = self.node_encoder(data.x), self.edge_encoder(data.edge_vec)
        nodes, edges = nodes0, edges0
        for _ in range(self.n_steps):
            both = torch.cat([nodes, nodes0], dim=-1)
            nodes, edges = self.block(both if self.encoded_nodes_in_edges else nodes, both, data.edge_index,
                                      torch.cat([edges, edges0], dim=-1))
        return nodes, edges

    def forward(self, data: Data) -> torch.Tensor:
        return self.node_decoder(self.propagate_graph(data)[0])

    def extra_repr(self) -> str:
        published = (f"published {self.published_parameters:,} (see the module docstring)"
                     if self.published_parameters else "no published count")
        return (f"n_species={self.n_species}, dim={self.dim}, n_outputs={self.n_outputs}, n_steps={self.n_steps}, "
                f"parameters={count_parameters(self):,}, {published}")


class BapstGNN(GraphNetwork):
    """Bapst et al.'s network (module docstring); (N, K) outputs."""

    def __init__(self, n_species: int = 2, dim: int = 3, n_outputs: int = 1, *, width: int = WIDTH,
                 n_steps: int = STEPS):
        super().__init__(n_species, dim, n_outputs, width=width, n_steps=n_steps, encoded_nodes_in_edges=True)


def random_cubic_symmetry(data: Data, generator: torch.Generator | None = None) -> Data:
    """The graph under a random symmetry of its box (90-degree rotations and reflections: 48 in a cubic box, 8 in a
    square one), Bapst et al.'s augmentation for networks that see raw vectors. A batch gets one map for all its
    graphs, so their boxes must agree."""
    if not bool((data.box == data.box[0]).all()):
        raise InvalidInputError("random_cubic_symmetry maps every graph of a batch alike, but their boxes differ; "
                                "augment each graph before batching.")
    maps = cubic_symmetries(data.box[0])
    return transform_graph(data, maps[int(torch.randint(len(maps), (1,), generator=generator))])
