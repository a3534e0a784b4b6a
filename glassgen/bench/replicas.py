"""Per-replica displacements |dr| read from isoconfigurational npz files, for the noise ceiling rho_max.

A `Dataset` keeps only the replica average (the propensity); the noise ceiling needs every replica. The files are
read through :func:`glassgen.io.load`, so configuration order, time codes, box, model and the checks are those of the
dataset, and each replica file is then opened once more for its positions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glassgen.dynamics.observables import displacements
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset, load
from glassgen.io.npz import LAYOUTS

__all__ = ["replica_displacements"]


def replica_displacements(path: str | os.PathLike, model: str | None = None, temperature: float | None = None,
                          times=None) -> tuple[np.ndarray, Dataset]:
    """Per-replica |r_i(t) - r_i(0)| of BOTAN ``isoconfig_*.npz`` or GlassBench ``KA2D_trajectories`` files.

    Displacements of GlassBench trajectories, which may be wrapped, are taken in the minimum image; BOTAN positions
    are unwrapped and used as they are (as :func:`glassgen.io.propensity_from_replicas` does), so the mean over
    replicas is the dataset's propensity.

    Parameters
    ----------
    path : path
        One replica .npz file or a folder of them (as :func:`glassgen.io.load` reads).
    model, temperature, times
        Passed to :func:`glassgen.io.load` for what the files lack.

    Returns
    -------
    abs_dr : ndarray of shape (M, K, R, N)
        |dr| of every configuration, time, replica and particle.
    dataset : Dataset
        The same files as a dataset (types, times, propensity = abs_dr.mean(axis=2)).
    """
    dataset = load(path, model, temperature, times)
    source = dataset.metadata.get("source", {})
    layout = next((entry for entry in LAYOUTS if entry.name == source.get("layout")), None)
    if layout is None or not layout.replicas:
        raise InvalidInputError(
            f"{path} holds {source.get('layout', 'no npz')} data, which keep only replica averages; the noise ceiling "
            "needs replica positions: give BOTAN isoconfig_*.npz or GlassBench KA2D_trajectories files."
        )
    folder = Path(source["path"])
    folder = folder if folder.is_dir() else folder.parent
    m, k = dataset.n_configurations, dataset.n_times
    rows = []
    for entry in source["files"]:  # in dataset order: configurations, then time codes
        with np.load(folder / entry["name"]) as npz:
            dr = displacements(npz["initial_positions"], npz["positions"], dataset.box if layout.wrapped else None)
        rows.append(np.linalg.norm(dr, axis=-1))
    replicas = {row.shape[0] for row in rows}
    if len(replicas) != 1:
        raise InvalidInputError(
            f"the files of {path} hold different numbers of replicas {sorted(replicas)}; the split-half ceiling needs "
            "the same R for every configuration and time."
        )
    return np.stack(rows).reshape(m, k, *rows[0].shape), dataset
