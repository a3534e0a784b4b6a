"""Commands that sample equilibrium configurations with Monte Carlo: sample, compare-samplers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from glassgen.cli._arguments import add_output, nonnegative_int, positive_float, positive_int, probability
from glassgen.cli._output import format_value, output, provenance
from glassgen.sampling import (
    SAMPLERS,
    SamplerSettings,
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
                ("swap acceptance (per pair)", "swap_acceptance"), ("exchange acceptance", "exchange_acceptance"),
                ("E/N mean", "energy_per_particle_mean"), ("E/N standard error", "energy_per_particle_stderr"),
                ("tau_int energy [sweeps]", "tau_int_energy_sweeps"), ("tau_int overlap [sweeps]",
                                                                        "tau_int_overlap_sweeps"),
                ("ESS energy per second", "ess_per_second"), ("ESS overlap per second", "ess_overlap_per_second"),
                ("production / set-up [s]", None)]


def _settings(args, sampler: str) -> SamplerSettings:
    return SamplerSettings(sampler=sampler, model=args.model, n=args.n, temperature=args.temperature,
                           chains=args.chains, sweeps=args.sweeps, burn_in=args.burn_in, seed=args.seed,
                           step=args.step, p_swap=args.p_swap,
                           ladder=tuple(args.ladder) if getattr(args, "ladder", None) else None,
                           train_steps=args.train_steps, update=args.update)


def _start(args):
    from glassgen.io import load

    return None if args.start is None else load(args.start)


def cmd_sample(args) -> None:
    from glassgen.io import save

    outcome = run_sampler(_settings(args, args.sampler), start=_start(args), progress=not args.quiet)
    summary = summarize(outcome)
    path = save(to_dataset(outcome, provenance(args)), args.output)
    summary["output"] = str(path)
    rows = [(label, format_value(summary[key])) for label, key in SUMMARY_ROWS if key in summary]
    rows.append(("production / set-up [s]", f"{summary['seconds']:.1f} / {summary['setup_seconds']:.1f}"))
    rows.append(("output", path))
    output(args, summary, rows)


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
    header = f"{'T':>6} {'sampler':>11} {'E/N':>17} {'tau_E':>8} {'ESS_E/s':>9} {'ESS_Q/s':>9} {'acc':>6} {'swap':>6}"
    print("ESS_Q/s 'not yet': the overlap did not decay within the budget (run longer to measure it)")
    print(header)
    for r in rows:
        if "skipped" in r:
            print(f"{r['temperature']:>6g} {r['sampler']:>11}  skipped: {r['skipped']}")
            continue
        swap, ess_q = r.get("swap_acceptance"), r.get("ess_overlap_per_second")
        print(f"{r['temperature']:>6g} {r['sampler']:>11} {r['energy_per_particle_mean']:>9.4f} +- "
              f"{r['energy_per_particle_stderr']:.4f} {r['tau_int_energy_sweeps']:>8.1f} {r['ess_per_second']:>9.3g} "
              f"{'not yet' if ess_q is None else f'{ess_q:.3g}':>9} {min(r['acceptance']):>6.2f} "
              f"{'-' if swap is None else f'{min(swap):.3f}':>6}")
    print(f"written: {table}, {args.output / 'comparison.png'}")


def _common(sub, *, chains: int, sweeps: int) -> None:
    sub.add_argument("--model", default="ka2d", help="ka2d (default), ka3d or ka3d-sf")
    sub.add_argument("--n", type=positive_int, default=44, help="number of particles (default 44)")
    sub.add_argument("--chains", type=positive_int, default=chains, help=f"independent chains run as one batch ({chains})")
    sub.add_argument("--sweeps", type=positive_int, default=sweeps, help=f"production sweeps of N attempts ({sweeps})")
    sub.add_argument("--burn-in", type=nonnegative_int, default=200,
                     help="burn-in sweeps, step sizes adapted (default 200)")
    sub.add_argument("--step", type=positive_float, default=0.1, help="initial displacement step (default 0.1)")
    sub.add_argument("--p-swap", type=probability, default=0.2, help="share of swap attempts for swap/pgmc (0.2)")
    sub.add_argument("--train-steps", type=nonnegative_int, default=100,
                     help="PGMC policy-gradient steps (default 100)")
    sub.add_argument("--update", choices=("auto", "sequential", "checkerboard"), default="auto",
                     help="single-particle or cell-coloured parallel updates (auto: checkerboard from N = 1000)")
    sub.add_argument("--start", type=Path, help="start the chains from these configurations (.h5 or npz), e.g. "
                     "ones equilibrated by swap MC or MD (default: random non-overlapping ones)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_argument("--quiet", action="store_true", help="no progress output")


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    sub = command("sample", cmd_sample, "Sample equilibrium configurations with Monte Carlo and save the chains.")
    sub.add_argument("--sampler", choices=SAMPLERS, default="metropolis", help="algorithm (default metropolis)")
    sub.add_argument("--temperature", type=positive_float, default=1.0, help="temperature (default 1.0)")
    sub.add_argument("--ladder", type=positive_float, nargs="+",
                     help="tempering temperatures, increasing, starting at --temperature (default: 6 geometric "
                          "rungs up to max(2T, 1))")
    add_output(sub, kind="file", help="HDF5 file for the final configurations")
    _common(sub, chains=8, sweeps=1000)

    sub = command("compare-samplers", cmd_compare,
                  "Run every sampler for the same wall-clock budget and compare effective samples per second.")
    sub.add_argument("--temperatures", type=positive_float, nargs="+", default=[1.0], help="temperatures (default 1.0)")
    sub.add_argument("--budget-seconds", type=positive_float, default=30.0, help="production seconds per sampler (30)")
    sub.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS), help="which samplers")
    add_output(sub, kind="folder", required=False, default=Path("compare-samplers"),
               help="folder for comparison.json and comparison.png")
    _common(sub, chains=8, sweeps=1000)
