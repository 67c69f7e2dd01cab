"""How a :class:`~symjac.comparison.Report` and a :class:`~symjac.comparison.Scan` look:
the text table, the HTML table (Jupyter) and the PNG plot.

>>> fmt_point([1.0, 0.5])
'[1.0, 0.5]'
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symjac.accuracy import tolerance

if TYPE_CHECKING:
    from symjac.comparison.report import Report, Row
    from symjac.comparison.scanning import Scan

__all__ = ["fmt_point", "json_float", "report_html", "report_text", "scan_plot", "scan_png"]

#: verdict -> (text colour, background) in Report._repr_html_
_VERDICT_COLOURS = {
    "ok": ("#116329", "#dafbe1"),
    "convention": ("#7d4e00", "#fff8c5"),
    "mismatch": ("#a40e26", "#ffebe9"),
    "nonfinite": ("#a40e26", "#ffebe9"),
}

_HEADER = ["qty", "method", "dtype", "shape", "max|err|", "rel.err", "max ULPs", "worst",
           "computed", "exact", "verdict"]  # fmt: skip
#: the columns aligned right (the numbers)
_RIGHT = {4, 5, 6, 8, 9}


def fmt_point(point: Sequence[float]) -> str:
    """A point as ``[1.0, 0.5]``, each coordinate by its float repr.

    >>> fmt_point((0.1,))
    '[0.1]'
    """
    return "[" + ", ".join(repr(float(v)) for v in point) + "]"


def json_float(value: float) -> float | str:
    """``value`` as a float, or as its string where JSON has no number (inf, nan).

    >>> json_float(2), json_float(float("inf"))
    (2.0, 'inf')
    """
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _g(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


def _cells(row: Row) -> list[str]:
    """The ten figure columns of one row (all but the verdict)."""
    m = row.measurement
    return [row.quantity, row.method, row.dtype, "x".join(str(s) for s in row.shape),
            _g(m.max_abs), _g(m.max_rel), _g(m.max_ulps), ",".join(str(i) for i in row.worst),
            _g(m.computed, 4), _g(float(m.exact), 4)]  # fmt: skip


def _note_mark(row: Row, notes: list[str]) -> str:
    """`` [k]``, the footnote of the row's note (added to ``notes`` on first use), or ``""``."""
    if not row.note:
        return ""
    if row.note not in notes:
        notes.append(row.note)
    return f" [{notes.index(row.note) + 1}]"


def _heading(report: Report) -> tuple[str, str]:
    """The input names and the default tolerances, as the header lines give them."""
    names = ", ".join(report.input_names) if report.input_names else "x"
    tols = "; ".join(
        f"{d} rtol {tolerance(d).rtol:g} or {tolerance(d).ulps:g} ULPs" for d in report.dtypes
    )
    return names, tols


def _summary(report: Report) -> str:
    return (
        f"{'OK' if report.ok else 'FAILED'}: {sum(r.ok for r in report.rows)} of "
        f"{len(report.rows)} rows within tolerance"
        + (
            f"; {len(report.skipped)} requested computations could not run"
            if report.skipped
            else ""
        )
        + (" (accepted: allow_skipped)" if report.skipped and report.allow_skipped else "")
    )


def report_text(report: Report) -> str:
    """The report as a text table that fits 100 columns (``print(report)``).

    >>> import symjac, torch
    >>> print(report_text(symjac.compare(torch.nn.Tanh(), [0.5], "float64")).splitlines()[0])
    symjac.compare: Tanh [1, 1] at x = [0.5]
    """
    notes: list[str] = []
    cells = [[*_cells(row), row.verdict + _note_mark(row, notes)] for row in report.rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(_HEADER)]  # fmt: skip

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if i in _RIGHT else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths))
        ]
        return " ".join(parts).rstrip()

    names, tols = _heading(report)
    out = [
        f"symjac.compare: {report.target} at x = {fmt_point(report.point)}",
        f"inputs ({names}); exact: mpmath, 50 digits; default tolerance: {tols}",
    ]
    out = [w for text in out for w in textwrap.wrap(text, 100, subsequent_indent="  ")]
    if report.rows:
        rtols = {(r.dtype, r.measurement.tolerance) for r in report.rows}
        custom = [t for t in rtols if t[1] != tolerance(t[0])]
        if custom:
            out.append(
                "tolerance used: "
                + "; ".join(f"{d} rtol {t.rtol:g} or {t.ulps:g} ULPs" for d, t in sorted(custom))
            )
    out.append(line(_HEADER))
    out.extend(line(c) for c in cells)
    out.append(_summary(report))
    for k, note in enumerate(notes + report.notes, 1):
        prefix = f"[{k}] " if k <= len(notes) else "note: "
        out.extend(textwrap.wrap(prefix + note, 100, subsequent_indent="    "))
    for item in report.skipped:
        out.extend(textwrap.wrap("skipped: " + item, 100, subsequent_indent="    "))
    return "\n".join(out)


