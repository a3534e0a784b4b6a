"""Starting configurations: random placement with overlaps pushed apart, or a lattice with random species."""

from __future__ import annotations

import dataclasses
import math

import torch

from glassgen.errors import InvalidInputError
from glassgen.systems.forcefield import ForceField
from glassgen.systems.models import get_model
from glassgen.systems.system import System

#: Random starts are relaxed until no pair is closer than this fraction of sigma_ab.
MIN_START_FRACTION = 0.8


def _species(counts: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Species labels with the given counts, in random order."""
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return labels[torch.randperm(labels.numel(), generator=generator)]


def _setup(model: str, n_particles: int, density: float | None, seed: int):
    spec = get_model(model)
    generator = torch.Generator().manual_seed(int(seed))
    box = torch.full((spec.dim,), spec.box_length(n_particles, density), dtype=torch.float64)
    return spec, generator, box, _species(spec.composition(n_particles), generator)


def lattice_start(model: str, n_particles: int, *, density: float | None = None, batch: int | None = None,
                  seed: int = 0) -> System:
    """Particles on a simple cubic (square) lattice filling the box, species shuffled; each batch member shifted.

    Lattice spacing is (1/density)^(1/d), about 0.94 at density 1.2: no pair is closer than the AB sigma, so the
    start has finite forces and melts quickly at high temperature.
    """
    spec, generator, box, types = _setup(model, n_particles, density, seed)
    per_side = math.ceil(n_particles ** (1.0 / spec.dim) - 1e-9)
    grid = torch.stack(torch.meshgrid(*[torch.arange(per_side)] * spec.dim, indexing="ij"), -1).reshape(-1, spec.dim)
    sites = (grid[:n_particles].to(torch.float64) + 0.5) * (box / per_side)
    n_conf = 1 if batch is None else batch
    shift = torch.rand(n_conf, 1, spec.dim, generator=generator, dtype=torch.float64) * box
    positions = torch.remainder(sites.unsqueeze(0) + shift, box)
    return System(positions if batch is not None else positions[0], types, box, spec.name)


def random_start(model: str, n_particles: int, *, density: float | None = None, batch: int | None = None,
                 seed: int = 0, max_steps: int = 5000) -> System:
    """Uniformly random positions, then soft-sphere descent until no pair is closer than 0.8 sigma_ab.

    The push uses a harmonic overlap potential (finite at r = 0), so it cannot blow up the way Lennard-Jones would.
    """
    spec, generator, box, types = _setup(model, n_particles, density, seed)
    n_conf = 1 if batch is None else batch
    x = torch.rand(n_conf, n_particles, spec.dim, generator=generator, dtype=torch.float64) * box
    soft = dataclasses.replace(spec, form="harmonic", cutoff=1.0)
    ff = ForceField(soft, box, types, skin=0.5)
    step = 0.05
    for _ in range(max_steps):
        ratio, *_ = ff.min_pair_distance_ratio(x)
        if ratio >= MIN_START_FRACTION:
            break
        force = ff.compute(x, energy=False).forces
        # Cap each displacement at `step` so that a crowded particle cannot jump across the box.
        norm = force.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        x = torch.remainder(x + force * torch.clamp(step / norm, max=1.0), box)
    else:
        raise InvalidInputError(
            f"could not remove overlaps of a random start of {n_particles} particles in {max_steps} steps; "
            "the density may be too high for random insertion: use lattice_start instead."
        )
    return System(x if batch is not None else x[0], types, box, spec.name)
