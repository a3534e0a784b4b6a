"""Statistical checks shared by the sampler tests: a sampled distance law against an exact one, and the stationary
distribution and flux balance of a chain over a few enumerated states."""

import numpy as np
from scipy import stats

from samplers.diagnostics import effective_sample_size


def distance_ks(r: np.ndarray, grid: np.ndarray, weight: np.ndarray, r_max: float,
                independent: bool = False) -> tuple[float, float]:
    """Kolmogorov-Smirnov distance between the distances r (B, S) below r_max and the density proportional to
    ``weight`` on ``grid``, and the effective number of those distances (their count when ``independent``, else
    corrected by the chains' autocorrelation); the 99.9 % threshold is 1.95 / sqrt(n_eff)."""
    inside = np.sort(r[r < r_max])
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (weight[1:] + weight[:-1]) * np.diff(grid))])
    ks = np.max(np.abs(np.arange(1, inside.size + 1) / inside.size - np.interp(inside, grid, cdf / cdf[-1])))
    n_eff = inside.size if independent else effective_sample_size(r) * inside.size / r.size
    return float(ks), float(n_eff)


def balance_p_values(flows: np.ndarray, counts: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """p-values of the occupation ``counts`` against ``expected`` and of the symmetry of the transition counts
    ``flows`` (detailed balance: as many i -> j as j -> i), both chi-square."""
    chi2_pi = ((counts - expected) ** 2 / expected).sum()
    upper = np.triu_indices(flows.shape[0], 1)
    total = flows[upper] + flows.T[upper]
    moved = total > 0
    chi2_flow = ((flows[upper] - flows.T[upper])[moved] ** 2 / total[moved]).sum()
    return stats.chi2.sf(chi2_pi, counts.size - 1), stats.chi2.sf(chi2_flow, int(moved.sum()))
