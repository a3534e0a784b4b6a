"""Graph-network predictors on the predictor contract: ``bapst``, ``botan`` and ``se3``, trainable on a CPU.

Each configuration becomes its periodic radius graph (``gnn/graph.py``, pairs closer than 2.0); the network gives K
outputs per particle, one per training label time. Training (``gnn/training.py``, shared by the three) fits the
labels of the scored species (A, species 0, as GlassBench scores) standardised per time with the training labels'
mean and spread (``y_mean_``, ``y_std_``, saved), on neighbourhood crops, with early stopping on held-out
configurations, a wall-clock budget and checkpoints with exact resume. The outputs of other species are not trained
and mean nothing. :meth:`GraphPredictor.refit_decoder` is the transfer learning of Pezzicoli et al.: the trained
message-passing trunk kept, the decoder refitted on labels at another temperature.

- ``bapst`` (:class:`BapstPredictor`): Bapst et al.'s network on thermal positions, trained with a random symmetry
  of the box applied to every crop (it sees raw edge vectors, so it is not rotation invariant).
- ``botan`` (:class:`BotanPredictor`): also learns the pair-distance change of every edge (p = 0.4), after
  edge-only pretraining epochs. It needs that target: ``extras["edge_pairs"]`` / ``extras["edge_change"]``, from
  ``glassgen label --edges`` or computed from the replicas of BOTAN and GlassBench npz files; data without it are
  refused (a BOTAN trained on nodes alone would be a Bapst network with a lighter edge update).
- ``se3`` (:class:`SE3Predictor`): the e3nn network on thermal and inherent-state edge vectors (inherent states
  computed when the data have none, as the descriptor predictors do), invariant under rotations and reflections.

The network modules (``torch_geometric``, ``e3nn``) are imported when a predictor is fitted or loaded, so that
listing the predictors (the command line does it at every start) stays fast.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch

from glassgen.errors import InvalidInputError
from glassgen.predictors.base import DTYPES, Predictor, hold_out, non_negative, positive_int, prefixed, time_indices
from glassgen.predictors.registry import register

#: The species that training fits and GlassBench scores (A particles).
SCORED_SPECIES = 0

#: Saved graph networks: format 4 (see :data:`glassgen.predictors.base.FORMAT_VERSION`).
_FORMAT_VERSION = 4

#: Settings that leave a checkpoint's training the same run (how long it goes on, where it runs, what it shows).
_NOT_IN_CHECKPOINT_KEY = ("budget_minutes", "checkpoint", "device", "epochs", "patience", "progress")


def _is_device(value) -> bool:
    try:
        torch.device(value)
    except (RuntimeError, TypeError):
        return False
    return isinstance(value, str)


def _positive_float(value) -> bool:
    return non_negative(value) and value > 0


def _standardisation(train, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-time mean and spread (K,) of the scored particles' training labels (a spread of 0 counts as 1)."""
    scored = labels[:, :, train.types == SCORED_SPECIES]
    spread = scored.std(axis=(0, 2))
    return scored.mean(axis=(0, 2)), np.where(spread > 0, spread, 1.0)


def _standardised(labels: np.ndarray, scale: tuple) -> np.ndarray:
    """Labels (K, N) of one configuration as targets (N, K) standardised per time."""
    mean, std = scale
    return (labels.T - mean) / std


