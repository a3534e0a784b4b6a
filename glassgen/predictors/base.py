"""The predictor contract: fit on labelled datasets, predict labels (M, K, N), save to and load from one file format.

A predictor maps per-particle structural descriptors to dynamical labels at K times. This base class does all that
does not depend on the model: choosing label times, computing descriptors on thermal or inherent states,
standardising them per species, checking that data match the training data, and the saved file. A subclass fits
and applies one model per species (``_fit_species``, ``_predict_species``).

The saved file is one ``torch.save``'d dict of plain values and tensors (read back with ``weights_only=True``, so
loading runs no pickled code), written to a temporary file and renamed. It records the version of the descriptor
formulas (:data:`glassgen.descriptors.DESCRIPTOR_VERSION`) and what the descriptors learned in ``fit``; a file from
other formulas is refused, since its model was fitted to other values.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

import glassgen
from glassgen.descriptors import DESCRIPTOR_VERSION, Descriptor, descriptor_from_settings
from glassgen.errors import DataFormatError, InvalidInputError, SchemaVersionError
from glassgen.progress import Stage, message

#: Identifies a saved predictor and the layout of its dict. 2: the descriptor version and the descriptors' fitted
#: arrays, which a reader of format 1 would ignore.
FORMAT = "glassgen-predictor"
FORMAT_VERSION = 2

_LABELS = ("propensity", "bond_breaking")


@dataclass(frozen=True)
class SpeciesData:
    """The rows of one species in M configurations, as a subclass fits on them.

    Attributes
    ----------
    features : ndarray of shape (M, n, F)
        Descriptors standardised with the training mean and spread of the species.
    labels : ndarray of shape (M, K, n) or None
        Labels at the selected times (None when predicting).
    positions : ndarray of shape (M, n, d)
        Thermal positions of the species' particles (for spatial terms of a loss).
    box : ndarray of shape (d,)
    """

    features: np.ndarray
    labels: np.ndarray | None
    positions: np.ndarray
    box: np.ndarray


class Predictor:
    """Base of the predictors: scikit-learn style ``fit(train, valid=None) -> self`` and ``predict(data)``.

    The constructor only stores hyper-parameters (checked at ``fit`` against ``_param_checks``); what ``fit`` learns
    lives in attributes ending in ``_`` (``models_[s]``: the model of species s). Subclasses set ``_param_checks``
    and implement ``_default_descriptors``, ``_fit_species``, ``_predict_species`` (and ``_model_arrays`` /
    ``_model_from_arrays`` when a species model is not a dict of arrays).

    Parameters
    ----------
    descriptors : Descriptor or list of Descriptor, optional
        Features per particle, concatenated in order; default: the subclass's published choice. ``fit`` works on
        copies (``descriptors_``), fitted on the training data, and leaves these objects as they are.
    inherent : bool
        Compute the descriptors on inherent states (FIRE minima, computed when the data have none).
    label : {"propensity", "bond_breaking"}
        Which label of the datasets to learn.
    progress : bool
        Show the stages of ``fit`` and ``predict`` on stderr: inherent states, descriptors (per configuration) and
        the model's own training stages.
    """

    #: Registry name, set by :func:`glassgen.predictors.register`.
    name = ""
    #: Hyper-parameter -> (predicate, what it must be), checked at ``fit``.
    _param_checks: ClassVar[dict] = {}

    def __init__(self, descriptors=None, *, inherent: bool = False, label: str = "propensity",
                 progress: bool = False):
        self.descriptors = descriptors
        self.inherent = inherent
        self.label = label
        self.progress = progress

    # -- hyper-parameters ----------------------------------------------------------------------------------------

    def get_params(self) -> dict:
        """Hyper-parameters by constructor name (the descriptors apart): what ``save`` keeps to rebuild this."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "descriptors")]
        return {p: getattr(self, p) for p in names}

    def _check_params(self) -> None:
        checks = {"inherent": (lambda v: isinstance(v, bool), "a bool"),
                  "label": (lambda v: v in _LABELS, f"one of {_LABELS}"),
                  "progress": (lambda v: isinstance(v, bool), "a bool"), **self._param_checks}
        for key, (ok, what) in checks.items():
            value = getattr(self, key)
            if not ok(value):
                raise InvalidInputError(f"The {key!r} parameter of {type(self).__name__} must be {what}. "
                                        f"Got {value!r} instead.")

    def _descriptor_list(self) -> list:
        given = self._default_descriptors() if self.descriptors is None else self.descriptors
        items = [given] if isinstance(given, Descriptor) else list(given)
        if not items or not all(isinstance(d, Descriptor) for d in items):
            raise InvalidInputError(f"The 'descriptors' parameter of {type(self).__name__} must be a Descriptor or a "
                                    f"non-empty list of Descriptors (glassgen.descriptors). Got {given!r} instead.")
        return items

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fit / predict -------------------------------------------------------------------------------------------

    def fit(self, train, valid=None, *, times=None):
        """Learn labels of ``train`` at ``times`` (default: all its label times) from descriptors; returns self.

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
        self.times_ = train.times[keep].copy()
        valid_labels = None
        if valid is not None:
            self._check_compatible(valid, "valid dataset")
            valid_labels, _ = self._labels(valid, self.times_, "valid dataset")
        # Copies rebuilt from their settings: fitting never touches the descriptors given (which other predictors may
        # share), and the ones used are exactly those a saved file rebuilds.
        self.descriptors_ = [descriptor_from_settings(d.settings()) for d in self._descriptor_list()]
        features = self._features(train, fit_descriptors=True)
        self.feature_names_ = [n for d in self.descriptors_ for n in d.names]
        # Row s standardises species s (absent species keep 0 and 1); constant columns become 0 rather than NaN.
        self.means_ = np.zeros((len(self.species_counts_), features.shape[-1]))
        self.scales_ = np.ones_like(self.means_)
        for s in self._species():
            rows = features[:, train.types == s].reshape(-1, features.shape[-1])
            spread = rows.std(0)
            self.means_[s], self.scales_[s] = rows.mean(0), np.where(spread > 0, spread, 1.0)
        valid_features = None if valid is None else self._features(valid)
        self.models_ = {}
        for s in self._species():
            part = self._species_data(train, features, labels, s)
            valid_part = None if valid is None else self._species_data(valid, valid_features, valid_labels, s)
            self.models_[s] = self._fit_species(s, part, valid_part)
        self.provenance_ = {
            "glassgen_version": glassgen.__version__,
            "training_file": None if train.metadata.get("source") is None else str(train.metadata["source"]),
            "training_subset": train.metadata.get("subset"),
            "n_training_configurations": train.n_configurations,
            "temperature": train.temperature,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return self

    def predict(self, data) -> np.ndarray:
        """Predicted labels at the training times for every particle: ndarray of shape (M, K, N)."""
        if not hasattr(self, "provenance_"):
            raise InvalidInputError(f"this {type(self).__name__} is not fitted yet: call fit(train) first, or "
                                    "load a saved one with glassgen.predictors.load_predictor(path).")
        self._check_compatible(data, "dataset to predict")
        features = self._features(data)
        if features.shape[-1] != len(self.feature_names_):
            raise InvalidInputError(f"the descriptors gave {features.shape[-1]} features for these data but "
                                    f"{len(self.feature_names_)} at training; predict data of the training system.")
        out = np.empty((data.n_configurations, len(self.times_), data.n_particles))
        for s in self._species():
            out[:, :, data.types == s] = self._predict_species(self.models_[s], self._species_data(data, features,
                                                                                                   None, s))
        return out

    def _species(self) -> list:
        return [s for s, count in enumerate(self.species_counts_) if count > 0]

    def _labels(self, data, times, role: str) -> tuple:
        """The labels at ``times`` (all when None), (M, K, N), and their indices into ``data.times``."""
        labels = getattr(data, self.label)
        if labels is None:
            raise InvalidInputError(f"the {role} has no {self.label} labels; label it first (glassgen label, "
                                    f"or a GlassBench/BOTAN file with labels), or pick label='"
                                    f"{_LABELS[1 - _LABELS.index(self.label)]}' if it has those.")
        keep = _time_indices(data, times, role)
        labels = labels[:, keep]
        bad = ~np.isfinite(labels)
        if bad.any():
            configs = np.flatnonzero(bad.any(axis=(1, 2)))
            raise InvalidInputError(f"the {self.label} labels of the {role} hold {int(bad.sum())} NaN or infinite values "
                                    f"(configurations {configs[:10].tolist()}); drop those configurations "
                                    "(Dataset.subset) or recompute their labels.")
        return labels, keep

    def _features(self, data, *, fit_descriptors: bool = False) -> np.ndarray:
        """Descriptors of every particle, concatenated: (M, N, F), on inherent states if ``inherent``; with
        ``fit_descriptors`` (training data only), each descriptor first learns what it learns from ``data``."""
        if self.inherent and data.inherent_positions is None:
            from glassgen.dynamics.minimization import inherent_states

            message(f"{type(self).__name__}: the data hold no inherent states; minimising {data.n_configurations} "
                    "configuration(s) with FIRE (not cached: keep them with Dataset inherent_positions and io.save)",
                    enabled=self.progress)
            data = inherent_states(data, progress=self.progress)
        blocks = []
        for descriptor in self.descriptors_:
            if fit_descriptors:
                descriptor.fit(data, inherent=self.inherent)
            values = self._descriptor_values(descriptor, data)
            if not np.isfinite(values).all():
                raise InvalidInputError(f"{descriptor!r} gave NaN or infinite features for these data (e.g. a species "
                                        "absent within reach); choose descriptors or settings that are defined here.")
            blocks.append(values)
        return np.concatenate(blocks, axis=-1)

    def _descriptor_values(self, descriptor: Descriptor, data) -> np.ndarray:
        """(M, N, F) values of one (fitted) descriptor, computed one configuration at a time so that this long stage
        shows its progress."""
        positions = data.inherent_positions if self.inherent else data.positions
        values = []
        with Stage(f"descriptors {type(descriptor).__name__}", len(positions), unit="configuration",
                   enabled=self.progress) as bar:
            for k in range(len(positions)):
                values.append(descriptor.compute((data.box, positions[k:k + 1], data.types, data.model)).values)
                bar.advance()
        return np.concatenate(values)

    def _species_data(self, data, features, labels, s: int) -> SpeciesData:
        rows = data.types == s
        standard = (features[:, rows] - self.means_[s]) / self.scales_[s]
        return SpeciesData(standard, None if labels is None else labels[:, :, rows], data.positions[:, rows], data.box)

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
        """Write weights, hyper-parameters, descriptor settings, version and fitted arrays, standardisation, times and
        provenance to ``path``."""
        if not hasattr(self, "provenance_"):
            raise InvalidInputError(f"this {type(self).__name__} is not fitted yet: call fit(train) before save.")
        arrays = {"means": self.means_, "scales": self.scales_}
        for s, model in self.models_.items():
            arrays.update({f"s{s}.{key}": value for key, value in self._model_arrays(model).items()})
        for k, descriptor in enumerate(self.descriptors_):
            arrays.update({f"d{k}.{key}": value for key, value in descriptor.fitted_arrays().items()})
        payload = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name, "params": self.get_params(),
            "descriptors": [d.settings() for d in self.descriptors_], "descriptor_version": DESCRIPTOR_VERSION,
            "fitted": {"model": self.model_, "n_particles": self.n_particles_, "dim": self.dim_,
                       "species_counts": self.species_counts_, "times": self.times_.tolist(),
                       "feature_names": self.feature_names_, "provenance": self.provenance_},
            "arrays": {k: torch.as_tensor(v).clone() for k, v in arrays.items()},
        }
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            torch.save(payload, temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

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
        try:
            descriptors = [descriptor_from_settings(s) for s in payload["descriptors"]]
        except (InvalidInputError, TypeError) as err:
            raise InvalidInputError(f"{path}: cannot rebuild the descriptors {payload['descriptors']} ({err}); the file "
                                    "was written by a glassgen with other descriptors: load it with that version, "
                                    "or retrain.") from err
        predictor = cls(descriptors, **payload["params"])
        fitted = payload["fitted"]
        predictor.model_, predictor.n_particles_, predictor.dim_ = fitted["model"], fitted["n_particles"], fitted["dim"]
        predictor.species_counts_ = list(fitted["species_counts"])
        predictor.times_ = np.asarray(fitted["times"], dtype=np.float64)
        predictor.feature_names_ = list(fitted["feature_names"])
        arrays = {k: v.numpy() for k, v in payload["arrays"].items()}
        predictor.descriptors_ = [d.set_fitted_arrays(_prefixed(arrays, f"d{k}.")) for k, d in enumerate(descriptors)]
        predictor.means_, predictor.scales_ = arrays.pop("means"), arrays.pop("scales")
        predictor.models_ = {s: predictor._model_from_arrays(_prefixed(arrays, f"s{s}.")) for s in predictor._species()}
        predictor.provenance_ = dict(fitted["provenance"])
        return predictor

    # -- what subclasses provide ---------------------------------------------------------------------------------

    def _default_descriptors(self):
        raise NotImplementedError

    def _fit_species(self, species: int, train: SpeciesData, valid: SpeciesData | None):
        """The model of one species (kept in ``models_[species]``)."""
        raise NotImplementedError

    def _predict_species(self, model, data: SpeciesData) -> np.ndarray:
        """Labels of the species' particles, ndarray of shape (M, K, n)."""
        raise NotImplementedError

    def _model_arrays(self, model) -> dict:
        """A species model as arrays by name (numpy or torch), saved bit for bit; models that are dicts of arrays."""
        return model

    def _model_from_arrays(self, arrays: dict):
        """Inverse of :meth:`_model_arrays`."""
        return arrays


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
    written = payload.get("descriptor_version", 1)  # files from before it was recorded: version 1
    if written != DESCRIPTOR_VERSION:
        by = payload.get("fitted", {}).get("provenance", {}).get("glassgen_version", "unknown")
        raise SchemaVersionError(
            f"{path} was trained on descriptors of version {written} (written by glassgen {by}), but this glassgen "
            f"computes descriptor version {DESCRIPTOR_VERSION}, whose values differ, so its predictions would be "
            f"wrong: retrain it with this glassgen (glassgen train), or load it with a glassgen of descriptor version "
            f"{written}.")
    return payload


def _prefixed(arrays: dict, prefix: str) -> dict:
    """The entries of ``arrays`` whose names start with ``prefix``, by the rest of their names."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _check_dataset(data, role: str) -> None:
    from glassgen.io.dataset import Dataset

    if not isinstance(data, Dataset):
        raise InvalidInputError(f"the {role} must be a glassgen Dataset (glassgen.io.load); "
                                f"got {type(data).__name__}.")


def _time_indices(data, wanted, role: str) -> np.ndarray:
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
            raise InvalidInputError(f"time {t:g} is not among the label times of the {role} {data.times.tolist()}; "
                                    "pick times from that list.")
        keep.append(int(hit[0]))
    return np.array(keep)
