"""The conditioner of a coupling layer: spline parameters of every free particle from the coordinates it may see.

A coupling layer transforms one axis of every free particle while the other axes stay fixed (Wirnsberger et al.,
J. Chem. Phys. 153, 144112 (2020)); the conditioner turns those fixed coordinates into the spline parameters of the
transformed ones. It is a message-passing network over all particles (the pinned one included, see
:mod:`samplers.flows.frame`), so that it is

- equivariant under permutations of identical particles: a node's input is its species and coordinates, a message
  depends on the two nodes and their displacement, and messages are averaged, so relabelling identical particles
  relabels the outputs;
- exact in the periodic box: coordinates enter only through Fourier features cos(k phi), sin(k phi) of angles
  phi = 2 pi x / L (absolute ones, which the pinned particle at the origin makes meaningful, and pair differences),
  so the output is a smooth periodic function of every coordinate;
- aware of distances in the fixed plane: the minimum-image distance of a pair in the conditioning axes enters through
  an e3nn radial basis (``soft_one_hot_linspace``), the same smooth basis the 3D graph networks use.

It is O(N^2) per configuration (all pairs): meant for the small systems (N <= ~100) that flows can serve at all.
"""

from __future__ import annotations

import math

import torch
from e3nn.math import soft_one_hot_linspace
from torch import nn


def fourier(angles: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """cos(k a), sin(k a) for k = 1..K of angles (..., C): features (..., 2 K C), periodic in every angle."""
    k = torch.arange(1, n_frequencies + 1, dtype=angles.dtype, device=angles.device)
    phases = angles[..., None] * k
    return torch.cat([phases.cos(), phases.sin()], -1).flatten(-2)


class ParticleConditioner(nn.Module):
    """Spline parameters (B, M, P) of the M free particles from their fixed coordinates.

    Parameters
    ----------
    n_types : int
        Species of the model; the pinned particle is one more "species" token.
    n_conditioning : int
        Axes the layer may see (d - 1).
    n_outputs : int
        Parameters per free particle (3 K for a circular spline of K bins: widths, heights, slopes at the knots).
    box_conditioning : Tensor (n_conditioning,)
        Box edges of those axes, to turn angle differences into distances for the radial basis.
    hidden : int
        Width of node features and messages.
    passes : int
        Rounds of message passing.
    n_frequencies : int
        Fourier frequencies per angle.
    n_radial : int
        Radial basis functions on [0, half the smallest conditioning edge].
    temperature_conditioned : bool
        Add an embedding of log T (the flow's context) to every node.
    """

    def __init__(self, n_types: int, n_conditioning: int, n_outputs: int, box_conditioning: torch.Tensor, *,
                 hidden: int = 64, passes: int = 2, n_frequencies: int = 4, n_radial: int = 8,
                 temperature_conditioned: bool = False):
        super().__init__()
        self.n_frequencies, self.n_radial = int(n_frequencies), int(n_radial)
        self.register_buffer("box", torch.as_tensor(box_conditioning, dtype=torch.float64).reshape(-1).clone())
        self.radial_reach = float(self.box.min()) / 2
        self.species = nn.Embedding(n_types + 1, hidden)
        node_in = hidden + 2 * self.n_frequencies * n_conditioning
        edge_in = 2 * self.n_frequencies * n_conditioning + self.n_radial
        self.encode = nn.Sequential(nn.Linear(node_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.temperature = nn.Linear(1, hidden) if temperature_conditioned else None
        self.filters = nn.ModuleList(nn.Sequential(nn.Linear(edge_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
                                     for _ in range(passes))
        self.updates = nn.ModuleList(nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
                                     for _ in range(passes))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, n_outputs))
        nn.init.zeros_(self.head[-1].weight)  # the coupling sets the bias of the identity map
        nn.init.zeros_(self.head[-1].bias)
        self.size = sum(p.numel() for p in self.parameters())

    def __repr__(self) -> str:
        return (f"ParticleConditioner({len(self.filters)} passes x {self.species.embedding_dim} features, "
                f"{self.n_frequencies} frequencies, {self.n_radial} radial | {self.size} weights)")

    def forward(self, angles: torch.Tensor, tokens: torch.Tensor, log_temperature: torch.Tensor | None) -> torch.Tensor:
        """Outputs (B, M, P) of the free particles (all nodes but the first, the pinned one).

        angles : (B, N, C) conditioning angles in [-pi, pi) of all N nodes; tokens : (N,) species tokens;
        log_temperature : (B, 1) or None.
        """
        dtype = self.head[-1].weight.dtype
        angles = angles.to(dtype)
        h = self.encode(torch.cat([self.species(tokens).expand(angles.shape[0], -1, -1),
                                   fourier(angles, self.n_frequencies)], -1))
        if self.temperature is not None:
            h = h + self.temperature(log_temperature.to(dtype))[:, None, :]
        difference = angles[:, None, :, :] - angles[:, :, None, :]  # (B, N, N, C): j's angle minus i's
        wrapped = torch.remainder(difference + math.pi, 2 * math.pi) - math.pi
        distance = (wrapped * (self.box.to(dtype) / (2 * math.pi))).norm(dim=-1)
        radial = soft_one_hot_linspace(distance, 0.0, self.radial_reach, self.n_radial, basis="smooth_finite",
                                       cutoff=True)
        edges = torch.cat([fourier(difference, self.n_frequencies), radial], -1)
        for filters, update in zip(self.filters, self.updates):
            messages = (filters(edges) * h[:, None, :, :]).mean(2)  # average over senders j
            h = h + update(torch.cat([h, messages], -1))
        return self.head(h[:, 1:])
