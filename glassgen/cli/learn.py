"""Commands that learn dynamics from structure: train, predict, bench."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from glassgen.cli._output import format_value, output, provenance
from glassgen.errors import InvalidInputError

EXAMPLES = {
    "train": "glassgen train --model glassmlp --data ../shared/data/ka3d-botan-T0.44/train --configurations 0:7 "
             "-o glassmlp.pt",
    "predict": "glassgen predict --model glassmlp.pt ../shared/data/ka3d-botan-T0.44/train --configurations 7:10 "
               "-o predicted.h5",
    "bench": "glassgen bench --model glassmlp.pt --data ../shared/data/ka3d-botan-T0.44/train --configurations 7:10 "
             "--report report/ --json",
}


def _selection(spec: str | None):
    """'7:10' -> slice(7, 10); '0,3,5' -> [0, 3, 5]; None -> everything."""
    if spec is None:
        return None
    try:
        if ":" in spec:
            start, _, stop = spec.partition(":")
            return slice(int(start) if start else None, int(stop) if stop else None)
        return [int(v) for v in spec.split(",")]
    except ValueError:
        raise InvalidInputError(f"--configurations takes START:STOP or a comma list of indices; got {spec!r}.")


def _data(path: Path, args):
    from glassgen.io import load

    data = load(path, temperature=args.temperature)
    selection = _selection(args.configurations)
    return data if selection is None else data.subset(selection)


def _hyper(pairs: list[str] | None) -> dict:
    """--set key=value pairs (numbers parsed) -> dict of hyper-parameters."""
    hyper = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInputError(f"--set takes NAME=VALUE; got {pair!r}.")
        for cast in (int, float):
            try:
                hyper[name] = cast(value)
                break
            except ValueError:
                continue
        else:
            hyper[name] = {"true": True, "false": False}.get(value.lower(), value)
    return hyper


def cmd_train(args) -> None:
    from glassgen.predictors import get_predictor

    train = _data(args.data, args)
    valid = _data(args.valid, args) if args.valid else None
    predictor = get_predictor(args.model, progress=not args.quiet, **_hyper(args.set))
    begin = time.perf_counter()
    predictor.fit(train, valid, times=args.times)
    seconds = time.perf_counter() - begin
    predictor.save(args.output)
    output(args, {"output": str(args.output), "model": args.model, "n_configurations": train.n_configurations,
                  "n_particles": train.n_particles, "times": [float(t) for t in predictor.times_],
                  "seconds": seconds, "parameters": predictor.get_params()})


def cmd_predict(args) -> None:
    from glassgen.io import save
    from glassgen.predictors import load_predictor

    predictor = load_predictor(args.model)
    data = _data(args.file, args)
    begin = time.perf_counter()
    predicted = predictor.predict(data)
    seconds = time.perf_counter() - begin
    data.times = np.asarray(predictor.times_, dtype=np.float64)
    setattr(data, predictor.label, predicted)
    other = "bond_breaking" if predictor.label == "propensity" else "propensity"
    setattr(data, other, None)
    data.metadata = {**data.metadata, "predicted_by": str(args.model), **provenance(args)}
    path = save(data, args.output)
    output(args, {"output": str(path), "n_configurations": data.n_configurations, "label": predictor.label,
                  "times": data.times.tolist(), "seconds": seconds,
                  "seconds_per_configuration": seconds / data.n_configurations})


def cmd_bench(args) -> None:
    from glassgen.bench import GLASSBENCH, evaluate, score_descriptor, write_report

    if (args.model is None) == (args.descriptor is None):
        raise InvalidInputError("give either --model SAVED_MODEL or --descriptor EPOT|DEN|PSI6|SBO, not both.")
    data = _data(args.data, args)
    begin = time.perf_counter()
    if args.model is not None:
        from glassgen.predictors import load_predictor

        predictor = load_predictor(args.model)
        name = Path(args.model).stem
        result = evaluate(predictor.predict(data), data, times=predictor.times_, label=predictor.label)
    else:
        name = args.descriptor
        result = score_descriptor(args.descriptor, data, length=args.length)
    result["seconds"] = time.perf_counter() - begin
    if args.report:
        published = GLASSBENCH.get(f"{data.model}-T{data.temperature:g}", {}) if data.temperature else {}
        result["report"] = [str(p) for p in write_report({name: result}, args.report, published=published,
                                                         title=f"{name} on {args.data}")]
    payload = {k: v for k, v in result.items() if k != "sample"}
    scored = (f"{name} on {data.n_configurations} configurations, {payload['n_particles_scored']} particles of "
              f"species {payload['species']}")
    rows = [("scored", scored)]
    rows += [(f"Pearson at t = {t}", format_value(v)) for t, v in payload["pearson"].items()]
    rows += [(f"R^2 at t = {t}", format_value(v)) for t, v in payload["r2"].items()]
    if payload.get("chi4"):
        rows += [(f"chi_4 predicted / true at t = {t}",
                  f"{payload['chi4']['predicted'][t]:.3g} / {payload['chi4']['true'][t]:.3g}")
                 for t in payload["chi4"]["true"]]
    rows.append(("seconds", format_value(payload["seconds"])))
    output(args, payload, rows)


def _data_options(sub) -> None:
    sub.add_argument("--configurations", help="use only these configurations: START:STOP or i,j,k (0-based)")
    sub.add_argument("--temperature", type=float, help="temperature, where the files do not give it")
    sub.add_argument("--quiet", action="store_true", help="no progress output")


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    from glassgen.bench import BASELINES, DEFAULT_LENGTH
    from glassgen.predictors import available_predictors

    sub = command("train", cmd_train, "Fit a propensity predictor on labelled configurations and save it.")
    sub.add_argument("--model", required=True, choices=available_predictors(), help="predictor to train")
    sub.add_argument("--data", type=Path, required=True, help="training data: glassgen .h5 or a folder of npz files")
    sub.add_argument("--valid", type=Path, help="validation data for early stopping (same forms)")
    sub.add_argument("--times", type=float, nargs="+", help="label times to learn (default: all in the data)")
    sub.add_argument("--set", nargs="+", metavar="NAME=VALUE", help="hyper-parameters, e.g. inherent=false")
    sub.add_argument("-o", "--output", type=Path, required=True, help="file for the trained model")
    _data_options(sub)

    sub = command("predict", cmd_predict, "Predict propensities of configurations with a saved model.")
    sub.add_argument("file", type=Path, help="configurations: glassgen .h5, GlassBench/BOTAN .npz or a folder")
    sub.add_argument("--model", required=True, type=Path, help="saved model (glassgen train -o)")
    sub.add_argument("-o", "--output", type=Path, required=True, help="HDF5 file: the data with predicted labels")
    _data_options(sub)

    sub = command("bench", cmd_bench, "Score a saved model or a physical descriptor with the GlassBench metrics.")
    sub.add_argument("--model", type=Path, help="saved model (glassgen train -o)")
    sub.add_argument("--descriptor", choices=sorted(BASELINES), help="score a physical descriptor instead")
    sub.add_argument("--length", type=float, default=DEFAULT_LENGTH,
                     help=f"coarse-graining length of --descriptor (default {DEFAULT_LENGTH:g})")
    sub.add_argument("--data", type=Path, required=True, help="labelled test data: glassgen .h5 or npz folder")
    sub.add_argument("--report", type=Path, help="folder for report.json, report.md and PNG figures")
    _data_options(sub)
