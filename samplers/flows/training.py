"""Training a :class:`samplers.flows.model.ParticleFlow`: forward KL on configurations, reverse KL on the energy, or
a mix, with progress, checkpoints, exact resume and a time budget.

Losses (per configuration, averaged over a batch; constants dropped):

- forward KL, -log q(x, k) of Monte Carlo configurations x at temperature T (k drawn afresh each time: the pinned
  particle is an auxiliary variable, see :mod:`samplers.flows.frame`). Needs data; cannot collapse onto one mode.
- reverse KL, log q(x, k) + beta U_reg(x) of the flow's own samples (reparametrised, so the gradient flows through
  the positions into the energy). Needs only the energy; may collapse onto part of the distribution.
- ``schedule="mix"``: (1 - lambda) forward + lambda reverse, lambda rising linearly from 0 to ``reverse_weight``
  over the run: first learn where the data are, then sharpen on the energy.

Overlaps: a flow early in training puts particles on top of each other, where U is ~1e12 and its gradient useless.
Reverse KL uses a regularised energy per particle, u_reg = u for u <= cap and cap + log(1 + u - cap) above (smooth,
monotone, with a gradient that shrinks instead of exploding). It is a training device only: weights and
Metropolis-Hastings ratios (:mod:`samplers.reweight`, :mod:`samplers.kernels.flow`) always use the true energy.

Temperatures: a temperature-conditioned flow trains on every temperature of ``temperatures`` (each batch draws them
uniformly; forward-KL data carry their own). An unconditioned flow has exactly one.

Checkpoints: ``checkpoint=PATH`` writes the flow, the optimiser, the step, the history and the generator state every
``checkpoint_seconds`` and at the end (atomically); a later call with the same PATH and settings resumes from it and
continues the same run bit for bit (the generator state is part of it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from samplers.flows.energy import DensePairEnergy
from samplers.files import save_atomically
from samplers.flows.model import ParticleFlow
from samplers.reweight import kish_ess
from samplers.target import SamplerInputError

SCHEDULES = ("forward", "reverse", "mix")


def regularised_energy(energy: torch.Tensor, n_particles: int, cap: float) -> torch.Tensor:
    """U_reg (B,): the energy per particle continued logarithmically above ``cap`` (smooth and monotone)."""
    u = energy / n_particles
    excess = (u - cap).clamp_min(0.0)
    return n_particles * (torch.minimum(u, torch.full_like(u, cap)) + torch.log1p(excess))


@dataclass(frozen=True)
class TrainingSettings:
    """How to train; saved in checkpoints (a resumed run must use the same).

    steps : gradient steps; batch_size : configurations per step and loss; lr : Adam's learning rate;
    schedule : "forward", "reverse" or "mix"; reverse_weight : the final lambda of "mix";
    energy_cap : cap of the regularised energy per particle (reverse KL only); max_grad_norm : gradient clipping;
    temperatures : the temperatures trained at (one for an unconditioned flow); seed : the generator's seed.
    """

    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    schedule: str = "forward"
    reverse_weight: float = 0.5
    energy_cap: float = 5.0
    max_grad_norm: float = 10.0
    temperatures: tuple[float, ...] = (1.0,)
    seed: int = 0

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise SamplerInputError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}.")
        if int(self.steps) < 0 or int(self.batch_size) < 1:
            raise SamplerInputError(f"steps must be >= 0 and batch_size >= 1; got {self.steps}, {self.batch_size}.")
        for name in ("lr", "energy_cap", "max_grad_norm"):
            if not float(getattr(self, name)) > 0 or not math.isfinite(float(getattr(self, name))):
                raise SamplerInputError(f"{name} must be a positive number; got {getattr(self, name)}.")
        if not 0.0 <= float(self.reverse_weight) <= 1.0:
            raise SamplerInputError(f"reverse_weight must be in [0, 1]; got {self.reverse_weight}.")
        if not self.temperatures or not all(float(t) > 0 for t in self.temperatures):
            raise SamplerInputError(f"temperatures must be positive; got {self.temperatures}.")


@dataclass
class TrainingHistory:
    """Per step: forward and reverse losses (NaN where not computed), the reverse-KL batch's Kish ESS fraction (NaN
    without reverse KL), and lambda; plus the wall time and energy evaluations of the whole run."""

    forward: list = field(default_factory=list)
    reverse: list = field(default_factory=list)
    ess_fraction: list = field(default_factory=list)
    weight: list = field(default_factory=list)
    seconds: float = 0.0
    evaluations: int = 0

    @property
    def steps(self) -> int:
        return len(self.forward)


class FlowTrainer:
    """Trains one flow on one target; see the module docstring.

    Parameters
    ----------
    flow : ParticleFlow
    target : Target
        Reverse KL differentiates its energy: through :class:`samplers.flows.energy.DensePairEnergy` when the
        target offers ``pair_coefficients()``, else through ``target.energy`` (which must then support autograd).
    settings : TrainingSettings
    data : (positions (M, N, d), types (M, N) or (N,), temperatures (M,)) or None
        Equilibrium configurations for forward KL (required unless the schedule is "reverse").
    """

    def __init__(self, flow: ParticleFlow, target, settings: TrainingSettings, data=None):
        self.flow, self.target, self.settings = flow, target, settings
        if not flow.settings.temperature_conditioned and len(settings.temperatures) != 1:
            raise SamplerInputError(f"a flow that is not temperature-conditioned trains at one temperature; got "
                                    f"{list(settings.temperatures)}.")
        if data is None and settings.schedule != "reverse":
            raise SamplerInputError(f"the {settings.schedule!r} schedule needs configurations for forward KL; give "
                                    "data, or train with schedule='reverse' from the energy alone.")
        self.data = None if data is None else self._check_data(data)
        # The dense pair sum is far cheaper with autograd than a neighbour-list energy at the sizes flows serve.
        self.energy = DensePairEnergy(target).energy if getattr(target, "pair_coefficients", lambda: None)() \
            is not None and target.box is not None else target.energy
        self.optimizer = torch.optim.Adam(flow.parameters(), lr=settings.lr)
        self.generator = torch.Generator().manual_seed(int(settings.seed))
        self.history = TrainingHistory()

    def _check_data(self, data):
        x, types, temperatures = data
        x = torch.as_tensor(x, dtype=torch.float64)
        types = self.flow.frame.check(x, types)
        temperatures = torch.as_tensor(temperatures, dtype=torch.float64).reshape(-1).expand(x.shape[0]).clone()
        if not self.flow.settings.temperature_conditioned and not bool(torch.isclose(
                temperatures, torch.tensor(float(self.settings.temperatures[0]), dtype=torch.float64),
                rtol=1e-6).all()):  # float32 copies of the temperature are the same temperature
            raise SamplerInputError("the data hold other temperatures than the one this unconditioned flow trains at.")
        return x, types, temperatures

    # -- losses ---------------------------------------------------------------------------------------------------
    def _temperatures(self, n: int) -> torch.Tensor:
        ladder = torch.tensor(self.settings.temperatures, dtype=torch.float64)
        return ladder[torch.randint(ladder.numel(), (n,), generator=self.generator)]

    def forward_loss(self) -> torch.Tensor:
        """Mean -log q of a batch of data configurations."""
        x, types, temperatures = self.data
        rows = torch.randint(x.shape[0], (self.settings.batch_size,), generator=self.generator)
        t = temperatures[rows] if self.flow.settings.temperature_conditioned else None
        return -self.flow.log_prob(x[rows], types[rows], t, generator=self.generator).mean()

    def reverse_loss(self) -> tuple[torch.Tensor, float]:
        """Mean log q + beta U_reg of a batch of the flow's samples, and their Kish ESS fraction (true energy)."""
        t = self._temperatures(self.settings.batch_size)
        x, types, log_q = self.flow.sample(self.settings.batch_size, t if self.flow.settings.temperature_conditioned
                                           else None, generator=self.generator)
        energy = self.energy(x, types)
        self.history.evaluations += x.shape[0]
        beta = 1.0 / t.to(energy)
        n = x.shape[1]
        loss = (log_q + beta * regularised_energy(energy, n, self.settings.energy_cap)).mean()
        log_w = (-beta * energy - log_q).detach().cpu().numpy()
        finite = np.isfinite(log_w)
        ess = kish_ess(log_w[finite]) / log_w.size if finite.any() else 0.0
        return loss, ess

    # -- the run --------------------------------------------------------------------------------------------------
    def train(self, *, progress: bool = False, checkpoint: str | os.PathLike | None = None,
              checkpoint_seconds: float = 300.0, budget_seconds: float | None = None,
              callback: Callable[[int, TrainingHistory], object] | None = None) -> TrainingHistory:
        """Run (or resume, from ``checkpoint`` when it exists) up to ``settings.steps`` steps; see the module."""
        from tqdm.auto import tqdm

        if checkpoint is not None and os.path.exists(checkpoint):
            self.load_checkpoint(checkpoint)
        s = self.settings
        start, last_save = time.perf_counter(), time.perf_counter()
        seconds_before = self.history.seconds
        bar = tqdm(total=int(s.steps), initial=self.history.steps, desc="flow training", disable=not progress,
                   leave=False, unit="step")
        while self.history.steps < int(s.steps):
            step = self.history.steps
            weight = {"forward": 0.0, "reverse": 1.0}.get(s.schedule, s.reverse_weight * step / max(int(s.steps) - 1, 1))
            self.optimizer.zero_grad()
            loss = torch.zeros((), dtype=torch.float64)
            forward = reverse = ess = float("nan")
            if weight < 1.0:
                term = self.forward_loss()
                loss = loss + (1.0 - weight) * term
                forward = float(term.detach())
            if weight > 0.0:
                term, ess = self.reverse_loss()
                loss = loss + weight * term
                reverse = float(term.detach())
            if not torch.isfinite(loss):
                raise RuntimeError(f"the training loss became {float(loss)} at step {step}: lower lr, raise "
                                   "energy_cap's protection (a smaller cap), or start from forward KL on data.")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.flow.parameters(), s.max_grad_norm)
            self.optimizer.step()
            for name, value in (("forward", forward), ("reverse", reverse), ("ess_fraction", ess), ("weight", weight)):
                getattr(self.history, name).append(value)
            self.history.seconds = seconds_before + time.perf_counter() - start
            bar.update(1)
            bar.set_postfix_str(f"fwd {forward:.4g} rev {reverse:.4g} ess {ess:.2%}", refresh=False)
            if callback is not None:
                callback(self.history.steps, self.history)
            if checkpoint is not None and time.perf_counter() - last_save >= checkpoint_seconds:
                self.save_checkpoint(checkpoint)
                last_save = time.perf_counter()
            if budget_seconds is not None and time.perf_counter() - start >= float(budget_seconds):
                break
        bar.close()
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        return self.history

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def save_checkpoint(self, path) -> None:
        """Flow, optimiser, history, generator and settings, written atomically."""
        payload = {"format": "glassgen-flow-training-1", "flow_settings": asdict(self.flow.settings),
                   "training": asdict(self.settings), "flow": self.flow.state_dict(),
                   "optimizer": self.optimizer.state_dict(), "history": asdict(self.history),
                   "generator": self.generator.get_state(), "prior": self.flow.flow.q0.chain_state()}
        save_atomically(payload, path)

    def load_checkpoint(self, path) -> None:
        """Resume from :meth:`save_checkpoint`'s file; refuses one written with other settings."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != "glassgen-flow-training-1":
            raise SamplerInputError(f"{path} is not a flow-training checkpoint; remove it or choose another path.")
        mine = {"flow_settings": asdict(self.flow.settings), "training": asdict(self.settings)}
        for key, value in mine.items():
            saved = {k: (tuple(v) if isinstance(v, list) else v) for k, v in payload[key].items()}
            differing = sorted(k for k in value if saved.get(k) != value[k] and k != "steps")
            if differing:
                raise SamplerInputError(f"the checkpoint {path} was written with other settings ({', '.join(differing)}"
                                        "); use the same settings to resume, or another checkpoint path.")
        self.flow.load_state_dict(payload["flow"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.history = TrainingHistory(**payload["history"])
        self.generator.set_state(payload["generator"])
        self.flow.flow.q0.load_chain_state(payload["prior"])
