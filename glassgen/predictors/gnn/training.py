"""Training graph networks on a CPU: the one loop that bapst, botan and se3 share.

- **Crops.** A step sees a minibatch of neighbourhood crops (``crops.py``) around random centres among the scored
  particles; the loss counts only their core particles (and the edges those receive), whose outputs are exactly
  the full graph's, so a step costs what its crops cost, not whole configurations.
- **Loss.** MSE of the targets standardised per time by the caller (graph attributes ``y`` (N, K), ``y_mask`` (N,):
  the particles scored, ``y_edge`` (E, K) for BOTAN), or BOTAN's p MSE_node + (1 - p) MSE_edge; Adam.
- **Phases.** Stretches of epochs with one loss each: BOTAN first learns the edges alone (p = 0), then both.
- **Early stopping.** After each epoch of a selecting phase, the MSE of the scored particles of the validation
  configurations (full graphs); the best state is kept and restored, and ``patience`` epochs without a better one
  end the training.
- **Budget.** When the wall clock passes ``budget_minutes`` (counted over resumed runs too), the training stops after
  the step in hand and keeps the best state so far (the state in hand included, validated then).
- **Checkpoints.** With ``checkpoint``, the state at the end of every epoch (network, optimiser, generator, phase,
  epoch, best state, patience count, seconds) is written atomically; a later run with the same settings and data
  resumes from it and ends bit for bit where an uninterrupted run ends. One written with other settings or data is
  refused, naming what differs; the file stays after the training, so running it again returns at once.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_geometric.data import Batch, Data

from glassgen.errors import InvalidInputError
from glassgen.predictors.gnn.botan import botan_loss
from glassgen.predictors.gnn.crops import crop
from glassgen.progress import Stage
from samplers.files import save_atomically

CHECKPOINT_FORMAT = "glassgen-graph-training-1"


@dataclass(frozen=True)
class Phase:
    """``epochs`` epochs with one loss: BOTAN's with node weight ``node_weight`` (None: the node MSE alone); only a
    ``select``ing phase is validated, early-stopped and gives the best state."""

    name: str
    epochs: int
    node_weight: float | None = None
    select: bool = True


@dataclass(frozen=True)
class TrainingSettings:
    """How to train (see the module); ``depth`` is the network's number of message-passing steps, which sets the
    crops' reach."""

    depth: int
    learning_rate: float
    batch_size: int
    crops_per_configuration: int
    crop_centres: int
    core_hops: int
    patience: int
    budget_minutes: float | None
    seed: int
    device: torch.device


def node_output(output) -> torch.Tensor:
    """The node outputs (N, K) of any of the networks (BOTAN's come with edge outputs)."""
    return output if isinstance(output, torch.Tensor) else output.node


def fingerprint(graphs: Iterable[Data]) -> str:
    """A short hash of every tensor of the graphs, inputs and targets: what a checkpoint must have been trained on."""
    digest = hashlib.sha256()
    for graph in graphs:
        for key in sorted(graph.keys()):
            value = graph[key]
            if isinstance(value, torch.Tensor):
                digest.update(key.encode())
                digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _scored(batch: Data) -> torch.Tensor:
    """The particles whose loss counts: scored ones, within the core of a crop."""
    return batch.y_mask & batch.loss_mask if "loss_mask" in batch else batch.y_mask


def loss_of(output, batch: Data, node_weight: float | None) -> torch.Tensor:
    """MSE of the scored particles (``node_weight`` None), or BOTAN's loss with p = ``node_weight``."""
    mask = _scored(batch)
    if node_weight is None:
        return (node_output(output)[mask] - batch.y[mask]).square().mean()
    return botan_loss(output, batch.y, batch.get("y_edge"), p=node_weight, node_mask=mask,
                      edge_mask=batch.get("edge_loss_mask"))


