"""Normalizing-flow Boltzmann generators of periodic particle systems (normflows + e3nn), their training, reweighted
samples and Metropolis-Hastings proposals (:class:`samplers.kernels.FlowProposal`). Imports nothing from glassgen."""

from samplers.flows.importance import FlowSamples, draw
from samplers.flows.model import FlowSettings, ParticleFlow
from samplers.flows.training import FlowTrainer, TrainingHistory, TrainingSettings

__all__ = ["FlowSettings", "ParticleFlow", "FlowTrainer", "TrainingSettings", "TrainingHistory", "FlowSamples", "draw"]
