"""Autocorrelation times, effective sample sizes, standard errors, a stationarity test, and the structural overlap of
Monte Carlo chains.

Window rule (Sokal, "Monte Carlo methods in statistical mechanics", 1997): the integrated autocorrelation time
tau_int(M) = 1 + 2 sum_{t=1}^{M} rho(t) is summed up to the smallest window M >= c tau_int(M), c = 5. Chains of the
same process are pooled by averaging their autocorrelation functions. tau_int is in units of the sampling interval;
1 means uncorrelated samples.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
import torch

#: Sokal's window constant.
WINDOW_C = 5.0
#: Fewest blocks (chains x blocks per chain) for the stationarity test, and its p-value threshold (two-sided 3 sigma).
MIN_BLOCKS = 6
P_THRESHOLD = 0.0027


def autocorrelation(series: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation rho(t) of (S,) or (B, S) series, averaged over chains, by FFT."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n = x.shape[-1]
    if n < 2:
        raise ValueError(f"an autocorrelation needs at least 2 samples; got {n}.")
    x = x - x.mean(-1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * spectrum.conj(), size)[:, :n].mean(0)
    if acf[0] == 0:
        return np.r_[1.0, np.zeros(n - 1)]  # a constant series: no correlation to speak of
    return acf / acf[0]


def integrated_autocorrelation_time(series: np.ndarray, c: float = WINDOW_C) -> float:
    """tau_int of (S,) or (B, S) series with Sokal's automatic window."""
    rho = autocorrelation(series)
    tau = 2.0 * np.cumsum(rho) - 1.0  # tau[M] = 1 + 2 sum_{t=1}^{M} rho(t)
    windows = np.arange(len(rho))
    inside = windows >= c * tau
    return float(tau[np.argmax(inside)] if inside.any() else tau[-1])


def effective_sample_size(series: np.ndarray) -> float:
    """Number of independent samples the (S,) or (B, S) series is worth: B S / tau_int."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    return x.size / max(integrated_autocorrelation_time(x), 1.0)


def standard_error(series: np.ndarray) -> float:
    """Standard error of the mean of correlated (S,) or (B, S) series: sqrt(var / ESS)."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    return float(np.sqrt(x.var() / effective_sample_size(x)))


class Stationarity(NamedTuple):
    """Verdict of :func:`energy_stationarity`: the p-value (None when not tested), p > threshold (None when not tested)
    and the mean of the first and of the second half of the blocks (None when the series is shorter than the blocks)."""

    p_value: float | None
    stationary: bool | None
    first_half: float | None
    second_half: float | None


def energy_stationarity(series: np.ndarray, n_blocks: int | None = None) -> Stationarity:
    """Do the two halves of (B, S) series, cut into ``n_blocks`` blocks per chain, share one mean? A paired t-test:
    each block of the first half against the block half a run later in the same chain; stationary when
    p > ``P_THRESHOLD``.

    A drift (ageing, an unfinished quench, crystallisation) shows as different halves. Pairing within a chain takes
    out what differs between chains: after a quench the chains relax at different energies, and that spread would
    hide a drift common to all of them from a test of the two halves as independent samples. The differences must be
    nearly independent: those of blocks shorter than the slowest relaxation of the series would flag drifts that are
    not there. The default is therefore as few blocks per chain as give ``MIN_BLOCKS`` in all: the two halves of each
    chain from 3 chains on, whose differences are independent across independent chains whatever the relaxation
    time. With fewer than ``MIN_BLOCKS`` blocks in all the test has no power and is not done.
    """
    x = np.asarray(series, dtype=np.float64)
    chains, samples = x.shape
    n_blocks = n_blocks or 2 * math.ceil(MIN_BLOCKS / (2 * chains))
    per_block = samples // n_blocks
    if per_block < 1 or n_blocks < 2:
        return Stationarity(None, None, None, None)
    blocks = x[:, : n_blocks * per_block].reshape(chains, n_blocks, per_block).mean(-1)
    half = n_blocks // 2
    first, second = blocks[:, :half].ravel(), blocks[:, n_blocks - half:].ravel()
    if 2 * first.size < MIN_BLOCKS:
        return Stationarity(None, None, float(first.mean()), float(second.mean()))
    import scipy.stats

    p = float(scipy.stats.ttest_rel(first, second).pvalue)
    return Stationarity(p, p > P_THRESHOLD, float(first.mean()), float(second.mean()))


