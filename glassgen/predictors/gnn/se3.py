"""An SE(3)-equivariant graph network in the manner of Pezzicoli, Charpiat and Landes (SciPost Phys. 16, 136 (2024)).

Each layer convolves node features (irreps up to ``l_max``) with the spherical harmonics of the edge vectors through
an e3nn tensor product whose weights a radial MLP computes from a Bessel basis of the distance; the sum over
neighbours goes through a linear map, a self-connection is added, and gated nonlinearities (``e3nn.nn.Gate``) follow.
A decoder MLP reads the scalars (0e) of the last layer: K invariant outputs per particle. With ``inherent=True`` the
edges also carry the spherical harmonics and distance of the same pair in the inherent state (Pezzicoli et al.
compare thermal and inherent-state inputs).

Costs on CPU decide the choices: the tensor products are depthwise ('uvu': each channel meets each harmonic with one
radial weight, no channel mixing; REFERENCE.md measured ~8-22 s per N = 4096 training step for depthwise e3nn against
~120 s for fully connected products), harmonics stop at l = 2 and the features keep natural parity (0e, 1o, 2e), so
the outputs are invariant under O(3), reflections included. Messages fade smoothly to zero at the cutoff, so the
outputs are continuous as pairs cross it.

Parameters, KA3D (2 species), K = 1, defaults (hidden 32x0e + 16x1o + 8x2e, 4 layers, radial MLP 8-32): 48,769 from
thermal vectors, 88,257 with inherent ones too (twice the paths); published 52,660 (Pezzicoli et al.'s l_max and
layer sizes are not verified here). 3D only.
"""

from __future__ import annotations

import contextlib
import math

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn
from torch_geometric.data import Data

from glassgen.errors import InvalidInputError
from glassgen.predictors.gnn.graph import EDGE_CUTOFF
from glassgen.predictors.gnn.layers import check_graph, count_parameters, mlp

#: Natural-parity irreps of the hidden features: scalars, vectors, rank-2 tensors.
HIDDEN = "32x0e + 16x1o + 8x2e"
#: Edges whose messages one layer computes at a time.
EDGE_CHUNK = 8192


def bessel_basis(r: torch.Tensor, cutoff: float, number: int) -> torch.Tensor:
    """sqrt(2 / c) sin(n pi r / c) / r, n = 1..number (DimeNet's radial basis), shape (E, number)."""
    n = torch.arange(1, number + 1, dtype=r.dtype, device=r.device)
    return math.sqrt(2.0 / cutoff) * torch.sin(n * math.pi * r.unsqueeze(-1) / cutoff) / r.unsqueeze(-1)


