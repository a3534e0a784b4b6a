"""Policy-guided Monte Carlo (PGMC): Metropolis-Hastings with a proposal learned by policy gradient.

Bojesen, PRE 98, 063303 (2018); Galliano, Rende, Coslovich, JCP 161, 064503 (2024). The proposal q_theta is trained
to maximise the mean reward per attempt J(theta) = E_{x ~ p, x' ~ q_theta(x -> .)}[r(x, x') alpha(x, x')], with
alpha = min(1, exp(dlog p + log q_b - log q_f)) the Metropolis-Hastings acceptance, r = |displacement|^2 for a
displacement (the expected squared jump) and r = 1 for a swap (the swap acceptance). Differentiating alpha gives the
estimator used here, per proposal with j = r alpha,

    grad J = E[ j grad log q_f ]  where alpha = 1,   E[ j grad log q_b ]  where alpha < 1,

with an optional baseline b (a running mean of j, so independent of the current proposal) entering as
-b grad log q_f, which has zero mean under q_f. Proposals used for the gradient are *virtual*: they are drawn from
the current states of the B chains and thrown away, and the chains advance between gradient steps by ordinary
accepted moves of the current policy, so the states the policy learns from follow the target.

Training breaks detailed balance (the kernel changes along the chain); :meth:`PolicyGuidedMC.freeze` fixes theta,
after which the chain is an exact Metropolis-Hastings chain of the kernels :class:`PolicyDisplacements` and
:class:`PolicySwaps`, run and recorded by :class:`samplers.driver.Driver` (same ``run``, ``MCResult``, counters,
state dicts as every sampler). This module is the policy, its training, and those two kernels.

Engines: the chains' sweeps (in production, and between the gradient steps of training) run with those torch
kernels, ~1e3 attempts per second, or with :class:`samplers.kernels.PolicySweeps`, the same moves compiled (~1e6
per second; ``engine="compiled"``, or ``"auto"`` where it applies: a target with ``pair_coefficients()`` in a
periodic box, float64 chains on the CPU). The gradient always comes from torch proposals (:meth:`propose_moves`,
:meth:`propose_swaps`), which carry it.

Policies (:class:`MovePolicy`):

- displacement of a uniformly chosen particle i of species s by a Gaussian of scale sigma, with
  log sigma = a_s (+ b_s e_i when ``energy_scale``; e_i its local energy, ``target.local_energies``), capped at a
  quarter of the smallest box edge and floored at 1e-3 (a scale that underflowed to 0 made the density NaN). In a periodic box q is the wrapped Gaussian (a sum over the nearest images, exact
  to 1e-8 at the cap). With b_s != 0 the proposal is not symmetric: the backward scale is evaluated with the particle
  at its new place, where its local energy is e_i + dU (exact for pair plus one-body energies, the protocol's
  definition of local energies);
- swap of the species of two particles: a species pair (a, b) uniform among the allowed ones (as in
  :class:`samplers.kernels.Swap`; the composition is conserved, so its probability is the same forwards and
  backwards and cancels), then i of species a with p(i) ~ exp(c_a e_i) among the particles of species a and j of
  species b likewise (uniform when c = 0). After the exchange j is of species a and i of species b, and the backward
  probability uses the local energies of the new state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from samplers.driver import Driver
from samplers.kernels import CompiledSweeps, Counting, PolicySweeps, SwapPairs, swap_share
from samplers.mc import ENGINES
from samplers.state import ChainState
from samplers.target import SamplerInputError, swapped

OPTIMIZERS = ("adam", "sgd")


def _positive_scales(scale, n_types: int, dtype) -> torch.Tensor:
    """(n_types,) tensor of the initial Gaussian scales, checked."""
    scales = torch.as_tensor(scale, dtype=dtype).reshape(-1)
    if scales.numel() == 1:
        scales = scales.repeat(n_types)
    if scales.numel() != n_types or not bool((scales > 0).all()) or not bool(torch.isfinite(scales).all()):
        raise SamplerInputError(f"scale must be one positive number or {n_types} (one per species); got {scale}.")
    return scales


class MovePolicy(nn.Module):
    """Learned proposal of displacement and swap moves (float64 parameters by default).

    Parameters
    ----------
    n_types : int
        Number of species.
    scale : float or sequence of float
        Initial Gaussian scale sigma (standard deviation per Cartesian component), one for all or one per species.
    energy_scale : bool
        Add the per-species slope b_s of log sigma in the moved particle's local energy (starts at 0).
    energy_swap : bool
        Add the per-species bias c_s of the swap choice p(i) ~ exp(c_s e_i) (starts at 0: uniform).
    max_scale : float or None
        Cap of sigma (a quarter of the smallest box edge in a periodic box, so that the image sum is exact).
    dtype : torch.dtype
    """

    def __init__(self, n_types: int, scale=0.1, *, energy_scale: bool = False, energy_swap: bool = False,
                 max_scale: float | None = None, dtype=torch.float64):
        super().__init__()
        if int(n_types) < 1:
            raise SamplerInputError(f"n_types must be >= 1; got {n_types}.")
        if max_scale is not None and not float(max_scale) > 0:
            raise SamplerInputError(f"max_scale must be positive or None; got {max_scale}.")
        self.n_types = int(n_types)
        self.log_scale = nn.Parameter(torch.log(_positive_scales(scale, self.n_types, dtype)))
        self.energy_slope = nn.Parameter(torch.zeros(self.n_types, dtype=dtype)) if energy_scale else None
        self.swap_bias = nn.Parameter(torch.zeros(self.n_types, dtype=dtype)) if energy_swap else None
        self.log_max_scale = None if max_scale is None else math.log(float(max_scale))

    def __repr__(self) -> str:
        parts = ["energy scale"] * (self.energy_slope is not None) + ["energy swap"] * (self.swap_bias is not None)
        size = sum(p.numel() for p in self.parameters())
        return f"MovePolicy({self.n_types} species{''.join(', ' + p for p in parts)} | {size} parameters)"

    @property
    def scales(self) -> torch.Tensor:
        """Scales exp(a_s) (n_types,) at zero local energy, detached."""
        return self.log_scale.detach().exp()

    @property
    def needs_energies(self) -> bool:
        """Whether displacements depend on local energies."""
        return self.energy_slope is not None

    def log_sigma(self, species: torch.Tensor, energy: torch.Tensor | None = None) -> torch.Tensor:
        """log sigma of moving particles of ``species`` with local ``energy`` (same shape; None when unused)."""
        from samplers.compiled_policy import LOG_MIN_SCALE  # the compiled kernels' floor, so both paths agree

        out = self.log_scale[species]
        if self.energy_slope is not None:
            out = out + self.energy_slope[species] * energy
        return out.clamp(min=LOG_MIN_SCALE, max=self.log_max_scale)

    @staticmethod
    def log_displacement_density(displacement: torch.Tensor, log_sigma: torch.Tensor,
                                 box: torch.Tensor | None) -> torch.Tensor:
        """log q of an isotropic Gaussian displacement (..., d) of scale exp(log_sigma) (...); in a periodic box the
        wrapped Gaussian (images -1, 0, +1 of the minimum-image displacement per component)."""
        sigma = log_sigma.exp()[..., None]
        if box is None:
            per_component = -0.5 * (displacement / sigma).square()
        else:
            # The minimum image is the largest term; the others enter through log1p (torch.logsumexp was 10x
            # slower here).
            d = torch.remainder(displacement + 0.5 * box, box) - 0.5 * box
            nearest = -0.5 * (d / sigma).square()
            others = sum(torch.exp(-0.5 * ((d + shift * box) / sigma).square() - nearest) for shift in (-1.0, 1.0))
            per_component = nearest + torch.log1p(others)
        dim = displacement.shape[-1]
        return per_component.sum(-1) - dim * (log_sigma + 0.5 * math.log(2 * math.pi))

    def swap_log_probs(self, energies: torch.Tensor | None, types: torch.Tensor,
                       species: torch.Tensor) -> torch.Tensor:
        """log p(i) (R, N) of choosing particle i among those of ``species`` (R,) in each row (-inf for the others),
        given the local ``energies`` (R, N) (None when the choice is uniform)."""
        member = types == species[:, None]
        logits = (torch.zeros(types.shape, dtype=self.log_scale.dtype, device=types.device) if self.swap_bias is None
                  else self.swap_bias[species][:, None] * energies)
        # By hand: torch.log_softmax took 20 ms for 32 x 44 on a busy 2-core CPU (threading overhead), this 0.05 ms.
        logits = logits.masked_fill(~member, float("-inf"))
        shifted = logits - logits.detach().amax(-1, keepdim=True)
        return shifted - torch.log(torch.exp(shifted).sum(-1, keepdim=True))


@dataclass
class Proposals:
    """A batch of proposals of the B chains (R = B K rows, or (B, K) for displacements).

    log_ratio : log of the Metropolis-Hastings ratio (-inf where dU is not finite).
    log_forward, log_backward : log q_f and log q_b, carrying the policy's gradient.
    reward : r (|displacement|^2 or 1).
    group : species of the moved particle, or index of the swap pair (for counters and baselines).
    delta : energy changes dU.
    move : what accepting changes: (indices (B, K), new positions (B, K, d)) or (i, j, new types (R, N)).
    """

    log_ratio: torch.Tensor
    log_forward: torch.Tensor
    log_backward: torch.Tensor
    reward: torch.Tensor
    group: torch.Tensor
    delta: torch.Tensor
    move: tuple


@dataclass
class TrainingHistory:
    """What :meth:`PolicyGuidedMC.train` records per gradient step.

    reward : (S,) mean j = r alpha of the virtual displacements (the estimate of J for moves).
    swap_reward : (S,) mean alpha of the virtual swaps (NaN when no swaps were trained).
    scales : (S, n_types) exp(a_s) after the step.
    parameters : list of S dicts of all policy parameters (numpy) after the step.
    seconds : wall time of the training.
    evaluations : single-particle energy changes spent (virtual proposals and chain moves), summed over chains.
    """

    reward: np.ndarray
    swap_reward: np.ndarray
    scales: np.ndarray
    parameters: list
    seconds: float
    evaluations: int


class PolicyDisplacements(Counting):
    """Metropolis-Hastings displacements proposed by the policy, one particle per chain per call.

    ``propose(k)`` gives K displacement :class:`Proposals` per chain (:meth:`PolicyGuidedMC.propose_moves`); the
    kernel accepts the first with probability min(1, exp(log_ratio)). Its ``step`` is the policy's scales."""

    name = "policy displacement"
    options = frozenset()
    attempts = 1

    def __init__(self, propose: Callable[[int], Proposals], policy: MovePolicy):
        self.propose, self.policy = propose, policy
        self.counts = {"move": torch.zeros(2, policy.n_types, dtype=torch.int64)}

    @property
    def step(self) -> torch.Tensor:
        return self.policy.scales

    @torch.no_grad()
    def attempt(self, state) -> torch.Tensor:
        """One displacement in every chain with the current policy; the (B,) accepted mask."""
        p = self.propose(1)
        ok = state.accept_log_ratio(p.log_ratio)[:, 0]
        index, new = p.move
        state.move(index[:, 0], new[:, 0], ok, p.delta[:, 0])
        self.tally("move", p.group[:, 0], ok)
        state.n_evaluations += ok.numel()
        return ok


