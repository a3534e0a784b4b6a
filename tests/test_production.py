"""Equilibrium checks of produced configurations: they must pass on equilibrium data and fail on bad runs."""

import numpy as np
import pytest

from glassgen.dynamics.production import produce
from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.systems import lattice_start
from samplers.diagnostics import energy_stationarity


def test_stationarity_test_accepts_noise_and_rejects_a_drift():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(2, 600))
    test = energy_stationarity(noise, 6)
    assert test.stationary and test.p_value > 0.01
    test = energy_stationarity(noise + np.linspace(0, 3, 600), 6)
    assert not test.stationary and test.p_value < 1e-3 and test.second_half - test.first_half > 1
    assert energy_stationarity(noise[:1], 4)[:2] == (None, None)  # 4 blocks cannot be tested


def test_false_alarm_rate_of_stationarity_is_small():
    rng = np.random.default_rng(1)
    rejected = sum(not energy_stationarity(rng.normal(size=(1, 120)), 12).stationary for _ in range(400))
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


def test_2d_order_checks_tell_a_crystal_and_demixed_species_from_the_real_ka2d_liquid(shared_data):
    """Calibration of the KA2D checks (glassgen.dynamics.crystallinity): the real GlassBench T = 0.30 liquid is
    neither crystallised nor demixed; a triangular lattice at its density, perturbed by 0.05 spacings, is solid-like
    throughout; the liquid's own positions with the species sorted into stripes are demixed, shuffled are not."""
    from glassgen import io
    from glassgen.dynamics.crystallinity import (
        CRYSTALLISED_FRACTION_2D,
        DEMIXED_INDEX,
        demixing_index,
        hexatic_fraction,
        order_checks,
    )
    from tests.conftest import KA2D_FILE

    liquid = io.load(KA2D_FILE)
    checks = order_checks(liquid.positions, liquid.types, liquid.box)
    assert checks["solid_like_fraction"] < 0.1 and checks["demixing_index"] < 0 and not checks["crystallised"]
    assert not checks["demixed"] and checks["solid_like_threshold"] == CRYSTALLISED_FRACTION_2D
    i, j = np.meshgrid(np.arange(36), np.arange(36), indexing="ij")  # 36 rows of 36, every other one shifted
    lattice = np.stack([i + 0.5 * (j % 2), j * np.sqrt(3) / 2], -1).reshape(-1, 2)
    scale = np.sqrt(len(lattice) / (36 * 36 * np.sqrt(3) / 2) / liquid.n_particles * np.prod(liquid.box))
    crystal = scale * (lattice + np.random.default_rng(0).normal(0, 0.05, lattice.shape))
    box = scale * np.array([36, 36 * np.sqrt(3) / 2])
    assert hexatic_fraction(crystal, box)[0] > 0.9 > CRYSTALLISED_FRACTION_2D
    x = liquid.positions[0]
    stripes = np.sort(liquid.types)[np.argsort(np.argsort(x[:, 0]))]  # species in order of x: three stripes
    shuffled = np.random.default_rng(1).permutation(liquid.types)
    assert demixing_index(x, stripes, liquid.box)[0] > 0.8 > DEMIXED_INDEX
    assert abs(demixing_index(x, shuffled, liquid.box)[0]) < 0.05
    assert order_checks(x, stripes, liquid.box)["demixed"]