class Trainer:
    """Trains ``net`` in place on the full graphs ``fit_graphs`` (crops are cut from them) with early stopping on
    ``valid_graphs`` (none: no early stopping, the last state is kept).

    ``augment(crop, generator) -> crop`` maps each crop (e.g. a random symmetry of the box); ``parameters``: those
    to train (default all, e.g. only a decoder); ``key``: plain values that a checkpoint must match (settings and a
    :func:`fingerprint` of the data); ``name`` titles the progress bars.
    """

    def __init__(self, net: torch.nn.Module, fit_graphs: list[Data], valid_graphs: list[Data],
                 settings: TrainingSettings, *, augment: Callable | None = None, parameters=None,
                 checkpoint=None, key: dict | None = None, progress: bool = False, name: str = "training"):
        self.net, self.settings, self.augment = net, settings, augment
        self.fit_graphs = fit_graphs
        self.valid_graphs = [graph.to(settings.device) for graph in valid_graphs]
        self.optimizer = torch.optim.Adam(net.parameters() if parameters is None else parameters,
                                          lr=settings.learning_rate)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.key = key or {}
        self.progress, self.name = progress, name
        self.state = {"phase": 0, "epoch": 0, "waited": 0, "best_loss": math.inf, "best_epoch": None,
                      "valid_losses": [], "seconds": 0.0, "resumed_at": None}
        self.best = None

    # -- the run -------------------------------------------------------------------------------------------------

    def run(self, phases: list[Phase]) -> dict:
        """Train through ``phases`` (resuming from the checkpoint when there is one); returns a record: epochs
        per phase, why it stopped (``"epochs"``, ``"patience"``, ``"budget"``), the best validation loss and its
        epoch, the seconds spent (over resumed runs too)."""
        if self.checkpoint is not None and self.checkpoint.exists():
            self._resume()
        state, s = self.state, self.settings
        before, start = state["seconds"], time.perf_counter()

        def elapsed() -> float:
            return before + time.perf_counter() - start

        deadline = math.inf if s.budget_minutes is None else 60.0 * s.budget_minutes
        stopped = "epochs"
        epochs_run = {}
        while state["phase"] < len(phases) and stopped == "epochs":
            phase = phases[state["phase"]]
            with Stage(f"{self.name} {phase.name}", phase.epochs, unit="epoch", enabled=self.progress) as bar:
                bar.advance(state["epoch"])
                while state["epoch"] < phase.epochs and not self._patience_spent(phase):
                    if not self._epoch(phase, lambda: elapsed() >= deadline, bar):
                        stopped = "budget"
                        break
                    state["epoch"] += 1
                    bar.advance()
                    if phase.select and self.valid_graphs:
                        self._select(self._validate(), bar)
                    state["seconds"] = elapsed()
                    self._save()
            epochs_run[phase.name] = state["epoch"]
            if stopped == "epochs" and self._patience_spent(phase):
                stopped = "patience"
            elif stopped == "epochs":
                state["phase"], state["epoch"] = state["phase"] + 1, 0
        if stopped == "budget" and self.valid_graphs:
            self._select(self._validate())  # the state in hand may be the best so far
        if self.best is not None:
            self.net.load_state_dict(self.best)
        return {"epochs": epochs_run, "stopped": stopped, "best_epoch": state["best_epoch"],
                "best_valid_loss": None if math.isinf(state["best_loss"]) else state["best_loss"],
                "seconds": elapsed(), "resumed_at": state["resumed_at"]}

    def _patience_spent(self, phase: Phase) -> bool:
        return phase.select and bool(self.valid_graphs) and self.state["waited"] >= self.settings.patience

    def _epoch(self, phase: Phase, out_of_time: Callable[[], bool], bar: Stage) -> bool:
        """One pass over freshly cut crops, ``crops_per_configuration`` per configuration; False when the budget ran
        out during it."""
        s, generator = self.settings, self.generator
        plan = []
        for index, graph in enumerate(self.fit_graphs):
            candidates = graph.y_mask.nonzero().squeeze(1)
            for _ in range(s.crops_per_configuration):
                plan.append((index, candidates[torch.randperm(len(candidates), generator=generator)[:s.crop_centres]]))
        order = torch.randperm(len(plan), generator=generator).tolist()
        for first in range(0, len(order), s.batch_size):
            pieces = []
            for k in order[first:first + s.batch_size]:
                index, centres = plan[k]
                piece = crop(self.fit_graphs[index], centres, s.depth, s.core_hops)
                pieces.append(piece if self.augment is None else self.augment(piece, generator))
            batch = Batch.from_data_list(pieces).to(s.device)
            loss = loss_of(self.net(batch), batch, phase.node_weight)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            bar.note(loss=f"{float(loss.detach()):.4f}")
            if out_of_time():
                return False
        return True

    def _validate(self) -> float:
        """Mean over the validation configurations of the MSE of their scored particles."""
        with torch.no_grad():
            losses = [float(loss_of(self.net(graph), graph, None)) for graph in self.valid_graphs]
        return sum(losses) / len(losses)

    def _select(self, loss: float, bar: Stage | None = None) -> None:
        """Keep the state if ``loss`` is the best so far, else count an epoch of patience."""
        state = self.state
        state["valid_losses"].append(loss)
        if loss < state["best_loss"]:
            state.update(best_loss=loss, best_epoch=len(state["valid_losses"]), waited=0)
            self.best = copy.deepcopy(self.net.state_dict())
        else:
            state["waited"] += 1
        if bar is not None:
            bar.note(valid=f"{loss:.4f}", best=f"{state['best_loss']:.4f}")

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def _save(self) -> None:
        if self.checkpoint is None:
            return
        save_atomically({"format": CHECKPOINT_FORMAT, "key": self.key, "state": self.state,
                          "network": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                          "best": self.best, "generator": self.generator.get_state()}, self.checkpoint)

    def _resume(self) -> None:
        path = self.checkpoint
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for foreign files
            raise InvalidInputError(f"{path} is not a graph-training checkpoint ({type(err).__name__}); remove it "
                                    "or choose another checkpoint path.") from err
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise InvalidInputError(f"{path} is not a graph-training checkpoint; remove it or choose another "
                                    "checkpoint path.")
        differing = sorted(k for k in {*self.key, *payload["key"]} if payload["key"].get(k) != self.key.get(k))
        if differing:
            raise InvalidInputError(f"the checkpoint {path} was written by a training with other {', '.join(differing)}"
                                    "; train with the same settings and data to resume, or choose another checkpoint "
                                    "path.")
        self.net.load_state_dict(payload["network"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.generator.set_state(payload["generator"])
        self.best = payload["best"]
        self.state = {**payload["state"], "resumed_at": {"phase": payload["state"]["phase"],
                                                          "epoch": payload["state"]["epoch"]}}
