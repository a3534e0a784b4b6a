"""Benchmark reports: ``report.json``, a Markdown table to paste into a paper draft, and PNG figures.

A result is a mapping of names to :func:`~glassgen.bench.tasks.evaluate` results (recognised by their ``pearson``
key) and :func:`~glassgen.bench.tasks.transfer_matrix` results (recognised by ``train_temperatures``), or one of
them alone. Figures are drawn on a bare Agg ``Figure`` (no pyplot, no global backend change) and exist only for what
the result has. Every file is written to a temporary name and renamed, so a report folder never holds half a file.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from glassgen.errors import InvalidInputError

__all__ = ["write_report"]


def write_report(result: Mapping, folder: str | os.PathLike, *, ceiling: Mapping | None = None,
                 published: Mapping | None = None, title: str = "GlassBench report") -> list[Path]:
    """Write ``report.json``, ``report.md`` and PNG figures of a benchmark result into ``folder``.

    Parameters
    ----------
    result : mapping
        ``{name: evaluation or transfer matrix}``, or a single evaluation or transfer matrix.
    folder : path
        Created if missing; files of the same names are replaced.
    ceiling : mapping, optional
        Measured noise ceiling {time: rho_max} (:func:`glassgen.bench.metrics.rho_max`), shown with the rho_P.
    published : mapping, optional
        Published numbers shown in parentheses beside ours, in the form of an entry of
        :data:`glassgen.bench.published.GLASSBENCH`: ``pearson`` {name: {time: value}}, ``ceiling`` {time: value},
        ``chi4`` {name or "true": {time: value}}, ``transfer`` {name: {train T: {test T: value}}}.
    title : str
        First heading of the Markdown report.

    Returns
    -------
    list of Path
        The files written.
    """
    scores, transfers = _split(result)
    published = dict(published or {})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ceiling = dict(ceiling or {})
    document = {"title": title, "results": {**scores, **transfers}, "ceiling": ceiling, "published": published}
    written = [_write(folder / "report.json", json.dumps(document, indent=1, default=_number).encode()),
               _write(folder / "report.md", _markdown(title, scores, transfers, ceiling, published).encode())]
    figures = {}
    if scores:
        figures["pearson.png"] = _pearson_figure(scores, ceiling, published)
    if any(s.get("chi4") for s in scores.values()):
        figures["chi4.png"] = _chi4_figure(scores)
    for name, score in scores.items():
        if score.get("sample"):
            figures[f"scatter_{_slug(name)}.png"] = _scatter_figure(name, score)
    for name, matrix in transfers.items():
        figures[f"transfer_{_slug(name)}.png"] = _transfer_figure(name, matrix)
    written += [_write_figure(folder / file_name, figure) for file_name, figure in figures.items()]
    return written


# --------------------------------------------------------------------------------------------------- input, files
def _split(result: Mapping) -> tuple[dict, dict]:
    """(evaluations, transfer matrices) by name."""
    if not isinstance(result, Mapping):
        raise InvalidInputError(f"result must be a dict of evaluations and transfer matrices; got {type(result)}.")
    if "pearson" in result or "train_temperatures" in result:
        result = {"prediction" if "pearson" in result and "train_temperatures" not in result else "transfer": result}
    scores, transfers = {}, {}
    for name, entry in result.items():
        if isinstance(entry, Mapping) and "train_temperatures" in entry:
            transfers[str(name)] = entry
        elif isinstance(entry, Mapping) and "pearson" in entry:
            scores[str(name)] = entry
        else:
            raise InvalidInputError(
                f"result[{name!r}] is neither an evaluate() result (with 'pearson') nor a transfer_matrix() result "
                "(with 'train_temperatures'); pass the dicts those functions return."
            )
    if not scores and not transfers:
        raise InvalidInputError("result is empty; pass at least one evaluation or transfer matrix.")
    return scores, transfers


def _write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def _write_figure(path: Path, figure) -> Path:
    """Write ``figure`` as a PNG, like :func:`_write`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return _write(path, buffer.getvalue())


