"""Periodic half neighbour lists with a Verlet skin for B configurations at once.

CPU positions use a compiled cell list (:func:`glassgen.systems._kernels.build_cell_lists`): particles are binned into
cells at least one list range wide, sorted by cell and species internally, and each pair is kept once with a one-byte
image code. Each configuration of a batch has its own list and is rebuilt only when one of its own particles moved
more than half the skin (a batch of 32 rebuilds about 4 configurations per step instead of all 32 every 7 steps).
Measured on one core (KA3D at density 1.2, skin 0.3, float64; one full build, thread CPU time, best of 3):

======================  =======================  =====================
system                  numba cells (this file)  vesin-torch 0.6.2
======================  =======================  =====================
N = 200 (1 cell/edge)   0.5 ms                   6.0 ms
N = 500 (2 cells/edge)  0.8 ms                   6.5 ms
N = 1000                1.6 ms                   8.7 ms
N = 4096                6.2 ms                   31 ms
B = 32 x N = 1000       45 ms                    286 ms
======================  =======================  =====================

so vesin-torch is kept only for positions on a GPU, where it builds on the device. Boxes narrower than three list
ranges work too (the stencil then visits a cell under several images). Lists are rebuilt when a particle has moved
more than half the skin since the last build, so the coordinates may be unwrapped and may cross the box.

Small systems (all-pairs mode, N <= :data:`ALL_PAIRS_MAX_N` by default) keep no list: every pair is summed at its
minimum image at each call, which suits many small Monte Carlo chains whose particles jump.
"""

from __future__ import annotations

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.systems import _kernels

#: Below this many particles every pair is kept (all-pairs mode).
ALL_PAIRS_MAX_N = 160


