"""Importance weights and what they estimate: Kish ESS, self-normalised averages, log-normalisers, free energies.

A proposal density q (a flow) and a target known up to a constant, p(x) = exp(-beta U(x)) / Z, give weights
w = exp(-beta U(x)) / q(x) (float64 logs; Noe et al., Science 2019). With n samples of q:

- Kish effective sample size ESS = (sum w)^2 / sum w^2 (n for perfect weights, 1 when one sample dominates);
- self-normalised average <O> = sum w O / sum w, with the delta-method standard error
  sqrt(sum w^2 (O - <O>)^2) / sum w;
- normaliser Z = E_q[w], estimated by the mean weight; log Z and its standard error (from the variance of w / mean w).
  With beta F = -log Z, free-energy differences between temperatures follow, and
  :func:`thermodynamic_integration` gives the same difference from Monte Carlo energies,
  beta_2 F_2 - beta_1 F_1 = integral from beta_1 to beta_2 of <U>_beta d beta, for comparison.

All estimators refuse non-finite log-weights other than -inf (a proposal the target rules out) and warn nothing:
the caller reports the ESS with every estimate, which says how far to trust it.
"""

from __future__ import annotations

import math
import numpy as np

from samplers.target import SamplerInputError


def _log_weights(log_weights) -> np.ndarray:
    w = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    if w.size == 0:
        raise SamplerInputError("no importance weights: draw at least one sample.")
    if np.isnan(w).any() or np.isposinf(w).any():
        raise SamplerInputError("log-weights must be finite or -inf; got NaN or +inf (check the energies and the "
                                "flow's log-densities).")
    if np.isneginf(w).all():
        raise SamplerInputError("every importance weight is zero: the proposal never reaches the target's support.")
    return w


def normalised_weights(log_weights) -> np.ndarray:
    """Weights w / sum w (float64) from log-weights, computed stably."""
    w = _log_weights(log_weights)
    w = np.exp(w - w.max())
    return w / w.sum()


def kish_ess(log_weights) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2, between 1 and the number of samples."""
    w = normalised_weights(log_weights)
    return float(1.0 / np.square(w).sum())


def reweighted_mean(values, log_weights) -> tuple[float, float]:
    """Self-normalised average of ``values`` (n,) under the target, and its delta-method standard error."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    w = normalised_weights(log_weights)
    if v.shape != w.shape:
        raise SamplerInputError(f"values ({v.size}) and log-weights ({w.size}) must be as many.")
    used = w > 0
    mean = float(w[used] @ v[used])
    return mean, float(math.sqrt(np.square(w[used]) @ np.square(v[used] - mean)))


def log_normaliser(log_weights) -> tuple[float, float]:
    """log Z = log mean w and its standard error, std(w) / (mean w sqrt(n)) (the delta method)."""
    w = _log_weights(log_weights)
    top = w.max()
    scaled = np.exp(w - top)
    mean = scaled.mean()
    error = scaled.std(ddof=1) / mean / math.sqrt(w.size) if w.size > 1 else math.inf
    return float(top + math.log(mean)), float(error)


def thermodynamic_integration(betas, mean_energies, errors=None) -> tuple[np.ndarray, np.ndarray]:
    """beta F(beta) - beta_0 F(beta_0) at every beta of a grid (trapezoid rule over <U>_beta), and its error.

    betas : (n,) increasing inverse temperatures; mean_energies : (n,) <U> at each; errors : (n,) standard errors of
    those means (independent), or None. The first entry of the result is 0 (the reference beta_0 = betas[0]).
    The error is the propagated statistical one; the trapezoid rule's own error is not included: use a grid fine
    enough that halving it changes nothing within errors.
    """
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    u = np.asarray(mean_energies, dtype=np.float64).reshape(-1)
    e = np.zeros_like(u) if errors is None else np.asarray(errors, dtype=np.float64).reshape(-1)
    if b.size < 2 or u.shape != b.shape or e.shape != b.shape or not np.all(np.diff(b) > 0):
        raise SamplerInputError("thermodynamic integration needs >= 2 increasing betas and as many mean energies "
                                "(and errors).")
    steps = np.diff(b)
    integral = np.concatenate([[0.0], np.cumsum(0.5 * steps * (u[1:] + u[:-1]))])
    # Each mean enters the sum up to the current point with weight half the neighbouring steps.
    variance = np.zeros_like(b)
    for m in range(1, b.size):
        weights = np.zeros(m + 1)
        weights[:-1] += 0.5 * steps[:m]
        weights[1:] += 0.5 * steps[:m]
        variance[m] = np.square(weights * e[: m + 1]).sum()
    return integral, np.sqrt(variance)
