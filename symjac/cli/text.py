"""Text helpers of the ``symjac`` command line: styling, wrapping, matrices and formulas.

Every command lays its text out with these (and :mod:`symjac.demo` too): exact
strings for JSON, aligned matrices that fall back to one entry per line when too
wide, numbers to a fixed count of significant digits, and a network's stages in
textbook form (:func:`stage_formulas`).

>>> print("\\n".join(grid([["2*x1", "1"], ["1", "2*x2"]])))
  [2*x1     1]
  [   1  2*x2]
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

import sympy
from sympy.core.function import Application
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symjac import latex as _latex
from symjac.maps import Jacobian, VectorMap

#: operations above which an expression prints unordered (see expr_text)
MAX_ORDERED_OPS = 300
#: terminal width the text output is laid out for
WIDTH = 80
#: significant digits of exact values shown in text (JSON carries 50)
SHOWN_DIGITS = 10
#: digits of the high-precision reference values
REFERENCE_DIGITS = 50
#: text output cuts one formula after this many characters (JSON keeps everything)
MAX_FORMULA = 1500


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


def tuple_text(items: Sequence[str]) -> str:
    """Names as one item or a parenthesised tuple: ``x`` or ``(x1, x2)``.

    >>> tuple_text(["x"]), tuple_text(["x1", "x2"])
    ('x', '(x1, x2)')
    """
    return items[0] if len(items) == 1 else f"({', '.join(items)})"


def map_text(f: VectorMap, digits: int | None = None) -> str:
    """``f(x1, x2) = (x1**2 + x2, x1 + x2**2)``.

    >>> from symjac import examples
    >>> map_text(examples.planar())
    'f(x1, x2) = (x1**2 + x2, x1 + x2**2)'
    """
    outs = [expr_text(e, digits) for e in f.outputs]
    return f"{f.name}({_names(f.inputs)}) = {tuple_text(outs)}"


def jacobian_label(J: Jacobian, name: str | None = None) -> str:
    """``J_f = d(f1, f2)/d(x1, x2)`` (``df/dx`` for a scalar).

    >>> from symjac import examples
    >>> jacobian_label(examples.square().jacobian())
    'df/dx'
    """
    outs = list(J.function.output_names)
    ins = [s.name for s in J.inputs]
    if len(outs) == 1 and len(ins) == 1:
        return f"d{outs[0]}/d{ins[0]}"
    label = name or f"J_{J.function.name}"
    return f"{label} = d{tuple_text(outs)}/d{tuple_text(ins)}"


def point_text(point: dict[str, Any]) -> str:
    """``x1 = 1, x2 = 2``.

    >>> point_text({"x1": 1, "x2": sympy.Rational(1, 2)})
    'x1 = 1, x2 = 1/2'
    """
    return ", ".join(f"{k} = {v}" for k, v in point.items())


def mp_rows(matrix: Any, digits: int = SHOWN_DIGITS) -> list[list[str]]:
    """A matrix of (mpmath) numbers as rows of ``digits``-digit strings.

    >>> import mpmath, numpy as np
    >>> mp_rows(np.array([[mpmath.mpf(1) / 3, mpmath.mpf(2)]], dtype=object), 4)
    [['0.3333', '2.000']]
    """
    return [[mp_text(v, digits) for v in row] for row in matrix.tolist()]


def value_latex(J: Jacobian, point: dict[str, Any], value: Any = None) -> str:
    """The Jacobian's exact value at ``point`` as LaTeX, ``J_f(args) = ...``.

    >>> from symjac import examples
    >>> value_latex(examples.square().jacobian(), {"x": 3})
    'J_f(3) = 6'
    """
    value = J.at(point) if value is None else value
    rows, cols = value.shape
    cells = [[_latex.expr_latex(value[i, j]) for j in range(cols)] for i in range(rows)]
    args = ", ".join(_latex.expr_latex(sympy.sympify(v)) for v in point.values())
    body = cells[0][0] if rows == cols == 1 else _latex.matrix_latex(cells)
    return f"{J.name}({args}) = {body}"


# -- a network's stages in textbook form ----------------------------------------------------


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
        source = tuple_text([s.name for s in stage.inputs])
        lines.append(
            f"stage {k + 1}: {source} -> {tuple_text(outs)}   "
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
        lines.append(f"  J{k + 1} = d{tuple_text(outs)}/d{source}   ({rows} x {cols})")
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
