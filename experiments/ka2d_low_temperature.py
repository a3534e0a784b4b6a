"""KA2D below the simulable temperatures (issue 14 item 2): swap Monte Carlo configurations at T = 0.30 ... 0.20,
their dynamic heterogeneity predicted by the transferable GlassMLP trained on ka2d-multiT.

Compiled swap MC (N = 1290, GlassBench's size) cools in a cascade: the chains of each temperature start from the
final chains of the one above, the first from the shipped T = 0.35 configurations. Each temperature reports the
sampler's equilibrium checks (energy stationarity over the production halves, structural decorrelation by the
overlap, crystal and demixing checks); a temperature that fails them is predicted all the same but marked "not
equilibrated" in the table and report, and its numbers describe the configurations, not the equilibrium state.
Each temperature's configurations are saved in ``--work`` (``T0.30.h5``...), so a rerun resumes.

The model (``--model``, from ``glassgen train --model glassmlp --set temperature_input=true ensemble=5
--data ka2d-multiT -o ka2d-transferable.pt``) then predicts the propensity at t = tau_alpha(T) (and the other
``--times-tau``) of the shipped test configurations (T = 0.50-0.35, with true labels beside) and of the sampled ones.

    python experiments/ka2d_low_temperature.py --model ka2d-transferable.pt --temperatures 0.30 0.26 0.23 0.20 \\
        --sweeps 20000 --work ka2d-lowT/ --report experiments/results/ka2d_low_temperature \\
        --json experiments/results/ka2d_low_temperature.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from glassgen.bench.heterogeneity_report import write_heterogeneity_report
from glassgen.heterogeneity import predict_dynamics
from glassgen.io import load, save
from glassgen.predictors import load_predictor
from glassgen.sampling import SamplerSettings, run_sampler, summarize, to_dataset

#: The sampler's checks kept beside each temperature.
CHECKS = ("equilibrated", "energy_stationary", "energy_halves_p_value", "energy_per_particle_mean",
          "energy_per_particle_stderr", "structurally_decorrelated", "overlap_decorrelation_sweeps",
          "swap_acceptance", "seconds")


def sample_cascade(temperatures, sweeps, chains: int, work: Path, seed: int, progress: bool) -> dict:
    """{T: (dataset, checks)} of swap MC at each temperature, each started from the one above (resumed from
    ``work`` where a temperature is already there)."""
    above = load("ka2d-multiT", temperatures=[0.35])
    sampled = {}
    for temperature, count in zip(temperatures, sweeps):
        path = work / f"T{temperature:.2f}.h5"
        if path.exists():
            dataset = load(path)
            checks = dataset.metadata["equilibrium_checks"]
        else:
            settings = SamplerSettings(sampler="swap", model="ka2d", n=above.n_particles, temperature=temperature,
                                       chains=chains, sweeps=count, burn_in=count // 4, seed=seed)
            outcome = run_sampler(settings, start=above, progress=progress)
            summary = summarize(outcome)
            checks = {key: summary.get(key) for key in CHECKS}
            dataset = to_dataset(outcome, {"equilibrium_checks": checks})
            save(dataset, path)
        print(f"T = {temperature:g}: {count} sweeps x {chains} chains, checks {checks}", flush=True)
        sampled[temperature] = (dataset, checks)
        above = dataset
    return sampled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.30, 0.26, 0.23, 0.20])
    parser.add_argument("--sweeps", type=int, nargs="+", default=[20000],
                        help="swap sweeps per chain at each temperature (one value: the same at all)")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--times-tau", type=float, nargs="+", default=[1.0])
    parser.add_argument("--work", type=Path, default=Path("ka2d-lowT"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--json")
    args = parser.parse_args()
    sweeps = args.sweeps * len(args.temperatures) if len(args.sweeps) == 1 else args.sweeps
    if len(sweeps) != len(args.temperatures):
        parser.error("give one --sweeps value, or one per temperature")
    args.work.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    sampled = sample_cascade(args.temperatures, sweeps, args.chains, args.work, args.seed, progress=True)
    sampling_seconds = time.perf_counter() - begin
    model = load_predictor(args.model)
    shipped = load("ka2d-multiT").select_split("test")
    summaries = predict_dynamics(model, shipped, args.times_tau)[2]
    for temperature, (dataset, checks) in sampled.items():
        summary = predict_dynamics(model, dataset, args.times_tau)[2][0]
        summaries.append({**summary, "sampler_checks": checks})
    summaries.sort(key=lambda s: s["temperature"])
    trained = model.provenance_.get("training_temperatures") or []
    notes = [f"Model {args.model.name} trained at T = {', '.join(f'{t:g}' for t in trained)}. Configurations at "
             f"T = {', '.join(f'{t:g}' for t in args.temperatures)}: compiled swap Monte Carlo, N = 1290, "
             f"{args.chains} chains cooled in a cascade from the shipped T = 0.35 ones."]
    for temperature, (_, checks) in sampled.items():
        verdict = "equilibrated" if checks.get("equilibrated") else "NOT equilibrated (numbers describe the " \
                                                                     "configurations, not the equilibrium state)"
        notes.append(f"- T = {temperature:g}: {verdict}; energy stationary {checks.get('energy_stationary')}, "
                     f"structurally decorrelated {checks.get('structurally_decorrelated')} "
                     f"(overlap decorrelation {checks.get('overlap_decorrelation_sweeps')} sweeps), E/N "
                     f"{checks.get('energy_per_particle_mean'):.4f}.")
    if args.report:
        write_heterogeneity_report(summaries, args.report, title="KA2D: dynamic heterogeneity below the simulable "
                                                                 "temperatures", notes=notes)
    key = f"{args.times_tau[0]:g}"
    print(f"\n{'T':>5} {'configs':>7} {'chi_4 pred':>14} {'chi_4 true':>10} {'xi pred':>12} {'xi true':>8} "
          f"{'rho_P':>6}  (t = {key} tau_alpha)")
    for s in summaries:
        chi4 = "-" if s["chi4"] is None else f"{s['chi4'][key]:.2f}±{(s.get('chi4_std') or {}).get(key, 0):.2f}"
        print(f"{s['temperature']:>5g} {s['n_configurations']:>7} {chi4:>14} "
              f"{(s.get('chi4_true') or {}).get(key, np.nan):>10.2f} "
              f"{s['length'][key]:>7.2f}±{(s.get('length_std') or {}).get(key, 0):.2f} "
              f"{(s.get('length_true') or {}).get(key, np.nan):>8.2f} {(s.get('pearson') or {}).get(key, np.nan):>6.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(args.model), "temperatures": summaries,
                                               "sweeps": dict(zip(map(str, args.temperatures), sweeps)),
                                               "chains": args.chains, "sampling_seconds": sampling_seconds,
                                               "notes": notes}, indent=1, default=float))


if __name__ == "__main__":
    main()
