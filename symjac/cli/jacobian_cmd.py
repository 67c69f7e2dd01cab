"""``symjac jacobian``: the exact Jacobian of expressions, and its value at a point.

Only SymPy and symjac's symbolic core are imported here: this command never
loads torch (NOTE: cli-torch-free in :mod:`symjac.cli`).

>>> from symjac import examples
>>> from symjac.cli.text import Style
>>> print("\\n".join(jacobian_text(examples.planar(), None, Style(False))))
f(x1, x2) = (x1**2 + x2, x1 + x2**2)
<BLANKLINE>
J_f = d(f1, f2)/d(x1, x2)   (2 x 2: rows are outputs, columns are inputs)
  [2*x1     1]
  [   1  2*x2]
"""

from __future__ import annotations

import argparse
from typing import Any

import sympy

from symjac.cli.errors import EXIT_OK, EXIT_USAGE, CliError
from symjac.cli.text import (
    Style,
    cut,
    exact_strings,
    expr_text,
    float_lists,
    grid,
    jacobian_label,
    map_text,
    mp_text,
    point_text,
    value_latex,
    wrap,
)
from symjac.cli.values import parse_point, split_names
from symjac.maps import Jacobian, VectorMap


def jacobian_document(
    f: VectorMap,
    point: dict[str, Any] | None,
    *,
    latex: bool = False,
    J: Jacobian | None = None,
    value: Any = None,
) -> dict[str, Any]:
    """The JSON content for one map: its Jacobian, and its value at ``point`` if given.

    >>> from symjac import examples
    >>> doc = jacobian_document(examples.planar(), {"x1": 1, "x2": 2})
    >>> doc["jacobian"]["exact"], doc["value"]["numeric"]
    ([['2*x1', '1'], ['1', '2*x2']], [[2.0, 1.0], [1.0, 4.0]])
    """
    J = f.jacobian() if J is None else J
    doc: dict[str, Any] = {
        "function": {
            "name": f.name,
            "inputs": [s.name for s in f.inputs],
            "params": [s.name for s in f.params],
            "outputs": [expr_text(e) for e in f.outputs],
            "output_names": list(f.output_names),
        },
        "jacobian": {"shape": list(J.shape), "exact": exact_strings(J.matrix)},
        "point": None,
        "value": None,
    }
    if point is not None:
        value = J.at(point) if value is None else value
        doc["point"] = {k: str(v) for k, v in point.items()}
        doc["value"] = {
            "exact": exact_strings(value),
            "numeric": float_lists(value),
            "map_exact": exact_strings(f.at(point)),
        }
    if latex:
        doc["latex"] = {"map": f.latex(), "jacobian": J.latex()}
        if point is not None:
            doc["latex"]["value"] = value_latex(J, point, value)
    return doc


def jacobian_text(
    f: VectorMap,
    point: dict[str, Any] | None,
    style: Style,
    *,
    J: Jacobian | None = None,
    value: Any = None,
) -> list[str]:
    """Text lines for one map, its Jacobian and its value at ``point``.

    >>> from symjac import examples
    >>> print("\\n".join(jacobian_text(examples.square(), {"x": 3}, Style(False))))
    f(x) = x**2
    <BLANKLINE>
    df/dx = 2*x
    <BLANKLINE>
    <BLANKLINE>
    at x = 3:
      df/dx = 6
    """
    J = f.jacobian() if J is None else J
    lines = wrap(map_text(f), "")
    lines.append("")
    cells = exact_strings(J.matrix)
    label = jacobian_label(J)
    if J.shape == (1, 1):
        lines.extend(wrap(f"{style.bold(label)} = {cut(cells[0][0])}", ""))
    elif J.shape[0] == 1:  # a scalar map: one partial derivative per variable
        out = J.function.output_names[0]
        for x, cell in zip(J.inputs, cells[0]):
            lines.extend(wrap(f"{style.bold(f'd{out}/d{x.name}')} = {cut(cell)}", ""))
    else:
        rows, cols = J.shape
        lines.append(
            f"{style.bold(label)}   ({rows} x {cols}: rows are outputs, columns are inputs)"
        )
        lines.extend(grid(cells))
    if point is not None:
        value = J.at(point) if value is None else value
        short = label.split(" = ")[0]
        lines.append("")
        exact = exact_strings(value)
        approx = [[_approx(e) for e in row] for row in value.tolist()]
        if J.shape[0] == 1:  # scalar map: one line per partial derivative
            out = J.function.output_names[0]
            lines.append(f"at {point_text(point)}:")
            for x, cell, num in zip(J.inputs, exact[0], approx[0]):
                tail = f" ~ {num}" if num else ""
                lines.extend(wrap(f"  d{out}/d{x.name} = {cut(cell)}{tail}", ""))
        else:
            lines.append(f"{short} at {point_text(point)}:")
            lines.extend(grid(exact))
            if any(num for row in approx for num in row):
                lines.append("  numerically (15 significant digits):")
                lines.extend(
                    grid([[num or cell for num, cell in zip(r, e)] for r, e in zip(approx, exact)])
                )
    return lines


