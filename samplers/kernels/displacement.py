"""Single-particle displacements, one particle per chain per call (torch).

A particle chosen uniformly is moved uniformly within a cube of half-width ``step[species]`` (wrapped into the
periodic box if the target has one) and the move is accepted with min(1, exp(-beta dU)). The proposal is symmetric
(choice uniform, cube centred on the particle, wrapping a bijection), so this is Metropolis and keeps exp(-beta U).

Step sizes adapt only during burn-in (the driver calls :meth:`Displacement.adapt` after each burn-in sweep with that
sweep's counts): the step of a species is multiplied by 1.1 if its acceptance over the sweep was above the upper
end of ``acceptance_window``, by 0.9 if below the lower one (default 0.3-0.5), and capped at a quarter of the
smallest box edge. They are frozen afterwards, so production is an exact Markov chain with a fixed kernel.
"""

from __future__ import annotations

import torch

from samplers.kernels.base import Counting
from samplers.target import SamplerInputError


class Displacement(Counting):
    """Uniform-cube displacements of one particle per chain.

    Parameters
    ----------
    state : ChainState
    step : float or sequence of float
        Half-width of the displacement cube, one per species or one for all.
    acceptance_window : (float, float)
        Target window of the acceptance during burn-in adaptation.
    """

    name = "displacement"
    options = frozenset({"step", "acceptance_window"})
    attempts = 1

    def __init__(self, state, *, step=0.1, acceptance_window=(0.3, 0.5)):
        steps = torch.as_tensor(step, dtype=state.x.dtype).reshape(-1)
        if steps.numel() == 1:
            steps = steps.repeat(state.n_types)
        if steps.numel() != state.n_types or not bool((steps > 0).all()) or not bool(torch.isfinite(steps).all()):
            raise SamplerInputError(
                f"step must be one positive number or {state.n_types} (one per species); got {step}.")
        lo, hi = (float(a) for a in acceptance_window)
        if not 0 < lo < hi < 1:
            raise SamplerInputError(f"acceptance_window must be 0 < low < high < 1; got {acceptance_window}.")
        self.step, self.window, self.box = steps.to(state.x.device), (lo, hi), state.box
        self.counts = {"move": torch.zeros(2, state.n_types, dtype=torch.int64)}

    def propose(self, state, position: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Uniform proposal in the cube of half-width step[species] around position (..., d), wrapped."""
        new = position + (2.0 * state.uniform(*position.shape) - 1.0) * self.step[species].unsqueeze(-1)
        return new if self.box is None else torch.remainder(new, self.box)

    def record(self, state, species: torch.Tensor, accepted: torch.Tensor) -> None:
        """Count the attempts of particles of ``species``, one energy change each."""
        self.tally("move", species, accepted)
        state.n_evaluations += species.numel()

    def attempt(self, state) -> torch.Tensor:
        """One displacement attempt in every chain; returns the (B,) accepted mask."""
        n_conf, n, _ = state.shape
        rows = torch.arange(n_conf, device=state.x.device)
        index = torch.randint(n, (n_conf,), generator=state.generator, device=state.x.device)
        species = state.types[rows, index]
        new = self.propose(state, state.x[rows, index], species)
        delta = state.target.energy_change_move(state.x, state.t(), index, new).to(state.x.dtype)
        ok = state.accept(delta)
        state.move(index, new, ok, delta)
        self.record(state, species, ok)
        return ok

    def adapt(self, counts: dict) -> None:
        """Tune the steps from one burn-in sweep's ``counts["move"]`` (see the module docstring)."""
        tried, accepted = counts["move"]
        rate = accepted.to(self.step.dtype) / tried.clamp_min(1).to(self.step.dtype)
        factor = torch.ones_like(self.step)
        factor[(tried > 0) & (rate > self.window[1])] = 1.1
        factor[(tried > 0) & (rate < self.window[0])] = 0.9
        self.step = self.step * factor.to(self.step.device)
        if self.box is not None:
            self.step = self.step.clamp(max=float(self.box.min()) / 4)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "step": self.step.clone()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.step = state["step"].clone().to(self.step.device)
