"""glassgen.io: the Dataset value, the native HDF5 format and the GlassBench / BOTAN npz readers, on the real data."""

import json
import os
from dataclasses import replace

import h5py
import numpy as np
import pytest

from glassgen.errors import DataFormatError, InvalidInputError, SchemaVersionError
from glassgen.io import Dataset, load, propensity_from_replicas, save
from glassgen.io.npz import GLASSBENCH_TIMES
from glassgen.systems import System

KA3D_L = 15.05658
KA2D_L = 32.8962


@pytest.fixture(scope="module")
def botan_dir(shared_data):
    return shared_data / "ka3d-botan-T0.44" / "train"


@pytest.fixture(scope="module")
def ka2d_file(shared_data):
    return shared_data / "ka2d-glassbench-T0.30" / "N1290T0.30_3_tc01.npz"


@pytest.fixture(scope="module")
def botan(botan_dir):
    return load(botan_dir)


def write_models_file(path, source, md_prop, bb_prop=None, **extra):
    """A GlassBench models-layout file: 1-based types, inherent positions, labels (K, N), optional extras."""
    arrays = {
        "types": source["types"].astype(np.int64) + 1,
        "initial_positions": source["initial_positions"],
        "initial_positions_inherent": source["initial_positions"] + 0.01,
        "md_prop": md_prop,
        **extra,
    }
    if bb_prop is not None:
        arrays["bb_prop"] = bb_prop
    np.savez(path, **arrays)
    return arrays


@pytest.fixture
def ka3d_source(botan_dir):
    with np.load(botan_dir / "isoconfig_N4096T0.44_1_tc07.npz") as f:
        return {"types": f["types"], "initial_positions": f["initial_positions"]}


@pytest.fixture
def ka2d_source(ka2d_file):
    with np.load(ka2d_file) as f:
        return {"types": f["types"] - 1, "initial_positions": f["initial_positions"]}


# --- BOTAN isoconfigurational files -------------------------------------------------------------------------------


def test_botan_folder_loads_ten_configurations(botan):
    assert botan.model == "ka3d"
    assert (botan.n_configurations, botan.n_particles, botan.dim) == (10, 4096, 3)
    assert np.bincount(botan.types).tolist() == [3277, 819]
    assert botan.types.dtype == np.int64
    np.testing.assert_allclose(botan.box, KA3D_L, atol=1e-4)
    assert botan.temperature == pytest.approx(0.44)
    np.testing.assert_array_equal(botan.times, [4120.0])
    assert botan.propensity.shape == (10, 1, 4096)
    assert botan.bond_breaking is None and botan.inherent_positions is None
    # natural order of the configuration index: 1, 2, ..., 10, not 1, 10, 2, ...
    assert [f["configuration"] for f in botan.metadata["source"]["files"]] == list(range(1, 11))
    assert botan.metadata["source"]["layout"] == "botan-isoconfig"
    assert all(f["replicas"] == 32 for f in botan.metadata["source"]["files"])


def test_botan_propensity_matches_a_loop_over_replicas(botan, botan_dir):
    with np.load(botan_dir / "isoconfig_N4096T0.44_10_tc07.npz") as f:
        initial, replicas = f["initial_positions"], f["positions"]
    np.testing.assert_array_equal(botan.positions[9], initial)
    expected = np.zeros(len(initial))
    for replica in replicas:
        expected += np.sqrt(((replica - initial) ** 2).sum(axis=1))
    expected /= len(replicas)
    np.testing.assert_allclose(botan.propensity[9, 0], expected, rtol=1e-12)
    # no particle moved half a box here, so the minimum image gives the same numbers
    np.testing.assert_allclose(propensity_from_replicas(initial, replicas, botan.box), expected, rtol=1e-12)


def test_botan_propensity_is_plausible_at_tau_alpha(botan):
    mean_a = botan.propensity[:, 0, botan.types == 0].mean()
    mean_b = botan.propensity[:, 0, botan.types == 1].mean()
    print(f"KA3D T=0.44 t=4120: mean propensity A {mean_a:.4f}, B {mean_b:.4f}")
    assert 0.1 < mean_a < 3.0
    assert mean_b > mean_a  # the small B particles are the more mobile species of KA
    assert (botan.propensity > 0).all()


