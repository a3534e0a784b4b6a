"""Names of the predictors (``ridge``, ``glassmlp``, ...) and the classes they stand for; loading by saved name."""

from __future__ import annotations

from glassgen.errors import InvalidInputError
from glassgen.predictors.base import Predictor, read_saved

_REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator: make a `Predictor` subclass available as ``name`` (and set its ``name``)."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, Predictor)):
            raise TypeError(f"register({name!r}) decorates Predictor subclasses; got {cls!r}.")
        if _REGISTRY.get(name, cls) is not cls:
            raise ValueError(f"predictor name {name!r} is taken by {_REGISTRY[name].__name__}; choose another name.")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available_predictors() -> list[str]:
    """Registered predictor names, sorted."""
    return sorted(_REGISTRY)


def get_predictor(name: str, **hyper) -> Predictor:
    """A new, unfitted predictor ``name`` with hyper-parameters ``hyper`` (see each class for them)."""
    if name not in _REGISTRY:
        raise InvalidInputError(f"unknown predictor {name!r}; available: {available_predictors()}.")
    cls = _REGISTRY[name]
    known = cls.param_names()
    unknown = sorted(set(hyper) - set(known))
    if unknown:
        raise InvalidInputError(f"{name} has no setting {', '.join(map(repr, unknown))}; its settings are "
                                f"{', '.join(known)}.")
    return cls(**hyper)


def load_predictor(path) -> Predictor:
    """The fitted predictor saved at ``path``, of the class its file names."""
    payload = read_saved(path)
    cls = _REGISTRY.get(payload.get("name"))
    if cls is None:
        raise InvalidInputError(f"{path} holds a predictor {payload.get('name')!r} that this glassgen does not have "
                                f"(available: {available_predictors()}); load it with the glassgen that wrote it.")
    return cls._from_saved(payload, path)
