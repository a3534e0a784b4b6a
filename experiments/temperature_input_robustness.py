"""How the transferable GlassMLP ranks particles when told a colder temperature than the structures have (issue 14):
the configurations of one temperature, labelled there, predicted with the temperature input set to colder values.

The structures and labels stay those of ``--at``; only 1/T changes. If the ranking came from the temperature input it
would drift; rho_P of the ensemble's mean field and of each member against the true labels at t = ``--time``.

    glassgen demo -o glassgen-demo
    python experiments/temperature_input_robustness.py --model glassgen-demo/model.pt --at 0.35 \\
        --told 0.35 0.30 0.26 0.23 0.20 0.15
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from glassgen.bench.metrics import pearson, time_index
from glassgen.io import load
from glassgen.predictors import load_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="ka2d-multiT")
    parser.add_argument("--at", type=float, default=0.35, help="the temperature of the structures and labels")
    parser.add_argument("--told", type=float, nargs="+", required=True, help="temperature inputs to give the model")
    parser.add_argument("--time", type=float, default=1.0, help="label time, in the model's unit")
    args = parser.parse_args()
    model = load_predictor(args.model)
    model.progress = False
    data = load(args.data, temperatures=[args.at])
    column = time_index(model.times_, args.time)
    truth = data.propensity[:, [time_index(data.times, args.time)]]
    print(f"{'told T':>7} {'rho_P mean field':>17}  members")
    for told in args.told:
        unlabelled = replace(data, temperature=told, temperatures=np.full(data.n_configurations, told), tau_alpha=None,
                             propensity=None, bond_breaking=None, time_unit="lj", times=None)
        members = model.predict_members(unlabelled)[:, :, [column]]
        each = [float(pearson(m, truth, data.types)[0]) for m in members]
        print(f"{told:>7g} {float(pearson(members.mean(0), truth, data.types)[0]):>17.3f}  "
              f"{' '.join(f'{r:.3f}' for r in each)}")


if __name__ == "__main__":
    main()
