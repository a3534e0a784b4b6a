"""Order checks (freud): crystallisation by the fraction of solid-like particles, and demixing of the species.

KA3D crystallises (A-rich fcc) in long runs below T ~ 0.4 (REFERENCE.md section 1); a crystallised run must be
reported, not saved as a supercooled liquid. A particle is solid-like when at least ``solid_bonds`` (7) of its
neighbours within ``shell`` (1.5, the first minimum of g_AA) share its local bond-orientational order:
q6(i) . q6(j)* / (|q6(i)| |q6(j)|) > 0.7 (ten Wolde, Ruiz-Montero, Frenkel, J. Chem. Phys. 104, 9932 (1996)).
Measured here: 0.1 % of the particles of a real equilibrated KA3D configuration at T = 0.44 (BOTAN data) are
solid-like, against 100 % of a slightly perturbed fcc lattice, so the verdict threshold of 5 % has a wide margin.

In 2D the local hexatic order of a KA2D liquid is too high for a one-particle criterion (39 % of the particles of the
real GlassBench T = 0.30 configuration have |psi_6| > 0.7 and 12 % > 0.9, against 71 % > 0.9 in a triangular
crystal), so the order is coarse-grained: a particle is solid-like when |Psi_6| > 0.8, Psi_6 the mean of psi_6
(Voronoi neighbours) over it and its Voronoi neighbours, which cancels in a liquid and adds up in a crystal.
Measured: 0.9 % of the particles of that configuration (N = 1290) are solid-like, at most 9 % of any 44 neighbouring
ones (2000 windows), at most 9 % in any of 32 chains of N = 44 equilibrated by swap Monte Carlo at T = 1 (mean
0.7 %; 14 % in Metropolis chains still relaxing); a triangular lattice at the KA2D density perturbed by Gaussian
displacements of 0.05 spacings per component has 100 %, of 0.07 spacings 78-96 % (N = 1296-48); near melting (0.1
spacings, 14-29 %) a crystal goes unseen. The 2D verdict threshold is 40 %.

Demixing (any dimension): the demixing index D = (f - f0) / (1 - f0) of the share f of like-species pairs among
Voronoi neighbours, f0 = sum_s N_s (N_s - 1) / (N (N - 1)) its exact mean under random species labels; D is 0 for
random mixing, 1 for species fully apart, negative when unlike neighbours are preferred (KA). Measured: KA2D T = 0.30
-0.19, the same positions with shuffled labels 0.00 (+-0.06 at N = 44), with the species sorted into stripes 0.91
(0.48-0.56 at N = 44); 32 swap chains of N = 44 at T = 1 -0.19 to -0.04; KA3D T = 0.44 (BOTAN) 0.10, sorted 0.77.
A configuration is demixed above D = 0.3.
"""

from __future__ import annotations

import numpy as np

from glassgen.errors import InvalidInputError

#: Fraction of solid-like particles above which a configuration counts as crystallised (3D; 2D below).
CRYSTALLISED_FRACTION = 0.05
CRYSTALLISED_FRACTION_2D = 0.4
#: Demixing index above which a configuration counts as demixed.
DEMIXED_INDEX = 0.3


def solid_like_fraction(positions, box, *, shell: float = 1.5, bond_threshold: float = 0.7,
                        solid_bonds: int = 7) -> np.ndarray:
    """Fraction of solid-like particles (ten Wolde-Frenkel, l = 6) of each 3D configuration (M, N, 3) -> (M,).

    Species-blind: all particles within ``shell`` are neighbours.
    """
    import freud

    x, box = _frames(positions, box, 3, "the ten Wolde-Frenkel crystallinity check (hexatic_fraction in 2D)")
    solid_liquid = freud.order.SolidLiquid(l=6, q_threshold=bond_threshold, solid_threshold=solid_bonds,
                                           normalize_q=True)
    fractions = np.empty(len(x))
    for m, frame in enumerate(x):
        solid_liquid.compute(_system(frame, box), neighbors={"r_max": shell})
        fractions[m] = float(np.mean(solid_liquid.num_connections >= solid_bonds))
    return fractions


