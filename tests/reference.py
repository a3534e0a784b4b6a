"""Slow, obviously-correct O(N^2) minimum-image references, written from REFERENCE.md independently of glassgen."""

from __future__ import annotations

import numpy as np

KA2D_C = (0.04049023795, -0.00970155098, 0.00062012616)


def pair_potential(r, sigma, epsilon, form, cutoff=2.5):
    """V(r) and dV/dr of one species pair, numpy, written in x = r / sigma (no shortcuts through r^2)."""
    x = r / sigma  # r = inf marks the particle itself: its terms are masked below
    lj, dlj = x**-12 - x**-6, -12 * x**-13 + 6 * x**-7
    if form == "shifted":
        v, dv = lj - (cutoff**-12 - cutoff**-6), dlj
    elif form == "shifted-force":
        c0 = cutoff**-12 - cutoff**-6
        c1 = -12 * cutoff**-13 + 6 * cutoff**-7
        v, dv = lj - c0 - (x - cutoff) * c1, dlj - c1
    elif form == "smooth":
        v = lj + KA2D_C[0] + KA2D_C[1] * x**2 + KA2D_C[2] * x**4
        dv = dlj + 2 * KA2D_C[1] * x + 4 * KA2D_C[2] * x**3
    else:
        raise ValueError(form)
    inside = r < cutoff * sigma
    return np.where(inside, 4 * epsilon * v, 0.0), np.where(inside, 4 * epsilon * dv / sigma, 0.0)


@np.errstate(invalid="ignore")
def brute_force(positions, types, box, sigma, epsilon, form, cutoff=2.5):
    """Per-particle energies (half of each pair) and forces, looping over particles with minimum images."""
    x = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    sigma, epsilon = np.asarray(sigma), np.asarray(epsilon)
    site = np.zeros(len(x))
    force = np.zeros_like(x)
    for i in range(len(x)):
        d = x - x[i]
        d -= box * np.round(d / box)
        r = np.sqrt((d * d).sum(1))
        r[i] = np.inf
        v, dvdr = pair_potential(r, sigma[types[i], types], epsilon[types[i], types], form, cutoff)
        site[i] = 0.5 * v.sum()
        finite = np.isfinite(r)
        force[i] = (dvdr[finite, None] * d[finite] / r[finite, None]).sum(0)
    return site, force
