"""GlassBench metrics of a predicted per-particle field against its label: numpy in, numbers out.

Conventions of REFERENCE.md section 2. Fields have shape ``(M, K, N)`` (M configurations, K label times, N
particles) and ``types`` shape ``(N,)``, 0-based, shared by the configurations (as in `glassgen.io.Dataset`).
Every metric scores one species (type A, species 0, by default) and pools its particles over all configurations:
one number per time from the M * N_A pairs, never an average of per-configuration numbers (those read higher on
GlassBench), and species are never mixed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from glassgen.dynamics.observables import _as_float64, _species_mask, chi4_propensity, noise_ceiling
from glassgen.errors import InvalidInputError

__all__ = ["CHI4_SCALES", "CHI4_THRESHOLD", "Chi4Pair", "chi4_pair", "pearson", "r2", "rho_max", "time_index"]

#: GlassBench's threshold a on the propensity for chi_4, per dimension (REFERENCE.md: which exact value the roadmap
#: used is unverified).
CHI4_THRESHOLD = {2: 0.4, 3: 0.44}

#: How :func:`chi4_pair` puts the prediction on the scale of the label before thresholding.
CHI4_SCALES = ("raw", "rank")


def _fields(pred, true, types, species: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked (K, M * N_s) arrays of prediction and label over the particles of ``species``, pooled."""
    pred = _as_float64(pred, "pred")
    true = _as_float64(true, "true")
    if pred.ndim != 3 or pred.shape != true.shape:
        raise InvalidInputError(
            f"pred and true must both have shape (M, K, N) (configurations, times, particles); got pred {pred.shape} "
            f"and true {true.shape}. For one time add the axis: x[:, None]."
        )
    if isinstance(species, bool) or not isinstance(species, (int, np.integer)):
        raise InvalidInputError(f"species must be one int (species are never mixed); got {species!r}.")
    mask = _species_mask(types, int(species), pred.shape[-1])
    k = pred.shape[1]
    return pred[..., mask].transpose(1, 0, 2).reshape(k, -1), true[..., mask].transpose(1, 0, 2).reshape(k, -1)


def _check_spread(values: np.ndarray, name: str) -> None:
    """A correlation needs values that vary at every time."""
    flat = np.ptp(values, axis=1) == 0
    if flat.any():
        raise InvalidInputError(
            f"{name} is constant over the scored particles at time index {int(np.argmax(flat))}; a correlation is "
            "undefined. Check that the predictor was fitted and the label computed."
        )


def pearson(pred, true, types, species: int = 0) -> np.ndarray:
    """Pearson correlation rho_P of prediction and label per time, over one species pooled over configurations.

    Parameters
    ----------
    pred, true : ndarray of shape (M, K, N)
        Predicted and true field (e.g. propensity) of every particle at K times.
    types : ndarray of shape (N,)
        0-based species of each particle.
    species : int, default 0
        The species scored (GlassBench: type A).

    Returns
    -------
    ndarray of shape (K,)
    """
    x, y = _fields(pred, true, types, species)
    _check_spread(x, "pred")
    _check_spread(y, "true")
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    return (x * y).sum(axis=1) / np.sqrt(np.square(x).sum(axis=1) * np.square(y).sum(axis=1))


def r2(pred, true, types, species: int = 0) -> np.ndarray:
    """Coefficient of determination ``1 - sum (y - yhat)^2 / sum (y - mean y)^2`` per time, pooled like `pearson`.

    Unlike rho_P it punishes a prediction on the wrong scale or with an offset (it can be negative), so it tells
    whether a predictor reproduces the label itself, not just its ranking.

    Parameters
    ----------
    pred, true, types, species
        As in :func:`pearson`.

    Returns
    -------
    ndarray of shape (K,)
    """
    x, y = _fields(pred, true, types, species)
    _check_spread(y, "true")
    residual = np.square(y - x).sum(axis=1)
    return 1.0 - residual / np.square(y - y.mean(axis=1, keepdims=True)).sum(axis=1)


class Chi4Pair(NamedTuple):
    """GlassBench chi_4 of the predicted and of the true field, computed the same way; each of shape (K,)."""

    predicted: np.ndarray
    true: np.ndarray


