"""The ``symjac`` command line: ``demo``, ``jacobian``, ``mlp`` and ``check``.

Run ``symjac --help`` (or ``python -m symjac --help``) for the commands. Every
command prints readable text, or one JSON document with ``--json``. Errors are
one line on stderr, ``symjac: error: ...``, naming the problem and the fix (a
traceback only with ``--debug``).

Exit codes (see :data:`EXIT_CODES`): 0 ok, 1 the model disagrees with the exact
Jacobian (``check``), 2 a usage or input error, 3 a limit of symjac itself (a
size limit, or a function, layer or operation it cannot represent), 4 an
internal error, 5 a requested check that could not run (``check``: a method
skipped; ``--allow-skipped`` accepts that).

NOTE: cli-torch-free
    ``symjac jacobian`` never imports torch (it costs seconds to import):
    this module imports only symjac's SymPy core at the top, and torch is
    imported inside the commands that need it (``demo``, ``mlp --seed``,
    ``check``).

>>> main(["jacobian", "x1**2 + x2", "x1 + x2**2", "--wrt", "x1", "x2", "--at", "x1=1", "x2=2"])
f(x1, x2) = (x1**2 + x2, x1 + x2**2)
<BLANKLINE>
J_f = d(f1, f2)/d(x1, x2)   (2 x 2: rows are outputs, columns are inputs)
  [2*x1     1]
  [   1  2*x2]
<BLANKLINE>
J_f at x1 = 1, x2 = 2:
  [2  1]
  [1  4]
0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TextIO

import sympy
from sympy.core.function import Application
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

import symjac
from symjac import examples
from symjac import latex as _latex
from symjac.exceptions import SymjacError
from symjac.maps import Jacobian, VectorMap

__all__ = ["EXIT_CODES", "build_parser", "main"]

EXIT_OK = 0
EXIT_DISAGREE = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_INTERNAL = 4
EXIT_UNCHECKED = 5
EXIT_OUTPUT = 6

#: exit code -> meaning, as documented in ``symjac --help``
EXIT_CODES = {
    EXIT_OK: "success (check: the model agrees with the exact Jacobian)",
    EXIT_DISAGREE: "check: the model disagrees with the exact Jacobian beyond tolerance",
    EXIT_USAGE: "usage or input error (bad option, expression, point, file or target)",
    EXIT_LIMIT: "a limit of symjac (a size limit, or a function, layer or op it cannot read)",
    EXIT_INTERNAL: "internal error (a bug: rerun with --debug and report the traceback)",
    EXIT_UNCHECKED: "check: a requested method could not run, so the model was not fully checked",
    EXIT_OUTPUT: "the output could not be written (standard output closed or its disk full)",
}
#: operations above which an expression prints unordered (see expr_text)
MAX_ORDERED_OPS = 300
#: longest message printed; longer ones keep their start and their advice at the end
MAX_MESSAGE = 300

#: terminal width the text output is laid out for
WIDTH = 80
#: significant digits of exact values shown in text (JSON carries 50)
SHOWN_DIGITS = 10
#: digits of the high-precision reference values
REFERENCE_DIGITS = 50
#: text output cuts one formula after this many characters (JSON keeps everything)
MAX_FORMULA = 1500

#: ``symjac mlp`` prints formulas for networks with at most this many weights
MAX_MLP_WEIGHTS = 128
#: ``symjac mlp --at`` also differentiates the composed map directly up to this many weights
MAX_IDENTITY_WEIGHTS = 32


class CliError(Exception):
    """A one-line error for the user, with the exit code to return.

    >>> err = CliError("no such file 'm.pt'; check the path", EXIT_USAGE)
    >>> err.code, str(err)
    (2, "no such file 'm.pt'; check the path")
    """

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


class _ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) raised as :class:`CliError`."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message}; see '{self.prog} --help'", EXIT_USAGE)


# -- styling --------------------------------------------------------------------------------


class Style:
    """ANSI styling, on only for a terminal and never when ``NO_COLOR`` is set.

    >>> Style(False).bold("text")
    'text'
    >>> Style(True).bold("text")
    '\\x1b[1mtext\\x1b[0m'
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        """Colour only when ``stream`` is a terminal, ``NO_COLOR`` is unset and TERM is not dumb.

        >>> import io
        >>> Style.for_stream(io.StringIO()).enabled
        False
        """
        if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
            return cls(False)
        isatty = getattr(stream, "isatty", None)
        try:
            return cls(bool(isatty and isatty()))
        except (OSError, ValueError):
            return cls(False)

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        """Bold (headings)."""
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        """Dim (notes)."""
        return self._wrap("2", text)

    def good(self, text: str) -> str:
        """Green (agreement)."""
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        """Red (disagreement)."""
        return self._wrap("31", text)


# -- formatting helpers ---------------------------------------------------------------------

_WEIGHT_NAME = re.compile(r"^([A-Za-z]+)\^\{\((\d+)\)\}_\{([\d,]+)\}$")


def readable_names(expr: Any) -> Any:
    """Rename symjac's LaTeX-style weight symbols for plain text: ``w^{(1)}_{21}`` -> ``W1_21``.

    Upper case keeps bias ``B2_1`` apart from a stage value such as ``b2``.

    >>> w = sympy.Symbol("w^{(1)}_{21}", real=True)
    >>> readable_names(2 * w)
    2*W1_21
    """
    replace = {}
    for sym in getattr(expr, "free_symbols", ()):
        match = _WEIGHT_NAME.match(sym.name)
        if match:
            letter, layer, index = match.groups()
            name = f"{letter.upper()}{layer}_{index.replace(',', '_')}"
            replace[sym] = sympy.Symbol(name, real=True)
    return expr.xreplace(replace) if replace else expr


def rounded(expr: Any, digits: int | None) -> Any:
    """Round every non-integer number in ``expr`` to ``digits`` significant digits (display only).

    >>> x = sympy.Symbol("x", real=True)
    >>> rounded(sympy.Rational(1, 3) * x, 4)
    0.3333*x
    """
    if digits is None:
        return expr
    return expr.replace(
        lambda e: isinstance(e, sympy.Number) and not e.is_Integer,
        lambda e: sympy.Float(e, digits),
    )


def expr_text(expr: Any, digits: int | None = None) -> str:
    """One expression as plain text (readable weight names, optional rounding).

    >>> expr_text(sympy.Rational(1, 3), 4)
    '0.3333'
    """
    expr = readable_names(rounded(sympy.sympify(expr), digits))
    if sympy.count_ops(expr, visual=False) > MAX_ORDERED_OPS:
        # SymPy's printer orders every sum's terms (evaluating numeric ones to compare
        # them), which dominates the cost of printing a large expression; big ones print in
        # their stored canonical order instead, in time linear in their size
        return sympy.sstr(expr, order="none")
    return str(expr)


