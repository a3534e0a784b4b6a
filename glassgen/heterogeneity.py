"""Dynamic heterogeneity of propensity fields, per temperature: what the joined job measures on predicted fields.

A temperature-transferable predictor turns configurations at temperatures molecular dynamics cannot relax into
propensity fields at times in units of tau_alpha(T). Their heterogeneity is summarised the way GlassBench summarises
true fields, so that predicted and true values sit side by side where labels exist:

- chi_4, GlassBench's susceptibility of the thresholded field over configurations
  (:func:`glassgen.dynamics.observables.chi4_propensity`, threshold :data:`glassgen.bench.metrics.CHI4_THRESHOLD`);
- a dynamic correlation length xi, from the decay of the spatial correlation C(r) of the field over pairs of type-A
  particles (:func:`spatial_correlation`, :func:`correlation_length`).

The values are those of the ensemble's mean field (the prediction a user keeps); their uncertainty is the spread of
the same quantity over the ensemble's members, which grows where the members disagree, e.g. far below the training
temperatures.
"""

from __future__ import annotations

import math

import numpy as np

from glassgen.errors import InvalidInputError

#: Pairs closer than this are ignored when fitting the decay of C(r): below the first neighbour shell C(r) holds no
#: pairs, and within it the packing, not the dynamics, shapes the correlation.
FIT_FROM = 1.0
#: C(r) is fitted down to this value: below it the pooled correlation of a few configurations is mostly noise.
FIT_FLOOR = 0.05


