"""Commands that learn dynamics from structure: train, predict, predict-dynamics, bench."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from glassgen.cli._arguments import add_output, add_temperatures, positive_float
from glassgen.cli._output import format_value, output, provenance, species_name
from glassgen.errors import InvalidInputError
from glassgen.io.dataset import LABELS, PREDICTED_LABELS

EXAMPLES = {
    "train": "glassgen train --model glassmlp --data ../shared/data/ka3d-botan-T0.44/train --configurations 0:7 "
             "-o glassmlp.pt",
    "predict": "glassgen predict --model glassmlp.pt ../shared/data/ka3d-botan-T0.44/train --configurations 7:10 "
               "-o predicted.h5",
    "predict-dynamics": "glassgen predict-dynamics N1290T0.23_1.npz --model ka2d-transferable.pt --times-tau 1 "
                        "-o predicted.h5 --report heterogeneity/",
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


def _data(path: Path, args, split: str = "all"):
    """The data of ``path``: at ``--temperatures``, in ``--split`` (else ``split`` where the data have a train/test
    split: training reads the train part and scoring the test part), then ``--configurations``."""
    from glassgen.io import load

    data = load(path, temperature=args.temperature, temperatures=args.temperatures)
    chosen = args.split or (split if "split" in data.extras else "all")
    data = data.select_split(chosen)
    selection = _selection(args.configurations)
    return data if selection is None else data.subset(selection)


def hyper_parameters(pairs: list[str] | None) -> dict:
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

    hyper = {"progress": not args.quiet, **hyper_parameters(args.set)}
    if args.budget_minutes is not None:
        if "budget_minutes" not in get_predictor(args.model).get_params():
            raise InvalidInputError(f"--budget-minutes limits the training of the graph networks; {args.model} has "
                                    "no time budget: drop --budget-minutes.")
        if "budget_minutes" in hyper:
            raise InvalidInputError("the budget is given twice (--budget-minutes and --set budget_minutes=...); "
                                    "give it once.")
        hyper["budget_minutes"] = args.budget_minutes
    predictor = get_predictor(args.model, **hyper)  # unknown settings are refused before the data are read
    train = _data(args.data, args, split="train")
    valid = _data(args.valid, args, split="train") if args.valid else None
    begin = time.perf_counter()
    predictor.fit(train, valid, times=args.times)
    seconds = time.perf_counter() - begin
    predictor.save(args.output)
    training = predictor.provenance_.get("training")  # how an iterative training went: epochs, why it stopped, size
    output(args, {"output": str(args.output), "model": args.model, "n_configurations": train.n_configurations,
                  "n_particles": train.n_particles, "times": [float(t) for t in predictor.times_],
                  "time_unit": predictor.time_unit_, "seconds": seconds, "parameters": predictor.get_params(),
                  **({} if training is None else {"training": training})})


def _load_predictor(args):
    """The saved predictor of --model, showing progress unless --quiet, whatever it was trained with."""
    from glassgen.predictors import load_predictor

    predictor = load_predictor(args.model)
    predictor.progress = not args.quiet
    return predictor


def _with_predictions(data, predictor, predicted: np.ndarray, spread: np.ndarray, times: np.ndarray, args):
    """``data`` with ``predicted`` labels (M, K, N) at ``times`` in the predictor's unit, the ensemble's spread in
    extras, and those of its other fields that it holds at these times; returns (dataset, fields dropped)."""
    unit = predictor.time_unit_
    stored_as = f"predicted_{predictor.label}"
    spread_as = f"{stored_as}_std"
    kept, dropped = _fields_at(data, times, unit, [name for name in LABELS + PREDICTED_LABELS if name != stored_as])
    extras = {name: value for name, value in data.extras.items() if name != spread_as}  # none left from another model
    if _members(predictor) > 1:
        extras[spread_as] = spread
    data = replace(data, times=times, time_unit=unit, **kept, **{stored_as: predicted}, extras=extras,
                   metadata={**data.metadata, "predicted_by": str(args.model), **provenance(args)})
    return data, dropped


def cmd_predict(args) -> None:
    from glassgen.io import save

    predictor = _load_predictor(args)
    data = _data(args.file, args)
    unit = predictor.time_unit_
    begin = time.perf_counter()
    predicted, spread = predictor.predict_with_uncertainty(data)
    seconds = time.perf_counter() - begin
    times = np.asarray(predictor.times_, dtype=np.float64)
    stored_as = f"predicted_{predictor.label}"
    spread_as = f"{stored_as}_std"
    data, dropped = _with_predictions(data, predictor, predicted, spread, times, args)
    path = save(data, args.output)
    payload = {"output": str(path), "n_configurations": data.n_configurations, "label": predictor.label,
               "stored_as": stored_as, "true_labels": [name for name in LABELS if getattr(data, name) is not None],
               "dropped": dropped, "times": data.times.tolist(), "time_unit": unit, "seconds": seconds,
               "seconds_per_configuration": seconds / data.n_configurations}
    in_tau = " (in units of tau_alpha)" if unit == "tau_alpha" else ""
    rows = [("output", path), ("predicted", f"{predictor.label} of {data.n_configurations} configurations at "
                                            f"t = {', '.join(f'{t:g}' for t in times)}{in_tau}, stored as {stored_as}"),
            ("true labels kept", payload["true_labels"] or "none in the data")]
    if spread_as in data.extras:
        payload.update(std_stored_as=spread_as, ensemble_std=_mean_spread(spread, times))
        spreads = ", ".join(f"{value:.3g} at t = {t}" for t, value in payload["ensemble_std"].items())
        rows.append(("ensemble spread", f"mean std over {_members(predictor)} members: {spreads}; stored as extras "
                                        f"{spread_as}"))
    if dropped:
        rows.append(("dropped", f"{', '.join(dropped)}: not given at the model's times{in_tau}"))
    rows.append(("seconds per configuration", payload["seconds_per_configuration"]))
    output(args, payload, rows)


def cmd_predict_dynamics(args) -> None:
    """Predict the propensity fields of configurations (e.g. sampled below any simulable temperature) at times in
    units of tau_alpha(T), and their dynamic heterogeneity per temperature: chi_4 and a correlation length."""
    from glassgen.heterogeneity import predict_dynamics
    from glassgen.io import save

    predictor = _load_predictor(args)
    if args.times_tau is not None and predictor.time_unit_ != "tau_alpha":
        raise InvalidInputError(f"{args.model} was trained on label times in LJ units ({predictor.times_.tolist()}), "
                                "so it cannot predict at times in units of tau_alpha: drop --times-tau (every time "
                                "of the model is predicted), or train a model on data in tau units (e.g. "
                                "ka2d-multiT, ka3d-multiT).")
    data = _data(args.file, args)
    begin = time.perf_counter()
    members, times, summaries = predict_dynamics(predictor, data, args.times_tau)
    seconds = time.perf_counter() - begin
    data, dropped = _with_predictions(data, predictor, members.mean(0), members.std(0), times, args)
    data = replace(data, metadata={**data.metadata, "heterogeneity": summaries})
    path = save(data, args.output)
    unit = " tau_alpha(T)" if predictor.time_unit_ == "tau_alpha" else " (LJ units)"
    payload = {"output": str(path), "n_configurations": data.n_configurations, "label": predictor.label,
               "stored_as": f"predicted_{predictor.label}", "times": times.tolist(),
               "time_unit": predictor.time_unit_, "members": len(members), "temperatures": summaries,
               "seconds": seconds}
    rows = [("output", path),
            ("predicted", f"{predictor.label} of {data.n_configurations} configurations at t = "
                          f"{', '.join(f'{t:g}' for t in times)}{unit} by {len(members)} model(s), stored as "
                          f"predicted_{predictor.label}")]
    trained = predictor.provenance_.get("training_temperatures")
    for s in summaries:
        where = "T unknown" if s["temperature"] is None else f"T = {s['temperature']:g}"
        for t in s["length"]:
            parts = [f"chi_4 {_plus_minus(s, 'chi4', t)}" if s["chi4"] else "chi_4 needs 2+ configurations",
                     f"xi {_plus_minus(s, 'length', t)}"]
            if s.get("pearson"):
                parts.append(f"rho_P {s['pearson'][t]:.3f} against the true labels")
            rows.append((f"{where}, t = {t}", "; ".join(parts)))
        if s.get("below_training"):
            rows.append((where, f"{s['below_training']:.3g} below the coldest training temperature: an extrapolation, "
                                "to trust as far as the ensemble's members agree (the spreads above)"))
    if trained:
        rows.append(("trained at", f"T = {', '.join(f'{t:g}' for t in trained)}"))
    if args.report:
        from glassgen.bench.heterogeneity_report import write_heterogeneity_report

        payload["report"] = [str(p) for p in write_heterogeneity_report(
            summaries, args.report, title=f"Dynamic heterogeneity predicted by {Path(args.model).name}")]
        rows.append(("report", f"{args.report / 'report.md'}, with JSON and heterogeneity.png beside it"))
    if dropped:
        rows.append(("dropped", f"{', '.join(dropped)}: not given at these times"))
    rows.append(("seconds", format_value(seconds)))
    output(args, payload, rows)


def _plus_minus(summary: dict, name: str, t: str) -> str:
    """'value ± spread' of a summary entry (true value in parentheses where known)."""
    value = summary[name][t]
    spread = (summary.get(f"{name}_std") or {}).get(t)
    text = f"{value:.3g}" + ("" if spread is None else f" ± {spread:.2g}")
    true = (summary.get(f"{name}_true") or {}).get(t)
    return text + ("" if true is None else f" (true {true:.3g})")


def _members(predictor) -> int:
    """Members of a predictor's ensemble (1 for a single model, or a predictor that makes no ensembles)."""
    return predictor.get_params().get("ensemble", 1)


