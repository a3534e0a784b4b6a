"""`glassgen sample --checkpoint`: a run killed in production and resumed from its checkpoint ends with the numbers of
an uninterrupted run, and a checkpoint of other settings is refused."""

import json

import numpy as np
import pytest
import torch

import glassgen.sampling
from glassgen.cli import main
from glassgen.io import load

#: Summary keys that measure wall time, which no two runs share.
TIMES = {"seconds", "setup_seconds", "ess_per_second", "ess_per_second_with_setup", "ess_overlap_per_second",
         "overlap_decorrelation_seconds", "output"}


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the command catches it."""


def _sample(capsys, tmp_path, name, *extra):
    argv = ["sample", "--sampler", "tempering", "--ladder", "1.0", "1.3", "1.7", "--chains", "2", "--sweeps", "24",
            "--burn-in", "4", "--seed", "5", "--quiet", "--json", "-o", str(tmp_path / f"{name}.h5"), *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_killed_run_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one(capsys, tmp_path, monkeypatch):
    """Tempering with swaps on KA2D (random + quenched starts), checkpointed after every sweep and killed after the
    fifth checkpoint: run again, it skips set-up, continues from sweep 5 and reports every number of the run that
    was never killed (energies, acceptances, exchanges, round trips, equilibrium checks) and saves the same chains,
    bit for bit."""
    whole = _sample(capsys, tmp_path, "whole")
    checkpoint = tmp_path / "run.ckpt"
    saves = []
    save = glassgen.sampling.Checkpoint.save

    def save_then_die(self, **content):
        save(self, **content)
        saves.append(content["production"]["done"])
        if len(saves) == 5:
            raise Killed

    monkeypatch.setattr(glassgen.sampling.Checkpoint, "save", save_then_die)
    with pytest.raises(Killed):
        _sample(capsys, tmp_path, "killed", "--checkpoint", str(checkpoint), "--checkpoint-every", "1e-9")
    assert saves == [1, 2, 3, 4, 5] and not list(tmp_path.glob(".run.ckpt.tmp"))
    monkeypatch.setattr(glassgen.sampling.Checkpoint, "save", save)
    monkeypatch.setattr(glassgen.sampling, "_set_up", lambda *a: pytest.fail("a resumed run burned in again"))
    resumed = _sample(capsys, tmp_path, "resumed", "--checkpoint", str(checkpoint), "--checkpoint-every", "1e-9")
    assert whole["swap_acceptance"] and whole["round_trips"] >= 1 and whole["round_trip_rounds"] >= 4
    assert {k: v for k, v in resumed.items() if k not in TIMES} == {k: v for k, v in whole.items() if k not in TIMES}
    assert torch.load(checkpoint, weights_only=False)["production"]["done"] == 24
    np.testing.assert_array_equal(load(tmp_path / "resumed.h5").positions, load(tmp_path / "whole.h5").positions)


def test_a_checkpoint_of_other_settings_is_refused_naming_the_setting(capsys, tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    _sample(capsys, tmp_path, "first", "--checkpoint", str(checkpoint))
    argv = ["sample", "--sampler", "tempering", "--ladder", "1.0", "1.3", "1.7", "--chains", "2", "--sweeps", "24",
            "--burn-in", "4", "--seed", "6", "--quiet", "--checkpoint", str(checkpoint), "-o", str(tmp_path / "x.h5")]
    assert main(argv) == 2
    assert "holds a run with seed = 5, not 6 as asked" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
