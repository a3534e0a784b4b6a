"""Relaxation observables of trajectories: MSD, alpha_2, F_s(q, t), tau_alpha, overlap, chi_4 and the noise ceiling.

Pure functions: numpy arrays, torch tensors or nested lists go in, float64 numpy comes out (a numpy float64 where
the result is one number). Conventions follow REFERENCE.md section 2 (GlassBench):

* A displacement array ``dr`` has shape ``(M, T, N, d)`` (M configurations or replicas, T times, N particles,
  d = 2 or 3), ``(T, N, d)`` (one configuration) or ``(N, d)`` (one configuration at one time). Make displacements
  with :func:`displacements`, which takes the minimum image when a box is given.
* Averages (:func:`msd`, :func:`non_gaussian`, :func:`self_intermediate_scattering`) run over the selected particles
  and over the M configurations, pooled, and return shape ``(T,)`` (a number for ``(N, d)``); pass
  ``per_configuration=True`` to keep the M axis, shape ``(M, T)``. For replicas at one time, ``(R, N, d)``, add the
  time axis: ``dr[:, None]`` gives ``(R, 1, N, d)``.
* Species: ``types`` is ``(N,)`` of 0-based ints shared by all configurations; ``species`` is one int or a sequence
  of ints (None: every particle). GlassBench reports type A (species 0) only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.special import j0

from glassgen.errors import InvalidInputError

__all__ = [
    "chi4", "chi4_propensity", "displacements", "msd", "non_gaussian", "noise_ceiling", "overlap",
    "relaxation_time", "self_intermediate_scattering",
]

_METHODS = ("isotropic", "axes")


#: Wave vector of F_s by dimension: the first peak of S(q) of the A particles (GlassBench's choice).
Q_PEAK = {2: 7.0, 3: 7.25}


# --------------------------------------------------------------------------------------------------- input checks
def _as_float64(value, name: str) -> np.ndarray:
    """``value`` (numpy, torch or nested lists) as a float64 numpy array with only finite entries."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{name} must be an array of real numbers; got {type(value).__name__} ({err})."
        ) from err
    if not np.isfinite(array).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InvalidInputError(f"{name} contains NaN or infinite values (first at index {first}).")
    return array


def _as_displacements(dr, name: str = "dr") -> np.ndarray:
    """Check a displacement array of shape (M, T, N, d), (T, N, d) or (N, d) with d = 2 or 3."""
    dr = _as_float64(dr, name)
    if dr.ndim not in (2, 3, 4) or dr.shape[-1] not in (2, 3) or dr.shape[-2] == 0:
        raise InvalidInputError(
            f"{name} must have shape (M, T, N, d), (T, N, d) or (N, d) with d = 2 or 3 and N >= 1; got {dr.shape}. "
            "For replicas at one time, (R, N, d), add the time axis with dr[:, None]."
        )
    return dr


def _species_mask(types, species, n: int) -> np.ndarray | None:
    """Boolean mask (N,) of the particles of ``species`` (int or sequence of ints); None selects every particle."""
    if species is None:
        if types is not None:
            _as_types(types, n)  # still check it, so a wrong array never passes silently
        return None
    if types is None:
        raise InvalidInputError(f"species={species!r} needs types, the (N,) array of 0-based species; got None.")
    types = _as_types(types, n)
    wanted = np.atleast_1d(np.asarray(species))
    if wanted.ndim != 1 or wanted.size == 0 or wanted.dtype.kind not in "iu":
        raise InvalidInputError(f"species must be an int or a non-empty sequence of ints; got {species!r}.")
    mask = np.isin(types, wanted)
    if not mask.any():
        raise InvalidInputError(
            f"no particle of species {wanted.tolist()} in types; the species present are {np.unique(types).tolist()}."
        )
    return mask


def _as_types(types, n: int) -> np.ndarray:
    if isinstance(types, torch.Tensor):
        types = types.detach().cpu().numpy()
    types = np.asarray(types)
    if types.shape != (n,) or (types.size and types.dtype.kind not in "iu"):
        raise InvalidInputError(
            f"types must be an int array of shape (N,) = ({n},), one 0-based species per particle; "
            f"got shape {types.shape}, dtype {types.dtype}."
        )
    return types


def _positive(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be a positive number; got {value!r}.") from err
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name} must be a positive finite number; got {value}.")
    return value


def _average(per_particle: np.ndarray, mask: np.ndarray | None, per_configuration: bool):
    """Mean over the selected particles (last axis) and, for 3-D input (M, T, N) unless per_configuration, over M."""
    if mask is not None:
        per_particle = per_particle[..., mask]
    axes = (-1,) if per_configuration or per_particle.ndim < 3 else (0, -1)
    return np.mean(per_particle, axis=axes)[()]


