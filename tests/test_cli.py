"""The `glassgen` command, run in-process: JSON outputs on real data, and one-line errors for bad input."""

import json

import numpy as np
import pytest

from glassgen.cli import main
from glassgen.io import load
from tests.conftest import BOTAN_DIR, KA2D_FILE

BOTAN_1 = BOTAN_DIR / "isoconfig_N4096T0.44_1_tc07.npz"


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def test_energy_json_on_real_file(shared_data, capsys):
    result = run_json(capsys, "energy", str(BOTAN_1))
    assert result["model"] == "ka3d" and result["n_particles"] == 4096
    assert result["energy_per_particle"] == pytest.approx(-7.0079, abs=1e-4)


def test_energy_of_ka2d_file_infers_the_model(shared_data, capsys):
    result = run_json(capsys, "energy", str(KA2D_FILE))
    assert result["model"] == "ka2d" and result["energy_per_particle"] == pytest.approx(-2.6068, abs=1e-4)


def test_info_and_import_round_trip(shared_data, capsys, tmp_path):
    info = run_json(capsys, "info", str(BOTAN_DIR))
    assert info["n_configurations"] == 10 and info["species_counts"] == [3277, 819] and info["times"] == [4120.0]
    out = tmp_path / "botan.h5"
    run_json(capsys, "import", str(BOTAN_DIR), "-o", str(out))
    imported, original = load(out), load(BOTAN_DIR)
    np.testing.assert_array_equal(imported.propensity, original.propensity)
    assert imported.metadata["command"].startswith("glassgen import")


def test_minimize_writes_inherent_states(capsys, tmp_path):
    sim = tmp_path / "small.h5"
    run_json(capsys, "simulate", "--model", "ka2d", "--n", "64", "--temperature", "0.5", "--steps", "200",
             "--frames", "2", "--spacing", "1", "--melt-steps", "100", "--cool-steps", "100", "--quiet", "-o", str(sim))
    out = tmp_path / "inherent.h5"
    result = run_json(capsys, "minimize", str(sim), "-o", str(out), "--quiet")
    assert result["max_force"] < 1e-8
    assert result["inherent_energy_per_particle"] < result["energy_per_particle"]
    data = load(out)
    assert data.inherent_positions.shape == (2, 64, 2) and data.temperature == 0.5
    assert data.metadata["minimize"]["fmax"] == 1e-8


def test_simulate_is_reproducible_and_records_provenance(capsys, tmp_path):
    args = ["simulate", "--model", "ka3d", "--n", "256", "--temperature", "1.0", "--steps", "100", "--frames", "2",
            "--spacing", "2", "--melt-steps", "50", "--cool-steps", "50", "--chains", "2", "--seed", "3", "--quiet"]
    first = run_json(capsys, *args, "-o", str(tmp_path / "a.h5"))
    run_json(capsys, *args, "-o", str(tmp_path / "b.h5"))
    a, b = load(tmp_path / "a.h5"), load(tmp_path / "b.h5")
    np.testing.assert_array_equal(a.positions, b.positions)
    assert first["n_configurations"] == 4 and a.metadata["seed"] == 3 and a.metadata["spacing"] == 2.0
    assert set(first["equilibrium_checks"]) >= {"decorrelated", "stationary", "fs_between_saved"}


def test_demo_runs_end_to_end_on_small_settings(capsys, tmp_path):
    result = run_json(capsys, "demo", "--n", "256", "--steps", "200", "--frames", "2", "--spacing", "1",
                      "--melt-steps", "100", "--cool-steps", "100", "--replicas", "2", "--label-time", "0.5",
                      "--quiet", "-o", str(tmp_path))
    assert result["reloaded_ok"] and result["max_force"] < 1e-8
    assert len(result["propensity_mean_A"]) == 4 and np.all(np.diff(result["propensity_mean_A"]) > 0)
    assert result["inherent_energy_per_particle"] < result["energy_per_particle"]


@pytest.mark.parametrize("argv,message", [
    (["energy", "/no/such/file.npz"], "does not exist"),
    (["energy", str(BOTAN_1), "--model", "lj"], "unknown model"),
    (["energy", str(BOTAN_1), "--model", "ka2d"], ""),
    (["simulate", "--temperature", "-1", "-o", "x.h5"], "temperature must be positive"),
    (["simulate", "--n", "256", "--frames", "0", "-o", "x.h5"], "--frames and --chains must be >= 1"),
    (["simulate", "--n", "100", "-o", "x.h5"], "shorter than twice the cut-off"),
], ids=["missing", "model", "wrong-model", "temperature", "frames", "small-box"])
def test_bad_input_gives_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"glassgen {argv[0]}: error:") and message in err[0]
    assert not (tmp_path / "x.h5").exists()


def test_bad_npz_file_gives_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, positions=np.zeros((3, 3)))
    assert main(["energy", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "initial_positions" in err[0]
