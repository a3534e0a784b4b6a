"""FIRE energy minimisation of B configurations at once: inherent states.

FIRE (Bitzek, Koskinen, Gaehler, Moseler, Gumbsch, PRL 97, 170201 (2006)) is damped MD whose velocity is mixed
towards the force direction while the power P = F . v stays positive, with a time step that grows after N_min
successful steps and is cut (velocities zeroed) when P <= 0. Every configuration of the batch carries its own time
step, mixing parameter and counters, and stops moving once its largest force is below ``fmax``.

The integrator is semi-implicit Euler with the mixing after the velocity update and the half step back on P <= 0,
as recommended by FIRE 2.0 (Guenole et al., Comput. Mater. Sci. 175, 109584 (2020)); the other FIRE 2.0 changes are
options (``delay`` steps during which dt is neither raised nor cut, ``dt_min``). A displacement cap bounds the
largest particle move of a step (the whole step of a configuration is scaled, so its direction is kept).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from glassgen.errors import ConvergenceWarning, InvalidInputError
from glassgen.progress import Convergence, Stage
from glassgen.systems.forcefield import ForceField
from glassgen.systems.system import System

#: Default force tolerance max_i |F_i| per dtype.
DEFAULT_FMAX = {torch.float64: 1e-8, torch.float32: 1e-3, torch.float16: 1e-1, torch.bfloat16: 1e-1}


@dataclass(frozen=True)
class MinimizationResult:
    """Outcome of a minimisation; (B,) fields are scalars when a single (N, d) configuration was passed.

    Attributes
    ----------
    positions : Tensor of shape (B, N, d)
        Minimised coordinates (unwrapped: each particle moved continuously from its start).
    energy : Tensor of shape (B,)
        Potential energy at ``positions``.
    max_force : Tensor of shape (B,)
        Largest particle force norm max_i |F_i| at ``positions``.
    n_steps : Tensor of shape (B,), int64
        FIRE steps each configuration took (until it converged, or all of them).
    converged : Tensor of shape (B,), bool
        ``max_force < fmax``.
    n_evaluations : int
        Force-field calls made (each over the whole batch).
    system : System or None
        The minimised system (positions wrapped into the box), when the input was a System.
    """

    positions: torch.Tensor
    energy: torch.Tensor
    max_force: torch.Tensor
    n_steps: torch.Tensor
    converged: torch.Tensor
    n_evaluations: int
    system: System | None = None


def _max_force(forces: torch.Tensor) -> torch.Tensor:
    """(B,) largest particle force norm max_i |F_i|."""
    return forces.square().sum(-1).amax(-1).sqrt()


def fire(forcefield: ForceField, positions: torch.Tensor, *, fmax: float | None = None, max_steps: int = 100_000,
         dt_start: float = 0.0035, dt_max: float | None = None, dt_min: float = 0.0, max_displacement: float = 0.1,
         n_min: int = 5, f_inc: float = 1.1, f_dec: float = 0.5, alpha_start: float = 0.1, f_alpha: float = 0.99,
         delay: int = 0, progress: bool = False, warn: bool = True) -> MinimizationResult:
    """Minimise the potential energy of (B, N, d) positions with FIRE until max_i |F_i| < fmax for each one.

    Parameters
    ----------
    forcefield : ForceField
        Of the model, box and types of the positions.
    positions : Tensor of shape (B, N, d) or (N, d)
        Starting coordinates (float64 recommended; float32 works with a looser ``fmax``).
    fmax : float or None
        Force tolerance; default 1e-8 in float64 and 1e-3 in float32.
    max_steps : int
        Stop after this many steps even if some configurations have not converged (a ConvergenceWarning says so).
    dt_start, dt_max, dt_min : float
        Initial, largest and smallest FIRE time step; ``dt_max`` defaults to ``10 * dt_start``. The default
        dt_max = 0.035 was measured to be about the fastest for KA3D and KA2D (BOTAN N = 4096 T = 0.44: ~660-900
        steps to 1e-8) with a margin: from dt_max = 0.045 on, the stiffest vibrations (symplectic Euler is stable
        for omega dt < 2) keep resetting FIRE and the 1e-8 tail takes 2-5x more steps. FIRE 2.0's alpha_start =
        0.25 was 4-5x slower here, its N_delay = 20 about 30% slower.
    max_displacement : float
        Largest move of any particle in one step.
    n_min, f_inc, f_dec, alpha_start, f_alpha : FIRE parameters (Bitzek et al. 2006 values by default)
    delay : int
        FIRE 2.0 initial delay: during the first ``delay`` steps dt is not cut on P <= 0 (0: off).
    progress : bool
        Show on stderr how far the largest max|F| of the batch has fallen towards ``fmax``, in decades: the number of
        steps to converge is not known beforehand, and ``max_steps`` is only a limit.
    warn : bool
        Issue a ConvergenceWarning when some configuration did not converge.
    """
    x = positions.unsqueeze(0) if positions.ndim == 2 else positions
    if x.ndim != 3 or not x.is_floating_point():
        raise InvalidInputError(
            f"positions must be a floating (B, N, d) or (N, d) tensor; got {tuple(positions.shape)} {positions.dtype}."
        )
    fmax = DEFAULT_FMAX.get(x.dtype, 1e-3) if fmax is None else float(fmax)
    dt_max = 10.0 * dt_start if dt_max is None else float(dt_max)
    if not (fmax > 0 and dt_start > 0 and dt_max >= dt_start and max_displacement > 0 and int(max_steps) >= 0):
        raise InvalidInputError(
            f"FIRE needs fmax > 0, 0 < dt_start <= dt_max, max_displacement > 0 and max_steps >= 0; got fmax={fmax}, "
            f"dt_start={dt_start}, dt_max={dt_max}, max_displacement={max_displacement}, max_steps={max_steps}."
        )
    n_conf = x.shape[0]
    device, dtype = x.device, x.dtype
    x = x.clone()
    v = torch.zeros_like(x)
    forces = forcefield.compute(x, energy=False).forces
    n_eval = 1
    dt = torch.full((n_conf,), float(dt_start), dtype=dtype, device=device)
    alpha = torch.full((n_conf,), float(alpha_start), dtype=dtype, device=device)
    n_positive = torch.zeros(n_conf, dtype=torch.int64, device=device)
    steps = torch.zeros(n_conf, dtype=torch.int64, device=device)
    max_force = _max_force(forces)
    active = max_force >= fmax
    tiny = torch.finfo(dtype).tiny
    bar = Convergence(f"FIRE {n_conf} configuration{'s' * (n_conf > 1)}", float(max_force.max()), fmax,
                      quantity="max|F|", enabled=progress)
    try:
        for iteration in range(int(max_steps)):
            if not bool(active.any()):
                break
            # The first step starts from rest (P = 0): it is neither uphill nor downhill.
            power = torch.linalg.vecdot(forces.reshape(n_conf, -1), v.reshape(n_conf, -1))
            uphill = active & (power <= 0) & (iteration > 0)
            downhill = active & (power > 0)
            # P > 0: count; after n_min such steps raise dt and lower alpha.
            n_positive = torch.where(downhill, n_positive + 1, torch.zeros_like(n_positive))
            grow = downhill & (n_positive > n_min)
            dt = torch.where(grow, torch.clamp(dt * f_inc, max=dt_max), dt)
            alpha = torch.where(grow, alpha * f_alpha, alpha)
            # P <= 0: cut dt (not during the initial delay), reset alpha, step half back and stop.
            cut = uphill if iteration >= delay else torch.zeros_like(uphill)
            dt = torch.where(cut, torch.clamp(dt * f_dec, min=dt_min), dt)
            alpha = torch.where(uphill, torch.full_like(alpha, alpha_start), alpha)
            if bool(uphill.any()):
                back = uphill.reshape(-1, 1, 1)
                x = torch.where(back, x - (0.5 * dt).reshape(-1, 1, 1) * v, x)
                v = torch.where(back, 0.0, v)
            # Semi-implicit Euler with mixing towards the force direction: v <- (1 - a) v + a |v| F / |F|.
            v = torch.addcmul(v, dt.reshape(-1, 1, 1), forces)
            v_norm = torch.linalg.vector_norm(v, dim=(1, 2))
            f_norm = torch.linalg.vector_norm(forces, dim=(1, 2)).clamp_min(tiny)
            v = torch.addcmul((1.0 - alpha).reshape(-1, 1, 1) * v, (alpha * v_norm / f_norm).reshape(-1, 1, 1), forces)
            # Move by dt v, scaled down so that no particle moves more than max_displacement; converged ones stay.
            longest = dt * _max_force(v)
            scale = torch.clamp(max_displacement / longest.clamp_min(tiny), max=1.0)
            x = torch.addcmul(x, torch.where(active, scale * dt, 0.0).reshape(-1, 1, 1), v)
            forces = forcefield.compute(x, energy=False).forces
            n_eval += 1
            steps = steps + active.to(torch.int64)
            max_force = _max_force(forces)
            active = active & (max_force >= fmax)
            if bar.enabled:
                worst = float(max_force.max())
                bar.note(**{"max|F|": f"{worst:.2e}"}, step=iteration + 1,
                         converged=f"{n_conf - int(active.sum())}/{n_conf}")
                bar.reach(worst)
    finally:
        bar.close()
    energy = forcefield.compute(x, forces=False).energy
    n_eval += 1
    converged = max_force < fmax
    if warn and not bool(converged.all()):
        worst = int(torch.argmax(max_force))
        warnings.warn(
            f"FIRE stopped after {int(steps.max())} steps with {int((~converged).sum())} of {n_conf} configurations "
            f"above fmax = {fmax:g} (largest max|F| = {float(max_force[worst]):.3g} in configuration {worst}); "
            "raise max_steps, loosen fmax, or minimise in float64.",
            ConvergenceWarning, stacklevel=2,
        )
    if positions.ndim == 2:
        return MinimizationResult(x[0], energy[0], max_force[0], steps[0], converged[0], n_eval)
    return MinimizationResult(x, energy, max_force, steps, converged, n_eval)


def minimize(system: System, *, forcefield: ForceField | None = None, **options) -> MinimizationResult:
    """FIRE-minimise every configuration of ``system`` (inherent states); options as in :func:`fire`.

    The result carries ``system``, the minimised System with positions wrapped into the box.
    """
    ff = forcefield or ForceField(system.model, system.box, system.types)
    warn = options.pop("warn", True)
    result = fire(ff, system.positions, warn=False, **options)
    if warn and not bool(result.converged.all()):
        failed = int((~result.converged).sum()) if result.converged.ndim else 1
        warnings.warn(
            f"FIRE stopped after {int(result.n_steps.max())} steps with {failed} configuration(s) above the force "
            f"tolerance (largest max|F| = {float(result.max_force.max()):.3g}); raise max_steps or loosen fmax.",
            ConvergenceWarning, stacklevel=2,
        )
    wrapped = torch.remainder(result.positions, system.box.to(result.positions.dtype))
    return MinimizationResult(result.positions, result.energy, result.max_force, result.n_steps, result.converged,
                              result.n_evaluations, system.with_positions(wrapped))


def inherent_states(dataset, *, fmax: float | None = None, batch_size: int = 16, progress: bool = False):
    """The `Dataset` with ``inherent_positions`` filled by FIRE; a dataset that has them is returned unchanged.

    Configurations are minimised ``batch_size`` at a time (one batched force field call per FIRE step) in float64;
    configurations that miss ``fmax`` give a ConvergenceWarning, as :func:`minimize` does.

    Parameters
    ----------
    dataset : Dataset
        Configurations to minimise (`glassgen.io.Dataset`; duck-typed so that this layer does not import io).
    fmax : float or None
        Force tolerance max_i |F_i|; default 1e-8 (:data:`DEFAULT_FMAX` of float64).
    batch_size : int
        Configurations per FIRE batch: larger batches make fewer, larger force calls; smaller ones bound memory.
    progress : bool
        Show the configurations done and, nested, the FIRE convergence of the batch in hand.
    """
    if dataset.inherent_positions is not None:
        return dataset
    from dataclasses import replace

    if int(batch_size) < 1:
        raise InvalidInputError(f"batch_size must be >= 1; got {batch_size}.")
    system = dataset.system()
    forcefield = ForceField(system.model, system.box, system.types)
    minima = []
    size = int(batch_size)
    with Stage("inherent states", dataset.n_configurations, unit="configuration", enabled=progress) as bar:
        for start in range(0, dataset.n_configurations, size):
            result = minimize(system[start:start + size], forcefield=forcefield, fmax=fmax, progress=progress)
            minima.append(result.system.batched_positions())
            bar.advance(len(minima[-1]))
    return replace(dataset, inherent_positions=torch.cat(minima).numpy())
