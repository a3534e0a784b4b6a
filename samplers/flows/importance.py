"""Reweighted samples of a flow: the "flow" sampler.

:func:`draw` samples the flow in batches, evaluates the true energy of every sample and keeps float64 log-weights
log w = -beta U(x) - log [q(x, k) / r(k | x)] (:mod:`samplers.flows.frame`); :class:`FlowSamples` turns them into
self-normalised estimates with errors and effective sample sizes that say how far to trust them
(:mod:`samplers.reweight`).

Errors come from a jackknife over *independent groups* of samples: with the uniform prior every draw is independent
(groups are contiguous blocks), with a Boltzmann prior draws of one prior chain are correlated and draws of different
chains are not (groups are the chains). The effective sample size reported is the smaller of Kish's (weights) and
sigma^2 / stderr^2 (correlations): a chain-drawn prior that decorrelates slowly cannot look better than it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from samplers.reweight import kish_ess, log_normaliser, normalised_weights
from samplers.target import SamplerInputError

#: Groups of independent draws (uniform prior: sample i is in group i mod BLOCKS) for jackknife errors.
BLOCKS = 32


@dataclass
class Estimate:
    """A reweighted average with what says how far to trust it.

    mean, stderr : the self-normalised average and its jackknife standard error over independent groups.
    ess : min(Kish ESS, spread^2 / stderr^2) (at least 1), n : samples drawn; ess_fraction = ess / n.
    """

    mean: float
    stderr: float
    ess: float
    n: int

    @property
    def ess_fraction(self) -> float:
        return self.ess / self.n


@dataclass
class FlowSamples:
    """Samples of a flow with their energies and weights.

    energies, log_q, log_weights : (n,) float64 arrays; groups : (n,) ids of independent groups of samples (see the
    module docstring); beta : 1 / T; n_particles : N; seconds : wall time of drawing and evaluating; samples :
    (positions, types) of the samples kept by :func:`draw`; prior_temperature : T_high of a Boltzmann prior
    (log-weights then lack its normaliser: see :meth:`log_partition`), None for the uniform one.
    """

    energies: np.ndarray
    log_q: np.ndarray
    log_weights: np.ndarray
    groups: np.ndarray
    beta: float
    n_particles: int
    seconds: float
    samples: tuple | None = None
    prior_temperature: float | None = None

    @property
    def n(self) -> int:
        return int(self.energies.size)

    @property
    def kish(self) -> float:
        """Kish effective sample size of the weights alone."""
        return kish_ess(self.log_weights)

    def _jackknife(self, estimate) -> tuple[float, float]:
        """estimate(rows) on all samples, and its delete-one-group jackknife error."""
        ids = np.unique(self.groups)
        if ids.size < 2:
            raise SamplerInputError("errors need samples from at least 2 independent groups; draw more.")
        full = float(estimate(np.arange(self.n)))
        leave_out = np.array([estimate(np.flatnonzero(self.groups != g)) for g in ids])
        return full, float(np.sqrt((ids.size - 1) * np.mean(np.square(leave_out - leave_out.mean()))))

    def reweighted(self, values) -> Estimate:
        """Self-normalised average of ``values`` (n,) with its error and effective sample size."""
        v = np.asarray(values, dtype=np.float64)

        def mean(rows):
            w = normalised_weights(self.log_weights[rows])
            used = w > 0
            return w[used] @ v[rows][used]

        average, error = self._jackknife(mean)
        w = normalised_weights(self.log_weights)
        used = w > 0
        spread = w[used] @ np.square(v[used] - average)
        ess = self.kish if error == 0 else max(1.0, min(self.kish, spread / error**2))  # never below one sample
        return Estimate(average, error, float(ess), self.n)

    def energy_per_particle(self) -> Estimate:
        """Reweighted U / N."""
        return self.reweighted(self.energies / self.n_particles)

    def specific_heat(self) -> tuple[float, float]:
        """Reweighted configurational specific heat per particle, beta^2 (<U^2> - <U>^2) / N, and its error."""
        def heat(rows):
            w = normalised_weights(self.log_weights[rows])
            used = w > 0
            u = self.energies[rows][used]
            return self.beta**2 * (w[used] @ np.square(u - w[used] @ u)) / self.n_particles

        return self._jackknife(heat)

    def log_partition(self) -> tuple[float, float]:
        """log Z of the labelled configurational integral, the integral of exp(-beta U) over the box^N, and its
        error (so beta F = -log Z); with a Boltzmann prior at T_high, log Z(T) - log Z(T_high), the free-energy
        difference -(beta F - beta_high F_high)."""
        return self._jackknife(lambda rows: log_normaliser(self.log_weights[rows])[0])


@torch.no_grad()
def draw(flow, target, temperature: float, n: int, *, batch_size: int = 256, generator: torch.Generator | None = None,
         budget_seconds: float | None = None, keep: int = 0, progress: bool = False) -> FlowSamples:
    """Up to ``n`` samples of ``flow`` at ``temperature`` with their true energies under ``target`` (stopping early,
    after a whole batch, when ``budget_seconds`` is spent). ``keep`` > 0 also keeps that many of the samples, drawn
    without replacement in proportion to their weights (Gumbel top-k over the batches: memory for ``keep`` only)."""
    from tqdm.auto import tqdm

    if int(n) < 1 or int(batch_size) < 1 or not float(temperature) > 0 or int(keep) < 0:
        raise SamplerInputError(f"n and batch_size must be >= 1, keep >= 0 and the temperature positive; got {n}, "
                                f"{batch_size}, {keep}, {temperature}.")
    model = getattr(getattr(target, "model", None), "name", flow.settings.model)  # analytic targets have no model
    types = getattr(target, "types", None)
    flow.check_system(model, flow.frame.types if types is None else types, target.box)
    conditioned = temperature if flow.settings.temperature_conditioned else None
    beta = 1.0 / float(temperature)
    gumbel = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    energies, log_q, groups, kept = [], [], [], None
    start, done = time.perf_counter(), 0
    with tqdm(total=int(n), desc="flow samples", disable=not progress, leave=False, unit="sample") as bar:
        while done < int(n):
            size = min(int(batch_size), int(n) - done)
            x, types, q = flow.sample(size, conditioned, generator=generator)
            u = target.energy(x, types).to(torch.float64).cpu()
            energies.append(u.numpy())
            log_q.append(q.cpu().numpy())
            chains = getattr(flow.flow.q0, "last_chains", None)
            groups.append(chains.numpy() if chains is not None else (done + np.arange(size)) % BLOCKS)
            if keep:
                log_w = torch.where(torch.isfinite(u), -beta * u - q.cpu(), -torch.inf)
                key = log_w - torch.log(-torch.log(torch.rand(size, generator=gumbel, dtype=torch.float64)))
                kept = _top(kept, (key, x, types), int(keep))
            done += size
            bar.update(size)
            if budget_seconds is not None and time.perf_counter() - start >= float(budget_seconds):
                break
    u, q = np.concatenate(energies), np.concatenate(log_q)
    log_w = np.where(np.isfinite(u), -beta * u - q, -np.inf)
    return FlowSamples(u, q, log_w, np.concatenate(groups), beta, int(x.shape[1]), time.perf_counter() - start,
                       None if kept is None else kept[1:], flow.settings.prior_temperature)


def _top(kept, batch, k: int):
    """The k entries with the largest keys among the kept ones and a new batch (key (n,), positions, types)."""
    if kept is not None:
        batch = tuple(torch.cat([a, b.to(a)]) for a, b in zip(kept, batch))
    order = torch.argsort(batch[0], descending=True)[:k]
    return tuple(t[order] for t in batch)
