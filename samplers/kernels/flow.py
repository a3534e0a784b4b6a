"""Independent Metropolis-Hastings with flow proposals: every chain proposes a whole new configuration.

A call draws x' from the flow (:class:`samplers.flows.model.ParticleFlow`) for every chain and accepts it with

    min(1, exp(-beta (U(x') - U(x))) q(x, k) / q(x', k')),

the independence sampler's rule on the flow's extended space (x, k), k the pinned particle
(:mod:`samplers.flows.frame`). Before the proposal the current chain's k is drawn afresh, uniformly among the
particles of the pinned species: that is an exact Gibbs update of k, whose conditional r(k | x) = 1 / n_pin does
not depend on x, so the pair of steps leaves p(x) r(k | x) invariant, and p(x) after k is forgotten. Local kernels
of the same driver change x only, which keeps p(x) invariant too; so any mixture with them (the flow-hybrid sampler)
is exact. The accepted configuration comes in the flow's particle order (pinned particle first, then by species):
a relabelling, which changes neither the energy nor the label-invariant overlap that the driver records.

With a Boltzmann prior at T_high (:mod:`samplers.flows.prior`), whose draws come from Monte Carlo chains, the
proposal of chain b is the flow's image of prior chain b, and an accepted proposal hands the flow's inverse image of
the old configuration to that prior chain: an exchange between the two temperatures through the flow, exact for the
same ratio (the prior module argues it). With the uniform prior the draws are i.i.d. and nothing is handed back.

One call counts for N attempts (a sweep) and N energy evaluations per chain (a full energy of the proposal); a
Boltzmann prior's own sweeps between draws are its cost, counted by its chains, not here.
"""

from __future__ import annotations

import torch

from samplers.kernels.base import Counting
from samplers.target import SamplerInputError


class FlowProposal(Counting):
    """Independent Metropolis-Hastings proposals from a trained flow; counts under ``"flow"`` (one group).

    Parameters
    ----------
    state : ChainState
        Chains in a periodic box whose composition is the flow's.
    flow : ParticleFlow
        A trained flow (a temperature-conditioned one is evaluated at the chains' temperature).
    """

    name = "flow"
    options = frozenset({"flow"})

    def __init__(self, state, *, flow):
        if flow is None:
            raise SamplerInputError("flow proposals need a trained flow (flow=...).")
        flow.frame.check(state.x, state.types)
        if state.box is None or not torch.allclose(state.box.cpu(), flow.frame.box.to(state.box.dtype), rtol=1e-9):
            raise SamplerInputError(f"the chains' box {None if state.box is None else state.box.tolist()} is not "
                                    f"the flow's {flow.frame.box.tolist()}; train a flow for this box.")
        self.flow = flow
        self.temperature = state.temperature if flow.settings.temperature_conditioned else None
        self.attempts = state.shape[1]
        self.counts = {"flow": torch.zeros(2, 1, dtype=torch.int64)}

    def state_dict(self) -> dict:
        """Counts and, with a Boltzmann prior, its chains (they are part of the joint chain)."""
        return {**super().state_dict(), "prior": self.flow.flow.q0.chain_state()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.flow.flow.q0.load_chain_state(state["prior"])

    @torch.no_grad()
    def attempt(self, state) -> torch.Tensor:
        """One proposal per chain; returns the (B,) accepted mask."""
        n_conf, n, _ = state.shape
        prior = self.flow.flow.q0
        log_q_now, z_now = self.flow.pull(state.x, state.types, self.temperature, generator=state.generator)
        z, log_prior = prior.exchange_draw(n_conf, state.generator)
        x, types, log_q_new = self.flow.push(z, log_prior, self.temperature, generator=state.generator)
        x, types = x.to(state.x), types.to(state.types.device)
        energy = state.target.energy(x, state.t(types)).to(state.energy)
        log_ratio = -state.beta * (energy - state.energy) + (log_q_now - log_q_new).to(state.energy)
        ok = state.accept_log_ratio(torch.nan_to_num(log_ratio, nan=float("-inf")))
        state.x = torch.where(ok[:, None, None], x, state.x)
        state.types = torch.where(ok[:, None], types, state.types)
        state.energy = torch.where(ok, energy, state.energy)
        prior.exchange_receive(ok, z_now)
        self.tally("flow", torch.zeros(n_conf, dtype=torch.int64), ok)
        state.n_evaluations += n_conf * n
        return ok
