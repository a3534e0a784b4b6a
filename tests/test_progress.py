"""Progress on stderr tells the truth: stages with their own names and totals, FIRE measured in decades of max|F|
(not in its step limit), nothing at all with progress=False or --quiet, and never anything on stdout but results."""

import json
import re
from dataclasses import replace

import numpy as np
import pytest

from glassgen.cli import main
from glassgen.descriptors import BoattiniDescriptors
from glassgen.dynamics import equilibrate, fire
from glassgen.dynamics.production import produce
from glassgen.io import Dataset
from glassgen.parallel import run_jobs
from glassgen.predictors import get_predictor
from glassgen.sampling import SamplerSettings, run_sampler
from glassgen.systems import ForceField, lattice_start, random_start

#: "NAME:  40%|####      | 4/10 ..." or "NAME:  40%|...| 0.4/1.0 decades ...": a drawn bar, name and count.
BAR = re.compile(r"^(?P<name>[^\r\n]+?): +\d+%\|[^|]*\| (?P<n>[\d.]+)/(?P<total>[\d.]+)")


def stages(err: str) -> dict:
    """{stage name: (last count drawn, total)}, in the order the stages first appeared."""
    found = {}
    for line in re.split(r"[\r\n]+", err):
        match = BAR.match(line.replace("\x1b[A", ""))
        if match:
            found[match["name"]] = (float(match["n"]), float(match["total"]))
    return found


@pytest.fixture(scope="module")
def small_2d():
    return random_start("ka2d", 64, batch=2, seed=1)


def test_fire_bar_counts_decades_of_max_force_whatever_the_step_limit(small_2d, capsys):
    ff = ForceField(small_2d.model, small_2d.box, small_2d.types)
    start = float(ff.compute(small_2d.positions, energy=False).forces.norm(dim=-1).amax(-1).max())
    done = fire(ff, small_2d.positions, fmax=1e-8, max_steps=100_000, progress=True)
    assert bool(done.converged.all())
    (name, (n, total)), = stages(capsys.readouterr().err).items()
    assert name == "FIRE 2 configurations"
    assert total == pytest.approx(np.log10(start / 1e-8), abs=0.06) and n == total
    fire(ff, small_2d.positions, fmax=1e-8, max_steps=50, progress=True, warn=False)
    (cut_n, cut_total), = stages(capsys.readouterr().err).values()
    assert cut_total == total and 0 < cut_n < total  # the step limit changes neither the measure nor the total


@pytest.mark.filterwarnings("ignore:equilibrium check failed")  # far too short to be equilibrium, on purpose
def test_md_stages_are_separate_with_their_own_names_and_totals(capsys):
    produce(lattice_start("ka2d", 64, seed=0), 0.8, 2, 0.25, equilibration_steps=40, melt_steps=30, cool_steps=20,
            progress=True)
    assert stages(capsys.readouterr().err) == {"melt T=2": (30, 30), "cool 2->0.8": (20, 20),
                                               "equilibrate T=0.8": (40, 40), "produce 2 configurations": (100, 100)}


def test_training_shows_inherent_states_descriptors_per_configuration_and_the_penalty_search(capsys):
    start = random_start("ka2d", 64, batch=3, seed=2)
    labels = np.random.default_rng(0).normal(size=(3, 1, 64))
    data = Dataset(positions=start.positions.numpy(), types=start.types.numpy(), box=start.box.numpy(),
                   model="ka2d", temperature=1.0, times=np.array([1.0]), propensity=labels)
    ridge = get_predictor("ridge", progress=True).fit(data)
    shown = stages(capsys.readouterr().err)
    assert shown["inherent states"] == (3, 3)
    assert shown["descriptors BoattiniDescriptors"] == (3, 3)
    assert shown["ridge penalty species 0"] == (3, 3)  # one fold per configuration when there are fewer than 5
    # Descriptors computed one configuration at a time are those of the whole batch.
    given = replace(data, inherent_positions=data.positions)
    expected = BoattiniDescriptors().compute(given, inherent=True).values
    np.testing.assert_array_equal(ridge._features(given), expected)


@pytest.mark.parametrize("sampler, training", [("pgmc", {"pgmc T=1 PGMC training": (2, 2)}), ("tempering", {})])
def test_monte_carlo_stages_burn_in_training_and_production(sampler, training, capsys):
    run_sampler(SamplerSettings(sampler=sampler, chains=2, sweeps=6, burn_in=4, train_steps=2, rungs=2),
                progress=True)
    assert stages(capsys.readouterr().err) == {**training, f"{sampler} T=1 burn-in": (4, 4),
                                               f"{sampler} T=1 produce": (6, 6)}


def test_progress_false_prints_nothing(small_2d, capsys):
    equilibrate(small_2d, 0.8, 20, melt_steps=10, cool_steps=10, progress=False)
    fire(ForceField(small_2d.model, small_2d.box, small_2d.types), small_2d.positions, max_steps=20, progress=False,
         warn=False)
    run_jobs(abs, [(-1,), (2,)], progress=False)
    run_sampler(SamplerSettings(chains=2, sweeps=2, burn_in=2), progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("quiet", [True, False])
def test_cli_json_writes_one_line_on_stdout_and_progress_only_on_stderr_unless_quiet(quiet, capsys, tmp_path):
    argv = ["simulate", "--model", "ka2d", "--n", "64", "--temperature", "0.5", "--steps", "200", "--frames", "2",
            "--spacing", "1", "--melt-steps", "100", "--cool-steps", "100", "-o", str(tmp_path / "x.h5"), "--json"]
    assert main(argv + ["--quiet"] * quiet) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["n_configurations"] == 2
    if quiet:
        assert captured.err == ""
    else:
        assert list(stages(captured.err)) == ["melt T=2", "cool 2->0.5", "equilibrate T=0.5",
                                              "produce 2 configurations"]