# --- GlassBench KA2D trajectories ---------------------------------------------------------------------------------


def test_ka2d_trajectory_file(ka2d_file):
    data = load(ka2d_file)
    assert data.model == "ka2d"
    assert (data.n_configurations, data.n_particles, data.dim) == (1, 1290, 2)
    assert np.bincount(data.types).tolist() == [600, 330, 360]
    np.testing.assert_allclose(data.box, [KA2D_L, KA2D_L])
    assert data.temperature == pytest.approx(0.30)
    np.testing.assert_allclose(data.times, [0.11])
    assert data.propensity.shape == (1, 1, 1290)
    mean_a = data.propensity[0, 0, data.types == 0].mean()
    print(f"KA2D T=0.30 t=0.11: mean propensity A {mean_a:.4f}")
    assert 0.0 < mean_a < 0.3  # ballistic regime: a small fraction of a particle diameter


def test_ka2d_wrapped_and_unwrapped_replicas_give_the_same_propensity(ka2d_file, tmp_path):
    with np.load(ka2d_file) as f:
        arrays = dict(f)
    step = arrays["positions"] - arrays["initial_positions"]
    step -= KA2D_L * np.round(step / KA2D_L)
    unwrapped = arrays["initial_positions"] + step
    wrapped = np.mod(unwrapped, KA2D_L)
    assert np.abs(wrapped - unwrapped).max() > KA2D_L / 2  # the wrapping moved particles across the box
    results = []
    for label, positions in (("unwrapped", unwrapped), ("wrapped", wrapped)):
        folder = tmp_path / label
        folder.mkdir()
        np.savez(folder / ka2d_file.name, **{**arrays, "positions": positions})
        results.append(load(folder / ka2d_file.name).propensity)
    np.testing.assert_allclose(results[0], results[1], atol=1e-10)
    np.testing.assert_allclose(results[0], load(ka2d_file).propensity, atol=1e-10)
    naive = np.linalg.norm(wrapped - arrays["initial_positions"], axis=-1).mean(axis=0)
    assert naive.mean() > 10 * results[0].mean()  # without the minimum image the label would be nonsense


def test_replica_files_of_one_configuration_merge_into_times(ka2d_file, tmp_path):
    with np.load(ka2d_file) as f:
        arrays = dict(f)
    for k in (3, 12):
        for tc, scale in ((1, 1.0), (3, 2.0)):
            moved = arrays["initial_positions"] + scale * (arrays["positions"] - arrays["initial_positions"])
            np.savez(tmp_path / f"N1290T0.30_{k}_tc{tc:02d}.npz", **{**arrays, "positions": moved})
    data = load(tmp_path)
    assert data.n_configurations == 2
    assert [f["configuration"] for f in data.metadata["source"]["files"]] == [3, 3, 12, 12]
    np.testing.assert_allclose(data.times, [GLASSBENCH_TIMES[2][0.30][0], GLASSBENCH_TIMES[2][0.30][2]])
    assert data.propensity.shape == (2, 2, 1290)
    assert data.propensity[0, 1].mean() > data.propensity[0, 0].mean()


def test_replica_configurations_need_the_same_time_codes(ka2d_file, tmp_path):
    with np.load(ka2d_file) as f:
        arrays = dict(f)
    for name in ("N1290T0.30_3_tc01.npz", "N1290T0.30_3_tc02.npz", "N1290T0.30_4_tc01.npz"):
        np.savez(tmp_path / name, **arrays)
    with pytest.raises(DataFormatError, match="time codes"):
        load(tmp_path)


def test_a_wrong_box_in_a_file_is_caught(ka2d_file, tmp_path):
    with np.load(ka2d_file) as f:
        arrays = dict(f)
    np.savez(tmp_path / ka2d_file.name, **{**arrays, "box": np.float64(30.0)})
    with pytest.raises(DataFormatError, match="density"):
        load(tmp_path / ka2d_file.name)


# --- GlassBench models (labels stored in the file) ----------------------------------------------------------------


