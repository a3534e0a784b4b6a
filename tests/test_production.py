"""Equilibrium checks of produced configurations: they must pass on equilibrium data and fail on bad runs."""

import numpy as np
import pytest

from glassgen.dynamics.production import energy_stationarity, produce
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.systems import lattice_start


def test_stationarity_test_accepts_noise_and_rejects_a_drift():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(2, 600))
    p, ok = energy_stationarity(noise, 6)
    assert ok and p > 0.01
    drift = noise + np.linspace(0, 3, 600)
    p, ok = energy_stationarity(drift, 6)
    assert not ok and p < 1e-3
    assert energy_stationarity(noise[:1], 4) == (None, None)  # 4 blocks cannot be tested


def test_false_alarm_rate_of_stationarity_is_small():
    rng = np.random.default_rng(1)
    rejected = sum(not energy_stationarity(rng.normal(size=(1, 120)), 12)[1] for _ in range(400))
    assert rejected <= 6  # expected 0.27 % of 400 = 1.1


def test_production_passes_checks_at_high_temperature_and_fails_when_rushed():
    good = produce(lattice_start("ka3d", 256, batch=2, seed=0), 1.0, 4, 4.0, equilibration_steps=2000,
                   melt_steps=500, progress=False)
    assert good.positions.shape == (2, 4, 256, 3) and good.equilibrated and good.checks["crystallised"] is False
    assert float(good.positions.min()) >= 0 and bool((good.positions < good.positions.new_tensor(6.0)).all())
    with pytest.warns(ConvergenceWarning, match="increase the spacing"):
        rushed = produce(lattice_start("ka3d", 256, seed=0), 1.0, 6, 0.1, equilibration_steps=100, progress=False)
    assert not rushed.checks["decorrelated"] and not rushed.equilibrated


def test_crystallinity_check_tells_fcc_from_the_real_supercooled_liquid():
    from glassgen import io
    from glassgen.dynamics.crystallinity import CRYSTALLISED_FRACTION, solid_like_fraction
    from tests.conftest import BOTAN_DIR

    liquid = io.load(BOTAN_DIR).subset([0, 1])
    assert (solid_like_fraction(liquid.positions, liquid.box) < 0.01).all()
    a = (4 / 1.2) ** (1 / 3)  # fcc at density 1.2, 4 x 6^3 = 864 particles
    cells = np.stack(np.meshgrid(*[np.arange(6)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    fcc = ((cells + basis) * a).reshape(-1, 3) + np.random.default_rng(0).normal(0, 0.04, (864, 3))
    assert solid_like_fraction(fcc, np.full(3, 6 * a))[0] > 0.95 > CRYSTALLISED_FRACTION
    with pytest.raises(InvalidInputError, match="3D"):
        solid_like_fraction(np.zeros((1, 10, 2)), np.ones(2))
