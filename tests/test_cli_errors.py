"""Every `glassgen` command answers a user mistake with one line on stderr and exit status 2, never a traceback.

The tables below hold the mistakes. ``ARGUMENT_MISTAKES`` are found in the command line itself (checked types, outputs
that cannot be written): the command must refuse them before it starts any work, which the test proves by replacing
every command's handler with one that fails if called. ``DATA_MISTAKES`` can only be found once the data are read;
they must still end in one line. Every command must appear in the first table: add its rows when you add a command.
"""

import os

import numpy as np
import pytest

import glassgen.cli
from glassgen.cli import build_parser, data, dataset, demo, flow, learn, main, sample
from glassgen.io import Dataset, save
from glassgen.predictors import get_predictor
from glassgen.systems import random_start

# Placeholders, replaced per test: DATA (a small labelled .h5), PLAIN (the same without labels), FILE (an existing
# plain file), RO (a folder on a read-only file system), MISSING (a folder that does not exist), HERE (tmp folder).
ARGUMENT_MISTAKES = [
    (["dataset", "build", "ka3d-multiT", "--work", "RO/w"], "cannot write in"),
    (["dataset", "build", "ka3d-multiT", "--temperatures", "0"], "--temperatures: must be a number > 0"),
    (["dataset", "make", "ka3d-multiT"], "invalid choice"),
    (["info", "DATA", "--threads", "0"], "--threads: must be an integer >= 1"),
    (["energy", "DATA", "--threads", "two"], "--threads: expected an integer"),
    (["energy"], "required: file"),
    (["import", "DATA", "-o", "RO/x.h5"], "cannot write in"),
    (["import", "DATA", "-o", "MISSING/x.h5"], "does not exist"),
    (["import", "DATA", "-o", "HERE"], "is a folder"),
    (["import", "DATA", "--temperature", "0", "-o", "x.h5"], "--temperature: must be a number > 0"),
    (["minimize", "DATA", "--fmax", "0", "-o", "x.h5"], "--fmax: must be a number > 0"),
    (["minimize", "DATA", "--max-steps", "0", "-o", "x.h5"], "--max-steps: must be an integer >= 1"),
    (["minimize", "DATA", "-o", "RO/x.h5"], "cannot write in"),
    (["simulate", "--dt", "0", "-o", "x.h5"], "--dt: must be a number > 0"),
    (["simulate", "--n", "-5", "-o", "x.h5"], "--n: must be an integer >= 1"),
    (["simulate", "--n", "1e3", "-o", "x.h5"], "--n: expected an integer"),
    (["simulate", "--temperature", "-1", "-o", "x.h5"], "--temperature: must be a number > 0"),
    (["simulate", "--temperature", "nan", "-o", "x.h5"], "finite"),
    (["simulate", "--spacing", "0", "-o", "x.h5"], "--spacing: must be a number > 0"),
    (["simulate", "--frames", "0", "-o", "x.h5"], "--frames: must be an integer >= 1"),
    (["simulate", "--chains", "0", "-o", "x.h5"], "--chains: must be an integer >= 1"),
    (["simulate", "--steps", "-1", "-o", "x.h5"], "--steps: must be an integer >= 0"),
    (["simulate", "--dtype", "float16", "-o", "x.h5"], "invalid choice"),
    (["simulate", "-o", "MISSING/x.h5"], "create it (mkdir -p"),
    (["simulate", "-o", "HERE"], "is a folder"),
    (["simulate", "-o", "RO/x.h5"], "cannot write in"),
    (["simulate", "-o", "FILE/x.h5"], "is a file, not a folder"),
    (["label", "DATA", "--replicas", "0", "-o", "x.h5"], "--replicas: must be an integer >= 1"),
    (["label", "DATA", "--t-min", "0", "-o", "x.h5"], "--t-min: must be a number > 0"),
    (["label", "DATA", "--times", "0", "1", "-o", "x.h5"], "--times: must be a number > 0"),
    (["label", "DATA", "--workers", "0", "-o", "x.h5"], "--workers: must be an integer >= 1"),
    (["label", "DATA", "--ensemble", "npt", "-o", "x.h5"], "invalid choice"),
    (["label", "DATA", "-o", "RO/x.h5"], "cannot write in"),
    (["demo", "--sweeps", "0"], "--sweeps: must be an integer >= 1"),
    (["demo", "--ensemble", "0"], "--ensemble: must be an integer >= 1"),
    (["demo", "-o", "FILE"], "is a file, not a folder"),
    (["demo", "-o", "RO/demo"], "cannot write in"),
    (["train", "--model", "bogus", "--data", "DATA", "-o", "m.pt"], "invalid choice"),
    (["train", "--model", "ridge", "--data", "DATA", "-o", "RO/m.pt"], "cannot write in"),
    (["train", "--model", "ridge", "--data", "DATA", "--times", "-1", "-o", "m.pt"], "--times: must be a number > 0"),
    (["predict", "DATA", "-o", "x.h5"], "required: --model"),
    (["predict-dynamics", "DATA", "--model", "m.pt", "--times-tau", "0", "-o", "x.h5"],
     "--times-tau: must be a number > 0"),
    (["predict-dynamics", "DATA", "--model", "m.pt", "-o", "x.h5", "--report", "FILE"], "is a file, not a folder"),
    (["predict", "DATA", "--model", "m.pt", "-o", "RO/x.h5"], "cannot write in"),
    (["bench", "--descriptor", "EPOT", "--data", "DATA", "--length", "0"], "--length: must be a number > 0"),
    (["bench", "--descriptor", "EPOT", "--data", "DATA", "--report", "FILE"], "is a file, not a folder"),
    (["bench", "--descriptor", "EPOT", "--data", "DATA", "--report", "RO/report"], "cannot write in"),
    (["sample", "--sampler", "swap", "--p-swap", "2", "-o", "x.h5"], "--p-swap: must be a probability in [0, 1]"),
    (["sample", "--sampler", "annealing", "-o", "x.h5"], "invalid choice"),
    (["sample", "--sweeps", "0", "-o", "x.h5"], "--sweeps: must be an integer >= 1"),
    (["sample", "--chains", "0", "-o", "x.h5"], "--chains: must be an integer >= 1"),
    (["sample", "--step", "-1", "-o", "x.h5"], "--step: must be a number > 0"),
    (["sample", "--temperature", "0", "-o", "x.h5"], "--temperature: must be a number > 0"),
    (["sample", "--burn-in", "-1", "-o", "x.h5"], "--burn-in: must be an integer >= 0"),
    (["sample", "-o", "RO/x.h5"], "cannot write in"),
    (["sample", "--budget-seconds", "0", "-o", "x.h5"], "--budget-seconds: must be a number > 0"),
    (["sample", "--anneal-from", "2", "--anneal-stages", "0", "-o", "x.h5"],
     "--anneal-stages: must be an integer >= 1"),
    (["sample", "--checkpoint-every", "0", "-o", "x.h5"], "--checkpoint-every: must be a number > 0"),
    (["sample", "--checkpoint", "HERE", "-o", "x.h5"], "is a folder"),
    (["sample", "--checkpoint", "MISSING/run.ckpt", "-o", "x.h5"], "does not exist"),
    (["sample", "--checkpoint", "RO/run.ckpt", "-o", "x.h5"], "cannot write in"),
    (["sample", "--sampler", "flow", "--p-flow", "2", "-o", "x.h5"], "--p-flow: must be a probability in [0, 1]"),
    (["compare-samplers", "--budget-seconds", "0"], "--budget-seconds: must be a number > 0"),
    (["compare-samplers", "--temperatures", "1.0", "-0.5"], "--temperatures: must be a number > 0"),
    (["compare-samplers", "-o", "FILE"], "is a file, not a folder"),
    (["compare-samplers", "-o", "RO/compare"], "cannot write in"),
    (["flow", "fit", "--temperature", "1", "-o", "f.pt"], "invalid choice: 'fit'"),
    (["flow", "train", "-o", "f.pt"], "required: --temperature"),
    (["flow", "train", "--temperature", "0", "-o", "f.pt"], "--temperature: must be a number > 0"),
    (["flow", "train", "--temperature", "1", "--budget-minutes", "0", "-o", "f.pt"],
     "--budget-minutes: must be a number > 0"),
    (["flow", "train", "--temperature", "1", "--layers", "0", "-o", "f.pt"], "--layers: must be an integer >= 1"),
    (["flow", "train", "--temperature", "1", "--schedule", "sideways", "-o", "f.pt"], "invalid choice"),
    (["flow", "train", "--temperature", "1", "-o", "RO/f.pt"], "cannot write in"),
    (["flow", "train", "--temperature", "1", "--checkpoint", "HERE", "-o", "f.pt"], "is a folder"),
]

