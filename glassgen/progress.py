"""Progress of long computations on stderr: named stages, each with its own honest measure, or nothing at all.

Why one module: every long-running function reports the same way, so a command's stderr reads as a list of stages
("melt T=2", "cool 2->0.8", "equilibrate T=0.8", "produce 6 configurations", "inherent states", "descriptors ...")
each measured in what it really does, with estimates from that measure's own rate; ``enabled=False`` (the library's
``progress=False``, the commands' ``--quiet``) prints nothing at all. Results never go through here: stdout is kept
for them (one JSON line with ``--json``).

- :class:`Stage`: a known total of steps, sweeps, epochs, jobs or configurations; ``advance(n)`` after each piece.
- :class:`Convergence`: a quantity falling from its start value towards a tolerance (FIRE's max|F|), measured in
  decades of log10(start / value), so no step limit enters the bar or its estimate.
- :func:`message`: a one-line remark between bars.

A stage opened while another is open is nested: its bar disappears when it ends, and the outer one stays.
"""

from __future__ import annotations

import math
import sys

from tqdm.auto import tqdm

#: Stages open now that print: a new one is nested when this is positive.
_open = 0


class Stage:
    """One named stage of ``total`` units (None: unknown) drawn by tqdm on stderr; disabled, or with a total of 0,
    it prints nothing.

    Use it as a context manager, so that the bar is closed on errors too; a top-level bar stays on screen with its
    final count and time, a nested one is removed.
    """

    def __init__(self, name: str, total: float | None, *, unit: str = "step", enabled: bool = True, **options):
        global _open
        self.enabled = bool(enabled) and total != 0
        self._bar = tqdm(total=total, desc=name, unit=unit, disable=not self.enabled, file=sys.stderr,
                         leave=_open == 0, dynamic_ncols=True, **options)
        self._counted = self.enabled
        _open += int(self._counted)

    def advance(self, n: float = 1) -> None:
        """``n`` more units done."""
        self._bar.update(n)

    def note(self, **values) -> None:
        """Show ``values`` after the bar (e.g. the current loss or force), refreshed with the bar."""
        if self.enabled:
            self._bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        global _open
        _open -= int(self._counted)
        self._counted = False
        self._bar.close()

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Convergence(Stage):
    """A stage measured in decades of a quantity that falls from ``start`` towards ``target`` (log10 scale).

    The bar shows the furthest point reached so far (FIRE's max|F| is not monotonic); ``note`` shows the current
    value. The total is at least 0.1 decade, the resolution shown, so that a start already below ``target`` is done.
    A non-finite start gives a bar without a total.
    """

    def __init__(self, name: str, start: float, target: float, *, quantity: str, enabled: bool = True):
        self._start, self._target = float(start), float(target)
        known = math.isfinite(self._start) and self._start > 0
        fmt = (f"{{desc}}: {{percentage:3.0f}}%|{{bar}}| {{n:.1f}}/{{total:.1f}} decades of {quantity} "
               "[{elapsed}<{remaining}{postfix}]")
        # miniters=0: redraw on time alone, so that the noted values stay current while the bar does not move.
        super().__init__(name, max(math.log10(self._start / self._target), 0.1) if known else None, unit="decade",
                         enabled=enabled, bar_format=fmt if known else None, miniters=0)

    def reach(self, value: float) -> None:
        """The quantity is now ``value``; the bar moves on if that is further than before."""
        total = self._bar.total
        if not self.enabled or total is None:
            return
        if value < self._target:
            done = total
        elif value < self._start:
            done = min(math.log10(self._start / value), total)
        else:  # not below the start yet (or NaN)
            done = 0.0
        self._bar.n = max(self._bar.n, done)
        self._bar.update(0)  # redraws, throttled by time


def message(text: str, *, enabled: bool = True) -> None:
    """One line on stderr (not a warning: silenced with the bars), written without breaking an open bar."""
    if enabled:
        tqdm.write(text, file=sys.stderr)
