"""Commands on configurations: info, energy, import, minimize, simulate, label."""

from __future__ import annotations

import time

import numpy as np
import torch

from glassgen.cli._arguments import add_output, nonnegative_int, positive_float, positive_int
from glassgen.cli._output import (
    evaluate_energies,
    load_data,
    order_rows,
    output,
    provenance,
    species_name,
    summary_energies,
)
from glassgen.io.dataset import LABELS, PREDICTED_LABELS
from glassgen.systems import get_model


def _present(data, names) -> list[str]:
    """The fields among ``names`` that ``data`` holds: true labels and predictions are listed apart, never mixed."""
    return [name for name in names if getattr(data, name) is not None]


def _times(times, unit: str = "lj") -> str:
    """Label times as a person writes them: '0.1, 1, 10', or '0.1, 1, 2 x tau_alpha'."""
    if times is None:
        return "none"
    return ", ".join(f"{t:g}" for t in times) + (" x tau_alpha" if unit == "tau_alpha" else "")


def _describe_system(data) -> str:
    temperatures = data.distinct_temperatures
    temperature = ("unknown temperature" if not temperatures else f"temperature {temperatures[0]:g}"
                   if len(temperatures) == 1 else f"temperatures {', '.join(f'{t:g}' for t in temperatures)}")
    return f"{data.model}, {data.n_particles} particles, {temperature}"


def _tau_alpha(data) -> dict | None:
    """tau_alpha by temperature ({"0.8": 2.6, ...}) of data that record it."""
    if data.tau_alpha is None:
        return None
    temperatures = data.configuration_temperatures
    return {f"{t:g}": float(data.tau_alpha[np.flatnonzero(np.isclose(temperatures, t))[0]])
            for t in data.distinct_temperatures}


def cmd_info(args) -> None:
    data = load_data(args)
    counts = np.bincount(data.types, minlength=get_model(data.model).n_types).tolist()
    payload = {
        "file": str(args.file), "model": data.model, "n_configurations": data.n_configurations,
        "n_particles": data.n_particles, "dim": data.dim, "species_counts": counts, "box": data.box.tolist(),
        "density": data.n_particles / float(np.prod(data.box)), "temperature": data.temperature,
        "temperatures": data.distinct_temperatures, "tau_alpha": _tau_alpha(data),
        "has_inherent_states": data.inherent_positions is not None,
        "times": None if data.times is None else data.times.tolist(), "time_unit": data.time_unit,
        "labels": _present(data, LABELS), "predictions": _present(data, PREDICTED_LABELS),
        "prediction_spreads": [f"{name}_std" for name in PREDICTED_LABELS if f"{name}_std" in data.extras],
        "heterogeneity": data.metadata.get("heterogeneity"),
    }
    species = ", ".join(f"{count} of species {species_name(s)}" for s, count in enumerate(counts))
    rows = [("file", args.file), ("system", _describe_system(data)),
            ("configurations", data.n_configurations), ("species", species),
            ("box", " x ".join(f"{edge:.6g}" for edge in data.box) + f" (density {payload['density']:.4g})"),
            ("inherent states", payload["has_inherent_states"]),
            ("label times", _times(data.times, data.time_unit)),
            ("true labels", payload["labels"] or "none (glassgen label makes them)"),
            ("predictions", payload["predictions"] or "none (glassgen predict makes them)")]
    if payload["prediction_spreads"]:
        rows.append(("ensemble spreads", f"{', '.join(payload['prediction_spreads'])} (in extras)"))
    if payload["heterogeneity"]:
        temperatures = ", ".join("unknown" if h["temperature"] is None else f"{h['temperature']:g}"
                                 for h in payload["heterogeneity"])
        rows.append(("predicted heterogeneity", f"chi_4 and xi at T = {temperatures} (metadata heterogeneity, from "
                                                "glassgen predict-dynamics)"))
    if payload["tau_alpha"]:
        rows.insert(2, ("tau_alpha", payload["tau_alpha"]))
    if "split" in data.extras:
        counts = np.bincount(data.extras["split"], minlength=2)
        rows.insert(3, ("train / test", f"{counts[0]} / {counts[1]} configurations"))
    output(args, payload, rows)


