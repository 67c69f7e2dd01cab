"""The one table from SymPy functions to every numeric backend.

NOTE: function-table
    Everything that turns a SymPy expression into numbers (the NumPy, torch and
    mpmath code generators in :mod:`symjac.numeric`, the torch twin of a map in
    :mod:`symjac.comparison`) and everything that turns text into SymPy (the safe
    parser in :mod:`symjac.parsing`) reads this module. A function missing here
    is unsupported everywhere, with an error that names it; adding a row adds
    it everywhere at once.

Besides SymPy's own functions the table holds two that SymPy lacks and neural
networks need, :class:`sigmoid` and :class:`softplus`, defined as proper SymPy
functions so that their derivatives come from SymPy.

>>> import sympy
>>> from symjac.functions import sigmoid
>>> x = sympy.Symbol("x", real=True)
>>> sympy.diff(sigmoid(x), x)
(1 - sigmoid(x))*sigmoid(x)
>>> BACKEND_FUNCTIONS[sympy.tanh]
Row(numpy='np.tanh', torch='torch.tanh', mpmath='mp.tanh')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import sympy

__all__ = [
    "BACKENDS",
    "BACKEND_FUNCTIONS",
    "PARSER_FUNCTIONS",
    "Row",
    "sigmoid",
    "softplus",
]

#: the backends a SymPy expression can be compiled for
BACKENDS = ("numpy", "torch", "mpmath")


class sigmoid(sympy.Function):
    r"""The logistic function :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    >>> x = sympy.Symbol("x", real=True)
    >>> sigmoid(0), sigmoid(x).rewrite(sympy.exp)
    (1/2, 1/(1 + exp(-x)))
    >>> sympy.N(sigmoid(1), 20)
    0.73105857863000487925
    """

    nargs = 1

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        if arg.is_zero:
            return sympy.S.Half
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, arg: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return 1 / (1 + sympy.exp(-arg))

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return self._eval_rewrite_as_exp(self.args[0])._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _latex(self, printer: Any, exp: Any = None) -> str:
        body = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class softplus(sympy.Function):
    r"""The softplus function :math:`\log(1 + e^{x})`, whose derivative is :class:`sigmoid`.

    >>> x = sympy.Symbol("x", real=True)
    >>> softplus(0), sympy.diff(softplus(x), x)
    (log(2), sigmoid(x))
    """

    nargs = 1

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        if arg.is_zero:
            return sympy.log(2)
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, arg: sympy.Expr, **kwargs: Any) -> sympy.Expr:
        return sympy.log(1 + sympy.exp(arg))

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return self._eval_rewrite_as_exp(self.args[0])._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _latex(self, printer: Any, exp: Any = None) -> str:
        body = rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class Row(NamedTuple):
    """How one SymPy function is spelled in each backend's generated code.

    The names refer to the namespace that :mod:`symjac.numeric` gives each
    backend: ``np`` (NumPy), ``torch``, ``mp`` (an mpmath context at the
    requested precision), and helpers whose names start with ``_``.
    """

    numpy: str
    torch: str
    mpmath: str


#: SymPy function class -> its spelling in each backend (see NOTE: function-table)
BACKEND_FUNCTIONS: dict[type, Row] = {
    sympy.exp: Row("np.exp", "torch.exp", "mp.exp"),
    sympy.log: Row("np.log", "torch.log", "mp.log"),
    sympy.sin: Row("np.sin", "torch.sin", "mp.sin"),
    sympy.cos: Row("np.cos", "torch.cos", "mp.cos"),
    sympy.tan: Row("np.tan", "torch.tan", "mp.tan"),
    sympy.asin: Row("np.arcsin", "torch.asin", "mp.asin"),
    sympy.acos: Row("np.arccos", "torch.acos", "mp.acos"),
    sympy.atan: Row("np.arctan", "torch.atan", "mp.atan"),
    sympy.atan2: Row("np.arctan2", "torch.atan2", "mp.atan2"),
    sympy.sinh: Row("np.sinh", "torch.sinh", "mp.sinh"),
    sympy.cosh: Row("np.cosh", "torch.cosh", "mp.cosh"),
    sympy.tanh: Row("np.tanh", "torch.tanh", "mp.tanh"),
    sympy.sech: Row("_sech", "_sech", "mp.sech"),
    sympy.asinh: Row("np.arcsinh", "torch.asinh", "mp.asinh"),
    sympy.acosh: Row("np.arccosh", "torch.acosh", "mp.acosh"),
    sympy.atanh: Row("np.arctanh", "torch.atanh", "mp.atanh"),
    sympy.Abs: Row("np.abs", "torch.abs", "abs"),
    sympy.sign: Row("np.sign", "torch.sign", "mp.sign"),
    sympy.erf: Row("_erf", "torch.special.erf", "mp.erf"),
    sympy.erfc: Row("_erfc", "torch.special.erfc", "mp.erfc"),
    sympy.Heaviside: Row("_heaviside", "_heaviside", "_heaviside"),
    sympy.Max: Row("_max", "_max", "max"),
    sympy.Min: Row("_min", "_min", "min"),
    sigmoid: Row("_sigmoid", "torch.sigmoid", "_sigmoid"),
    softplus: Row("_softplus", "_softplus", "_softplus"),
    # square roots are Pow(x, 1/2) in SymPy; the code generator looks this row up
    sympy.sqrt: Row("np.sqrt", "torch.sqrt", "mp.sqrt"),
    # logic inside Piecewise conditions
    sympy.And: Row("np.logical_and", "torch.logical_and", "_and"),
    sympy.Or: Row("np.logical_or", "torch.logical_or", "_or"),
    sympy.Not: Row("np.logical_not", "torch.logical_not", "_not"),
}


def _log(*args: sympy.Expr) -> sympy.Expr:
    # one argument only: SymPy's log(x, b) is a base-b logarithm the backends lack
    return sympy.log(*args)


#: names the safe parser accepts as calls -> (SymPy constructor, number of arguments).
#: ``None`` arguments means "two or more". Every constructor's class has a row above.
PARSER_FUNCTIONS: dict[str, tuple[Callable[..., sympy.Expr], int | None]] = {
    "exp": (sympy.exp, 1),
    "log": (sympy.log, 1),
    "ln": (sympy.log, 1),
    "sqrt": (sympy.sqrt, 1),
    "sin": (sympy.sin, 1),
    "cos": (sympy.cos, 1),
    "tan": (sympy.tan, 1),
    "asin": (sympy.asin, 1),
    "acos": (sympy.acos, 1),
    "atan": (sympy.atan, 1),
    "atan2": (sympy.atan2, 2),
    "sinh": (sympy.sinh, 1),
    "cosh": (sympy.cosh, 1),
    "tanh": (sympy.tanh, 1),
    "asinh": (sympy.asinh, 1),
    "acosh": (sympy.acosh, 1),
    "atanh": (sympy.atanh, 1),
    "abs": (sympy.Abs, 1),
    "Abs": (sympy.Abs, 1),
    "sign": (sympy.sign, 1),
    "erf": (sympy.erf, 1),
    "erfc": (sympy.erfc, 1),
    "heaviside": (sympy.Heaviside, 1),
    "Heaviside": (sympy.Heaviside, 1),
    "max": (sympy.Max, None),
    "Max": (sympy.Max, None),
    "min": (sympy.Min, None),
    "Min": (sympy.Min, None),
    "sigmoid": (sigmoid, 1),
    "softplus": (softplus, 1),
}

#: names the parser reads as constants
PARSER_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}
