"""`glassgen label`: isoconfigurational labels for every configuration of a dataset, resumable and parallel.

Each configuration is one job that writes its own part file (``OUT.parts/KEY/config_000007.npz``, atomically). KEY is
a short hash of the settings and the configurations, so a rerun with the same settings and data resumes from the parts
on disk (a stopped run or a dead worker loses at most the jobs in flight; the labels are the same bit for bit), while a
rerun with other settings (another seed, times, replicas) or other data starts afresh in a folder of its own instead of
tripping over stale parts. The number of configurations taken from earlier parts is recorded as
``metadata["labels"]["resumed"]``. When every part is there they are assembled into the output dataset and the whole
``OUT.parts`` folder is removed, parts of other settings included: the output now holds this run's labels. Each job's
seed is derived from the run's seed and the configuration's index, so the labels are the same whether jobs ran serially,
on local workers or on a cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from glassgen.dynamics.isoconfig import check_label_settings, isoconfigurational_labels
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset, save
from glassgen.io.labels import stack_edge_targets
from glassgen.parallel import run_jobs
from glassgen.systems import System


@dataclass(frozen=True)
class LabelSettings:
    """Everything that determines the labels of a configuration besides the configuration itself."""

    times: tuple[float, ...]
    n_replicas: int = 32
    temperature: float = 0.0
    dt: float = 0.005
    seed: int = 0
    ensemble: str = "nve"
    tau: float | None = None
    edges: bool = False
    dtype: str = "float64"

    def job_seed(self, index: int) -> int:
        """A seed of its own for configuration ``index``, independent of the order jobs run in."""
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])


def run_key(dataset: Dataset, settings: LabelSettings) -> str:
    """Short hash of everything the labels depend on: the name of a run's parts folder, so only a run that would
    compute the same parts finds them."""
    digest = hashlib.sha256(json.dumps({**asdict(settings), "model": dataset.model}, sort_keys=True).encode())
    for array in (dataset.positions, dataset.types, dataset.box):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _label_one(part: Path, index: int, positions: np.ndarray, types: np.ndarray, box: np.ndarray, model: str,
               settings: LabelSettings) -> Path:
    """One job: label configuration ``index`` unless an earlier run of the same key already wrote its part file."""
    if part.exists():
        return part
    system = System(torch.as_tensor(positions), types, box, model)
    labels = isoconfigurational_labels(
        system, settings.temperature, settings.times, n_replicas=settings.n_replicas, dt=settings.dt,
        seed=settings.job_seed(index), ensemble=settings.ensemble, tau=settings.tau, edges=settings.edges,
        dtype=getattr(torch, settings.dtype),
    )
    arrays = {"times": labels.times, "propensity": labels.propensity, "bond_breaking": labels.bond_breaking,
              "propensity_halves": labels.propensity_halves, "fs": labels.fs}
    if settings.edges:
        arrays.update(edges=labels.edges, edge_change=labels.edge_change)
    temporary = part.with_name(f".{part.stem}.{os.getpid()}.tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, part)
    return part


def parts_folder(output: Path) -> Path:
    """The folder of the part files of every run writing ``output``, one subfolder per :func:`run_key`."""
    return Path(f"{output}.parts")


def label_dataset(dataset: Dataset, output: str | os.PathLike, settings: LabelSettings, *, workers: int | None = None,
                  scheduler: str | None = None, progress: bool = True, provenance: dict | None = None) -> Dataset:
    """Label every configuration of ``dataset`` and write the labelled dataset to ``output`` (native HDF5).

    The temperature of ``settings`` defaults to the dataset's. Part files go to ``parts_folder(output) / run_key``
    and are removed once the output is written (see the module docstring).
    """
    if not settings.temperature:
        if dataset.temperature is None:
            raise InvalidInputError("the dataset records no temperature: pass one (--temperature).")
        settings = LabelSettings(**{**asdict(settings), "temperature": float(dataset.temperature)})
    times = check_label_settings(settings.times, settings.n_replicas, settings.temperature, settings.dt,
                                 settings.ensemble)
    settings = LabelSettings(**{**asdict(settings), "times": tuple(float(t) for t in times)})
    if dataset.n_configurations == 0:
        raise InvalidInputError("the input dataset holds no configurations to label.")
    output = Path(output)
    folder = parts_folder(output) / run_key(dataset, settings)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder / f"config_{k:06d}.npz", k, dataset.positions[k], dataset.types, dataset.box, dataset.model,
             settings) for k in range(dataset.n_configurations)]
    resumed = sum(part.exists() for part, *_ in jobs)
    parts = run_jobs(_label_one, jobs, workers=workers, scheduler=scheduler, progress=progress,
                     desc=f"label configurations ({resumed} done before)" if resumed else "label configurations")
    labelled = save_labels(dataset, output, settings, parts, {**(provenance or {}), "resumed": resumed})
    shutil.rmtree(parts_folder(output))
    return labelled


def _by_products(loaded: list[dict]) -> dict:
    """F_s of the A particles (M, K) and the two half-replica propensities (M, 2, K, N), where every part has them
    (parts written before they existed lack them)."""
    return {key: np.stack([p[key] for p in loaded]) for key in ("fs", "propensity_halves")
            if all(key in p for p in loaded)}


def save_labels(dataset: Dataset, output: Path, settings: LabelSettings, parts: list[Path], provenance: dict) -> Dataset:
    """Assemble part files into the dataset's labels and write it."""
    loaded = [dict(np.load(part)) for part in parts]
    labelled = Dataset(
        positions=dataset.positions, types=dataset.types, box=dataset.box, model=dataset.model,
        temperature=settings.temperature, inherent_positions=dataset.inherent_positions,
        times=loaded[0]["times"], propensity=np.stack([p["propensity"] for p in loaded]),
        bond_breaking=np.stack([p["bond_breaking"] for p in loaded]),
        metadata={**dataset.metadata, "labels": {**asdict(settings), **provenance}},
        extras={**dataset.extras, **_by_products(loaded)},
    )
    if settings.edges:
        labelled.extras.update(stack_edge_targets([p["edges"] for p in loaded], [p["edge_change"] for p in loaded]))
    save(labelled, output)
    return labelled
