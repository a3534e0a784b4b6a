"""Commands that sample equilibrium configurations with Monte Carlo: sample, compare-samplers."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path

from glassgen.cli._arguments import add_output, nonnegative_int, positive_float, positive_int, probability
from glassgen.cli._output import format_value, order_rows, output, provenance
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.sampling import (
    SAMPLER_KINDS,
    SAMPLERS,
    STARTS,
    Checkpoint,
    SamplerSettings,
    anneal,
    compare_samplers,
    plot_comparison,
    run_sampler,
    summarize,
    to_dataset,
)

EXAMPLES = {
    "sample": "glassgen sample --sampler swap --model ka2d --n 44 --temperature 0.5 --chains 8 --sweeps 2000 "
              "-o ka2d_T0.5.h5 --json",
    "compare-samplers": "glassgen compare-samplers --model ka2d --n 44 --temperatures 1.0 0.5 --budget-seconds 30 "
                        "-o compare/",
}

#: Rows of the human-readable summary: (label, key).
SUMMARY_ROWS = [("sampler", "sampler"), ("acceptance (per species)", "acceptance"),
                ("flow proposal acceptance", "flow_acceptance"),
                ("swap acceptance (per pair)", "swap_acceptance"), ("exchange acceptance", "exchange_acceptance"),
                ("ladder round trips", "round_trips"),
                ("E/N mean", "energy_per_particle_mean"), ("E/N standard error", "energy_per_particle_stderr"),
                ("energy stationary", "energy_stationary"),
                ("random and quenched starts agree", "starts_agree"),
                ("tau_int energy [sweeps]", "tau_int_energy_sweeps"), ("tau_int overlap [sweeps]",
                                                                        "tau_int_overlap_sweeps"),
                ("ESS energy per second", "ess_per_second"), ("ESS overlap per second", "ess_overlap_per_second"),
                ("production / set-up [s]", None)]


def _settings(args, sampler: str) -> SamplerSettings:
    return SamplerSettings(sampler=sampler, model=args.model, n=args.n, temperature=args.temperature,
                           chains=args.chains, sweeps=args.sweeps, burn_in=args.burn_in, seed=args.seed,
                           step=args.step, p_swap=args.p_swap,
                           ladder=tuple(args.ladder) if getattr(args, "ladder", None) else None,
                           train_steps=args.train_steps, update=args.update, engine=args.engine,
                           starts=_starts(args), flow=None if args.flow is None else str(args.flow),
                           p_flow=args.p_flow)


def _starts(args) -> str:
    """Chains of `sample` from random starts begin half random, half quenched (the check that both reach one
    energy), unless one chain or given configurations make that impossible; compare-samplers starts all alike."""
    chosen = getattr(args, "starts", None)
    if chosen == "random+quenched" and args.start is not None:
        raise InvalidInputError("--starts random+quenched makes its own starts; drop --start or --starts.")
    if chosen is not None:
        return chosen
    return "random+quenched" if args.command == "sample" and args.start is None and args.chains >= 2 else "random"


def _start(args):
    from glassgen.io import load

    return None if args.start is None else load(args.start)


def _checkpoint(args, settings: SamplerSettings) -> Checkpoint | None:
    """The --checkpoint of this run, identified by everything that decides it (the output file aside), so that a
    file of other settings is refused rather than continued."""
    if args.checkpoint is None:
        if any(a.startswith("--checkpoint-every") for a in args.argv):
            raise InvalidInputError("--checkpoint-every needs --checkpoint FILE to write to; add it or drop "
                                    "--checkpoint-every.")
        return None
    identity = {**asdict(settings), "budget_seconds": args.budget_seconds, "anneal_from": args.anneal_from,
                "anneal_stages": args.anneal_stages, "start": None if args.start is None else str(args.start.resolve())}
    return Checkpoint(args.checkpoint, identity, every_seconds=args.checkpoint_every)


def cmd_sample(args) -> None:
    from glassgen.io import save

    settings, stages = _settings(args, args.sampler), None
    settings.refuse_unused()
    if SAMPLER_KINDS[args.sampler].independent is not None:
        _independent(args, settings)
        return
    if args.budget_seconds is not None and any(a.startswith("--sweeps") for a in args.argv):
        raise InvalidInputError("give --sweeps or --budget-seconds for the production, not both.")
    checkpoint = _checkpoint(args, settings)
    start = _start(args)
    if checkpoint is not None and checkpoint.saved is not None:
        stages = checkpoint.saved["extra"]["anneal"]  # annealed before the production was saved: not again
    elif args.anneal_from is not None:
        start, stages = anneal(settings, args.anneal_from, args.anneal_stages, start=start, progress=not args.quiet)
    if checkpoint is not None:
        checkpoint.extra["anneal"] = stages
    outcome = run_sampler(settings, budget_seconds=args.budget_seconds, start=start, progress=not args.quiet,
                          checkpoint=checkpoint)
    summary = summarize(outcome)
    if stages is not None:
        summary["anneal"] = stages
    path = save(to_dataset(outcome, provenance(args)), args.output)
    summary["output"] = str(path)
    advice = ": burn in longer (--burn-in), anneal (--anneal-from) or use --sampler swap"
    cells = {"energy_per_particle_mean": _energy_cell(summary),
             "energy_stationary": _stationarity_cell(summary, advice=advice), "starts_agree": _starts_cell(summary),
             "round_trips": _round_trips_cell(summary)}
    rows = [(label, cells[key] if key in cells else format_value(summary[key])) for label, key in SUMMARY_ROWS
            if key in summary]
    rows += order_rows(summary)
    rows += [(f"anneal stage T = {stage['temperature']:.4g}", f"E/N {stage['energy_per_particle_mean']:.4g} over "
              f"{stage['sweeps']} sweeps after {stage['burn_in']} of burn-in, stationary "
              f"{_stationarity_cell(stage, 'equilibrated')}")
             for stage in stages or ()]
    rows.append(("production / set-up [s]", f"{summary['seconds']:.1f} / {summary['setup_seconds']:.1f}"))
    rows.append(("output", path))
    output(args, summary, rows)


def _independent(args, settings) -> None:
    """A sampler of independent weighted samples (the flow): no chains, so no start, annealing or checkpoint."""
    from glassgen.io import save

    given = [flag for flag, value in (("--start", args.start), ("--anneal-from", args.anneal_from),
                                      ("--checkpoint", args.checkpoint), ("--starts", args.starts)) if value is not None]
    given += ["--burn-in"] if any(a.startswith("--burn-in") for a in args.argv) else []
    if args.budget_seconds is not None and any(a.startswith("--sweeps") for a in args.argv):
        raise InvalidInputError("give --sweeps (samples = --chains x --sweeps) or --budget-seconds, not both.")
    if given:
        raise InvalidInputError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to the "
                                f"{args.sampler} sampler, whose samples are draws of the flow, not chains; drop "
                                f"{'it' if len(given) == 1 else 'them'}.")
    summary, outcome = SAMPLER_KINDS[args.sampler].independent(settings, args.budget_seconds, not args.quiet)
    path = save(to_dataset(outcome, provenance(args)), args.output)
    summary["output"] = str(path)
    trust = ("" if summary["equilibrated"] else
             f" (not trustworthy: Kish ESS {summary['ess']:.1f} < 30; train the flow longer or use another sampler)")
    rows = [("sampler", "flow: reweighted independent samples"), ("samples", summary["samples"]),
            ("Kish ESS", f"{summary['ess']:.1f} ({100 * summary['ess_fraction']:.3g} % of the samples)"),
            ("E/N mean", f"{summary['energy_per_particle_mean']:.6g}{trust}"),
            ("E/N standard error", summary["energy_per_particle_stderr"]),
            ("specific heat per particle", f"{summary['specific_heat']:.4g} +- {summary['specific_heat_stderr']:.2g}"),
            ("production / set-up [s]", f"{summary['seconds']:.1f} / {summary['setup_seconds']:.1f}"),
            ("output", f"{path} ({settings.chains} configurations resampled by weight)")]
    if not summary["equilibrated"]:
        warnings.warn(f"the flow's Kish ESS is {summary['ess']:.1f}: its reweighted averages are not trustworthy.",
                      ConvergenceWarning, stacklevel=2)
    output(args, summary, rows)


def _energy_cell(summary: dict) -> str:
    """The mean energy, or why it is no answer: a drifting, crystallised or demixed run has no equilibrium mean."""
    if summary["equilibrated"] is not False:
        return format_value(summary["energy_per_particle_mean"])
    first, second = summary["energy_per_particle_halves"]
    drifting = summary["energy_stationary"] is False
    reasons = [f"energy still drifting: {first:.4g} first half, {second:.4g} second half"] if drifting else []
    reasons += ["random and quenched starts disagree"] if summary.get("starts_agree") is False else []
    reasons += [word for word in ("crystallised", "demixed") if summary[word]]
    return f"not an equilibrium value ({'; '.join(reasons)})"


def _starts_cell(summary: dict) -> str:
    """Whether chains from random and from quenched starts reached the same energy, with the two means."""
    if "starts_agree" not in summary:
        return ""
    hot, cold = summary["starts_energy_per_particle"]
    verdict = "yes" if summary["starts_agree"] else "no"
    return f"{verdict} (E/N {hot:.4g} and {cold:.4g}, {summary['starts_z']:.1f} standard errors apart)"


def _round_trips_cell(summary: dict) -> str:
    """Round trips of the replicas along the ladder and their mean length, or that none completed: a ladder no
    replica crosses brings no decorrelation from the high temperatures down to the sampled one."""
    if "round_trips" not in summary:
        return ""
    if not summary["round_trips"]:
        return ("none completed: no replica went from the lowest rung to the highest and back (run longer, or space the "
                "rungs closer)")
    return f"{summary['round_trips']} (mean {summary['round_trip_rounds']:.1f} exchange rounds each)"


def _stationarity_cell(summary: dict, key: str = "energy_stationary", advice: str = "") -> str:
    """Verdict ``summary[key]`` of the stationarity test of a run (or of an annealing stage) with the two half means
    it compared, and ``advice`` when it failed."""
    if summary["energy_halves_p_value"] is None:
        return "not tested (too few energy records)"
    first, second = summary["energy_per_particle_halves"]
    halves = f"halves {first:.4g}, {second:.4g}; t-test p = {summary['energy_halves_p_value']:.2g}"
    return f"yes ({halves})" if summary[key] else f"no ({halves}){advice}"


def cmd_compare(args) -> None:
    args.temperature = args.temperatures[0]
    base = _settings(args, "metropolis")
    rows = compare_samplers(base, args.temperatures, args.budget_seconds, samplers=args.samplers,
                            progress=not args.quiet, start=_start(args))
    args.output.mkdir(parents=True, exist_ok=True)
    table = args.output / "comparison.json"
    temporary = table.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"settings": provenance(args, budget_seconds=args.budget_seconds),
                                     "rows": rows}, indent=1, default=str))
    os.replace(temporary, table)
    plot_comparison(rows, args.output / "comparison.png")
    if args.json:
        output(args, {"rows": rows, "output": str(table)})
        return
    header = (f"{'T':>6} {'sampler':>11} {'E/N':>17} {'equil':>5} {'tau_E':>8} {'ESS_E/s':>9} {'ESS_Q/s':>9} "
              f"{'acc':>6} {'swap':>6}")
    print("ESS_Q/s 'not yet': the overlap did not decay within the budget (run longer to measure it); for tempering "
          "the ladder's round trips instead")
    print("equil 'no': the energy drifted, or the chains crystallised or demixed; that E/N is no equilibrium value")
    print(header)
    for r in rows:
        if "skipped" in r:
            print(f"{r['temperature']:>6g} {r['sampler']:>11}  skipped: {r['skipped']}")
            continue
        swap, ess_q = r.get("swap_acceptance"), r.get("ess_overlap_per_second")
        equilibrated = {True: "yes", False: "no", None: "-"}[r["equilibrated"]]
        if SAMPLER_KINDS[r["sampler"]].independent is not None:  # independent samples: no chain, no tau, no moves
            tau, ess_q, acceptance = "indep.", "-", "-"
        else:
            tau = f"{r['tau_int_energy_sweeps']:.1f}"
            acceptance = f"{min(r['acceptance']):.2f}" if r["acceptance"] else f"{r['flow_acceptance']:.2f}"
            if "round_trips" in r:  # tempering: exchanges, not relaxation, change a rung's structure
                ess_q = f"{r['round_trips']} trips"
            else:
                ess_q = "not yet" if ess_q is None else f"{ess_q:.3g}"
        print(f"{r['temperature']:>6g} {r['sampler']:>11} {r['energy_per_particle_mean']:>9.4f} +- "
              f"{r['energy_per_particle_stderr']:.4f} {equilibrated:>5} {tau:>8} {r['ess_per_second']:>9.3g} "
              f"{ess_q:>9} {acceptance:>6} {'-' if swap is None else f'{min(swap):.3f}':>6}")
    print(f"written: {table}, {args.output / 'comparison.png'}")


def _common(sub, *, chains: int, sweeps: int) -> None:
    sub.add_argument("--model", default="ka2d", help="ka2d (default), ka3d or ka3d-sf")
    sub.add_argument("--n", type=positive_int, default=44, help="number of particles (default 44)")
    sub.add_argument("--chains", type=positive_int, default=chains, help=f"independent chains run as one batch ({chains})")
    sub.add_argument("--sweeps", type=positive_int, default=sweeps, help=f"production sweeps of N attempts ({sweeps})")
    sub.add_argument("--burn-in", type=nonnegative_int, default=200,
                     help="burn-in sweeps, step sizes adapted (default 200)")
    sub.add_argument("--step", type=positive_float, default=0.1, help="initial displacement step (default 0.1)")
    sub.add_argument("--p-swap", type=probability, default=0.2,
                     help="share of swap attempts for swap, tempering and pgmc on models with swap pairs (0.2)")
    sub.add_argument("--train-steps", type=nonnegative_int, default=100,
                     help="PGMC policy-gradient steps (default 100)")
    sub.add_argument("--update", choices=("auto", "sequential", "checkerboard"), default="auto",
                     help="single-particle or cell-coloured parallel updates (auto: checkerboard from N = 1000 "
                          "with --engine torch)")
    sub.add_argument("--engine", choices=("auto", "torch", "compiled"), default="auto",
                     help="compiled (numba) sweeps or torch operations per move (auto: compiled wherever it applies)")
    sub.add_argument("--start", type=Path, help="start the chains from these configurations (.h5 or npz), e.g. "
                     "ones equilibrated by swap MC or MD (default: random non-overlapping ones)")
    sub.add_argument("--flow", type=Path, help="trained flow (glassgen flow train -o) for the flow samplers")
    sub.add_argument("--p-flow", type=probability, default=0.5,
                     help="share of flow proposals among the kernel calls of flow-hybrid (0.5; each is a sweep)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    sub = command("sample", cmd_sample, "Sample equilibrium configurations with Monte Carlo and save the chains.")
    sub.add_argument("--sampler", choices=SAMPLERS, default="metropolis",
                     help="algorithm (default metropolis); flow draws --chains x --sweeps independent samples (or for "
                          "--budget-seconds), reweighted, and writes --chains of them resampled by weight")
    sub.add_argument("--temperature", type=positive_float, default=1.0, help="temperature (default 1.0)")
    sub.add_argument("--starts", choices=STARTS,
                     help="without --start: half the chains from random configurations and half from those quenched "
                          "to their energy minima, whose mean energies must agree (random+quenched, the default from "
                          "2 chains), or all random")
    sub.add_argument("--ladder", type=positive_float, nargs="+",
                     help="tempering temperatures, increasing, starting at --temperature (default: 6 geometric "
                          "rungs up to max(2T, 1))")
    sub.add_argument("--budget-seconds", type=positive_float,
                     help="production for this many wall-clock seconds instead of --sweeps (their number is fixed "
                          "from the burn-in speed)")
    sub.add_argument("--anneal-from", type=positive_float, metavar="T_HOT",
                     help="first cool the chains in stages from T_HOT to --temperature, each stage --burn-in sweeps "
                          "of burn-in and as many measured, its stationarity reported")
    sub.add_argument("--anneal-stages", type=positive_int, default=4,
                     help="cooling stages after the one at T_HOT, temperatures geometric down to --temperature (4)")
    add_output(sub, kind="file", help="HDF5 file for the final configurations")
    add_output(sub, kind="file", required=False, flags=("--checkpoint",), dest="checkpoint",
               help="save the production (chains, generators, records so far) to this file every --checkpoint-every "
                    "seconds and at its end, atomically; if the file exists, continue the run saved there instead of "
                    "starting again, with the numbers an uninterrupted run gives (wall times aside). Every setting "
                    "must match the saved run's, or it is refused. Only production is saved: a run killed during "
                    "burn-in or --anneal-from annealing starts over, a resumed one skips both")
    sub.add_argument("--checkpoint-every", type=positive_float, default=600.0, metavar="SECONDS",
                     help="seconds between checkpoints, counted in sweeps at the burn-in speed (600)")
    _common(sub, chains=8, sweeps=1000)

    sub = command("compare-samplers", cmd_compare,
                  "Run every sampler for the same wall-clock budget and compare effective samples per second.")
    sub.add_argument("--temperatures", type=positive_float, nargs="+", default=[1.0], help="temperatures (default 1.0)")
    sub.add_argument("--budget-seconds", type=positive_float, default=30.0, help="production seconds per sampler (30)")
    sub.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS), help="which samplers")
    add_output(sub, kind="folder", required=False, default=Path("compare-samplers"),
               help="folder for comparison.json and comparison.png")
    _common(sub, chains=8, sweeps=1000)
