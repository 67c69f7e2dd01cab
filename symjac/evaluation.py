"""Exact values at a point, with their cost bounded first and their domain checked.

NOTE: bounded-evaluation
    The parser bounds every constant a user writes (NOTE: bounded-constants), but
    a point puts numbers back into an expression: ``(((x+1)**1000+1)**1000+1)**1000``
    at ``x = 1/3`` is an exact rational of about 10**8 digits, and
    ``sin(exp(exp(exp(x))))`` at 20 asks SymPy to reduce an astronomically large
    number modulo 2 pi. Substituting first and checking afterwards would hang.
    So :func:`exact_at` walks each expression once, bottom-up and memoized, with a
    30-digit mpmath value and an estimate of the exact size of every subexpression,
    and applies the parser's rules to the values *before* SymPy sees them: the
    argument of an exponential-type function lies within ``max_exponent``; an
    exact rational result (a power of a rational, or a sum or product of exact
    rationals) is estimated to have at most ``max_constant_digits`` digits; every
    value is below ``10**max_constant_digits``. Only then is the point substituted.
    The same walk yields each value to 30 digits, so a point where the map or its
    Jacobian is undefined (``log(0)``, ``1/0``), infinite or complex (``log(-1)``,
    ``acos(2)``) is an error that names the entry, never ``zoo`` or ``I*pi`` shown
    as an answer. Every route to an exact value at a point (``VectorMap.at``,
    ``Jacobian.at``, the CLI's ``--at`` and ``--json``) goes through here.

>>> import sympy
>>> x = sympy.Symbol("x", real=True)
>>> exact_at([x**2, sympy.sin(x)], {x: sympy.Rational(1, 3)})
[1/9, sin(1/3)]
>>> exact_at([sympy.log(x)], {x: sympy.Integer(-1)}, labels=["f"])
Traceback (most recent call last):
...
ValueError: f is complex at this point (log(x) = 3.14159...*I at x = -1); the point is outside the map's real domain, choose a point where it is defined
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import mpmath
import sympy

from symjac import limits
from symjac.exceptions import LimitError
from symjac.functions import BACKEND_FUNCTIONS, sigmoid, softplus

__all__ = ["exact_at"]

_PREC = 30
_LOG2_10 = math.log2(10)
#: functions whose value grows like exp(argument) (as in the parser)
_EXP_LIKE = (sympy.exp, sympy.sinh, sympy.cosh, sigmoid, softplus)
#: mpmath spellings by SymPy class, read from the one function table
_MP = {
    cls: row.mpmath[3:] for cls, row in BACKEND_FUNCTIONS.items() if row.mpmath.startswith("mp.")
}
#: the value of a subexpression that still holds a free symbol (a parameter without a value)
_FREE = None


class _Walk:
    """One memoized bottom-up pass: 30-digit values, and exact values of rational parts."""

    def __init__(self, values: Mapping[sympy.Symbol, sympy.Expr]):
        self.lim = limits.current()
        self.max_bits = self.lim.max_constant_digits * _LOG2_10 + 1
        self.ctx = mpmath.MPContext()
        self.ctx.dps = _PREC
        self.point = values
        self.memo: dict[sympy.Basic, tuple[Any, Fraction | None]] = {}

    def limit(self, what: str, expr: sympy.Expr, name: str, rule: str) -> LimitError:
        text = str(expr)
        text = text if len(text) <= 50 else text[:47] + "..."
        return LimitError(
            f"evaluating {text} at this point needs {what}; {rule} "
            f"(choose a smaller point, or raise symjac.limits.override({name}=...))"
        )

    def visit(self, expr: sympy.Basic) -> tuple[Any, Fraction | None]:
        """(value, exact): the 30-digit value, and the exact value if it is rational."""
        hit = self.memo.get(expr)
        if hit is not None:
            return hit
        # iterative post-order: expressions from networks are deep
        stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
        while stack:
            node, ready = stack.pop()
            if node in self.memo:
                continue
            if isinstance(node, sympy.Piecewise):
                self.memo[node] = self.piecewise(node)
            elif ready or not node.args:
                self.memo[node] = self.node(node)
            else:
                stack.append((node, True))
                stack.extend((arg, False) for arg in node.args if arg not in self.memo)
        return self.memo[expr]

    def node(self, node: sympy.Basic) -> tuple[Any, Fraction | None]:
        ctx = self.ctx
        if node in self.point:
            return self.visit(self.point[node])
        if node.is_Symbol:
            return _FREE, None
        if node.is_Rational:
            exact = Fraction(int(node.p), int(node.q))  # type: ignore[attr-defined]
            self.check_bits(_bits(exact), node)
            return ctx.mpf(exact.numerator) / exact.denominator, exact
        if node.is_Atom:
            if node.is_Boolean:
                return bool(node), None
            return ctx.mpmathify(sympy.N(node, _PREC)), None
        args = [self.memo[a] for a in node.args]
        values = [a[0] for a in args]
        exacts = [a[1] for a in args]
        if any(v is _FREE for v in values):
            return _FREE, None
        if isinstance(node, sympy.Pow):
            return self.power(node, values, exacts[0])
        if isinstance(node, (sympy.Add, sympy.Mul)):
            add = isinstance(node, sympy.Add)
            exact = None
            if all(e is not None for e in exacts):
                # each argument is at most max_constant_digits long, so this is cheap
                exact = sum(exacts, Fraction(0)) if add else math.prod(exacts, start=Fraction(1))
                self.check_bits(_bits(exact), node)
            value = ctx.fsum(values) if add else ctx.fprod(values)
            return self.checked(value, node), exact
        if isinstance(node, _EXP_LIKE):
            arg = values[0]
            if abs(ctx.re(arg)) > self.lim.max_exponent:
                raise self.limit(
                    f"{type(node).__name__} of {ctx.nstr(arg, 5)}",
                    node,
                    "max_exponent",
                    f"arguments of exponential functions must lie within +-{self.lim.max_exponent}",
                )
        return self.checked(self.function(node, values), node), None

    def piecewise(self, node: sympy.Piecewise) -> tuple[Any, Fraction | None]:
        """The first branch whose condition holds; the others are never evaluated (an ELU's
        ``exp(z) - 1`` branch at a huge positive z is not needed, nor bounded)."""
        for pair in node.args:
            expr, cond = pair.args  # type: ignore[attr-defined]
            holds, _ = self.visit(cond)
            if holds is _FREE:
                return _FREE, None
            if holds:
                value, _ = self.visit(expr)
                return value, None
        raise ValueError("no branch of a Piecewise applies")  # reported as undefined

    def power(
        self, node: sympy.Pow, values: list[Any], base_exact: Fraction | None
    ) -> tuple[Any, Fraction | None]:
        base, exponent = values
        ctx = self.ctx
        exact = None
        power = node.args[1]
        if base_exact is not None and power.is_Rational:
            # SymPy computes a rational power of a rational exactly (perfect powers too):
            # p**n has n * log2(p) bits, known before it is computed
            self.check_bits(_bits(base_exact) * abs(float(power)), node)
            if power.is_Integer and base_exact != 0:
                exact = base_exact ** int(power)  # type: ignore[arg-type]
        if base == 0 and ctx.re(exponent) < 0:
            raise ZeroDivisionError
        magnitude = ctx.re(exponent) * ctx.log(abs(base), 2) if base != 0 else 0
        if magnitude > self.max_bits:
            raise self.limit(
                f"a number above 10**{self.lim.max_constant_digits}",
                node,
                "max_constant_digits",
                "values must stay below that",
            )
        value = ctx.power(base, exponent)
        return self.checked(value, node), exact

    def function(self, node: sympy.Basic, values: list[Any]) -> Any:
        name = _MP.get(type(node))
        if name is not None:
            return getattr(self.ctx, name)(*values)
        # everything else (Abs, Max, Heaviside, relations, sigmoid, ...): SymPy on bounded
        # 30-digit arguments, which is cheap because every argument is already bounded
        result = node.func(*(_sympy_number(v) for v in values))
        if result.is_Boolean:
            return bool(result)
        return self.ctx.mpmathify(sympy.N(result, _PREC))

    def checked(self, value: Any, node: sympy.Basic) -> Any:
        if isinstance(value, bool):
            return value
        if self.ctx.isinf(value) or self.ctx.isnan(value):
            return value  # reported as a domain error by exact_at
        if value != 0 and self.ctx.log(abs(value), 2) > self.max_bits:
            raise self.limit(
                f"a number above 10**{self.lim.max_constant_digits}",
                node,
                "max_constant_digits",
                "values must stay below that",
            )
        return value

    def check_bits(self, bits: float, node: sympy.Basic) -> None:
        if bits > self.max_bits:
            raise self.limit(
                f"an exact number of about {int(bits / _LOG2_10)} digits",
                node,
                "max_constant_digits",
                f"exact values may have at most {self.lim.max_constant_digits} digits",
            )


def _bits(value: Fraction) -> float:
    """log2 of the larger of numerator and denominator: the exact number's size."""
    p, q = abs(value.numerator), value.denominator
    return max(math.log2(p) if p else 0.0, math.log2(q))


