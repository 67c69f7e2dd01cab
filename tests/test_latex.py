r"""LaTeX output, pinned exactly: what a textbook prints for each example.

The planar Jacobian is the issue's own string,
``J_f = \begin{pmatrix} \frac{\partial f_1}{\partial x_1} & ... \end{pmatrix} = ...``.
"""

from __future__ import annotations

import pytest
import sympy

import symjac
from symjac import examples, latex, limits

PLANAR_DEFINITION = (
    r"\begin{pmatrix} \frac{\partial f_1}{\partial x_1} & \frac{\partial f_1}{\partial x_2} \\ "
    r"\frac{\partial f_2}{\partial x_1} & \frac{\partial f_2}{\partial x_2} \end{pmatrix}"
)
PLANAR_VALUE = r"\begin{pmatrix} 2 x_{1} & 1 \\ 1 & 2 x_{2} \end{pmatrix}"
QUADRATIC_ROW = r"\begin{pmatrix} \frac{\partial f}{\partial x_1} & \frac{\partial f}{\partial x_2} \end{pmatrix}"
QUADRATIC_COLUMN = r"\begin{pmatrix} \frac{\partial f}{\partial x_1} \\ \frac{\partial f}{\partial x_2} \end{pmatrix}"

TABLE = [
    # (example, "jacobian" or "gradient", show, expected)
    ("square", "jacobian", "both", r"J_f = \frac{d f}{d x} = 2 x"),
    ("square", "jacobian", "value", r"2 x"),
    ("square", "jacobian", "definition", r"J_f = \frac{d f}{d x}"),
    ("square", "gradient", "both", r"\nabla f = \frac{d f}{d x} = 2 x"),
    (
        "quadratic",
        "jacobian",
        "both",
        rf"J_f = {QUADRATIC_ROW} = \begin{{pmatrix}} 2 x_{{1}} + 3 x_{{2}} & 3 x_{{1}} + 2 x_{{2}} \end{{pmatrix}}",
    ),
    (
        "quadratic",
        "jacobian",
        "value",
        r"\begin{pmatrix} 2 x_{1} + 3 x_{2} & 3 x_{1} + 2 x_{2} \end{pmatrix}",
    ),
    ("quadratic", "jacobian", "definition", rf"J_f = {QUADRATIC_ROW}"),
    (
        "quadratic",
        "gradient",
        "both",
        rf"\nabla f = {QUADRATIC_COLUMN} = \begin{{pmatrix}} 2 x_{{1}} + 3 x_{{2}} \\ 3 x_{{1}} + 2 x_{{2}} \end{{pmatrix}}",
    ),
    (
        "quadratic",
        "gradient",
        "value",
        r"\begin{pmatrix} 2 x_{1} + 3 x_{2} \\ 3 x_{1} + 2 x_{2} \end{pmatrix}",
    ),
    ("quadratic", "gradient", "definition", rf"\nabla f = {QUADRATIC_COLUMN}"),
    ("planar", "jacobian", "both", f"J_f = {PLANAR_DEFINITION} = {PLANAR_VALUE}"),
    ("planar", "jacobian", "value", PLANAR_VALUE),
    ("planar", "jacobian", "definition", f"J_f = {PLANAR_DEFINITION}"),
]


@pytest.mark.parametrize(("example", "kind", "show", "expected"), TABLE)
def test_latex_table(example, kind, show, expected):
    f = getattr(examples, example)()
    J = f.jacobian() if kind == "jacobian" else f.gradient()
    assert J.latex(show=show) == expected


def test_planar_default_is_the_issue_string():
    expected = (
        r"J_f = \begin{pmatrix} \frac{\partial f_1}{\partial x_1} & \frac{\partial f_1}{\partial x_2} \\ "
        r"\frac{\partial f_2}{\partial x_1} & \frac{\partial f_2}{\partial x_2} \end{pmatrix} = "
        r"\begin{pmatrix} 2 x_{1} & 1 \\ 1 & 2 x_{2} \end{pmatrix}"
    )
    assert examples.planar().jacobian().latex() == expected
    assert symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"]).latex() == expected


@pytest.mark.parametrize("example", ["square", "quadratic", "planar"])
def test_repr_latex_is_the_latex_in_dollars(example):
    f = getattr(examples, example)()
    J = f.jacobian()
    assert J._repr_latex_() == f"${J.latex()}$"
    assert f._repr_latex_() == f"${f.latex()}$"


def test_repr_latex_planar_exact():
    assert (
        examples.planar().jacobian()._repr_latex_()
        == f"$J_f = {PLANAR_DEFINITION} = {PLANAR_VALUE}$"
    )
    assert examples.planar()._repr_latex_() == (
        r"$f(x_1, x_2) = \begin{pmatrix} x_{1}^{2} + x_{2} \\ x_{1} + x_{2}^{2} \end{pmatrix}$"
    )


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("square", r"f(x) = x^{2}"),
        ("quadratic", r"f(x_1, x_2) = x_{1}^{2} + 3 x_{1} x_{2} + x_{2}^{2}"),
        (
            "planar",
            r"f(x_1, x_2) = \begin{pmatrix} x_{1}^{2} + x_{2} \\ x_{1} + x_{2}^{2} \end{pmatrix}",
        ),
    ],
)
def test_map_latex(example, expected):
    assert getattr(examples, example)().latex() == expected