def cmd_energy(args) -> None:
    data = load_data(args)
    energies, max_force = evaluate_energies(data)
    payload = {"model": data.model, "n_particles": data.n_particles, "n_configurations": data.n_configurations,
               **summary_energies(energies), "max_force": float(max_force.max())}
    output(args, payload)


def cmd_import(args) -> None:
    from glassgen.io import save

    data = load_data(args)
    data.metadata = {**data.metadata, **provenance(args)}
    path = save(data, args.output)
    output(args, {"output": str(path), "model": data.model, "n_configurations": data.n_configurations,
                   "n_particles": data.n_particles, "labels": _present(data, LABELS),
                   "predictions": _present(data, PREDICTED_LABELS)})


def _minimize_dataset(data, args):
    """Inherent states of every configuration; returns (inherent positions, energies per particle, max |F|, steps)."""
    from glassgen.dynamics import minimize

    result = minimize(data.system(), fmax=args.fmax, max_steps=args.max_steps, progress=not args.quiet)
    n = data.n_particles
    return (result.system.positions.numpy(), (result.energy / n).numpy(), result.max_force.numpy(),
            int(result.n_steps.max()))


def cmd_minimize(args) -> None:
    from glassgen.io import save

    data = load_data(args)
    energies, _ = evaluate_energies(data)
    start = time.perf_counter()
    inherent, inherent_energies, max_force, steps = _minimize_dataset(data, args)
    elapsed = time.perf_counter() - start
    data.inherent_positions = inherent
    data.metadata = {**data.metadata, "minimize": provenance(args, fmax=args.fmax)}
    path = save(data, args.output)
    output(args, {
        "output": str(path), "model": data.model, "n_configurations": data.n_configurations,
        "n_particles": data.n_particles, **summary_energies(energies),
        "inherent_energy_per_particle": float(np.mean(inherent_energies)),
        "inherent_energies_per_particle": [float(e) for e in inherent_energies],
        "max_force": float(max_force.max()), "fire_steps": steps, "seconds": elapsed,
    })


def _simulate(args):
    """Equilibrate `args.chains` chains and save `args.frames` configurations per chain, `args.spacing` apart.

    Returns the Dataset (chain-major order) and the equilibrium checks.
    """
    from glassgen.dynamics.production import produce
    from glassgen.io import Dataset
    from glassgen.systems import lattice_start

    start = lattice_start(args.model, args.n, density=args.density, batch=args.chains, seed=args.seed)
    production = produce(
        start, args.temperature, args.frames, args.spacing, equilibration_steps=args.steps, dt=args.dt,
        seed=args.seed, melt_temperature=args.melt_temperature, melt_steps=args.melt_steps,
        cool_steps=args.cool_steps, dtype=getattr(torch, args.dtype), progress=not args.quiet,
    )
    positions = production.positions.reshape(-1, args.n, start.dim)
    dataset = Dataset(
        positions=positions.numpy(), types=start.types.numpy(), box=start.box.numpy(), model=start.model,
        temperature=args.temperature,
        metadata=provenance(args, seed=args.seed, dt=args.dt, chains=args.chains, spacing=args.spacing,
                             equilibration_steps=args.steps, melt_temperature=args.melt_temperature,
                             melt_steps=args.melt_steps, cool_steps=args.cool_steps, order="chain-major",
                             equilibrium_checks=production.checks),
    )
    return dataset, production.checks


def cmd_simulate(args) -> None:
    from glassgen.io import save

    begin = time.perf_counter()
    data, checks = _simulate(args)
    elapsed = time.perf_counter() - begin
    energies, _ = evaluate_energies(data)
    path = save(data, args.output)
    payload = {"output": str(path), "model": data.model, "n_particles": data.n_particles,
               "temperature": args.temperature, "n_configurations": data.n_configurations,
               **summary_energies(energies), "equilibrium_checks": checks, "seconds": elapsed}
    chains = f" from {args.chains} chains" if args.chains > 1 else ""
    rows = [("output", path), ("system", _describe_system(data)),
            ("configurations saved", f"{data.n_configurations}{chains}, spaced by t = {args.spacing:g}"),
            ("energy per particle (mean)", payload["energy_per_particle"]), *equilibrium_rows(checks),
            ("seconds", f"{elapsed:.1f}")]
    output(args, payload, rows)


