"""Variables, parameters and points: the names a map is written in, and exact numbers.

NOTE: symbols-once
    A variable named ``"x"`` is always ``sympy.Symbol("x", real=True)``. SymPy
    caches symbols by name *and* assumptions, so creating it twice gives the
    same object, and strings parsed later (NOTE: safe-parsing) resolve names to
    the map's own symbol objects. A caller-supplied Symbol is kept as it is;
    mixing it with a different-assumption symbol of the same name is refused,
    because SymPy would treat the two as unrelated and silently give a zero
    derivative.

Points are converted to exact SymPy numbers: a float is taken as the exact
binary value it holds (``0.1`` becomes ``3602879701896397/36028797018963968``),
so float32 weights and inputs give exact results.

>>> make_symbols(["x1", "x2"])
(x1, x2)
>>> exact_number(0.5), exact_number(1)
(1/2, 1)
"""

from __future__ import annotations

import keyword
import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sympy

from symjac.functions import PARSER_CONSTANTS, PARSER_FUNCTIONS

__all__ = ["RESERVED_NAMES", "exact_matrix", "exact_number", "exact_point", "make_symbols"]

#: names SymPy gives a meaning of its own (sympify would turn them into
#: constants or functions); refused as variable names to avoid confusion
RESERVED_NAMES = frozenset(
    {
        "E",
        "I",
        "N",
        "S",
        "Q",
        "O",
        "pi",
        "oo",
        "nan",
        "zoo",
        "beta",
        "gamma",
        "zeta",
        "lambda",
        "Lambda",
        "Symbol",
        "Function",
        "Integer",
        "Rational",
        "Float",
        "true",
        "false",
    }
)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"a variable name must be a string or sympy.Symbol, got {type(name).__name__}"
        )
    if not name:
        raise ValueError("empty variable name; use identifiers such as 'x' or 'x1'")
    if len(name) > _MAX_NAME:
        raise ValueError(
            f"variable name of {len(name)} characters; names have at most {_MAX_NAME}, "
            "use a short name such as 'x1'"
        )
    if not (name.isascii() and name.isidentifier()):
        raise ValueError(
            f"variable name {_short(name)!r} is not an ASCII identifier; use letters, digits "
            "and _ starting with a letter, e.g. 'x1'"
        )
    if name.startswith("_"):
        raise ValueError(f"variable name {name!r} starts with '_'; start with a letter")
    if keyword.iskeyword(name):
        raise ValueError(f"variable name {name!r} is a Python keyword; use e.g. '{name}_'")
    if name in RESERVED_NAMES or name in PARSER_CONSTANTS:
        raise ValueError(
            f"variable name {name!r} is reserved by SymPy; use another name, e.g. '{name}_1'"
        )
    if name in PARSER_FUNCTIONS:
        raise ValueError(f"variable name {name!r} is a function name; use e.g. '{name}_1'")
    return name


#: longest variable name accepted (names are printed in messages and LaTeX)
_MAX_NAME = 100