class GraphPredictor(Predictor):
    """A graph network with K outputs per particle, trained on crops (see the module); ``network_`` is the trained
    ``torch.nn.Module``. Subclasses implement ``_network``, ``_depth`` and ``_decoder`` and may override
    ``_phases``, ``_augment``, ``_edge_target`` and ``_uses_inherent``.

    Parameters
    ----------
    learning_rate : float
        Adam step size (Bapst et al. used 1e-4 over long GPU runs; CPU budgets need larger steps).
    epochs : int
        Most epochs (of the main phase); an epoch cuts ``crops_per_configuration`` crops of every training
        configuration.
    patience : int
        Epochs without a better validation loss before training stops. With few training configurations an epoch
        is a few steps (7 BOTAN configurations: 6 steps), and a network needs hundreds of steps before its
        validation loss means anything: the defaults (1 crop per step, patience 40) let the wall-clock budget, not
        the noise of the first epochs, end a CPU training. With batches of 2 and patience 10, ``bapst`` on 6 BOTAN
        configurations stopped after 33 steps at rho_P -0.20 (experiments/gnn_validation.py).
    batch_size : int
        Crops per step.
    crops_per_configuration, crop_centres, core_hops : int
        Crops per configuration and epoch, random centres per crop (scored particles), and the hops around them
        whose loss counts at least (the crop's core, ``gnn/crops.py``). A crop that reaches around the periodic box
        scores every particle: KA3D at N = 4096 with the default depths is one such crop, so that an epoch is a
        pass over whole configurations there; crops pay off in larger systems or shallower networks.
    valid_fraction : float
        Training configurations held out for early stopping when ``fit`` gets no ``valid`` (none if only one).
    budget_minutes : float, optional
        Wall-clock limit of the training (resumed runs included); it stops at the best validation state so far.
    checkpoint : str, optional
        File for the training state at every epoch end; a later fit with the same settings and data resumes from it.
    device : str
        Where to train and predict ("cpu", "cuda", "cuda:1").
    dtype : {"float32", "float64"}
        Precision of the network and its inputs.
    seed : int
        Seeds the weights, the hold-out split, the crops and the augmentation.
    label, progress : see :class:`~glassgen.predictors.base.Predictor`.
    """

    _param_checks: ClassVar[dict] = {
        "learning_rate": (_positive_float, "a float > 0"),
        "epochs": (lambda v: v == 0 or positive_int(v), "an int >= 0"),
        "patience": (positive_int, "an int >= 1"), "batch_size": (positive_int, "an int >= 1"),
        "crops_per_configuration": (positive_int, "an int >= 1"), "crop_centres": (positive_int, "an int >= 1"),
        "core_hops": (lambda v: v == 0 or positive_int(v), "an int >= 0"),
        "valid_fraction": (lambda v: non_negative(v) and v < 1, "a float in [0, 1)"),
        "budget_minutes": (lambda v: v is None or _positive_float(v), "None or a float > 0"),
        "checkpoint": (lambda v: v is None or isinstance(v, str), "None or a file path (str)"),
        "device": (_is_device, "a torch device name such as 'cpu' or 'cuda'"),
        "dtype": (lambda v: v in DTYPES, f"one of {tuple(DTYPES)}"),
        "seed": (lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool), "an int"),
    }

    def __init__(self, *, learning_rate: float = 1e-3, epochs: int = 500, patience: int = 40, batch_size: int = 1,
                 crops_per_configuration: int = 1, crop_centres: int = 16, core_hops: int = 1,
                 valid_fraction: float = 0.2, budget_minutes: float | None = None, checkpoint: str | None = None,
                 device: str = "cpu", dtype: str = "float32", seed: int = 0, label: str = "propensity",
                 progress: bool = False):
        super().__init__(label=label, progress=progress)
        self.learning_rate, self.epochs, self.patience, self.batch_size = learning_rate, epochs, patience, batch_size
        self.crops_per_configuration, self.crop_centres, self.core_hops = crops_per_configuration, crop_centres, core_hops
        self.valid_fraction, self.budget_minutes, self.checkpoint = valid_fraction, budget_minutes, checkpoint
        self.device, self.dtype, self.seed = device, dtype, seed

    def __repr__(self):
        text = super().__repr__()
        if hasattr(self, "network_"):
            text += f" with {sum(p.numel() for p in self.network_.parameters()):,} parameters"
        return text

    # -- fit -----------------------------------------------------------------------------------------------------

    def _fit(self, train, labels, valid, valid_labels) -> dict:
        from glassgen.predictors.gnn.training import fingerprint

        edges = self._edge_target(train, "train dataset")  # refused before any work
        fit_graphs, valid_graphs, scale = self._training_graphs(train, labels, valid, valid_labels, edges)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = self._network(len(self.species_counts_), train.dim, len(self.times_))
        key = {"predictor": self.name, **{k: v for k, v in self.get_params().items()
                                         if k not in _NOT_IN_CHECKPOINT_KEY},
               "data": fingerprint(fit_graphs + valid_graphs)}
        record = self._train(net, fit_graphs, valid_graphs, self._phases(), checkpoint=self.checkpoint, key=key)
        self.network_, (self.y_mean_, self.y_std_) = net, scale
        return record

    def refit_decoder(self, train, valid=None):
        """Transfer learning (Pezzicoli et al.): keep the message-passing trunk as trained and refit the decoder on
        ``train`` (e.g. at another temperature) at this model's label times, starting from its current weights.

        The labels are standardised with ``train``'s own per-time mean and spread (the mobility scale changes with
        temperature); training runs with this predictor's settings, on the node loss alone (BOTAN's shared decoder
        too), without a checkpoint. The provenance records the refit under ``decoder_refit``; returns self.
        """
        from glassgen.predictors.gnn.training import Phase

        self._require_fitted("refit its decoder")
        self._check_params()
        labels = self._checked_labels(train, "train dataset")
        valid_labels = None if valid is None else self._checked_labels(valid, "valid dataset")
        fit_graphs, valid_graphs, scale = self._training_graphs(train, labels, valid, valid_labels)
        net = copy.deepcopy(self.network_)  # a refit that fails leaves this predictor as it was
        decoder = list(self._decoder(net).parameters())
        for p in net.parameters():
            p.requires_grad_(any(p is q for q in decoder))
        record = self._train(net, fit_graphs, valid_graphs, [Phase("decoder", int(self.epochs))], parameters=decoder)
        net.requires_grad_(True)
        self.network_, (self.y_mean_, self.y_std_) = net, scale
        self.provenance_["decoder_refit"] = {**self._provenance(train), "training": record}
        return self

    def _training_graphs(self, train, labels, valid, valid_labels, edges=None) -> tuple[list, list, tuple]:
        """Graphs with standardised targets to fit and to validate on (``valid``'s, or a held-out
        ``valid_fraction`` of ``train``), and the standardisation (per-time mean and spread of ``labels``)."""
        self._device()  # refused before any work
        train, valid = self._inputs(train), None if valid is None else self._inputs(valid)
        scale = _standardisation(train, labels)
        graphs = [self._graph(train, m, _standardised(labels[m], scale), None if edges is None else edges[m])
                  for m in range(train.n_configurations)]
        if valid is not None:
            return graphs, [self._graph(valid, m, _standardised(valid_labels[m], scale))
                            for m in range(valid.n_configurations)], scale
        fit, held = hold_out(len(graphs), self.valid_fraction, np.random.default_rng(self.seed))
        return [graphs[m] for m in fit], [graphs[m] for m in held], scale

    def _train(self, net, fit_graphs, valid_graphs, phases, *, parameters=None, checkpoint=None, key=None) -> dict:
        """Train ``net`` in place (see ``gnn/training.py``); returns the record that the provenance keeps."""
        from glassgen.predictors.gnn.training import Trainer, TrainingSettings

        device = self._device()
        net.to(device)
        settings = TrainingSettings(
            depth=self._depth(net), learning_rate=float(self.learning_rate), batch_size=int(self.batch_size),
            crops_per_configuration=int(self.crops_per_configuration), crop_centres=int(self.crop_centres),
            core_hops=int(self.core_hops), patience=int(self.patience),
            budget_minutes=None if self.budget_minutes is None else float(self.budget_minutes), seed=int(self.seed),
            device=device)
        trainer = Trainer(net, fit_graphs, valid_graphs, settings, augment=self._augment(),
                          parameters=parameters, checkpoint=checkpoint, key=key, progress=self.progress,
                          name=type(self).__name__)
        record = trainer.run(phases)
        net.eval()
        return {**record, "parameters": sum(p.numel() for p in net.parameters()),
                "configurations": {"fit": len(fit_graphs), "valid": len(valid_graphs)}}

    # -- graphs --------------------------------------------------------------------------------------------------

    def _inputs(self, data):
        """The data as the network reads them: with inherent states where it uses them."""
        return self._with_inherent_states(data) if self._uses_inherent() else data

    def _graph(self, data, m: int, targets: np.ndarray | None = None, edges: tuple | None = None):
        """The graph of configuration m in the network's dtype, with its standardised ``targets`` (N, K) and BOTAN's
        ``edges`` (pairs (P, 2), standardised change (K, P)) where given. Built in float64 and then rounded, so that
        float32 edge vectors are the exact ones rounded once."""
        from glassgen.predictors.gnn import periodic_graph

        inherent = torch.from_numpy(data.inherent_positions[m]) if self._uses_inherent() else None
        graph = periodic_graph(torch.from_numpy(data.positions[m]), torch.from_numpy(data.types), data.box,
                               n_species=len(self.species_counts_), inherent_positions=inherent)
        if targets is not None:
            graph.y = torch.from_numpy(targets)
            graph.y_mask = graph.types == SCORED_SPECIES
        if edges is not None:
            from glassgen.predictors.gnn import edge_targets

            pairs, change = edges
            graph.y_edge = edge_targets(graph, pairs, change)
        dtype = DTYPES[self.dtype]
        for key in list(graph.keys()):
            if isinstance(graph[key], torch.Tensor) and graph[key].is_floating_point():
                graph[key] = graph[key].to(dtype)
        return graph

    def _device(self) -> torch.device:
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InvalidInputError(f"{type(self).__name__} is set to device {self.device!r}, but this torch sees no "
                                    "CUDA device; set device='cpu' (predictor.device = 'cpu' on a loaded one).")
        return device

    # -- predict, save, load -------------------------------------------------------------------------------------

    def _predict_ensemble(self, data) -> np.ndarray:
        from glassgen.predictors.gnn.training import node_output
        from glassgen.progress import Stage

        data = self._inputs(data)
        device = self._device()
        net = self.network_.to(device)
        out = np.empty((data.n_configurations, len(self.times_), data.n_particles))
        with torch.no_grad(), Stage(f"{type(self).__name__} predict", data.n_configurations, unit="configuration",
                                    enabled=self.progress) as bar:
            for m in range(data.n_configurations):
                z = node_output(net(self._graph(data, m).to(device))).to(torch.float64).cpu().numpy()
                out[m] = (z * self.y_std_ + self.y_mean_).T
                bar.advance()
        return out[None]

    def _format_version(self, params: dict) -> int:
        return _FORMAT_VERSION

    def _saved_arrays(self) -> dict:
        return {"y_mean": self.y_mean_, "y_std": self.y_std_,
                **{f"net.{k}": v for k, v in self.network_.state_dict().items()}}

    def _restore(self, fitted: dict, arrays: dict) -> None:
        self.y_mean_, self.y_std_ = arrays["y_mean"], arrays["y_std"]
        self.network_ = self._network(len(self.species_counts_), self.dim_, len(self.times_))
        self.network_.load_state_dict({k: torch.from_numpy(v) for k, v in prefixed(arrays, "net.").items()})
        self.network_.eval()

    # -- what subclasses provide ---------------------------------------------------------------------------------

    def _network(self, n_species: int, dim: int, n_outputs: int) -> torch.nn.Module:
        """A new network in this predictor's dtype (weights from torch's global generator)."""
        raise NotImplementedError

    def _depth(self, net) -> int:
        """Message-passing steps of the network: how far a crop must reach."""
        raise NotImplementedError

    def _decoder(self, net) -> torch.nn.Module:
        """The part that :meth:`refit_decoder` refits."""
        raise NotImplementedError

    def _phases(self) -> list:
        from glassgen.predictors.gnn.training import Phase

        return [Phase("training", int(self.epochs))]

    def _augment(self):
        """``(crop, generator) -> crop`` applied to every training crop, or None."""
        return None

    def _edge_target(self, data, role: str) -> list | None:
        """Per configuration, (pairs (P, 2), change (K, P) at the model's times, standardised per time) of an edge
        target, or None (not learned)."""
        return None

    def _uses_inherent(self) -> bool:
        return False