def _mean_spread(spread: np.ndarray, times, particles=slice(None)) -> dict:
    """{time: the ensemble's standard deviation (M, K, N) averaged over configurations and ``particles``}."""
    from glassgen.bench.tasks import key

    return {key(t): float(spread[:, k][:, particles].mean()) for k, t in enumerate(times)}


def _fields_at(data, times: np.ndarray, unit: str, names: list[str]) -> tuple[dict, list[str]]:
    """The fields ``names`` that ``data`` holds, at ``times`` in ``unit``: labels and predictions share one time axis
    in a Dataset, so a field the data lack at any of the model's times cannot stay beside its predictions.

    Returns ({name: array at times, or None where dropped}, names dropped).
    """
    from glassgen.heterogeneity import field_at

    fields = {name: field_at(data, name, times, unit) for name in names if getattr(data, name) is not None}
    return fields, [name for name, field in fields.items() if field is None]


def cmd_bench(args) -> None:
    from glassgen.bench import GLASSBENCH, evaluate, score_descriptor, true_labels, write_report

    if [args.model is not None, args.descriptor is not None, args.predicted, args.transfer is not None].count(
            True) != 1:
        raise InvalidInputError("give either --model SAVED_MODEL, --descriptor EPOT|DEN|PSI6|SBO|SBO_CG, "
                                "--predicted (the predictions stored in the data) or --transfer PREDICTOR..., "
                                "exactly one.")
    if args.transfer is not None:
        return _bench_transfer(args)
    data = _data(args.data, args, split="test")
    begin = time.perf_counter()
    if args.model is not None:
        predictor = _load_predictor(args)
        true_labels(data, predictor.label)  # unlabelled data fail before the prediction, not after
        predictor.check_time_unit(data, "data to score")
        name = Path(args.model).stem
        predicted, spread = predictor.predict_with_uncertainty(data)
        result = evaluate(predicted, data, times=predictor.times_, label=predictor.label)
        if _members(predictor) > 1:
            result["ensemble_std"] = _mean_spread(spread, predictor.times_, data.types == result["species"])
    elif args.predicted:
        label = next((label for label in LABELS if getattr(data, f"predicted_{label}") is not None), None)
        if label is None:
            raise InvalidInputError(f"{args.data} holds no stored predictions; make them with glassgen predict first, "
                                    "or score a saved model with --model.")
        name = f"predicted_{label}"
        result = evaluate(getattr(data, name), data, label=label)
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
              f"species {', '.join(species_name(s) for s in np.atleast_1d(payload['species']))}")
    rows = [("scored", scored), ("truth", f"the true {payload['label']} labels of the data")]
    rows += [(f"Pearson at t = {t}", format_value(v)) for t, v in payload["pearson"].items()]
    # a raw descriptor has no R^2 (None): no rows
    rows += [(f"R^2 at t = {t}", format_value(v)) for t, v in payload["r2"].items() if v is not None]
    if payload.get("chi4"):
        rows += [(f"chi_4 predicted / true at t = {t}",
                  f"{payload['chi4']['predicted'][t]:.3g} / {payload['chi4']['true'][t]:.3g}")
                 for t in payload["chi4"]["true"]]
    rows += [(f"ensemble spread at t = {t}", format_value(v)) for t, v in payload.get("ensemble_std", {}).items()]
    if args.report:
        rows.append(("report", f"{args.report / 'report.md'}, with JSON and figures beside it"))
    rows.append(("seconds", format_value(payload["seconds"])))
    output(args, payload, rows)