def chi4_pair(pred, true, types, a: float, *, species: int = 0, smooth: bool = False,
              scale: str = "raw") -> Chi4Pair:
    """GlassBench chi_4 = Var_configs(sum_{i in A} q_i) / N_A of prediction and label, q_i = Theta(R_i - a).

    Both fields go through :func:`glassgen.dynamics.observables.chi4_propensity` with the same threshold.

    ``scale="raw"`` (default) thresholds the prediction as it is. This is GlassBench's comparison and the right one
    for a predictor trained on the label: it is on the label's scale, and a prediction squeezed towards the mean (the
    over-smoothing of GNNs) marks too few or too many particles mobile, which is what chi_4 is meant to reveal.
    ``scale="rank"`` first replaces the prediction by the label's values in the prediction's rank order, pooled over
    all configurations at each time (quantile matching): both fields then have the same histogram and chi_4 only
    measures whether the predicted mobile particles cluster in the same configurations. Use it for fields on another
    scale (physical descriptors such as an energy), where a threshold on the raw values means nothing. The pooling
    keeps the configuration-to-configuration differences that chi_4 measures; a per-configuration mapping would
    erase them.

    Parameters
    ----------
    pred, true : ndarray of shape (M, K, N)
        Predicted and true field, M >= 2 configurations.
    types : ndarray of shape (N,)
        0-based species.
    a : float
        Threshold on the propensity (:data:`CHI4_THRESHOLD`: 0.44 in 3D, 0.4 in 2D).
    species : int, default 0
        Species summed over.
    smooth : bool, default False
        Use the step (tanh(20 (R - a)) + 1) / 2 instead of the hard one.
    scale : {"raw", "rank"}, default "raw"
        How the prediction is compared, see above.

    Returns
    -------
    Chi4Pair
        ``predicted`` and ``true``, each of shape (K,).
    """
    if scale not in CHI4_SCALES:
        raise InvalidInputError(f"scale must be one of {CHI4_SCALES}; got {scale!r}.")
    x, y = _fields(pred, true, types, species)
    if scale == "rank":
        ranked = np.empty_like(x)
        np.put_along_axis(ranked, np.argsort(x, axis=1, kind="stable"), np.sort(y, axis=1), axis=1)
        x = ranked
    m = np.shape(pred)[0]
    selected = np.zeros(x.shape[1] // m, dtype=np.int64)  # the scored particles only, as species 0
    pair = [chi4_propensity(v.reshape(len(v), m, -1).transpose(1, 0, 2), selected, a, smooth=smooth, species=0)
            for v in (x, y)]
    return Chi4Pair(*pair)


def rho_max(replica_labels, types, species: int = 0, *, n_splits: int = 20, seed: int = 0) -> np.ndarray:
    """Noise ceiling rho_max per time: the best rho_P a perfect predictor reaches with labels of R replicas.

    Wraps :func:`glassgen.dynamics.observables.noise_ceiling` (split-half correlation of the replica averages,
    Spearman-Brown corrected, square root), over the particles of one species pooled over configurations.
    :func:`glassgen.bench.replicas.replica_displacements` reads the per-replica |dr| from npz files.

    Parameters
    ----------
    replica_labels : ndarray of shape (M, K, R, N)
        Per-replica label (e.g. |dr_i|) of each configuration, time and replica; R >= 2.
    types : ndarray of shape (N,)
        0-based species.
    species : int, default 0
        The species scored.
    n_splits : int, default 20
        Random half splits averaged at each time.
    seed : int, default 0
        Seed of the random splits.

    Returns
    -------
    ndarray of shape (K,)
    """
    labels = _as_float64(replica_labels, "replica_labels")
    if labels.ndim != 4:
        raise InvalidInputError(
            f"replica_labels must have shape (M, K, R, N) (configurations, times, replicas, particles); got "
            f"{labels.shape}."
        )
    mask = _species_mask(types, species, labels.shape[-1])
    return np.array([noise_ceiling(labels[:, k], mask, n_splits=n_splits, seed=seed)
                     for k in range(labels.shape[1])])


def time_index(times, time: float) -> int:
    """Index of ``time`` in the label times (relative tolerance 1e-6), or an error listing the times there are."""
    if times is None:
        raise InvalidInputError(
            f"time {time:g} was asked for, but the labels have no times; load the data with times=... .")
    times = np.asarray(times, dtype=np.float64)
    try:
        time = float(time)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"time must be a number; got {time!r}.") from err
    hits = np.flatnonzero(np.isclose(times, time, rtol=1e-6, atol=0.0))
    if not math.isfinite(time) or hits.size == 0:
        raise InvalidInputError(
            f"time {time:g} is not a label time; the labels have times {[float(f'{t:g}') for t in times]}."
        )
    return int(hits[0])