class _GraphNetworkPredictor(GraphPredictor):
    """Bapst et al.'s skeleton (``BapstGNN``, ``BotanGNN``): ``width`` features, ``n_steps`` message passes, and
    ``augment`` with a random symmetry of the box for each crop."""

    _param_checks: ClassVar[dict] = {"width": (positive_int, "an int >= 1"), "n_steps": (positive_int, "an int >= 1"),
                                     "augment": (lambda v: isinstance(v, bool), "a bool")}

    def __init__(self, *, width: int = 64, n_steps: int = 7, augment: bool = True, **settings):
        super().__init__(**settings)
        self.width, self.n_steps, self.augment = width, n_steps, augment

    def _depth(self, net) -> int:
        return net.n_steps

    def _decoder(self, net):
        return net.node_decoder

    def _augment(self):
        if not self.augment:
            return None
        from glassgen.predictors.gnn import random_cubic_symmetry

        return random_cubic_symmetry


@register("bapst")
class BapstPredictor(_GraphNetworkPredictor):
    """Bapst et al. (Nat. Phys. 16, 448 (2020)): encoders to ``width``, one block applied ``n_steps`` times, decoder
    ``width-width-K``; raw edge vectors, so trained with random box symmetries (``augment``). KA3D, K = 1 at the
    defaults: 62,465 parameters. Other settings: :class:`GraphPredictor`."""

    def _network(self, n_species, dim, n_outputs):
        from glassgen.predictors.gnn import BapstGNN

        return BapstGNN(n_species, dim, n_outputs, width=self.width, n_steps=self.n_steps).to(DTYPES[self.dtype])


