"""The `Dataset` value: M configurations of one model with optional inherent states and dynamical labels.

Every reader returns one and every consumer (descriptors, predictors, benchmarks) takes one, so the checks live here,
once: shapes, dtypes, finite numbers, species labels valid for the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from glassgen.errors import InvalidInputError
from glassgen.io._checks import check_finite, check_shape
from glassgen.systems import System, get_model

#: True dynamical labels, measured by simulation; the only fields benchmarks and training read as the truth.
LABELS = ("propensity", "bond_breaking")
#: Labels predicted by a model (``glassgen predict``), kept under their own names so they are never taken for the truth.
PREDICTED_LABELS = tuple(f"predicted_{label}" for label in LABELS)
#: Optional per-configuration arrays of shape (M, ...) that `subset` and `concatenate` carry along.
_PER_CONFIGURATION = ("inherent_positions", *LABELS, *PREDICTED_LABELS, "temperatures", "tau_alpha")
#: Units of ``times``: LJ time units, or each configuration's structural relaxation time ``tau_alpha`` (multi-T data).
TIME_UNITS = ("lj", "tau_alpha")
#: Parts of data with a train/test split, as coded in ``extras["split"]`` (0: train, 1: test).
SPLITS = ("train", "test")


@dataclass(eq=False)
class Dataset:
    """M configurations of N particles of one model, with optional inherent states and labels.

    Parameters
    ----------
    positions : ndarray of shape (M, N, d), float64
        Particle coordinates in units of sigma_AA; any real values (periodic images are equivalent).
    types : ndarray of shape (N,), int64
        0-based species, the same for every configuration.
    box : ndarray of shape (d,), float64
        Edge lengths of the orthorhombic periodic box, the same for every configuration.
    model : str
        Registry name of the model (:func:`glassgen.systems.get_model`); stored in canonical form.
    temperature : float or None
        Temperature the configurations were equilibrated at, None when unknown.
    inherent_positions : ndarray of shape (M, N, d) or None
        Energy minima reached from ``positions``.
    times : ndarray of shape (K,) or None
        Label times, strictly increasing, LJ time units; None when the labels' times are unknown.
    propensity : ndarray of shape (M, K, N) or None
        Isoconfigurational mean displacement at each time.
    bond_breaking : ndarray of shape (M, K, N) or None
        Isoconfigurational bond-breaking label at each time, as defined by the source.
    metadata : dict
        JSON-serialisable provenance (command, glassgen version, seed, source files, ...).
    extras : dict of str to ndarray of shape (M, ...)
        Other per-configuration arrays a source carries, e.g. the published GlassBench predictions (type A only) and
        cage positions; carried along by `subset` and `concatenate`, stored by the HDF5 format, never validated
        beyond their first axis.
    predicted_propensity, predicted_bond_breaking : ndarray of shape (M, K, N) or None
        Labels predicted by a model at ``times`` (``glassgen predict``), beside any true labels; never scored or
        trained on as the truth.
    temperatures : ndarray of shape (M,) or None
        Each configuration's temperature, for data that mixes temperatures; ``temperature`` is then the common value
        when there is one and None otherwise. None: every configuration is at ``temperature``.
    time_unit : {"lj", "tau_alpha"}
        Unit of ``times``. Labels at several temperatures share one grid in units of each temperature's relaxation
        time (``"tau_alpha"``: label k is at ``times[k] * tau_alpha[m]`` for configuration m), so that a model
        trained across temperatures learns the same physical moment at every one of them.
    tau_alpha : ndarray of shape (M,) or None
        Structural relaxation time (LJ units) at each configuration's temperature; required for true labels in units
        of tau_alpha, None for predictions at states whose relaxation time no simulation reaches.
    """

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    model: str
    temperature: float | None = None
    inherent_positions: np.ndarray | None = None
    times: np.ndarray | None = None
    propensity: np.ndarray | None = None
    bond_breaking: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    predicted_propensity: np.ndarray | None = None
    predicted_bond_breaking: np.ndarray | None = None
    temperatures: np.ndarray | None = None
    time_unit: str = "lj"
    tau_alpha: np.ndarray | None = None

    def __post_init__(self):
        spec = get_model(self.model)
        self.model = spec.name
        d = spec.dim
        self.positions = np.asarray(self.positions, dtype=np.float64)
        check_shape("positions", self.positions, (None, None, d),
                    f"Stack configurations as (M, N, {d}) for the {d}D model {spec.name}; use [None] for one.")
        m, n, _ = self.positions.shape
        check_finite("positions", self.positions, "Check the input file or the step that produced it.")

        types = np.asarray(self.types)
        if types.dtype.kind not in "iu":
            raise InvalidInputError(f"types must be integers; got dtype {types.dtype}. Map species to 0, 1, ...")
        self.types = types.astype(np.int64)
        check_shape("types", self.types, (n,), "Give one species label per particle, shared by all configurations.")
        if n and (self.types.min() < 0 or self.types.max() >= spec.n_types):
            raise InvalidInputError(
                f"types must be 0-based species labels 0..{spec.n_types - 1} for {spec.name}; found "
                f"{np.unique(self.types).tolist()}. GlassBench files label species from 1: subtract 1."
            )

        self.box = np.asarray(self.box, dtype=np.float64)
        check_shape("box", self.box, (d,), f"Give the {d} edge lengths, e.g. np.full({d}, L) for a cubic box.")
        if not (np.isfinite(self.box).all() and (self.box > 0).all()):
            raise InvalidInputError(f"box edges must be positive and finite; got {self.box.tolist()}.")

        if self.temperature is not None:
            self.temperature = float(self.temperature)
            if not (np.isfinite(self.temperature) and self.temperature > 0):
                raise InvalidInputError(
                    f"temperature must be positive and finite, or None when unknown; got {self.temperature}."
                )

        self._check_temperatures(m)

        if self.inherent_positions is not None:
            self.inherent_positions = np.asarray(self.inherent_positions, dtype=np.float64)
            check_shape("inherent_positions", self.inherent_positions, (m, n, d),
                        "Give one inherent state per configuration, the same shape as positions.")
            check_finite("inherent_positions", self.inherent_positions, "Re-run the minimisation that made them.")

        if self.times is not None:
            self.times = np.asarray(self.times, dtype=np.float64)
            check_shape("times", self.times, (None,), "Give the label times as a 1D array.")
            check_finite("times", self.times, "Give the label times as finite numbers.")
            if np.any(np.diff(self.times) <= 0):
                raise InvalidInputError(
                    f"times must be strictly increasing; got {self.times.tolist()}. Sort the times and the label "
                    "axis K together."
                )
        n_times = None if self.times is None else len(self.times)
        for label in LABELS + PREDICTED_LABELS:
            value = getattr(self, label)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            check_shape(label, value, (m, n_times, n),
                        "Labels are (configurations M, times K, particles N), K = len(times).")
            check_finite(label, value, "Labels must be finite; drop or recompute the configurations that are not.")
            n_times = value.shape[1]
            setattr(self, label, value)

        self.extras = {str(k): np.asarray(v) for k, v in self.extras.items()}
        for key, value in self.extras.items():
            if not key or "/" in key:
                raise InvalidInputError(f"extras names must be non-empty and free of '/'; got {key!r}. Rename it.")
            if value.ndim == 0 or value.shape[0] != m:
                raise InvalidInputError(
                    f"extras[{key!r}] must have one row per configuration, shape ({m}, ...); got {value.shape}."
                )
        if not isinstance(self.metadata, dict):
            raise InvalidInputError(f"metadata must be a dict; got {type(self.metadata).__name__}.")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"metadata must be JSON-serialisable ({err}); store numbers, strings, lists and dicts only."
            ) from err

    def _check_temperatures(self, m: int) -> None:
        """Per-configuration temperatures and relaxation times: shapes, positive values, agreement with
        ``temperature``."""
        for name in ("temperatures", "tau_alpha"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64).reshape(-1)
            check_shape(name, value, (m,), f"Give one {name} value per configuration.")
            if not (np.isfinite(value).all() and (value > 0).all()):
                raise InvalidInputError(f"{name} must be positive and finite; got {np.unique(value).tolist()}.")
            setattr(self, name, value)
        if self.temperatures is not None:
            distinct = np.unique(self.temperatures)
            if self.temperature is not None and not np.allclose(distinct, self.temperature, rtol=1e-9, atol=0):
                raise InvalidInputError(
                    f"temperature {self.temperature} disagrees with the configurations' temperatures "
                    f"{distinct.tolist()}; give temperature=None for data that mixes temperatures."
                )
            self.temperature = float(distinct[0]) if len(distinct) == 1 else None
        if self.time_unit not in TIME_UNITS:
            raise InvalidInputError(f"time_unit must be one of {TIME_UNITS}; got {self.time_unit!r}.")
        if self.time_unit == "tau_alpha" and self.tau_alpha is None and any(
                getattr(self, label) is not None for label in LABELS):
            raise InvalidInputError("true labels at times in units of tau_alpha need tau_alpha, one value per "
                                    "configuration; give it, or the times in LJ units (time_unit='lj').")

    @property
    def configuration_temperatures(self) -> np.ndarray | None:
        """(M,) temperature of every configuration, None when unknown."""
        if self.temperatures is not None:
            return self.temperatures
        return None if self.temperature is None else np.full(self.n_configurations, self.temperature)

    @property
    def distinct_temperatures(self) -> list[float]:
        """The temperatures present, ascending; empty when unknown."""
        temperatures = self.configuration_temperatures
        return [] if temperatures is None else [float(t) for t in np.unique(temperatures)]

    def select_temperatures(self, temperatures: Sequence[float]) -> Dataset:
        """The configurations at ``temperatures`` (each must be present, matched to 1e-6), in the dataset's order."""
        present = self.configuration_temperatures
        if present is None:
            raise InvalidInputError("the dataset records no temperature, so none can be selected; drop --temperatures.")
        wanted = [float(t) for t in temperatures]
        missing = [t for t in wanted if not np.isclose(present, t, rtol=1e-6, atol=0).any()]
        if missing:
            raise InvalidInputError(
                f"temperature {', '.join(f'{t:g}' for t in missing)} is not in the data; it holds "
                f"{', '.join(f'{t:g}' for t in self.distinct_temperatures)}. Choose among those."
            )
        keep = np.isclose(present[:, None], np.array(wanted)[None, :], rtol=1e-6, atol=0).any(axis=1)
        return self.subset(np.flatnonzero(keep))

    def select_split(self, split: str) -> Dataset:
        """The train or test configurations of data with ``extras["split"]``; all of them for ``"all"``."""
        if split == "all":
            return self
        if split not in SPLITS:
            raise InvalidInputError(f"split must be one of all, {', '.join(SPLITS)}; got {split!r}.")
        if "split" not in self.extras:
            raise InvalidInputError(f"the data have no train/test split; drop --split {split} (or use "
                                    "--configurations).")
        chosen = np.flatnonzero(self.extras["split"] == SPLITS.index(split))
        if chosen.size == 0:
            held = ", ".join(f"{t:g}" for t in self.distinct_temperatures) or "unknown"
            raise InvalidInputError(f"the data (temperatures {held}) hold no {split} configurations; choose other "
                                    "temperatures or another --split.")
        return self.subset(chosen)

    @property
    def n_configurations(self) -> int:
        return self.positions.shape[0]

    @property
    def n_particles(self) -> int:
        return self.positions.shape[1]

    @property
    def dim(self) -> int:
        return self.positions.shape[2]

    @property
    def n_times(self) -> int | None:
        """Number K of label times, None for a dataset without times or labels."""
        for array in (self.times, *(getattr(self, label) for label in LABELS + PREDICTED_LABELS)):
            if array is not None:
                return len(array) if array.ndim == 1 else array.shape[1]
        return None

    def system(self, index: int | None = None) -> System:
        """The configurations as a `System` for energies and dynamics: batched (M, N, d), or one if ``index``."""
        positions = self.positions if index is None else self.positions[index]
        return System(positions, self.types, self.box, self.model)

    def subset(self, indices) -> Dataset:
        """The configurations at ``indices`` (ints, a slice or a boolean mask), in that order, as copies.

        ``metadata["subset"]`` records the positions taken in the dataset the metadata describes, so the
        provenance stays true after repeated subsetting.
        """
        try:
            picked = np.arange(self.n_configurations)[indices]
        except IndexError as err:
            raise InvalidInputError(
                f"indices {indices!r} do not select configurations of a dataset of {self.n_configurations} ({err})."
            ) from err
        if picked.ndim != 1:
            raise InvalidInputError(f"indices must select a 1D list of configurations; got shape {picked.shape}.")
        if isinstance(indices, slice) and indices.stop is not None and indices.stop > self.n_configurations:
            raise InvalidInputError(f"the selection {indices.start or 0}:{indices.stop} reaches past the "
                                    f"{self.n_configurations} configurations of the data (0..{self.n_configurations - 1}).")
        if picked.size == 0:
            shown = f"{indices.start or 0}:{indices.stop}" if isinstance(indices, slice) else repr(indices)
            raise InvalidInputError(f"the selection {shown} selects no configurations of a dataset of "
                                    f"{self.n_configurations}; choose at least one.")
        previous = self.metadata.get("subset")
        taken = picked.tolist() if previous is None else [previous[i] for i in picked]
        arrays = {
            label: None if getattr(self, label) is None else getattr(self, label)[picked]
            for label in _PER_CONFIGURATION
        }
        return replace(
            self, positions=self.positions[picked], **arrays,
            temperature=self.temperature if self.temperatures is None else None,
            extras={k: v[picked] for k, v in self.extras.items()},
            metadata={**self.metadata, "subset": taken},
        )

    @classmethod
    def concatenate(cls, datasets: Sequence[Dataset]) -> Dataset:
        """One dataset of all configurations of ``datasets``, in order.

        The parts must agree on model, particles, types, box and times (in one unit), and all or none may carry
        each optional array. Parts at different temperatures give a dataset with per-configuration ``temperatures``. Extras are kept where every part has them with the same trailing shape.
        ``metadata["parts"]`` holds the metadata of every part.
        """
        datasets = list(datasets)
        if not datasets:
            raise InvalidInputError("concatenate needs at least one Dataset; got none.")
        first = datasets[0]
        for i, other in enumerate(datasets[1:], start=1):
            checks = (  # in this order, so that each comparison is meaningful once the ones before it hold
                ("model", lambda: first.model == other.model, f"{other.model} vs {first.model}"),
                ("whether the temperature is known", lambda: (first.temperature is None and first.temperatures is None)
                 == (other.temperature is None and other.temperatures is None),
                 f"{other.distinct_temperatures or 'unknown'} vs {first.distinct_temperatures or 'unknown'}"),
                ("time unit", lambda: first.time_unit == other.time_unit, f"{other.time_unit} vs {first.time_unit}"),
                ("number of particles", lambda: first.n_particles == other.n_particles,
                 f"{other.n_particles} vs {first.n_particles}"),
                ("types", lambda: np.array_equal(first.types, other.types), "different species order or composition"),
                ("box", lambda: np.allclose(first.box, other.box, rtol=1e-9, atol=0),
                 f"{other.box.tolist()} vs {first.box.tolist()}"),
                ("times", lambda: _same_times(first.times, other.times),
                 f"{_as_list(other.times)} vs {_as_list(first.times)}"),
                ("number of label times", lambda: first.n_times == other.n_times, f"{other.n_times} vs {first.n_times}"),
            )
            for label, same, detail in checks:
                if not same():
                    raise InvalidInputError(
                        f"cannot concatenate: part {i} differs from part 0 in {label} ({detail}). Concatenate only "
                        "datasets of one model, particle set, box and label times (in one unit)."
                    )
        arrays = {}
        for label in _PER_CONFIGURATION:
            if label == "temperatures":
                continue
            present = [getattr(d, label) is not None for d in datasets]
            if any(present) and not all(present):
                raise InvalidInputError(
                    f"cannot concatenate: {label} is present in parts {np.flatnonzero(present).tolist()} only. "
                    f"Drop it from every part (dataclasses.replace(part, {label}=None)) or compute it for all."
                )
            arrays[label] = np.concatenate([getattr(d, label) for d in datasets]) if all(present) else None
        extras = {
            key: np.concatenate([d.extras[key] for d in datasets])
            for key in first.extras
            if all(key in d.extras and d.extras[key].shape[1:] == first.extras[key].shape[1:] for d in datasets)
        }
        temperatures = None if first.temperature is None and first.temperatures is None else np.concatenate(
            [d.configuration_temperatures for d in datasets])
        single = temperatures is not None and np.unique(temperatures).size == 1
        return replace(
            first, positions=np.concatenate([d.positions for d in datasets]), **arrays, extras=extras,
            temperature=float(temperatures[0]) if single else None, temperatures=None if single else temperatures,
            metadata={"parts": [d.metadata for d in datasets]},
        )


def _same_times(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=0)


def _as_list(times: np.ndarray | None) -> list | None:
    return None if times is None else times.tolist()
