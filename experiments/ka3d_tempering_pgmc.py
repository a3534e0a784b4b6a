"""Issue 10, item 5, third bullet: KA3D (binary: no swap moves) at N = 256, T = 0.50 and 0.45, by parallel tempering
and policy-guided MC, against plain Metropolis and MD. One core, one process (``set_threads(1)``), density 1.2.

Per temperature T (samplers built from ``samplers`` directly, summarised by ``glassgen.sampling.summarize``):

1. MD (the reference, and the equilibrium starts of steps 3-4): ``--chains`` lattice starts melted (T = 2, 2000
   steps), cooled (5000 steps) and equilibrated by Bussi NVT (dt = 0.005) for MD_EQUILIBRATION (energy traced in ten
   blocks), then MD_TIME of production: tau_alpha = 1/e time of F_s(q = 7.25) of the A particles (time origins and
   chains averaged, experiments/relaxation_times.py's ``fs_curve``), the 1/e time of the label-invariant overlap the
   MC reports (one time origin per chain, as for the MC), E/N and its halves test, and the CPU seconds per chain =
   MD time / dt x the measured seconds per step per chain. experiments/results holds no KA3D tau_alpha below T = 0.56
   (relaxation_times.json: N = 1000, T = 0.8-0.56), so MD is measured here at N = 256; a Vogel-Fulcher extrapolation
   of those N = 1000 values is printed beside it as a rough guide.
2. parallel tempering (:class:`samplers.tempering.ParallelTempering`, compiled Metropolis displacements at every rung,
   an exchange round every sweep), ``--columns`` independent ladders geometric from T to ``--t-max`` with RUNGS
   rungs (10 at 0.50, 12 at 0.45: exchange acceptances 0.3-0.4 at N = 256 in pilot runs); half the columns start
   from random configurations, half from the same quenched to their minima (FIRE; ``glassgen sample --starts
   random+quenched``), the same start at every rung. ``--burn-in-share`` of ``--tempering-budget`` seconds is burn-in
   (steps adapted at every rung; the rung-0 energy traced in ten blocks), the rest production. Reported at rung 0: E/N
   with its error (``energy_error``) and its gap to MD's, the halves test, crystal / demixing checks, random against
   quenched columns, exchange acceptances, round trips of the replicas (lowest -> highest -> lowest rung;
   ``result.round_trips``, ``round_trip_rounds``) in sweeps and CPU seconds per column, and three structural
   decorrelation times (CPU seconds of a column = the whole ladder's over the columns):
   - ``Q 1/e`` of the library (``MCResult.efficiency("overlap")``): overlap of the configuration held at rung 0 with
     the one held there at the start of production. An exchange bringing down the replica of rung 1 "decorrelates" it
     at once even if the two replicas only swap back and forth, so this is a lower bound, not a relaxation time;
   - ``Q_max 1/e``: the largest overlap of the rung-0 configuration with *any* of the K configurations its column held
     at the start of production (each with its own drift removed): it decays only when the configuration at rung 0
     is new to the whole ladder, the honest structural decorrelation of tempering;
   - ``Q_self 1/e``: overlap of the replica now at rung 0 with its own configuration at the start of production.
   2b. unless ``--tempering-md-budget 0``: the same ladder started from the final MD configurations at every rung
   (in equilibrium at T, below equilibrium at the hotter rungs), ``--tempering-md-budget`` seconds: the bracket from
   below of step 2, whose starts (random, and random quenched, then heated) both approach from above. Both ladders'
   rung-0 energies are compared with MD's: the halves test alone cannot see a ladder that has not equilibrated.
3. plain Metropolis (compiled; cube steps adapted over 200 burn-in sweeps to acceptance 0.3-0.5) from the final MD
   configurations, ``--budget`` x BUDGET_SCALE seconds of production.
4. PGMC (:class:`samplers.pgmc.PolicyGuidedMC` with an energy-scaled policy: Gaussian displacements of scale
   exp(a_s + b_s e_i), e_i the particle's local energy; ka3d has no swap pairs, so displacements only) from the same
   MD configurations: initial scales 0.8 x Metropolis's adapted half-widths (about the same acceptance),
   ``--train-steps`` policy-gradient steps (Adam, ``--lr``, 16 virtual proposals per chain per step, one sweep
   between), ``freeze``, 100 burn-in sweeps, the same production budget with the compiled policy sweeps. Reported:
   the learned a_s, b_s, the scale at each species' mean local energy, the training seconds. Two workarounds, see
   FlooredPolicy and ``--lr``: training as shipped turns the policy into NaN, or kills one species' moves.
5. unless ``--pgmc-tempering-budget 0``: tempering whose rungs are PGMC chains (:class:`PolicyTempering`, a subclass
   of ParallelTempering that replaces the MetropolisMC rungs by PolicyGuidedMC ones, each trained
   ``--rung-train-steps`` at its temperature and frozen; the library's exchange kernel and replica bookkeeping),
   started from the final ladder of step 2b, 100 burn-in sweeps, then production for the rest of the budget.

Results go to ``--json`` after every temperature; the table at the end lists them. CPU seconds are per chain (per
column for tempering) on one core of a machine shared with other jobs.

    python experiments/ka3d_tempering_pgmc.py --json experiments/results/ka3d_tempering_pgmc.json       # 24 min
    python experiments/ka3d_tempering_pgmc.py --temperatures 0.5 --rungs 10 --md-equilibration 20 --md-time 60 \
        --budget 6 --tempering-budget 30 --tempering-md-budget 15 --pgmc-tempering-budget 12 --train-steps 40 \
        --json /tmp/quick.json                                                                         # 2 min check

experiments/results/ka3d_tempering_pgmc_run1.json is an earlier revision's run (see its "note"); its MD part, a second
independent MD sample, is reproduced by the first command with ``--md-equilibration 500 1200``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relaxation_times import fs_curve  # noqa: E402

from glassgen.dynamics import BussiNVT, equilibrate, init_state, relaxation_time, run  # noqa: E402
from glassgen.sampling import SamplerSettings, SamplingOutcome, energy_error, start_chains, summarize  # noqa: E402
from glassgen.systems import ForceField, lattice_start  # noqa: E402
from glassgen.targets import KATarget  # noqa: E402
from glassgen.threads import set_threads  # noqa: E402
from samplers.diagnostics import (decorrelation_time, energy_stationarity, overlap, random_overlap,  # noqa: E402
                                  without_drift)
from samplers.mc import MetropolisMC  # noqa: E402
from samplers.pgmc import MovePolicy, PolicyGuidedMC  # noqa: E402
from samplers.tempering import ParallelTempering  # noqa: E402

MODEL, DT, Q = "ka3d", 0.005, 7.25
#: Rungs per temperature (geometric T .. t_max = 0.9) chosen for exchange acceptances ~0.3 at N = 256 (pilot runs).
RUNGS = {0.50: 10, 0.45: 12}
#: MD equilibration and production (MD time) per temperature; a too short production shows as F_s not reaching 1/e
#: (a lower bound then), a too short equilibration as a drifting energy.
MD_EQUILIBRATION = {0.50: 750.0, 0.45: 2500.0}
MD_TIME = {0.50: 1000.0, 0.45: 2300.0}
#: KA3D tau_alpha measured by experiments/relaxation_times.py (N = 1000), for the extrapolation shown beside ours.
TAU_N1000 = {0.8: 2.63, 0.7: 5.04, 0.64: 8.49, 0.56: 26.1}
#: PGMC's initial Gaussian scale per species, a multiple of Metropolis's adapted cube half-width (similar acceptance).
SCALE_FROM_STEP = 0.8
#: Metropolis / PGMC production budget per temperature, as a multiple of --budget.
BUDGET_SCALE = {0.50: 1.5, 0.45: 1.5}


#: Floor of log sigma in the torch proposals that training differentiates (see FlooredPolicy).
LOG_SIGMA_FLOOR = math.log(1e-8)


class FlooredPolicy(MovePolicy):
    """MovePolicy whose torch log sigma is floored at LOG_SIGMA_FLOOR: a workaround for a NaN in PGMC training.

    With ``energy_scale`` and a negative slope b_s, a virtual proposal with a large finite energy change dU (an
    overlap, dU ~ 1e3-1e7) gets the backward scale exp(a_s + b_s (e_i + dU)) = 0, so log q_b and the Metropolis-
    Hastings ratio are NaN; ``PolicyGuidedMC._surrogate`` multiplies them in (j = r alpha is NaN, not 0), the gradient
    and then the policy become NaN, and the next compiled sweep raises "the policy table must be finite". Flooring the
    scale leaves those proposals with alpha = 0 (j = 0, no gradient), as they should have. Only the training
    gradient's torch proposals see the floor: the chains' sweeps are compiled (PolicySweeps reads a_s, b_s and the
    cap, not this method, and rejects a NaN ratio), so production is the exact chain of the policy a_s, b_s.
    """

    def log_sigma(self, species, energy=None):
        return super().log_sigma(species, energy).clamp(min=LOG_SIGMA_FLOOR)


def new_policy(box: torch.Tensor, scale) -> FlooredPolicy:
    """A fresh energy-scaled policy of the two KA3D species, capped at a quarter of the box (as PGMC requires)."""
    return FlooredPolicy(2, scale, energy_scale=True, max_scale=float(box.min()) / 4, dtype=torch.float64)


def _finite(value):
    return None if value is None or not np.isfinite(value) else float(value)


class PolicyTempering(ParallelTempering):
    """Parallel tempering whose rungs are :class:`samplers.pgmc.PolicyGuidedMC` chains (displacements only).

    ParallelTempering builds MetropolisMC rungs and has no option for another driver, so the rungs are replaced after
    construction; exchanges (:class:`samplers.kernels.Exchange`) and replicas only touch ``chains[k].state``, which a
    PolicyGuidedMC has as well. Each rung's policy must be trained (:meth:`train`) and is then frozen: an exchange
    between two exact Metropolis-Hastings chains of their own temperatures keeps the product measure invariant.
    """

    def __init__(self, target, positions, types, *, temperatures, seed: int = 0, scales):
        super().__init__(target, positions, types, temperatures=temperatures, seed=seed)
        x = torch.as_tensor(positions)
        starts = x if x.ndim == 4 else [x] * len(self.temperatures)
        self.chains = [PolicyGuidedMC(target, start, types, temperature=float(t), seed=int(seed) * 1000003 + k,
                                      policy=new_policy(target.box, scale), engine="auto")
                       for k, (t, start, scale) in enumerate(zip(self.temperatures, starts, scales))]

    def train(self, steps: int, lr: float) -> float:
        """Train every rung's policy ``steps`` steps and freeze it; returns the seconds spent."""
        begin = time.perf_counter()
        for mc in self.chains:
            mc.train(steps, lr=lr, n_virtual=16, sweeps_between=1)
            mc.freeze()
        return time.perf_counter() - begin


