"""Kob-Andersen model parameters (REFERENCE.md section 1), looked up by name.

A model is a frozen value: species matrices, the cut-off rule and the form of the truncation. Code that needs the
potential looks the model up with :func:`get_model` from the name a `System` carries, never from globals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from glassgen.errors import InvalidInputError

#: Truncation forms. "shifted": V - V(r_c) (force jumps at the cut); "shifted-force": V and V' vanish at the cut
#: through a linear term; "smooth": the KA2D even polynomial C0 + C2 (r/s)^2 + C4 (r/s)^4 (V and V' vanish);
#: "harmonic": soft repulsion eps (1 - r/s)^2 / 2 below r = s, used only to push random starts apart.
FORMS = ("shifted", "shifted-force", "smooth", "harmonic")


@dataclass(frozen=True)
class PairModel:
    """A multi-component Lennard-Jones mixture with species-dependent sigma, epsilon and cut-off.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"ka3d"``.
    dim : int
        Spatial dimension, 2 or 3.
    sigma, epsilon : tuple of tuples
        Symmetric (T, T) matrices of the pair parameters, species 0-based.
    form : str
        One of :data:`FORMS`.
    cutoff : float
        Cut-off in units of sigma_ab.
    density : float
        Nominal number density N / V of the model.
    fractions : tuple of float
        Default composition, fraction of each species.
    swap_pairs : tuple of (int, int)
        Species pairs whose identities swap Monte Carlo may exchange.
    """

    name: str
    dim: int
    sigma: tuple[tuple[float, ...], ...]
    epsilon: tuple[tuple[float, ...], ...]
    form: str
    cutoff: float
    density: float
    fractions: tuple[float, ...]
    swap_pairs: tuple[tuple[int, int], ...] = ()

    def __post_init__(self):
        n = len(self.fractions)
        for label, matrix in (("sigma", self.sigma), ("epsilon", self.epsilon)):
            if len(matrix) != n or any(len(row) != n for row in matrix):
                raise InvalidInputError(f"{label} of model {self.name!r} must be {n}x{n}, one row per species.")
            if any(matrix[a][b] != matrix[b][a] for a in range(n) for b in range(n)):
                raise InvalidInputError(f"{label} of model {self.name!r} must be symmetric.")
        if self.form not in FORMS:
            raise InvalidInputError(f"form of model {self.name!r} must be one of {FORMS}; got {self.form!r}.")

    @property
    def n_types(self) -> int:
        return len(self.fractions)

    @property
    def max_cutoff(self) -> float:
        """Largest interaction range over species pairs: what a neighbour list must reach."""
        return self.cutoff * max(max(row) for row in self.sigma)

    def composition(self, n_particles: int) -> tuple[int, ...]:
        """Particle counts per species for ``n_particles``, rounded by largest remainder so they sum to N."""
        if n_particles < self.n_types:
            raise InvalidInputError(
                f"{self.name} needs at least {self.n_types} particles (one per species); got {n_particles}."
            )
        exact = [f * n_particles for f in self.fractions]
        counts = [math.floor(x) for x in exact]
        by_remainder = sorted(range(self.n_types), key=lambda a: exact[a] - counts[a], reverse=True)
        for a in by_remainder[: n_particles - sum(counts)]:
            counts[a] += 1
        return tuple(counts)

    def box_length(self, n_particles: int, density: float | None = None) -> float:
        """Edge of the cubic (square) box holding ``n_particles`` at ``density`` (default: the model's)."""
        rho = self.density if density is None else density
        if not rho > 0:
            raise InvalidInputError(f"density must be positive; got {rho}.")
        return (n_particles / rho) ** (1.0 / self.dim)

    def check_density(self, n_particles: int, volume: float, rtol: float = 1e-3) -> None:
        """Raise if N / V differs from the model's density: usually a wrong box, not a new state point."""
        rho = n_particles / volume
        if abs(rho - self.density) > rtol * self.density:
            raise InvalidInputError(
                f"box does not match the density of {self.name}: N/V = {rho:.6g}, expected {self.density:.6g} "
                f"(box edge {self.box_length(n_particles):.6g} for N = {n_particles}). Fix the box, or pass the "
                "density explicitly (--density) if you mean another state point."
            )


_KA3D_SIGMA = ((1.0, 0.8), (0.8, 0.88))
_KA3D_EPSILON = ((1.0, 1.5), (1.5, 0.5))

MODELS: dict[str, PairModel] = {
    "ka3d": PairModel(
        name="ka3d", dim=3, sigma=_KA3D_SIGMA, epsilon=_KA3D_EPSILON, form="shifted", cutoff=2.5,
        density=1.2, fractions=(0.8, 0.2),
    ),
    "ka3d-sf": PairModel(
        name="ka3d-sf", dim=3, sigma=_KA3D_SIGMA, epsilon=_KA3D_EPSILON, form="shifted-force", cutoff=2.5,
        density=1.2, fractions=(0.8, 0.2),
    ),
    "ka2d": PairModel(
        name="ka2d", dim=2,
        sigma=((1.0, 0.8, 0.9), (0.8, 0.88, 0.8), (0.9, 0.8, 0.94)),
        epsilon=((1.0, 1.5, 0.75), (1.5, 0.5, 1.5), (0.75, 1.5, 0.75)),
        form="smooth", cutoff=2.5, density=1290 / 32.8962**2,
        fractions=(600 / 1290, 330 / 1290, 360 / 1290), swap_pairs=((0, 2), (1, 2)),
    ),
}

#: KA2D smoothing polynomial coefficients (Jung, Biroli, Berthier 2023): V and V' vanish at 2.5 sigma.
KA2D_SMOOTHING = (0.04049023795, -0.00970155098, 0.00062012616)


def get_model(name: str) -> PairModel:
    """The registered model called ``name`` (case-insensitive)."""
    key = str(name).lower()
    if key not in MODELS:
        raise InvalidInputError(f"unknown model {name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[key]


def infer_model(dim: int, n_types: int) -> PairModel:
    """The default model of a dimension and species count: 3D binary -> ka3d, 2D ternary -> ka2d."""
    for model in (MODELS["ka3d"], MODELS["ka2d"]):
        if model.dim == dim and model.n_types == n_types:
            return model
    raise InvalidInputError(
        f"no default model for {dim}D data with {n_types} species (ka3d is 3D binary, ka2d is 2D ternary); "
        "pass the model name explicitly (--model)."
    )