def cmd_label(args) -> None:
    from glassgen.dynamics.isoconfig import log_times
    from glassgen.labeling import LabelSettings, label_dataset

    data = load_data(args)
    times = args.times if args.times else log_times(args.t_min, args.t_max, args.n_times)
    settings = LabelSettings(times=tuple(float(t) for t in times), n_replicas=args.replicas,
                             temperature=args.temperature or 0.0, dt=args.dt, seed=args.seed, ensemble=args.ensemble,
                             edges=args.edges)
    begin = time.perf_counter()
    labelled = label_dataset(data, args.output, settings, workers=args.workers, scheduler=args.scheduler,
                             progress=not args.quiet, provenance=provenance(args))
    elapsed = time.perf_counter() - begin
    is_a = labelled.types == 0
    replica_steps = labelled.n_configurations * args.replicas * round(labelled.times[-1] / args.dt)
    payload = {
        "output": str(args.output), "n_configurations": labelled.n_configurations,
        "temperature": labelled.temperature, "times": labelled.times.tolist(),
        "propensity_mean_A": labelled.propensity[:, :, is_a].mean(axis=(0, 2)).tolist(),
        "bond_breaking_mean_A": labelled.bond_breaking[:, :, is_a].mean(axis=(0, 2)).tolist(),
        "resumed": labelled.metadata["labels"]["resumed"],
        "seconds": elapsed, "replica_steps_per_second": replica_steps / elapsed,
    }
    rows = [("output", args.output), ("system", _describe_system(labelled)), ("labelled", _resumed(labelled)),
            ("label times", _times(labelled.times)),
            ("mean propensity of A", _per_time(labelled.times, payload["propensity_mean_A"])),
            ("mean bond-breaking of A", _per_time(labelled.times, payload["bond_breaking_mean_A"])),
            ("replica steps per second", f"{payload['replica_steps_per_second']:.3g}"), ("seconds", f"{elapsed:.1f}")]
    output(args, payload, rows)


def _resumed(labelled) -> str:
    """'6 configurations, resumed 2 of 6 from an earlier run': says when stored parts were reused, and how many."""
    total, resumed = labelled.n_configurations, labelled.metadata["labels"]["resumed"]
    if not resumed:
        return f"{total} configurations, all computed now (resumed 0 of {total})"
    return f"{total} configurations, resumed {resumed} of {total} from an earlier run with the same settings"


def _per_time(times, values) -> str:
    return ", ".join(f"{value:.4g} at t = {t:g}" for t, value in zip(times, values))


def equilibrium_rows(checks: dict) -> list[tuple[str, str]]:
    """The equilibrium checks of `produce` as table rows in plain words, saying what to change when one fails."""
    from samplers.diagnostics import MIN_BLOCKS

    fs = checks["fs_between_saved"]
    rows = [("configurations decorrelated", f"yes (F_s = {fs:.2g} between saved, below 1/e)" if checks["decorrelated"]
             else f"no (F_s = {fs:.2g} between saved, not below 1/e): increase --spacing")]
    if checks["stationary"] is None:
        rows.append(("energy stationary", f"not tested (too few saved configurations; {MIN_BLOCKS} are needed)"))
    else:
        verdict = "yes" if checks["stationary"] else "no"
        advice = "" if checks["stationary"] else ": equilibrate longer (--steps)"
        rows.append(("energy stationary", f"{verdict} (t-test p = {checks['energy_halves_p_value']:.2g}){advice}"))
    return rows + order_rows(checks)


EXAMPLES = {
    "info": "glassgen info ../shared/data/ka3d-botan-T0.44/train",
    "energy": "glassgen energy ../shared/data/ka3d-botan-T0.44/train/isoconfig_N4096T0.44_1_tc07.npz --json",
    "import": "glassgen import ../shared/data/ka3d-botan-T0.44/train -o botan_T0.44.h5",
    "minimize": "glassgen minimize ../shared/data/ka3d-botan-T0.44/train -o botan_inherent.h5 --json",
    "simulate": "glassgen simulate --model ka3d --n 1000 --temperature 0.8 --steps 20000 --frames 10 -o ka3d_T0.8.h5",
    "label": "glassgen label ka3d_T0.8.h5 --t-min 0.1 --t-max 100 --n-times 8 --replicas 32 --workers 2 -o labels.h5",
}



