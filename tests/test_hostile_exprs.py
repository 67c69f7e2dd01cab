"""Hostile and broken expressions, points and output streams (the expression half of the
hostile-input work; models, files and sizes are in test_hostile_models.py).

Each category: inputs that pass the parser's limits and then hang or blow up when evaluated,
silent wrong answers, domain errors, and failures of the output stream. Every case must give a
one-line error (or the right answer); none may exit 0 with a non-finite or complex value.
"""

from __future__ import annotations

import os
import subprocess
import sys

import hypothesis.strategies as st
import pytest
import sympy
from hypothesis import given, settings

import symjac
from symjac import limits
from symjac.cli import EXIT_LIMIT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE, MAX_MESSAGE, main
from symjac.evaluation import exact_at
from symjac.exceptions import LimitError, ParseError

x = sympy.Symbol("x", real=True)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- characters Python reads with another meaning ------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x**2 # + 3*x", "'#' would start a Python comment"),
        ("x**2#", "'#' would start a Python comment"),
        ("x + \\", r"'\\' is not part of a formula"),
        ("$x^2$", "'\\$' is not part of a formula"),
        ("x?", "'\\?' is not part of a formula"),
        ("`x`", "'`' is not part of a formula"),
    ],
)
def test_characters_with_a_silent_meaning_are_refused(text: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        symjac.VectorMap(text, "x")


def test_comment_is_refused_by_the_cli_not_answered(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "jacobian", "x**2 # + 3*x", "--wrt", "x")
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and "comment" in err


# -- evaluation at a point is bounded before SymPy sees the numbers ------------------------


@pytest.mark.parametrize(
    ("expr", "point", "match"),
    [
        ("(((x+1)**1000+1)**1000+1)**1000", "1/3", "max_constant_digits"),
        ("(x+1)**900 * (x+2)**900", "1/7", "max_constant_digits"),
        ("sin(exp(exp(exp(x))))", "20", "max_exponent"),
        ("cosh(x**3)", "20", "max_exponent"),
        ("x**999 * x**999", "7", "max_constant_digits"),
    ],
)
def test_values_at_a_point_are_bounded(expr: str, point: str, match: str) -> None:
    f = symjac.VectorMap(expr, "x")
    with pytest.raises(LimitError, match=match):
        f.at({"x": point})
    with pytest.raises(LimitError, match=match):
        f.jacobian().at({"x": point})


def test_a_large_but_allowed_exact_value_is_exact() -> None:
    J = symjac.jacobian("x**1000", "x")
    assert J.at({"x": 3})[0, 0] == 1000 * sympy.Integer(3) ** 999  # 477 digits


def test_raising_the_digits_limit_admits_the_value() -> None:
    f = symjac.VectorMap("x**1000 * x**1000", "x")
    with pytest.raises(LimitError, match=r"about 169[01] digits"):  # 7**2000 has 1691
        f.at({"x": 7})
    with limits.override(max_constant_digits=2000):
        assert f.at({"x": 7})[0] == sympy.Integer(7) ** 2000


def test_cli_point_limit_is_one_line_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "jacobian", "(((x+1)**1000+1)**1000+1)**1000", "--wrt", "x", "--at", "x=1/3"
    )
    assert (code, out) == (EXIT_LIMIT, "")
    assert err.count("\n") == 1 and "max_constant_digits" in err


# -- long products and many functions -------------------------------------------------------


def _product(n: int) -> str:
    return "*".join(f"sin(x+{i})" for i in range(n))


def test_long_product_is_refused_before_differentiating() -> None:
    f = symjac.VectorMap(_product(100), "x")  # 1 KB, accepted by the parser
    with pytest.raises(LimitError, match="max_derivative_nodes"):
        f.jacobian()


def test_short_product_is_differentiated_exactly() -> None:
    J = symjac.jacobian(_product(3), "x")
    a, b, c = (sympy.sin(x + i) for i in range(3))
    assert sympy.expand(J.matrix[0, 0] - sympy.diff(a * b * c, x)) == 0


def test_derivative_limit_can_be_raised() -> None:
    f = symjac.VectorMap(_product(60), "x")
    with pytest.raises(LimitError, match="max_derivative_nodes"):
        f.jacobian()
    with limits.override(max_derivative_nodes=10**6):
        assert f.jacobian().shape == (1, 1)


def test_many_function_calls_are_refused_while_parsing() -> None:
    text = "+".join(f"sin(x+{i})" for i in range(400))  # 4 KB, under max_length
    with pytest.raises(LimitError, match="max_functions"):
        symjac.VectorMap(text, "x")


def test_many_distinct_functions_from_sympy_are_refused() -> None:
    expr = sympy.Add(*(sympy.sin(x + i) for i in range(400)))
    f = symjac.VectorMap(expr, [x])
    with pytest.raises(LimitError, match="max_functions"):
        f.jacobian()


# -- domain errors: never zoo, nan or a complex number as an answer -------------------------