@pytest.mark.parametrize("temperature", ["0.44", "0.50", "0.56", "0.64"])
def test_ka3d_models_file_round_trip_and_times(ka3d_source, tmp_path, temperature):
    rng = np.random.default_rng(1)
    md, bb = rng.random((10, 4096)), rng.random((10, 4096))
    cage = rng.random((10, 3277))
    path = tmp_path / f"N4096T{temperature}_401.npz"
    arrays = write_models_file(path, ka3d_source, md, bb, CAGE=cage, BOTAN=cage[0])
    data = load(path)
    assert data.model == "ka3d"
    assert data.temperature == float(temperature)
    np.testing.assert_array_equal(data.types, ka3d_source["types"])
    np.testing.assert_array_equal(data.positions[0], arrays["initial_positions"])
    np.testing.assert_array_equal(data.inherent_positions[0], arrays["initial_positions_inherent"])
    np.testing.assert_array_equal(data.propensity[0], md)
    np.testing.assert_array_equal(data.bond_breaking[0], bb)
    np.testing.assert_allclose(data.box, KA3D_L, atol=1e-4)
    np.testing.assert_array_equal(data.times, GLASSBENCH_TIMES[3][float(temperature)])
    assert sorted(data.extras) == ["BOTAN", "CAGE"]
    np.testing.assert_array_equal(data.extras["CAGE"][0], cage)
    assert data.metadata["source"]["layout"] == "glassbench-models"


def test_ka3d_tau_alpha_is_time_index_6(ka3d_source, tmp_path):
    path = tmp_path / "N4096T0.44_401.npz"
    write_models_file(path, ka3d_source, np.zeros((10, 4096)))
    assert load(path).times[6] == 4120.0


def test_ka2d_models_times_known_unknown_and_given(ka2d_source, tmp_path):
    six, eight = tmp_path / "N1290T0.30_1501.npz", tmp_path / "eight" / "N1290T0.30_1501.npz"
    eight.parent.mkdir()
    write_models_file(six, ka2d_source, np.ones((6, 1290)), np.ones((6, 1290)))
    write_models_file(eight, ka2d_source, np.ones((8, 1290)))
    data = load(six)
    assert data.model == "ka2d" and np.bincount(data.types).tolist() == [600, 330, 360]
    np.testing.assert_allclose(data.times, [0.11, 1.25, 14.14, 158.74, 1781.79, 20000])
    assert load(eight).times is None and load(eight).bond_breaking is None
    given = np.geomspace(0.1, 1e5, 8)
    np.testing.assert_allclose(load(eight, times=given).times, given)
    with pytest.raises(InvalidInputError, match="8 rows"):
        load(eight, times=given[:6])


def test_models_folder_is_sorted_naturally_and_keeps_common_extras(ka2d_source, tmp_path):
    for k in (10, 2):
        extra = {"CAGE": np.full((6, 600), float(k))} if k == 2 else {}
        write_models_file(tmp_path / f"N1290T0.30_{k}.npz", ka2d_source, np.full((6, 1290), float(k)), **extra)
    data = load(tmp_path)
    assert data.propensity[:, 0, 0].tolist() == [2.0, 10.0]
    assert data.extras == {}  # CAGE is missing from k = 10, so it cannot be stacked


# --- error messages -----------------------------------------------------------------------------------------------


def test_missing_npz_key_names_the_key(ka3d_source, tmp_path):
    path = tmp_path / "N4096T0.44_401.npz"
    np.savez(path, types=ka3d_source["types"] + 1, initial_positions=ka3d_source["initial_positions"],
             bb_prop=np.zeros((10, 4096)))
    with pytest.raises(DataFormatError, match="md_prop") as err:
        load(path)
    message = str(err.value)
    assert "bb_prop" in message and "glassbench-models" in message and path.name in message


def test_wrong_label_shape_names_array_and_shapes(ka3d_source, tmp_path):
    path = tmp_path / "N4096T0.44_401.npz"
    write_models_file(path, ka3d_source, np.zeros((10, 4000)))
    with pytest.raises(DataFormatError, match=r"md_prop must have shape \(\*, 4096\); got \(10, 4000\)"):
        load(path)


