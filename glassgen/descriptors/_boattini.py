"""Boattini, Smallenburg, Filion (PRL 127, 088007 (2021)) descriptors: radial densities, q_l, averaged generations."""

from __future__ import annotations

import numpy as np

from glassgen.descriptors._bondorder import bond_order
from glassgen.descriptors._common import Descriptor, as_configurations, exp_average, full_pairs
from glassgen.errors import InvalidInputError


def radial_densities(i, rij_norm, j_types, n, n_species, centres, width) -> np.ndarray:
    """G_i(r, s) = sum_{j of species s} exp(-(r_ij - r)^2 / (2 width^2)); returns (n, n_species * len(centres)).

    Columns are species-major: all shells of species 0, then of species 1, ...
    """
    out = np.empty((n, n_species, len(centres)))
    for s in range(n_species):
        sel = j_types == s
        ii, rr = i[sel], rij_norm[sel]
        for k, c in enumerate(centres):
            out[:, s, k] = np.bincount(ii, weights=np.exp(-0.5 * ((rr - c) / width) ** 2), minlength=n)
    return out.reshape(n, -1)


class BoattiniDescriptors(Descriptor):
    """Radial densities per species in Gaussian shells, bond orders q_l, and generations of exp(-r/r_c) averages.

    Generation 0, per particle: G(r, s) for shell centres ``shells`` (default 0.8, 0.9, ..., 5.0) and width
    ``width`` (0.1) for each species s, counting the particles j != i within ``max(shells) + 3 width``; then
    q_l for l in ``ls`` (default 1..12) over neighbours within ``bond_shell`` (1.5): Steinhardt q_l in 3D,
    |psi_l| in 2D. Generation n is x^(n)_i = sum_j e^{-r_ij/r_c} x^(n-1)_j / sum_j e^{-r_ij/r_c} over
    j within ``average_cutoff`` (default r_c, as in Boattini et al.; j = i included), r_c = 2.
    ``values`` holds generations 0..``generations`` side by side; names carry the suffix ``_g<n>``.
    Standardisation per species is left to the predictor.

    Parameters
    ----------
    shells : sequence of float
        Centres of the Gaussian shells.
    width : float
        Standard deviation delta of each shell.
    ls : sequence of int
        Bond-order degrees.
    bond_shell : float
        Neighbour range of the bond orders.
    generations : int
        Number of averaging generations (0: raw descriptors only).
    r_c : float
        Decay length of the averaging weights.
    average_cutoff : float, optional
        Range of the averaging; defaults to ``r_c``.
    n_species : int, optional
        Number of species; default max(types) + 1.
    """

    def __init__(self, shells=None, *, width: float = 0.1, ls=range(1, 13), bond_shell: float = 1.5,
                 generations: int = 2, r_c: float = 2.0, average_cutoff: float | None = None,
                 n_species: int | None = None):
        self._record(shells=shells, width=width, ls=ls, bond_shell=bond_shell, generations=generations, r_c=r_c,
                     average_cutoff=average_cutoff, n_species=n_species)
        shells = np.round(np.arange(0.8, 5.0 + 1e-9, 0.1), 10) if shells is None else np.asarray(shells, float)
        if shells.ndim != 1 or shells.size == 0 or width <= 0:
            raise InvalidInputError(f"BoattiniDescriptors needs 1-D shells and width > 0; got {shells}, {width}.")
        ls = [int(v) for v in ls]
        if any(v < 1 for v in ls) or bond_shell <= 0 or generations < 0 or r_c <= 0:
            raise InvalidInputError("BoattiniDescriptors needs ls >= 1, bond_shell > 0, generations >= 0, r_c > 0.")
        self.shells, self.width, self.ls = shells, float(width), ls
        self.bond_shell, self.generations, self.r_c = float(bond_shell), int(generations), float(r_c)
        self.average_cutoff = float(r_c if average_cutoff is None else average_cutoff)
        self.n_species = n_species

    def __repr__(self):
        return (f"BoattiniDescriptors({len(self.shells)} shells {self.shells[0]:g}..{self.shells[-1]:g} "
                f"width {self.width:g}, q_l l={self.ls[0]}..{self.ls[-1]}, {self.generations} generations r_c={self.r_c:g})")

    def compute(self, data, *, inherent: bool = False):
        conf = as_configurations(data, inherent=inherent)
        m, n, _ = conf.positions.shape
        n_species = int(conf.types.max()) + 1 if self.n_species is None else int(self.n_species)
        radial_cut = float(self.shells.max() + 3 * self.width)
        widest = max(radial_cut, self.bond_shell, self.average_cutoff)
        base_names = [f"G_s{s}_r{c:.2f}" for s in range(n_species) for c in self.shells]
        base_names += [f"q{l}" for l in self.ls]
        n_f = len(base_names)
        values = np.empty((m, n, n_f * (self.generations + 1)))
        for b in range(m):
            i, j, rij = full_pairs(conf.positions[b], conf.box, widest)
            r = np.sqrt((rij * rij).sum(-1))
            keep = r < radial_cut
            radial = radial_densities(i[keep], r[keep], conf.types[j[keep]], n, n_species, self.shells, self.width)
            keep = r < self.bond_shell
            bonds = bond_order(i[keep], j[keep], rij[keep], n, self.ls)
            x = np.concatenate([radial, bonds], axis=1)
            values[b, :, :n_f] = x
            keep = r < self.average_cutoff
            ia, ja, ra = i[keep], j[keep], r[keep]
            for g in range(1, self.generations + 1):
                x = exp_average(x, ia, ja, ra, self.r_c)
                values[b, :, g * n_f:(g + 1) * n_f] = x
        self._values = values
        self._names = [f"{name}_g{g}" for g in range(self.generations + 1) for name in base_names]
        return self
