"""Predictors of particle dynamics from structure: a registry of names, fit / predict / save / load.

- :class:`Predictor`: the contract (``fit(train, valid=None, times=None) -> self``, ``predict(data) -> (M, K, N)``,
  ``predict_with_uncertainty``, ``save(path)``, ``load(path)``), with compatibility checks and provenance.
- :class:`DescriptorRegressor`: descriptors on thermal or inherent states, standardised per species, one model per
  species: ``ridge`` (:class:`RidgePredictor`, cross-validated ridge on Boattini descriptors) and ``glassmlp``
  (:class:`GlassMLP`, Jung, Biroli, Berthier's bottleneck MLP with variance and correlation losses).
- :class:`GraphPredictor`: graph networks trained on neighbourhood crops on a CPU: ``bapst`` (:class:`BapstPredictor`),
  ``botan`` (:class:`BotanPredictor`, with the pair-distance edge target), ``se3`` (:class:`SE3Predictor`, thermal and
  inherent positions).
- :func:`get_predictor`, :func:`available_predictors`, :func:`register`, :func:`load_predictor`.
"""

from glassgen.predictors.base import Predictor
from glassgen.predictors.glassmlp import GlassMLP
from glassgen.predictors.graphnet import BapstPredictor, BotanPredictor, GraphPredictor, SE3Predictor
from glassgen.predictors.registry import available_predictors, get_predictor, load_predictor, register
from glassgen.predictors.regressor import DescriptorRegressor, SpeciesData
from glassgen.predictors.ridge import RidgePredictor

__all__ = [
    "BapstPredictor", "BotanPredictor", "DescriptorRegressor", "GlassMLP", "GraphPredictor", "Predictor",
    "RidgePredictor", "SE3Predictor", "SpeciesData", "available_predictors", "get_predictor", "load_predictor",
    "register",
]