@pytest.mark.parametrize(
    ("expr", "point", "word"),
    [
        ("sqrt(x)", "0", "undefined"),  # the derivative 1/(2 sqrt(x))
        ("log(x)", "-1", "complex"),  # the map itself
        ("log(x)", "0", "infinite"),
        ("acos(x)", "2", "complex"),
        ("1/x", "0", "undefined"),
        ("sin(x)/x", "0", "undefined"),
        ("x**(1/3)", "-8", "complex"),
        ("atanh(x)", "1", "infinite"),
    ],
)
def test_points_outside_the_domain_are_errors(
    capsys: pytest.CaptureFixture[str], expr: str, point: str, word: str
) -> None:
    for extra in ([], ["--json"]):
        code, out, err = run_cli(
            capsys, "jacobian", expr, "--wrt", "x", "--at", f"x={point}", *extra
        )
        assert code == EXIT_USAGE, (expr, point, out)
        assert out == ""
        assert err.count("\n") == 1 and word in err and "outside the map's real domain" in err


def test_domain_error_names_the_entry() -> None:
    J = symjac.jacobian(["x1**2", "sqrt(x2)"], ["x1", "x2"])
    with pytest.raises(ValueError, match=r"df2/dx2 is undefined at this point"):
        J.at({"x1": 1, "x2": 0})


def test_a_kink_is_a_noted_convention(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "jacobian", "relu(x)", "--wrt", "x", "--at", "x=0")
    assert code == EXIT_OK
    assert "df/dx = 1/2" in out and "kink" in out and "SymPy's convention" in out


_DOMAIN_MAPS = ["log(x)", "sqrt(x)", "acos(x)", "1/(x - 1/2)", "atanh(x)", "x**(2/3)", "log(1 + x)"]


@settings(max_examples=60, deadline=None)
@given(
    expr=st.sampled_from(_DOMAIN_MAPS),
    point=st.fractions(min_value=-3, max_value=3, max_denominator=8),
)
def test_values_at_points_are_finite_and_real_or_an_error(expr: str, point: object) -> None:
    f = symjac.VectorMap(expr, "x")
    try:
        values = [*f.at({"x": point}), *f.jacobian().at({"x": point})]
    except ValueError as err:
        assert "outside the map's real domain" in str(err)
        return
    for value in values:
        number = complex(sympy.N(value, 30))
        assert number.imag == 0 and abs(number.real) < float("inf"), (expr, point, value)


def test_exact_at_checks_every_output_and_leaves_parameters() -> None:
    w = sympy.Symbol("w", real=True)
    assert exact_at([w * x], {x: sympy.Integer(2)}) == [2 * w]


# -- messages and output streams -------------------------------------------------------------


def test_long_messages_are_one_line_of_bounded_length(capsys: pytest.CaptureFixture[str]) -> None:
    names = " ".join(f"variable_number_{i}" for i in range(60))
    code, _, err = run_cli(
        capsys, "jacobian", "x", "--wrt", "x", "--at", *[f"{n}=1" for n in names.split()]
    )
    assert code == EXIT_USAGE
    line = err.rstrip("\n")
    assert "\n" not in line and len(line) <= len("symjac: error: ") + MAX_MESSAGE


def _cli(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "symjac", *args], text=True, env=env, timeout=120, **kwargs
    )


def test_closed_stdout_is_an_error_not_success() -> None:
    result = _cli(
        ["jacobian", "x**2", "--wrt", "x"],
        stdout=None,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
    )
    assert result.returncode == EXIT_OUTPUT
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "standard output is closed" in result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_is_an_error_not_a_traceback() -> None:
    with open("/dev/full", "w") as full:
        result = _cli(["jacobian", "x**2", "--wrt", "x"], stdout=full, stderr=subprocess.PIPE)
    assert result.returncode == EXIT_OUTPUT
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "No space left on device" in result.stderr


def test_closed_stderr_and_stdout_still_give_the_exit_code() -> None:
    def close_both() -> None:
        os.close(1)
        os.close(2)

    result = _cli(["jacobian", "x**2", "--wrt", "x"], preexec_fn=close_both)
    assert result.returncode == EXIT_OUTPUT


def test_a_reader_leaving_early_is_not_an_error() -> None:
    args = [sys.executable, "-m", "symjac", "jacobian", "x**2", "x**3", "--wrt", "x", "--json"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader leaves before the output is written
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == EXIT_OK
    assert "Traceback" not in err


# -- the parser knows the network side's activations -----------------------------------------


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_tanh", "silu", "elu", "leaky_relu"])
def test_activation_names_are_functions_in_formulas(name: str) -> None:
    from symjac.activations import Z, get_activation

    f = symjac.VectorMap(f"{name}(2*x)", "x")
    assert f.outputs[0] == get_activation(name).expr.xreplace({Z: 2 * x})


def test_jacobian_repr_shows_a_one_input_tuple() -> None:
    assert repr(symjac.jacobian("x**2", "x")) == "Jacobian('J_f', shape=(1, 1), wrt=(x,))"
    assert repr(symjac.jacobian("x*y", "x y")).endswith("wrt=(x, y))")


def test_an_allocation_failure_is_a_limit_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from symjac import cli

    def exhausted(*args: object) -> None:
        raise MemoryError

    monkeypatch.setitem(cli.COMMANDS, "jacobian", exhausted)
    code, out, err = run_cli(capsys, "jacobian", "x", "--wrt", "x")
    assert (code, out) == (EXIT_LIMIT, "")
    assert err.count("\n") == 1 and "ran out of memory" in err and "internal" not in err


def test_piecewise_branches_not_taken_are_not_evaluated() -> None:
    elu = symjac.VectorMap("elu(x)", "x")
    assert elu.at({"x": 10**50})[0] == 10**50  # exp(10**50) - 1 is never needed
    assert elu.jacobian().at({"x": 10**50})[0, 0] == 1
