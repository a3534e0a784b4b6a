"""Compiled Metropolis and swap sweeps of pair targets in a periodic orthorhombic box (numba, one core).

Why: in torch an attempted move is ~20 small tensor operations (~100 us whatever N); here it is one loop over the
particles in the cells around the moved particle (~1-4 us). The sweeps make the Markov chain of
:class:`samplers.mc.MetropolisMC` in law (same proposals, same acceptance rule), not bit for bit: the random numbers
come from another generator.

Pair energies (:class:`PairCoefficients`): u(r) = 4 eps [x^-12 - x^-6 + c0 + c1 x + c2 x^2 + c4 x^4], x = r / sigma,
for r^2 < cutoff2 and zero beyond, per species pair: truncated-and-shifted (c0), shifted-force (c0, c1) and the
KA2D smoothing (c0, c2, c4) are all of this form.

Cells: floor(m L / r_c) cells per edge (r_c the largest cut-off, m = ``subdivision``), so that the (2m + 1)^d cells
around a cell hold every particle within r_c of any point of it. An edge with at most 2m + 1 cells is one cell (the
stencil would span it anyway; one cell on every edge is all pairs, for small boxes). The default m = 2 (cells of
edge r_c / 2) lists 1.7x fewer candidates than m = 1 in 3D (1.4x in 2D) and measured faster: 1.9x for KA3D N = 1000
(where m = 1 has 3 cells per edge, i.e. all pairs), 1.15x for KA2D N = 1290; m = 3 gained nothing more. Each
chain's cell table (fixed capacity per cell, doubled if a cell fills) is built at the start of each call, O(N), and
updated when an accepted move takes a particle into another cell; the species lists that swaps draw from are kept
the same way.

Random numbers: splitmix64 (64-bit state, passes BigCrush) started from a seed per call, so that a call is a
function of its arguments: a sampler that draws the seeds from its own generator resumes exactly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numba
import numpy as np

from samplers.target import SamplerInputError

#: Columns of the packed (T, T, 7) pair table the kernels read.
CUT2, INV_SIGMA2, EPS4, C0, C1, C2, C4 = range(7)

#: LLVM flags of the pair loops, as in glassgen's force kernels: ~8 % faster, sums within 1e-14 of the strict build,
#: and no assumption that values are finite (coinciding particles give inf, which is rejected).
FASTMATH = {"contract", "arcp", "nsz", "reassoc"}

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class PairCoefficients:
    """Species-pair table of u(r) = 4 eps [x^-12 - x^-6 + c0 + c1 x + c2 x^2 + c4 x^4], x = r / sigma, r^2 < cutoff2.

    sigma2, epsilon, cutoff2 : (T, T) arrays (cutoff2 is the squared cut-off distance, not in units of sigma).
    coefficients : (T, T, 4) array of (c0, c1, c2, c4).
    """

    sigma2: np.ndarray
    epsilon: np.ndarray
    cutoff2: np.ndarray
    coefficients: np.ndarray

    def __post_init__(self):
        arrays = {name: np.array(getattr(self, name), dtype=np.float64)  # own copies
                  for name in ("sigma2", "epsilon", "cutoff2", "coefficients")}
        n = arrays["sigma2"].shape[0] if arrays["sigma2"].ndim == 2 else -1
        shapes_ok = all(arrays[name].shape == (n, n) for name in ("sigma2", "epsilon", "cutoff2"))
        if n < 1 or not shapes_ok or arrays["coefficients"].shape != (n, n, 4):
            raise SamplerInputError("PairCoefficients needs (T, T) sigma2, epsilon, cutoff2 and (T, T, 4) "
                                    f"coefficients; got shapes {[a.shape for a in arrays.values()]}.")
        if not (arrays["sigma2"] > 0).all() or not (arrays["cutoff2"] > 0).all():
            raise SamplerInputError("sigma2 and cutoff2 must be positive.")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    @property
    def n_types(self) -> int:
        return self.sigma2.shape[0]

    @property
    def max_cutoff(self) -> float:
        return float(np.sqrt(self.cutoff2.max()))

    def packed(self) -> np.ndarray:
        """(T, T, 7) table: cut-off^2, 1 / sigma^2, 4 eps, c0, c1, c2, c4 (what the kernels read per pair)."""
        table = np.empty((self.n_types, self.n_types, 7))
        table[..., CUT2], table[..., INV_SIGMA2], table[..., EPS4] = self.cutoff2, 1.0 / self.sigma2, 4 * self.epsilon
        table[..., C0:] = self.coefficients
        return table


class PairSweeps:
    """Compiled sweeps of one pair table in one periodic box; the chains' state is passed to every call.

    Parameters
    ----------
    table : PairCoefficients
    box : (d,) edges, d = 2 or 3, each at least twice the largest cut-off (minimum images).
    subdivision : int
        Cells per cut-off length m (see the module docstring).
    """

    def __init__(self, table: PairCoefficients, box, subdivision: int = 2):
        self.table = table.packed()
        self.box = np.asarray(box, dtype=np.float64).reshape(-1)
        reach = table.max_cutoff
        if self.box.size not in (2, 3) or not (self.box >= 2 * reach).all():
            raise SamplerInputError(f"compiled sweeps need a 2D or 3D box with edges >= twice the largest cut-off "
                                    f"({2 * reach:.4g}); got {self.box.tolist()}.")
        width = 2 * int(subdivision) + 1
        cells = np.floor(self.box * int(subdivision) / reach).astype(np.int64)
        self.cells = np.where(cells > width, cells, 1)
        self.strides = np.cumprod(np.concatenate([[1], self.cells[:-1]])).astype(np.int64)
        coords = (np.arange(int(self.cells.prod()))[:, None] // self.strides) % self.cells
        reach_cells = range(-int(subdivision), int(subdivision) + 1)
        offsets = np.array(list(itertools.product(*[reach_cells if c > 1 else (0,) for c in self.cells])))
        self.around = (((coords[:, None, :] + offsets) % self.cells) * self.strides).sum(-1).astype(np.int64)

    def _positions(self, x):
        """x itself, checked: the kernels write into it and index cells by it without bounds checks."""
        if x.dtype != np.float64 or not x.flags.c_contiguous or x.ndim != 3 or x.shape[2] != self.box.size:
            raise SamplerInputError(f"compiled sweeps need C-contiguous float64 positions (B, N, {self.box.size}).")
        if not ((x >= 0).all() and (x <= self.box).all()):
            raise SamplerInputError("compiled sweeps need positions wrapped into the box, 0 <= x <= L.")
        return x

    def _species(self, types):
        if types.dtype != np.int64 or not types.flags.c_contiguous or types.min() < 0 or \
                types.max() >= self.table.shape[0]:
            raise SamplerInputError(f"compiled sweeps need C-contiguous int64 species 0..{self.table.shape[0] - 1}.")
        return types

    def _geometry(self):
        return self.box, 1.0 / self.box, self.cells / self.box, self.cells, self.strides, self.around

    def energies(self, x: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Total energies (B,) of positions (B, N, d) in the box with species (B, N) int64."""
        return _energies(self._positions(x), self._species(types), self._geometry(), self.table)

    def sweep(self, x, types, energy, step, beta: float, p_swap: float, pairs, n_attempts: int, seed: int,
              move_counts, swap_counts) -> None:
        """``n_attempts`` attempts per chain, in place: positions x (B, N, d) in [0, L), species (B, N), running
        energies (B,), per-species half-widths ``step`` (T,); ``pairs`` (P, 2) the swap pairs; ``move_counts``
        (2, T) and ``swap_counts`` (2, P) int64 tried and accepted counts, incremented."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        _sweep(self._positions(x), self._species(types), energy, self._geometry(), self.table, np.asarray(step, np.float64),
               float(beta), float(p_swap), pairs, int(n_attempts), np.uint64(seed), move_counts, swap_counts)




@numba.njit(cache=True)
def _uniform(state):
    """splitmix64: the next uniform double in [0, 1) of the generator whose state is state[0]."""
    z = state[0] + _GAMMA
    state[0] = z
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, fastmath=FASTMATH)
def _pair(r2, table, a, b):
    if r2 >= table[a, b, CUT2]:
        return 0.0
    x2 = r2 * table[a, b, INV_SIGMA2]
    inv6 = 1.0 / (x2 * x2 * x2)
    u = inv6 * inv6 - inv6 + table[a, b, C0] + x2 * (table[a, b, C2] + x2 * table[a, b, C4])
    if table[a, b, C1] != 0.0:
        u += table[a, b, C1] * math.sqrt(x2)
    return table[a, b, EPS4] * u


@numba.njit(cache=True)
def _cell_of(p, geometry):
    scale, cells, strides = geometry[2], geometry[3], geometry[4]
    c = 0
    for k in range(p.shape[0]):
        ck = int(p[k] * scale[k])
        c += min(ck, cells[k] - 1) * strides[k]  # p = L after rounding belongs to the last cell
    return c


@numba.njit(cache=True, fastmath=FASTMATH)
def _r2_2d(xb, j, p, box, inv_box):
    """Squared minimum-image distance of particle j from point p, written out: 20 % faster than a loop over axes."""
    d0 = xb[j, 0] - p[0]
    d0 -= box[0] * np.rint(d0 * inv_box[0])
    d1 = xb[j, 1] - p[1]
    d1 -= box[1] * np.rint(d1 * inv_box[1])
    return d0 * d0 + d1 * d1


@numba.njit(cache=True, fastmath=FASTMATH)
def _r2_3d(xb, j, p, box, inv_box):
    d2 = xb[j, 2] - p[2]
    d2 -= box[2] * np.rint(d2 * inv_box[2])
    return _r2_2d(xb, j, p, box, inv_box) + d2 * d2


@numba.njit(cache=True, fastmath=FASTMATH)
def _r2(xb, j, p, box, inv_box, three):
    # The dimension is tested here, outside the written-out functions: a test inside them made the loop 10x slower.
    return _r2_3d(xb, j, p, box, inv_box) if three else _r2_2d(xb, j, p, box, inv_box)


@numba.njit(cache=True, fastmath=FASTMATH)
def _sum(xb, tb, p, s, q, t, c, skip1, skip2, members, count, geometry, table, record=None):
    """Sum over the particles j around cell c, but skip1 and skip2, of u_{s t_j}(|x_j - p|) - u_{t t_j}(|x_j - q|)
    (the second term only if t >= 0); the cells around c must hold every particle within the cut-off of p and q.

    ``record`` (:func:`_note`), when given, receives each non-zero term with its j: the change of j's local energy,
    which policy-guided sweeps (:mod:`samplers.compiled_policy`) keep up to date. Without it the branch is compiled
    away (numba prunes ``is None`` on an omitted argument), so Metropolis sweeps pay nothing for it."""
    box, inv_box, around = geometry[0], geometry[1], geometry[5]
    three = xb.shape[1] == 3
    total = 0.0
    for m in range(around.shape[1]):
        cell = around[c, m]
        for slot in range(count[cell]):
            j = members[cell, slot]
            if j == skip1 or j == skip2:
                continue
            u = _pair(_r2(xb, j, p, box, inv_box, three), table, s, tb[j])
            if t >= 0:
                u -= _pair(_r2(xb, j, q, box, inv_box, three), table, t, tb[j])
            total += u
            if record is not None and u != 0.0:
                _note(record, j, u)
    return total


@numba.njit(cache=True)
def _note(record, j, u):
    """Append (j, u) to a record (indices (M,) int64, values (M,), size (1,) int64), M large enough (2 N)."""
    index, value, size = record
    index[size[0]] = j
    value[size[0]] = u
    size[0] += 1


@numba.njit(cache=True)
def _build(xb, geometry):
    """Cell table of one chain: members (cells, capacity), count (cells,), cell (N,), slot (N,) of each particle."""
    n = xb.shape[0]
    n_cells = geometry[5].shape[0]
    cell = np.empty(n, np.int64)
    count = np.zeros(n_cells, np.int64)
    for i in range(n):
        cell[i] = _cell_of(xb[i], geometry)
        count[cell[i]] += 1
    members = np.empty((n_cells, 2 * count.max() + 4), np.int64)
    slot = np.empty(n, np.int64)
    count[:] = 0
    for i in range(n):
        c = cell[i]
        members[c, count[c]] = i
        slot[i] = count[c]
        count[c] += 1
    return members, count, cell, slot


@numba.njit(cache=True)
def _relocate(i, target, members, count, cell, slot):
    """Move particle i into cell ``target`` (doubling the capacity if it is full); returns the members table."""
    c = cell[i]
    last = members[c, count[c] - 1]
    members[c, slot[i]] = last
    slot[last] = slot[i]
    count[c] -= 1
    if count[target] == members.shape[1]:
        grown = np.empty((members.shape[0], 2 * members.shape[1]), np.int64)
        grown[:, : members.shape[1]] = members
        members = grown
    members[target, count[target]] = i
    slot[i] = count[target]
    count[target] += 1
    cell[i] = target
    return members


@numba.njit(cache=True)
def _local_energies(x, types, geometry, table):
    """Full pair sums e_i = sum_j u(r_ij) (B, N): each pair counted for both its particles."""
    out = np.empty(x.shape[:2])
    for b in range(x.shape[0]):
        members, count, cell, _ = _build(x[b], geometry)
        for i in range(x.shape[1]):
            out[b, i] = _sum(x[b], types[b], x[b, i], types[b, i], x[b, i], -1, cell[i], i, -1, members, count,
                             geometry, table)
    return out


@numba.njit(cache=True)
def _energies(x, types, geometry, table):
    return 0.5 * _local_energies(x, types, geometry, table).sum(axis=1)


@numba.njit(cache=True)
def _species_lists(tb, n_types):
    """Species lists of one chain, for swaps: by_species[a, :n_of[a]] are the particles of species a, place[i] is
    i's index in its list."""
    n = tb.shape[0]
    by_species = np.empty((n_types, n), np.int64)
    n_of = np.zeros(n_types, np.int64)
    place = np.empty(n, np.int64)
    for i in range(n):
        a = tb[i]
        by_species[a, n_of[a]] = i
        place[i] = n_of[a]
        n_of[a] += 1
    return by_species, n_of, place


