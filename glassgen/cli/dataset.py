"""`glassgen dataset build`: make a multi-temperature benchmark from a recipe (resumable; serial or on Dask);
`glassgen dataset download`: fetch a public archive (the full GlassBench data) with its checksums verified."""

from __future__ import annotations

from pathlib import Path

from glassgen.cli._arguments import add_output, positive_float, positive_int
from glassgen.cli._output import output
from glassgen.errors import InvalidInputError

EXAMPLES = {
    "dataset": "glassgen dataset build ka3d-multiT --work build/ka3d -o ka3d-multiT.h5 --workers 2\n  "
               "glassgen dataset download glassbench --files 'KA2D*' --to glassbench/",
}

ACTIONS = ("build", "download")


def cmd_dataset(args) -> None:
    if args.action == "download":
        return _download(args)
    from glassgen.dataset_build import build, load_recipe

    if args.files or args.to or args.record:
        raise InvalidInputError("--files, --to and --record belong to `glassgen dataset download`; drop them.")
    recipe = load_recipe(args.name)
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


def _download(args) -> None:
    from glassgen.io.download import ARCHIVES, download_archive

    if args.work or args.output or args.temperatures or args.full_precision or args.workers or args.scheduler:
        raise InvalidInputError("download takes --to FOLDER (and --files, --record); the other options belong to "
                                "`glassgen dataset build`: drop them.")
    folder = args.to or Path(args.name)
    files = download_archive(args.name, folder, patterns=args.files, record_url=args.record,
                             progress=not args.quiet)
    payload = {"archive": args.name, "folder": str(folder), "files": files,
               "source": ARCHIVES[args.name][1]}
    rows = [("archive", f"{args.name} ({payload['source']})"), ("folder", folder)]
    rows += [(f["name"], f"{f['status']}, {f['size'] / 1e6:.1f} MB, MD5 {f['md5']} verified") for f in files]
    output(args, payload, rows, [f"Unpack the archives in {folder}, then give their folders to --data, e.g. "
                                 "glassgen bench --data FOLDER/KA2D_models/T0.3/test ..."])


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    sub = command("dataset", cmd_dataset, "Build a multi-temperature benchmark dataset from a recipe (resumable).")
    sub.add_argument("action", choices=ACTIONS, help="build: run every stage not yet done, then assemble the dataset; "
                                                     "download: fetch a public archive, checksums verified")
    sub.add_argument("name", help="build: a shipped recipe (ka3d-multiT, ka2d-multiT) or a recipe TOML file; "
                                  "download: an archive (glassbench: the full GlassBench data, 6 GB)")
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
    add_output(sub, kind="folder", required=False, flags=("--to",), dest="to",
               help="download: folder for the files (default: the archive's name)")
    sub.add_argument("--files", nargs="+", metavar="GLOB",
                     help="download: only the files whose names match, e.g. 'KA2D*' (default: all)")
    sub.add_argument("--record", help="download: URL of the archive's Zenodo record, for a mirror or a saved copy "
                                      "(file:// works)")
