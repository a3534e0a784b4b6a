"""GlassMLP (Jung, Biroli, Berthier, PRL 130, 238202 (2023)): a bottleneck MLP trained to get chi_4 right too.

Per species, standardised descriptors go through Dense(2, elu) -> Dense(10, elu) -> Dense(10, elu) -> Dense(K), one
output per label time, trained on labels standardised per time (so the mean absolute error of the standardised
outputs is the paper's mean |y - y_hat| / std(y)). The 2-unit bottleneck keeps the model small (a few hundred
weights) and smooth.

Stage 1 minimises that error on random minibatches of particles. Stage 2 takes one configuration per step and adds

- the variance term |Var(y_hat) - Var(y)| / Var(y) over the species' particles of the configuration, per time,
- the correlation term |C_R(y) - C_R(y_hat)| averaged over shells R = 2, 4, 6 (3D; 2, 5, 8 in 2D) and times, with
  C_R(f) = sum_pairs w_R(r_ij) z_i z_j / sum_pairs w_R(r_ij), z the field standardised within the configuration
  (mean 0, variance 1: a correlation coefficient, so amplitude is left to the variance term and the term stays
  differentiable, unlike the paper's thresholded field) and w_R(r) = exp(-(r - R)^2 / (2 width^2)) over pairs of the
  species. Pairs come from :func:`glassgen.systems.neighbors.pairs_within` on the thermal positions, once per
  configuration, and are subsampled (seeded) to at most ``max_pairs``.

Both stages stop early on the loss of ``valid`` (or of a held-out ``valid_fraction`` of the training
configurations) and keep the best weights.

The transferable version (Jung, Biroli, Berthier, PRB 109, 064205 (2024)) adds each configuration's temperature to the
inputs (``temperature_input``), so that one model trained across temperatures predicts at others, colder ones
included; an ensemble of networks fitted alike but for their seeds (``ensemble``) says by its spread how far to trust
such a prediction.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.predictors.base import DTYPES, hold_out, non_negative, positive_int, prefixed
from glassgen.predictors.regressor import DescriptorRegressor, SpeciesData
from glassgen.predictors.registry import register
from glassgen.progress import Stage
from glassgen.systems.neighbors import pairs_within
from glassgen.threads import limited_threads

#: Shell radii of the correlation term per dimension (Jung, Biroli, Berthier).
DEFAULT_RADII = {2: (2.0, 5.0, 8.0), 3: (2.0, 4.0, 6.0)}

#: Name of the temperature input (:attr:`GlassMLP.temperature_input`) among ``feature_names_``.
TEMPERATURE_FEATURE = "1/T"

#: Members of the transferable GlassMLP's ensemble by default. On ka2d-multiT (trained at T = 0.50-0.35, 1/T fed as
#: if the T = 0.35 configurations were at 0.23), one network's rho_P at tau_alpha fell from 0.44-0.50 to 0.38-0.51
#: by its seed, while the mean of three stayed at 0.48-0.49.
TRANSFERABLE_ENSEMBLE = 5


def network(n_in: int, n_out: int, *, bottleneck: int = 2, width: int = 10, dtype=torch.float32) -> torch.nn.Module:
    """The GlassMLP architecture: n_in -> bottleneck -> width -> width -> n_out, elu between layers."""
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, bottleneck), torch.nn.ELU(), torch.nn.Linear(bottleneck, width), torch.nn.ELU(),
        torch.nn.Linear(width, width), torch.nn.ELU(), torch.nn.Linear(width, n_out),
    ).to(dtype)


def member_seeds(seed: int, ensemble: int) -> list[int]:
    """Seeds of the members of an ensemble: ``seed`` first, so that an ensemble of one is the single model, then words
    of ``numpy.random.SeedSequence(seed)``, so that ensembles of neighbouring seeds share no member and a larger
    ensemble extends a smaller one. ``GlassMLP(seed=member_seeds(seed, E)[e])`` fits member e of the ensemble alone."""
    return [int(seed), *(int(word) for word in np.random.SeedSequence(int(seed) % 2 ** 64).generate_state(
        ensemble - 1, np.uint32))]


def shell_correlations(field: torch.Tensor, i: torch.Tensor, j: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """C_R per shell and time, (R, K), of ``field`` (n, K) over pairs (i, j) with shell weights (P, R) summing to 1."""
    z = (field - field.mean(0)) / field.std(0, correction=0).clamp_min(1e-12)
    return weights.T @ (z[i] * z[j])


@register("glassmlp")
class GlassMLP(DescriptorRegressor):
    """GlassMLP: one bottleneck MLP per species over all label times, trained in two stages (see the module).

    Learned, per species s: ``models_[s]``, a dict with the networks ``nets`` (one per ensemble member) and the
    label mean ``y_mean`` and spread ``y_std`` (K,) used to standardise the targets.

    Parameters
    ----------
    descriptors : Descriptor or list of Descriptor, optional
        Default ``GlassMLPDescriptors()`` (density, energy, Voronoi cell, energy variance per species, L = 0..5).
    inherent : bool
        Descriptors of inherent states (default True, as the paper).
    bottleneck, width : int
        Units of the bottleneck layer (2) and of the two hidden layers after it (10).
    stage1_epochs, stage2_epochs : int
        Most passes over the training data in each stage (0 skips a stage).
    learning_rate : float
        Adam step size.
    batch_size : int
        Particles per stage-1 minibatch.
    patience : int
        Epochs without a better validation loss before a stage stops.
    valid_fraction : float
        Training configurations held out for early stopping when ``fit`` gets no ``valid`` (none if only one).
    radii : sequence of float, optional
        Shell radii of the correlation term; default 2, 4, 6 in 3D and 2, 5, 8 in 2D.
    shell_width : float
        Standard deviation of the Gaussian shells.
    max_pairs : int
        Pairs per configuration kept for the correlation term.
    variance_weight, correlation_weight : float
        Weights of the stage-2 terms.
    temperature_input : bool
        Give the network each configuration's temperature as one more input (Jung, Biroli, Berthier, PRB 2024),
        as 1/T standardised with its training mean and spread like the descriptors. 1/T rather than T because the
        point is to predict below the training temperatures, where an ELU network continues about linearly (or
        flattens) in its inputs, and activated dynamics (log tau_alpha ~ E/T, E growing slowly on cooling) is
        closer to linear in 1/T than in T. Fitting needs data at two or more known temperatures (one alone teaches
        no dependence on it); predicting needs known temperatures, and far outside the training range it is an
        extrapolation: see the ensemble spread.
    ensemble : int, optional
        Networks per species, fitted alike but for their seeds (:func:`member_seeds`: ``seed`` first, so 1 is the
        single model), which also draw their own hold-out split; E times the training, one pass of descriptors.
        ``predict`` gives their mean and ``predict_with_uncertainty`` their spread too (standard deviation over the
        members, ddof 0). By default :data:`TRANSFERABLE_ENSEMBLE` with ``temperature_input`` (a model meant for
        other temperatures reports its uncertainty with every prediction, and the members' mean ranks particles
        more robustly far below the training range than a single network does) and 1 without.
    dtype : {"float32", "float64"}
        Precision of the network.
    seed : int
        Seeds the weights, the minibatches, the hold-out split and the pair subsampling (of the first member).
    label, progress : see :class:`~glassgen.predictors.regressor.DescriptorRegressor`.

    Notes
    -----
    Measured on BOTAN KA3D T = 0.44 with the defaults (2 CPU cores): trained on 7 configurations in 83 s (FIRE
    and descriptors included; 297 weights per species), Pearson 0.751 over the A particles of the other 3 at
    t = 4120; predicting one N = 4096 configuration, inherent state included, takes 2.5 s.
    """

    _param_checks: ClassVar[dict] = {
        "bottleneck": (positive_int, "an int >= 1"), "width": (positive_int, "an int >= 1"),
        "stage1_epochs": (lambda v: v == 0 or positive_int(v), "an int >= 0"),
        "stage2_epochs": (lambda v: v == 0 or positive_int(v), "an int >= 0"),
        "learning_rate": (lambda v: non_negative(v) and v > 0, "a float > 0"),
        "batch_size": (positive_int, "an int >= 1"), "patience": (positive_int, "an int >= 1"),
        "valid_fraction": (lambda v: non_negative(v) and v < 1, "a float in [0, 1)"),
        "radii": (lambda v: v is None or (np.ndim(v) == 1 and len(v) > 0 and all(non_negative(r) and r > 0
                                                                                 for r in v)),
                  "None or a non-empty sequence of positive floats"),
        "shell_width": (lambda v: non_negative(v) and v > 0, "a float > 0"),
        "max_pairs": (positive_int, "an int >= 1"),
        "variance_weight": (non_negative, "a float >= 0"), "correlation_weight": (non_negative, "a float >= 0"),
        "temperature_input": (lambda v: isinstance(v, bool), "a bool"), "ensemble": (positive_int, "an int >= 1"),
        "dtype": (lambda v: v in DTYPES, f"one of {tuple(DTYPES)}"),
        "seed": (lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool), "an int"),
    }
    _added_params: ClassVar[dict] = {"temperature_input": False, "ensemble": 1}

    def __init__(self, descriptors=None, *, inherent: bool = True, bottleneck: int = 2, width: int = 10,
                 stage1_epochs: int = 200, stage2_epochs: int = 100, learning_rate: float = 1e-3,
                 batch_size: int = 256, patience: int = 20, valid_fraction: float = 0.2, radii=None,
                 shell_width: float = 0.5, max_pairs: int = 50_000, variance_weight: float = 1.0,
                 correlation_weight: float = 1.0, temperature_input: bool = False, ensemble: int | None = None,
                 dtype: str = "float32", seed: int = 0, label: str = "propensity", progress: bool = False):
        super().__init__(descriptors, inherent=inherent, label=label, progress=progress)
        self.bottleneck, self.width = bottleneck, width
        self.stage1_epochs, self.stage2_epochs = stage1_epochs, stage2_epochs
        self.learning_rate, self.batch_size, self.patience = learning_rate, batch_size, patience
        self.valid_fraction, self.radii, self.shell_width, self.max_pairs = valid_fraction, radii, shell_width, max_pairs
        self.variance_weight, self.correlation_weight = variance_weight, correlation_weight
        self.temperature_input = temperature_input
        self.ensemble = (TRANSFERABLE_ENSEMBLE if temperature_input is True else 1) if ensemble is None else ensemble
        self.dtype, self.seed = dtype, seed

    def _default_descriptors(self):
        from glassgen.descriptors import GlassMLPDescriptors

        return GlassMLPDescriptors(lengths=(0, 1, 2, 3, 4, 5))

    def _configuration_inputs(self, data, role: str, *, training: bool) -> dict:
        """1/T of every configuration with ``temperature_input`` (see the class for why 1/T)."""
        if not self.temperature_input:
            return {}
        temperatures = data.configuration_temperatures
        if temperatures is None:
            raise InvalidInputError(
                f"GlassMLP(temperature_input=True) takes each configuration's temperature as an input, but the {role} "
                "records none: give it (--temperature T on the command line, glassgen.io.load(path, temperature=T) "
                "in Python), use data with temperatures (e.g. made by glassgen dataset build), or set "
                "temperature_input=false.")
        if training and len(data.distinct_temperatures) < 2:
            raise InvalidInputError(
                f"GlassMLP(temperature_input=True) learns how the labels change with temperature, but the {role} "
                f"holds one temperature only (T = {data.distinct_temperatures[0]:g}): train on data at two or more "
                "temperatures (e.g. --temperatures of a multi-temperature dataset), or set temperature_input=false.")
        return {TEMPERATURE_FEATURE: 1.0 / temperatures}

    # -- training ------------------------------------------------------------------------------------------------

    def _fit_species(self, species: int, train: SpeciesData, valid: SpeciesData | None) -> dict:
        y_mean = train.labels.mean(axis=(0, 2))
        spread = train.labels.std(axis=(0, 2))
        y_std = np.where(spread > 0, spread, 1.0)
        name = f"GlassMLP species {species}"
        nets = [self._fit_member(seed * 1009 + species, train, valid, y_mean, y_std,
                                 name if self.ensemble == 1 else f"{name} member {e + 1}/{self.ensemble}")
                for e, seed in enumerate(member_seeds(self.seed, self.ensemble))]
        return {"nets": nets, "y_mean": y_mean, "y_std": y_std}

    def _fit_member(self, seed: int, train: SpeciesData, valid: SpeciesData | None, y_mean, y_std,
                    name: str) -> torch.nn.Module:
        """One network, everything random in its training drawn from ``seed``; ``name`` labels its progress."""
        dtype = DTYPES[self.dtype]
        rng = np.random.default_rng(seed)
        if valid is None:
            train, valid = _hold_out(train, self.valid_fraction, rng)
        fit_set = self._configurations(train, y_mean, y_std, rng, dtype)
        valid_set = None if valid is None else self._configurations(valid, y_mean, y_std, rng, dtype)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = network(train.features.shape[-1], len(y_mean), bottleneck=self.bottleneck, width=self.width,
                          dtype=dtype)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(seed)
        x_all = torch.cat([c[0] for c in fit_set])
        z_all = torch.cat([c[1] for c in fit_set])

        def stage1_epoch():
            for rows in torch.randperm(len(x_all), generator=generator).split(int(self.batch_size)):
                _step(optimizer, (net(x_all[rows]) - z_all[rows]).abs().mean())

        def stage2_epoch():
            for c in torch.randperm(len(fit_set), generator=generator).tolist():
                _step(optimizer, self._loss(net, fit_set[c], full=True))

        with limited_threads(1):  # steps of a network this small are dominated by thread synchronisation
            for epochs, run_epoch, full in ((self.stage1_epochs, stage1_epoch, False),
                                            (self.stage2_epochs, stage2_epoch, True)):
                self._train_stage(net, epochs, run_epoch, valid_set, full, name)
        net.eval()
        return net

    def _train_stage(self, net, epochs: int, run_epoch, valid_set, full: bool, name: str) -> None:
        """Run up to ``epochs`` epochs, keep the weights of the best validation loss, stop after ``patience``."""
        best, best_state, waited = np.inf, None, 0
        with Stage(f"{name} stage {2 if full else 1}", int(epochs), unit="epoch", enabled=self.progress) as bar:
            for _ in range(int(epochs)):
                net.train()
                run_epoch()
                bar.advance()
                if valid_set is None:
                    continue
                with torch.no_grad():
                    loss = float(np.mean([float(self._loss(net, c, full=full)) for c in valid_set]))
                bar.note(valid=f"{loss:.4f}")
                if loss < best:
                    best, best_state, waited = loss, copy.deepcopy(net.state_dict()), 0
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)

    def _configurations(self, part: SpeciesData, y_mean, y_std, rng, dtype) -> list:
        """Per configuration: features, standardised targets (n, K), pair shells and the target's C_R."""
        out = []
        for features, labels, positions in zip(part.features, part.labels, part.positions):
            z = torch.from_numpy((labels.T - y_mean) / y_std).to(dtype)
            i, j, weights = self._shells(positions, part.box, rng, dtype)
            out.append((torch.from_numpy(features).to(dtype), z, i, j, weights, shell_correlations(z, i, j, weights)))
        return out

    def _shells(self, positions: np.ndarray, box: np.ndarray, rng, dtype):
        """Pairs (i, j) of one configuration within the widest shell and their normalised weights (P, R)."""
        radii = np.asarray(DEFAULT_RADII[positions.shape[-1]] if self.radii is None else self.radii, dtype=float)
        i, j, separation = pairs_within(positions, box, float(radii.max() + 3 * self.shell_width))
        if len(i) > self.max_pairs:
            keep = torch.from_numpy(np.sort(rng.choice(len(i), int(self.max_pairs), replace=False)))
            i, j, separation = i[keep], j[keep], separation[keep]
        r = separation.norm(dim=-1, keepdim=True)
        weights = torch.exp(-0.5 * ((r - torch.from_numpy(radii)) / self.shell_width) ** 2)
        weights = weights / weights.sum(0).clamp_min(1e-300)
        return i, j, weights.to(dtype)

    def _loss(self, net, configuration, *, full: bool) -> torch.Tensor:
        """Stage 1: mean |z - z_hat|; stage 2 (``full``) adds the variance and correlation terms."""
        x, z, i, j, weights, target_corr = configuration
        pred = net(x)
        loss = (pred - z).abs().mean()
        if not full:
            return loss
        target_var = z.var(0).clamp_min(1e-12)
        variance = ((pred.var(0) - target_var).abs() / target_var).mean()
        correlation = (shell_correlations(pred, i, j, weights) - target_corr).abs().mean()
        return loss + self.variance_weight * variance + self.correlation_weight * correlation

    # -- prediction and storage ----------------------------------------------------------------------------------

    def _predict_members(self, model: dict, data: SpeciesData) -> np.ndarray:
        x = torch.from_numpy(data.features).to(DTYPES[self.dtype])
        with torch.no_grad():
            z = np.stack([net(x).to(torch.float64).numpy() for net in model["nets"]])
        return (z * model["y_std"] + model["y_mean"]).transpose(0, 1, 3, 2)

    def _model_arrays(self, model: dict) -> dict:
        arrays = {"y_mean": model["y_mean"], "y_std": model["y_std"]}
        for e, net in enumerate(model["nets"]):
            arrays.update({f"{_member_prefix(e)}{k}": v for k, v in net.state_dict().items()})
        return arrays

    def _model_from_arrays(self, arrays: dict) -> dict:
        nets = []
        for e in range(self.ensemble):
            net = network(len(self.feature_names_), len(self.times_), bottleneck=self.bottleneck, width=self.width,
                          dtype=DTYPES[self.dtype])
            net.load_state_dict({k: torch.from_numpy(v) for k, v in prefixed(arrays, _member_prefix(e)).items()})
            net.eval()
            nets.append(net)
        return {"nets": nets, "y_mean": arrays["y_mean"], "y_std": arrays["y_std"]}


def _member_prefix(member: int) -> str:
    """Names of a member's weights in the saved arrays; the first keeps a single model's, so its files are as before."""
    return "net." if member == 0 else f"net{member}."


def _step(optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _hold_out(part: SpeciesData, fraction: float, rng) -> tuple:
    """Split configurations into (train, valid); no validation set when fewer than two or ``fraction`` is 0."""
    fit, valid = hold_out(part.features.shape[0], fraction, rng)
    if not len(valid):
        return part, None

    def take(idx):
        return SpeciesData(part.features[idx], part.labels[idx], part.positions[idx], part.box)

    return take(fit), take(valid)
