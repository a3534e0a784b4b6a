"""The Monte Carlo driver: B chains, a mixture of kernels, sweeps, burn-in, records, time and exact resume.

In the manner of an atooms simulation, the driver runs a backend (here: kernels of :mod:`samplers.kernels`, each a
small class behind one protocol) for a number of sweeps and records on a schedule; what is the same for every move
lives here once, so that a new move (a flow proposal, say) is one new kernel file and no change to the driver.

Sweeps: a sweep is N attempted moves per chain. Each call of a kernel counts for its ``attempts`` (1 for a single
move, K for a checkerboard update, N for a compiled sweep); before each call one uniform number (shared by all
chains, so that the batch stays one vectorised call) picks the kernel by the mixture's probabilities, unless the
mixture has a single kernel. The choice is independent of the state, so the sweep is a mixture of kernels that each
keep the target density, and keeps it too.

Burn-in: ``run(..., burn_in=...)`` or ``sweep(adapt=True)`` hands each kernel that defines ``adapt(counts)`` its
tried and accepted counts of the sweep just done (step sizes, see :class:`samplers.kernels.Displacement`); production
never adapts, so it is an exact Markov chain with a fixed kernel.

Records (:meth:`Driver.run`): every ``every`` production sweeps the energy of each chain and, if asked, the
label-invariant species overlap with the configuration at the start of production; the result also holds the
production seconds and energy evaluations (``n_evaluations`` counts single-particle energy changes summed over
chains: a displacement = 1, a swap = 2, a full recomputation = N per chain). ``recompute_every`` replaces the
running energies by fresh ones that often, and every result compares them with a fresh ``target.energy``: the
relative difference is ``MCResult.energy_drift``, and one above ``DRIFT_TOLERANCE`` raises, so that a wrong energy
change of any kernel cannot pass unnoticed. ``budget_seconds`` ends production after that much wall time.

Checkpoints: :meth:`Driver.state_dict` holds the chains (positions, species, energies, generator), every kernel's
state (step sizes, counters, its own generator if any), the cumulative counters and the overlap reference, so that
``run(a)``, save, load into a fresh driver, ``run(b)`` gives the chain of ``run(a + b)`` bit for bit.

Several drivers can also run as one (the rungs of :class:`samplers.tempering.ParallelTempering`): the run loop
(:func:`produce`) takes any group with ``members``, ``sweep``, ``start_production``, ``seconds`` (its sampling time so
far) and ``state_dict``/``load_state_dict``, so tempering has no loop of its own.

A production in progress is a :class:`Production` (its records, its sweeps done); one kept between runs and saved
with the group's state resumes where it stopped, which is how ``glassgen sample --checkpoint`` survives being killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from samplers.diagnostics import (
    decorrelation_time,
    efficiency,
    integrated_autocorrelation_time,
    OverlapReference,
    random_overlap,
    standard_error,
)
from samplers.kernels.base import Kernel
from samplers.target import SamplerInputError

#: Largest difference between running and recomputed energies, relative to max(|E|, 1), that a float64 run accepts.
DRIFT_TOLERANCE = 1e-9

#: Radius a of the overlap Q(t) (REFERENCE.md section 2).
OVERLAP_RADIUS = 0.3


@dataclass
class MCResult:
    """What :meth:`Driver.run` records every ``every`` sweeps after burn-in.

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


def build_kernels(state, mix: Sequence[tuple[type, float]], options: dict) -> list[tuple[Kernel, float]]:
    """Kernels of ``mix`` ((kernel class, probability) pairs) built on ``state``, each given the ``options`` it
    declares in ``options`` (a class attribute); an option that no kernel of the mix takes is refused, never
    dropped."""
    unused = sorted(set(options) - set().union(*(kind.options for kind, _ in mix)))
    if unused:
        names = ", ".join(kind.name for kind, _ in mix)
        raise SamplerInputError(f"{', '.join(unused)} applies to none of the kernels of this sampler ({names}); "
                                "drop it or choose kernels that take it.")
    return [(kind(state, **{k: v for k, v in options.items() if k in kind.options}), p) for kind, p in mix]


