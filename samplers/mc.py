"""Metropolis Monte Carlo of B chains at once: single-particle displacements and species swaps.

One *attempt* advances every chain by one move. With probability ``p_swap`` (one draw shared by all chains, so that
the batch stays one vectorised call; each chain still follows a mixture of two kernels chosen independently of its
state, which keeps detailed balance) the attempt is a swap, otherwise a displacement:

- displacement: a particle chosen uniformly, moved uniformly within a cube of half-width ``step[species]``
  (wrapped into the periodic box if the target has one), accepted with min(1, exp(-beta dU));
- swap: a species pair (a, b) chosen uniformly among the allowed pairs present in the chain, one particle of each
  chosen uniformly, their species exchanged with min(1, exp(-beta dU)). The composition of each chain is conserved,
  so the proposal is symmetric.

A *sweep* is N attempts. Step sizes adapt only during burn-in (``run(..., burn_in=...)``, or ``sweep(adapt=True)``):
after each sweep the step of a species is multiplied by 1.1 if its acceptance over that sweep was above the upper
target, by 0.9 if below the lower one (default window 0.3-0.5), capped at a quarter of the smallest box edge. They
are frozen afterwards, so production sampling is an exact Markov chain with a fixed kernel.

Checkerboard updates (``update="checkerboard"``, for large N): the box is cut into an even number of cells per side,
of edge w >= ``target.interaction_range``, and the cells are coloured by the parities of their indices (2^d colours).
One update draws, per chain, a uniform shift of the cell grid in [0, w)^d and a uniform colour; in every cell of that
colour one particle is chosen uniformly and displaced as above, and a move that leaves its cell is rejected. Cells of
one colour are at least one cell (w) apart, so the moved particles interact neither before nor after their moves:
the target density conditioned on the other particles factorises over the moved ones, the total energy change is
the sum of the single-move changes (one batched ``energy_change_moves`` call) and each move is accepted on its own
with min(1, exp(-beta dU_k)). Every update satisfies detailed balance: the number of particles in a cell does not
change (moves stay inside), so choosing the particle has the same probability forwards and backwards; the displacement
is symmetric; the in-cell condition holds for a move and its reverse alike. Shift and colour are drawn independently
of the state, so the update is a mixture of such kernels; the random shift lets particles cross the cells of any one
grid (a fixed grid would trap them) and, with the random colours and particles, keeps sweeps from being periodic.
Confinement to the cell replaces the margin of two maximal steps that cells would otherwise need. A sweep of
checkerboard updates is as many updates (or swap attempts) as it takes to try N moves per chain, counting K (the
cells per colour) per update, a number fixed in advance as detailed balance requires; empty cells try nothing, which
is why the default keeps at least two particles per cell on average. A particle within the interaction range of a
point of its cell lies in one of the 3^d cells around it, so a target with ``energy_change_moves_near`` compares
each moved particle only with those: every update sorts the particles by (chain, cell) into a table padded to the
largest occupancy and hands the K lists of each chain to one batched call (O(B K 3^d N / cells) pairs instead of
O(B K N)). The energy changes are the same numbers, so the chain is too (up to round-off).

Counters: ``n_evaluations`` counts single-particle energy changes summed over chains (a displacement = 1, a swap =
2, a full recomputation = N per chain); ``seconds`` is the wall time spent in sweeps. Both are cumulative and kept
by :meth:`MetropolisMC.state_dict`, as are positions, species, energies, steps, acceptance counters, the generator
state and the overlap reference, so that ``run(a)``, save, load, ``run(b)`` gives the chain of ``run(a + b)`` bit
for bit.

Engines: ``engine="compiled"`` runs whole sequential sweeps in numba (:mod:`samplers.compiled`: cell lists of edge
r_c / 2, one particle against the 5^d cells around it; 12x (64 chains of N = 44) to 400x (one chain of N = 1290)
the attempts per second of the torch path's many small tensor operations per attempt) for targets that supply
``pair_coefficients()`` in a periodic box, on CPU, in float64; its per-sweep seeds come from the sampler's
generator, so seeds, state dicts and resumption work as above (the chain differs from the torch engine's by its
random numbers only). ``"auto"`` (default) picks it whenever it applies, ``"torch"`` keeps the
generic path (learned or analytic targets, GPUs, checkerboard updates).

Every :meth:`MetropolisMC.result` (the end of a run) compares the running energies with a fresh ``target.energy``:
the relative difference is ``MCResult.energy_drift``, and one above ``DRIFT_TOLERANCE`` raises, so that a wrong
energy change cannot pass unnoticed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from samplers.diagnostics import (
    decorrelation_time,
    efficiency,
    integrated_autocorrelation_time,
    overlap,
    random_overlap,
    standard_error,
)
from samplers.target import SamplerInputError, swapped

UPDATES = ("sequential", "checkerboard")
ENGINES = ("auto", "torch", "compiled")

#: Largest difference between running and recomputed energies, relative to max(|E|, 1), that a float64 run accepts.
DRIFT_TOLERANCE = 1e-9

#: Radius a of the overlap Q(t) (REFERENCE.md section 2).
OVERLAP_RADIUS = 0.3


@dataclass
class MCResult:
    """What :meth:`MetropolisMC.run` records every ``every`` sweeps after burn-in.

    energies : (B, S) float64 array of the total potential energy of each chain.
    samples : list of recorded (positions (B, N, d), types (B, N)) when ``keep_samples``.
    seconds : wall time of the production sweeps.
    overlap : (B, S, n_types) species-resolved overlap with the configuration at the start of production
        (:func:`samplers.diagnostics.overlap`); empty when not recorded.
    evaluations : single-particle energy changes spent in production, summed over chains.
    every : sweeps between records.
    q_random : (n_types,) plateau of the overlap between uncorrelated configurations (ideal-gas estimate).
    fractions : (n_types,) share of each species, to weigh the species overlaps into one.
    energy_drift : largest relative difference, over chains, of the running energy from a fresh evaluation at the
        end of the run.
    """

    energies: np.ndarray
    samples: list = field(default_factory=list)
    seconds: float = 0.0
    overlap: np.ndarray | None = None
    evaluations: int = 0
    every: int = 1
    q_random: np.ndarray | None = None
    fractions: np.ndarray | None = None
    energy_drift: float = 0.0

    def total_overlap(self) -> np.ndarray:
        """Overlap of all particles (B, S): the species overlaps weighed by their shares."""
        return self.overlap @ self.fractions

    def efficiency(self, observable: str = "energy") -> dict:
        """tau_int (sweeps), ESS, ESS per second and per energy evaluation of ``"energy"`` or ``"overlap"``;
        for the overlap also ``decorrelation_sweeps`` (:func:`samplers.diagnostics.decorrelation_time`)."""
        if observable not in ("energy", "overlap"):
            raise SamplerInputError(f"observable must be 'energy' or 'overlap'; got {observable!r}.")
        series = self.energies if observable == "energy" else self.total_overlap()
        out = efficiency(series, every=self.every, seconds=self.seconds, evaluations=self.evaluations)
        if observable == "overlap":
            out["decorrelation_sweeps"] = decorrelation_time(series, float(self.q_random @ self.fractions), self.every)
        return out

    def mean_energy(self) -> tuple[float, float]:
        """Mean total energy over chains and samples, with its standard error (autocorrelation-corrected)."""
        return float(self.energies.mean()), standard_error(self.energies)

    def tau_energy(self) -> float:
        """Integrated autocorrelation time of the energy, in recording intervals."""
        return integrated_autocorrelation_time(self.energies)


class MetropolisMC:
    """Metropolis displacement and swap moves of B chains of a :class:`samplers.target.Target`.

    Parameters
    ----------
    target : Target
    positions : Tensor (B, N, d)
        Start of the chains (B >= 1); copied.
    types : Tensor (N,) or (B, N) or None
        Species (int64, 0-based); None when the target ignores species (all particles are species 0).
    temperature : float
        k_B T > 0 (beta = 1 / T).
    step : float or sequence of float
        Half-width of the displacement cube, one per species or one for all.
    p_swap : float
        Probability that an attempt is a swap move.
    swap_pairs : sequence of (int, int) or None
        Species pairs that swaps exchange (default: ``target.swap_pairs``).
    seed : int or torch.Generator
    acceptance_window : (float, float)
        Target window of the displacement acceptance during burn-in adaptation.
    update : {"sequential", "checkerboard"}
        One particle per chain per attempt, or one particle per cell of a colour (see the module docstring); the
        latter needs a periodic box and ``target.interaction_range``.
    cells : int or None
        Checkerboard cells per box edge (even, edge >= interaction range). Default: the most such cells, with edge
        at least twice the largest initial step and at most N / 2 cells in all.
    record_overlap : bool
        Record the overlap with the start of production in :meth:`run` (O(N) per chain and record).
    engine : {"auto", "torch", "compiled"}
        How sweeps run (see the module docstring); "compiled" raises where it does not apply.
    """

    def __init__(self, target, positions, types=None, *, temperature: float, step=0.1, p_swap: float = 0.0,
                 swap_pairs=None, seed=0, acceptance_window=(0.3, 0.5), update: str = "sequential", cells=None,
                 record_overlap: bool = True, engine: str = "auto"):
        x = torch.as_tensor(positions)
        if x.ndim != 3 or x.shape[1:] != (target.n_particles, target.dim):
            raise SamplerInputError(
                f"positions must have shape (B, {target.n_particles}, {target.dim}); got {tuple(x.shape)}.")
        if x.shape[0] < 1:
            raise SamplerInputError("the number of chains B must be >= 1; got 0 configurations.")
        if not x.is_floating_point():
            x = x.to(torch.float64)
        if not float(temperature) > 0:
            raise SamplerInputError(f"temperature must be positive; got {temperature}.")
        self.target, self.temperature, self.beta = target, float(temperature), 1.0 / float(temperature)
        n_conf, n, _ = x.shape
        self.types_given = types is not None
        if types is None:
            t = torch.zeros(n_conf, n, dtype=torch.int64, device=x.device)
        else:
            t = torch.as_tensor(types, dtype=torch.int64, device=x.device)
            t = t.expand(n_conf, n).clone() if t.ndim == 1 else t.clone()
            if t.shape != (n_conf, n):
                raise SamplerInputError(f"types must have shape ({n},) or ({n_conf}, {n}); got {tuple(t.shape)}.")
            if int(t.min()) < 0:
                raise SamplerInputError("types must be 0-based species labels (>= 0).")
        self.n_types = max(int(getattr(target, "n_types", 1)), int(t.max()) + 1)
        steps = torch.as_tensor(step, dtype=x.dtype).reshape(-1)
        if steps.numel() == 1:
            steps = steps.repeat(self.n_types)
        if steps.numel() != self.n_types or not bool((steps > 0).all()) or not bool(torch.isfinite(steps).all()):
            raise SamplerInputError(
                f"step must be one positive number or {self.n_types} (one per species); got {step}.")
        if not 0.0 <= float(p_swap) <= 1.0:
            raise SamplerInputError(f"p_swap must be a probability in [0, 1]; got {p_swap}.")
        pairs = tuple(tuple(int(a) for a in p) for p in (target.swap_pairs if swap_pairs is None else swap_pairs))
        if float(p_swap) > 0:
            if not pairs:
                raise SamplerInputError(
                    "swap moves need species pairs to exchange, but this target has none (swap_pairs is empty); "
                    "set p_swap=0 or pass swap_pairs.")
            if any(a == b or not (0 <= a < self.n_types and 0 <= b < self.n_types) for a, b in pairs):
                raise SamplerInputError(f"swap_pairs must be pairs of distinct species 0..{self.n_types - 1}; "
                                        f"got {pairs}.")
            present = torch.stack([(t == s).any(1) for s in range(self.n_types)], 1)  # (B, T)
            self._pair_ok = torch.stack([present[:, a] & present[:, b] for a, b in pairs], 1).to(x.dtype)  # (B, P)
            if not bool((self._pair_ok.sum(1) > 0).all()):
                raise SamplerInputError(f"some chains hold no particles of any swap pair {pairs}; swaps cannot move.")
        self.swap_pairs, self.p_swap = pairs, float(p_swap)
        lo, hi = (float(a) for a in acceptance_window)
        if not 0 < lo < hi < 1:
            raise SamplerInputError(f"acceptance_window must be 0 < low < high < 1; got {acceptance_window}.")
        self.window = (lo, hi)
        self.generator = seed if isinstance(seed, torch.Generator) else torch.Generator(device=x.device).manual_seed(
            int(seed))
        self.box = None if target.box is None else torch.as_tensor(target.box).to(x)
        self.x = x.clone() if self.box is None else torch.remainder(x, self.box)
        self.types = t
        self.step = steps.to(x.device)
        if update not in UPDATES:
            raise SamplerInputError(f"update must be one of {UPDATES}; got {update!r}.")
        self.update = update
        if update == "checkerboard":
            self._setup_cells(cells)
        self._compiled = self._compiled_sweeps(engine)
        self.engine = "torch" if self._compiled is None else "compiled"
        self.record_overlap = bool(record_overlap)
        self.energy = target.energy(self.x, self._t()).to(x.dtype)
        self.reset_counters()
        self.n_attempts_total = 0
        self.n_evaluations = n_conf * n
        self.seconds = 0.0
        self.reference = None

    def _setup_cells(self, cells) -> None:
        """Cells per edge, their edge, and the (2^d, K) table of the cells of each colour."""
        reach = getattr(self.target, "interaction_range", None)
        if self.box is None or reach is None:
            raise SamplerInputError("checkerboard updates need a periodic box and target.interaction_range; "
                                    "use update='sequential' for this target.")
        n, dim = self.x.shape[1:]
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
        self.cells = count.to(self.x.device)
        self.cell_width = self.box / self.cells
        self._strides = torch.cumprod(torch.cat([self.cells.new_ones(1), self.cells[:-1]]), 0)
        grid = torch.cartesian_prod(*[torch.arange(int(c), device=self.x.device) for c in count]).reshape(-1, dim)
        ids = (grid * self._strides).sum(-1)
        colour = ((grid % 2) * (1 << torch.arange(dim, device=self.x.device))).sum(-1)
        self._colour_cells = torch.stack([ids[colour == c] for c in range(1 << dim)])  # (2^d, K)
        # The distinct cells within one step of each cell (3^d, or 2 per edge of 2 cells): all a particle reaches.
        steps = [sorted({o % int(c) for o in (-1, 0, 1)}) for c in count]
        offsets = torch.cartesian_prod(*[torch.tensor(o, device=self.x.device) for o in steps]).reshape(-1, dim)
        around = (torch.remainder(grid[:, None, :] + offsets, self.cells) * self._strides).sum(-1)
        self._around = torch.empty_like(around)
        self._around[ids] = around  # (cells, 3^d), row = cell id

    def _compiled_sweeps(self, engine: str):
        """The :class:`samplers.compiled.PairSweeps` of the target, or None for the torch engine."""
        if engine not in ENGINES:
            raise SamplerInputError(f"engine must be one of {ENGINES}; got {engine!r}.")
        table = getattr(self.target, "pair_coefficients", None)
        table = None if engine == "torch" or table is None else table()
        missing = [why for why, bad in (
            ("pair_coefficients() from the target", table is None), ("a periodic box", self.box is None),
            ("positions on the CPU", self.x.device.type != "cpu"), ("float64 positions", self.x.dtype != torch.float64),
            ("sequential updates", self.update != "sequential")) if bad]
        if engine == "compiled" and missing:
            raise SamplerInputError(f"the compiled engine needs {', '.join(missing)}; use engine='torch'.")
        if engine == "torch" or missing:
            return None
        from samplers.compiled import PairSweeps

        if table.n_types < self.n_types:
            raise SamplerInputError(f"the target's pair table has {table.n_types} species; the chains hold "
                                    f"{self.n_types}.")
        return PairSweeps(table, self.box.numpy())

    def _t(self, types=None):
        return (self.types if types is None else types) if self.types_given else None

    def reset_counters(self) -> None:
        """Zero the acceptance counters (per species for displacements, per pair for swaps)."""
        self.move_tried = torch.zeros(self.n_types, dtype=torch.int64)
        self.move_accepted = torch.zeros(self.n_types, dtype=torch.int64)
        self.swap_tried = torch.zeros(max(len(self.swap_pairs), 1), dtype=torch.int64)
        self.swap_accepted = torch.zeros(max(len(self.swap_pairs), 1), dtype=torch.int64)

    @property
    def acceptance(self) -> np.ndarray:
        """Displacement acceptance per species since the last counter reset (NaN for species never tried)."""
        return (self.move_accepted / self.move_tried.clamp_min(1)).numpy().astype(float) + np.where(
            self.move_tried.numpy() == 0, np.nan, 0.0)

    @property
    def swap_acceptance(self) -> np.ndarray:
        """Swap acceptance per allowed pair since the last counter reset."""
        return (self.swap_accepted / self.swap_tried.clamp_min(1)).numpy().astype(float)

    def _uniform(self, *shape):
        return torch.rand(*shape, generator=self.generator, dtype=self.x.dtype, device=self.x.device)

    def _accept(self, delta: torch.Tensor) -> torch.Tensor:
        u = self._uniform(*delta.shape)
        # log u < -beta dU; NaN energy changes (e.g. coinciding particles) are rejected.
        return torch.log(u) < -self.beta * torch.nan_to_num(delta, nan=float("inf"))

    def _count_moves(self, species: torch.Tensor, ok: torch.Tensor) -> None:
        self.move_tried += torch.bincount(species.cpu(), minlength=self.n_types)
        self.move_accepted += torch.bincount(species[ok].cpu(), minlength=self.n_types)
        self.n_evaluations += species.numel()

    def _displace(self, position: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Uniform proposal in the cube of half-width step[species] around position (..., d), wrapped."""
        new = position + (2.0 * self._uniform(*position.shape) - 1.0) * self.step[species].unsqueeze(-1)
        return new if self.box is None else torch.remainder(new, self.box)

    def attempt_move(self) -> torch.Tensor:
        """One displacement attempt in every chain; returns the (B,) accepted mask."""
        n_conf, n, _ = self.x.shape
        rows = torch.arange(n_conf, device=self.x.device)
        index = torch.randint(n, (n_conf,), generator=self.generator, device=self.x.device)
        species = self.types[rows, index]
        new = self._displace(self.x[rows, index], species)
        delta = self.target.energy_change_move(self.x, self._t(), index, new).to(self.x.dtype)
        ok = self._accept(delta)
        self.x[rows[ok], index[ok]] = new[ok]
        self.energy = torch.where(ok, self.energy + delta, self.energy)
        self._count_moves(species, ok)
        return ok

    def attempt_checkerboard(self) -> torch.Tensor:
        """One checkerboard update of every chain (one move per cell of a random colour, grid randomly shifted);
        returns the (B, K) accepted mask (False for empty cells)."""
        n_conf, n, dim = self.x.shape
        device = self.x.device
        shift = self._uniform(n_conf, 1, dim) * self.cell_width
        colour = torch.randint(1 << dim, (n_conf,), generator=self.generator, device=device)

        def cell_coords(p):  # (B, M, d) in the box -> integer cell coordinates in the shifted grid
            q = p - shift  # in (-w, L]: torch.remainder(q, L) exactly, much faster in float64
            q = torch.where(q < 0, q + self.box, q)
            return torch.minimum(torch.floor(q / self.cell_width).long(), self.cells - 1)

        coords = cell_coords(self.x)
        cell = (coords * self._strides).sum(-1)  # (B, N)
        eligible = ((coords & 1) * (1 << torch.arange(dim, device=device))).sum(-1) == colour[:, None]
        # A uniform particle per cell: the eligible one with the largest random key.
        n_cells = int(self.cells.prod())
        flat = cell + n_cells * torch.arange(n_conf, device=device)[:, None]
        key = torch.where(eligible, self._uniform(n_conf, n), -1.0)
        best = torch.full((n_conf * n_cells,), -1.0, dtype=key.dtype, device=device)
        best = best.scatter_reduce(0, flat.reshape(-1), key.reshape(-1), "amax")
        winner = eligible & (key == best[flat])
        chosen = torch.full((n_conf * n_cells,), n, dtype=torch.long, device=device)
        chosen[flat[winner]] = torch.arange(n, device=device).expand(n_conf, n)[winner]
        index = chosen.reshape(n_conf, n_cells).gather(1, self._colour_cells[colour])  # (B, K)
        valid = index < n
        index = torch.where(valid, index, 0)
        rows = torch.arange(n_conf, device=device)[:, None]
        species = self.types[rows, index]
        old = self.x[rows, index]
        new = self._displace(old, species)
        inside = (cell_coords(new) == coords[rows, index]).all(-1)
        near = getattr(self.target, "energy_change_moves_near", None)
        if near is None:
            delta = self.target.energy_change_moves(self.x, self._t(), index, new)
        else:
            delta = near(self.x, self._t(), index, new, self._neighbours(flat, self._colour_cells[colour]))
        delta = delta.to(self.x.dtype)
        ok = valid & inside & self._accept(delta)
        self.x[rows.expand_as(index)[ok], index[ok]] = new[ok]
        self.energy = self.energy + torch.where(ok, delta, 0.0).sum(1)
        self._count_moves(species[valid], ok[valid])
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

    def attempt_swap(self) -> torch.Tensor:
        """One swap attempt in every chain; returns the (B,) accepted mask."""
        n_conf = self.x.shape[0]
        pair = torch.multinomial(self._pair_ok, 1, generator=self.generator)[:, 0]
        table = torch.tensor(self.swap_pairs, device=self.x.device)
        a, b = table[pair, 0], table[pair, 1]
        pick = lambda s: torch.multinomial((self.types == s[:, None]).to(self.x.dtype), 1,
                                           generator=self.generator)[:, 0]
        i, j = pick(a), pick(b)
        delta = self.target.energy_change_swap(self.x, self.types, i, j).to(self.x.dtype)
        ok = self._accept(delta)
        new_types = swapped(self.types, i, j)
        self.types = torch.where(ok[:, None], new_types, self.types)
        self.energy = torch.where(ok, self.energy + delta, self.energy)
        self.swap_tried += torch.bincount(pair.cpu(), minlength=len(self.swap_pairs))
        self.swap_accepted += torch.bincount(pair[ok].cpu(), minlength=len(self.swap_pairs))
        self.n_evaluations += 2 * n_conf
        return ok

    def sweep(self, n_sweeps: int = 1, *, adapt: bool = False) -> None:
        """``n_sweeps`` sweeps of N attempted moves per chain; with ``adapt`` the step sizes are tuned after each."""
        n = self.x.shape[1]
        per_update = self._colour_cells.shape[1] if self.update == "checkerboard" else 1
        for _ in range(int(n_sweeps)):
            start = time.perf_counter()
            tried, accepted = self.move_tried.clone(), self.move_accepted.clone()
            done = 0
            if self._compiled is not None:
                self._sweep_compiled()
                done = n
            while done < n:
                if self.p_swap > 0 and float(self._uniform(1)) < self.p_swap:
                    self.attempt_swap()
                    done += 1
                elif per_update > 1:
                    self.attempt_checkerboard()
                    done += per_update
                else:
                    self.attempt_move()
                    done += 1
            self.n_attempts_total += n
            if adapt:
                self._adapt(self.move_tried - tried, self.move_accepted - accepted)
            self.seconds += time.perf_counter() - start

    def _sweep_compiled(self) -> None:
        """One sweep of every chain in numba, from a seed drawn from the sampler's generator."""
        seed = int(torch.randint(2**63 - 1, (1,), generator=self.generator))
        self.x, self.types, self.energy = self.x.contiguous(), self.types.contiguous(), self.energy.contiguous()
        moves = np.zeros((2, self.n_types), dtype=np.int64)
        swaps = np.zeros((2, len(self.swap_pairs)), dtype=np.int64)
        self._compiled.sweep(self.x.numpy(), self.types.numpy(), self.energy.numpy(), self.step.numpy(), self.beta,
                             self.p_swap, self.swap_pairs, self.x.shape[1], seed, moves, swaps)
        self.move_tried += torch.from_numpy(moves[0])
        self.move_accepted += torch.from_numpy(moves[1])
        if len(self.swap_pairs):
            self.swap_tried += torch.from_numpy(swaps[0])
            self.swap_accepted += torch.from_numpy(swaps[1])
        self.n_evaluations += int(moves[0].sum()) + 2 * int(swaps[0].sum())

    def _adapt(self, tried, accepted) -> None:
        rate = accepted.to(self.step.dtype) / tried.clamp_min(1).to(self.step.dtype)
        factor = torch.ones_like(self.step)
        factor[(tried > 0) & (rate > self.window[1])] = 1.1
        factor[(tried > 0) & (rate < self.window[0])] = 0.9
        self.step = self.step * factor.to(self.step.device)
        if self.box is not None:
            self.step = self.step.clamp(max=float(self.box.min()) / 4)

    def recompute_energy(self) -> None:
        """Total energies from scratch (stops round-off drift of the running sum); costs N evaluations per chain."""
        self.energy = self.target.energy(self.x, self._t()).to(self.x.dtype)
        self.n_evaluations += self.x.shape[0] * self.x.shape[1]

    def start_production(self, new_reference: bool = True) -> None:
        """Reset the acceptance counters and (if asked, or if there is none) take the current configuration as the
        reference of the overlap."""
        self.reset_counters()
        if new_reference or self.reference is None:
            self.reference = (self.x.clone(), self.types.clone())

    def observe(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Energies (B,) and, if recorded, overlaps (B, n_types) of the current state, as float64 arrays."""
        energy = self.energy.detach().to(torch.float64).cpu().numpy().copy()
        if not self.record_overlap:
            return energy, None
        q = overlap(*self.reference, self.x, self.types, self.box, self.n_types, OVERLAP_RADIUS)
        return energy, q.to(torch.float64).cpu().numpy()

    def record_sweep(self, sweep: int, every: int, recompute_every: int, energies: list, overlaps: list) -> bool:
        """After production sweep number ``sweep``: recompute the energy when due, and append the records (energy,
        overlap) when due; returns whether it recorded."""
        if recompute_every and sweep % recompute_every == 0:
            self.recompute_energy()
        if sweep % every:
            return False
        energy, q = self.observe()
        energies.append(energy)
        if q is not None:
            overlaps.append(q)
        return True

    def result(self, energies, overlaps, samples, seconds, evaluations, every) -> MCResult:
        """An MCResult of records taken by :meth:`observe`; raises if the running energies have drifted from a fresh
        evaluation by more than ``DRIFT_TOLERANCE`` (relative, float64; 1e-4 in lower precision)."""
        fresh = self.target.energy(self.x, self._t()).to(self.energy)
        drift = float(((self.energy - fresh).abs() / fresh.abs().clamp_min(1.0)).max())
        tolerance = DRIFT_TOLERANCE if self.energy.dtype == torch.float64 else 1e-4
        if not drift <= tolerance:
            raise RuntimeError(f"the running energy drifted from a fresh evaluation by {drift:.3g} (relative), more "
                               f"than {tolerance:g}: the energy changes of the {self.engine} engine are wrong.")
        counts = torch.bincount(self.types[0].cpu(), minlength=self.n_types).numpy()
        n_conf = self.x.shape[0]
        return MCResult(
            energies=np.stack(energies, 1) if energies else np.zeros((n_conf, 0)), samples=samples,
            seconds=seconds, evaluations=evaluations, every=every,
            overlap=np.stack(overlaps, 1) if overlaps else np.zeros((n_conf, 0, self.n_types)),
            q_random=random_overlap(counts, self.box, OVERLAP_RADIUS), fractions=counts / counts.sum(),
            energy_drift=drift)

    def run(self, n_sweeps: int, *, burn_in: int = 0, every: int = 1, keep_samples: bool = False,
            recompute_every: int = 0, callback: Callable[[int], object] | None = None) -> MCResult:
        """Burn in (adapting steps), then ``n_sweeps`` production sweeps with steps frozen, recording the energy
        and the overlap every ``every`` sweeps.

        Acceptance counters are reset at the start of production; the overlap reference is the configuration at
        the start of production, kept from an earlier run when ``burn_in`` is 0 (so that a resumed run continues
        the same records). ``recompute_every`` > 0 recomputes the energy from scratch that often (sweeps).
        ``callback(s)`` is called after production sweep s, e.g. to show progress.
        """
        if int(n_sweeps) < 0 or int(burn_in) < 0 or int(every) < 1 or int(recompute_every) < 0:
            raise SamplerInputError("n_sweeps, burn_in and recompute_every must be >= 0 and every >= 1; got "
                                    f"{n_sweeps}, {burn_in}, {recompute_every}, {every}.")
        self.sweep(int(burn_in), adapt=True)
        self.start_production(new_reference=int(burn_in) > 0)
        seconds, evaluations = self.seconds, self.n_evaluations
        energies, overlaps, samples = [], [], []
        for s in range(1, int(n_sweeps) + 1):
            self.sweep(1)
            if self.record_sweep(s, every, recompute_every, energies, overlaps) and keep_samples:
                samples.append((self.x.clone(), self.types.clone()))
            if callback is not None:
                callback(s)
        return self.result(energies, overlaps, samples, self.seconds - seconds, self.n_evaluations - evaluations,
                           int(every))

    def state_dict(self) -> dict:
        """Everything the chain's future depends on, plus the cumulative counters (tensors cloned)."""
        state = {name: getattr(self, name).clone() for name in
                 ("x", "types", "energy", "step", "move_tried", "move_accepted", "swap_tried", "swap_accepted")}
        state.update(generator=self.generator.get_state(), n_attempts_total=self.n_attempts_total,
                     n_evaluations=self.n_evaluations, seconds=self.seconds,
                     reference=None if self.reference is None else tuple(t.clone() for t in self.reference))
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of a sampler built with the same target, shapes and settings."""
        if tuple(state["x"].shape) != tuple(self.x.shape):
            raise SamplerInputError(f"the saved chains have shape {tuple(state['x'].shape)} but this sampler holds "
                                    f"{tuple(self.x.shape)}; build it with the same positions shape.")
        for name in ("x", "types", "energy", "step", "move_tried", "move_accepted", "swap_tried", "swap_accepted"):
            setattr(self, name, state[name].clone().to(getattr(self, name).device))
        self.generator.set_state(state["generator"])
        self.n_attempts_total, self.n_evaluations = state["n_attempts_total"], state["n_evaluations"]
        self.seconds = state["seconds"]
        self.reference = None if state["reference"] is None else tuple(t.clone() for t in state["reference"])
