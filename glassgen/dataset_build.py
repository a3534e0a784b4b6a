"""`glassgen dataset build`: a multi-temperature benchmark from a recipe, resumable across runs and sessions.

A recipe (TOML; the shipped ones are in ``glassgen/data/recipes``) names a model, a size, the temperatures with
their train and test counts, and the label times in units of tau_alpha. Each temperature goes through four stages,
each written to the work folder before the next starts, so a stopped build continues where it stopped:

1. ``prepared.h5``: equilibrium configurations with their checks. ``md``: B chains of Bussi NVT MD run as one batch,
   saved ``spacing_tau`` apart (F_s between saved configurations below 1/e, stationary energy, no crystal or
   demixing; :func:`glassgen.dynamics.production.produce`). ``swap``: independent chains of compiled swap Monte Carlo
   (stationary energy, no crystal or demixing; :func:`glassgen.sampling.summarize`). Each temperature starts from
   the chains of the one above, the first from random (swap) or lattice (MD) starts.
2. ``tau.json``: tau_alpha(T), where F_s(q, t) of the A particles falls to 1/e in NVE MD from (up to 4 of) the
   prepared configurations with fresh velocities: the dynamics the labels use. The recipe's ``tau_guess`` sets
   run lengths only.
3. ``minimised.h5``: inherent states (FIRE, max |F| < 1e-8).
4. ``labels.h5``: isoconfigurational labels at ``times_tau`` x tau_alpha (:func:`glassgen.labeling.label_dataset`:
   resumable per configuration, serial or on Dask), with F_s at every label time and the half-replica propensities
   that give the noise ceiling.

When every temperature is done, they are assembled into one dataset whose times are in units of tau_alpha
(``time_unit="tau_alpha"``), with ``temperatures`` and ``tau_alpha`` per configuration and ``extras["split"]``
(0 train, 1 test); its metadata holds the recipe, every check, the measured costs per stage and temperature, and
per temperature the energies, tau_alpha, F_s at tau_alpha and rho_max. ``costs.json`` in each temperature's folder
adds up the seconds of every run, so a build spread over sessions still states its full cost.
"""

from __future__ import annotations

import json
import math
import os
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

import glassgen
from glassgen.errors import InvalidInputError
from glassgen.io import DATA_FOLDER, Dataset, load, save
from glassgen.io.dataset import SPLITS
from glassgen.progress import message

RECIPES = DATA_FOLDER / "recipes"
PREPARATIONS = ("md", "swap")
#: The MD that measures tau_alpha runs at most this many times the recipe's guess.
TAU_RUN_LIMIT = 8.0


@dataclass(frozen=True)
class TemperaturePlan:
    """One temperature of a recipe: its configurations (train + test) and how long to prepare them."""

    T: float
    tau_guess: float
    train: int
    test: int
    sweeps: int = 0

    @property
    def count(self) -> int:
        return self.train + self.test


