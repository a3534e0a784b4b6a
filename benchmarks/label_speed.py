"""Isoconfigurational labelling speed: replicas batched in one tensor versus the same replicas one after another.

    python benchmarks/label_speed.py            # KA3D N = 1000 and 4096, R = 32 replicas, 400 steps, one core

Prints replica-steps per second both ways and their ratio (batched / sequential; above 1 means batching pays).
"""

from __future__ import annotations

import argparse
import time

import torch

from glassgen.dynamics import equilibrate, isoconfigurational_labels
from glassgen.systems import lattice_start


def replica_steps_per_second(system, replicas: int, steps: int, batched: bool) -> float:
    times = [steps * 0.005]
    begin = time.perf_counter()
    if batched:
        isoconfigurational_labels(system, 0.8, times, n_replicas=replicas, seed=0)
    else:
        for r in range(replicas // 2):  # pairs: the smallest ensemble the function accepts
            isoconfigurational_labels(system, 0.8, times, n_replicas=2, seed=r)
    return replicas * steps / (time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--replicas", type=int, default=32)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'N':>6} {'R':>4} {'batched [rep-steps/s]':>22} {'sequential (pairs)':>19} {'ratio':>6}")
    for n in args.sizes:
        system, _ = equilibrate(lattice_start("ka3d", n, seed=0), 0.8, 500, melt_steps=500, progress=False)
        replica_steps_per_second(system, 2, 20, True)  # compile and warm caches
        batched = replica_steps_per_second(system, args.replicas, args.steps, True)
        sequential = replica_steps_per_second(system, args.replicas, args.steps, False)
        print(f"{n:>6} {args.replicas:>4} {batched:>22.0f} {sequential:>19.0f} {batched / sequential:>6.2f}")


if __name__ == "__main__":
    main()
