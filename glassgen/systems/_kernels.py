"""Compiled CPU loop over neighbour pairs: the fast path of `ForceField` when no gradient is needed.

Vectorised torch spends most of its time on strided (P, 3) temporaries and scatter-adds; one pass over the pairs that
accumulates forces in place is 5-10x faster on a CPU core. The formulas are those of `potential.py`, and the tests
check both paths against the same brute-force reference. The torch path stays for autograd and for GPUs.
"""

from __future__ import annotations

import numba
import numpy as np

FORM_CODES = {"shifted": 0, "shifted-force": 1, "smooth": 2, "harmonic": 3}


@numba.njit(cache=True, nogil=True)
def pair_loop(x, i, j, offset, pair_type, sigma2, epsilon, cutoff2, shift, form, cutoff, smoothing,
              n_per_conf, energy, site, forces, want_site, want_forces):
    """Accumulate pair energies into `energy` (B,) and `site` (B*N,) and forces into `forces` (B*N, d)."""
    dim = x.shape[1]
    c0_sf = cutoff**-12 - cutoff**-6
    c1_sf = -12.0 * cutoff**-13 + 6.0 * cutoff**-7
    c0, c2, c4 = smoothing[0], smoothing[1], smoothing[2]
    for p in range(i.shape[0]):
        a, b, t = i[p], j[p], pair_type[p]
        # Scalar components (z = 0 in 2D) keep the separation in registers.
        dx = x[b, 0] - x[a, 0] + offset[p, 0]
        dy = x[b, 1] - x[a, 1] + offset[p, 1]
        dz = x[b, 2] - x[a, 2] + offset[p, 2] if dim == 3 else 0.0
        r2 = dx * dx + dy * dy + dz * dz
        if r2 >= cutoff2[t]:
            continue
        s2, eps = sigma2[t], epsilon[t]
        if form == 3:
            r = np.sqrt(r2)
            sigma = np.sqrt(s2)
            gap = 1.0 - r / sigma
            u = 0.5 * eps * gap * gap
            f = eps * gap / (sigma * r)
        else:
            inv2 = s2 / r2
            s6 = inv2 * inv2 * inv2
            s12 = s6 * s6
            if form == 0:
                u = 4.0 * eps * (s12 - s6) - shift[t]
                f = 24.0 * eps * (2.0 * s12 - s6) / r2
            elif form == 1:
                xr = np.sqrt(r2 / s2)
                u = 4.0 * eps * (s12 - s6 - c0_sf - (xr - cutoff) * c1_sf)
                f = 4.0 * eps * (12.0 * s12 - 6.0 * s6 + c1_sf * xr) / r2
            else:
                x2 = r2 / s2
                u = 4.0 * eps * (s12 - s6 + c0 + c2 * x2 + c4 * x2 * x2)
                f = 4.0 * eps * (12.0 * s12 - 6.0 * s6 - 2.0 * c2 * x2 - 4.0 * c4 * x2 * x2) / r2
        energy[a // n_per_conf] += u
        if want_site:
            site[a] += 0.5 * u
            site[b] += 0.5 * u
        if want_forces:
            forces[b, 0] += f * dx
            forces[a, 0] -= f * dx
            forces[b, 1] += f * dy
            forces[a, 1] -= f * dy
            if dim == 3:
                forces[b, 2] += f * dz
                forces[a, 2] -= f * dz