def decorrelation_time(overlap: np.ndarray, q_inf: float, every: int = 1) -> float:
    """Sweeps until the overlap Q(t) (S,) or (B, S), chains averaged, first falls below Q_inf + (1 - Q_inf) / e.

    Q starts at 1 (the record at index s is taken ``(s + 1) every`` sweeps after the reference) and decays to the
    plateau ``q_inf`` of uncorrelated structures (the random overlap), so this is the 1/e time of the normalised
    decay (Q - Q_inf) / (1 - Q_inf), the structural relaxation time in sweeps. NaN when Q never gets there: the run
    is shorter than one relaxation.
    """
    q = np.atleast_2d(np.asarray(overlap, dtype=np.float64)).mean(0)
    below = np.flatnonzero(q < q_inf + (1.0 - q_inf) / np.e)
    return float((below[0] + 1) * every) if below.size else float("nan")


def efficiency(series: np.ndarray, *, every: int = 1, seconds: float, evaluations: float) -> dict:
    """Cost of independent samples of a (B, S) observable recorded every ``every`` sweeps.

    Returns tau_int in sweeps, the effective sample size, and ESS per second and per energy evaluation (in the
    unit of the sampler's counter; the driver counts single-particle energy changes summed over chains).
    """
    tau = integrated_autocorrelation_time(series)
    ess = effective_sample_size(series)
    return {"tau_sweeps": tau * every, "ess": ess, "ess_per_second": ess / seconds if seconds > 0 else float("nan"),
            "ess_per_evaluation": ess / evaluations if evaluations > 0 else float("nan")}


def without_drift(reference: torch.Tensor, x: torch.Tensor, box: torch.Tensor | None) -> torch.Tensor:
    """x (B, N, d) moved back by each chain's mean displacement from the reference (minimum image in a box).

    Why: single-particle Monte Carlo does not conserve momentum, so the centre of mass random-walks; at KA2D
    N = 1290 it drifted 0.2-0.26 over 5-8e4 sweeps, close to the overlap radius a = 0.3, and made a Metropolis run
    that had not relaxed at all look decorrelated (overlap 0.67 raw, 0.98 without the drift). MD has no such drift.
    """
    d = x - reference
    if box is not None:
        box = torch.as_tensor(box).to(x)
        d = torch.remainder(d + 0.5 * box, box) - 0.5 * box
    return x - d.mean(dim=1, keepdim=True)


def overlap(reference: torch.Tensor, reference_types: torch.Tensor, x: torch.Tensor, types: torch.Tensor,
            box: torch.Tensor | None, n_types: int, a: float = 0.3) -> torch.Tensor:
    """Species-resolved, label-invariant overlap (B, n_types) of x (B, N, d) with a reference configuration.

    Q_s = (1 / N_s) sum_{i of species s at reference} [some particle of species s in x lies within a of r_i(0)]
    (minimum image in a periodic box). Without swaps and while particles stay within a of their start this is the
    self overlap (1/N_s) sum_i Theta(a - |dr_i|); unlike it, it ignores labels, so swap moves that exchange two
    species do not count as relaxation when the structure is unchanged. Species absent from the reference give NaN.
    A grid of cells at least ``a`` wide makes it O(N) per chain (brute force in an open box). Records against one
    reference are cheaper through :class:`OverlapReference`.
    """
    if box is not None and x.device.type == "cpu":
        q = OverlapReference(reference, reference_types, box, n_types, a).overlap(x, types, drift=False)
        return torch.from_numpy(q).to(x.dtype)
    hits = torch.stack([_covered(reference[b], reference_types[b], x[b], types[b], box, n_types, a)
                        for b in range(x.shape[0])])
    species = torch.nn.functional.one_hot(reference_types, n_types).to(x.dtype)  # (B, N, T)
    return (hits.to(x.dtype)[:, :, None] * species).sum(1) / species.sum(1)