def cut(text: str, limit: int = MAX_FORMULA) -> str:
    """Cut a long formula for the terminal, saying how much was left out.

    >>> cut("x" * 30, 10)
    'xxxxxxxxxx ... [20 more characters; --json prints all]'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]} ... [{len(text) - limit} more characters; --json prints all]"


def wrap(text: str, indent: str = "  ", hang: str | None = None) -> list[str]:
    """Wrap ``text`` to the terminal width at spaces, never inside a word.

    >>> wrap("a b", "  ")
    ['  a b']
    """
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "    " if hang is None else hang,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def grid(cells: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """A matrix of strings as aligned rows ``[a  b]``; entry by entry if too wide.

    >>> grid([["2*x1", "1"], ["1", "2*x2"]])
    ['  [2*x1     1]', '  [   1  2*x2]']
    """
    if not cells:
        return []
    cols = len(cells[0])
    widths = [max(len(row[j]) for row in cells) for j in range(cols)]
    lines = [
        indent + "[" + "  ".join(c.rjust(w) for c, w in zip(row, widths)) + "]" for row in cells
    ]
    if max(len(line) for line in lines) <= WIDTH:
        return lines
    out: list[str] = []
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            label = f"[{i + 1},{j + 1}] " if cols > 1 or len(cells) > 1 else ""
            out.extend(wrap(f"{label}{cut(cell)}", indent))
    return out


def mp_text(value: Any, digits: int = SHOWN_DIGITS) -> str:
    """An mpmath (or any real) number to ``digits`` significant digits.

    >>> import mpmath
    >>> mp_text(mpmath.mpf(1) / 3, 5)
    '0.33333'
    """
    import mpmath

    return mpmath.nstr(value, digits, strip_zeros=False, min_fixed=-10, max_fixed=10)


def numeric(expr: Any) -> float | None:
    """``expr`` as a float when it is a finite real number, else ``None`` (for JSON).

    >>> numeric(sympy.Rational(1, 4)), numeric(sympy.Symbol("x"))
    (0.25, None)
    """
    expr = sympy.sympify(expr)
    if not expr.is_number:
        return None
    try:
        value = complex(sympy.N(expr, 20))
    except (TypeError, ValueError):
        return None
    if value.imag or not math.isfinite(value.real):
        return None
    return value.real


def exact_strings(matrix: Any) -> list[list[str]]:
    """A SymPy matrix as nested lists of exact strings (JSON).

    >>> exact_strings(sympy.Matrix([[sympy.Rational(1, 3), 2]]))
    [['1/3', '2']]
    """
    rows, cols = matrix.shape
    return [[expr_text(matrix[i, j]) for j in range(cols)] for i in range(rows)]


def float_lists(matrix: Any) -> list[list[float | None]]:
    """A SymPy matrix as nested lists of floats (JSON); ``None`` where not a number.

    >>> float_lists(sympy.Matrix([[sympy.Rational(1, 4), 2]]))
    [[0.25, 2.0]]
    """
    rows, cols = matrix.shape
    return [[numeric(matrix[i, j]) for j in range(cols)] for i in range(rows)]


def _names(symbols: Sequence[Any]) -> str:
    return ", ".join(s.name for s in symbols)


def _tuple(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"({', '.join(items)})"


def map_text(f: VectorMap, digits: int | None = None) -> str:
    """``f(x1, x2) = (x1**2 + x2, x1 + x2**2)``.

    >>> map_text(examples.planar())
    'f(x1, x2) = (x1**2 + x2, x1 + x2**2)'
    """
    outs = [expr_text(e, digits) for e in f.outputs]
    return f"{f.name}({_names(f.inputs)}) = {_tuple(outs)}"


def jacobian_label(J: Jacobian, name: str | None = None) -> str:
    """``J_f = d(f1, f2)/d(x1, x2)`` (``df/dx`` for a scalar).

    >>> jacobian_label(examples.square().jacobian())
    'df/dx'
    """
    outs = list(J.function.output_names)
    ins = [s.name for s in J.inputs]
    if len(outs) == 1 and len(ins) == 1:
        return f"d{outs[0]}/d{ins[0]}"
    label = name or f"J_{J.function.name}"
    return f"{label} = d{_tuple(outs)}/d{_tuple(ins)}"


def point_text(point: dict[str, Any]) -> str:
    """``x1 = 1, x2 = 2``.

    >>> point_text({"x1": 1, "x2": sympy.Rational(1, 2)})
    'x1 = 1, x2 = 1/2'
    """
    return ", ".join(f"{k} = {v}" for k, v in point.items())


@contextlib.contextmanager
def _collect_warnings() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


# -- jacobian -------------------------------------------------------------------------------


def _split_names(values: Sequence[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        names.extend(part for part in re.split(r"[\s,]+", value) if part)
    return names


def _parse_point(items: Sequence[str], variables: Sequence[str]) -> dict[str, Any]:
    """``["x1=1", "x2=1/2"]`` -> exact values by name (all variables required)."""
    from symjac.parsing import parse_number

    values: dict[str, Any] = {}
    for item in items:
        for piece in (p for p in re.split(r"[\s,]+(?=[A-Za-z_]\w*\s*=)", item) if p):
            name, sep, text = piece.partition("=")
            name = name.strip()
            if not sep or not name or not text.strip():
                raise CliError(
                    f"--at takes VAR=VALUE pairs such as x1=1 x2=0.5, got {piece!r}", EXIT_USAGE
                )
            if name not in variables:
                raise CliError(
                    f"--at gives a value for {name!r}, which is not a variable; "
                    f"the variables (--wrt) are {', '.join(variables)}",
                    EXIT_USAGE,
                )
            if name in values:
                raise CliError(f"--at gives {name!r} twice; give each variable once", EXIT_USAGE)
            try:
                values[name] = parse_number(text.strip())
            except ValueError as err:
                raise CliError(f"--at {name}: {err}", EXIT_USAGE) from None
    missing = [v for v in variables if v not in values]
    if missing:
        raise CliError(
            f"--at gives no value for {', '.join(missing)}; give every variable, "
            f"e.g. --at {' '.join(f'{v}=1' for v in variables)}",
            EXIT_USAGE,
        )
    return {v: values[v] for v in variables}


def jacobian_document(
    f: VectorMap,
    point: dict[str, Any] | None,
    *,
    latex: bool = False,
    J: Jacobian | None = None,
    value: Any = None,
) -> dict[str, Any]:
    """The JSON content for one map: its Jacobian, and its value at ``point`` if given.

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


def value_latex(J: Jacobian, point: dict[str, Any], value: Any = None) -> str:
    """The Jacobian's exact value at ``point`` as LaTeX, ``J_f(args) = ...``.

    >>> value_latex(examples.square().jacobian(), {"x": 3})
    'J_f(3) = 6'
    """
    value = J.at(point) if value is None else value
    rows, cols = value.shape
    cells = [[_latex.expr_latex(value[i, j]) for j in range(cols)] for i in range(rows)]
    args = ", ".join(_latex.expr_latex(sympy.sympify(v)) for v in point.values())
    body = cells[0][0] if rows == cols == 1 else _latex.matrix_latex(cells)
    return f"{J.name}({args}) = {body}"


