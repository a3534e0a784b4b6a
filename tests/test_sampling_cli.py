"""`glassgen sample` and `glassgen compare-samplers`: saved chains are valid KA configurations, the JSON holds the
keys the issue asks for, and the comparison writes its table and figure."""

import json
import re

import numpy as np
import pytest

from glassgen.cli import main
from glassgen.io import load
from glassgen.systems import evaluate, get_model


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_sample_swap_saves_species_sorted_chains_whose_energy_matches(capsys, tmp_path):
    out = tmp_path / "swap.h5"
    result = run_json(capsys, "sample", "--sampler", "swap", "--model", "ka2d", "--n", "44", "--temperature", "1.0",
                      "--chains", "3", "--sweeps", "30", "--burn-in", "10", "--seed", "2", "-o", str(out))
    for key in ("sampler", "acceptance", "energy_per_particle_mean", "energy_per_particle_stderr",
                "tau_int_energy_sweeps", "ess_per_second", "swap_acceptance"):
        assert key in result, key
    data = load(out)
    assert data.positions.shape == (3, 44, 2) and data.model == "ka2d" and data.temperature == 1.0
    assert np.all(np.diff(data.types) >= 0) and tuple(np.bincount(data.types)) == tuple(get_model("ka2d").composition(44))
    energies = evaluate(data.system(), energy=True).energy.numpy() / 44
    assert np.all(energies < 0)  # a liquid at T = 1, not overlapping random points
    assert data.metadata["sampler"] == "swap" and data.metadata["command"].startswith("glassgen sample")


def test_sample_tempering_swaps_on_ka2d_and_reports_round_trips(capsys, tmp_path):
    """Tempering makes swap moves where the model has swap pairs (--p-swap, default 0.2) and reports the replicas'
    round trips; --p-swap 0 turns the swaps off."""
    argv = ["sample", "--sampler", "tempering", "--ladder", "1.0", "1.2", "--chains", "2", "--sweeps", "40",
            "--burn-in", "2", "--starts", "random", "--quiet", "-o", str(tmp_path / "t.h5")]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert re.search(r"^swap acceptance \(per pair\) +\[", table, re.M)
    assert re.search(r"^ladder round trips +(\d+ \(mean [\d.]+ exchange rounds each\)|none completed)", table, re.M)
    plain = run_json(capsys, *argv, "--p-swap", "0")
    assert "swap_acceptance" not in plain and isinstance(plain["round_trips"], int)


