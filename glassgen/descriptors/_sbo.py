"""Unsupervised structural order (SBO): the first principal component of averaged bond-order parameters."""

from __future__ import annotations

import numpy as np

from glassgen.descriptors._bondorder import bond_order
from glassgen.descriptors._common import Descriptor, as_configurations, coarse_grain, exp_average, full_pairs
from glassgen.errors import InvalidInputError


class StructuralBondOrder(Descriptor):
    """SBO: the leading principal component of averaged bond orders, fitted without labels.

    Boattini, Royall, Filion et al. (Nat. Commun. 11, 5479 (2020)) compress averaged bond-order parameters
    q_bar_l (l = 1..8) without labels and find that the leading direction separates slow from fast local structures;
    GlassBench's "SBO (PCA)" takes the first principal component instead of their autoencoder. Here, per particle:

    1. q_l(i) for l in ``ls`` over the neighbours within ``bond_shell`` (:func:`bond_order`: Steinhardt in 3D,
       |psi_l| in 2D);
    2. q_bar_l(i): the plain mean of q_l over i and its neighbours within ``bond_shell``. Departure: Lechner and
       Dellago average the complex q_lm before taking the norm; we average the invariants q_l (as the generations
       of :class:`BoattiniDescriptors` do);
    3. each q_bar_l standardised over all particles of all configurations fitted on, species pooled;
    4. SBO(i) = the projection of the standardised vector on the first principal component (scikit-learn PCA).

    Sign convention (labels are never used): the component's loadings sum to a positive number, so SBO grows with
    the overall bond order. ``coarse_grain_length`` adds ``SBO_CG``: SBO averaged with weights exp(-r/L)
    (:func:`coarse_grain`).

    Steps 3-4 are learned by ``fit(data)`` and reused by ``compute``, so that SBO is the same function of structure
    on every configuration: a predictor fits it on its training data only and saves the fitted arrays, and a loaded
    predictor reproduces its predictions without refitting (refitted on the data predicted, the axis, and with it
    the meaning of the feature the model was trained on, would move with every batch). Before ``fit``, ``compute``
    fits on the configurations it is given and keeps nothing: that is the unsupervised GlassBench baseline
    (:func:`glassgen.bench.score_descriptor`), which has no training data and is fitted on what it scores.

    Parameters
    ----------
    ls : sequence of int
        Bond-order degrees l (default 1..8 as in Boattini et al. 2020).
    bond_shell : float
        Neighbour range of q_l and of the average (1.5: first minimum of g_AA(r) in KA3D).
    coarse_grain_length : float, optional
        If given, also output SBO coarse-grained at this length.

    Attributes
    ----------
    components_ : ndarray of shape (len(ls),)
        The first principal axis, with the sign convention above (after ``fit``).
    mean_, scale_ : ndarray of shape (len(ls),)
        The standardisation of q_bar_l.
    explained_variance_ratio_ : float
        Share of the variance of the standardised q_bar_l along ``components_`` (after ``fit``; a loaded predictor's
        descriptor lacks it, as its values do not depend on it).
    """

    fitted_attributes = ("mean_", "scale_", "components_")

    def __init__(self, ls=range(1, 9), *, bond_shell: float = 1.5, coarse_grain_length: float | None = None):
        self._record(ls=ls, bond_shell=bond_shell, coarse_grain_length=coarse_grain_length)
        self.ls = [int(v) for v in ls]
        if len(self.ls) < 2 or min(self.ls) < 1:
            raise InvalidInputError(f"The 'ls' parameter of StructuralBondOrder must hold at least two degrees >= 1; "
                                    f"got {self.ls}.")
        if bond_shell <= 0:
            raise InvalidInputError(f"The 'bond_shell' parameter of StructuralBondOrder must be > 0; got {bond_shell}.")
        if coarse_grain_length is not None and coarse_grain_length <= 0:
            raise InvalidInputError("The 'coarse_grain_length' parameter of StructuralBondOrder must be > 0 or None; "
                                    f"got {coarse_grain_length}.")
        self.bond_shell = float(bond_shell)
        self.coarse_grain_length = None if coarse_grain_length is None else float(coarse_grain_length)

    def __repr__(self):
        return (f"StructuralBondOrder(ls={self.ls[0]}..{self.ls[-1]}, bond_shell={self.bond_shell:g}, "
                f"coarse_grain_length={self.coarse_grain_length})")

    def averaged_bond_orders(self, data, *, inherent: bool = False) -> np.ndarray:
        """q_bar_l of every particle: ndarray of shape (M, N, len(ls)), before standardisation."""
        conf = as_configurations(data, inherent=inherent)
        m, n, _ = conf.positions.shape
        out = np.empty((m, n, len(self.ls)))
        for b in range(m):
            i, j, rij = full_pairs(conf.positions[b], conf.box, self.bond_shell)
            q = bond_order(i, j, rij, n, self.ls)
            # Distances set to 0 make every weight 1: the plain mean over i and its neighbours.
            out[b] = exp_average(q, i, j, np.zeros(len(i)), 1.0)
        return out

    def fit(self, data, *, inherent: bool = False):
        """Fit the standardisation and the principal axis on every particle of ``data``; returns self."""
        q_bar = self.averaged_bond_orders(data, inherent=inherent)
        self.mean_, self.scale_, self.components_, self.explained_variance_ratio_ = _principal_axis(q_bar)
        return self

    def compute(self, data, *, inherent: bool = False):
        conf = as_configurations(data, inherent=inherent)
        positions = (conf.box, conf.positions, conf.types)
        q_bar = self.averaged_bond_orders(positions)
        if hasattr(self, "components_"):
            mean, scale, axis = self.mean_, self.scale_, self.components_
        else:  # not fitted: fitted on these configurations, and not kept (see the class docstring)
            mean, scale, axis, _ = _principal_axis(q_bar)
        sbo = (((q_bar - mean) / scale) @ axis)[..., None]
        names = ["SBO"]
        if self.coarse_grain_length is not None:
            sbo = np.concatenate([sbo, coarse_grain(sbo, positions, self.coarse_grain_length)], axis=-1)
            names.append("SBO_CG")
        self._values, self._names = sbo, names
        return self


def _principal_axis(q_bar: np.ndarray) -> tuple:
    """(mean, scale, first principal axis with loadings summing to >= 0, its explained variance ratio) of q_bar
    (..., L), every particle pooled; constant columns keep scale 1."""
    from sklearn.decomposition import PCA

    flat = q_bar.reshape(-1, q_bar.shape[-1])
    mean, scale = flat.mean(0), flat.std(0)
    scale[scale == 0] = 1.0
    pca = PCA(n_components=1).fit((flat - mean) / scale)
    component = pca.components_[0]
    return mean, scale, component if component.sum() >= 0 else -component, float(pca.explained_variance_ratio_[0])
