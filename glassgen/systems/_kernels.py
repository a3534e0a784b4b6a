"""Compiled CPU kernels behind `ForceField` and `VerletList`: the cell-list build and the pair loops.

Every choice below was measured on one core of the 2-core development machine (AMD EPYC, Zen 3), KA3D at density
1.2, skin 0.3, float64, thread CPU time, best of several repeats; benchmarks/md_speed.py measures the result.

- Neighbour list: a half list in compressed rows (CSR) over an internal copy of the particles sorted by cell, then
  species. Row k holds its partners q (sorted indices, uint32) and one image code per pair (uint8) that indexes a
  table of box shifts: 5 bytes per pair instead of 48 (two int64 indices, a float64 offset vector and an int64
  species pair). Each configuration of a batch owns a slot of the pair arrays, so one can be rebuilt alone.
- Coordinates are copied at each call into the sorted order, wrapped with per-particle image counts fixed at the
  last build (``xs = x[order] - image``): callers may pass unwrapped coordinates and the image codes stay valid until
  the next rebuild; the same pass checks the Verlet criterion. Forces and per-particle energies are scattered back
  to the caller's order, so the reordering never shows.
- Pairs are listed within r_c sigma_ab + skin of their own species pair: 188k instead of 225k pairs at N = 4096.
  A change of species therefore needs a rebuild (`VerletList.update` compares them).
- The pair loop has no data-dependent branch: pairs beyond the cut are multiplied by w = 0. Whether a listed pair is
  inside is a coin flip for the branch predictor, and the mispredictions cost more than computing every listed
  pair (11.9 against 7.2 ns per pair).
- Unsigned indices in the loops: numba then drops its negative-index wraparound code (about 5 %).
- ``fastmath={"contract", "arcp", "nsz", "reassoc"}``: 6.15 instead of 6.8 ns per pair (``contract`` alone: 6.6),
  results within 1e-14 of the strict build. The remaining flags (``nnan``, ``ninf``) gain nothing more and would
  let LLVM assume away the NaN and inf that non-finite positions and coinciding particles must produce. In an
  earlier loop layout full fastmath turned the multiply-by-w back into a branch (12.9 ns per pair).
- ``error_model="numpy"``: no measurable cost either way (6.57 ns per pair with "python" or "numpy"); with "numpy"
  1/r2 at r = 0 gives inf/NaN instead of raising inside the loop, and the loops count such pairs so that
  `ForceField` raises ZeroDivisionError for coinciding particles, as the old loop did.
- Forces-only kernels, one per truncation form (what MD and FIRE call): 9 % faster than the general loop.

Net, one force evaluation at N = 4096: 1.2 ms (6 ns per listed pair) against 4.1 ms (18 ns per pair) for the
previous loop over flat (i, j, offset, species-pair) arrays.

Cell-list build, N = 4096 (6.1 ms against 31 ms for vesin-torch): 1.1 M candidate pairs at 5.5 ns each, 17 %
accepted. Skipping stencil cells farther than the list range from the particle saves 12 %; finer cells (half or a
third of the range) are slower (8.5 and 20 ms) because of the per-cell overhead; a branchless append is slower too
(the store address then depends on the previous comparison). Rebuilds come every ~8 steps at T = 0.8 with skin 0.3;
ms per MD step is flat for skins 0.3-0.4 and worse outside (0.15: +21 %, 0.5: +4 %), so the default stays 0.3.

Pair parameters come from a (T*T, 8) table per species pair (:func:`pair_table`) with 4 eps sigma^12 and
4 eps sigma^6 folded in; the formulas are those of `potential.py`, and the tests check both backends against the
same brute-force reference.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import float64, uint64

FORM_CODES = {"shifted": 0, "shifted-force": 1, "smooth": 2, "harmonic": 3}

# Columns of the pair table.
CUT2, A12, A6, SHIFT, INV_S2, EPS, SIGMA, SIGMA2 = range(8)
N_COLUMNS = 8

#: Image codes: code = 25 (S_z + 2) + 5 (S_y + 2) + (S_x + 2) for box shifts S in {-2, ..., 2}^3.
N_CODES = 125
MAX_SHIFT = 2

_JIT = dict(cache=True, nogil=True, error_model="numpy")
_FAST = dict(_JIT, fastmath={"contract", "arcp", "nsz", "reassoc"})


def pair_table(sigma, epsilon, form: str, cutoff: float) -> np.ndarray:
    """Per species pair (flat index a * T + b) the constants of the pair loops, float64 of shape (T*T, 8)."""
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
    epsilon = np.asarray(epsilon, dtype=np.float64).reshape(-1)
    table = np.zeros((sigma.size, N_COLUMNS))
    table[:, CUT2] = (cutoff * sigma) ** 2
    table[:, A12] = 4.0 * epsilon * sigma**12
    table[:, A6] = 4.0 * epsilon * sigma**6
    if form == "shifted":
        table[:, SHIFT] = 4.0 * epsilon * (cutoff**-12 - cutoff**-6)
    table[:, INV_S2] = 1.0 / sigma**2
    table[:, EPS] = epsilon
    table[:, SIGMA] = sigma
    table[:, SIGMA2] = sigma**2
    return table


def form_constants(form: str, cutoff: float, smoothing) -> np.ndarray:
    """(c0, c1, c2, c4, cutoff): the shifted-force line or the KA2D smoothing polynomial, and the cut in sigma."""
    if form == "shifted-force":
        return np.array([cutoff**-12 - cutoff**-6, -12.0 * cutoff**-13 + 6.0 * cutoff**-7, 0.0, 0.0, cutoff])
    c0, c2, c4 = smoothing
    return np.array([c0, 0.0, c2, c4, cutoff])


@numba.njit(**_JIT)
def shift_table(box):
    """(N_CODES, 3) box shifts S * box of every image code; components beyond len(box) are zero."""
    out = np.zeros((N_CODES, 3))
    for c in range(N_CODES):
        s = (c % 5 - 2, (c // 5) % 5 - 2, c // 25 - 2)
        for d in range(box.shape[0]):
            out[c, d] = s[d] * box[d]
    return out


@numba.njit(inline="always", **_FAST)
def _pair_terms(r2, w, table, t, form, consts):
    """Energy u and f = -(dV/dr) / r of a pair at squared distance r2, both times w (1 inside the cut, 0 outside)."""
    if form == 3:
        r = math.sqrt(r2)
        gap = 1.0 - r / table[t, SIGMA]
        eps_w = table[t, EPS] * w
        return 0.5 * eps_w * gap * gap, eps_w * gap / (table[t, SIGMA] * r)
    inv2 = 1.0 / r2
    r6 = inv2 * inv2 * inv2
    s12 = table[t, A12] * r6 * r6
    s6 = table[t, A6] * r6
    if form == 0:
        return (s12 - s6 - table[t, SHIFT]) * w, (12.0 * s12 - 6.0 * s6) * inv2 * w
    eps4 = 4.0 * table[t, EPS]
    if form == 1:
        xr = math.sqrt(r2 * table[t, INV_S2])
        u = s12 - s6 - eps4 * (consts[0] + (xr - consts[4]) * consts[1])
        return u * w, (12.0 * s12 - 6.0 * s6 + eps4 * consts[1] * xr) * inv2 * w
    x2 = r2 * table[t, INV_S2]
    u = s12 - s6 + eps4 * (consts[0] + consts[2] * x2 + consts[3] * x2 * x2)
    return u * w, (12.0 * s12 - 6.0 * s6 - eps4 * (2.0 * consts[2] * x2 + 4.0 * consts[3] * x2 * x2)) * inv2 * w


# ----------------------------------------------------------------------------------------------------------------
# Cell list


def cell_grid(box: np.ndarray, list_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Cells per dimension (at least list_range wide) and the stencil reach, both int64 of shape (3,).

    Boxes narrower than three cells still work: the stencil then visits the same cell under several images. Returns
    None when a box edge is below list_range / 2 (image shifts beyond +-2 boxes are not encoded).
    """
    ncell = np.ones(3, dtype=np.int64)
    reach = np.zeros(3, dtype=np.int64)
    for d, edge in enumerate(box):
        ncell[d] = max(1, int(edge // list_range))
        reach[d] = max(1, math.ceil(list_range / (edge / ncell[d]) - 1e-12))
        if ncell[d] == 1 and reach[d] > MAX_SHIFT:
            return None
    return ncell, reach


@numba.njit(**_JIT)
def _stencil(reach):
    """Half stencil of cell offsets within +-reach, own cell first: (S, 3) int64."""
    size = (2 * reach[0] + 1) * (2 * reach[1] + 1) * (2 * reach[2] + 1)
    out = np.zeros(((size - 1) // 2 + 1, 3), np.int64)
    k = 1
    for oz in range(-reach[2], reach[2] + 1):
        for oy in range(-reach[1], reach[1] + 1):
            for ox in range(-reach[0], reach[0] + 1):
                if oz > 0 or (oz == 0 and (oy > 0 or (oy == 0 and ox > 0))):
                    out[k, 0] = ox
                    out[k, 1] = oy
                    out[k, 2] = oz
                    k += 1
    return out


def expected_pairs(box: np.ndarray, n: int, list_range: float) -> float:
    """Mean number of pairs of one configuration of n particles listed within list_range (ideal gas estimate)."""
    dim = box.size
    ball = 4.0 / 3.0 * math.pi * list_range**3 if dim == 3 else math.pi * list_range**2
    return 0.5 * n * (n - 1) / float(np.prod(box)) * ball


@numba.njit(**_JIT)
def build_cell_lists(x, box, types, n_types, list_cut2, n_per_conf, ncell, reach, rebuild,
                     order, image, xs, xs0, ts, start, end, nbr, code, bad):
    """Rebuild the half lists of the configurations b with rebuild[b] (x is flat, (B*N, d)).

    A pair of species (a, b) is listed when closer than sqrt(list_cut2[a * T + b]). Particles of a configuration are
    sorted by cell and species within its block of N rows; its pairs fill its slot of len(nbr) // B entries. Written
    for each rebuilt configuration:

    order : (M,) int64, flat index of the particle in sorted row k
    image : (M, 3) float64, what was subtracted from x[order[k]] to wrap it into the box
    xs, xs0 : (M, 3) float64, wrapped sorted positions (z = 0 in 2D)
    ts : (M,) int64, sorted species
    start, end : (M,) uint64, row k holds the pairs start[k]:end[k]
    nbr : (P,) uint32, partner rows (q > k within the own cell); code : (P,) uint8, image code of the partner
    bad : (B,) bool, whether the configuration has a NaN or infinite coordinate (its particle gets no pairs)

    Returns the largest number of pairs of a rebuilt configuration, or -1 if one did not fit in its slot (the caller
    then grows the slots and rebuilds every configuration).
    """
    m, dim = x.shape
    n = n_per_conf
    slot = nbr.shape[0] // (m // n)
    nc0, nc1, nc2 = ncell[0], ncell[1], ncell[2]
    n_cells = nc0 * nc1 * nc2
    n_keys = n_cells * n_types
    stencil = _stencil(reach)
    n_sten = stencil.shape[0]
    cell_nb = np.empty((n_cells, n_sten), np.int64)
    cell_code = np.empty((n_cells, n_sten), np.uint8)
    for c in range(n_cells):
        c0 = c % nc0
        c1 = (c // nc0) % nc1
        c2 = c // (nc0 * nc1)
        for o in range(n_sten):
            e0 = c0 + stencil[o, 0]
            e1 = c1 + stencil[o, 1]
            e2 = c2 + stencil[o, 2]
            s0 = (e0 + 4 * nc0) // nc0 - 4
            s1 = (e1 + 4 * nc1) // nc1 - 4
            s2 = (e2 + 4 * nc2) // nc2 - 4
            cell_nb[c, o] = (e0 - s0 * nc0) + nc0 * ((e1 - s1 * nc1) + nc1 * (e2 - s2 * nc2))
            cell_code[c, o] = 25 * (s2 + 2) + 5 * (s1 + 2) + (s0 + 2)
    box3 = np.zeros(3)
    for d in range(dim):
        box3[d] = box[d]
    shifts = shift_table(box3)
    inv_width = np.zeros(3)
    width = np.zeros(3)
    for d in range(dim):
        inv_width[d] = ncell[d] / box[d]
        width[d] = box[d] / ncell[d]
    # Corners of each cell, widened by a rounding margin (a particle on a face may be binned on either side).
    margin = 1e-9 * max(box3[0], box3[1], box3[2])
    cell_lo = np.empty((n_cells, 3))
    cell_hi = np.empty((n_cells, 3))
    for c in range(n_cells):
        index = (c % nc0, (c // nc0) % nc1, c // (nc0 * nc1))
        for d in range(3):
            cell_lo[c, d] = index[d] * width[d] - margin
            cell_hi[c, d] = (index[d] + 1) * width[d] + margin

    key = np.empty(n, np.int64)
    key_start = np.empty(n_keys + 1, np.int64)
    fill = np.empty(n_keys, np.int64)
    wrapped = np.zeros((n, 3))
    wimage = np.zeros((n, 3))
    most = 0
    for b in range(m // n):
        if not rebuild[b]:
            continue
        base = b * n
        key_start[:] = 0
        bad[b] = False
        for i in range(n):
            c = 0
            stride = 1
            for d in range(dim):
                value = float64(x[base + i, d])
                if not math.isfinite(value):
                    bad[b] = True
                shift = np.floor(value / box[d])
                w = value - shift * box[d]
                if w >= box[d]:
                    w -= box[d]
                    shift += 1.0
                elif w < 0.0:
                    w += box[d]
                    shift -= 1.0
                wrapped[i, d] = w
                wimage[i, d] = shift * box[d]
                # Comparisons first: a NaN coordinate lands in cell 0 (its energy comes out NaN) instead of
                # indexing out of bounds.
                cw = w * inv_width[d]
                cd = int(cw) if cw >= 0.0 and cw < ncell[d] else (ncell[d] - 1 if cw >= ncell[d] else 0)
                c += cd * stride
                stride *= ncell[d]
            key[i] = c * n_types + types[base + i]
            key_start[key[i] + 1] += 1
        for c in range(n_keys):
            key_start[c + 1] += key_start[c]
            fill[c] = key_start[c]
        for i in range(n):
            s = base + fill[key[i]]
            fill[key[i]] += 1
            order[s] = base + i
            for d in range(3):
                xs[s, d] = wrapped[i, d]
                xs0[s, d] = wrapped[i, d]
                image[s, d] = wimage[i, d]
            ts[s] = types[base + i]
        count = b * slot
        limit = count + slot
        for c in range(n_cells):
            for k in range(base + key_start[c * n_types], base + key_start[(c + 1) * n_types]):
                start[k] = count
                candidates = 0
                for o in range(n_sten):
                    cc = cell_nb[c, o]
                    candidates += key_start[(cc + 1) * n_types] - key_start[cc * n_types]
                if count + candidates > limit:
                    return -1
                row = ts[k] * n_types
                for o in range(n_sten):
                    cc = cell_nb[c, o]
                    cd = cell_code[c, o]
                    sx = xs[k, 0] - shifts[cd, 0]
                    sy = xs[k, 1] - shifts[cd, 1]
                    sz = xs[k, 2] - shifts[cd, 2]
                    # Squared distance from the particle to the cell: a third of the stencil cells are out of reach.
                    gx = max(cell_lo[cc, 0] - sx, sx - cell_hi[cc, 0], 0.0)
                    gy = max(cell_lo[cc, 1] - sy, sy - cell_hi[cc, 1], 0.0)
                    gz = max(cell_lo[cc, 2] - sz, sz - cell_hi[cc, 2], 0.0)
                    gap2 = gx * gx + gy * gy + gz * gz
                    for t in range(n_types):
                        if gap2 >= list_cut2[row + t]:
                            continue
                        lo = base + key_start[cc * n_types + t]
                        hi = base + key_start[cc * n_types + t + 1]
                        if o == 0:
                            lo = max(lo, k + 1)
                        cut2 = list_cut2[row + t]
                        for q in range(lo, hi):
                            dx = xs[q, 0] - sx
                            dy = xs[q, 1] - sy
                            dz = xs[q, 2] - sz
                            if dx * dx + dy * dy + dz * dz < cut2 and q != k:
                                nbr[count] = q
                                code[count] = cd
                                count += 1
                end[k] = count
        most = max(most, count - b * slot)
    return most


@numba.njit(**_JIT)
def gather(x, order, image, xs, xs0, limit2, n_per_conf, moved):
    """xs = x[order] - image (sorted, wrapped); moved[b] = whether a particle of configuration b moved more than
    sqrt(limit2) from xs0. Returns the number of configurations that moved."""
    m, dim = x.shape
    n_moved = 0
    for b in range(m // n_per_conf):
        far = False
        for k in range(b * n_per_conf, (b + 1) * n_per_conf):
            src = order[k]
            moved2 = 0.0
            for d in range(dim):
                v = x[src, d] - image[k, d]
                xs[k, d] = v
                diff = v - xs0[k, d]
                moved2 += diff * diff
            far |= not moved2 <= limit2  # NaN counts as moved
        moved[b] = far
        n_moved += far
    return n_moved


@numba.njit(**_JIT)
def pair_arrays(order, image, start, end, nbr, code, box):
    """The lists as flat pairs (i, j, offset) in the caller's indices, x[j] - x[i] + offset the separation."""
    m = order.shape[0]
    dim = box.shape[0]
    shifts = shift_table(box)
    n_pairs = 0
    for k in range(m):
        n_pairs += end[k] - start[k]
    i = np.empty(n_pairs, np.int64)
    j = np.empty(n_pairs, np.int64)
    offset = np.empty((n_pairs, dim))
    p = 0
    for k in range(m):
        for s in range(start[k], end[k]):
            q = nbr[s]
            i[p] = order[k]
            j[p] = order[q]
            for d in range(dim):
                offset[p, d] = shifts[code[s], d] - image[q, d] + image[k, d]
            p += 1
    return i, j, offset


# ----------------------------------------------------------------------------------------------------------------
# Pair loops


@numba.njit(inline="always", **_FAST)
def _csr_body(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
              fs, energy, site, forces, want_energy, want_site, want_forces):
    """The pair loop over compressed rows, inlined into the kernels below (constant flags prune their branches)."""
    m = xs.shape[0]
    dim = forces.shape[1]
    want_u = want_energy or want_site
    fs[:] = 0.0
    ss = np.zeros(m if want_site else 1)
    energy[:] = 0.0
    coincident = 0
    for kk in range(m):
        k = uint64(kk)
        xi = xs[k, 0]
        yi = xs[k, 1]
        zi = xs[k, 2]
        row = uint64(ts[k] * n_types)
        fxi = 0.0
        fyi = 0.0
        fzi = 0.0
        ui = 0.0
        for p in range(start[k], end[k]):
            q = nbr[p]
            c = code[p]
            dx = xs[q, 0] + shifts[c, 0] - xi
            dy = xs[q, 1] + shifts[c, 1] - yi
            dz = xs[q, 2] + shifts[c, 2] - zi
            r2 = dx * dx + dy * dy + dz * dz
            t = row + uint64(ts[q])
            w = float64(r2 < table[t, CUT2])
            coincident += r2 == 0.0
            u, f = _pair_terms(r2, w, table, t, form, consts)
            if want_u:
                ui += u
                if want_site:
                    ss[q] += 0.5 * u
            fx = f * dx
            fy = f * dy
            fz = f * dz
            fxi -= fx
            fyi -= fy
            fzi -= fz
            fs[q, 0] += fx
            fs[q, 1] += fy
            fs[q, 2] += fz
        fs[k, 0] += fxi
        fs[k, 1] += fyi
        fs[k, 2] += fzi
        if want_u:
            energy[k // uint64(n_per_conf)] += ui
            if want_site:
                ss[k] += 0.5 * ui
    for k in range(m):
        dst = order[k]
        if want_forces:
            for d in range(dim):
                forces[dst, d] = fs[k, d]
        if want_site:
            site[dst] = ss[k]
    return coincident


@numba.njit(**_FAST)
def csr_pair_loop(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
                  fs, energy, site, forces, want_energy, want_site, want_forces):
    """Sum pair terms over the CSR list of sorted positions xs; write energy (B,), site (M,) and forces (M, d).

    fs (M, 3) is scratch for the sorted forces. Outputs are in the caller's order and are overwritten. Returns the
    number of pairs at distance 0 (their terms are NaN), so that the caller can report coinciding particles.
    """
    return _csr_body(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
                     fs, energy, site, forces, want_energy, want_site, want_forces)


# Forces only, one kernel per truncation form (what MD and FIRE call at every step): with the form and the flags
# constant, LLVM drops the energy terms and the form tests, 9 % faster than csr_pair_loop (6.7 against 7.3 ns per
# pair at N = 4096). Same arguments as csr_pair_loop; the energy, site and flag arguments are ignored.


@numba.njit(**_FAST)
def _csr_forces_shifted(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
                        fs, energy, site, forces, want_energy, want_site, want_forces):
    return _csr_body(xs, ts, n_types, start, end, nbr, code, shifts, table, 0, consts, n_per_conf, order,
                     fs, energy, site, forces, False, False, True)


@numba.njit(**_FAST)
def _csr_forces_shifted_force(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
                              fs, energy, site, forces, want_energy, want_site, want_forces):
    return _csr_body(xs, ts, n_types, start, end, nbr, code, shifts, table, 1, consts, n_per_conf, order,
                     fs, energy, site, forces, False, False, True)


@numba.njit(**_FAST)
def _csr_forces_smooth(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
                       fs, energy, site, forces, want_energy, want_site, want_forces):
    return _csr_body(xs, ts, n_types, start, end, nbr, code, shifts, table, 2, consts, n_per_conf, order,
                     fs, energy, site, forces, False, False, True)


@numba.njit(**_FAST)
def _csr_forces_harmonic(xs, ts, n_types, start, end, nbr, code, shifts, table, form, consts, n_per_conf, order,
                         fs, energy, site, forces, want_energy, want_site, want_forces):
    return _csr_body(xs, ts, n_types, start, end, nbr, code, shifts, table, 3, consts, n_per_conf, order,
                     fs, energy, site, forces, False, False, True)


#: Forces-only kernels indexed by form code.
CSR_FORCES = (_csr_forces_shifted, _csr_forces_shifted_force, _csr_forces_smooth, _csr_forces_harmonic)


@numba.njit(**_JIT)
def all_pairs_loop(x, types, n_types, box, table, form, consts, n_per_conf,
                   energy, site, forces, want_energy, want_site, want_forces):
    """Every pair i < j of each configuration at its minimum image (small systems, no list to keep).

    The minimum image is rounded as in the torch path (dx - L rint(dx / L), no fused multiply-add). Returns the
    number of pairs at distance 0.
    """
    m, dim = x.shape
    n = n_per_conf
    want_u = want_energy or want_site
    forces[:] = 0.0
    site[:] = 0.0
    energy[:] = 0.0
    b0 = box[0]
    b1 = box[1]
    b2 = box[2] if dim == 3 else 1.0
    coincident = 0
    for base in range(0, m, n):
        for a in range(base, base + n):
            xa = float64(x[a, 0])
            ya = float64(x[a, 1])
            za = float64(x[a, 2]) if dim == 3 else 0.0
            row = types[a] * n_types
            fxa = 0.0
            fya = 0.0
            fza = 0.0
            ua = 0.0
            for b in range(a + 1, base + n):
                dx = x[b, 0] - xa
                dy = x[b, 1] - ya
                dz = x[b, 2] - za if dim == 3 else 0.0
                dx -= b0 * np.rint(dx / b0)
                dy -= b1 * np.rint(dy / b1)
                dz -= b2 * np.rint(dz / b2)
                r2 = dx * dx + dy * dy + dz * dz
                t = row + types[b]
                w = float64(r2 < table[t, CUT2])
                coincident += r2 == 0.0
                u, f = _pair_terms(r2, w, table, t, form, consts)
                if want_u:
                    ua += u
                    if want_site:
                        site[b] += 0.5 * u
                fxa -= f * dx
                fya -= f * dy
                fza -= f * dz
                if want_forces:
                    forces[b, 0] += f * dx
                    forces[b, 1] += f * dy
                    if dim == 3:
                        forces[b, 2] += f * dz
            if want_u:
                energy[a // n] += ua
                if want_site:
                    site[a] += 0.5 * ua
            if want_forces:
                forces[a, 0] += fxa
                forces[a, 1] += fya
                if dim == 3:
                    forces[a, 2] += fza
    return coincident


@numba.njit(**_JIT)
def csr_min_ratio(xs, ts, n_types, start, end, nbr, code, shifts, table):
    """Smallest r / sigma_ab over listed pairs: (ratio, row k, row q); (inf, -1, -1) without pairs."""
    best = np.inf
    best_k = -1
    best_q = -1
    for k in range(xs.shape[0]):
        row = ts[k] * n_types
        for p in range(start[k], end[k]):
            q = nbr[p]
            c = code[p]
            dx = xs[q, 0] + shifts[c, 0] - xs[k, 0]
            dy = xs[q, 1] + shifts[c, 1] - xs[k, 1]
            dz = xs[q, 2] + shifts[c, 2] - xs[k, 2]
            ratio2 = (dx * dx + dy * dy + dz * dz) / table[row + ts[q], SIGMA2]
            if ratio2 < best:
                best = ratio2
                best_k = k
                best_q = q
    return math.sqrt(best), best_k, best_q


@numba.njit(**_JIT)
def all_pairs_min_ratio(x, types, n_types, box, table, n_per_conf):
    """Smallest minimum-image r / sigma_ab over all pairs: (ratio, flat i, flat j); (inf, -1, -1) without pairs."""
    m, dim = x.shape
    best = np.inf
    best_a = -1
    best_b = -1
    for base in range(0, m, n_per_conf):
        for a in range(base, base + n_per_conf):
            row = types[a] * n_types
            for b in range(a + 1, base + n_per_conf):
                r2 = 0.0
                for d in range(dim):
                    delta = float64(x[b, d]) - float64(x[a, d])
                    delta -= box[d] * np.rint(delta / box[d])
                    r2 += delta * delta
                ratio2 = r2 / table[row + types[b], SIGMA2]
                if ratio2 < best:
                    best = ratio2
                    best_a = a
                    best_b = b
    return math.sqrt(best), best_a, best_b
