"""Graph networks on one real KA3D configuration (N = 4096): crop sizes and CPU seconds per forward (and backward).

    python benchmarks/gnn_speed.py          # crops for n = 7, 4 and 3, then timings of every network, one thread
    python benchmarks/gnn_speed.py --crops-only

Crops: particles within n + c hops of one centre particle (c = 0, 1, 2), mean and range over ``--centres`` centres, on
the r < 2 graph. Timings: best of ``--repeats`` on the float32 networks with default sizes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from glassgen.predictors.gnn import BapstGNN, BotanGNN, SE3GNN, crop, periodic_graph

BOTAN_FILE = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ka3d-botan-T0.44" / "train"
              / "isoconfig_N4096T0.44_1_tc07.npz")
BOX = 15.05658


def crop_sizes(data, centres: int) -> None:
    picks = np.random.default_rng(0).choice(data.num_nodes, centres, replace=False)
    print(f"graph: N = {data.num_nodes}, E = {data.num_edges} ({data.num_edges / data.num_nodes:.1f} per particle)")
    for steps in (7, 4, 3):
        for core in (0, 1, 2):
            pieces = [crop(data, [int(c)], steps, core) for c in picks]
            sizes = np.array([p.num_nodes for p in pieces])
            loss = np.array([int(p.loss_mask.sum()) for p in pieces])
            print(f"n = {steps}, c = {core}: {sizes.mean():.0f} particles ({sizes.min()}-{sizes.max()}), "
                  f"{loss.mean():.0f} carrying the loss, {np.mean(sizes / loss):.0f} per loss particle")


def seconds(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        begin = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - begin)
    return best


def timings(data, repeats: int) -> None:
    torch.manual_seed(0)
    nets = {"Bapst": BapstGNN(), "BOTAN": BotanGNN(), "SE(3)": SE3GNN(), "SE(3) + inherent": SE3GNN(inherent=True)}
    for name, net in nets.items():
        def forward():
            with torch.no_grad():
                net(data)

        def step():
            out = net(data)
            loss = sum(o.square().mean() for o in (out if isinstance(out, tuple) else (out,)))
            loss.backward()

        print(f"{name:>17}: forward {seconds(forward, repeats):6.2f} s, forward + backward "
              f"{seconds(step, repeats):6.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=BOTAN_FILE)
    parser.add_argument("--centres", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--crops-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    npz = np.load(args.file)
    x = torch.as_tensor(npz["initial_positions"], dtype=torch.float32)
    # The inherent state is not in the BOTAN file; a small random displacement stands in for it (timing only).
    x_inherent = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    data = periodic_graph(x, npz["types"].astype(np.int64), [BOX] * 3, inherent_positions=x_inherent)
    crop_sizes(data, args.centres)
    if not args.crops_only:
        timings(data, args.repeats)


if __name__ == "__main__":
    main()
