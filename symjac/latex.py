r"""LaTeX for maps and Jacobians, written the way a textbook writes them.

A Jacobian prints as its definition and its value,
``J_f = \begin{pmatrix} \frac{\partial f_1}{\partial x_1} & ... \end{pmatrix} = \begin{pmatrix} 2 x_{1} & ... \end{pmatrix}``,
with real row separators ``\\``. Entries are SymPy's own LaTeX; ``digits``
rounds non-integer numbers (exact weights of a trained network are long
fractions) for display only. Output longer than ``limits.max_latex`` characters
is cut with a note saying so.

>>> import sympy
>>> symbol_latex("x1"), symbol_latex("x12"), symbol_latex("a")
('x_1', 'x_{12}', 'a')
>>> matrix_latex([["1", "0"], ["0", "1"]])
'\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sympy

from symjac import limits

__all__ = ["expr_latex", "matrix_latex", "partial_latex", "symbol_latex", "truncate"]


def symbol_latex(name: str) -> str:
    """LaTeX for a variable name: a trailing number becomes a subscript.

    >>> symbol_latex("w"), symbol_latex("b2"), symbol_latex("phi1")
    ('w', 'b_2', '\\\\phi_1')
    """
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
    if match:
        letters, digits = match.groups()
        # Greek names print as SymPy prints them in values: phi1 -> \phi_1
        base = letters if len(letters) == 1 else sympy.latex(sympy.Symbol(letters))
        return f"{base}_{digits}" if len(digits) == 1 else f"{base}_{{{digits}}}"
    if re.fullmatch(r"[A-Za-z]", name) or "\\" in name or "{" in name:
        return name
    return sympy.latex(sympy.Symbol(name))


def _rounded(expr: sympy.Basic, digits: int) -> sympy.Basic:
    return expr.replace(
        lambda e: isinstance(e, sympy.Number) and not e.is_Integer,
        lambda e: sympy.Float(e, digits),
    )


def expr_latex(expr: sympy.Basic, digits: int | None = None) -> str:
    """SymPy's LaTeX of ``expr``, with non-integer numbers rounded to ``digits`` if given.

    >>> x = sympy.Symbol("x1", real=True)
    >>> expr_latex(sympy.Rational(1, 3) * x, digits=3)
    '0.333 x_{1}'
    """
    if digits is not None:
        if not isinstance(digits, int) or isinstance(digits, bool) or digits < 1:
            raise ValueError(f"digits must be a positive int, got {digits!r}")
        expr = _rounded(expr, digits)
    return sympy.latex(expr)


def matrix_latex(rows: Sequence[Sequence[str]]) -> str:
    r"""A ``pmatrix`` from rows of LaTeX strings, with ``\\`` between rows."""
    body = r" \\ ".join(" & ".join(row) for row in rows)
    return rf"\begin{{pmatrix}} {body} \end{{pmatrix}}"


def partial_latex(output: str, variable: str, *, ordinary: bool = False) -> str:
    r"""``\frac{\partial f_1}{\partial x_1}`` (or ``\frac{d f}{d x}`` when ``ordinary``).

    >>> partial_latex("f1", "x2")
    '\\frac{\\partial f_1}{\\partial x_2}'
    """
    d = "d" if ordinary else r"\partial"
    return rf"\frac{{{d} {symbol_latex(output)}}}{{{d} {symbol_latex(variable)}}}"


def truncate(text: str) -> str:
    r"""Cut ``text`` to ``limits.max_latex`` characters, with a note saying how much was cut.

    >>> with limits.override(max_latex=10):
    ...     truncate("x" * 25)
    'xxxxxxxxxx \\text{[... 15 more characters cut; raise symjac.limits max_latex]}'
    """
    cap = limits.current().max_latex
    if len(text) <= cap:
        return text
    return (
        text[:cap]
        + rf" \text{{[... {len(text) - cap} more characters cut; raise symjac.limits max_latex]}}"
    )
