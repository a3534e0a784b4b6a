"""The kernel protocol and the counting that most kernels share."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import torch


@runtime_checkable
class Kernel(Protocol):
    """What the driver needs of a kernel.

    Attributes
    ----------
    name : str
        Short name, for errors and :meth:`samplers.driver.Driver.kernel`.
    options : frozenset of str
        Keyword options its constructor ``Kernel(state, **options)`` takes; the driver refuses options that no
        kernel of its mix takes (:func:`samplers.driver.build_kernels`).
    attempts : int
        Attempted moves per chain that one :meth:`attempt` counts for in a sweep (fixed in advance, as detailed
        balance of the mixture needs).
    counts : dict of str to Tensor (2, G) int64
        Tried and accepted attempts per group (species, swap pair, ...) under a kind name (``"move"``,
        ``"swap"``, ...); the driver sums kinds over kernels for acceptances.

    Optional: ``adapt(counts)``, called after each burn-in sweep with that sweep's counts (kernels that tune
    themselves); ``step``, the displacement scales per species that the driver reports; ``engine = "compiled"`` for
    kernels that run outside torch.
    """

    name: str
    options: ClassVar[frozenset]
    attempts: int
    counts: dict

    def attempt(self, state) -> torch.Tensor | None:
        """Advance every chain by one call of the kernel; returns the accepted mask where there is one."""

    def reset_counts(self) -> None:
        """Zero the counts (the driver does at the start of production)."""

    def state_dict(self) -> dict:
        """What the kernel's future depends on, and its counts."""

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`."""


class Counting:
    """Counts, reset and state dicts of a kernel whose only state is its ``counts`` (the protocol's defaults)."""

    counts: dict

    def reset_counts(self) -> None:
        """Zero the counts in place."""
        for table in self.counts.values():
            table.zero_()

    def tally(self, kind: str, group: torch.Tensor, accepted: torch.Tensor) -> None:
        """Add attempts of groups ``group`` (any shape) with accepted mask ``accepted`` (same shape) to a kind."""
        table = self.counts[kind]
        table[0] += torch.bincount(group.reshape(-1).cpu(), minlength=table.shape[1])
        table[1] += torch.bincount(group[accepted].cpu(), minlength=table.shape[1])

    def state_dict(self) -> dict:
        return {"counts": {kind: table.clone() for kind, table in self.counts.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.counts = {kind: table.clone() for kind, table in state["counts"].items()}