def jacobian_text(
    f: VectorMap,
    point: dict[str, Any] | None,
    style: Style,
    *,
    J: Jacobian | None = None,
    value: Any = None,
) -> list[str]:
    """Text lines for one map, its Jacobian and its value at ``point``.

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
    """``symjac jacobian``: the exact Jacobian of expressions, and its value at a point."""
    variables = _split_names(args.wrt)
    params = _split_names(args.params or [])
    try:
        f = VectorMap(args.exprs, variables, name=args.name, params=params)
    except ValueError as err:
        message = str(err)
        if "add it to the variables" in message:
            message += " (--wrt VAR ... or --params NAME ...)"
        raise CliError(message, EXIT_USAGE) from None
    point = _parse_point(args.at, variables) if args.at else None
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


# -- mlp ------------------------------------------------------------------------------------


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in re.split(r"[\s,]+", text.strip().strip("[]")) if s]
    except ValueError:
        raise CliError(
            f"--sizes must be comma-separated layer widths such as 1,2,2,1, got {text!r}",
            EXIT_USAGE,
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CliError(
            f"--sizes needs at least two positive widths (input and output), such as 1,2,2,1, got {text!r}",
            EXIT_USAGE,
        )
    # before any layer exists: --sizes 1,100000,100000,1 would build a 40 GB nn.Linear
    pairs = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    symjac.limits.check_weights(pairs, f"--sizes {symjac.limits.sizes_text(sizes)}")
    return sizes


#: the seeds torch.manual_seed takes
SEED_RANGE = (0, 2**64 - 1)


def _parse_seed(text: str) -> int:
    """``--seed``: an integer in torch.manual_seed's range, or argparse's one-line error.

    >>> _parse_seed("7")
    7
    """
    low, high = SEED_RANGE
    try:
        seed = int(text)
    except ValueError:
        seed = None
    if seed is None or not low <= seed <= high:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from {low} to 2**64 - 1 (torch.manual_seed's range), "
            f"got {text[:40]!r}"
        )
    return seed


def _check_seed(seed: int) -> None:
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        shown = seed if abs(seed) < 10**30 else f"a number of {seed.bit_length()} bits"
        raise ValueError(
            f"seed must be from 0 to 2**64 - 1 (torch.manual_seed's range), got {shown}"
        )


_TORCH_ACTIVATIONS = {
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "softplus": "Softplus",
    "silu": "SiLU",
    "gelu": "GELU",
}


def _check_activation(name: str) -> str:
    from symjac.activations import ACTIVATIONS

    key = name.lower()
    if key in ("linear", "none"):
        key = "identity"
    if key not in ACTIVATIONS:
        raise CliError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}",
            EXIT_USAGE,
        )
    return key


def torch_sequential(sizes: Sequence[int], activation: str, seed: int | None = None) -> Any:
    """``nn.Sequential`` of ``Linear`` layers with ``activation`` between them.

    With ``seed`` the weights are drawn after ``torch.manual_seed(seed)`` (the
    global generator's state is restored afterwards).

    >>> torch_sequential([1, 2, 1], "tanh", seed=0)
    Sequential(
      (0): Linear(in_features=1, out_features=2, bias=True)
      (1): Tanh()
      (2): Linear(in_features=2, out_features=1, bias=True)
    )
    """
    import torch
    from torch import nn

    key = _check_activation(activation)
    pairs = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    symjac.limits.check_weights(pairs, f"a {symjac.limits.sizes_text(sizes)} network")
    if seed is not None:
        _check_seed(seed)
    layers: list[Any] = []
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for k in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[k], sizes[k + 1]))
            if k < len(sizes) - 2 and key != "identity":
                if key == "gelu_tanh":
                    layers.append(nn.GELU(approximate="tanh"))
                else:
                    layers.append(getattr(nn, _TORCH_ACTIVATIONS[key])())
    return nn.Sequential(*layers)


class _Bracketed(sympy.Function):
    """Display only: ``z`` where an operator binds it, printed in brackets."""

    def _sympystr(self, printer: Any) -> str:
        return f"({printer._print(self.args[0])})"

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        text = rf"\left({printer._print(self.args[0])}\right)"
        return f"{text}^{{{exp}}}" if exp else text


class _TextbookPrinter(StrPrinter):
    """Plain text with the activation's argument ``z`` printed as the given sum, and a
    function's power written ``tanh^2(z)``."""

    def __init__(self, z_text: str):
        super().__init__()
        self._z_text = z_text

    def _print_Symbol(self, expr: Any) -> str:
        return self._z_text if expr == _z_symbol() else super()._print_Symbol(expr)

    def _print_Pow(self, expr: Any, rational: bool = False) -> str:
        base, power = expr.as_base_exp()
        function = isinstance(base, Application) and not isinstance(base, _Bracketed)
        if function and power.is_Integer and power > 1:
            args = ", ".join(self._print(a) for a in base.args)
            return f"{self._print(base.func)}^{power}({args})"
        return super()._print_Pow(expr, rational)


class _TextbookLatexPrinter(LatexPrinter):
    """LaTeX with the activation's argument ``z`` printed as the given sum."""

    def __init__(self, z_text: str):
        super().__init__()
        self._z_text = z_text

    def _print_Symbol(self, expr: Any, style: str = "plain") -> str:
        return self._z_text if expr == _z_symbol() else super()._print_Symbol(expr, style)


def _z_symbol() -> Any:
    from symjac.activations import Z

    return Z


def _bracket_z(expr: Any, z_text: str) -> Any:
    """``expr`` with ``z`` bracketed where a product or power binds it (``z_text`` is a
    sum or a product such as ``-0.5 x``), so the printed text means what ``expr`` means."""
    z = _z_symbol()
    spaced = " " in z_text
    summed = " + " in z_text or " - " in z_text or z_text.startswith("-")
    if expr.is_Atom or not spaced:
        return expr
    args = [_bracket_z(a, z_text) for a in expr.args]
    if isinstance(expr, sympy.Pow) or (isinstance(expr, sympy.Mul) and summed):
        args = [_Bracketed(a) if a == z else a for a in args]
        return expr.func(*args, evaluate=False)
    return expr if args == list(expr.args) else expr.func(*args)


def _number_text(value: Any, digits: int, latex: bool) -> str:
    if latex:
        return sympy.latex(sympy.Float(value, digits))
    return f"{float(value):.{digits}g}"


def _signed_sum(
    coefs: Sequence[Any], names: Sequence[str], bias: Any, digits: int, latex: bool
) -> str:
    """``-0.007487 x - 0.823``: the weights with their own signs, in the model's order."""
    terms = [(c, n) for c, n in zip(coefs, names) if c != 0]
    if bias is not None and bias != 0:
        terms.append((bias, ""))
    parts = []
    for coef, name in terms:
        magnitude = _number_text(abs(coef), digits, latex) + (f" {name}" if name else "")
        parts.append(("- " if coef < 0 else "+ ") + magnitude)
    if not parts:
        return "0"
    first = parts[0]
    return " ".join([("-" if first[0] == "-" else "") + first[2:], *parts[1:]])


def _applied(expr: Any, z_text: str, digits: int, latex: bool) -> str:
    """``expr`` (in the activation symbol ``z``), rounded, with ``z`` shown as ``z_text``."""
    printer = _TextbookLatexPrinter(z_text) if latex else _TextbookPrinter(z_text)
    return printer.doprint(_bracket_z(rounded(expr, digits), z_text))


def _entry_text(weight: str, slope: Any, slope_text: str, latex: bool) -> str:
    """``W_ij s'(z_i)``: ``-0.5 (1 - tanh^2(z))``, brackets only where needed."""
    if slope == 1:
        return weight
    if isinstance(slope, sympy.Add) or slope_text.startswith("-"):
        return rf"{weight} \left({slope_text}\right)" if latex else f"{weight} ({slope_text})"
    if latex or isinstance(slope, (Application, sympy.Pow)):
        return f"{weight} {slope_text}"
    return f"{weight}*{slope_text}"


def layer_rule_entry(activation: Any, digits: int = 4) -> str:
    """Entry ``(i, j)`` of the layer rule ``J = diag(s'(z)) W`` for ``activation``, textbook form.

    >>> from symjac.activations import get_activation
    >>> layer_rule_entry(get_activation("tanh")), layer_rule_entry(get_activation("identity"))
    ('W_ij (1 - tanh^2(z_i))', 'W_ij')
    """
    slope = rounded(activation.derivative, digits)
    return _entry_text("W_ij", slope, _applied(activation.derivative, "z_i", digits, False), False)


def stage_formulas(
    net: Any, digits: int = 4, *, latex: bool = False
) -> list[dict[str, list[Any]]] | None:
    """Each stage of a network with numeric weights in textbook form, each weight with its sign.

    SymPy's canonical form pulls a sign out of tanh (``-tanh(0.007487*x + 0.823)``) and
    expands ``w*(1 - tanh(z)**2)``; this text is built from the weights instead:
    ``outputs[i]`` is ``s(z_i)`` and ``entries[i][j]`` is ``W_ij s'(z_i)`` (the layer rule),
    numbers rounded to ``digits``. ``None`` when a weight is symbolic.

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[-0.5]]], biases=[[1]], output_activation="tanh")
    >>> stage = stage_formulas(net)[0]
    >>> stage["outputs"], stage["entries"]
    (['tanh(-0.5 x + 1)'], [['-0.5 (1 - tanh^2(-0.5 x + 1))']])
    """
    stages = []
    for k, layer in enumerate(net.layers):
        values = list(layer.weight) + (list(layer.bias) if layer.bias is not None else [])
        if not all(sympy.sympify(v).is_number for v in values):
            return None
        act = layer.activation
        names = [_latex.symbol_latex(s.name) if latex else s.name for s in net.stage_symbols[k]]
        slope = rounded(act.derivative, digits)
        rows, cols = layer.shape
        outputs, entries = [], []
        for i in range(rows):
            bias = layer.bias[i] if layer.bias is not None else None
            row = [layer.weight[i, j] for j in range(cols)]
            z = _signed_sum(row, names, bias, digits, latex)
            outputs.append(_applied(act.expr, z, digits, latex))
            slope_text = _applied(act.derivative, z, digits, latex)
            entries.append(
                [_entry_text(_number_text(w, digits, latex), slope, slope_text, latex) for w in row]
            )
        stages.append({"outputs": outputs, "entries": entries})
    return stages


def _fill(text: str, indent: str, hang: str, width: int) -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def _matrix_lines(cells: Sequence[Sequence[str]], indent: str, width: int) -> list[str]:
    """:func:`grid` laid out for ``width`` columns."""
    lines = grid(cells, indent)
    if max((len(line) for line in lines), default=0) <= width:
        return lines
    cols = len(cells[0])
    out: list[str] = []
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            label = f"[{i + 1},{j + 1}] " if cols > 1 or len(cells) > 1 else ""
            out.extend(_fill(f"{label}{cut(cell)}", indent, indent + "    ", width))
    return out


def stage_lines(
    net: Any, digits: int | None, width: int = WIDTH
) -> tuple[list[str], list[dict[str, Any]]]:
    """Each stage's formulas and layer Jacobian as text (numeric weights in textbook form).

    >>> from symjac import mlp
    >>> text, data = stage_lines(mlp([1, 1], weights=[[[2]]], biases=False), 4)
    >>> text[:2], data[0]["name"]
    (['stage 1: x -> p   (identity, 1 -> 1)', '    p = 2 x'], 'p')
    """
    lines: list[str] = []
    data: list[dict[str, Any]] = []
    textbook = stage_formulas(net, digits) if digits is not None else None
    for k, (stage, J) in enumerate(zip(net.stages, net.layer_jacobians())):
        layer = net.layers[k]
        outs = list(stage.output_names)
        source = _tuple([s.name for s in stage.inputs])
        lines.append(
            f"stage {k + 1}: {source} -> {_tuple(outs)}   "
            f"({layer.activation.label}, {layer.shape[1]} -> {layer.shape[0]})"
        )
        if textbook is not None:
            formulas = textbook[k]["outputs"]
            cells = textbook[k]["entries"]
        else:
            formulas = [expr_text(expr, digits) for expr in stage.outputs]
            cells = [[expr_text(e, digits) for e in row] for row in J.matrix.tolist()]
        for name, formula in zip(outs, formulas):
            lines.extend(_fill(f"{name} = {cut(formula)}", "    ", " " * 8, width))
        rows, cols = J.shape
        lines.append(f"  J{k + 1} = d{_tuple(outs)}/d{source}   ({rows} x {cols})")
        lines.extend(_matrix_lines(cells, "    ", width))
        data.append(
            {
                "name": stage.name,
                "inputs": [s.name for s in stage.inputs],
                "outputs": outs,
                "activation": layer.activation.label,
                "formula": [expr_text(e) for e in stage.outputs],
                "jacobian": {
                    "name": f"J{k + 1}",
                    "shape": [rows, cols],
                    "exact": exact_strings(J.matrix),
                },
            }
        )
    return lines, data


def _x_value(text: str, n_in: int) -> list[float]:
    try:
        values = [float(v) for v in re.split(r"[\s,]+", text.strip()) if v]
    except ValueError:
        raise CliError(
            f"expected {n_in} comma-separated number(s) such as {','.join(['1.0'] * n_in)}, got {text!r}",
            EXIT_USAGE,
        ) from None
    if len(values) != n_in:
        raise CliError(
            f"the network takes {n_in} input(s) but {len(values)} value(s) were given ({text!r}); "
            f"give {n_in}, e.g. {','.join(['1.0'] * n_in)}",
            EXIT_USAGE,
        )
    if not all(math.isfinite(v) for v in values):
        raise CliError(f"input values must be finite numbers, got {text!r}", EXIT_USAGE)
    return values


def cmd_mlp(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac mlp``: a network's stages, layer Jacobians, chain product and whole Jacobian."""
    sizes = _parse_sizes(args.sizes)
    activation = _check_activation(args.activation)
    if _weight_count(sizes) > MAX_MLP_WEIGHTS:
        raise CliError(
            f"a {sizes} network has {_weight_count(sizes)} weights; symjac mlp prints formulas "
            f"for at most {MAX_MLP_WEIGHTS} (beyond that they run to megabytes). Use a smaller "
            "--sizes, or the Python API (symjac.mlp(...).layer_jacobians(), net.numeric()) or "
            "'symjac check' for bigger networks",
            EXIT_LIMIT,
        )
    if args.seed is not None:
        from symjac.tracing import from_torch

        module = torch_sequential(sizes, activation, args.seed)
        net = from_torch(module)
        kind = f"exact float32 weights of nn.Sequential after torch.manual_seed({args.seed})"
        digits: int | None = 4
    else:
        net = symjac.mlp(sizes, activation)
        kind = "symbolic weights W<layer>_<row><col> and biases B<layer>_<row>"
        digits = None
    doc: dict[str, Any] = {
        "command": "mlp",
        "sizes": sizes,
        "activation": activation,
        "weights": "symbolic" if args.seed is None else "seed",
        "seed": args.seed,
    }
    lines = [
        style.bold(f"[{', '.join(map(str, sizes))}] network, {activation} between layers"),
        *wrap(kind + ("; shown rounded to 4 digits" if digits else "")),
        "",
    ]
    stage_text, stage_data = stage_lines(net, digits)
    lines.extend(stage_text)
    doc["stages"] = stage_data
    product = " ".join(f"J{k}" for k in range(len(net.layers), 0, -1))
    out = _tuple([s.name for s in net.stage_symbols[-1]])
    ins = _tuple([s.name for s in net.inputs])
    lines.append("")
    lines.append(style.bold(f"chain rule: d{out}/d{ins} = {product}"))
    doc["chain"] = product
    try:
        whole = net.jacobian()
    except SymjacError as err:
        whole = None
        lines.extend(wrap(f"whole Jacobian not built: {err}", "  "))
        doc["whole"] = {"error": str(err)}
    if whole is not None:
        cells = [[expr_text(e, digits) for e in row] for row in whole.matrix.tolist()]
        lines.append(
            f"  whole Jacobian ({whole.shape[0]} x {whole.shape[1]}), each stage substituted:"
        )
        lines.extend(grid(cells, "    "))
        doc["whole"] = {"shape": list(whole.shape), "exact": exact_strings(whole.matrix)}
    doc["at"] = None
    if args.at is not None:
        doc["at"], at_lines = _mlp_at(
            net, args.at, args.seed is not None, digits, product, out, ins
        )
        lines.append("")
        lines.extend(style.bold(line) if k == 0 else line for k, line in enumerate(at_lines))
    if args.latex:
        latex = net.latex(digits=4 if args.seed is not None else None)
        doc["latex"] = latex
        lines = latex.splitlines()
    return EXIT_OK, doc, lines


def _mlp_at(
    net: Any, text: str, concrete: bool, digits: int | None, product: str, out: str, ins: str
) -> tuple[dict[str, Any], list[str]]:
    """Values at one input: each layer Jacobian, the chain product and the whole Jacobian."""
    values = _x_value(text, net.sizes[0])
    exact_x = [sympy.Rational(v) for v in values]
    small = _weight_count(net.sizes) <= MAX_IDENTITY_WEIGHTS
    doc: dict[str, Any] = {"x": values}
    lines = [f"at {ins} = {_tuple([repr(v) for v in values])}:"]
    if concrete:  # numbers: 50-digit values from mpmath, shown to 10 digits
        ref = net.reference(exact_x, digits=REFERENCE_DIGITS)
        named = [(f"J{k + 1}", m) for k, m in enumerate(ref.layers)]
        named += [("chain", ref.chain), ("whole", ref.whole)]
        doc["layers"] = [
            {"name": name, "exact": mp_rows(m, REFERENCE_DIGITS), "numeric": _mp_floats(m)}
            for name, m in named[:-2]
        ]
        doc["chain"] = {
            "exact": mp_rows(ref.chain, REFERENCE_DIGITS),
            "numeric": _mp_floats(ref.chain),
        }
        doc["whole"] = {
            "exact": mp_rows(ref.whole, REFERENCE_DIGITS),
            "numeric": _mp_floats(ref.whole),
        }
        shown = {name: mp_rows(m) for name, m in named}
    else:
        stages = net.trace(exact_x)
        layer_values = [
            sympy.Matrix(J.matrix.xreplace(dict(zip(J.inputs, stages[k]))))
            for k, J in enumerate(net.layer_jacobians())
        ]
        chain = net.chain_at(exact_x)
        doc["layers"] = [
            {"name": f"J{k + 1}", "exact": exact_strings(v), "numeric": float_lists(v)}
            for k, v in enumerate(layer_values)
        ]
        doc["chain"] = {"exact": exact_strings(chain), "numeric": float_lists(chain)}
        shown = {f"J{k + 1}": exact_strings(v) for k, v in enumerate(layer_values)}
        shown["chain"] = exact_strings(chain)
    for k in range(len(net.layers)):
        lines.append(f"  J{k + 1} =")
        lines.extend(grid(shown[f"J{k + 1}"], "    "))
    lines.append(f"  {product} (chain product) =")
    lines.extend(grid(shown["chain"], "    "))
    same: bool | None = None
    if small:  # differentiate the composed map directly and compare expressions exactly
        direct = net.as_map().jacobian().at(exact_x)
        chain_exact = net.chain_at(exact_x)
        same = all(sympy.expand(a - b) == 0 for a, b in zip(chain_exact, direct))
        doc["whole"] = {
            "exact": doc["whole"]["exact"] if concrete else exact_strings(direct),
            "numeric": doc["whole"]["numeric"] if concrete else float_lists(direct),
        }
        lines.append(f"  d{out}/d{ins} (differentiating the whole composed map) =")
        lines.extend(grid(shown["whole"] if concrete else exact_strings(direct), "    "))
        verdict = "identical: the difference expands to 0" if same else "DIFFERENT"
        lines.append(f"  chain product vs whole map: {verdict}")
    else:
        lines.extend(
            wrap(
                f"(the whole composed map is not differentiated directly above "
                f"{MAX_IDENTITY_WEIGHTS} weights; the layer rule J_l = diag(s'(z_l)) W_l gives the "
                "same Jacobian)",
                "  ",
            )
        )
        doc.setdefault("whole", None)
    doc["chain_equals_whole"] = same
    return doc, lines


def _mp_floats(matrix: Any) -> list[list[float]]:
    return [[float(v) for v in row] for row in matrix.tolist()]


def _weight_count(sizes: Sequence[int]) -> int:
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


# -- demo -----------------------------------------------------------------------------------


def mp_rows(matrix: Any, digits: int = SHOWN_DIGITS) -> list[list[str]]:
    """A matrix of (mpmath) numbers as rows of ``digits``-digit strings.

    >>> import mpmath, numpy as np
    >>> mp_rows(np.array([[mpmath.mpf(1) / 3, mpmath.mpf(2)]], dtype=object), 4)
    [['0.3333', '2.000']]
    """
    return [[mp_text(v, digits) for v in row] for row in matrix.tolist()]


#: the exit codes ``symjac demo`` can return (``symjac demo --help`` lists them); kept here,
#: not in :mod:`symjac.demo`, so that building the parser does not import NumPy
DEMO_EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_USAGE: "usage or input error (a bad option, --x or --seed)",
    EXIT_INTERNAL: EXIT_CODES[EXIT_INTERNAL],
    EXIT_OUTPUT: EXIT_CODES[EXIT_OUTPUT],
}


def _demo_epilog() -> str:
    """``symjac demo --help``'s example and the exit codes demo can return (not check's)."""
    codes = "\n".join(f"  {code}  {text}" for code, text in DEMO_EXIT_CODES.items())
    return f"example:\n  symjac demo --seed 0 --x 1.0\n\nexit codes:\n{codes}"


def cmd_demo(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac demo``: the walkthrough, step by step, with exact answers (:mod:`symjac.demo`)."""
    from symjac import demo

    return demo.run(args, style)


def examples_model(seed: int) -> Any:
    """The seed's ``SmallMLP`` built after ``torch.manual_seed(seed)``, leaving the global
    generator as it was.

    >>> examples_model(0).l1.weight.shape
    torch.Size([2, 1])
    """
    import torch

    _check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        return examples.small_mlp(seed)


# -- check ----------------------------------------------------------------------------------

PICKLE_HINT = (
    "save model.state_dict() and pass it with --sizes, or pass --trust-pickle only if you trust "
    "the file"
)


def _exited(err: BaseException) -> str:
    """How user code ended: ``called sys.exit(0)`` or ``raised ValueError: ...``."""
    if isinstance(err, SystemExit):
        return f"called sys.exit({'' if err.code is None else repr(err.code)[:40]})"
    detail = _first_line(err)
    return f"raised {type(err).__name__}" + (f": {detail}" if detail else "")


def _import_target(spec: str) -> Any:
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CliError(
            f"TARGET {spec!r} must be package.module:attribute or an existing state_dict file",
            EXIT_USAGE,
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # the file may be newer than the import system's listing
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise CliError(
            f"cannot import {module_name!r} ({err}); run symjac from the directory that holds it "
            "or install it",
            EXIT_USAGE,
        ) from None
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # the user's module raised, or exited, while importing
        raise CliError(
            f"importing {module_name!r} failed: it {_exited(err)}; fix the "
            "module: a model module must import without exiting (rerun with --debug for the "
            "traceback)",
            EXIT_USAGE,
        ) from err
    obj: Any = module
    for part in attribute.split("."):
        try:
            found = hasattr(obj, part)
            obj = getattr(obj, part) if found else obj
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # a module __getattr__ or property that raises or exits
            raise CliError(
                f"reading {attribute!r} of {module_name!r} failed: it {_exited(err)}; fix the "
                "attribute",
                EXIT_USAGE,
            ) from err
        if not found:
            raise CliError(
                f"module {module_name!r} has no attribute {attribute!r}; check the name after ':'",
                EXIT_USAGE,
            )
    return obj


def _as_module(obj: Any, what: str) -> Any:
    from torch import nn

    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        try:
            result = obj()
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # the factory raised or exited: sys.exit(0) is no pass
            raise CliError(
                f"calling {what}() failed: it {_exited(err)}; it must build and return a "
                "torch.nn.Module without arguments, and not exit",
                EXIT_USAGE,
            ) from err
        if isinstance(result, nn.Module):
            return result
        raise CliError(
            f"{what} returned {type(result).__name__}, not a torch.nn.Module; "
            "point TARGET at a module or a function that returns one",
            EXIT_USAGE,
        )
    raise CliError(
        f"{what} is a {type(obj).__name__}, not a torch.nn.Module or a callable returning one",
        EXIT_USAGE,
    )


def _is_export_archive(path: str) -> bool:
    import zipfile

    if path.endswith(".pt2"):
        return True
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/archive_format") for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _say(kind: str, message: str) -> None:
    """One line on stderr (``symjac: error: ...``), at most MAX_MESSAGE characters.

    A closed or full stderr is ignored: there is nowhere left to report to, and the
    exit code still says what happened.
    """
    text = " ".join(str(message).split())
    if len(text) > MAX_MESSAGE:
        head = MAX_MESSAGE * 2 // 3
        text = text[:head] + " ... " + text[len(text) - (MAX_MESSAGE - head - 5) :]
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(f"symjac: {kind}: {text}", file=sys.stderr, flush=True)


def _warn(message: str) -> None:
    _say("warning", message)


def _emit(text: str) -> str | None:
    """Write the command's output to stdout; on failure, the reason (the stream is then muted).

    ``symjac ... | head`` closing the pipe early is not a failure: the reader has what it
    wanted. A closed stdout (``>&-``) or a full disk (``> /dev/full``) is, and must not be
    read as success by a script.
    """
    if sys.stdout is None:
        return "standard output is closed, so nothing was written; redirect it to a file instead"
    try:
        print(text, file=sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        _mute_stdout()
        return None
    except (OSError, ValueError) as err:
        _mute_stdout()
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return f"could not write the output ({reason}); free space or write it elsewhere"
    return None


def _mute_stdout() -> None:
    # Python flushes stdout again at exit; point the descriptor at /dev/null so that the
    # failed write is not reported a second time as a traceback
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def load_file(path: str, *, trust_pickle: bool = False) -> Any:
    """Load a model file: a state_dict with ``weights_only=True``; pickles only if trusted.

    Returns an ``nn.Module`` (trusted pickles and ``.pt2`` archives) or a
    mapping of tensors (a state_dict). Sizes and tensor shapes are read from the
    file's metadata and checked against :mod:`symjac.limits` first
    (:func:`symjac.tracing.inspect_file`), so nothing is allocated for a file
    over a limit.
    """
    import pickle
    import zipfile

    import torch

    from symjac.tracing import inspect_file, quiet_logging

    name = os.path.basename(path)
    name = name if len(name) <= 60 else name[:57] + "..."
    export = path.endswith(".pt2")
    if export and not zipfile.is_zipfile(path):
        raise CliError(
            f"{name} is not a zip archive, so not a torch.export (.pt2) archive; it may be "
            "truncated or corrupt: save it again with torch.export.save",
            EXIT_USAGE,
        )
    try:
        contents = inspect_file(path)  # raises LimitError before anything is allocated
    except ValueError as err:
        if export:
            raise CliError(
                f"{err}, so not a torch.export (.pt2) archive; save it again with "
                "torch.export.save",
                EXIT_USAGE,
            ) from None
        raise _corrupt(name, str(err).replace(f"{os.path.basename(path)} ", "", 1)) from None
    if export or contents.kind == "export":
        if not trust_pickle:
            raise CliError(
                f"{name} is a torch.export (.pt2) archive, which can run code when loaded; "
                + PICKLE_HINT,
                EXIT_USAGE,
            )
        _warn(f"loading {name} with torch.export.load: this runs code from the file")
        try:
            with _collect_warnings(), quiet_logging():  # torch logs a traceback for a bad file
                return torch.export.load(path).module()
        except Exception as err:
            raise CliError(
                f"cannot load {name} as a torch.export archive: {_first_line(err)}; save it "
                "again with torch.export.save"
            ) from None
    if contents.kind == "pickle":
        needs = next((g for g in contents.globals if not _safe_global(g)), None)
        raise CliError(
            f"{name} is a plain Python pickle"
            + (f" (it needs {needs[:60]})" if needs else "")
            + ", not a file written by torch.save, which symjac reads; if you trust it, load it "
            "in Python and save model.state_dict() with torch.save",
            EXIT_USAGE,
        )
    if trust_pickle:
        _warn(
            f"loading {name} with weights_only=False (--trust-pickle): this can run code from the file"
        )
    try:
        with _collect_warnings(), quiet_logging():
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as err:
        # torch's wording varies ("Unsupported global: GLOBAL x", "unsupported GLOBAL x whose
        # module m is blocked"); the scan's own list names the global when it says neither
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        needs = found.group(1) if found else None
        if needs is None and "weights_only" in str(err).replace(" ", "_"):
            needs = next((g for g in contents.globals if not _safe_global(g)), None)
        if needs:
            raise CliError(
                f"{name} holds a pickled Python object that needs {needs[:60]}, which torch's "
                "safe loader (weights_only=True) blocks: loading it could run code from the "
                f"file. {PICKLE_HINT[0].upper()}{PICKLE_HINT[1:]}",
                EXIT_USAGE,
            ) from None
        raise _corrupt(name, "its pickle data cannot be read") from None
    except Exception as err:
        detail = (
            f"{type(err).__name__}: {_first_line(err)}" if _first_line(err) else type(err).__name__
        )
        raise _corrupt(name, detail) from None


def _safe_global(name: str) -> bool:
    # what torch.save itself writes for a state_dict; anything else is the file's own code
    return name == "collections.OrderedDict" or (
        name.startswith(("torch._utils._rebuild_", "torch._tensor._rebuild_"))
        or (name.startswith("torch.") and name.endswith("Storage"))
    )


def _corrupt(name: str, detail: str) -> CliError:
    return CliError(
        f"{name} is not a readable torch file ({detail}); it may be truncated or corrupt: "
        "save it again with torch.save(model.state_dict(), path)",
        EXIT_USAGE,
    )


def _first_line(err: BaseException) -> str:
    """The first sentence of an exception's message, at most 160 characters."""
    text = str(err).strip().splitlines()
    first = text[0].split(". ")[0] if text else ""
    return first if len(first) <= 160 else first[:157] + "..."


def module_from_state_dict(state: Any, sizes: Sequence[int], activation: str, name: str) -> Any:
    """Build ``nn.Sequential`` of ``sizes``/``activation`` and load ``state`` into it.

    The state_dict's tensors are matched to the layers in order (weights 2-D,
    biases 1-D), so ``nn.Sequential`` keys (``0.weight``) and named layers
    (``l1.weight``) both load.

    >>> import torch
    >>> sd = torch_sequential([1, 2, 1], "tanh", seed=0).state_dict()
    >>> module_from_state_dict(sd, [1, 2, 1], "tanh", "sd.pt")[2].weight.shape
    torch.Size([1, 2])
    """
    import torch

    tensors = [(k, v) for k, v in state.items() if isinstance(v, torch.Tensor)]
    layers: list[dict[str, Any]] = []
    for key, tensor in tensors:
        if tensor.ndim == 2:
            layers.append({"weight": (key, tensor)})
        elif tensor.ndim == 1 and layers and "bias" not in layers[-1]:
            layers[-1]["bias"] = (key, tensor)
        else:
            raise CliError(
                f"{name}: unexpected tensor {key!r} of shape {tuple(tensor.shape)}; symjac reads "
                "state_dicts of Linear layers (weight, then bias, for each layer)",
                EXIT_USAGE,
            )
    if not tensors:
        raise CliError(
            f"{name} holds no tensors; expected a state_dict saved with "
            "torch.save(model.state_dict(), path)",
            EXIT_USAGE,
        )
    flag = ",".join(map(str, sizes))
    want = [(b, a) for a, b in zip(sizes, sizes[1:])]
    got = [tuple(layer["weight"][1].shape) for layer in layers]
    if got != want:
        first = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), len(want))
        where = f" (first: {layers[first]['weight'][0]!r})" if first < len(layers) else ""
        raise CliError(
            f"{name} holds weights of shapes {cut(str(got), 80)}{where}, but --sizes {flag} "
            f"needs {cut(str(want), 80)}; give the sizes the model was trained with",
            EXIT_USAGE,
        )
    # exact bias shapes, as torch's load_state_dict demands: copy_ would broadcast a (1,)
    # bias over a 2-output layer and read it as [b, b]
    for k, layer in enumerate(layers):
        if "bias" in layer and tuple(layer["bias"][1].shape) != (want[k][0],):
            key, bias = layer["bias"]
            raise CliError(
                f"{name}: tensor {key!r} has shape {tuple(bias.shape)}, but layer {k + 1} of "
                f"--sizes {flag} needs a bias of shape ({want[k][0]},); torch's load_state_dict "
                "refuses it too: save the model's own state_dict",
                EXIT_USAGE,
            )
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for _, t in tensors})
    dtype = tensors[0][1].dtype
    if len(dtypes) != 1 or not dtype.is_floating_point or dtype.is_complex:
        raise CliError(
            f"{name} holds tensors of dtype {', '.join(dtypes)}; symjac reads state_dicts whose "
            "tensors share one real floating dtype (such as float32): convert them before saving",
            EXIT_USAGE,
        )
    # in the file's dtype before copying: float64 weights must not pass through float32
    module = torch_sequential(sizes, activation).to(dtype)
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, layer in zip(linears, layers):
            lin.weight.copy_(layer["weight"][1])
            if "bias" in layer:
                lin.bias.copy_(layer["bias"][1])
            else:
                lin.bias = None
    return module.eval()


