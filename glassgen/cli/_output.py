"""Shared pieces of the `glassgen` commands: output as a table or one JSON object, data loading, provenance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

import glassgen


def output(args, payload: dict, rows: list[tuple[str, object]] | None = None, notes: Sequence[str] = ()) -> None:
    """Print the payload as JSON (--json) or as an aligned two-column table of `rows` (default: the payload).

    ``notes`` are lines after the table for a person (what to do next), never part of the JSON, which a program reads.
    """
    if args.json:
        print(json.dumps(payload, default=jsonable))
        return
    rows = rows if rows is not None else [(_label(key), value) for key, value in payload.items()]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {format_value(value)}")
    for line in notes:
        print(line)


def _label(key: str) -> str:
    """A JSON key as a row label: 'n_configurations' -> 'number of configurations', 'max_force' -> 'max force'."""
    return ("number of " + key[2:] if key.startswith("n_") else key).replace("_", " ")


def jsonable(value):
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item() if getattr(value, "ndim", 0) == 0 else value.tolist()
    if isinstance(value, (np.ndarray, Path)):
        return value.tolist() if isinstance(value, np.ndarray) else str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def format_value(value) -> str:
    """One table cell in plain words: yes/no, numbers to 6 digits, lists and mappings comma-separated; a vector of
    floats keeps its brackets. Never Python syntax (quotes, None, True), which a person should not have to read."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{key} = {format_value(item)}" for key, item in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        shown = ", ".join(format_value(v) for v in value[:8]) + (", ..." if len(value) > 8 else "")
        return f"[{shown}]" if isinstance(value[0], float) else shown
    return str(value)


def species_name(index: int) -> str:
    """Species as physicists name them: 0 -> 'A', 1 -> 'B', ..."""
    return chr(ord("A") + int(index))


def order_rows(checks: dict) -> list[tuple[str, str]]:
    """The crystallisation and demixing checks (:func:`glassgen.dynamics.crystallinity.order_checks`) as table rows,
    saying what to change when one fails; shared by the MD and the Monte Carlo commands."""
    from glassgen.dynamics.crystallinity import DEMIXED_INDEX

    advice = ": start again with another --seed or a higher --temperature"
    return [("crystallised", f"{'yes' if checks['crystallised'] else 'no'} ({100 * checks['solid_like_fraction']:.1f} "
                             f"% solid-like, threshold {100 * checks['solid_like_threshold']:g} %)"
                             f"{advice if checks['crystallised'] else ''}"),
            ("demixed", f"{'yes' if checks['demixed'] else 'no'} (index {checks['demixing_index']:.2f}, threshold "
                        f"{DEMIXED_INDEX:g}){advice if checks['demixed'] else ''}")]


def load_data(args):
    from glassgen.io import load

    return load(args.file, model=args.model, temperature=getattr(args, "temperature", None),
                temperatures=args.temperatures)


def evaluate_energies(dataset):
    """Energies per particle (M,) and max |F| (M,) of every configuration, float64, from one checked evaluation."""
    from glassgen.systems import evaluate

    out = evaluate(dataset.system(), energy=True, forces=True)
    return (out.energy / dataset.n_particles).numpy(), out.forces.norm(dim=-1).amax(-1).numpy()


def summary_energies(energies: np.ndarray) -> dict:
    values = [float(e) for e in energies]
    return {"energy_per_particle": float(np.mean(values)), "energies_per_particle": values}


def provenance(args, **extra) -> dict:
    return {"command": " ".join(["glassgen", *args.argv]), "glassgen_version": glassgen.__version__, **extra}
