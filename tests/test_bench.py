"""glassgen.bench: metrics against independent computations (scipy, scikit-learn, loops), tasks, baselines, reports."""

import json

import numpy as np
import pytest
from matplotlib.image import imread
from scipy.spatial import cKDTree
from scipy.stats import pearsonr
from sklearn.metrics import r2_score

from glassgen.bench import (GLASSBENCH, chi4_pair, evaluate, label_time, pearson, r2, replica_displacements, rho_max,
                            score_descriptor, time_index, transfer_matrix, write_report)
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset, load
from tests.conftest import BOTAN_DIR, KA2D_FILE


def fields(seed=0, m=6, k=3, n=200, offset=3.0):
    """Label and prediction (M, K, N) sharing a large per-configuration offset, and 80:20 types."""
    rng = np.random.default_rng(seed)
    shift = offset * rng.normal(size=(m, 1, 1))
    true = shift + rng.normal(size=(m, k, n))
    pred = shift + true + 2.0 * rng.normal(size=(m, k, n))
    types = np.zeros(n, dtype=np.int64)
    types[rng.choice(n, n // 5, replace=False)] = 1
    return pred, true, types


def toy_dataset(temperature=0.44, m=4, n=60, seed=0, times=None):
    rng = np.random.default_rng(seed)
    times = np.array([0.13, 1300.0, 4120.0, 13000.0]) if times is None else np.asarray(times)
    types = (np.arange(n) % 5 == 0).astype(np.int64)
    return Dataset(rng.uniform(0, 5, size=(m, n, 3)), types, np.full(3, 5.0), "ka3d", temperature, times=times,
                   propensity=rng.gamma(2.0, 0.3, size=(m, len(times), n)))


# ----------------------------------------------------------------------------------------------------------- pearson
def test_pearson_pools_configurations_like_scipy_on_the_concatenation():
    pred, true, types = fields()
    got = pearson(pred, true, types)
    a = types == 0
    for k in range(pred.shape[1]):
        expected = pearsonr(np.concatenate(pred[:, k][:, a]), np.concatenate(true[:, k][:, a]))[0]
        assert got[k] == pytest.approx(expected, abs=1e-12)
        per_configuration = np.mean([pearsonr(p[k][a], t[k][a])[0] for p, t in zip(pred, true)])
        assert got[k] - per_configuration > 0.2  # the shared offsets make pooling differ: a per-config mean fails


def test_species_are_never_mixed():
    pred, true, types = fields(seed=1)
    before = pearson(pred, true, types, species=0)
    pred[..., types == 1] = 1e6 * np.random.default_rng(2).normal(size=pred[..., types == 1].shape)
    np.testing.assert_array_equal(pearson(pred, true, types, species=0), before)
    b = types == 1
    assert pearson(pred, true, types, species=1)[0] == pytest.approx(
        pearsonr(np.concatenate(pred[:, 0][:, b]), np.concatenate(true[:, 0][:, b]))[0], abs=1e-12)
    with pytest.raises(InvalidInputError, match="one int"):
        pearson(pred, true, types, species=[0, 1])


def test_r2_matches_scikit_learn():
    pred, true, types = fields(seed=3)
    a = types == 0
    got = r2(pred, true, types)
    for k in range(pred.shape[1]):
        assert got[k] == pytest.approx(r2_score(true[:, k][:, a].ravel(), pred[:, k][:, a].ravel()), abs=1e-12)


@pytest.mark.parametrize("bad, message", [
    (lambda p, t, ty: (p[:, :2], t, ty), "same|shape"),
    (lambda p, t, ty: (np.where(np.arange(p.size).reshape(p.shape) == 5, np.nan, p), t, ty), "NaN"),
    (lambda p, t, ty: (p, t, np.ones_like(ty)), "no particle of species"),
    (lambda p, t, ty: (np.ones_like(p), t, ty), "constant"),
    (lambda p, t, ty: (p[0], t[0], ty), r"\(M, K, N\)"),
])
def test_metric_errors(bad, message):
    pred, true, types = fields(seed=4)
    with pytest.raises(InvalidInputError, match=message):
        pearson(*bad(pred, true, types))


def test_time_index_finds_times_and_names_the_ones_there_are():
    assert time_index([0.13, 4120.0], 4120.0000001) == 1
    with pytest.raises(InvalidInputError, match="not a label time.*4120"):
        time_index([0.13, 4120.0], 412.0)


# -------------------------------------------------------------------------------------------------------------- chi_4
def brute_chi4(field, types, a, species=0):
    m, k, n = field.shape
    out = np.zeros(k)
    n_a = sum(1 for s in types if s == species)
    for t in range(k):
        totals = []
        for c in range(m):
            totals.append(sum(1.0 for i in range(n) if types[i] == species and field[c, t, i] > a))
        mean = sum(totals) / m
        out[t] = sum((x - mean) ** 2 for x in totals) / m / n_a
    return out


def test_chi4_pair_raw_matches_a_loop():
    pred, true, types = fields(seed=5, m=8, n=80)
    got = chi4_pair(pred, true, types, a=0.5)
    np.testing.assert_allclose(got.predicted, brute_chi4(pred, types, 0.5), rtol=1e-12)
    np.testing.assert_allclose(got.true, brute_chi4(true, types, 0.5), rtol=1e-12)


def test_chi4_rank_scale_ignores_monotone_rescaling_but_keeps_configuration_differences():
    _, true, types = fields(seed=6, m=8, n=80)
    rescaled = np.exp(3.0 * true) - 7.0  # another scale, same ranking
    got = chi4_pair(rescaled, true, types, a=0.5, scale="rank")
    np.testing.assert_allclose(got.predicted, got.true, rtol=1e-12)
    assert got.true.min() > 1.0  # the per-configuration offsets survive the pooled mapping
    assert chi4_pair(rescaled, true, types, a=0.5).predicted[0] != pytest.approx(got.true[0])
    with pytest.raises(InvalidInputError, match="scale"):
        chi4_pair(rescaled, true, types, a=0.5, scale="zscore")


# ---------------------------------------------------------------------------------------------------- noise ceiling
def test_rho_max_matches_the_analytic_reliability():
    rng = np.random.default_rng(7)
    m, r, n, noise = 4, 32, 3000, 2.0
    signal = rng.normal(size=(m, 1, 1, n))
    replicas = signal + noise * rng.normal(size=(m, 1, r, n))
    expected = np.sqrt(1.0 / (1.0 + noise**2 / r))  # corr(mean of R replicas, signal)
    got = rho_max(replicas, np.zeros(n, dtype=np.int64))
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, abs=0.01)


def test_replica_displacements_of_real_data_give_the_propensity_and_the_published_ceiling():
    abs_dr, dataset = replica_displacements(BOTAN_DIR)
    assert abs_dr.shape == (10, 1, 32, 4096)
    np.testing.assert_allclose(abs_dr.mean(axis=2), dataset.propensity, rtol=1e-12)
    ceiling = rho_max(abs_dr, dataset.types)
    assert ceiling[0] == pytest.approx(GLASSBENCH["ka3d-T0.44"]["ceiling"]["4120"], abs=0.02)  # 0.934 on 10 configs
    abs_dr, dataset = replica_displacements(KA2D_FILE)  # wrapped positions: minimum image
    assert abs_dr.shape == (1, 1, 20, 1290) and abs_dr.max() < 2.0
    np.testing.assert_allclose(abs_dr.mean(axis=2), dataset.propensity, rtol=1e-12)


def test_replica_displacements_refuse_averaged_labels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "N20T0.44_1.npz", types=np.repeat([1, 2], 10), initial_positions=rng.uniform(0, 2.5, (20, 3)),
             md_prop=rng.random((10, 20)))
    with pytest.raises(InvalidInputError, match="replica"):
        replica_displacements(tmp_path / "N20T0.44_1.npz")