# ---------------------------------------------------------------------------------------------------- displacements
def displacements(initial, positions, box=None) -> np.ndarray:
    """Displacements ``positions - initial``, in the minimum image when ``box`` is given.

    With a box, each component becomes ``dx - L round(dx / L)``, so wrapped and unwrapped positions give the same
    result as long as no particle moves more than half a box edge (REFERENCE.md: always take the minimum image when
    positions may be wrapped). Unwrapped coordinates pass ``box=None`` and any displacement is exact.

    Parameters
    ----------
    initial : ndarray of shape (..., N, d)
        Positions at t = 0. Its leading axes are the first leading axes of ``positions``, so (N, d) serves every
        frame and replica, and (M, N, d) serves (M, T, N, d) positions.
    positions : ndarray of shape (..., N, d)
        Positions at later times, e.g. (M, T, N, d), (T, N, d), (R, N, d) or (N, d).
    box : array_like of shape (d,) or None
        Edge lengths of the orthorhombic periodic box.

    Returns
    -------
    ndarray of shape positions.shape, float64

    Examples
    --------
    >>> displacements([[0.1, 0.1]], [[9.9, 0.2]], box=[10.0, 10.0]).round(6).tolist()
    [[-0.2, 0.1]]
    """
    initial = _as_float64(initial, "initial")
    positions = _as_float64(positions, "positions")
    k = initial.ndim - 2
    if initial.ndim < 2 or positions.ndim < initial.ndim or initial.shape[:k] != positions.shape[:k] \
            or initial.shape[-2:] != positions.shape[-2:]:
        raise InvalidInputError(
            f"initial must have shape (N, d) or the leading axes of positions followed by (N, d); got initial "
            f"{initial.shape} and positions {positions.shape}."
        )
    initial = initial.reshape(initial.shape[:k] + (1,) * (positions.ndim - initial.ndim) + initial.shape[-2:])
    dr = positions - initial
    if box is not None:
        box = _as_float64(box, "box")
        if box.shape != positions.shape[-1:] or not (box > 0).all():
            raise InvalidInputError(
                f"box must hold d = {positions.shape[-1]} positive edge lengths; got {box.tolist()} "
                f"(shape {box.shape})."
            )
        dr -= box * np.round(dr / box)
    return dr


# ------------------------------------------------------------------------------------------------- MSD and alpha_2
def msd(dr, types=None, species=None, *, per_configuration: bool = False):
    """Mean squared displacement ``<|dr_i|^2>`` over the selected particles (and configurations).

    Parameters
    ----------
    dr : ndarray of shape (M, T, N, d), (T, N, d) or (N, d)
        Displacements (see :func:`displacements`).
    types : ndarray of shape (N,), optional
        0-based species of each particle; needed with ``species``.
    species : int or sequence of int, optional
        Average over these species only; None: every particle.
    per_configuration : bool, default False
        Keep the M axis instead of pooling the configurations.

    Returns
    -------
    ndarray of shape (T,) (or (M, T) with per_configuration), or float64 for (N, d) input

    Examples
    --------
    >>> float(msd([[1.0, 0.0], [0.0, 3.0]]))
    5.0
    """
    dr = _as_displacements(dr)
    mask = _species_mask(types, species, dr.shape[-2])
    return _average(np.square(dr).sum(axis=-1), mask, per_configuration)


def non_gaussian(dr, types=None, species=None, *, per_configuration: bool = False):
    """Non-Gaussian parameter ``alpha_2 = d <r^4> / ((d + 2) <r^2>^2) - 1`` with r = |dr_i|.

    Zero for Gaussian displacements in any dimension d; both moments are averaged over the selected particles and
    the pooled configurations before the ratio is taken. Where every displacement is zero the ratio is undefined
    and the result is NaN.

    Parameters
    ----------
    dr : ndarray of shape (M, T, N, d), (T, N, d) or (N, d)
        Displacements.
    types, species, per_configuration
        As in :func:`msd`.

    Returns
    -------
    ndarray of shape (T,) (or (M, T) with per_configuration), or float64 for (N, d) input
    """
    dr = _as_displacements(dr)
    dim = dr.shape[-1]
    mask = _species_mask(types, species, dr.shape[-2])
    r2 = np.square(dr).sum(axis=-1)
    m2 = _average(r2, mask, per_configuration)
    m4 = _average(np.square(r2), mask, per_configuration)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dim * m4 / ((dim + 2) * np.square(m2)) - 1.0)[()]