def hexatic_fraction(positions, box, *, threshold: float = 0.8) -> np.ndarray:
    """Fraction of solid-like particles of each 2D configuration (M, N, 2) -> (M,): coarse-grained |Psi_6| above
    ``threshold`` (see the module docstring). Species-blind."""
    import freud

    x, box = _frames(positions, box, 2, "the hexatic crystallinity check (solid_like_fraction in 3D)")
    hexatic = freud.order.Hexatic(k=6)
    fractions = np.empty(len(x))
    for m, frame in enumerate(x):
        system, bonds = _voronoi(frame, box)
        hexatic.compute(system, neighbors=bonds)
        total = hexatic.particle_order.copy()
        np.add.at(total, bonds.query_point_indices, hexatic.particle_order[bonds.point_indices])
        fractions[m] = float(np.mean(np.abs(total) / (1 + bonds.neighbor_counts) > threshold))
    return fractions


def demixing_index(positions, types, box) -> np.ndarray:
    """Demixing index D of each configuration (M, N, d) -> (M,) (see the module docstring); ``types`` (N,) or
    (M, N), e.g. per chain after swap moves."""
    x, box = _frames(positions, box, None, "the demixing check")
    types = np.broadcast_to(np.asarray(types), x.shape[:2])
    n = x.shape[1]
    index = np.empty(len(x))
    for m, (frame, species) in enumerate(zip(x, types)):
        counts = np.bincount(species)
        random_mixing = float(np.sum(counts * (counts - 1)) / (n * (n - 1)))
        _, bonds = _voronoi(frame, box)
        like = float(np.mean(species[bonds.query_point_indices] == species[bonds.point_indices]))
        index[m] = (like - random_mixing) / (1 - random_mixing)
    return index


def order_checks(positions, types, box) -> dict:
    """Crystallisation and demixing verdicts of the worst of the configurations (M, N, d), JSON-ready:
    solid-like fraction (ten Wolde-Frenkel in 3D, hexatic in 2D) and its threshold, demixing index."""
    x, box = _frames(positions, box, None, "the order checks")
    if x.shape[-1] == 3:
        solid, threshold = float(solid_like_fraction(x, box).max()), CRYSTALLISED_FRACTION
    else:
        solid, threshold = float(hexatic_fraction(x, box).max()), CRYSTALLISED_FRACTION_2D
    demixing = float(demixing_index(x, types, box).max())
    return {"solid_like_fraction": solid, "solid_like_threshold": threshold, "crystallised": solid > threshold,
            "demixing_index": demixing, "demixed": demixing > DEMIXED_INDEX}


def order_failures(checks: dict) -> list[str]:
    """What failed among :func:`order_checks`, in words that say what to do; empty when nothing did."""
    failures = []
    if checks["crystallised"]:
        failures.append(f"{100 * checks['solid_like_fraction']:.1f} % of the particles are solid-like: the run "
                        "crystallised; start again from a new melt (another seed) or at a higher temperature")
    if checks["demixed"]:
        failures.append(f"the species have demixed (index {checks['demixing_index']:.2f} > {DEMIXED_INDEX:g}); start "
                        "again from a new melt (another seed) or at a higher temperature")
    return failures


def _frames(positions, box, dim, what):
    """Configurations as (M, N, d) float64 and the box (d,), checked (``dim`` None: any d)."""
    x = np.asarray(positions, dtype=np.float64)
    x = x[None] if x.ndim == 2 else x
    box = np.asarray(box, dtype=np.float64)
    if x.ndim != 3 or box.shape != (x.shape[-1],) or (dim is not None and x.shape[-1] != dim):
        shape = f"{dim}D positions (M, N, {dim}) and a box ({dim},)" if dim else "positions (M, N, d) and a box (d,)"
        raise InvalidInputError(f"{what} needs {shape}; got {x.shape} and {box.shape}.")
    return x, box


def _system(frame, box):
    """(freud box, points) of one periodic configuration (N, d), d = 2 or 3: freud wants points centred on the
    origin, with z = 0 in 2D."""
    import freud

    centred = frame - box / 2
    centred -= box * np.round(centred / box)
    if len(box) == 2:
        centred = np.c_[centred, np.zeros(len(centred))]
    return freud.box.Box.from_box(box), centred


def _voronoi(frame, box):
    """(freud system, Voronoi neighbour list) of one periodic configuration (N, d)."""
    import freud

    system = _system(frame, box)
    voronoi = freud.locality.Voronoi()
    voronoi.compute(system)
    return system, voronoi.nlist
