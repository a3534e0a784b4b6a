"""`glassgen dataset build`: make a multi-temperature benchmark from a recipe (resumable; serial or on Dask)."""

from __future__ import annotations

from pathlib import Path

from glassgen.cli._arguments import add_output, positive_float, positive_int
from glassgen.cli._output import output

EXAMPLES = {
    "dataset": "glassgen dataset build ka3d-multiT --work build/ka3d -o ka3d-multiT.h5 --workers 2",
}

ACTIONS = ("build",)


def cmd_dataset(args) -> None:
    from glassgen.dataset_build import build, load_recipe

    recipe = load_recipe(args.recipe)
    work = args.work or Path("glassgen-build") / recipe.name
    output_path = args.output or Path(f"{recipe.name}.h5")
    report = build(recipe, work, output_path, temperatures=args.temperatures, workers=args.workers,
                   scheduler=args.scheduler, compact=not args.full_precision, progress=not args.quiet)
    payload = {"recipe": recipe.name, "work": str(work), "done": report.done, "remaining": report.remaining,
               "output": None if report.output is None else str(report.output), "temperatures": report.summaries}
    rows = [("recipe", f"{recipe.name} ({recipe.source})"), ("work folder", work),
            ("temperatures done", report.done or "none"), ("temperatures left", report.remaining or "none")]
    for summary in report.summaries:
        seconds = summary["seconds"]
        rows.append((f"T = {summary['temperature']:g}",
                     f"{summary['n_train']} + {summary['n_test']} configurations, tau_alpha {summary['tau_alpha']:.3g}"
                     f", F_s(tau_alpha) {summary['fs_at_tau_alpha']:.2f}, rho_max at tau_alpha "
                     f"{summary['rho_max'][recipe.times_tau.index(1.0)]:.3f}, E/N {summary['energy_per_particle']:.4f}"
                     f", {'equilibrated' if summary['equilibrated'] else 'NOT EQUILIBRATED'}, "
                     f"{sum(seconds.values()):.0f} s"))
    notes = ([f"Written: {report.output}. Load it with glassgen.io.load({str(report.output)!r})."] if report.output
             else [f"Not all temperatures are done; run the same command again to continue ({work} keeps every "
                   "finished stage)."] if report.remaining else [])
    output(args, payload, rows, notes)


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    sub = command("dataset", cmd_dataset, "Build a multi-temperature benchmark dataset from a recipe (resumable).")
    sub.add_argument("action", choices=ACTIONS, help="build: run every stage not yet done, then assemble the dataset")
    sub.add_argument("recipe", help="a shipped recipe (ka3d-multiT, ka2d-multiT) or a recipe TOML file")
    add_output(sub, kind="folder", required=False, flags=("--work",), dest="work",
               help="folder of the stages (default glassgen-build/NAME); a rerun continues from it")
    add_output(sub, kind="file", required=False,
               help="the assembled dataset (default NAME.h5), written once every temperature is done")
    sub.add_argument("--temperatures", type=positive_float, nargs="+",
                     help="build only these temperatures of the recipe now (each needs the ones above it)")
    sub.add_argument("--full-precision", action="store_true",
                     help="store labels and positions in float64 (default: compressed float32, as shipped)")
    sub.add_argument("--workers", type=positive_int, help="label on a local Dask cluster of this many processes")
    sub.add_argument("--scheduler", help="address of a running Dask scheduler to send the label jobs to")
