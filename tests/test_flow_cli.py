"""`glassgen flow train` and the flow samplers of `glassgen sample`: a saved flow carries its system and refuses
another, the samplers report what the issue asks for, and a flow-hybrid run's energy drift check holds."""

import json

import numpy as np
import pytest
import torch

from glassgen.cli import main
from glassgen.io import load
from samplers.flows import ParticleFlow

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A flow of KA2D N = 44 at T = 1 trained for a few seconds on compiled swap MC data (a quarter of the budget)."""
    path = tmp_path_factory.mktemp("flow") / "flow.pt"
    assert main(["flow", "train", "--model", "ka2d", "--n", "44", "--temperature", "1.0", "--budget-minutes", "0.12",
                 "--layers", "2", "--hidden", "16", "--uniform-prior", "--quiet", "-o", str(path)]) == 0
    return path


def test_flow_train_saves_its_system_settings_and_costs(trained):
    flow, extra = ParticleFlow.load(trained)
    report = extra["report"]
    assert flow.settings.model == "ka2d" and len(flow.settings.types) == 44 and flow.settings.n_layers == 2
    assert report["data"]["source"] == "mc" and report["data"]["configurations"] > 100
    assert report["training"]["steps"] >= 1 and report["setup_seconds"] >= report["training"]["seconds"]
    assert extra["provenance"]["command"].startswith("glassgen flow train")


@pytest.mark.parametrize("sampler", ["flow", "flow-mh", "flow-hybrid"])
def test_flow_samplers_report_and_save(sampler, trained, capsys, tmp_path):
    out = tmp_path / "x.h5"
    burn_in = [] if sampler == "flow" else ["--burn-in", "2"]  # the flow sampler draws independent samples
    result = run_json(capsys, "sample", "--sampler", sampler, "--flow", str(trained), "--model", "ka2d", "--n", "44",
                      "--temperature", "1.0", "--chains", "4", "--sweeps", "20", *burn_in, "-o", str(out))
    assert {"energy_per_particle_mean", "energy_per_particle_stderr", "ess_fraction", "equilibrated"} <= set(result)
    data = load(out)
    assert data.positions.shape == (4, 44, 2) and data.temperature == 1.0
    if sampler == "flow":
        assert result["samples"] == 80 and 1.0 <= result["ess"] <= 80 and result["ess_fraction"] == result["ess"] / 80
        # A flow trained for seconds has a tiny ESS: the run must say its mean is no answer.
        assert result["equilibrated"] is (result["ess"] >= 30)
    else:
        assert 0.0 <= result["flow_acceptance"] <= 1.0 and result["energy_drift"] < 1e-9
    # The flow's training and data are charged as set-up.
    made = ParticleFlow.load(trained)[1]["report"]["setup_seconds"]
    assert result.get("flow_setup_seconds", made) == made and result["setup_seconds"] >= made
    assert sampler == "flow" or result["flow_setup_seconds"] == made


def test_a_flow_refuses_another_system(trained, capsys, tmp_path):
    assert main(["sample", "--sampler", "flow", "--flow", str(trained), "--model", "ka2d", "--n", "60",
                 "-o", str(tmp_path / "x.h5")]) == 2
    assert "trained for ka2d with 44 particles" in capsys.readouterr().err


def test_flow_train_from_the_energy_alone_and_from_a_dataset(capsys, tmp_path):
    energy = run_json(capsys, "flow", "train", "--model", "ka2d", "--n", "44", "--temperature", "2.0", "--source",
                      "energy", "--budget-minutes", "0.05", "--layers", "1", "--hidden", "8", "-o",
                      str(tmp_path / "e.pt"))
    assert energy["data"]["source"] == "energy" and energy["training"]["schedule"] == "reverse"
    assert main(["sample", "--sampler", "swap", "--model", "ka2d", "--n", "44", "--temperature", "2.0", "--chains",
                 "4", "--sweeps", "20", "--burn-in", "5", "--quiet", "-o", str(tmp_path / "d.h5")]) == 0
    capsys.readouterr()
    data = run_json(capsys, "flow", "train", "--model", "ka2d", "--n", "44", "--temperature", "2.0", "--data",
                    str(tmp_path / "d.h5"), "--budget-minutes", "0.05", "--layers", "1", "--hidden", "8",
                    "--schedule", "forward", "-o", str(tmp_path / "d.pt"))
    assert data["data"] == {"source": "dataset", "configurations": 4} and data["training"]["schedule"] == "forward"
    assert np.isfinite(data["training"]["final_forward_loss"])
    assert main(["flow", "train", "--model", "ka2d", "--n", "44", "--temperature", "1.0", "--data",
                 str(tmp_path / "d.h5"), "-o", str(tmp_path / "w.pt")]) == 2
    assert "equilibrated at T = 2.0" in capsys.readouterr().err
    assert torch.load(tmp_path / "d.pt", weights_only=False)["format"] == "glassgen-flow-1"


def test_a_flow_from_a_boltzmann_prior_serves_reweighting_and_exchanges(capsys, tmp_path):
    path = tmp_path / "hot.pt"
    report = run_json(capsys, "flow", "train", "--model", "ka2d", "--n", "44", "--temperature", "1.0",
                      "--budget-minutes", "0.08", "--layers", "1", "--hidden", "8", "-o", str(path))  # T_high = 2T
    assert ParticleFlow.load(path)[0].settings.prior_temperature == 2.0 and report["training"]["steps"] >= 1
    result = run_json(capsys, "sample", "--sampler", "flow", "--flow", str(path), "--model", "ka2d", "--n", "44",
                      "--temperature", "1.0", "--chains", "4", "--sweeps", "64", "-o", str(tmp_path / "x.h5"))
    # Mapping T = 2 to T = 1 with an almost untrained flow still gives usable weights, unlike the uniform prior.
    assert result["samples"] == 256 and result["kish_ess"] > 2 and -2.5 < result["energy_per_particle_mean"] < -1.0
    assert result["ess"] <= result["kish_ess"]  # correlated draws of the prior's chains count less
    exchange = run_json(capsys, "sample", "--sampler", "flow-mh", "--flow", str(path), "--model", "ka2d", "--n", "44",
                        "--temperature", "1.0", "--chains", "4", "--sweeps", "20", "--burn-in", "2",
                        "-o", str(tmp_path / "y.h5"))
    assert 0.0 <= exchange["flow_acceptance"] <= 1.0 and exchange["energy_drift"] < 1e-9


def test_compare_samplers_runs_the_flow_samplers_with_their_set_up_charged(trained, capsys, tmp_path):
    result = run_json(capsys, "compare-samplers", "--model", "ka2d", "--n", "44", "--samplers", "swap", "flow",
                      "flow-mh", "--flow", str(trained), "--budget-seconds", "0.5", "--burn-in", "5", "--chains", "2",
                      "-o", str(tmp_path / "cmp"))
    rows = {row["sampler"]: row for row in result["rows"]}
    assert set(rows) == {"swap", "flow", "flow-mh"}
    made = ParticleFlow.load(trained)[1]["report"]["setup_seconds"]
    assert rows["flow"]["setup_seconds"] == made and rows["flow-mh"]["setup_seconds"] >= made
    assert rows["swap"]["setup_seconds"] < made
    assert (tmp_path / "cmp" / "comparison.png").exists()


def test_a_saved_flow_keeps_the_box_in_float64(trained):
    """The box must round-trip exactly: a float32 box put flow samples up to 5e-8 L outside the chains' box."""
    from glassgen.targets import KATarget

    assert torch.equal(ParticleFlow.load(trained)[0].frame.box, KATarget("ka2d", 44).box)