def resolve_target(args: argparse.Namespace) -> Any:
    """The ``nn.Module`` named by ``TARGET``: a ``module:attribute`` or a model file."""
    target = args.target
    if os.path.isfile(target):
        loaded = load_file(target, trust_pickle=args.trust_pickle)
        from torch import nn

        if isinstance(loaded, nn.Module):
            with contextlib.suppress(NotImplementedError):  # exported programs refuse eval()
                loaded.eval()
            return loaded
        if isinstance(loaded, dict):
            if not args.sizes:
                raise CliError(
                    f"{os.path.basename(target)} is a state_dict (weights only); give the layer "
                    "sizes with --sizes, e.g. --sizes 1,2,2,1 (and --activation)",
                    EXIT_USAGE,
                )
            return module_from_state_dict(
                loaded, _parse_sizes(args.sizes), _check_activation(args.activation), target
            )
        raise CliError(
            f"{os.path.basename(target)} holds a {type(loaded).__name__}, not a state_dict or a module",
            EXIT_USAGE,
        )
    if os.path.isdir(target):
        raise CliError(f"{target!r} is a directory; give a model file or package.module:attribute")
    if ":" not in target:
        raise CliError(
            f"no such file {target!r}, and it is not package.module:attribute; check the path "
            "or write e.g. mymodel:build_model",
            EXIT_USAGE,
        )
    return _as_module(_import_target(target), target).eval()


