"""Dynamical labels computed from isoconfigurational replica positions."""

from __future__ import annotations

import numpy as np

from glassgen.errors import InvalidInputError


def propensity_from_replicas(initial: np.ndarray, replicas: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Propensity of displacement R_i = < |r_i(t) - r_i(0)| > over replicas (REFERENCE.md section 2).

    The displacement is taken in the minimum image, so wrapped and unwrapped replica positions give the same
    result as long as no particle moves more than half a box edge.

    Parameters
    ----------
    initial : ndarray of shape (N, d)
        Positions at t = 0, shared by all replicas.
    replicas : ndarray of shape (R, N, d)
        Positions of each replica at time t.
    box : ndarray of shape (d,)
        Edge lengths of the orthorhombic periodic box.

    Returns
    -------
    ndarray of shape (N,), float64
    """
    initial = np.asarray(initial, dtype=np.float64)
    replicas = np.asarray(replicas, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    if initial.ndim != 2 or replicas.ndim != 3 or replicas.shape[1:] != initial.shape or box.shape != initial.shape[1:]:
        raise InvalidInputError(
            f"propensity_from_replicas needs initial (N, d), replicas (R, N, d) and box (d,) of matching N and d; "
            f"got {initial.shape}, {replicas.shape} and {box.shape}."
        )
    if len(replicas) == 0:
        raise InvalidInputError("propensity_from_replicas needs at least one replica; got R = 0.")
    displacement = replicas - initial
    displacement -= box * np.round(displacement / box)
    return np.linalg.norm(displacement, axis=-1).mean(axis=0)
