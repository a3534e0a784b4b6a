"""The predictor contract: fit on labelled datasets, predict labels (M, K, N), save to and load from one file format.

A predictor maps the structure of configurations to dynamical labels at K times. This base class does all that does
not depend on how: choosing label times, checking that data match the training data (model, dimension, particles,
species), refusing before ``fit``, inherent states where a predictor needs them, the saved file and its provenance.
Subclasses learn in ``_fit`` and predict in ``_predict_ensemble``: ``regressor.DescriptorRegressor`` (ridge, GlassMLP)
from per-particle descriptors, ``graphnet.GraphPredictor`` (bapst, botan, se3) from graphs of the configuration.

The saved file is one ``torch.save``'d dict of plain values and tensors (read back with ``weights_only=True``, so
loading runs no pickled code), written to a temporary file and renamed. It records the unit of the label times
(``time_unit_``: LJ units, or each configuration's tau_alpha), since the same number means another moment in the other
unit: labels in another unit are refused for fitting and scoring, while predicting needs no labels and no match.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

import glassgen
from glassgen.errors import DataFormatError, InvalidInputError, SchemaVersionError
from glassgen.progress import message
from samplers.files import save_atomically

#: Identifies a saved predictor and the layout of its dict. 2: the descriptor version and the descriptors' fitted
#: arrays, which a reader of format 1 would ignore. 3: label times in units of tau_alpha (``fitted["time_unit"]``),
#: which a reader of format 2 would take for LJ times, or settings it does not know (``_added_params`` away from
#: their defaults: an ensemble, a temperature input), which it would fail on. 4: graph networks, which have no
#: descriptors (a reader of format 3 would refuse them for their descriptor version, a misleading reason). Each file
#: is written in the lowest format that describes it, so older readers read what they can read right.
FORMAT = "glassgen-predictor"
FORMAT_VERSION = 4

#: How the time units (:data:`glassgen.io.dataset.TIME_UNITS`) read in messages.
_UNIT_WORDS = {"lj": "LJ time units", "tau_alpha": "units of each configuration's tau_alpha"}

_LABELS = ("propensity", "bond_breaking")

#: Precisions of the networks, by name.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def non_negative(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


#: Checks of the hyper-parameters that several predictors share, applied where a predictor has them.
_COMMON_CHECKS = {
    "inherent": (lambda v: isinstance(v, bool), "a bool"),
    "label": (lambda v: v in _LABELS, f"one of {_LABELS}"),
    "progress": (lambda v: isinstance(v, bool), "a bool"),
}


class Predictor:
    """The contract: scikit-learn style ``fit(train, valid=None, times=None) -> self``, ``predict(data)`` (M, K, N),
    ``predict_with_uncertainty(data)`` (mean, spread), ``save(path)`` and ``load(path)``.

    The constructor only stores hyper-parameters (checked at ``fit`` against ``_param_checks``); what ``fit`` learns
    lives in attributes ending in ``_``: ``times_`` (the label times learned) in ``time_unit_``, the training
    system (``model_``, ``n_particles_``, ``dim_``, ``species_counts_``) and ``provenance_``. Subclasses implement
    ``_fit``, ``_predict_ensemble``, ``_saved_arrays`` / ``_restore`` and ``_format_version``.

    Parameters
    ----------
    label : {"propensity", "bond_breaking"}
        Which label of the datasets to learn.
    progress : bool
        Show the stages of ``fit`` and ``predict`` on stderr.
    """

    #: Registry name, set by :func:`glassgen.predictors.register`.
    name = ""
    #: Hyper-parameter -> (predicate, what it must be), checked at ``fit``; each class adds to its parents' checks.
    _param_checks: ClassVar[dict] = {}
    #: Hyper-parameters added after files were first saved -> the value that files without them meant: a file keeps
    #: them only at another value, so that an older glassgen, which would not know them, reads it as before.
    _added_params: ClassVar[dict] = {}

    def __init__(self, *, label: str = "propensity", progress: bool = False):
        self.label = label
        self.progress = progress

    # -- hyper-parameters ----------------------------------------------------------------------------------------

    @classmethod
    def param_names(cls) -> list[str]:
        """Constructor arguments, gathered along the classes whose constructors pass ``**settings`` on to their
        parent's (so that settings shared by a family are declared once)."""
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
            names += [p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                      and p.name not in names]
            if not any(p.kind is p.VAR_KEYWORD for p in parameters):
                break
        return names

    def get_params(self) -> dict:
        """Hyper-parameters by constructor name (descriptors apart): what ``save`` keeps to rebuild this."""
        return {p: getattr(self, p) for p in self.param_names() if p != "descriptors"}

    def _check_params(self) -> None:
        params = self.get_params()
        checks = dict(_COMMON_CHECKS)
        for klass in reversed(type(self).__mro__):  # a family's checks are declared once, by the class that adds them
            checks.update(vars(klass).get("_param_checks", {}))
        for key, (ok, what) in checks.items():
            if key in params and not ok(params[key]):
                raise InvalidInputError(f"The {key!r} parameter of {type(self).__name__} must be {what}. "
                                        f"Got {params[key]!r} instead.")

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fit / predict -------------------------------------------------------------------------------------------

    def fit(self, train, valid=None, *, times=None):
        """Learn labels of ``train`` at ``times`` (default: all its label times); returns self.

        Parameters
        ----------
        train : Dataset
            Configurations with labels and ``times``.
        valid : Dataset, optional
            Labelled configurations of the same system for early stopping (used by iterative models only).
        times : sequence of float, optional
            Label times to learn, selected by value from ``train.times``.
        """
        self._check_params()
        self.__dict__.pop("provenance_", None)  # a fit that fails leaves the predictor unfitted, not stale
        _check_dataset(train, "train dataset")
        labels, keep = self._labels(train, times, "train dataset")
        self.model_, self.n_particles_, self.dim_ = train.model, train.n_particles, train.dim
        self.species_counts_ = np.bincount(train.types).tolist()
        self.times_, self.time_unit_ = train.times[keep].copy(), train.time_unit
        valid_labels = None if valid is None else self._checked_labels(valid, "valid dataset")
        training = self._fit(train, labels, valid, valid_labels)
        self.provenance_ = {"glassgen_version": glassgen.__version__, **self._provenance(train),
                            **({} if training is None else {"training": training})}
        return self

    def predict(self, data) -> np.ndarray:
        """Predicted labels at the training times for every particle: ndarray of shape (M, K, N); the members' mean
        for an ensemble."""
        return self.predict_with_uncertainty(data)[0]

    def predict_with_uncertainty(self, data) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) over the members of an ensemble, each of shape (M, K, N): the spread of models fitted alike
        but for their seeds, a warning sign where they disagree (e.g. far from the training data); std is 0 for a
        single model."""
        members = self.predict_members(data)
        return members.mean(0), members.std(0)

    def predict_members(self, data) -> np.ndarray:
        """Labels by each of the E members of an ensemble, (E, M, K, N) (E = 1 for a single model): for quantities
        whose spread over the members is wanted, not only that of the labels (e.g. chi_4 of the predicted fields)."""
        self._require_fitted("predict")
        self._check_compatible(data, "dataset to predict")
        return self._predict_ensemble(data)

    def check_time_unit(self, data, role: str = "data") -> None:
        """Refuse labelled ``data`` whose times are in another unit than the training data's: the same number is
        another moment there, so its labels cannot be fitted or scored against this predictor's times."""
        if data.time_unit != self.time_unit_:
            raise InvalidInputError(
                f"the {role} gives its label times in {_UNIT_WORDS[data.time_unit]}, but this {type(self).__name__} "
                f"was trained on label times in {_UNIT_WORDS[self.time_unit_]} ({self.times_.tolist()}): the same "
                "number is another moment in the other unit. Use labels in the training unit, or train a model on "
                "labels in this one.")

    @staticmethod
    def _provenance(train) -> dict:
        """Where the training data came from and when they were learned."""
        return {
            "training_file": None if train.metadata.get("source") is None else str(train.metadata["source"]),
            "training_subset": train.metadata.get("subset"),
            "n_training_configurations": train.n_configurations,
            "temperature": train.temperature,
            "training_temperatures": train.distinct_temperatures,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def _require_fitted(self, action: str) -> None:
        if not hasattr(self, "provenance_"):
            raise InvalidInputError(f"this {type(self).__name__} is not fitted yet, so it cannot {action}: call "
                                    "fit(train) first, or load a saved one with "
                                    "glassgen.predictors.load_predictor(path).")

    def _species(self) -> list:
        return [s for s, count in enumerate(self.species_counts_) if count > 0]

    def _labels(self, data, times, role: str) -> tuple:
        """The labels at ``times`` (all when None), (M, K, N), and their indices into ``data.times``."""
        labels = getattr(data, self.label)
        if labels is None:
            raise InvalidInputError(f"the {role} has no {self.label} labels; label it first (glassgen label, "
                                    f"or a GlassBench/BOTAN file with labels), or pick label='"
                                    f"{_LABELS[1 - _LABELS.index(self.label)]}' if it has those.")
        keep = time_indices(data, times, role)
        labels = labels[:, keep]
        bad = ~np.isfinite(labels)
        if bad.any():
            configs = np.flatnonzero(bad.any(axis=(1, 2)))
            raise InvalidInputError(f"the {self.label} labels of the {role} hold {int(bad.sum())} NaN or infinite values "
                                    f"(configurations {configs[:10].tolist()}); drop those configurations "
                                    "(Dataset.subset) or recompute their labels.")
        return labels, keep

    def _checked_labels(self, data, role: str) -> np.ndarray:
        """The labels (M, K, N) at the training times of ``data`` checked to be of the training system and unit."""
        self._check_compatible(data, role)
        self.check_time_unit(data, role)
        return self._labels(data, self.times_, role)[0]

    def _with_inherent_states(self, data):
        """``data`` with inherent states: its own, or FIRE minima computed now (said on stderr, not cached)."""
        if data.inherent_positions is not None:
            return data
        from glassgen.dynamics.minimization import inherent_states

        message(f"{type(self).__name__}: the data hold no inherent states; minimising {data.n_configurations} "
                "configuration(s) with FIRE (not cached: keep them with Dataset inherent_positions and io.save)",
                enabled=self.progress)
        return inherent_states(data, progress=self.progress)

    def _check_compatible(self, data, role: str) -> None:
        """Refuse data of another model, size, dimension or composition than the training data."""
        _check_dataset(data, role)
        for what, got, trained in (
            ("dimension", data.dim, self.dim_),
            ("model", data.model, self.model_),
            ("number of particles", data.n_particles, self.n_particles_),
            ("species counts", np.bincount(data.types, minlength=len(self.species_counts_)).tolist(),
             self.species_counts_),
        ):
            if got != trained:
                raise InvalidInputError(
                    f"the {role} differs from the training data of this {type(self).__name__} in {what}: "
                    f"{got} vs {trained} at training. Use data of the system it was trained on, or train a new one.")

    # -- save / load ---------------------------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the hyper-parameters, what was learned, the times and their unit, the training system and the
        provenance to ``path``."""
        self._require_fitted("save")
        params = {k: v for k, v in self.get_params().items()
                  if k not in self._added_params or v != self._added_params[k]}
        payload = {
            "format": FORMAT, "format_version": self._format_version(params), "name": self.name, "params": params,
            "fitted": {"model": self.model_, "n_particles": self.n_particles_, "dim": self.dim_,
                       "species_counts": self.species_counts_, "times": self.times_.tolist(),
                       "time_unit": self.time_unit_, "provenance": self.provenance_, **self._saved_values()},
            "arrays": {k: torch.as_tensor(v).detach().cpu().clone() for k, v in self._saved_arrays().items()},
            **self._saved_header(),
        }
        save_atomically(payload, path)

    @classmethod
    def load(cls, path):
        """Read a predictor written by :meth:`save`; it must be of this class (or use ``load_predictor``)."""
        from glassgen.predictors.registry import load_predictor

        predictor = load_predictor(path)
        if not isinstance(predictor, cls):
            raise InvalidInputError(f"{path} holds a {type(predictor).__name__} ({predictor.name!r}), not a "
                                    f"{cls.__name__}; use glassgen.predictors.load_predictor(path).")
        return predictor

    @classmethod
    def _from_saved(cls, payload: dict, path):
        """Rebuild from the dict of a saved file (see :func:`read_saved`)."""
        predictor = cls._construct(payload, path)
        fitted = payload["fitted"]
        predictor.model_, predictor.n_particles_, predictor.dim_ = fitted["model"], fitted["n_particles"], fitted["dim"]
        predictor.species_counts_ = list(fitted["species_counts"])
        predictor.times_ = np.asarray(fitted["times"], dtype=np.float64)
        predictor.time_unit_ = fitted.get("time_unit", "lj")  # files from before it was recorded: LJ units
        predictor._restore(fitted, {k: v.numpy() for k, v in payload["arrays"].items()})
        predictor.provenance_ = dict(fitted["provenance"])
        return predictor

    @classmethod
    def _construct(cls, payload: dict, path):
        """The unfitted predictor of a saved file's settings."""
        return cls(**{**cls._added_params, **payload["params"]})

    # -- what subclasses provide ---------------------------------------------------------------------------------

    def _fit(self, train, labels: np.ndarray, valid, valid_labels: np.ndarray | None) -> dict | None:
        """Learn ``labels`` (M, K, N) of ``train`` (and of ``valid``, checked alike, for early stopping); may return
        a record of the training (plain values) that the provenance keeps."""
        raise NotImplementedError

    def _predict_ensemble(self, data) -> np.ndarray:
        """Labels of every particle by each of the E members of an ensemble, (E, M, K, N); E = 1 for one model."""
        raise NotImplementedError

    def _format_version(self, params: dict) -> int:
        """The lowest file format that describes this predictor (see :data:`FORMAT_VERSION`)."""
        raise NotImplementedError

    def _saved_header(self) -> dict:
        """Entries of the saved dict besides the common ones, checked on reading before anything is rebuilt."""
        return {}

    def _saved_values(self) -> dict:
        """Plain values learned by ``fit`` that the file keeps in ``fitted``."""
        return {}

    def _saved_arrays(self) -> dict:
        """Arrays learned by ``fit``, by name (numpy or torch), saved bit for bit."""
        raise NotImplementedError

    def _restore(self, fitted: dict, arrays: dict) -> None:
        """Set what ``fit`` learned from a file's ``fitted`` values and arrays (numpy)."""
        raise NotImplementedError


def read_saved(path) -> dict:
    """The dict of a file written by :meth:`Predictor.save`, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist; give a file written by a predictor's save(path).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign files
        raise DataFormatError(f"{path} is not a saved glassgen predictor ({type(err).__name__}: {err}).") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataFormatError(f"{path} is not a saved glassgen predictor (no '{FORMAT}' marker); give a file "
                              "written by a predictor's save(path).")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise SchemaVersionError(f"{path} was written in predictor format {payload['format_version']}; this glassgen "
                                 f"reads up to {FORMAT_VERSION}: upgrade glassgen.")
    return payload


def prefixed(arrays: dict, prefix: str) -> dict:
    """The entries of ``arrays`` whose names start with ``prefix``, by the rest of their names."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def hold_out(m: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, valid) of M configurations with a ``fraction`` held out for early stopping, at least one and
    never all; none held out (an empty valid) when M < 2 or ``fraction`` is 0."""
    n_valid = min(m - 1, max(1, round(fraction * m))) if fraction > 0 else 0
    if n_valid < 1:
        return np.arange(m), np.arange(0)
    order = rng.permutation(m)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def _check_dataset(data, role: str) -> None:
    from glassgen.io.dataset import Dataset

    if not isinstance(data, Dataset):
        raise InvalidInputError(f"the {role} must be a glassgen Dataset (glassgen.io.load); "
                                f"got {type(data).__name__}.")


def time_indices(data, wanted, role: str) -> np.ndarray:
    """Indices into ``data.times`` of the ``wanted`` times (all when None), matched to 1e-6 relative."""
    if data.times is None:
        raise InvalidInputError(f"the {role} has no label times (times is None); give them when reading it "
                                "(glassgen.io.load(path, times=[...])) so that labels are matched by time.")
    if wanted is None:
        return np.arange(len(data.times))
    wanted = np.atleast_1d(np.asarray(wanted, dtype=np.float64))
    if wanted.size == 0:
        raise InvalidInputError(f"times selects no label time; pick some of {data.times.tolist()} or pass None (all).")
    keep = []
    for t in wanted:
        hit = np.flatnonzero(np.isclose(data.times, t, rtol=1e-6, atol=0))
        if hit.size == 0:
            raise InvalidInputError(f"time {t:g} is not among the label times of the {role} {data.times.tolist()} "
                                    f"(in {_UNIT_WORDS[data.time_unit]}); pick times from that list.")
        keep.append(int(hit[0]))
    return np.array(keep)
