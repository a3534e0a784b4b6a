"""glassgen.predictors: recovery of known labels, save/load round trips, refusals, inherent states, real BOTAN data."""

import dataclasses
import pickle
import warnings

import numpy as np
import pytest
import torch

from glassgen import io
from glassgen.descriptors import DESCRIPTOR_VERSION, LocalDensity, PotentialEnergy, StructuralBondOrder
from glassgen.dynamics.minimization import inherent_states
from glassgen.errors import ConvergenceWarning, DataFormatError, InvalidInputError, SchemaVersionError
from glassgen.io import Dataset
from glassgen.predictors import (GlassMLP, Predictor, RidgePredictor, available_predictors, get_predictor,
                                 load_predictor, register)
from glassgen.systems.forcefield import ForceField
from glassgen.systems.initial import random_start
from tests.conftest import BOTAN_DIR

SHELL = 1.5
TIMES = np.array([1.0, 10.0])
FAST_MLP = {"stage1_epochs": 40, "stage2_epochs": 5, "batch_size": 128, "learning_rate": 1e-2, "radii": (1.0, 2.0),
            "shell_width": 0.3, "max_pairs": 2000}


# -- synthetic data: labels are a known function of a brute-force neighbour count ---------------------------------

def neighbour_counts(positions, box, shell):
    """Particles within ``shell`` of each particle at minimum image, O(N^2) per configuration (shell < box / 2)."""
    d = positions[:, None, :, :] - positions[:, :, None, :]
    d -= box * np.round(d / box)
    r = np.sqrt((d * d).sum(-1))
    return (r < shell).sum(-1) - 1


def synthetic(model="ka3d", n=200, m=6, seed=0, noise=0.02, species=None):
    """M random configurations whose label at time k is (k + 1) * slope_s * (count_i + noise) + species offset.

    The slope has opposite signs for species 0 and the others, so a model shared by the species cannot fit it.
    ``species`` maps the model's species to the labels' species (e.g. [0, 2, 2]: no species 1).
    """
    system = random_start(model, n, batch=m, seed=seed)
    positions, types, box = system.positions.numpy(), system.types.numpy(), system.box.numpy()
    types = types if species is None else np.asarray(species)[types]
    count = neighbour_counts(positions, box, SHELL).astype(float)
    count += noise * count.std() * np.random.default_rng(seed).standard_normal(count.shape)
    slope = np.where(types == 0, 1.0, -2.0)
    labels = np.stack([(k + 1) * slope * count + 3.0 * types for k in range(len(TIMES))], axis=1)
    return Dataset(positions, types, box, system.model, temperature=1.0, times=TIMES, propensity=labels)


def descriptors():
    return [LocalDensity(lengths=(0, 1), shell=SHELL), PotentialEnergy(lengths=(0,))]


