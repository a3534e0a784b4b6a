"""The predictor contract, checked on every registered predictor (``available_predictors()``): a new predictor is
tested by registering it and giving it quick settings below."""

import dataclasses

import numpy as np
import pytest

from glassgen.descriptors import LocalDensity
from glassgen.dynamics.minimization import inherent_states
from glassgen.errors import InvalidInputError
from glassgen.io.labels import stack_edge_targets
from glassgen.predictors import available_predictors, get_predictor, load_predictor
from glassgen.systems.neighbors import pairs_within
from tests.test_predictors import SHELL, TIMES, synthetic

_DESCRIPTORS = [LocalDensity(lengths=(0, 1), shell=SHELL)]
_CROPS = {"epochs": 2, "batch_size": 2, "crops_per_configuration": 1, "crop_centres": 4}

#: Small hyper-parameters per registered predictor, so that the contract runs in seconds.
QUICK = {
    "ridge": {"descriptors": _DESCRIPTORS},
    "glassmlp": {"descriptors": _DESCRIPTORS, "stage1_epochs": 3, "stage2_epochs": 1},
    "bapst": {"width": 8, "n_steps": 2, **_CROPS},
    "botan": {"width": 8, "n_steps": 2, "pretrain_epochs": 1, **_CROPS},
    "se3": {"hidden": "4x0e + 2x1o", "n_layers": 1, "n_basis": 4, "radial_width": 4, **_CROPS},
}


def quick(name: str, **hyper):
    return get_predictor(name, **{**QUICK[name], **hyper})


def with_edge_target(data):
    """``data`` with a BOTAN edge target that is a known function of each pair's distance: (k + 1) (r_ij - 1.2)."""
    pairs, change = [], []
    for x in data.positions:
        i, j, separation = pairs_within(x, data.box, 2.0)
        r = separation.norm(dim=-1).numpy()
        pairs.append(np.stack([i.numpy(), j.numpy()], axis=1))
        change.append(np.stack([(k + 1) * (r - 1.2) for k in range(len(data.times))]))
    return dataclasses.replace(data, extras={**data.extras, **stack_edge_targets(pairs, change)})


def in_tau_units(data):
    return dataclasses.replace(data, time_unit="tau_alpha", tau_alpha=np.full(data.n_configurations, 2.0))


@pytest.fixture(scope="module")
def data():
    """Four training and two test KA3D configurations of 160 particles with inherent states, labels at two times
    and an edge target: data that every predictor can learn from."""
    return tuple(inherent_states(with_edge_target(synthetic(n=160, m=m, seed=seed))) for m, seed in ((4, 0), (2, 1)))


def test_every_registered_predictor_has_quick_settings():
    assert set(QUICK) == set(available_predictors())


@pytest.mark.parametrize("name", available_predictors())
def test_refuses_before_fit(name, data, tmp_path):
    predictor = quick(name)
    for act in (lambda: predictor.predict(data[1]), lambda: predictor.predict_with_uncertainty(data[1]),
                lambda: predictor.save(tmp_path / "model.pt")):
        with pytest.raises(InvalidInputError, match="not fitted yet"):
            act()


@pytest.mark.parametrize("name", available_predictors())
def test_contract(name, data, tmp_path):
    """fit returns itself and records times, unit, label and provenance; predictions are (M, K, N); a saved and
    loaded predictor predicts bit for bit alike and refuses data of another system or time unit."""
    train, test = data
    predictor = quick(name)
    assert predictor.fit(train) is predictor
    np.testing.assert_array_equal(predictor.times_, TIMES)
    assert predictor.time_unit_ == "lj" and predictor.label == "propensity"
    assert predictor.provenance_["n_training_configurations"] == 4 and predictor.provenance_["date"]
    predicted = predictor.predict(test)
    assert predicted.shape == (2, len(TIMES), 160) and np.isfinite(predicted).all()
    mean, spread = predictor.predict_with_uncertainty(test)
    np.testing.assert_array_equal(mean, predicted)
    assert spread.shape == predicted.shape and (spread >= 0).all()

    predictor.save(tmp_path / "model.pt")
    loaded = load_predictor(tmp_path / "model.pt")
    assert type(loaded) is type(predictor) and loaded.get_params() == predictor.get_params()
    np.testing.assert_array_equal(loaded.predict(test), predicted)
    assert loaded.provenance_ == predictor.provenance_ and loaded.time_unit_ == "lj"
    with pytest.raises(InvalidInputError, match="model: ka3d-sf vs ka3d"):
        loaded.predict(dataclasses.replace(test, model="ka3d-sf"))
    with pytest.raises(InvalidInputError, match="number of particles: 200 vs 160"):
        loaded.predict(synthetic(n=200, m=1))
    with pytest.raises(InvalidInputError, match="trained on label times in LJ time units"):
        loaded.check_time_unit(in_tau_units(test), "data to score")
    with pytest.raises(InvalidInputError, match="valid dataset gives its label times in units of each"):
        quick(name).fit(train, in_tau_units(test))
