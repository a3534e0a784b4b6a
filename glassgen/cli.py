"""The `glassgen` command: human-readable tables by default, one JSON object on stdout with --json.

User mistakes (any GlassgenError, a missing file) become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import glassgen
from glassgen.errors import GlassgenError
from glassgen.systems import get_model

EXIT_USER_ERROR = 2


def _output(args, payload: dict, rows: list[tuple[str, object]] | None = None) -> None:
    """Print the payload as JSON (--json) or as an aligned two-column table of `rows` (default: the payload)."""
    if args.json:
        print(json.dumps(payload, default=_jsonable))
        return
    rows = rows if rows is not None else list(payload.items())
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {_format(value)}")


def _jsonable(value):
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item() if getattr(value, "ndim", 0) == 0 else value.tolist()
    if isinstance(value, (np.ndarray, Path)):
        return value.tolist() if isinstance(value, np.ndarray) else str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], float):
        shown = ", ".join(f"{v:.6g}" for v in value[:8])
        return f"[{shown}{', ...' if len(value) > 8 else ''}]"
    return str(value)


def _load(args):
    from glassgen.io import load

    return load(args.file, model=args.model, temperature=getattr(args, "temperature", None))


def _evaluate(dataset, positions=None):
    """Energies per particle (M,) and max |F| (M,) of every configuration, float64."""
    from glassgen.systems import forces, per_particle_energy

    system = dataset.system() if positions is None else dataset.system().with_positions(torch.as_tensor(positions))
    per_site = per_particle_energy(system)
    return (per_site.sum(-1) / dataset.n_particles).numpy(), forces(system).norm(dim=-1).amax(-1).numpy()


def _summary_energies(energies: np.ndarray) -> dict:
    values = [float(e) for e in energies]
    return {"energy_per_particle": float(np.mean(values)), "energies_per_particle": values}


# ---------------------------------------------------------------------------------------------------- commands
def cmd_info(args) -> None:
    data = _load(args)
    counts = np.bincount(data.types, minlength=get_model(data.model).n_types).tolist()
    payload = {
        "file": str(args.file), "model": data.model, "n_configurations": data.n_configurations,
        "n_particles": data.n_particles, "dim": data.dim, "species_counts": counts, "box": data.box.tolist(),
        "density": data.n_particles / float(np.prod(data.box)), "temperature": data.temperature,
        "has_inherent_states": data.inherent_positions is not None,
        "times": None if data.times is None else data.times.tolist(),
        "labels": [name for name in ("propensity", "bond_breaking") if getattr(data, name) is not None],
    }
    _output(args, payload)


def cmd_energy(args) -> None:
    data = _load(args)
    energies, max_force = _evaluate(data)
    payload = {"model": data.model, "n_particles": data.n_particles, "n_configurations": data.n_configurations,
               **_summary_energies(energies), "max_force": float(max_force.max())}
    _output(args, payload)


def cmd_import(args) -> None:
    from glassgen.io import save

    data = _load(args)
    data.metadata = {**data.metadata, "command": " ".join(sys.argv), "glassgen_version": glassgen.__version__}
    path = save(data, args.output)
    _output(args, {"output": str(path), "model": data.model, "n_configurations": data.n_configurations,
                   "n_particles": data.n_particles,
                   "labels": [k for k in ("propensity", "bond_breaking") if getattr(data, k) is not None]})


# ---------------------------------------------------------------------------------------------------- parser
EXAMPLES = {
    "info": "glassgen info ../shared/data/ka3d-botan-T0.44/train",
    "energy": "glassgen energy ../shared/data/ka3d-botan-T0.44/train/isoconfig_N4096T0.44_1_tc07.npz --json",
    "import": "glassgen import ../shared/data/ka3d-botan-T0.44/train -o botan_T0.44.h5",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassgen", description="Sampling and structure-to-dynamics prediction for Kob-Andersen glass formers.",
        epilog="Start with: glassgen demo",
    )
    parser.add_argument("--version", action="version", version=f"glassgen {glassgen.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler, help_text: str, *, takes_file: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog=f"example: {EXAMPLES[name]}" if name in EXAMPLES else None)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        if takes_file:
            sub.add_argument("file", type=Path, help="glassgen .h5 file, GlassBench/BOTAN .npz file, or a folder of them")
            sub.add_argument("--model", help="model name (ka3d, ka3d-sf, ka2d); default: inferred from the data")
        return sub

    command("info", cmd_info, "Describe a dataset: model, sizes, temperature, labels.", takes_file=True)
    command("energy", cmd_energy, "Potential energy per particle of each configuration.", takes_file=True)
    sub = command("import", cmd_import, "Convert GlassBench/BOTAN npz files into one glassgen HDF5 file.",
                  takes_file=True)
    sub.add_argument("-o", "--output", type=Path, required=True, help="HDF5 file to write")
    sub.add_argument("--temperature", type=float, help="temperature, where the file names do not give it")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (GlassgenError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
        print(f"glassgen {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"glassgen {args.command}: interrupted; results already written are kept.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
