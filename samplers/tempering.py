"""Parallel tempering (replica exchange): K temperatures x B chains, one driver per temperature.

Each temperature is a :class:`samplers.mc.MetropolisMC` with its own generator, kernels, step sizes (adapted in
burn-in only) and overlap reference; every ``exchange_every`` sweeps the :class:`samplers.kernels.Exchange` kernel
swaps configurations between neighbouring temperatures (its docstring argues detailed balance). The run loop,
records and drift checks are the driver's (:func:`samplers.driver.produce` runs the K drivers as one group), so
tempering is only the ladder and its exchanges. The overlap of a temperature measures how far the configuration now
held at that temperature is from the one held at the start of production, so exchanges count as decorrelation.

:class:`Replicas` follows each configuration (replica) along the ladder and counts its round trips, lowest rung to
highest and back: exchange acceptances can all look healthy while no replica ever crosses the ladder, and then the
high temperatures decorrelate nothing at the low ones.

Time: like a :class:`samplers.driver.Driver`, the ladder counts in ``seconds`` only its sampling (the sweeps of every
rung and the exchanges), not the records a run takes, so that the cost per attempted move compares fairly with
single-temperature samplers, whose records are not charged either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from samplers.driver import produce
from samplers.kernels import Exchange
from samplers.mc import MetropolisMC
from samplers.target import SamplerInputError


@dataclass
class TemperingResult:
    """Production records of :meth:`ParallelTempering.run`.

    temperatures : (K,) the ladder.
    results : one :class:`samplers.driver.MCResult` per temperature (energies (B, S), overlaps, evaluations).
    exchange_acceptance : (K - 1,) acceptance of exchanges between temperatures k and k + 1 in production.
    seconds : sampling time of production, all temperatures and exchanges together (records not counted).
    round_trips : replicas' round trips (lowest rung to highest and back) completed in production, over all chains.
    round_trip_rounds : mean exchange rounds per completed round trip; None when none completed.
    """

    temperatures: np.ndarray
    results: list
    exchange_acceptance: np.ndarray
    seconds: float
    round_trips: int = 0
    round_trip_rounds: float | None = None

    @property
    def energies(self) -> list:
        """Energies (B, S) per temperature."""
        return [r.energies for r in self.results]


class Replicas:
    """Which replica (configuration) each rung holds, and the round trips the replicas complete.

    Chain b of a rung exchanges only with chain b of its neighbours, so each column b of the ladder holds its own K
    replicas; replica r starts at rung r and moves one rung at each exchange it takes part in. A round trip is a
    replica going from the lowest rung to the highest and back. It is timed in exchange rounds from the replica's
    arrival at the lowest rung (the end of its previous trip, or its first arrival) to its return there after a visit
    of the highest, so that consecutive trips tile the replica's history. A one-rung ladder has no trips.

    Parameters
    ----------
    rungs : int
        K.
    chains : int
        B, the columns.
    """

    def __init__(self, rungs: int, chains: int):
        self.at = np.tile(np.arange(int(rungs))[:, None], (1, int(chains)))  # (K, B): replica at rung k, column b
        self.since = np.where(self.at == 0, 0, -1)  # (K, B) per replica: round of its arrival at the bottom, or -1
        self.topped = np.zeros(self.at.shape, dtype=bool)  # (K, B) per replica: reached the top since then
        self.rounds = 0
        self.completed, self.trip_rounds = 0, 0

    @property
    def rung(self) -> np.ndarray:
        """(K, B) the rung that replica r of column b is at."""
        return np.argsort(self.at, axis=0)

    @property
    def mean_trip_rounds(self) -> float | None:
        """Mean exchange rounds per round trip completed since the last reset; None when none was."""
        return self.trip_rounds / self.completed if self.completed else None

    def update(self, accepted) -> None:
        """Move the replicas by one round's accepted exchanges, a (K - 1, B) mask of the chains that exchanged
        between rungs k and k + 1 (as :meth:`samplers.kernels.Exchange.attempt` returns), and count the trips that
        end."""
        ok = np.asarray(accepted, dtype=bool)
        for k in np.flatnonzero(ok.any(1)):  # the pairs of one round are disjoint: any order gives the same moves
            moved = ok[k]
            self.at[k, moved], self.at[k + 1, moved] = self.at[k + 1, moved], self.at[k, moved].copy()
        self.rounds += 1
        if len(self.at) < 2:
            return
        columns = np.arange(self.at.shape[1])
        top, bottom = self.at[-1], self.at[0]
        self.topped[top, columns] |= self.since[top, columns] >= 0
        back = self.topped[bottom, columns]
        self.completed += int(back.sum())
        self.trip_rounds += int((self.rounds - self.since[bottom, columns])[back].sum())
        arrived = back | (self.since[bottom, columns] < 0)
        self.since[bottom[arrived], columns[arrived]] = self.rounds
        self.topped[bottom, columns] = False

    def reset_counts(self) -> None:
        """Zero the completed trips (the replicas keep their places and their trips in progress)."""
        self.completed, self.trip_rounds = 0, 0

    def state_dict(self) -> dict:
        return {"at": self.at.copy(), "since": self.since.copy(), "topped": self.topped.copy(), "rounds": self.rounds,
                "completed": self.completed, "trip_rounds": self.trip_rounds}

    def load_state_dict(self, state: dict) -> None:
        self.at, self.since, self.topped = (state[k].copy() for k in ("at", "since", "topped"))
        self.rounds, self.completed, self.trip_rounds = state["rounds"], state["completed"], state["trip_rounds"]


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
        Seeds the K samplers (seed * 1000003 + k) and the exchange generator (seed * 1000003 + K).
    **mc_options
        Passed on to every MetropolisMC (step, p_swap, swap_pairs, update, cells, acceptance_window,
        record_overlap, engine).
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
        self.exchanges = Exchange(ladder.size, int(seed) * 1000003 + ladder.size)
        self.replicas = Replicas(ladder.size, self.chains[0].state.shape[0])
        self.n_sweeps_total = 0
        self.seconds = 0.0

    @property
    def members(self) -> list[MetropolisMC]:
        """The drivers a run records, one per temperature."""
        return self.chains

    @property
    def generator(self):
        """The exchange generator."""
        return self.exchanges.generator

    @property
    def n_exchanges(self) -> int:
        """Exchange rounds so far (their parity picks the even or the odd pairs)."""
        return self.exchanges.rounds

    @n_exchanges.setter
    def n_exchanges(self, value: int) -> None:
        self.exchanges.rounds = int(value)

    @property
    def exchange_tried(self) -> np.ndarray:
        """Exchanges tried per neighbouring pair (k, k + 1) since the last reset (a view: in-place updates count)."""
        return self.exchanges.counts["exchange"][0].numpy()

    @property
    def exchange_accepted(self) -> np.ndarray:
        """Exchanges accepted per neighbouring pair since the last reset (a view)."""
        return self.exchanges.counts["exchange"][1].numpy()

    @property
    def exchange_acceptance(self) -> np.ndarray:
        """Exchange acceptance per neighbouring pair (k, k + 1) since the last reset (NaN if never tried)."""
        tried = self.exchange_tried
        return np.where(tried > 0, self.exchange_accepted / np.maximum(tried, 1), np.nan)

    def reset_counters(self) -> None:
        """Zero the exchange counters and the completed round trips."""
        self.exchanges.reset_counts()
        self.replicas.reset_counts()

    def exchange(self) -> torch.Tensor:
        """One round of exchange attempts between the even or the odd neighbouring pairs, in turn, followed by
        :attr:`replicas`; returns the (K - 1, B) mask of accepted exchanges."""
        accepted = self.exchanges.attempt([mc.state for mc in self.chains])
        self.replicas.update(accepted)
        return accepted

    def sweep(self, n_sweeps: int = 1, *, adapt: bool = False) -> None:
        """Sweep every temperature once per sweep, exchanging every ``exchange_every`` sweeps."""
        for _ in range(int(n_sweeps)):
            start = time.perf_counter()
            for mc in self.chains:
                mc.sweep(1, adapt=adapt)
            self.n_sweeps_total += 1
            if self.n_sweeps_total % self.exchange_every == 0:
                self.exchange()
            self.seconds += time.perf_counter() - start

    def start_production(self, new_reference: bool = True) -> None:
        """Reset the exchange counters and start production at every temperature."""
        self.reset_counters()
        for mc in self.chains:
            mc.start_production(new_reference)

    def run(self, n_sweeps: int, **options) -> TemperingResult:
        """Burn in, then ``n_sweeps`` production sweeps, recording every temperature as
        :meth:`samplers.driver.Driver.run` does (same options)."""
        results, seconds = produce(self, n_sweeps, **options)
        return TemperingResult(self.temperatures.copy(), results, self.exchange_acceptance, seconds,
                               self.replicas.completed, self.replicas.mean_trip_rounds)

    def state_dict(self) -> dict:
        """The state of every temperature's driver, of the exchange kernel and of the replicas, the sweep count and
        the sampling time."""
        return {"chains": [mc.state_dict() for mc in self.chains], "exchange": self.exchanges.state_dict(),
                "replicas": self.replicas.state_dict(), "n_sweeps_total": self.n_sweeps_total,
                "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of a sampler built with the same ladder and shapes."""
        if len(state["chains"]) != len(self.chains):
            raise SamplerInputError(f"the saved state has {len(state['chains'])} temperatures but this ladder has "
                                    f"{len(self.chains)}; build the sampler with the saved ladder.")
        for mc, chain in zip(self.chains, state["chains"]):
            mc.load_state_dict(chain)
        self.exchanges.load_state_dict(state["exchange"])
        self.replicas.load_state_dict(state["replicas"])
        self.n_sweeps_total, self.seconds = state["n_sweeps_total"], state["seconds"]
