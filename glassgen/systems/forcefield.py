"""Batched potential energy, per-particle energy and analytic forces of KA mixtures.

`ForceField` is the fast path that MD, minimisation and samplers hold on to: it keeps a Verlet list and the per-pair
parameters between calls. Two backends compute the same sums: compiled numba loops (CPU, no gradient; the fastest:
see `_kernels.py` for their layout and measurements) and vectorised torch (autograd, CUDA). The functions `energy`,
`per_particle_energy` and `forces` are the one-shot path for a `System`, and check inputs (overlaps included) first.

Non-finite coordinates give NaN energies and forces for their configuration; two particles at the same point raise
ZeroDivisionError (the compiled loops count such pairs), which the integrators report as an unstable run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.systems import _kernels
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
        spec = self.model
        # Pairs are listed within r_c sigma_ab + skin of their own species pair (16 % fewer pairs in KA3D).
        ranges = spec.cutoff * np.asarray(spec.sigma, dtype=np.float64)
        self.neighbors = VerletList(spec.max_cutoff, skin=skin, all_pairs=all_pairs, pair_ranges=ranges)
        self._pair_u_f = pair_function(self.model)
        self._kernel_table = _kernels.pair_table(spec.sigma, spec.epsilon, spec.form, spec.cutoff)
        self._form_code = _kernels.FORM_CODES[spec.form]
        self._form_constants = _kernels.form_constants(spec.form, spec.cutoff, KA2D_SMOOTHING)
        self._box_source = None
        self._torch_key = None
        self.set_types(types)
        self.n_evaluations = 0

    def set_types(self, types) -> None:
        """Change species (after a swap); the neighbour list is rebuilt at the next call if they differ."""
        self.types = as_tensor(types, dtype=torch.int64, device=self.box.device)
        self._flat = None
        self._torch_key = None

    def compute(self, positions: torch.Tensor, *, energy: bool = True, forces: bool = True,
                per_particle: bool = False) -> Evaluation:
        """Evaluate positions of shape (B, N, d) (or (N, d), treated as B = 1).

        Energies come back in the dtype of the positions; the box and parameters follow its dtype and device.
        """
        single = positions.ndim == 2
        x = positions.unsqueeze(0) if single else positions
        flat_types = self._update(x)
        use_numba = self.backend == "numba" or (
            self.backend == "auto" and x.device.type == "cpu" and not (x.requires_grad and torch.is_grad_enabled()))
        if use_numba:
            out = self._compute_numba(x, flat_types, energy, forces, per_particle)
        else:
            out = self._compute_torch(x, flat_types, energy, forces, per_particle)
        if single:
            out = Evaluation(*(None if t is None else t[0] for t in (out.energy, out.per_particle, out.forces)))
        self.n_evaluations += x.shape[0]
        return out

    def _update(self, x: torch.Tensor) -> torch.Tensor:
        """Bring the neighbour list up to date for x (B, N, d); return the flat (B*N,) species."""
        n_conf, n, _ = x.shape
        if self._box_source is not self.box:  # the box may be reassigned between calls
            self._box_np = np.asarray(self.box.detach().cpu(), dtype=np.float64)
            self._box_cache = {}
            self._box_source = self.box
        if self._flat is None or self._flat[0] != (n_conf, n):
            types = self.types
            flat = types.repeat(n_conf) if types.ndim == 1 else types.reshape(-1)
            if flat.numel() != n_conf * n:
                raise InvalidInputError(
                    f"types have shape {tuple(types.shape)} but positions hold {n_conf} configurations of {n} "
                    "particles."
                )
            flat = flat.cpu().contiguous()
            if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= self.model.n_types):
                raise InvalidInputError(
                    f"types must be 0-based species labels 0..{self.model.n_types - 1} for {self.model.name}; "
                    f"found {sorted(set(flat.tolist()))}."
                )
            self._flat = ((n_conf, n), flat, {})
        flat_cpu = self._flat[1]
        if x.device.type == "cpu":
            self.neighbors.update(x, self._box_np, flat_cpu)
            return flat_cpu
        self.neighbors.update(x, self._box_like(x))
        on_device = self._flat[2]
        if x.device not in on_device:
            on_device[x.device] = flat_cpu.to(x.device)
        return on_device[x.device]

    def _box_like(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.dtype, x.device)
        if key not in self._box_cache:
            self._box_cache[key] = self.box.to(dtype=x.dtype, device=x.device)
        return self._box_cache[key]

    def _compute_torch(self, x, flat_types, energy, forces, per_particle) -> Evaluation:
        n_conf, n, dim = x.shape
        nb = self.neighbors
        i, j, offset = nb.i, nb.j, nb.offset
        flat = x.reshape(n_conf * n, dim)
        separation = flat[j] - flat[i] + offset.to(dtype=x.dtype, device=x.device)
        r2 = separation.square().sum(-1)
        sigma2, epsilon, cutoff2, shift = self._torch_pair_params(x, flat_types)
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

    def _torch_pair_params(self, x: torch.Tensor, flat_types: torch.Tensor):
        """Per-pair (sigma^2, epsilon, cut^2, shift) of the listed pairs, redone after a rebuild or a swap."""
        nb = self.neighbors
        key = (nb.n_builds, id(self._flat), x.dtype, x.device)
        if self._torch_key != key:
            table = PairTable.from_model(self.model, dtype=x.dtype, device=x.device)
            pair_type = flat_types[nb.i] * table.n_types + flat_types[nb.j]
            self._pair_params = tuple(t[pair_type] for t in (table.sigma2, table.epsilon, table.cutoff2, table.shift))
            self._torch_key = key
        return self._pair_params

    def _compute_numba(self, x, flat_types, energy, forces, per_particle) -> Evaluation:
        n_conf, n, dim = x.shape
        m = n_conf * n
        nb = self.neighbors
        dtype = np.float32 if x.dtype == torch.float32 else np.float64
        energies = np.empty(n_conf)
        if nb.all_pairs:
            flat = x.detach().numpy().reshape(m, dim)
            if flat.dtype != np.float32 and flat.dtype != np.float64:
                flat = flat.astype(np.float64)
            site = np.empty(m if per_particle else 1)
            total = np.empty((m if forces else 1, dim))
            coincident = _kernels.all_pairs_loop(flat, flat_types.numpy(), nb.n_types, self._box_np, self._kernel_table,
                                    self._form_code, self._form_constants, n, energies, site, total,
                                    energy, per_particle, forces)
            site, total = site.astype(dtype, copy=False), total.astype(dtype, copy=False)
        else:
            order, ts, start, end, nbr, code = nb.csr
            site = np.empty(m if per_particle else 1, dtype=dtype)
            total = np.empty((m if forces else 1, dim), dtype=dtype)
            only_forces = forces and not (energy or per_particle)
            kernel = _kernels.CSR_FORCES[self._form_code] if only_forces else _kernels.csr_pair_loop
            coincident = kernel(nb.xs, ts, nb.n_types, start, end, nbr, code, nb.shifts, self._kernel_table,
                                   self._form_code, self._form_constants, n, order, nb.scratch, energies, site,
                                   total, energy, per_particle, forces)
        if not nb.all_pairs and nb.any_bad:
            # A NaN or infinite coordinate: that configuration's results are NaN (the all-pairs loop does it alone).
            energies[nb.bad] = np.nan
            if per_particle:
                site.reshape(n_conf, n)[nb.bad] = np.nan
            if forces:
                total.reshape(n_conf, n, dim)[nb.bad] = np.nan
        if coincident:
            # The old contract of the compiled loop, which the integrators turn into an "unstable" error.
            raise ZeroDivisionError(f"{coincident} pairs of particles sit at the same point: infinite forces.")
        out = Evaluation()
        same = x.dtype == torch.float64 or x.dtype == torch.float32
        if energy:
            out.energy = torch.from_numpy(energies).to(x.dtype)
        if per_particle:
            out.per_particle = torch.from_numpy(site.reshape(n_conf, n))
            out.per_particle = out.per_particle if same else out.per_particle.to(x.dtype)
        if forces:
            out.forces = torch.from_numpy(total.reshape(n_conf, n, dim))
            out.forces = out.forces if same else out.forces.to(x.dtype)
        return out

    def min_pair_distance_ratio(self, positions: torch.Tensor) -> tuple[float, int, int, int]:
        """Smallest r_ij / sigma_ab over listed pairs, with the configuration and particle indices of that pair."""
        x = positions.unsqueeze(0) if positions.ndim == 2 else positions
        n = x.shape[1]
        flat_types = self._update(x)
        nb = self.neighbors
        if x.device.type == "cpu":
            if nb.all_pairs:
                flat = x.detach().numpy().reshape(-1, x.shape[-1]).astype(np.float64, copy=False)
                ratio, a, b = _kernels.all_pairs_min_ratio(flat, flat_types.numpy(), nb.n_types, self._box_np,
                                                           self._kernel_table, n)
            else:
                order, ts, start, end, nbr, code = nb.csr
                ratio, k, q = _kernels.csr_min_ratio(nb.xs, ts, nb.n_types, start, end, nbr, code, nb.shifts,
                                                     self._kernel_table)
                a, b = (int(order[k]), int(order[q])) if k >= 0 else (-1, -1)
            if a < 0:
                return float("inf"), -1, -1, -1
            return float(ratio), a // n, a % n, b % n
        i, j = nb.i, nb.j
        flat = x.reshape(-1, x.shape[-1])
        r2 = (flat[j] - flat[i] + nb.offset.to(x.dtype)).square().sum(-1)
        if r2.numel() == 0:
            return float("inf"), -1, -1, -1
        ratio2 = r2 / self._torch_pair_params(x, flat_types)[0]
        k = int(torch.argmin(ratio2))
        return float(ratio2[k].sqrt()), int(i[k]) // n, int(i[k]) % n, int(j[k]) % n


def check_overlaps(forcefield: ForceField, positions: torch.Tensor, fix: str) -> None:
    """Raise if two particles of positions (N, d) or (B, N, d) are closer than OVERLAP_FRACTION sigma_ab."""
    ratio, b, i, j = forcefield.min_pair_distance_ratio(positions)
    if ratio < OVERLAP_FRACTION:
        raise InvalidInputError(
            f"particles {i} and {j} of configuration {b} overlap: their distance is {ratio:.3g} sigma_ab "
            f"(below {OVERLAP_FRACTION}). {fix}"
        )


def evaluate(system: System, *, energy: bool = True, forces: bool = True, per_particle: bool = False) -> Evaluation:
    """One checked evaluation of a System (overlaps refused), shapes as in :meth:`ForceField.compute`."""
    ff = ForceField(system.model, system.box, system.types)
    check_overlaps(ff, system.batched_positions(), "Check the units and the box of the input, or start from "
                   "glassgen.systems.random_start, which removes overlaps.")
    return ff.compute(system.positions, energy=energy, forces=forces, per_particle=per_particle)


def energy(system: System) -> torch.Tensor:
    """Total potential energy, shape (B,) for a batched system or a scalar for one configuration."""
    return evaluate(system, forces=False).energy


def per_particle_energy(system: System) -> torch.Tensor:
    """Potential energy of each particle (half of each pair to each partner), shape (N,) or (B, N)."""
    return evaluate(system, energy=False, forces=False, per_particle=True).per_particle


def forces(system: System) -> torch.Tensor:
    """Analytic forces -dU/dx, shape of the positions."""
    return evaluate(system, energy=False).forces
