"""Issue 11, item 6: a normalizing flow against swap Monte Carlo on KA2D (and Metropolis on KA3D) at small N,
training included.

Per state (N, T), on one core:

1. **Reference and training data by swap MC** (compiled, p_swap = 0.2, ``--chains`` chains from random starts):
   burn-in, then production recording every ``--every`` sweeps: E/N with its error (glassgen.sampling.energy_error),
   the potential specific heat per particle N var(E/N) / T^2, the structural decorrelation time (label-invariant
   overlap, centre-of-mass drift removed) in sweeps and CPU seconds, and the recorded configurations, which are the
   flow's forward-KL data. The halves test of the energy (samplers.diagnostics.energy_stationarity) is reported.
2. **Flow training** (samplers.flows.FlowTrainer, schedule ``--schedule``) for ``--train-minutes``; the CPU seconds
   of the MC data and of training are the flow's set-up cost.
3. **Reweighted independent samples** (``--samples``): Kish ESS per cent, reweighted E/N and specific heat with
   errors, set beside the MC reference.
   With ``--prior-temperature T_HIGH`` the flow starts from the Boltzmann distribution at T_HIGH (drawn by
   compiled MC chains) instead of the uniform torus, and its log Z(T) - log Z(T_HIGH) is set beside thermodynamic
   integration of swap-MC energies over 9 inverse temperatures from 1 / T_HIGH to 1 / T.
4. **Flow-MH and flow-hybrid chains** (with a Boltzmann prior: exchanges with its chains) (samplers.kernels.FlowProposal alone, and mixed 1:1 per sweep with the compiled
   swap sweeps) started from MC configurations: acceptance of flow proposals, E/N, structural decorrelation in sweeps
   and CPU seconds, against the swap MC's.

    python experiments/flow_vs_mc.py --n 44 --temperature 1.0 --train-minutes 15 --json experiments/results/flow_ka2d_N44_T1.0.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from glassgen.flows import attach_prior
from glassgen.sampling import energy_error
from glassgen.systems import random_start
from glassgen.targets import KATarget
from glassgen.threads import set_threads
from samplers.diagnostics import energy_stationarity
from samplers.driver import Driver
from samplers.flows import FlowSettings, FlowTrainer, ParticleFlow, TrainingSettings, draw
from samplers.kernels import CompiledSweeps, FlowProposal
from samplers.mc import MetropolisMC
from samplers.reweight import thermodynamic_integration
from samplers.state import ChainState


def records(result, n, temperature, per_sweep_seconds) -> dict:
    """E/N, specific heat, stationarity and structural decorrelation of an MCResult."""
    e = result.energies / n
    overlap = result.efficiency("overlap")
    halves = energy_stationarity(result.energies)
    sweeps = overlap["decorrelation_sweeps"]
    return {"energy_per_particle": float(e.mean()), "energy_error": energy_error(e),
            "specific_heat": float(n * e.var(axis=1, ddof=1).mean() / temperature**2),
            "stationary": halves.stationary, "decorrelation_sweeps": sweeps,
            "decorrelation_seconds": sweeps * per_sweep_seconds if math.isfinite(sweeps) else math.inf,
            "seconds_per_sweep": per_sweep_seconds, "sweeps": int(e.shape[1] * result.every)}


def swap_reference(args, target, start):
    mc = MetropolisMC(target, start.batched_positions(), start.types, temperature=args.temperature, step=0.1,
                      p_swap=0.2 if target.swap_pairs else 0.0, engine="compiled", seed=args.seed)
    begin = time.perf_counter()
    result = mc.run(args.sweeps, burn_in=args.burn_in, every=args.every, keep_samples=True)
    seconds = time.perf_counter() - begin
    x = torch.cat([s[0] for s in result.samples])
    types = torch.cat([s[1] for s in result.samples])
    out = records(result, args.n, args.temperature, result.seconds / args.sweeps / args.chains)
    out["seconds"] = seconds
    return out, x, types


def integrate(args, target, points: int = 9) -> dict:
    """log Z(T) - log Z(T_high) by thermodynamic integration of swap-MC mean energies on a grid of beta, to set
    beside the flow's reweighted estimate (the same quantity; the flow's prior supplies Z(T_high))."""
    betas = np.linspace(1.0 / args.prior_temperature, 1.0 / args.temperature, points)
    means, errors = [], []
    for k, beta in enumerate(betas):
        start = random_start(args.model, args.n, batch=args.chains, seed=args.seed + 100 + k)
        mc = MetropolisMC(target, start.batched_positions(), start.types, temperature=1.0 / beta, step=0.1,
                          p_swap=0.2 if target.swap_pairs else 0.0, engine="compiled", seed=args.seed + 100 + k,
                          record_overlap=False)
        result = mc.run(args.sweeps // 4, burn_in=args.burn_in, every=args.every)
        means.append(float(result.energies.mean()))
        errors.append(energy_error(result.energies))
    integral, error = thermodynamic_integration(betas, means, errors)
    # d log Z / d beta = -<U>: log Z(beta) - log Z(beta_high) = -integral.
    return {"betas": betas.tolist(), "mean_energies": means, "log_z_difference": float(-integral[-1]),
            "error": float(error[-1])}


def flow_chains(args, target, flow, x, types, hybrid: bool) -> dict:
    rows = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(args.seed))[: args.chains]
    state = ChainState(target, x[rows].clone(), types[rows].clone(), temperature=args.temperature, seed=args.seed + 1)
    proposal = FlowProposal(state, flow=flow)
    local = CompiledSweeps(state, step=0.1, p_swap=0.2 if target.swap_pairs else 0.0)
    mix = [(proposal, 0.5), (local, 0.5)] if hybrid else [(proposal, 1.0)]
    driver = Driver(state, mix)
    if hybrid:
        driver.sweep(20, adapt=True)
    result = driver.run(args.chain_sweeps, every=1)
    tried, accepted = driver.counts("flow")
    out = records(result, args.n, args.temperature, result.seconds / args.chain_sweeps / args.chains)
    out["flow_acceptance"] = float(accepted.sum()) / max(float(tried.sum()), 1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ka2d", help="ka2d (swap MC) or ka3d (Metropolis: no swap pairs)")
    parser.add_argument("--n", type=int, default=44)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--burn-in", type=int, default=2000)
    parser.add_argument("--sweeps", type=int, default=20000, help="swap MC production sweeps per chain")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--train-minutes", type=float, default=10.0)
    parser.add_argument("--schedule", default="forward", choices=("forward", "reverse", "mix"))
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--messages", default="spectral", choices=("spectral", "pairwise"))
    parser.add_argument("--frequencies", type=int, default=8)
    parser.add_argument("--prior-temperature", type=float, help="Boltzmann prior at this T_high (default: uniform)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10**6, help="most training steps (the mix schedule ramps over them)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--chain-sweeps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    set_threads(1)
    torch.manual_seed(args.seed)
    start = random_start(args.model, args.n, batch=args.chains, seed=args.seed)
    target = KATarget(args.model, start)
    out = {"n": args.n, "temperature": args.temperature, "settings": vars(args)}

    out["swap_mc"], x, types = swap_reference(args, target, start)
    print("swap MC:", out["swap_mc"], flush=True)

    flow = ParticleFlow(FlowSettings(args.model, types=tuple(target.types.tolist()), box=tuple(target.box.tolist()),
                                     n_layers=args.layers, hidden=args.hidden, messages=args.messages,
                                     n_frequencies=args.frequencies, prior_temperature=args.prior_temperature))
    attach_prior(flow, target, args.seed)
    settings = TrainingSettings(steps=args.steps, batch_size=args.batch, lr=args.lr, schedule=args.schedule,
                                temperatures=(args.temperature,), seed=args.seed)
    trainer = FlowTrainer(flow, target, settings, data=(x, types, torch.full((x.shape[0],), args.temperature, dtype=torch.float64)))
    history = trainer.train(budget_seconds=args.train_minutes * 60)
    out["training"] = {"steps": history.steps, "seconds": history.seconds, "weights": flow.size,
                       "final_forward_loss": float(np.nanmean(history.forward[-20:])) if history.steps else None,
                       "final_batch_ess": float(np.nanmean(history.ess_fraction[-20:])) if history.steps else None}
    print("training:", out["training"], flush=True)

    samples = draw(flow, target, args.temperature, args.samples, batch_size=256,
                   generator=torch.Generator().manual_seed(args.seed + 2))
    energy = samples.energy_per_particle()
    heat, heat_error = samples.specific_heat()
    out["flow"] = {"ess_percent": 100 * energy.ess_fraction, "energy_per_particle": energy.mean,
                   "energy_error": energy.stderr, "specific_heat": heat, "specific_heat_error": heat_error,
                   "seconds_per_sample": samples.seconds / samples.n, "samples": samples.n}
    print("flow samples:", out["flow"], flush=True)
    if args.prior_temperature is not None:
        out["flow"]["log_z_difference"] = samples.log_partition()
        out["thermodynamic_integration"] = integrate(args, target)
        print("free energy:", out["flow"]["log_z_difference"], out["thermodynamic_integration"], flush=True)
    for name, hybrid in (("flow_mh", False), ("flow_hybrid", True)):
        out[name] = flow_chains(args, target, flow, x, types, hybrid)
        print(name, out[name], flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