def cmd_check(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac check``: hold a model's autograd Jacobian to the exact one."""
    dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    known = ("float16", "bfloat16", "float32", "float64")
    bad = [d for d in dtypes if d not in known]
    if not dtypes or bad:
        raise CliError(
            f"--dtypes takes a comma-separated list of {', '.join(known)}, got {args.dtypes!r}",
            EXIT_USAGE,
        )
    try:
        from symjac.compare import compare  # type: ignore[import-not-found]
    except ImportError:
        raise CliError(
            "symjac.compare is not available in this installation; update symjac", EXIT_INTERNAL
        ) from None
    module = resolve_target(args)
    from symjac.tracing import check_module_size

    check_module_size(module)  # before any symbolic reading: a 1000 x 1000 layer is refused now
    n_in = _input_width(module)
    x = _x_value(args.input, n_in) if args.input else [1.0] * n_in
    methods = None
    if args.methods is not None:
        from symjac.compare import METHODS

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        bad = [m for m in methods if m not in METHODS]
        if not methods or bad:
            raise CliError(
                f"--methods takes a comma-separated list of {', '.join(METHODS)}, "
                f"got {args.methods!r}",
                EXIT_USAGE,
            )
    report = _compare_shown(compare, module, x, dtypes, methods, args)
    doc = {"command": "check", "target": args.target, "input": x, "dtypes": list(dtypes),
           "order": args.order}  # fmt: skip
    exact = "the exact Jacobian" + (" and Hessian" if args.order == 2 else "")
    doc.update(report.to_dict())
    doc["ok"] = bool(report.ok)
    if report.failures:
        code, verdict = EXIT_DISAGREE, style.bad("DISAGREES") + f" with {exact}"
    elif not report.ok:  # NOTE: no-vacuous-pass in symjac.compare
        code = EXIT_UNCHECKED
        verdict = style.bad("COULD NOT BE CHECKED") + (
            f" ({len(report.skipped)} requested computations could not run; "
            "--allow-skipped accepts that)"
        )
    else:
        code, verdict = EXIT_OK, style.good("agrees") + f" with {exact}"
    lines = [*str(report).splitlines(), "", f"{args.target}: autograd {verdict}"]
    return code, doc, lines


def _compare_shown(
    compare: Callable[..., Any],
    module: Any,
    x: list[float],
    dtypes: Sequence[str],
    methods: list[str] | None,
    args: argparse.Namespace,
) -> Any:
    """``compare(...)``, with a progress bar over the dtypes on a terminal (not with --json).

    compare() runs every dtype in one call, so a bar (NOTE: progress-policy in
    symjac.progress) needs one call per dtype, merged into the same report
    (same rows, notes and verdict) at the cost of reading the model once more
    per extra dtype; off a terminal the single call runs.
    """
    from symjac import progress

    order = getattr(args, "order", 1)  # callers building their own Namespace may leave it out
    options = {"methods": methods, "allow_skipped": args.allow_skipped, "order": order}
    with progress.quiet() if args.json else contextlib.nullcontext():
        if not progress.enabled():
            return compare(module, x, dtypes=dtypes, **options)
        from symjac.compare import Report

        names = list(dict.fromkeys(dtypes))
        parts = []
        with progress.bar(len(names), "symjac check", unit="dtype") as shown:
            for dtype in names:
                parts.append(compare(module, x, dtypes=[dtype], **options))
                shown.update()
    first = parts[0]
    return Report(
        first.target,
        first.point,
        names,
        [row for part in parts for row in part.rows],
        list(dict.fromkeys(note for part in parts for note in part.notes)),
        [item for part in parts for item in part.skipped],
        first.input_names,
        allow_skipped=args.allow_skipped,
    )


def _input_width(module: Any) -> int:
    from torch import nn

    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            return sub.in_features
    return 1


# -- parser ---------------------------------------------------------------------------------


def _epilog(example: str) -> str:
    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    return f"{example}\n\nexit codes:\n{codes}"


def _describe(text: str) -> str:
    return textwrap.fill(text, 79)


def build_parser() -> argparse.ArgumentParser:
    """The ``symjac`` argument parser (subcommands demo, jacobian, mlp, check).

    >>> build_parser().parse_args(["jacobian", "x**2", "--wrt", "x"]).wrt
    ['x']
    """
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog="symjac",
        description=_describe("Exact Jacobians with SymPy, and PyTorch autograd held to them."),
        epilog=_epilog(
            "examples:\n"
            "  symjac demo                      the walkthrough symjac grew from, exactly\n"
            '  symjac jacobian "x1**2 + x2" "x1 + x2**2" --wrt x1 x2 --at x1=1 x2=2\n'
            "  symjac mlp --sizes 1,2,2,1 --symbolic\n"
            "  symjac check mymodel:build --input 0.5"
        ),
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"symjac {symjac.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)

    def common(p: argparse.ArgumentParser, *, latex: bool = True) -> None:
        if latex:
            p.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
        p.add_argument(
            "--json", action="store_true", help="print one JSON document instead of text"
        )
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks for errors",
        )

    demo = sub.add_parser(
        "demo",
        help="the walkthrough symjac grew from, with exact values and float32 errors",
        description=_describe(
            "Retell the walkthrough (the blog post symjac grew from) step by step: the polynomial "
            "examples, the [1, 2, 2, 1] tanh network's stage Jacobians, the walkthrough's own "
            "torch computation beside the exact values, and each torch result's error in float32 "
            "ULPs. The polynomial examples are evaluated at x = X and (x1, x2) = (X, 2); the "
            "network's weights are drawn after torch.manual_seed(SEED)."
        ),
        epilog=_demo_epilog(),
        formatter_class=formatter,
    )
    demo.add_argument(
        "--seed",
        type=_parse_seed,
        default=0,
        help="torch.manual_seed for the network, 0 to 2**64 - 1 (default 0)",
    )
    demo.add_argument("--x", type=float, default=1.0, help="the input point x0 (default 1.0)")
    common(demo)

    jac = sub.add_parser(
        "jacobian",
        help="the exact Jacobian of expressions (and its value at a point)",
        description=_describe(
            "The exact Jacobian of the map from the --wrt variables to the expressions, "
            "one row per expression. Expressions are parsed safely (never eval'd): numbers, names, "
            "+ - * / ** ^ and functions such as sin, exp, tanh, sigmoid. Put -- before an expression "
            "that starts with '-'."
        ),
        epilog=_epilog(
            "examples:\n"
            '  symjac jacobian "x1**2 + x2" "x1 + x2**2" --wrt x1 x2 --at x1=1 x2=2\n'
            '  symjac jacobian "sin(x)*exp(y)" --wrt x y --at x=pi/2 y=0 --json\n'
            '  symjac jacobian --wrt x -- "-x**2"'
        ),
        formatter_class=formatter,
    )
    jac.add_argument("exprs", nargs="+", metavar="EXPR", help="one expression per output")
    jac.add_argument(
        "--wrt", nargs="+", required=True, metavar="VAR", help="the input variables, in order"
    )
    jac.add_argument(
        "--at",
        nargs="+",
        action="extend",
        metavar="VAR=VALUE",
        help="evaluate at this point (exact values such as 1, 0.5, 1/3, pi/4)",
    )
    jac.add_argument(
        "--params", nargs="+", metavar="NAME", help="names that are constants, not inputs"
    )
    jac.add_argument("--name", default="f", help="the map's name (default f)")
    common(jac)

    mlp = sub.add_parser(
        "mlp",
        help="a fully connected network's stage formulas and Jacobians",
        description=_describe(
            "A fully connected network of the given layer sizes: each stage's formula, each "
            "layer Jacobian J_l = diag(s'(z_l)) W_l, the chain product and the whole Jacobian, with "
            "symbolic weights (--symbolic, the default) or the weights of a torch nn.Sequential built "
            "after torch.manual_seed(N) (--seed N)."
        ),
        epilog=_epilog(
            "examples:\n"
            "  symjac mlp --sizes 1,2,2,1 --symbolic\n"
            "  symjac mlp --sizes 1,2,2,1 --seed 0 --at 1.0"
        ),
        formatter_class=formatter,
    )
    mlp.add_argument("--sizes", required=True, help="layer widths, input first, e.g. 1,2,2,1")
    mlp.add_argument(
        "--activation", default="tanh", help="activation between layers (default tanh)"
    )
    weights = mlp.add_mutually_exclusive_group()
    weights.add_argument("--symbolic", action="store_true", help="symbolic weights (default)")
    weights.add_argument(
        "--seed",
        type=_parse_seed,
        help="weights of nn.Sequential after torch.manual_seed(N), 0 to 2**64 - 1",
    )
    mlp.add_argument("--at", metavar="X", help="evaluate at this input, e.g. 1.0 or 0.5,1.0")
    common(mlp)

    check = sub.add_parser(
        "check",
        help="hold a model's autograd Jacobian to the exact one",
        description=_describe(
            "Compare torch autograd's Jacobian of a model with symjac's exact one, per dtype. "
            "TARGET is package.module:attribute (a module, or a callable returning one, importable from "
            "the current directory) or a state_dict file saved with torch.save(model.state_dict(), path) "
            "plus --sizes and --activation. Files load with torch.load(weights_only=True); pickled "
            "modules and .pt2 archives can run code and are refused unless --trust-pickle."
        ),
        epilog=_epilog(
            "examples:\n"
            "  symjac check mymodel:build_model --input 0.5\n"
            "  symjac check weights.pt --sizes 1,2,2,1 --activation tanh --dtypes float32"
        ),
        formatter_class=formatter,
    )
    check.add_argument(
        "target", metavar="TARGET", help="package.module:attribute or a state_dict file"
    )
    check.add_argument(
        "--input", metavar="VALUES", help="the input point, e.g. 0.5 or 0.5,1.0 (default all 1.0)"
    )
    check.add_argument(
        "--dtypes", default="float32,float64", help="dtypes to check (default float32,float64)"
    )
    check.add_argument("--sizes", help="layer widths for a state_dict file, e.g. 1,2,2,1")
    check.add_argument(
        "--activation", default="tanh", help="activation for a state_dict file (default tanh)"
    )
    check.add_argument(
        "--methods",
        metavar="LIST",
        help="methods to run, e.g. jacrev,autograd (default: every method that applies)",
    )
    check.add_argument(
        "--order",
        type=int,
        choices=(1, 2),
        default=1,
        help="2 also holds torch's Hessians, JVPs and VJPs to the exact ones (default 1)",
    )
    check.add_argument(
        "--allow-skipped",
        action="store_true",
        help="pass although a method could not run (by default that fails with exit 5)",
    )
    check.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow pickled modules and .pt2 archives (runs code from the file)",
    )
    common(check, latex=False)
    return parser


