"""The `System` value: positions, types, box and model name, checked once at construction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.systems.models import PairModel, get_model


def as_tensor(array, dtype=None, device=None) -> torch.Tensor:
    """Torch tensor from a numpy array, list or tensor, without copying when nothing changes."""
    if isinstance(array, torch.Tensor):
        return array.to(dtype=dtype or array.dtype, device=device or array.device)
    array = np.asarray(array)
    if not array.flags.writeable:  # e.g. straight from np.load: torch would warn on the shared read-only buffer
        array = array.copy()
    if dtype is None and array.dtype.kind == "f":
        dtype = torch.float64
    return torch.as_tensor(array, dtype=dtype, device=device)


def check_positions(positions: torch.Tensor, n_particles: int, dim: int) -> None:
    """Shape (N, d) or (B, N, d), floating point, finite: else a message naming what is wrong."""
    if positions.ndim not in (2, 3) or positions.shape[-2:] != (n_particles, dim):
        raise InvalidInputError(
            f"positions must have shape (N, d) = ({n_particles}, {dim}) or (B, {n_particles}, {dim}); "
            f"got {tuple(positions.shape)}."
        )
    if not positions.is_floating_point():
        raise InvalidInputError(f"positions must be floating point; got {positions.dtype}.")
    if not bool(torch.isfinite(positions).all()):
        bad = torch.nonzero(~torch.isfinite(positions).reshape(-1, n_particles, dim).all(-1))[0].tolist()
        raise InvalidInputError(
            f"positions contain NaN or infinite values (first at configuration {bad[0]}, particle {bad[1]}); "
            "check the input file or the step that produced it."
        )


@dataclass
class System:
    """Particles of one KA model in an orthorhombic periodic box.

    Parameters
    ----------
    positions : Tensor of shape (N, d) or (B, N, d)
        Coordinates; any real values (they are wrapped into the box where needed).
    types : Tensor of shape (N,)
        Species, int64, 0-based; the same for every configuration of a batch.
    box : Tensor of shape (d,)
        Box edge lengths.
    model : str
        Registry name of the model (see :func:`glassgen.systems.get_model`).
    """

    positions: torch.Tensor
    types: torch.Tensor
    box: torch.Tensor
    model: str

    def __post_init__(self):
        spec = get_model(self.model)
        self.model = spec.name
        self.positions = as_tensor(self.positions)
        self.types = as_tensor(self.types, dtype=torch.int64, device=self.positions.device)
        self.box = as_tensor(self.box, dtype=self.positions.dtype, device=self.positions.device)
        if self.types.ndim != 1:
            raise InvalidInputError(f"types must have shape (N,); got {tuple(self.types.shape)}.")
        n = self.types.shape[0]
        check_positions(self.positions, n, spec.dim)
        if self.box.shape != (spec.dim,):
            raise InvalidInputError(
                f"box must hold the {spec.dim} edge lengths of an orthorhombic box; got shape {tuple(self.box.shape)}."
            )
        if not bool((self.box > 0).all()) or not bool(torch.isfinite(self.box).all()):
            raise InvalidInputError(f"box edges must be positive and finite; got {self.box.tolist()}.")
        if n and (int(self.types.min()) < 0 or int(self.types.max()) >= spec.n_types):
            found = sorted(set(self.types.tolist()))
            raise InvalidInputError(
                f"types must be 0-based species labels 0..{spec.n_types - 1} for {spec.name}; found {found}. "
                "GlassBench files label species from 1: the readers shift them, or subtract 1 yourself."
            )
        if float(self.box.min()) < 2 * spec.max_cutoff:
            raise InvalidInputError(
                f"box edge {float(self.box.min()):.4g} is shorter than twice the cut-off ({2 * spec.max_cutoff:.4g}): "
                "minimum-image interactions would be wrong. Use more particles or a larger box."
            )

    @property
    def spec(self) -> PairModel:
        return get_model(self.model)

    @property
    def n_particles(self) -> int:
        return self.types.shape[0]

    @property
    def dim(self) -> int:
        return self.box.shape[0]

    @property
    def is_batched(self) -> bool:
        return self.positions.ndim == 3

    @property
    def batch_size(self) -> int:
        return self.positions.shape[0] if self.is_batched else 1

    @property
    def volume(self) -> float:
        return float(self.box.prod())

    def batched_positions(self) -> torch.Tensor:
        """Positions as (B, N, d), B = 1 for a single configuration."""
        return self.positions if self.is_batched else self.positions.unsqueeze(0)

    def with_positions(self, positions: torch.Tensor) -> "System":
        """The same particles and box at new coordinates."""
        return System(positions, self.types, self.box, self.model)

    def to(self, device=None, dtype=None) -> "System":
        return System(self.positions.to(device=device, dtype=dtype), self.types.to(device=device),
                      self.box.to(device=device, dtype=dtype), self.model)

    def __getitem__(self, index) -> "System":
        """One configuration (int) or a sub-batch (slice) of a batched system."""
        if not self.is_batched:
            raise InvalidInputError("indexing needs a batched System of shape (B, N, d).")
        return self.with_positions(self.positions[index])
