"""Issue 10, item 5, first bullet: structural decorrelation of swap MC against Metropolis and MD, KA2D N = 1290.

Protocol (one core, one process): two chains from random starts are annealed by swap MC (compiled engine) from
T = 1.0 to the first temperature; then, going down in temperature, the final chains of T are the start of the next
colder T. At each T:

1. equilibration: ``--equil-sweeps`` swap MC sweeps (scaled up at low T, see EQUIL_SCALE) -> the equilibrated start;
2. swap MC production (p_swap = 0.2, 50 burn-in sweeps that adapt the step) for ``--budget`` x BUDGET_SCALE seconds
   from that start: E/N with its error, the structural decorrelation time (label-invariant overlap with the start of
   production decayed to 1/e of the way to its random value; sweeps, and CPU seconds per chain), ``equilibrated``;
3. Metropolis (compiled, no swaps) from the same start for the same budget: its decorrelation time, or the lower
   bound "> sweeps run" when the overlap did not decay;
4. at the MD temperatures (``--md-temperatures``, default 0.40 and 0.35): Bussi NVT MD (dt = 0.005) from the same
   start, F_s(q = 7.0, t) of the A particles averaged over time origins and chains, tau_alpha where it crosses 1/e
   (the helpers of experiments/relaxation_times.py); CPU seconds per chain = tau_alpha / dt x measured seconds per step
   per chain. At T = 0.30 and 0.23 the GlassBench tau_alpha (REFERENCE.md; literature, N = 1290) is listed instead,
   converted to CPU seconds with the MD speed measured here (dt = 0.005 assumed).

At T = 0.30 the mean E/N is compared with the GlassBench configuration (-2.6068, one configuration: its own scatter at
N = 1290 is ~0.003-0.005). Results are written to the JSON after every temperature, so a cut run keeps what it has.
MD also reports the time at which the same label-invariant overlap the MC summaries use decays to 1/e of the way to
its random value (``overlap_decorrelation_time``), for a like-for-like comparison. Caveat: the MC overlap includes the
centre-of-mass random walk of single-particle MC (MD conserves momentum); for slow samplers at long runs it fakes
decorrelation (Metropolis at T = 0.23): experiments/com_drift_check.py measures it.

    python experiments/swap_vs_md.py --json experiments/results/swap_vs_md.json          # ~25 min on one core
    python experiments/swap_vs_md.py --temperatures 0.4 0.35 --budget 20 --json /tmp/quick.json
    python experiments/swap_vs_md.py --temperatures 0.4 0.35 0.3 --md-temperatures 0.3 --md-only \
        --json experiments/results/swap_vs_md_md_T0.30.json                              # MD's own tau at 0.30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relaxation_times import fs_at, fs_curve  # noqa: E402
from sampler_comparison import _g  # noqa: E402

from glassgen.dynamics import BussiNVT, init_state, relaxation_time, run  # noqa: E402
from glassgen.dynamics.velocities import maxwell_boltzmann  # noqa: E402
from glassgen.sampling import SamplerSettings, anneal, run_sampler, summarize, to_dataset  # noqa: E402
from glassgen.systems import ForceField  # noqa: E402
from glassgen.threads import set_threads  # noqa: E402

#: GlassBench KA2D tau_alpha (REFERENCE.md section 1; N = 1290, literature values, not measured here).
GLASSBENCH_TAU = {0.30: 2200.0, 0.23: 918306.0}
GLASSBENCH_ENERGY_T030 = -2.6068  # the shared configuration N1290T0.30_3_tc01 (REFERENCE.md; rechecked below)
GLASSBENCH_FILE = "/work/shared/data/ka2d-glassbench-T0.30/N1290T0.30_3_tc01.npz"
#: MD production length (MD time) per temperature; a too short run shows up as F_s never reaching 1/e.
MD_PRODUCTION = {0.40: 400.0, 0.35: 2500.0, 0.30: 6000.0}
#: Longer equilibration and production budgets at lower temperatures (multiples of --equil-sweeps and --budget).
EQUIL_SCALE = {0.40: 1.0, 0.35: 1.5, 0.30: 2.5, 0.26: 5.0, 0.23: 7.5}
BUDGET_SCALE = {0.40: 1.0, 0.35: 1.0, 0.30: 2.0, 0.26: 2.5, 0.23: 3.0}
Q_2D = 7.0
DT = 0.005


def glassbench_energy() -> float | None:
    """E/N of the shared GlassBench configuration, recomputed (None when the file is absent)."""
    if not os.path.exists(GLASSBENCH_FILE):
        return None
    from glassgen.cli.data import evaluate_energies
    from glassgen.io import load

    energies, _ = evaluate_energies(load(GLASSBENCH_FILE))
    return float(np.mean(energies))


def md_tau_alpha(system, temperature: float, production: float, seed: int) -> dict:
    """tau_alpha from Bussi NVT MD of the chains of ``system`` (already equilibrated by swap MC)."""
    ff = ForceField("ka2d", system.box, system.types)
    x = system.batched_positions().to(torch.float64)
    generator = torch.Generator().manual_seed(seed)
    v = maxwell_boltzmann(x.shape[0], x.shape[1], 2, temperature, generator=generator, dtype=x.dtype, device=x.device)
    state = init_state(ff, x, v.reshape(x.shape))
    nvt = BussiNVT(ff, DT, temperature, generator=seed + 1)
    begin = time.perf_counter()
    state = run(nvt, state, 2000, progress=False)  # thermalise the velocities (10 MD time units)
    steps = round(production / DT)
    stride = max(1, steps // 1500)
    frames, energies = [], []

    def record(step, current):
        frames.append(current.positions.to(torch.float32).clone())
        energies.append((current.potential_energy / x.shape[1]).double().numpy())

    run(nvt, state, steps, callback=record, every=stride, progress=False)
    seconds = time.perf_counter() - begin
    positions = torch.stack(frames).numpy()  # (F, B, N, 2), unwrapped
    times, fs = fs_curve(positions, (system.types == 0).numpy(), stride * DT, q=Q_2D)
    q_time = md_overlap_time(positions, system, stride * DT)
    crossed = bool(fs.min() < 1 / math.e)
    tau = float(relaxation_time(times, fs)) if crossed else None
    per_step_per_chain = seconds / (steps + 2000) / x.shape[0]
    return {"temperature": temperature, "md_time": production, "chains": int(x.shape[0]), "tau_alpha": tau,
            "tau_alpha_lower_bound": None if crossed else float(times[-1]),
            "seconds": seconds, "seconds_per_step_per_chain": per_step_per_chain,
            "tau_alpha_cpu_seconds_per_chain": None if tau is None else tau / DT * per_step_per_chain,
            "energy_per_particle": float(np.mean(energies)),
            "overlap_decorrelation_time": q_time,
            "overlap_decorrelation_cpu_seconds_per_chain": None if q_time is None else q_time / DT * per_step_per_chain,
            "fs_at_glassbench_time": fs_at(times, fs, GLASSBENCH_TAU.get(temperature)),
            "fs_times": times.tolist(), "fs": fs.tolist()}


def md_overlap_time(positions: np.ndarray, system, frame_time: float, samples: int = 300) -> float | None:
    """MD time until the label-invariant overlap with the first frame (samplers.diagnostics.overlap, a = 0.3, the
    measure the MC summaries use) has decayed to 1/e of the way to its random value; one time origin, chains
    averaged, as for the samplers. None when it did not."""
    from samplers.diagnostics import overlap, random_overlap

    box = system.box.to(torch.float64)
    types = system.types.expand(positions.shape[1], -1)
    counts = np.bincount(system.types.numpy(), minlength=3)
    fractions = counts / counts.sum()
    q_inf = float(random_overlap(counts, box) @ fractions)
    reference = torch.remainder(torch.as_tensor(positions[0], dtype=torch.float64), box)
    for j in np.unique(np.linspace(1, len(positions) - 1, samples).astype(int)):
        x = torch.remainder(torch.as_tensor(positions[j], dtype=torch.float64), box)
        q = float((overlap(reference, types, x, types, box, 3).numpy() @ fractions).mean())
        if q < q_inf + (1 - q_inf) / math.e:
            return float(j * frame_time)
    return None


def per_chain(seconds, chains: int):
    return None if seconds is None else seconds / chains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.40, 0.35, 0.30, 0.26, 0.23])
    parser.add_argument("--md-temperatures", type=float, nargs="*", default=[0.40, 0.35])
    parser.add_argument("--n", type=int, default=1290)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--equil-sweeps", type=int, default=2000, help="swap sweeps equilibrating each T (x scale)")
    parser.add_argument("--budget", type=float, default=60.0, help="production seconds per sampler (x scale)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--md-only", action="store_true",
                        help="equilibrate by swap MC and run MD only (no swap / Metropolis production), e.g. "
                             "--temperatures 0.4 0.35 0.3 --md-temperatures 0.3 --md-only for MD's own tau at 0.30")
    parser.add_argument("--json", help="write the results here (after every temperature)")
    args = parser.parse_args()
    set_threads(1)
    out = {"protocol": {k: v for k, v in vars(args).items()}, "equil_scale": EQUIL_SCALE,
           "budget_scale": BUDGET_SCALE, "glassbench_tau_alpha": GLASSBENCH_TAU,
           "glassbench_energy_T0.30": glassbench_energy(), "points": [], "complete": False}
    base = SamplerSettings(sampler="swap", model="ka2d", n=args.n, chains=args.chains, seed=args.seed, p_swap=0.2)
    begin_all = time.perf_counter()
    start, md_speed = None, None
    for k, temperature in enumerate(args.temperatures):
        point = {"temperature": temperature}
        begin = time.perf_counter()
        equil = round(args.equil_sweeps * EQUIL_SCALE.get(temperature, 5.0))
        if start is None:  # random starts: staged cooling from T = 1.0 first
            start, point["anneal"] = anneal(replace(base, temperature=temperature, burn_in=300), 1.0, 3)
        settings = replace(base, temperature=temperature, sweeps=equil, burn_in=100, seed=args.seed + 10 * k)
        outcome = run_sampler(settings, start=start)
        start = to_dataset(outcome)
        point["equilibration"] = {"sweeps": equil + 100, "seconds": time.perf_counter() - begin,
                                  **{key: summarize(outcome)[key] for key in
                                     ("energy_per_particle_mean", "energy_per_particle_halves", "equilibrated",
                                      "overlap_decorrelation_sweeps")}}
        budget = args.budget * BUDGET_SCALE.get(temperature, 3.0)
        rows = {}
        for name in () if args.md_only else ("swap", "metropolis"):
            settings = replace(base, sampler=name, temperature=temperature, burn_in=50, seed=args.seed + 10 * k + 1)
            rows[name] = summarize(run_sampler(settings, budget_seconds=budget, start=start))
            r = rows[name]
            print(f"T={temperature} {name:>10}: E/N {r['energy_per_particle_mean']:.4f} +- "
                  f"{r['energy_per_particle_stderr']:.4f}, Q 1/e {_g(r['overlap_decorrelation_sweeps'], 0)} sweeps of "
                  f"{r['sweeps']} ({r['seconds']:.0f} s), equilibrated {r['equilibrated']}", flush=True)
        point["budget_seconds"] = budget
        point["rows"] = rows
        if temperature in args.md_temperatures:
            point["md"] = md_tau_alpha(start.system(), temperature, MD_PRODUCTION.get(temperature, 400.0),
                                       args.seed + 100 + k)
            md_speed = point["md"]["seconds_per_step_per_chain"]
            m = point["md"]
            print(f"T={temperature} MD: tau_alpha {_g(m['tau_alpha'], 0)} (run {m['md_time']:g}), E/N "
                  f"{m['energy_per_particle']:.4f}, {m['seconds']:.0f} s", flush=True)
        point["seconds"] = time.perf_counter() - begin
        out["points"].append(point)
        out["md_seconds_per_step_per_chain"] = md_speed
        out["seconds"] = time.perf_counter() - begin_all
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(out, handle, indent=1)
    out["complete"] = True
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)
    if not args.md_only:
        print_table(out)


def print_table(out: dict) -> None:
    chains = out["protocol"]["chains"]
    speed = out.get("md_seconds_per_step_per_chain")
    print(f"\n{'T':>5} {'E/N swap':>17} {'eq':>5} {'swap Q[sw]':>10} {'swap Q[s]':>9} {'metro Q[sw]':>11} "
          f"{'metro Q[s]':>10} {'ratio[s]':>8} {'MD tau':>8} {'MD tau[s]':>9} {'MD/swap[s]':>10} {'acc swap':>15}")
    for p in out["points"]:
        s, m = p["rows"]["swap"], p["rows"]["metropolis"]
        swap_s = per_chain(s["overlap_decorrelation_seconds"], chains)
        if m["overlap_decorrelation_sweeps"] is None:
            metro_sw, metro_s = f"> {m['sweeps']}", f"> {m['seconds'] / chains:.0f}"
        else:
            metro_sw, metro_s = f"{m['overlap_decorrelation_sweeps']:.3g}", \
                f"{per_chain(m['overlap_decorrelation_seconds'], chains):.3g}"
        if swap_s is None:
            ratio = "-"
        elif m["overlap_decorrelation_sweeps"] is None:
            ratio = f"> {m['seconds'] / chains / swap_s:.2g}"
        else:
            ratio = f"{per_chain(m['overlap_decorrelation_seconds'], chains) / swap_s:.2g}"
        md = p.get("md")
        if md and md["tau_alpha"] is not None:
            tau, tau_s = f"{md['tau_alpha']:.3g}", md["tau_alpha_cpu_seconds_per_chain"]
        elif md:
            tau, tau_s = f">{md['tau_alpha_lower_bound']:.3g}", None
        elif p["temperature"] in GLASSBENCH_TAU and speed:
            tau, tau_s = f"{GLASSBENCH_TAU[p['temperature']]:.3g}*", GLASSBENCH_TAU[p["temperature"]] / DT * speed
        else:
            tau, tau_s = "-", None
        md_over_swap = "-" if tau_s is None or swap_s is None else f"{tau_s / swap_s:.2g}"
        acc = "/".join(f"{a:.1e}" for a in s.get("swap_acceptance", []))
        sweeps = f"{_g(s['overlap_decorrelation_sweeps'], 0)}" if swap_s is not None else f"> {s['sweeps']}"
        print(f"{p['temperature']:>5} {s['energy_per_particle_mean']:>9.4f}+-{s['energy_per_particle_stderr']:.4f} "
              f"{str(s['equilibrated'])[:5]:>5} {sweeps:>10} {_g(swap_s, 9)} {metro_sw:>11} {metro_s:>10} "
              f"{ratio:>8} {tau:>8} {_g(tau_s, 9)} {md_over_swap:>10} {acc:>15}")
    print("* GlassBench tau_alpha (literature, N = 1290), CPU seconds from this machine's MD speed, dt = 0.005 assumed."
          f" GlassBench configuration E/N: {out.get('glassbench_energy_T0.30')}")


if __name__ == "__main__":
    main()
