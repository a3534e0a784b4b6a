"""Physics check: tau_alpha of KA3D (N = 1000, density 1.2) from equilibrium MD, against published values.

For each temperature, B independent chains are melted, cooled, equilibrated for about 20 relaxation times (Bussi
NVT) and run for about 15 more while unwrapped positions are recorded. F_s(q = 7.25, t) of the A particles is
averaged over time origins and chains; tau_alpha is where it crosses 1/e. The energy per particle and the equilibrium
checks (stationary energy, F_s decayed) are reported too.

    python experiments/relaxation_times.py                 # all four temperatures, ~20 minutes on one core
    python experiments/relaxation_times.py --temperatures 0.8 0.7 --json out.json

GlassBench (N = 4096) took t = 16.5 at T = 0.64 and t = 52 at T = 0.56 as tau_alpha (REFERENCE.md section 1).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from glassgen.dynamics import BussiNVT, equilibrate, init_state, relaxation_time, run, self_intermediate_scattering
from glassgen.systems import ForceField, lattice_start
from samplers.diagnostics import energy_stationarity

GLASSBENCH_TAU = {0.64: 16.5, 0.56: 52.0}
#: Rough guesses that set run lengths only (a run that is too short shows up as F_s never reaching 1/e).
TAU_GUESS = {1.0: 1.5, 0.8: 4.0, 0.7: 8.0, 0.64: 17.0, 0.56: 55.0}
Q = 7.25
DT = 0.005


def measure(temperature: float, n: int, chains: int, seed: int, equilibration_taus: float, production_taus: float):
    guess = TAU_GUESS.get(temperature, 50.0)
    start = lattice_start("ka3d", n, batch=chains, seed=seed)
    begin = time.perf_counter()
    system, velocities = equilibrate(start, temperature, round(equilibration_taus * guess / DT), dt=DT, seed=seed,
                                     melt_temperature=2.0, melt_steps=2000, cool_steps=5000, progress=True)
    ff = ForceField("ka3d", system.box, system.types)
    nvt = BussiNVT(ff, DT, temperature, generator=seed + 1)
    state = init_state(ff, system.positions, velocities)
    production_steps = round(production_taus * guess / DT)
    stride = max(1, production_steps // 1500)
    frames, energies = [], []

    def record(step, current):
        frames.append(current.positions.to(torch.float32).clone())
        energies.append((current.potential_energy / n).double().numpy())

    run(nvt, state, production_steps, callback=record, every=stride, progress=True, desc=f"T = {temperature}")
    positions = torch.stack(frames).numpy()  # (F, B, N, 3), unwrapped
    times, fs = fs_curve(positions, (system.types == 0).numpy(), stride * DT)
    tau = float(relaxation_time(times, fs))
    # Blocks of about one (guessed) relaxation time, so their mean energies are nearly independent.
    p_value, stationary, _, _ = energy_stationarity(np.stack(energies, 1), max(2, int(production_taus)))
    return {
        "temperature": temperature, "n": n, "chains": chains, "tau_alpha": tau,
        "glassbench_tau_alpha_N4096": GLASSBENCH_TAU.get(temperature),
        "energy_per_particle": float(np.mean(energies)), "energy_halves_p_value": p_value, "stationary": stationary,
        "production_over_tau": production_steps * DT / tau, "seconds": time.perf_counter() - begin,
        "fs_at_glassbench_time": fs_at(times, fs, GLASSBENCH_TAU.get(temperature)),
        "fs_times": times.tolist(), "fs": fs.tolist(),
    }


def fs_curve(positions: np.ndarray, a_particles: np.ndarray, frame_time: float, q: float = Q):
    """F_s(q, t) of the A particles from unwrapped frames (F, B, N, d), averaged over time origins and chains
    (q = 7.25, the 3D peak, by default; experiments/swap_vs_md.py passes 7.0 for KA2D).

    Returns (times, fs) on about 60 log-spaced lags; shared with the LAMMPS cross-check so both are analysed alike.
    """
    n_frames = len(positions)
    lags = np.unique(np.geomspace(1, n_frames - 1, 60).astype(int))
    fs = []
    for lag in lags:
        origins = np.arange(0, n_frames - lag, max(1, (n_frames - lag) // 40))
        dr = positions[origins + lag][:, :, a_particles] - positions[origins][:, :, a_particles]
        fs.append(float(self_intermediate_scattering(dr.reshape(-1, 1, int(a_particles.sum()), dr.shape[-1]), q)[0]))
    return lags * frame_time, np.array(fs)


def fs_at(times: np.ndarray, fs: np.ndarray, t: float | None) -> float | None:
    """F_s interpolated (in log t) at time t, or None when t is None or outside the measured range."""
    if t is None or not times[0] <= t <= times[-1]:
        return None
    return float(np.interp(np.log(t), np.log(times), fs))


def protocol_arguments(doc: str, *, temperatures: list, chains: int, seed: int) -> argparse.Namespace:
    """The command-line settings of the relaxation-time protocol, shared with the LAMMPS cross-check."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=temperatures)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=chains)
    parser.add_argument("--equilibration-taus", type=float, default=20.0)
    parser.add_argument("--production-taus", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--json", help="write the results (with the F_s curves) to this file")
    return parser.parse_args()


def main() -> None:
    args = protocol_arguments(__doc__, temperatures=[0.8, 0.7, 0.64, 0.56], chains=4, seed=0)
    torch.set_num_threads(1)
    results = [measure(t, args.n, args.chains, args.seed, args.equilibration_taus, args.production_taus)
               for t in args.temperatures]
    print(f"\n{'T':>5} {'tau_alpha':>10} {'GlassBench':>11} {'ratio':>6} {'F_s(t_GB)':>10} {'E/N':>9} "
          f"{'stationary':>11} {'run/tau':>8}")
    for r in results:
        ref = r["glassbench_tau_alpha_N4096"]
        ratio = f"{r['tau_alpha'] / ref:.2f}" if ref else "-"
        at = r["fs_at_glassbench_time"]
        print(f"{r['temperature']:>5} {r['tau_alpha']:>10.2f} {ref or '-':>11} {ratio:>6} "
              f"{'-' if at is None else f'{at:.3f}':>10} "
              f"{r['energy_per_particle']:>9.4f} {r['stationary']!s:>11} {r['production_over_tau']:>8.1f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
