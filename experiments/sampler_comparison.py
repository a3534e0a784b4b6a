"""Sampler efficiency on the same footing: effective samples per second of every sampler for one production budget.

State points: KA2D N = 44 at T = 1.0 (every sampler decorrelates) and at a low temperature (local Metropolis does not
within the budget), and KA3D N = 256 near T = 0.5 (no swappable species: metropolis, tempering, pgmc). Every sampler
starts from the same random configurations, burns in for the same number of sweeps, and then runs for the same
production budget (glassgen.sampling). The chains start in equilibrium, so the comparison measures decorrelation, not
the approach to equilibrium: KA2D starts are equilibrated by long swap MC runs (the fastest sampler there; GlassBench
prepared its lowest temperature the same way), KA3D starts by Bussi NVT MD of a few relaxation times. Every sampler
then burns in for the same number of sweeps (its step adaptation) and runs for the same production budget. PGMC's
training time is charged as set-up.

Then a scan of the Gaussian displacement scale sigma (the PGMC proposal family, one sigma for all species, policy
frozen) on the configurations Metropolis ended with: J(sigma) = <|dx|^2 alpha> per attempt, estimated from virtual
proposals, beside J of the scales PGMC learned; and the step Metropolis adapted in burn-in.

    python experiments/sampler_comparison.py --budget 30 --json experiments/results/sampler_comparison.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from glassgen.sampling import SamplerSettings, run_sampler, summarize, to_dataset
from glassgen.targets import KATarget
from samplers.pgmc import PolicyGuidedMC

#: (model, N, T, samplers, production budget as a multiple of --budget)
STATE_POINTS = [
    ("ka2d", 44, 1.0, ("metropolis", "swap", "tempering", "pgmc"), 1),
    ("ka2d", 44, 0.4, ("metropolis", "swap", "tempering", "pgmc"), 6),
    ("ka3d", 256, 0.5, ("metropolis", "tempering", "pgmc"), 1),
]


def _g(value, width: int = 8) -> str:
    """A number in %.3g, or '-' for None (the overlap did not decorrelate within the budget)."""
    return f"{'-' if value is None else f'{value:.3g}':>{width}}"


def equilibrium_start(model: str, n: int, temperature: float, chains: int, swap_sweeps: int, md_steps: int):
    """Equilibrated starting configurations: swap MC for models with swappable species, else Bussi NVT MD."""
    from glassgen.dynamics.equilibration import equilibrate
    from glassgen.systems import get_model, random_start

    if get_model(model).swap_pairs:
        settings = SamplerSettings(sampler="swap", model=model, n=n, temperature=temperature, chains=chains,
                                   sweeps=swap_sweeps, burn_in=200, seed=99)
        outcome = run_sampler(settings)
        return to_dataset(outcome).system()
    start = random_start(model, n, batch=chains, seed=99)
    system, _ = equilibrate(start, temperature, md_steps, melt_temperature=2.0, melt_steps=2000, cool_steps=5000,
                            seed=99, progress=False)
    return system


def reward_per_attempt(target, positions, types, temperature: float, scales, rounds: int = 20, k: int = 8) -> float:
    """J = <|dx|^2 min(1, exp(log ratio))> of a frozen Gaussian policy with per-species ``scales``, from virtual
    proposals on the given chains, advancing them one sweep between rounds."""
    mc = PolicyGuidedMC(target, positions, types, temperature=temperature, scale=list(scales), seed=11,
                        record_overlap=False).freeze()
    values = []
    with torch.no_grad():
        for _ in range(rounds):
            p = mc.propose_moves(k)
            values.append(float((p.reward * torch.exp(p.log_ratio.clamp(max=0))).mean()))
            mc.sweep(1)
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=30.0, help="production seconds per sampler")
    parser.add_argument("--burn-in", type=int, default=100, help="burn-in sweeps (all samplers, from equilibrium)")
    parser.add_argument("--swap-sweeps", type=int, default=3000, help="swap MC sweeps preparing KA2D starts")
    parser.add_argument("--md-steps", type=int, default=100_000, help="MD steps preparing KA3D starts")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for model, n, temperature, names, budget_factor in STATE_POINTS:
        budget = args.budget * budget_factor
        base = SamplerSettings(model=model, n=n, temperature=temperature, chains=args.chains, burn_in=args.burn_in,
                               train_steps=args.train_steps, seed=1)
        rows, outcomes = [], {}
        begin = time.perf_counter()
        start = equilibrium_start(model, n, temperature, args.chains, args.swap_sweeps, args.md_steps)
        preparation = time.perf_counter() - begin
        print(f"{model} N={n} T={temperature}: equilibrium start prepared in {preparation:.0f} s", flush=True)
        for name in names:
            begin = time.perf_counter()
            outcomes[name] = run_sampler(replace(base, sampler=name), budget_seconds=budget, start=start)
            rows.append(summarize(outcomes[name]))
            r = rows[-1]
            print(f"{model} N={n} T={temperature} {name:>10}: E/N {r['energy_per_particle_mean']:.4f} +- "
                  f"{r['energy_per_particle_stderr']:.4f}, tau_E {r['tau_int_energy_sweeps']:.1f} sweeps, ESS_E/s "
                  f"{r['ess_per_second']:.3g}, ESS_Q/s {_g(r['ess_overlap_per_second'], 0)}, "
                  f"Q decorrelation {_g(r['overlap_decorrelation_sweeps'], 0)} sweeps of {r['sweeps']} "
                  f"({time.perf_counter() - begin:.0f} s)", flush=True)
        start = outcomes["metropolis"]
        target = KATarget(model, n)
        grid = np.geomspace(0.02, 0.3, 10)
        scan = [reward_per_attempt(target, start.positions, start.types, temperature, [s] * target.n_types)
                for s in grid]
        learned = outcomes["pgmc"].report["steps"]
        point = {"model": model, "n": n, "temperature": temperature, "budget_seconds": budget,
                 "preparation_seconds": preparation, "rows": rows,
                 "scan_sigma": grid.tolist(), "scan_reward": scan, "best_scanned_sigma": float(grid[np.argmax(scan)]),
                 "best_scanned_reward": float(max(scan)), "pgmc_learned_sigma": learned,
                 "pgmc_learned_reward": reward_per_attempt(target, start.positions, start.types, temperature, learned),
                 "metropolis_adapted_step": outcomes["metropolis"].report["steps"]}
        results.append(point)
        print(f"  scan: best sigma {point['best_scanned_sigma']:.3f} (J = {point['best_scanned_reward']:.3g}); PGMC "
              f"learned {np.round(learned, 3).tolist()} (J = {point['pgmc_learned_reward']:.3g}); Metropolis "
              f"adapted cube half-width {np.round(point['metropolis_adapted_step'], 3).tolist()}", flush=True)
    print(f"\n{'system':>16} {'sampler':>10} {'E/N':>18} {'tau_E[sw]':>9} {'ESS_E/s':>8} {'Q 1/e [sw]':>10} "
          f"{'Q 1/e [s]':>9} {'sweeps':>7} {'ESS_Q/s':>8}")
    for point in results:
        for r in point["rows"]:
            label = f"{point['model']} {point['n']} T={point['temperature']:g}"
            print(f"{label:>16} {r['sampler']:>10} {r['energy_per_particle_mean']:>9.4f} +- "
                  f"{r['energy_per_particle_stderr']:.4f} {r['tau_int_energy_sweeps']:>9.1f} "
                  f"{r['ess_per_second']:>8.3g} {_g(r['overlap_decorrelation_sweeps'], 10)} "
                  f"{_g(r['overlap_decorrelation_seconds'], 9)} {r['sweeps']:>7} {_g(r['ess_overlap_per_second'])}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
