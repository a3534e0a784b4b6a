"""The `glassgen simulate` workflow: melt at a high temperature, cool, then run at the target temperature (NVT)."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import torch

from glassgen.dynamics.integrators import BussiNVT, Callback, MDState, init_state, run
from glassgen.dynamics.velocities import _temperatures, maxwell_boltzmann
from glassgen.errors import InvalidInputError
from glassgen.progress import Stage
from glassgen.systems.forcefield import ForceField, check_overlaps
from glassgen.systems.system import System

#: Steps between updates of the bath temperature while cooling (a linear ramp in steps of this size).
RAMP_CHUNK = 10


class Equilibrated(NamedTuple):
    """What :func:`equilibrate` returns: unpack as ``system, velocities = equilibrate(...)``.

    system : System with positions wrapped into the box, batched as the input; velocities : Tensor of its shape.
    """

    system: System
    velocities: torch.Tensor


def equilibrate(system: System, temperature, n_steps: int, *, dt: float = 0.005, seed=0,
                melt_temperature: float = 2.0, melt_steps: int = 0, cool_steps: int = 0, tau: float | None = None,
                thermostat_interval: int = 1, velocities: torch.Tensor | None = None,
                dtype: torch.dtype | None = None, progress: bool = True, callback: Callback | None = None,
                every: int = 1, forcefield: ForceField | None = None) -> Equilibrated:
    """Melt, cool and run B configurations at ``temperature`` with Bussi NVT dynamics.

    The stages, each optional but the last: ``melt_steps`` at ``melt_temperature``; ``cool_steps`` with the bath
    temperature lowered linearly from ``melt_temperature`` to ``temperature``; ``n_steps`` at ``temperature``.

    Parameters
    ----------
    system : System
        Start, one configuration (N, d) or a batch (B, N, d), e.g. from ``lattice_start``.
    temperature : float or sequence of B floats
        Final temperature (one per configuration allowed).
    n_steps : int
        Steps at ``temperature``.
    dt : float
        Time step.
    seed : int or torch.Generator
        Seeds the initial velocities and the thermostat noise: the same seed gives the same result.
    melt_temperature, melt_steps, cool_steps
        The melting and cooling stages (KA3D melts near T = 1.03 at density 1.2; the default T = 2.0 is a liquid).
    tau : float or None
        Thermostat coupling time (default ``100 * dt``).
    thermostat_interval : int
        Apply the thermostat every this many steps (see :class:`BussiNVT`; 10 saves ~20% at N = 1000).
    velocities : Tensor or None
        Initial velocities (shape of the positions); default Maxwell-Boltzmann at the first stage's temperature.
    dtype : torch.dtype or None
        Run in this floating-point type (default: that of the positions; float32 is faster).
    progress : bool
        Show each stage on stderr with its own steps ("melt T=2", "cool 2->0.8", "equilibrate T=0.8").
    callback : callable (step, state) -> bool or None, optional
        Called every ``every`` steps of the last stage, ``step`` counted from the start of that stage; returning
        True ends the run. The state is an :class:`MDState`; positions there are unwrapped.
    every : int
        Interval of the callback in steps.
    forcefield : ForceField or None
        Reuse a force field built for this system (its neighbour list is kept).

    Returns
    -------
    Equilibrated
        ``(system, velocities)`` at the end, positions wrapped into the box, in the same layout as the input.
    """
    for name, value in (("n_steps", n_steps), ("melt_steps", melt_steps), ("cool_steps", cool_steps)):
        if int(value) < 0:
            raise InvalidInputError(f"{name} must be a number of steps >= 0; got {value}.")
    dtype = dtype or system.positions.dtype
    x = system.batched_positions().to(dtype)
    n_conf, n, dim = x.shape
    target = _temperatures(temperature, n_conf, torch.float64, "cpu")
    melt = float(melt_temperature)
    if (melt_steps or cool_steps) and not melt > 0:
        raise InvalidInputError(f"melt_temperature must be positive; got {melt_temperature}.")
    generator = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    ff = forcefield or ForceField(system.model, system.box, system.types)
    check_overlaps(ff, x, "MD would blow up: start from glassgen.systems.lattice_start or random_start, or "
                   "minimise first.")
    first = melt if (melt_steps or cool_steps) else target
    if velocities is None:
        v = maxwell_boltzmann(n_conf, n, dim, first, generator, dtype, x.device)
    else:
        v = torch.as_tensor(velocities)
        if v.numel() != x.numel():
            raise InvalidInputError(
                f"velocities must have the shape of the positions {tuple(system.positions.shape)}; "
                f"got {tuple(v.shape)}."
            )
        v = v.reshape(x.shape).to(dtype=dtype, device=x.device)
    state = init_state(ff, x, v)
    nvt = BussiNVT(ff, dt, first, tau=tau, generator=generator, interval=thermostat_interval)
    with Stage(f"melt T={melt:.4g}", int(melt_steps), enabled=progress) as bar:
        state = _advance(nvt, state, int(melt_steps), bar)
    with Stage(f"cool {melt:.4g}->{_label(target)}", int(cool_steps), enabled=progress) as bar:
        for start in range(0, int(cool_steps), RAMP_CHUNK):
            chunk = min(RAMP_CHUNK, int(cool_steps) - start)
            fraction = (start + 0.5 * chunk) / int(cool_steps)
            nvt.temperature = melt + fraction * (target - melt)
            state = _advance(nvt, state, chunk, bar)
    nvt.temperature = target
    with Stage(f"equilibrate T={_label(target)}", int(n_steps), enabled=progress) as bar:
        state = _advance(nvt, replace(state, step=0), int(n_steps), bar, callback, every)
    positions = torch.remainder(state.positions, ff.box.to(dtype=dtype, device=x.device))
    v = state.velocities
    if not system.is_batched:
        positions, v = positions[0], v[0]
    return Equilibrated(System(positions, system.types, system.box.to(dtype), system.model), v)


def _advance(integrator, state: MDState, n_steps: int, bar, callback=None, every: int = 1) -> MDState:
    """``run`` in chunks of at most 100 steps, advancing the stage ``bar`` after each (``run``'s energy at the end of
    each chunk also catches a blow-up within 100 steps)."""
    done = 0
    while done < n_steps:
        chunk = min(100, n_steps - done)
        before = state.step
        state = run(integrator, state, chunk, callback=callback, every=every)
        bar.advance(state.step - before)
        done += chunk
        if state.step - before < chunk:  # the callback asked to stop
            break
    return state


def _label(temperature: torch.Tensor) -> str:
    values = sorted(set(temperature.tolist()))
    return f"{values[0]:.4g}" if len(values) == 1 else f"{values[0]:.4g}..{values[-1]:.4g}"
