"""Checkerboard (cell-coloured) displacements: one particle per cell of a colour per call, for large N (torch).

The box is cut into an even number of cells per side, of edge w >= ``target.interaction_range``, and the cells are
coloured by the parities of their indices (2^d colours). One update draws, per chain, a uniform shift of the cell
grid in [0, w)^d and a uniform colour; in every cell of that colour one particle is chosen uniformly and displaced as
by :class:`samplers.kernels.Displacement`, and a move that leaves its cell is rejected. Cells of one colour are at
least one cell (w) apart, so the moved particles interact neither before nor after their moves: the target density
conditioned on the other particles factorises over the moved ones, the total energy change is the sum of the
single-move changes (one batched ``energy_change_moves`` call) and each move is accepted on its own with
min(1, exp(-beta dU_k)). Every update satisfies detailed balance: the number of particles in a cell does not change
(moves stay inside), so choosing the particle has the same probability forwards and backwards; the displacement is
symmetric; the in-cell condition holds for a move and its reverse alike. Shift and colour are drawn independently of
the state, so the update is a mixture of such kernels; the random shift lets particles cross the cells of any one
grid (a fixed grid would trap them) and, with the random colours and particles, keeps sweeps from being periodic.
Confinement to the cell replaces the margin of two maximal steps that cells would otherwise need.

An update counts for K attempts per chain in a sweep (K the cells per colour), a number fixed in advance as detailed
balance of the driver's mixture requires; empty cells try nothing, which is why the default keeps at least two
particles per cell on average. With K = 1 an update is a plain sequential displacement.

A particle within the interaction range of a point of its cell lies in one of the 3^d cells around it, so a target
with ``energy_change_moves_near`` compares each moved particle only with those: every update sorts the particles by
(chain, cell) into a table padded to the largest occupancy and hands the K lists of each chain to one batched call
(O(B K 3^d N / cells) pairs instead of O(B K N)). The energy changes are the same numbers, so the chain is too (up
to round-off).
"""

from __future__ import annotations

import torch

from samplers.kernels.displacement import Displacement
from samplers.target import SamplerInputError