def _bench_transfer(args) -> None:
    """--transfer: each predictor trained at every temperature's train part and scored at every temperature's
    test part (GlassBench's transfer task); one heat map per predictor with --report."""
    from glassgen.bench import transfer_task, write_report
    from glassgen.predictors import get_predictor

    if args.split not in (None, "all") or args.configurations:
        raise InvalidInputError("--transfer uses the data's own train/test split at every temperature; drop --split "
                                "and --configurations.")
    data = _data(args.data, args)
    hyper = hyper_parameters(args.set)
    results, rows = {}, []
    for name in args.transfer:
        results[name] = transfer_task(lambda: get_predictor(name, **{"progress": False, **hyper}), data,
                                      progress=not args.quiet)
        matrix = results[name]
        for t_train, row in zip(matrix["train_temperatures"], matrix["pearson"]):
            cells = ", ".join(f"{value:.3f} at {t_test}" for t_test, value in zip(matrix["test_temperatures"], row))
            rows.append((f"{name} trained at {t_train}", cells))
    unit = "tau_alpha" if data.time_unit == "tau_alpha" else "the label time nearest tau_alpha"
    rows.insert(0, ("Pearson over A particles", f"at t = {unit} of each test temperature"))
    if args.report:
        written = write_report(results, args.report, title=f"Transfer across temperatures on {args.data}")
        rows.append(("report", f"{args.report / 'report.md'}, with JSON and heat maps beside it"))
        results = {**results, "report": [str(p) for p in written]}
    output(args, results, rows)