# ------------------------------------------------------------------------------------------------------------ tasks
def test_evaluate_reports_every_time_and_is_json_ready():
    dataset = toy_dataset()
    rng = np.random.default_rng(1)
    pred = dataset.propensity + rng.normal(scale=0.3, size=dataset.propensity.shape)
    result = evaluate(pred, dataset, n_sample=20)
    assert list(result["pearson"]) == ["0.13", "1300", "4120", "13000"]
    np.testing.assert_allclose(list(result["pearson"].values()), pearson(pred, dataset.propensity, dataset.types))
    np.testing.assert_allclose(list(result["r2"].values()), r2(pred, dataset.propensity, dataset.types))
    assert "r2_omitted" not in result
    np.testing.assert_allclose(list(result["chi4"]["true"].values()),
                               brute_chi4(dataset.propensity, dataset.types, 0.44))
    assert result["n_configurations"] == 4 and result["n_particles_scored"] == 4 * 48
    assert np.shape(result["sample"]["true"]) == (4, 20)
    assert json.loads(json.dumps(result)) == result
    one_time = evaluate(pred[:, 2:3], dataset, times=[4120.0], n_sample=0)  # a predictor fitted on one time
    assert one_time["pearson"] == {"4120": result["pearson"]["4120"]}
    with pytest.raises(InvalidInputError, match="times=predictor.times_"):
        evaluate(pred[:, :2], dataset)