class Checkerboard(Displacement):
    """Checkerboard updates of B chains in a periodic box (step sizes and their adaptation as for Displacement).

    Parameters
    ----------
    state : ChainState
    step, acceptance_window
        As for :class:`samplers.kernels.Displacement`.
    cells : int or None
        Cells per box edge (even, edge >= interaction range). Default: the most such cells, with edge at least
        twice the largest initial step and at most N / 2 cells in all.
    """

    name = "checkerboard"
    options = Displacement.options | {"cells"}

    def __init__(self, state, *, step=0.1, acceptance_window=(0.3, 0.5), cells=None):
        super().__init__(state, step=step, acceptance_window=acceptance_window)
        reach = getattr(state.target, "interaction_range", None)
        if self.box is None or reach is None:
            raise SamplerInputError("checkerboard updates need a periodic box and target.interaction_range; "
                                    "use update='sequential' for this target.")
        n, dim = state.shape[1:]
        device = state.x.device
        if cells is None:
            edge = max(float(reach), 2.0 * float(self.step.max()), 1e-12)
            most = torch.floor(self.box / edge).long()
            # At most N / 2 cells, two particles per cell on average: a sweep counts K moves per update.
            count = torch.clamp(most, max=max(2, int((n / 2) ** (1.0 / dim)))) // 2 * 2
        else:
            count = torch.full((dim,), int(cells), dtype=torch.long)
        if bool((count < 2).any()) or bool((count % 2).any()) or bool((self.box / count < float(reach)).any()):
            raise SamplerInputError(
                f"checkerboard cells must be an even number >= 2 per edge with edge >= the interaction range "
                f"{float(reach):.4g}; got {count.tolist()} cells for box {self.box.tolist()}. Use a larger box "
                "(more particles) or update='sequential'.")
        self.cells = count.to(device)
        self.cell_width = self.box / self.cells
        self._strides = torch.cumprod(torch.cat([self.cells.new_ones(1), self.cells[:-1]]), 0)
        grid = torch.cartesian_prod(*[torch.arange(int(c), device=device) for c in count]).reshape(-1, dim)
        ids = (grid * self._strides).sum(-1)
        colour = ((grid % 2) * (1 << torch.arange(dim, device=device))).sum(-1)
        self.colour_cells = torch.stack([ids[colour == c] for c in range(1 << dim)])  # (2^d, K)
        # The distinct cells within one step of each cell (3^d, or 2 per edge of 2 cells): all a particle reaches.
        steps = [sorted({o % int(c) for o in (-1, 0, 1)}) for c in count]
        offsets = torch.cartesian_prod(*[torch.tensor(o, device=device) for o in steps]).reshape(-1, dim)
        around = (torch.remainder(grid[:, None, :] + offsets, self.cells) * self._strides).sum(-1)
        self._around = torch.empty_like(around)
        self._around[ids] = around  # (cells, 3^d), row = cell id
        self.attempts = self.colour_cells.shape[1]

    def attempt(self, state) -> torch.Tensor:
        """One update of every chain: a checkerboard update, or a sequential displacement when K = 1."""
        return self.update(state) if self.attempts > 1 else super().attempt(state)

    def update(self, state) -> torch.Tensor:
        """One checkerboard update of every chain (one move per cell of a random colour, grid randomly shifted);
        returns the (B, K) accepted mask (False for empty cells)."""
        n_conf, n, dim = state.shape
        device = state.x.device
        shift = state.uniform(n_conf, 1, dim) * self.cell_width
        colour = torch.randint(1 << dim, (n_conf,), generator=state.generator, device=device)

        def cell_coords(p):  # (B, M, d) in the box -> integer cell coordinates in the shifted grid
            q = p - shift  # in (-w, L]: torch.remainder(q, L) exactly, much faster in float64
            q = torch.where(q < 0, q + self.box, q)
            return torch.minimum(torch.floor(q / self.cell_width).long(), self.cells - 1)

        coords = cell_coords(state.x)
        cell = (coords * self._strides).sum(-1)  # (B, N)
        eligible = ((coords & 1) * (1 << torch.arange(dim, device=device))).sum(-1) == colour[:, None]
        # A uniform particle per cell: the eligible one with the largest random key.
        n_cells = int(self.cells.prod())
        flat = cell + n_cells * torch.arange(n_conf, device=device)[:, None]
        key = torch.where(eligible, state.uniform(n_conf, n), -1.0)
        best = torch.full((n_conf * n_cells,), -1.0, dtype=key.dtype, device=device)
        best = best.scatter_reduce(0, flat.reshape(-1), key.reshape(-1), "amax")
        winner = eligible & (key == best[flat])
        chosen = torch.full((n_conf * n_cells,), n, dtype=torch.long, device=device)
        chosen[flat[winner]] = torch.arange(n, device=device).expand(n_conf, n)[winner]
        index = chosen.reshape(n_conf, n_cells).gather(1, self.colour_cells[colour])  # (B, K)
        valid = index < n
        index = torch.where(valid, index, 0)
        rows = torch.arange(n_conf, device=device)[:, None]
        species = state.types[rows, index]
        old = state.x[rows, index]
        new = self.propose(state, old, species)
        inside = (cell_coords(new) == coords[rows, index]).all(-1)
        near = getattr(state.target, "energy_change_moves_near", None)
        if near is None:
            delta = state.target.energy_change_moves(state.x, state.t(), index, new)
        else:
            delta = near(state.x, state.t(), index, new, self._neighbours(flat, self.colour_cells[colour]))
        delta = delta.to(state.x.dtype)
        ok = valid & inside & state.accept(delta)
        state.move(index, new, ok, delta)
        self.record(state, species[valid], ok[valid])
        return ok

    def _neighbours(self, flat: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
        """Particles (B, K, M) of the cells around the moved cells ``moved`` (B, K), padded with N: a cell list
        sorted by the (chain, cell) ids ``flat`` (B, N) of this update, each cell padded to the largest occupancy."""
        n_conf, n = flat.shape
        n_cells = self._around.shape[0]
        order = torch.argsort(flat, dim=1)  # chain b's ids lie above chain b - 1's: sorted as a whole too
        counts = torch.bincount(flat.reshape(-1), minlength=n_conf * n_cells)
        ordered = flat.gather(1, order).reshape(-1)
        slot = torch.arange(n_conf * n, device=flat.device) - (torch.cumsum(counts, 0) - counts)[ordered]
        table = torch.full((n_conf * n_cells, int(counts.max())), n, dtype=torch.long, device=flat.device)
        table[ordered, slot] = order.reshape(-1)
        around = self._around[moved] + n_cells * torch.arange(n_conf, device=flat.device)[:, None, None]
        return table[around].reshape(*moved.shape, -1)
