"""VectorMap, Jacobian and jacobian(): the exact, symbolic side of symjac."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

import symjac

x1, x2, x3 = sympy.symbols("x1 x2 x3", real=True)


def planar() -> symjac.VectorMap:
    return symjac.VectorMap(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"], name="f")


# -- the API of the issue ------------------------------------------------------------------------


def test_planar_jacobian_matrix_and_shape():
    J = planar().jacobian()
    assert isinstance(J, symjac.Jacobian)
    assert J.matrix == sympy.Matrix([[2 * x1, 1], [1, 2 * x2]])
    assert J.shape == (2, 2)
    assert planar().shape == (2, 2)


def test_jacobian_function_equals_method():
    J = symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"])
    assert J.matrix == planar().jacobian().matrix
    assert J.inputs == (x1, x2)


def test_rows_are_outputs_and_columns_are_inputs():
    # 3 outputs, 2 inputs: a 3 x 2 matrix with J[i, j] = d f_i / d x_j
    f = symjac.VectorMap(["x1", "x1*x2**2", "x2**3"], "x1 x2")
    J = f.jacobian()
    assert J.shape == (3, 2) == f.shape
    assert J.matrix == sympy.Matrix([[1, 0], [x2**2, 2 * x1 * x2], [0, 3 * x2**2]])


def test_one_input_many_outputs_is_a_column():
    J = symjac.jacobian(["x**2", "x**3"], "x")
    x = sympy.Symbol("x", real=True)
    assert J.shape == (2, 1)
    assert J.matrix == sympy.Matrix([[2 * x], [3 * x**2]])


@pytest.mark.parametrize(
    "point",
    [
        {"x1": 1, "x2": 2},
        {x1: 1, x2: 2},
        {"x1": 1, x2: 2},
        {sympy.Symbol("x1"): 1, sympy.Symbol("x2"): 2},  # keys are matched by name
        [1, 2],
        (1, 2),
        np.array([1.0, 2.0]),
        torch.tensor([1.0, 2.0]),
        ["1", "2"],
    ],
    ids=["names", "symbols", "mixed", "plain-symbols", "list", "tuple", "ndarray", "tensor", "str"],
)
def test_at_accepts_mappings_and_sequences(point):
    value = planar().jacobian().at(point)
    assert value == sympy.Matrix([[2, 1], [1, 4]])
    assert all(entry.is_Integer for entry in value)


def test_at_is_exact_for_floats_and_fractions():
    J = planar().jacobian()
    value = J.at({"x1": 0.1, "x2": "1/3"})
    # 0.1 is the binary number it holds, not 1/10
    assert value[0, 0] == 2 * sympy.Rational(0.1)
    assert value[0, 0] != sympy.Rational(1, 5)
    assert value[1, 1] == sympy.Rational(2, 3)


def test_map_at_gives_the_outputs():
    assert planar().at([1, 2]) == sympy.Matrix([3, 5])
    assert planar().at({"x2": 0, "x1": -3}) == sympy.Matrix([9, -3])


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ([1, 2, 3], r"expected 2 coordinates in the order \(x1, x2\), got 3"),
        ([1], r"expected 2 coordinates in the order \(x1, x2\), got 1"),
        ({"x1": 1}, r"no value for x2; give all of \(x1, x2\)"),
        (
            {"x1": 1, "x2": 2, "z": 0},
            r"unknown variable 'z' in the point; the variables are \(x1, x2\)",
        ),
        (np.zeros((2, 2)), r"expected one point of shape \(2,\) in the order \(x1, x2\)"),
        ([1, float("nan")], r"x2 is nan; exact evaluation needs finite real numbers"),
    ],
)
def test_at_refuses_bad_points(point, message):
    with pytest.raises(ValueError, match=message):
        planar().jacobian().at(point)


def test_at_refuses_complex_and_bool():
    with pytest.raises(TypeError, match="x1 is complex"):
        planar().jacobian().at([1j, 2])
    with pytest.raises(TypeError, match="x2 is a bool"):
        planar().jacobian().at([1, True])


def test_gradient_of_scalar_map_is_a_column():
    f = symjac.VectorMap("x1**2 + 3*x1*x2 + x2**2", ["x1", "x2"])
    g = f.gradient()
    assert g.shape == (2, 1)
    assert g.kind == "gradient"
    assert g.matrix == sympy.Matrix([2 * x1 + 3 * x2, 3 * x1 + 2 * x2])
    assert g.matrix == f.jacobian().matrix.T
    assert g.at([1, -1]) == sympy.Matrix([-1, 1])


def test_gradient_needs_one_output():
    with pytest.raises(
        ValueError, match=r"a gradient needs a scalar map \(1 output\); f has 2 outputs"
    ):
        planar().gradient()


# -- symbols and strings -------------------------------------------------------------------------


def test_string_inputs_become_real_symbols_created_once():
    f = planar()
    assert f.inputs == (x1, x2)
    assert all(s.is_real for s in f.inputs)
    # the very objects SymPy caches for Symbol(name, real=True)
    assert f.inputs[0] is sympy.Symbol("x1", real=True)
    # strings parse into those same symbols: derivatives are not zero
    assert set().union(*(e.free_symbols for e in f.outputs)) == {x1, x2}
    assert planar().inputs[1] is f.inputs[1]


@pytest.mark.parametrize("inputs", ["x1 x2", "x1, x2", ["x1", "x2"], (x1, x2), ["x1", x2]])
def test_input_specifications(inputs):
    assert symjac.VectorMap(["x1*x2"], inputs).jacobian().matrix == sympy.Matrix([[x2, x1]])


def test_sympy_outputs_and_strings_agree():
    from_strings = planar().jacobian().matrix
    from_sympy = symjac.VectorMap([x1**2 + x2, x1 + x2**2], [x1, x2]).jacobian().matrix
    from_mixed = symjac.VectorMap([x1**2 + x2, "x1 + x2**2"], "x1 x2").jacobian().matrix
    from_matrix = symjac.VectorMap(sympy.Matrix([x1**2 + x2, x1 + x2**2]), "x1 x2")
    assert from_strings == from_sympy == from_mixed == from_matrix.jacobian().matrix


def test_plain_user_symbol_is_the_one_strings_refer_to():
    x = sympy.Symbol("x")  # no assumptions
    f = symjac.VectorMap(["x**2", x**3], [x])
    assert f.inputs == (x,)
    assert f.outputs[0].free_symbols == {x}
    assert f.jacobian().matrix == sympy.Matrix([[2 * x], [3 * x**2]])


def test_user_symbols_with_assumptions_are_kept():
    p = sympy.Symbol("p", positive=True)
    f = symjac.VectorMap(["sqrt(p**2)"], [p])
    assert f.outputs == (p,)  # simplified because p > 0
    assert f.jacobian().matrix == sympy.Matrix([[1]])


@pytest.mark.parametrize(
    ("outputs", "inputs"),
    [
        ([sympy.Symbol("x") ** 2], ["x"]),
        ([sympy.Symbol("x", positive=True) ** 2], [sympy.Symbol("x", real=True)]),
        ([sympy.Symbol("x", real=True) ** 2], [sympy.Symbol("x")]),
    ],
)
def test_mixing_assumptions_of_one_name_is_refused(outputs, inputs):
    with pytest.raises(
        ValueError, match=r"symbol 'x' whose assumptions differ from the declared 'x'"
    ):
        symjac.VectorMap(outputs, inputs)


def test_same_name_twice_in_inputs_is_refused():
    with pytest.raises(ValueError, match="variables list 'x' twice"):
        symjac.VectorMap("x", [sympy.Symbol("x"), sympy.Symbol("x", real=True)])


def test_undeclared_names_are_refused():
    with pytest.raises(ValueError, match="unknown name 'z'"):
        symjac.VectorMap("x*z", "x")
    with pytest.raises(
        ValueError, match=r"contains the symbol z that is not declared \(declared: x\)"
    ):
        symjac.VectorMap([sympy.Symbol("x", real=True) * sympy.Symbol("z", real=True)], "x")


def test_unused_variable_warns():
    with pytest.warns(symjac.SymjacWarning, match="variable\\(s\\) y do not appear in f"):
        f = symjac.VectorMap("x**2", "x y")
    assert f.jacobian().matrix == sympy.Matrix([[2 * sympy.Symbol("x", real=True), 0]])


@pytest.mark.parametrize(
    ("outputs", "inputs", "error", "message"),
    [
        ([], "x", ValueError, "at least one output"),
        ("x", [], ValueError, "at least one input"),
        ("x", "x 1", ValueError, "not an ASCII identifier"),
        ("x", "lambda", ValueError, "is a Python keyword"),
        ("x", "beta", ValueError, "reserved by SymPy"),
        (
            [sympy.Symbol("x", real=True) > 0],
            "x",
            TypeError,
            "relations and booleans have no derivative",
        ),
        ([sympy.I * sympy.Symbol("x", real=True)], "x", ValueError, "not a finite real expression"),
        ([object()], "x", TypeError, "output 1 must be a string, a SymPy expression or a number"),
    ],
)
def test_bad_maps_are_refused(outputs, inputs, error, message):
    with pytest.raises(error, match=message):
        symjac.VectorMap(outputs, inputs)


def test_constant_output_has_zero_row():
    f = symjac.VectorMap(["x1*x2", 5], "x1 x2")
    assert f.jacobian().matrix == sympy.Matrix([[x2, x1], [0, 0]])


def test_params_and_subs():
    f = symjac.VectorMap(["w*x1**2 + b"], ["x1"], params="w b")
    J = f.jacobian()
    w = sympy.Symbol("w", real=True)
    assert J.matrix == sympy.Matrix([[2 * w * x1]])
    g = f.subs({"w": 0.5, "b": 1})
    assert g.params == ()
    assert g.jacobian().matrix == sympy.Matrix([[x1]])
    with pytest.raises(ValueError, match="'x1' is not a parameter of f; parameters: w, b"):
        f.subs({"x1": 1})
    with pytest.raises(ValueError, match="'w' is both an input and a parameter"):
        symjac.VectorMap("w", "w", params="w")


def test_name_and_output_names():
    f = symjac.VectorMap(["x", "x**2"], "x", name="g", output_names=["u", "v"])
    assert f.output_names == ("u", "v")
    assert f.jacobian().name == "J_g"
    assert symjac.VectorMap(["x", "x"], "x", name="phi").output_names == ("phi1", "phi2")
    with pytest.raises(ValueError, match="1 output names for 2 outputs"):
        symjac.VectorMap(["x", "x"], "x", output_names=["u"])
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        symjac.VectorMap("x", "x", name="")


def test_reprs():
    assert repr(planar()) == "VectorMap(f: (x1, x2) -> (x1**2 + x2, x1 + x2**2))"
    assert repr(planar().jacobian()) == "Jacobian('J_f', shape=(2, 2), wrt=(x1, x2))"


def test_jacobian_matrix_is_immutable():
    J = planar().jacobian()
    with pytest.raises(TypeError):
        J.matrix[0, 0] = 0
