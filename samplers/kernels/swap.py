"""Species swaps: exchange the species of two particles, one attempt per chain per call (torch).

A species pair (a, b) is chosen uniformly among the allowed pairs present in the chain, one particle of each species
uniformly, and their species are exchanged with min(1, exp(-beta dU)). The composition of each chain is conserved,
so the pairs present, and the numbers of particles of a and of b, are the same before and after: the proposal is
symmetric and this is Metropolis.
"""

from __future__ import annotations

import torch

from samplers.kernels.base import Counting
from samplers.target import SamplerInputError, swapped


def swap_share(p_swap, swap_pairs=None) -> float:
    """``p_swap`` as a checked probability; ``swap_pairs`` is refused without swaps (it would be dropped)."""
    if not 0.0 <= float(p_swap) <= 1.0:
        raise SamplerInputError(f"p_swap must be a probability in [0, 1]; got {p_swap}.")
    if swap_pairs is not None and not float(p_swap) > 0:
        raise SamplerInputError("swap_pairs applies to swap moves only; set p_swap > 0 or drop swap_pairs.")
    return float(p_swap)


class SwapPairs:
    """The species pairs that swaps may exchange, checked against the chains, and the uniform choice among those
    present in each chain (shared by :class:`Swap` and the policy-guided swaps of :mod:`samplers.pgmc`).

    Parameters
    ----------
    state : ChainState
    swap_pairs : sequence of (int, int) or None
        Default: ``target.swap_pairs``.
    """

    def __init__(self, state, swap_pairs=None):
        source = state.target.swap_pairs if swap_pairs is None else swap_pairs
        self.pairs = tuple(tuple(int(a) for a in p) for p in source)
        if not self.pairs:
            raise SamplerInputError(
                "swap moves need species pairs to exchange, but this target has none (swap_pairs is empty); "
                "set p_swap=0 or pass swap_pairs.")
        n_types = state.n_types
        if any(a == b or not (0 <= a < n_types and 0 <= b < n_types) for a, b in self.pairs):
            raise SamplerInputError(f"swap_pairs must be pairs of distinct species 0..{n_types - 1}; "
                                    f"got {self.pairs}.")
        present = torch.stack([(state.types == s).any(1) for s in range(n_types)], 1)  # (B, T)
        self.present = torch.stack([present[:, a] & present[:, b] for a, b in self.pairs], 1).to(state.x.dtype)
        if not bool((self.present.sum(1) > 0).all()):
            raise SamplerInputError(f"some chains hold no particles of any swap pair {self.pairs}; swaps cannot move.")
        self.table = torch.tensor(self.pairs, device=state.x.device)

    def __len__(self) -> int:
        return len(self.pairs)

    def choose(self, generator: torch.Generator, repeat: int = 1):
        """Pair indices (B repeat,), uniform among those present in each chain (chain b's are rows b repeat ...),
        and their species a and b."""
        pair = torch.multinomial(self.present.repeat_interleave(repeat, 0), 1, generator=generator)[:, 0]
        return pair, self.table[pair, 0], self.table[pair, 1]


class Swap(Counting):
    """Metropolis species swaps of B chains; ``counts["swap"]`` per allowed pair.

    Parameters
    ----------
    state : ChainState
    swap_pairs : sequence of (int, int) or None
        Species pairs to exchange (default: ``target.swap_pairs``).
    """

    name = "swap"
    options = frozenset({"swap_pairs"})
    attempts = 1

    def __init__(self, state, *, swap_pairs=None):
        self.pairs = SwapPairs(state, swap_pairs)
        self.counts = {"swap": torch.zeros(2, len(self.pairs), dtype=torch.int64)}

    def attempt(self, state) -> torch.Tensor:
        """One swap attempt in every chain; returns the (B,) accepted mask."""
        pair, a, b = self.pairs.choose(state.generator)
        pick = lambda s: torch.multinomial((state.types == s[:, None]).to(state.x.dtype), 1,  # noqa: E731
                                           generator=state.generator)[:, 0]
        i, j = pick(a), pick(b)
        delta = state.target.energy_change_swap(state.x, state.types, i, j).to(state.x.dtype)
        ok = state.accept(delta)
        state.retype(swapped(state.types, i, j), ok, delta)
        self.tally("swap", pair, ok)
        state.n_evaluations += 2 * ok.numel()
        return ok
