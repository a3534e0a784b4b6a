"""GlassBench tasks: score a prediction on a labelled dataset, and the temperature-transfer matrix.

Results are plain JSON-ready dicts (numbers as Python floats, times and temperatures as ``%g`` strings so that keys
are stable), which :func:`glassgen.bench.report.write_report` turns into tables and figures. Predictors are used by
duck type: ``predict(dataset) -> ndarray (M, K, N)``; this module never imports ``glassgen.predictors``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from glassgen.bench.metrics import CHI4_THRESHOLD, chi4_pair, pearson, r2, time_index
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset
from glassgen.io.dataset import LABELS

__all__ = ["TAU_ALPHA", "evaluate", "label_time", "transfer_matrix", "transfer_task", "true_labels"]

#: tau_alpha of the GlassBench temperatures per (dimension, T), REFERENCE.md section 1.
TAU_ALPHA = {(3, 0.64): 16.5, (3, 0.56): 52.0, (3, 0.50): 217.0, (3, 0.44): 4120.0, (2, 0.30): 2200.0,
             (2, 0.23): 918306.0}

#: Why a raw descriptor gets no R^2 (``evaluate(..., report_r2=False)``).
_NO_R2 = ("not reported for a raw descriptor: it is not in the label's units (an energy, a density), so R^2 would "
          "measure its scale, not its prediction; rho_P and chi_4 on the rank scale score it")


def key(value: float) -> str:
    """The JSON key of a time or temperature: ``%g``."""
    return f"{float(value):g}"


def true_labels(dataset: Dataset, label: str) -> np.ndarray:
    """The dataset's true ``label`` (M, K, N), the only truth a score is measured against (never its predictions).

    Called before any expensive work (descriptors, predictions), so unlabelled data fail at once, in one line.
    """
    if label not in LABELS:
        raise InvalidInputError(f"label must be one of {LABELS}; got {label!r}.")
    values = getattr(dataset, label)
    if values is None:
        other = [name for name in LABELS if getattr(dataset, name) is not None]
        predicted = f" (predicted_{label} holds predictions, not the truth)" if getattr(
            dataset, f"predicted_{label}") is not None else ""
        fix = f"score its {other[0]} labels instead, or " if other else ""
        raise InvalidInputError(f"the data hold no true {label} labels to score against{predicted}; {fix}label it "
                                "with glassgen label first.")
    if dataset.times is None:
        raise InvalidInputError(
            "the dataset's labels have no times; load it with times=... (the source's times_{T}.dat table)."
        )
    return values


def evaluate(predictions, dataset: Dataset, species: int = 0, *, times=None, label: str = "propensity",
             a: float | None = None, smooth: bool = False, chi4_scale: str = "raw", report_r2: bool = True,
             n_sample: int = 1000, seed: int = 0) -> dict:
    """Score predictions against a dataset's label: rho_P, R^2 and chi_4 at every label time, one species pooled.

    Parameters
    ----------
    predictions : ndarray of shape (M, K, N)
        Prediction for every configuration, label time and particle of ``dataset`` (``predictor.predict(dataset)``).
    dataset : Dataset
        Labelled configurations, with label times.
    species : int, default 0
        Species scored (GlassBench: type A).
    times : sequence of float, optional
        The label times of the K predictions, each one of the dataset's (e.g. ``predictor.times_`` of a predictor
        fitted on some times only); default: all the dataset's times.
    label : {"propensity", "bond_breaking"}, default "propensity"
        The label compared with.
    a : float, optional
        chi_4 threshold; default :data:`~glassgen.bench.metrics.CHI4_THRESHOLD` of the dataset's dimension.
    smooth : bool, default False
        tanh step for chi_4 instead of the hard one.
    chi4_scale : {"raw", "rank"}, default "raw"
        How the prediction enters chi_4 (:func:`~glassgen.bench.metrics.chi4_pair`).
    report_r2 : bool, default True
        False for a raw descriptor, which is not in the label's units: R^2 would measure its scale, not how well it
        predicts; its ``r2`` values are then None and ``r2_omitted`` says why.
    n_sample : int, default 1000
        Particles of the species kept (at random, the same at every time) for scatter plots; 0 keeps none.
    seed : int, default 0
        Seed of that subsample.

    Returns
    -------
    dict
        ``pearson`` and ``r2``: {time: value} (``r2`` values None and ``r2_omitted``: the reason, when not
        ``report_r2``); ``chi4``: {"predicted": {time: value}, "true": {...}, "threshold",
        "smooth", "scale"}, or None with fewer than 2 configurations; ``n_configurations``; ``n_particles_scored``
        (M times the particles of the species); ``times``, ``species``, ``label``, ``model``, ``temperature``;
        ``sample``: {"true": [K lists], "predicted": [K lists]} when ``n_sample`` > 0.
    """
    true = true_labels(dataset, label)
    if times is not None:
        true = true[:, [time_index(dataset.times, t) for t in np.atleast_1d(times)]]
    times = dataset.times if times is None else np.atleast_1d(np.asarray(times, dtype=np.float64))
    pred = np.asarray(predictions, dtype=np.float64)
    if pred.shape != true.shape:
        raise InvalidInputError(
            f"predictions must have the shape of the dataset's {label} at the times scored, (M, K, N) = {true.shape}; "
            f"got {pred.shape}. Pass times=predictor.times_ for a predictor fitted on some times only."
        )
    keys = [key(t) for t in times]
    result = {
        "model": dataset.model, "temperature": dataset.temperature, "label": label, "species": int(species),
        "times": [float(t) for t in times], "time_unit": dataset.time_unit,
        "pearson": dict(zip(keys, pearson(pred, true, dataset.types, species).tolist())),
        "r2": dict(zip(keys, r2(pred, true, dataset.types, species).tolist())) if report_r2 else dict.fromkeys(keys),
        "chi4": None,
        "n_configurations": dataset.n_configurations,
        "n_particles_scored": int(dataset.n_configurations * np.count_nonzero(dataset.types == species)),
    }
    if not report_r2:
        result["r2_omitted"] = _NO_R2
    if dataset.n_configurations >= 2:
        a = CHI4_THRESHOLD[dataset.dim] if a is None else float(a)
        chi4 = chi4_pair(pred, true, dataset.types, a, species=species, smooth=smooth, scale=chi4_scale)
        result["chi4"] = {"threshold": a, "smooth": bool(smooth), "scale": chi4_scale,
                          "predicted": dict(zip(keys, chi4.predicted.tolist())),
                          "true": dict(zip(keys, chi4.true.tolist()))}
    if n_sample > 0:
        rng = np.random.default_rng(seed)
        m, i = np.nonzero(np.broadcast_to(dataset.types == species, (dataset.n_configurations, dataset.n_particles)))
        pick = rng.choice(len(m), size=min(int(n_sample), len(m)), replace=False)
        result["sample"] = {"true": true[m[pick], :, i[pick]].T.tolist(),
                            "predicted": pred[m[pick], :, i[pick]].T.tolist()}
    return result


def label_time(times, temperature: float | None, dim: int, time="tau_alpha", tau_alpha: float | None = None) -> float:
    """The label time to score at: ``time`` itself, or the label time nearest tau_alpha (in log t).

    Parameters
    ----------
    times : ndarray of shape (K,)
        The label times.
    temperature : float or None
        Temperature of the labels (to look up ``time`` by temperature or tau_alpha).
    dim : int
        Dimension of the model (the :data:`TAU_ALPHA` table is per dimension).
    time : float, mapping of temperature to float, or "tau_alpha"
        A label time; one per temperature; or "tau_alpha": ``tau_alpha`` if given, else :data:`TAU_ALPHA`.
    tau_alpha : float, optional
        The structural relaxation time of these labels, where known (e.g. ``dataset.metadata["tau_alpha"]``).

    Returns
    -------
    float, one of ``times``
    """
    if times is None:
        raise InvalidInputError("the labels have no times; load the dataset with times=... .")
    times = np.asarray(times, dtype=np.float64)
    if isinstance(time, Mapping):
        found = [v for t, v in time.items() if temperature is not None and math.isclose(float(t), temperature)]
        if not found:
            raise InvalidInputError(f"time has no entry for T = {temperature}; it has {sorted(time)}. Add one.")
        time = found[0]
    if not isinstance(time, str):
        return float(times[time_index(times, time)])
    if time != "tau_alpha":
        raise InvalidInputError(f"time must be a number, a dict by temperature or 'tau_alpha'; got {time!r}.")
    if tau_alpha is None:
        tau_alpha = next((v for (d, t), v in TAU_ALPHA.items()
                          if d == dim and temperature is not None and math.isclose(t, temperature)), None)
    if tau_alpha is None:
        raise InvalidInputError(
            f"no tau_alpha known for {dim}D labels at T = {temperature}; set dataset.metadata['tau_alpha'] or pass "
            "the time explicitly."
        )
    return float(times[np.argmin(np.abs(np.log(times / tau_alpha)))])


def _dataset_time(dataset: Dataset, time, temperature: float) -> float:
    """``time`` of :func:`label_time` for the dataset; in units of tau_alpha, tau_alpha itself is 1."""
    tau = 1.0 if dataset.time_unit == "tau_alpha" else dataset.metadata.get("tau_alpha")
    return label_time(dataset.times, temperature, dataset.dim, time, tau)


def transfer_matrix(predictors_by_T: Mapping, datasets_by_T: Mapping, time="tau_alpha", *, species: int = 0,
                    label: str = "propensity") -> dict:
    """rho_P of predictors trained at each temperature (rows) on the datasets of each temperature (columns).

    Each test temperature is scored at its own label time (:func:`label_time`), and each predictor's output column
    is the one of its training temperature's time chosen by the same rule (GlassBench: trained and tested at the
    respective tau_alpha). A predictor's times are its ``times_`` attribute, else those of ``datasets_by_T`` at its
    training temperature, else its only output column.

    Parameters
    ----------
    predictors_by_T : mapping of float to predictor
        Fitted predictors by training temperature; ``predict(dataset) -> ndarray (M, K_train, N)``.
    datasets_by_T : mapping of float to Dataset
        Labelled test datasets by temperature.
    time : float, mapping of temperature to float, or "tau_alpha"
        As in :func:`label_time`.
    species : int, default 0
        Species scored.
    label : {"propensity", "bond_breaking"}, default "propensity"

    Returns
    -------
    dict
        ``train_temperatures`` and ``test_temperatures`` (%g strings), ``train_times`` and ``test_times``
        ({temperature: time}), ``pearson``: list of rows, one per training temperature, ``species``, ``label``.
    """
    if not predictors_by_T or not datasets_by_T:
        raise InvalidInputError("transfer_matrix needs at least one predictor and one dataset; got an empty mapping.")
    test_times = {t: _dataset_time(ds, time, t) for t, ds in datasets_by_T.items()}
    dim = next(iter(datasets_by_T.values())).dim
    train_times = {}
    rows = []
    for t_train, predictor in predictors_by_T.items():
        column, train_times[t_train] = _output_column(predictor, t_train, dim, datasets_by_T, time)
        row = []
        for t_test, dataset in datasets_by_T.items():
            pred = np.asarray(predictor.predict(dataset), dtype=np.float64)
            true = true_labels(dataset, label)
            if pred.ndim != 3 or pred.shape[0] != true.shape[0] or pred.shape[2] != true.shape[2] \
                    or (column is None and pred.shape[1] != 1):
                raise InvalidInputError(
                    f"the predictor trained at T = {t_train:g} returned shape {pred.shape} for the T = {t_test:g} "
                    f"dataset; expected (M, K, N) with M, N = {true.shape[0]}, {true.shape[2]}, and K = 1 unless its "
                    "label times are known (a times_ attribute, or a dataset at its training temperature)."
                )
            c = 0 if column is None else column
            k = time_index(dataset.times, test_times[t_test])
            row.append(float(pearson(pred[:, c:c + 1], true[:, k:k + 1], dataset.types, species)[0]))
        rows.append(row)
    return {
        "train_temperatures": [key(t) for t in predictors_by_T], "test_temperatures": [key(t) for t in datasets_by_T],
        "train_times": {key(t): v for t, v in train_times.items()},
        "test_times": {key(t): v for t, v in test_times.items()},
        "pearson": rows, "species": int(species), "label": label,
    }


def _output_column(predictor, temperature: float, dim: int, datasets_by_T: Mapping, time):
    """(column of the predictor's output, its label time) for the predictor trained at ``temperature``; (None, None)
    when its times are unknown (then it must have one output)."""
    same = [ds for t, ds in datasets_by_T.items() if math.isclose(float(t), float(temperature))]
    times = getattr(predictor, "times_", None)
    if times is None and same:
        times = same[0].times
    if times is None:
        return None, None
    tau = same[0].metadata.get("tau_alpha") if same else None
    chosen = label_time(times, float(temperature), dim, time, tau)
    return time_index(times, chosen), chosen


def transfer_task(make_predictor: Callable[[], object], dataset: Dataset, *, train_temperatures=None,
                  test_temperatures=None, species: int = 0, label: str = "propensity",
                  progress: bool = False) -> dict:
    """The GlassBench transfer task on data at several temperatures with a train/test split (``ka3d-multiT``).

    A fresh predictor (``make_predictor()``) is fitted on the train configurations of each training temperature
    and scored on the test configurations of every test temperature: rho_P over the A particles pooled at every
    label time, at t = tau_alpha (the heat map of GlassBench), averaged over all times, and chi_4 predicted against
    true. Data in units of tau_alpha score every temperature at its own tau_alpha.

    Returns
    -------
    dict
        The :func:`transfer_matrix` entries at tau_alpha (``pearson`` rows, ``train_temperatures``, ...), and
        ``pearson_mean_over_times`` (rows), ``by_pair``: {train T: {test T: :func:`evaluate` result without the
        scatter sample}}, ``fit_seconds`` {train T: seconds}.
    """
    from glassgen.progress import Stage

    split = dataset.extras.get("split")
    if split is None:
        raise InvalidInputError("the transfer task needs data with a train/test split (e.g. ka3d-multiT, made by "
                                "glassgen dataset build).")
    temperatures = dataset.configuration_temperatures
    train_temperatures = [float(t) for t in (train_temperatures or np.unique(temperatures[split == 0]))]
    test_temperatures = [float(t) for t in (test_temperatures or np.unique(temperatures[split == 1]))]
    tests = {t: dataset.select_temperatures([t]).select_split("test") for t in test_temperatures}
    test_times = {t: _dataset_time(data, "tau_alpha", t) for t, data in tests.items()}
    rows, means, by_pair, fit_seconds = [], [], {}, {}
    with Stage("transfer: train and score", len(train_temperatures) * (1 + len(tests)), unit="task",
               enabled=progress) as bar:
        for t_train in train_temperatures:
            begin = time.perf_counter()
            predictor = make_predictor().fit(dataset.select_temperatures([t_train]).select_split("train"))
            fit_seconds[key(t_train)] = time.perf_counter() - begin
            bar.advance()
            row, mean, by_pair[key(t_train)] = [], [], {}
            for t_test, test in tests.items():
                score = evaluate(predictor.predict(test), test, species, times=predictor.times_, label=label,
                                 n_sample=0)
                by_pair[key(t_train)][key(t_test)] = score
                row.append(score["pearson"][key(test_times[t_test])])
                mean.append(float(np.mean(list(score["pearson"].values()))))
                bar.advance()
            rows.append(row)
            means.append(mean)
    return {
        "train_temperatures": [key(t) for t in train_temperatures],
        "test_temperatures": [key(t) for t in test_temperatures],
        "train_times": {key(t): test_times.get(t, 1.0) for t in train_temperatures},
        "test_times": {key(t): v for t, v in test_times.items()},
        "time_unit": dataset.time_unit, "pearson": rows, "pearson_mean_over_times": means, "species": int(species),
        "label": label, "by_pair": by_pair, "fit_seconds": fit_seconds,
    }
