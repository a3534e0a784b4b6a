"""How a flow sees a periodic configuration: one pinned particle at the origin, the others as angles.

Translations. The Boltzmann density of a periodic box is invariant under translations; a flow on the torus is not,
unless every layer commutes with them. glassgen removes them exactly instead: one particle of the *pinned species*
(the most numerous one) is put at the origin, and the flow describes the N - 1 others relative to it. The choice of
that particle is an auxiliary variable k drawn uniformly among the n_pin particles of its species, independent of
the configuration, and the global translation s = x_k is drawn uniformly in the box. On the extended space (x, k) the
flow's density is

    q(x, k) = q_flow(angles of x relative to x_k) |d angles / d x| / V / n_pin,

while the target is p(x) r(k | x) with r(k | x) = 1 / n_pin. Importance weights w = p(x) r(k | x) / q(x, k) and
Metropolis-Hastings ratios on the extended space are then exact for p(x) itself (k marginalises out), at the cost of
one flow evaluation per configuration. So the flow reports log [q(x, k) / r(k | x)], which takes the place of log q(x)
in every weight and ratio (w = p(x) / [q(x, k) / r(k | x)]; for an ideal gas and the identity flow it is -N log V).
It is invariant under translations of x and, because the conditioners are permutation-equivariant, under relabelling
of identical particles (with k relabelled along).

Order. The free particles are listed by species (stable order within a species), so that their species are always
the flow's fixed ``free_types``; which identical particle sits where does not change log q (permutation invariance).

Angles. Relative coordinates y in [0, L) become angles 2 pi y / L - pi in [-pi, pi), the interval of the circular
splines; the pinned particle sits at angle -pi on every axis.
"""

from __future__ import annotations

import math

import torch

from samplers.target import SamplerInputError


class PinnedFrame:
    """The map between configurations (B, N, d) and the flow's angles (B, N - 1, d), for one composition.

    Parameters
    ----------
    types : Tensor (N,) int64
        The species of the model's configurations (any order; the composition is what matters).
    box : Tensor (d,)
        Periodic box edges.
    """

    def __init__(self, types: torch.Tensor, box: torch.Tensor):
        types = torch.as_tensor(types, dtype=torch.int64).reshape(-1).cpu()
        self.box = torch.as_tensor(box, dtype=torch.float64).reshape(-1).cpu()
        if types.numel() < 2:
            raise SamplerInputError(f"a flow needs at least 2 particles; got {types.numel()}.")
        counts = torch.bincount(types)
        self.pinned_species = int(counts.argmax())
        self.n_pinned = int(counts[self.pinned_species])
        self.n_types = int(counts.numel())
        ordered = torch.sort(types, stable=True).values
        first = int((ordered == self.pinned_species).nonzero()[0])
        self.free_types = torch.cat([ordered[:first], ordered[first + 1:]])
        self.types = torch.cat([torch.tensor([self.pinned_species]), self.free_types])  # pinned particle first
        self.dim = self.box.numel()
        #: log |d angles / d positions| of the free particles plus log (1 / V) of the translation: what turns the
        #: flow's log-density of angles into log (q(x, k) n_pin).
        m = self.free_types.numel()
        self.log_jacobian = float(m * torch.log(2 * math.pi / self.box).sum() - torch.log(self.box).sum())

    def __repr__(self) -> str:
        return (f"PinnedFrame({self.types.numel()} particles in {self.dim}D, pinned species {self.pinned_species} "
                f"({self.n_pinned} candidates))")

    def check(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """types broadcast to (B, N), after checking shapes and composition against the frame's."""
        n = self.types.numel()
        if x.ndim != 3 or x.shape[1:] != (n, self.dim):
            raise SamplerInputError(f"configurations must be (B, {n}, {self.dim}) for this flow; got "
                                    f"{tuple(x.shape)}.")
        types = torch.as_tensor(types, dtype=torch.int64, device=x.device)
        types = types.expand(x.shape[0], -1) if types.ndim == 1 else types
        composition = torch.stack([torch.bincount(t, minlength=self.n_types)[: self.n_types] for t in types.cpu()])
        if types.shape != x.shape[:2] or not bool((composition == torch.bincount(self.types)).all()):
            raise SamplerInputError(f"these configurations hold another composition than the flow's "
                                    f"({torch.bincount(self.types).tolist()} per species); use a flow trained for "
                                    "this model and N.")
        return types

    def choose_pins(self, types: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Index (B,) of the pinned particle of each configuration, uniform among those of the pinned species."""
        weights = (types == self.pinned_species).to(torch.float64)
        return torch.multinomial(weights.cpu(), 1, generator=generator)[:, 0].to(types.device)

    def to_angles(self, x: torch.Tensor, types: torch.Tensor, pins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Angles (B, N - 1, d) of the free particles relative to particle ``pins[b]``, and the order (B, N) that
        lists each configuration's particles as the frame does (pinned first, then by species)."""
        n_conf, n, _ = x.shape
        rows = torch.arange(n_conf, device=x.device)
        box = self.box.to(x)
        relative = torch.remainder(x - x[rows, pins][:, None, :], box)
        # Sort key: species, with the pinned particle before all others (stable sort keeps index order otherwise).
        key = types.clone()
        key[rows, pins] = -1
        order = torch.sort(key, dim=1, stable=True).indices
        free = relative[rows[:, None], order[:, 1:]]
        return 2 * math.pi * free / box - math.pi, order

    def to_positions(self, angles: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Positions (B, N, d) in [0, L) of free-particle angles (B, N - 1, d): the pinned particle (first) at
        ``shift`` (B, d), the others relative to it."""
        box = self.box.to(angles)
        free = (angles + math.pi) * box / (2 * math.pi)
        relative = torch.cat([torch.zeros_like(free[:, :1]), free], 1)
        return torch.remainder(relative + shift[:, None, :], box)
