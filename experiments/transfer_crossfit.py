"""The transfer goal with every configuration at the target temperature scored (issue 12 item 4, KA2D).

`transfer_multiT.py` scores KA2D T = 0.35 on its 4 test configurations only. Here the reference GlassMLP is trained
at the target by k-fold cross-fitting over all its configurations (train on the others, score one fold, rotate), and
the transferable GlassMLP, which saw none of them, is scored on the same configurations pooled.

    python experiments/transfer_crossfit.py --data ka2d-multiT --train 0.5 0.45 0.4 --target 0.35 --folds 4 \\
        --json experiments/results/transfer_ka2d_crossfit.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transfer_multiT import cross_fitted

from glassgen.bench import evaluate
from glassgen.cli.learn import hyper_parameters
from glassgen.io import load
from glassgen.predictors import get_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ka2d-multiT")
    parser.add_argument("--train", type=float, nargs="+", required=True)
    parser.add_argument("--target", type=float, required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--ensemble", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-split", default="train", choices=("train", "all"),
                        help="part of the training temperatures to train on: their test parts are never scored here")
    parser.add_argument("--set", nargs="+", metavar="NAME=VALUE", help="hyper-parameters of the transferable GlassMLP")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load(args.data)
    target = data.select_temperatures([args.target])
    begin = time.perf_counter()
    reference = evaluate(cross_fitted(target, args.folds, args.seed), target, n_sample=0)["pearson"]["1"]
    transferable = get_predictor("glassmlp", temperature_input=True, ensemble=args.ensemble, seed=args.seed,
                                 **hyper_parameters(args.set))
    transferable.fit(data.select_temperatures(args.train).select_split(args.train_split))
    mean, _ = transferable.predict_with_uncertainty(target)
    scored = evaluate(mean, target, times=transferable.times_, n_sample=0)["pearson"]["1"]
    result = {"data": args.data, "train": args.train, "train_split": args.train_split, "set": args.set, "target": args.target, "folds": args.folds,
              "configurations_scored": target.n_configurations, "reference_cross_fitted": reference,
              "transferable": scored, "difference": scored - reference, "met": bool(scored - reference >= -0.03),
              "seconds": time.perf_counter() - begin}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