@dataclass(frozen=True)
class Recipe:
    """What a build makes; see the shipped recipes for every field with its meaning."""

    name: str
    model: str
    n: int
    replicas: int
    times_tau: tuple[float, ...]
    temperatures: tuple[TemperaturePlan, ...]
    preparation: str = "md"
    dt: float = 0.005
    seed: int = 0
    chains: int = 8
    equilibration_tau: float = 10.0
    spacing_tau: float = 2.0
    anneal_from: float = 1.0
    source: str = ""

    def __post_init__(self):
        if self.preparation not in PREPARATIONS:
            raise InvalidInputError(f"recipe {self.name}: preparation must be one of {PREPARATIONS}; "
                                    f"got {self.preparation!r}.")
        times = np.asarray(self.times_tau)
        if times.size == 0 or (times <= 0).any() or (np.diff(times) <= 0).any() or not np.isclose(times, 1.0).any():
            raise InvalidInputError(f"recipe {self.name}: times_tau must be positive, increasing and hold 1.0 "
                                    f"(t = tau_alpha); got {list(self.times_tau)}.")
        temperatures = [plan.T for plan in self.temperatures]
        if not temperatures or sorted(temperatures, reverse=True) != temperatures or len(set(temperatures)) != len(
                temperatures):
            raise InvalidInputError(f"recipe {self.name}: list the temperatures from hot to cold, each once (each "
                                    f"starts from the one above); got {temperatures}.")
        for plan in self.temperatures:
            if plan.count < 1 or plan.tau_guess <= 0 or (self.preparation == "swap" and plan.sweeps < 1):
                raise InvalidInputError(f"recipe {self.name}, T = {plan.T}: needs train + test >= 1, tau_guess > 0 "
                                        "and, for swap preparation, sweeps >= 1.")

    def plan(self, temperature: float) -> TemperaturePlan:
        for plan in self.temperatures:
            if math.isclose(plan.T, temperature, rel_tol=1e-9):
                return plan
        raise InvalidInputError(f"the recipe {self.name} has no T = {temperature:g}; it has "
                                f"{', '.join(f'{p.T:g}' for p in self.temperatures)}.")


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    """A recipe by the name of a shipped one (``ka3d-multiT``) or from a TOML file."""
    path = Path(name_or_path)
    if not path.exists():
        path = RECIPES / f"{name_or_path}.toml"
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in RECIPES.glob("*.toml")))
        raise InvalidInputError(f"no recipe {name_or_path}: give a TOML file or one of the shipped recipes ({shipped}).")
    with open(path, "rb") as handle:
        try:
            raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise InvalidInputError(f"{path} is not valid TOML ({error}); fix the recipe.") from error
    try:
        plans = tuple(TemperaturePlan(**entry) for entry in raw.pop("temperatures"))
        return Recipe(**{**raw, "times_tau": tuple(raw["times_tau"]), "temperatures": plans, "source": str(path)})
    except (KeyError, TypeError) as error:
        raise InvalidInputError(f"{path}: the recipe lacks or misnames an entry ({error}); compare it with "
                                f"{RECIPES / 'ka3d-multiT.toml'}.") from error


@dataclass
class BuildReport:
    """What a build run did: the temperatures finished, those left, and the assembled output if it was written."""

    done: list[float] = field(default_factory=list)
    remaining: list[float] = field(default_factory=list)
    output: Path | None = None
    summaries: list[dict] = field(default_factory=list)


def temperature_folder(work: Path, temperature: float) -> Path:
    return work / f"T{temperature:.3f}"


