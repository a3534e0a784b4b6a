"""The `Target` protocol that the samplers draw from, and analytic targets for tests.

A target is a batched Boltzmann density p(x) ~ exp(-beta U(x, types)) of B configurations of N particles in d
dimensions, with the few extras that particle moves need: the energy change of moving one particle and of exchanging
the species of two particles. Positions are (B, N, d) tensors, types (B, N) int64 (or None for a target whose energy
does not depend on species), energies (B,) in the dtype of the positions.

Local energies: ``local_energies(x, types)`` (B, N) is the *full* pair sum e_i = sum_{j != i} v(r_ij) plus the
particle's one-body term; for a pairwise target sum_i e_i = 2 U - (sum of one-body terms). It is the energy that
particle i would take away if it were removed, the natural input of energy-biased move choices.

This module imports nothing from glassgen: glassgen hands the samplers its own targets (``glassgen.targets``).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch


class SamplerInputError(ValueError):
    """A sampler or target argument is wrong (temperature, step size, number of chains, swap settings, shapes)."""


@runtime_checkable
class Target(Protocol):
    """What a sampler needs to know about the density it samples.

    Attributes
    ----------
    dim : int
        Spatial dimension d.
    n_particles : int
        N.
    n_types : int
        Number of species (1 when the energy ignores species).
    box : Tensor of shape (d,) or None
        Edges of the periodic orthorhombic box; None for an open system (no wrapping).
    swap_pairs : tuple of (int, int)
        Species pairs whose identities swap moves may exchange; empty when swaps make no sense.

    Targets may also carry ``interaction_range`` (float, or None when unknown): particles farther apart than this
    do not interact, which checkerboard updates (``samplers.kernels.Checkerboard``) need; and the fast path of those
    updates, ``energy_change_moves_near(x, types, indices, new_positions, neighbours)``: ``energy_change_moves`` told
    that only the particles neighbours[b, k] (B, K, M) int64 (entries >= N are padding; the moved particle itself may
    be listed) can lie within ``interaction_range`` of particle indices[b, k] at its old and new positions, so that it
    costs O(B K M) instead of O(B K N). Without it the sampler calls ``energy_change_moves``.

    Pair targets in a periodic box may also offer ``pair_coefficients()``: their energy as a
    :class:`samplers.compiled.PairCoefficients` table (or None when it is not of that form), with which
    ``samplers.kernels.CompiledSweeps`` runs whole sweeps instead of calling the methods below once per attempt.
    """

    dim: int
    n_particles: int
    n_types: int
    box: torch.Tensor | None
    swap_pairs: tuple[tuple[int, int], ...]

    def energy(self, x: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
        """Potential energy (B,) of positions (B, N, d) with species (B, N) (or None)."""

    def energy_change_move(self, x: torch.Tensor, types: torch.Tensor | None, index: torch.Tensor,
                           new_position: torch.Tensor) -> torch.Tensor:
        """U(x with particle index[b] of chain b at new_position[b]) - U(x); index (B,), new_position (B, d)."""

    def energy_change_swap(self, x: torch.Tensor, types: torch.Tensor | None, i: torch.Tensor,
                           j: torch.Tensor) -> torch.Tensor:
        """U(x, types with types[b, i[b]] and types[b, j[b]] exchanged) - U(x, types); i, j (B,)."""

    def energy_change_moves(self, x: torch.Tensor, types: torch.Tensor | None, indices: torch.Tensor,
                            new_positions: torch.Tensor) -> torch.Tensor:
        """Single-move changes (B, K): entry [b, k] is the change of moving particle indices[b, k] alone to
        new_positions[b, k] (B, K, d), the others staying put. For moves of particles that cannot interact with
        each other (checkerboard updates) the change of making all K moves is the sum over k."""

    def local_energies(self, x: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
        """Energy (B, N) of each particle: its one-body term plus the full sum of its pair energies."""

    def log_prob(self, x: torch.Tensor, beta, types: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised log-density -beta U (B,)."""


def moved(x: torch.Tensor, index: torch.Tensor, new_position: torch.Tensor) -> torch.Tensor:
    """A copy of x (B, N, d) with particle index[b] of chain b placed at new_position[b]."""
    out = x.clone()
    out[torch.arange(x.shape[0], device=x.device), index] = new_position.to(x.dtype)
    return out