# ----------------------------------------------------------------------------------------------------------- F_s
def self_intermediate_scattering(dr, q: float, types=None, species=None, *, method: str = "isotropic",
                                 per_configuration: bool = False):
    """Self-intermediate scattering function ``F_s(q, t) = < cos(q . dr_i(t)) >`` averaged over directions of q.

    Two ways to average over the direction of the wave vector:

    * ``"isotropic"`` (default): the exact average over all directions of q for each particle,
      ``sin(q r) / (q r)`` in 3D and ``J_0(q r)`` in 2D, with r = |dr_i|. It does not depend on the orientation of
      the box and has the smallest statistical noise.
    * ``"axes"``: q along each Cartesian axis, ``(1/d) sum_alpha cos(q dr_i,alpha)``, the choice of most MD analysis
      codes.

    Both have the same expectation when the displacements are isotropic; they differ for anisotropic ones (e.g. a
    shift along x, where ``"axes"`` gives ``(cos(q dx) + d - 1) / d``). GlassBench: q = 7.25 in 3D and 7.0 in 2D,
    type-A particles (species 0), tau_alpha where F_s = 1/e (:func:`relaxation_time`).

    Parameters
    ----------
    dr : ndarray of shape (M, T, N, d), (T, N, d) or (N, d)
        Displacements.
    q : float
        Modulus of the wave vector, > 0.
    types, species, per_configuration
        As in :func:`msd`.
    method : {"isotropic", "axes"}, default "isotropic"
        How the direction of q is averaged, see above.

    Returns
    -------
    ndarray of shape (T,) (or (M, T) with per_configuration), or float64 for (N, d) input

    Examples
    --------
    >>> float(self_intermediate_scattering([[0.0, 0.0, 0.0]], q=7.25))
    1.0
    """
    dr = _as_displacements(dr)
    q = _positive(q, "q")
    if method not in _METHODS:
        raise InvalidInputError(f"method must be one of {_METHODS}; got {method!r}.")
    mask = _species_mask(types, species, dr.shape[-2])
    if method == "axes":
        per_particle = np.cos(q * dr).mean(axis=-1)
    else:
        qr = q * np.sqrt(np.square(dr).sum(axis=-1))
        per_particle = np.sinc(qr / np.pi) if dr.shape[-1] == 3 else j0(qr)
    return _average(per_particle, mask, per_configuration)


# ----------------------------------------------------------------------------------------------------- tau_alpha
def relaxation_time(times, fs, level: float = math.exp(-1.0)):
    """Time at which a decaying curve first falls to ``level`` (tau_alpha for F_s and level 1/e).

    With k the first index where ``fs[k] <= level``, tau is interpolated linearly in log(t) between
    (t[k-1], fs[k-1]) and (t[k], fs[k]):
    ``log tau = log t[k-1] + (level - fs[k-1]) / (fs[k] - fs[k-1]) * (log t[k] - log t[k-1])``,
    or linearly in t when that bracket starts at t = 0.

    Parameters
    ----------
    times : ndarray of shape (T,)
        Strictly increasing times, >= 0.
    fs : ndarray of shape (T,) or (..., T)
        Values of the curve at ``times``, e.g. F_s(q, t); leading axes are independent curves.
    level : float, default 1/e
        Level to cross.

    Returns
    -------
    float64 for one curve, ndarray of shape fs.shape[:-1] otherwise

    Raises
    ------
    InvalidInputError
        If times are not strictly increasing or negative, if a curve starts at or below the level, or if it never
        falls to the level (the message gives the last value reached: run longer).

    Examples
    --------
    >>> round(float(relaxation_time([1.0, 10.0, 100.0], [0.9, 0.5, 0.1])), 3)
    21.394
    """
    t = _as_float64(times, "times")
    f = _as_float64(fs, "fs")
    level = float(level)
    if not math.isfinite(level):
        raise InvalidInputError(f"level must be a finite number; got {level}.")
    if t.ndim != 1 or t.size < 2 or f.ndim < 1 or f.shape[-1] != t.size:
        raise InvalidInputError(
            f"times must have shape (T,) with T >= 2 and fs shape (..., T) with the same T; got times {t.shape} "
            f"and fs {f.shape}."
        )
    steps = np.diff(t)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0))
        raise InvalidInputError(
            f"times must be strictly increasing; got t[{k}] = {t[k]:g} followed by t[{k + 1}] = {t[k + 1]:g}."
        )
    if t[0] < 0:
        raise InvalidInputError(f"times must be >= 0; got t[0] = {t[0]:g}.")
    flat = f.reshape(-1, t.size)
    tau = np.empty(len(flat))
    for row, curve in enumerate(flat):
        where = "" if f.ndim == 1 else f"curve {tuple(int(i) for i in np.unravel_index(row, f.shape[:-1]))}: "
        below = curve <= level
        if not below.any():
            raise InvalidInputError(
                f"{where}the curve never falls to the level {level:.4g}: its last value is {curve[-1]:.4g} at "
                f"t = {t[-1]:g} (minimum {curve.min():.4g}). Run longer or lower the level."
            )
        k = int(np.argmax(below))
        if k == 0:
            raise InvalidInputError(
                f"{where}the curve starts at or below the level {level:.4g} (value {curve[0]:.4g} at t = {t[0]:g}); "
                "include earlier times."
            )
        frac = (level - curve[k - 1]) / (curve[k] - curve[k - 1])
        if t[k - 1] == 0:
            tau[row] = t[k] * frac
        else:
            tau[row] = math.exp(math.log(t[k - 1]) + frac * (math.log(t[k]) - math.log(t[k - 1])))
    return tau.reshape(f.shape[:-1])[()]


