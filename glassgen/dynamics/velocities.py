"""Maxwell-Boltzmann velocities, kinetic energy and kinetic temperature of B configurations.

Conventions (m = k_B = 1, LJ reduced units): velocities have shape (B, N, d) (or (N, d) for one configuration).
The total momentum of every configuration is zero, which removes d degrees of freedom, so the kinetic temperature is

    T_kin = 2 K / N_f,   K = (1/2) sum_i |v_i|^2,   N_f = d (N - 1),

the convention of LAMMPS (``compute temp``) and of most MD codes. Integrators and the thermostat in this package
keep the momentum at zero (forces sum to zero, the thermostat only scales velocities), so N_f stays d (N - 1).
"""

from __future__ import annotations

import torch

from glassgen.errors import InvalidInputError


def degrees_of_freedom(n_particles: int, dim: int) -> int:
    """Kinetic degrees of freedom with the total momentum removed: ``dim * (n_particles - 1)``."""
    if n_particles < 2:
        raise InvalidInputError(
            f"at least 2 particles are needed for a kinetic temperature with zero total momentum; got {n_particles}."
        )
    return dim * (n_particles - 1)


def as_generator(seed, device=None) -> torch.Generator | None:
    """A torch.Generator from an int seed (on ``device``), a Generator passed through, or None for torch's default."""
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInputError(f"seed must be an int or a torch.Generator; got {type(seed).__name__} {seed!r}.")
    return torch.Generator(device=device or "cpu").manual_seed(seed)


def draw_normal(shape, generator: torch.Generator | None, dtype, device) -> torch.Tensor:
    """Standard normals drawn on the generator's device and moved to ``device``.

    Drawing where the generator lives makes the numbers depend on the seed only, whatever the device of the run.
    """
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, dtype=dtype, device=where).to(device)


def remove_drift(velocities: torch.Tensor) -> torch.Tensor:
    """Velocities minus the mean velocity of each configuration (zero total momentum for equal masses)."""
    return velocities - velocities.mean(dim=-2, keepdim=True)


def kinetic_energy(velocities: torch.Tensor) -> torch.Tensor:
    """K = (1/2) sum_i |v_i|^2 per configuration: shape (B,) for (B, N, d), a scalar for (N, d)."""
    return 0.5 * velocities.square().sum(dim=(-2, -1))


def kinetic_temperature(velocities: torch.Tensor) -> torch.Tensor:
    """2 K / N_f with N_f = d (N - 1) (momentum removed): shape (B,) for (B, N, d), a scalar for (N, d)."""
    n, dim = velocities.shape[-2:]
    return 2.0 * kinetic_energy(velocities) / degrees_of_freedom(n, dim)


def _temperatures(temperature, n_conf: int, dtype, device) -> torch.Tensor:
    """Temperature as a (B,) tensor from a number or a length-B sequence; every value must be positive."""
    t = torch.as_tensor(temperature, dtype=dtype, device=device)
    if t.ndim == 0:
        t = t.expand(n_conf)
    if t.shape != (n_conf,):
        raise InvalidInputError(
            f"temperature must be a number or one value per configuration (shape ({n_conf},)); "
            f"got shape {tuple(t.shape)}."
        )
    if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
        raise InvalidInputError(f"temperature must be positive and finite; got {t.tolist()}.")
    return t


def maxwell_boltzmann(n_conf: int | None, n: int, dim: int, temperature, generator=None,
                      dtype: torch.dtype = torch.float64, device=None, *, exact: bool = True) -> torch.Tensor:
    """Velocities drawn from the Maxwell-Boltzmann distribution at ``temperature``, with zero total momentum.

    Parameters
    ----------
    n_conf : int or None
        Number of configurations B; None gives one configuration of shape (N, d).
    n, dim : int
        Particles per configuration and spatial dimension.
    temperature : float or sequence of B floats
        Target temperature (one per configuration allowed).
    generator : torch.Generator, int or None
        Random source; an int is a seed. The same seed gives the same velocities on every device.
    dtype, device
        Of the returned tensor.
    exact : bool, default True
        Rescale each configuration so that its kinetic temperature (N_f = d (N - 1)) equals ``temperature``
        exactly. With False the kinetic energy keeps its canonical fluctuations (Gamma(N_f / 2, T)).

    Returns
    -------
    Tensor of shape (B, N, d), or (N, d) when ``n_conf`` is None.
    """
    batch = 1 if n_conf is None else int(n_conf)
    if batch < 1:
        raise InvalidInputError(f"n_conf must be a positive number of configurations; got {n_conf}.")
    degrees_of_freedom(n, dim)  # raises for N < 2
    generator = as_generator(generator, device)
    t = _temperatures(temperature, batch, dtype, device)
    v = remove_drift(draw_normal((batch, n, dim), generator, dtype, device))
    if exact:
        v = v * torch.sqrt(t / kinetic_temperature(v)).reshape(batch, 1, 1)
    else:
        # Momentum removal leaves d (N - 1) unit-variance degrees of freedom: scale them by sqrt(T).
        v = v * torch.sqrt(t).reshape(batch, 1, 1)
    return v if n_conf is not None else v[0]