def swapped(types: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """A copy of types (B, N) with the species of particles i[b] and j[b] of each chain exchanged."""
    out = types.clone()
    rows = torch.arange(types.shape[0], device=types.device)
    out[rows, i], out[rows, j] = types[rows, j], types[rows, i]
    return out


class BaseTarget:
    """Default implementations of the protocol's extras on top of ``energy``.

    ``energy_change_move`` and ``energy_change_swap`` here evaluate the total energy before and after the change,
    i.e. two full energy evaluations of B configurations (O(N^2) or O(N) each, depending on the energy) per
    attempted move; ``energy_change_moves`` calls ``energy_change_move`` once per column. ``local_energies`` adds
    ``one_body`` (default zero) and the row sums of ``pair_energies`` (B, N, N), the O(N^2) fallback that a
    pairwise subclass enables by defining ``pair_energies``. Subclasses with a cheaper local formula override them.
    """

    n_types: int = 1
    box: torch.Tensor | None = None
    swap_pairs: tuple[tuple[int, int], ...] = ()
    interaction_range: float | None = None

    def energy(self, x, types):  # pragma: no cover - abstract
        raise NotImplementedError

    def one_body(self, x, types):
        """One-body (external field) energy of each particle (B, N); zero by default."""
        return torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device)

    def pair_energies(self, x, types):
        """Symmetric pair-energy matrix (B, N, N) with a zero diagonal; pairwise subclasses define it."""
        raise NotImplementedError(
            f"{type(self).__name__} defines neither local_energies nor pair_energies; define one of them.")

    def local_energies(self, x, types):
        return self.one_body(x, types) + self.pair_energies(x, types).sum(-1)

    def energy_change_moves(self, x, types, indices, new_positions):
        columns = [self.energy_change_move(x, types, indices[:, k], new_positions[:, k])
                   for k in range(indices.shape[1])]
        return torch.stack(columns, 1) if columns else x.new_zeros(x.shape[0], 0)

    def energy_change_move(self, x, types, index, new_position):
        return self.energy(moved(x, index, new_position), types) - self.energy(x, types)

    def energy_change_swap(self, x, types, i, j):
        if types is None:
            return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        return self.energy(x, swapped(types, i, j)) - self.energy(x, types)

    def log_prob(self, x, beta, types=None):
        return -beta * self.energy(x, types)


class HarmonicTrap(BaseTarget):
    """N non-interacting particles in V = k/2 |x - c|^2 each, in open space (box None) or in a periodic box.

    Exact results: each Cartesian component is Gaussian with variance 1 / (beta k), so
    <sum_i |x_i - c|^2> = d N / (beta k) and <U> = d N / (2 beta). With ``box_length`` L the distance to c is the
    minimum image, which truncates each Gaussian component to |x - c| < L/2 (``mean_square_distance`` accounts for
    it). The box lets checkerboard updates run on the trap.
    """

    interaction_range = 0.0  # independent particles

    def __init__(self, n_particles: int, dim: int = 3, k: float = 1.0, center=None, dtype=torch.float64,
                 box_length: float | None = None):
        if n_particles < 1 or dim < 1:
            raise SamplerInputError(f"n_particles and dim must be >= 1; got {n_particles}, {dim}.")
        if not k > 0:
            raise SamplerInputError(f"the spring constant k must be positive; got {k}.")
        if box_length is not None and not box_length > 0:
            raise SamplerInputError(f"box_length must be positive or None; got {box_length}.")
        self.n_particles, self.dim, self.k = int(n_particles), int(dim), float(k)
        self.center = (torch.zeros(dim, dtype=dtype) if center is None
                       else torch.as_tensor(center, dtype=dtype).reshape(dim))
        self.box = None if box_length is None else torch.full((dim,), float(box_length), dtype=dtype)

    def offset(self, x):
        """x - c (minimum image in a periodic box)."""
        d = x - self.center.to(x)
        if self.box is None:
            return d
        box = self.box.to(x)
        return torch.remainder(d + 0.5 * box, box) - 0.5 * box

    def one_body(self, x, types=None):
        return 0.5 * self.k * self.offset(x).square().sum(-1)

    def energy(self, x, types=None):
        return self.one_body(x).sum(-1)

    def local_energies(self, x, types=None):
        return self.one_body(x)

    def energy_change_moves(self, x, types, indices, new_positions):
        old = torch.gather(x, 1, indices[..., None].expand(-1, -1, x.shape[-1]))
        return self.one_body(new_positions.to(x)) - self.one_body(old)

    def energy_change_move(self, x, types, index, new_position):
        return self.energy_change_moves(x, types, index[:, None], new_position[:, None])[:, 0]

    def mean_square_distance(self, beta: float) -> float:
        """Exact <sum_i |x_i - c|^2> = d N / (beta k), times the truncated-normal factor
        1 - 2 a phi(a) / erf(a / sqrt 2), a = (L/2) sqrt(beta k), in a periodic box."""
        variance = 1.0 / (beta * self.k)
        if self.box is not None:
            a = float(self.box[0]) / 2 / math.sqrt(variance)
            variance *= 1.0 - 2.0 * a * math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / math.erf(a / math.sqrt(2))
        return self.dim * self.n_particles * variance