def _split(spec: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", spec.strip()) if part]


def make_symbols(
    spec: str | sympy.Symbol | Iterable[str | sympy.Symbol], *, what: str = "variables"
) -> tuple[sympy.Symbol, ...]:
    """Turn a variable specification into distinct real SymPy symbols.

    ``spec`` is a Symbol, a name, a string of names separated by spaces or
    commas, or a sequence of names and Symbols. Duplicates, non-identifiers and
    SymPy-reserved names raise ``ValueError``. See NOTE: symbols-once.

    >>> make_symbols("x1, x2")
    (x1, x2)
    >>> make_symbols("x x")
    Traceback (most recent call last):
    ...
    ValueError: variables list 'x' twice; each variable must appear once, in input order
    """
    if isinstance(spec, (bytes, bytearray)):
        raise TypeError(
            f"{what} must be names (str) or sympy Symbols, got {type(spec).__name__}; "
            "decode it first, e.g. b'x'.decode()"
        )
    if isinstance(spec, str):
        items: list[Any] = _split(spec)
    elif isinstance(spec, (sympy.Basic, numbers.Number)) or not isinstance(spec, Iterable):
        items = [spec]  # one Symbol, or a mistake judged below
    else:
        items = []
        for item in spec:
            items.extend(_split(item) if isinstance(item, str) else [item])
    symbols: list[sympy.Symbol] = []
    for item in items:
        if isinstance(item, sympy.Symbol):
            _check_name(item.name)
            symbols.append(item)
        elif isinstance(item, str):
            symbols.append(sympy.Symbol(_check_name(item), real=True))
        elif isinstance(item, sympy.Basic):
            raise ValueError(
                f"{what} must be symbols, got the expression {_short(str(item))}; "
                "name a symbol such as 'x1' instead"
            )
        elif isinstance(item, numbers.Number) and not isinstance(item, bool):
            raise ValueError(
                f"{what} must be names, got the number {item!r}; use a name such as 'x1'"
            )
        else:
            raise TypeError(
                f"{what} must be names (str) or sympy Symbols, got {type(item).__name__}; "
                "use a name such as 'x1'"
            )
    seen: set[str] = set()
    for sym in symbols:
        if sym.name in seen:
            raise ValueError(
                f"{what} list {sym.name!r} twice; each variable must appear once, in input order"
            )
        seen.add(sym.name)
    return tuple(symbols)


def exact_number(value: Any, *, label: str = "value") -> sympy.Expr:
    """Convert one coordinate to an exact SymPy number (floats exactly, never rounded).

    >>> exact_number(0.1)
    3602879701896397/36028797018963968
    >>> exact_number("1/3")
    1/3
    >>> exact_number(float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: value is nan; exact evaluation needs finite real numbers
    """
    if isinstance(value, bool):
        raise TypeError(f"{label} is a bool; give a real number")
    if isinstance(value, sympy.Basic):
        if not isinstance(value, sympy.Expr) or value.free_symbols:
            raise ValueError(f"{label} must be a number, got the expression {value}")
        if value.is_real is False or value.has(sympy.nan, sympy.zoo, sympy.oo):
            raise ValueError(f"{label} must be a finite real number, got {value}")
        return value
    if isinstance(value, str):
        from symjac.exceptions import LimitError, ParseError
        from symjac.parsing import parse_number

        try:
            return parse_number(value)
        except ParseError as err:
            raise ParseError(f"{label}: {err}", text=err.text, piece=err.piece) from None
        except LimitError as err:
            raise LimitError(f"{label}: {err}") from None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        if getattr(value, "is_meta", False):
            raise ValueError(f"{label} is a meta tensor, which holds no value")
        value = value.item()
    if isinstance(value, numbers.Integral):
        return sympy.Integer(int(value))
    if isinstance(value, numbers.Rational):
        return sympy.Rational(int(value.numerator), int(value.denominator))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{label} is {number}; exact evaluation needs finite real numbers")
        return sympy.Rational(number)
    if isinstance(value, numbers.Complex):
        raise TypeError(f"{label} is complex ({value!r}); symjac works with real numbers")
    raise TypeError(f"{label} must be a real number, got {type(value).__name__}")


def exact_point(point: Any, symbols: Sequence[sympy.Symbol]) -> dict[sympy.Symbol, sympy.Expr]:
    """Map each symbol to the exact value given for it.

    ``point`` is a mapping (keys: names or Symbols) or a sequence / 1-D array /
    tensor in the order of ``symbols``; a lone number is accepted for one symbol.

    >>> x1, x2 = make_symbols("x1 x2")
    >>> exact_point({"x1": 1, x2: 0.5}, (x1, x2))
    {x1: 1, x2: 1/2}
    >>> exact_point([1, 2, 3], (x1, x2))
    Traceback (most recent call last):
    ...
    ValueError: expected 2 coordinates in the order (x1, x2), got 3
    """
    order = ", ".join(s.name for s in symbols)
    if isinstance(point, Mapping):
        by_name = {s.name: s for s in symbols}
        result: dict[sympy.Symbol, sympy.Expr] = {}
        for key, value in point.items():
            name = key.name if isinstance(key, sympy.Symbol) else key
            if not isinstance(name, str) or name not in by_name:
                raise ValueError(
                    f"unknown variable {key!r} in the point; the variables are ({order})"
                )
            result[by_name[name]] = exact_number(value, label=name)
        missing = [s.name for s in symbols if s not in result]
        if missing:
            raise ValueError(
                f"the point gives no value for {', '.join(missing)}; give all of ({order})"
            )
        return result
    if hasattr(point, "tolist") and not isinstance(point, (str, bytes)):
        if getattr(point, "is_meta", False):
            raise ValueError("the point is a meta tensor, which holds no values")
        shape = tuple(getattr(point, "shape", ()))
        if len(shape) > 1:
            raise ValueError(
                f"expected one point of shape ({len(symbols)},) in the order ({order}), "
                f"got shape {shape}; evaluate batches with .numeric()"
            )
        point = point.tolist()
    if isinstance(point, (numbers.Number, sympy.Basic, str)) or point is None:
        values = [point]
    elif isinstance(point, Sequence):
        values = list(point)
    else:
        raise TypeError(
            f"a point must be a mapping or a sequence of numbers, got {type(point).__name__}"
        )
    if len(values) != len(symbols):
        raise ValueError(
            f"expected {len(symbols)} coordinate{'s' * (len(symbols) != 1)} in the order ({order}), "
            f"got {len(values)}"
        )
    return {s: exact_number(v, label=s.name) for s, v in zip(symbols, values, strict=True)}


def exact_matrix(tensor: Any) -> sympy.ImmutableMatrix:
    """A tensor's values as an exact SymPy matrix (a 1-D tensor becomes one column).

    Each float is taken as the exact binary value it holds: widening float32,
    float16 or bfloat16 to float64 is exact, and ``Rational(float)`` is exact.

    >>> import torch
    >>> exact_matrix(torch.tensor([0.5, 0.1], dtype=torch.float32)).T
    Matrix([[1/2, 13421773/134217728]])
    """
    import torch

    values = tensor.detach().cpu().to(torch.float64)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    rows, cols = values.shape
    return sympy.ImmutableMatrix(
        rows, cols, [sympy.Rational(v) for v in values.reshape(-1).tolist()]
    )
