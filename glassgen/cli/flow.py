"""Commands of normalizing flows: flow train (sampling with a flow is `glassgen sample --sampler flow...`)."""

from __future__ import annotations

from pathlib import Path

from glassgen.cli._arguments import add_output, positive_float, positive_int
from glassgen.cli._output import output, provenance

EXAMPLES = {
    "flow": "glassgen flow train --model ka2d --n 44 --temperature 1.0 --budget-minutes 20 -o flow_T1.0.pt",
}

ACTIONS = ("train",)


def cmd_flow(args) -> None:
    from glassgen import flows
    from glassgen.errors import InvalidInputError
    from glassgen.io import load

    if args.uniform_prior and args.prior_temperature is not None:
        raise InvalidInputError("give --prior-temperature or --uniform-prior, not both.")
    prior = None if args.uniform_prior else (args.prior_temperature or 2 * max(args.temperature))

    architecture = {"n_layers": args.layers, "hidden": args.hidden, "n_bins": args.bins}
    flow, report = flows.train(args.model, args.n, args.temperature, budget_seconds=60 * args.budget_minutes,
                               dataset=None if args.data is None else load(args.data), source=args.source,
                               architecture=architecture, schedule=args.schedule, batch_size=args.batch_size,
                               lr=args.lr, prior_temperature=prior, seed=args.seed,
                               checkpoint=args.checkpoint, progress=not args.quiet)
    flow.save(args.output, report=report, provenance=provenance(args))
    training = report["training"]
    rows = [("output", args.output), ("flow", repr(flow)),
            ("data", f"{report['data']['source']}" + (f", {report['data'].get('configurations')} configurations"
                                                      if "configurations" in report["data"] else "")),
            ("training", f"{training['steps']} steps ({training['schedule']} KL) in {training['seconds']:.0f} s"),
            ("Kish ESS of the last training batches", training["final_batch_ess"]),
            ("set-up [s] (data and training)", report["setup_seconds"])]
    output(args, {"output": str(args.output), **report}, rows,
           notes=["sample with: glassgen sample --sampler flow|flow-mh|flow-hybrid --flow "
                  f"{args.output} --model {args.model} --n {args.n} --temperature {args.temperature[0]:g}"])


def add_commands(command) -> None:
    """Register this module's commands with ``command(name, handler, help, takes_file=...)`` (see glassgen.cli)."""
    from glassgen.flows import SOURCES
    from samplers.flows.training import SCHEDULES

    sub = command("flow", cmd_flow, "Train a normalizing flow (Boltzmann generator) of a KA model and save it.")
    sub.add_argument("action", choices=ACTIONS, help="train: make training data (or read --data) and train a flow")
    sub.add_argument("--model", default="ka2d", help="KA model (ka2d, ka3d, ka3d-sf)")
    sub.add_argument("--n", type=positive_int, default=44, help="particles (flows serve small systems, <= ~100)")
    sub.add_argument("--temperature", type=positive_float, nargs="+", required=True,
                     help="temperature(s); several give one temperature-conditioned flow for all of them")
    sub.add_argument("--budget-minutes", type=positive_float, default=20.0,
                     help="wall time for data and training (default 20)")
    sub.add_argument("--data", type=Path, help="equilibrium configurations (glassgen .h5) to learn from")
    sub.add_argument("--source", choices=SOURCES, default="mc",
                     help="without --data: mc = compiled swap MC run here for a quarter of the budget (default); "
                          "energy = reverse KL on the energy alone")
    sub.add_argument("--schedule", choices=SCHEDULES, help="KL schedule (default: forward with data, reverse without)")
    sub.add_argument("--prior-temperature", type=positive_float, metavar="T_HIGH",
                     help="the flow starts from the Boltzmann distribution at T_HIGH (default: twice the highest "
                          "--temperature), drawn by compiled Monte Carlo chains; reweighted samples then also give "
                          "log Z(T) - log Z(T_HIGH), and flow-mh/flow-hybrid exchange configurations with the prior's "
                          "chains through the flow (exact: replica exchange between T_HIGH and T)")
    sub.add_argument("--uniform-prior", action="store_true",
                     help="start from the uniform torus instead (measured worse: KA2D N = 44, T = 1, Kish ESS 0.02 %% "
                          "after 15 minutes against 0.07 %% from T_HIGH = 2 after 8)")
    sub.add_argument("--layers", type=positive_int, default=8, help="coupling layers (default 8)")
    sub.add_argument("--hidden", type=positive_int, default=32, help="conditioner width (default 32)")
    sub.add_argument("--bins", type=positive_int, default=8, help="spline bins (default 8)")
    sub.add_argument("--batch-size", type=positive_int, default=64)
    sub.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default 3e-3)")
    sub.add_argument("--seed", type=int, default=0)
    add_output(sub, kind="file", required=False, flags=("--checkpoint",), dest="checkpoint",
               help="training checkpoint: written as training goes, resumed from when it exists")
    add_output(sub, kind="file", help="file for the trained flow (.pt)")
