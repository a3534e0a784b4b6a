"""Wall-clock seconds of each `glassgen` command with 1 and with all CPU threads, on an idle and on a busy machine.

Why: torch and OpenMP default to one thread per core. glassgen's work is many small operations (numba pair loops,
FIRE and MD steps, Monte Carlo moves, small MLPs), where extra threads barely help, while on a machine whose cores
are taken by other work the spinning OpenMP threads wait on each other and a command becomes many times slower.
This benchmark measures both, so that the default of ``--threads`` (1) rests on numbers.

Each command runs as its own ``glassgen`` process (imports and start-up included) on small real workloads from
../shared/data. "busy" runs ``--busy`` extra processes that keep cores occupied (default: one per core).

Usage::

    python benchmarks/threads.py                     # about 5 minutes on 2 cores
    python benchmarks/threads.py --json benchmarks/results/threads.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BOTAN = SHARED / "ka3d-botan-T0.44" / "train"


def commands(work: Path) -> dict[str, list[str]]:
    """Small but real runs of every command that computes (tens of seconds at most on one core)."""
    small = work / "small.h5"
    return {
        "minimize": ["minimize", str(BOTAN / "isoconfig_N4096T0.44_1_tc07.npz"), "-o", str(work / "inh.h5")],
        "simulate": ["simulate", "--n", "1000", "--steps", "2000", "--frames", "2", "--spacing", "2",
                     "--melt-steps", "500", "--cool-steps", "500", "-o", str(small)],
        "label": ["label", str(small), "--times", "0.5", "2", "--replicas", "8", "-o", str(work / "labels-{run}.h5")],
        "train ridge": ["train", "--model", "ridge", "--data", str(BOTAN), "--configurations", "0:3",
                        "-o", str(work / "ridge.pt")],
        "train glassmlp": ["train", "--model", "glassmlp", "--data", str(BOTAN), "--configurations", "0:3",
                           "--set", "stage1_epochs=20", "stage2_epochs=10", "-o", str(work / "mlp.pt")],
        "bench": ["bench", "--descriptor", "EPOT", "--data", str(BOTAN), "--configurations", "7:10"],
        "sample": ["sample", "--sampler", "swap", "--model", "ka2d", "--n", "1290", "--chains", "2", "--sweeps",
                   "20", "--burn-in", "10", "-o", str(work / "sample.h5")],
    }


def spin() -> None:
    """Keep one core busy, as another user's job would."""
    x = 0
    while True:
        x = (x * 31 + 7) % 1_000_003


def seconds(argv: list[str], threads: int, run: str) -> float:
    argv = [a.replace("{run}", run) for a in argv]
    begin = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "glassgen.cli", *argv, "--threads", str(threads), "--quiet",
                           "--json"], capture_output=True, text=True)
    elapsed = time.perf_counter() - begin
    if done.returncode != 0:
        raise RuntimeError(f"glassgen {' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=os.cpu_count(), help="busy processes (default: one per core)")
    parser.add_argument("--only", nargs="+", help="measure only these commands")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    cores = os.cpu_count()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        cases = commands(work)
        seconds(cases["simulate"], 1, "setup")  # the input of `label`
        for name, argv in cases.items():
            if args.only and name not in args.only:
                continue
            row = {"command": name}
            for load in ("idle", "busy"):
                spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
                if load == "busy":
                    for p in spinners:
                        p.start()
                try:
                    for threads in (1, cores):
                        row[f"{load}_{threads}"] = seconds(argv, threads, f"{load}{threads}")
                finally:
                    for p in spinners:
                        if p.is_alive():
                            p.terminate()
            rows.append(row)
            print(f"{name:<16} idle: {row['idle_1']:6.1f} s (1 thread) {row[f'idle_{cores}']:6.1f} s ({cores}) "
                  f"| busy: {row['busy_1']:6.1f} s (1) {row[f'busy_{cores}']:6.1f} s ({cores}) "
                  f"| {cores} threads / 1 thread: idle {row[f'idle_{cores}'] / row['idle_1']:.2f}, "
                  f"busy {row[f'busy_{cores}'] / row['busy_1']:.2f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cores": cores, "busy_processes": args.busy, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
