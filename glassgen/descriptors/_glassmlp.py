"""GlassMLP's physics-inspired descriptors (Jung, Biroli, Berthier, PRL 130, 238202 (2023)) and Voronoi cells."""

from __future__ import annotations

import math

import numba
import numpy as np

from glassgen.descriptors._common import Descriptor, as_configurations, check_lengths, default_cutoff, length_tag
from glassgen.descriptors._physical import PotentialEnergy
from glassgen.errors import InvalidInputError

#: The four observables, in the order of the feature blocks.
OBSERVABLES = ("DEN", "EPOT", "VOR", "EVAR")


def voronoi_cells(positions, box):
    """Volume and surface area (3D), or area and perimeter (2D), of each particle's periodic Voronoi cell.

    Computed by ``freud.locality.Voronoi`` (voro++): the facet areas (3D) or edge lengths (2D) it puts in the
    weights of its neighbour list are summed per particle. freud works in float32, so expect ~1e-6 relative error.

    Parameters
    ----------
    positions : ndarray of shape (N, d)
        One configuration, d = 2 or 3; any image (wrapped here).
    box : ndarray of shape (d,)
        Edges of the periodic box.

    Returns
    -------
    volumes, surfaces : ndarray of shape (N,)
        Cell volumes (areas in 2D) and cell surfaces (perimeters in 2D).
    """
    import freud

    x = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    n, d = x.shape
    fbox = freud.box.Box.from_box(box)
    points = np.zeros((n, 3))
    points[:, :d] = x
    voronoi = freud.locality.Voronoi().compute((fbox, fbox.wrap(points)))
    nlist = voronoi.nlist
    surfaces = np.bincount(nlist.query_point_indices, weights=nlist.weights, minlength=n)
    return np.asarray(voronoi.volumes, dtype=np.float64), surfaces


@numba.njit(cache=True, nogil=True)
def _accumulate(x, box, ncell, order, start, types, energy, cell, lengths, cutoffs, search, n_blocks):
    """Sums over the neighbours j != i within each cutoff, per block (species of j, then all) and length.

    ``sums[i, block, k]`` holds sum w, sum w E, sum w E^2, sum w C with w = exp(-r_ij / lengths[k]) (lengths > 0);
    ``nearest[i, s]`` is the closest particle of species s within ``search`` (-1: none). Positions are padded to
    3D; a dimension with fewer than 3 cells has one cell and is searched at minimum image only.
    """
    n = x.shape[0]
    n_l = lengths.shape[0]
    sums = np.zeros((n, n_blocks, n_l, 4))
    nearest = np.full((n, n_blocks - 1), -1, dtype=np.int64)
    nearest_r = np.full((n, n_blocks - 1), np.inf)
    width = box / ncell
    reach = np.where(ncell >= 3, 1, 0)
    search2 = search * search
    for i in range(n):
        c0 = int(x[i, 0] / width[0]) % ncell[0]
        c1 = int(x[i, 1] / width[1]) % ncell[1]
        c2 = int(x[i, 2] / width[2]) % ncell[2]
        for d2 in range(-reach[2], reach[2] + 1):
            for d1 in range(-reach[1], reach[1] + 1):
                for d0 in range(-reach[0], reach[0] + 1):
                    c = (((c2 + d2) % ncell[2]) * ncell[1] + (c1 + d1) % ncell[1]) * ncell[0] + (c0 + d0) % ncell[0]
                    for p in range(start[c], start[c + 1]):
                        j = order[p]
                        if j == i:
                            continue
                        r2 = 0.0
                        for a in range(3):
                            dr = x[j, a] - x[i, a]
                            dr -= box[a] * np.rint(dr / box[a])
                            r2 += dr * dr
                        if r2 >= search2:
                            continue
                        r = math.sqrt(r2)
                        s = types[j]
                        if r < nearest_r[i, s]:
                            nearest_r[i, s] = r
                            nearest[i, s] = j
                        for k in range(n_l):
                            if lengths[k] > 0 and r < cutoffs[k]:
                                w = math.exp(-r / lengths[k])
                                for b in (s, n_blocks - 1):
                                    sums[i, b, k, 0] += w
                                    sums[i, b, k, 1] += w * energy[j]
                                    sums[i, b, k, 2] += w * energy[j] * energy[j]
                                    sums[i, b, k, 3] += w * cell[j]
    return sums, nearest