class Driver:
    """B chains advanced by a fixed mixture of kernels; see the module docstring.

    Parameters
    ----------
    state : samplers.state.ChainState
        The chains (positions, species, energies, generator, temperature).
    kernels : sequence of (Kernel, float)
        The kernels and the probabilities with which an attempt uses each (non-negative, summing to 1).
    record_overlap : bool
        Record the overlap with the start of production in :meth:`run` (O(N) per chain and record).
    """

    def __init__(self, state, kernels: Sequence[tuple[Kernel, float]], *, record_overlap: bool = True):
        kernels = list(kernels)
        weights = np.array([float(p) for _, p in kernels])
        if not kernels or not np.all(weights >= 0) or abs(weights.sum() - 1.0) > 1e-12:
            raise SamplerInputError(f"a driver needs kernels with probabilities >= 0 that sum to 1; got "
                                    f"{[(getattr(k, 'name', k), p) for k, p in kernels]}.")
        for kernel, _ in kernels:
            if not isinstance(kernel, Kernel):
                raise SamplerInputError(f"{kernel!r} is not a kernel: it needs name, options, attempts, counts, "
                                        "attempt(state), state_dict() and load_state_dict() (samplers.kernels).")
        self.state, self.record_overlap = state, bool(record_overlap)
        self.kernels = [k for k, _ in kernels]
        self.probabilities = weights
        self._edges = np.cumsum(weights)[:-1].tolist()
        self.n_attempts_total = 0
        self.seconds = 0.0
        self.reference = None
        self._overlap = None  # OverlapReference of self.reference, built at the first record against it

    def __repr__(self) -> str:
        n_conf, n, dim = self.state.shape
        mix = ", ".join(f"{k.name} {p:g}" for k, p in zip(self.kernels, self.probabilities))
        return (f"{type(self).__name__}({n_conf} chains x {n} particles in {dim}D at T = {self.state.temperature:g}"
                f" | {mix})")

    # -- the chains and the kernels -------------------------------------------------------------------------------
    x = property(lambda self: self.state.x, lambda self, v: setattr(self.state, "x", v), doc="Positions (B, N, d).")
    types = property(lambda self: self.state.types, lambda self, v: setattr(self.state, "types", v),
                     doc="Species (B, N).")
    energy = property(lambda self: self.state.energy, lambda self, v: setattr(self.state, "energy", v),
                      doc="Running total energies (B,).")
    n_evaluations = property(lambda self: self.state.n_evaluations, doc="Energy evaluations so far (cumulative).")
    beta = property(lambda self: self.state.beta, doc="1 / T.")
    box = property(lambda self: self.state.box, doc="Periodic box edges (d,) or None.")
    target = property(lambda self: self.state.target, doc="The sampled Target.")

    @property
    def engine(self) -> str:
        """"compiled" when a kernel runs compiled sweeps, else "torch"."""
        return "compiled" if any(getattr(k, "engine", "torch") == "compiled" for k in self.kernels) else "torch"

    @property
    def step(self) -> torch.Tensor | None:
        """Displacement scales per species of the first kernel that has them (None if none has)."""
        return next((k.step for k in self.kernels if hasattr(k, "step")), None)

    def kernel(self, name: str) -> Kernel:
        """The kernel of this name."""
        for k in self.kernels:
            if k.name == name:
                return k
        raise SamplerInputError(f"this driver has no {name!r} kernel; it has {[k.name for k in self.kernels]}.")

    def counts(self, kind: str) -> torch.Tensor:
        """Tried and accepted attempts (2, G) of a kind ("move", "swap", ...) since the last reset, summed over
        kernels; (2, 0) when no kernel counts that kind."""
        tables = [k.counts[kind] for k in self.kernels if kind in k.counts]
        return sum(tables[1:], tables[0].clone()) if tables else torch.zeros(2, 0, dtype=torch.int64)

    move_tried = property(lambda self: self.counts("move")[0], doc="Displacements tried per species.")
    move_accepted = property(lambda self: self.counts("move")[1], doc="Displacements accepted per species.")
    swap_tried = property(lambda self: self.counts("swap")[0], doc="Swaps tried per pair.")
    swap_accepted = property(lambda self: self.counts("swap")[1], doc="Swaps accepted per pair.")

    @property
    def acceptance(self) -> np.ndarray:
        """Displacement acceptance per species since the last counter reset (NaN for species never tried)."""
        tried, accepted = self.counts("move")
        return (accepted / tried.clamp_min(1)).numpy().astype(float) + np.where(tried.numpy() == 0, np.nan, 0.0)

    @property
    def swap_acceptance(self) -> np.ndarray:
        """Swap acceptance per allowed pair since the last counter reset."""
        tried, accepted = self.counts("swap")
        return (accepted / tried.clamp_min(1)).numpy().astype(float)

    def reset_counters(self) -> None:
        """Zero every kernel's counts."""
        for kernel in self.kernels:
            kernel.reset_counts()

    # -- sweeps ---------------------------------------------------------------------------------------------------
    def _choose(self) -> Kernel:
        if len(self.kernels) == 1:
            return self.kernels[0]
        u = float(self.state.uniform(1))
        return next((k for k, edge in zip(self.kernels, self._edges) if u < edge), self.kernels[-1])

    def sweep(self, n_sweeps: int = 1, *, adapt: bool = False) -> None:
        """``n_sweeps`` sweeps of N attempted moves per chain; with ``adapt`` the kernels tune themselves after each."""
        n = self.state.shape[1]
        tuners = [k for k in self.kernels if hasattr(k, "adapt")] if adapt else []
        for _ in range(int(n_sweeps)):
            start = time.perf_counter()
            before = [{kind: t.clone() for kind, t in k.counts.items()} for k in tuners]
            done = 0
            while done < n:
                kernel = self._choose()
                kernel.attempt(self.state)
                done += kernel.attempts
            self.n_attempts_total += n
            for kernel, counts in zip(tuners, before):
                kernel.adapt({kind: kernel.counts[kind] - t for kind, t in counts.items()})
            self.seconds += time.perf_counter() - start

    # -- records --------------------------------------------------------------------------------------------------
    @property
    def members(self) -> list[Driver]:
        """The drivers whose chains a run records: this one (a tempering ladder has one per rung)."""
        return [self]

    def start_production(self, new_reference: bool = True) -> None:
        """Reset the counters and (if asked, or if there is none) take the current configuration as the reference
        of the overlap."""
        self.reset_counters()
        if new_reference or self.reference is None:
            self.reference = (self.state.x.clone(), self.state.types.clone())

    def observe(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Energies (B,) and, if recorded, overlaps (B, n_types) of the current state, as float64 arrays."""
        energy = self.state.energy.detach().to(torch.float64).cpu().numpy().copy()
        if not self.record_overlap:
            return energy, None
        reference, reference_types = self.reference
        if self._overlap is None or self._overlap.reference is not reference:  # a new production or a loaded state
            self._overlap = OverlapReference(reference, reference_types, self.state.box, self.state.n_types,
                                             OVERLAP_RADIUS)
        # drift=True: the structure, not the centre of mass (samplers.diagnostics.without_drift)
        return energy, self._overlap.overlap(self.state.x, self.state.types, drift=True)

    def result(self, energies, overlaps, samples, seconds, evaluations, every) -> MCResult:
        """An MCResult of records taken by :meth:`observe`; raises if the running energies have drifted from a fresh
        evaluation by more than ``DRIFT_TOLERANCE`` (relative, float64; 1e-4 in lower precision)."""
        state = self.state
        fresh = state.fresh_energy()
        drift = float(((state.energy - fresh).abs() / fresh.abs().clamp_min(1.0)).max())
        tolerance = DRIFT_TOLERANCE if state.energy.dtype == torch.float64 else 1e-4
        if not drift <= tolerance:
            raise RuntimeError(f"the running energy drifted from a fresh evaluation by {drift:.3g} (relative), more "
                               f"than {tolerance:g}: the energy changes of the kernels "
                               f"{[k.name for k in self.kernels]} ({self.engine} engine) are wrong.")
        counts = torch.bincount(state.types[0].cpu(), minlength=state.n_types).numpy()
        n_conf = state.shape[0]
        return MCResult(
            energies=np.stack(energies, 1) if energies else np.zeros((n_conf, 0)), samples=samples,
            seconds=seconds, evaluations=evaluations, every=every,
            overlap=np.stack(overlaps, 1) if overlaps else np.zeros((n_conf, 0, state.n_types)),
            q_random=random_overlap(counts, state.box, OVERLAP_RADIUS), fractions=counts / counts.sum(),
            energy_drift=drift)

    def run(self, n_sweeps: int, *, burn_in: int = 0, every: int = 1, keep_samples: bool = False,
            recompute_every: int = 0, callback: Callable[[int], object] | None = None,
            budget_seconds: float | None = None, production: Production | None = None) -> MCResult:
        """Burn in (kernels adapting), then ``n_sweeps`` production sweeps with the kernels fixed, recording the
        energy and the overlap every ``every`` sweeps.

        Counters are reset at the start of production; the overlap reference is the configuration at the start of
        production, kept from an earlier run when ``burn_in`` is 0 (so that a resumed run continues the same
        records). ``recompute_every`` > 0 recomputes the energy from scratch that often (sweeps). ``callback(s)``
        is called after production sweep s, e.g. to show progress. ``budget_seconds`` ends production after the
        first sweep that reaches that much wall time (``n_sweeps`` stays the most). ``production`` continues that
        :class:`Production` of this driver by ``n_sweeps`` instead of starting one; the result holds all its records.
        """
        (result,), _ = produce(self, n_sweeps, burn_in=burn_in, every=every, keep_samples=keep_samples,
                               recompute_every=recompute_every, callback=callback, budget_seconds=budget_seconds,
                               production=production)
        return result

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything the chains' future depends on, plus the cumulative counters (tensors cloned)."""
        return {"chains": self.state.state_dict(), "kernels": [k.state_dict() for k in self.kernels],
                "n_attempts_total": self.n_attempts_total, "seconds": self.seconds,
                "reference": None if self.reference is None else tuple(t.clone() for t in self.reference)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of a driver built with the same target, shapes, kernels and settings."""
        if len(state["kernels"]) != len(self.kernels):
            raise SamplerInputError(f"the saved state has {len(state['kernels'])} kernels but this driver runs "
                                    f"{[k.name for k in self.kernels]}; build it with the saved settings.")
        self.state.load_state_dict(state["chains"])
        for kernel, saved in zip(self.kernels, state["kernels"]):
            kernel.load_state_dict(saved)
        self.n_attempts_total, self.seconds = state["n_attempts_total"], state["seconds"]
        self.reference = None if state["reference"] is None else tuple(t.clone() for t in state["reference"])


class Production:
    """A production in progress of a driver or of a group of drivers run as one (see the module docstring): the
    records taken so far, the sweeps done and the counters its results count from.

    :func:`produce` (every ``run``) makes one after burn-in and ``group.start_production()``, advances it and returns
    its results. Kept by the caller, it can be advanced in parts and checkpointed between them: :meth:`state_dict`
    holds the group's state with the records, so that a production cut short, loaded into a fresh group and advanced
    to its end records what one uninterrupted production records, counters, record and recompute schedules and all.

    Parameters
    ----------
    group : Driver or a group of drivers
    every : int
        Sweeps between records.
    keep_samples : bool
        Also keep the recorded configurations.
    recompute_every : int
        Sweeps between fresh energy evaluations replacing the running ones (0: never).
    """

    def __init__(self, group, *, every: int = 1, keep_samples: bool = False, recompute_every: int = 0):
        if int(every) < 1 or int(recompute_every) < 0:
            raise SamplerInputError(f"every must be >= 1 and recompute_every >= 0; got {every}, {recompute_every}.")
        self.group, self.every, self.keep_samples = group, int(every), bool(keep_samples)
        self.recompute_every = int(recompute_every)
        self.done = 0
        self.marks = [(m.seconds, m.n_evaluations) for m in group.members]
        self.start_seconds = group.seconds
        self.records = [([], [], []) for _ in group.members]

    @property
    def seconds(self) -> float:
        """The group's sampling time in this production (records not counted, as a driver's ``seconds``)."""
        return self.group.seconds - self.start_seconds

    def advance(self, n_sweeps: int, *, callback: Callable[[int], object] | None = None,
                budget_seconds: float | None = None) -> None:
        """``n_sweeps`` more sweeps, recording every ``every``-th sweep of the production and recomputing the energy
        every ``recompute_every``-th; ``callback(s)`` after production sweep s (counted from the production's start);
        ``budget_seconds`` ends after the first sweep that reaches that much wall time."""
        start = time.perf_counter()
        for _ in range(int(n_sweeps)):
            self.group.sweep(1)
            self.done += 1
            s = self.done
            for m, (energies, overlaps, samples) in zip(self.group.members, self.records):
                if self.recompute_every and s % self.recompute_every == 0:
                    m.state.recompute_energy()
                if s % self.every == 0:
                    energy, q = m.observe()
                    energies.append(energy)
                    if q is not None:
                        overlaps.append(q)
                    if self.keep_samples:
                        samples.append((m.x.clone(), m.types.clone()))
            if callback is not None:
                callback(s)
            if budget_seconds is not None and time.perf_counter() - start >= float(budget_seconds):
                break

    def results(self) -> list[MCResult]:
        """One MCResult per member of everything recorded so far (each checks its energy drift now)."""
        return [m.result(*record, m.seconds - t0, m.n_evaluations - e0, self.every)
                for m, record, (t0, e0) in zip(self.group.members, self.records, self.marks)]

    def state_dict(self) -> dict:
        """The group's state, the records, the sweeps done, the marks and the schedule."""
        return {"group": self.group.state_dict(), "done": self.done, "marks": list(self.marks),
                "start_seconds": self.start_seconds, "records": [tuple(list(r) for r in rec) for rec in self.records],
                "schedule": (self.every, self.keep_samples, self.recompute_every)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` into this production and its group (built as the saved one was)."""
        schedule = (self.every, self.keep_samples, self.recompute_every)
        if tuple(state["schedule"]) != schedule:
            raise SamplerInputError(f"the saved production records on the schedule (every, keep_samples, "
                                    f"recompute_every) {tuple(state['schedule'])}, this one on {schedule}; make it "
                                    "with the saved schedule.")
        if len(state["records"]) != len(self.records):
            raise SamplerInputError(f"the saved production records {len(state['records'])} drivers, this group has "
                                    f"{len(self.records)}; build the group with the saved settings.")
        self.group.load_state_dict(state["group"])
        self.done, self.marks, self.start_seconds = state["done"], list(state["marks"]), state["start_seconds"]
        self.records = [tuple(list(r) for r in rec) for rec in state["records"]]


def produce(group, n_sweeps: int, *, burn_in: int = 0, every: int = 1, keep_samples: bool = False,
            recompute_every: int = 0, callback: Callable[[int], object] | None = None,
            budget_seconds: float | None = None, production: Production | None = None) -> tuple[list[MCResult], float]:
    """The run loop of :meth:`Driver.run`, for a driver or a group of drivers advanced together (``group.sweep``)
    and recorded one by one (``group.members``): burn-in, then a :class:`Production` of ``n_sweeps`` sweeps, or
    ``n_sweeps`` more of ``production`` (which keeps its own schedule: pass no burn-in and the same ``every``,
    ``keep_samples`` and ``recompute_every``). Returns one MCResult per member and the production's sampling time."""
    if int(n_sweeps) < 0 or int(burn_in) < 0 or int(every) < 1 or int(recompute_every) < 0:
        raise SamplerInputError("n_sweeps, burn_in and recompute_every must be >= 0 and every >= 1; got "
                                f"{n_sweeps}, {burn_in}, {recompute_every}, {every}.")
    if budget_seconds is not None and not float(budget_seconds) > 0:
        raise SamplerInputError(f"budget_seconds must be positive or None; got {budget_seconds}.")
    if production is None:
        group.sweep(int(burn_in), adapt=True)
        group.start_production(new_reference=int(burn_in) > 0)
        production = Production(group, every=every, keep_samples=keep_samples, recompute_every=recompute_every)
    elif (production.group is not group or int(burn_in)
          or (int(every), bool(keep_samples), int(recompute_every))
          != (production.every, production.keep_samples, production.recompute_every)):
        raise SamplerInputError("a continued production belongs to its own group and keeps its schedule: pass it to "
                                "that group's run with no burn_in and its every, keep_samples and recompute_every.")
    production.advance(n_sweeps, callback=callback, budget_seconds=budget_seconds)
    return production.results(), production.seconds
