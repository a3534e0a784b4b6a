"""Neighbourhood crops: train a message-passing network on CPU on small pieces of a configuration, exactly.

After n message-passing steps a particle's output depends only on the particles within n graph hops of it. A crop
around some centre particles keeps every particle within n + c hops of them (c = ``core_hops``) with all edges among
them and their periodic edge vectors; the particles within c hops then get exactly their full-graph outputs, and so
do the edges received by them (for BOTAN's edge target): errors from the missing neighbours of the outermost shell
travel one hop per step and stop one hop short of them. The core (``loss_mask``, and ``edge_loss_mask`` for the edges
it receives) is every particle that no missing particle reaches within n hops: those within c hops of the centres,
and more where the crop reaches around the periodic box, all of them when it is the whole configuration (KA3D at
N = 4096 with cutoff 2.0 and n + c >= 5). Only the loss on the core is meaningful; the rest of the crop is context.

A crop is a ``Data`` like a full graph (the networks take it, ``Batch`` batches it) plus ``particle_id`` (N_crop,)
and ``edge_id`` (E_crop,), the indices into the full graph for gathering labels, ``hops`` (N_crop,) the distance
to the nearest centre, and the two masks.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from glassgen.errors import InvalidInputError


def hop_distance(data: Data, centres: torch.Tensor, max_hops: int) -> torch.Tensor:
    """Graph distance (N,) from the nearest centre along incoming edges (whose senders can influence it), -1 beyond
    ``max_hops``."""
    sender, receiver = data.edge_index
    distance = torch.full((data.num_nodes,), -1, dtype=torch.int64)
    distance[centres] = 0
    reached = distance >= 0
    for hop in range(1, max_hops + 1):
        new = torch.zeros_like(reached)
        new[sender[reached[receiver]]] = True
        new &= ~reached
        if not bool(new.any()):
            break
        distance[new] = hop
        reached |= new
    return distance


def crop(data: Data, centres, n_steps: int, core_hops: int = 0) -> Data:
    """The crop of the full graph ``data`` around ``centres`` (particle indices) for a network of ``n_steps``
    message-passing steps (Bapst/BOTAN: ``n_steps``; SE3GNN: ``n_layers``), with loss on the particles within
    ``core_hops`` of the centres."""
    if "particle_id" in data:
        raise InvalidInputError("crop takes the full graph of a configuration; this one is already a crop.")
    if n_steps < 1 or core_hops < 0:
        raise InvalidInputError(f"need n_steps >= 1 and core_hops >= 0; got {n_steps} and {core_hops}.")
    centres = torch.as_tensor(centres, dtype=torch.int64).reshape(-1)
    n = data.num_nodes
    if centres.numel() == 0 or int(centres.min()) < 0 or int(centres.max()) >= n:
        raise InvalidInputError(f"centres must be particle indices in [0, {n}); got {centres.tolist()[:10]}.")
    distance = hop_distance(data, centres, n_steps + core_hops)
    keep = distance >= 0
    sender, receiver = data.edge_index
    edge_keep = keep[sender] & keep[receiver]
    out = data.subgraph(keep)
    out.particle_id = keep.nonzero().squeeze(1)
    out.edge_id = edge_keep.nonzero().squeeze(1)
    out.hops = distance[keep]
    out.loss_mask = hop_distance(data, (~keep).nonzero().squeeze(1), n_steps)[keep] < 0
    out.edge_loss_mask = out.loss_mask[out.edge_index[1]]
    return out