@numba.njit(cache=True)
def _usable(pairs, n_of):
    """Indices of the swap pairs present in a chain (usable[:n_usable]) and their number."""
    usable = np.empty(pairs.shape[0], np.int64)
    n_usable = 0
    for k in range(pairs.shape[0]):
        if n_of[pairs[k, 0]] > 0 and n_of[pairs[k, 1]] > 0:
            usable[n_usable] = k
            n_usable += 1
    return usable, n_usable


@numba.njit(cache=True)
def _wrapped(value, edge, inv_edge):
    """A coordinate wrapped into [0, edge)."""
    return value - edge * math.floor(value * inv_edge)


@numba.njit(cache=True)
def _move_change(xb, tb, i, new, cell, members, count, geometry, table, record=None):
    """Energy change of moving particle i to ``new`` (its pairs only), and its old and new cells; with ``record``
    (:func:`_sum`), the changes of the other particles' local energies are appended to it. The sweeps
    (:func:`_sweep`, ``samplers.compiled_policy._policy_sweep``) write these lines out instead of calling this: the
    extra call layer cost them 10-20 % (KA2D, one core); their energies are checked against fresh ones in the tests."""
    s = tb[i]
    old_cell, new_cell = cell[i], _cell_of(new, geometry)
    if new_cell == old_cell:
        du = _sum(xb, tb, new, s, xb[i], s, old_cell, i, -1, members, count, geometry, table, record)
    else:
        du = _sum(xb, tb, new, s, new, -1, new_cell, i, -1, members, count, geometry, table, record)
        start = 0 if record is None else record[2][0]
        du -= _sum(xb, tb, xb[i], s, new, -1, old_cell, i, -1, members, count, geometry, table, record)
        if record is not None:  # the old pairs are lost: their terms enter with a minus sign
            for r in range(start, record[2][0]):
                record[1][r] = -record[1][r]
    return du, old_cell, new_cell


