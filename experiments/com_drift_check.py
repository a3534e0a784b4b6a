"""Check of experiments/swap_vs_md.py: how much of the MC overlap decay is centre-of-mass drift?

Single-particle Monte Carlo does not conserve the centre of mass: it random-walks by about
sqrt(sweeps x acceptance x <dx^2> / N), 0.2-0.26 after the 5-8e4 sweeps of the low-temperature runs, comparable with
the overlap radius a = 0.3. MD conserves momentum, so its overlap has no such term. This script equilibrates KA2D
N = 1290 at T (swap MC, the same staged protocol as swap_vs_md.py), then runs swap MC and Metropolis from that start
while recording the label-invariant overlap (samplers.diagnostics.overlap) with and without removing each chain's
centre-of-mass displacement, and reports both 1/e decorrelation times (sweeps).

    python experiments/com_drift_check.py --temperature 0.23 --sweeps 76000 --json experiments/results/com_drift_check.json
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
from swap_vs_md import EQUIL_SCALE  # noqa: E402

from glassgen.sampling import SamplerSettings, anneal, run_sampler, to_dataset  # noqa: E402
from glassgen.targets import KATarget  # noqa: E402
from glassgen.threads import set_threads  # noqa: E402
from samplers.diagnostics import overlap, random_overlap  # noqa: E402
from samplers.mc import MetropolisMC  # noqa: E402


def overlaps(x0, t0, x, t, box, fractions):
    """Total label-invariant overlap (B,) with and without the centre-of-mass displacement of each chain."""
    dr = x - x0
    dr = dr - box * torch.round(dr / box)
    com = dr.mean(1, keepdim=True)
    plain = overlap(x0, t0, x, t, box, 3).numpy() @ fractions
    corrected = overlap(x0, t0, torch.remainder(x - com, box), t, box, 3).numpy() @ fractions
    return plain, corrected, np.linalg.norm(com[:, 0].numpy(), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperature", type=float, default=0.23)
    parser.add_argument("--path", type=float, nargs="+", default=[0.40, 0.35, 0.30, 0.26])
    parser.add_argument("--equil-sweeps", type=int, default=2000)
    parser.add_argument("--sweeps", type=int, default=76000)
    parser.add_argument("--swap-sweeps", type=int, default=30000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--json")
    args = parser.parse_args()
    set_threads(1)
    begin = time.perf_counter()
    base = SamplerSettings(sampler="swap", model="ka2d", n=1290, chains=args.chains, seed=7, p_swap=0.2)
    start, _ = anneal(replace(base, temperature=args.path[0], burn_in=300), 1.0, 3)
    for k, t in enumerate(args.path + [args.temperature]):
        sweeps = round(args.equil_sweeps * EQUIL_SCALE.get(t, 5.0))
        start = to_dataset(run_sampler(replace(base, temperature=t, sweeps=sweeps, burn_in=100, seed=20 + k),
                                       start=start))
    system = start.system()
    target = KATarget("ka2d", system)
    box = system.box.to(torch.float64)
    counts = np.bincount(system.types.numpy(), minlength=3)
    fractions = counts / counts.sum()
    q_inf = float(random_overlap(counts, box) @ fractions)
    threshold = q_inf + (1 - q_inf) / math.e
    out = {"temperature": args.temperature, "chains": args.chains, "q_random": q_inf, "threshold": threshold,
           "equilibration_seconds": time.perf_counter() - begin, "runs": {}}
    for name, p_swap, sweeps in (("swap", 0.2, args.swap_sweeps), ("metropolis", 0.0, args.sweeps)):
        x = system.batched_positions().to(torch.float64)
        types = system.types.expand(x.shape[0], -1).clone()
        mc = MetropolisMC(target, x.clone(), types.clone(), temperature=args.temperature, step=0.07, p_swap=p_swap,
                          seed=11, engine="auto")
        mc.sweep(50, adapt=True)
        x0, t0 = mc.x.clone().to(torch.float64), mc.types.clone()
        series = []
        for s in range(args.every, sweeps + 1, args.every):
            mc.sweep(args.every)
            plain, corrected, com = overlaps(x0, t0, mc.x.to(torch.float64), mc.types, box, fractions)
            series.append((s, float(plain.mean()), float(corrected.mean()), float(com.mean())))
        arr = np.array(series)

        def first(column):
            below = np.flatnonzero(arr[:, column] < threshold)
            return float(arr[below[0], 0]) if below.size else None

        out["runs"][name] = {"sweeps": sweeps, "decorrelation_sweeps": first(1),
                             "decorrelation_sweeps_com_removed": first(2),
                             "series_sweeps_q_qcom_comdisp": arr.tolist()}
        print(f"T={args.temperature} {name:>10}: overlap 1/e at {first(1)} sweeps, with the centre of mass removed "
              f"{first(2)} (of {sweeps}); final Q {arr[-1, 1]:.3f}, Q_com-removed {arr[-1, 2]:.3f}, centre-of-mass "
              f"displacement {arr[-1, 3]:.3f} (threshold {threshold:.3f})", flush=True)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(out, handle, indent=1)
    out["seconds"] = time.perf_counter() - begin
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
