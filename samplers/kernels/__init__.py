"""Monte Carlo kernels: each a small class behind one protocol, so that a new move is one new file.

A kernel proposes and accepts moves of B chains (a :class:`samplers.state.ChainState`) so that each call leaves the
target density invariant; the driver (:class:`samplers.driver.Driver`) mixes kernels with fixed probabilities drawn
independently of the state, which keeps that invariance, and owns sweeps, burn-in, records, time and checkpoints.
The detailed-balance argument of each kernel is in its module docstring.

Kernels here: :class:`Displacement` (one particle per chain per call), :class:`Checkerboard` (one particle per cell
of a colour), :class:`Swap` (the species of two particles), :class:`CompiledSweeps` (whole sweeps of displacements
and swaps in numba), :class:`PolicySweeps` (the same for the moves of a learned policy, compiled policy-guided
Monte Carlo), :class:`Exchange` (replica exchange between the rungs of a temperature ladder) and
:class:`FlowProposal` (independent Metropolis-Hastings with a trained flow); the torch policy-guided moves live with
their policy in :mod:`samplers.pgmc`.
"""

from samplers.kernels.base import Counting, Kernel
from samplers.kernels.checkerboard import Checkerboard
from samplers.kernels.displacement import Displacement
from samplers.kernels.exchange import Exchange
from samplers.kernels.flow import FlowProposal
from samplers.kernels.pair_sweeps import CompiledSweeps
from samplers.kernels.policy_sweeps import PolicySweeps
from samplers.kernels.swap import Swap, SwapPairs, swap_share

__all__ = ["Kernel", "Counting", "Displacement", "Checkerboard", "Swap", "SwapPairs", "swap_share", "CompiledSweeps",
           "PolicySweeps", "Exchange", "FlowProposal"]
