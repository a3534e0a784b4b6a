"""Dynamical labels computed from isoconfigurational replica positions: the propensity, and BOTAN's edge target."""

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
    return np.linalg.norm(_displacements(initial, replicas, box), axis=-1).mean(axis=0)


def _displacements(initial: np.ndarray, replicas: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """r_i(t) - r_i(0) of every replica (R, N, d), at the minimum image when a ``box`` is given."""
    displacement = replicas - initial
    if box is not None:
        box = np.asarray(box, dtype=np.float64)
        displacement -= box * np.round(displacement / box)
    return displacement


def edge_change_from_replicas(initial: np.ndarray, replicas: np.ndarray, box: np.ndarray, *,
                              wrapped: bool) -> tuple[np.ndarray, np.ndarray]:
    """BOTAN's edge target <|r_ij(t)| - |r_ij(0)|> over replicas for the pairs closer than 2.0 at t = 0, the pairs
    of ``glassgen label --edges`` (REFERENCE.md section 5).

    Each pair keeps its t = 0 image, moved by the two particles' displacements (minimum-image displacements of
    ``wrapped`` replicas, plain ones of unwrapped replicas), so the result is that of the labelling's unwrapped
    trajectories wherever no particle moved half a box edge.

    Parameters
    ----------
    initial : ndarray of shape (N, d)
    replicas : ndarray of shape (R, N, d)
    box : ndarray of shape (d,)
    wrapped : bool
        Whether the replica positions were wrapped into the box.

    Returns
    -------
    pairs : ndarray of shape (P, 2), int64
        Particle pairs (i < j), as :func:`glassgen.systems.neighbors.pairs_within` gives them.
    change : ndarray of shape (P,), float64
    """
    from glassgen.dynamics.isoconfig import EDGE_RANGE
    from glassgen.systems.neighbors import pairs_within

    initial = np.asarray(initial, dtype=np.float64)
    i, j, separation = (v.numpy() for v in pairs_within(initial, box, EDGE_RANGE))
    r0 = np.linalg.norm(separation, axis=-1)
    change = np.zeros_like(r0)
    for displacement in _displacements(initial, np.asarray(replicas, dtype=np.float64), box if wrapped else None):
        change += np.linalg.norm(separation + displacement[j] - displacement[i], axis=-1) - r0
    return np.stack([i, j], axis=1), change / len(replicas)


def stack_edge_targets(pairs: list[np.ndarray], change: list[np.ndarray]) -> dict:
    """Per-configuration edge targets, pairs (P_m, 2) and change (K, P_m), as the dataset extras ``edge_pairs``
    (M, P, 2) and ``edge_change`` (M, K, P): the numbers of pairs differ, so they are padded to the largest, with
    pairs (-1, -1) marking padding."""
    width = max(len(p) for p in pairs)
    padded_pairs = np.full((len(pairs), width, 2), -1, dtype=np.int64)
    padded_change = np.zeros((len(pairs), change[0].shape[0], width))
    for k, (p, c) in enumerate(zip(pairs, change)):
        padded_pairs[k, : len(p)] = p
        padded_change[k, :, : len(p)] = c
    return {"edge_pairs": padded_pairs, "edge_change": padded_change}
