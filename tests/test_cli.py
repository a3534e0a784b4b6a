"""The `glassgen` command, run in-process: JSON outputs on real data, and one-line errors for bad input."""

import json
import re

import numpy as np
import pytest

from glassgen.cli import EXAMPLES, main
from glassgen.cli._output import format_value
from glassgen.cli.data import equilibrium_rows
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


def test_demo_trains_samples_colder_predicts_and_says_where_to_look(capsys, tmp_path):
    """The joined job in small: settings far too short for equilibrium, which the demo must then say plainly."""
    argv = ["demo", "--sweeps", "30", "--chains", "2", "--ensemble", "2", "--set", "stage1_epochs=2",
            "stage2_epochs=1", "--quiet", "-o", str(tmp_path)]
    result = run_json(capsys, *argv)
    assert result["training_temperatures"] == [0.35, 0.4, 0.45, 0.5] and result["temperature"] == 0.3
    summaries = {s["temperature"]: s for s in result["temperatures"]}
    assert sorted(summaries) == [0.3, 0.35, 0.4, 0.45, 0.5]
    assert all(s.get("chi4_true") and s.get("pearson") for t, s in summaries.items() if t > 0.3)
    assert "chi4_true" not in summaries[0.3] and summaries[0.3]["n_configurations"] == 2
    assert result["sampler_checks"]["structurally_decorrelated"] is False  # 30 sweeps cannot decorrelate
    assert result["equilibrated"] is False
    sampled = load(result["sampled"])
    assert sampled.predicted_propensity.shape == (2, 1, 1290) and sampled.time_unit == "tau_alpha"
    assert sampled.extras["predicted_propensity_std"].shape == (2, 1, 1290)
    assert sampled.metadata["heterogeneity"][0]["temperature"] == 0.3
    info = run_json(capsys, "info", result["sampled"])
    assert info["prediction_spreads"] == ["predicted_propensity_std"] and info["heterogeneity"][0]["temperature"] == 0.3
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {"report.md", "report.json", "heterogeneity.png"}
    assert main(argv[:-3] + ["-o", str(tmp_path)]) == 0  # the table, which says the run is no equilibrium answer
    table = capsys.readouterr().out
    assert "NOT equilibrated" in table and "run more --sweeps" in table
    assert "0.05 below the training range: predicted only" in table
    assert table.strip().splitlines()[-1].strip().startswith(f"glassgen predict-dynamics {tmp_path / 'sampled_T0.3.h5'}")

    # predict-dynamics with the demo's model: a GlassBench npz at T = 0.30 (no labels at these times), then labelled
    # shipped data at T = 0.35, whose true chi_4 and Pearson come beside the predictions
    model = str(tmp_path / "model.pt")
    one = run_json(capsys, "predict-dynamics", str(KA2D_FILE), "--model", model, "--times-tau", "1", "--quiet",
                   "-o", str(tmp_path / "one.h5"))
    (summary,) = one["temperatures"]
    assert summary["temperature"] == 0.3 and summary["chi4"] is None and np.isfinite(summary["length"]["1"])
    assert summary["below_training"] == pytest.approx(0.05)
    assert load(tmp_path / "one.h5").predicted_propensity.shape == (1, 1, 1290)
    cold = run_json(capsys, "predict-dynamics", "ka2d-multiT", "--temperatures", "0.35", "--split", "test",
                    "--model", model, "--times-tau", "0.3", "1", "--quiet", "-o", str(tmp_path / "cold.h5"),
                    "--report", str(tmp_path / "cold"))
    (summary,) = cold["temperatures"]
    assert summary["below_training"] is None
    bench = run_json(capsys, "bench", "--model", model, "--data", "ka2d-multiT", "--temperatures", "0.35", "--quiet")
    assert summary["pearson"]["1"] == pytest.approx(bench["pearson"]["1"])
    assert summary["chi4_true"]["1"] == pytest.approx(bench["chi4"]["true"]["1"])
    assert set(summary["length_true"]) == {"0.3", "1"}
    assert main(["predict-dynamics", str(KA2D_FILE), "--model", model, "--times-tau", "0.5", "--quiet",
                 "-o", str(tmp_path / "x.h5")]) == 2
    assert "time 0.5 is not a label time" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()
    unnamed = tmp_path / "configuration.npz"  # a file name that gives no temperature
    unnamed.write_bytes(KA2D_FILE.read_bytes())
    assert main(["predict-dynamics", str(unnamed), "--model", model, "--quiet", "-o", str(tmp_path / "x.h5")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "records none: give it (--temperature T" in error[0]


def test_tables_read_as_plain_words(shared_data, capsys):
    assert main(["info", str(BOTAN_DIR)]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^species +3277 of species A, 819 of species B$", table, re.M)
    assert re.search(r"^true labels +propensity$", table, re.M) and re.search(r"^predictions +none", table, re.M)
    assert not re.search(r"[\[\]{}']|None|True|False", table)
    assert format_value({"chains": [1, 2], "converged": True, "p": None}) == "chains = 1, 2, converged = yes, p = none"


def test_equilibrium_checks_read_as_plain_words():
    passed = {"fs_between_saved": 0.12, "decorrelated": True, "energy_halves_p_value": 0.4, "stationary": True,
              "solid_like_fraction": 0.001, "solid_like_threshold": 0.05, "crystallised": False,
              "demixing_index": -0.19, "demixed": False}
    assert dict(equilibrium_rows(passed)) == {
        "configurations decorrelated": "yes (F_s = 0.12 between saved, below 1/e)",
        "energy stationary": "yes (t-test p = 0.4)", "crystallised": "no (0.1 % solid-like, threshold 5 %)",
        "demixed": "no (index -0.19, threshold 0.3)"}
    failed = dict(equilibrium_rows({**passed, "decorrelated": False, "fs_between_saved": 0.6, "stationary": False,
                                    "energy_halves_p_value": 0.001, "crystallised": True, "solid_like_fraction": 0.2,
                                    "demixed": True, "demixing_index": 0.6}))
    assert [value.split()[0] for value in failed.values()] == ["no", "no", "yes", "yes"]
    assert all(option in text for option, text in zip(("--spacing", "--steps", "--seed", "--seed"), failed.values()))
    untested = dict(equilibrium_rows({**passed, "stationary": None, "energy_halves_p_value": None}))
    assert untested["energy stationary"].startswith("not tested")


@pytest.mark.parametrize("command", ["train", "sample"])
def test_help_example_survives_copy_paste(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # narrower than the examples
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert EXAMPLES[command] in [line.strip() for line in capsys.readouterr().out.splitlines()]


def test_bad_npz_file_gives_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, positions=np.zeros((3, 3)))
    assert main(["energy", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "initial_positions" in err[0]


def test_warnings_are_one_line_on_stderr_and_json_stays_alone_on_stdout(capsys, tmp_path):
    """A spacing too short to decorrelate configurations is warned about in one line, not with Python's source echo."""
    argv = ["simulate", "--model", "ka2d", "--n", "64", "--temperature", "0.3", "--steps", "100", "--frames", "2",
            "--spacing", "0.05", "--melt-steps", "10", "--cool-steps", "10", "--quiet", "--json",
            "-o", str(tmp_path / "s.h5")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [line for line in captured.err.strip().splitlines()
                                                 if line.startswith("glassgen simulate: warning: ")]
    assert "increase the spacing" in captured.err
    assert len(captured.out.strip().splitlines()) == 1 and json.loads(captured.out)["n_configurations"] == 2
    checks = json.loads(captured.out)["equilibrium_checks"]  # 2D order checks: hexatic threshold, demixing
    assert checks["solid_like_threshold"] == 0.4 and isinstance(checks["demixed"], bool)