@register("botan")
class BotanPredictor(_GraphNetworkPredictor):
    """BOTAN (Shiba et al., J. Chem. Phys. 158, 084503 (2023)): Bapst's skeleton with a lighter edge update and one
    decoder for nodes and edges, trained on ``node_weight`` MSE_node + (1 - ``node_weight``) MSE_edge after
    ``pretrain_epochs`` epochs on the edges alone. KA3D, K = 1 at the defaults: 54,273 parameters (54,209 with the
    scalar type input of the authors' code). Without augmentation by default, as its published training.

    The edge target is the replica-averaged change of each pair's distance (pairs closer than 2.0 at t = 0) at the
    label times, standardised per time: ``extras["edge_pairs"]`` (M, P, 2), padded with -1, and
    ``extras["edge_change"]`` (M, K, P) at the data's times. Other settings: :class:`GraphPredictor`.
    """

    _param_checks: ClassVar[dict] = {"node_weight": (lambda v: non_negative(v) and v <= 1, "a float in [0, 1]"),
                                     "pretrain_epochs": (lambda v: v == 0 or positive_int(v), "an int >= 0")}

    def __init__(self, *, node_weight: float = 0.4, pretrain_epochs: int = 10, augment: bool = False, **settings):
        super().__init__(augment=augment, **settings)
        self.node_weight, self.pretrain_epochs = node_weight, pretrain_epochs

    def _network(self, n_species, dim, n_outputs):
        from glassgen.predictors.gnn import BotanGNN

        return BotanGNN(n_species, dim, n_outputs, width=self.width, n_steps=self.n_steps).to(DTYPES[self.dtype])

    def _phases(self) -> list:
        from glassgen.predictors.gnn.training import Phase

        return [Phase("edge pretraining", int(self.pretrain_epochs), node_weight=0.0, select=False),
                Phase("training", int(self.epochs), node_weight=float(self.node_weight))]

    def _edge_target(self, data, role: str) -> list:
        pairs, change = data.extras.get("edge_pairs"), data.extras.get("edge_change")
        if pairs is None or change is None:
            raise InvalidInputError(
                f"botan learns BOTAN's edge target too (the replica-averaged change of pair distances, extras "
                f"edge_pairs and edge_change), which the {role} lacks: label it with glassgen label --edges, read "
                "BOTAN or GlassBench npz files with replica positions (they give it), or train bapst (the same "
                "skeleton without that target).")
        m = data.n_configurations
        if pairs.shape[0] != m or pairs.shape[-1] != 2 or change.shape != (m, len(data.times), pairs.shape[1]):
            raise InvalidInputError(f"the edge target of the {role} has shapes {pairs.shape} (edge_pairs) and "
                                    f"{change.shape} (edge_change), not (M, P, 2) and (M, K, P) for M = {m}, "
                                    f"K = {len(data.times)}; write it with glassgen label --edges.")
        keep = time_indices(data, self.times_, role)
        targets = [(pairs[k][pairs[k, :, 0] >= 0], change[k][keep][:, pairs[k, :, 0] >= 0]) for k in range(m)]
        every = np.concatenate([c for _, c in targets], axis=1)
        spread = every.std(axis=1)
        mean, scale = every.mean(axis=1), np.where(spread > 0, spread, 1.0)
        return [(p, (c - mean[:, None]) / scale[:, None]) for p, c in targets]


