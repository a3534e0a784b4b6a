"""Normalizing flows for KA models: training data by Monte Carlo, training within a budget, loading for a system,
and the reweighted independent samples of the ``flow`` sampler.

`samplers.flows` knows nothing of KA models; this module gives it a KA target, equilibrium configurations to learn
from (a dataset the user has, or compiled swap Monte Carlo, Metropolis where the model has no swap pairs), and a
budget in minutes. The Monte Carlo data and the training are the flow's set-up cost, reported in seconds beside the
flow so that comparisons (``glassgen compare-samplers``) can charge them.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.progress import Stage
from glassgen.systems import get_model, random_start

#: Where forward-KL data come from when the user gives none: "mc" (compiled Monte Carlo run here, a quarter of the
#: budget) or "energy" (no data: reverse KL on the energy alone).
SOURCES = ("mc", "energy")

#: Kish ESS below which reweighted estimates are reported as not trustworthy ("equilibrated": false): a few
#: dominant weights make the error bar itself unreliable.
MIN_ESS = 30

#: Most configurations kept from the Monte Carlo data run (16 chains, recorded every 10 sweeps).
MAX_DATA = 20000


def ka_target(model: str, n: int, density: float | None = None):
    """The KA target of N particles of ``model`` (the box from the model's density, or ``density``)."""
    from glassgen.targets import KATarget

    return KATarget(model, n, density=density)


def monte_carlo_data(target, temperatures, *, seconds: float, chains: int = 16, every: int = 10, seed: int = 0,
                     progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """Equilibrium configurations at each temperature by compiled swap MC (Metropolis without swap pairs), run for
    ``seconds`` in all: a third of each temperature's share as burn-in, the rest recorded every ``every`` sweeps.
    Returns positions (M, N, d), species (M, N), temperatures (M,) and a report (sweeps, seconds, E/N per T)."""
    from samplers.mc import MetropolisMC

    model = target.model.name
    p_swap = 0.2 if target.swap_pairs else 0.0
    xs, ts, temps, report = [], [], [], {"sampler": "swap" if p_swap else "metropolis", "per_temperature": []}
    share = float(seconds) / len(temperatures)
    for k, temperature in enumerate(temperatures):
        start = random_start(model, target.n_particles, batch=chains, seed=seed + k)
        mc = MetropolisMC(target, start.batched_positions(), start.types, temperature=float(temperature), step=0.1,
                          p_swap=p_swap, engine="compiled", seed=seed + k, record_overlap=False)
        begin = time.perf_counter()
        with Stage(f"flow data T={temperature:g}", None, enabled=progress):
            mc.sweep(50, adapt=True)
            per_sweep = (time.perf_counter() - begin) / 50
            budget_sweeps = max(3 * every, int(share / max(per_sweep, 1e-9)))
            mc.sweep(budget_sweeps // 3, adapt=True)
            production = max(every, budget_sweeps - budget_sweeps // 3)
            result = mc.run(production, every=every, keep_samples=True)
        x = torch.cat([s[0] for s in result.samples])
        keep = torch.linspace(0, x.shape[0] - 1, min(x.shape[0], MAX_DATA // len(temperatures))).long()
        xs.append(x[keep])
        ts.append(torch.cat([s[1] for s in result.samples])[keep])
        temps.append(torch.full((keep.numel(),), float(temperature), dtype=torch.float64))
        report["per_temperature"].append({
            "temperature": float(temperature), "sweeps": int(budget_sweeps), "configurations": int(keep.numel()),
            "energy_per_particle": float(result.energies.mean() / target.n_particles),
            "seconds": time.perf_counter() - begin})
    report["seconds"] = sum(r["seconds"] for r in report["per_temperature"])
    report["configurations"] = sum(r["configurations"] for r in report["per_temperature"])
    return torch.cat(xs), torch.cat(ts), torch.cat(temps), report


def dataset_data(dataset, target, temperatures) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward-KL data from a glassgen Dataset of the same model and N at one of the training temperatures."""
    if get_model(dataset.model).name != target.model.name or dataset.positions.shape[1] != target.n_particles:
        raise InvalidInputError(f"the data hold {dataset.positions.shape[1]} particles of {dataset.model}; the flow "
                                f"is for {target.n_particles} of {target.model.name}.")
    if dataset.temperature is None or not any(math.isclose(dataset.temperature, t) for t in temperatures):
        raise InvalidInputError(f"the data were equilibrated at T = {dataset.temperature}, not at a training "
                                f"temperature {list(temperatures)}; give --temperature {dataset.temperature}.")
    if not np.allclose(dataset.box, target.box.numpy()):
        raise InvalidInputError(f"the data's box {dataset.box.tolist()} is not the model's box at N = "
                                f"{target.n_particles} ({target.box.tolist()}).")
    x = torch.as_tensor(dataset.positions, dtype=torch.float64) % target.box
    types = torch.as_tensor(dataset.types, dtype=torch.int64).expand(x.shape[0], -1)
    return x, types, torch.full((x.shape[0],), float(dataset.temperature), dtype=torch.float64)


def train(model: str, n: int, temperatures, *, budget_seconds: float, dataset=None, source: str = "mc",
          architecture: dict | None = None, schedule: str | None = None, batch_size: int = 64, lr: float = 3e-3,
          prior_temperature: float | None = None, seed: int = 0, checkpoint=None, progress: bool = False):
    """A flow for ``model`` at N trained within ``budget_seconds`` (Monte Carlo data included when made here).

    ``temperatures``: one (an unconditioned flow) or several (a temperature-conditioned one). Data: ``dataset``
    (a glassgen Dataset), else ``source`` "mc" (a quarter of the budget) or "energy" (reverse KL only).
    ``prior_temperature``: T_high of a Boltzmann prior drawn by compiled Monte Carlo chains (the flow then maps
    T_high to the temperatures), None for the uniform prior. ``schedule`` defaults to "forward" with data (in 15 minutes at KA2D N = 44, T = 1, "mix" ended with a worse
    forward loss than it started with) and "reverse" without. Returns (flow, report).
    """
    from samplers.flows import FlowSettings, FlowTrainer, ParticleFlow, TrainingSettings

    temperatures = tuple(float(t) for t in temperatures)
    if not temperatures or min(temperatures) <= 0:
        raise InvalidInputError(f"give one or more positive temperatures; got {list(temperatures)}.")
    if source not in SOURCES:
        raise InvalidInputError(f"the data source must be one of {', '.join(SOURCES)}; got {source!r}.")
    torch.manual_seed(seed)
    target = ka_target(model, n)
    begin = time.perf_counter()
    report = {"model": target.model.name, "n": int(n), "temperatures": list(temperatures)}
    if dataset is not None:
        data = dataset_data(dataset, target, temperatures)
        report["data"] = {"source": "dataset", "configurations": int(data[0].shape[0])}
    elif source == "mc":
        *data, report["data"] = monte_carlo_data(target, temperatures, seconds=budget_seconds / 4, seed=seed,
                                                 progress=progress)
        report["data"]["source"] = "mc"
    else:
        data, report["data"] = None, {"source": "energy"}
    schedule = schedule or ("reverse" if data is None else "forward")
    settings = FlowSettings(target.model.name, types=tuple(target.types.tolist()), box=tuple(target.box.tolist()),
                            temperature_conditioned=len(temperatures) > 1, prior_temperature=prior_temperature,
                            **(architecture or {}))
    flow = ParticleFlow(settings)
    attach_prior(flow, target, seed)
    training = TrainingSettings(steps=10**9, batch_size=batch_size, lr=lr, schedule=schedule,
                                temperatures=temperatures, seed=seed)
    trainer = FlowTrainer(flow, target, training, data=None if data is None else tuple(data))
    remaining = budget_seconds - (time.perf_counter() - begin)
    if remaining <= 0:
        raise InvalidInputError("the Monte Carlo data used the whole budget; give a larger --budget-minutes.")
    # "mix" ramps its reverse-KL weight over the steps the budget allows, estimated from the first steps.
    probe = trainer.train(budget_seconds=min(remaining, 20.0), progress=progress)
    per_step = probe.seconds / max(probe.steps, 1)
    steps = probe.steps + int(max(remaining - probe.seconds, 0) / per_step)
    trainer.settings = TrainingSettings(**{**asdict(training), "steps": steps})
    history = trainer.train(budget_seconds=max(remaining - probe.seconds, 1e-3), progress=progress,
                            checkpoint=checkpoint)
    report["training"] = {"steps": history.steps, "seconds": history.seconds, "schedule": schedule,
                          "weights": flow.size, "final_batch_ess": _tail(history.ess_fraction),
                          "final_forward_loss": _tail(history.forward)}
    report["setup_seconds"] = time.perf_counter() - begin
    return flow, report


def _tail(values, k: int = 20):
    """Mean of the last k finite values, None if there are none."""
    finite = [v for v in values[-k:] if math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def attach_prior(flow, target, seed: int = 0, chains: int = 64) -> None:
    """Give a flow with a Boltzmann prior its Monte Carlo chains (at least 64, and at least ``chains``, the target
    chains that exchange with them; random starts, burnt in at the first draw). Their seed is derived from ``seed``
    apart from the target chains', so the two never share a random stream."""
    if flow.settings.prior_temperature is not None:
        prior_seed = int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])
        start = random_start(target.model.name, target.n_particles, batch=max(64, int(chains)), seed=prior_seed)
        flow.attach_prior(target, start.batched_positions(), start.types, seed=prior_seed)


def load_flow(path, model: str, n: int, density: float | None = None, seed: int = 0, chains: int = 8):
    """The flow saved at ``path`` (``glassgen flow train``), checked against the system it is asked to serve, with
    its Boltzmann prior's chains attached if it has one (enough for ``chains`` target chains). Returns (flow, what
    was saved with it)."""
    from samplers.flows import ParticleFlow

    flow, extra = ParticleFlow.load(path)
    target = ka_target(model, n, density)
    flow.check_system(target.model.name, target.types, target.box)
    attach_prior(flow, target, seed, chains)
    return flow, extra


def independent_samples(flow, model: str, n: int, temperature: float, *, budget_seconds: float | None,
                        samples: int = 100000, keep: int = 8, density: float | None = None, seed: int = 0,
                        progress: bool = False):
    """The ``flow`` sampler: reweighted samples until ``samples`` or the budget. Returns a JSON-ready summary (E/N
    and specific heat with errors, effective sample size; ``equilibrated`` False when it is below :data:`MIN_ESS`)
    and ``keep`` of the samples drawn in proportion to their weights (positions (keep, N, d), species)."""
    from samplers.flows import draw

    target = ka_target(model, n, density)
    result = draw(flow, target, temperature, samples, generator=torch.Generator().manual_seed(seed),
                  budget_seconds=budget_seconds, keep=keep, progress=progress)
    energy = result.energy_per_particle()
    heat = result.specific_heat()
    summary = {"sampler": "flow", "samples": result.n, "ess": energy.ess, "ess_fraction": energy.ess_fraction,
               "kish_ess": result.kish,
               "energy_per_particle_mean": energy.mean, "energy_per_particle_stderr": energy.stderr,
               "specific_heat": heat[0], "specific_heat_stderr": heat[1], "seconds": result.seconds,
               "equilibrated": bool(energy.ess >= MIN_ESS)}
    return summary, result.samples
