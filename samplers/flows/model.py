"""A normalizing flow of one periodic particle system: sample configurations with their exact log-densities.

:class:`ParticleFlow` is a normflows ``ConditionalNormalizingFlow`` over the free particles' angles
(:mod:`samplers.flows.frame`): a uniform prior on the torus [-pi, pi)^{(N-1) d}, then coupling layers
(:class:`samplers.flows.coupling.CircularSplineCoupling`) cycling through the axes. The context, when the flow is
temperature-conditioned, is the temperature T (B, 1): one set of weights serves a range of temperatures.

Densities are float64 throughout (prior, splines, log-determinants): normflows' ``sample`` and ``log_prob`` keep the
dtype of the prior and of the input, which is why the prior here is our own (normflows' ``Uniform`` returns float32
log-densities).

Saved flows (:meth:`ParticleFlow.save`) carry their settings and a description of the system they were trained for
(model name, N, box, composition), and :meth:`ParticleFlow.check_system` refuses another.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import normflows as nf
import torch
from torch import nn

from samplers.flows.conditioner import MESSAGES
from samplers.flows.coupling import CircularSplineCoupling
from samplers.flows.frame import PinnedFrame
from samplers.files import save_atomically
from samplers.target import SamplerInputError


class TorusPrior(nf.distributions.BaseDistribution):
    """Uniform density on [-pi, pi)^shape, float64, drawn from ``generator`` when one is set."""

    def __init__(self, shape: tuple[int, ...], dtype=torch.float64):
        super().__init__()
        self.shape, self.dtype = tuple(shape), dtype
        self.log_density = -math.prod(self.shape) * math.log(2 * math.pi)
        self.generator = None

    def forward(self, num_samples: int = 1, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        device = None if context is None else context.device
        z = 2 * math.pi * torch.rand((num_samples, *self.shape), generator=self.generator, dtype=self.dtype,
                                     device=device) - math.pi
        return z, torch.full((num_samples,), self.log_density, dtype=self.dtype, device=z.device)

    def exchange_draw(self, n: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """n independent draws: with i.i.d. draws the exchange of :class:`samplers.flows.prior.BoltzmannPrior` is the
        independence sampler, and there is nothing to give back."""
        self.generator = generator
        try:
            return self.forward(n)
        finally:
            self.generator = None

    def exchange_receive(self, accepted: torch.Tensor, z: torch.Tensor) -> None:
        """Nothing: i.i.d. draws keep no state."""

    def chain_state(self) -> dict:
        """Nothing: i.i.d. draws keep no state (see :meth:`samplers.flows.prior.BoltzmannPrior.chain_state`)."""
        return {}

    def load_chain_state(self, state: dict) -> None:
        """Nothing to restore."""

    def log_prob(self, z: torch.Tensor, context=None) -> torch.Tensor:
        inside = ((z >= -math.pi) & (z <= math.pi)).flatten(1).all(1)
        log_density = torch.full(inside.shape, self.log_density, dtype=z.dtype, device=z.device)  # not float32
        return log_density.masked_fill(~inside, -math.inf)


class UnattachedPrior(nf.distributions.BaseDistribution):
    """The place of a Boltzmann prior before :meth:`ParticleFlow.attach_prior` gives it its chains."""

    def _refuse(self, *args, **kwargs):
        raise SamplerInputError("this flow's prior is a Boltzmann distribution at a higher temperature: attach its "
                                "Monte Carlo chains with flow.attach_prior(target, positions, types) first "
                                "(glassgen.flows.load_flow does).")

    forward = log_prob = exchange_draw = exchange_receive = chain_state = load_chain_state = _refuse


@dataclass(frozen=True)
class FlowSettings:
    """What a flow is: its system, its architecture and its prior (saved with the weights).

    ``prior_temperature``: None for the uniform prior on the torus, else T_high of a Boltzmann prior
    (:class:`samplers.flows.prior.BoltzmannPrior`), which must be attached (:meth:`ParticleFlow.attach_prior`)
    before the flow samples or evaluates densities.
    """

    model: str
    types: tuple[int, ...]
    box: tuple[float, ...]
    n_layers: int = 8
    n_bins: int = 8
    hidden: int = 32
    passes: int = 2
    n_frequencies: int = 4
    n_radial: int = 8
    messages: str = "spectral"
    temperature_conditioned: bool = False
    prior_temperature: float | None = None

    def __post_init__(self):
        for name in ("n_layers", "n_bins", "hidden", "passes", "n_frequencies", "n_radial"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SamplerInputError(f"flow setting {name} must be an integer >= 1; got {value!r}.")
        if self.messages not in MESSAGES:
            raise SamplerInputError(f"flow setting messages must be one of {MESSAGES}; got {self.messages!r}.")
        if self.prior_temperature is not None and not float(self.prior_temperature) > 0:
            raise SamplerInputError(f"the prior temperature must be positive; got {self.prior_temperature}.")
        if len(self.box) not in (2, 3):
            raise SamplerInputError(f"flows serve 2D and 3D periodic boxes; got a box of {len(self.box)} edges.")


class ParticleFlow(nn.Module):
    """Boltzmann generator of one system (model, N, box): ``sample`` and ``log_prob`` on configurations.

    Parameters
    ----------
    settings : FlowSettings
    dtype : torch.dtype
        Of the weights and all densities (float64 by default, as reweighting needs).

    Examples
    --------
    >>> flow = ParticleFlow(FlowSettings("ka2d", types=(0,) * 3 + (1,), box=(3.0, 3.0), n_layers=2))
    >>> x, types, log_q = flow.sample(5)
    >>> x.shape, log_q.dtype
    (torch.Size([5, 4, 2]), torch.float64)
    """

    def __init__(self, settings: FlowSettings, dtype=torch.float64):
        super().__init__()
        self.settings = settings
        self.frame = PinnedFrame(torch.tensor(settings.types), torch.tensor(settings.box, dtype=torch.float64))
        n_free, dim = self.frame.free_types.numel(), self.frame.dim
        tokens = torch.cat([torch.tensor([self.frame.n_types]), self.frame.free_types])
        layers = [CircularSplineCoupling(layer % dim, tokens, self.frame.box, self.frame.n_types,
                                         n_bins=settings.n_bins, hidden=settings.hidden, passes=settings.passes,
                                         n_frequencies=settings.n_frequencies, n_radial=settings.n_radial,
                                         messages=settings.messages, temperature_conditioned=settings.temperature_conditioned)
                  for layer in range(settings.n_layers)]
        prior = TorusPrior((n_free, dim)) if settings.prior_temperature is None else UnattachedPrior()
        self.flow = nf.ConditionalNormalizingFlow(prior, layers).to(dtype)
        self.size = sum(p.numel() for p in self.parameters())

    def attach_prior(self, target, positions, types, *, sweeps_between: int = 10, burn_in: int = 500,
                     seed: int = 0) -> None:
        """Give a flow with a Boltzmann prior its Monte Carlo chains (at ``settings.prior_temperature``) on
        ``target``, started from ``positions`` (B, N, d) with ``types``; see :class:`BoltzmannPrior`."""
        from samplers.flows.prior import BoltzmannPrior

        if self.settings.prior_temperature is None:
            raise SamplerInputError("this flow has the uniform prior; it takes no Boltzmann prior.")
        self.flow.q0 = BoltzmannPrior(self.frame, target, self.settings.prior_temperature, positions, types,
                                      sweeps_between=sweeps_between, burn_in=burn_in, seed=seed)

    def __repr__(self) -> str:
        s = self.settings
        kind = ", temperature-conditioned" if s.temperature_conditioned else ""
        return (f"ParticleFlow({s.model}, N = {len(s.types)} in {len(s.box)}D, {s.n_layers} couplings x {s.n_bins} "
                f"bins{kind} | {self.size} weights)")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _context(self, temperature, n_conf: int) -> torch.Tensor | None:
        if not self.settings.temperature_conditioned:
            return None
        if temperature is None:
            raise SamplerInputError("this flow is temperature-conditioned: give the temperature.")
        t = torch.as_tensor(temperature, dtype=torch.float64, device=self.device).reshape(-1, 1)
        if not bool((t > 0).all()) or t.shape[0] not in (1, n_conf):
            raise SamplerInputError(f"give one positive temperature or one per configuration ({n_conf}); got "
                                    f"{t.reshape(-1).tolist()}.")
        return t.expand(n_conf, 1)

    def sample(self, n: int, temperature=None, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n configurations: positions (n, N, d) in the box, species (n, N) and their log-density (n,) float64:
        log [q(x, k) / r(k | x)] with k the pinned particle (first), the quantity that takes the place of log q(x)
        in importance weights and Metropolis-Hastings ratios (:mod:`samplers.flows.frame`)."""
        if self.settings.prior_temperature is None:  # i.i.d. draws from the caller's generator
            z, log_prior = self.flow.q0.exchange_draw(int(n), generator)
        else:  # the Boltzmann prior's chains keep their own generator
            z, log_prior = self.flow.q0(int(n))
        return self.push(z, log_prior, temperature, generator)

    def push(self, z: torch.Tensor, log_prior: torch.Tensor, temperature=None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The configurations (positions, species, log-density as in :meth:`sample`) that the flow makes of prior
        draws z (n, N - 1, d) with prior log-densities ``log_prior`` (n,), placed at uniform random translations."""
        context = self._context(temperature, z.shape[0])
        angles, log_q = z, log_prior.to(z.dtype).clone()
        for layer in self.flow.flows:
            angles, log_det = layer(angles, context=context)
            log_q = log_q - log_det
        shift = torch.rand((z.shape[0], self.frame.dim), generator=generator, dtype=angles.dtype, device=angles.device)
        x = self.frame.to_positions(angles, shift * self.frame.box.to(angles))
        types = self.frame.types.to(x.device).expand(z.shape[0], -1)
        return x, types, log_q + self.log_constant

    @property
    def log_constant(self) -> float:
        """log [q(x, k) / r(k | x)] - log q_flow(angles): the frame's Jacobian and translation (the choice of k,
        1 / n_pin, cancels against r(k | x) = 1 / n_pin)."""
        return self.frame.log_jacobian

    def log_prob(self, x: torch.Tensor, types, temperature=None, pins: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """log [q(x, k) / r(k | x)] (B,) (see :meth:`sample`) of configurations (B, N, d) with species (B, N) or
        (N,), for pinned particles ``pins`` (B,) (drawn uniformly among the pinned species' particles when None)."""
        return self.pull(x, types, temperature, pins, generator)[0]

    def pull(self, x: torch.Tensor, types, temperature=None, pins: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`log_prob` and the prior draws z (B, N - 1, d) that the flow maps to x (the inverse map)."""
        types = self.frame.check(x, types)
        pins = self.frame.choose_pins(types, generator) if pins is None else pins
        if not bool((types[torch.arange(x.shape[0], device=x.device), pins] == self.frame.pinned_species).all()):
            raise SamplerInputError(f"pinned particles must be of species {self.frame.pinned_species}.")
        z, _ = self.frame.to_angles(x.to(self.frame.box.dtype), types, pins)
        context = self._context(temperature, x.shape[0])
        log_q = torch.zeros(x.shape[0], dtype=z.dtype, device=z.device)
        for layer in reversed(self.flow.flows):
            z, log_det = layer.inverse(z, context=context)
            log_q = log_q + log_det
        return log_q + self.flow.q0.log_prob(z) + self.log_constant, z

    # -- files ----------------------------------------------------------------------------------------------------
    def check_system(self, model: str, types, box) -> None:
        """Refuse a system the flow was not trained for (model, composition, box)."""
        s = self.settings
        composition = torch.bincount(torch.as_tensor(types).reshape(-1).cpu()).tolist()
        mine = torch.bincount(torch.tensor(s.types)).tolist()
        box = [float(b) for b in torch.as_tensor(box).reshape(-1)]
        if model != s.model or composition != mine or any(abs(a - b) > 1e-9 * a for a, b in zip(s.box, box)) \
                or len(box) != len(s.box):
            raise SamplerInputError(f"this flow was trained for {s.model} with {len(s.types)} particles "
                                    f"(composition {mine}) in the box {list(s.box)}; the system asked for is {model} "
                                    f"with composition {composition} in the box {box}. Train a flow for it.")

    def save(self, path, **extra) -> None:
        """Write the settings, the weights and ``extra`` (training history, temperature, ...) atomically."""
        save_atomically({"format": "glassgen-flow-1", "settings": asdict(self.settings), "state": self.state_dict(),
                         "dtype": str(next(self.parameters()).dtype), "extra": extra}, path)

    @classmethod
    def load(cls, path, map_location="cpu") -> tuple[ParticleFlow, dict]:
        """The flow saved at ``path`` and the extra data saved with it."""
        try:
            payload = torch.load(path, map_location=map_location, weights_only=True)  # plain data: no code runs
        except FileNotFoundError:
            raise
        except Exception:  # pickle, zip and torch raise many kinds for a file that is not theirs
            payload = None
        if not isinstance(payload, dict) or payload.get("format") != "glassgen-flow-1":
            raise SamplerInputError(f"{path} is not a glassgen flow file (glassgen flow train writes them).")
        settings = payload["settings"]
        settings = FlowSettings(**{**settings, "types": tuple(settings["types"]), "box": tuple(settings["box"])})
        flow = cls(settings, dtype=getattr(torch, payload["dtype"].replace("torch.", "")))
        try:
            flow.load_state_dict(payload["state"])
        except RuntimeError as error:  # weights of another architecture under the same settings names
            raise SamplerInputError(f"{path} holds weights this version of glassgen cannot load ({str(error)[:120]}"
                                    "...); train the flow again with glassgen flow train.") from None
        return flow, payload["extra"]
