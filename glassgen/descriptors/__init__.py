"""Per-particle structural descriptors, batched over configurations, in 2D and 3D (freud-style compute classes).

Every descriptor class follows one contract: the constructor stores settings only; ``compute(data, inherent=False)``
accepts a `System`, a `Dataset` (``inherent=True`` takes its ``inherent_positions``) or a
``(box, positions, types[, model])`` tuple with positions (N, d) or (M, N, d), and returns ``self``; ``values`` is an
ndarray of shape (M, N, F) and ``names`` the F feature names; both raise ``RuntimeError`` before ``compute``.
``fit(data, inherent=False) -> self`` learns what ``compute`` then reuses (only SBO learns anything).

- :class:`PotentialEnergy` (EPOT), :class:`LocalDensity` (DEN), :class:`BondOrientation` (PSI6): GlassBench's
  physical baselines, one feature per coarse-graining length L (default 0..5; L = 0: no averaging).
- :class:`BoattiniDescriptors`: radial densities per species, q_l, and generations of exp(-r/r_c) averages.
- :class:`GlassMLPDescriptors`: GlassMLP's density, energy, Voronoi cell size and energy variance, coarse-grained
  per species and over all; :func:`voronoi_cells` gives the periodic Voronoi volumes and surfaces (freud).
- :class:`StructuralBondOrder` (SBO, SBO_CG): first principal component of averaged bond orders, fitted without labels.
- :meth:`Descriptor.settings` / :func:`descriptor_from_settings`: JSON settings that rebuild a descriptor.
- :func:`coarse_grain`: the exp(-r/L) average used by all of them, x_i^CG = sum_j w x_j / sum_j w, j = i included.
- :data:`DESCRIPTOR_VERSION`: the version of the formulas, which saved predictors record.
"""

from glassgen.descriptors._boattini import BoattiniDescriptors, radial_densities
from glassgen.descriptors._bondorder import bond_order
from glassgen.descriptors._common import (Descriptor, as_configurations, coarse_grain, default_cutoff,
                                          descriptor_from_settings, full_pairs)
from glassgen.descriptors._glassmlp import GlassMLPDescriptors, voronoi_cells
from glassgen.descriptors._physical import BondOrientation, LocalDensity, PotentialEnergy
from glassgen.descriptors._sbo import StructuralBondOrder

#: Version of the descriptor formulas. Bump it with any change that alters a descriptor's values for the same settings
#: and data: a saved predictor records it, and a glassgen with another refuses the file, since the model was fitted
#: to the old values. 1: until saved predictors recorded it (files without it); 2: SBO's standardisation and axis are
#: fitted on the training data and saved with the predictor, no longer refitted on the data predicted.
DESCRIPTOR_VERSION = 2

__all__ = [
    "DESCRIPTOR_VERSION", "BoattiniDescriptors", "BondOrientation", "Descriptor", "GlassMLPDescriptors",
    "LocalDensity", "PotentialEnergy", "StructuralBondOrder", "as_configurations", "bond_order", "coarse_grain",
    "default_cutoff", "descriptor_from_settings", "full_pairs", "radial_densities", "voronoi_cells",
]
