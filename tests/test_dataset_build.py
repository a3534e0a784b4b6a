"""`glassgen dataset build`: a multi-temperature benchmark from a recipe, resumable, with its checks and costs."""

import json
import math

import numpy as np
import pytest

from glassgen.cli import main
from glassgen.dataset_build import load_recipe
from glassgen.errors import InvalidInputError
from glassgen.io import load
from tests.conftest import TINY_RECIPE


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)

def test_a_build_stops_between_temperatures_and_continues(tiny_multi_t):
    folder, (first, second) = tiny_multi_t
    assert first["done"] == [1.0] and first["remaining"] == [0.8] and first["output"] is None
    assert second["done"] == [1.0, 0.8] and second["remaining"] == [] and second["output"].endswith("tiny3d.h5")
    costs = json.loads((folder / "work" / "T1.000" / "costs.json").read_text())
    summary = {s["temperature"]: s for s in second["temperatures"]}
    assert summary[1.0]["seconds"] == costs  # the second run redid nothing at T = 1.0
    assert set(costs) == {"prepare", "tau_alpha", "minimise", "label"}


def test_the_assembled_dataset_is_in_units_of_tau_alpha_with_splits(tiny_multi_t):
    folder, (_, report) = tiny_multi_t
    data = load(folder / "tiny3d.h5")
    assert data.time_unit == "tau_alpha" and data.distinct_temperatures == [0.8, 1.0]
    np.testing.assert_array_equal(data.times, [0.1, 1.0, 2.0])
    assert data.propensity.shape == (8, 3, 200) and data.inherent_positions is not None
    assert np.bincount(data.extras["split"]).tolist() == [4, 4]
    summary = {s["temperature"]: s for s in report["temperatures"]}
    for temperature in (1.0, 0.8):
        at = data.select_temperatures([temperature])
        tau = summary[temperature]["tau_alpha"]
        np.testing.assert_allclose(at.tau_alpha, tau)
        # The label times are times_tau x tau_alpha, to the time step.
        np.testing.assert_allclose(summary[temperature]["label_times"], np.array([0.1, 1.0, 2.0]) * tau, atol=0.003)
        # An independent check of the measured tau_alpha: the labels' own replicas (other velocities, every
        # configuration) must see F_s(q, tau_alpha) near 1/e.
        assert abs(summary[temperature]["fs_at_tau_alpha"] - math.exp(-1)) < 0.08
        assert 0 < summary[temperature]["rho_max"][1] < 1
    assert summary[0.8]["tau_alpha"] > summary[1.0]["tau_alpha"]  # colder is slower
    assert summary[0.8]["energy_per_particle"] < summary[1.0]["energy_per_particle"]


def test_train_and_bench_read_their_split_of_a_named_temperature(tiny_multi_t, capsys, tmp_path):
    folder, _ = tiny_multi_t
    path = str(folder / "tiny3d.h5")
    trained = run_json(capsys, "train", "--model", "ridge", "--data", path, "--temperatures", "1.0", "-o",
                       str(tmp_path / "ridge.pt"))
    assert trained["n_configurations"] == 2  # the train part at T = 1.0
    scored = run_json(capsys, "bench", "--model", str(tmp_path / "ridge.pt"), "--data", path, "--temperatures",
                      "0.8")
    assert scored["n_configurations"] == 2  # the test part at T = 0.8
    assert main(["train", "--model", "ridge", "--data", path, "--temperatures", "0.6", "-o",
                 str(tmp_path / "x.pt"), "--quiet"]) == 2
    assert "temperature 0.6 is not in the data" in capsys.readouterr().err


def test_recipes_refuse_what_cannot_be_built(tmp_path):
    assert [p.T for p in load_recipe("ka3d-multiT").temperatures] == [0.8, 0.7, 0.64, 0.56, 0.5]
    assert load_recipe("ka2d-multiT").n == 1290
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_RECIPE.replace("T = 0.8", "T = 1.2"))
    with pytest.raises(InvalidInputError, match="from hot to cold"):
        load_recipe(bad)
    bad.write_text(TINY_RECIPE.replace("[0.1, 1.0, 2.0]", "[0.1, 2.0]"))
    with pytest.raises(InvalidInputError, match="hold 1.0"):
        load_recipe(bad)
    with pytest.raises(InvalidInputError, match="no recipe nothing-here"):
        load_recipe("nothing-here")


def test_the_transfer_task_trains_at_each_temperature_and_scores_at_every_other(tiny_multi_t, capsys, tmp_path):
    from glassgen.bench import evaluate
    from glassgen.predictors import get_predictor

    folder, _ = tiny_multi_t
    path = folder / "tiny3d.h5"
    result = run_json(capsys, "bench", "--transfer", "ridge", "--data", str(path), "--report", str(tmp_path))
    matrix = result["ridge"]
    assert matrix["train_temperatures"] == ["0.8", "1"] and matrix["test_temperatures"] == ["0.8", "1"]
    assert matrix["test_times"] == {"0.8": 1.0, "1": 1.0} and matrix["time_unit"] == "tau_alpha"
    # The cell (trained at 1.0, tested at 0.8) is the same fit and score done by hand with the Python API.
    data = load(path)
    model = get_predictor("ridge", progress=False).fit(data.select_temperatures([1.0]).select_split("train"))
    test = data.select_temperatures([0.8]).select_split("test")
    by_hand = evaluate(model.predict(test), test, times=model.times_)["pearson"]
    assert matrix["pearson"][1][0] == pytest.approx(by_hand["1"], abs=1e-12)
    assert matrix["pearson_mean_over_times"][1][0] == pytest.approx(np.mean(list(by_hand.values())), abs=1e-12)
    assert (tmp_path / "transfer_ridge.png").exists()