@register("se3")
class SE3Predictor(GraphPredictor):
    """The SE(3)-equivariant network after Pezzicoli, Charpiat and Landes (SciPost Phys. 16, 136 (2024)) (``SE3GNN``):
    depthwise e3nn convolutions of ``hidden`` irreps up to ``l_max`` over ``n_layers`` layers, radial MLPs of width
    ``radial_width`` on ``n_basis`` Bessel functions, scalars decoded to K outputs; with ``inherent`` (default), the
    edges also carry the inherent-state vectors (inherent states computed when the data have none). 3D only. KA3D,
    K = 1 at the defaults: 88,257 parameters (48,769 on thermal vectors alone). Other settings:
    :class:`GraphPredictor`."""

    _param_checks: ClassVar[dict] = {
        "hidden": (lambda v: isinstance(v, str), "an irreps string such as '32x0e + 16x1o + 8x2e'"),
        "l_max": (lambda v: v == 0 or positive_int(v), "an int >= 0"),
        "n_layers": (positive_int, "an int >= 1"), "n_basis": (positive_int, "an int >= 1"),
        "radial_width": (positive_int, "an int >= 1"), "inherent": (lambda v: isinstance(v, bool), "a bool"),
    }

    def __init__(self, *, hidden: str = "32x0e + 16x1o + 8x2e", l_max: int = 2, n_layers: int = 4, n_basis: int = 8,
                 radial_width: int = 32, inherent: bool = True, **settings):
        super().__init__(**settings)
        self.hidden, self.l_max, self.n_layers, self.n_basis = hidden, l_max, n_layers, n_basis
        self.radial_width, self.inherent = radial_width, inherent

    def _fit(self, train, labels, valid, valid_labels) -> dict:
        if train.dim != 3:
            raise InvalidInputError(f"se3 is three-dimensional (e3nn's rotations), but the train dataset is "
                                    f"{train.dim}D; train bapst or botan on 2D data.")
        return super()._fit(train, labels, valid, valid_labels)

    def _network(self, n_species, dim, n_outputs):
        from glassgen.predictors.gnn import SE3GNN

        return SE3GNN(n_species, n_outputs, hidden=self.hidden, l_max=self.l_max, n_layers=self.n_layers,
                      n_basis=self.n_basis, radial_width=self.radial_width, inherent=self.inherent,
                      dtype=DTYPES[self.dtype])

    def _depth(self, net) -> int:
        return net.n_layers

    def _decoder(self, net):
        return net.decoder

    def _uses_inherent(self) -> bool:
        return self.inherent