def build(recipe: Recipe, work: str | os.PathLike, output: str | os.PathLike | None, *,
          temperatures=None, workers: int | None = None, scheduler: str | None = None, compact: bool = True,
          progress: bool = True) -> BuildReport:
    """Run every stage not yet on disk for ``temperatures`` (default all of the recipe), then assemble ``output``
    once every temperature of the recipe is done."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    chosen = [recipe.plan(t) for t in temperatures] if temperatures else list(recipe.temperatures)
    for plan in chosen:
        _build_temperature(recipe, plan, work, workers=workers, scheduler=scheduler, progress=progress)
    report = BuildReport()
    for plan in recipe.temperatures:
        finished = (temperature_folder(work, plan.T) / "labels.h5").exists()
        (report.done if finished else report.remaining).append(plan.T)
    if not report.remaining and output is not None:
        dataset = assemble(recipe, work)
        report.output = save(dataset, output, compact=compact)
        report.summaries = dataset.metadata["temperatures"]
    return report


def _build_temperature(recipe: Recipe, plan: TemperaturePlan, work: Path, *, workers, scheduler, progress) -> None:
    folder = temperature_folder(work, plan.T)
    folder.mkdir(exist_ok=True)
    index = [p.T for p in recipe.temperatures].index(plan.T)
    seed = int(np.random.SeedSequence([recipe.seed, index]).generate_state(1)[0] % 2**31)
    prepared, tau_file = folder / "prepared.h5", folder / "tau.json"
    minimised, labelled = folder / "minimised.h5", folder / "labels.h5"
    if not prepared.exists():
        above = temperature_folder(work, recipe.temperatures[index - 1].T) / "prepared.h5" if index else None
        if above is not None and not above.exists():
            raise InvalidInputError(f"T = {plan.T:g} starts from the chains of T = {recipe.temperatures[index - 1].T:g}"
                                    ", which are not prepared yet; build the temperatures above first.")
        message(f"{recipe.name} T = {plan.T:g}: preparing {plan.count} configurations ({recipe.preparation})",
                enabled=progress)
        begin = time.perf_counter()
        dataset = (_prepare_md if recipe.preparation == "md" else _prepare_swap)(
            recipe, plan, None if above is None else load(above), seed, progress)
        _add_cost(folder, "prepare", time.perf_counter() - begin)
        save(dataset, prepared)
    if not tau_file.exists():
        message(f"{recipe.name} T = {plan.T:g}: measuring tau_alpha by MD", enabled=progress)
        begin = time.perf_counter()
        measured = measure_tau_alpha(load(prepared), plan.T, plan.tau_guess, dt=recipe.dt, seed=seed)
        _add_cost(folder, "tau_alpha", time.perf_counter() - begin)
        _write_json(tau_file, measured)
    if not minimised.exists():
        from glassgen.dynamics.minimization import inherent_states

        begin = time.perf_counter()
        save(inherent_states(load(prepared), progress=progress), minimised)
        _add_cost(folder, "minimise", time.perf_counter() - begin)
    if not labelled.exists():
        from glassgen.labeling import LabelSettings, label_dataset

        tau = json.loads(tau_file.read_text())["tau_alpha"]
        settings = LabelSettings(times=tuple(float(t * tau) for t in recipe.times_tau), n_replicas=recipe.replicas,
                                 temperature=plan.T, dt=recipe.dt, seed=seed)
        begin = time.perf_counter()
        label_dataset(load(minimised), labelled, settings, workers=workers, scheduler=scheduler, progress=progress,
                      provenance={"recipe": recipe.name})
        _add_cost(folder, "label", time.perf_counter() - begin)


def _prepare_md(recipe: Recipe, plan: TemperaturePlan, above: Dataset | None, seed: int, progress: bool) -> Dataset:
    """B chains of NVT MD; configurations in chain-major order (``metadata["chains"]`` chains)."""
    from glassgen.dynamics.production import produce
    from glassgen.systems import System, lattice_start

    frames = math.ceil(plan.count / recipe.chains)
    steps = round(recipe.equilibration_tau * plan.tau_guess / recipe.dt)
    if above is None:
        start = lattice_start(recipe.model, recipe.n, batch=recipe.chains, seed=seed)
        melt = {"melt_temperature": 2.0, "melt_steps": 2000, "cool_steps": 5000}
    else:
        per_chain = above.n_configurations // recipe.chains
        last = above.positions.reshape(recipe.chains, per_chain, *above.positions.shape[1:])[:, -1]
        start = System(torch.as_tensor(last), above.types, above.box, recipe.model)
        melt = {"melt_temperature": above.temperature, "melt_steps": 0, "cool_steps": 2000}
    production = produce(start, plan.T, frames, recipe.spacing_tau * plan.tau_guess, equilibration_steps=steps,
                         dt=recipe.dt, seed=seed, progress=progress, **melt)
    positions = production.positions.reshape(-1, recipe.n, start.dim).numpy()
    return Dataset(positions=positions, types=start.types.numpy(), box=start.box.numpy(), model=recipe.model,
                   temperature=plan.T,
                   metadata={"preparation": "md", "chains": recipe.chains, "order": "chain-major", "seed": seed,
                             "equilibration_steps": steps, "spacing": recipe.spacing_tau * plan.tau_guess,
                             "equilibrated": production.equilibrated, "equilibrium_checks": production.checks})


def _prepare_swap(recipe: Recipe, plan: TemperaturePlan, above: Dataset | None, seed: int, progress: bool) -> Dataset:
    """Independent chains of compiled swap MC, one configuration each."""
    from glassgen.sampling import SamplerSettings, anneal, equilibrium_checks, run_sampler, summarize, to_dataset

    settings = SamplerSettings(sampler="swap", model=recipe.model, n=recipe.n, temperature=plan.T, chains=plan.count,
                               sweeps=plan.sweeps, burn_in=max(1, plan.sweeps // 4), seed=seed)
    stages = []
    if above is None:
        above, stages = anneal(settings, recipe.anneal_from, start=None, progress=progress)
    outcome = run_sampler(settings, start=above, progress=progress)
    summary = summarize(outcome)
    checks = equilibrium_checks(summary)
    dataset = to_dataset(outcome)
    dataset.metadata = {"preparation": "swap", "chains": plan.count, "seed": seed, "sweeps": plan.sweeps,
                        "burn_in": settings.burn_in, "anneal": stages, "equilibrated": bool(summary["equilibrated"]),
                        "equilibrium_checks": checks}
    return dataset


def measure_tau_alpha(dataset: Dataset, temperature: float, guess: float, *, dt: float = 0.005, seed: int = 0,
                      configurations: int = 4) -> dict:
    """tau_alpha: F_s(q, t) of the A particles falls to 1/e, in NVE MD from fresh Maxwell-Boltzmann velocities.

    Runs until F_s is below 0.25 or for ``TAU_RUN_LIMIT`` x ``guess``; a curve that never reaches 1/e raises with
    the value it reached (raise the guess in the recipe).
    """
    from glassgen.dynamics import VelocityVerlet, relaxation_time, run, self_intermediate_scattering
    from glassgen.dynamics.observables import Q_PEAK
    from glassgen.dynamics.velocities import maxwell_boltzmann
    from glassgen.systems import ForceField

    picked = dataset.subset(range(min(configurations, dataset.n_configurations)))
    system = picked.system()
    x0 = system.batched_positions().clone()
    generator = torch.Generator().manual_seed(int(seed) + 1)
    velocities = maxwell_boltzmann(x0.shape[0], x0.shape[1], x0.shape[2], temperature, generator)
    integrator = VelocityVerlet(ForceField(system.model, system.box, system.types), dt)
    state = integrator.init(x0, velocities)
    stride = max(1, round(guess / dt / 100))
    limit = round(TAU_RUN_LIMIT * guess / dt)
    a_particles = dataset.types == 0
    times, fs = [], []

    def record(step, current):
        dr = (current.positions.to(torch.float64) - x0)[:, a_particles].numpy()
        times.append(step * dt)
        fs.append(float(np.mean(self_intermediate_scattering(dr, Q_PEAK[dataset.dim]))))
        return fs[-1] < 0.25

    begin = time.perf_counter()
    run(integrator, state, limit, callback=record, every=stride)
    curve_t, curve_fs = np.array(times), np.array(fs)
    if curve_fs.min() > math.exp(-1):
        raise InvalidInputError(f"at T = {temperature:g}, F_s fell only to {curve_fs.min():.3f} in "
                                f"{curve_t[-1]:g} time units ({TAU_RUN_LIMIT:g} x tau_guess {guess:g}); raise tau_guess "
                                "in the recipe.")
    tau = float(relaxation_time(np.concatenate([[0.0], curve_t]), np.concatenate([[1.0], curve_fs])))
    keep = np.unique(np.geomspace(1, len(curve_t), 30).astype(int) - 1)
    return {"tau_alpha": tau, "tau_guess": guess, "configurations": picked.n_configurations, "dt": dt,
            "q": Q_PEAK[dataset.dim], "fs_times": curve_t[keep].tolist(), "fs": curve_fs[keep].tolist(),
            "seconds": time.perf_counter() - begin}


def assemble(recipe: Recipe, work: Path) -> Dataset:
    """One dataset of every temperature, times in units of tau_alpha, with a summary per temperature."""
    from glassgen.dynamics.observables import noise_ceiling
    from glassgen.systems import evaluate

    parts, summaries = [], []
    for plan in recipe.temperatures:
        folder = temperature_folder(work, plan.T)
        labelled = load(folder / "labels.h5")
        prepared = load(folder / "prepared.h5")
        tau = json.loads((folder / "tau.json").read_text())
        m = labelled.n_configurations
        halves = labelled.extras.pop("propensity_halves")
        a_particles = labelled.types == 0
        energy = evaluate(labelled.system(), energy=True).energy.numpy() / labelled.n_particles
        inherent = evaluate(Dataset(labelled.inherent_positions, labelled.types, labelled.box, labelled.model)
                            .system(), energy=True).energy.numpy() / labelled.n_particles
        k_tau = int(np.argmin(np.abs(np.log(recipe.times_tau))))
        split = np.zeros(m, dtype=np.int8)
        split[_test_indices(prepared, plan)] = 1
        summaries.append({
            "temperature": plan.T, "n_train": plan.train, "n_test": plan.test, "tau_alpha": tau["tau_alpha"],
            "tau_guess": plan.tau_guess, "label_times": labelled.times.tolist(),
            "fs_at_label_times": labelled.extras["fs"].mean(0).tolist(),
            "fs_at_tau_alpha": float(labelled.extras["fs"][:, k_tau].mean()),
            "rho_max": [float(noise_ceiling(halves[:, :, k], a_particles)) for k in range(halves.shape[2])],
            "energy_per_particle": float(energy.mean()), "energy_per_particle_spread": float(energy.std(ddof=1))
            if m > 1 else 0.0, "inherent_energy_per_particle": float(inherent.mean()),
            "equilibrated": prepared.metadata["equilibrated"], "equilibrium_checks": prepared.metadata[
                "equilibrium_checks"], "preparation": {k: v for k, v in prepared.metadata.items()
                                                       if k not in ("equilibrium_checks", "anneal")},
            "seconds": json.loads((folder / "costs.json").read_text()),
        })
        parts.append(Dataset(
            positions=labelled.positions, types=labelled.types, box=labelled.box, model=labelled.model,
            temperatures=np.full(m, plan.T), inherent_positions=labelled.inherent_positions,
            times=np.asarray(recipe.times_tau), time_unit="tau_alpha", tau_alpha=np.full(m, tau["tau_alpha"]),
            propensity=labelled.propensity, bond_breaking=labelled.bond_breaking,
            extras={"split": split, "fs": labelled.extras["fs"]},
        ))
    dataset = Dataset.concatenate(parts)
    dataset.metadata = {"name": recipe.name, "recipe": {**asdict(recipe), "temperatures": [
        asdict(p) for p in recipe.temperatures]}, "glassgen_version": glassgen.__version__,
        "splits": list(SPLITS), "temperatures": summaries}
    return dataset


def _test_indices(prepared: Dataset, plan: TemperaturePlan) -> np.ndarray:
    """The test configurations: the last saved configurations of the chains (frame-major from the end), so that
    train and test configurations are at least one spacing apart in every chain."""
    chains = int(prepared.metadata["chains"])
    per_chain = prepared.n_configurations // chains
    frame_major = np.arange(prepared.n_configurations).reshape(chains, per_chain).T.reshape(-1)
    return frame_major[len(frame_major) - plan.test:]


def _add_cost(folder: Path, stage: str, seconds: float) -> None:
    """Add ``seconds`` to the stage's total in ``costs.json`` (runs of a resumed build add up)."""
    path = folder / "costs.json"
    costs = json.loads(path.read_text()) if path.exists() else {}
    costs[stage] = costs.get(stage, 0.0) + seconds
    _write_json(path, costs)


def _write_json(path: Path, payload: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=1))
    os.replace(temporary, path)