def policy_report(mc: PolicyGuidedMC, history) -> dict:
    """Learned a_s, b_s, the scale at each species' mean local energy (the typical move), acceptance, cost."""
    policy = mc.policy
    local = mc.target.local_energies(mc.x, mc.types).to(torch.float64)
    mean_local = [float(local[mc.types == s].mean()) for s in range(policy.n_types)]
    slope = (policy.energy_slope.detach().numpy() if policy.energy_slope is not None else np.zeros(policy.n_types))
    log_scale = policy.log_scale.detach().numpy()
    typical = [float(math.exp(min(log_scale[s] + slope[s] * mean_local[s],
                                  policy.log_max_scale or float("inf")))) for s in range(policy.n_types)]
    out = {"scale_at_zero_energy": policy.scales.numpy().tolist(), "energy_slope": slope.tolist(),
           "mean_local_energy": mean_local, "scale_at_mean_local_energy": typical}
    if history is not None:
        out.update(training_steps=int(len(history.reward)), training_seconds=float(history.seconds),
                   training_evaluations=int(history.evaluations),
                   training_reward_first_last=[float(np.mean(history.reward[:10])),
                                               float(np.mean(history.reward[-10:]))])
    return out


def q_total(reference, ref_types, x, types, box, fractions) -> np.ndarray:
    """(B,) total label-invariant overlap (a = 0.3) of x with reference, each chain's mean displacement removed."""
    q = overlap(reference, ref_types, without_drift(reference, x, box), types, box, len(fractions))
    return q.numpy() @ fractions