class OverlapReference:
    """The overlap (:func:`overlap`) with one reference configuration, for many records: what depends only on the
    reference (its cell lists, its species counts, float64 copies) is built once.

    Why: a driver records the overlap with the start of production every few sweeps; at KA2D N = 1290 a record
    through :func:`without_drift` and :func:`overlap` cost ~0.5 ms, most of it in small torch operations, copies and
    a fresh cell list, as much as a third of a compiled sweep. Here a record is one compiled pass: each particle of x
    (moved back by the chain's mean displacement, as :func:`without_drift`) marks the reference points of its
    species within ``a`` in the reference's cells (the same pairs as searching x around each reference point).

    Parameters
    ----------
    reference, reference_types : (B, N, d) positions and (B, N) species at the reference.
    box : (d,) periodic box edges or None (then records fall back to :func:`without_drift` and :func:`overlap`,
        as they do for tensors not on the CPU).
    n_types : int
    a : float
        The overlap radius.
    """

    def __init__(self, reference: torch.Tensor, reference_types: torch.Tensor, box, n_types: int, a: float = 0.3):
        self.reference, self.reference_types = reference, reference_types
        self.box, self.n_types, self.a = box, int(n_types), float(a)
        self.compiled = box is not None and reference.device.type == "cpu"
        if self.compiled:
            self._ref = reference.detach().numpy().astype(np.float64)  # a copy: the caller's tensor may change
            self._ref_types = reference_types.numpy().astype(np.int64)
            self._box = torch.as_tensor(box).numpy().astype(np.float64)
            self._cells, self._head, self._following = _reference_cells(self._ref, self._box, self.a)
            self._counts = np.stack([np.bincount(t, minlength=self.n_types) for t in self._ref_types]).astype(float)

    def overlap(self, x: torch.Tensor, types: torch.Tensor, drift: bool = True) -> np.ndarray:
        """(B, n_types) float64 overlap of x (B, N, d) with species (B, N) with the reference, after removing each
        chain's mean displacement from it if ``drift`` (:func:`without_drift`)."""
        if not self.compiled or x.device.type != "cpu":
            if drift:
                x = without_drift(self.reference, x, self.box)
            return overlap(self.reference, self.reference_types, x, types, self.box, self.n_types,
                           self.a).to(torch.float64).cpu().numpy()
        hits = _covered_counts(self._ref, self._ref_types, self._cells, self._head, self._following,
                               np.asarray(x.detach().numpy(), dtype=np.float64), types.numpy(), self._box, self.a,
                               bool(drift), self.n_types)
        with np.errstate(invalid="ignore"):  # 0 / 0 = NaN for a species absent from the reference
            return hits / self._counts


def _covered(ref, ref_types, x, types, box, n_types, a):
    """(N,) bool: is a particle of the same species within a of each reference point (one chain)."""
    n, dim = x.shape
    if box is None:
        close = torch.cdist(ref, x) < a
        return (close & (ref_types[:, None] == types[None, :])).any(1)
    box = box.to(x)
    # Cells of edge >= a, about two per particle spacing per dimension: a point's neighbours within a lie in its
    # 3^d surrounding cells (revisiting a cell in small boxes is harmless for an "any").
    cells = torch.clamp(torch.floor(box / a), max=math.ceil(2 * n ** (1 / dim)), min=1).long()
    width = box / cells
    strides = torch.cumprod(torch.cat([cells.new_ones(1), cells[:-1]]), 0)
    n_cells = int(cells.prod())

    def cell_of(p):
        return torch.minimum(torch.floor(torch.remainder(p, box) / width).long(), cells - 1)

    key = types * n_cells + (cell_of(x) * strides).sum(-1)
    order = torch.argsort(key)
    counts = torch.bincount(key, minlength=n_types * n_cells)
    rank = torch.arange(n, device=x.device) - (torch.cumsum(counts, 0) - counts)[key[order]]
    table = torch.full((counts.numel(), int(counts.max())), -1, dtype=torch.long, device=x.device)
    table[key[order], rank] = order
    shifts = torch.cartesian_prod(*[torch.arange(-1, 2, device=x.device)] * dim).reshape(-1, dim)
    around = torch.remainder(cell_of(ref)[:, None, :] + shifts, cells)  # (N, 3^d, d)
    ref_key = ref_types[:, None] * n_cells + (around * strides).sum(-1)
    candidates = table[ref_key].reshape(n, -1)  # (N, M), -1 padded
    d = x[candidates.clamp(min=0)] - ref[:, None, :]
    d = torch.remainder(d + 0.5 * box, box) - 0.5 * box
    return ((d.square().sum(-1) < a * a) & (candidates >= 0)).any(1)


@numba.njit(cache=True)
def _grid(box, a, n):
    """Cells per edge (3,) of edge >= a (at most about two per particle spacing; 1 for an absent third axis)."""
    dim = box.shape[0]
    cells = np.ones(3, np.int64)
    cap = math.ceil(2 * n ** (1.0 / dim))
    for k in range(dim):
        cells[k] = max(1, min(int(math.floor(box[k] / a)), cap))
    return cells


