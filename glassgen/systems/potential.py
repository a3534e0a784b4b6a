"""Pair potentials as functions of the squared distance, one per truncation form.

Each function takes per-pair tensors (squared distance r2, sigma^2, epsilon and, for the shifted form, the energy
shift) and returns the pair energy u and f = -(dV/dr) / r, so that the force on j from i is f * (r_j - r_i). Working
with r2 avoids a square root for every form but the shifted-force one. Pairs beyond the cut are masked by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from glassgen.systems.models import KA2D_SMOOTHING, PairModel


def lj_shifted(r2, sigma2, epsilon, shift):
    """Lennard-Jones minus its value at the cut: continuous energy, force jumps at r_c."""
    s6 = (sigma2 / r2) ** 3
    s12 = s6 * s6
    return 4.0 * epsilon * (s12 - s6) - shift, 24.0 * epsilon * (2.0 * s12 - s6) / r2


def lj_shifted_force(r2, sigma2, epsilon, cutoff: float):
    """Lennard-Jones with a linear term so that energy and force both vanish at r_c = cutoff * sigma."""
    c0 = cutoff**-12 - cutoff**-6
    c1 = -12.0 * cutoff**-13 + 6.0 * cutoff**-7
    s6 = (sigma2 / r2) ** 3
    s12 = s6 * s6
    x = torch.sqrt(r2 / sigma2)
    u = 4.0 * epsilon * (s12 - s6 - c0 - (x - cutoff) * c1)
    return u, 4.0 * epsilon * (12.0 * s12 - 6.0 * s6 + c1 * x) / r2


def lj_smooth(r2, sigma2, epsilon):
    """KA2D: Lennard-Jones plus C0 + C2 x^2 + C4 x^4 (x = r / sigma), smooth at the cut 2.5 sigma."""
    c0, c2, c4 = KA2D_SMOOTHING
    x2 = r2 / sigma2
    s6 = x2**-3
    s12 = s6 * s6
    u = 4.0 * epsilon * (s12 - s6 + c0 + c2 * x2 + c4 * x2 * x2)
    return u, 4.0 * epsilon * (12.0 * s12 - 6.0 * s6 - 2.0 * c2 * x2 - 4.0 * c4 * x2 * x2) / r2


def harmonic_overlap(r2, sigma2, epsilon):
    """Soft repulsion eps (1 - r/sigma)^2 / 2 for r < sigma: removes overlaps of random starts without blowing up."""
    r = torch.sqrt(r2)
    sigma = torch.sqrt(sigma2)
    gap = 1.0 - r / sigma
    return 0.5 * epsilon * gap * gap, epsilon * gap / (sigma * r)


@dataclass(frozen=True)
class PairTable:
    """Species-pair parameters of a model as flat (T*T,) tensors, indexed by type_i * T + type_j."""

    sigma2: torch.Tensor
    epsilon: torch.Tensor
    cutoff2: torch.Tensor
    shift: torch.Tensor
    n_types: int

    @classmethod
    def from_model(cls, model: PairModel, dtype=torch.float64, device=None) -> "PairTable":
        sigma = torch.tensor(model.sigma, dtype=torch.float64)
        epsilon = torch.tensor(model.epsilon, dtype=torch.float64)
        rc = model.cutoff
        shift = 4.0 * epsilon * (rc**-12 - rc**-6) if model.form == "shifted" else torch.zeros_like(epsilon)
        as_flat = lambda t: t.reshape(-1).to(dtype=dtype, device=device)  # noqa: E731
        return cls(as_flat(sigma**2), as_flat(epsilon), as_flat((rc * sigma) ** 2), as_flat(shift), model.n_types)


def pair_function(model: PairModel):
    """The (r2, sigma2, epsilon, shift) -> (u, f) function of a model's truncation form."""
    if model.form == "shifted":
        return lj_shifted
    if model.form == "shifted-force":
        cutoff = model.cutoff
        return lambda r2, s2, eps, shift: lj_shifted_force(r2, s2, eps, cutoff)
    if model.form == "smooth":
        if not math.isclose(model.cutoff, 2.5):
            raise ValueError("the KA2D smoothing polynomial is defined for a cut at 2.5 sigma only")
        return lambda r2, s2, eps, shift: lj_smooth(r2, s2, eps)
    return lambda r2, s2, eps, shift: harmonic_overlap(r2, s2, eps)