def _number(value):
    """JSON fallback for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "result"


def _times(entries) -> list[str]:
    """The union of the time keys of ``entries`` (mappings time -> value), in increasing time."""
    return sorted({t for entry in entries for t in entry}, key=float)


def _cell(value, reference=None, digits: int = 3) -> str:
    text = "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
    if reference is not None:
        text = f"{text} ({reference:.{digits}f})".strip()
    return text or "–"


# ------------------------------------------------------------------------------------------------------- Markdown
def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _markdown(title: str, scores: dict, transfers: dict, ceiling: dict, published: dict) -> str:
    lines = [f"# {title}", ""]
    if scores:
        first = next(iter(scores.values()))
        label = first.get("label")
        where = f"{first.get('model')} at T = {first.get('temperature')}"
        lines += [(f"Scored on {where}: species {first.get('species')} only, pooled over all configurations "
                   "(not per-configuration averages)."),
                  (f"Truth: the true `{label}` labels of the data (isoconfigurational simulation), never stored "
                   f"predictions (`predicted_{label}`).")]
        if published:
            lines += ["In parentheses: the published GlassBench value."]
        pearson = published.get("pearson", {})
        published_ceiling = published.get("ceiling", {})
        times = _times([s["pearson"] for s in scores.values()])
        rows = [[name] + [_cell(s["pearson"].get(t), pearson.get(name, {}).get(t)) for t in times]
                for name, s in scores.items()]
        if ceiling or published_ceiling:
            rows.append(["noise ceiling rho_max"] + [_cell(ceiling.get(t), published_ceiling.get(t)) for t in times])
        lines += ["", "## Pearson correlation rho_P", "", *_table(["predictor"] + [f"t = {t}" for t in times], rows)]
        rows = [[name] + [_cell(s["r2"].get(t)) for t in times] for name, s in scores.items()]
        lines += ["", "## Coefficient of determination R^2", "",
                  *_table(["predictor"] + [f"t = {t}" for t in times], rows)]
        with_chi4 = {name: s["chi4"] for name, s in scores.items() if s.get("chi4")}
        if with_chi4:
            chi4_published = published.get("chi4", {})
            rows = [[name, c["scale"], f"{c['threshold']:g}"]
                    + [f"{_cell(c['predicted'].get(t), chi4_published.get(name, {}).get(t), 1)} / "
                       f"{_cell(c['true'].get(t), chi4_published.get('true', {}).get(t), 1)}" for t in times]
                    for name, c in with_chi4.items()]
            lines += ["", "## chi_4 of the propensity field, predicted / true", "",
                      *_table(["predictor", "scale", "a"] + [f"t = {t}" for t in times], rows)]
        described = {name: s["descriptor"] for name, s in scores.items() if s.get("descriptor")}
        if described:
            rows = [[name, f"{d['length']:g}" if d["length"] is not None else "–", "inherent" if d["inherent"] else
                     "thermal", f"{d['seconds']:.1f}"] for name, d in described.items()]
            lines += ["", "## Physical descriptors", "",
                      *_table(["descriptor", "coarse-graining L", "state", "seconds"], rows)]
    for name, matrix in transfers.items():
        reference = published.get("transfer", {}).get(name, {})
        header = ["trained at \\ tested at"] + [f"T = {t} (t = {matrix['test_times'][t]:g})"
                                                 for t in matrix["test_temperatures"]]
        rows = [[f"T = {t_train}"] + [_cell(v, reference.get(t_train, {}).get(t_test))
                                      for t_test, v in zip(matrix["test_temperatures"], row)]
                for t_train, row in zip(matrix["train_temperatures"], matrix["pearson"])]
        lines += ["", f"## Transfer: {name} (rho_P, species {matrix['species']})", "", *_table(header, rows)]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------------------- figures
def _time_label(scores: dict) -> str:
    """The time axis: t/tau_alpha when every result's times are in units of tau_alpha."""
    units = {score.get("time_unit") for score in scores.values()}
    return r"$t/\tau_\alpha$" if units == {"tau_alpha"} else "t"


