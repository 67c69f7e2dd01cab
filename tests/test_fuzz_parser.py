"""Hypothesis fuzzing of the safe parser.

The parser must either return the intended SymPy expression or raise
:class:`symjac.ParseError` / :class:`symjac.LimitError`, quickly; any other
exception is a bug.
"""

from __future__ import annotations

import os
import string
import time

import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symjac import LimitError, ParseError
from symjac.functions import sigmoid, softplus
from symjac.parsing import parse_expression

X, Y = sympy.symbols("x y", real=True)
NAMES = {"x": X, "y": Y}
SECONDS = 2.0
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: multiply the example counts for a deeper local run: SYMJAC_FUZZ_SCALE=50 pytest ...
SCALE = int(os.environ.get("SYMJAC_FUZZ_SCALE", "1"))

EXPRESSION_CHARS = [
    *"xy0123456789+-*/^(). e,",
    *("sin", "cos", "tanh", "exp", "log", "**", "sqrt", "max"),
]


def _parse_or_refuse(text: str):
    start = time.perf_counter()
    try:
        result = parse_expression(text, NAMES)
    except (ParseError, LimitError) as err:
        assert "\n" not in str(err)
        result = err
    assert time.perf_counter() - start < SECONDS, text
    return result


@settings(max_examples=200 * SCALE, **SETTINGS)
@given(st.text(alphabet=string.printable, max_size=60))
def test_printable_text_never_crashes(text):
    result = _parse_or_refuse(text)
    if isinstance(result, sympy.Basic):
        assert isinstance(result, sympy.Expr)
        assert result.free_symbols <= {X, Y}
        assert not result.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo)


@settings(max_examples=200 * SCALE, **SETTINGS)
@given(st.lists(st.sampled_from(EXPRESSION_CHARS), max_size=40).map("".join))
def test_expression_characters_never_crash(text):
    result = _parse_or_refuse(text)
    if isinstance(result, sympy.Basic):
        assert result.free_symbols <= {X, Y}
        assert not result.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo)


# -- random expression trees: text and the SymPy expression it means ---------------

_UNARY = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tanh": sympy.tanh,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "atan": sympy.atan,
    "abs": sympy.Abs,
    "sigmoid": sigmoid,
    "softplus": softplus,
}

# each tree is (text, thunk): the thunk builds the intended SymPy expression only
# when the parser accepted the text (building it may itself fail for refused input)
leaves = st.one_of(
    st.sampled_from([("x", X), ("y", Y), ("pi", sympy.pi), ("E", sympy.E)]),
    st.integers(0, 10**6).map(lambda n: (str(n), sympy.Integer(n))),
    st.fractions(min_value=0, max_value=100, max_denominator=1000).map(
        lambda f: (f"({f.numerator}/{f.denominator})", sympy.Rational(f.numerator, f.denominator))
    ),
    st.decimals(min_value=0, max_value=10**4, places=4, allow_nan=False).map(
        lambda d: (str(d), sympy.Rational(str(d)))
    ),
).map(lambda leaf: (leaf[0], lambda: leaf[1]))

_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


def _extend(children):
    binary = st.tuples(st.sampled_from(sorted(_BINARY)), children, children).map(
        lambda t: (
            f"({t[1][0]} {t[0]} {t[2][0]})",
            lambda: _BINARY[t[0]](t[1][1](), t[2][1]()),
        )
    )
    power = st.tuples(children, st.integers(-4, 6), st.sampled_from(["**", "^"])).map(
        lambda t: (f"({t[0][0]}){t[2]}({t[1]})", lambda: t[0][1]() ** t[1])
    )
    call = st.tuples(st.sampled_from(sorted(_UNARY)), children).map(
        lambda t: (f"{t[0]}({t[1][0]})", lambda: _UNARY[t[0]](t[1][1]()))
    )
    negate = children.map(lambda c: (f"-({c[0]})", lambda: -c[1]()))
    pair = st.tuples(st.sampled_from(["max", "min"]), children, children).map(
        lambda t: (
            f"{t[0]}({t[1][0]}, {t[2][0]})",
            lambda: (sympy.Max if t[0] == "max" else sympy.Min)(t[1][1](), t[2][1]()),
        )
    )
    return st.one_of(binary, power, call, negate, pair)


expressions = st.recursive(leaves, _extend, max_leaves=10)


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    if a == b or sympy.expand(a - b) == 0:
        return True
    return sympy.simplify(a - b) == 0


@settings(max_examples=100 * SCALE, **SETTINGS)
@given(expressions)
def test_random_trees_parse_to_the_intended_expression(pair):
    text, thunk = pair
    result = _parse_or_refuse(text)
    if isinstance(result, Exception):
        return  # a refusal (complex, infinite, too large) is allowed; a crash is not
    assert isinstance(result, sympy.Expr)
    intended = thunk()
    assert _same(result, intended), (text, result, intended)