def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    command("info", cmd_info, "Describe a dataset: model, sizes, temperature, labels.", takes_file=True)
    command("energy", cmd_energy, "Potential energy per particle of each configuration.", takes_file=True)
    sub = command("import", cmd_import, "Convert GlassBench/BOTAN npz files into one glassgen HDF5 file.",
                  takes_file=True)
    add_output(sub, kind="file", help="HDF5 file to write")
    sub.add_argument("--temperature", type=positive_float, help="temperature, where the file names do not give it")

    sub = command("minimize", cmd_minimize, "Quench every configuration to its inherent state with FIRE.",
                  takes_file=True)
    add_output(sub, kind="file", help="HDF5 file to write (with inherent_positions)")
    _minimize_options(sub)

    sub = command("simulate", cmd_simulate, "Start, melt, cool and run a KA system at a temperature (Bussi NVT).")
    sub.add_argument("--model", default="ka3d", help="ka3d (default), ka3d-sf or ka2d")
    sub.add_argument("--n", type=positive_int, default=1000, help="number of particles (default 1000)")
    sub.add_argument("--density", type=positive_float, help="number density (default: the model's)")
    sub.add_argument("--chains", type=positive_int, default=1, help="independent configurations run as one batch")
    sub.add_argument("--melt-temperature", type=positive_float, default=2.0, help="melting temperature (default 2.0)")
    sub.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    add_output(sub, kind="file", help="HDF5 file to write")
    _run_options(sub, temperature=0.8, steps=20000, frames=10, spacing=10.0)

    sub = command("label", cmd_label, "Isoconfigurational propensity and bond-breaking labels of every configuration.",
                  takes_file=True)
    add_output(sub, kind="file", help="HDF5 file to write; parts go to OUTPUT.parts/ and a rerun with the same settings "
                                          "resumes from them")
    sub.add_argument("--times", type=positive_float, nargs="+",
                     help="label times (default: a log grid from --t-min..--t-max)")
    sub.add_argument("--t-min", type=positive_float, default=0.1, help="first time of the log grid (default 0.1)")
    sub.add_argument("--t-max", type=positive_float, default=100.0, help="last time of the log grid (default 100)")
    sub.add_argument("--n-times", type=positive_int, default=8, help="points of the log grid (default 8)")
    sub.add_argument("--replicas", type=positive_int, default=32, help="replicas per configuration (default 32)")
    sub.add_argument("--temperature", type=positive_float, help="temperature (default: the dataset's)")
    sub.add_argument("--ensemble", choices=("nve", "nvt"), default="nve", help="replica dynamics (default nve)")
    sub.add_argument("--edges", action="store_true", help="also the BOTAN edge target (pair-distance changes)")
    sub.add_argument("--dt", type=positive_float, default=0.005, help="time step (default 0.005)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_argument("--workers", type=positive_int, help="start a local Dask cluster of this many worker processes")
    sub.add_argument("--scheduler", help="address of a running Dask scheduler to send the jobs to")



def _run_options(sub, *, temperature: float, steps: int, frames: int, spacing: float, melt_steps: int = 2000,
                 cool_steps: int = 5000) -> None:
    sub.add_argument("--temperature", type=positive_float, default=temperature,
                     help=f"target temperature (default {temperature})")
    sub.add_argument("--steps", type=nonnegative_int, default=steps,
                     help=f"equilibration steps at the target temperature (default {steps})")
    sub.add_argument("--frames", type=positive_int, default=frames, help=f"configurations saved per chain (default {frames})")
    sub.add_argument("--spacing", type=positive_float, default=spacing,
                     help=f"time between saved configurations, >= tau_alpha for independent ones (default {spacing})")
    sub.add_argument("--melt-steps", type=nonnegative_int, default=melt_steps,
                     help=f"steps at the melt temperature ({melt_steps})")
    sub.add_argument("--cool-steps", type=nonnegative_int, default=cool_steps,
                     help=f"steps of the linear cooling ({cool_steps})")
    sub.add_argument("--dt", type=positive_float, default=0.005, help="time step (default 0.005)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _minimize_options(sub) -> None:
    sub.add_argument("--fmax", type=positive_float, default=1e-8, help="force tolerance (default 1e-8)")
    sub.add_argument("--max-steps", type=positive_int, default=100_000, help="FIRE step limit (default 100000)")