# -------------------------------------------------------------------------------------------------- overlap, chi_4
def overlap(dr, a: float = 0.3, types=None, species=None):
    """Overlap ``Q = (1/N) sum_i Theta(a - |dr_i|)`` of each configuration and time (1 where ``|dr_i| < a``).

    N counts the selected particles only. Not averaged over configurations: its fluctuations give :func:`chi4`.

    Parameters
    ----------
    dr : ndarray of shape (M, T, N, d), (T, N, d) or (N, d)
        Displacements.
    a : float, default 0.3
        Overlap radius (GlassBench: 0.3).
    types, species
        As in :func:`msd`.

    Returns
    -------
    ndarray of shape dr.shape[:-2] ((M, T) or (T,)), or float64 for (N, d) input
    """
    dr = _as_displacements(dr)
    a = _positive(a, "a")
    mask = _species_mask(types, species, dr.shape[-2])
    inside = (np.sqrt(np.square(dr).sum(axis=-1)) < a).astype(np.float64)
    return _average(inside, mask, per_configuration=True)


def chi4(q_values, n_particles: int, axis: int = 0):
    """Dynamic susceptibility ``chi_4 = N (<Q^2> - <Q>^2)`` over configurations (population variance, ddof = 0).

    Parameters
    ----------
    q_values : ndarray of shape (M, T) or (M,)
        Overlaps per configuration, as returned by :func:`overlap`.
    n_particles : int
        N of the definition: the number of particles each Q averages over (N_A when Q is of species A only).
    axis : int, default 0
        The configuration axis of ``q_values``; at least 2 configurations are needed.

    Returns
    -------
    ndarray of shape (T,) (q_values without ``axis``), or float64 for (M,) input
    """
    q = _as_float64(q_values, "q_values")
    if isinstance(n_particles, bool) or not isinstance(n_particles, (int, np.integer)) or n_particles < 1:
        raise InvalidInputError(f"n_particles must be a positive int; got {n_particles!r}.")
    if q.ndim == 0 or not -q.ndim <= axis < q.ndim or q.shape[axis] < 2:
        raise InvalidInputError(
            f"q_values needs a configuration axis (axis={axis}) with at least 2 configurations; got shape {q.shape}."
        )
    # shifted by the first configuration: the same variance, exactly 0 for identical configurations
    shifted = q - np.take(q, [0], axis=axis)
    return (n_particles * np.var(shifted, axis=axis))[()]


