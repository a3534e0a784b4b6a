"""Checks shared by the dataset value and the file readers, so every message has the same form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from glassgen.errors import DataFormatError, InvalidInputError


def check_shape(label: str, array: np.ndarray, expected: tuple, fix: str) -> None:
    """Raise InvalidInputError unless ``array`` has ``expected`` shape; ``None`` entries match any length."""
    ok = array.ndim == len(expected) and all(e is None or e == g for e, g in zip(expected, array.shape))
    if not ok:
        parts = ["*" if e is None else str(e) for e in expected]
        shown = f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
        raise InvalidInputError(f"{label} must have shape {shown}; got {array.shape}. {fix}")


def check_finite(label: str, array: np.ndarray, fix: str) -> None:
    """Raise InvalidInputError naming the first NaN or infinite entry of ``array``."""
    if not np.isfinite(array).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InvalidInputError(f"{label} contains NaN or infinite values (first at index {first}). {fix}")


@contextmanager
def about_file(path: Path) -> Iterator[None]:
    """Turn input errors raised while reading ``path`` into DataFormatErrors that start with the file name."""
    try:
        yield
    except InvalidInputError as err:
        kind = type(err) if isinstance(err, DataFormatError) else DataFormatError
        raise kind(f"{path}: {err}") from err
