"""`glassgen demo`: the joined job in small, on the shipped KA2D data, in a few minutes on a laptop.

1. train a temperature-transferable GlassMLP ensemble on the train part of ``ka2d-multiT`` (T = 0.50-0.35);
2. sample a colder state than any it was trained at with compiled swap Monte Carlo, started from the coldest shipped
   configurations, and check the run (stationarity, structural decorrelation, crystals);
3. predict the propensity fields at t = tau_alpha(T) of the shipped test configurations (true labels beside) and of
   the sampled ones, with chi_4 and the correlation length per temperature;
4. write the model, the predicted configurations and a report (Markdown, JSON, figure), and say where to look.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from pathlib import Path

from glassgen.cli._arguments import add_output, positive_float, positive_int
from glassgen.cli._output import output, provenance
from glassgen.errors import InvalidInputError

EXAMPLES = {"demo": "glassgen demo -o glassgen-demo/"}

#: The shipped data the demo learns from.
DEMO_DATA = "ka2d-multiT"


def cmd_demo(args) -> None:
    from glassgen.bench.heterogeneity_report import write_heterogeneity_report
    from glassgen.cli.learn import hyper_parameters
    from glassgen.heterogeneity import predict_dynamics
    from glassgen.io import load, save
    from glassgen.predictors import get_predictor
    from glassgen.sampling import SamplerSettings, equilibrium_checks, run_sampler, summarize, to_dataset

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    seconds = {}
    data = load(DEMO_DATA)
    coldest = min(data.distinct_temperatures)
    if args.temperature >= coldest:
        raise InvalidInputError(f"--temperature {args.temperature:g} is not below the coldest shipped temperature "
                                f"({coldest:g}); the demo predicts a colder state than any it trained at: give less.")

    begin = time.perf_counter()
    train = data.select_split("train")
    predictor = get_predictor("glassmlp", temperature_input=True, ensemble=args.ensemble, seed=args.seed,
                              progress=progress, **hyper_parameters(args.set))
    predictor.fit(train)
    predictor.save(out / "model.pt")
    seconds["train"] = time.perf_counter() - begin

    begin = time.perf_counter()
    settings = SamplerSettings(sampler="swap", model=data.model, n=data.n_particles, temperature=args.temperature,
                               chains=args.chains, sweeps=args.sweeps, burn_in=args.sweeps // 4, seed=args.seed)
    outcome = run_sampler(settings, start=data.select_temperatures([coldest]), progress=progress)
    checks = equilibrium_checks(summarize(outcome))
    sampled = to_dataset(outcome, provenance(args))
    seconds["sample"] = time.perf_counter() - begin

    begin = time.perf_counter()
    known = data.select_split("test")
    summaries = predict_dynamics(predictor, known, args.times_tau)[2]
    members, times, cold = predict_dynamics(predictor, sampled, args.times_tau)
    summaries = sorted(summaries + cold, key=lambda s: -s["temperature"])  # hot to cold, as the job goes
    predicted = replace(sampled, times=times, time_unit=predictor.time_unit_, predicted_propensity=members.mean(0),
                        extras={"predicted_propensity_std": members.std(0)},
                        metadata={**sampled.metadata, "heterogeneity": cold, "sampler_checks": checks})
    sampled_path = save(predicted, out / f"sampled_T{args.temperature:g}.h5")
    seconds["predict"] = time.perf_counter() - begin

    verdict = _verdict(checks)
    notes = [f"Model: GlassMLP with temperature input, {args.ensemble} members, trained on the train part of "
             f"{DEMO_DATA} (T = {', '.join(f'{t:g}' for t in data.distinct_temperatures)}; "
             f"{train.n_configurations} configurations of N = {data.n_particles}). Times are in units of "
             "tau_alpha(T).",
             f"T = {args.temperature:g}: {args.chains} chains of compiled swap Monte Carlo, {args.sweeps} sweeps each, "
             f"started from the T = {coldest:g} configurations: {verdict}. No labels exist there: its values are "
             "predictions only, beyond the training range (trust them as far as the ensemble's members agree)."]
    report = out / "report"
    write_heterogeneity_report(summaries, report, title="glassgen demo: dynamic heterogeneity predicted below the "
                                                        "training temperatures", notes=notes)
    key = f"{times[0]:g}"
    payload = {"output": str(out), "model": str(out / "model.pt"), "sampled": str(sampled_path),
               "report": str(report / "report.md"), "figure": str(report / "heterogeneity.png"),
               "training_temperatures": data.distinct_temperatures, "temperature": args.temperature,
               "sampler_checks": checks, "equilibrated": _equilibrated(checks), "temperatures": summaries,
               "seconds": seconds}
    rows = [("1. trained", f"transferable GlassMLP ({args.ensemble} members) on {train.n_configurations} "
                           f"configurations at T = {', '.join(f'{t:g}' for t in data.distinct_temperatures)} "
                           f"({seconds['train']:.0f} s)"),
            ("2. sampled", f"T = {args.temperature:g} by swap Monte Carlo, {args.chains} x {args.sweeps} sweeps: "
                           f"{verdict} ({seconds['sample']:.0f} s)"),
            ("3. predicted", f"propensity at t = {key} tau_alpha(T); chi_4 and correlation length xi "
                             f"({seconds['predict']:.0f} s):")]
    for s in summaries:
        true = s.get("chi4_true")
        rows.append((f"   T = {s['temperature']:g}",
                     f"chi_4 {_value(s, 'chi4', key)}{'' if true is None else f' (true {true[key]:.2f})'}, "
                     f"xi {_value(s, 'length', key)}"
                     + ("" if s.get("length_true") is None else f" (true {s['length_true'][key]:.2f})")
                     + ("" if s.get("pearson") is None else f", rho_P {s['pearson'][key]:.2f}")
                     + ("" if not s.get("below_training") else
                        f"; {s['below_training']:.2g} below the training range: predicted only")))
    rows.append(("4. written", f"{out / 'model.pt'}, {sampled_path}, {report / 'report.md'}, "
                               f"{report / 'heterogeneity.png'}"))
    where = shlex.quote(str(sampled_path))
    notes = ["", "What was done: a model trained at simulable temperatures predicted how the particles of a colder, "
             "Monte Carlo sampled liquid will move, and how collective that motion is (chi_4, xi).",
             f"Look at: {report / 'report.md'} and {report / 'heterogeneity.png'} (open squares: true values).",
             "Next: predict other configurations, e.g. GlassBench files, at the times you want:",
             f"  glassgen predict-dynamics {where} --model {shlex.quote(str(out / 'model.pt'))} --times-tau 1 "
             f"-o predicted.h5 --report heterogeneity/"]
    output(args, payload, rows, notes)


def _equilibrated(checks: dict) -> bool:
    """Equilibrium is claimed only when every check passed and the structure decorrelated from the start."""
    return bool(checks["equilibrated"]) and bool(checks.get("structurally_decorrelated"))


def _verdict(checks: dict) -> str:
    """The sampler's checks in words (:func:`_equilibrated`), saying what failed."""
    if _equilibrated(checks):
        return (f"equilibrated (energy stationary, structure decorrelated in "
                f"{checks['overlap_decorrelation_sweeps']:.0f} sweeps)")
    reasons = []
    if checks["energy_stationary"] is False:
        reasons.append("the energy is not stationary")
    elif checks["energy_stationary"] is None:
        reasons.append("the energy could not be tested (too few records)")
    elif not checks["equilibrated"]:
        reasons.append("an equilibrium check failed (see the warning)")
    if not checks.get("structurally_decorrelated"):
        reasons.append("the structure has not decorrelated from the start")
    return "NOT equilibrated (" + "; ".join(reasons) + "): run more --sweeps"


