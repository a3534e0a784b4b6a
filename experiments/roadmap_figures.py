"""The roadmap's per-temperature figures on glassgen's own data, or on GlassBench's when it has been downloaded
(issue 14 item 5): Pearson against time per predictor (`pearson.png`) and chi_4 predicted against true
(`chi4.png`), with the physical baseline (inherent-state coarse-grained energy, EPOT) beside the predictors.

The other figures come from their own scripts: the transfer matrix from `transfer_multiT.py` (heat maps), the
low-temperature prediction from `ka2d_low_temperature.py` (`heterogeneity.png`).

On glassgen's data (train part at the temperature, scored on its test part):

    python experiments/roadmap_figures.py --data ka2d-multiT --temperature 0.35 --report experiments/results/roadmap_ka2d
    python experiments/roadmap_figures.py --data ka3d-multiT --temperature 0.56 --report experiments/results/roadmap_ka3d

On GlassBench (`glassgen dataset download glassbench --files 'KA2D*' --to glassbench/`, then unpacked):

    python experiments/roadmap_figures.py --train glassbench/KA2D_models/T0.3/train \\
        --test glassbench/KA2D_models/T0.3/test --configurations 400 --report roadmap_glassbench_ka2d
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from glassgen.bench import GLASSBENCH, evaluate, score_descriptor, write_report
from glassgen.io import load
from glassgen.predictors import get_predictor


def datasets(args):
    """(train, test, title) from a split dataset at one temperature or from GlassBench train/test folders."""
    if args.train:
        train, test = load(args.train), load(args.test)
        if args.configurations:
            train = train.subset(slice(0, args.configurations))
        return train, test, f"{args.train} -> {args.test}"
    data = load(args.data, temperatures=[args.temperature])
    return data.select_split("train"), data.select_split("test"), f"{args.data} at T = {args.temperature:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ka2d-multiT", help="a split dataset (name or file)")
    parser.add_argument("--temperature", type=float, default=0.35)
    parser.add_argument("--train", type=Path, help="GlassBench train folder (instead of --data)")
    parser.add_argument("--test", type=Path, help="GlassBench test folder")
    parser.add_argument("--configurations", type=int, help="use the first N training configurations only")
    parser.add_argument("--predictors", nargs="+", default=["ridge", "glassmlp"])
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    if bool(args.train) != bool(args.test):
        parser.error("give --train and --test together")
    torch.set_num_threads(1)
    train, test, title = datasets(args)
    results, seconds = {}, {}
    for name in args.predictors:
        begin = time.perf_counter()
        predictor = get_predictor(name).fit(train)
        label = {"glassmlp": "GlassMLP"}.get(name, name)  # the published tables' names
        results[label] = evaluate(predictor.predict(test), test, times=predictor.times_, n_sample=0)
        seconds[label] = time.perf_counter() - begin
        print(f"{label}: {json.dumps(results[label]['pearson'])} ({seconds[label]:.0f} s)", flush=True)
    results["EPOT"] = score_descriptor("EPOT", test)
    temperatures = test.distinct_temperatures
    published = GLASSBENCH.get(f"{test.model}-T{temperatures[0]:g}", {}) if len(temperatures) == 1 else {}
    write_report(results, args.report, published=published, title=f"Pearson against time and chi_4: {title}")
    print(f"written: {args.report}/report.md, pearson.png, chi4.png")


if __name__ == "__main__":
    main()