def _approx(expr: Any) -> str:
    """15-digit decimal of a number that is not rational (empty for rationals and symbols)."""
    expr = sympy.sympify(expr)
    if expr.is_Rational or not expr.is_number:
        return ""
    return mp_text(sympy.N(expr, 20), 15)


def _kink_notes(f: VectorMap, point: dict[str, Any]) -> list[str]:
    """Notes for a point on a kink of the map, where the value shown is a convention.

    >>> _kink_notes(VectorMap("abs(x)", "x"), {"x": 0})
    ["f: the point is a kink (abs(u) at u = 0: torch uses abs'(0) = 0), where the derivative does not exist; the value shown is SymPy's convention"]
    """
    from symjac.activations import kink_sites
    from symjac.evaluation import exact_at

    values = {s: sympy.sympify(point[s.name]) for s in f.inputs}
    notes = []
    for name, expr in zip(f.output_names, f.outputs):
        for why, site, test in kink_sites(expr):
            if test != "zero" or site.free_symbols - set(values):
                continue
            if exact_at([site], values)[0] == 0:
                notes.append(
                    f"{name}: the point is a kink ({why}), where the derivative does not "
                    "exist; the value shown is SymPy's convention"
                )
                break
    return notes


def cmd_jacobian(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac jacobian``: the exact Jacobian of expressions, and its value at a point.

    Returns the exit code, the JSON document and the text lines (as every command does).

    >>> from symjac.cli.parser import build_parser
    >>> args = build_parser().parse_args(["jacobian", "x**2", "--wrt", "x", "--at", "x=3"])
    >>> code, doc, lines = cmd_jacobian(args, Style(False))
    >>> code, doc["value"]["exact"], lines[-3:]
    (0, [['6']], ['at x = 3:', '  df/dx = 6', ''])
    """
    variables = split_names(args.wrt)
    params = split_names(args.params or [])
    try:
        f = VectorMap(args.exprs, variables, name=args.name, params=params)
    except ValueError as err:
        message = str(err)
        if "add it to the variables" in message:
            message += " (--wrt VAR ... or --params NAME ...)"
        raise CliError(message, EXIT_USAGE) from None
    point = parse_point(args.at, variables) if args.at else None
    J = f.jacobian()
    value = None
    if point is not None:
        f.at(point)  # the map itself must be defined there (NOTE: bounded-evaluation)
        value = J.at(point)
    doc = jacobian_document(f, point, latex=args.latex, J=J, value=value)
    doc = {"command": "jacobian", **doc}
    if args.latex:
        lines = [doc["latex"]["map"], doc["latex"]["jacobian"]]
        if point is not None:
            lines.append(doc["latex"]["value"])
    else:
        lines = jacobian_text(f, point, style, J=J, value=value)
    if point is not None:
        doc["notes"] = _kink_notes(f, point)
        if not args.latex:
            lines += [""] + [line for note in doc["notes"] for line in wrap(f"note: {note}", "")]
    return EXIT_OK, doc, lines
