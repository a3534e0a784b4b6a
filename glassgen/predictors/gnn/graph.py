"""Periodic radius graphs of one configuration as torch-geometric ``Data``, the input of every graph network here.

A graph holds, for N particles in an orthorhombic box of edges ``box`` (2D or 3D):

- ``x`` (N, S): one-hot species, in the dtype of the positions; ``types`` (N,) int64;
- ``pos`` (N, d) as given (possibly unwrapped) and, optionally, ``pos_inherent`` (N, d);
- ``edge_index`` (2, E): rows (sender j, receiver i), both directions of every pair closer than ``cutoff``, sorted
  by receiver then sender (PyG's ``source_to_target`` flow: messages go from row 0 to row 1);
- ``edge_vec`` (E, d): the minimum-image vector r_j - r_i from the receiver to its neighbour, and, with inherent
  positions, ``edge_vec_inherent`` (E, d): the same pair's vector in the inherent state (same edges);
- ``box`` (1, d) and ``cutoff`` (1,), so that batches of graphs (``torch_geometric.data.Batch``) keep them.

The networks read only ``x`` and the edge vectors, never ``pos``: a graph is translation invariant by construction,
and a crop of it (``crops.py``) keeps exactly the vectors of the full periodic graph.
"""

from __future__ import annotations

import itertools

import torch
from torch_geometric.data import Data
from vesin_torch import NeighborList

from glassgen.errors import InvalidInputError

#: Bapst et al. and BOTAN connect particles closer than 2.0 (sigma_AA units).
EDGE_CUTOFF = 2.0


