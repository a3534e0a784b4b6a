"""Kob-Andersen mixtures as targets of the generic samplers (`samplers.target.Target`).

`samplers` imports nothing from glassgen; this module adapts a model of `glassgen.systems` to the protocol.
"""

from __future__ import annotations

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.systems.forcefield import ForceField
from glassgen.systems.models import KA2D_SMOOTHING, PairModel, get_model
from glassgen.systems.potential import PairTable, pair_function
from glassgen.systems.system import System


class KATarget:
    """B chains of one KA model in one periodic box, as a `samplers.target.Target`.

    Parameters
    ----------
    model : str or PairModel
        e.g. ``"ka2d"``; ignored in favour of ``system.model`` when a System is given.
    system : System or int
        A System (its box, particle number and types are used) or the particle number N (box from the model's
        density, or ``density``).
    density : float or None
        Number density when ``system`` is an int.
    local : bool
        How single-particle and swap energy changes are computed. True (default): only the pairs of the moved
        particles, in vectorised torch, O(B N) per attempt. False: the total energy of the B configurations before
        and after the change by the force field (two all-pairs evaluations for N <= 160, O(B N^2)); slower, kept as
        an independent check of the local formula.

    Attributes
    ----------
    types : Tensor (N,)
        The reference species (those of the System, or the model's composition in order), for starting chains.
    forcefield : ForceField
        Used for total and local energies; ``set_types`` is called with the (B, N) species of each call.
    interaction_range : float
        The largest cut-off r_c sigma_ab: particles farther apart do not interact (checkerboard cells need it).
    """

    def __init__(self, model, system, *, density: float | None = None, local: bool = True):
        if isinstance(system, System):
            spec = system.spec
            box, types, n = system.box, system.types, system.n_particles
        else:
            spec = model if isinstance(model, PairModel) else get_model(model)
            n = int(system)
            counts = spec.composition(n)
            types = torch.repeat_interleave(torch.arange(spec.n_types), torch.tensor(counts))
            box = torch.full((spec.dim,), spec.box_length(n, density), dtype=torch.float64)
        self.model = spec
        self.dim, self.n_particles, self.n_types = spec.dim, int(n), spec.n_types
        self.box = torch.as_tensor(box, dtype=torch.float64)
        if float(self.box.min()) < 2 * spec.max_cutoff:
            raise InvalidInputError(
                f"box edge {float(self.box.min()):.4g} is shorter than twice the cut-off ({2 * spec.max_cutoff:.4g}); "
                "use more particles.")
        self.types = torch.as_tensor(types, dtype=torch.int64)
        self.swap_pairs = tuple(spec.swap_pairs)
        self.interaction_range = float(spec.max_cutoff)
        self.local = bool(local)
        self.forcefield = ForceField(spec, self.box, self.types)
        self._pair = pair_function(spec)
        self._tables = {}

    # -- total energies -------------------------------------------------------------------------------------------
    def energy(self, x: torch.Tensor, types: torch.Tensor | None = None) -> torch.Tensor:
        """Total potential energy (B,) of x (B, N, d) with species (B, N) (default: ``self.types`` for all)."""
        t = self.types if types is None else types
        self.forcefield.set_types(t.expand(x.shape[0], -1) if t.ndim == 1 else t)
        return self.forcefield.compute(x, energy=True, forces=False).energy

    def log_prob(self, x, beta, types=None):
        return -beta * self.energy(x, types)

    def local_energies(self, x: torch.Tensor, types: torch.Tensor | None = None) -> torch.Tensor:
        """Energy (B, N) of each particle with all others: the full pair sum, twice the force field's per-particle
        (half-pair) energy, so the row sums are 2 U. O(N) per configuration through the neighbour list."""
        t = self._full_types(types, x.shape[0])
        self.forcefield.set_types(t)
        return 2.0 * self.forcefield.compute(x, energy=False, forces=False, per_particle=True).per_particle

    def pair_coefficients(self):
        """The model as a `samplers.compiled.PairCoefficients` table, with which `samplers.kernels.CompiledSweeps`
        runs compiled sweeps: u = 4 eps [x^-12 - x^-6 + c0 + c1 x + c2 x^2 + c4 x^4] (x = r / sigma) with c0 the shift
        (shifted), c0 and c1 the linear term (shifted-force) or the KA2D polynomial (smooth); None for other forms."""
        from samplers.compiled import PairCoefficients

        spec, rc = self.model, self.model.cutoff
        at_cut, slope = rc**-12 - rc**-6, -12.0 * rc**-13 + 6.0 * rc**-7  # x^-12 - x^-6 and its derivative at r_c
        coefficients = {"shifted": (-at_cut, 0.0, 0.0, 0.0), "shifted-force": (rc * slope - at_cut, -slope, 0.0, 0.0),
                        "smooth": (KA2D_SMOOTHING[0], 0.0, KA2D_SMOOTHING[1], KA2D_SMOOTHING[2])}.get(spec.form)
        if coefficients is None:
            return None
        sigma = np.asarray(spec.sigma, dtype=np.float64)
        return PairCoefficients(sigma**2, np.asarray(spec.epsilon, dtype=np.float64), (rc * sigma) ** 2,
                                np.broadcast_to(np.asarray(coefficients), sigma.shape + (4,)))

    # -- local energy changes -------------------------------------------------------------------------------------
    def _table(self, x):
        key = (x.dtype, x.device)
        if key not in self._tables:
            table = PairTable.from_model(self.model, dtype=x.dtype, device=x.device)
            stacked = torch.stack([table.sigma2, table.epsilon, table.cutoff2, table.shift])  # (4, T*T)
            self._tables[key] = (stacked, table.n_types)
        return self._tables[key]

    def particle_energy(self, x, types, index, position=None, species=None):
        """Sum of the pair energies (B,) of particle index[b] (at ``position`` (B, d) and of ``species`` (B,) if
        given) with all other particles of its chain."""
        return self.particle_energies(x, types, index[:, None], None if position is None else position[:, None],
                                      None if species is None else species[:, None])[:, 0]

    def particle_energies(self, x, types, indices, positions=None, species=None, neighbours=None):
        """Sum of the pair energies (B, K) of particle indices[b, k] (at ``positions`` (B, K, d) and of ``species``
        (B, K) if given) with the other particles of chain b, each alone (the other K - 1 particles where they are).

        ``neighbours`` (B, K, M) int64 restricts row [b, k] to the particles neighbours[b, k] (entries >= N are
        padding, the particle itself is skipped); it must hold every particle within ``interaction_range``. Without
        it all N particles are compared.
        """
        rows = torch.arange(x.shape[0], device=x.device)[:, None]
        t = self._full_types(types, x.shape[0]).to(x.device)
        pos = x[rows, indices] if positions is None else positions.to(x.dtype)
        own = t[rows, indices] if species is None else species
        return self._pair_sums(x, t, indices, pos[None], own, neighbours)[0]

    def _pair_sums(self, x, t, indices, positions, own, neighbours):
        """Pair-energy sums (S, B, K) of particles indices (B, K) of species own (B, K) placed at each of the S
        positions (S, B, K, d), all S against the same particles (all N, or ``neighbours`` (B, K, M) padded with N).

        Coordinates are handled one axis at a time, each a contiguous (S, B, K, M) block: about 5x faster on CPU
        than an inner axis of 2 or 3; gathers are ``torch.gather`` of flat indices, the fastest form here. Pair
        energies are evaluated only for the pairs within the largest cut-off.
        """
        n_conf, n, dim = x.shape
        xt = x.permute(2, 0, 1).reshape(dim, -1)  # (d, B N)
        if neighbours is None:
            others = torch.arange(n, device=x.device)
            other_x, other_t = xt.reshape(dim, 1, n_conf, 1, n), t[:, None, :]
        else:
            others = neighbours
            chain = n * torch.arange(n_conf, device=x.device)[:, None, None]
            flat = (torch.where(neighbours < n, neighbours, 0) + chain).reshape(1, -1)
            other_x = torch.gather(xt, 1, flat.expand(dim, -1)).reshape(dim, 1, *neighbours.shape)
            other_t = torch.gather(t.reshape(1, -1), 1, flat).reshape(neighbours.shape)
        # Minimum image by rounding (4x faster than torch.remainder in float64), with the edge as a number and in
        # place: broadcasting the box and fresh temporaries of this size cost more than the arithmetic.
        r2 = 0.0
        for axis, edge in enumerate(self.box.tolist()):
            d = other_x[axis] - positions[..., axis, None]  # (S, B, K, M)
            r2 = d.sub_((d * (1.0 / edge)).round_(), alpha=edge).square_().add_(r2)
        # Pair energies only within the largest cut-off (a few percent of all N, a sixth of the cells around).
        params, n_types = self._table(x)
        keep = (others != indices[..., None]) & (others < n)  # no self term, no padding
        rows, width = keep.shape[:2].numel(), keep.shape[-1]
        near = (r2 < params[2].max()) & keep
        s, row, j = near.reshape(-1, rows, width).nonzero().unbind(1)  # no integer division (slow on CPU)
        pair, row = row * width + j, s * rows + row
        r2 = r2.reshape(-1)[pair + s * keep.numel()]
        kind = (own[..., None] * n_types + other_t).expand(keep.shape).reshape(-1)[pair]
        sigma2, epsilon, cut2, shift = params[:, kind]
        inside = r2 < cut2
        u, _ = self._pair(torch.where(inside, r2, cut2), sigma2, epsilon, shift)
        out = torch.zeros(positions.shape[:3].numel(), dtype=x.dtype, device=x.device)
        return out.index_add_(0, row, torch.where(inside, u, 0.0)).reshape(positions.shape[:3])

    def energy_change_move(self, x, types, index, new_position):
        """U after moving particle index[b] of each chain to new_position[b], minus U before; (B,)."""
        if not self.local:
            return self._total_difference(x, types, index, new_position)
        return self.energy_change_moves(x, types, index[:, None], new_position[:, None])[:, 0]

    def energy_change_moves(self, x, types, indices, new_positions):
        """Single-move changes (B, K) of moving particle indices[b, k] alone to new_positions[b, k] (B, K, d).

        Old and new particle energies of all B K moves come from one vectorised call of 2 B K rows (the per-call
        overhead dominates at N ~ 50); the sum over k is the change of all K moves when the moved particles lie
        farther than ``interaction_range`` apart (checkerboard updates). O(B K N).
        """
        return self.energy_change_moves_near(x, types, indices, new_positions, None)

    def energy_change_moves_near(self, x, types, indices, new_positions, neighbours):
        """As :meth:`energy_change_moves`, comparing move [b, k] only with the particles neighbours[b, k] (B, K, M)
        (padded with N), which must hold all those within ``interaction_range`` of its old and new positions:
        O(B K M) (the checkerboard sampler passes the 3^d cells around each moved particle's cell)."""
        rows = torch.arange(x.shape[0], device=x.device)[:, None]
        t = self._full_types(types, x.shape[0]).to(x.device)
        both = torch.stack([new_positions.to(x.dtype), x[rows, indices]])
        after, before = self._pair_sums(x, t, indices, both, t[rows, indices], neighbours)
        return after - before

    def _full_types(self, types, n_conf):
        if types is None:
            return self.types.expand(n_conf, -1)
        return types.expand(n_conf, -1) if types.ndim == 1 else types

    def energy_change_swap(self, x, types, i, j):
        """U after exchanging the species of particles i[b] and j[b], minus U before; (B,).

        Local form: the pair (i, j) keeps its species pair, so dU is the change of the energies of i and j with
        everyone else, which the sum of their two particle energies gives exactly (the i-j term cancels).
        """
        t = self.types.expand(x.shape[0], -1) if types is None else types
        rows = torch.arange(x.shape[0], device=x.device)
        if not self.local:
            new = t.clone()
            new[rows, i], new[rows, j] = t[rows, j], t[rows, i]
            return self.energy(x, new) - self.energy(x, t)
        ti, tj = t[rows, i], t[rows, j]
        new = t.clone()
        new[rows, i], new[rows, j] = tj, ti
        n_conf = x.shape[0]
        e = self.particle_energy(x.repeat(4, 1, 1), torch.cat([new, new, t, t]), torch.cat([i, j, i, j]))
        e = e.reshape(4, n_conf)
        return (e[0] + e[1]) - (e[2] + e[3])

    def _total_difference(self, x, types, index, new_position):
        """Two batched force-field evaluations (before, after) in one call of 2B configurations."""
        t = self._full_types(types, x.shape[0])
        after = x.clone()
        after[torch.arange(x.shape[0], device=x.device), index] = new_position.to(x.dtype)
        both = self.energy(torch.cat([x, after]), torch.cat([t, t]))
        return both[x.shape[0]:] - both[: x.shape[0]]