class ToyPredictor:
    """Trained at ``temperature``: returns the label at the column of tau_alpha, noise at the other columns."""

    def __init__(self, temperature, noise, times):
        self.temperature, self.noise, self.times_ = temperature, noise, np.asarray(times)

    def predict(self, dataset):
        rng = np.random.default_rng(0)
        k_test = time_index(dataset.times, label_time(dataset.times, dataset.temperature, 3))
        k_own = time_index(self.times_, label_time(self.times_, self.temperature, 3))
        out = rng.normal(size=(dataset.n_configurations, len(self.times_), dataset.n_particles))
        level = self.noise * abs(self.temperature - dataset.temperature)
        out[:, k_own] = dataset.propensity[:, k_test] + level * rng.normal(size=out[:, k_own].shape)
        return out


def test_transfer_matrix_on_toy_predictors():
    times = {0.44: [0.13, 1300.0, 4120.0, 13000.0], 0.64: [0.032, 5.2, 16.5, 52.0]}
    datasets = {t: toy_dataset(t, seed=i, times=times[t]) for i, t in enumerate(times)}
    predictors = {t: ToyPredictor(t, 5.0, times[t]) for t in times}
    result = transfer_matrix(predictors, datasets)
    assert result["train_temperatures"] == ["0.44", "0.64"] and result["test_times"] == {"0.44": 4120.0, "0.64": 16.5}
    values = np.array(result["pearson"])
    np.testing.assert_allclose(np.diag(values), 1.0)
    expected = pearson(predictors[0.44].predict(datasets[0.64])[:, 2:3], datasets[0.64].propensity[:, 2:3],
                       datasets[0.64].types)[0]
    assert values[0, 1] == pytest.approx(expected) and 0.0 < values[0, 1] < 0.9
    with pytest.raises(InvalidInputError, match="not a label time"):
        transfer_matrix(predictors, datasets, time=4120.0)
    explicit = transfer_matrix(predictors, datasets, time={0.44: 4120.0, 0.64: 16.5})
    np.testing.assert_allclose(explicit["pearson"], values)


