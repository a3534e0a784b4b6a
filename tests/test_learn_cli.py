"""`glassgen train`, `predict` and `bench` end to end on a small labelled dataset made here, plus refusals."""

import json
import re
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


def test_transferable_glassmlp_ensemble_train_predict_bench(tiny_multi_t, capsys, tmp_path):
    """GlassMLP with temperature input and an ensemble of two on the tiny multi-temperature data (times in units of
    tau_alpha): trained on the train part at both temperatures, its predictions and their spread stored by predict
    as the Python API gives them, the spread per time in bench's JSON and table; labels in LJ units are refused."""
    from glassgen.bench.tasks import key
    from glassgen.predictors import load_predictor

    folder, _ = tiny_multi_t
    data, model = folder / "tiny3d.h5", tmp_path / "mlp.pt"
    trained = run_json(capsys, "train", "--model", "glassmlp", "--data", str(data), "--set", "temperature_input=true",
                       "ensemble=2", "stage1_epochs=5", "stage2_epochs=2", "-o", str(model), "--quiet")
    assert trained["parameters"]["temperature_input"] is True and trained["parameters"]["ensemble"] == 2
    assert trained["n_configurations"] == 4 and trained["time_unit"] == "tau_alpha"

    out = tmp_path / "predicted.h5"
    stored = run_json(capsys, "predict", str(data), "--model", str(model), "--split", "test", "-o", str(out),
                      "--quiet")
    predicted, test = load(out), load(data).select_split("test")
    mean, spread = load_predictor(model).predict_with_uncertainty(test)
    np.testing.assert_array_equal(predicted.predicted_propensity, mean)
    np.testing.assert_array_equal(predicted.extras["predicted_propensity_std"], spread)
    assert spread.shape == mean.shape and (spread > 0).all()
    assert predicted.time_unit == "tau_alpha" and "propensity" in stored["true_labels"] and not stored["dropped"]
    assert stored["ensemble_std"] == pytest.approx({key(t): spread[:, k].mean() for k, t in enumerate(test.times)})
    assert main(["predict", str(data), "--model", str(model), "--split", "test", "-o", str(out), "--quiet"]) == 0
    assert re.search(r"ensemble spread +mean std over 2 members: [0-9.e-]+ at t = 0.1,", capsys.readouterr().out)
    single, again = tmp_path / "single.pt", tmp_path / "again.h5"  # a single model's predictions keep no stale spread
    run_json(capsys, "train", "--model", "glassmlp", "--data", str(data), "--set", "stage1_epochs=5", "stage2_epochs=2",
             "-o", str(single), "--quiet")
    assert "ensemble_std" not in run_json(capsys, "predict", str(out), "--model", str(single), "-o", str(again))
    assert "predicted_propensity_std" not in load(again).extras

    scores = run_json(capsys, "bench", "--model", str(model), "--data", str(data), "--quiet")
    a = test.types == 0
    assert scores["ensemble_std"] == pytest.approx({key(t): spread[:, k, a].mean() for k, t in enumerate(test.times)})
    assert main(["bench", "--model", str(model), "--data", str(data), "--quiet"]) == 0
    assert "ensemble spread at t = 1 " in capsys.readouterr().out

    # Cold configurations whose tau_alpha no simulation knows: predicted at the model's times in units of tau_alpha.
    cold = replace(load(data), propensity=None, bond_breaking=None, times=None, time_unit="lj", tau_alpha=None)
    unknown = run_json(capsys, "predict", str(save(cold, tmp_path / "cold.h5")), "--model", str(model), "-o",
                       str(tmp_path / "cold_predicted.h5"), "--quiet")
    assert unknown["time_unit"] == "tau_alpha" and load(tmp_path / "cold_predicted.h5").tau_alpha is None

    in_lj = save(replace(load(data), time_unit="lj"), tmp_path / "lj.h5")
    assert main(["bench", "--model", str(model), "--data", str(in_lj), "--quiet"]) == 2
    assert "trained on label times in units of each configuration's tau_alpha" in capsys.readouterr().err


def test_graph_network_train_predict_bench(labelled, capsys, tmp_path):
    """A graph network goes through train (--budget-minutes, --set), predict and bench like any predictor; a budget
    is refused for predictors without one, and botan for data without its edge target."""
    model = tmp_path / "bapst.pt"
    quick = ["width=8", "n_steps=2", "epochs=2", "crops_per_configuration=1", "crop_centres=4", "batch_size=2"]
    trained = run_json(capsys, "train", "--model", "bapst", "--data", str(labelled), "--configurations", "0:3",
                       "--budget-minutes", "5", "--set", *quick, "-o", str(model), "--quiet")
    assert trained["parameters"]["budget_minutes"] == 5.0 and trained["times"] == [1.0, 10.0]
    assert trained["training"]["stopped"] == "epochs" and trained["training"]["parameters"] > 0
    stored = run_json(capsys, "predict", str(labelled), "--model", str(model), "--configurations", "3:5",
                      "-o", str(tmp_path / "predicted.h5"))
    assert stored["stored_as"] == "predicted_propensity" and "ensemble_std" not in stored
    scores = run_json(capsys, "bench", "--model", str(model), "--data", str(labelled), "--configurations", "3:5",
                      "--quiet")
    assert set(scores["pearson"]) == {"1", "10"} and scores["n_particles_scored"] == 2 * 205

    for argv, error in (
        (["--model", "ridge", "--budget-minutes", "5"], "ridge has no time budget: drop --budget-minutes"),
        (["--model", "bapst", "--budget-minutes", "5", "--set", "budget_minutes=3"], "the budget is given twice"),
        (["--model", "botan"], "lacks: label it with glassgen label --edges"),
    ):
        assert main(["train", "--data", str(labelled), *argv, "-o", str(tmp_path / "m.pt"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and error in err[0], err
