"""GlassBench's physical baselines: coarse-grained potential energy (EPOT), local density (DEN) and Psi_6 (PSI6)."""

from __future__ import annotations

import numpy as np
import torch

from glassgen.descriptors._bondorder import bond_order
from glassgen.descriptors._common import (Descriptor, as_configurations, check_lengths, default_cutoff,
                                          exp_average, full_pairs, length_tag)
from glassgen.errors import InvalidInputError


def _average_at_lengths(base: np.ndarray, conf, lengths, cutoff) -> np.ndarray:
    """base (M, N) -> (M, N, len(lengths)): the exp(-r/L) average at each L, one pair list per configuration."""
    m, n = base.shape
    out = np.empty((m, n, len(lengths)))
    cuts = [0.0 if L == 0 else (default_cutoff(L, conf.box) if cutoff is None else float(cutoff)) for L in lengths]
    widest = max(cuts)
    for b in range(m):
        if widest > 0:
            i, j, rij = full_pairs(conf.positions[b], conf.box, widest)
            r = np.sqrt((rij * rij).sum(-1))
        for k, (L, cut) in enumerate(zip(lengths, cuts)):
            if L == 0:
                out[b, :, k] = base[b]
                continue
            keep = r < cut
            out[b, :, k] = exp_average(base[b][:, None], i[keep], j[keep], r[keep], L)[:, 0]
    return out


class _CoarseGrained(Descriptor):
    """One per-particle quantity coarse-grained at each length of ``lengths`` (one feature per L)."""

    prefix = ""

    def __init__(self, lengths=(0, 1, 2, 3, 4, 5), *, cutoff: float | None = None):
        self._record(lengths=lengths, cutoff=cutoff)
        self._lengths = check_lengths(lengths, type(self).__name__)
        if cutoff is not None and cutoff <= 0:
            raise InvalidInputError(f"The 'cutoff' parameter of {type(self).__name__} must be > 0; got {cutoff}.")
        self._cutoff = cutoff

    @property
    def lengths(self) -> tuple:
        return self._lengths

    def compute(self, data, *, inherent: bool = False):
        conf = as_configurations(data, inherent=inherent)
        base = self._base(conf)
        self._values = _average_at_lengths(base, conf, self._lengths, self._cutoff)
        self._names = [f"{self.prefix}_{length_tag(L)}" for L in self._lengths]
        return self

    def __repr__(self):
        return f"{type(self).__name__}(lengths={self._lengths}, cutoff={self._cutoff})"


class PotentialEnergy(_CoarseGrained):
    """EPOT: per-particle pair potential energy, coarse-grained with weights exp(-r/L).

    Pass inherent states (GlassBench's EPOT is the energy of the inherent state): a `Dataset` with
    ``compute(dataset, inherent=True)``, or a System minimised by :func:`glassgen.dynamics.minimization.minimize`.
    Each particle gets half of each pair energy (per-particle energies sum to the total). The model comes from the
    System/Dataset, or the 4th item of a tuple.

    Parameters
    ----------
    lengths : sequence of float
        Coarse-graining lengths L; L = 0 is the bare per-particle energy.
    cutoff : float, optional
        Range of the averaging; default 3 L, at most half the shortest box edge.

    Examples
    --------
    >>> epot = PotentialEnergy(lengths=(0, 2)).compute(minimize(system).system)  # doctest: +SKIP
    >>> epot.values.shape, epot.names  # doctest: +SKIP
    ((B, N, 2), ['EPOT_L0', 'EPOT_L2'])
    """

    prefix = "EPOT"

    def _base(self, conf) -> np.ndarray:
        from glassgen.systems.forcefield import ForceField

        if conf.model is None:
            raise InvalidInputError("PotentialEnergy needs the model: pass a System, a Dataset or "
                                    "(box, positions, types, model).")
        ff = ForceField(conf.model, torch.from_numpy(conf.box), torch.from_numpy(conf.types))
        out = ff.compute(torch.from_numpy(conf.positions), energy=True, forces=False, per_particle=True)
        return out.per_particle.numpy().astype(np.float64)


class LocalDensity(_CoarseGrained):
    """DEN: local number density, coarse-grained with weights exp(-r/L).

    The bare (L = 0) density of particle i is the number of other particles within ``shell`` (default 1.5, the
    first minimum of g_AA(r) of KA3D) divided by the volume of that ball (area of the disc in 2D); DEN_L is its
    exp(-r/L) average. All species count.
    """

    prefix = "DEN"

    def __init__(self, lengths=(0, 1, 2, 3, 4, 5), *, shell: float = 1.5, cutoff: float | None = None):
        super().__init__(lengths, cutoff=cutoff)
        self._record(lengths=lengths, shell=shell, cutoff=cutoff)
        if shell <= 0:
            raise InvalidInputError(f"The 'shell' parameter of LocalDensity must be > 0; got {shell}.")
        self._shell = float(shell)

    def _base(self, conf) -> np.ndarray:
        m, n, d = conf.positions.shape
        volume = np.pi * self._shell ** 2 if d == 2 else 4.0 / 3.0 * np.pi * self._shell ** 3
        out = np.empty((m, n))
        for b in range(m):
            i, _, _ = full_pairs(conf.positions[b], conf.box, self._shell)
            out[b] = np.bincount(i, minlength=n) / volume
        return out


class BondOrientation(_CoarseGrained):
    """PSI6: bond-orientational order of each particle, coarse-grained with weights exp(-r/L).

    Neighbours are the particles within ``shell`` (default 1.5, species-blind). In 2D the bare value is
    |psi_l| = |(1/n) sum_j exp(i l theta_ij)|; in 3D, where GlassBench's Psi_6 has no published formula, it is
    Steinhardt's q_l (rotation invariant, 0.5745 for fcc at l = 6). ``l = 6`` by default.
    """

    def __init__(self, lengths=(0, 1, 2, 3, 4, 5), *, l: int = 6, shell: float = 1.5,  # noqa: E741
                 cutoff: float | None = None):
        super().__init__(lengths, cutoff=cutoff)
        self._record(lengths=lengths, l=l, shell=shell, cutoff=cutoff)
        if int(l) < 1 or shell <= 0:
            raise InvalidInputError(f"BondOrientation needs l >= 1 and shell > 0; got l={l}, shell={shell}.")
        self._l = int(l)
        self._shell = float(shell)
        self.prefix = f"PSI{self._l}"

    def _base(self, conf) -> np.ndarray:
        m, n, _ = conf.positions.shape
        out = np.empty((m, n))
        for b in range(m):
            i, j, rij = full_pairs(conf.positions[b], conf.box, self._shell)
            out[b] = bond_order(i, j, rij, n, [self._l])[:, 0]
        return out
