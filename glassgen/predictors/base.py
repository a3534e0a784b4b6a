"""The predictor contract: fit on labelled datasets, predict labels (M, K, N), save to and load from one file format.

A predictor maps per-particle structural descriptors to dynamical labels at K times. This base class does all that
does not depend on the model: choosing label times, computing descriptors on thermal or inherent states,
standardising them per species, checking that data match the training data, and the saved file. A subclass fits
and applies one model per species (``_fit_species``, ``_predict_species``).

The saved file is one ``torch.save``'d dict of plain values and tensors (read back with ``weights_only=True``, so
loading runs no pickled code), written to a temporary file and renamed. It records the version of the descriptor
formulas (:data:`glassgen.descriptors.DESCRIPTOR_VERSION`) and what the descriptors learned in ``fit``; a file from
other formulas is refused, since its model was fitted to other values. It also records the unit of the label times
(``time_unit_``: LJ units, or each configuration's tau_alpha), since the same number means another moment in the other
unit: labels in another unit are refused for fitting and scoring, while predicting needs no labels and no match.
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
#: arrays, which a reader of format 1 would ignore. 3: label times in units of tau_alpha (``fitted["time_unit"]``),
#: which a reader of format 2 would take for LJ times, or settings it does not know (``_added_params`` away from
#: their defaults: an ensemble, a temperature input), which it would fail on; other models are still written as
#: format 2, which such readers read right.
FORMAT = "glassgen-predictor"
FORMAT_VERSION = 3
_FORMAT_VERSION_LJ = 2

#: How the time units (:data:`glassgen.io.dataset.TIME_UNITS`) read in messages.
_UNIT_WORDS = {"lj": "LJ time units", "tau_alpha": "units of each configuration's tau_alpha"}

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
    """Base of the predictors: scikit-learn style ``fit(train, valid=None) -> self`` and ``predict(data)``
    (``predict_with_uncertainty(data)`` adds an ensemble's spread).

    The constructor only stores hyper-parameters (checked at ``fit`` against ``_param_checks``); what ``fit`` learns
    lives in attributes ending in ``_`` (``models_[s]``: the model of species s; ``time_unit_``: the unit of
    ``times_``). Subclasses set ``_param_checks`` and implement ``_default_descriptors``, ``_fit_species``,
    ``_predict_species`` (or ``_predict_members`` for an ensemble), ``_configuration_inputs`` for inputs of whole
    configurations, and ``_model_arrays`` / ``_model_from_arrays`` when a species model is not a dict of arrays.

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
    #: Hyper-parameters added after files were first saved -> the value that files without them meant: a file keeps
    #: them only at another value, so that an older glassgen, which would not know them, reads it as before.
    _added_params: ClassVar[dict] = {}

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
        self.times_, self.time_unit_ = train.times[keep].copy(), train.time_unit
        # Inputs of whole configurations first: their refusals come before the costly descriptors.
        inputs = self._configuration_inputs(train, "train dataset", training=True)
        valid_labels = None
        if valid is not None:
            self._check_compatible(valid, "valid dataset")
            self.check_time_unit(valid, "valid dataset")
            valid_labels, _ = self._labels(valid, self.times_, "valid dataset")
            self._configuration_inputs(valid, "valid dataset", training=False)
        # Copies rebuilt from their settings: fitting never touches the descriptors given (which other predictors may
        # share), and the ones used are exactly those a saved file rebuilds.
        self.descriptors_ = [descriptor_from_settings(d.settings()) for d in self._descriptor_list()]
        features = self._features(train, "train dataset", fit_descriptors=True)
        self.feature_names_ = [n for d in self.descriptors_ for n in d.names] + list(inputs)
        # Row s standardises species s (absent species keep 0 and 1); constant columns become 0 rather than NaN.
        self.means_ = np.zeros((len(self.species_counts_), features.shape[-1]))
        self.scales_ = np.ones_like(self.means_)
        for s in self._species():
            rows = features[:, train.types == s].reshape(-1, features.shape[-1])
            spread = rows.std(0)
            self.means_[s], self.scales_[s] = rows.mean(0), np.where(spread > 0, spread, 1.0)
        valid_features = None if valid is None else self._features(valid, "valid dataset")
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
        """Predicted labels at the training times for every particle: ndarray of shape (M, K, N); the members' mean
        for an ensemble."""
        return self.predict_with_uncertainty(data)[0]

    def predict_with_uncertainty(self, data) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) over the members of an ensemble, each of shape (M, K, N): the spread of models fitted alike
        but for their seeds, a warning sign where they disagree (e.g. far from the training data); std is 0 for a
        single model."""
        if not hasattr(self, "provenance_"):
            raise InvalidInputError(f"this {type(self).__name__} is not fitted yet: call fit(train) first, or "
                                    "load a saved one with glassgen.predictors.load_predictor(path).")
        self._check_compatible(data, "dataset to predict")
        features = self._features(data, "dataset to predict")
        if features.shape[-1] != len(self.feature_names_):
            raise InvalidInputError(f"these data gave {features.shape[-1]} input features but the training data "
                                    f"{len(self.feature_names_)}; predict data of the training system.")
        members = None
        for s in self._species():
            part = self._predict_members(self.models_[s], self._species_data(data, features, None, s))
            if members is None:
                members = np.empty((len(part), data.n_configurations, len(self.times_), data.n_particles))
            members[:, :, :, data.types == s] = part
        return members.mean(0), members.std(0)

    def check_time_unit(self, data, role: str = "data") -> None:
        """Refuse labelled ``data`` whose times are in another unit than the training data's: the same number is
        another moment there, so its labels cannot be fitted or scored against this predictor's times."""
        if data.time_unit != self.time_unit_:
            raise InvalidInputError(
                f"the {role} gives its label times in {_UNIT_WORDS[data.time_unit]}, but this {type(self).__name__} "
                f"was trained on label times in {_UNIT_WORDS[self.time_unit_]} ({self.times_.tolist()}): the same "
                "number is another moment in the other unit. Use labels in the training unit, or train a model on "
                "labels in this one.")

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

    def _features(self, data, role: str = "data", *, fit_descriptors: bool = False) -> np.ndarray:
        """Inputs of every particle, (M, N, F): the descriptors concatenated (on inherent states if ``inherent``), then
        the inputs of whole configurations (:meth:`_configuration_inputs`); with ``fit_descriptors`` (training data
        only), each descriptor first learns what it learns from ``data``."""
        inputs = self._configuration_inputs(data, role, training=fit_descriptors)  # refusals before the costly part
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
        blocks += [np.broadcast_to(np.asarray(values, dtype=np.float64)[:, None, None], (*blocks[0].shape[:2], 1))
                   for values in inputs.values()]
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
        params = {k: v for k, v in self.get_params().items()
                  if k not in self._added_params or v != self._added_params[k]}
        older_readers_read_it = self.time_unit_ == "lj" and not set(params) & set(self._added_params)
        payload = {
            "format": FORMAT, "format_version": _FORMAT_VERSION_LJ if older_readers_read_it else FORMAT_VERSION,
            "name": self.name, "params": params,
            "descriptors": [d.settings() for d in self.descriptors_], "descriptor_version": DESCRIPTOR_VERSION,
            "fitted": {"model": self.model_, "n_particles": self.n_particles_, "dim": self.dim_,
                       "species_counts": self.species_counts_, "times": self.times_.tolist(),
                       "time_unit": self.time_unit_,
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
        predictor = cls(descriptors, **{**cls._added_params, **payload["params"]})
        fitted = payload["fitted"]
        predictor.model_, predictor.n_particles_, predictor.dim_ = fitted["model"], fitted["n_particles"], fitted["dim"]
        predictor.species_counts_ = list(fitted["species_counts"])
        predictor.times_ = np.asarray(fitted["times"], dtype=np.float64)
        predictor.time_unit_ = fitted.get("time_unit", "lj")  # files from before it was recorded: LJ units
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

    def _predict_members(self, model, data: SpeciesData) -> np.ndarray:
        """Labels of the species' particles by each of the E members of an ensemble, (E, M, K, n); a single model is
        an ensemble of one (subclasses implement this or :meth:`_predict_species`)."""
        return self._predict_species(model, data)[None]

    def _configuration_inputs(self, data, role: str, *, training: bool) -> dict:
        """Inputs that describe a whole configuration rather than a particle (e.g. its temperature), by name: (M,)
        values appended to every particle's descriptors and standardised with them; none by default. ``training``:
        ``data`` is the training data."""
        return {}

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
            raise InvalidInputError(f"time {t:g} is not among the label times of the {role} {data.times.tolist()} "
                                    f"(in {_UNIT_WORDS[data.time_unit]}); pick times from that list.")
        keep.append(int(hit[0]))
    return np.array(keep)