def minimum_image(vectors: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """The periodic image of each vector (..., d) closest to the origin in an orthorhombic box (d,)."""
    return vectors - box * torch.round(vectors / box)


def _as_positions(positions, name: str) -> torch.Tensor:
    positions = torch.as_tensor(positions)
    if positions.ndim != 2 or positions.shape[1] not in (2, 3):
        raise InvalidInputError(f"{name} must have shape (N, 2) or (N, 3); got {tuple(positions.shape)}.")
    if not positions.is_floating_point():
        raise InvalidInputError(f"{name} must be floating point (float32 or float64); got {positions.dtype}.")
    if not bool(torch.isfinite(positions).all()):
        raise InvalidInputError(f"{name} contain non-finite values; check the configuration.")
    return positions


def periodic_graph(positions, types, box, cutoff: float = EDGE_CUTOFF, *, n_species: int | None = None,
                   inherent_positions=None) -> Data:
    """The radius graph (pairs closer than ``cutoff`` at their minimum image) of one configuration.

    ``positions`` (N, d) float32 or float64 (the graph's dtype; vectors are computed in float64 first);
    ``types`` (N,) 0-based species; ``box`` (d,) edges of the orthorhombic box, each longer than 2 * cutoff so that
    every pair has one minimum image; ``n_species`` the width of the one-hot (default: largest type + 1; give it
    when a configuration may miss a species); ``inherent_positions`` (N, d) adds ``edge_vec_inherent``.
    """
    positions = _as_positions(positions, "positions")
    n, dim = positions.shape
    types = torch.as_tensor(types)
    if n == 0 or types.shape != (n,) or types.is_floating_point() or int(types.min()) < 0:
        raise InvalidInputError(f"need N >= 1 particles with {n} non-negative integer types (0-based species); got "
                                f"types of shape {tuple(types.shape)}, dtype {types.dtype}.")
    types = types.long()
    width = int(types.max()) + 1 if n_species is None else int(n_species)
    if int(types.max()) >= width:
        raise InvalidInputError(f"n_species = {width} but types go up to {int(types.max())}; pass the number of "
                                f"species of the model.")
    box64 = torch.as_tensor(box, dtype=torch.float64).reshape(-1)
    if box64.shape != (dim,) or not bool((box64 > 0).all()):
        raise InvalidInputError(f"box must hold {dim} positive edges for {dim}D positions; got {box64.tolist()}.")
    if not cutoff > 0:
        raise InvalidInputError(f"cutoff must be positive; got {cutoff}.")
    if not bool((box64 > 2 * cutoff).all()):
        raise InvalidInputError(f"box edges {box64.tolist()} must exceed twice the cutoff {cutoff}, or a pair has "
                                f"several images within reach; use a larger configuration or a shorter cutoff.")

    x64 = positions.detach().to(torch.float64)
    # vesin takes unwrapped coordinates (its shifts refer to the points given) and is three-dimensional: a 2D
    # configuration lies in the z = 0 plane of a box whose z edge exceeds twice the cutoff (no pair reaches a z image).
    points = torch.zeros(n, 3, dtype=torch.float64)
    points[:, :dim] = x64
    cell = torch.full((3,), 3.0 * cutoff, dtype=torch.float64)
    cell[:dim] = box64
    i, j, shifts = NeighborList(cutoff=float(cutoff), full_list=True).compute(points, torch.diag(cell), True, "ijS")
    receiver, sender = i.long(), j.long()
    vectors = x64[sender] - x64[receiver] + shifts[:, :dim].to(torch.float64) * box64
    order = torch.argsort(receiver * n + sender)
    receiver, sender, vectors = receiver[order], sender[order], vectors[order]

    dtype = positions.dtype
    data = Data(
        x=torch.nn.functional.one_hot(types, width).to(dtype), types=types, pos=positions,
        edge_index=torch.stack([sender, receiver]), edge_vec=vectors.to(dtype),
        box=box64.to(dtype).unsqueeze(0), cutoff=torch.tensor([float(cutoff)], dtype=dtype), num_nodes=n,
    )
    if inherent_positions is not None:
        inherent = _as_positions(inherent_positions, "inherent_positions")
        if inherent.shape != positions.shape:
            raise InvalidInputError(f"inherent_positions must have the shape of positions {tuple(positions.shape)}; "
                                    f"got {tuple(inherent.shape)}.")
        # Each particle's own displacement to its inherent state, at its minimum image, moves the pair's vector.
        moved = minimum_image(inherent.detach().to(torch.float64) - x64, box64)
        data.pos_inherent = inherent.to(dtype)
        data.edge_vec_inherent = (vectors + moved[sender] - moved[receiver]).to(dtype)
    return data


def graph_of(data: Data, positions, *, inherent_positions=None, types=None) -> Data:
    """The graph of other positions (and types) with ``data``'s box, cutoff and species count."""
    return periodic_graph(positions, data.types if types is None else types, data.box[0], float(data.cutoff[0]),
                          n_species=data.x.shape[1], inherent_positions=inherent_positions)


def cubic_symmetries(box) -> torch.Tensor:
    """The orthogonal maps (G, d, d) that map the box onto itself: signed axis permutations, 48 in 3D and 8 in 2D
    for a cubic (square) box; only the 2^d reflections when the edges differ."""
    box = torch.as_tensor(box, dtype=torch.float64).reshape(-1)
    dim = box.numel()
    axes = torch.eye(dim, dtype=torch.float64)
    cubic = bool((box == box[0]).all())
    orders = itertools.permutations(range(dim)) if cubic else [tuple(range(dim))]
    signs = torch.tensor(list(itertools.product((1.0, -1.0), repeat=dim)), dtype=torch.float64)
    return torch.stack([axes[list(order)] * sign.unsqueeze(1) for order in orders for sign in signs])


def transform_graph(data: Data, matrix: torch.Tensor) -> Data:
    """``data`` with positions and edge vectors mapped by the orthogonal ``matrix`` (d, d): v -> matrix @ v.

    A symmetry of the box (:func:`cubic_symmetries`, which leave ``box`` unchanged) gives the graph of the mapped
    configuration with the same edges, which is what augmentation needs; any other rotation gives the input of a
    rotated environment (no longer a periodic box), which is how rotation invariance is tested."""
    out = data.clone()
    matrix = matrix.to(data.edge_vec.dtype)
    for key in ("pos", "pos_inherent", "edge_vec", "edge_vec_inherent"):
        if key in out:
            out[key] = out[key] @ matrix.T
    return out