class LadderRecorder:
    """Callback of a tempering production: every ``every`` sweeps, the overlaps of the rung-0 configurations with the
    K configurations each column held at the start of production (Q_max: the largest; Q_self: that of the replica
    now at rung 0 with its own start)."""

    def __init__(self, pt: ParallelTempering, every: int):
        self.pt, self.every = pt, max(1, int(every))
        chain = pt.chains[0].state
        self.box = chain.box
        counts = np.bincount(chain.types[0].numpy(), minlength=chain.n_types)
        self.fractions = counts / counts.sum()
        self.q_inf = float(random_overlap(counts, self.box) @ self.fractions)
        self.refs = [mc.state.x.clone() for mc in pt.chains]  # (K) x (B, N, d)
        self.ref_types = pt.chains[0].state.types.clone()
        self.start_rung = pt.replicas.rung.copy()  # (K, B): rung of replica r at the start
        self.q_max, self.q_self = [], []

    def __call__(self, s: int) -> None:
        if s % self.every:
            return
        state = self.pt.chains[0].state
        qs = np.stack([q_total(ref, self.ref_types, state.x, state.types, self.box, self.fractions)
                       for ref in self.refs])  # (K, B)
        self.q_max.append(qs.max(0))
        replica = self.pt.replicas.at[0]  # (B,) replica at rung 0 now
        columns = np.arange(qs.shape[1])
        self.q_self.append(qs[self.start_rung[replica, columns], columns])

    def times(self) -> dict:
        out = {}
        for name, series in (("q_max", self.q_max), ("q_self", self.q_self)):
            q = np.stack(series, 1) if series else np.zeros((1, 0))
            tau = decorrelation_time(q, self.q_inf, self.every) if q.shape[1] else float("nan")
            out[f"{name}_decorrelation_sweeps"] = _finite(tau)
            out[f"{name}_final"] = q[:, -1].tolist() if q.shape[1] else None
        out["q_random"] = self.q_inf
        return out