# -------------------------------------------------------------------------------------------------------- baselines
def test_score_descriptor_density_matches_a_kdtree_count():
    dataset = load(BOTAN_DIR).subset([0, 1])
    result = score_descriptor("DEN", dataset, length=0, inherent=False)
    a = dataset.types == 0
    density = []
    for x in dataset.positions:
        tree = cKDTree(np.mod(x, dataset.box), boxsize=dataset.box)
        counts = np.array([len(p) - 1 for p in tree.query_ball_point(np.mod(x, dataset.box), 1.5)])
        density.append(counts[a] / (4.0 / 3.0 * np.pi * 1.5**3))
    expected = pearsonr(np.concatenate(density), dataset.propensity[:, 0][:, a].ravel())[0]
    assert result["pearson"]["4120"] == pytest.approx(expected, abs=1e-9)
    assert result["descriptor"]["inherent"] is False and result["chi4"]["scale"] == "rank"
    # a density is not in the label's units: no R^2, and the result says why
    assert result["r2"] == dict.fromkeys(result["pearson"]) and "label's units" in result["r2_omitted"]
    with pytest.raises(InvalidInputError, match="unknown baseline"):
        score_descriptor("VORONOI", dataset)


@pytest.mark.slow
def test_inherent_state_potential_energy_predicts_mobility_like_glassbench():
    result = score_descriptor("EPOT", load(BOTAN_DIR))
    assert 0.4 < result["pearson"]["4120"] < 0.7  # GlassBench (100 test configurations): 0.507


# ---------------------------------------------------------------------------------------------------------- reports
def test_write_report_files_parse_and_match(tmp_path):
    dataset = toy_dataset()
    rng = np.random.default_rng(2)
    scores = {name: evaluate(dataset.propensity + s * rng.normal(size=dataset.propensity.shape), dataset, n_sample=50,
                             report_r2=name != "EPOT")  # EPOT stands for a raw descriptor: no R^2
              for name, s in (("BOTAN", 0.2), ("EPOT", 0.5))}
    times = {0.44: [0.13, 1300.0, 4120.0, 13000.0], 0.64: [0.032, 5.2, 16.5, 52.0]}
    datasets = {t: toy_dataset(t, seed=i, times=times[t]) for i, t in enumerate(times)}
    transfer = transfer_matrix({t: ToyPredictor(t, 5.0, times[t]) for t in times}, datasets)
    written = write_report({**scores, "SE3": transfer}, tmp_path, ceiling={"4120": 0.93},
                           published=GLASSBENCH["ka3d-T0.44"])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in written)
    assert names == ["chi4.png", "pearson.png", "report.json", "report.md", "scatter_BOTAN.png", "scatter_EPOT.png",
                     "transfer_SE3.png"]
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["results"]["BOTAN"]["pearson"] == scores["BOTAN"]["pearson"]
    assert document["results"]["SE3"]["pearson"] == transfer["pearson"]
    markdown = (tmp_path / "report.md").read_text()
    assert f"{scores['BOTAN']['pearson']['4120']:.3f} (0.755)" in markdown
    assert f"{transfer['pearson'][1][0]:.3f} (0.715)" in markdown  # trained at 0.64, tested at 0.44
    assert "| noise ceiling rho_max | – | – | 0.930 (0.943) | – |" in markdown
    assert f"| BOTAN | {scores['BOTAN']['r2']['0.13']:.3f} |" in markdown and "| EPOT | – | – | – | – |" in markdown
    assert document["ceiling"] == {"4120": 0.93}
    for name in names:
        if name.endswith(".png"):
            image = imread(tmp_path / name)
            assert image.ndim == 3 and min(image.shape[:2]) > 50


def test_write_report_draws_only_what_the_result_has(tmp_path):
    times = {0.44: [0.13, 1300.0, 4120.0, 13000.0]}
    transfer = transfer_matrix({0.44: ToyPredictor(0.44, 1.0, times[0.44])}, {0.44: toy_dataset(0.44)})
    write_report(transfer, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md", "transfer_transfer.png"]
    with pytest.raises(InvalidInputError, match="neither"):
        write_report({"x": {"a": 1}}, tmp_path)
