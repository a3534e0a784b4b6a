"""Seconds per Metropolis sweep of Kob-Andersen mixtures: sequential single-particle moves vs checkerboard updates.

Systems: KA3D N = 1000 and 4096, KA2D N = 1290 (random starts, T = 1.0, step 0.1, float64), B = 1 and 8 chains.
A sweep is N attempted moves per chain. Checkerboard rows time whole sweeps (``MetropolisMC.sweep``); sequential
rows time ``--attempts`` single attempts and scale them to N (every attempt costs the same), since a whole sequential
sweep of 8 x 4096 particles takes a while. Each figure is the best of ``--repeats`` (wall clock): the machine is
shared with other jobs, which only ever make a repeat slower, so figures drift between runs.

KA3D N = 1000 has a box of 9.4 sigma, only 2 cells of edge >= the cut-off 2.5 per side: one cell per colour, so its
checkerboard sweep is the sequential one (``MetropolisMC.sweep`` falls back to single moves when K = 1).

One core: ``torch.set_num_threads(1)``; on a busy 2-core machine torch's default two threads make these small-tensor
updates many times slower.

Usage::

    python benchmarks/mc_speed.py              # about a minute
    python benchmarks/mc_speed.py --json benchmarks/results/mc_speed.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from glassgen.systems import random_start
from glassgen.targets import KATarget
from samplers.mc import MetropolisMC

CASES = (("ka3d", 1000), ("ka3d", 4096), ("ka2d", 1290))


def seconds_per_sweep(model: str, n: int, chains: int, update: str, attempts: int, repeats: int) -> tuple[float, int]:
    """Best seconds per sweep over ``repeats``, and the moves per checkerboard update (K; 1 for sequential)."""
    system = random_start(model, n, batch=chains, seed=1)
    target = KATarget(model, system)
    mc = MetropolisMC(target, system.positions, system.types, temperature=1.0, step=0.1, update=update, seed=2,
                      record_overlap=False, engine="torch")  # the torch engine's updates (mc_compiled_speed.py: numba)
    per_update = mc.kernels[0].attempts  # K of a checkerboard update, 1 for sequential moves
    best = float("inf")
    for _ in range(repeats + 1):  # the first repeat warms up
        if update == "checkerboard":
            start = mc.seconds
            mc.sweep(1)
            seconds = mc.seconds - start
        else:
            start = time.perf_counter()
            for _ in range(attempts):
                mc.kernels[0].attempt(mc.state)
            seconds = (time.perf_counter() - start) * n / attempts
        best = min(best, seconds)
    torch.testing.assert_close(mc.energy, target.energy(mc.x, mc.types), rtol=1e-9, atol=1e-6)
    return best, per_update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=300, help="sequential attempts timed per repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    print("Seconds per sweep (N attempted moves per chain), best of repeats, one thread; shared machine.")
    print(f"{'system':<8}{'N':>6}{'B':>4}{'K':>5}{'sequential':>12}{'checkerboard':>14}{'ratio':>8}")
    for model, n in CASES:
        for chains in (1, 8):
            seq, _ = seconds_per_sweep(model, n, chains, "sequential", args.attempts, args.repeats)
            cb, k = seconds_per_sweep(model, n, chains, "checkerboard", args.attempts, args.repeats)
            rows.append({"model": model, "n": n, "chains": chains, "moves_per_update": k, "sequential_s": seq,
                         "checkerboard_s": cb, "ratio": seq / cb})
            print(f"{model:<8}{n:>6}{chains:>4}{k:>5}{seq:>12.3f}{cb:>14.3f}{seq / cb:>8.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": 1, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
