"""Below the simulable temperatures (issue 14 items 2 and 3): configurations sampled colder than any training
temperature, and their dynamic heterogeneity predicted by a temperature-transferable GlassMLP.

- ``--system ka2d`` (the published case): compiled swap Monte Carlo (N = 1290, GlassBench's size) at T = 0.30 ...
  0.20, cooled in a cascade from the shipped T = 0.35 configurations of ka2d-multiT.
- ``--system ka3d``: NVT molecular dynamics (N = 1000; for the binary mixture, MD decorrelated the structure faster per
  CPU second than tempering or PGMC at T = 0.45-0.50, README), from the shipped T = 0.50 configurations of
  ka3d-multiT, ``--frames`` configurations per chain ``--spacing`` apart after ``--equilibration`` time units.

Each temperature reports its sampler's equilibrium checks (swap MC: energy stationarity over the production halves,
structural decorrelation by the overlap, crystal and demixing checks; MD: energy stationarity and F_s between saved
configurations below 1/e); a temperature that fails them is predicted all the same but marked "NOT equilibrated" in
the notes, and its numbers describe the configurations, not the equilibrium state. Each temperature's configurations
are saved in ``--work`` (``T0.30.h5``...), so a rerun resumes; ``--start FILE`` continues from saved configurations
(e.g. ``--start ka2d-lowT/T0.23.h5 --temperatures 0.23 --sweeps 60000 --work ka2d-lowT-long``).

The model (``--model``: ``glassgen train --model glassmlp --set temperature_input=true ensemble=5 --data
ka2d-multiT -o ka2d-transferable.pt``, or ka3d-multiT) predicts at ``--times-tau`` the shipped test configurations
(true labels beside: the check of the extrapolation where labels exist) and the sampled ones.

    python experiments/low_temperature.py --system ka2d --model ka2d-transferable.pt \\
        --temperatures 0.30 0.26 0.23 0.20 --sweeps 20000 --work ka2d-lowT/ --times-tau 1 2 \\
        --report experiments/results/ka2d_low_temperature --json experiments/results/ka2d_low_temperature.json
    python experiments/low_temperature.py --system ka3d --model ka3d-transferable.pt --temperatures 0.47 \\
        --chains 4 --equilibration 1000 --frames 2 --spacing 400 --work ka3d-lowT/ --times-tau 1 2 \\
        --report experiments/results/ka3d_low_temperature --json experiments/results/ka3d_low_temperature.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from glassgen.bench.heterogeneity_report import write_heterogeneity_report
from glassgen.heterogeneity import predict_dynamics
from glassgen.io import Dataset, load, save
from glassgen.predictors import load_predictor

#: Per system: the shipped data, the temperature the cascade starts from, and the sampler.
SYSTEMS = {"ka2d": ("ka2d-multiT", 0.35, "compiled swap Monte Carlo"), "ka3d": ("ka3d-multiT", 0.50, "NVT MD")}


def swap_stage(above: Dataset, temperature: float, args, sweeps: int) -> tuple[Dataset, dict]:
    from glassgen.sampling import SamplerSettings, equilibrium_checks, run_sampler, summarize, to_dataset

    settings = SamplerSettings(sampler="swap", model=above.model, n=above.n_particles, temperature=temperature,
                               chains=args.chains, sweeps=sweeps, burn_in=sweeps // 4, seed=args.seed)
    outcome = run_sampler(settings, start=above, progress=True)
    summary = summarize(outcome)
    checks = {**equilibrium_checks(summary), "seconds": summary["seconds"]}
    return to_dataset(outcome), checks


def md_stage(above: Dataset, temperature: float, args, _sweeps) -> tuple[Dataset, dict]:
    from glassgen.dynamics.production import produce
    from glassgen.systems import System

    begin = time.perf_counter()
    start = System(torch.as_tensor(above.positions[: args.chains]), above.types, above.box, above.model)
    production = produce(start, temperature, args.frames, args.spacing,
                         equilibration_steps=round(args.equilibration / 0.005), melt_temperature=float(
                             above.distinct_temperatures[0]), melt_steps=0, cool_steps=2000, seed=args.seed)
    checks = {**production.checks, "equilibrated": bool(production.equilibrated),
              "seconds": time.perf_counter() - begin}
    positions = production.positions.reshape(-1, above.n_particles, above.dim).numpy()
    return Dataset(positions=positions, types=above.types, box=above.box, model=above.model,
                   temperature=temperature), checks


def sample_cascade(args, sweeps) -> dict:
    """{T: (dataset, checks)}, each temperature started from the one above (read from ``work`` where done)."""
    name, start, _ = SYSTEMS[args.system]
    above = load(args.start) if args.start else load(name, temperatures=[start])
    stage = swap_stage if args.system == "ka2d" else md_stage
    sampled = {}
    for temperature, count in zip(args.temperatures, sweeps):
        path = args.work / f"T{temperature:.2f}.h5"
        if path.exists():
            dataset = load(path)
            checks = dataset.metadata["equilibrium_checks"]
        else:
            dataset, checks = stage(above, temperature, args, count)
            dataset.metadata = {**dataset.metadata, "equilibrium_checks": checks}
            save(dataset, path)
        print(f"T = {temperature:g}: checks {checks}", flush=True)
        sampled[temperature] = (dataset, checks)
        above = dataset
    return sampled


def verdict(checks: dict) -> str:
    """Equilibrium is claimed only when every check passed (and, for swap MC, the structure decorrelated)."""
    passed = checks.get("equilibrated") and checks.get("structurally_decorrelated", True)
    return "equilibrated" if passed else "NOT equilibrated (its numbers describe these configurations, not the " \
                                         "equilibrium state)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=sorted(SYSTEMS), default="ka2d")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.30, 0.26, 0.23, 0.20])
    parser.add_argument("--sweeps", type=int, nargs="+", default=[20000],
                        help="ka2d: swap sweeps per chain at each temperature (one value: the same at all)")
    parser.add_argument("--equilibration", type=float, default=1000.0, help="ka3d: MD equilibration time")
    parser.add_argument("--frames", type=int, default=2, help="ka3d: configurations saved per chain")
    parser.add_argument("--spacing", type=float, default=400.0, help="ka3d: MD time between saved configurations")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--start", type=Path, help="start the cascade from these configurations (e.g. a temperature "
                                                   "of an earlier run, to run it longer) instead of the shipped ones")
    parser.add_argument("--times-tau", type=float, nargs="+", default=[1.0])
    parser.add_argument("--work", type=Path, default=Path("lowT"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--json")
    args = parser.parse_args()
    sweeps = args.sweeps * len(args.temperatures) if len(args.sweeps) == 1 else args.sweeps
    if len(sweeps) != len(args.temperatures):
        parser.error("give one --sweeps value, or one per temperature")
    args.work.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    sampled = sample_cascade(args, sweeps)
    sampling_seconds = time.perf_counter() - begin
    model = load_predictor(args.model)
    name, start, sampler = SYSTEMS[args.system]
    summaries = predict_dynamics(model, load(name).select_split("test"), args.times_tau)[2]
    for temperature, (dataset, checks) in sampled.items():
        summary = predict_dynamics(model, dataset, args.times_tau)[2][0]
        summaries.append({**summary, "sampler_checks": checks, "verdict": verdict(checks)})
    summaries.sort(key=lambda s: s["temperature"])
    trained = model.provenance_.get("training_temperatures") or []
    notes = [f"Model {args.model.name} trained at T = {', '.join(f'{t:g}' for t in trained)}. Configurations at "
             f"T = {', '.join(f'{t:g}' for t in args.temperatures)}: {sampler}, {args.chains} chains cooled in a "
             f"cascade from the shipped T = {start:g} ones."]
    notes += [f"- T = {t:g}: {verdict(checks)}; checks {json.dumps(checks, default=float)}"
              for t, (_, checks) in sampled.items()]
    if args.report:
        write_heterogeneity_report(summaries, args.report, notes=notes,
                                   title=f"{args.system.upper()}: dynamic heterogeneity below the simulable "
                                         "temperatures")
    for key in (f"{t:g}" for t in args.times_tau):
        print(f"\n{'T':>5} {'configs':>7} {'chi_4 pred':>14} {'chi_4 true':>10} {'xi pred':>12} {'xi true':>8} "
              f"{'rho_P':>6}  (t = {key} tau_alpha)")
        for s in summaries:
            chi4 = "-" if s["chi4"] is None else f"{s['chi4'][key]:.2f}±{(s.get('chi4_std') or {}).get(key, 0):.2f}"
            print(f"{s['temperature']:>5g} {s['n_configurations']:>7} {chi4:>14} "
                  f"{(s.get('chi4_true') or {}).get(key, np.nan):>10.2f} "
                  f"{s['length'][key]:>7.2f}±{(s.get('length_std') or {}).get(key, 0):.2f} "
                  f"{(s.get('length_true') or {}).get(key, np.nan):>8.2f} "
                  f"{(s.get('pearson') or {}).get(key, np.nan):>6.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"system": args.system, "model": str(args.model),
                                               "temperatures": summaries, "chains": args.chains,
                                               "sweeps": dict(zip(map(str, args.temperatures), sweeps)),
                                               "sampling_seconds": sampling_seconds, "notes": notes},
                                              indent=1, default=float))


if __name__ == "__main__":
    main()
