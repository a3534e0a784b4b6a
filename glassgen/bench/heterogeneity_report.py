"""Report of predicted dynamic heterogeneity against temperature: ``report.json``, ``report.md`` and
``heterogeneity.png`` (chi_4 and the correlation length xi against T, one line per time, true values as open marks).

It takes the per-temperature summaries of :func:`glassgen.heterogeneity.heterogeneity`; files are written as
:func:`glassgen.bench.report.write_report` writes them (temporary name, then rename).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from glassgen.bench.report import _cell, _figure, _number, _table, _write, _write_figure

__all__ = ["write_heterogeneity_report"]


def write_heterogeneity_report(summaries: list[dict], folder, *, title: str, notes: list[str] = ()) -> list[Path]:
    """Write the report of ``summaries`` into ``folder`` (created if missing); returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    document = {"title": title, "notes": list(notes), "temperatures": summaries}
    written = [_write(folder / "report.json", json.dumps(document, indent=1, default=_number).encode()),
               _write(folder / "report.md", _markdown(summaries, title, notes).encode()),
               _write_figure(folder / "heterogeneity.png", _figure_of(summaries))]
    return written


def _with_spread(summary: dict, name: str, t: str, digits: int) -> str:
    value = (summary.get(name) or {}).get(t)
    spread = (summary.get(f"{name}_std") or {}).get(t)
    text = _cell(value, digits=digits)
    return text if spread is None or value is None else f"{text} ± {spread:.{digits}f}"


def _markdown(summaries: list[dict], title: str, notes) -> str:
    times = list((summaries[0].get("length") or {}).keys())
    lines = [f"# {title}", "", *notes, *([""] if notes else []),
             f"chi_4: GlassBench's, of the field thresholded at a = {summaries[0]['threshold']:g}, over the "
             "configurations of each temperature; xi: decay length of the spatial correlation of the field over "
             "type-A pairs. Predicted values are those of the ensemble's mean field, ± the spread over its members; "
             "true values where the data hold labels at these times."]
    for name, quantity, digits in (("chi4", "chi_4", 2), ("length", "xi", 2), ("pearson", "rho_P (type A)", 3)):
        if not any(s.get(name) for s in summaries):
            continue
        rows = []
        for s in summaries:
            cells = [_with_spread(s, name, t, digits) for t in times]
            if name != "pearson" and s.get(f"{name}_true"):
                cells = [f"{c} (true {_cell(s[f'{name}_true'].get(t), digits=digits)})" for c, t in zip(cells, times)]
            rows.append([_temperature(s), str(s["n_configurations"])] + cells)
        lines += ["", f"## {quantity}", "", *_table(["T", "configurations"] + [f"t = {t}" for t in times], rows)]
    return "\n".join(lines) + "\n"


def _temperature(summary: dict) -> str:
    if summary["temperature"] is None:
        return "unknown"
    below = summary.get("below_training")
    return f"{summary['temperature']:g}" + (f" ({below:.3g} below training)" if below else "")


def _figure_of(summaries: list[dict]):
    figure = _figure(9.0, 3.6)
    known = sorted((s for s in summaries if s["temperature"] is not None), key=lambda s: s["temperature"])
    times = list((summaries[0].get("length") or {}).keys())
    for panel, (name, label) in enumerate((("chi4", r"$\chi_4$"), ("length", r"$\xi$"))):
        ax = figure.add_subplot(1, 2, panel + 1)
        for t in times:
            rows = [s for s in known if (s.get(name) or {}).get(t) is not None]
            x = [s["temperature"] for s in rows]
            y = [s[name][t] for s in rows]
            spread = [(s.get(f"{name}_std") or {}).get(t) or 0.0 for s in rows]
            line = ax.errorbar(x, y, yerr=spread, fmt="o-", capsize=3, label=f"t = {t}")[0]
            true = [(s["temperature"], s[f"{name}_true"][t]) for s in rows if s.get(f"{name}_true")
                    and s[f"{name}_true"].get(t) is not None and math.isfinite(s[f"{name}_true"][t])]
            if true:
                ax.plot(*zip(*true), "s", mfc="none", color=line.get_color())
        ax.set_xlabel("T")
        ax.set_ylabel(label)
        if panel == 0:
            ax.legend(fontsize="small", title="open squares: true", title_fontsize="small")
    return figure