DATA_MISTAKES = [
    (["dataset", "build", "nothing-here"], "no recipe nothing-here"),
    (["dataset", "download", "nothing-here"], "no archive 'nothing-here'"),
    (["dataset", "download", "glassbench", "--workers", "2"], "belong to `glassgen dataset build`"),
    (["dataset", "download", "glassbench", "--record", "MISSING/record.json", "--to", "w"],
     "cannot read the archive's record"),
    (["dataset", "build", "ka3d-multiT", "--files", "x", "--work", "w"], "belong to `glassgen dataset download`"),
    (["dataset", "build", "ka3d-multiT", "--temperatures", "0.33", "--work", "w"], "has no T = 0.33"),
    (["train", "--model", "ridge", "--data", "DATA", "--temperatures", "0.5", "-o", "m.pt"], "0.5 is not in the data"),
    (["bench", "--transfer", "ridge", "--data", "DATA"], "train/test split"),
    (["info", "MISSING/data.h5"], "does not exist"),
    (["energy", "DATA", "--model", "ka2d"], "ka2d"),
    (["energy", "DATA", "--model", "lj"], "unknown model"),
    (["bench", "--data", "DATA"], "either --model"),
    (["train", "--model", "ridge", "--data", "DATA", "--configurations", "a:b", "-o", "m.pt"], "START:STOP"),
    (["train", "--model", "ridge", "--data", "DATA", "--times", "3.0", "-o", "m.pt"], "3"),
    (["train", "--model", "ridge", "--data", "DATA", "--configurations", "3:2", "-o", "m.pt"],
     "the selection 3:2 selects no configurations"),
    (["train", "--model", "ridge", "--data", "DATA", "--configurations", "0:50", "-o", "m.pt"],
     "reaches past the 4 configurations"),
    (["train", "--model", "ridge", "--data", "DATA", "--configurations", "7", "-o", "m.pt"], "do not select"),
    (["train", "--model", "ridge", "--data", "DATA", "--set", "bogus=1", "-o", "m.pt"], "its settings are"),
    (["train", "--model", "ridge", "--data", "PLAIN", "-o", "m.pt"], "label"),
    (["predict", "DATA", "--model", "MISSING/m.pt", "-o", "x.h5"], "m.pt"),
    (["predict-dynamics", "DATA", "--model", "RIDGE", "--times-tau", "1", "-o", "x.h5"],
     "cannot predict at times in units of tau_alpha"),
    (["demo", "--temperature", "0.4"], "not below the coldest shipped temperature (0.35)"),
    (["simulate", "--n", "100", "-o", "x.h5"], "shorter than twice the cut-off"),
    (["sample", "--sampler", "tempering", "--ladder", "1.0", "0.8", "-o", "x.h5"], "increasing"),
    (["sample", "--sampler", "swap", "--model", "ka3d", "--n", "256", "-o", "x.h5"], "no swappable species"),
    (["sample", "--sampler", "swap", "--ladder", "1.0", "2.0", "-o", "x.h5"], "--ladder does not apply to the swap"),
    (["sample", "--sampler", "metropolis", "--p-swap", "0.5", "-o", "x.h5"], "--p-swap does not apply"),
    (["sample", "--sampler", "swap", "--train-steps", "5", "-o", "x.h5"], "only to pgmc"),
    (["sample", "--sampler", "pgmc", "--update", "checkerboard", "-o", "x.h5"], "--update does not apply"),
    (["sample", "--sweeps", "10", "--budget-seconds", "5", "-o", "x.h5"], "not both"),
    (["sample", "--starts", "random+quenched", "--start", "PLAIN", "-o", "x.h5"], "drop --start or --starts"),
    (["sample", "--starts", "random+quenched", "--chains", "1", "-o", "x.h5"], "needs >= 2 chains"),
    (["sample", "--temperature", "1.0", "--anneal-from", "0.5", "-o", "x.h5"], "must exceed the sampled temperature"),
    (["sample", "--anneal-from", "2", "--burn-in", "0", "-o", "x.h5"], "burn-in sweeps >= 1"),
    (["sample", "--checkpoint-every", "60", "-o", "x.h5"], "--checkpoint-every needs --checkpoint FILE"),
    (["sample", "--checkpoint", "FILE", "-o", "x.h5"], "cannot be read"),
    (["sample", "--sampler", "tempering", "--model", "ka3d", "--n", "256", "--p-swap", "0.5", "-o", "x.h5"],
     "has no swappable species pairs, so tempering cannot"),
    (["sample", "--sampler", "flow-mh", "-o", "x.h5"], "needs a trained flow: give --flow"),
    (["sample", "--sampler", "flow", "--flow", "FILE", "-o", "x.h5"], "not a glassgen flow file"),
    (["sample", "--sampler", "swap", "--flow", "FILE", "-o", "x.h5"], "--flow does not apply to the swap sampler"),
    (["sample", "--sampler", "flow-hybrid", "--flow", "FILE", "--p-flow", "0", "-o", "x.h5"], "p_flow must be in"),
    (["flow", "train", "--temperature", "1", "--data", "PLAIN", "-o", "f.pt"], "particles of ka3d"),
    (["flow", "train", "--model", "ka2d", "--n", "10", "--temperature", "1", "-o", "f.pt"],
     "shorter than twice the cut-off"),
    (["flow", "train", "--temperature", "1", "--uniform-prior", "--prior-temperature", "2", "-o", "f.pt"],
     "not both"),
]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """DATA: four KA3D N = 256 configurations with random labels at two times; PLAIN: the same without labels;
    RIDGE: a ridge model fitted to DATA."""
    folder = tmp_path_factory.mktemp("errors")
    start = random_start("ka3d", 256, batch=4, seed=1)
    plain = Dataset(positions=start.positions.numpy(), types=start.types.numpy(), box=start.box.numpy(),
                    model="ka3d", temperature=1.0)
    labelled = Dataset(**{**vars(plain), "times": np.array([1.0, 10.0]),
                          "propensity": np.random.default_rng(0).random((4, 2, 256))})
    ridge = folder / "ridge.pt"
    get_predictor("ridge").fit(labelled).save(ridge)  # label times in LJ units
    return {"DATA": save(labelled, folder / "labelled.h5"), "PLAIN": save(plain, folder / "plain.h5"), "RIDGE": ridge}


