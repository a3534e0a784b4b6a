"""Predictors of particle dynamics from structure: a registry of names, fit / predict / save / load.

- :class:`Predictor`: the contract (``fit(train, valid=None, times=None) -> self``, ``predict(data) -> (M, K, N)``,
  ``save(path)``, ``load(path)``), descriptors on thermal or inherent states, one model per species.
- ``ridge`` (:class:`RidgePredictor`): cross-validated ridge on Boattini descriptors.
- ``glassmlp`` (:class:`GlassMLP`): Jung, Biroli, Berthier's bottleneck MLP with variance and correlation losses.
- :func:`get_predictor`, :func:`available_predictors`, :func:`register`, :func:`load_predictor`.
"""

from glassgen.predictors.base import Predictor, SpeciesData
from glassgen.predictors.glassmlp import GlassMLP
from glassgen.predictors.registry import available_predictors, get_predictor, load_predictor, register
from glassgen.predictors.ridge import RidgePredictor

__all__ = [
    "GlassMLP", "Predictor", "RidgePredictor", "SpeciesData", "available_predictors", "get_predictor",
    "load_predictor", "register",
]
