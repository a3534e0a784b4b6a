"""Metropolis Monte Carlo of B chains: single-particle displacements and species swaps, as a driver's kernel mix.

:class:`MetropolisMC` only chooses kernels (:mod:`samplers.kernels`, where each one's detailed balance is argued) and
hands them to :class:`samplers.driver.Driver`, which runs sweeps, burn-in, records and checkpoints:

- ``engine="compiled"`` (or ``"auto"`` where it applies: targets with ``pair_coefficients()`` in a periodic box,
  float64 on the CPU, sequential updates): :class:`samplers.kernels.CompiledSweeps`, whole sweeps in numba;
- otherwise a swap with probability ``p_swap`` (:class:`samplers.kernels.Swap`) and else a displacement, of one
  particle (``update="sequential"``, :class:`samplers.kernels.Displacement`) or of one particle per cell of a colour
  (``update="checkerboard"``, :class:`samplers.kernels.Checkerboard`, for large N);
- with a trained ``flow`` and ``p_flow`` > 0, a kernel call is an independent Metropolis-Hastings proposal of whole
  configurations (:class:`samplers.kernels.FlowProposal`) with probability ``p_flow`` (``p_flow`` = 1: flow moves
  only), the kernels above otherwise: the flow-hybrid sampler.
"""

from __future__ import annotations

from samplers.driver import Driver, build_kernels
from samplers.kernels import Checkerboard, CompiledSweeps, Displacement, FlowProposal, Swap, swap_share
from samplers.state import ChainState
from samplers.target import SamplerInputError

UPDATES = {"sequential": Displacement, "checkerboard": Checkerboard}
ENGINES = ("auto", "torch", "compiled")


class MetropolisMC(Driver):
    """Metropolis displacement and swap moves of B chains of a :class:`samplers.target.Target`.

    Parameters
    ----------
    target : Target
    positions : Tensor (B, N, d)
        Start of the chains (B >= 1); copied.
    types : Tensor (N,) or (B, N) or None
        Species (int64, 0-based); None when the target ignores species (all particles are species 0).
    temperature : float
        k_B T > 0 (beta = 1 / T).
    step : float or sequence of float
        Half-width of the displacement cube, one per species or one for all.
    p_swap : float
        Probability that an attempt is a swap move.
    swap_pairs : sequence of (int, int) or None
        Species pairs that swaps exchange (default: ``target.swap_pairs``); only with ``p_swap`` > 0.
    seed : int or torch.Generator
    acceptance_window : (float, float)
        Target window of the displacement acceptance during burn-in adaptation.
    update : {"sequential", "checkerboard"}
        One particle per chain per attempt, or one particle per cell of a colour (needs a periodic box and
        ``target.interaction_range``).
    cells : int or None
        Checkerboard cells per box edge (checkerboard updates only; see :class:`samplers.kernels.Checkerboard`).
    record_overlap : bool
        Record the overlap with the start of production in :meth:`run` (O(N) per chain and record).
    engine : {"auto", "torch", "compiled"}
        How sweeps run (see the module docstring); "compiled" raises where it does not apply.
    flow : samplers.flows.ParticleFlow or None
        A trained flow for flow proposals.
    p_flow : float
        Probability that a kernel call is a flow proposal (each counts as a sweep; needs ``flow``).
    """

    def __init__(self, target, positions, types=None, *, temperature: float, step=0.1, p_swap: float = 0.0,
                 swap_pairs=None, seed=0, acceptance_window=(0.3, 0.5), update: str = "sequential", cells=None,
                 record_overlap: bool = True, engine: str = "auto", flow=None, p_flow: float = 0.0):
        state = ChainState(target, positions, types, temperature=temperature, seed=seed)
        self.p_swap = swap_share(p_swap, swap_pairs)
        if update not in UPDATES:
            raise SamplerInputError(f"update must be one of {tuple(UPDATES)}; got {update!r}.")
        if engine not in ENGINES:
            raise SamplerInputError(f"engine must be one of {ENGINES}; got {engine!r}.")
        options = {"step": step, "acceptance_window": acceptance_window, "cells": cells, "swap_pairs": swap_pairs}
        options = {name: value for name, value in options.items() if value is not None}
        if engine == "compiled" and update != "sequential":
            raise SamplerInputError("the compiled engine runs sequential updates only; use engine='torch' for "
                                    f"{update} updates.")
        if engine == "compiled" or (engine == "auto" and update == "sequential"
                                    and not CompiledSweeps.missing(state)):
            mix = [(CompiledSweeps, 1.0)]
            options["p_swap"] = self.p_swap
        else:
            mix = ([(Swap, self.p_swap)] if self.p_swap > 0 else []) + [(UPDATES[update], 1.0 - self.p_swap)]
        if not 0.0 <= float(p_flow) <= 1.0 or (float(p_flow) > 0) != (flow is not None):
            raise SamplerInputError(f"flow proposals need a flow and p_flow in (0, 1]; got p_flow = {p_flow} and "
                                    f"{'a' if flow is not None else 'no'} flow.")
        if flow is not None:
            local = [(kind, p * (1.0 - float(p_flow))) for kind, p in mix] if float(p_flow) < 1.0 else []
            mix = [(FlowProposal, float(p_flow))] + local
            options = {"flow": flow, **(options if local else {})}
        super().__init__(state, build_kernels(state, mix, options), record_overlap=record_overlap)
