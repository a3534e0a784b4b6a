"""GlassBench's physical baselines: a structural descriptor scored as a prediction, with no training.

EPOT (potential energy) and DEN (local density) are computed on inherent states, as GlassBench does; PSI6, SBO (the
first principal component of averaged bond orders, fitted without labels on the configurations scored, as there is
no training data) and SBO_CG (SBO coarse-grained) on the thermal configurations, since GlassBench does not say
otherwise; ``inherent=`` overrides either. The sign is kept: a descriptor that anti-correlates with mobility scores a
negative rho_P, as in the published table (DEN -0.246, PSI6 -0.145 at T = 0.44). No R^2: a raw descriptor is not in
the label's units.

The coarse-graining length defaults to L = 2 sigma, chosen before looking at any label: it is the averaging range of
Boattini et al. (r_c = 2) and about the dynamic correlation length of KA3D near T = 0.44, where rearrangements are
correlated over the first two shells. Scoring several lengths on the test labels and keeping the best would overstate
the baseline.
"""

from __future__ import annotations

import time as clock
from dataclasses import replace

import numpy as np

from glassgen import descriptors
from glassgen.bench.tasks import evaluate, true_labels
from glassgen.dynamics.minimization import minimize
from glassgen.errors import InvalidInputError
from glassgen.io import Dataset

__all__ = ["BASELINES", "DEFAULT_LENGTH", "score_descriptor", "with_inherent_states"]

#: Baseline name -> (descriptor class in glassgen.descriptors, computed on inherent states by default, its constructor
#: arguments for a coarse-graining length L or None where L does not apply). The score is the descriptor's last feature.
BASELINES = {
    "EPOT": ("PotentialEnergy", True, lambda length: {"lengths": (length,)}),
    "DEN": ("LocalDensity", True, lambda length: {"lengths": (length,)}),
    "PSI6": ("BondOrientation", False, lambda length: {"lengths": (length,)}),
    "SBO": ("StructuralBondOrder", False, None),
    "SBO_CG": ("StructuralBondOrder", False, lambda length: {"coarse_grain_length": length}),
}

#: Default coarse-graining length (see the module docstring for why).
DEFAULT_LENGTH = 2.0


def with_inherent_states(dataset: Dataset, **options) -> Dataset:
    """``dataset`` with inherent states: its own, or FIRE minima of its configurations (float64).

    Parameters
    ----------
    dataset : Dataset
    **options
        Passed to :func:`glassgen.dynamics.minimization.minimize` (``fmax``, ``max_steps``, ...).
    """
    if dataset.inherent_positions is not None:
        return dataset
    result = minimize(dataset.system(), **options)
    return replace(dataset, inherent_positions=result.positions.detach().cpu().numpy().astype(np.float64),
                   metadata={**dataset.metadata, "inherent_states": {
                       "method": "FIRE", "converged": bool(result.converged.all()),
                       "max_force": float(result.max_force.max())}})


def score_descriptor(name: str, dataset: Dataset, length: float = DEFAULT_LENGTH, *, species: int = 0,
                     inherent: bool | None = None, minimize_options: dict | None = None, **evaluate_options) -> dict:
    """Compute a physical descriptor coarse-grained at ``length`` and score it like a prediction at every time.

    chi_4 compares the descriptor on the label's scale (``chi4_scale="rank"``, see
    :func:`glassgen.bench.metrics.chi4_pair`), since a threshold on an energy or a density means nothing; for the
    same reason R^2 is not reported (``r2`` values None, ``r2_omitted`` says why).

    Parameters
    ----------
    name : {"EPOT", "DEN", "PSI6", "SBO", "SBO_CG"}
        The baseline (:data:`BASELINES`).
    dataset : Dataset
        Labelled configurations; inherent states are computed when needed and missing.
    length : float, default 2.0
        Coarse-graining length L of the exp(-r/L) average; 0: the bare per-particle value (SBO has none).
    species : int, default 0
        Species scored.
    inherent : bool, optional
        Compute on inherent states; default per :data:`BASELINES`.
    minimize_options : dict, optional
        Passed to :func:`with_inherent_states`.
    **evaluate_options
        Passed to :func:`glassgen.bench.tasks.evaluate`.

    Returns
    -------
    dict
        :func:`~glassgen.bench.tasks.evaluate`'s result plus ``descriptor``: {"name", "length", "inherent",
        "seconds"} (seconds to compute it, minimisation included).
    """
    if name not in BASELINES:
        raise InvalidInputError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}.")
    class_name, on_inherent, arguments = BASELINES[name]
    cls = getattr(descriptors, class_name, None)
    if cls is None:
        raise InvalidInputError(f"{name} needs glassgen.descriptors.{class_name}, which this glassgen lacks.")
    inherent = on_inherent if inherent is None else bool(inherent)
    true_labels(dataset, evaluate_options.get("label", "propensity"))
    start = clock.perf_counter()
    if inherent:
        dataset = with_inherent_states(dataset, **(minimize_options or {}))
    descriptor = cls(**(arguments(length) if arguments else {})).compute(dataset, inherent=inherent)
    values = descriptor.values[..., -1]
    seconds = clock.perf_counter() - start
    predictions = np.broadcast_to(values[:, None, :], (dataset.n_configurations, dataset.n_times, dataset.n_particles))
    result = evaluate(predictions, dataset, species, **{"chi4_scale": "rank", **evaluate_options, "report_r2": False})
    result["descriptor"] = {"name": name, "length": float(length) if arguments else None, "inherent": inherent,
                            "seconds": seconds}
    return result
