"""Isoconfigurational labels, the resumable labelling job, and running jobs serially or on Dask workers."""

import json
import math

import numpy as np
import pytest
import torch

from glassgen.cli import main
from glassgen.dynamics import VelocityVerlet, equilibrate, maxwell_boltzmann, run
from glassgen.dynamics.isoconfig import isoconfigurational_labels
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset, load, save
from glassgen import labeling
from glassgen.labeling import LabelSettings, label_dataset, parts_folder
from glassgen.parallel import run_jobs
from glassgen.systems import ForceField, lattice_start


@pytest.fixture(scope="module")
def liquid():
    """Three KA3D configurations of 256 particles, briefly equilibrated at T = 0.8."""
    system, _ = equilibrate(lattice_start("ka3d", 256, batch=3, seed=1), 0.8, 1000, melt_steps=500, progress=False)
    return system


def _dataset(system) -> Dataset:
    return Dataset(positions=system.positions.numpy(), types=system.types.numpy(), box=system.box.numpy(),
                   model=system.model, temperature=0.8)


def _bond_breaking_reference(x0, xt, types, box, sigma):
    """C_B of every particle for one replica, by a double loop over particles with minimum images at t = 0."""
    n = len(x0)
    result = np.ones(n)
    for i in range(n):
        d0 = x0 - x0[i]
        image = -box * np.round(d0 / box)
        r0 = np.linalg.norm(d0 + image, axis=1)
        s = sigma[types[i], types]
        bonds = (r0 < 1.4 * s) & (np.arange(n) != i)
        if bonds.any():
            rt = np.linalg.norm(xt - xt[i] + image, axis=1)
            result[i] = np.mean(rt[bonds] < 1.8 * s[bonds])
    return result


def test_labels_equal_an_independent_replica_run(liquid):
    system = liquid[0]
    times = [0.05, 1.0]
    labels = isoconfigurational_labels(system, 0.8, times, n_replicas=3, seed=7)
    # The same replicas by hand: velocities from the same seed, plain velocity Verlet, numpy analysis.
    velocities = maxwell_boltzmann(3, 256, 3, 0.8, torch.Generator().manual_seed(7))
    ff = ForceField("ka3d", system.box, system.types)
    nve = VelocityVerlet(ff, 0.005)
    state = nve.init(system.positions.expand(3, 256, 3).contiguous(), velocities)
    x0, sigma = system.positions.numpy(), np.array(system.spec.sigma)
    done = 0
    for k, t in enumerate(times):
        steps = round(t / 0.005)
        state = run(nve, state, steps - done)
        done = steps
        xt = state.positions.numpy()
        distance = np.linalg.norm(xt - x0, axis=-1)
        np.testing.assert_allclose(labels.propensity[k], distance.mean(0), rtol=1e-12)
        # By-products: the halves of the replicas (R = 3: replica 0, then replicas 1 and 2) and F_s(7.25) of A.
        np.testing.assert_allclose(labels.propensity_halves[:, k], [distance[0], distance[1:].mean(0)], rtol=1e-12)
        qr = 7.25 * distance[:, system.types.numpy() == 0]
        assert labels.fs[k] == pytest.approx(np.mean(np.sin(qr) / qr), rel=1e-10)
        reference = np.mean([_bond_breaking_reference(x0, xt[r], system.types.numpy(), system.box.numpy(), sigma)
                             for r in range(3)], axis=0)
        np.testing.assert_allclose(labels.bond_breaking[k], reference, rtol=1e-12)
    assert labels.bond_breaking[1].mean() < 1.0  # bonds do break by t = 1 at T = 0.8


def test_short_time_propensity_is_ballistic(liquid):
    """At t << vibrational time |dr| = |v| t, and <|v|> = sqrt(8 T / pi) in 3D."""
    labels = isoconfigurational_labels(liquid[0], 0.8, [0.005], n_replicas=16, seed=1)
    expected = math.sqrt(8 * 0.8 / math.pi) * 0.005
    assert labels.propensity.mean() == pytest.approx(expected, rel=0.03)
    np.testing.assert_array_equal(labels.bond_breaking, 1.0)


