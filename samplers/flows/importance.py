"""Independent, reweighted samples of a flow: the "flow" sampler.

:func:`draw` samples the flow in batches, evaluates the true energy of every sample and keeps float64 log-weights
log w = -beta U(x) - log [q(x, k) / r(k | x)] (:mod:`samplers.flows.frame`); :class:`FlowSamples` turns them into
self-normalised estimates with errors and the Kish ESS that says how far to trust them (:mod:`samplers.reweight`).
The samples are independent, so the errors need no autocorrelation correction; a small ESS fraction is the sign of
a flow that does not cover the target, and every estimate reports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from samplers.reweight import WeightedEstimate, kish_ess, log_normaliser, normalised_weights
from samplers.target import SamplerInputError


@dataclass
class FlowSamples:
    """Samples of a flow with their energies and weights.

    energies, log_q, log_weights : (n,) float64 arrays; beta : 1 / T; n_particles : N; seconds : wall time of
    drawing and evaluating; samples : list of (positions, types) batches when kept; prior_temperature : T_high of
    a Boltzmann prior (log-weights then lack its normaliser: see :meth:`log_partition`), None for the uniform one.
    """

    energies: np.ndarray
    log_q: np.ndarray
    log_weights: np.ndarray
    beta: float
    n_particles: int
    seconds: float
    samples: list = field(default_factory=list)
    prior_temperature: float | None = None

    @property
    def n(self) -> int:
        return int(self.energies.size)

    @property
    def ess(self) -> float:
        """Kish effective sample size."""
        return kish_ess(self.log_weights)

    def energy_per_particle(self) -> WeightedEstimate:
        """Reweighted U / N with its standard error and the ESS."""
        return WeightedEstimate.of(self.energies / self.n_particles, self.log_weights)

    def specific_heat(self, blocks: int = 20) -> tuple[float, float]:
        """Reweighted configurational specific heat per particle, beta^2 (<U^2> - <U>^2) / N, with a jackknife
        error over ``blocks`` blocks of samples."""
        def estimate(rows):
            w = normalised_weights(self.log_weights[rows])
            u = self.energies[rows]
            mean = w @ u
            return self.beta**2 * (w @ np.square(u - mean)) / self.n_particles

        if self.n < 2 * blocks:
            raise SamplerInputError(f"the specific heat's jackknife needs >= {2 * blocks} samples; got {self.n}.")
        full = estimate(np.arange(self.n))
        pieces = np.array_split(np.arange(self.n), blocks)
        leave_out = np.array([estimate(np.concatenate(pieces[:k] + pieces[k + 1:])) for k in range(blocks)])
        return float(full), float(np.sqrt((blocks - 1) * np.mean(np.square(leave_out - leave_out.mean()))))

    def log_partition(self) -> tuple[float, float]:
        """log Z of the labelled configurational integral, the integral of exp(-beta U) over the box^N, and its
        standard error (so beta F = -log Z); with a Boltzmann prior at T_high, log Z(T) - log Z(T_high), the
        free-energy difference -(beta F - beta_high F_high)."""
        return log_normaliser(self.log_weights)


@torch.no_grad()
def draw(flow, target, temperature: float, n: int, *, batch_size: int = 256, generator: torch.Generator | None = None,
         budget_seconds: float | None = None, keep_samples: bool = False, progress: bool = False) -> FlowSamples:
    """Up to ``n`` samples of ``flow`` at ``temperature`` with their true energies under ``target`` (stopping early,
    after a whole batch, when ``budget_seconds`` is spent)."""
    from tqdm.auto import tqdm

    if int(n) < 1 or int(batch_size) < 1 or not float(temperature) > 0:
        raise SamplerInputError(f"n and batch_size must be >= 1 and the temperature positive; got {n}, "
                                f"{batch_size}, {temperature}.")
    model = getattr(getattr(target, "model", None), "name", flow.settings.model)  # analytic targets have no model
    types = getattr(target, "types", None)
    flow.check_system(model, flow.frame.types if types is None else types, target.box)
    conditioned = temperature if flow.settings.temperature_conditioned else None
    beta = 1.0 / float(temperature)
    energies, log_q, kept = [], [], []
    start = time.perf_counter()
    with tqdm(total=int(n), desc="flow samples", disable=not progress, leave=False, unit="sample") as bar:
        while sum(e.size for e in energies) < int(n):
            size = min(int(batch_size), int(n) - sum(e.size for e in energies))
            x, types, q = flow.sample(size, conditioned, generator=generator)
            energies.append(target.energy(x, types).to(torch.float64).cpu().numpy())
            log_q.append(q.cpu().numpy())
            if keep_samples:
                kept.append((x, types))
            bar.update(size)
            if budget_seconds is not None and time.perf_counter() - start >= float(budget_seconds):
                break
    u, q = np.concatenate(energies), np.concatenate(log_q)
    log_w = np.where(np.isfinite(u), -beta * u - q, -np.inf)
    return FlowSamples(u, q, log_w, beta, int(x.shape[1]), time.perf_counter() - start, kept,
                       flow.settings.prior_temperature)
