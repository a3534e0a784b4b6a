"""Validation of the predictors on real data: train on 7 BOTAN KA3D configurations (T = 0.44), score the other 3.

Pearson over the A particles of the 3 test configurations pooled, at t = 4120 (about tau_alpha), for ridge,
GlassMLP and the physical descriptors (EPOT, DEN, PSI6, SBO, SBO_CG), beside GlassBench's published values (which
were trained on 400 configurations and scored on 100); the noise ceiling from the 32 replicas of the test
configurations; and the costs: training time, and descriptors + inference for one N = 4096 configuration with its
FIRE inherent state.

    python experiments/predictor_validation.py --json experiments/results/predictor_validation.json --report report/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from glassgen.bench import GLASSBENCH, evaluate, replica_displacements, rho_max, score_descriptor, write_report
from glassgen.dynamics.minimization import inherent_states
from glassgen.io import load
from glassgen.predictors import get_predictor

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ka3d-botan-T0.44" / "train"
TIME = "4120"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--report", type=Path, help="also write a Markdown/PNG report into this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.data.is_dir():
        sys.exit(f"no data at {args.data}; pass --data")
    data = load(args.data)
    begin = time.perf_counter()
    data = inherent_states(data)
    fire_seconds = (time.perf_counter() - begin) / data.n_configurations
    train, test = data.subset(range(7)), data.subset(range(7, 10))
    published = GLASSBENCH["ka3d-T0.44"]
    results, rows = {}, []

    for name, label in (("ridge", "ridge"), ("glassmlp", "GlassMLP")):
        predictor = get_predictor(name)
        begin = time.perf_counter()
        predictor.fit(train)
        train_seconds = time.perf_counter() - begin
        one = test.subset([0])
        one.inherent_positions = None  # time the whole path for one configuration: FIRE, descriptors, inference
        begin = time.perf_counter()
        predictor.predict(one)
        predict_seconds = time.perf_counter() - begin
        results[label] = evaluate(predictor.predict(test), test, times=predictor.times_)
        results[label]["train_seconds"], results[label]["predict_one_seconds"] = train_seconds, predict_seconds
        rows.append((label, results[label]["pearson"][TIME], published["pearson"].get(label, {}).get(TIME),
                     f"train {train_seconds:.0f} s, one configuration {predict_seconds:.1f} s"))
        print(rows[-1], flush=True)

    for name in ("EPOT", "DEN", "PSI6", "SBO", "SBO_CG"):
        results[name] = score_descriptor(name, test)
        rows.append((name, results[name]["pearson"][TIME], published["pearson"][name].get(TIME),
                     f"{results[name]['descriptor']['seconds']:.1f} s"))
        print(rows[-1], flush=True)

    replicas, _ = replica_displacements(args.data)
    ceiling = {TIME: float(rho_max(replicas[7:10], data.types)[0])}
    print(f"\n{'':>10} {'rho_P (3 test configs)':>23} {'GlassBench':>11}  cost")
    for label, ours, theirs, cost in rows:
        print(f"{label:>10} {ours:>23.3f} {'-' if theirs is None else f'{theirs:.3f}':>11}  {cost}")
    print(f"{'ceiling':>10} {ceiling[TIME]:>23.3f} {published['ceiling'][TIME]:>11.3f}  32 replicas")
    print(f"FIRE inherent state: {fire_seconds:.1f} s per configuration")
    if args.report:
        write_report(results, args.report, ceiling=ceiling, published=published,
                     title="BOTAN KA3D T = 0.44: 7 training, 3 test configurations")
    if args.json:
        summary = {label: {"pearson": ours, "glassbench": theirs, "cost": cost} for label, ours, theirs, cost in rows}
        Path(args.json).write_text(json.dumps({"pearson_t4120": summary, "ceiling": ceiling,
                                               "fire_seconds_per_configuration": fire_seconds,
                                               "details": {k: {kk: vv for kk, vv in v.items() if kk != "sample"}
                                                           for k, v in results.items()}}, indent=1, default=float))


if __name__ == "__main__":
    main()
