"""Transfer across temperatures on glassgen's own benchmark (issue 12 items 3 and 4).

1. The GlassBench transfer task: ridge and GlassMLP trained on the train part at every temperature, scored on the
   test part at every temperature: rho_P over A particles at t = tau_alpha and averaged over the label times, chi_4
   predicted against true (:func:`glassgen.bench.transfer_task`).
2. The transferable GlassMLP (temperature as an input, an ensemble of networks) trained over ``--train``
   temperatures and scored at every temperature, ``--target`` included, the temperature none of its data came from.
3. Its reference: a plain GlassMLP trained at ``--target`` itself. Where the target has a train part it is trained
   there and both are scored on the target's test part; where it has test configurations only (KA3D T = 0.50) the
   reference is cross-fitted in two folds (trained on half of them, scored on the other half, and back), and both
   are scored on all of them pooled. The goal: the transferable model within 0.03 of the reference at tau_alpha.

    python experiments/transfer_multiT.py --data ka3d-multiT --train 0.8 0.7 0.64 0.56 --target 0.5 \\
        --json experiments/results/transfer_ka3d.json --report experiments/results/transfer_ka3d
    python experiments/transfer_multiT.py --data ka2d-multiT --train 0.5 0.45 0.4 --target 0.35 \\
        --json experiments/results/transfer_ka2d.json --report experiments/results/transfer_ka2d
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from glassgen.bench import evaluate, transfer_task, write_report
from glassgen.bench.tasks import key
from glassgen.io import load
from glassgen.predictors import get_predictor


def make(name: str, seed: int):
    """A fresh predictor, seeded where it draws random numbers."""
    seeded = "seed" in get_predictor(name).get_params()
    return get_predictor(name, **({"seed": seed} if seeded else {}))


def at_tau(score: dict) -> float:
    """rho_P at t = tau_alpha (the label time 1 of data in units of tau_alpha)."""
    return score["pearson"][key(1.0)]


def reference_at_target(data, target: float, seed: int) -> tuple[np.ndarray, object, float]:
    """Predictions of a plain GlassMLP trained at the target temperature on the configurations scored: its train
    part when there is one (scored: its test part), else two cross-fitted folds of its test configurations."""
    at = data.select_temperatures([target])
    if (at.extras["split"] == 0).any():
        model = get_predictor("glassmlp", seed=seed).fit(at.select_split("train"))
        test = at.select_split("test")
        return model.predict(test), test, 1.0
    test = at.select_split("test")
    return cross_fitted(test, 2, seed), test, 0.5


def cross_fitted(data, folds: int, seed: int) -> np.ndarray:
    """Predictions of plain GlassMLPs for every configuration of ``data``, each by the model trained on the other
    folds (k-fold cross-fitting), so that a reference at one temperature never scores its own training data."""
    predicted = np.empty_like(data.propensity)
    everything = np.arange(data.n_configurations)
    for fold in np.array_split(everything, folds):
        model = get_predictor("glassmlp", seed=seed).fit(data.subset(np.setdiff1d(everything, fold)))
        predicted[fold] = model.predict(data.subset(fold))
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ka3d-multiT", help="a split multi-temperature dataset (name or file)")
    parser.add_argument("--train", type=float, nargs="+", required=True, help="training temperatures of item 4")
    parser.add_argument("--target", type=float, required=True, help="the temperature below the training range")
    parser.add_argument("--ensemble", type=int, default=5, help="networks of the transferable GlassMLP")
    parser.add_argument("--predictors", nargs="+", default=["ridge", "glassmlp"], help="for the transfer task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--report", help="write Markdown, JSON and heat maps into this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load(args.data)
    results, begin = {"data": args.data, "train": args.train, "target": args.target}, time.perf_counter()

    results["transfer"] = {name: transfer_task(lambda: make(name, args.seed), data, progress=True)
                           for name in args.predictors}
    print(f"transfer task done in {time.perf_counter() - begin:.0f} s", flush=True)

    start = time.perf_counter()
    transferable = get_predictor("glassmlp", temperature_input=True, ensemble=args.ensemble, seed=args.seed)
    transferable.fit(data.select_temperatures(args.train).select_split("train"))
    fit_seconds = time.perf_counter() - start
    scores = {}
    for temperature in data.distinct_temperatures:
        test = data.select_temperatures([temperature]).select_split("test")
        mean, std = transferable.predict_with_uncertainty(test)
        score = evaluate(mean, test, times=transferable.times_, n_sample=0)
        score["ensemble_std_mean"] = {key(t): float(std[:, k, test.types == 0].mean())
                                      for k, t in enumerate(transferable.times_)}
        scores[key(temperature)] = score
    results["transferable"] = {"fit_seconds": fit_seconds, "ensemble": args.ensemble, "scores": scores}

    predicted, scored, share = reference_at_target(data, args.target, args.seed)
    reference = evaluate(predicted, scored, n_sample=0)
    mean, _ = transferable.predict_with_uncertainty(scored)
    same = evaluate(mean, scored, times=transferable.times_, n_sample=0)
    gap = at_tau(same) - at_tau(reference)
    results["goal"] = {"transferable_at_target": at_tau(same), "reference_at_target": at_tau(reference),
                       "reference_trained_on_share": share, "difference": gap, "met": bool(gap >= -0.03),
                       "configurations_scored": scored.n_configurations}
    results["seconds"] = time.perf_counter() - begin

    print("\nrho_P at tau_alpha (rows: trained at; columns: tested at)")
    for name, matrix in results["transfer"].items():
        print(f"  {name}: " + " ".join(f"{t:>6}" for t in matrix["test_temperatures"]))
        for t_train, row in zip(matrix["train_temperatures"], matrix["pearson"]):
            print(f"    {t_train:>6} " + " ".join(f"{v:6.3f}" for v in row))
    print(f"transferable GlassMLP (trained at {args.train}, {args.ensemble} networks, {fit_seconds:.0f} s): "
          + ", ".join(f"{t}: {at_tau(s):.3f}" for t, s in scores.items()))
    print(f"at T = {args.target:g}: transferable {at_tau(same):.3f}, trained there {at_tau(reference):.3f} "
          f"(difference {gap:+.3f}; goal >= -0.03: {'met' if gap >= -0.03 else 'NOT met'})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    if args.report:
        write_report({**{f"{name} transfer": m for name, m in results["transfer"].items()},
                      **{f"transferable GlassMLP at {t}": s for t, s in scores.items()}}, args.report,
                     title=f"Transfer across temperatures, {args.data}")


if __name__ == "__main__":
    main()