def tempering_run(pt, target, settings, budget: float, burn_in_share: float, label: str, *, setup: float = 0.0,
                  burn_in: int | None = None) -> tuple[dict, LadderRecorder, SamplingOutcome]:
    """Burn in (``burn_in`` sweeps, or ``burn_in_share`` of ``budget`` seconds, rung-0 energy traced), produce for the
    rest; returns the report, the recorder and the rung-0 outcome (charged with the whole ladder's time)."""
    n, columns, k = settings.n, settings.chains, len(pt.temperatures)
    begin = time.perf_counter()
    probe = 50 if burn_in is None else min(50, burn_in)
    pt.sweep(probe, adapt=True)
    per_sweep = (time.perf_counter() - begin) / probe
    if burn_in is None:
        burn_in = max(probe, int(budget * burn_in_share / per_sweep))
    trace, left = [], burn_in - probe
    for block in np.array_split(np.arange(left), 10):  # ten blocks, the rung-0 energy read ten times in each
        energies = []
        for chunk in np.array_split(block, 10):
            pt.sweep(len(chunk), adapt=True)
            energies.append(pt.chains[0].state.energy.numpy() / n)
        trace.append(np.mean(energies, 0).tolist())
    burn_seconds = time.perf_counter() - begin
    burn_trips = pt.replicas.completed
    production = max(200, int((budget - burn_seconds) / per_sweep)) if budget else 200
    every = max(1, production // 5000)
    recorder = LadderRecorder(pt, production // 400)
    result = pt.run(production, every=every, recompute_every=max(every, 100) // every * every, callback=recorder)
    lowest = result.results[0]
    lowest.seconds = result.seconds  # rung 0 is charged with the whole ladder
    outcome = SamplingOutcome(replace(settings, sweeps=production), lowest,
                              pt.chains[0].x.clone(), pt.chains[0].types.clone(), target.box.clone(),
                              setup + burn_seconds, {"acceptance": np.asarray(pt.chains[0].acceptance).tolist()})
    per_column_sweep = result.seconds / production / columns
    rounds = result.round_trip_rounds
    rungs = []
    for t, r, mc in zip(pt.temperatures, result.results, pt.chains):
        e = r.energies / n
        test = energy_stationarity(e)
        rungs.append({"temperature": float(t), "energy_per_particle_mean": float(e.mean()),
                      "energy_per_particle_stderr": energy_error(e), "energy_halves_p_value": test.p_value,
                      "stationary": test.stationary, "acceptance": np.asarray(mc.acceptance).tolist(),
                      "steps": None if mc.step is None else mc.step.tolist()})
    report = {"sampler": label, "ladder": pt.temperatures.tolist(), "rungs_count": k, "columns": columns,
              "burn_in_sweeps": int(burn_in), "burn_in_seconds": burn_seconds, "setup_seconds": setup,
              "burn_in_rung0_energy_trace": trace, "round_trips_burn_in": int(burn_trips),
              "production_sweeps": int(production), "production_seconds": float(result.seconds),
              "cpu_seconds_per_column_sweep": per_column_sweep,
              "exchange_acceptance": np.asarray(result.exchange_acceptance).tolist(),
              "round_trips": int(result.round_trips), "round_trips_per_column": result.round_trips / columns,
              "round_trip_sweeps": None if rounds is None else rounds * pt.exchange_every,
              "round_trip_cpu_seconds_per_column": None if rounds is None else rounds * pt.exchange_every
              * per_column_sweep, "rungs": rungs}
    report.update(recorder.times())
    for name in ("q_max", "q_self"):
        sweeps = report[f"{name}_decorrelation_sweeps"]
        report[f"{name}_decorrelation_cpu_seconds_per_column"] = None if sweeps is None else sweeps * per_column_sweep
    return report, recorder, outcome


def mc_row(outcome: SamplingOutcome, extra: dict | None = None) -> dict:
    """``summarize`` of a run plus the decorrelation time in CPU seconds per chain."""
    row = summarize(outcome)
    chains = outcome.settings.chains
    row["sweeps"] = outcome.settings.sweeps
    row["cpu_seconds_per_chain_sweep"] = row["seconds"] / row["sweeps"] / chains
    q = row.get("overlap_decorrelation_sweeps")
    row["overlap_decorrelation_cpu_seconds_per_chain"] = None if q is None else q * row["cpu_seconds_per_chain_sweep"]
    row.pop("overlap_decorrelation_seconds", None)  # all chains' seconds: replaced by the per-chain figure
    row.update(extra or {})
    return row


def driver_outcome(mc, settings: SamplerSettings, budget: float, burn_in: int, setup: float = 0.0):
    """Burn in ``burn_in`` sweeps (adapting), produce for ``budget`` seconds at the burn-in speed."""
    begin = time.perf_counter()
    mc.sweep(burn_in, adapt=True)
    per_sweep = (time.perf_counter() - begin) / max(burn_in, 1)
    sweeps = max(200, int(budget / per_sweep))
    every = max(1, sweeps // 5000)
    result = mc.run(sweeps, burn_in=0, every=every, recompute_every=max(every, 100) // every * every)
    settings = replace(settings, sweeps=sweeps)
    return SamplingOutcome(settings, result, mc.x.clone(), mc.types.clone(), mc.state.box.clone(),
                           setup + time.perf_counter() - begin - result.seconds,
                           {"acceptance": np.asarray(mc.acceptance).tolist()})


def md_overlap_time(positions: np.ndarray, types: torch.Tensor, box: torch.Tensor, frame_time: float,
                    samples: int = 300) -> float | None:
    """MD time until the label-invariant overlap with the first frame (the MC measure, drift removed) has decayed to
    1/e of the way to its random value; one time origin per chain, chains averaged. None if it did not."""
    counts = np.bincount(types.numpy(), minlength=2)
    fractions = counts / counts.sum()
    q_inf = float(random_overlap(counts, box) @ fractions)
    b = positions.shape[1]
    t = types.expand(b, -1)
    reference = torch.remainder(torch.as_tensor(positions[0], dtype=torch.float64), box)
    for j in np.unique(np.linspace(1, len(positions) - 1, samples).astype(int)):
        x = torch.remainder(torch.as_tensor(positions[j], dtype=torch.float64), box)
        if q_total(reference, t, x, t, box, fractions).mean() < q_inf + (1 - q_inf) / math.e:
            return float(j * frame_time)
    return None


def md_run(start, temperature: float, equilibration_time: float, md_time: float, seed: int) -> dict:
    """Bussi NVT MD of the B lattice starts of ``start``: melt (T = 2, 2000 steps), cool (5000 steps), equilibrate
    ``equilibration_time`` at T (energy traced in ten blocks), then ``md_time`` of production: tau_alpha, overlap
    time, energies, speed. Returns the report and the final configurations (B, N, 3), wrapped into the box."""
    types, box = start.types, start.box.to(torch.float64)
    n = types.numel()
    equilibration_steps = round(equilibration_time / DT)
    trace = []
    every = max(1, equilibration_steps // 100)

    def traced(step, current):
        trace.append((current.potential_energy / n).double().numpy())

    begin = time.perf_counter()
    system, velocities = equilibrate(start, temperature, equilibration_steps, dt=DT, seed=seed, melt_steps=2000,
                                     cool_steps=5000, progress=False, callback=traced, every=every)
    equilibration_seconds = time.perf_counter() - begin
    ff = ForceField(MODEL, box, types)
    nvt = BussiNVT(ff, DT, temperature, generator=seed + 1)
    state = init_state(ff, system.batched_positions().to(torch.float64), velocities.reshape(-1, n, 3))
    chains = state.positions.shape[0]
    steps = round(md_time / DT)
    stride = max(1, steps // 1500)
    frames, energies = [], []

    def record(step, current):
        frames.append(current.positions.to(torch.float32).clone())
        energies.append((current.potential_energy / n).double().numpy())

    begin = time.perf_counter()
    state = run(nvt, state, steps, callback=record, every=stride, progress=False)
    seconds = time.perf_counter() - begin
    positions = torch.stack(frames).numpy()  # (F, B, N, 3), unwrapped
    times, fs = fs_curve(positions, (types == 0).numpy(), stride * DT, q=Q)
    crossed = bool(fs.min() < 1 / math.e)
    tau = float(relaxation_time(times, fs)) if crossed else None
    per_step = seconds / steps / chains
    q_time = md_overlap_time(positions, types, box, stride * DT)
    e = np.stack(energies, 1)
    test = energy_stationarity(e)
    blocks = np.array_split(np.stack(trace, 1), 10, axis=1) if trace else []
    report = {"temperature": temperature, "chains": chains, "dt": DT, "equilibration_time": equilibration_time,
              "equilibration_seconds": equilibration_seconds,
              "equilibration_energy_trace": [b.mean(1).tolist() for b in blocks], "md_time": md_time,
              "tau_alpha": tau, "tau_alpha_lower_bound": None if crossed else float(times[-1]),
              "fs_at_end": float(fs[-1]), "seconds": seconds, "seconds_per_step_per_chain": per_step,
              "tau_alpha_cpu_seconds_per_chain": None if tau is None else tau / DT * per_step,
              "overlap_decorrelation_time": q_time,
              "overlap_decorrelation_cpu_seconds_per_chain": None if q_time is None else q_time / DT * per_step,
              "energy_per_particle_mean": float(e.mean()), "energy_per_particle_stderr": energy_error(e),
              "energy_per_particle_chains": e.mean(1).tolist(),
              "energy_halves": [test.first_half, test.second_half], "energy_halves_p_value": test.p_value,
              "stationary": test.stationary, "production_over_tau": None if tau is None else md_time / tau,
              "fs_times": times.tolist(), "fs": fs.tolist()}
    return report, torch.remainder(state.positions.to(torch.float64), box)


def vft_extrapolation(temperature: float) -> float:
    """tau_alpha(T) of the N = 1000 glassgen MD (relaxation_times.json) extrapolated by a Vogel-Fulcher fit
    tau = tau0 exp(D T0 / (T - T0)) through the four measured points (a rough guide only)."""
    from scipy.optimize import curve_fit

    t = np.array(sorted(TAU_N1000))
    y = np.log([TAU_N1000[k] for k in t])
    (a, b, t0), _ = curve_fit(lambda x, a, b, t0: a + b / (x - t0), t, y, p0=(-1.0, 1.0, 0.3),
                              bounds=([-10, 0, 0.0], [10, 50, 0.44]))
    return float(math.exp(a + b / (temperature - t0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.50, 0.45])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--t-max", type=float, default=0.9, help="top of every ladder")
    parser.add_argument("--rungs", type=int, nargs="*", help="rungs per temperature (default: RUNGS)")
    parser.add_argument("--columns", type=int, default=2, help="independent ladders (half random, half quenched)")
    parser.add_argument("--chains", type=int, default=2, help="MD chains; their final configurations start "
                                                              "Metropolis and PGMC")
    parser.add_argument("--budget", type=float, default=50.0,
                        help="production seconds of Metropolis and of PGMC (x BUDGET_SCALE)")
    parser.add_argument("--tempering-budget", type=float, default=200.0, help="seconds per ladder (burn-in included)")
    parser.add_argument("--tempering-md-budget", type=float, default=100.0,
                        help="seconds of the ladder started from the MD configurations (0: skip it)")
    parser.add_argument("--burn-in-share", type=float, default=0.5)
    parser.add_argument("--pgmc-tempering-budget", type=float, default=45.0, help="0: skip PGMC-rung tempering")
    parser.add_argument("--train-steps", type=int, default=300, help="PGMC policy-gradient steps")
    parser.add_argument("--rung-train-steps", type=int, default=40, help="per rung, PGMC-rung tempering")
    parser.add_argument("--lr", type=float, default=0.01,
                        help="PGMC learning rate (Adam); the library's 0.05 lets the energy slope run away here")
    parser.add_argument("--md-equilibration", type=float, nargs="*", help="MD time per temperature (MD_EQUILIBRATION)")
    parser.add_argument("--md-time", type=float, nargs="*", help="MD production per temperature (default: MD_TIME)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    set_threads(1)
    torch.manual_seed(args.seed)
    out = {"protocol": vars(args), "model": MODEL, "density": 1.2, "tau_alpha_N1000_measured": TAU_N1000,
           "constants": {"rungs": RUNGS, "md_equilibration": MD_EQUILIBRATION, "md_time": MD_TIME,
                         "budget_scale": BUDGET_SCALE, "scale_from_step": SCALE_FROM_STEP,
                         "log_sigma_floor": LOG_SIGMA_FLOOR, "dt": DT, "q": Q},
           "points": [], "complete": False}
    begin_all = time.perf_counter()
    for i, temperature in enumerate(args.temperatures):
        point = {"temperature": temperature}
        seed = args.seed + 100 * i

        # 1. MD: equilibrium configurations, tau_alpha and the overlap time, speed
        equilibration = args.md_equilibration[i] if args.md_equilibration else MD_EQUILIBRATION.get(temperature, 2500.)
        md_time = args.md_time[i] if args.md_time else MD_TIME.get(temperature, 2300.0)
        lattice = lattice_start(MODEL, args.n, batch=args.chains, seed=seed)
        point["md"], md_final = md_run(lattice, temperature, equilibration, md_time, seed + 3)
        point["md"]["vft_tau_alpha_from_N1000"] = vft_extrapolation(temperature)
        _print_md(point["md"])
        md_energy = (point["md"]["energy_per_particle_mean"], point["md"]["energy_per_particle_stderr"])

        # 2. tempering with Metropolis rungs, from random and quenched starts
        rungs = args.rungs[i] if args.rungs else RUNGS.get(temperature, 12)
        ladder = np.geomspace(temperature, args.t_max, rungs)
        base = SamplerSettings(sampler="tempering", model=MODEL, n=args.n, temperature=temperature,
                               chains=args.columns, seed=seed, starts="random+quenched", ladder=tuple(ladder))
        start = start_chains(base)
        target, types = KATarget(MODEL, start), start.types
        pt = ParallelTempering(target, start.batched_positions(), types, temperatures=ladder, seed=seed, step=0.1,
                               engine="auto")
        report, _, outcome = tempering_run(pt, target, base, args.tempering_budget, args.burn_in_share, "tempering")
        point["tempering"] = {**report, "rung0": mc_row(outcome, against_md(outcome, md_energy))}
        _print_tempering(temperature, point["tempering"])

        # 2b. the same ladder started from the MD configurations (equilibrium at T, below equilibrium at the hotter
        # rungs): the bracket from below of step 2's random and quenched starts
        if args.tempering_md_budget > 0:
            pt_md = ParallelTempering(target, md_final, types, temperatures=ladder, seed=seed + 5, step=0.1,
                                      engine="auto")
            report, _, outcome = tempering_run(pt_md, target, replace(base, starts="random", chains=args.chains),
                                               args.tempering_md_budget, args.burn_in_share, "tempering from MD")
            point["tempering_from_md"] = {**report, "rung0": mc_row(outcome, against_md(outcome, md_energy))}
            _print_tempering(temperature, point["tempering_from_md"])

        # 3. Metropolis from the MD configurations
        budget = args.budget * BUDGET_SCALE.get(temperature, 1.5)
        settings = SamplerSettings(sampler="metropolis", model=MODEL, n=args.n, temperature=temperature,
                                   chains=args.chains, seed=seed + 1)
        target_md = KATarget(MODEL, start.with_positions(md_final))
        mc = MetropolisMC(target_md, md_final, types, temperature=temperature, step=0.05, seed=seed + 1,
                          engine="auto")
        outcome = driver_outcome(mc, settings, budget, 200)
        point["metropolis"] = mc_row(outcome, {"steps": mc.step.tolist(), **against_md(outcome, md_energy)})
        _print_row(temperature, "metropolis", point["metropolis"])

        # 4. PGMC from the MD configurations; initial scale SCALE_FROM_STEP x Metropolis's adapted cube half-width
        pg = PolicyGuidedMC(target_md, md_final, types, temperature=temperature,
                            policy=new_policy(target.box, (SCALE_FROM_STEP * mc.step).tolist()), seed=seed + 2,
                            engine="auto")
        initial = policy_report(pg, None)
        history = pg.train(args.train_steps, lr=args.lr, n_virtual=16, sweeps_between=1)
        pg.freeze()
        policy = {**policy_report(pg, history), "initial_scale": initial["scale_at_zero_energy"]}
        outcome = driver_outcome(pg, replace(settings, sampler="pgmc"), budget, 100, setup=history.seconds)
        point["pgmc"] = mc_row(outcome, {"policy": policy, **against_md(outcome, md_energy)})
        _print_row(temperature, "pgmc", point["pgmc"])
        print(f"  policy: scale at mean local energy {np.round(policy['scale_at_mean_local_energy'], 4).tolist()} "
              f"(initial {np.round(policy['initial_scale'], 4).tolist()}), slopes "
              f"{np.round(policy['energy_slope'], 4).tolist()}, training {policy['training_seconds']:.1f} s",
              flush=True)

        # 5. tempering with PGMC rungs, from the final ladder of step 2b (of step 2 without it)
        if args.pgmc_tempering_budget > 0:
            last = pt_md if args.tempering_md_budget > 0 else pt
            ladder_end = torch.stack([m.x.clone() for m in last.chains])  # (K, B, N, d)
            ppt = PolicyTempering(target, ladder_end, types, temperatures=ladder, seed=seed + 4,
                                  scales=[(SCALE_FROM_STEP * m.step).tolist() for m in last.chains])
            train_seconds = ppt.train(args.rung_train_steps, args.lr)
            settings_ppt = replace(base, starts="random", chains=len(ladder_end[0]))
            report, _, outcome = tempering_run(ppt, target, settings_ppt, args.pgmc_tempering_budget, 0.0,
                                               "pgmc-tempering", setup=train_seconds, burn_in=100)
            report["rung_policies"] = [policy_report(m, None) for m in ppt.chains]
            point["pgmc_tempering"] = {**report, "rung0": mc_row(outcome, against_md(outcome, md_energy))}
            _print_tempering(temperature, point["pgmc_tempering"])

        point["seconds"] = time.perf_counter() - begin_all
        out["points"].append(point)
        out["seconds"] = time.perf_counter() - begin_all
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(out, handle, indent=1)
    out["complete"] = True
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)
    print_table(out)


def against_md(outcome: SamplingOutcome, md_energy: tuple) -> dict:
    """E/N of the run minus MD's, in combined standard errors."""
    e = outcome.result.energies / outcome.settings.n
    gap = float(e.mean() - md_energy[0])
    return {"energy_minus_md": gap, "energy_minus_md_z": gap / math.hypot(energy_error(e), md_energy[1])}


def _g(value, digits=3):
    return "-" if value is None else f"{value:.{digits}g}"


def _print_tempering(temperature, r):
    row = r["rung0"]
    print(f"T={temperature} {r['sampler']}: {r['rungs_count']} rungs to {r['ladder'][-1]:.2f}, exchange acceptance "
          f"{min(r['exchange_acceptance']):.2f}-{max(r['exchange_acceptance']):.2f}; burn-in {r['burn_in_sweeps']} "
          f"sweeps ({r['burn_in_seconds']:.0f} s), production {r['production_sweeps']} sweeps "
          f"({r['production_seconds']:.0f} s); round trips {r['round_trips']} (burn-in {r['round_trips_burn_in']}), "
          f"{_g(r['round_trip_sweeps'])} sweeps each; E/N {row['energy_per_particle_mean']:.4f} +- "
          f"{row['energy_per_particle_stderr']:.4f}, equilibrated {row['equilibrated']}; Q 1/e "
          f"{_g(row.get('overlap_decorrelation_sweeps'))}, Q_max {_g(r['q_max_decorrelation_sweeps'])}, Q_self "
          f"{_g(r['q_self_decorrelation_sweeps'])} sweeps", flush=True)


def _print_row(temperature, name, row):
    print(f"T={temperature} {name}: E/N {row['energy_per_particle_mean']:.4f} +- "
          f"{row['energy_per_particle_stderr']:.4f}"
          f", equilibrated {row['equilibrated']}, acceptance {np.round(row['acceptance'], 3).tolist()}, Q 1/e "
          f"{_g(row.get('overlap_decorrelation_sweeps'))} sweeps of {row['sweeps']} "
          f"({_g(row['overlap_decorrelation_cpu_seconds_per_chain'])} s per chain)", flush=True)


def _print_md(m):
    tau = _g(m["tau_alpha"]) if m["tau_alpha"] is not None else f"> {m['tau_alpha_lower_bound']:.3g}"
    print(f"T={m['temperature']} MD: tau_alpha {tau} (run {m['md_time']:g}; F_s at end {m['fs_at_end']:.3f}; VFT "
          f"from N = 1000: {m['vft_tau_alpha_from_N1000']:.3g}), Q 1/e {_g(m['overlap_decorrelation_time'])}, E/N "
          f"{m['energy_per_particle_mean']:.4f}, stationary {m['stationary']}, {m['seconds']:.0f} s "
          f"({m['seconds_per_step_per_chain'] * 1e3:.3f} ms per step per chain)", flush=True)


def print_table(out: dict) -> None:
    print(f"\n{'T':>5} {'sampler':>15} {'E/N':>17} {'eq':>5} {'Q 1/e [sw]':>11} {'Q 1/e [s]':>10} "
          f"{'Q_max [sw]':>10} {'Q_max [s]':>9} {'trips':>6}")
    for p in out["points"]:
        for name in ("tempering", "tempering_from_md", "pgmc_tempering", "metropolis", "pgmc"):
            if name not in p:
                continue
            r = p[name]
            row = r.get("rung0", r)
            q = row.get("overlap_decorrelation_sweeps")
            q_s = None if q is None else q * (r["cpu_seconds_per_column_sweep"] if "rung0" in r
                                              else row["cpu_seconds_per_chain_sweep"])
            print(f"{p['temperature']:>5} {name:>15} {row['energy_per_particle_mean']:>9.4f}+-"
                  f"{row['energy_per_particle_stderr']:.4f} {str(row['equilibrated'])[:5]:>5} "
                  f"{_g(q) if q is not None else '> ' + str(row['sweeps']):>11} {_g(q_s):>10} "
                  f"{_g(r.get('q_max_decorrelation_sweeps')):>10} "
                  f"{_g(r.get('q_max_decorrelation_cpu_seconds_per_column')):>9} {r.get('round_trips', '-')!s:>6}")
        m = p["md"]
        tau = _g(m["tau_alpha"]) if m["tau_alpha"] is not None else f"> {m['tau_alpha_lower_bound']:.3g}"
        print(f"{p['temperature']:>5} {'MD':>15} {m['energy_per_particle_mean']:>9.4f}+-"
              f"{m['energy_per_particle_stderr']:.4f} {str(m['stationary'])[:5]:>5} tau_alpha {tau} "
              f"({_g(m['tau_alpha_cpu_seconds_per_chain'])} s), Q 1/e {_g(m['overlap_decorrelation_time'])} "
              f"({_g(m['overlap_decorrelation_cpu_seconds_per_chain'])} s)")


if __name__ == "__main__":
    main()
