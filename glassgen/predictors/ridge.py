"""Cross-validated ridge regression on coarse-grained descriptors (Boattini, Smallenburg, Filion, PRL 127, 088007)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV

from glassgen.predictors.regressor import DescriptorRegressor, SpeciesData
from glassgen.predictors.registry import register
from glassgen.progress import Stage


#: Most folds of the leave-configurations-out penalty choice.
MAX_FOLDS = 5


def held_out_errors(features: np.ndarray, labels: np.ndarray, alphas: np.ndarray, *, progress: bool = False,
                    desc: str = "ridge penalty") -> np.ndarray:
    """Squared error (len(alphas), K) of ridge fits on held-out whole configurations.

    ``features`` (M, n, F), ``labels`` (M, n, K); configuration m is held out in fold m % min(M, MAX_FOLDS). Each fold
    is solved for all penalties at once from one SVD of its centred training rows (the intercept is not penalised).
    ``progress`` shows the folds done on stderr as the stage ``desc``.
    """
    m, _, f = features.shape
    folds = min(m, MAX_FOLDS)
    errors = np.zeros((len(alphas), labels.shape[-1]))
    with Stage(desc, folds, unit="fold", enabled=progress) as bar:
        for fold in range(folds):
            held = np.arange(m) % folds == fold
            x, y = features[~held].reshape(-1, f), labels[~held].reshape(-1, labels.shape[-1])
            x_mean, y_mean = x.mean(0), y.mean(0)
            u, singular, vt = np.linalg.svd(x - x_mean, full_matrices=False)
            projected = u.T @ (y - y_mean)
            x_held = features[held].reshape(-1, f) - x_mean
            y_held = labels[held].reshape(-1, labels.shape[-1]) - y_mean
            for a, alpha in enumerate(alphas):
                coef = vt.T @ ((singular / (singular ** 2 + alpha))[:, None] * projected)
                errors[a] += ((x_held @ coef - y_held) ** 2).sum(0)
            bar.advance()
    return errors


def _positive_sequence(value) -> bool:
    if value is None:
        return True
    array = np.asarray(value, dtype=float) if np.ndim(value) == 1 else np.empty(0)
    return array.size > 0 and bool(np.all(array > 0))


@register("ridge")
class RidgePredictor(DescriptorRegressor):
    """Ridge regression of each label time on standardised descriptors, one linear model per species.

    The penalty of each species and time is chosen over ``alphas`` by holding out whole training configurations
    (:func:`held_out_errors`, up to 5 folds), because neighbouring particles are correlated and leave-one-particle-out
    picks penalties that over-fit; with fewer than 3 configurations it falls back to leave-one-particle-out
    (scikit-learn ``RidgeCV``). ``valid`` data are not used. Learned, per species s: ``models_[s]``, a dict of
    ``coef`` (K, F), ``intercept`` (K,) and the chosen ``alpha`` (K,).

    Parameters
    ----------
    descriptors : Descriptor or list of Descriptor, optional
        Default ``BoattiniDescriptors()`` (radial densities, q_l, two generations of exp(-r/2) averages).
    inherent : bool
        Descriptors of the inherent state (default True) or of the thermal one (False, as Boattini et al.). The
        default departs from the paper because it measured better with this little data (below).
    alphas : sequence of float, optional
        Candidate penalties; default ``np.logspace(-3, 4, 15)``.
    label, progress : see :class:`~glassgen.predictors.regressor.DescriptorRegressor`.

    Notes
    -----
    Measured on BOTAN KA3D T = 0.44 (train on 7 configurations, Pearson over the A particles of the other 3 at
    t = 4120), with leave-one-particle-out penalties: 0.46 on thermal descriptors (training fit 0.71: it picked
    alpha = 0.03) and 0.69 on inherent ones; the configuration folds are measured in
    ``experiments/predictor_validation.py``.

    Examples
    --------
    >>> ridge = get_predictor("ridge").fit(train)  # doctest: +SKIP
    >>> ridge.predict(test).shape  # (M, K, N)  # doctest: +SKIP
    """

    _param_checks: ClassVar[dict] = {"alphas": (_positive_sequence, "a non-empty sequence of positive floats, or None")}

    def __init__(self, descriptors=None, *, inherent: bool = True, alphas=None, label: str = "propensity",
                 progress: bool = False):
        super().__init__(descriptors, inherent=inherent, label=label, progress=progress)
        self.alphas = alphas

    def _default_descriptors(self):
        from glassgen.descriptors import BoattiniDescriptors

        return BoattiniDescriptors()

    def _fit_species(self, species: int, train: SpeciesData, valid: SpeciesData | None) -> dict:
        alphas = np.logspace(-3, 4, 15) if self.alphas is None else np.asarray(self.alphas, dtype=float)
        x = train.features.reshape(-1, train.features.shape[-1])
        y = train.labels.transpose(0, 2, 1).reshape(x.shape[0], -1)
        if len(train.features) >= 3:
            errors = held_out_errors(train.features, train.labels.transpose(0, 2, 1), alphas, progress=self.progress,
                                     desc=f"ridge penalty species {species}")
            chosen = alphas[np.argmin(errors, axis=0)]
            fit = Ridge(alpha=chosen).fit(x, y)
        else:  # too few configurations to hold any out: leave-one-particle-out
            fit = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x, y)
            chosen = fit.alpha_
        return {"coef": np.asarray(fit.coef_, dtype=np.float64).reshape(y.shape[1], -1),
                "intercept": np.asarray(fit.intercept_, dtype=np.float64).reshape(-1),
                "alpha": np.asarray(chosen, dtype=np.float64).reshape(-1) * np.ones(y.shape[1])}

    def _predict_species(self, model: dict, data: SpeciesData) -> np.ndarray:
        return (data.features @ model["coef"].T + model["intercept"]).transpose(0, 2, 1)
