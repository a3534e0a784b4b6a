"""Dynamical labels computed from isoconfigurational replica positions."""

from __future__ import annotations

import numpy as np

from glassgen.errors import InvalidInputError


def propensity_from_replicas(initial: np.ndarray, replicas: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """Propensity of displacement R_i = < |r_i(t) - r_i(0)| > over replicas (REFERENCE.md section 2).

    With a box the displacement is taken in the minimum image, so wrapped and unwrapped positions give the same
    result as long as no particle moves more than half a box edge; without one (``box=None``) the positions must be
    unwrapped and any displacement is exact.

    Parameters
    ----------
    initial : ndarray of shape (N, d)
        Positions at t = 0, shared by all replicas.
    replicas : ndarray of shape (R, N, d)
        Positions of each replica at time t.
    box : ndarray of shape (d,) or None
        Edge lengths of the orthorhombic periodic box; None for unwrapped positions.

    Returns
    -------
    ndarray of shape (N,), float64
    """
    initial = np.asarray(initial, dtype=np.float64)
    replicas = np.asarray(replicas, dtype=np.float64)
    box_shape = None if box is None else np.shape(box)
    if initial.ndim != 2 or replicas.ndim != 3 or replicas.shape[1:] != initial.shape or \
            box_shape not in (None, initial.shape[1:]):
        raise InvalidInputError(
            f"propensity_from_replicas needs initial (N, d), replicas (R, N, d) and box (d,) or None of matching N "
            f"and d; got {initial.shape}, {replicas.shape} and {box_shape}."
        )
    if len(replicas) == 0:
        raise InvalidInputError("propensity_from_replicas needs at least one replica; got R = 0.")
    displacement = replicas - initial
    if box is not None:
        box = np.asarray(box, dtype=np.float64)
        displacement -= box * np.round(displacement / box)
    return np.linalg.norm(displacement, axis=-1).mean(axis=0)
