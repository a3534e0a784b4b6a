"""Bond-orientational order per particle: Steinhardt q_l in 3D, |psi_l| in 2D."""

from __future__ import annotations

import numpy as np
from scipy.special import sph_harm_y


def bond_order(i: np.ndarray, j: np.ndarray, rij: np.ndarray, n: int, ls) -> np.ndarray:
    """Per-particle bond order of each l in ``ls`` from ordered pairs (i, j) with separations ``rij`` (P, d).

    3D (Steinhardt): q_l(i) = sqrt(4 pi / (2l + 1) sum_m |q_lm(i)|^2), q_lm(i) = (1/n_i) sum_j Y_lm(r_ij).
    2D: psi_l(i) = |(1/n_i) sum_j exp(i l theta_ij)|, theta_ij the angle of r_ij with the x axis.
    Every pair given counts as a neighbour (select them by distance first). Particles without neighbours get 0.
    Returns an array of shape (n, len(ls)).
    """
    ls = [int(v) for v in ls]
    count = np.bincount(i, minlength=n).astype(np.float64)
    safe = np.maximum(count, 1.0)
    out = np.zeros((n, len(ls)))
    if rij.shape[1] == 2:
        theta = np.arctan2(rij[:, 1], rij[:, 0])
        for k, l in enumerate(ls):
            re = np.bincount(i, weights=np.cos(l * theta), minlength=n) / safe
            im = np.bincount(i, weights=np.sin(l * theta), minlength=n) / safe
            out[:, k] = np.sqrt(re * re + im * im)
        return out
    r = np.sqrt((rij * rij).sum(-1))
    polar = np.arccos(np.clip(rij[:, 2] / np.where(r > 0, r, 1.0), -1.0, 1.0))
    azimuth = np.mod(np.arctan2(rij[:, 1], rij[:, 0]), 2 * np.pi)
    for k, l in enumerate(ls):
        total = np.zeros(n)
        for m in range(0, l + 1):
            y = sph_harm_y(l, m, polar, azimuth)
            re = np.bincount(i, weights=y.real, minlength=n) / safe
            im = np.bincount(i, weights=y.imag, minlength=n) / safe
            # |q_l,-m| = |q_lm|: count m > 0 twice.
            total += (1.0 if m == 0 else 2.0) * (re * re + im * im)
        out[:, k] = np.sqrt(4 * np.pi / (2 * l + 1) * total)
    out[count == 0] = 0.0
    return out
