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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from samplers.diagnostics import integrated_autocorrelation_time, standard_error
from samplers.target import SamplerInputError, swapped


@dataclass
class MCResult:
    """What :meth:`MetropolisMC.run` records every ``every`` sweeps after burn-in.

    energies : (B, S) float64 array of the total potential energy of each chain.
    samples : list of recorded (positions (B, N, d), types (B, N)) when ``keep_samples``.
    """

    energies: np.ndarray
    samples: list = field(default_factory=list)
    seconds: float = 0.0

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
    """

    def __init__(self, target, positions, types=None, *, temperature: float, step=0.1, p_swap: float = 0.0,
                 swap_pairs=None, seed=0, acceptance_window=(0.3, 0.5)):
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
        n_conf, n, dim = x.shape
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
        self.energy = target.energy(self.x, self._t()).to(x.dtype)
        self.reset_counters()
        self.n_attempts_total = 0

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
        u = self._uniform(delta.shape[0])
        # log u < -beta dU; NaN energy changes (e.g. coinciding particles) are rejected.
        return torch.log(u) < -self.beta * torch.nan_to_num(delta, nan=float("inf"))

    def attempt_move(self) -> torch.Tensor:
        """One displacement attempt in every chain; returns the (B,) accepted mask."""
        n_conf, n, dim = self.x.shape
        rows = torch.arange(n_conf, device=self.x.device)
        index = torch.randint(n, (n_conf,), generator=self.generator, device=self.x.device)
        species = self.types[rows, index]
        half = self.step[species].unsqueeze(-1)
        new = self.x[rows, index] + (2.0 * self._uniform(n_conf, dim) - 1.0) * half
        if self.box is not None:
            new = torch.remainder(new, self.box)
        delta = self.target.energy_change_move(self.x, self._t(), index, new).to(self.x.dtype)
        ok = self._accept(delta)
        self.x[rows[ok], index[ok]] = new[ok]
        self.energy = torch.where(ok, self.energy + delta, self.energy)
        self.move_tried += torch.bincount(species.cpu(), minlength=self.n_types)
        self.move_accepted += torch.bincount(species[ok].cpu(), minlength=self.n_types)
        return ok

    def attempt_swap(self) -> torch.Tensor:
        """One swap attempt in every chain; returns the (B,) accepted mask."""
        n_conf = self.x.shape[0]
        rows = torch.arange(n_conf, device=self.x.device)
        pair = torch.multinomial(self._pair_ok, 1, generator=self.generator)[:, 0]
        table = torch.tensor(self.swap_pairs, device=self.x.device)
        a, b = table[pair, 0], table[pair, 1]
        pick = lambda s: torch.multinomial((self.types == s[:, None]).to(self.x.dtype), 1,  # noqa: E731
                                           generator=self.generator)[:, 0]
        i, j = pick(a), pick(b)
        delta = self.target.energy_change_swap(self.x, self.types, i, j).to(self.x.dtype)
        ok = self._accept(delta)
        new_types = swapped(self.types, i, j)
        self.types = torch.where(ok[:, None], new_types, self.types)
        self.energy = torch.where(ok, self.energy + delta, self.energy)
        self.swap_tried += torch.bincount(pair.cpu(), minlength=len(self.swap_pairs))
        self.swap_accepted += torch.bincount(pair[ok].cpu(), minlength=len(self.swap_pairs))
        return ok

    def sweep(self, n_sweeps: int = 1, *, adapt: bool = False) -> None:
        """``n_sweeps`` sweeps of N attempts each; with ``adapt`` the step sizes are tuned after every sweep."""
        n = self.x.shape[1]
        for _ in range(int(n_sweeps)):
            tried, accepted = self.move_tried.clone(), self.move_accepted.clone()
            for _ in range(n):
                if self.p_swap > 0 and float(self._uniform(1)) < self.p_swap:
                    self.attempt_swap()
                else:
                    self.attempt_move()
            self.n_attempts_total += n
            if adapt:
                self._adapt(self.move_tried - tried, self.move_accepted - accepted)

    def _adapt(self, tried, accepted) -> None:
        rate = accepted.to(self.step.dtype) / tried.clamp_min(1).to(self.step.dtype)
        factor = torch.ones_like(self.step)
        factor[(tried > 0) & (rate > self.window[1])] = 1.1
        factor[(tried > 0) & (rate < self.window[0])] = 0.9
        self.step = self.step * factor.to(self.step.device)
        if self.box is not None:
            self.step = self.step.clamp(max=float(self.box.min()) / 4)

    def run(self, n_sweeps: int, *, burn_in: int = 0, every: int = 1, keep_samples: bool = False,
            recompute_every: int = 0) -> MCResult:
        """Burn in (adapting steps), then ``n_sweeps`` production sweeps with steps frozen, recording the energy.

        Acceptance counters are reset at the start of production. ``recompute_every`` > 0 recomputes the energy
        from scratch that often (sweeps) to stop round-off drift of the running sum.
        """
        import time

        if int(n_sweeps) < 0 or int(burn_in) < 0 or int(every) < 1:
            raise SamplerInputError("n_sweeps and burn_in must be >= 0 and every >= 1.")
        self.sweep(int(burn_in), adapt=True)
        self.reset_counters()
        start = time.perf_counter()
        energies, samples = [], []
        for s in range(1, int(n_sweeps) + 1):
            self.sweep(1)
            if recompute_every and s % recompute_every == 0:
                self.energy = self.target.energy(self.x, self._t()).to(self.x.dtype)
            if s % every == 0:
                energies.append(self.energy.detach().to(torch.float64).cpu().numpy().copy())
                if keep_samples:
                    samples.append((self.x.clone(), self.types.clone()))
        seconds = time.perf_counter() - start
        e = np.stack(energies, 1) if energies else np.zeros((self.x.shape[0], 0))
        return MCResult(e, samples, seconds)