def spatial_correlation(fields, positions, box, types, *, species: int = 0, r_max: float | None = None,
                        bin_width: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised spatial correlation of per-particle fields over pairs of ``species`` particles.

    ``C(r) = sum_pairs dy_i dy_j / n_pairs(r) / <dy^2>``, with ``dy`` the field less its mean over the ``species``
    particles of all M configurations (the ensemble average, as for the dynamic correlation G_4(r); a mean per
    configuration would pull C(r) down by about the correlation volume over the box volume), pooled over
    configurations; C(0) = 1 by construction and C(r) -> 0 for independent fields.

    Parameters
    ----------
    fields : array (M, K, N)
        K fields (e.g. times) per configuration.
    positions : array (M, N, d)
    box : array (d,)
    types : array (N,)
    species : int
        Species whose pairs are counted (type A by GlassBench's convention).
    r_max : float, optional
        Largest separation; half the shortest box edge by default, at most 10.
    bin_width : float

    Returns
    -------
    r : (B,) bin centres; C : (K, B), NaN in bins without pairs; pairs : (B,) pairs counted per bin.
    """
    from glassgen.systems.neighbors import pairs_within

    fields = np.asarray(fields, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    if fields.ndim != 3 or positions.ndim != 3 or fields.shape[0] != positions.shape[0] \
            or fields.shape[2] != positions.shape[1]:
        raise InvalidInputError(f"fields (M, K, N) and positions (M, N, d) must describe the same particles; got "
                                f"{fields.shape} and {positions.shape}.")
    half_box = float(box.min()) / 2
    r_max = min(half_box, 10.0) if r_max is None else float(r_max)
    if not 0 < r_max <= half_box or bin_width <= 0:
        raise InvalidInputError(f"r_max must lie in (0, {half_box:g}] (half the box) and bin_width be positive; got "
                                f"r_max={r_max}, bin_width={bin_width}.")
    chosen = np.asarray(types) == species
    if chosen.sum() < 2:
        raise InvalidInputError(f"the configurations hold fewer than 2 particles of species {species}.")
    n_bins = int(math.ceil(r_max / bin_width))
    k = fields.shape[1]
    products, pairs, squares, count = np.zeros((k, n_bins)), np.zeros(n_bins), np.zeros(k), 0
    mean = fields[:, :, chosen].mean(axis=(0, 2))[:, None]
    for field, x in zip(fields, positions):
        dy = field[:, chosen] - mean
        i, j, separation = (t.numpy() for t in pairs_within(x[chosen], box, r_max))
        bins = np.minimum((np.linalg.norm(separation, axis=1) / bin_width).astype(np.int64), n_bins - 1)
        pairs += np.bincount(bins, minlength=n_bins)
        for column in range(k):
            products[column] += np.bincount(bins, weights=dy[column, i] * dy[column, j], minlength=n_bins)
        squares += (dy ** 2).sum(axis=1)
        count += dy.shape[1]
    variance = squares / count
    if (variance <= 0).any():
        raise InvalidInputError("a field is constant over the particles, so it has no spatial correlation.")
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = products / pairs / variance[:, None]
    return (np.arange(n_bins) + 0.5) * bin_width, correlation, pairs


def correlation_length(r, correlation, pairs=None, *, fit_from: float = FIT_FROM, floor: float = FIT_FLOOR) -> float:
    """Decay length xi of ``C(r) ~ A exp(-r / xi)``, fitted to log C from ``fit_from`` to where C first drops below
    ``floor`` (weighted by the pairs per bin); NaN where fewer than 3 bins qualify (a field without spatial
    correlation beyond the first shell, or a window too short)."""
    r, correlation = np.asarray(r, dtype=np.float64), np.asarray(correlation, dtype=np.float64)
    weights = np.ones_like(r) if pairs is None else np.asarray(pairs, dtype=np.float64)
    start = np.flatnonzero((r >= fit_from) & (weights > 0))
    if start.size == 0:
        return math.nan
    window = r >= r[start[0]]
    below = np.flatnonzero(window & ~(correlation > floor))  # NaN bins end the window too
    end = below[0] if below.size else len(r)
    keep = np.arange(start[0], end)
    if keep.size < 3:
        return math.nan
    slope = np.polyfit(r[keep], np.log(correlation[keep]), 1, w=np.sqrt(weights[keep]))[0]
    return float(-1.0 / slope) if slope < 0 else math.inf


def field_lengths(fields, positions, box, types, **options) -> np.ndarray:
    """xi of each of the K fields (M, K, N): :func:`correlation_length` of :func:`spatial_correlation`, shape (K,)."""
    r, correlation, pairs = spatial_correlation(fields, positions, box, types, **options)
    return np.array([correlation_length(r, c, pairs) for c in correlation])


def heterogeneity(members, data, times, *, truth=None, species: int = 0) -> list[dict]:
    """Per temperature of ``data``: chi_4 and xi of the ensemble's mean field at each time, with their spread over
    the members, and the same of the true field where ``truth`` is given.

    Parameters
    ----------
    members : array (E, M, K, N)
        Predicted fields of each member of an ensemble (E = 1 for one model: no spread).
    data : Dataset
        The M configurations (positions, box, types and their temperatures).
    times : sequence of K floats
        The times of the fields (keys of the result).
    truth : array (M, K, N), optional
        True labels at the same times: their chi_4 and xi, and the Pearson correlation over ``species``.

    Returns
    -------
    list of dicts, one per temperature (ascending; one entry with temperature None when unknown):
    ``temperature``, ``n_configurations``, ``chi4`` / ``chi4_std`` / ``chi4_true`` and ``length`` / ``length_std`` /
    ``length_true`` ({time: value}; chi_4 is None with a single configuration, since it is a variance over
    configurations), ``pearson`` ({time: value} with ``truth``), ``threshold``.
    """
    from glassgen.bench.metrics import CHI4_THRESHOLD, pearson
    from glassgen.bench.tasks import key
    from glassgen.dynamics.observables import chi4_propensity

    members = np.asarray(members, dtype=np.float64)
    threshold = CHI4_THRESHOLD[data.dim]
    temperatures = data.configuration_temperatures
    groups = [(None, np.arange(data.n_configurations))] if temperatures is None else \
        [(t, np.flatnonzero(np.isclose(temperatures, t))) for t in data.distinct_temperatures]
    keys = [key(t) for t in times]

    def chi4(fields):
        return chi4_propensity(fields, data.types, threshold, species=species) if len(fields) > 1 else None

    def lengths(fields, rows):
        """xi of each of F sets of K fields (F, M, K, N) -> (F, K), from one neighbour search per configuration."""
        stacked = np.concatenate(fields, axis=1)  # the K columns of every set side by side: (M, F K, N)
        xi = field_lengths(stacked, data.positions[rows], data.box, data.types, species=species)
        return xi.reshape(len(fields), len(keys))

    def by_time(values):
        return None if values is None else {k: float(v) for k, v in zip(keys, values)}

    summaries = []
    for temperature, rows in groups:
        mean = members[:, rows].mean(axis=0)
        spread = len(members) > 1
        true = None if truth is None else np.asarray(truth, dtype=np.float64)[rows]
        xi = lengths([mean, *(members[:, rows] if spread else []), *([] if true is None else [true])], rows)
        summary = {"temperature": temperature, "n_configurations": len(rows), "threshold": threshold,
                   "chi4": by_time(chi4(mean)), "length": by_time(xi[0])}
        if spread:
            summary["chi4_std"] = by_time(None if len(rows) < 2 else np.std([chi4(m) for m in members[:, rows]], 0))
            summary["length_std"] = by_time(np.std(xi[1:1 + len(members)], 0))
        if true is not None:
            summary.update(chi4_true=by_time(chi4(true)), length_true=by_time(xi[-1]),
                           pearson=by_time(pearson(mean, true, data.types, species)))
        summaries.append(summary)
    return summaries


def predict_dynamics(predictor, data, times=None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Predict the propensity fields of ``data`` at ``times`` and measure their heterogeneity per temperature.

    Parameters
    ----------
    predictor : a fitted predictor (:func:`glassgen.predictors.load_predictor`), for a temperature below its
        training range one trained with temperature as an input and in units of tau_alpha.
    data : Dataset
        Configurations at one or more temperatures (a sampler's output, npz files, a shipped dataset).
    times : sequence of float, optional
        Some of the predictor's label times (in its unit); all by default.

    Returns
    -------
    (members (E, M, K, N), times (K,), summaries): each member's fields at ``times`` and :func:`heterogeneity` of
    them, with the data's true labels beside where it has them at these times in the predictor's unit, and
    ``below_training``: how far each temperature lies below the coldest the predictor was trained at (None when not
    below, or unknown).
    """
    from glassgen.bench.metrics import time_index

    trained = np.asarray(predictor.times_, dtype=np.float64)
    columns = list(range(len(trained))) if times is None else [time_index(trained, t) for t in times]
    members = predictor.predict_members(data)[:, :, columns]
    truth = field_at(data, predictor.label, trained[columns], predictor.time_unit_)
    summaries = heterogeneity(members, data, trained[columns], truth=truth)
    coldest = min(predictor.provenance_.get("training_temperatures") or [math.nan])
    for summary in summaries:  # how far below the training range: NaN comparisons are False, so unknown is None
        below = None if summary["temperature"] is None else coldest - summary["temperature"]
        summary["below_training"] = below if below is not None and below > 0 else None
    return members, trained[columns], summaries


def field_at(data, name: str, times, unit: str) -> np.ndarray | None:
    """The data's field ``name`` (a label or stored prediction) at ``times`` in ``unit``, (M, K, N), or None where
    it lacks them: in another unit the same numbers are other moments."""
    from glassgen.bench.metrics import time_index

    labels = getattr(data, name)
    if labels is None or data.time_unit != unit or data.times is None:
        return None
    try:
        return labels[:, [time_index(data.times, t) for t in times]]
    except InvalidInputError:  # the data's times are others
        return None
