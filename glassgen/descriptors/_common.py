"""Shared pieces of the descriptors: the input converter, periodic pair lists and the exp(-r/L) averaging."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glassgen.errors import DataFormatError, InvalidInputError
from glassgen.systems.neighbors import pairs_within


@dataclass
class Configurations:
    """M configurations as plain numpy: positions (M, N, d) float64, types (N,) int64, box (d,), model or None."""

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    model: str | None = None

    @property
    def dim(self) -> int:
        return self.positions.shape[-1]


def as_configurations(data, *, inherent: bool = False) -> Configurations:
    """Accept a `System`, a `Dataset`, or a ``(box, positions, types)`` / ``(box, positions, types, model)`` tuple.

    Positions may be (N, d) or (M, N, d). With ``inherent=True`` a `Dataset` gives its ``inherent_positions``
    (an error if it has none).
    """
    from glassgen.io.dataset import Dataset
    from glassgen.systems.system import System

    model = None
    if isinstance(data, System):
        positions, types, box, model = data.batched_positions(), data.types, data.box, data.model
    elif isinstance(data, Dataset):
        if inherent and data.inherent_positions is None:
            raise InvalidInputError(
                "inherent=True, but the dataset holds no inherent_positions; minimise it first "
                "(glassgen.dynamics.minimization.minimize) or pass inherent=False.")
        positions = data.inherent_positions if inherent else data.positions
        types, box, model = data.types, data.box, data.model
    elif isinstance(data, tuple) and len(data) in (3, 4):
        box, positions, types = data[:3]
        model = data[3] if len(data) == 4 else None
    else:
        raise InvalidInputError(
            f"expected a System, a Dataset or a (box, positions, types[, model]) tuple; got {type(data).__name__}.")

    def _np(a, dtype):
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        return np.asarray(a, dtype=dtype)

    positions, types, box = _np(positions, np.float64), _np(types, np.int64), _np(box, np.float64)
    if positions.ndim == 2:
        positions = positions[None]
    if positions.ndim != 3 or positions.shape[-1] not in (2, 3):
        raise InvalidInputError(f"positions must have shape (N, d) or (M, N, d) with d = 2 or 3; got {positions.shape}.")
    m, n, d = positions.shape
    if types.shape != (n,):
        raise InvalidInputError(f"types must have shape (N,) = ({n},); got {types.shape}.")
    if box.shape != (d,) or not (box > 0).all():
        raise InvalidInputError(f"box must hold {d} positive edge lengths; got {box.tolist()}.")
    if not np.isfinite(positions).all():
        raise InvalidInputError("positions contain NaN or infinite values.")
    return Configurations(positions, types, box, model)


def full_pairs(x: np.ndarray, box: np.ndarray, cutoff: float):
    """Every ordered pair (i, j), i != j, of one configuration x (N, d) with |r_ij| < cutoff, at every image.

    Returns ``(i, j, rij)``: int64 arrays (P,) and separations ``rij = x_j - x_i`` (minimum or further image) of
    shape (P, d). Built by :func:`glassgen.systems.neighbors.pairs_within`, so cutoffs beyond half the box are allowed.
    """
    i, j, rij = (t.numpy() for t in pairs_within(x, box, cutoff))
    return np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([rij, -rij])


def exp_average(values: np.ndarray, i: np.ndarray, j: np.ndarray, r: np.ndarray, length: float) -> np.ndarray:
    """x_i^CG = sum_j w_ij x_j / sum_j w_ij, w = exp(-r/length), over the given pairs plus j = i (w = 1).

    ``values`` is (N, F) for one configuration; ``length = 0`` returns ``values`` unchanged (no averaging).
    """
    if length == 0:
        return values.copy()
    n = values.shape[0]
    w = np.exp(-r / length)
    norm = 1.0 + np.bincount(i, weights=w, minlength=n)
    out = values.astype(np.float64, copy=True)
    for f in range(values.shape[1]):
        out[:, f] += np.bincount(i, weights=w * values[j, f], minlength=n)
    return out / norm[:, None]


def coarse_grain(values, data, length: float, cutoff: float | None = None) -> np.ndarray:
    """Average per-particle ``values`` (M, N) or (M, N, F) over neighbours with weights exp(-r/length).

    x_i^CG = sum_j w(r_ij) x_j / sum_j w(r_ij), w = exp(-r/length), over j within ``cutoff`` including j = i.
    ``length = 0`` means no averaging. ``cutoff`` defaults to :func:`default_cutoff` (3 length, at most half the
    shortest box edge). ``data`` is anything :func:`as_configurations` accepts, giving the positions used.
    """
    conf = as_configurations(data)
    values = np.asarray(values, dtype=np.float64)
    squeeze = values.ndim == 2
    v = values[..., None] if squeeze else values
    if v.shape[:2] != conf.positions.shape[:2]:
        raise InvalidInputError(f"values must be (M, N[, F]) = {conf.positions.shape[:2]}; got {values.shape}.")
    if length < 0:
        raise InvalidInputError(f"length must be >= 0; got {length}.")
    if length == 0:
        return values.copy()
    cut = default_cutoff(length, conf.box) if cutoff is None else float(cutoff)
    out = np.empty_like(v)
    for b, x in enumerate(conf.positions):
        i, j, rij = full_pairs(x, conf.box, cut)
        out[b] = exp_average(v[b], i, j, np.sqrt((rij * rij).sum(-1)), length)
    return out[..., 0] if squeeze else out


def default_cutoff(length: float, box) -> float:
    """Range of the exp(-r/L) averaging: 3 L, at most half the shortest box edge (weights there are e^-3 ~ 0.05)."""
    return float(min(3.0 * length, 0.5 * np.min(box)))


class Descriptor:
    """Base of the compute classes: ``compute(data) -> self``, then ``values`` (M, N, F) and ``names`` (F,).

    ``settings()`` returns the constructor arguments as JSON-ready values, so that a saved predictor can rebuild
    exactly the descriptor it was trained on with :func:`descriptor_from_settings`. Subclasses record them by
    calling ``self._record(**kwargs)`` in their constructor.

    A descriptor learned from data (SBO's principal axis) learns it in ``fit(data) -> self`` and keeps it in the
    arrays named by ``fitted_attributes``, which ``compute`` reuses: a predictor fits it on its training data only
    and saves those arrays (:meth:`fitted_arrays`, :meth:`set_fitted_arrays`), so that a loaded predictor computes
    the same values without refitting. For a fixed formula ``fit`` learns nothing.
    """

    _values: np.ndarray | None = None
    _names: list | None = None
    _settings: dict | None = None
    #: Names of the ndarray attributes that ``fit`` learns and ``compute`` reuses (none for a fixed formula).
    fitted_attributes: tuple = ()

    def _record(self, **kwargs) -> None:
        self._settings = {k: _jsonable(v) for k, v in kwargs.items()}

    def settings(self) -> dict:
        """``{"class": name, "params": {...}}``: enough to rebuild this descriptor (before ``fit`` and ``compute``)."""
        return {"class": type(self).__name__, "params": dict(self._settings or {})}

    def fit(self, data, *, inherent: bool = False):
        """Learn from ``data`` what ``compute`` reuses (nothing for a fixed formula); returns self."""
        return self

    def fitted_arrays(self) -> dict:
        """The arrays ``fit`` learned, by name (empty before ``fit`` and for a fixed formula)."""
        return {name: getattr(self, name) for name in self.fitted_attributes if hasattr(self, name)}

    def set_fitted_arrays(self, arrays: dict):
        """Restore what ``fit`` learned, as :meth:`fitted_arrays` gave it (a saved predictor); returns self."""
        if sorted(arrays) != sorted(self.fitted_attributes):
            raise DataFormatError(f"{type(self).__name__} needs the fitted arrays {sorted(self.fitted_attributes)}; "
                                  f"got {sorted(arrays)}. Retrain the predictor that holds it with this glassgen.")
        for name, value in arrays.items():
            setattr(self, name, np.asarray(value))
        return self

    @property
    def values(self) -> np.ndarray:
        """ndarray of shape (M, N, F): one row of features per particle of each configuration."""
        if self._values is None:
            raise RuntimeError(f"{type(self).__name__}: call compute(...) first; no values yet.")
        return self._values

    @property
    def names(self) -> list:
        """Feature names, one per column of ``values``."""
        if self._names is None:
            raise RuntimeError(f"{type(self).__name__}: call compute(...) first; no names yet.")
        return list(self._names)

    def feature(self, name: str) -> np.ndarray:
        """The (M, N) column called ``name``."""
        names = self.names
        if name not in names:
            raise KeyError(f"no feature {name!r}; have {names[:8]}{'...' if len(names) > 8 else ''}")
        return self.values[..., names.index(name)]


def check_lengths(lengths, owner: str) -> tuple:
    lengths = tuple(float(v) for v in np.atleast_1d(lengths))
    if not lengths or min(lengths) < 0:
        raise InvalidInputError(f"The 'lengths' parameter of {owner} must be non-negative numbers; got {lengths}.")
    return lengths


def length_tag(length: float) -> str:
    return f"L{length:g}"


def _jsonable(value):
    if isinstance(value, (np.ndarray, range, tuple, list)):
        return [_jsonable(v) for v in np.asarray(list(value) if isinstance(value, range) else value).tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def descriptor_from_settings(settings: dict) -> Descriptor:
    """Rebuild a descriptor from :meth:`Descriptor.settings` (the inverse used by saved predictors)."""
    import glassgen.descriptors as package

    name = settings.get("class") if isinstance(settings, dict) else None
    cls = getattr(package, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, Descriptor)):
        raise InvalidInputError(f"unknown descriptor class {name!r} in descriptor settings; this glassgen has "
                                f"{sorted(c for c in package.__all__ if isinstance(getattr(package, c), type))}.")
    return cls(**settings.get("params", {}))