def test_folder_with_two_species_orders_is_refused(ka3d_source, tmp_path):
    write_models_file(tmp_path / "N4096T0.44_1.npz", ka3d_source, np.zeros((10, 4096)))
    swapped = {**ka3d_source, "types": ka3d_source["types"][::-1].copy()}
    write_models_file(tmp_path / "N4096T0.44_2.npz", swapped, np.zeros((10, 4096)))
    with pytest.raises(DataFormatError, match="types"):
        load(tmp_path)


def test_folder_with_two_temperatures_is_refused(ka3d_source, tmp_path):
    for name in ("N4096T0.44_1.npz", "N4096T0.50_2.npz"):
        write_models_file(tmp_path / name, ka3d_source, np.zeros((10, 4096)))
    with pytest.raises(DataFormatError, match="temperatures"):
        load(tmp_path)
    with pytest.raises(InvalidInputError, match="T = 0.44"):
        load(tmp_path / "N4096T0.44_1.npz", temperature=0.5)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load(tmp_path / "nothing.npz")
    (tmp_path / "notes.txt").write_text("no data")
    with pytest.raises(InvalidInputError, match="no .npz files"):
        load(tmp_path)


def test_a_text_file_is_not_a_dataset(tmp_path):
    path = tmp_path / "data.npz"
    path.write_text("not an archive")
    with pytest.raises(DataFormatError, match="data.npz"):
        load(path)


# --- the native HDF5 format ---------------------------------------------------------------------------------------


@pytest.fixture
def full_dataset(ka3d_source, tmp_path):
    rng = np.random.default_rng(2)
    for k in (401, 402):
        write_models_file(tmp_path / f"N4096T0.44_{k}.npz", ka3d_source, rng.random((10, 4096)),
                          rng.random((10, 4096)), SE3=rng.random((10, 3277)))
    data = load(tmp_path)
    return replace(data, metadata={**data.metadata, "seed": 7, "command": "glassgen import"})


def test_hdf5_round_trip_is_exact(full_dataset, tmp_path):
    path = save(full_dataset, tmp_path / "out.h5")
    back = load(path)
    for name in ("positions", "types", "box", "inherent_positions", "times", "propensity", "bond_breaking"):
        expected, got = getattr(full_dataset, name), getattr(back, name)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    np.testing.assert_array_equal(back.extras["SE3"], full_dataset.extras["SE3"])
    assert back.metadata == full_dataset.metadata
    assert (back.model, back.temperature) == (full_dataset.model, full_dataset.temperature)
    with h5py.File(path) as f:
        assert f.attrs["format"] == "glassgen" and f.attrs["schema_version"] == 1
        assert json.loads(f.attrs["metadata"])["seed"] == 7


def test_hdf5_round_trip_without_optional_fields(botan, tmp_path):
    bare = Dataset(botan.positions[:2], botan.types, botan.box, "ka3d")
    back = load(save(bare, tmp_path / "bare.hdf5"))
    assert back.temperature is None and back.times is None and back.propensity is None and back.extras == {}
    np.testing.assert_array_equal(back.positions, bare.positions)


def test_predicted_labels_round_trip_beside_true_labels(botan, tmp_path):
    data = replace(botan.subset([0, 1]), predicted_propensity=0.5 * botan.propensity[:2])
    back = load(save(data, tmp_path / "predicted.h5"))
    np.testing.assert_array_equal(back.propensity, botan.propensity[:2])
    np.testing.assert_array_equal(back.predicted_propensity, 0.5 * botan.propensity[:2])
    assert back.predicted_bond_breaking is None
    np.testing.assert_array_equal(back.subset([1]).predicted_propensity, data.predicted_propensity[1:])
    with pytest.raises(InvalidInputError, match="predicted_propensity"):  # one time axis for labels and predictions
        replace(data, predicted_propensity=np.zeros((2, 2, 4096)))


def test_load_checks_arguments_against_a_native_file(botan, tmp_path):
    path = save(botan.subset([0]), tmp_path / "one.h5")
    assert load(path, model="ka3d", temperature=0.44).n_configurations == 1
    with pytest.raises(InvalidInputError, match="temperature"):
        load(path, temperature=0.5)