def _sympy_number(value: Any) -> Any:
    if isinstance(value, bool):
        return sympy.true if value else sympy.false
    if value.imag:
        return sympy.Float(value.real, _PREC) + sympy.I * sympy.Float(value.imag, _PREC)
    return sympy.Float(value, _PREC)


def _show(value: Any) -> str:
    real = mpmath.nstr(mpmath.mpf(value.real), 6)
    if not value.imag:
        return real
    imag = mpmath.nstr(mpmath.mpf(abs(value.imag)), 6)
    sign = "-" if value.imag < 0 else "+"
    if real == "0.0":
        return f"{'-' if sign == '-' else ''}{imag}*I"
    return f"{real} {sign} {imag}*I"


def _point_text(values: Mapping[sympy.Symbol, sympy.Expr]) -> str:
    parts = []
    for sym, value in values.items():
        text = str(value)
        parts.append(f"{sym} = {text if len(text) <= 30 else text[:27] + '...'}")
    return ", ".join(parts)


def _domain_error(label: str, expr: sympy.Expr, value: Any, why: str, at: str) -> ValueError:
    text = str(expr)
    text = text if len(text) <= 60 else text[:57] + "..."
    shown = "undefined" if value is None else _show(value)
    return ValueError(
        f"{label} is {why} at this point ({text} = {shown} at {at}); the point is outside "
        "the map's real domain, choose a point where it is defined"
    )