def _data_options(sub) -> None:
    sub.add_argument("--configurations", help="use only these configurations: START:STOP or i,j,k (0-based)")
    sub.add_argument("--temperature", type=positive_float, help="temperature, where the files do not give it")
    add_temperatures(sub)
    sub.add_argument("--split", choices=("all", "train", "test"),
                     help="part of data with a train/test split (ka3d-multiT, ka2d-multiT) to use (default: train "
                          "for train, test for bench, all for predict)")


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    from glassgen.bench import BASELINES, DEFAULT_LENGTH
    from glassgen.predictors import available_predictors

    sub = command("train", cmd_train, "Fit a propensity predictor on labelled configurations and save it.")
    sub.add_argument("--model", required=True, choices=available_predictors(), help="predictor to train")
    sub.add_argument("--data", type=Path, required=True,
                     help="training data: glassgen .h5, a folder of npz files, or a shipped dataset (ka3d-multiT, "
                          "ka2d-multiT)")
    sub.add_argument("--valid", type=Path, help="validation data for early stopping (same forms)")
    sub.add_argument("--times", type=positive_float, nargs="+",
                     help="label times to learn, in the data's unit (default: all in the data)")
    sub.add_argument("--set", nargs="+", metavar="NAME=VALUE",
                     help="hyper-parameters, e.g. inherent=false; glassmlp: temperature_input=true (temperature as an "
                          "input, data at several temperatures) ensemble=5 (five seeds: mean and spread); bapst, "
                          "botan, se3: epochs=100 checkpoint=FILE (resumable) device=cuda")
    sub.add_argument("--budget-minutes", type=positive_float,
                     help="bapst, botan, se3: stop training after this wall-clock time, at the best validation state "
                          "so far")
    add_output(sub, kind="file", help="file for the trained model")
    _data_options(sub)

    sub = command("predict", cmd_predict, "Predict propensities of configurations with a saved model.")
    sub.add_argument("file", type=Path, help="configurations: glassgen .h5, GlassBench/BOTAN .npz or a folder")
    sub.add_argument("--model", required=True, type=Path, help="saved model (glassgen train -o)")
    add_output(sub, kind="file", help="HDF5 file: the data with predicted labels")
    _data_options(sub)

    sub = command("predict-dynamics", cmd_predict_dynamics,
                  "Predict propensity fields and their dynamic heterogeneity (chi_4, correlation length) per "
                  "temperature, e.g. of configurations sampled below any simulable temperature.")
    sub.add_argument("file", type=Path, help="configurations: glassgen .h5 (e.g. glassgen sample -o), GlassBench/BOTAN "
                                             ".npz, a folder of them, or a shipped dataset")
    sub.add_argument("--model", required=True, type=Path,
                     help="saved model (glassgen train -o); below its training temperatures, one trained with "
                          "--set temperature_input=true on data in tau units")
    sub.add_argument("--times-tau", type=positive_float, nargs="+",
                     help="times in units of tau_alpha(T), among the model's (default: all of them)")
    add_output(sub, kind="file", help="HDF5 file: the data with predicted labels and the heterogeneity summary")
    add_output(sub, kind="folder", required=False, flags=("--report",), dest="report",
               help="folder for report.json, report.md and heterogeneity.png")
    _data_options(sub)

    sub = command("bench", cmd_bench, "Score a saved model or a physical descriptor with the GlassBench metrics.")
    sub.add_argument("--model", type=Path, help="saved model (glassgen train -o)")
    sub.add_argument("--descriptor", choices=sorted(BASELINES), help="score a physical descriptor instead")
    sub.add_argument("--transfer", nargs="+", choices=available_predictors(), metavar="PREDICTOR",
                     help="the transfer task: train each PREDICTOR at every temperature of the data's train part and "
                          "score it at every temperature's test part (data with a split, e.g. ka3d-multiT; --set "
                          "passes hyper-parameters)")
    sub.add_argument("--set", nargs="+", metavar="NAME=VALUE", help="hyper-parameters of the --transfer predictors")
    sub.add_argument("--predicted", action="store_true",
                     help="score the predictions glassgen predict stored in the data (predicted_propensity, else "
                          "predicted_bond_breaking) against its true labels")
    sub.add_argument("--length", type=positive_float, default=DEFAULT_LENGTH,
                     help=f"coarse-graining length of --descriptor (default {DEFAULT_LENGTH:g})")
    sub.add_argument("--data", type=Path, required=True, help="labelled test data: glassgen .h5, npz folder, or a shipped "
                                                                "dataset (ka3d-multiT, ka2d-multiT)")
    add_output(sub, kind="folder", required=False, flags=("--report",), dest="report",
               help="folder for report.json, report.md and PNG figures")
    _data_options(sub)