class VerletList:
    """Half neighbour lists of B periodic configurations; each is rebuilt when one of its particles moved > skin / 2.

    Parameters
    ----------
    cutoff : float
        Interaction range; pairs within ``cutoff + skin`` are listed.
    skin : float
        Verlet skin; 0 rebuilds at every update where a particle moved.
    all_pairs : bool or None
        Keep every pair instead of a cell list; by default when N <= :data:`ALL_PAIRS_MAX_N`.
    pair_ranges : array of shape (T, T), optional
        Interaction range of each species pair (at most ``cutoff``). CPU lists then keep a pair of species (a, b)
        only within ``pair_ranges[a, b] + skin``, and :meth:`update` needs the species.

    Attributes
    ----------
    i, j : Tensor of shape (P,)
        Flat particle indices (b * N + particle) of the listed pairs, one entry per pair and image.
    offset : Tensor of shape (P, d)
        Image offsets: ``x[j] - x[i] + offset`` is the separation vector.
    n_builds : int
        How many updates rebuilt lists (a cost counter for benchmarks).
    n_config_builds : int
        How many configuration lists were built in all (CPU cell lists rebuild only the configurations that moved).

    Notes
    -----
    ``i``, ``j`` and ``offset`` are assembled on first access after a build: the compiled loops read the compressed
    rows directly (``csr``, ``xs``, ``shifts``: the internal sorted layout described in `_kernels.py`).
    """

    def __init__(self, cutoff: float, skin: float = 0.3, all_pairs: bool | None = None, *, pair_ranges=None):
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"cutoff must be positive and skin non-negative; got {cutoff}, {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.all_pairs = all_pairs
        self.n_builds = 0
        ranges = np.full((1, 1), self.cutoff) if pair_ranges is None else np.asarray(pair_ranges, dtype=np.float64)
        if ranges.ndim != 2 or ranges.shape[0] != ranges.shape[1] or ranges.max() > self.cutoff * (1 + 1e-12):
            raise ValueError(f"pair_ranges must be a (T, T) matrix of ranges up to the cutoff; got {ranges}")
        self.n_types = ranges.shape[0]
        self._list_cut2 = ((ranges + self.skin) ** 2).reshape(-1)
        self._limit2 = (0.5 * self.skin) ** 2
        self._box_arg = None
        self._types_arg = None
        self._vesin = None
        self._box = None
        self._shape = None
        self._types = None
        self.csr = None
        self._pairs = None
        self._positions = None
        self.n_config_builds = 0

    # -- public -------------------------------------------------------------------------------------------------

    def update(self, positions: torch.Tensor, box, types=None) -> bool:
        """Bring the list up to date for positions (B, N, d); return True if it was rebuilt.

        ``types`` (flat (B*N,) species) is needed when the list was made with ``pair_ranges``. Box and species are
        compared with those of the last build (by identity first: pass a new array, or call :meth:`invalidate`,
        after changing one in place).
        """
        shape = positions.shape
        if self.all_pairs is None:
            self.all_pairs = shape[1] <= ALL_PAIRS_MAX_N
        if self.all_pairs:
            if self._shape != shape:
                self._shape = shape
                self.n_builds += 1
            self._positions = positions
            self._box_tensor = box
            self._pairs = None
            return False
        if positions.device.type != "cpu":
            return self._update_vesin(positions, box)
        x = positions.detach().numpy().reshape(-1, shape[-1])  # a copy only if positions are not contiguous
        if x.dtype != np.float64 and x.dtype != np.float32:
            x = x.astype(np.float64)
        changed = self._set_box(box)
        changed |= self._set_types(types, x.shape[0])
        if changed or self.csr is None or self._shape != shape:
            self._build(x, shape[1], None)
            self._shape = shape
            return True
        order, image, xs0 = self.csr[0], self._image, self._xs0
        if not _kernels.gather(x, order, image, self.xs, xs0, self._limit2, shape[1], self._moved):
            return False
        self._build(x, shape[1], self._moved)
        return True

    def invalidate(self) -> None:
        """Force a rebuild at the next update (after a change of species, say)."""
        self._box_arg = None
        self._types_arg = None
        self.csr = None
        self._shape = None
        self._pairs = None

    @property
    def i(self) -> torch.Tensor:
        return self._pair_tensors()[0]

    @property
    def j(self) -> torch.Tensor:
        return self._pair_tensors()[1]

    @property
    def offset(self) -> torch.Tensor:
        return self._pair_tensors()[2]

    @property
    def n_pairs(self) -> int:
        """Number of listed pairs (all pairs in all-pairs mode)."""
        if self.all_pairs:
            n_conf, n = self._shape[:2]
            return n_conf * n * (n - 1) // 2
        if self.csr is not None:
            start, end = self.csr[2:4]
            return int((end - start).sum())
        return int(self.i.numel())

    # -- internals ----------------------------------------------------------------------------------------------

    def _set_box(self, box) -> bool:
        """Keep the box edges as float64 numpy; True if they changed."""
        if box is self._box_arg:
            return False
        values = np.asarray(box.detach().cpu() if isinstance(box, torch.Tensor) else box, dtype=np.float64)
        self._box_arg = box
        if self._box is not None and self._box.shape == values.shape and np.array_equal(self._box, values):
            return False
        self._box = values.copy()
        return True

    def _set_types(self, types, size: int) -> bool:
        """Keep the flat species as int64 numpy; True if they changed."""
        if types is not None and types is self._types_arg and self._types.size == size:
            return False
        if types is None:
            if self.n_types > 1:
                raise InvalidInputError("this neighbour list has per-species ranges: pass the species to update().")
            values = np.zeros(size, dtype=np.int64)
        else:
            values = types.numpy() if isinstance(types, torch.Tensor) else np.asarray(types)
            values = values.astype(np.int64, copy=False).reshape(-1)
        if values.size != size:
            raise InvalidInputError(f"expected {size} species (one per particle of the batch); got {values.size}.")
        self._types_arg = types
        if self._types is not None and self._types.shape == values.shape and np.array_equal(self._types, values):
            return False
        self._types = values.copy()
        return True

    def _build(self, x: np.ndarray, n: int, which) -> None:
        """(Re)build the lists of the configurations flagged in which (all of them when None)."""
        box, types = self._box, self._types
        m, n_conf = x.shape[0], x.shape[0] // n
        list_range = float(np.sqrt(self._list_cut2.max()))
        grid = _kernels.cell_grid(box, list_range)
        if grid is None:
            raise InvalidInputError(
                f"box edges {box.tolist()} are shorter than half the list range {list_range:.4g} (cut-off + skin): "
                "use a larger box or a smaller skin."
            )
        if types.size and (int(types.min()) < 0 or int(types.max()) >= self.n_types):
            raise InvalidInputError(f"species must be in 0..{self.n_types - 1}; got {sorted(set(types.tolist()))}.")
        if which is None or self.csr is None:
            which = np.ones(n_conf, dtype=np.bool_)
            self._slot = int(1.3 * _kernels.expected_pairs(box, n, list_range)) + 64
            self._allocate(m, n_conf)
        order, ts, start, end, nbr, code = self.csr
        while True:
            most = _kernels.build_cell_lists(x, box, types, self.n_types, self._list_cut2, n, *grid, which, order,
                                             self._image, self.xs, self._xs0, ts, start, end, nbr, code,
                                             self.bad)
            if most >= 0:
                break
            # A configuration had more pairs than its slot holds: grow the slots and rebuild everything.
            self._slot *= 2
            which = np.ones(n_conf, dtype=np.bool_)
            nbr = np.empty(n_conf * self._slot, dtype=np.uint32)
            code = np.empty(n_conf * self._slot, dtype=np.uint8)
            self.csr = (order, ts, start, end, nbr, code)
        self.n_per_conf = n
        self.any_bad = bool(self.bad.any())
        self._pairs = None
        self.n_builds += 1
        self.n_config_builds += int(which.sum())

    def _allocate(self, m: int, n_conf: int) -> None:
        self._image = np.empty((m, 3))
        self.xs = np.empty((m, 3))
        self._xs0 = np.empty((m, 3))
        self.scratch = np.empty((m, 3))
        self._moved = np.empty(n_conf, dtype=np.bool_)
        self.bad = np.zeros(n_conf, dtype=np.bool_)
        self.shifts = _kernels.shift_table(self._box)
        self.csr = (np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.uint64),
                    np.empty(m, dtype=np.uint64), np.empty(n_conf * self._slot, dtype=np.uint32),
                    np.empty(n_conf * self._slot, dtype=np.uint8))

    def _pair_tensors(self):
        if self._pairs is not None:
            return self._pairs
        if self.all_pairs:
            self._pairs = self._all_pair_tensors()
        elif self.csr is not None:
            order, _, start, end, nbr, code = self.csr
            i, j, offset = _kernels.pair_arrays(order, self._image, start, end, nbr, code, self._box)
            self._pairs = (torch.from_numpy(i), torch.from_numpy(j), torch.from_numpy(offset))
        else:
            raise RuntimeError("the neighbour list has not been built yet: call update() first")
        return self._pairs

    def _all_pair_tensors(self):
        positions = self._positions.detach()
        n_conf, n, dim = positions.shape
        key = (positions.shape, positions.device)
        if getattr(self, "_triu_key", None) != key:
            i, j = torch.triu_indices(n, n, offset=1, device=positions.device)
            base = (torch.arange(n_conf, device=positions.device) * n).repeat_interleave(i.numel())
            self._triu = (i.repeat(n_conf) + base, j.repeat(n_conf) + base)
            self._triu_key = key
        i, j = self._triu
        flat = positions.reshape(-1, dim)
        separation = flat[j] - flat[i]
        box = torch.as_tensor(self._box_tensor, dtype=positions.dtype, device=positions.device)
        return i, j, -box * torch.round(separation / box)

    def _update_vesin(self, positions: torch.Tensor, box) -> bool:
        """GPU path: vesin-torch cell lists on the device, pairs kept as (i, j, offset) tensors."""
        box = torch.as_tensor(box, device=positions.device)
        if self._pairs is not None and self._shape == positions.shape and self._reference.dtype == positions.dtype:
            moved2 = (positions.detach() - self._reference).square().sum(-1).max()
            if not bool(moved2 > (0.5 * self.skin) ** 2):
                return False
        from vesin_torch import NeighborList

        if self._vesin is None:
            self._vesin = NeighborList(cutoff=self.cutoff + self.skin, full_list=False)
        n_conf, n, dim = positions.shape
        device, dtype = positions.device, positions.dtype
        x = positions.detach().to(torch.float64)
        box64 = box.detach().to(torch.float64)
        wrapped = torch.remainder(x, box64)
        # vesin is three-dimensional: a 2D system lives in the z = 0 plane of a slab that is not periodic along z.
        cell = torch.ones(3, dtype=torch.float64, device=device)
        cell[:dim] = box64
        periodic = torch.tensor([True, True, dim == 3], device=device)
        pieces_i, pieces_j, pieces_offset = [], [], []
        for b in range(n_conf):
            points = torch.zeros(n, 3, dtype=torch.float64, device=device)
            points[:, :dim] = wrapped[b]
            i, j, shifts = self._vesin.compute(points, torch.diag(cell), periodic, "ijS")
            i, j = i.long(), j.long()
            # Undo the wrapping so that offsets apply to the caller's (possibly unwrapped) coordinates.
            unwrap = x[b] - wrapped[b]
            offset = shifts[:, :dim].to(torch.float64) * box64 - unwrap[j] + unwrap[i]
            pieces_i.append(i + b * n)
            pieces_j.append(j + b * n)
            pieces_offset.append(offset)
        self._pairs = (torch.cat(pieces_i), torch.cat(pieces_j), torch.cat(pieces_offset).to(dtype))
        self._reference = positions.detach().clone()
        self._shape = positions.shape
        self.n_builds += 1
        return True


def pairs_within(positions, box, cutoff: float):
    """Each pair (i < j, one entry per image) of one configuration (N, d) closer than ``cutoff``, in float64.

    Returns ``(i, j, separation)``: int64 tensors (P,) and ``x_j - x_i`` at the pair's image, shape (P, d). The
    separation stays valid for unwrapped trajectories that start from ``positions`` (the image is fixed at t = 0).
    """
    x = torch.as_tensor(positions, dtype=torch.float64).unsqueeze(0)
    neighbors = VerletList(cutoff, skin=0.0, all_pairs=False)
    neighbors.update(x, torch.as_tensor(box, dtype=torch.float64))
    separation = x[0, neighbors.j] - x[0, neighbors.i] + neighbors.offset.to(torch.float64)
    keep = separation.square().sum(-1) < cutoff * cutoff
    return neighbors.i[keep], neighbors.j[keep], separation[keep]
