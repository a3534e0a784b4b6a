"""Velocity-Verlet MD (NVE) and the Bussi-Donadio-Parrinello thermostat (NVT) for B configurations at once.

The layout follows jax-md: a small state value (:class:`MDState`) and an integrator object with ``init`` and
``step``; :func:`run` is the driver that advances any integrator and calls an observer on a schedule (atooms habit).
Steps return a new state and never modify the one passed in, so a callback may keep references without copying.

Units: LJ reduced, m = k_B = 1. Kinetic temperatures use N_f = d (N - 1) (see :mod:`glassgen.dynamics.velocities`).

Thermostat
----------
:class:`BussiNVT` is stochastic velocity rescaling (Bussi, Donadio, Parrinello, J. Chem. Phys. 126, 014101 (2007)):
after each velocity-Verlet step the kinetic energy K of every configuration is replaced by an exact draw from the
Ornstein-Uhlenbeck-like process that relaxes it to the canonical Gamma(N_f / 2, T) distribution with coupling time
tau,

    K' = K + (1 - c) (K_T (R_1^2 + S) / N_f - K) + 2 R_1 sqrt(c (1 - c) K K_T / N_f),   c = exp(-dt / tau),

with K_T = N_f T / 2, R_1 a standard normal and S = sum of N_f - 1 squared standard normals, drawn in one go as
2 * Gamma((N_f - 1) / 2). Velocities are scaled by alpha = +-sqrt(K' / K) (the sign as in the paper's appendix). The
energy the thermostat takes out is accumulated in ``MDState.bath_energy``, so that the effective energy
U + K + bath_energy is conserved up to the integration error (the paper's check of a correct implementation).

The default coupling time is tau = 100 dt (0.5 at dt = 0.005): long against the vibrational period of KA
(about 0.1-0.2), so the dynamics within a cage are barely perturbed, short against structural relaxation at the
temperatures where MD is used, so equilibration is not slowed. Canonical sampling is exact for any tau; only the
dynamics depend on it (tau -> infinity is NVE, tau = 0 redraws K at every step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch

from glassgen.dynamics.velocities import (
    _temperatures, as_generator, degrees_of_freedom, kinetic_energy, kinetic_temperature,
)
from glassgen.errors import InvalidInputError
from glassgen.progress import Stage

#: Default thermostat coupling time in units of the time step.
DEFAULT_TAU_STEPS = 100


@dataclass(frozen=True)
class MDState:
    """Where B configurations are: the fields are tensors of the batch, step is the number of steps done.

    Attributes
    ----------
    positions, velocities, forces : Tensor of shape (B, N, d)
        Positions are unwrapped (they follow the particles across periodic boundaries).
    potential_energy : Tensor of shape (B,) or None
        At ``positions``; None after a step that did not compute it (:func:`run` computes it at every recorded
        step and at the last one).
    step : int
        Steps done since the state was created.
    bath_energy : Tensor of shape (B,), float64, or None
        Energy the thermostat has taken out of each configuration since the start (zero in NVE; None counts as
        zero).
    """

    positions: torch.Tensor
    velocities: torch.Tensor
    forces: torch.Tensor
    potential_energy: torch.Tensor | None
    step: int = 0
    bath_energy: torch.Tensor | None = None

    @property
    def n_conf(self) -> int:
        return self.positions.shape[0]

    @property
    def kinetic_energy(self) -> torch.Tensor:
        """(B,) kinetic energy."""
        return kinetic_energy(self.velocities)

    @property
    def temperature(self) -> torch.Tensor:
        """(B,) kinetic temperature, N_f = d (N - 1)."""
        return kinetic_temperature(self.velocities)

    @property
    def total_energy(self) -> torch.Tensor:
        """(B,) U + K; conserved by NVE."""
        return self._potential() + self.kinetic_energy

    @property
    def effective_energy(self) -> torch.Tensor:
        """(B,) U + K + energy given to the bath, in float64; conserved by NVE and by the Bussi thermostat."""
        total = self.total_energy.to(torch.float64)
        return total if self.bath_energy is None else total + self.bath_energy

    def _potential(self) -> torch.Tensor:
        if self.potential_energy is None:
            raise InvalidInputError(
                f"the potential energy was not computed at step {self.step}; ask the integrator for it "
                "(integrator.step(state, energy=True)) or read it at a recorded step of run()."
            )
        return self.potential_energy


def init_state(forcefield, positions: torch.Tensor, velocities: torch.Tensor) -> MDState:
    """A state at step 0 with forces and energies of ``positions`` computed by ``forcefield``.

    Parameters
    ----------
    forcefield : glassgen.systems.ForceField
    positions, velocities : Tensor of shape (B, N, d) or (N, d)
        One configuration is treated as a batch of one; velocities are cast to the dtype and device of positions.
    """
    x = positions.unsqueeze(0) if positions.ndim == 2 else positions
    v = velocities.unsqueeze(0) if velocities.ndim == 2 else velocities
    if x.ndim != 3 or v.shape != x.shape:
        raise InvalidInputError(
            f"velocities must have the shape of the positions {tuple(x.shape)}; got {tuple(velocities.shape)}."
        )
    if not x.is_floating_point():
        raise InvalidInputError(f"positions must be floating point; got {x.dtype}.")
    v = v.to(dtype=x.dtype, device=x.device)
    out = forcefield.compute(x, energy=True, forces=True)
    bath = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    return MDState(x, v, out.forces, out.energy, 0, bath)


def _check_dt(dt) -> float:
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise InvalidInputError(f"the time step dt must be positive and finite; got {dt}. KA uses dt = 0.005.")
    return dt


class VelocityVerlet:
    """Microcanonical (NVE) velocity-Verlet integration.

    Parameters
    ----------
    forcefield : glassgen.systems.ForceField
        Evaluates forces (and energies when asked) of (B, N, d) positions.
    dt : float
        Time step (KA: 0.005).

    Examples
    --------
    >>> nve = VelocityVerlet(ff, dt=0.005)                     # doctest: +SKIP
    >>> state = nve.init(positions, velocities)
    >>> state = run(nve, state, 1000)
    """

    def __init__(self, forcefield, dt: float):
        self.forcefield = forcefield
        self.dt = _check_dt(dt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dt={self.dt})"

    def init(self, positions: torch.Tensor, velocities: torch.Tensor) -> MDState:
        """The state at step 0 (forces and energies computed)."""
        return init_state(self.forcefield, positions, velocities)

    def step(self, state: MDState, *, energy: bool = False) -> MDState:
        """One step; ``energy=True`` also computes the potential energy at the new positions."""
        dt = self.dt
        v = torch.add(state.velocities, state.forces, alpha=0.5 * dt)
        x = torch.add(state.positions, v, alpha=dt)
        out = self.forcefield.compute(x, energy=energy, forces=True)
        v.add_(out.forces, alpha=0.5 * dt)
        return MDState(x, v, out.forces, out.energy, state.step + 1, state.bath_energy)


class BussiNVT(VelocityVerlet):
    """Canonical (NVT) dynamics: velocity Verlet followed by Bussi stochastic velocity rescaling at every step.

    Each configuration of the batch has its own thermostat (and may have its own temperature).

    Parameters
    ----------
    forcefield : glassgen.systems.ForceField
    dt : float
        Time step.
    temperature : float or Tensor of shape (B,)
        Bath temperature; may be changed between steps (``integrator.temperature = ...``) for heating or cooling.
    tau : float or None
        Coupling time (same units as dt); None means ``100 * dt``. ``math.inf`` turns the thermostat off (NVE),
        0 redraws the kinetic energy from the canonical distribution at every step.
    generator : torch.Generator, int or None
        Random source of the thermostat noise (an int is a seed). The same seed gives the same trajectory.
    interval : int
        Apply the thermostat every ``interval`` steps, over a time ``interval * dt`` (GROMACS' nsttcouple). Each
        application is exact, so the ensemble is unchanged; with tau >> interval * dt the dynamics hardly are. It
        saves the ~0.15 ms that one application costs on a CPU core (a quarter of an N = 1000 step).
    """

    def __init__(self, forcefield, dt: float, temperature, *, tau: float | None = None, generator=None,
                 interval: int = 1):
        super().__init__(forcefield, dt)
        self.tau = DEFAULT_TAU_STEPS * self.dt if tau is None else float(tau)
        if not self.tau >= 0:
            raise InvalidInputError(f"the coupling time tau must be >= 0 (or math.inf for NVE); got {tau}.")
        if int(interval) != interval or interval < 1:
            raise InvalidInputError(f"interval must be a whole number of steps >= 1; got {interval}.")
        self.interval = int(interval)
        self.temperature = temperature
        self.generator = as_generator(generator)
        self._concentration = None

    def __repr__(self) -> str:
        t = self._temperature
        t = float(t) if t.numel() == 1 else t.tolist()
        return f"BussiNVT(dt={self.dt}, temperature={t}, tau={self.tau}, interval={self.interval})"

    @property
    def temperature(self) -> torch.Tensor:
        return self._temperature

    @temperature.setter
    def temperature(self, value) -> None:
        t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
        if not bool(torch.isfinite(t).all()) or not bool((t > 0).all()):
            raise InvalidInputError(f"temperature must be positive and finite; got {t.tolist()}.")
        self._temperature = t
        self._cache = None

    def step(self, state: MDState, *, energy: bool = False) -> MDState:
        state = super().step(state, energy=energy)
        if self.interval == 1:
            return self.rescale(state, self.dt)
        return self.rescale(state, self.interval * self.dt) if state.step % self.interval == 0 else state

    def rescale(self, state: MDState, dt: float) -> MDState:
        """Apply the thermostat for a time ``dt``: scale each configuration's velocities by its own factor."""
        v = state.velocities
        n_f, k_target = self._constants(v)
        k = 0.5 * v.square().sum((1, 2))
        k_new, sign = self.new_kinetic_energy(k, k_target, n_f, dt)
        # K = 0 (every particle at rest) cannot be rescaled: such configurations keep K = 0.
        k_new = torch.where(k > 0, k_new, k)
        alpha = sign * torch.sqrt(k_new / k.clamp_min(torch.finfo(k.dtype).tiny))
        bath = state.bath_energy + (k - k_new).to(torch.float64)
        return MDState(state.positions, v * alpha.reshape(-1, 1, 1), state.forces, state.potential_energy,
                       state.step, bath)

    def new_kinetic_energy(self, k: torch.Tensor, k_target: torch.Tensor, n_f: int, dt: float):
        """The exact Bussi update of the kinetic energies K (B,) over a time dt, towards K_T = N_f T / 2.

        Written as K' = a^2 + (1 - c) K_T S / N_f with a = sqrt(c K) + sqrt((1 - c) K_T / N_f) R_1, which is the
        paper's formula; the velocities are scaled by sign(a) sqrt(K' / K). Returns (K', sign(a)), both (B,).
        Subclasses may override this to try other thermostats (the tests do, to check that a wrong one fails).
        """
        c = math.exp(-dt / self.tau) if self.tau > 0 else 0.0
        n_conf = k.shape[0]
        where = self.generator.device if self.generator is not None else k.device
        r1 = torch.randn(n_conf, generator=self.generator, dtype=k.dtype, device=where).to(k.device)
        noise = (1.0 - c) / n_f * k_target
        a = torch.sqrt(noise) * r1
        if c > 0:
            a = a + math.sqrt(c) * torch.sqrt(k)
        k_new = a.square()
        if n_f > 1:
            if self._concentration is None or self._concentration.shape != (n_conf,) \
                    or self._concentration.device != where or self._concentration.dtype != k.dtype:
                self._concentration = torch.full((n_conf,), 0.5 * (n_f - 1), dtype=k.dtype, device=where)
            # S = sum of N_f - 1 squared standard normals = 2 Gamma((N_f - 1) / 2).
            s = torch._standard_gamma(self._concentration, generator=self.generator).to(k.device)
            k_new = k_new + (2.0 * noise) * s
        return k_new, torch.sign(a) + (a == 0)  # sign(0) taken as +1

    def _constants(self, v: torch.Tensor):
        """N_f and the (B,) target kinetic energies N_f T / 2 on the device of the run, cached between steps."""
        n_conf, n, dim = v.shape
        key = (n_conf, n, dim, v.dtype, v.device)
        if self._cache is None or self._cache[0] != key:
            n_f = degrees_of_freedom(n, dim)
            t = _temperatures(self._temperature, n_conf, torch.float64, "cpu")
            self._cache = (key, (n_f, (0.5 * n_f * t).to(dtype=v.dtype, device=v.device)))
        return self._cache[1]


Callback = Callable[[int, MDState], "bool | None"]


def run(integrator, state: MDState, n_steps: int, *, callback: Callback | None = None, every: int = 1,
        progress: bool = False, desc: str | None = None) -> MDState:
    """Advance ``state`` by ``n_steps`` steps of ``integrator`` and return the final state.

    Parameters
    ----------
    integrator : VelocityVerlet, BussiNVT or any object with ``step(state, energy=bool) -> MDState``
    state : MDState
    n_steps : int
    callback : callable (step, state) -> bool or None, optional
        Called after every step whose ``state.step`` is a multiple of ``every`` (not for the initial state: call it
        yourself if you want it). The potential energy is computed at those steps. Returning True ends the run.
    every : int
        Recording interval in steps.
    progress : bool
        Show the steps done on stderr, as the stage ``desc`` (default "MD").
    desc : str or None
        Name of the stage.

    Returns
    -------
    MDState
        The last state, with its potential energy computed. Raises InvalidInputError if the energy became NaN or
        infinite (the time step is too large or the start has overlapping particles).
    """
    n_steps = int(n_steps)
    every = int(every)
    if n_steps < 0 or every < 1:
        raise InvalidInputError(f"n_steps must be >= 0 and every >= 1; got n_steps={n_steps}, every={every}.")
    bar = Stage(desc or "MD", n_steps, enabled=progress)
    try:
        for k in range(n_steps):
            record = callback is not None and (state.step + 1) % every == 0
            last = k == n_steps - 1
            try:
                state = integrator.step(state, energy=record or last)
            except ZeroDivisionError as error:  # the compiled force loop meets coinciding particles
                raise InvalidInputError(_UNSTABLE.format(where="two particles at the same point",
                                                         step=state.step + 1)) from error
            bar.advance()
            if record or last:
                _check_finite(state)
            if record and callback(state.step, state):
                break
    finally:
        bar.close()
    if state.potential_energy is None:  # only when n_steps = 0 and the state came without an energy
        state = replace(state, potential_energy=integrator.forcefield.compute(state.positions, forces=False).energy)
    return state


_UNSTABLE = ("the dynamics became unstable ({where}) at step {step}. Reduce the time step dt (KA: 0.005) or start "
             "from a configuration without overlaps.")


def _check_finite(state: MDState) -> None:
    if not bool(torch.isfinite(state.potential_energy).all()):
        bad = int(torch.nonzero(~torch.isfinite(state.potential_energy))[0])
        raise InvalidInputError(_UNSTABLE.format(where=f"non-finite energy in configuration {bad}", step=state.step))


def run_nve(forcefield, state: MDState, dt: float, n_steps: int, *, callback: Callback | None = None,
            every: int = 1, progress: bool = False) -> MDState:
    """``n_steps`` of velocity-Verlet NVE from ``state``; see :func:`run` for the callback schedule."""
    return run(VelocityVerlet(forcefield, dt), state, n_steps, callback=callback, every=every, progress=progress)


def run_nvt(forcefield, state: MDState, dt: float, n_steps: int, temperature, *, tau: float | None = None,
            generator=None, interval: int = 1, callback: Callback | None = None, every: int = 1,
            progress: bool = False) -> MDState:
    """``n_steps`` of Bussi NVT at ``temperature`` from ``state``; see :class:`BussiNVT` and :func:`run`.

    An int ``generator`` is a seed: two calls with the same int draw the same noise. Pass one torch.Generator to
    successive calls for a continuing random stream.
    """
    nvt = BussiNVT(forcefield, dt, temperature, tau=tau, generator=generator, interval=interval)
    return run(nvt, state, n_steps, callback=callback, every=every, progress=progress)