def _cell_list(x, box, search):
    """Bin x (N, 3) into cells at least ``search`` wide; returns (ncell, order, start) for :func:`_accumulate`."""
    ncell = np.maximum(np.floor(box / search).astype(np.int64), 1)
    ncell[ncell < 3] = 1
    index = np.floor(x / (box / ncell)).astype(np.int64) % ncell
    flat = (index[:, 2] * ncell[1] + index[:, 1]) * ncell[0] + index[:, 0]
    order = np.argsort(flat, kind="stable")
    start = np.searchsorted(flat[order], np.arange(int(np.prod(ncell)) + 1))
    return ncell, order, start


class GlassMLPDescriptors(Descriptor):
    """GlassMLP's inputs: density, energy, Voronoi cell size and energy variance, coarse-grained per species.

    Jung, Biroli and Berthier feed their MLP with four per-particle quantities of the (inherent) state, each averaged
    with weights w_ij = exp(-r_ij/L) over the particles j of one species beta (one block per species) and over all
    particles (block ``all``); j = i is included when i belongs to the block. For each block and length L:

    - DEN: rho_i = sum_j w_ij (not normalised: a weighted count of the block's particles around i).
    - EPOT: E_i = sum_j w_ij e_j / rho_i, e_j the particle's potential energy (half of each pair energy).
    - VOR: C_i = sum_j w_ij c_j / rho_i, c_j the surface area (3D) or perimeter (2D) of the periodic Voronoi cell
      of j (:func:`voronoi_cells`).
    - EVAR: sum_j w_ij (e_j - E_i)^2 / rho_i, the local variance of the energy.

    L = 0 is the limit L -> 0 of these formulas: the weight of the closest particle of the block dominates, so DEN is
    1 if i belongs to the block and 0 otherwise, EPOT and VOR are the values of i itself or of the closest particle of
    the block, and EVAR is 0 (constant columns: standardisation must tolerate a zero spread).

    Departures from the paper: e_j is half of each pair energy (the paper's sum of V over the pairs of j, halved;
    the factor disappears under standardisation), and sums stop at ``cutoff`` (default 3 L, where w = e^-3 ~ 0.05,
    at most half the shortest box edge). Pass the inherent state (``inherent=True`` for a
    `Dataset`, or a System minimised by :func:`glassgen.dynamics.minimization.minimize`), as the paper does.

    Features: ``4 * len(lengths) * (n_species + 1)`` named ``<OBS>_L<L>_<block>`` (``EPOT_L2_all``,
    ``VOR_L3_s1``), ordered by observable (DEN, EPOT, VOR, EVAR), then length, then block (s0, s1, ..., all).
    NaN marks a block with no particle within reach of i (a species absent from the configuration).

    Parameters
    ----------
    lengths : sequence of float
        Coarse-graining lengths L (L = 0 allowed, see above).
    cutoff : float, optional
        Range of every average; default 3 L per length, at most half the shortest box edge (the largest allowed).
    n_species : int, optional
        Number of species blocks; default max(types) + 1. Fix it when datasets may miss a species.

    Examples
    --------
    >>> desc = GlassMLPDescriptors().compute(dataset, inherent=True)  # doctest: +SKIP
    >>> desc.values.shape  # (M, N, 4 * 6 * 3) for KA3D
    """

    def __init__(self, lengths=(0, 1, 2, 3, 4, 5), *, cutoff: float | None = None, n_species: int | None = None):
        self._record(lengths=lengths, cutoff=cutoff, n_species=n_species)
        self._lengths = check_lengths(lengths, "GlassMLPDescriptors")
        if cutoff is not None and cutoff <= 0:
            raise InvalidInputError(f"The 'cutoff' parameter of GlassMLPDescriptors must be > 0; got {cutoff}.")
        if n_species is not None and int(n_species) < 1:
            raise InvalidInputError(f"The 'n_species' parameter of GlassMLPDescriptors must be >= 1; got {n_species}.")
        self._cutoff = cutoff
        self._n_species = n_species

    @property
    def lengths(self) -> tuple:
        return self._lengths

    def __repr__(self):
        return f"GlassMLPDescriptors(lengths={self._lengths}, cutoff={self._cutoff}, n_species={self._n_species})"

    def _cutoffs(self, box) -> np.ndarray:
        half = 0.5 * float(np.min(box))
        if self._cutoff is not None and self._cutoff > half:
            raise InvalidInputError(f"The 'cutoff' of GlassMLPDescriptors ({self._cutoff}) exceeds half the shortest "
                                    f"box edge ({half:g}); pass cutoff <= {half:g} or leave it at None.")
        return np.array([0.0 if L == 0 else (default_cutoff(L, box) if self._cutoff is None else self._cutoff)
                         for L in self._lengths])

    def compute(self, data, *, inherent: bool = False):
        conf = as_configurations(data, inherent=inherent)
        if conf.model is None:
            raise InvalidInputError("GlassMLPDescriptors needs the model for the energies: pass a System, a Dataset "
                                    "or (box, positions, types, model).")
        m, n, d = conf.positions.shape
        n_species = int(conf.types.max()) + 1 if self._n_species is None else int(self._n_species)
        if conf.types.min() < 0 or conf.types.max() >= n_species:
            raise InvalidInputError(f"types must lie in 0..{n_species - 1} (n_species={n_species}); "
                                    f"got {conf.types.min()}..{conf.types.max()}.")
        energies = PotentialEnergy(lengths=(0,)).compute((conf.box, conf.positions, conf.types, conf.model))
        energies = energies.values[..., 0]
        lengths = np.array(self._lengths)
        cutoffs = self._cutoffs(conf.box)
        # Reach for the closest particle of each species (L = 0 and empty blocks): at least 3, at most half a box.
        search = min(max(cutoffs.max(), 3.0), 0.5 * float(np.min(conf.box)))
        box3 = np.ones(3)
        box3[:d] = conf.box
        values = np.empty((m, n, len(OBSERVABLES), len(lengths), n_species + 1))
        for b in range(m):
            x = np.zeros((n, 3))
            x[:, :d] = np.mod(conf.positions[b], conf.box)
            ncell, order, start = _cell_list(x, box3, search)
            shift = energies[b].mean()  # removed before the sums so that sums of E^2 stay well conditioned
            e = energies[b] - shift
            _, cells = voronoi_cells(conf.positions[b], conf.box)
            sums, nearest = _accumulate(x, box3, ncell, order, start, conf.types, e, cells, lengths, cutoffs,
                                        search, n_species + 1)
            values[b] = _features(sums, nearest, conf.types, e, cells, lengths)
            values[b, :, OBSERVABLES.index("EPOT")] += shift
        self._values = values.reshape(m, n, -1)
        blocks = [f"s{s}" for s in range(n_species)] + ["all"]
        self._names = [f"{obs}_{length_tag(L)}_{blk}" for obs in OBSERVABLES for L in self._lengths for blk in blocks]
        return self


