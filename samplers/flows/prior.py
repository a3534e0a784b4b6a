"""A higher-temperature Boltzmann distribution as a flow's prior, sampled by the Monte Carlo core.

A flow from the uniform torus must learn the whole liquid structure; a flow from the same liquid at a higher
temperature T_high only has to map T_high to T (Dibak et al.; Invernizzi et al.; Jung, Biroli, Berthier 2024 did
this for KA2D). :class:`BoltzmannPrior` draws from exp(-U / T_high) with B Monte Carlo chains of the target
(:class:`samplers.mc.MetropolisMC`: compiled swap sweeps where the target allows), advanced ``sweeps_between``
sweeps between draws, and evaluates the prior density of any configuration from its energy. Its log-density,

    log p_high(z) = -U(x(z)) / T_high - log |d angles / d x| (the frame's constant),

is the Boltzmann factor without its normaliser Z_high, chosen so that the flow's q(x, k) / r(k | x) is
exp(-U / T_high) exactly when the flow is the identity. Consequences:

- importance weights and their self-normalised averages are unchanged (a constant cancels);
- the mean weight estimates Z(T) / Z(T_high), so ``FlowSamples.log_partition`` gives the free-energy difference
  beta F(T) - beta_high F(T_high) = -log Z(T) + log Z(T_high) directly;
- the draws of a Markov chain are correlated and only as equilibrated as its burn-in (``burn_in`` sweeps at the
  first draw): reweighted averages stay consistent (stationary draws);
- Metropolis-Hastings with flow proposals stays exact through an exchange (:meth:`exchange_draw`,
  :meth:`exchange_receive`): chain b of the target proposes x' = f(y_b) from prior chain b, and on acceptance the
  prior chain takes y_b' = f^-1(x_b). The map (x, y) -> (f(y), f^-1(x)) is an involution of the joint space with
  target p(x) p_high(y), whose acceptance ratio is that of the independence sampler, p(x') q(x) / (p(x) q(x'));
  the prior chains' own sweeps keep p_high. It is replica exchange between T and T_high through the flow.
"""

from __future__ import annotations

import normflows as nf
import torch

from samplers.flows.energy import DensePairEnergy
from samplers.flows.frame import PinnedFrame
from samplers.target import SamplerInputError


