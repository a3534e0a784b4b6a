"""The state of B Markov chains at one temperature, which every kernel reads and changes.

It holds what the chains' future depends on (positions, species, running energies, the generator) and the count of
energy evaluations, and offers the few operations every kernel shares: uniform numbers from the chains' generator,
the Metropolis test and a fresh energy. Kernels keep their own settings and counters (``samplers.kernels``); the
driver (``samplers.driver``) owns the sweeps, records and time.
"""

from __future__ import annotations

import torch

from samplers.target import SamplerInputError


class ChainState:
    """B chains of a :class:`samplers.target.Target` at temperature T.

    Parameters
    ----------
    target : Target
    positions : Tensor (B, N, d)
        Start of the chains (B >= 1); copied, and wrapped into the box of a periodic target.
    types : Tensor (N,) or (B, N) or None
        Species (int64, 0-based); None when the target ignores species (all particles are species 0, and the
        target is called with None).
    temperature : float
        k_B T > 0 (beta = 1 / T).
    seed : int or torch.Generator
        Seeds the chains' generator (or is it), from which every kernel draws.

    Attributes
    ----------
    x, types, energy : Tensors (B, N, d), (B, N) int64 and (B,)
    n_evaluations : int
        Single-particle energy changes spent so far, summed over chains (a full energy counts N per chain).
    """

    def __init__(self, target, positions, types=None, *, temperature: float, seed=0):
        x = torch.as_tensor(positions)
        if x.ndim != 3 or x.shape[1:] != (target.n_particles, target.dim):
            raise SamplerInputError(
                f"positions must have shape (B, {target.n_particles}, {target.dim}); got {tuple(x.shape)}.")
        if x.shape[0] < 1:
            raise SamplerInputError("the number of chains B must be >= 1; got 0 configurations.")
        if not x.is_floating_point():
            x = x.to(torch.float64)
        if not float(temperature) > 0:
            raise SamplerInputError(f"temperature must be positive; got {temperature}.")
        self.target, self.temperature, self.beta = target, float(temperature), 1.0 / float(temperature)
        n_conf, n, _ = x.shape
        self.types_given = types is not None
        if types is None:
            t = torch.zeros(n_conf, n, dtype=torch.int64, device=x.device)
        else:
            t = torch.as_tensor(types, dtype=torch.int64, device=x.device)
            t = t.expand(n_conf, n).clone() if t.ndim == 1 else t.clone()
            if t.shape != (n_conf, n):
                raise SamplerInputError(f"types must have shape ({n},) or ({n_conf}, {n}); got {tuple(t.shape)}.")
            if int(t.min()) < 0:
                raise SamplerInputError("types must be 0-based species labels (>= 0).")
        self.n_types = max(int(getattr(target, "n_types", 1)), int(t.max()) + 1)
        self.generator = seed if isinstance(seed, torch.Generator) else torch.Generator(device=x.device).manual_seed(
            int(seed))
        self.box = None if target.box is None else torch.as_tensor(target.box).to(x)
        self.x = x.clone() if self.box is None else torch.remainder(x, self.box)
        self.types = t
        self.energy = target.energy(self.x, self.t()).to(x.dtype)
        self.n_evaluations = n_conf * n

    @property
    def shape(self) -> tuple[int, int, int]:
        """(B, N, d)."""
        return tuple(self.x.shape)

    def t(self, types: torch.Tensor | None = None) -> torch.Tensor | None:
        """The species to hand the target: ``types`` (default the chains'), or None when none were given."""
        return (self.types if types is None else types) if self.types_given else None

    def uniform(self, *shape) -> torch.Tensor:
        """Uniform numbers in [0, 1) from the chains' generator, in the dtype and device of the positions."""
        return torch.rand(*shape, generator=self.generator, dtype=self.x.dtype, device=self.x.device)

    def accept_log_ratio(self, log_ratio: torch.Tensor) -> torch.Tensor:
        """Metropolis-Hastings test: log u < log ratio, elementwise (a NaN ratio is rejected)."""
        return torch.log(self.uniform(*log_ratio.shape)) < log_ratio

    def accept(self, delta: torch.Tensor) -> torch.Tensor:
        """Metropolis test of energy changes: log u < -beta dU; NaN changes (e.g. coinciding particles) rejected."""
        return self.accept_log_ratio(-self.beta * torch.nan_to_num(delta, nan=float("inf")))

    def move(self, index: torch.Tensor, new: torch.Tensor, accepted: torch.Tensor, delta: torch.Tensor) -> None:
        """Apply accepted single-particle moves: particles ``index`` (B,) or (B, K) to ``new`` (..., d), with energy
        changes ``delta`` (shaped like ``index``; those of rejected moves are ignored, NaN included)."""
        rows = torch.arange(index.shape[0], device=index.device)
        rows = rows[:, None].expand_as(index) if index.ndim == 2 else rows
        self.x[rows[accepted], index[accepted]] = new[accepted]
        self.energy = self.energy + torch.where(accepted, delta, 0.0).reshape(index.shape[0], -1).sum(1)

    def retype(self, types: torch.Tensor, accepted: torch.Tensor, delta: torch.Tensor) -> None:
        """Take the species ``types`` (B, N) in the chains where ``accepted`` (B,), whose energies change by
        ``delta`` (B,)."""
        self.types = torch.where(accepted[:, None], types, self.types)
        self.energy = torch.where(accepted, self.energy + delta, self.energy)

    def fresh_energy(self) -> torch.Tensor:
        """Total energies (B,) from scratch, not counted as evaluations (checks)."""
        return self.target.energy(self.x, self.t()).to(self.energy)

    def recompute_energy(self) -> None:
        """Replace the running energies by fresh ones (stops round-off drift); costs N evaluations per chain."""
        self.energy = self.fresh_energy()
        self.n_evaluations += self.x.shape[0] * self.x.shape[1]

    def state_dict(self) -> dict:
        """Positions, species, energies (cloned), the generator state and the evaluation count."""
        return {"x": self.x.clone(), "types": self.types.clone(), "energy": self.energy.clone(),
                "generator": self.generator.get_state(), "n_evaluations": self.n_evaluations}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of chains of the same shape."""
        if tuple(state["x"].shape) != self.shape:
            raise SamplerInputError(f"the saved chains have shape {tuple(state['x'].shape)} but this sampler holds "
                                    f"{self.shape}; build it with the same positions shape.")
        for name in ("x", "types", "energy"):
            setattr(self, name, state[name].clone().to(getattr(self, name).device))
        self.generator.set_state(state["generator"])
        self.n_evaluations = state["n_evaluations"]