def test_edge_target_is_the_change_of_pair_distance(liquid):
    labels = isoconfigurational_labels(liquid[0], 0.8, [0.5], n_replicas=2, edges=True)
    pairs = labels.edges
    x0, box = liquid[0].positions.numpy(), liquid[0].box.numpy()
    d = x0[pairs[:, 1]] - x0[pairs[:, 0]]
    assert np.all(np.linalg.norm(d - box * np.round(d / box), axis=1) < 2.0)
    assert labels.edge_change.shape == (1, len(pairs)) and np.abs(labels.edge_change).max() > 0


def _stop_at(monkeypatch, index: int) -> None:
    """Make the labelling job stop (as on Ctrl-C) when it reaches configuration ``index``."""
    label_one = labeling._label_one

    def stopping(part, k, *rest):
        if k == index:
            raise KeyboardInterrupt
        return label_one(part, k, *rest)

    monkeypatch.setattr(labeling, "_label_one", stopping)


def test_label_job_resumes_and_is_the_same_serial_or_on_workers(liquid, tmp_path, monkeypatch):
    data = _dataset(liquid)
    settings = LabelSettings(times=(0.1, 1.0), n_replicas=4, seed=3)
    _stop_at(monkeypatch, 2)  # as if the run had stopped before the last configuration
    with pytest.raises(KeyboardInterrupt):
        label_dataset(data, tmp_path / "a.h5", settings, progress=False)
    assert len(list(parts_folder(tmp_path / "a.h5").glob("*/config_*.npz"))) == 2
    monkeypatch.undo()
    resumed = label_dataset(data, tmp_path / "a.h5", settings, progress=False)
    assert resumed.metadata["labels"]["resumed"] == 2
    assert not parts_folder(tmp_path / "a.h5").exists()  # removed once the labels are written
    on_workers = label_dataset(data, tmp_path / "b.h5", settings, workers=2, progress=False)
    assert on_workers.metadata["labels"]["resumed"] == 0
    np.testing.assert_array_equal(resumed.propensity, on_workers.propensity)
    np.testing.assert_array_equal(resumed.bond_breaking, load(tmp_path / "b.h5").bond_breaking)


def test_label_rerun_with_another_seed_starts_afresh_beside_stale_parts(liquid, tmp_path, monkeypatch, capsys):
    source, out = save(_dataset(liquid), tmp_path / "in.h5"), tmp_path / "out.h5"
    argv = ["label", str(source), "--times", "0.1", "--replicas", "2", "--quiet", "-o", str(out)]
    _stop_at(monkeypatch, 1)
    assert main([*argv, "--seed", "3"]) == 130  # leaves the part of configuration 0, seed 3
    monkeypatch.undo()
    assert main([*argv, "--seed", "4"]) == 0
    assert "resumed 0 of 3" in capsys.readouterr().out
    assert load(out).metadata["labels"]["seed"] == 4 and not parts_folder(out).exists()


@pytest.mark.parametrize("settings,match", [
    (dict(times=(1.0, 0.5)), "strictly increasing"),
    (dict(times=(0.1,), n_replicas=1), "at least 2 replicas"),
    (dict(times=(0.1,), temperature=-0.5), "temperature must be positive"),
])
def test_bad_label_settings_are_refused_before_any_work(liquid, tmp_path, settings, match):
    with pytest.raises(InvalidInputError, match=match):
        label_dataset(_dataset(liquid), tmp_path / "x.h5", LabelSettings(**settings), progress=False)
    assert not parts_folder(tmp_path / "x.h5").exists()


def test_scheduler_that_does_not_answer_is_reported(monkeypatch):
    monkeypatch.setattr("glassgen.parallel.SCHEDULER_TIMEOUT", 1)
    with pytest.raises(InvalidInputError, match="did not answer"):
        run_jobs(print, [(1,)], scheduler="tcp://127.0.0.1:9", progress=False)


def test_label_command_writes_labels(liquid, tmp_path, capsys):
    source = tmp_path / "in.h5"
    save(_dataset(liquid), source)
    assert main(["label", str(source), "--times", "0.1", "0.5", "--replicas", "3", "--quiet", "--json",
                 "-o", str(tmp_path / "out.h5")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_configurations"] == 3 and result["times"] == [0.1, 0.5] and result["resumed"] == 0
    assert load(tmp_path / "out.h5").propensity.shape == (3, 2, 256)
