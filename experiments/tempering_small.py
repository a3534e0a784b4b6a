"""Issue 10, item 5, second bullet (reduced): KA2D at small N down to T = 0.20 by parallel tempering with swap moves.

glassgen's ``tempering`` sampler runs displacement moves only (``glassgen.sampling._tempering`` sets p_swap = 0), so
this script builds :class:`samplers.tempering.ParallelTempering` itself with ``p_swap = 0.2`` (swap A<->C, B<->C at every
rung, compiled engine) and follows every replica (walker) along the ladder to count round trips (lowest -> highest ->
lowest rung). B independent ladders (chains) start from random configurations; the ladder is geometric from T_min to
T_max. After a burn-in (steps adapted; ``--burn-in-share`` of the time) the production records, per rung: E/N with
its error (glassgen.sampling.energy_error), the potential part of the specific heat per particle
c = N var(E/N) / T^2 (the kinetic part adds 1 in 2D; error from the spread over chains), the halves test of the energy,
the exchange acceptances, and the round trips completed in production.

    python experiments/tempering_small.py --n 44 --budget 300 --json experiments/results/tempering_small_N44.json
    python experiments/tempering_small.py --n 100 --rungs 24 --budget 300 --json experiments/results/tempering_small_N100.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from glassgen.sampling import energy_error
from glassgen.systems import random_start
from glassgen.targets import KATarget
from glassgen.threads import set_threads
from samplers.diagnostics import energy_stationarity
from samplers.tempering import ParallelTempering


class TrackedTempering(ParallelTempering):
    """Parallel tempering that also follows each replica along the ladder and counts its round trips."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        k, b = self.temperatures.size, self.chains[0].x.shape[0]
        self.walker = np.tile(np.arange(k)[:, None], (1, b))  # walker id at rung k of ladder b
        self.heading = np.zeros((k, b), dtype=np.int64)  # per walker id: +1 after the bottom, -1 after the top
        self.heading[0] = 1
        self.round_trips = np.zeros(b, dtype=np.int64)

    def exchange(self):
        """ParallelTempering.exchange, then move the walker labels with the accepted exchanges."""
        accepted = super().exchange()  # (K - 1, B) mask of the exchanges accepted in this round
        ok = np.asarray(accepted.cpu().numpy(), dtype=bool)
        for k in np.flatnonzero(ok.any(1)):
            swap = ok[k]
            self.walker[k, swap], self.walker[k + 1, swap] = self.walker[k + 1, swap], self.walker[k, swap].copy()
        columns = np.arange(self.walker.shape[1])
        bottom, top = self.walker[0], self.walker[-1]
        back = self.heading[bottom, columns] == -1
        self.round_trips += back
        self.heading[bottom, columns] = 1
        self.heading[top, columns] = np.where(self.heading[top, columns] == 1, -1, self.heading[top, columns])
        return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=44)
    parser.add_argument("--chains", type=int, default=8, help="independent ladders")
    parser.add_argument("--t-min", type=float, default=0.20)
    parser.add_argument("--t-max", type=float, default=1.0)
    parser.add_argument("--rungs", type=int, default=16)
    parser.add_argument("--p-swap", type=float, default=0.2)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds in all (burn-in + production)")
    parser.add_argument("--burn-in-share", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    set_threads(1)
    ladder = np.geomspace(args.t_min, args.t_max, args.rungs)
    start = random_start("ka2d", args.n, batch=args.chains, seed=args.seed)
    target = KATarget("ka2d", start)
    pt = TrackedTempering(target, start.batched_positions(), start.types, temperatures=ladder, seed=args.seed,
                          step=0.1, p_swap=args.p_swap, engine="auto")
    begin = time.perf_counter()
    pt.sweep(200, adapt=True)
    per_sweep = (time.perf_counter() - begin) / 200
    burn_in = max(0, int(args.budget * args.burn_in_share / per_sweep) - 200)
    production = max(100, int(args.budget * (1 - args.burn_in_share) / per_sweep))
    pt.sweep(burn_in, adapt=True)
    burn_trips = pt.round_trips.copy()
    every = max(1, production // 5000)
    result = pt.run(production, every=every, recompute_every=max(every, 100) // every * every)
    trips = (pt.round_trips - burn_trips).tolist()
    rungs = []
    for t, r, mc in zip(ladder, result.results, pt.chains):
        e = r.energies / args.n  # (B, S)
        c_chain = args.n * e.var(axis=1) / t ** 2
        test = energy_stationarity(e)
        efficiency = r.efficiency("overlap")
        rungs.append({"temperature": float(t), "energy_per_particle_mean": float(e.mean()),
                      "energy_per_particle_stderr": energy_error(e),
                      "specific_heat_potential": float(args.n * e.var() / t ** 2),
                      "specific_heat_stderr": float(c_chain.std(ddof=1) / np.sqrt(len(c_chain))),
                      "energy_halves": [test.first_half, test.second_half], "energy_halves_p_value": test.p_value,
                      "stationary": test.stationary, "acceptance": np.asarray(mc.acceptance).tolist(),
                      "swap_acceptance": np.asarray(mc.swap_acceptance).tolist(),
                      "overlap_decorrelation_sweeps": (float(efficiency["decorrelation_sweeps"])
                                                       if np.isfinite(efficiency["decorrelation_sweeps"]) else None)})
    out = {"n": args.n, "chains": args.chains, "ladder": ladder.tolist(), "p_swap": args.p_swap,
           "burn_in_sweeps": burn_in + 200, "production_sweeps": production, "seconds": time.perf_counter() - begin,
           "exchange_acceptance": np.asarray(result.exchange_acceptance).tolist(),
           "round_trips_production_per_ladder": trips, "round_trips_burn_in_per_ladder": burn_trips.tolist(),
           "energy_drift": max(float(r.energy_drift) for r in result.results), "rungs": rungs}
    print(f"KA2D N={args.n}: {args.chains} ladders x {args.rungs} rungs ({args.t_min}-{args.t_max}), p_swap "
          f"{args.p_swap}; burn-in {burn_in + 200} sweeps, production {production} sweeps, {out['seconds']:.0f} s; "
          f"round trips in production per ladder {trips} (burn-in {burn_trips.tolist()})")
    print(f"{'T':>6} {'E/N':>17} {'c_pot':>13} {'halves p':>8} {'Q 1/e[sw]':>9} {'swap acc':>15} {'exch acc':>8}")
    for k, r in enumerate(rungs):
        exch = f"{out['exchange_acceptance'][k]:.2f}" if k < len(rungs) - 1 else ""
        q = "-" if r["overlap_decorrelation_sweeps"] is None else f"{r['overlap_decorrelation_sweeps']:.3g}"
        acc = "/".join(f"{a:.1e}" for a in r["swap_acceptance"])
        print(f"{r['temperature']:>6.3f} {r['energy_per_particle_mean']:>9.4f}+-{r['energy_per_particle_stderr']:.4f} "
              f"{r['specific_heat_potential']:>6.2f}+-{r['specific_heat_stderr']:.2f} "
              f"{r['energy_halves_p_value']:>8.2g} "
              f"{q:>9} {acc:>15} {exch:>8}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
