"""The safe parser reads ordinary mathematics exactly (NOTE: safe-parsing)."""

from __future__ import annotations

import pytest
import sympy

from symjac import ParseError, limits
from symjac.functions import sigmoid, softplus
from symjac.parsing import parse_expression, parse_number

x, y = sympy.symbols("x y", real=True)
NAMES = {"x": x, "y": y}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x^2 + 3*x", x**2 + 3 * x),
        ("x**2 + 3*x", x**2 + 3 * x),
        ("-x^2", -(x**2)),
        ("2^3^2", sympy.Integer(512)),
        ("x - y - 1", x - y - 1),
        ("x / y / 2", x / y / 2),
        ("x * y / 2 * x", x**2 * y / 2),
        ("0.1", sympy.Rational(1, 10)),
        (".5e1", sympy.Integer(5)),
        ("1.5E-3", sympy.Rational(3, 2000)),
        ("exp(x) + ln(y) + log(y)", sympy.exp(x) + 2 * sympy.log(y)),
        ("sqrt(x)", sympy.sqrt(x)),
        ("atan2(y, x)", sympy.atan2(y, x)),
        ("abs(x) + Abs(y)", sympy.Abs(x) + sympy.Abs(y)),
        ("heaviside(x)", sympy.Heaviside(x)),
        ("max(x, y, 0)", sympy.Max(x, y, 0)),
        ("min(x, y)", sympy.Min(x, y)),
        ("sigmoid(x) * softplus(y)", sigmoid(x) * softplus(y)),
        ("pi * E", sympy.pi * sympy.E),
        ("((x))", x),
        ("  x  ", x),
        ("+x", x),
        ("- - x", x),
        ("x^-1", 1 / x),
    ],
)
def test_parses_exactly(text, expected):
    assert parse_expression(text, NAMES) == expected


def test_names_resolve_to_the_given_symbols():
    weird = sympy.Symbol("x")  # no assumptions: kept as given
    assert parse_expression("x + 1", {"x": weird}).free_symbols == {weird}


def test_parse_number():
    assert parse_number("1/3") == sympy.Rational(1, 3)
    assert parse_number("sqrt(2)/2") == sympy.sqrt(2) / 2
    with pytest.raises(ParseError, match="a constant cannot contain the name 'x'"):
        parse_number("x")


def test_error_carries_text_and_piece():
    with pytest.raises(ParseError) as info:
        parse_expression("x + foo(y)", NAMES)
    assert info.value.piece == "foo"
    assert info.value.text == "x + foo(y)"


def test_non_string_and_bad_names():
    with pytest.raises(TypeError, match="expected an expression string"):
        parse_expression(3, NAMES)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="names must be a mapping"):
        parse_expression("x", ["x"])  # type: ignore[arg-type]


def test_limits_in_one_context_do_not_leak():
    with limits.override(max_length=5):
        assert limits.current().max_length == 5
    assert limits.current().max_length == limits.Limits().max_length