def _fill(argv, datasets, tmp_path, read_only):
    files = {"RO": read_only, "MISSING": tmp_path / "missing", "HERE": tmp_path, "FILE": tmp_path / "a-file",
             **datasets}
    (tmp_path / "a-file").write_text("not a folder")
    filled = []
    for arg in argv:
        head, sep, tail = arg.partition("/")
        if head in files:
            arg = str(files[head] / tail) if sep else str(files[head])
        filled.append(arg)
    return filled


def _assert_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"glassgen {argv[0]}: error: "), err[0]
    assert message in err[0], err[0]
    assert captured.out == ""


@pytest.fixture
def no_work(monkeypatch):
    """Replace every command's handler with one that fails the test: argument mistakes must stop before it."""
    def refuse(args):
        raise AssertionError(f"glassgen {args.command} started its work despite a mistake in its arguments")

    for module in (data, dataset, demo, learn, sample, flow):
        for name in dir(module):
            if name.startswith("cmd_"):
                monkeypatch.setattr(module, name, refuse)


@pytest.mark.parametrize("argv, message", ARGUMENT_MISTAKES, ids=[" ".join(a) for a, _ in ARGUMENT_MISTAKES])
def test_argument_mistakes_are_refused_before_any_work(argv, message, datasets, tmp_path, unwritable_folder,
                                                       monkeypatch, capsys, no_work):
    monkeypatch.chdir(tmp_path)
    _assert_one_line_exit_2(_fill(argv, datasets, tmp_path, unwritable_folder), message, capsys)
    assert not any((tmp_path / name).exists() for name in ("x.h5", "m.pt", "f.pt"))


