"""The native glassgen dataset file: one HDF5 file per `Dataset`, schema version 1 (revision 1.2) or 2.

Units are Lennard-Jones reduced units: lengths in sigma_AA, times in sigma_AA sqrt(m / epsilon_AA), temperatures in
epsilon_AA / k_B. M is the number of configurations, N of particles, d the dimension (2 or 3), K the number of label
times.

Root attributes
---------------
``format`` : str
    Always ``"glassgen"``; marks the file as a glassgen dataset.
``schema_version`` : int
    ``1``, or ``2`` for files whose label times are in units of tau_alpha (below). A reader refuses any version it
    does not know (`SchemaVersionError`) rather than guess.
``model`` : str
    Registry name of the model (``ka3d``, ``ka3d-sf``, ``ka2d``; see :func:`glassgen.systems.get_model`).
``temperature`` : float64
    Equilibration temperature of the configurations; NaN when unknown or when they differ (see ``temperatures``).
``time_unit`` : str
    ``"lj"`` (absent in files before revision 1.2) or ``"tau_alpha"`` (schema version 2).
``metadata`` : str
    JSON object with the provenance: glassgen version, command, seed, source files, ...

Datasets
--------
====================== ========= ======= ======== =====================================================
name                   shape     dtype   presence meaning
====================== ========= ======= ======== =====================================================
``positions``          (M, N, d) float64 required particle coordinates (any periodic image)
``types``              (N,)      int64   required 0-based species, shared by all configurations
``box``                (d,)      float64 required edge lengths of the orthorhombic periodic box
``inherent_positions`` (M, N, d) float64 optional energy minima reached from ``positions``
``times``              (K,)      float64 optional label times, strictly increasing
``propensity``         (M, K, N) float64 optional isoconfigurational mean of |r_i(t) - r_i(0)|
``bond_breaking``      (M, K, N) float64 optional isoconfigurational bond-breaking label, dimensionless
``predicted_<label>``  (M, K, N) float64 optional ``propensity`` or ``bond_breaking`` predicted by a model (1.1)
``temperatures``       (M,)      float64 optional each configuration's temperature, for mixed data (1.2)
``tau_alpha``          (M,)      float64 optional relaxation time at each configuration's temperature (1.2)
``extras/<name>``      (M, ...)  any     optional other per-configuration arrays of the source
====================== ========= ======= ======== =====================================================

Labels and positions may be stored as float32 (``save(..., compact=True)``, for data that ships with glassgen); they
are read back as float64.

An optional dataset is absent when the `Dataset` field is None; labels without ``times`` are at unknown times.
Revision 1.1 added the ``predicted_*`` datasets, so that predictions never sit under the name of the true labels, and
1.2 the per-configuration ``temperatures`` and ``tau_alpha``. The version number stays 1 because both directions still
read: older files simply lack them, and an older reader ignores them. Times in units of tau_alpha would be misread as
LJ times by an older reader, so such files are version 2, which older readers refuse.
Files are written to a temporary file in the target folder and renamed over the target, so a reader never sees a
partial file and an interrupted write leaves the old file intact.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import h5py
import numpy as np

from glassgen.errors import DataFormatError, InvalidInputError, SchemaVersionError
from glassgen.io._checks import about_file
from glassgen.io.dataset import LABELS, PREDICTED_LABELS, Dataset

FORMAT = "glassgen"
SCHEMA_VERSION = 1
#: The version of files whose times are in units of tau_alpha.
SCHEMA_VERSION_TAU = 2
_REQUIRED = ("positions", "types", "box")
_OPTIONAL = ("inherent_positions", "times", *LABELS, *PREDICTED_LABELS, "temperatures", "tau_alpha")
#: What ``compact=True`` stores in float32 (compressed): labels and positions, whose last digits carry no physics.
_COMPACT = ("positions", "inherent_positions", *LABELS, *PREDICTED_LABELS)


def save(dataset: Dataset, path: str | os.PathLike, *, compact: bool = False) -> Path:
    """Write ``dataset`` to ``path`` atomically and return the path.

    ``compact`` stores labels and positions as compressed float32 (about a third of the size), for data that ships
    with the package; inherent states then hold forces of order 1e-4 and are re-minimised where that matters.

    Raises
    ------
    InvalidInputError
        If the folder of ``path`` does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInputError(f"cannot save to {path}: folder {path.parent} does not exist; create it first.")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with h5py.File(temporary, "x") as f:
            f.attrs["format"] = FORMAT
            f.attrs["schema_version"] = SCHEMA_VERSION_TAU if dataset.time_unit == "tau_alpha" else SCHEMA_VERSION
            f.attrs["model"] = dataset.model
            f.attrs["temperature"] = np.nan if dataset.temperature is None else dataset.temperature
            f.attrs["time_unit"] = dataset.time_unit
            f.attrs["metadata"] = json.dumps(dataset.metadata)
            for name in _REQUIRED + _OPTIONAL:
                value = getattr(dataset, name)
                if value is None:
                    continue
                if compact and name in _COMPACT:
                    f.create_dataset(name, data=np.asarray(value, dtype=np.float32), compression="gzip",
                                     compression_opts=9, shuffle=True)
                else:
                    f.create_dataset(name, data=value)
            if dataset.extras:
                group = f.create_group("extras")
                for name, value in dataset.extras.items():
                    group.create_dataset(name, data=value)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def load_hdf5(path: str | os.PathLike) -> Dataset:
    """Read a native dataset file written by :func:`save`.

    Raises
    ------
    DataFormatError
        If the file is not HDF5, not a glassgen dataset, or lacks a required entry.
    SchemaVersionError
        If the file was written with another schema version.
    """
    path = Path(path)
    with about_file(path):
        try:
            handle = h5py.File(path, "r")
        except OSError as err:
            raise DataFormatError(f"cannot open as HDF5 ({err}); give a file written by glassgen.io.save.") from err
        with handle as f:
            found = _text(f.attrs.get("format"))
            if found != FORMAT:
                raise DataFormatError(
                    f"an HDF5 file but not a glassgen dataset (attribute format = {found!r}, expected {FORMAT!r}). "
                    "Import the source data with glassgen.io.load (npz) and save it, or pass a glassgen file."
                )
            version = f.attrs.get("schema_version")
            if version not in (SCHEMA_VERSION, SCHEMA_VERSION_TAU):
                raise SchemaVersionError(
                    f"written with dataset schema version {version}; this glassgen reads versions {SCHEMA_VERSION} "
                    f"and {SCHEMA_VERSION_TAU}. Upgrade glassgen to read it, or re-import the source data with this "
                    "version."
                )
            missing = [name for name in _REQUIRED if name not in f]
            missing += [f"attribute {name}" for name in ("model", "metadata") if name not in f.attrs]
            if missing:
                raise DataFormatError(
                    f"a glassgen file without {', '.join(missing)}; it is damaged. Rewrite it with glassgen.io.save."
                )
            try:
                metadata = json.loads(_text(f.attrs["metadata"]))
            except json.JSONDecodeError as err:
                raise DataFormatError(f"attribute metadata is not valid JSON ({err}); rewrite the file.") from err
            temperature = float(f.attrs.get("temperature", np.nan))
            arrays = {name: f[name][()] for name in _REQUIRED + _OPTIONAL if name in f}
            extras = {name: value[()] for name, value in f["extras"].items()} if "extras" in f else {}
            return Dataset(
                model=_text(f.attrs["model"]),
                temperature=None if np.isnan(temperature) or "temperatures" in arrays else temperature,
                time_unit=_text(f.attrs.get("time_unit", "lj")), metadata=metadata, extras=extras, **arrays,
            )


def _text(value) -> str | None:
    """An HDF5 string attribute as str, whether stored as variable-length text or bytes."""
    return value.decode() if isinstance(value, bytes) else value