def exact_at(
    exprs: Sequence[sympy.Expr],
    values: Mapping[sympy.Symbol, sympy.Expr],
    *,
    labels: Sequence[str] | None = None,
) -> list[sympy.Expr]:
    """Each expression's exact value at the point ``values`` (NOTE: bounded-evaluation).

    The cost is bounded by :mod:`symjac.limits` before anything is substituted,
    and a value that is undefined, infinite or complex raises ``ValueError``
    naming the entry (``labels[i]``, default ``entry i+1``).

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> exact_at([x**3 + 1], {x: sympy.Rational(1, 2)})
    [9/8]
    >>> exact_at([1 / (2 * sympy.sqrt(x))], {x: sympy.Integer(0)}, labels=["df/dx"])
    Traceback (most recent call last):
    ...
    ValueError: df/dx is undefined at this point (1/(2*sqrt(x)) = undefined at x = 0); the point is outside the map's real domain, choose a point where it is defined
    """
    labels = list(labels) if labels is not None else [f"entry {i + 1}" for i in range(len(exprs))]
    walk = _Walk(values)
    at = _point_text(values)
    results = []
    for expr, label in zip(exprs, labels):
        try:
            value, _bits = walk.visit(expr)
        except (ZeroDivisionError, ValueError):
            raise _domain_error(label, expr, None, "undefined", at) from None
        if value is _FREE:
            results.append(expr.xreplace(dict(values)))  # parameters left: nothing to check
            continue
        if isinstance(value, bool):
            value = mpmath.mpf(value)
        if walk.ctx.isnan(value):
            raise _domain_error(label, expr, None, "undefined", at)
        if walk.ctx.isinf(value):
            raise _domain_error(label, expr, value, "infinite", at)
        if value.imag and abs(value.imag) > abs(value) * 1e-25:
            raise _domain_error(label, expr, value, "complex", at)
        exact = expr.xreplace(dict(values))
        if exact.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise _domain_error(label, expr, None, "undefined", at)
        if exact.has(sympy.I):
            raise _domain_error(label, expr, value, "complex", at)
        results.append(exact)
    return results