def pearson(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


def make(name, **hyper):
    extra = FAST_MLP if name == "glassmlp" else {}
    return get_predictor(name, descriptors=descriptors(), inherent=False, **{**extra, **hyper})


@pytest.fixture(scope="module")
def data():
    return synthetic(seed=0), synthetic(seed=1, m=2)


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    return {name: make(name).fit(train) for name in ("ridge", "glassmlp")}


# -- registry ---------------------------------------------------------------------------------------------------

def test_registry_names_classes():
    assert {"ridge", "glassmlp"} <= set(available_predictors())
    assert isinstance(get_predictor("ridge"), RidgePredictor) and isinstance(get_predictor("glassmlp"), GlassMLP)
    with pytest.raises(InvalidInputError, match="unknown predictor 'lasso'.*available"):
        get_predictor("lasso")
    with pytest.raises(TypeError, match="Predictor subclasses"):
        register("thing")(dict)
    with pytest.raises(ValueError, match="taken by RidgePredictor"):
        register("ridge")(type("Other", (Predictor,), {}))


# -- learning known labels ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, floor", [("ridge", 0.99), ("glassmlp", 0.95)])
def test_recovers_known_label_per_species_and_time(data, fitted, name, floor):
    _, test = data
    predicted = fitted[name].predict(test)
    assert predicted.shape == test.propensity.shape
    for s in (0, 1):
        for k in range(len(TIMES)):
            rows = test.types == s
            assert pearson(predicted[:, k, rows], test.propensity[:, k, rows]) > floor, (name, s, k)


def test_ridge_slopes_match_the_generating_law(data, fitted):
    """Doubling the time doubles the label: the fitted per-species coefficients of time 1 are twice those of time 0."""
    for s in (0, 1):
        coef = fitted["ridge"].models_[s]["coef"]
        np.testing.assert_allclose(coef[1], 2 * coef[0], rtol=0.05, atol=0.02 * np.abs(coef).max())
    assert np.sign(fitted["ridge"].models_[0]["coef"][0, 0]) == -np.sign(fitted["ridge"].models_[1]["coef"][0, 0])


def test_times_are_selected_by_value(data):
    train, test = data
    both = make("ridge").fit(train)
    late = make("ridge").fit(train, times=[10.0])
    np.testing.assert_array_equal(late.times_, [10.0])
    np.testing.assert_allclose(late.predict(test)[:, 0], both.predict(test)[:, 1], rtol=1e-9, atol=1e-9)
    with pytest.raises(InvalidInputError, match=r"time 5 is not among the label times of .* \[1.0, 10.0\]"):
        make("ridge").fit(train, times=[5.0])


def test_glassmlp_is_seeded(data):
    train, test = data
    a = make("glassmlp", seed=3, stage1_epochs=5, stage2_epochs=2).fit(train).predict(test)
    b = make("glassmlp", seed=3, stage1_epochs=5, stage2_epochs=2).fit(train).predict(test)
    c = make("glassmlp", seed=4, stage1_epochs=5, stage2_epochs=2).fit(train).predict(test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_glassmlp_2d_with_validation_set():
    train, valid = synthetic("ka2d", n=150, m=4, seed=2), synthetic("ka2d", n=150, m=2, seed=3)
    model = make("glassmlp", dtype="float64").fit(train, valid)
    assert pearson(model.predict(valid)[:, 1, valid.types == 0], valid.propensity[:, 1, valid.types == 0]) > 0.9


def test_stage2_correlation_term_matches_brute_force():
    """C_R of the module equals a direct double sum over all pairs of a small system with Gaussian shells."""
    from glassgen.predictors.glassmlp import shell_correlations

    ds = synthetic(n=200, m=1)
    x, box = ds.positions[0], ds.box
    model = GlassMLP(radii=(1.0, 1.8), shell_width=0.3, max_pairs=10**9)
    i, j, w = model._shells(x, box, np.random.default_rng(0), torch.float64)
    field = ds.propensity[0].T
    got = shell_correlations(torch.from_numpy(field), i, j, w).numpy()
    z = (field - field.mean(0)) / field.std(0)
    d = x[None] - x[:, None]
    d -= box * np.round(d / box)  # the shells end at 1.8 + 3 * 0.3 < box / 2 = 2.75: minimum images suffice
    r = np.sqrt((d * d).sum(-1))
    upper = np.triu(np.ones_like(r, dtype=bool), 1)
    for a, radius in enumerate((1.0, 1.8)):
        weight = np.exp(-0.5 * ((r - radius) / 0.3) ** 2) * upper * (r < 1.8 + 3 * 0.3)
        expected = np.einsum("ij,ik,jk->k", weight, z, z) / weight.sum()
        np.testing.assert_allclose(got[a], expected, rtol=1e-10)


def test_absent_species_keep_their_place():
    """KA2D data without species 1: species 0 and 2 get their own models and standardisation rows."""
    data = synthetic("ka2d", n=150, m=3, seed=5, species=[0, 2, 2])
    model = make("ridge").fit(data)
    assert sorted(model.models_) == [0, 2] and model.species_counts_[1] == 0
    predicted = model.predict(data)
    for s in (0, 2):
        rows = data.types == s
        assert pearson(predicted[:, 0, rows], data.propensity[:, 0, rows]) > 0.95, s


def sbo():
    return StructuralBondOrder(ls=(2, 4, 6), bond_shell=SHELL)


def test_fit_never_changes_the_descriptors_given(data):
    """fit works on copies: descriptors given, computed or fitted before, stay as they were, and two predictors that
    share one do not interfere (a refit of the shared SBO would move the first predictor's axis)."""
    train, test = data
    given = [LocalDensity(lengths=(0, 1), shell=SHELL).compute(test), sbo().fit(test)]
    before = pickle.dumps(given)
    first = get_predictor("ridge", descriptors=given, inherent=False).fit(train)
    predicted = first.predict(test)
    get_predictor("ridge", descriptors=given, inherent=False).fit(train.subset([0, 1, 2]))
    np.testing.assert_array_equal(first.predict(test), predicted)
    assert pickle.dumps(given) == before


def test_sbo_is_fitted_on_the_training_data_only_and_saved(data, tmp_path, monkeypatch):
    """The predictor fits SBO's axis on its training data, predicts each configuration alone as in a batch, and a
    loaded predictor reproduces its predictions bit for bit from the saved axis, without fitting anything."""
    train, test = data
    model = get_predictor("ridge", descriptors=[sbo()], inherent=False).fit(train)
    on_train = sbo().fit(train)
    for name in ("mean_", "scale_", "components_"):
        np.testing.assert_array_equal(getattr(model.descriptors_[0], name), getattr(on_train, name))
    predicted = model.predict(test)
    np.testing.assert_allclose(model.predict(test.subset([1])), predicted[1:], rtol=1e-12)
    model.save(tmp_path / "sbo.pt")
    monkeypatch.setattr("glassgen.descriptors._sbo._principal_axis", lambda *args: pytest.fail("SBO was refitted"))
    loaded = load_predictor(tmp_path / "sbo.pt")
    np.testing.assert_array_equal(loaded.predict(test), predicted)
    payload = torch.load(tmp_path / "sbo.pt", weights_only=True)
    del payload["arrays"]["d0.components_"]
    torch.save(payload, tmp_path / "sbo.pt")
    with pytest.raises(DataFormatError, match="fitted arrays .*components_.* Retrain"):
        load_predictor(tmp_path / "sbo.pt")


# -- save / load -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ridge", "glassmlp"])
def test_save_load_round_trip_is_bitwise(data, fitted, name, tmp_path):
    _, test = data
    model = fitted[name]
    path = tmp_path / f"{name}.pt"
    model.save(path)
    loaded = load_predictor(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    np.testing.assert_array_equal(loaded.times_, TIMES)
    assert [d.settings() for d in loaded.descriptors_] == [d.settings() for d in descriptors()]
    assert loaded.provenance_["glassgen_version"] and loaded.provenance_["date"]
    assert loaded.species_counts_ == np.bincount(test.types).tolist() and loaded.n_particles_ == 200
    assert type(model).load(path).name == name
    with pytest.raises(InvalidInputError, match="use glassgen.predictors.load_predictor"):
        (GlassMLP if name == "ridge" else RidgePredictor).load(path)


def test_saved_file_with_unknown_descriptor_is_refused(fitted, tmp_path):
    path = tmp_path / "ridge.pt"
    fitted["ridge"].save(path)
    payload = torch.load(path, weights_only=True)
    payload["descriptors"][0]["class"] = "NoSuchDescriptor"
    torch.save(payload, path)
    with pytest.raises(InvalidInputError, match="NoSuchDescriptor.*retrain"):
        load_predictor(path)
    path.write_bytes(b"not a predictor")
    with pytest.raises(DataFormatError, match="not a saved glassgen predictor"):
        load_predictor(path)


def test_saved_file_from_other_descriptor_formulas_is_refused(fitted, tmp_path):
    """The file records the descriptor version; another one (or none: written before it was recorded) is refused."""
    path = tmp_path / "ridge.pt"
    fitted["ridge"].save(path)
    payload = torch.load(path, weights_only=True)
    assert payload["descriptor_version"] == DESCRIPTOR_VERSION
    payload["descriptor_version"] = DESCRIPTOR_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(SchemaVersionError, match=f"descriptors of version {DESCRIPTOR_VERSION + 1} .* descriptor "
                                                 f"version {DESCRIPTOR_VERSION},.* retrain .* version "
                                                 f"{DESCRIPTOR_VERSION + 1}"):
        load_predictor(path)
    del payload["descriptor_version"]
    torch.save(payload, path)
    with pytest.raises(SchemaVersionError, match="descriptors of version 1 "):
        load_predictor(path)


# -- refusals ----------------------------------------------------------------------------------------------------

def test_predict_refuses_other_systems(fitted):
    ridge = fitted["ridge"]
    with pytest.raises(InvalidInputError, match="not fitted yet"):
        make("ridge").predict(synthetic(m=1))
    with pytest.raises(InvalidInputError, match="number of particles: 160 vs 200"):
        ridge.predict(synthetic(n=160, m=1))
    with pytest.raises(InvalidInputError, match="dimension: 2 vs 3"):
        ridge.predict(synthetic("ka2d", n=200, m=1))
    same = synthetic(m=1)
    with pytest.raises(InvalidInputError, match="model: ka3d-sf vs ka3d"):
        ridge.predict(dataclasses.replace(same, model="ka3d-sf"))
    with pytest.raises(InvalidInputError, match="species counts"):
        ridge.predict(dataclasses.replace(same, types=np.zeros_like(same.types)))


def test_fit_refuses_bad_labels_and_settings(data):
    train, _ = data
    with pytest.raises(InvalidInputError, match="train dataset has no propensity labels"):
        make("ridge").fit(dataclasses.replace(train, propensity=None, times=None))
    with pytest.raises(InvalidInputError, match="no label times"):
        make("ridge").fit(dataclasses.replace(train, times=None))
    broken = dataclasses.replace(train, propensity=train.propensity.copy())
    broken.propensity[2, 1, 7] = np.nan
    with pytest.raises(InvalidInputError, match=r"labels of the train dataset hold 1 NaN .* \(configurations \[2\]\)"):
        make("ridge").fit(broken)
    with pytest.raises(InvalidInputError, match="'alphas' parameter of RidgePredictor must be .* Got \\[-1.0\\]"):
        make("ridge", alphas=[-1.0]).fit(train)
    with pytest.raises(InvalidInputError, match="'dtype' parameter of GlassMLP"):
        make("glassmlp", dtype="float16").fit(train)
    with pytest.raises(InvalidInputError, match="'descriptors' parameter"):
        RidgePredictor(descriptors=[]).fit(train)
    with pytest.raises(InvalidInputError, match="valid dataset differs .* number of particles"):
        make("glassmlp").fit(train, synthetic(n=160, m=2))


# -- inherent states ---------------------------------------------------------------------------------------------

def test_inherent_states_are_minima_and_used_when_missing(data, capsys):
    _, test = data
    small = test.subset([0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        minimised = inherent_states(small, fmax=1e-6)
    assert inherent_states(minimised) is minimised
    one_by_one = inherent_states(test, batch_size=1).inherent_positions
    np.testing.assert_allclose(inherent_states(test).inherent_positions, one_by_one, rtol=0, atol=1e-6)
    with pytest.raises(InvalidInputError, match="batch_size must be >= 1"):
        inherent_states(test, batch_size=0)
    ff = ForceField(small.model, torch.from_numpy(small.box), torch.from_numpy(small.types))
    forces = ff.compute(torch.from_numpy(minimised.inherent_positions), energy=False).forces
    assert float(forces.norm(dim=-1).max()) < 1e-6
    start = ff.compute(torch.from_numpy(small.positions), forces=False).energy
    assert float(ff.compute(torch.from_numpy(minimised.inherent_positions), forces=False).energy) < float(start)

    model = get_predictor("ridge", descriptors=[PotentialEnergy(lengths=(0, 1))], inherent=True)
    model.fit(minimised)
    capsys.readouterr()
    automatic = model.predict(small)
    assert capsys.readouterr().err == ""  # progress=False: silent
    model.progress = True
    np.testing.assert_array_equal(automatic, model.predict(small))
    assert "minimising 1 configuration(s) with FIRE" in capsys.readouterr().err
    np.testing.assert_array_equal(automatic, model.predict(inherent_states(small)))


# -- real data ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_botan_generalisation(shared_data):
    """Train on 7 BOTAN configurations (T = 0.44, t = 4120), score the other 3: Pearson over A particles pooled.

    Ridge runs on inherent-state Boattini descriptors: on thermal ones (the default) it scored 0.46 here.
    """
    dataset = inherent_states(io.load(BOTAN_DIR))
    train, test = dataset.subset(range(7)), dataset.subset([7, 8, 9])
    rows = test.types == 0
    scores = {}
    for name in ("ridge", "glassmlp"):
        predicted = get_predictor(name, inherent=True).fit(train).predict(test)
        scores[name] = pearson(predicted[:, 0, rows], test.propensity[:, 0, rows])
    assert scores["ridge"] >= 0.6, scores
    assert scores["glassmlp"] >= 0.65, scores


def test_ridge_penalty_is_chosen_on_held_out_configurations():
    """held_out_errors equals a brute-force loop of scikit-learn Ridge fits over the same configuration folds."""
    from sklearn.linear_model import Ridge

    from glassgen.predictors.ridge import MAX_FOLDS, held_out_errors

    rng = np.random.default_rng(3)
    features = rng.normal(size=(7, 40, 5))
    labels = features @ rng.normal(size=(5, 2)) + rng.normal(size=(7, 40, 2))
    alphas = np.array([0.1, 10.0, 1000.0])
    brute = np.zeros((3, 2))
    folds = min(7, MAX_FOLDS)
    for fold in range(folds):
        held = np.arange(7) % folds == fold
        for a, alpha in enumerate(alphas):
            fit = Ridge(alpha=alpha).fit(features[~held].reshape(-1, 5), labels[~held].reshape(-1, 2))
            brute[a] += ((fit.predict(features[held].reshape(-1, 5)) - labels[held].reshape(-1, 2)) ** 2).sum(0)
    np.testing.assert_allclose(held_out_errors(features, labels, alphas), brute, rtol=1e-9)


# -- temperature input, ensembles, time units --------------------------------------------------------------------

QUICK_MLP = {"stage1_epochs": 5, "stage2_epochs": 2}


def at_temperatures(data, temperatures):
    """``data`` with one temperature per configuration and labels scaled by 1/T, a known temperature dependence."""
    temperatures = np.asarray(temperatures, dtype=float)
    return dataclasses.replace(data, temperature=None, temperatures=temperatures,
                               propensity=data.propensity / temperatures[:, None, None])


@pytest.fixture(scope="module")
def multi_t(data):
    """Training data at T = 1.0 and 0.8, and the test configurations as they are (labels of T = 1)."""
    train, test = data
    return at_temperatures(train, [1.0, 1.0, 1.0, 0.8, 0.8, 0.8]), test


def test_temperature_input_learns_the_temperature_dependence(multi_t):
    """With temperature_input, the same configurations predicted at another temperature change as the labels do
    (x 1.25 from T = 1.0 to 0.8), each configuration by its own temperature; without it, not at all."""
    train, test = multi_t
    model = make("glassmlp", temperature_input=True, ensemble=1).fit(train)
    assert model.feature_names_[-1] == "1/T"
    hot, cold = model.predict(at_temperatures(test, [1.0, 1.0])), model.predict(at_temperatures(test, [0.8, 0.8]))
    assert np.std(cold) / np.std(hot) == pytest.approx(1.25, abs=0.05)
    mixed = model.predict(at_temperatures(test, [1.0, 0.8]))
    np.testing.assert_array_equal(mixed[0], hot[0])
    np.testing.assert_array_equal(mixed[1], cold[1])
    plain = make("glassmlp", **QUICK_MLP).fit(train)
    np.testing.assert_array_equal(plain.predict(at_temperatures(test, [0.8, 0.8])),
                                  plain.predict(at_temperatures(test, [0.6, 0.7])))


def test_temperature_input_refuses_unknown_or_single_temperatures(multi_t, monkeypatch):
    """Refused before any descriptor is computed, naming the fix."""
    train, test = multi_t
    model = make("glassmlp", temperature_input=True, ensemble=1, **QUICK_MLP).fit(train)
    monkeypatch.setattr(GlassMLP, "_descriptor_values", lambda *args: pytest.fail("descriptors before the refusal"))
    unknown = dataclasses.replace(train, temperatures=None)
    assert unknown.temperature is None
    with pytest.raises(InvalidInputError, match=r"train dataset records none: give it \(--temperature T"):
        make("glassmlp", temperature_input=True).fit(unknown)
    with pytest.raises(InvalidInputError, match=r"holds one temperature only \(T = 1\): train on data at two or more"):
        make("glassmlp", temperature_input=True).fit(test)
    with pytest.raises(InvalidInputError, match="valid dataset records none"):
        make("glassmlp", temperature_input=True).fit(train, unknown.subset([0, 1]))
    with pytest.raises(InvalidInputError, match="dataset to predict records none.*temperature_input=false"):
        model.predict(dataclasses.replace(test, temperature=None))
    with pytest.raises(InvalidInputError, match="'temperature_input' parameter of GlassMLP must be a bool"):
        make("glassmlp", temperature_input="yes").fit(train)
    with pytest.raises(InvalidInputError, match="'ensemble' parameter of GlassMLP must be an int >= 1"):
        make("glassmlp", ensemble=0).fit(train)


def test_the_transferable_model_is_an_ensemble_by_default():
    """A model meant for other temperatures reports its spread with every prediction unless told otherwise."""
    from glassgen.predictors.glassmlp import TRANSFERABLE_ENSEMBLE

    assert TRANSFERABLE_ENSEMBLE > 1
    assert get_predictor("glassmlp", temperature_input=True).get_params()["ensemble"] == TRANSFERABLE_ENSEMBLE
    assert get_predictor("glassmlp").get_params()["ensemble"] == 1
    assert get_predictor("glassmlp", temperature_input=True, ensemble=1).get_params()["ensemble"] == 1


@pytest.fixture(scope="module")
def ensemble(multi_t):
    """A GlassMLP ensemble of three with temperature input."""
    return make("glassmlp", temperature_input=True, ensemble=3, seed=3, **QUICK_MLP).fit(multi_t[0])


def test_ensemble_is_its_members_fitted_alone(multi_t, ensemble):
    """The ensemble's mean and spread are those of single models fitted with the members' seeds (member 0: the seed
    itself), which differ; a single model has no spread."""
    from glassgen.predictors.glassmlp import member_seeds

    train, test = multi_t
    seeds = member_seeds(3, 3)
    assert seeds[0] == 3 and len(set(seeds)) == 3 and member_seeds(3, 2) == seeds[:2]
    members = np.stack([make("glassmlp", temperature_input=True, ensemble=1, seed=s, **QUICK_MLP).fit(train).predict(test)
                        for s in seeds])
    mean, std = ensemble.predict_with_uncertainty(test)
    np.testing.assert_array_equal(mean, members.mean(0))
    np.testing.assert_array_equal(std, members.std(0))
    np.testing.assert_array_equal(ensemble.predict(test), mean)
    assert (std > 0).mean() > 0.99
    single_mean, single_std = make("glassmlp", **QUICK_MLP).fit(train).predict_with_uncertainty(test)
    assert not single_std.any() and np.isfinite(single_mean).all()


def test_ensemble_with_temperature_input_saves_and_loads_bitwise(multi_t, ensemble, tmp_path):
    """Every member and the temperature standardisation come back; a single model's file keeps neither new setting,
    so that a glassgen from before them reads it."""
    _, test = multi_t
    ensemble.save(tmp_path / "ensemble.pt")
    loaded = load_predictor(tmp_path / "ensemble.pt")
    assert loaded.get_params() == ensemble.get_params() and loaded.feature_names_ == ensemble.feature_names_
    cold = at_temperatures(test, [0.7, 0.6])
    for got, expected in zip(loaded.predict_with_uncertainty(cold), ensemble.predict_with_uncertainty(cold)):
        np.testing.assert_array_equal(got, expected)
    make("glassmlp", **QUICK_MLP).fit(test).save(tmp_path / "single.pt")
    single = torch.load(tmp_path / "single.pt", weights_only=True)
    assert "ensemble" not in single["params"] and "temperature_input" not in single["params"]
    # Readers of format 2 read the single model, and refuse (rather than crash on) the settings they do not know.
    assert single["format_version"] == 2
    assert torch.load(tmp_path / "ensemble.pt", weights_only=True)["format_version"] == 3
    assert load_predictor(tmp_path / "single.pt").get_params()["ensemble"] == 1


def in_tau_units(data):
    return dataclasses.replace(data, time_unit="tau_alpha", tau_alpha=np.full(data.n_configurations, 2.0))


def test_labels_in_another_time_unit_are_refused(data, fitted, tmp_path, monkeypatch):
    """A model fitted on LJ times refuses labels in units of tau_alpha (the same numbers, other moments) for early
    stopping or scoring, but predicts any data; the unit is saved, in a format that readers unaware of it refuse."""
    train, test = data
    with pytest.raises(InvalidInputError, match="valid dataset gives its label times in units of each configuration's "
                                                r"tau_alpha, but .* trained on label times in LJ time units \(\[1.0"):
        make("ridge").fit(train, in_tau_units(test))
    ridge = fitted["ridge"]
    assert ridge.time_unit_ == "lj"
    ridge.check_time_unit(test)
    with pytest.raises(InvalidInputError, match="the data to score gives .* tau_alpha"):
        ridge.check_time_unit(in_tau_units(test), "data to score")
    np.testing.assert_array_equal(ridge.predict(in_tau_units(test)), ridge.predict(test))

    tau = make("ridge").fit(in_tau_units(train))
    assert tau.time_unit_ == "tau_alpha"
    with pytest.raises(InvalidInputError, match="in LJ time units, but .* trained on label times in units of"):
        tau.check_time_unit(test)
    tau.save(tmp_path / "tau.pt")
    assert load_predictor(tmp_path / "tau.pt").time_unit_ == "tau_alpha"
    ridge.save(tmp_path / "lj.pt")
    payload = torch.load(tmp_path / "lj.pt", weights_only=True)
    assert payload["format_version"] == 2 and payload["fitted"]["time_unit"] == "lj"
    monkeypatch.setattr("glassgen.predictors.base.FORMAT_VERSION", 2)  # a reader from before time units
    load_predictor(tmp_path / "lj.pt")
    with pytest.raises(SchemaVersionError, match="predictor format 3"):
        load_predictor(tmp_path / "tau.pt")
    monkeypatch.undo()
    payload = torch.load(tmp_path / "tau.pt", weights_only=True)
    del payload["fitted"]["time_unit"]  # a file written before the unit was recorded: LJ units
    torch.save(payload, tmp_path / "old.pt")
    assert load_predictor(tmp_path / "old.pt").time_unit_ == "lj"