@numba.njit(cache=True)
def _swap_change(xb, tb, i, j, cell, members, count, geometry, table, record=None):
    """Changes (du_i, du_j) of the pair energies of i and j with everyone else when they exchange species (their
    own pair keeps its species pair, so dU = du_i + du_j); ``record`` as for :func:`_move_change`."""
    a, c = tb[i], tb[j]
    return (_sum(xb, tb, xb[i], c, xb[i], a, cell[i], i, j, members, count, geometry, table, record),
            _sum(xb, tb, xb[j], a, xb[j], c, cell[j], i, j, members, count, geometry, table, record))


@numba.njit(cache=True)
def _exchange(i, j, tb, by_species, place):
    """Exchange the species of i and j in the chain's species and species lists."""
    a, c = tb[i], tb[j]
    tb[i], tb[j] = c, a
    by_species[a, place[i]], by_species[c, place[j]] = j, i
    place[i], place[j] = place[j], place[i]


@numba.njit(cache=True)
def _sweep(x, types, energy, geometry, table, step, beta, p_swap, pairs, n_attempts, seed, move_counts,
           swap_counts):
    n_conf, n, dim = x.shape
    box, inv_box = geometry[0], geometry[1]
    state = np.array([seed], dtype=np.uint64)
    new = np.empty(dim)
    for b in range(n_conf):
        xb, tb = x[b], types[b]
        members, count, cell, slot = _build(xb, geometry)
        by_species, n_of, place = _species_lists(tb, table.shape[0])
        usable, n_usable = _usable(pairs, n_of)
        for _ in range(n_attempts):
            if p_swap > 0.0 and _uniform(state) < p_swap:
                k = usable[int(_uniform(state) * n_usable)]
                a, c = pairs[k, 0], pairs[k, 1]
                i = by_species[a, int(_uniform(state) * n_of[a])]
                j = by_species[c, int(_uniform(state) * n_of[c])]
                du_i, du_j = _swap_change(xb, tb, i, j, cell, members, count, geometry, table)
                du = du_i + du_j
                swap_counts[0, k] += 1
                if du <= 0.0 or _uniform(state) < math.exp(-beta * du):  # NaN is rejected
                    _exchange(i, j, tb, by_species, place)
                    energy[b] += du
                    swap_counts[1, k] += 1
            else:
                i = int(_uniform(state) * n)
                s = tb[i]
                for k in range(dim):
                    new[k] = _wrapped(xb[i, k] + step[s] * (2.0 * _uniform(state) - 1.0), box[k], inv_box[k])
                old_cell, new_cell = cell[i], _cell_of(new, geometry)
                if new_cell == old_cell:
                    du = _sum(xb, tb, new, s, xb[i], s, old_cell, i, -1, members, count, geometry, table)
                else:
                    du = (_sum(xb, tb, new, s, new, -1, new_cell, i, -1, members, count, geometry, table)
                          - _sum(xb, tb, xb[i], s, new, -1, old_cell, i, -1, members, count, geometry, table))
                move_counts[0, s] += 1
                if du <= 0.0 or _uniform(state) < math.exp(-beta * du):
                    xb[i] = new
                    energy[b] += du
                    move_counts[1, s] += 1
                    if new_cell != old_cell:
                        members = _relocate(i, new_cell, members, count, cell, slot)