def test_other_schema_version_is_refused(botan, tmp_path):
    path = save(botan.subset([0]), tmp_path / "old.h5")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 3
    with pytest.raises(SchemaVersionError, match="version 3.*reads versions 1 and 2") as err:
        load(path)
    assert "Upgrade glassgen" in str(err.value)


def test_foreign_hdf5_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["positions"] = np.zeros((1, 4, 3))
    with pytest.raises(DataFormatError, match="not a glassgen dataset"):
        load(path)


def test_save_is_atomic(botan, tmp_path, monkeypatch):
    path = save(botan.subset([0]), tmp_path / "data.h5")
    assert os.listdir(tmp_path) == ["data.h5"]

    def interrupted(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("glassgen.io.hdf5.os.replace", interrupted)
    with pytest.raises(OSError, match="disk full"):
        save(botan.subset([1, 2]), path)
    assert os.listdir(tmp_path) == ["data.h5"]  # no temporary file left, the old file untouched
    monkeypatch.undo()
    np.testing.assert_array_equal(load(path).positions, botan.positions[:1])


# --- the Dataset value --------------------------------------------------------------------------------------------


def test_nan_positions_and_labels_are_refused(botan):
    positions = botan.positions[:2].copy()
    positions[1, 5, 2] = np.nan
    with pytest.raises(InvalidInputError, match=r"positions contains NaN.*\(1, 5, 2\)"):
        Dataset(positions, botan.types, botan.box, "ka3d")
    labels = botan.propensity[:2].copy()
    labels[0, 0, 3] = np.inf
    with pytest.raises(InvalidInputError, match="propensity contains NaN"):
        Dataset(botan.positions[:2], botan.types, botan.box, "ka3d", times=[4120.0], propensity=labels)


def test_shape_errors_say_expected_and_got(botan):
    with pytest.raises(InvalidInputError, match=r"positions must have shape \(\*, \*, 3\); got \(4096, 3\)"):
        Dataset(botan.positions[0], botan.types, botan.box, "ka3d")
    with pytest.raises(InvalidInputError, match=r"propensity must have shape \(10, 2, 4096\); got \(10, 1, 4096\)"):
        replace(botan, times=[1.0, 2.0])
    with pytest.raises(InvalidInputError, match="0-based"):
        replace(botan, types=botan.types + 1)


def test_subset_concatenate_and_system(botan, ka2d_file):
    part = botan.subset([3, 1])
    np.testing.assert_array_equal(part.positions, botan.positions[[3, 1]])
    np.testing.assert_array_equal(part.propensity, botan.propensity[[3, 1]])
    assert part.subset([1]).metadata["subset"] == [1]
    whole = Dataset.concatenate([botan.subset(slice(0, 4)), botan.subset(slice(4, None))])
    np.testing.assert_array_equal(whole.positions, botan.positions)
    np.testing.assert_array_equal(whole.propensity, botan.propensity)
    assert len(whole.metadata["parts"]) == 2
    with pytest.raises(InvalidInputError, match="times"):
        Dataset.concatenate([botan, replace(botan, times=[1300.0])])
    with pytest.raises(InvalidInputError, match=r"model \(ka2d vs ka3d\)"):
        Dataset.concatenate([botan, load(ka2d_file)])
    with pytest.raises(InvalidInputError, match=r"inherent_positions is present in parts \[1\] only"):
        Dataset.concatenate([botan, replace(botan, inherent_positions=botan.positions)])
    batch, one = botan.system(), botan.system(0)
    assert isinstance(batch, System) and tuple(batch.positions.shape) == (10, 4096, 3)
    assert tuple(one.positions.shape) == (4096, 3) and one.model == "ka3d"


def test_propensity_from_replicas_takes_the_minimum_image():
    box = np.array([10.0, 10.0])
    initial = np.array([[9.9, 5.0], [1.0, 1.0]])
    replicas = np.array([[[0.1, 5.0], [1.0, 1.5]], [[9.5, 5.0], [1.0, 1.5]]])
    np.testing.assert_allclose(propensity_from_replicas(initial, replicas, box), [0.3, 0.5])
    with pytest.raises(InvalidInputError, match="replicas"):
        propensity_from_replicas(initial, replicas[:, :1], box)


# ------------------------------------------------------------------------------------ data at several temperatures
def _small(temperature, m=3, n=8, seed=0, **fields):
    rng = np.random.default_rng(seed)
    return Dataset(positions=rng.uniform(0, 5, (m, n, 3)), types=np.array([0] * 6 + [1] * 2), box=np.full(3, 5.0),
                   model="ka3d", temperature=temperature, **fields)


def test_concatenating_temperatures_keeps_each_configurations_temperature():
    mixed = Dataset.concatenate([_small(0.8), _small(0.5, m=2, seed=1)])
    assert mixed.temperature is None and mixed.distinct_temperatures == [0.5, 0.8]
    np.testing.assert_array_equal(mixed.temperatures, [0.8, 0.8, 0.8, 0.5, 0.5])
    cold = mixed.select_temperatures([0.5])
    assert cold.temperature == 0.5 and cold.n_configurations == 2
    np.testing.assert_array_equal(cold.positions, _small(0.5, m=2, seed=1).positions)
    same = Dataset.concatenate([_small(0.8), _small(0.8, seed=1)])  # one temperature stays a scalar
    assert same.temperature == 0.8 and same.temperatures is None
    with pytest.raises(InvalidInputError, match=r"temperature 0\.6 is not in the data; it holds 0\.5, 0\.8"):
        mixed.select_temperatures([0.6])
    with pytest.raises(InvalidInputError, match="whether the temperature is known"):
        Dataset.concatenate([_small(0.8), _small(None)])


def test_times_in_units_of_tau_alpha_round_trip_as_schema_2(tmp_path):
    m, k = 3, 2
    data = _small(None, temperatures=[0.8, 0.8, 0.5], times=[0.5, 1.0], time_unit="tau_alpha",
                  tau_alpha=[2.6, 2.6, 110.0], propensity=np.random.default_rng(2).uniform(0, 1, (m, k, 8)),
                  extras={"split": np.array([0, 1, 1], dtype=np.int8)})
    path = save(data, tmp_path / "mixed.h5")
    with h5py.File(path) as f:
        assert f.attrs["schema_version"] == 2  # an older reader, which knows only version 1, refuses it
    back = load(path)
    assert back.time_unit == "tau_alpha" and back.temperature is None
    np.testing.assert_array_equal(back.tau_alpha, data.tau_alpha)
    np.testing.assert_array_equal(back.temperatures, data.temperatures)
    np.testing.assert_array_equal(back.propensity, data.propensity)
    assert back.select_split("test").n_configurations == 2
    assert load(path, temperatures=[0.5]).select_split("test").tau_alpha.tolist() == [110.0]
    with pytest.raises(InvalidInputError, match="hold no train configurations"):
        load(path, temperatures=[0.5]).select_split("train")
    with pytest.raises(InvalidInputError, match="need tau_alpha"):
        replace(data, tau_alpha=None)
    # Predictions at a state whose tau_alpha nobody knows are fine in units of tau_alpha.
    assert replace(data, tau_alpha=None, propensity=None, predicted_propensity=data.propensity).tau_alpha is None
    with pytest.raises(InvalidInputError, match="disagrees with the configurations' temperatures"):
        _small(0.8, temperatures=[0.8, 0.8, 0.5])


def test_compact_files_store_float32_and_read_back_float64(tmp_path):
    data = _small(0.8, m=4, n=8, times=[1.0], propensity=np.random.default_rng(3).uniform(0, 1, (4, 1, 8)))
    back = load(save(data, tmp_path / "compact.h5", compact=True))
    with h5py.File(tmp_path / "compact.h5") as f:
        assert f["propensity"].dtype == np.float32 and f["positions"].dtype == np.float32
    assert back.propensity.dtype == np.float64
    np.testing.assert_allclose(back.propensity, data.propensity, rtol=1e-7)
    np.testing.assert_allclose(back.positions, data.positions, rtol=1e-7)


def test_a_shipped_name_missing_from_the_installation_says_how_to_build_it(monkeypatch, tmp_path):
    import glassgen.io as gio

    monkeypatch.setattr(gio, "DATA_FOLDER", tmp_path)
    with pytest.raises(InvalidInputError, match="glassgen dataset build ka2d-multiT"):
        load("ka2d-multiT")