def _value(summary: dict, name: str, key: str) -> str:
    if summary.get(name) is None:
        return "needs 2+ configurations"
    spread = (summary.get(f"{name}_std") or {}).get(key)
    return f"{summary[name][key]:.2f}" + ("" if spread is None else f" ± {spread:.2f}")


def add_commands(command) -> None:
    """Register this module's command with ``command(name, handler, help, ...)`` (see glassgen.cli)."""
    sub = command("demo", cmd_demo, "The joined job in small: train a temperature-transferable predictor on the "
                                    "shipped KA2D data, sample a colder state, predict its dynamic heterogeneity.")
    add_output(sub, kind="folder", required=False, default=Path("glassgen-demo"),
               help="folder for the model, the sampled configurations and the report (default glassgen-demo)")
    sub.add_argument("--temperature", type=positive_float, default=0.30,
                     help="the colder state to sample and predict (default 0.30; the data reach 0.35)")
    sub.add_argument("--chains", type=positive_int, default=4, help="swap Monte Carlo chains (default 4)")
    sub.add_argument("--sweeps", type=positive_int, default=5000, help="sweeps per chain (default 5000)")
    sub.add_argument("--ensemble", type=positive_int, default=3, help="GlassMLP ensemble members (default 3)")
    sub.add_argument("--times-tau", type=positive_float, nargs="+", default=[1.0],
                     help="prediction times in units of tau_alpha(T) (default 1)")
    sub.add_argument("--set", nargs="+", metavar="NAME=VALUE", help="GlassMLP hyper-parameters (as glassgen train)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