class PolicySwaps(Counting):
    """Metropolis-Hastings swaps proposed by the policy (energy-biased particle choice), one per chain per call;
    ``propose(k)`` is :meth:`PolicyGuidedMC.propose_swaps`."""

    name = "policy swap"
    options = frozenset()
    attempts = 1

    def __init__(self, propose: Callable[[int], Proposals], n_pairs: int):
        self.propose = propose
        self.counts = {"swap": torch.zeros(2, n_pairs, dtype=torch.int64)}

    @torch.no_grad()
    def attempt(self, state) -> torch.Tensor:
        """One swap in every chain with the current policy; the (B,) accepted mask."""
        p = self.propose(1)
        ok = state.accept_log_ratio(p.log_ratio)
        state.retype(p.move[2], ok, p.delta)
        self.tally("swap", p.group, ok)
        state.n_evaluations += 2 * ok.numel()
        return ok


class PolicyGuidedMC(Driver):
    """Policy-guided Monte Carlo of B chains: train the proposal, :meth:`freeze` it, then :meth:`run`.

    The chains are driven by :class:`samplers.driver.Driver` with the kernels :class:`PolicySwaps` (probability
    ``p_swap``) and :class:`PolicyDisplacements`, which draw from :meth:`propose_swaps` and :meth:`propose_moves`
    (so a subclass that changes a proposal changes the torch chain too), or with their compiled form
    :class:`samplers.kernels.PolicySweeps` (``engine``).

    Parameters
    ----------
    target : Target
        Needs ``local_energies`` when ``energy_scale`` or ``energy_swap``.
    positions, types, temperature, p_swap, swap_pairs, seed, record_overlap
        As for :class:`samplers.mc.MetropolisMC` (sequential updates only).
    scale : float or sequence of float
        Initial Gaussian scale per species (or one for all) of a new policy.
    energy_scale, energy_swap : bool
        Energy-dependent displacement scale and energy-biased swap choice of a new policy (:class:`MovePolicy`).
    policy : MovePolicy or None
        Use this policy (shared, not copied) instead of a new one; ``scale`` and the energy flags are then ignored.
    engine : {"auto", "torch", "compiled"}
        How the chains' sweeps run (see the module docstring); "compiled" raises where it does not apply.
    """

    def __init__(self, target, positions, types=None, *, temperature: float, scale=0.1, energy_scale: bool = False,
                 energy_swap: bool = False, policy: MovePolicy | None = None, p_swap: float = 0.0, swap_pairs=None,
                 seed=0, record_overlap: bool = True, engine: str = "auto"):
        if engine not in ENGINES:
            raise SamplerInputError(f"engine must be one of {ENGINES}; got {engine!r}.")
        state = ChainState(target, positions, types, temperature=temperature, seed=seed)
        missing = CompiledSweeps.missing(state)
        if engine == "compiled" and missing:
            raise SamplerInputError(f"the compiled engine needs {', '.join(missing)}; use engine='torch'.")
        self.p_swap = swap_share(p_swap, swap_pairs)
        self.pairs = SwapPairs(state, swap_pairs) if self.p_swap > 0 else ()
        cap = None if state.box is None else float(state.box.min()) / 4
        if policy is None:
            policy = MovePolicy(state.n_types, scale, energy_scale=energy_scale, energy_swap=energy_swap,
                                max_scale=cap, dtype=state.x.dtype)
        if policy.n_types != state.n_types:
            raise SamplerInputError(f"the policy knows {policy.n_types} species but the chains hold {state.n_types}.")
        if cap is not None and (policy.log_max_scale is None or policy.log_max_scale > math.log(cap) + 1e-12):
            raise SamplerInputError(f"in a periodic box the policy's max_scale must be at most a quarter of the "
                                    f"smallest edge ({cap:.4g}); build it with max_scale={cap:.4g}.")
        self.policy = policy.to(state.x.device)
        if engine == "torch" or missing:
            moves = PolicyDisplacements(self.propose_moves, self.policy)
            mix = [(PolicySwaps(self.propose_swaps, len(self.pairs)), self.p_swap)] if self.pairs else []
            mix.append((moves, 1.0 - self.p_swap))
        else:
            mix = [(PolicySweeps(state, self.policy, self.p_swap, self.pairs), 1.0)]
        super().__init__(state, mix, record_overlap=record_overlap)
        self.frozen = False
        self.optimizer, self._optimizer_settings = None, None
        self.baselines = {"move": torch.zeros(state.n_types, dtype=torch.float64),
                          "swap": torch.zeros(max(len(self.pairs), 1), dtype=torch.float64)}

    # -- proposals ------------------------------------------------------------------------------------------------
    def _local_energies(self, x, types):
        self.state.n_evaluations += x.shape[0] * x.shape[1]
        return self.target.local_energies(x, types).to(x.dtype)

    def propose_moves(self, k: int = 1) -> Proposals:
        """K displacement proposals (B, K) per chain from its current state; each moves one particle alone."""
        state = self.state
        n_conf, n, dim = state.shape
        rows = torch.arange(n_conf, device=state.x.device)[:, None]
        index = torch.randint(n, (n_conf, k), generator=state.generator, device=state.x.device)
        species = state.types[rows, index]
        energy = self._local_energies(state.x, state.t())[rows, index] if self.policy.needs_energies else None
        log_sigma = self.policy.log_sigma(species, energy)
        noise = torch.randn(n_conf, k, dim, generator=state.generator, dtype=state.x.dtype, device=state.x.device)
        displacement = noise * log_sigma.detach().exp()[..., None]
        new = state.x[rows, index] + displacement
        if state.box is not None:
            new = torch.remainder(new, state.box)
        delta = self.target.energy_change_moves(state.x, state.t(), index, new).to(state.x.dtype)
        finite = torch.isfinite(delta)
        back_energy = None if energy is None else energy + torch.where(finite, delta, 0.0)
        log_forward = self.policy.log_displacement_density(displacement, log_sigma, state.box)
        log_backward = log_forward if energy is None else self.policy.log_displacement_density(
            displacement, self.policy.log_sigma(species, back_energy), state.box)  # symmetric without the slope
        log_ratio = torch.where(finite, -self.beta * delta + (log_backward - log_forward).detach(), float("-inf"))
        return Proposals(log_ratio, log_forward, log_backward, displacement.square().sum(-1), species, delta,
                         (index, new))

    def propose_swaps(self, k: int = 1) -> Proposals:
        """K swap proposals per chain from its current state, as B K rows (chain b's proposals are rows b K ...)."""
        state = self.state
        n_conf, n, dim = state.shape
        x = state.x[:, None].expand(n_conf, k, n, dim).reshape(n_conf * k, n, dim)
        types = state.types[:, None].expand(n_conf, k, n).reshape(n_conf * k, n)
        pair, a, b = self.pairs.choose(state.generator, k)
        biased = self.policy.swap_bias is not None
        energies = self._local_energies(x, types) if biased else None
        choice_a, choice_b = (self.policy.swap_log_probs(energies, types, s) for s in (a, b))
        i, j = (torch.multinomial(c.detach().exp(), 1, generator=state.generator)[:, 0] for c in (choice_a, choice_b))
        rows = torch.arange(n_conf * k, device=state.x.device)
        new_types = swapped(types, i, j)
        delta = self.target.energy_change_swap(x, types, i, j).to(state.x.dtype)
        new_energies = self._local_energies(x, new_types) if biased else None
        log_forward = choice_a[rows, i] + choice_b[rows, j]
        log_backward = (self.policy.swap_log_probs(new_energies, new_types, a)[rows, j]
                        + self.policy.swap_log_probs(new_energies, new_types, b)[rows, i])
        finite = torch.isfinite(delta)
        log_ratio = torch.where(finite, -self.beta * delta + (log_backward - log_forward).detach(), float("-inf"))
        return Proposals(log_ratio, log_forward, log_backward, torch.ones_like(delta), pair, delta, (i, j, new_types))

    # -- training -------------------------------------------------------------------------------------------------
    def _surrogate(self, p: Proposals, kind: str, baseline: bool) -> tuple[torch.Tensor, float]:
        """A scalar whose gradient is the policy-gradient estimate of grad J from the batch, and mean j."""
        alpha = p.log_ratio.clamp(max=0.0).exp()
        j = (p.reward * alpha).detach()
        log_q = torch.where(alpha >= 1.0, p.log_forward, p.log_backward)
        surrogate = j * log_q
        if baseline:
            b = self.baselines[kind].to(j)[p.group]
            surrogate = surrogate - b * p.log_forward
            means = torch.zeros_like(self.baselines[kind]).index_add_(0, p.group.reshape(-1).cpu(),
                                                                      j.reshape(-1).cpu().to(torch.float64))
            counts = torch.bincount(p.group.reshape(-1).cpu(), minlength=means.numel()).to(torch.float64)
            seen = counts > 0
            self.baselines[kind][seen] = 0.9 * self.baselines[kind][seen] + 0.1 * means[seen] / counts[seen]
        return surrogate.mean(), float(j.mean())

    def train(self, n_steps: int, *, lr: float = 0.05, optimizer: str = "adam", baseline: bool = True,
              n_virtual: int = 16, sweeps_between: int = 1, progress: bool = False,
              callback: Callable[[int], object] | None = None) -> TrainingHistory:
        """``n_steps`` policy-gradient steps, each on ``n_virtual`` virtual proposals per chain (displacements, and
        swaps when ``p_swap`` > 0 and the swap choice is learnable), the chains advancing ``sweeps_between`` sweeps
        of real moves between steps.

        Parameters
        ----------
        n_steps : int
        lr : float
            Learning rate (> 0) of gradient *ascent* on J.
        optimizer : {"adam", "sgd"}
            Adam, or the plain gradient theta += lr grad J (J of displacements scales as sigma^2: choose lr to match).
        baseline : bool
            Subtract a running mean of j per species (per swap pair) from the reward (variance reduction).
        n_virtual : int
            Virtual proposals per chain per step (>= 1).
        sweeps_between : int
            Sweeps of the chains with the current policy after each step (>= 0).
        progress : bool
            Show a tqdm bar on stderr.
        callback : callable(step) or None
            Called after each step with the number of steps done, e.g. to show progress another way.

        Returns
        -------
        TrainingHistory
        """
        from tqdm.auto import tqdm

        if self.frozen:
            raise SamplerInputError("the policy is frozen (freeze() was called or run() started production); "
                                    "build a new PolicyGuidedMC with policy=... to train further.")
        if not float(lr) > 0 or not math.isfinite(float(lr)):
            raise SamplerInputError(f"the learning rate lr must be a positive number; got {lr}.")
        if optimizer not in OPTIMIZERS:
            raise SamplerInputError(f"optimizer must be one of {OPTIMIZERS}; got {optimizer!r}.")
        if int(n_steps) < 0 or int(n_virtual) < 1 or int(sweeps_between) < 0:
            raise SamplerInputError(f"n_steps and sweeps_between must be >= 0 and n_virtual >= 1; got {n_steps}, "
                                    f"{sweeps_between}, {n_virtual}.")
        if self.optimizer is None or self._optimizer_settings != (optimizer, float(lr)):
            cls = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
            self.optimizer = cls(self.policy.parameters(), lr=float(lr), maximize=True)
            self._optimizer_settings = (optimizer, float(lr))
        train_swaps = self.p_swap > 0 and self.policy.swap_bias is not None
        start, evaluations = time.perf_counter(), self.n_evaluations
        rewards, swap_rewards, scales, parameters = [], [], [], []
        for step in tqdm(range(int(n_steps)), desc="PGMC training", disable=not progress, leave=False, unit="step"):
            self.optimizer.zero_grad()
            moves = self.propose_moves(int(n_virtual))
            objective, reward = self._surrogate(moves, "move", baseline)
            self.state.n_evaluations += moves.delta.numel()
            swap_reward = float("nan")
            if train_swaps:
                swaps = self.propose_swaps(int(n_virtual))
                swap_objective, swap_reward = self._surrogate(swaps, "swap", baseline)
                objective = objective + swap_objective
                self.state.n_evaluations += 2 * swaps.delta.numel()
            objective.backward()
            self.optimizer.step()
            self._cap_scales()
            self.sweep(int(sweeps_between))
            rewards.append(reward)
            swap_rewards.append(swap_reward)
            scales.append(self.policy.scales.cpu().numpy())
            parameters.append({name: p.detach().cpu().numpy().copy() for name, p in self.policy.named_parameters()})
            if callback is not None:
                callback(step + 1)
        return TrainingHistory(np.asarray(rewards), np.asarray(swap_rewards),
                               np.asarray(scales).reshape(-1, self.policy.n_types), parameters,
                               time.perf_counter() - start, self.n_evaluations - evaluations)

    @torch.no_grad()
    def _cap_scales(self) -> None:
        """Keep a_s below the cap, where its gradient would otherwise vanish for good."""
        if self.policy.log_max_scale is not None:
            self.policy.log_scale.clamp_(max=self.policy.log_max_scale)

    # -- production -----------------------------------------------------------------------------------------------
    def freeze(self) -> PolicyGuidedMC:
        """Fix the policy for good: from now on the chain is an exact Metropolis-Hastings chain."""
        self.policy.requires_grad_(False)
        self.frozen = True
        return self

    def run(self, n_sweeps: int, **kwargs):
        """Freeze the policy, then :meth:`samplers.driver.Driver.run` (burn-in, production, records)."""
        self.freeze()
        return super().run(n_sweeps, **kwargs)

    def state_dict(self) -> dict:
        """The driver's state (:meth:`samplers.driver.Driver.state_dict`), the policy, the optimiser and the
        baselines."""
        state = super().state_dict()
        state.update(policy={k: v.clone() for k, v in self.policy.state_dict().items()}, frozen=self.frozen,
                     optimizer=None if self.optimizer is None else (self._optimizer_settings,
                                                                    self.optimizer.state_dict()),
                     baselines={k: v.clone() for k, v in self.baselines.items()})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` of a sampler built with the same target, shapes, settings and policy kind."""
        super().load_state_dict(state)
        self.policy.load_state_dict(state["policy"])
        self.baselines = {k: v.clone() for k, v in state["baselines"].items()}
        self.optimizer, self._optimizer_settings = None, None
        if state["optimizer"] is not None:
            (name, lr), optimizer_state = state["optimizer"]
            cls = torch.optim.Adam if name == "adam" else torch.optim.SGD
            self.optimizer, self._optimizer_settings = cls(self.policy.parameters(), lr=lr, maximize=True), (name, lr)
            self.optimizer.load_state_dict(optimizer_state)
        self.frozen = bool(state["frozen"])
        self.policy.requires_grad_(not self.frozen)
