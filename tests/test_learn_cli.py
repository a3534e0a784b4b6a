"""`glassgen train`, `predict` and `bench` end to end on a small labelled dataset made here, plus refusals."""

import json
from dataclasses import replace

import numpy as np
import pytest

from glassgen.bench import score_descriptor
from glassgen.cli import main
from glassgen.descriptors import LocalDensity
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset, load, save
from glassgen.systems import random_start


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Five KA3D N = 256 configurations whose label is a known function of the coarse-grained density plus noise."""
    start = random_start("ka3d", 256, batch=5, seed=4)
    density = LocalDensity(lengths=(1.0,)).compute(start).values[..., 0]
    noise = np.random.default_rng(0).normal(0, 0.1 * density.std(), density.shape)
    label = np.stack([density + noise, 2 * density + noise], 1)  # (M, K = 2, N)
    data = Dataset(positions=start.positions.numpy(), types=start.types.numpy(), box=start.box.numpy(), model="ka3d",
                   temperature=1.0, times=np.array([1.0, 10.0]), propensity=label)
    return save(data, tmp_path_factory.mktemp("learn") / "labelled.h5")


def test_train_predict_bench_round_trip(labelled, capsys, tmp_path):
    model = tmp_path / "ridge.pt"
    trained = run_json(capsys, "train", "--model", "ridge", "--data", str(labelled), "--configurations", "0:3",
                       "--set", "inherent=false", "-o", str(model), "--quiet")
    assert trained["n_configurations"] == 3 and trained["times"] == [1.0, 10.0]
    scores = run_json(capsys, "bench", "--model", str(model), "--data", str(labelled), "--configurations", "3:5",
                      "--report", str(tmp_path / "report"), "--quiet")
    assert scores["n_configurations"] == 2 and scores["n_particles_scored"] == 2 * 205
    assert min(scores["pearson"].values()) > 0.8  # the density law is learnable from Boattini descriptors
    assert all(isinstance(v, float) for v in scores["r2"].values()) and "r2_omitted" not in scores
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "pearson.png").is_file()
    out = tmp_path / "predicted.h5"
    stored = run_json(capsys, "predict", str(labelled), "--model", str(model), "--configurations", "3,4",
                      "-o", str(out))
    assert stored["stored_as"] == "predicted_propensity" and stored["true_labels"] == ["propensity"]
    predicted = load(out)
    truth = load(labelled).propensity[3:5]
    np.testing.assert_array_equal(predicted.propensity, truth)  # the true labels stay, under their own name
    a = predicted.types == 0
    assert np.corrcoef(predicted.predicted_propensity[:, 0, a].ravel(), truth[:, 0, a].ravel())[0, 1] == pytest.approx(
        scores["pearson"]["1"], abs=1e-9)
    info = run_json(capsys, "info", str(out))
    assert info["labels"] == ["propensity"] and info["predictions"] == ["predicted_propensity"]
    stored_scores = run_json(capsys, "bench", "--predicted", "--data", str(out))
    assert stored_scores["pearson"] == pytest.approx(scores["pearson"], abs=1e-9)
    assert main(["bench", "--predicted", "--data", str(out), "--quiet"]) == 0  # the table shows a prediction's R^2
    assert "R^2 at t = 1" in capsys.readouterr().out


def test_bench_on_unlabelled_data_says_to_label_it_first(labelled, capsys, tmp_path):
    unlabelled = replace(load(labelled), times=None, propensity=None)
    path = save(unlabelled, tmp_path / "unlabelled.h5")
    assert main(["bench", "--descriptor", "EPOT", "--data", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "label it with glassgen label first" in err[0]
    with pytest.raises(InvalidInputError, match="glassgen label first"):  # the Python API says the same
        score_descriptor("EPOT", unlabelled)


def test_bench_descriptor_scores_without_training(labelled, capsys):
    arguments = ["bench", "--descriptor", "DEN", "--length", "1", "--data", str(labelled), "--quiet"]
    scores = run_json(capsys, *arguments)
    assert scores["descriptor"]["name"] == "DEN" and scores["pearson"]["1"] > 0.3  # DEN on inherent states
    # a density is not in the label's units: no R^2 in the JSON (null, with the reason) nor in the table
    assert scores["r2"] == {"1": None, "10": None} and "label's units" in scores["r2_omitted"]
    assert main(arguments) == 0
    table = capsys.readouterr().out
    assert "Pearson at t = 1" in table and "R^2" not in table
