"""Batched potential energy, per-particle energy and analytic forces of KA mixtures.

`ForceField` is the fast path that MD, minimisation and samplers hold on to: it keeps a Verlet list and the per-pair
parameters between calls. Two backends compute the same sums: a compiled numba pair loop (CPU, no gradient; the
fastest) and vectorised torch (autograd, CUDA). The functions `energy`, `per_particle_energy` and `forces` are the
one-shot path for a `System`, and check inputs (overlaps included) first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.systems._kernels import FORM_CODES, pair_loop
from glassgen.systems.models import KA2D_SMOOTHING, PairModel, get_model
from glassgen.systems.neighbors import VerletList
from glassgen.systems.potential import PairTable, pair_function
from glassgen.systems.system import System, as_tensor

#: Pairs closer than this fraction of sigma_ab are reported as overlapping particles.
OVERLAP_FRACTION = 0.3

BACKENDS = ("auto", "numba", "torch")


@dataclass
class Evaluation:
    """What one force-field call computed; fields not asked for are None.

    energy : Tensor of shape (B,); per_particle : (B, N), summing to energy; forces : (B, N, d).
    """

    energy: torch.Tensor | None = None
    per_particle: torch.Tensor | None = None
    forces: torch.Tensor | None = None


class ForceField:
    """Energies and forces of B configurations of one model in one box.

    Parameters
    ----------
    model : str or PairModel
        The model (e.g. ``"ka3d"``, ``"ka3d-sf"``, ``"ka2d"``).
    box : array of shape (d,)
        Box edges.
    types : array of shape (N,) or (B, N)
        Species, 0-based; (B, N) when configurations differ in identities (swap Monte Carlo).
    skin : float
        Verlet skin of the neighbour list.
    all_pairs : bool or None
        Force the all-pairs list on or off (default: by system size).
    backend : {"auto", "numba", "torch"}
        "auto" takes the numba loop for CPU tensors that need no gradient and torch otherwise.

    Examples
    --------
    >>> ff = ForceField("ka3d", box, types)          # doctest: +SKIP
    >>> out = ff.compute(positions, per_particle=True)  # positions (B, N, 3)
    >>> out.energy.shape, out.forces.shape
    """

    def __init__(self, model, box, types, *, skin: float = 0.3, all_pairs: bool | None = None,
                 backend: str = "auto"):
        if backend not in BACKENDS:
            raise InvalidInputError(f"backend must be one of {BACKENDS}; got {backend!r}.")
        self.backend = backend
        self.model = model if isinstance(model, PairModel) else get_model(model)
        self.box = as_tensor(box)
        self.neighbors = VerletList(self.model.max_cutoff, skin=skin, all_pairs=all_pairs)
        self._pair_u_f = pair_function(self.model)
        self._table = None
        self._smoothing = np.asarray(KA2D_SMOOTHING, dtype=np.float64)
        self.set_types(types)
        self.n_evaluations = 0

    def set_types(self, types) -> None:
        """Change species (after a swap); per-pair parameters are refreshed at the next call."""
        self.types = as_tensor(types, dtype=torch.int64, device=self.box.device)
        self._pair_type = None

    def compute(self, positions: torch.Tensor, *, energy: bool = True, forces: bool = True,
                per_particle: bool = False) -> Evaluation:
        """Evaluate positions of shape (B, N, d) (or (N, d), treated as B = 1).

        Energies come back in the dtype of the positions; the box and parameters follow its dtype and device.
        """
        single = positions.ndim == 2
        x = positions.unsqueeze(0) if single else positions
        n_conf, n, _ = x.shape
        box = self.box.to(dtype=x.dtype, device=x.device)
        if self.neighbors.update(x, box):
            self._pair_type = None
        self._refresh_pair_type(n_conf, n, x)
        use_numba = self.backend == "numba" or (
            self.backend == "auto" and x.device.type == "cpu" and not (x.requires_grad and torch.is_grad_enabled()))
        out = (self._compute_numba if use_numba else self._compute_torch)(x, energy, forces, per_particle)
        if single:
            out = Evaluation(*(None if t is None else t[0] for t in (out.energy, out.per_particle, out.forces)))
        self.n_evaluations += n_conf
        return out

    def _compute_torch(self, x, energy, forces, per_particle) -> Evaluation:
        n_conf, n, dim = x.shape
        i, j = self.neighbors.i, self.neighbors.j
        flat = x.reshape(n_conf * n, dim)
        separation = flat[j] - flat[i] + self.neighbors.offset.to(x.dtype)
        r2 = separation.square().sum(-1)
        sigma2, epsilon, cutoff2, shift = self._pair_params
        inside = r2 < cutoff2
        u, f = self._pair_u_f(r2, sigma2, epsilon, shift)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        u = torch.where(inside, u, zero)
        out = Evaluation()
        if per_particle:
            half = 0.5 * u
            site = torch.zeros(n_conf * n, dtype=x.dtype, device=x.device)
            site.index_add_(0, i, half).index_add_(0, j, half)
            out.per_particle = site.reshape(n_conf, n)
        if energy:
            out.energy = (out.per_particle.sum(-1) if per_particle
                          else torch.zeros(n_conf, dtype=x.dtype, device=x.device).index_add_(0, i // n, u))
        if forces:
            pair_force = torch.where(inside, f, zero).unsqueeze(-1) * separation
            total = torch.zeros_like(flat)
            total.index_add_(0, j, pair_force).index_add_(0, i, -pair_force)
            out.forces = total.reshape(n_conf, n, dim)
        return out

    def _compute_numba(self, x, energy, forces, per_particle) -> Evaluation:
        n_conf, n, dim = x.shape
        flat = x.detach().reshape(n_conf * n, dim).contiguous().numpy()
        table = self._table
        as_np = lambda t: t.numpy()  # noqa: E731
        energies = np.zeros(n_conf, dtype=flat.dtype)
        site = np.zeros(n_conf * n if per_particle else 1, dtype=flat.dtype)
        total = np.zeros_like(flat) if forces else np.zeros((1, dim), dtype=flat.dtype)
        pair_loop(flat, as_np(self.neighbors.i), as_np(self.neighbors.j), as_np(self.neighbors.offset.to(x.dtype)),
                  as_np(self._pair_type), as_np(table.sigma2), as_np(table.epsilon), as_np(table.cutoff2),
                  as_np(table.shift), FORM_CODES[self.model.form], float(self.model.cutoff), self._smoothing, n,
                  energies, site, total, per_particle, forces)
        return Evaluation(
            energy=torch.from_numpy(energies) if energy else None,
            per_particle=torch.from_numpy(site).reshape(n_conf, n) if per_particle else None,
            forces=torch.from_numpy(total).reshape(n_conf, n, dim) if forces else None,
        )

    def min_pair_distance_ratio(self, positions: torch.Tensor) -> tuple[float, int, int, int]:
        """Smallest r_ij / sigma_ab over listed pairs, with the configuration and particle indices of that pair."""
        x = positions.unsqueeze(0) if positions.ndim == 2 else positions
        n = x.shape[1]
        self.compute(x, energy=False, forces=False)
        i, j = self.neighbors.i, self.neighbors.j
        flat = x.reshape(-1, x.shape[-1])
        r2 = (flat[j] - flat[i] + self.neighbors.offset.to(x.dtype)).square().sum(-1)
        if r2.numel() == 0:
            return float("inf"), -1, -1, -1
        ratio2 = r2 / self._pair_params[0]
        k = int(torch.argmin(ratio2))
        return float(ratio2[k].sqrt()), int(i[k]) // n, int(i[k]) % n, int(j[k]) % n

    def _refresh_pair_type(self, n_conf: int, n: int, x: torch.Tensor) -> None:
        """Species-pair index of every listed pair (and its parameters), redone after a rebuild or a swap."""
        if self._table is None or self._table.sigma2.dtype != x.dtype or self._table.sigma2.device != x.device:
            self._table = PairTable.from_model(self.model, dtype=x.dtype, device=x.device)
            self._pair_type = None
        if self._pair_type is not None:
            return
        types = self.types.to(x.device)
        flat_types = types.repeat(n_conf) if types.ndim == 1 else types.reshape(-1)
        if flat_types.numel() != n_conf * n:
            raise InvalidInputError(
                f"types have shape {tuple(types.shape)} but positions hold {n_conf} configurations of {n} particles."
            )
        self._pair_type = flat_types[self.neighbors.i] * self._table.n_types + flat_types[self.neighbors.j]
        t, index = self._table, self._pair_type
        self._pair_params = (t.sigma2[index], t.epsilon[index], t.cutoff2[index], t.shift[index])


def _checked_forcefield(system: System) -> ForceField:
    ff = ForceField(system.model, system.box, system.types)
    ratio, b, i, j = ff.min_pair_distance_ratio(system.batched_positions())
    if ratio < OVERLAP_FRACTION:
        raise InvalidInputError(
            f"particles {i} and {j} of configuration {b} overlap: their distance is {ratio:.3g} sigma_ab "
            f"(below {OVERLAP_FRACTION}). Check the units and the box of the input, or start from "
            "glassgen.systems.random_start, which removes overlaps."
        )
    return ff


def energy(system: System) -> torch.Tensor:
    """Total potential energy, shape (B,) for a batched system or a scalar for one configuration."""
    return _checked_forcefield(system).compute(system.positions, forces=False).energy


def per_particle_energy(system: System) -> torch.Tensor:
    """Potential energy of each particle (half of each pair to each partner), shape (N,) or (B, N)."""
    return _checked_forcefield(system).compute(system.positions, energy=False, forces=False,
                                               per_particle=True).per_particle


def forces(system: System) -> torch.Tensor:
    """Analytic forces -dU/dx, shape of the positions."""
    return _checked_forcefield(system).compute(system.positions, energy=False).forces
