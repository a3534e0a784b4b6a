"""Equilibrium KA configurations from the generic samplers, run and measured the same way for every algorithm.

`samplers` knows nothing of KA models; this module builds the KA target, starts B chains, runs one sampler by name
(``metropolis``, ``swap``, ``tempering``, ``pgmc``) for a number of sweeps or a wall-clock budget, and reports what
a comparison needs: acceptance, mean energy with an honest error bar, integrated autocorrelation times of the energy
and of the label-invariant overlap, and effective samples per second and per energy evaluation. Set-up work (burn-in,
PGMC training) is timed separately and also charged in ``ess_per_second_with_setup``, so a learned sampler does not
look cheaper than it was.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from glassgen.dynamics.crystallinity import order_checks, order_failures
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.progress import Stage
from glassgen.systems import get_model, random_start
from samplers.diagnostics import energy_stationarity



#: How the chains start when no configurations are given: all random, or the second half quenched to their energy
#: minima first, so that the run approaches equilibrium from above and from below (:func:`start_agreement`).
STARTS = ("random", "random+quenched")

#: Settings that only some samplers use (each SamplerKind lists those it honours); the rest apply to all.
_SAMPLER_OPTIONS = ("update", "engine", "p_swap", "ladder", "rungs", "train_steps", "flow", "p_flow")

#: Samplers that need a trained flow (``glassgen flow train``): reweighted independent samples, independent
#: Metropolis-Hastings with flow proposals, and flow proposals mixed with swap Monte Carlo sweeps.
FLOW_SAMPLERS = ("flow", "flow-mh", "flow-hybrid")


@dataclass(frozen=True)
class SamplerSettings:
    """What to sample and how; every sampler of a comparison gets the same settings but its name.

    ``ladder`` (tempering) defaults to ``rungs`` temperatures geometric from ``temperature`` to
    max(2 temperature, 1.0); ``p_swap`` is the share of swap attempts of the swap sampler (and of tempering, at every
    rung, and PGMC on models with swappable species: elsewhere they run without swaps, and refuse a share other than
    the default and 0); ``train_steps`` are PGMC's policy-gradient steps; ``flow`` is the file of a trained flow
    (the flow samplers need one) and ``p_flow`` the share of flow proposals among the flow-hybrid's kernel calls; ``update`` is ``"auto"`` (checkerboard
    from 1000 particles on with the torch engine), ``"sequential"`` or ``"checkerboard"``; ``engine`` is ``"auto"``
    (compiled sweeps wherever they apply: sequential updates; PGMC's training gradient stays torch), ``"torch"`` or
    ``"compiled"``.
    """

    sampler: str = "metropolis"
    model: str = "ka2d"
    n: int = 44
    temperature: float = 1.0
    chains: int = 8
    sweeps: int = 1000
    burn_in: int = 200
    every: int = 1
    seed: int = 0
    step: float = 0.1
    p_swap: float = 0.2
    ladder: tuple | None = None
    rungs: int = 6
    train_steps: int = 100
    update: str = "auto"
    engine: str = "auto"
    density: float | None = None
    starts: str = "random"
    flow: str | None = None
    p_flow: float = 0.5

    def __post_init__(self):
        if self.sampler not in SAMPLER_KINDS:
            raise InvalidInputError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLER_KINDS)}.")
        if not self.temperature > 0:
            raise InvalidInputError(f"the temperature must be positive; got {self.temperature}.")
        if self.chains < 1 or self.sweeps < 1 or self.burn_in < 0 or self.every < 1:
            raise InvalidInputError(f"need chains >= 1, sweeps >= 1, burn_in >= 0, every >= 1; got {self.chains}, "
                                    f"{self.sweeps}, {self.burn_in}, {self.every}.")
        if self.engine not in ("auto", "torch", "compiled"):
            raise InvalidInputError(f"engine must be auto, torch or compiled; got {self.engine!r}.")
        if not self.step > 0:
            raise InvalidInputError(f"the step size must be positive; got {self.step}.")
        if self.starts not in STARTS or (self.starts == "random+quenched" and self.chains < 2):
            raise InvalidInputError(f"starts must be one of {', '.join(STARTS)} (random+quenched needs >= 2 chains, "
                                    f"half of each); got {self.starts!r} with {self.chains} chains.")
        if self.sampler == "swap" and not get_model(self.model).swap_pairs:
            raise InvalidInputError(f"the model {self.model} has no swappable species pairs; swap Monte Carlo needs "
                                    "one (ka2d swaps types 1<->3 and 2<->3). Use metropolis, tempering or pgmc.")
        if (self.sampler in ("tempering", "flow-hybrid") and self.p_swap not in (0.0, SamplerSettings.p_swap)
                and not get_model(self.model).swap_pairs):  # a share given, not the default
            raise InvalidInputError(f"the model {self.model} has no swappable species pairs, so {self.sampler} cannot "
                                    f"make {self.p_swap} of its attempts swaps; drop --p-swap (it then displaces "
                                    "only) or choose a model with swap pairs (ka2d).")
        if self.sampler in FLOW_SAMPLERS and self.flow is None:
            raise InvalidInputError(f"the {self.sampler} sampler needs a trained flow: give --flow FLOW.pt (make one "
                                    "with glassgen flow train).")
        if not 0.0 < self.p_flow <= 1.0:
            raise InvalidInputError(f"p_flow must be in (0, 1]; got {self.p_flow}.")
        if self.ladder is not None and (min(self.ladder) <= 0 or np.any(np.diff(self.ladder) <= 0)):
            raise InvalidInputError(f"the temperature ladder must be positive and strictly increasing; got "
                                    f"{list(self.ladder)}.")

    def refuse_unused(self) -> None:
        """Refuse settings given (not at their defaults) that this sampler cannot honour, rather than drop them
        silently: a ``--ladder`` for swap MC, a ``--p-swap`` for plain Metropolis, ``--train-steps`` for anything but
        PGMC. (Comparisons do not call this: one set of settings serves every sampler there.)"""
        honoured = SAMPLER_KINDS[self.sampler].options
        for item in fields(self):
            name = item.name
            if name in _SAMPLER_OPTIONS and name not in honoured and getattr(self, name) != item.default:
                uses = [k for k, kind in SAMPLER_KINDS.items() if name in kind.options]
                raise InvalidInputError(f"--{name.replace('_', '-')} does not apply to the {self.sampler} sampler "
                                        f"(only to {', '.join(uses)}); drop it or choose one of those samplers.")

    def temperatures(self) -> np.ndarray:
        """The tempering ladder (the sampled temperature first)."""
        if self.ladder is not None:
            ladder = np.asarray(self.ladder, dtype=np.float64)
            if not np.isclose(ladder[0], self.temperature):
                raise InvalidInputError(f"the ladder must start at the sampled temperature {self.temperature}; got "
                                        f"{ladder.tolist()}.")
            return ladder
        top = max(2 * self.temperature, 1.0)
        return np.geomspace(self.temperature, top, max(2, self.rungs))


@dataclass
class SamplingOutcome:
    """A finished run: the MCResult at the sampled temperature, the final chains and what the sampler reports."""

    settings: SamplerSettings
    result: object
    positions: torch.Tensor
    types: torch.Tensor
    box: torch.Tensor
    setup_seconds: float
    report: dict = field(default_factory=dict)


#: What a checkpoint file of :class:`Checkpoint` says it is, so that another file given by mistake is refused.
CHECKPOINT_KIND = "glassgen sample production checkpoint"


@dataclass
class Checkpoint:
    """A file that holds a production in progress of :func:`run_sampler`, so that a killed run can resume.

    ``identity`` is everything that decides the run (the settings, and what else the caller adds: annealing, budget,
    start file); a file saved under another identity is refused, naming the first setting that differs, rather than
    continued into a chain of other settings. ``extra`` is saved along (e.g. the annealing stages' report) and comes
    back in :attr:`saved`. Each save writes a temporary file beside ``path`` and renames it over ``path``
    (``os.replace`` is atomic), so a run killed while saving leaves the previous checkpoint whole. The file is a
    pickle (``torch.save``: generator states, records), so resume only from checkpoints you wrote.
    """

    path: Path
    identity: dict
    every_seconds: float = 600.0
    extra: dict = field(default_factory=dict)

    @cached_property
    def saved(self) -> dict | None:
        """The saved checkpoint, None when ``path`` does not exist yet; refuses another file or another run's."""
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, weights_only=False)
        except Exception as error:  # any unreadable file: pickle, zip and torch raise many kinds
            raise InvalidInputError(f"--checkpoint {self.path} cannot be read ({type(error).__name__}: {error}); "
                                    "delete it to start afresh or give another file.") from None
        if not isinstance(saved, dict) or saved.get("kind") != CHECKPOINT_KIND:
            raise InvalidInputError(f"--checkpoint {self.path} is not a glassgen sample checkpoint; give another file "
                                    "(it would be overwritten).")
        for key in sorted(set(self.identity) | set(saved["identity"])):
            mine, theirs = self.identity.get(key), saved["identity"].get(key)
            if mine != theirs:
                raise InvalidInputError(f"--checkpoint {self.path} holds a run with {key} = {theirs!r}, not {mine!r} "
                                        "as asked; give the same settings to resume it, or another --checkpoint "
                                        "file to start afresh.")
        return saved

    def save(self, **content) -> None:
        """Write ``content`` with the identity and ``extra``, atomically."""
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        torch.save({"kind": CHECKPOINT_KIND, "identity": self.identity, "extra": self.extra, **content}, temporary)
        os.replace(temporary, self.path)


def _metropolis_like(p_swap_of, p_flow_of=lambda s: 0.0):
    """Build a MetropolisMC whose swap share is ``p_swap_of(settings)`` (0 for plain Metropolis) and whose share of
    flow proposals is ``p_flow_of(settings)`` (the flow samplers; the flow is loaded from ``settings.flow``)."""
    def build(settings: SamplerSettings, target, x, types, update):
        from samplers.mc import MetropolisMC

        p_flow = p_flow_of(settings)
        flow = _load_flow(settings) if p_flow > 0 else None
        return MetropolisMC(target, x, types, temperature=settings.temperature, step=settings.step,
                            p_swap=p_swap_of(settings), seed=settings.seed, update=update, engine=settings.engine,
                            flow=flow, p_flow=p_flow)

    return build


def _flow_cost(sampler, settings: SamplerSettings, callback) -> dict:
    """A flow sampler's set-up: what its flow cost (Monte Carlo data and training), as saved with it, so that
    comparisons charge it; nothing is trained here."""
    from samplers.flows import ParticleFlow

    saved = ParticleFlow.load(settings.flow)[1]
    return {"flow_setup_seconds": float(saved.get("report", {}).get("setup_seconds", 0.0))}


def _load_flow(settings: SamplerSettings):
    """The flow of ``settings.flow``, refused unless it was trained for this model, N and box."""
    from glassgen.flows import load_flow

    return load_flow(settings.flow, settings.model, settings.n, settings.density, settings.seed, settings.chains)[0]


def _tempering(settings: SamplerSettings, target, x, types, update):
    from samplers.tempering import ParallelTempering

    return ParallelTempering(target, x, types, temperatures=settings.temperatures(), seed=settings.seed,
                             step=settings.step, p_swap=settings.p_swap if target.swap_pairs else 0.0, update=update,
                             engine=settings.engine)


def _pgmc(settings: SamplerSettings, target, x, types, update):
    from samplers.pgmc import PolicyGuidedMC

    swaps = settings.p_swap if target.swap_pairs else 0.0
    return PolicyGuidedMC(target, x, types, temperature=settings.temperature, scale=settings.step,
                          energy_swap=swaps > 0, p_swap=swaps, seed=settings.seed, engine=settings.engine)


def _train_policy(sampler, settings: SamplerSettings, callback) -> dict:
    """PGMC's set-up: policy-gradient training, then freezing, so that production is an exact chain."""
    history = sampler.train(settings.train_steps, callback=callback)
    sampler.freeze()
    return {"training_seconds": float(history.seconds)}


def _one_temperature(sampler, result, settings: SamplerSettings):
    return sampler, result, {}


def _lowest_rung(sampler, result, settings: SamplerSettings):
    """The ladder's lowest temperature, charged with the whole ladder's time, the exchange statistics and the
    replicas' round trips (lowest rung to highest and back; their mean length in exchange rounds, None if none),
    without the overlap's decorrelation time (see below)."""
    report = {"exchange_acceptance": np.asarray(result.exchange_acceptance).tolist(),
              "ladder": settings.temperatures().tolist(), "round_trips": int(result.round_trips),
              "round_trip_rounds": result.round_trip_rounds}
    lowest = result.results[0]
    lowest.seconds = result.seconds
    # The overlap at a rung "decorrelates" whenever an exchange brings another replica down, without any structural
    # relaxation: no honest decorrelation time, so none is reported; the round trips are the measure.
    lowest.overlap = None
    return sampler.chains[0], lowest, report


def _flow_samples(settings: SamplerSettings, budget_seconds: float | None, progress: bool):
    """The ``flow`` sampler: reweighted independent samples of the flow, ``chains`` x ``sweeps`` of them or as many as
    ``budget_seconds`` allows. Returns its summary (E/N and specific heat with errors, Kish ESS; ``equilibrated`` is
    False when the ESS is too small to trust) and a Dataset of ``chains`` configurations drawn from the samples in
    proportion to their weights (without replacement: Gumbel top-k)."""
    from glassgen.flows import independent_samples, load_flow

    flow, saved = load_flow(settings.flow, settings.model, settings.n, settings.density, settings.seed,
                            settings.chains)
    wanted = 10**9 if budget_seconds is not None else settings.chains * settings.sweeps
    summary, (x, types) = independent_samples(flow, settings.model, settings.n, settings.temperature,
                                              budget_seconds=budget_seconds, samples=wanted, keep=settings.chains,
                                              density=settings.density, seed=settings.seed, progress=progress)
    setup = float(saved.get("report", {}).get("setup_seconds", 0.0))
    summary.update(model=get_model(settings.model).name, n=settings.n, temperature=settings.temperature,
                   chains=settings.chains, setup_seconds=setup, ess_per_second=summary["ess"] / summary["seconds"],
                   ess_per_second_with_setup=summary["ess"] / (summary["seconds"] + setup))
    outcome = SamplingOutcome(settings, None, x, types, torch.as_tensor(flow.frame.box), setup)
    return summary, outcome


@dataclass(frozen=True)
class SamplerKind:
    """How glassgen builds and runs one sampler of the `samplers` package; :data:`SAMPLER_KINDS` maps names to them.

    ``build(settings, target, x, types, update)`` makes the sampler; ``options`` are the settings beyond the common
    ones that it honours (:meth:`SamplerSettings.refuse_unused` refuses the others when given); ``train(sampler,
    settings, callback)``, if any, is set-up before burn-in (its progress stage named ``train_stage``), charged as
    such, and returns report entries; ``at_temperature(sampler, result, settings)`` gives the sampled temperature's
    driver (:class:`samplers.driver.Driver`), its MCResult and report entries. A sampler of independent weighted
    samples instead of chains has no ``build`` but ``independent(settings, budget_seconds, progress)``, which returns
    its summary and a SamplingOutcome of configurations (see :func:`_flow_samples`). A new sampler is one more
    entry.
    """

    build: Callable | None
    options: frozenset
    train: Callable | None = None
    at_temperature: Callable = _one_temperature
    train_stage: str = "training"
    independent: Callable | None = None


SAMPLER_KINDS = {
    "metropolis": SamplerKind(_metropolis_like(lambda s: 0.0), frozenset({"update", "engine"})),
    "swap": SamplerKind(_metropolis_like(lambda s: s.p_swap), frozenset({"update", "engine", "p_swap"})),
    "tempering": SamplerKind(_tempering, frozenset({"update", "engine", "p_swap", "ladder", "rungs"}),
                             at_temperature=_lowest_rung),
    "pgmc": SamplerKind(_pgmc, frozenset({"engine", "p_swap", "train_steps"}), train=_train_policy,
                        train_stage="PGMC training"),
    "flow": SamplerKind(None, frozenset({"flow"}), independent=_flow_samples),
    "flow-mh": SamplerKind(_metropolis_like(lambda s: 0.0, lambda s: 1.0), frozenset({"flow"}), train=_flow_cost,
                           train_stage="flow"),
    "flow-hybrid": SamplerKind(_metropolis_like(lambda s: s.p_swap if get_model(s.model).swap_pairs else 0.0,
                                                lambda s: s.p_flow),
                               frozenset({"flow", "p_flow", "p_swap", "engine", "update"}), train=_flow_cost,
                               train_stage="flow"),
}


#: Sampler names, in the order comparisons show them.
SAMPLERS = tuple(SAMPLER_KINDS)


def start_chains(settings: SamplerSettings, start=None):
    """The B starting configurations: random non-overlapping ones, or the first B of ``start`` (a System or a
    Dataset, e.g. configurations equilibrated by swap MC or MD), which must match the settings' model and N."""
    if start is None:
        system = random_start(settings.model, settings.n, density=settings.density, batch=settings.chains,
                              seed=settings.seed)
        if settings.starts == "random":
            return system
        from glassgen.dynamics import minimize

        half = settings.chains // 2
        cold = minimize(system.with_positions(system.batched_positions()[half:]), fmax=1e-4, warn=False).system
        return system.with_positions(torch.cat([system.batched_positions()[:half], cold.batched_positions()]))
    system = start.system() if hasattr(start, "system") else start
    x = system.batched_positions()
    if system.spec.name != get_model(settings.model).name or x.shape[1] != settings.n:
        raise InvalidInputError(f"the start holds {x.shape[1]} particles of {system.spec.name}; the settings ask for "
                                f"{settings.n} of {settings.model}.")
    if x.shape[0] < settings.chains:
        raise InvalidInputError(f"the start holds {x.shape[0]} configurations, fewer than the {settings.chains} "
                                "chains asked for; lower --chains or give more configurations.")
    return system.with_positions(x[: settings.chains])


def run_sampler(settings: SamplerSettings, *, budget_seconds: float | None = None, start=None,
                progress: bool = False, checkpoint: Checkpoint | None = None):
    """Burn in (and train PGMC), then production: ``settings.sweeps`` sweeps, or as many as fit in
    ``budget_seconds`` of production at the speed measured during burn-in. Chains start from ``start``
    (:func:`start_chains`). Returns a :class:`SamplingOutcome`.

    ``checkpoint`` saves the production (:class:`Checkpoint`) every ``checkpoint.every_seconds`` (converted to sweeps
    at the burn-in speed) and at its end. When its file holds a production of this run already, that production
    continues without set-up or burn-in (the saved set-up time is reported) and the outcome is the one an
    uninterrupted run gives, wall times aside.

    ``progress`` shows the stages on stderr: PGMC training (steps), burn-in (sweeps), production (sweeps; with a
    budget their number is fixed from the burn-in speed, so the bar counts those sweeps and its estimate is in time).
    """
    from glassgen.targets import KATarget
    from samplers.driver import Production

    if SAMPLER_KINDS[settings.sampler].build is None:
        raise InvalidInputError(f"the {settings.sampler} sampler draws independent samples, not chains; run it with "
                                "SAMPLER_KINDS[name].independent (glassgen sample does).")
    saved = None if checkpoint is None else checkpoint.saved
    # A resumed run takes its chains from the checkpoint: the start only gives the shapes, so quench nothing.
    start = start_chains(settings if saved is None else replace(settings, starts="random"), start)
    target = KATarget(settings.model, start)
    kind = SAMPLER_KINDS[settings.sampler]
    update = settings.update
    if update == "auto":
        update = "checkerboard" if settings.n >= 1000 and settings.engine == "torch" else "sequential"
    sampler = kind.build(settings, target, start.batched_positions(), start.types, update)
    name = f"{settings.sampler} T={settings.temperature:g}"
    if saved is None:
        report, setup, per_sweep = _set_up(sampler, kind, settings, name, progress)
        sweeps = settings.sweeps if budget_seconds is None else max(20, int(budget_seconds / max(per_sweep, 1e-9)))
        every = max(settings.every, sweeps // 5000)  # at most 5000 records per chain
        sampler.start_production()
        production = Production(sampler, every=every, recompute_every=max(every, 100) // every * every)
    else:
        report, setup, per_sweep, sweeps = (saved[key] for key in ("report", "setup_seconds", "per_sweep", "sweeps"))
        every, _, recompute_every = saved["production"]["schedule"]
        production = Production(sampler, every=every, recompute_every=recompute_every)
        production.load_state_dict(saved["production"])
    part = sweeps if checkpoint is None else max(1, int(checkpoint.every_seconds / max(per_sweep, 1e-9)))
    budget = "" if budget_seconds is None else f" (~{budget_seconds:g} s budget)"
    with Stage(f"{name} produce{budget}", sweeps, unit="sweep", enabled=progress) as bar:
        bar.advance(production.done)
        while True:
            result = sampler.run(min(part, sweeps - production.done), every=production.every,
                                 recompute_every=production.recompute_every, production=production,
                                 callback=lambda _: bar.advance())
            if checkpoint is not None:
                checkpoint.save(production=production.state_dict(), sweeps=sweeps, per_sweep=per_sweep,
                                setup_seconds=setup, report=report)
            if production.done >= sweeps:
                break
    mc, result, entries = kind.at_temperature(sampler, result, settings)
    report = {**report, **entries}
    report["acceptance"] = np.asarray(mc.acceptance).tolist()  # empty without displacements (flow-mh)
    if mc.p_swap > 0:
        report["swap_acceptance"] = np.asarray(mc.swap_acceptance).tolist()
    if mc.step is not None:
        report["steps"] = mc.step.tolist()
    tried, accepted = mc.counts("flow")
    if tried.numel():
        report["flow_acceptance"] = float(accepted.sum()) / max(float(tried.sum()), 1.0)
    report["sweeps"] = int(sweeps)
    return SamplingOutcome(replace(settings, sweeps=int(sweeps)), result, mc.x.clone(), mc.types.clone(),
                           target.box.clone(), setup, report)


def _set_up(sampler, kind: SamplerKind, settings: SamplerSettings, name: str, progress: bool):
    """Training (PGMC) and burn-in: returns their report entries, their seconds and the seconds per burn-in sweep.
    The seconds include ``flow_setup_seconds``, what a flow sampler's flow cost to make (``glassgen flow train``)."""
    report = {}
    begin = time.perf_counter()
    burn_in = max(1, settings.burn_in)
    if kind.train is not None:
        with Stage(f"{name} {kind.train_stage}", settings.train_steps, enabled=progress) as bar:
            report.update(kind.train(sampler, settings, lambda _: bar.advance()))
    sweep_begin = time.perf_counter()
    with Stage(f"{name} burn-in", burn_in, unit="sweep", enabled=progress) as bar:
        for _ in range(burn_in):
            sampler.sweep(1, adapt=True)
            bar.advance()
    per_sweep = (time.perf_counter() - sweep_begin) / burn_in
    return report, time.perf_counter() - begin + report.get("flow_setup_seconds", 0.0), per_sweep


def anneal(settings: SamplerSettings, hot: float, stages: int = 4, *, start=None, progress: bool = False):
    """Take the chains from ``start`` (default: random starts) to ``settings.temperature`` by staged cooling.

    A stage at ``hot`` and ``stages`` more at temperatures geometric from ``hot`` down to ``settings.temperature``
    (the last one); each is a :func:`run_sampler` run of ``settings.burn_in`` burn-in sweeps then as many measured
    sweeps, started from the end of the stage before. Returns (the final chains as a Dataset, to start production
    from; one dict per stage: temperature, burn-in and measured sweeps, mean energy per particle over the measured
    sweeps, its two halves, the t-test p-value and ``equilibrated``, whether that energy was stationary). A stage
    that was not is reported, not hidden: cool more slowly (more stages, longer burn-in).
    """
    if not hot > settings.temperature:
        raise InvalidInputError(f"the annealing temperature must exceed the sampled temperature {settings.temperature};"
                                f" got {hot}.")
    if stages < 1 or settings.burn_in < 1:
        raise InvalidInputError(f"annealing needs stages >= 1 and burn-in sweeps >= 1 (each stage runs them twice); "
                                f"got {stages} stages and {settings.burn_in} burn-in sweeps.")
    report = []
    for k, temperature in enumerate(np.geomspace(hot, settings.temperature, stages + 1)):
        stage = replace(settings, temperature=float(temperature), sweeps=settings.burn_in, ladder=None,
                        seed=settings.seed + k + 1)
        outcome = run_sampler(stage, start=start, progress=progress)
        start = to_dataset(outcome)
        per_particle = outcome.result.energies / settings.n
        test = energy_stationarity(per_particle)
        report.append({"temperature": float(temperature), "burn_in": settings.burn_in, "sweeps": settings.burn_in,
                       "energy_per_particle_mean": float(per_particle.mean()),
                       "energy_per_particle_halves": [test.first_half, test.second_half],
                       "energy_halves_p_value": test.p_value, "equilibrated": test.stationary})
    return start, report


def energy_error(series: np.ndarray) -> float:
    """Standard error of the mean of (B, S) series: the larger of the autocorrelation estimate and the spread of
    the B chain means (the latter stays honest when slow modes outlast the autocorrelation window)."""
    from samplers.diagnostics import standard_error

    spread = float(series.mean(1).std(ddof=1) / math.sqrt(len(series))) if len(series) > 1 else 0.0
    return max(standard_error(series), spread)


def summarize(outcome: SamplingOutcome) -> dict:
    """The numbers a comparison reports (JSON-ready); keys as documented for ``glassgen sample --json``."""
    result, s = outcome.result, outcome.settings
    per_particle = result.energies / s.n
    energy = result.efficiency("energy")
    summary = {
        "sampler": s.sampler, "model": get_model(s.model).name, "n": s.n, "temperature": s.temperature,
        "chains": s.chains, **outcome.report,
        "energy_per_particle_mean": float(per_particle.mean()),
        "energy_per_particle_stderr": energy_error(per_particle),
        "tau_int_energy_sweeps": energy["tau_sweeps"], "ess_energy": energy["ess"],
        "ess_per_second": energy["ess_per_second"], "ess_per_evaluation": energy["ess_per_evaluation"],
        "seconds": float(result.seconds), "setup_seconds": float(outcome.setup_seconds),
        "ess_per_second_with_setup": energy["ess"] / (result.seconds + outcome.setup_seconds),
        "ess_fraction": energy["ess"] / max(per_particle.size, 1),  # effective share of the recorded energies
        "energy_drift": float(result.energy_drift),
    }
    if result.overlap is not None and result.overlap.shape[1] > 1:
        structural = result.efficiency("overlap")
        decorrelated = bool(np.isfinite(structural["decorrelation_sweeps"]))
        # A run shorter than one structural relaxation has no honest tau_int of the overlap (the window sees only
        # the start of the decay): report no ESS then, and say so.
        summary.update(structurally_decorrelated=decorrelated,
                       overlap_decorrelation_sweeps=structural["decorrelation_sweeps"] if decorrelated else None,
                       overlap_decorrelation_seconds=(structural["decorrelation_sweeps"] * result.seconds / s.sweeps
                                                      if decorrelated else None),
                       tau_int_overlap_sweeps=structural["tau_sweeps"] if decorrelated else None,
                       ess_overlap_per_second=structural["ess_per_second"] if decorrelated else None)
    summary.update(_equilibrium(outcome, per_particle))
    return summary


def _equilibrium(outcome: SamplingOutcome, per_particle: np.ndarray) -> dict:
    """The equilibrium checks of a run, with a one-line ConvergenceWarning when one fails: the production energy
    must be stationary (:func:`samplers.diagnostics.energy_stationarity` on its halves, as for MD) and the final
    chains neither crystallised nor demixed (:func:`glassgen.dynamics.crystallinity.order_checks`).

    ``equilibrated`` is False when a check fails, None when the energy could not be tested (too few records),
    True otherwise: a falling energy's mean is no equilibrium value, however small its error bar.
    """
    s = outcome.settings
    test = energy_stationarity(per_particle)
    checks = order_checks(outcome.positions.numpy(), outcome.types.numpy(), outcome.box.numpy())
    failures = order_failures(checks)
    starts = start_agreement(per_particle) if s.starts == "random+quenched" else {}
    if starts.get("starts_agree") is False:
        hot, cold = starts["starts_energy_per_particle"]
        failures.append(f"chains from random and from quenched starts disagree ({hot:.4g} against {cold:.4g}, "
                        f"{starts['starts_z']:.1f} standard errors apart): neither has forgotten its start")
    if test.stationary is False and not np.isfinite(test.p_value):  # zero variance: no move was ever accepted
        failures.insert(0, "the energy never changed: the chains are stuck (no move was accepted); use another "
                           "sampler, or train the flow longer")
    elif test.stationary is False:
        failures.insert(0, f"the energy per particle still drifts ({test.first_half:.4g} over the first half of "
                           f"production, {test.second_half:.4g} over the second; t-test p = {test.p_value:.2g}): "
                           "burn in longer, anneal from a higher temperature or use the swap sampler")
    if failures:
        warnings.warn(f"{s.sampler} at T = {s.temperature:g} is not an equilibrium run: " + "; ".join(failures)
                      + ".", ConvergenceWarning, stacklevel=3)
    return {"equilibrated": False if failures else test.stationary, "energy_stationary": test.stationary,
            "energy_halves_p_value": test.p_value, "energy_per_particle_halves": [test.first_half, test.second_half],
            **starts, **checks}


#: The keys of :func:`summarize` that say whether a run reached equilibrium, kept beside the configurations it saved.
EQUILIBRIUM_KEYS = ("equilibrated", "energy_stationary", "energy_halves_p_value", "energy_per_particle_mean",
                    "energy_per_particle_stderr", "structurally_decorrelated", "overlap_decorrelation_sweeps",
                    "swap_acceptance", "energy_drift")


def equilibrium_checks(summary: dict) -> dict:
    """The equilibrium checks of a :func:`summarize` result: :data:`EQUILIBRIUM_KEYS` that it has, and the crystal
    and demixing checks."""
    checks = {key: summary[key] for key in EQUILIBRIUM_KEYS if key in summary}
    checks.update({key: value for key, value in summary.items() if key.startswith(("solid", "demix", "crystal"))})
    return checks


def start_agreement(per_particle: np.ndarray, *, z_max: float = 3.0) -> dict:
    """Do the chains started at random (first half of the (B, S) series) and those started from quenched minima
    (second half) agree on the mean energy? Equilibrium is reached from above and below alike, so a gap of more than
    ``z_max`` combined standard errors (:func:`energy_error` per group) means at least one group still remembers its
    start, however stationary each looks."""
    half = len(per_particle) // 2
    hot, cold = per_particle[:half], per_particle[half:]
    gap = float(hot.mean() - cold.mean())
    z = abs(gap) / max(math.hypot(energy_error(hot), energy_error(cold)), 1e-300)
    return {"starts_agree": bool(z <= z_max), "starts_energy_per_particle": [float(hot.mean()), float(cold.mean())],
            "starts_z": float(z)}


def to_dataset(outcome: SamplingOutcome, provenance: dict | None = None):
    """The final configuration of every chain as a native `Dataset` (M = B), particles ordered by species.

    Swap moves exchange species between particles; identical particles make any relabelling exact, so each chain's
    particles are sorted by species, which gives every configuration the same type vector.
    """
    from glassgen.io import Dataset

    order = torch.argsort(outcome.types, dim=1, stable=True)
    positions = torch.gather(outcome.positions, 1, order[..., None].expand_as(outcome.positions))
    types = torch.gather(outcome.types, 1, order)
    if not bool((types == types[0]).all()):
        raise InvalidInputError("the chains hold different compositions; they cannot share one type vector.")
    s = outcome.settings
    return Dataset(positions=torch.remainder(positions, outcome.box).numpy(), types=types[0].numpy(),
                   box=outcome.box.numpy(), model=s.model, temperature=s.temperature,
                   metadata={**(provenance or {}), "sampler": s.sampler, "seed": s.seed, "sweeps": s.sweeps,
                             "burn_in": s.burn_in})


def compare_samplers(base: SamplerSettings, temperatures, budget_seconds: float, samplers=SAMPLERS,
                     progress: bool = False, start=None) -> list[dict]:
    """Every sampler at every temperature for the same production budget; one summary per (temperature, sampler).

    All samplers start from the same configurations (``start``, or the same random ones), so that set-up is equal.

    Samplers that do not apply to the model (swap without swappable species) are skipped with a note.
    ``progress`` shows the runs done and, nested, the stages of the run in hand (:func:`run_sampler`) on stderr.
    """
    rows = []
    with Stage("compare samplers", len(temperatures) * len(samplers), unit="run", enabled=progress) as bar:
        for temperature in temperatures:
            for name in samplers:
                try:
                    settings = replace(base, sampler=name, temperature=float(temperature), ladder=None)
                except InvalidInputError as error:
                    rows.append({"sampler": name, "temperature": float(temperature), "skipped": str(error)})
                else:
                    independent = SAMPLER_KINDS[name].independent
                    rows.append(independent(settings, budget_seconds, progress)[0] if independent else
                                summarize(run_sampler(settings, budget_seconds=budget_seconds, start=start,
                                                      progress=progress)))
                bar.advance()
    return rows


def plot_comparison(rows: list[dict], path) -> None:
    """Bar chart of effective samples per second (energy and overlap) per sampler and temperature, log scale; runs
    that failed the equilibrium checks are hatched, as their samples are not equilibrium ones."""
    from matplotlib.figure import Figure

    done = [r for r in rows if "skipped" not in r]
    temperatures = sorted({r["temperature"] for r in done}, reverse=True)
    names = [s for s in SAMPLERS if any(r["sampler"] == s for r in done)]
    figure = Figure(figsize=(4 + 2.5 * len(temperatures), 4))
    axes = figure.subplots(1, 2, squeeze=False)[0]
    width = 0.8 / max(len(names), 1)
    for axis, key, title in zip(axes, ("ess_per_second", "ess_overlap_per_second"),
                                ("energy", "overlap (structure)")):
        for k, name in enumerate(names):
            found = [next((r for r in done if r["sampler"] == name and r["temperature"] == t), {})
                     for t in temperatures]
            values = np.array([np.nan if r.get(key) is None else r[key] for r in found])  # not decorrelated: no bar
            where = np.arange(len(temperatures)) + k * width
            axis.bar(where, values, width, label=name)
            failed = np.array([r.get("equilibrated") is False for r in found])
            axis.bar(where[failed], values[failed], width, facecolor="none", hatch="//")  # over it, not in the legend
        axis.set_yscale("log")
        axis.set_xticks(np.arange(len(temperatures)) + 0.4 - width / 2, [f"T = {t:g}" for t in temperatures])
        axis.set_ylabel("effective samples per second")
        axis.set_title(title)
    axes[0].legend()
    hatched = any(r["equilibrated"] is False for r in done)
    if hatched:
        figure.text(0.01, 0.01, "hatched: not in equilibrium (energy drifting, crystallised or demixed)", fontsize=8)
    figure.tight_layout(rect=(0, 0.05 if hatched else 0, 1, 1))
    figure.savefig(path, dpi=120)