def envelope(r: torch.Tensor, cutoff: float, p: int = 6) -> torch.Tensor:
    """DimeNet's polynomial envelope: 1 at r = 0, zero with two vanishing derivatives at the cutoff."""
    x = (r / cutoff).clamp(max=1.0)
    return (1 - (p + 1) * (p + 2) / 2 * x ** p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2))


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    """e3nn computes its coefficients in torch's default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class EquivariantConvolution(nn.Module):
    """One layer: depthwise tensor product of sender features with the edge harmonics, radial weights, sum over
    neighbours / sqrt(``neighbours``), linear map plus self-connection, gate."""

    def __init__(self, irreps_in: o3.Irreps, irreps_edge: o3.Irreps, irreps_hidden: o3.Irreps, n_radial: int,
                 radial_width: int, neighbours: float):
        super().__init__()
        targets = {ir for _, ir in irreps_hidden}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_edge) in enumerate(irreps_edge):
                for ir_out in ir_in * ir_edge:
                    if ir_out in targets:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        self.tensor_product = o3.TensorProduct(irreps_in, irreps_edge, o3.Irreps(mid), instructions,
                                               shared_weights=False, internal_weights=False)
        self.radial = FullyConnectedNet([n_radial, radial_width, self.tensor_product.weight_numel],
                                        torch.nn.functional.silu)
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l > 0])
        self.gate = Gate(scalars, [torch.nn.functional.silu], o3.Irreps(f"{gated.num_irreps}x0e"), [torch.sigmoid],
                         gated)
        self.linear = o3.Linear(self.tensor_product.irreps_out, self.gate.irreps_in)
        self.self_connection = o3.Linear(irreps_in, self.gate.irreps_in)
        self.norm = 1.0 / math.sqrt(neighbours)

    def forward(self, features: torch.Tensor, edge_index: torch.Tensor, harmonics: torch.Tensor,
                radial: torch.Tensor, fade: torch.Tensor) -> torch.Tensor:
        sender, receiver = edge_index
        summed = features.new_zeros(features.shape[0], self.tensor_product.irreps_out.dim)
        # Messages (~1,400 numbers per edge at the defaults) in chunks that stay in cache: 1.3x faster on a CPU.
        for start in range(0, len(sender), EDGE_CHUNK):
            part = slice(start, start + EDGE_CHUNK)
            summed.index_add_(0, receiver[part], self.message(features[sender[part]], harmonics[part],
                                                              self.radial(radial[part]), fade[part]))
        return self.gate(self.linear(summed * self.norm) + self.self_connection(features))

    def message(self, features_j: torch.Tensor, harmonics: torch.Tensor, weights: torch.Tensor,
                fade: torch.Tensor) -> torch.Tensor:
        # The product is linear in its weights: fading the weights (E, w) costs less than fading the messages.
        return self.tensor_product(features_j, harmonics, weights * fade.unsqueeze(-1))


class SE3GNN(nn.Module):
    """The SE(3)-equivariant network (module docstring); (N, K) invariant outputs.

    ``hidden`` irreps of the features (natural parity, up to ``l_max``), ``n_layers`` convolutions (the receptive
    field is ``n_layers`` edges), ``n_basis`` Bessel functions into a radial MLP of width ``radial_width``,
    ``neighbours`` the typical number of neighbours that normalises the sums (KA3D at r < 2: ~40). ``dtype``
    (default: torch's): e3nn's Clebsch-Gordan coefficients are computed in float64 and stored in ``dtype``; build a
    float64 model with ``dtype=torch.float64``, since ``.double()`` on a float32 one keeps float32-rounded
    coefficients (invariant to ~1e-9 only).
    """

    published_parameters = 52_660
    invariances = ("translations", "permutations", "cubic", "rotations")

    def __init__(self, n_species: int = 2, n_outputs: int = 1, *, hidden: str = HIDDEN, l_max: int = 2,
                 n_layers: int = 4, n_basis: int = 8, radial_width: int = 32, cutoff: float = EDGE_CUTOFF,
                 inherent: bool = False, neighbours: float = 40.0, dtype: torch.dtype | None = None):
        super().__init__()
        dtype = torch.get_default_dtype() if dtype is None else dtype
        irreps_hidden = o3.Irreps(hidden).simplify()
        if min(n_species, n_outputs, n_layers, n_basis, radial_width) < 1 or not cutoff > 0:
            raise InvalidInputError(f"SE3GNN needs n_species, n_outputs, n_layers, n_basis, radial_width >= 1 and a "
                                    f"positive cutoff; got {n_species}, {n_outputs}, {n_layers}, {n_basis}, "
                                    f"{radial_width}, {cutoff}.")
        if irreps_hidden.lmax > l_max or any(ir.p != (-1) ** ir.l for _, ir in irreps_hidden):
            raise InvalidInputError(f"hidden irreps {irreps_hidden} must have natural parity (0e, 1o, 2e, 3o) and "
                                    f"l <= l_max = {l_max}.")
        n_scalars = sum(mul for mul, ir in irreps_hidden if ir.l == 0)
        if n_scalars == 0:
            raise InvalidInputError(f"hidden irreps {irreps_hidden} need scalars (0e) for the decoder.")
        self.n_species, self.n_outputs, self.n_layers, self.inherent = n_species, n_outputs, n_layers, inherent
        self.cutoff, self.n_basis = float(cutoff), n_basis
        self.n_scalars = n_scalars
        with _default_dtype(torch.float64):
            self.harmonics = o3.SphericalHarmonics(o3.Irreps.spherical_harmonics(l_max), normalize=True,
                                                   normalization="component")
            irreps_edge = self.harmonics.irreps_out * (2 if inherent else 1)
            self.embedding = o3.Linear(o3.Irreps(f"{n_species}x0e"), o3.Irreps(f"{n_scalars}x0e"))
            irreps = [o3.Irreps(f"{n_scalars}x0e")] + [irreps_hidden] * n_layers
            self.layers = nn.ModuleList(
                EquivariantConvolution(irreps[k], irreps_edge, irreps_hidden, n_basis * (2 if inherent else 1),
                                       radial_width, neighbours)
                for k in range(n_layers))
            self.decoder = mlp([n_scalars, n_scalars, n_outputs], activate_final=False)
        self.to(dtype)

    def edge_inputs(self, data: Data) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Spherical harmonics (E, sh), radial basis (E, n_radial) and the fade at the cutoff (E,) of the edges."""
        vectors = [data.edge_vec] + ([data.edge_vec_inherent] if self.inherent else [])
        harmonics = torch.cat([self.harmonics(v) for v in vectors], dim=-1)
        radial = torch.cat([bessel_basis(v.norm(dim=-1), self.cutoff, self.n_basis) for v in vectors], dim=-1)
        return harmonics, radial, envelope(data.edge_vec.norm(dim=-1), self.cutoff)

    def forward(self, data: Data) -> torch.Tensor:
        check_graph(data, self, n_species=self.n_species, dim=3, needs_inherent=self.inherent)
        harmonics, radial, fade = self.edge_inputs(data)
        features = self.embedding(data.x)
        for layer in self.layers:
            features = layer(features, data.edge_index, harmonics, radial, fade)
        # The gate puts the scalars first.
        return self.decoder(features[:, : self.n_scalars])

    def extra_repr(self) -> str:
        return (f"n_species={self.n_species}, n_outputs={self.n_outputs}, n_layers={self.n_layers}, "
                f"inherent={self.inherent}, parameters={count_parameters(self):,}, published "
                f"{self.published_parameters:,} (see the module docstring)")