class PeriodicPair(BaseTarget):
    """Two particles in a periodic cubic box of edge L with a soft repulsion v(r) = eps (1 - r/sigma)^2 for r < sigma.

    The minimum-image distance r has the density p(r) ~ S_d(r) exp(-beta v(r)), where S_d(r) is the area of the
    sphere of radius r inside the box; for r < L/2 it is the full sphere (2 pi r in 2D, 4 pi r^2 in 3D). Use
    :meth:`distance_density` for the density conditioned on r < L/2 (requires sigma <= L/2).
    """

    def __init__(self, dim: int = 3, box_length: float = 3.0, epsilon: float = 2.0, sigma: float = 1.0,
                 dtype=torch.float64):
        if dim not in (1, 2, 3):
            raise SamplerInputError(f"dim must be 1, 2 or 3; got {dim}.")
        if not (box_length > 0 and sigma > 0 and epsilon >= 0):
            raise SamplerInputError("box_length and sigma must be positive and epsilon >= 0.")
        if sigma > box_length / 2:
            raise SamplerInputError(f"sigma ({sigma}) must be at most half the box ({box_length / 2}).")
        self.dim, self.n_particles = int(dim), 2
        self.box = torch.full((dim,), float(box_length), dtype=dtype)
        self.epsilon, self.sigma = float(epsilon), float(sigma)
        self.interaction_range = self.sigma

    def pair_potential(self, r):
        gap = torch.clamp(1.0 - r / self.sigma, min=0.0)
        return self.epsilon * gap * gap

    def pair_distance(self, x):
        """Minimum-image distance (B,) of the two particles."""
        box = self.box.to(x)
        d = x[:, 1] - x[:, 0]
        d = torch.remainder(d + 0.5 * box, box) - 0.5 * box
        return d.norm(dim=-1)

    def energy(self, x, types=None):
        return self.pair_potential(self.pair_distance(x))

    def pair_energies(self, x, types=None):
        v = self.pair_potential(self.pair_distance(x))
        out = x.new_zeros(x.shape[0], 2, 2)
        out[:, 0, 1] = out[:, 1, 0] = v
        return out

    def distance_density(self, r, beta: float):
        """Exact density of r on [0, L/2) (conditioned on r < L/2), normalised numerically; r a numpy array."""
        import numpy as np

        half = float(self.box[0]) / 2
        grid = np.linspace(0.0, half, 20001)
        def weight(s):
            return self._sphere(s) * np.exp(-beta * self.epsilon * np.clip(1 - s / self.sigma, 0, None) ** 2)
        trapezoid = getattr(np, "trapezoid", None) or np.trapz
        norm = trapezoid(weight(grid), grid)
        return weight(np.asarray(r, dtype=np.float64)) / norm

    def _sphere(self, r):
        return {1: 2.0 + 0.0 * r, 2: 2 * math.pi * r, 3: 4 * math.pi * r * r}[self.dim]
