"""Periodic half neighbour lists with a Verlet skin for B configurations at once.

Pairs are stored flat over the batch (particle index b * N + i) with the image offset that makes
``x[j] - x[i] + offset`` the minimum-image separation at build time. As long as no particle has moved more than half
the skin the same offsets stay right, so coordinates may be unwrapped and each step costs no rounding.

Large systems are listed with vesin-torch (cell lists, one call per configuration); small ones (where N^2 pairs are
cheaper than a cell list) keep every pair and recompute minimum-image offsets at every update, which suits many small
Monte Carlo chains.
"""

from __future__ import annotations

import torch
from vesin_torch import NeighborList

#: Below this many particles every pair is kept (all-pairs mode).
ALL_PAIRS_MAX_N = 160


class VerletList:
    """Half neighbour list of B periodic configurations, rebuilt when a particle moved more than skin / 2.

    Parameters
    ----------
    cutoff : float
        Interaction range; pairs within ``cutoff + skin`` are listed.
    skin : float
        Verlet skin; 0 rebuilds at every update.
    all_pairs : bool or None
        Keep every pair instead of a cell list; by default when N <= :data:`ALL_PAIRS_MAX_N`.

    Attributes
    ----------
    i, j : Tensor of shape (P,)
        Flat particle indices (b * N + particle) of the listed pairs, i < j within a configuration.
    offset : Tensor of shape (P, d)
        Image offsets: ``x[j] - x[i] + offset`` is the separation vector.
    n_builds : int
        How many times the list was built (a cost counter for benchmarks).
    """

    def __init__(self, cutoff: float, skin: float = 0.3, all_pairs: bool | None = None):
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"cutoff must be positive and skin non-negative; got {cutoff}, {skin}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.all_pairs = all_pairs
        self.n_builds = 0
        self._reference = None
        self._vesin = NeighborList(cutoff=self.cutoff + self.skin, full_list=False)

    def update(self, positions: torch.Tensor, box: torch.Tensor) -> bool:
        """Bring the list up to date for positions (B, N, d); return True if it was rebuilt."""
        if self.all_pairs is None:
            self.all_pairs = positions.shape[1] <= ALL_PAIRS_MAX_N
        if self.all_pairs:
            if self._reference is None or self._reference.shape != positions.shape:
                self._build_all_pairs(positions)
            separation = positions.reshape(-1, positions.shape[-1])
            separation = separation[self.j] - separation[self.i]
            self.offset = -box * torch.round(separation / box)
            self._reference = positions.detach().clone()
            return False
        if not self._needs_rebuild(positions):
            return False
        self._build_cell_list(positions, box)
        return True

    def _needs_rebuild(self, positions: torch.Tensor) -> bool:
        if self._reference is None or self._reference.shape != positions.shape:
            return True
        if self._reference.device != positions.device or self._reference.dtype != positions.dtype:
            return True
        moved2 = (positions - self._reference).square().sum(-1).max()
        return bool(moved2 > (0.5 * self.skin) ** 2)

    def _build_all_pairs(self, positions: torch.Tensor) -> None:
        n_conf, n = positions.shape[:2]
        i, j = torch.triu_indices(n, n, offset=1, device=positions.device)
        base = (torch.arange(n_conf, device=positions.device) * n).repeat_interleave(i.numel())
        self.i = i.repeat(n_conf) + base
        self.j = j.repeat(n_conf) + base
        self.n_builds += 1

    def _build_cell_list(self, positions: torch.Tensor, box: torch.Tensor) -> None:
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
        self.i = torch.cat(pieces_i)
        self.j = torch.cat(pieces_j)
        self.offset = torch.cat(pieces_offset).to(dtype)
        self._reference = positions.detach().clone()
        self.n_builds += 1
