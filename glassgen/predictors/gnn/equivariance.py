"""Symmetry checks for any graph network here: a propensity must not change when the configuration is translated
through the periodic box, its particles relabelled, or (for networks built to be invariant) rotated or reflected.

:func:`assert_invariant` rebuilds the graph of the transformed configuration with :func:`periodic_graph` wherever the
transformed configuration is still periodic (translations, relabellings, symmetries of the box), so the neighbour
search and minimum image are exercised too; arbitrary rotations only exist for the environments, so those rotate
the edge vectors of the graph. Networks declare what they promise in ``invariances``: ``BapstGNN`` and ``BotanGNN``
see raw edge vectors and are not rotation invariant, not even under the symmetries of the box (training augments
with them instead); ``SE3GNN`` is invariant under all of O(3).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Data

from glassgen.errors import InvalidInputError
from glassgen.predictors.gnn.graph import cubic_symmetries, graph_of, transform_graph

#: Every group :func:`assert_invariant` knows.
GROUPS = ("translations", "permutations", "cubic", "rotations")
#: Default relative tolerances on the largest output.
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}


def random_rotation(dim: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """A uniformly random rotation (d, d) with determinant +1."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def _outputs(model: nn.Module, data: Data, original: torch.Tensor) -> dict[str, torch.Tensor]:
    """The outputs in the original labelling: nodes (N, K) by original index, edges sorted by original (receiver,
    sender); ``original[k]`` is the original index of particle k of ``data``."""
    with torch.no_grad():
        out = model(data)
    outputs = {"node": out} if isinstance(out, torch.Tensor) else {"node": out[0], "edge": out[1]}
    node = torch.empty_like(outputs["node"])
    node[original] = outputs["node"]
    outputs["node"] = node
    if "edge" in outputs:
        sender, receiver = data.edge_index
        outputs["edge"] = outputs["edge"][torch.argsort(original[receiver] * data.num_nodes + original[sender])]
    return outputs


def assert_invariant(model: nn.Module, data: Data, *, groups: tuple[str, ...] | None = None, samples: int = 3,
                     generator: torch.Generator | None = None, rtol: float | None = None) -> dict[str, float]:
    """Check that ``model``'s outputs on the full graph ``data`` are invariant (node outputs permute with the
    particles) under ``groups`` (default: ``model.invariances``); raise AssertionError naming the first violation.

    Translations, permutations and rotations use ``samples`` random draws each; ``cubic`` checks every symmetry of
    the box (48 in 3D, 8 in 2D). ``rtol`` (default 1e-4 in float32, 1e-10 in float64) bounds the largest deviation
    relative to the largest output. Returns the largest relative deviation seen per group.
    """
    groups = tuple(getattr(model, "invariances", ("translations", "permutations")) if groups is None else groups)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise InvalidInputError(f"unknown symmetry groups {sorted(unknown)}; choose from {GROUPS}.")
    if "particle_id" in data or data.box.shape[0] != 1:
        raise InvalidInputError("assert_invariant needs the full graph of one configuration (periodic_graph), not a "
                                "crop or a batch.")
    generator = generator or torch.Generator().manual_seed(0)
    dtype, n, dim = data.edge_vec.dtype, data.num_nodes, data.edge_vec.shape[1]
    rtol = TOLERANCE[dtype] if rtol is None else rtol
    identity = torch.arange(n)
    inherent = data.get("pos_inherent")
    reference = _outputs(model, data, identity)
    scale = max(float(v.abs().max()) for v in reference.values())

    def variants(group: str):
        if group == "translations":
            for _ in range(samples):
                shift = (torch.rand(dim, generator=generator, dtype=torch.float64) * data.box[0]).to(dtype)
                yield (f"translation by {shift.tolist()}", identity,
                       graph_of(data, data.pos + shift,
                                inherent_positions=None if inherent is None else inherent + shift))
        elif group == "permutations":
            for _ in range(samples):
                order = torch.randperm(n, generator=generator)
                yield ("a relabelling of the particles", order,
                       graph_of(data, data.pos[order], types=data.types[order],
                                inherent_positions=None if inherent is None else inherent[order]))
        elif group == "cubic":
            for matrix in cubic_symmetries(data.box[0]).to(dtype):
                yield (f"the box symmetry {matrix.tolist()}", identity,
                       graph_of(data, data.pos @ matrix.T,
                                inherent_positions=None if inherent is None else inherent @ matrix.T))
        else:
            for _ in range(samples):
                matrix = random_rotation(dim, generator, dtype)
                yield f"the rotation {matrix.tolist()}", identity, transform_graph(data, matrix)

    worst = {}
    for group in groups:
        worst[group] = 0.0
        for what, original, transformed in variants(group):
            outputs = _outputs(model, transformed, original)
            for key, value in reference.items():
                if outputs[key].shape != value.shape:
                    raise AssertionError(f"{type(model).__name__}: under {what} the {key} outputs changed shape "
                                         f"from {tuple(value.shape)} to {tuple(outputs[key].shape)} (edges lost or "
                                         f"gained).")
                deviation = float((outputs[key] - value).abs().max()) / scale
                worst[group] = max(worst[group], deviation)
                if not deviation <= rtol:
                    raise AssertionError(f"{type(model).__name__} is not invariant under {what}: {key} outputs move "
                                         f"by {deviation:.3g} of the largest output (tolerance {rtol:g}, {dtype}).")
    return worst
