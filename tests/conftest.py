"""Shared fixtures: the real data in ../shared/data (beside the repository, in CI too)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOTAN_DIR = SHARED_DATA / "ka3d-botan-T0.44" / "train"
KA2D_FILE = SHARED_DATA / "ka2d-glassbench-T0.30" / "N1290T0.30_3_tc01.npz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}: clone the repository beside shared/")
    return SHARED_DATA


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder where creating a file fails, as on a read-only file system: a read-only tmpfs mount where this
    process may mount (root in CI), else a folder without write permission (which stops any non-root user)."""
    import os
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("running as root where mounting a read-only file system is not permitted")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tests run with one torch/BLAS thread, as every glassgen command does by default: glassgen's small operations
    are fastest so, and CI's two cores are shared with other work (benchmarks/threads.py)."""
    from glassgen.threads import limited_threads

    with limited_threads(1):
        yield


#: A multi-temperature benchmark small enough for tests: KA3D N = 200 at T = 1.0 and 0.8, 2 + 2 configurations each.
TINY_RECIPE = """
name = "tiny3d"
model = "ka3d"
n = 200
replicas = 4
seed = 1
preparation = "md"
chains = 2
equilibration_tau = 5
spacing_tau = 3
times_tau = [0.1, 1.0, 2.0]
[[temperatures]]
T = 1.0
tau_guess = 1.4
train = 2
test = 2
[[temperatures]]
T = 0.8
tau_guess = 3.0
train = 2
test = 2
"""


@pytest.fixture(scope="session")
def tiny_multi_t(tmp_path_factory):
    """:data:`TINY_RECIPE` built by `glassgen dataset build` in two runs (first T = 1.0 only, then the rest), about
    20 s: (folder holding tiny3d.h5 and the work folder, the two runs' JSON reports)."""
    import io
    import json
    from contextlib import redirect_stdout

    from glassgen.cli import main

    folder = tmp_path_factory.mktemp("build")
    (folder / "tiny3d.toml").write_text(TINY_RECIPE)
    argv = ["dataset", "build", str(folder / "tiny3d.toml"), "--work", str(folder / "work"), "-o",
            str(folder / "tiny3d.h5"), "--json", "--quiet"]
    reports = []
    for extra in (["--temperatures", "1.0"], []):
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(argv + extra) == 0
        reports.append(json.loads(out.getvalue()))
    return folder, reports
