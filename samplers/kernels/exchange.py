"""Replica exchange between the rungs of a temperature ladder (parallel tempering).

Its state is the ladder: the K :class:`samplers.state.ChainState` of B chains each, at strictly increasing
temperatures. Chain b at temperature k and chain b at temperature k + 1 exchange configurations (positions, species,
energies) with probability min(1, exp((beta_k - beta_{k+1}) (U_k - U_{k+1}))), which keeps the product of the K
Boltzmann densities invariant: the exchange proposal is symmetric and this ratio is the ratio of the products. Even
pairs (0-1, 2-3, ...) and odd pairs (1-2, 3-4, ...) take turns, so the pairs attempted at once are disjoint. The
kernel draws from its own generator, so that every rung keeps its own stream.
"""

from __future__ import annotations

import torch

from samplers.kernels.base import Counting


class Exchange(Counting):
    """Even/odd neighbour exchanges of a ladder of K rungs; ``counts["exchange"]`` per neighbouring pair (k, k + 1).

    Parameters
    ----------
    rungs : int
        K.
    seed : int
        Seeds the exchange generator.
    """

    name = "exchange"
    options = frozenset()
    attempts = 1

    def __init__(self, rungs: int, seed: int):
        self.generator = torch.Generator().manual_seed(int(seed))
        self.rounds = 0
        self.counts = {"exchange": torch.zeros(2, max(int(rungs) - 1, 0), dtype=torch.int64)}

    def attempt(self, ladder) -> torch.Tensor:
        """One round of exchange attempts between the even or the odd neighbouring pairs, in turn; returns the
        (K - 1, B) mask of the chains that exchanged between rungs k and k + 1 (False for pairs not tried), e.g.
        to follow replicas along the ladder."""
        accepted = torch.zeros(max(len(ladder) - 1, 0), ladder[0].shape[0], dtype=torch.bool)
        for k in range(self.rounds % 2, len(ladder) - 1, 2):
            low, high = ladder[k], ladder[k + 1]
            log_ratio = (low.beta - high.beta) * (low.energy - high.energy)
            u = torch.rand(log_ratio.shape, generator=self.generator, dtype=torch.float64)
            ok = (torch.log(u) < log_ratio.to(torch.float64).cpu()).to(low.x.device)
            for name in ("x", "types", "energy"):
                a, b = getattr(low, name), getattr(high, name)
                mask = ok.reshape(-1, *([1] * (a.ndim - 1)))
                setattr(low, name, torch.where(mask, b, a))
                setattr(high, name, torch.where(mask, a, b))
            self.counts["exchange"][:, k] += torch.tensor([ok.numel(), int(ok.sum())])
            accepted[k] = ok.cpu()
        self.rounds += 1
        return accepted

    def state_dict(self) -> dict:
        return {**super().state_dict(), "generator": self.generator.get_state(), "rounds": self.rounds}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.generator.set_state(state["generator"])
        self.rounds = state["rounds"]
