"""`glassgen train`, `predict` and `bench` end to end on a small labelled dataset made here, plus refusals."""

import json

import numpy as np
import pytest

from glassgen.cli import main
from glassgen.descriptors import LocalDensity
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
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "pearson.png").is_file()
    out = tmp_path / "predicted.h5"
    run_json(capsys, "predict", str(labelled), "--model", str(model), "--configurations", "3,4", "-o", str(out))
    predicted = load(out)
    assert predicted.propensity.shape == (2, 2, 256)
    a = predicted.types == 0
    truth = load(labelled).propensity[3:5]
    assert np.corrcoef(predicted.propensity[:, 0, a].ravel(), truth[:, 0, a].ravel())[0, 1] == pytest.approx(
        scores["pearson"]["1"], abs=1e-9)


def test_bench_descriptor_scores_without_training(labelled, capsys):
    scores = run_json(capsys, "bench", "--descriptor", "DEN", "--length", "1", "--data", str(labelled), "--quiet")
    assert scores["descriptor"]["name"] == "DEN" and scores["pearson"]["1"] > 0.3  # DEN on inherent states


@pytest.mark.parametrize("argv, message", [
    (["bench", "--data", "X"], "either --model"),
    (["train", "--model", "ridge", "--data", "LABELLED", "--configurations", "a:b", "-o", "m.pt"], "START:STOP"),
    (["train", "--model", "ridge", "--data", "LABELLED", "--times", "3.0", "-o", "m.pt"], "3"),
])
def test_learning_commands_refuse_bad_input_in_one_line(labelled, capsys, tmp_path, argv, message):
    argv = [str(labelled) if a == "LABELLED" else str(tmp_path / a) if a == "m.pt" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
