"""Crystallisation check: the fraction of solid-like particles by the ten Wolde-Frenkel bond criterion (freud).

KA3D crystallises (A-rich fcc) in long runs below T ~ 0.4 (REFERENCE.md section 1); a crystallised run must be
reported, not saved as a supercooled liquid. A particle is solid-like when at least ``solid_bonds`` (7) of its
neighbours within ``shell`` (1.5, the first minimum of g_AA) share its local bond-orientational order:
q6(i) . q6(j)* / (|q6(i)| |q6(j)|) > 0.7 (ten Wolde, Ruiz-Montero, Frenkel, J. Chem. Phys. 104, 9932 (1996)).
Measured here: 0.1 % of the particles of a real equilibrated KA3D configuration at T = 0.44 (BOTAN data) are
solid-like, against 100 % of a slightly perturbed fcc lattice, so the verdict threshold of 5 % has a wide margin.

In 2D the local hexatic order of a KA2D liquid is too high for a simple local criterion (38 % of the particles of the
real T = 0.30 configuration have |psi_6| > 0.7), so the check is 3D only; the ternary KA2D mixture was designed not
to crystallise.
"""

from __future__ import annotations

import numpy as np

from glassgen.errors import InvalidInputError

#: Fraction of solid-like particles above which a configuration counts as crystallised.
CRYSTALLISED_FRACTION = 0.05


def solid_like_fraction(positions, box, *, shell: float = 1.5, bond_threshold: float = 0.7,
                        solid_bonds: int = 7) -> np.ndarray:
    """Fraction of solid-like particles (ten Wolde-Frenkel, l = 6) of each 3D configuration (M, N, 3) -> (M,).

    Species-blind: all particles within ``shell`` are neighbours.
    """
    import freud

    x = np.asarray(positions, dtype=np.float64)
    x = x[None] if x.ndim == 2 else x
    box = np.asarray(box, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 3 or box.shape != (3,):
        raise InvalidInputError(f"the crystallinity check needs 3D positions (M, N, 3) and a box (3,); got "
                                f"{x.shape} and {box.shape}. It is not defined for 2D models.")
    freud_box = freud.box.Box(*box)
    solid_liquid = freud.order.SolidLiquid(l=6, q_threshold=bond_threshold, solid_threshold=solid_bonds,
                                           normalize_q=True)
    fractions = np.empty(len(x))
    for m, frame in enumerate(x):
        centred = frame - box / 2
        centred -= box * np.round(centred / box)
        solid_liquid.compute((freud_box, centred), neighbors={"r_max": shell})
        fractions[m] = float(np.mean(solid_liquid.num_connections >= solid_bonds))
    return fractions
