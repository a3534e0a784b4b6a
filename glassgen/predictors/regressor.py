"""Predictors that regress labels on per-particle descriptors, one model per species (ridge, GlassMLP).

On top of the contract (:class:`~glassgen.predictors.base.Predictor`) this does what such predictors share:
computing descriptors on thermal or inherent states, standardising them per species, and saving the descriptors'
settings, version and fitted arrays. A subclass fits and applies one model per species (``_fit_species``,
``_predict_species``).

A saved file records the version of the descriptor formulas (:data:`glassgen.descriptors.DESCRIPTOR_VERSION`) and
what the descriptors learned in ``fit``; a file from other formulas is refused, since its model was fitted to other
values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassgen.descriptors import DESCRIPTOR_VERSION, Descriptor, descriptor_from_settings
from glassgen.errors import InvalidInputError, SchemaVersionError
from glassgen.predictors.base import Predictor, prefixed
from glassgen.progress import Stage

#: Files of models in LJ time units without settings added since (``_added_params``): readable by format-2 readers.
_FORMAT_VERSION_LJ = 2
#: Label times in units of tau_alpha, or settings a format-2 reader does not know.
_FORMAT_VERSION_TAU = 3


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


class DescriptorRegressor(Predictor):
    """Descriptors -> labels, one model per species.

    Learned besides the contract's attributes: ``descriptors_`` (fitted copies), ``feature_names_``, the per-species
    standardisation ``means_`` and ``scales_`` (S, F), and ``models_[s]``, the model of species s. Subclasses set
    ``_param_checks`` and implement ``_default_descriptors``, ``_fit_species``, ``_predict_species`` (or
    ``_predict_members`` for an ensemble), ``_configuration_inputs`` for inputs of whole configurations, and
    ``_model_arrays`` / ``_model_from_arrays`` when a species model is not a dict of arrays.

    Parameters
    ----------
    descriptors : Descriptor or list of Descriptor, optional
        Features per particle, concatenated in order; default: the subclass's published choice. ``fit`` works on
        copies (``descriptors_``), fitted on the training data, and leaves these objects as they are.
    inherent : bool
        Compute the descriptors on inherent states (FIRE minima, computed when the data have none).
    label, progress : see :class:`~glassgen.predictors.base.Predictor`; ``progress`` shows inherent states,
        descriptors (per configuration) and the model's own training stages.
    """

    def __init__(self, descriptors=None, *, inherent: bool = False, label: str = "propensity",
                 progress: bool = False):
        super().__init__(label=label, progress=progress)
        self.descriptors = descriptors
        self.inherent = inherent

    def _descriptor_list(self) -> list:
        given = self._default_descriptors() if self.descriptors is None else self.descriptors
        items = [given] if isinstance(given, Descriptor) else list(given)
        if not items or not all(isinstance(d, Descriptor) for d in items):
            raise InvalidInputError(f"The 'descriptors' parameter of {type(self).__name__} must be a Descriptor or a "
                                    f"non-empty list of Descriptors (glassgen.descriptors). Got {given!r} instead.")
        return items

    # -- fit / predict -------------------------------------------------------------------------------------------

    def _fit(self, train, labels, valid, valid_labels) -> None:
        # Inputs of whole configurations first: their refusals come before the costly descriptors.
        inputs = self._configuration_inputs(train, "train dataset", training=True)
        if valid is not None:
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

    def _predict_ensemble(self, data) -> np.ndarray:
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
        return members

    def _features(self, data, role: str = "data", *, fit_descriptors: bool = False) -> np.ndarray:
        """Inputs of every particle, (M, N, F): the descriptors concatenated (on inherent states if ``inherent``), then
        the inputs of whole configurations (:meth:`_configuration_inputs`); with ``fit_descriptors`` (training data
        only), each descriptor first learns what it learns from ``data``."""
        inputs = self._configuration_inputs(data, role, training=fit_descriptors)  # refusals before the costly part
        if self.inherent:
            data = self._with_inherent_states(data)
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

    # -- save / load ---------------------------------------------------------------------------------------------

    def _format_version(self, params: dict) -> int:
        older_readers_read_it = self.time_unit_ == "lj" and not set(params) & set(self._added_params)
        return _FORMAT_VERSION_LJ if older_readers_read_it else _FORMAT_VERSION_TAU

    def _saved_header(self) -> dict:
        return {"descriptors": [d.settings() for d in self.descriptors_], "descriptor_version": DESCRIPTOR_VERSION}

    def _saved_values(self) -> dict:
        return {"feature_names": self.feature_names_}

    def _saved_arrays(self) -> dict:
        arrays = {"means": self.means_, "scales": self.scales_}
        for s, model in self.models_.items():
            arrays.update({f"s{s}.{key}": value for key, value in self._model_arrays(model).items()})
        for k, descriptor in enumerate(self.descriptors_):
            arrays.update({f"d{k}.{key}": value for key, value in descriptor.fitted_arrays().items()})
        return arrays

    @classmethod
    def _construct(cls, payload: dict, path):
        written = payload.get("descriptor_version", 1)  # files from before it was recorded: version 1
        if written != DESCRIPTOR_VERSION:
            by = payload.get("fitted", {}).get("provenance", {}).get("glassgen_version", "unknown")
            raise SchemaVersionError(
                f"{path} was trained on descriptors of version {written} (written by glassgen {by}), but this "
                f"glassgen computes descriptor version {DESCRIPTOR_VERSION}, whose values differ, so its predictions "
                f"would be wrong: retrain it with this glassgen (glassgen train), or load it with a glassgen of "
                f"descriptor version {written}.")
        try:
            descriptors = [descriptor_from_settings(s) for s in payload["descriptors"]]
        except (InvalidInputError, TypeError) as err:
            raise InvalidInputError(f"{path}: cannot rebuild the descriptors {payload['descriptors']} ({err}); the file "
                                    "was written by a glassgen with other descriptors: load it with that version, "
                                    "or retrain.") from err
        return cls(descriptors, **{**cls._added_params, **payload["params"]})

    def _restore(self, fitted: dict, arrays: dict) -> None:
        self.feature_names_ = list(fitted["feature_names"])
        self.descriptors_ = [d.set_fitted_arrays(prefixed(arrays, f"d{k}.")) for k, d in enumerate(self.descriptors)]
        self.means_, self.scales_ = arrays.pop("means"), arrays.pop("scales")
        self.models_ = {s: self._model_from_arrays(prefixed(arrays, f"s{s}.")) for s in self._species()}

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