def _figure(width: float = 5.0, height: float = 3.6):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _pearson_figure(scores: dict, ceiling: dict, published: dict):
    figure = _figure()
    ax = figure.add_subplot()
    for name, score in scores.items():
        times = _times([score["pearson"]])
        line, = ax.plot([float(t) for t in times], [score["pearson"][t] for t in times], "o-", label=name)
        reference = published.get("pearson", {}).get(name, {})
        if reference:
            ax.plot([float(t) for t in reference], list(reference.values()), "s", mfc="none", color=line.get_color())
    for values, style, label in ((ceiling, "k*", "noise ceiling"),
                                 (published.get("ceiling", {}), "w*", "noise ceiling (published)")):
        if values:
            ax.plot([float(t) for t in values], list(values.values()), style, mec="k", label=label)
    ax.set_xscale("log")
    ax.set_xlabel(_time_label(scores))
    ax.set_ylabel(r"$\rho_P$")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.legend(fontsize="small", title="open squares: published" if published.get("pearson") else None,
              title_fontsize="small")
    return figure


def _chi4_figure(scores: dict):
    figure = _figure()
    ax = figure.add_subplot()
    true_drawn = False
    for name, score in scores.items():
        chi4 = score.get("chi4")
        if not chi4:
            continue
        times = _times([chi4["predicted"]])
        x = [float(t) for t in times]
        if not true_drawn:
            ax.plot(x, [chi4["true"][t] for t in times], "k-", lw=2, label=f"true (a = {chi4['threshold']:g})")
            true_drawn = True
        ax.plot(x, [chi4["predicted"][t] for t in times], "o--", label=f"{name} ({chi4['scale']})")
    ax.set_xscale("log")
    ax.set_xlabel(_time_label(scores))
    ax.set_ylabel(r"$\chi_4$")
    ax.legend(fontsize="small")
    return figure


def _scatter_figure(name: str, score: dict):
    times = [f"{t:g}" for t in score["times"]]
    columns = min(len(times), 5)
    rows = math.ceil(len(times) / columns)
    figure = _figure(2.6 * columns, 2.6 * rows)
    for k, t in enumerate(times):
        ax = figure.add_subplot(rows, columns, k + 1)
        ax.scatter(score["sample"]["true"][k], score["sample"]["predicted"][k], s=3, alpha=0.4)
        ax.set_title(f"t = {t}, rho_P = {score['pearson'][t]:.3f}", fontsize="small")
        ax.set_xlabel("true", fontsize="small")
        ax.set_ylabel("predicted", fontsize="small")
    figure.suptitle(f"{name}: species {score['species']} (subsample)")
    figure.tight_layout()
    return figure


def _transfer_figure(name: str, matrix: dict):
    values = np.array(matrix["pearson"], dtype=np.float64)
    figure = _figure(1.2 * values.shape[1] + 2.5, 1.0 * values.shape[0] + 1.5)
    ax = figure.add_subplot()
    image = ax.imshow(values, cmap="viridis", vmin=min(0.0, np.nanmin(values)), vmax=1.0)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize="small")
    unit = " tau_alpha" if matrix.get("time_unit") == "tau_alpha" else ""
    ax.set_xticks(range(values.shape[1]), [f"{t}\n(t = {matrix['test_times'][t]:g}{unit})"
                                           for t in matrix["test_temperatures"]], fontsize="small")
    ax.set_yticks(range(values.shape[0]), matrix["train_temperatures"], fontsize="small")
    ax.set_xlabel("test temperature")
    ax.set_ylabel("training temperature")
    ax.set_title(f"{name}: rho_P")
    figure.colorbar(image, ax=ax)
    return figure