def test_compare_samplers_writes_table_and_figure(capsys, tmp_path):
    result = run_json(capsys, "compare-samplers", "--model", "ka2d", "--n", "44", "--temperatures", "1.0",
                      "--budget-seconds", "0.5", "--burn-in", "5", "--train-steps", "3", "--chains", "2",
                      "--samplers", "metropolis", "swap", "pgmc", "-o", str(tmp_path))
    assert [r["sampler"] for r in result["rows"]] == ["metropolis", "swap", "pgmc"]
    assert all(r["ess_per_second"] > 0 and r["seconds"] > 0 for r in result["rows"])
    assert all(r["equilibrated"] in (True, False, None) and "energy_per_particle_halves" in r for r in result["rows"])
    assert json.loads((tmp_path / "comparison.json").read_text())["rows"][0]["sampler"] == "metropolis"
    assert (tmp_path / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_continues_from_saved_chains(capsys, tmp_path):
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    run_json(capsys, "sample", "--sampler", "swap", "--chains", "2", "--sweeps", "20", "--burn-in", "5", "-o",
             str(first))
    result = run_json(capsys, "sample", "--sampler", "metropolis", "--chains", "2", "--sweeps", "5", "--burn-in",
                      "0", "--start", str(first), "-o", str(second))
    assert result["energy_per_particle_mean"] < 0  # started from the liquid, not from random points
    assert main(["sample", "--chains", "3", "--start", str(first), "-o", str(second)]) == 2
    assert "fewer than the 3 chains" in capsys.readouterr().err


def test_sample_that_cannot_equilibrate_says_so_in_one_warning_and_in_its_table(capsys, tmp_path):
    """Metropolis from random starts at T = 0.3 for 100 sweeps is still falling: the JSON keeps the numbers with
    "equilibrated": false, stderr holds one warning line, and the table gives no mean energy as an answer."""
    argv = ["sample", "--sampler", "metropolis", "--temperature", "0.3", "--chains", "16", "--sweeps", "100",
            "--burn-in", "10", "--seed", "1", "--starts", "random", "--quiet", "-o", str(tmp_path / "quench.h5")]
    result = run_json(capsys, *argv)
    assert result["equilibrated"] is False and result["energy_stationary"] is False
    first, second = result["energy_per_particle_halves"]
    assert second < first - 0.1 and result["energy_halves_p_value"] < 1e-3 and result["energy_per_particle_mean"] < 0
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith(
        "glassgen sample: warning: metropolis at T = 0.3 is not an equilibrium run: the energy per particle still "
        "drifts")
    mean_row = next(line for line in captured.out.splitlines() if line.startswith("E/N mean"))
    assert mean_row.split(None, 2)[2].startswith("not an equilibrium value (energy still drifting: ")
    assert re.search(r"^crystallised +no \(", captured.out, re.M) and re.search(r"^demixed +no \(", captured.out, re.M)


def test_sample_anneals_from_random_starts_in_reported_stages_then_produces_for_a_budget(capsys, tmp_path):
    """--anneal-from 1 --anneal-stages 2 to T = 0.5: stages at 1, 0.71 and 0.5, each reported; then production."""
    result = run_json(capsys, "sample", "--sampler", "swap", "--temperature", "0.5", "--anneal-from", "1.0",
                      "--anneal-stages", "2", "--chains", "4", "--burn-in", "20", "--budget-seconds", "0.2",
                      "--quiet", "-o", str(tmp_path / "annealed.h5"))
    stages = result["anneal"]
    np.testing.assert_allclose([stage["temperature"] for stage in stages], [1.0, 0.5 ** 0.5, 0.5])
    assert all(stage["sweeps"] == stage["burn_in"] == 20 and stage["equilibrated"] in (True, False)
               and len(stage["energy_per_particle_halves"]) == 2 for stage in stages)
    assert stages[0]["energy_per_particle_mean"] > stages[-1]["energy_per_particle_mean"]
    assert result["sweeps"] >= 20 and result["equilibrated"] in (True, False, None) and result["temperature"] == 0.5


def test_start_agreement_flags_groups_that_remember_their_starts():
    """Two groups of chains a few standard errors apart disagree; the same process split in two agrees."""
    from glassgen.sampling import start_agreement

    rng = np.random.default_rng(3)
    same = rng.normal(-1.86, 0.02, (8, 400))
    assert start_agreement(same)["starts_agree"] is True
    apart = same.copy()
    apart[4:] -= 0.05  # the quenched half 0.05 lower: many standard errors of 8 x 400 samples
    verdict = start_agreement(apart)
    assert verdict["starts_agree"] is False and verdict["starts_z"] > 5
    assert verdict["starts_energy_per_particle"][1] == pytest.approx(verdict["starts_energy_per_particle"][0] - 0.05,
                                                                     abs=0.01)


def test_sample_starts_half_the_chains_quenched_and_reports_whether_they_agree(capsys, tmp_path):
    result = run_json(capsys, "sample", "--sampler", "swap", "--chains", "4", "--sweeps", "300", "--burn-in", "50",
                      "--quiet", "-o", str(tmp_path / "s.h5"))
    assert set(result) >= {"starts_agree", "starts_energy_per_particle", "starts_z"}
    quench = run_json(capsys, "sample", "--sampler", "metropolis", "--temperature", "0.3", "--chains", "16",
                      "--sweeps", "100", "--burn-in", "10", "--seed", "1", "--quiet", "-o", str(tmp_path / "q.h5"))
    assert quench["starts_agree"] is False and quench["equilibrated"] is False  # from above and below: far apart
    assert quench["starts_energy_per_particle"][0] > quench["starts_energy_per_particle"][1] + 0.3
    from glassgen.sampling import SamplerSettings, start_chains
    from glassgen.systems import evaluate

    chains = start_chains(SamplerSettings(sampler="swap", chains=4, starts="random+quenched"))
    energies = evaluate(chains, energy=True).energy.numpy() / 44
    assert energies[2:].max() < energies[:2].min()  # the quenched half starts at its minima, below the random half
