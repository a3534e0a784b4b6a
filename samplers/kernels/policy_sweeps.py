"""Whole sweeps of a move policy's displacements and swaps in numba: the compiled engine of policy-guided MC.

:class:`PolicySweeps` runs N attempts per chain in one call with :class:`samplers.compiled_policy.PolicyPairSweeps`:
each attempt is a swap with probability ``p_swap`` and a displacement otherwise, with the proposals and
Metropolis-Hastings ratios of :class:`samplers.pgmc.PolicyDisplacements` and :class:`samplers.pgmc.PolicySwaps`, so
the chain is theirs in law (not bit for bit; seeds are drawn from the chains' generator per call, so seeds, state
dicts and exact resumption work as for :class:`samplers.kernels.CompiledSweeps`). The policy is read at every call:
fixed during a call, so each call keeps the target density, also between the gradient steps of training.

Local energies: the kernel keeps each chain's local energies between calls (a fresh evaluation costs about half a
sweep), with a copy of the configuration they belong to; a call whose chains differ from that copy (loaded,
recomputed, moved by another kernel) evaluates them afresh, and so does every ``REFRESH``-th call, so that the
round-off of the updates (each accepted move adds its neighbours' pair-energy changes) cannot accumulate. A fresh
evaluation counts N energy evaluations per chain, as ``ChainState.recompute_energy`` does.
"""

from __future__ import annotations

import numpy as np
import torch

from samplers.kernels.base import Counting
from samplers.kernels.pair_sweeps import pair_table
from samplers.target import SamplerInputError

#: Calls between fresh evaluations of the local energies.
REFRESH = 100


class PolicySweeps(Counting):
    """One call = one sweep (N attempts per chain) of policy-guided displacements and swaps, compiled.

    Parameters
    ----------
    state : ChainState
        Float64 chains on the CPU in a periodic box of a target with ``pair_coefficients()``.
    policy : samplers.pgmc.MovePolicy
        Read at every call (shared, not copied); its ``max_scale`` at most a quarter of the smallest box edge.
    p_swap : float in [0, 1]
        Probability that an attempt is a swap.
    pairs : samplers.kernels.SwapPairs or ()
        The swap pairs (used when ``p_swap`` > 0).

    Attributes
    ----------
    sweeps : samplers.compiled_policy.PolicyPairSweeps
    """

    name = "compiled policy"
    engine = "compiled"
    options = frozenset()

    def __init__(self, state, policy, p_swap: float = 0.0, pairs=()):
        from samplers.compiled_policy import PolicyPairSweeps

        table = pair_table(state)
        if policy.log_max_scale is None:
            raise SamplerInputError("the compiled engine needs a policy with max_scale (at most a quarter of the "
                                    "smallest box edge).")
        self.sweeps = PolicyPairSweeps(table, state.box.numpy())
        self.policy, self.p_swap, self.pairs = policy, float(p_swap), pairs
        self.attempts = state.shape[1]
        self.counts = {"move": torch.zeros(2, state.n_types, dtype=torch.int64)}
        if self.pairs:
            self.counts["swap"] = torch.zeros(2, len(self.pairs), dtype=torch.int64)
        self.calls = 0
        self.local = None  # (positions, species, local energies) numpy copies, or None

    @property
    def step(self) -> torch.Tensor:
        """The policy's scales exp(a_s)."""
        return self.policy.scales

    def table(self) -> np.ndarray:
        """The policy as a (3, T) table: log scales, energy slopes, swap biases (zeros where absent)."""
        out = np.zeros((3, self.policy.n_types))
        for row, parameter in enumerate((self.policy.log_scale, self.policy.energy_slope, self.policy.swap_bias)):
            if parameter is not None:
                out[row] = parameter.detach().cpu().numpy()
        return out

    def local_energies(self, state) -> np.ndarray:
        """The chains' local energies (B, N): the kept ones if they belong to the chains' configuration and no
        refresh is due, else fresh ones (counted as N evaluations per chain)."""
        x, types = state.x.numpy(), state.types.numpy()
        kept = self.local
        if (kept is not None and self.calls % REFRESH and kept[0].shape == x.shape and np.array_equal(kept[0], x)
                and np.array_equal(kept[1], types)):
            return kept[2]
        state.n_evaluations += x.shape[0] * x.shape[1]
        return self.sweeps.local_energies(x, types)

    def attempt(self, state) -> None:
        """One sweep of every chain in numba, from a seed drawn from the chains' generator."""
        seed = int(torch.randint(2**63 - 1, (1,), generator=state.generator))
        state.x, state.types, state.energy = state.x.contiguous(), state.types.contiguous(), state.energy.contiguous()
        local = self.local_energies(state)
        moves = np.zeros((2, state.n_types), dtype=np.int64)
        swaps = np.zeros((2, len(self.pairs)), dtype=np.int64)
        pairs = self.pairs.pairs if self.pairs else ()
        x, types = state.x.numpy(), state.types.numpy()
        self.sweeps.sweep(x, types, state.energy.numpy(), local, self.table(), self.policy.log_max_scale,
                          state.beta, self.p_swap, pairs, self.attempts, seed, moves, swaps)
        self.local = (x.copy(), types.copy(), local)
        self.calls += 1
        self.counts["move"] += torch.from_numpy(moves)
        if self.pairs:
            self.counts["swap"] += torch.from_numpy(swaps)
        state.n_evaluations += int(moves[0].sum()) + 2 * int(swaps[0].sum())

    def state_dict(self) -> dict:
        """Counts, calls and the kept local energies with their configuration (so that a resumed chain is the
        same bit for bit)."""
        local = None if self.local is None else tuple(torch.from_numpy(a.copy()) for a in self.local)
        return {**super().state_dict(), "calls": self.calls, "local": local}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.calls = state["calls"]
        self.local = None if state["local"] is None else tuple(t.numpy().copy() for t in state["local"])
