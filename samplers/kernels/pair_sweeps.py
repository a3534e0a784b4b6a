"""Whole sweeps of displacements and swaps in numba, for pair targets in a periodic box.

:class:`samplers.compiled.PairSweeps` runs N attempts per chain in one call (cell lists of edge r_c / 2, one
particle against the 5^d cells around it): 12x (64 chains of N = 44) to 400x (one chain of N = 1290) the attempts
per second of the torch kernels' many small tensor operations per attempt. Each attempt is a swap with probability
``p_swap`` and a displacement otherwise, with the proposals and acceptance rules of
:class:`samplers.kernels.Displacement` and :class:`samplers.kernels.Swap`, so the chain is theirs in law (not bit
for bit: the random numbers come from the kernel's own generator, seeded per sweep from the chains' generator, so
seeds, state dicts and exact resumption work as for the torch kernels). It needs a target that supplies
``pair_coefficients()``, positions on the CPU in float64 and a periodic box; step sizes adapt in burn-in as for
displacements.
"""

from __future__ import annotations

import numpy as np
import torch

from samplers.kernels.displacement import Displacement
from samplers.kernels.swap import SwapPairs
from samplers.target import SamplerInputError


def pair_table(state):
    """The target's compiled pair table for these chains, or a SamplerInputError naming what compiled sweeps lack."""
    missing = CompiledSweeps.missing(state)
    if missing:
        raise SamplerInputError(f"the compiled engine needs {', '.join(missing)}; use engine='torch'.")
    table = state.target.pair_coefficients()
    if table.n_types < state.n_types:
        raise SamplerInputError(f"the target's pair table has {table.n_types} species; the chains hold "
                                f"{state.n_types}.")
    return table


class CompiledSweeps(Displacement):
    """One call = one sweep (N attempts per chain) of displacements and swaps, compiled.

    Parameters
    ----------
    state : ChainState
    step, acceptance_window
        As for :class:`samplers.kernels.Displacement`.
    p_swap : float in [0, 1]
        Probability that an attempt is a swap.
    swap_pairs : sequence of (int, int) or None
        As for :class:`samplers.kernels.Swap` (used when ``p_swap`` > 0).

    Attributes
    ----------
    sweeps : samplers.compiled.PairSweeps
    """

    name = "compiled"
    engine = "compiled"
    options = Displacement.options | {"p_swap", "swap_pairs"}

    @staticmethod
    def missing(state) -> list[str]:
        """What compiled sweeps need that these chains or their target lack (empty when they apply)."""
        table = getattr(state.target, "pair_coefficients", None)
        return [why for why, bad in (
            ("pair_coefficients() from the target", table is None or table() is None),
            ("a periodic box", state.box is None), ("positions on the CPU", state.x.device.type != "cpu"),
            ("float64 positions", state.x.dtype != torch.float64)) if bad]

    def __init__(self, state, *, step=0.1, acceptance_window=(0.3, 0.5), p_swap: float = 0.0, swap_pairs=None):
        super().__init__(state, step=step, acceptance_window=acceptance_window)
        from samplers.compiled import PairSweeps

        self.sweeps = PairSweeps(pair_table(state), state.box.numpy())
        self.p_swap = float(p_swap)
        self.pairs = SwapPairs(state, swap_pairs) if self.p_swap > 0 else ()
        if self.pairs:
            self.counts["swap"] = torch.zeros(2, len(self.pairs), dtype=torch.int64)
        self.attempts = state.shape[1]

    def attempt(self, state) -> None:
        """One sweep of every chain in numba, from a seed drawn from the chains' generator."""
        seed = int(torch.randint(2**63 - 1, (1,), generator=state.generator))
        state.x, state.types, state.energy = state.x.contiguous(), state.types.contiguous(), state.energy.contiguous()
        moves = np.zeros((2, state.n_types), dtype=np.int64)
        swaps = np.zeros((2, len(self.pairs)), dtype=np.int64)
        pairs = self.pairs.pairs if self.pairs else ()
        self.sweeps.sweep(state.x.numpy(), state.types.numpy(), state.energy.numpy(), self.step.numpy(), state.beta,
                          self.p_swap, pairs, self.attempts, seed, moves, swaps)
        self.counts["move"] += torch.from_numpy(moves)
        if self.pairs:
            self.counts["swap"] += torch.from_numpy(swaps)
        state.n_evaluations += int(moves[0].sum()) + 2 * int(swaps[0].sum())