COMMANDS: dict[
    str, Callable[[argparse.Namespace, Style], tuple[int, dict[str, Any], list[str]]]
] = {
    "demo": cmd_demo,
    "jacobian": cmd_jacobian,
    "mlp": cmd_mlp,
    "check": cmd_check,
}


def main(argv: list[str] | None = None) -> int:
    """Run the ``symjac`` command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    >>> main(["jacobian", "x**2", "--wrt", "x", "--at", "x=3", "--json"])
    {
      "command": "jacobian", ...
    }
    0
    """
    args_list = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args_list
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(args_list)
        if extra:
            where = f"symjac {args.command}" if args.command else "symjac"
            raise CliError(
                f"unrecognized arguments: {' '.join(extra)}; see '{where} --help'", EXIT_USAGE
            )
    except CliError as err:
        _say("error", str(err))
        return err.code
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.command is None:
        _say(
            "error",
            f"no command given; choose one of {', '.join(COMMANDS)} (see 'symjac --help')",
        )
        return EXIT_USAGE
    debug = debug or bool(getattr(args, "debug", False))
    style = Style.for_stream(sys.stdout)
    code, message, failure = EXIT_OK, "", None
    try:
        with _collect_warnings() as caught:
            code, doc, lines = COMMANDS[args.command](args, style)
    except CliError as err:
        code, message, failure = err.code, str(err), err
    except SymjacError as err:
        code, message, failure = EXIT_LIMIT, str(err), err
    except (ValueError, TypeError, OSError) as err:
        code, message, failure = EXIT_USAGE, str(err), err
    except KeyboardInterrupt:
        _say("error", "interrupted")
        return 130
    except SystemExit as exc:  # user code (a model's forward, a factory) called sys.exit
        code, failure = EXIT_USAGE, exc
        message = (
            f"the code symjac ran for this command called sys.exit({exc.code!r}), so nothing "
            "was checked; remove the exit from the model's code"
        )
    except MemoryError:
        code, failure = EXIT_LIMIT, None
        message = (
            "ran out of memory; the input is too large for this machine "
            "(use smaller sizes, or lower the limits in symjac.limits)"
        )
    except Exception as err:
        code, failure = EXIT_INTERNAL, err
        message = (
            f"internal error: {type(err).__name__}: {_first_line(err)} "
            "(rerun with --debug for the traceback, and please report it)"
        )
    if message:
        if debug and failure is not None:
            traceback.print_exception(failure)
        _say("error", message)
        return code
    for w in caught:
        _warn(str(w.message))
    text = json.dumps(json_safe(doc), indent=2, allow_nan=False) if args.json else "\n".join(lines)
    problem = _emit(text)
    if problem is not None:
        _say("error", problem)
        return EXIT_OUTPUT
    return code


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by the strings ``"nan"``, ``"inf"``, ``"-inf"``
    (JSON has no such numbers).

    >>> json_safe({"a": [1.0, float("inf")], "b": float("nan")})
    {'a': [1.0, 'inf'], 'b': 'nan'}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
