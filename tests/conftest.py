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