class BoltzmannPrior(nf.distributions.BaseDistribution):
    """exp(-U / T_high) over the flow's angles, drawn by Monte Carlo chains (see the module docstring).

    Parameters
    ----------
    frame : PinnedFrame
        The flow's frame.
    target : Target
        The system (periodic box); its energy defines the prior.
    temperature : float
        T_high.
    positions : Tensor (B, N, d)
        Starts of the B chains (non-overlapping; e.g. random starts).
    types : Tensor (N,) or (B, N)
        Their species.
    sweeps_between : int
        Sweeps of every chain between two draws.
    burn_in : int
        Sweeps before the first draw (step sizes adapted).
    seed : int
    """

    def __init__(self, frame: PinnedFrame, target, temperature: float, positions, types, *, sweeps_between: int = 10,
                 burn_in: int = 500, seed: int = 0):
        super().__init__()
        from samplers.mc import MetropolisMC

        if not float(temperature) > 0 or int(sweeps_between) < 1 or int(burn_in) < 0:
            raise SamplerInputError(f"the prior needs T_high > 0, sweeps_between >= 1 and burn_in >= 0; got "
                                    f"{temperature}, {sweeps_between}, {burn_in}.")
        self.frame, self.temperature = frame, float(temperature)
        self.sweeps_between, self.burn_in = int(sweeps_between), int(burn_in)
        self.chains = MetropolisMC(target, positions, types, temperature=self.temperature,
                                   p_swap=0.2 if target.swap_pairs else 0.0, seed=seed, record_overlap=False)
        has_table = getattr(target, "pair_coefficients", lambda: None)() is not None
        self.energy = DensePairEnergy(target).energy if has_table else target.energy
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.burnt_in = False
        self.last_chains = None

    def __repr__(self) -> str:
        return f"BoltzmannPrior(T_high = {self.temperature:g}, {self.chains.state.shape[0]} Monte Carlo chains)"

    def forward(self, num_samples: int = 1, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``num_samples`` draws (angles (n, N - 1, d)) and their log-densities (n,), float64."""
        if not self.burnt_in:
            self.chains.sweep(self.burn_in, adapt=True)
            self.burnt_in = True
        angles, energies, chains = [], [], []
        while sum(a.shape[0] for a in angles) < num_samples:
            self.chains.sweep(self.sweeps_between)
            x, types = self.chains.x, self.chains.types
            pins = self.frame.choose_pins(types, self.generator)
            angles.append(self.frame.to_angles(x, types, pins)[0])
            energies.append(self.chains.energy.clone())
            chains.append(torch.arange(x.shape[0]))
        z = torch.cat(angles)[:num_samples]
        energy = torch.cat(energies)[:num_samples]
        self.last_chains = torch.cat(chains)[:num_samples]  # which chain each draw came from (for errors)
        return z, -energy / self.temperature - self.frame.log_jacobian

    def exchange_draw(self, n: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The current states of prior chains 0..n-1 after ``sweeps_between`` sweeps, as draws (z, log p) for
        Metropolis-Hastings exchanges with n target chains (see the module docstring)."""
        if n > self.chains.state.shape[0]:
            raise SamplerInputError(f"{n} target chains need as many prior chains; the prior has "
                                    f"{self.chains.state.shape[0]}. Attach it with more chains.")
        if not self.burnt_in:
            self.chains.sweep(self.burn_in, adapt=True)
            self.burnt_in = True
        self.chains.sweep(self.sweeps_between)
        x, types = self.chains.x[:n], self.chains.types[:n]
        z, _ = self.frame.to_angles(x, types, self.frame.choose_pins(types, self.generator))
        return z, -self.chains.energy[:n] / self.temperature - self.frame.log_jacobian

    def exchange_receive(self, accepted: torch.Tensor, z: torch.Tensor) -> None:
        """Prior chains b where ``accepted[b]`` take the configurations z[b] (pinned frame), at random translations:
        the second half of an accepted exchange."""
        rows = accepted.nonzero()[:, 0]
        if rows.numel() == 0:
            return
        state = self.chains.state
        shift = torch.rand((rows.numel(), self.frame.dim), generator=self.generator, dtype=z.dtype) * self.frame.box
        x = self.frame.to_positions(z[rows], shift.to(z))
        types = self.frame.types.to(state.types.device).expand(rows.numel(), -1)
        state.x[rows] = x.to(state.x)
        state.types[rows] = types
        state.energy[rows] = state.target.energy(x.to(state.x), types).to(state.energy)
        state.n_evaluations += rows.numel() * state.shape[1]

    def chain_state(self) -> dict:
        """What the prior's future draws depend on (its chains, generator and burn-in), for exact resumption.
        (Not ``state_dict``: the flow's own ``state_dict`` recurses into its prior as a module.)"""
        return {"chains": self.chains.state_dict(), "generator": self.generator.get_state(),
                "burnt_in": self.burnt_in}

    def load_chain_state(self, state: dict) -> None:
        """Restore a :meth:`chain_state` of a prior with the same target and number of chains."""
        self.chains.load_state_dict(state["chains"])
        self.generator.set_state(state["generator"])
        self.burnt_in = bool(state["burnt_in"])

    def log_prob(self, z: torch.Tensor, context=None) -> torch.Tensor:
        """log p_high of angles (B, N - 1, d) (float64), the energy of the configuration they describe."""
        x = self.frame.to_positions(z, torch.zeros(z.shape[0], z.shape[2], dtype=z.dtype, device=z.device))
        types = self.frame.types.to(z.device).expand(z.shape[0], -1)
        return -self.energy(x, types) / self.temperature - self.frame.log_jacobian