def report_html(report: Report) -> str:
    """The report as an HTML table with coloured verdicts (how Jupyter shows it).

    The same columns, summary and notes as :func:`report_text`; each verdict
    cell is coloured: ok green, convention amber, mismatch and nonfinite red.

    >>> import symjac, torch
    >>> page = report_html(symjac.compare(torch.nn.Tanh(), [10.0]))
    >>> page.startswith("<div") and "mismatch</td>" in page and "FAILED" in page
    True
    """
    esc = html.escape
    notes: list[str] = []
    body = []
    for row in report.rows:
        mark = _note_mark(row, notes)
        tds = [
            f'<td style="text-align:right">{esc(c)}</td>' if i in _RIGHT else f"<td>{esc(c)}</td>"
            for i, c in enumerate(_cells(row))
        ]
        colour, background = _VERDICT_COLOURS.get(row.verdict, ("#000000", "transparent"))
        tds.append(
            f'<td style="color:{colour};background:{background};font-weight:bold">'
            f"{esc(row.verdict)}{esc(mark)}</td>"
        )
        body.append("<tr>" + "".join(tds) + "</tr>")
    names, tols = _heading(report)
    colour = _VERDICT_COLOURS["ok" if report.ok else "mismatch"][0]
    extra = [f"[{k}] {note}" for k, note in enumerate(notes, 1)]
    extra += [f"note: {note}" for note in report.notes]
    extra += [f"skipped: {item}" for item in report.skipped]
    out = [
        '<div class="symjac-report">',
        f"<p><b>symjac.compare</b>: {esc(report.target)} at x = {esc(fmt_point(report.point))}"
        f"<br>inputs ({esc(names)}); exact: mpmath, 50 digits; default tolerance: "
        f"{esc(tols)}</p>",
        '<table cellpadding="3">',
        "<thead><tr>"
        + "".join(
            f'<th style="text-align:{"right" if i in _RIGHT else "left"}">{esc(h)}</th>'
            for i, h in enumerate(_HEADER)
        )
        + "</tr></thead>",
        "<tbody>" + "".join(body) + "</tbody>",
        "</table>",
        f'<p style="color:{colour};font-weight:bold">{esc(_summary(report))}</p>',
    ]
    if extra:
        out.append("<ul>" + "".join(f"<li>{esc(e)}</li>" for e in extra) + "</ul>")
    out.append("</div>")
    return "\n".join(out)


def scan_plot(scan: Scan, path: Any) -> Any:
    """Draw ULP error against x (or point index) per method and dtype; write a PNG.

    The dashed line of each dtype is its tolerance band in ULPs at the largest
    exact entry. Needs matplotlib (``pip install 'symjac[plot]'``); uses the Agg
    backend without touching pyplot's global state.

    >>> import symjac, torch, tempfile, os
    >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     os.path.getsize(scan_plot(s, os.path.join(d, "scan.png"))) > 0
    True
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "Scan.plot needs matplotlib, which is not installed; install it with "
            "pip install 'symjac[plot]' (or pip install matplotlib)"
        ) from None
    import os

    path = os.fspath(path)
    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = scan.x if scan.x is not None else np.arange(len(scan.points))
    styles = {"float64": "-", "float32": "-", "float16": "-", "bfloat16": "-"}
    every = scan.all_series
    for s in every:
        y = np.where(np.isfinite(s.max_ulps), np.maximum(s.max_ulps, 0.1), np.nan)
        ax.plot(xs, y, styles[s.dtype], lw=1, label=f"{s.method} {s.dtype}")
    for dtype in scan.dtypes:
        band = next(s.band_ulps for s in every if s.dtype == dtype)
        ax.plot(xs, band, "--", color="black" if dtype == "float64" else "gray", lw=1,
                label=f"tolerance {dtype}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("x" if scan.x is not None else "point index")
    ax.set_ylabel("max ULP error (in the dtype, at the exact value)")
    ax.set_title(f"symjac.scan: {scan.target}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path


def scan_png(scan: Scan) -> bytes | None:
    """:func:`scan_plot` as PNG bytes (how Jupyter shows a scan); None without matplotlib.

    >>> import symjac, torch
    >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
    >>> scan_png(s)[:4]
    b'\\x89PNG'
    """
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = scan.plot(os.path.join(tmp, "scan.png"))
        except ImportError:  # no matplotlib: Jupyter falls back to the repr
            return None
        with open(path, "rb") as fh:
            return fh.read()