def _features(sums, nearest, types, energy, cells, lengths) -> np.ndarray:
    """(N, 4, len(lengths), n_blocks) features from the neighbour sums; adds the self term j = i."""
    n, n_blocks = sums.shape[0], sums.shape[1]
    own = np.zeros((n, n_blocks), dtype=bool)
    own[np.arange(n), types] = True
    own[:, -1] = True
    # The closest particle of each block: i itself for its own species and for "all".
    closest = np.concatenate([nearest, np.full((n, 1), -1)], axis=1)
    closest = np.where(own, np.arange(n)[:, None], closest)
    with np.errstate(invalid="ignore"):
        limit_e = np.where(closest >= 0, energy[closest], np.nan)
        limit_c = np.where(closest >= 0, cells[closest], np.nan)
    out = np.empty((n, len(OBSERVABLES), len(lengths), n_blocks))
    for k, L in enumerate(lengths):
        if L == 0:
            out[:, 0, k] = own
            out[:, 1, k], out[:, 2, k] = limit_e, limit_c
            out[:, 3, k] = np.where(closest >= 0, 0.0, np.nan)
            continue
        s = sums[:, :, k, :] + own[:, :, None] * np.stack([np.ones(n), energy, energy * energy, cells], -1)[:, None]
        empty = s[..., 0] == 0
        weight = np.where(empty, 1.0, s[..., 0])
        mean_e = np.where(empty, limit_e, s[..., 1] / weight)
        out[:, 0, k] = s[..., 0]
        out[:, 1, k] = mean_e
        out[:, 2, k] = np.where(empty, limit_c, s[..., 3] / weight)
        variance = np.maximum(s[..., 2] / weight - mean_e * mean_e, 0.0)
        out[:, 3, k] = np.where(empty, np.where(np.isnan(limit_e), np.nan, 0.0), variance)
    return out
