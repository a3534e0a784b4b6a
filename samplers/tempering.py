"""Parallel tempering (replica exchange): K temperatures x B chains, each temperature advanced by MetropolisMC.

Every ``exchange_every`` sweeps, chain b at temperature k and chain b at temperature k + 1 exchange configurations
with probability min(1, exp((beta_k - beta_{k+1}) (U_k - U_{k+1}))), which keeps the product of the K Boltzmann
densities invariant (the exchange proposal is symmetric and this ratio is the ratio of the products). Even pairs
(0-1, 2-3, ...) and odd pairs (1-2, 3-4, ...) take turns, so the pairs attempted at once are disjoint. Each
temperature keeps its own step sizes (adapted in burn-in only), generator and overlap reference: the overlap of a
temperature measures how far the configuration now held at that temperature is from the one held at the start of
production, so exchanges count as decorrelation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from samplers.mc import MCResult, MetropolisMC
from samplers.target import SamplerInputError


@dataclass
class TemperingResult:
    """Production records of :meth:`ParallelTempering.run`.

    temperatures : (K,) the ladder.
    results : one :class:`samplers.mc.MCResult` per temperature (energies (B, S), overlaps, evaluations).
    exchange_acceptance : (K - 1,) acceptance of exchanges between temperatures k and k + 1 in production.
    seconds : wall time of production, all temperatures and exchanges together.
    """

    temperatures: np.ndarray
    results: list
    exchange_acceptance: np.ndarray
    seconds: float

    @property
    def energies(self) -> list:
        """Energies (B, S) per temperature."""
        return [r.energies for r in self.results]


class ParallelTempering:
    """Replica exchange over a strictly increasing temperature ladder.

    Parameters
    ----------
    target : Target
    positions : Tensor (B, N, d) or (K, B, N, d)
        Start of the B chains, the same at every temperature or one per temperature.
    types : Tensor (N,) or (B, N) or None
        Species, as for :class:`samplers.mc.MetropolisMC` (the same at every temperature).
    temperatures : sequence of float
        K >= 1 strictly increasing positive temperatures.
    exchange_every : int
        Sweeps between exchange attempts.
    seed : int
        Seeds the K samplers (seed * 1000003 + k) and the exchange generator.
    **mc_options
        Passed on to every MetropolisMC (step, p_swap, swap_pairs, update, cells, acceptance_window,
        record_overlap).
    """

    def __init__(self, target, positions, types=None, *, temperatures, exchange_every: int = 1, seed: int = 0,
                 **mc_options):
        ladder = np.asarray(temperatures, dtype=np.float64).reshape(-1)
        if ladder.size < 1 or not np.all(np.isfinite(ladder)) or not np.all(ladder > 0):
            raise SamplerInputError(f"temperatures must be positive finite numbers; got {list(temperatures)}.")
        if not np.all(np.diff(ladder) > 0):
            raise SamplerInputError(f"temperatures must be strictly increasing; got {ladder.tolist()}. Sort them.")
        if int(exchange_every) < 1:
            raise SamplerInputError(f"exchange_every must be >= 1 sweep; got {exchange_every}.")
        x = torch.as_tensor(positions)
        starts = x if x.ndim == 4 else [x] * ladder.size
        if len(starts) != ladder.size:
            raise SamplerInputError(f"positions of shape {tuple(x.shape)} hold {len(starts)} temperatures but the "
                                    f"ladder has {ladder.size}; pass (B, N, d) or ({ladder.size}, B, N, d).")
        self.temperatures, self.exchange_every = ladder, int(exchange_every)
        self.chains = [MetropolisMC(target, start, types, temperature=float(t), seed=int(seed) * 1000003 + k,
                                    **mc_options) for k, (t, start) in enumerate(zip(ladder, starts))]
        self.generator = torch.Generator().manual_seed(int(seed) * 1000003 + ladder.size)
        self.n_sweeps_total = 0
        self.n_exchanges = 0
        self.reset_counters()

    def reset_counters(self) -> None:
        """Zero the exchange counters (per neighbouring pair)."""
        self.exchange_tried = np.zeros(max(self.temperatures.size - 1, 0), dtype=np.int64)
        self.exchange_accepted = np.zeros_like(self.exchange_tried)

    @property
    def exchange_acceptance(self) -> np.ndarray:
        """Exchange acceptance per neighbouring pair (k, k + 1) since the last reset (NaN if never tried)."""
        return np.where(self.exchange_tried > 0, self.exchange_accepted / np.maximum(self.exchange_tried, 1), np.nan)

    def exchange(self) -> None:
        """One round of exchange attempts between the even or the odd neighbouring pairs, in turn."""
        for k in range(self.n_exchanges % 2, self.temperatures.size - 1, 2):
            low, high = self.chains[k], self.chains[k + 1]
            log_ratio = (low.beta - high.beta) * (low.energy - high.energy)
            u = torch.rand(log_ratio.shape, generator=self.generator, dtype=torch.float64)
            ok = (torch.log(u) < log_ratio.to(torch.float64).cpu()).to(low.x.device)
            for name in ("x", "types", "energy"):
                a, b = getattr(low, name), getattr(high, name)
                mask = ok.reshape(-1, *([1] * (a.ndim - 1)))
                setattr(low, name, torch.where(mask, b, a))
                setattr(high, name, torch.where(mask, a, b))
            self.exchange_tried[k] += ok.numel()
            self.exchange_accepted[k] += int(ok.sum())
        self.n_exchanges += 1

    def sweep(self, n_sweeps: int = 1, *, adapt: bool = False) -> None:
        """Sweep every temperature once per sweep, exchanging every ``exchange_every`` sweeps."""
        for _ in range(int(n_sweeps)):
            for mc in self.chains:
                mc.sweep(1, adapt=adapt)
            self.n_sweeps_total += 1
            if self.n_sweeps_total % self.exchange_every == 0:
                self.exchange()

    def run(self, n_sweeps: int, *, burn_in: int = 0, every: int = 1, recompute_every: int = 0,
            callback: Callable[[int], object] | None = None) -> TemperingResult:
        """Burn in (steps adapted), then ``n_sweeps`` production sweeps recording every ``every`` sweeps, as
        :meth:`samplers.mc.MetropolisMC.run` does per temperature (``callback(s)`` after production sweep s)."""
        import time

        if int(n_sweeps) < 0 or int(burn_in) < 0 or int(every) < 1 or int(recompute_every) < 0:
            raise SamplerInputError("n_sweeps, burn_in and recompute_every must be >= 0 and every >= 1; got "
                                    f"{n_sweeps}, {burn_in}, {recompute_every}, {every}.")
        self.sweep(int(burn_in), adapt=True)
        self.reset_counters()
        for mc in self.chains:
            mc.start_production(new_reference=int(burn_in) > 0)
        start = time.perf_counter()
        marks = [(mc.seconds, mc.n_evaluations) for mc in self.chains]
        records = [([], []) for _ in self.chains]
        for s in range(1, int(n_sweeps) + 1):
            self.sweep(1)
            for mc, (energies, overlaps) in zip(self.chains, records):
                mc.record_sweep(s, every, recompute_every, energies, overlaps)
            if callback is not None:
                callback(s)
        results: list[MCResult] = [
            mc.result(energies, overlaps, [], mc.seconds - t0, mc.n_evaluations - e0, int(every))
            for mc, (energies, overlaps), (t0, e0) in zip(self.chains, records, marks)]
        return TemperingResult(self.temperatures.copy(), results, self.exchange_acceptance,
                               time.perf_counter() - start)

    def state_dict(self) -> dict:
        """The state of every temperature's sampler, the exchange generator and the counters."""
        return {"chains": [mc.state_dict() for mc in self.chains], "generator": self.generator.get_state(),
                "n_sweeps_total": self.n_sweeps_total, "n_exchanges": self.n_exchanges,
                "exchange_tried": self.exchange_tried.copy(), "exchange_accepted": self.exchange_accepted.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of a sampler built with the same ladder and shapes."""
        if len(state["chains"]) != len(self.chains):
            raise SamplerInputError(f"the saved state has {len(state['chains'])} temperatures but this ladder has "
                                    f"{len(self.chains)}; build the sampler with the saved ladder.")
        for mc, chain in zip(self.chains, state["chains"]):
            mc.load_state_dict(chain)
        self.generator.set_state(state["generator"])
        self.n_sweeps_total, self.n_exchanges = state["n_sweeps_total"], state["n_exchanges"]
        self.exchange_tried = state["exchange_tried"].copy()
        self.exchange_accepted = state["exchange_accepted"].copy()