@pytest.mark.parametrize(
    ("name", "show", "expected"),
    [
        ("A", "both", f"A = {PLANAR_DEFINITION} = {PLANAR_VALUE}"),
        (r"\mathbf{J}", "definition", rf"\mathbf{{J}} = {PLANAR_DEFINITION}"),
        ("Df(x)", "both", f"Df(x) = {PLANAR_DEFINITION} = {PLANAR_VALUE}"),
        ("A", "value", PLANAR_VALUE),  # no name shown without the definition
    ],
)
def test_name_option(name, show, expected):
    assert examples.planar().jacobian().latex(name=name, show=show) == expected


def test_map_name_and_output_names():
    J = symjac.VectorMap(["x*y", "x + y"], "x y", name="F", output_names=["u", "v"]).jacobian()
    assert J.latex() == (
        r"J_F = \begin{pmatrix} \frac{\partial u}{\partial x} & \frac{\partial u}{\partial y} \\ "
        r"\frac{\partial v}{\partial x} & \frac{\partial v}{\partial y} \end{pmatrix} = "
        r"\begin{pmatrix} y & x \\ 1 & 1 \end{pmatrix}"
    )


def test_greek_map_name_is_greek_everywhere():
    # regression: the label was J_{\phi} but the entries said "phi_1"
    J = symjac.VectorMap(["x", "x**2"], "x", name="phi").jacobian()
    assert J.latex() == (
        r"J_{\phi} = \begin{pmatrix} \frac{\partial \phi_1}{\partial x} \\ "
        r"\frac{\partial \phi_2}{\partial x} \end{pmatrix} = \begin{pmatrix} 1 \\ 2 x \end{pmatrix}"
    )


def test_digits_option_rounds_values_only():
    f = symjac.VectorMap(["x1/3 + x2/7", "x1*x2/2"], "x1 x2", name="g")
    J = f.jacobian()
    assert J.latex(show="value") == (
        r"\begin{pmatrix} \frac{1}{3} & \frac{1}{7} \\ \frac{x_{2}}{2} & \frac{x_{1}}{2} \end{pmatrix}"
    )
    assert J.latex(show="value", digits=4) == (
        r"\begin{pmatrix} 0.3333 & 0.1429 \\ 0.5 x_{2} & 0.5 x_{1} \end{pmatrix}"
    )
    assert J.latex(digits=2).endswith(
        r"= \begin{pmatrix} 0.33 & 0.14 \\ 0.5 x_{2} & 0.5 x_{1} \end{pmatrix}"
    )
    assert J.latex(digits=2, show="definition") == J.latex(show="definition")
    assert f.latex(digits=3) == (
        r"g(x_1, x_2) = \begin{pmatrix} 0.333 x_{1} + 0.143 x_{2} \\ 0.5 x_{1} x_{2} \end{pmatrix}"
    )


def test_digits_leave_integers_exact():
    J = examples.planar().jacobian()
    assert J.latex(digits=1) == J.latex()
    J = symjac.VectorMap("x**3/3 + 0.1*x", "x").jacobian()
    assert J.latex() == r"J_f = \frac{d f}{d x} = x^{2} + \frac{1}{10}"
    assert J.latex(digits=3) == r"J_f = \frac{d f}{d x} = x^{2} + 0.1"


def test_float_weights_print_as_the_binary_value_unless_rounded():
    x = sympy.Symbol("x", real=True)
    J = symjac.VectorMap([sympy.Rational(0.1) * x], [x]).jacobian()
    assert J.latex(show="value") == r"\frac{3602879701896397}{36028797018963968}"
    assert J.latex(show="value", digits=5) == "0.1"


@pytest.mark.parametrize("example", ["quadratic", "planar"])
def test_matrix_structure_matches_shape(example):
    # a textbook pmatrix: m - 1 row separators and n - 1 column separators per row
    J = getattr(examples, example)().jacobian()
    rows, cols = J.shape
    for part in (J.latex(show="value"), J.latex(show="definition").split(" = ", 1)[1]):
        assert part.startswith(r"\begin{pmatrix} ") and part.endswith(r" \end{pmatrix}")
        body = part[len(r"\begin{pmatrix} ") : -len(r" \end{pmatrix}")]
        assert body.count(r" \\ ") == rows - 1
        assert all(row.count(" & ") == cols - 1 for row in body.split(r" \\ "))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"show": "all"},
            ValueError,
            "show must be one of 'both', 'value', 'definition', got 'all'",
        ),
        ({"name": ""}, TypeError, "name must be a non-empty string"),
        ({"name": 3}, TypeError, "name must be a non-empty string, got 3"),
        ({"digits": 0}, ValueError, "digits must be a positive int, got 0"),
        ({"digits": 2.5}, ValueError, "digits must be a positive int"),
    ],
)
def test_bad_latex_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        examples.planar().jacobian().latex(**kwargs)


def test_long_output_is_cut_with_a_note():
    J = examples.planar().jacobian()
    full = J.latex()
    with limits.override(max_latex=40):
        cut = J.latex()
    assert cut.startswith(full[:40])
    assert cut.endswith(
        rf" \text{{[... {len(full) - 40} more characters cut; raise symjac.limits max_latex]}}"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x", "x"),
        ("x1", "x_1"),
        ("x12", "x_{12}"),
        ("w", "w"),
        ("alpha2", r"\alpha_2"),
        ("theta", r"\theta"),
        ("x_1", "x_{1}"),
    ],
)
def test_symbol_latex(name, expected):
    assert latex.symbol_latex(name) == expected


def test_partial_latex():
    assert latex.partial_latex("f2", "x1") == r"\frac{\partial f_2}{\partial x_1}"
    assert latex.partial_latex("f", "x", ordinary=True) == r"\frac{d f}{d x}"
