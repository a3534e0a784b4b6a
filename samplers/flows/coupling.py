"""A coupling layer on the torus: one axis of every free particle through a circular rational-quadratic spline.

The layer maps the angle a_i of axis ``axis`` of each free particle i by a monotone circular spline (normflows'
``unconstrained_rational_quadratic_spline`` with circular tails on [-pi, pi]: the slopes at -pi and pi are equal,
so the map is a smooth bijection of the circle) whose K bins and knot slopes come from
:class:`samplers.flows.conditioner.ParticleConditioner` applied to the other axes of all particles, which the layer
leaves unchanged. The Jacobian is diagonal in the transformed angles, so log |det| is the sum of the splines' log
slopes, exact in the dtype of the angles (float64 by default). The conditioner starts at the identity map.
"""

from __future__ import annotations

import math

import normflows as nf
import torch
from normflows.utils.splines import unconstrained_rational_quadratic_spline

from samplers.flows.conditioner import ParticleConditioner

#: Unconstrained slope that normflows' spline maps to a slope of 1: min_derivative (1e-3) + softplus(c) = 1.
IDENTITY_SLOPE = math.log(math.expm1(1.0 - 1e-3))


class CircularSplineCoupling(nf.flows.Flow):
    """Transforms axis ``axis`` of the free particles' angles (B, M, d) given the other axes; see the module.

    Parameters
    ----------
    axis : int
        The transformed axis.
    tokens : Tensor (M + 1,) int64
        Species tokens of the nodes: the pinned particle (token n_types) first, then the free particles' species.
    box : Tensor (d,)
        Box edges (the conditioner measures in-plane distances).
    n_bins : int
        Spline bins K.
    **conditioner : passed to ParticleConditioner (hidden, passes, n_frequencies, n_radial, messages,
        temperature_conditioned).
    """

    def __init__(self, axis: int, tokens: torch.Tensor, box: torch.Tensor, n_types: int, *, n_bins: int = 8,
                 **conditioner):
        super().__init__()
        box = torch.as_tensor(box, dtype=torch.float64).reshape(-1)
        self.axis, self.n_bins, self.dim = int(axis), int(n_bins), box.numel()
        self.fixed = [a for a in range(self.dim) if a != self.axis]
        self.register_buffer("tokens", torch.as_tensor(tokens, dtype=torch.int64).clone())
        self.conditioner = ParticleConditioner(n_types, len(self.fixed), 3 * self.n_bins, box[self.fixed],
                                               **conditioner)
        with torch.no_grad():
            self.conditioner.head[-1].bias[2 * self.n_bins:] = IDENTITY_SLOPE

    def __repr__(self) -> str:
        return f"CircularSplineCoupling(axis {self.axis}, {self.n_bins} bins | {self.conditioner.size} weights)"

    def _spline(self, angles: torch.Tensor, context, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n_conf = angles.shape[0]
        fixed = angles[..., self.fixed]
        pinned = torch.full_like(fixed[:, :1], -math.pi)
        log_temperature = None if context is None else torch.log(context).reshape(n_conf, 1)
        parameters = self.conditioner(torch.cat([pinned, fixed], 1), self.tokens, log_temperature).to(angles.dtype)
        widths, heights, slopes = parameters.split(self.n_bins, -1)
        new, log_slope = unconstrained_rational_quadratic_spline(
            angles[..., self.axis], widths, heights, slopes, inverse=inverse, tails="circular", tail_bound=math.pi)
        out = angles.clone()
        out[..., self.axis] = new
        return out, log_slope.sum(-1)

    def forward(self, z: torch.Tensor, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent side to configuration side: (angles, log |det|)."""
        return self._spline(z, context, inverse=False)

    def inverse(self, z: torch.Tensor, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Configuration side to latent side: (angles, log |det| of this inverse map)."""
        return self._spline(z, context, inverse=True)
