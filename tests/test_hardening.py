"""Hostile and mistaken input: every entry point refuses it fast, on one line, running nothing.

Each row of :data:`STRINGS` is an input, the exact exception type, and a regex
its message must match. The same rows go through ``parse_expression``,
``VectorMap`` and ``symjac.jacobian``; each must raise in under 2 s (measured
with ``time.perf_counter``). The canary test sends code-execution payloads
through every entry point that accepts text and checks the file they would
create never appears.
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import pytest
import sympy

import symjac
from symjac import LimitError, ParseError, SymjacWarning, limits
from symjac.parsing import parse_expression, parse_number
from symjac.variables import exact_number, make_symbols

SECONDS = 2.0
X, Y, Z = sympy.symbols("x y z", real=True)
NAMES = {"x": X, "y": Y, "z": Z}

#: (input, exception type, message regex)
STRINGS = [
    # code, not mathematics
    ("import os", ParseError, r"'import' is a Python keyword.*formula"),
    ("__import__('os').system('echo hi')", ParseError, r"only named functions can be called"),
    ("__import__('os')", ParseError, r"unknown function '__import__'; known functions: abs"),
    ("x.__class__", ParseError, r"attribute access 'x.__class__' is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", ParseError, r"only named functions"),
    ("getattr(x, '__class__')", ParseError, r"unknown function 'getattr'"),
    ("lambda: 1", ParseError, r"lambda is not allowed"),
    ("(lambda: 1)()", ParseError, r"only named functions can be called"),
    ("[i for i in x]", ParseError, r"comprehensions are not allowed"),
    ("sum(i for i in x)", ParseError, r"unknown function 'sum'"),
    ("f'{x}'", ParseError, r"f-strings are not allowed"),
    ("x if y else z", ParseError, r"conditional expressions are not allowed"),
    ("x = 1", ParseError, r"'=' is an assignment; write only the right-hand side"),
    ("(y := 1)", ParseError, r"assignment is not allowed"),
    ("sin(*x)", ParseError, r"sin\(\) cannot take \*arguments"),
    ("sin(x=1)", ParseError, r"sin\(\) takes no keyword arguments"),
    ("b'x'", ParseError, r"bytes literal, not a real number"),
    ("'x'", ParseError, r"is a string, not a real number"),
    ("1j", ParseError, r"complex number, not a real number"),
    ("x[0]", ParseError, r"indexing 'x\[0\]' is not allowed"),
    ("x; y", ParseError, r"invalid syntax"),
    ("x % y", ParseError, r"operator '%' is not allowed"),
    ("x // y", ParseError, r"operator '//' is not allowed"),
    ("not x", ParseError, r"operator 'not' is not allowed"),
    ("~x", ParseError, r"operator '~' is not allowed"),
    ("x & y", ParseError, r"operator '&' is not allowed"),
    # numbers too big to build
    ("9**9**9**9", LimitError, r"exponent \d+ in '9\*\*9\*\*9' exceeds the limit 1000.*override"),
    ("10**10**8", LimitError, r"exponent 100000000 .* exceeds the limit 1000"),
    ("factorial(10**10)", ParseError, r"unknown function 'factorial'; known functions"),
    ("1" * 5000, LimitError, r"number literal with 5000 digits; the limit is 100"),
    ("0." + "0" * 200 + "1", LimitError, r"number literal with 201 digits"),
    ("1_" * 300 + "1", LimitError, r"number literal with 301 digits"),
    ("0x" + "f" * 200, LimitError, r"number literal with about \d+ digits"),
    ("1e999", ParseError, r"'1e999' is outside the float64 range"),
    ("1e99999", LimitError, r"exponent 99999; the limit is 1000"),
    ("2**10000", LimitError, r"exponent 10000 in '2\*\*10000' exceeds the limit 1000"),
    ("(2**1000)**1000", LimitError, r"would be a number with about 301029 digits; the limit"),
    ("x**(2**1000*2**1000)", LimitError, r"exceeds the limit 1000"),
    ("exp(exp(exp(1000)))", LimitError, r"argument of exp exp\(1000\) .* exceeds the limit 1000"),
    ("sin(exp(exp(exp(1000))))", LimitError, r"argument of exp"),
    ("abs(sin(exp(exp(1000))))", LimitError, r"argument of exp"),
    ("x**exp(exp(exp(1000)))", LimitError, r"argument of exp"),
    ("E**E**E**E", LimitError, r"exponent exp\(exp\(E\)\) .* exceeds the limit"),
    ("exp(1000)**1000", LimitError, r"larger than 10\*\*1000"),
    ("sigmoid(1e300)", LimitError, r"argument of sigmoid .* exceeds the limit 1000"),
    (
        "+".join(f"1/{p}**9" for p in sympy.primerange(1000, 7000)),
        LimitError,
        r"would compute an exact sum with more than 1000 digits, the limit",
    ),
    # not finite, not real
    ("nan", ParseError, r"'nan' is not a finite number"),
    ("inf", ParseError, r"'inf' is not a finite number"),
    ("oo", ParseError, r"'oo' is not a finite number"),
    ("sqrt(-1)", ParseError, r"'sqrt\(-1\)' is complex-valued \(I\); symjac works with real"),
    ("log(-1)", ParseError, r"complex-valued"),
    ("asin(2)", ParseError, r"'asin\(2\)' is a complex number"),
    ("(-8)**(1/3)", ParseError, r"complex number"),
    ("sqrt(-x**2)", ParseError, r"complex-valued \(I\*Abs\(x\)\)"),
    ("log(0)", ParseError, r"'log\(0\)' is infinite or undefined"),
    ("atanh(1)", ParseError, r"infinite or undefined"),
    ("tan(pi/2)", ParseError, r"infinite or undefined"),
    ("1/0", ParseError, r"division by zero: '0' is zero; change the denominator"),
    ("0**-1", ParseError, r"zero to a negative power \(division by zero\)"),
    ("x/(x-x)", ParseError, r"division by zero: 'x-x' is zero"),
    ("x/(log(4) - 2*log(2))", ParseError, r"division by zero"),
    ("1/sin(pi)", ParseError, r"division by zero"),
    # too long, too deep
    ("-" * 5000 + "x", LimitError, r"run of 5000 signs; the nesting limit is 100"),
    ("(" * 250 + "x" + ")" * 250, LimitError, r"nests 250 brackets deep; the limit is 100"),
    ("+".join(["x"] * 20000), LimitError, r"39999 characters; the limit is 10000"),
    ("x" * 10001, LimitError, r"10001 characters; the limit is 10000"),
    ("x" + "**x" * 3000, LimitError, r"nests too deeply|nests deeper"),
    ("+".join(["x"] * 3000), LimitError, r"more than 5000 syntax nodes"),
    ("exp(" * 101 + "x" + ")" * 101, LimitError, r"nests 101 brackets deep"),
    # mistakes
    ("", ParseError, r"empty expression; write a formula such as"),
    ("   ", ParseError, r"empty expression"),
    ("x +", ParseError, r"incomplete expression: it ends with '\+'; add the missing operand"),
    ("sin(x", ParseError, r"bracket is never closed; add the missing '\)'"),
    ("x)", ParseError, r"unmatched"),
    ("2x", ParseError, r"multiplication must be written out, e.g. '2\*x'"),
    ("3.5y", ParseError, r"e.g. '3.5\*y'"),
    ("sin x", ParseError, r"call functions with parentheses, e.g. 'sin\(x\)'"),
    ("x y", ParseError, r"two names side by side.*'x\*y'"),
    ("sin()", ParseError, r"sin\(\) takes 1 argument, got 0"),
    ("sin(x, y)", ParseError, r"sin\(\) takes 1 argument, got 2"),
    ("atan2(x)", ParseError, r"atan2\(\) takes 2 arguments, got 1"),
    ("max(x)", ParseError, r"max\(\) takes 2 or more arguments, got 1"),
    ("x > 0", ParseError, r"comparisons \(x > 0\) are not expressions with a derivative"),
    ("x == y", ParseError, r"comparisons"),
    ("x and y", ParseError, r"'and'/'or' are not allowed"),
    ("True", ParseError, r"constant True is a boolean, not a real number"),
    ("None", ParseError, r"not a real number"),
    ("foo(x)", ParseError, r"unknown function 'foo'; known functions: abs, acos"),
    ("sin", ParseError, r"function 'sin' must be called with parentheses"),
    ("w + x", ParseError, r"unknown name 'w' \(declared: x, y, z\); add it to the variables"),
    ("x,", ParseError, r"a tuple is not one expression"),
    ("[x, y]", ParseError, r"a list is not one expression"),
    ("x\ny", ParseError, r"control character '\\n'; write the expression on one line"),
    ("\u0445 + 1", ParseError, r"non-ASCII character 'х' \(CYRILLIC SMALL LETTER HA\)"),
    ("\U0001d465**2", ParseError, r"MATHEMATICAL ITALIC SMALL X.*look-alike"),
    ("\uff58 + 1", ParseError, r"FULLWIDTH LATIN SMALL LETTER X"),
    ("x\u00a0+ 1", ParseError, r"NO-BREAK SPACE"),
]
REFUSED = STRINGS


def _ids(rows):
    return [re.sub(r"\s", "_", repr(text)[:30]) + f"-{i}" for i, (text, *_) in enumerate(rows)]


def _check(exc_info, pattern: str, elapsed: float) -> None:
    message = str(exc_info.value)
    assert "\n" not in message, message
    assert re.search(pattern, message), message
    assert elapsed < SECONDS, f"took {elapsed:.2f}s"
    # raised by symjac, not from deep inside SymPy
    assert exc_info.traceback[-1].path.name in {"parsing.py", "variables.py", "maps.py"}


@pytest.mark.parametrize(("text", "error", "pattern"), REFUSED, ids=_ids(REFUSED))
def test_parse_expression_refuses(text, error, pattern):
    start = time.perf_counter()
    with pytest.raises(error) as exc_info:
        parse_expression(text, NAMES)
    _check(exc_info, pattern, time.perf_counter() - start)
    assert type(exc_info.value) is error


@pytest.mark.parametrize(("text", "error", "pattern"), REFUSED, ids=_ids(REFUSED))
def test_vector_map_and_jacobian_refuse(text, error, pattern):
    for build in (
        lambda: symjac.VectorMap(["x + y + z", text], "x y z"),
        lambda: symjac.jacobian(text, ["x", "y", "z"]),
    ):
        start = time.perf_counter()
        with pytest.raises(error) as exc_info:
            build()
        _check(exc_info, pattern, time.perf_counter() - start)


def test_error_types_follow_the_contract():
    assert issubclass(ParseError, ValueError)
    assert issubclass(LimitError, symjac.SymjacError)
    assert not issubclass(LimitError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x**y**z", X ** (Y**Z)),
        ("x^y^z", X ** (Y**Z)),
        ("2**1000", sympy.Integer(2) ** 1000),
        ("exp(1000)", sympy.exp(1000)),
        ("sin(" * 90 + "x" + ")" * 90, None),
        ("x - y + " * 1000 + "z", -1000 * Y + 1000 * X + Z),
        ("x/2*y/3*" * 200 + "z", None),
        ("1/sin(10**99)", 1 / sympy.sin(sympy.Integer(10) ** 99)),
        ("x**-1000", X**-1000),
        ("(x + 1)**1000", (X + 1) ** 1000),
        ("1_000 + 0x10", sympy.Integer(1016)),
        ("0.1*tanh(x)", sympy.tanh(X) / 10),
        ("1e-300", sympy.Rational(1, 10**300)),
        ("max(x, y, z)", sympy.Max(X, Y, Z)),
    ],
    ids=lambda v: repr(v)[:25],
)
def test_legitimate_edge_cases_parse(text, expected):
    start = time.perf_counter()
    result = parse_expression(text, NAMES)
    assert time.perf_counter() - start < SECONDS
    if expected is not None:
        assert result == expected


# -- variables ------------------------------------------------------------------

VARIABLES = [
    ([], ValueError, r"a map needs at least one input variable, got none"),
    ("", ValueError, r"at least one input variable"),
    ("x x", ValueError, r"variables list 'x' twice; each variable must appear once"),
    (["x", "y", "x"], ValueError, r"'x' twice"),
    (["x", sympy.Symbol("x", real=True)], ValueError, r"'x' twice"),
    ("x-1", ValueError, r"'x-1' is not an ASCII identifier"),
    ("1x", ValueError, r"not an ASCII identifier"),
    ("x.y", ValueError, r"not an ASCII identifier"),
    ("\u0445", ValueError, r"not an ASCII identifier"),
    ("_x", ValueError, r"starts with '_'; start with a letter"),
    ("__import__", ValueError, r"starts with '_'"),
    ("a" * 101, ValueError, r"variable name of 101 characters; names have at most 100"),
    ("x, 2", ValueError, r"'2' is not an ASCII identifier"),
    ("E", ValueError, r"'E' is reserved by SymPy; use another name, e.g. 'E_1'"),
    ("I", ValueError, r"'I' is reserved by SymPy"),
    ("N", ValueError, r"'N' is reserved by SymPy"),
    ("S", ValueError, r"'S' is reserved by SymPy"),
    ("Q", ValueError, r"'Q' is reserved by SymPy"),
    ("pi", ValueError, r"'pi' is reserved by SymPy"),
    ("beta", ValueError, r"'beta' is reserved by SymPy"),
    ("gamma", ValueError, r"'gamma' is reserved by SymPy"),
    ("zeta", ValueError, r"'zeta' is reserved by SymPy"),
    ("lambda", ValueError, r"'lambda' is a Python keyword; use e.g. 'lambda_'"),
    ("import", ValueError, r"Python keyword"),
    ("sin", ValueError, r"'sin' is a function name; use e.g. 'sin_1'"),
    ([1], ValueError, r"variables must be names, got the number 1; use a name such as 'x1'"),
    (2.5, ValueError, r"got the number 2.5"),
    ([X + 1], ValueError, r"variables must be symbols, got the expression x \+ 1"),
    (X + 1, ValueError, r"got the expression x \+ 1"),
    ([None], TypeError, r"must be names \(str\) or sympy Symbols, got NoneType"),
    (None, TypeError, r"got NoneType"),
    (b"x", TypeError, r"got bytes; decode it first"),
    ([True], TypeError, r"got bool"),
]


@pytest.mark.parametrize(("spec", "error", "pattern"), VARIABLES, ids=_ids(VARIABLES))
def test_bad_variables_refused(spec, error, pattern):
    for build in (
        lambda: symjac.VectorMap("1", spec),
        lambda: symjac.jacobian(["1"], spec),
    ):
        start = time.perf_counter()
        with pytest.raises(error) as exc_info:
            build()
        _check(exc_info, pattern, time.perf_counter() - start)
        assert type(exc_info.value) is error


def test_undeclared_symbol_is_an_error_not_a_number():
    with pytest.raises(ParseError, match=r"unknown name 'y' \(declared: x\); add it"):
        symjac.VectorMap("x + y", "x")
    with pytest.raises(ValueError, match=r"contains the symbol y that is not declared"):
        symjac.VectorMap(X + Y, "x")
    with pytest.raises(ParseError, match=r"a constant cannot contain the name 'x'; give a number"):
        parse_number("x + 1")
    with pytest.raises(ParseError, match=r"^x1: a constant cannot contain the name 'y'"):
        symjac.examples.planar().jacobian().at({"x1": "y", "x2": 0})


def test_unused_variable_warns_but_gives_a_zero_column():
    with pytest.warns(SymjacWarning, match=r"variable\(s\) y do not appear in f"):
        J = symjac.jacobian("x**2", "x y")
    assert J.matrix == sympy.Matrix([[2 * X, 0]])


def test_parameter_that_is_also_an_input():
    with pytest.raises(ValueError, match="both an input and a parameter"):
        symjac.VectorMap("x", "x", params="x")


# -- limits -----------------------------------------------------------------------


def test_limits_are_documented():
    import dataclasses

    text = Path(importlib.util.find_spec("symjac.limits").origin).read_text(encoding="utf-8")
    for field in dataclasses.fields(limits.Limits):
        assert re.search(rf"#: .*\n(    #: .*\n)*    {field.name}: int", text), field.name


@pytest.mark.parametrize(
    ("text", "changes", "pattern"),
    [
        ("x + " * 20 + "x", {"max_length": 50}, r"characters; the limit is 50"),
        ("x + " * 20 + "x", {"max_nodes": 10}, r"more than 10 syntax nodes"),
        ("sin(" * 5 + "x" + ")" * 5, {"max_depth": 4}, r"5 brackets deep; the limit is 4"),
        ("x**3", {"max_exponent": 2}, r"exponent 3 .* exceeds the limit 2"),
        ("12345", {"max_digits": 4}, r"5 digits; the limit is 4"),
        ("2**100", {"max_constant_digits": 20}, r"about 30 digits; the limit is 20"),
        ("exp(50)", {"max_constant_digits": 20}, r"larger than 10\*\*20"),
    ],
)
def test_override_tightens_limits(text, changes, pattern):
    parse_expression(text, NAMES)  # fine under the defaults
    with limits.override(**changes), pytest.raises(LimitError, match=pattern):
        parse_expression(text, NAMES)
    parse_expression(text, NAMES)  # restored after the block


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        ("+".join(["x"] * 6000), {"max_length": 20_000, "max_nodes": 20_000}),
        ("(" * 150 + "x" + ")" * 150, {"max_depth": 160}),
        ("x**2000", {"max_exponent": 5000}),
        ("1" * 200, {"max_digits": 300}),
        ("2**5000", {"max_exponent": 5000, "max_constant_digits": 2000}),
    ],
    ids=["length", "depth", "exponent", "digits", "constant"],
)
def test_override_loosens_limits(text, changes):
    with pytest.raises(LimitError):
        parse_expression(text, NAMES)
    with limits.override(**changes):
        start = time.perf_counter()
        result = parse_expression(text, NAMES)
        assert time.perf_counter() - start < SECONDS
    assert isinstance(result, sympy.Expr)


def test_twenty_thousand_term_sum_with_loosened_limits():
    text = "+".join(["x"] * 20000)
    with limits.override(max_length=50_000, max_nodes=50_000):
        start = time.perf_counter()
        assert parse_expression(text, NAMES) == 20000 * X
        assert time.perf_counter() - start < SECONDS


def test_override_is_checked():
    unknown = pytest.raises(TypeError, match=r"unknown limit\(s\) max_bogus; the limits are")
    with unknown, limits.override(max_bogus=1):
        pass
    for bad in (0, -1, 1.5, True, "10"):
        with (
            pytest.raises(ValueError, match="must be a positive int"),
            limits.override(max_depth=bad),
        ):
            pass


def test_deep_nesting_past_python_limits_is_a_limit_error():
    with limits.override(max_depth=5000, max_length=100_000, max_nodes=100_000):
        for text in ("(" * 3000 + "x" + ")" * 3000, "sin(" * 3000 + "x" + ")" * 3000):
            start = time.perf_counter()
            with pytest.raises((LimitError, ParseError)) as exc_info:
                parse_expression(text, NAMES)
            assert "\n" not in str(exc_info.value)
            assert time.perf_counter() - start < SECONDS


# -- exact numbers given as strings -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        ("nan", ParseError, r"^v: 'nan' is not a finite number"),
        ("sqrt(-1)", ParseError, r"complex"),
        ("1/0", ParseError, r"division by zero"),
        ("9**9**9", LimitError, r"^v: exponent"),
        ("__import__('os')", ParseError, r"unknown function"),
        ("x", ParseError, r"a constant cannot contain the name 'x'"),
        (float("inf"), ValueError, r"v is inf; exact evaluation needs finite"),
        (1j, TypeError, r"complex"),
        (True, TypeError, r"bool"),
    ],
)
def test_exact_number_refuses(value, error, pattern):
    with pytest.raises(error, match=pattern):
        exact_number(value, label="v")


def test_make_symbols_keeps_order_and_symbols():
    w = sympy.Symbol("w")
    assert make_symbols(["x2", w, "x1 x3"]) == (
        sympy.Symbol("x2", real=True),
        w,
        sympy.Symbol("x1", real=True),
        sympy.Symbol("x3", real=True),
    )


# -- the canary ---------------------------------------------------------------------


def _payloads(target: str) -> list[str]:
    return [
        f"__import__('os').system('touch {target}')",
        f"open('{target}', 'w')",
        f"open('{target}','w').write('x')",
        f"exec(\"open('{target}','w')\")",
        f"eval(\"open('{target}','w')\")",
        f"().__class__.__bases__[0].__subclasses__()[0].__init__.__globals__['os'].system('touch {target}')",
        f"(lambda: __import__('os').system('touch {target}'))()",
        f"[__import__('os').system('touch {target}') for _ in (1,)]",
        f"x if __import__('os').system('touch {target}') else x",
        f"(y := __import__('os').system('touch {target}'))",
        f'f\'{{__import__("os").system("touch {target}")}}\'',
        f"getattr(__import__('os'), 'system')('touch {target}')",
        f"x + __import__('pathlib').Path('{target}').touch()",
        f"sin(x).__class__.__init__.__globals__['__builtins__']['open']('{target}', 'w')",
        f"Symbol('x').func.__globals__['__builtins__'].open('{target}','w')",
        f"x.__reduce__()[0]('{target}')",
        f"x\n__import__('os').system('touch {target}')",
        f"x; open('{target}', 'w')",
    ]


def _entry_points(payload: str):
    yield "parse_expression", lambda: parse_expression(payload, NAMES)
    yield "parse_number", lambda: parse_number(payload)
    yield "VectorMap", lambda: symjac.VectorMap(["x", payload], "x")
    yield "jacobian", lambda: symjac.jacobian(payload, "x")
    yield "variables", lambda: symjac.VectorMap("1", payload)
    yield "params", lambda: symjac.VectorMap("x", "x", params=payload)
    yield "J.at", lambda: symjac.examples.planar().jacobian().at([payload, 1])
    yield "map.at", lambda: symjac.examples.planar().at({"x1": 1, "x2": payload})
    yield "exact_number", lambda: exact_number(payload)
    yield "subs", lambda: symjac.VectorMap("w*x", "x", params="w").subs({"w": payload})


def test_canary_no_payload_runs(tmp_path):
    target = tmp_path / "pwned"
    for payload in _payloads(str(target)):
        for where, call in _entry_points(payload):
            start = time.perf_counter()
            with pytest.raises((ValueError, TypeError, symjac.SymjacError)) as exc_info:
                call()
            assert "\n" not in str(exc_info.value), (where, payload)
            assert time.perf_counter() - start < SECONDS, (where, payload)
            assert not target.exists(), f"{where} ran {payload!r}"


def test_canary_through_the_cli(tmp_path, capsys):
    if importlib.util.find_spec("symjac.cli") is None:
        pytest.skip("symjac.cli is not written yet")
    from symjac.cli import main

    target = tmp_path / "pwned"
    for payload in _payloads(str(target)):
        try:
            code = main(["jacobian", payload, "--wrt", "x"])
        except SystemExit as exit_:
            code = exit_.code
        assert code not in (0, None), payload
        assert not target.exists(), payload
    capsys.readouterr()
