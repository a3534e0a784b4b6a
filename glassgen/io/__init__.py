"""Datasets of configurations and labels: the native HDF5 format and readers for GlassBench and BOTAN npz files.

:func:`load` reads anything supported into a :class:`Dataset`; :func:`save` writes the native format
(:mod:`glassgen.io.hdf5` documents it; :mod:`glassgen.io.npz` the npz layouts).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from glassgen.errors import InvalidInputError
from glassgen.io.dataset import Dataset
from glassgen.io.hdf5 import load_hdf5, save
from glassgen.io.labels import propensity_from_replicas
from glassgen.io.npz import read_npz
from glassgen.systems import get_model

__all__ = ["NAMED_DATASETS", "Dataset", "load", "load_hdf5", "named_dataset_path", "propensity_from_replicas",
           "read_npz", "save"]

#: Folder of the data that ships with glassgen (package data).
DATA_FOLDER = Path(__file__).resolve().parent.parent / "data"
#: Datasets glassgen makes itself and ships, loaded by name (`glassgen dataset build NAME` remakes them).
NAMED_DATASETS = ("ka3d-multiT", "ka2d-multiT")


def named_dataset_path(name: str) -> Path:
    """The file of a shipped dataset; says how to build it when this installation lacks it."""
    path = DATA_FOLDER / f"{name}.h5"
    if not path.exists():
        raise InvalidInputError(f"the dataset {name} is not in this installation ({path} is missing); build it with "
                                f"`glassgen dataset build {name}` or reinstall glassgen from its repository.")
    return path


def load(path: str | os.PathLike, model: str | None = None, temperature: float | None = None,
         times: Sequence[float] | None = None, temperatures: Sequence[float] | None = None) -> Dataset:
    """Read a native dataset file, one GlassBench/BOTAN .npz file, a folder of them, or a shipped dataset by name
    (:data:`NAMED_DATASETS`, e.g. ``"ka3d-multiT"``) into a `Dataset`.

    The kind of file is recognised from its content. A folder is read as one dataset of its .npz files (not its
    subfolders). ``model``, ``temperature`` and ``times`` fill in what npz files lack (see :func:`read_npz`); for a
    native file, which records them, they may only repeat what it holds. ``temperatures`` keeps only the
    configurations at those temperatures (:meth:`Dataset.select_temperatures`).

    Raises
    ------
    InvalidInputError
        If ``path`` does not exist, or is a folder without .npz files.
    DataFormatError
        If a file is not in a supported format or its arrays have the wrong keys or shapes.
    """
    if str(path) in NAMED_DATASETS and not Path(path).exists():
        path = named_dataset_path(str(path))
    dataset = _load(Path(path), model, temperature, times)
    return dataset if temperatures is None else dataset.select_temperatures(temperatures)


def _load(path: Path, model: str | None, temperature: float | None, times: Sequence[float] | None) -> Dataset:
    if not path.exists():
        raise InvalidInputError(
            f"{path} does not exist; give a glassgen .h5 file, a GlassBench/BOTAN .npz file, a folder of them, or the "
            f"name of a shipped dataset ({', '.join(NAMED_DATASETS)})."
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".npz")
        if not files:
            found = sorted(p.name for p in path.iterdir())[:10]
            raise InvalidInputError(
                f"folder {path} holds no .npz files (found {found or 'nothing'}); give a folder of GlassBench or BOTAN "
                ".npz files, or a single glassgen .h5 file (native datasets are not read from folders)."
            )
        return read_npz(files, model, temperature, times, source=path)
    if path.suffix.lower() not in (".h5", ".hdf5") and not h5py.is_hdf5(path):
        return read_npz([path], model, temperature, times, source=path)
    dataset = load_hdf5(path)
    for label, given, same in (
        ("model", model, lambda: get_model(model).name == dataset.model),
        ("temperature", temperature,
         lambda: dataset.temperature is not None and math.isclose(temperature, dataset.temperature, rel_tol=1e-9)),
        ("times", times, lambda: dataset.times is not None and np.array_equal(np.asarray(times), dataset.times)),
    ):
        if given is not None and not same():
            raise InvalidInputError(
                f"{label} {given} was given, but {path} holds {getattr(dataset, label)}; native files record their "
                f"{label}: drop the argument."
            )
    return dataset