@numba.njit(cache=True)
def _cell_coordinate(value, scale, n_cells):
    """Cell coordinate along one edge (``scale`` = cells / edge) of a coordinate, wrapped periodically; the integer
    modulo only for points outside the box (a float modulo of every coordinate cost more than the search)."""
    c = int(math.floor(value * scale))
    return c % n_cells if c < 0 or c >= n_cells else c


@numba.njit(cache=True)
def _periodic(c, n_cells):
    """Cell coordinate c in [-1, n_cells] brought into [0, n_cells): without an integer division, which made a
    record ~2x slower."""
    if c < 0:
        return c + n_cells
    return c - n_cells if c >= n_cells else c


@numba.njit(cache=True)
def _reference_cells(ref, box, a):
    """Linked cells of each chain's reference points: grid (3,), head (B, cells), following (B, N)."""
    n_conf, n, dim = ref.shape
    cells = _grid(box, a, n)
    head = np.full((n_conf, cells[0] * cells[1] * cells[2]), -1, np.int64)
    following = np.empty((n_conf, n), np.int64)
    for b in range(n_conf):
        for i in range(n):
            c = 0
            for k in range(dim - 1, -1, -1):
                c = c * cells[k] + _cell_coordinate(ref[b, i, k], cells[k] / box[k], cells[k])
            following[b, i] = head[b, c]
            head[b, c] = i
    return cells, head, following


@numba.njit(cache=True)
def _covered_counts(ref, ref_types, cells, head, following, x, types, box, a, drift, n_types):
    """(B, n_types) counts of the reference points covered by a particle of their species in x (with each chain's
    mean minimum-image displacement from the reference removed first if ``drift``), through the reference's cells
    (:func:`_reference_cells`); a cell met twice in a small box marks nothing twice."""
    n_conf, n, dim = x.shape
    a2 = a * a
    out = np.zeros((n_conf, n_types))
    covered = np.empty(n, np.bool_)
    shift = np.zeros(dim)
    p = np.empty(dim)
    scale = cells[:dim] / box
    for b in range(n_conf):
        shift[:] = 0.0
        if drift:  # the arithmetic of without_drift: remainder(d + L / 2, L) - L / 2, averaged
            for i in range(n):
                for k in range(dim):
                    d = x[b, i, k] - ref[b, i, k] + 0.5 * box[k]
                    shift[k] += d - box[k] * math.floor(d / box[k]) - 0.5 * box[k]
            shift /= n
        covered[:] = False
        for j in range(n):
            for k in range(dim):
                p[k] = x[b, j, k] - shift[k]
            hx, hy = _cell_coordinate(p[0], scale[0], cells[0]), _cell_coordinate(p[1], scale[1], cells[1])
            hz = _cell_coordinate(p[2], scale[2], cells[2]) if dim == 3 else 0
            for ox in range(-1, 2):
                for oy in range(-1, 2):
                    for oz in range(-1 if dim == 3 else 0, 2 if dim == 3 else 1):
                        cx = _periodic(hx + ox, cells[0])
                        cy = _periodic(hy + oy, cells[1])
                        cz = _periodic(hz + oz, cells[2])
                        i = head[b, cx + cells[0] * (cy + cells[1] * cz)]
                        while i >= 0:
                            if not covered[i] and ref_types[b, i] == types[b, j]:
                                r2 = 0.0
                                for k in range(dim):
                                    d = p[k] - ref[b, i, k]
                                    d -= box[k] * math.floor(d / box[k] + 0.5)
                                    r2 += d * d
                                covered[i] = r2 < a2
                            i = following[b, i]
        for i in range(n):
            if covered[i]:
                out[b, ref_types[b, i]] += 1.0
    return out


def random_overlap(counts, box: torch.Tensor | None, a: float = 0.3) -> np.ndarray:
    """Plateau of the overlap between uncorrelated configurations (per species), in the ideal-gas estimate
    1 - exp(-rho_s V_a) with V_a the volume of a ball of radius a; zero in an open box."""
    counts = np.asarray(counts, dtype=np.float64)
    if box is None:
        return np.zeros_like(counts)
    dim = len(box)
    ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * a**dim
    return 1.0 - np.exp(-counts / float(torch.as_tensor(box).prod()) * ball)