@pytest.mark.parametrize("argv, message", DATA_MISTAKES, ids=[" ".join(a) for a, _ in DATA_MISTAKES])
def test_data_mistakes_are_one_line(argv, message, datasets, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _assert_one_line_exit_2(_fill(argv, datasets, tmp_path, tmp_path), message, capsys)
    assert not any((tmp_path / name).exists() for name in ("x.h5", "m.pt", "f.pt"))


def test_every_command_has_rows_in_the_mistakes_table():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    tested = {argv[0] for argv, _ in ARGUMENT_MISTAKES}
    assert commands == tested, f"commands without bad-input rows: {sorted(commands - tested)}"


def test_a_write_that_fails_after_the_checks_is_still_one_line(datasets, unwritable_folder, monkeypatch, capsys):
    """If the file system turns read-only between the check and the write, the OSError is reported in one line."""
    monkeypatch.setattr(glassgen.cli, "check_outputs", lambda args: None)
    _assert_one_line_exit_2(["import", str(datasets["DATA"]), "-o", str(unwritable_folder / "x.h5")],
                            "Read-only file system" if os.geteuid() == 0 else "Permission denied", capsys)


def test_unknown_command_is_one_line(capsys):
    assert main(["simulat"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glassgen: error:") and "invalid choice: 'simulat'" in err[0]
