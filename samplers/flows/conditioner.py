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
Messages come in two kinds (``messages``):

- ``"pairwise"``: a filter per pair, linear in the pair's features: Fourier features of the angle differences and
  the minimum-image distance in the fixed plane through an e3nn radial basis (``soft_one_hot_linspace``, Gaussians:
  6x cheaper than its "smooth_finite" basis). The distance is continuous on the torus, so the spline parameters are
  too and each layer stays a bijection. O(N^2 H) per configuration and layer.
- ``"spectral"``: a convolution on the fixed torus with a band-limited filter per channel,
  m_i = sum_j f(phi_j - phi_i) v_j with f(delta) = sum_q a_q cos(k_q . delta) + b_q sin(k_q . delta) over the wave
  vectors 0 < |k|_inf <= K. Expanding cos(k . (phi_j - phi_i)) makes it two structure-factor-like sums over j per
  mode, so it costs O(N Q H) instead of O(N^2 H): the same class of translation-invariant filters as the pairwise
  Fourier part, minus the radial basis, at a fraction of the cost.
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


class PairwiseMessages(nn.Module):
    """Pairwise messages: per pass, filters linear in the pair features (see the module docstring)."""

    def __init__(self, n_conditioning: int, hidden: int, passes: int, n_frequencies: int, n_radial: int,
                 box_conditioning: torch.Tensor):
        super().__init__()
        self.n_frequencies, self.n_radial = n_frequencies, n_radial
        self.register_buffer("box", torch.as_tensor(box_conditioning, dtype=torch.float64).reshape(-1).clone())
        self.radial_reach = float(self.box.min()) / 2
        edge_in = 2 * n_frequencies * n_conditioning + n_radial
        self.filters = nn.ModuleList(nn.Linear(edge_in, hidden) for _ in range(passes))

    def prepare(self, angles: torch.Tensor) -> torch.Tensor:
        """Pair features (B, N, N, F) of the nodes' angles (B, N, C)."""
        difference = angles[:, None, :, :] - angles[:, :, None, :]  # (B, N, N, C): j's angle minus i's
        wrapped = torch.remainder(difference + math.pi, 2 * math.pi) - math.pi
        distance = (wrapped * (self.box.to(angles) / (2 * math.pi))).norm(dim=-1)
        radial = soft_one_hot_linspace(distance, 0.0, self.radial_reach, self.n_radial, basis="gaussian",
                                       cutoff=True)
        return torch.cat([fourier(difference, self.n_frequencies), radial], -1)

    def forward(self, edges: torch.Tensor, values: torch.Tensor, k: int) -> torch.Tensor:
        """Messages (B, N, H) of pass k: the mean over senders j of filter(e_ij) * v_j."""
        return (self.filters[k](edges) * values[:, None, :, :]).mean(2)


class SpectralMessages(nn.Module):
    """Spectral messages: per pass, a band-limited convolution on the fixed torus (see the module docstring)."""

    def __init__(self, n_conditioning: int, hidden: int, passes: int, n_frequencies: int):
        super().__init__()
        grid = torch.cartesian_prod(*[torch.arange(-n_frequencies, n_frequencies + 1)] * n_conditioning)
        grid = grid.reshape(-1, n_conditioning)
        # One of k and -k (the first non-zero component positive): they give the same cos and opposite sin.
        first = torch.stack([row[row != 0][0] if bool((row != 0).any()) else torch.tensor(0) for row in grid])
        self.register_buffer("modes", grid[first > 0].to(torch.float64))
        scale = 1.0 / math.sqrt(self.modes.shape[0] + 1)
        self.even = nn.Parameter(torch.randn(passes, self.modes.shape[0] + 1, hidden) * scale)  # a_q (q = 0: mean)
        self.odd = nn.Parameter(torch.randn(passes, self.modes.shape[0], hidden) * scale)  # b_q

    def prepare(self, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin (B, N, Q) of k_q . phi_i."""
        phases = angles @ self.modes.to(angles).T
        return phases.cos(), phases.sin()

    def forward(self, tables, values: torch.Tensor, k: int) -> torch.Tensor:
        """Messages (B, N, H) of pass k: (1 / N) sum_j f(phi_j - phi_i) v_j, through per-mode sums over j."""
        cos, sin = tables
        n = values.shape[1]
        c = torch.einsum("bnq,bnh->bqh", cos, values) / n
        s = torch.einsum("bnq,bnh->bqh", sin, values) / n
        a, b = self.even[k, 1:], self.odd[k]
        messages = torch.einsum("bnq,bqh->bnh", cos, a * c + b * s) + torch.einsum("bnq,bqh->bnh", sin, a * s - b * c)
        return messages + self.even[k, 0] * values.mean(1, keepdim=True)


MESSAGES = ("spectral", "pairwise")


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
        Box edges of those axes (the pairwise messages' distances).
    hidden : int
        Width of node features and messages.
    passes : int
        Rounds of message passing.
    n_frequencies : int
        Fourier frequencies per angle (node features, pair features, and the spectral filters' band limit K).
    n_radial : int
        Radial basis functions of pairwise messages, on [0, half the smallest conditioning edge].
    messages : {"spectral", "pairwise"}
        How particles talk (module docstring).
    temperature_conditioned : bool
        Add an embedding of log T (the flow's context) to every node.
    """

    def __init__(self, n_types: int, n_conditioning: int, n_outputs: int, box_conditioning: torch.Tensor, *,
                 hidden: int = 32, passes: int = 2, n_frequencies: int = 4, n_radial: int = 8,
                 messages: str = "spectral", temperature_conditioned: bool = False):
        super().__init__()
        if messages not in MESSAGES:
            raise ValueError(f"messages must be one of {MESSAGES}; got {messages!r}")
        self.n_frequencies, self.kind = int(n_frequencies), messages
        self.species = nn.Embedding(n_types + 1, hidden)
        node_in = hidden + 2 * self.n_frequencies * n_conditioning
        self.encode = nn.Sequential(nn.Linear(node_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.temperature = nn.Linear(1, hidden) if temperature_conditioned else None
        self.messages = (SpectralMessages(n_conditioning, hidden, passes, self.n_frequencies) if messages == "spectral"
                         else PairwiseMessages(n_conditioning, hidden, passes, self.n_frequencies, int(n_radial),
                                               box_conditioning))
        self.values = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(passes))
        self.updates = nn.ModuleList(nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
                                     for _ in range(passes))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, n_outputs))
        nn.init.zeros_(self.head[-1].weight)  # the coupling sets the bias of the identity map
        nn.init.zeros_(self.head[-1].bias)
        self.size = sum(p.numel() for p in self.parameters())

    def __repr__(self) -> str:
        return (f"ParticleConditioner({self.kind} messages, {len(self.updates)} passes x "
                f"{self.species.embedding_dim} features, {self.n_frequencies} frequencies | {self.size} weights)")

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
        tables = self.messages.prepare(angles)
        for k, (values, update) in enumerate(zip(self.values, self.updates)):
            h = h + update(torch.cat([h, self.messages(tables, values(h), k)], -1))
        return self.head(h[:, 1:])