def chi4_propensity(propensity, types, a: float, smooth: bool = False, species: int | Sequence[int] = 0):
    """GlassBench chi_4 of a propensity field: ``Var_configs(sum_{i in A} q_i) / N_A``.

    ``q_i = Theta(R_i - a)`` (1 where ``R_i > a``: mobile particles) or, with ``smooth``,
    ``q_i = (tanh(20 (R_i - a)) + 1) / 2``; the sum runs over the particles of ``species`` (type A by default) and the
    variance (ddof = 0) over the M configurations. Compute predicted and true chi_4 the same way. REFERENCE.md:
    a = 0.44 in 3D and 0.4 in 2D (which exact threshold GlassBench used is unverified).

    Parameters
    ----------
    propensity : ndarray of shape (M, N) or (M, K, N)
        Propensity (true or predicted) of each particle, at K times.
    types : ndarray of shape (N,) or (M, N)
        0-based species; per configuration if they differ, with the same number of selected particles in each.
    a : float
        Threshold on the propensity.
    smooth : bool, default False
        Use the tanh step instead of the hard one.
    species : int or sequence of int, default 0
        Species summed over; N_A counts them.

    Returns
    -------
    ndarray of shape (K,), or float64 for (M, N) input
    """
    p = _as_float64(propensity, "propensity")
    if p.ndim not in (2, 3) or p.shape[0] < 2:
        raise InvalidInputError(
            f"propensity must have shape (M, N) or (M, K, N) with M >= 2 configurations; got {p.shape}."
        )
    m, n = p.shape[0], p.shape[-1]
    if isinstance(types, torch.Tensor):
        types = types.detach().cpu().numpy()
    types = np.asarray(types)
    if types.ndim == 2:
        if types.shape != (m, n):
            raise InvalidInputError(
                f"types must have shape (N,) = ({n},) or (M, N) = ({m}, {n}) to match propensity {p.shape}; "
                f"got {types.shape}."
            )
        masks = np.stack([_species_mask(row, species, n) for row in types])
    else:
        masks = np.broadcast_to(_species_mask(types, species, n), (m, n))
    counts = masks.sum(axis=1)
    if (counts != counts[0]).any():
        raise InvalidInputError(
            f"every configuration needs the same number of particles of species {species}; got {np.unique(counts)}."
        )
    a = float(a)
    if not math.isfinite(a):
        raise InvalidInputError(f"a must be a finite number; got {a}.")
    q = (np.tanh(20.0 * (p - a)) + 1.0) / 2.0 if smooth else (p > a).astype(np.float64)
    if p.ndim == 3:
        masks = masks[:, None, :]
    totals = np.where(masks, q, 0.0).sum(axis=-1)
    return (np.var(totals, axis=0) / counts[0])[()]


# --------------------------------------------------------------------------------------------------- noise ceiling
def noise_ceiling(replica_displacements, mask=None, *, n_splits: int = 20, seed: int = 0) -> float:
    """Noise ceiling rho_max: the best Pearson correlation a perfect predictor reaches with an R-replica label.

    Each split shuffles the R replicas of every configuration and averages two disjoint halves of R // 2 replicas
    (one replica is left out when R is odd); r_half is the Pearson correlation between the two half-averages over
    the masked particles pooled over all configurations (as rho_P is). r_half is averaged over ``n_splits`` random
    splits, corrected to the full label with Spearman-Brown, ``rho_R = 2 r / (1 + r)``, and rho_max = sqrt(rho_R)
    (0 when r <= 0). GlassBench KA3D at t = 4120 (32 replicas): 0.943.

    Parameters
    ----------
    replica_displacements : ndarray of shape (R, N) or (M, R, N)
        Per-replica label of each particle, e.g. |dr_i| of each replica (its mean over replicas is the propensity).
    mask : ndarray of bool of shape (N,) or (M, N), optional
        Particles that enter the correlation, e.g. ``types == 0`` for type A; None: every particle.
    n_splits : int, default 20
        Number of random half splits averaged.
    seed : int, default 0
        Seed of the random splits.

    Returns
    -------
    float64
    """
    x = _as_float64(replica_displacements, "replica_displacements")
    if x.ndim not in (2, 3) or x.shape[-2] < 2:
        raise InvalidInputError(
            f"replica_displacements must have shape (R, N) or (M, R, N) with R >= 2 replicas; got {x.shape}."
        )
    if x.ndim == 2:
        x = x[None]
    m, r, n = x.shape
    if mask is None:
        mask = np.ones((m, n), dtype=bool)
    else:
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape not in ((n,), (m, n)):
            raise InvalidInputError(
                f"mask must be a bool array of shape (N,) = ({n},) or (M, N) = ({m}, {n}); got shape {mask.shape}, "
                f"dtype {mask.dtype}."
            )
        mask = np.broadcast_to(mask, (m, n))
    if mask.sum() < 3:
        raise InvalidInputError(f"the mask selects {int(mask.sum())} particles; a correlation needs at least 3.")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise InvalidInputError(f"n_splits must be a positive int; got {n_splits!r}.")
    rng = np.random.default_rng(seed)
    half = r // 2
    correlations = []
    for _ in range(n_splits):
        order = np.argsort(rng.random((m, r)), axis=1)[:, :, None]
        shuffled = np.take_along_axis(x, order, axis=1)
        first = shuffled[:, :half].mean(axis=1)[mask]
        second = shuffled[:, half:2 * half].mean(axis=1)[mask]
        correlations.append(np.corrcoef(first, second)[0, 1])
    r_half = float(np.mean(correlations))
    if not math.isfinite(r_half):
        raise InvalidInputError("the half-split averages have zero variance over the masked particles; no correlation.")
    if r_half <= 0:
        return np.float64(0.0)
    return np.float64(math.sqrt(2.0 * r_half / (1.0 + r_half)))
