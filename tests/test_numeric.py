"""Compiled Jacobians and maps: shapes, dtypes, errors, and agreement with torch autograd."""

from __future__ import annotations

import math
import re
import sys
import warnings

import mpmath
import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as F
from conftest import autograd_jacobian
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symjac
from symjac.functions import sigmoid, softplus

x, x1, x2, x3 = sympy.symbols("x x1 x2 x3", real=True)


def planar() -> symjac.VectorMap:
    return symjac.VectorMap(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"], name="f")


def exact_floats(matrix: sympy.MatrixBase) -> np.ndarray:
    return np.array(matrix.evalf(30).tolist(), dtype=np.float64)


# -- shapes, dtypes, devices ---------------------------------------------------------------------

BATCHES = [(), (1,), (7,), (3, 4), (2, 3, 5)]


@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_numpy_jacobian_shape_and_values(batch, rng):
    points = rng.uniform(-2, 2, size=(*batch, 2))
    result = planar().jacobian().numeric("numpy")(points)
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float64
    assert result.shape == (*batch, 2, 2)
    # rows are outputs, columns inputs; the constant entries fill the whole batch
    np.testing.assert_array_equal(result[..., 0, 0], 2 * points[..., 0])
    np.testing.assert_array_equal(result[..., 1, 1], 2 * points[..., 1])
    np.testing.assert_array_equal(result[..., 0, 1], np.ones(batch))
    np.testing.assert_array_equal(result[..., 1, 0], np.ones(batch))


@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_jacobian_keeps_dtype_and_shape(batch, dtype, rng):
    points = torch.as_tensor(rng.uniform(-2, 2, size=(*batch, 2)), dtype=dtype)
    result = planar().jacobian().numeric("torch")(points)
    assert isinstance(result, torch.Tensor)
    assert result.dtype == dtype
    assert result.device == points.device
    assert result.shape == (*batch, 2, 2)
    expected = torch.stack(
        [
            torch.stack([2 * points[..., 0], torch.ones(batch, dtype=dtype)], -1),
            torch.stack([torch.ones(batch, dtype=dtype), 2 * points[..., 1]], -1),
        ],
        -2,
    )
    torch.testing.assert_close(result, expected, rtol=0, atol=0)


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)], ids=str)
def test_mpmath_jacobian_shape_and_values(batch, rng):
    points = rng.uniform(-2, 2, size=(*batch, 2))
    result = planar().jacobian().numeric("mpmath", digits=50)(points)
    assert isinstance(result, np.ndarray)
    assert result.shape == (*batch, 2, 2)
    flat_points = points.reshape(-1, 2)
    flat = result.reshape(-1, 2, 2)
    for point, value in zip(flat_points, flat, strict=True):
        assert all(hasattr(v, "_mpf_") for v in value.flat)  # mpmath reals
        exact = planar().jacobian().at(point)
        # 2*x at 50 digits is exact for a float x: compare the binary values exactly
        got = [[sympy.Rational(*mpmath.libmp.to_rational(v._mpf_)) for v in row] for row in value]
        assert got == exact.tolist()


def test_torch_keeps_device_meta():
    points = torch.zeros(4, 2, device="meta")
    result = planar().jacobian().numeric("torch")(points)
    assert result.device.type == "meta"
    assert result.shape == (4, 2, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_keeps_device_cuda():
    points = torch.tensor([[1.0, 2.0]], device="cuda", dtype=torch.float64)
    result = planar().jacobian().numeric("torch")(points)
    assert result.device == points.device
    assert result.cpu().tolist() == [[[2.0, 1.0], [1.0, 4.0]]]


def test_torch_accepts_array_likes_as_float64():
    result = planar().jacobian().numeric("torch")([[1, 2], [3, 4]])
    assert result.dtype == torch.float64
    assert result.tolist() == [[[2.0, 1.0], [1.0, 4.0]], [[6.0, 1.0], [1.0, 8.0]]]


def test_numpy_accepts_ints_float32_and_tensors():
    fn = planar().jacobian().numeric("numpy")
    expected = np.array([[2.0, 1.0], [1.0, 4.0]])
    for points in ([1, 2], np.array([1, 2], dtype=np.float32), torch.tensor([1.0, 2.0])):
        result = fn(points)
        assert result.dtype == np.float64
        np.testing.assert_array_equal(result, expected)


def test_constant_jacobian_broadcasts_in_every_backend():
    J = symjac.jacobian(["2*x1 + 3*x2", "x1 - x2/4", "7"], "x1 x2")
    expected = np.array([[2.0, 3.0], [1.0, -0.25], [0.0, 0.0]])
    np.testing.assert_array_equal(
        J.numeric("numpy")(np.zeros((4, 5, 2))), np.broadcast_to(expected, (4, 5, 3, 2))
    )
    torch_result = J.numeric("torch")(torch.zeros(4, 5, 2, dtype=torch.float32))
    assert torch_result.shape == (4, 5, 3, 2) and torch_result.dtype == torch.float32
    assert (torch_result == torch.tensor(expected, dtype=torch.float32)).all()
    mp_result = J.numeric("mpmath")(np.zeros((2, 2)))
    assert mp_result.shape == (2, 3, 2)
    assert all(float(v) == e for v, e in zip(mp_result[1].flat, expected.flat, strict=True))


def test_map_numeric_shapes_and_values(rng):
    f = symjac.VectorMap(["x1*x2", "x1 - x2", "sin(x1)"], "x1 x2")
    points = rng.uniform(-1, 1, size=(6, 4, 2))
    for backend in ("numpy", "torch"):
        result = f.numeric(backend)(torch.tensor(points) if backend == "torch" else points)
        assert tuple(result.shape) == (6, 4, 3)
        result = np.asarray(result)
        np.testing.assert_allclose(result[..., 0], points[..., 0] * points[..., 1], rtol=1e-15)
        np.testing.assert_allclose(result[..., 2], np.sin(points[..., 0]), rtol=1e-15)
    assert f.numeric("mpmath")(points[0]).shape == (4, 3)
    assert f.numeric("numpy")([0.5, 2.0]).shape == (3,)


def test_one_input_accepts_scalars_and_trailing_axis():
    J = symjac.jacobian(["x**3", "exp(x)"], "x")
    fn = J.numeric("numpy")
    assert fn(2.0).shape == (2, 1)
    np.testing.assert_allclose(fn(2.0)[:, 0], [12.0, math.exp(2.0)], rtol=1e-15)
    assert fn(np.zeros((5, 1))).shape == (5, 2, 1)
    with pytest.raises(ValueError, match=r"for many 1-D points use x\[\.\.\., None\]"):
        fn(np.zeros(5))


def test_torch_result_is_differentiable():
    f = planar()
    points = torch.tensor([1.5, -0.5], dtype=torch.float64, requires_grad=True)
    value = f.jacobian().numeric("torch")(points)
    assert value.requires_grad
    (grad,) = torch.autograd.grad(value[0, 0] + value[1, 1], points)
    assert grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("v", [1.0, 20.0, 400.0, 800.0])
def test_torch_gradient_of_a_tanh_slope_stays_finite(v):
    # the stable rewrite turns tanh' into sech(x)**2; d/dx sech(x)**2 = -2 sech(x)**2 tanh(x)
    import mpmath

    f = symjac.jacobian("tanh(x)", "x").numeric("torch")
    x = torch.tensor([v], dtype=torch.float64, requires_grad=True)
    f(x).sum().backward()
    u = mpmath.mpf(v)
    want = float(-2 * mpmath.sech(u) ** 2 * mpmath.tanh(u))
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.item() == pytest.approx(want, rel=1e-13, abs=1e-300)


def test_mpmath_digits():
    f = symjac.VectorMap("tanh(x)", "x")
    third = sympy.Rational(1, 3)
    exact = sympy.tanh(third) ** 2 - 1  # -(d/dx tanh) at 1/3
    for digits in (50, 80):
        fn = f.jacobian().numeric("mpmath", digits=digits)
        assert fn.digits == digits
        value = fn(["1/3"])[0, 0]
        reference = -sympy.N(exact, digits + 10)
        error = abs(sympy.Float(str(value), digits + 10) - reference)
        assert error < sympy.Float(10) ** (-(digits - 2))
    default = f.jacobian().numeric("mpmath")
    assert default.digits == 50
    assert repr(default) == "NumericFunction('mpmath', inputs=(x), out_shape=(1, 1), digits=50)"
    low = f.jacobian().numeric("mpmath", digits=10)(["1/3"])[0, 0]
    assert abs(sympy.Float(str(low), 30) + sympy.N(exact, 30)) > sympy.Float(10) ** -30


def test_numeric_function_repr_and_source():
    fn = planar().jacobian().numeric("numpy")
    assert repr(fn) == "NumericFunction('numpy', inputs=(x1, x2), out_shape=(2, 2))"
    assert re.search(r"\bx1\b", fn.source) is None and "_x0" in fn.source


def test_generated_source_never_holds_user_names():
    f = symjac.VectorMap(["os*sys + exec_1"], "os sys exec_1")
    for backend in ("numpy", "torch", "mpmath"):
        source = f.jacobian().numeric(backend).source
        assert re.search(r"\b(os|sys|exec_1)\b", source) is None


# -- user errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
@pytest.mark.parametrize(
    ("points", "shape"),
    [([1.0, 2.0, 3.0], r"\(3,\)"), ([[1.0], [2.0]], r"\(2, 1\)"), (1.0, r"\(\)")],
)
def test_wrong_number_of_coordinates(backend, points, shape):
    fn = planar().jacobian().numeric(backend)
    if backend == "torch":
        points = torch.tensor(points)
    with pytest.raises(
        ValueError,
        match=rf"expected points of shape \(\.\.\., 2\) with coordinates in the order \(x1, x2\), got shape {shape}",
    ):
        fn(points)


def test_wrong_coordinates_for_map_numeric():
    f = symjac.VectorMap(["a*b*c"], "c a b")
    with pytest.raises(
        ValueError, match=r"\(\.\.\., 3\) with coordinates in the order \(c, a, b\)"
    ):
        f.numeric("numpy")([1.0, 2.0])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda J: J.numeric("jax"),
            ValueError,
            "unknown backend 'jax'; choose one of numpy, torch, mpmath",
        ),
        (
            lambda J: J.numeric("numpy", digits=30),
            ValueError,
            "digits= applies to the 'mpmath' backend only",
        ),
        (
            lambda J: J.numeric("mpmath", digits=0),
            ValueError,
            "digits must be an int between 1 and 10000",
        ),
        (lambda J: J.numeric("mpmath", digits=True), ValueError, "digits must be an int"),
        (
            lambda J: J.numeric("torch")(torch.zeros(2, dtype=torch.int64)),
            TypeError,
            "expected a floating-point tensor",
        ),
        (lambda J: J.numeric("numpy")(np.zeros(2, dtype=complex)), TypeError, "complex input"),
        (
            lambda J: J.numeric("torch")(torch.zeros(2, dtype=torch.complex64)),
            TypeError,
            "complex input",
        ),
        (lambda J: J.numeric("numpy")(["a", "b"]), TypeError, "expected real numbers"),
    ],
)
def test_bad_numeric_calls(call, error, message):
    with pytest.raises(error, match=message):
        call(planar().jacobian())


def test_unsubstituted_parameter_is_refused():
    f = symjac.VectorMap("w*x", "x", params="w")
    with pytest.raises(ValueError, match=r"contain w, which is not among the inputs \(x\)"):
        f.jacobian().numeric("numpy")
    assert f.subs({"w": 3}).jacobian().numeric("numpy")(2.0).tolist() == [[3.0]]


# -- unsupported functions -----------------------------------------------------------------------

g = sympy.Function("g")


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: symjac.VectorMap([sympy.gamma(x)], [x]), "gamma"),
        (lambda: symjac.VectorMap([sympy.gamma(x)], [x]).jacobian(), "gamma"),
        (lambda: symjac.VectorMap([x + g(x)], [x]), "g"),
        (lambda: symjac.VectorMap([x + g(x)], [x]).jacobian(), "the derivative of g"),
        (lambda: symjac.VectorMap([g(2 * x)], [x]).jacobian(), "the derivative of g"),
        (lambda: symjac.VectorMap([sympy.besselj(0, x)], [x]), "besselj"),
        # the derivative of Heaviside is a distribution, not a function
        (lambda: symjac.VectorMap(["heaviside(x)"], "x").jacobian(), "DiracDelta"),
    ],
    ids=["gamma", "gamma-jac", "undefined", "undefined-jac", "undefined-subs", "besselj", "dirac"],
)
def test_unsupported_function_is_named(backend, build, name):
    with pytest.raises(
        symjac.UnsupportedError, match=rf"cannot compile {name}\b.*{backend} backend"
    ) as info:
        build().numeric(backend)
    assert isinstance(info.value, symjac.SymjacError)
    assert "supported functions: Abs" in str(info.value)


# -- regressions found while writing these tests ---------------------------------------------------


def test_torch_constant_piecewise_branches_keep_float64():
    # both branches of the derivative are constants; they used to become float32
    f = symjac.VectorMap([sympy.Piecewise((x / 10, x > 0), (3 * x / 10, True))], [x])
    result = f.jacobian().numeric("torch")(torch.tensor([[1.0], [-1.0]], dtype=torch.float64))
    assert result.dtype == torch.float64
    assert result.flatten().tolist() == [0.1, 0.3]


def test_torch_functions_of_a_constant_and_a_variable():
    f = symjac.VectorMap(["atan2(x, 2)", "atan2(2, x)", "max(x, 2)", "min(x, 1, -x)"], "x")
    points = torch.tensor([[0.5], [3.0]], dtype=torch.float64)
    expected = f.numeric("numpy")(points.numpy())
    for dtype in (torch.float64, torch.float32):
        result = f.numeric("torch")(points.to(dtype))
        assert result.dtype == dtype
        np.testing.assert_allclose(
            result.double().numpy(), expected, rtol=1e-6 if dtype == torch.float32 else 1e-15
        )


def _elu(u):
    return sympy.Piecewise((u, u > 0), (sympy.exp(u) - 1, True))


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
def test_piecewise_of_piecewise_compiles(backend):
    # SymPy writes `elu(u) > 0` as ITE(u > 0, u > 0, exp(u) > 1): a boolean if-then-else
    f = symjac.VectorMap([_elu(2 * _elu(x1 - 1) + x2)], [x1, x2])
    J = f.jacobian()
    assert J.matrix.has(sympy.ITE)
    points = np.array([[2.0, 0.5], [0.5, 0.25], [0.5, 3.0], [-1.0, -2.0]])
    fn = J.numeric(backend)
    result = fn(torch.tensor(points) if backend == "torch" else points)
    result = np.array(result.tolist(), dtype=np.float64)
    for point, value in zip(points, result, strict=True):
        np.testing.assert_allclose(value, exact_floats(J.at(point)), rtol=1e-14)


@pytest.mark.parametrize("backend", ["numpy", "torch", "mpmath"])
def test_conditions_with_three_clauses(backend):
    # np.logical_and / torch.logical_and take two operands
    inside = sympy.And(x1 > 0, x2 > 0, x1 + x2 < 1)
    either = sympy.Or(x1 < -1, x2 < -1, x1 > 2)
    f = symjac.VectorMap(
        [sympy.Piecewise((x1 * x2, inside), (x1, either), (x2**2, True))], [x1, x2]
    )
    points = np.array([[0.25, 0.5], [0.75, 0.5], [-2.0, 0.0], [3.0, 0.5], [0.5, -3.0]])
    fn = f.numeric(backend)
    result = fn(torch.tensor(points) if backend == "torch" else points)
    assert np.array(result.tolist(), dtype=np.float64).tolist() == [
        [0.125],
        [0.25],
        [-2.0],
        [3.0],
        [0.5],
    ]


def test_numpy_erf_and_sigmoid_work_without_scipy(monkeypatch):
    f = symjac.VectorMap(["erf(x)", "sigmoid(x)"], "x")
    points = np.array([[-40.0], [-3.5], [-0.25], [0.0], [0.7], [2.0], [40.0]])
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # import fails
    values = f.numeric("numpy")(points)
    assert values.dtype == np.float64 and values.shape == (7, 2)
    for (value_erf, value_sigmoid), (point,) in zip(values, points, strict=True):
        assert value_erf == pytest.approx(float(mpmath.erf(point)), rel=1e-15, abs=1e-300)
        reference = float(1 / (1 + mpmath.exp(-mpmath.mpf(point))))
        assert value_sigmoid == pytest.approx(reference, rel=1e-15, abs=1e-300)


# -- agreement with torch autograd and with exact values -------------------------------------------


def _away_from_zero(rng, size):
    return rng.choice([-1.0, 1.0], size=size) * rng.uniform(0.2, 2.0, size=size)


MAPS = {
    # exp, log (positive domain), sin, tanh, sqrt, sigmoid, softplus, erf, atan2
    "smooth": (
        [
            "exp(x1)*sin(x2) + log(x3)",
            "tanh(x1*x2) + sqrt(x3) + sigmoid(x1 - x3)",
            "softplus(x2)*erf(x1) + atan2(x2, x3)",
        ],
        "x1 x2 x3",
        lambda X: torch.stack(
            [
                torch.exp(X[:, 0]) * torch.sin(X[:, 1]) + torch.log(X[:, 2]),
                torch.tanh(X[:, 0] * X[:, 1])
                + torch.sqrt(X[:, 2])
                + torch.sigmoid(X[:, 0] - X[:, 2]),
                F.softplus(X[:, 1]) * torch.special.erf(X[:, 0]) + torch.atan2(X[:, 1], X[:, 2]),
            ],
            -1,
        ),
        lambda rng, k: np.stack(
            [rng.uniform(-2, 2, k), rng.uniform(-2, 2, k), rng.uniform(0.3, 3, k)], -1
        ),
    ),
    # Abs away from 0, Max and Min (Heaviside in the Jacobian), Piecewise
    "kinks": (
        [
            sympy.Abs(x1) * x2 + sympy.Max(x1, x2) ** 2,
            sympy.Piecewise((x1**2 * x2, x1 > 0), (sympy.sin(x2) - x1**3, True)),
            sympy.Min(x2, 1) * sympy.cosh(x1) + sympy.atan(x2),
        ],
        [x1, x2],
        lambda X: torch.stack(
            [
                torch.abs(X[:, 0]) * X[:, 1] + torch.maximum(X[:, 0], X[:, 1]) ** 2,
                torch.where(X[:, 0] > 0, X[:, 0] ** 2 * X[:, 1], torch.sin(X[:, 1]) - X[:, 0] ** 3),
                torch.clamp(X[:, 1], max=1.0) * torch.cosh(X[:, 0]) + torch.atan(X[:, 1]),
            ],
            -1,
        ),
        lambda rng, k: np.stack([_away_from_zero(rng, k), rng.uniform(-2, 2, k)], -1),
    ),
    # cos, asinh, tan, asin, atanh, a quotient; sigmoid and softplus written by hand
    "trig": (
        [
            "cos(x1)*asinh(x2) + tan(x1/2)",
            "asin(x2/3) + atanh(x1/3) + x1**3/(1 + x2**2)",
            sigmoid(x1 * x2) + softplus(-x1) + sympy.exp(-(x2**2)),
        ],
        [x1, x2],
        lambda X: torch.stack(
            [
                torch.cos(X[:, 0]) * torch.asinh(X[:, 1]) + torch.tan(X[:, 0] / 2),
                torch.asin(X[:, 1] / 3)
                + torch.atanh(X[:, 0] / 3)
                + X[:, 0] ** 3 / (1 + X[:, 1] ** 2),
                1 / (1 + torch.exp(-X[:, 0] * X[:, 1]))
                + torch.log1p(torch.exp(-X[:, 0]))
                + torch.exp(-(X[:, 1] ** 2)),
            ],
            -1,
        ),
        lambda rng, k: rng.uniform(-2, 2, (k, 2)),
    ),
}


@pytest.fixture(params=sorted(MAPS))
def case(request):
    outputs, inputs, by_hand, sample = MAPS[request.param]
    return symjac.VectorMap(outputs, inputs), by_hand, sample


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_jacobian_agrees_with_torch_autograd(case, backend, rng):
    f, by_hand, sample = case
    points = torch.tensor(sample(rng, 1000), dtype=torch.float64)
    reference = autograd_jacobian(by_hand, points)
    assert reference.shape == (1000, *f.shape)
    fn = f.jacobian().numeric(backend)
    result = fn(points.numpy() if backend == "numpy" else points)
    result = torch.as_tensor(result)
    assert result.dtype == torch.float64 and result.shape == reference.shape
    scale = reference.abs().max()
    assert (result - reference).abs().max() <= 1e-12 * scale
    # and the map itself agrees with the hand-written one
    values = torch.as_tensor(f.numeric(backend)(points.numpy() if backend == "numpy" else points))
    assert (values - by_hand(points)).abs().max() <= 1e-12 * by_hand(points).abs().max()


def test_mpmath_agrees_with_exact_values_to_45_digits(case, rng):
    f, _, sample = case
    J = f.jacobian()
    fn = J.numeric("mpmath", digits=50)
    points = sample(rng, 4)
    values = fn(points)
    with mpmath.workdps(60):
        for point, value in zip(points, values, strict=True):
            exact = [mpmath.mpf(str(sympy.N(e, 60))) for e in J.at(point)]
            scale = max(abs(e) for e in exact)
            assert scale > 0
            for got, want in zip(value.flat, exact, strict=True):
                assert abs(mpmath.mpf(got) - want) <= mpmath.mpf(10) ** -45 * scale


# -- property test: random polynomial maps ---------------------------------------------------------


@st.composite
def polynomial_maps(draw):
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 4))
    symbols = sympy.symbols(f"x1:{n + 1}", real=True)
    outputs, bounds = [], []
    for _ in range(m):
        expr, bound = sympy.Integer(0), sympy.Integer(0)
        for _ in range(draw(st.integers(0, 4))):
            coefficient = draw(st.integers(-5, 5))
            budget, monomial = draw(st.integers(0, 4)), sympy.Integer(1)
            for s in symbols:
                power = draw(st.integers(0, budget))
                budget -= power
                monomial *= s**power
            expr += coefficient * monomial
            bound += abs(coefficient) * monomial
        outputs.append(expr)
        bounds.append(bound)
    points = draw(
        hnp.arrays(
            np.float64,
            (3, n),
            elements=st.floats(-2, 2, allow_nan=False, allow_infinity=False, width=64),
        )
    )
    return outputs, bounds, symbols, points


@settings(max_examples=40, deadline=None)
@given(polynomial_maps())
def test_polynomial_maps_agree_with_autograd_and_exact(data):
    outputs, bounds, symbols, points = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", symjac.SymjacWarning)  # a variable may be unused
        f = symjac.VectorMap(outputs, symbols)
        bound_map = symjac.VectorMap(bounds, symbols)
    J = f.jacobian()
    result = J.numeric("numpy")(points)
    assert result.shape == (3, *f.shape)
    reference = autograd_jacobian(f.numeric("torch"), torch.tensor(points)).numpy()
    # rounding is relative to the size of the terms before they cancel: the Jacobian
    # of the map with |coefficients| at |x| bounds them (and is at least max|J|)
    scale = np.abs(bound_map.jacobian().numeric("numpy")(np.abs(points))).max()
    assert scale >= np.abs(reference).max() * (1 - 1e-14)
    np.testing.assert_allclose(result, reference, rtol=0, atol=1e-12 * scale)
    for point, value in zip(points, result, strict=True):
        exact = exact_floats(J.at(point))
        np.testing.assert_allclose(value, exact, rtol=0, atol=1e-12 * scale)


def test_torch_kernel_runs_under_vmap_and_jacrev() -> None:
    J = symjac.jacobian(["x1**2 + x2", "tanh(x1*x2)"], ["x1", "x2"])
    fn = J.numeric("torch")
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.25]], dtype=torch.float64)
    batched = torch.func.vmap(fn)(x)
    torch.testing.assert_close(batched, fn(x), rtol=0, atol=0)
    second = torch.func.vmap(torch.func.jacrev(fn))(x)
    assert second.shape == (3, 2, 2, 2)
    # d/dx1 of the entry d(x1**2 + x2)/dx1 = 2*x1 is 2
    torch.testing.assert_close(second[:, 0, 0, 0], torch.full((3,), 2.0, dtype=torch.float64))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [("sqrt(x)", "+inf"), ("1/x", "-inf"), ("-1/x", "+inf"), ("x/x**3", "-inf")],
)
def test_mpmath_pole_is_an_infinity_like_numpy(expr: str, expected: str) -> None:
    J = symjac.jacobian(expr, "x")
    value = J.numeric("mpmath")([0.0])[0, 0]
    assert str(value) == expected
    assert J.numeric("numpy")([0.0])[0, 0] == float(expected)


def test_symbolic_jacobian_imports_neither_numpy_nor_the_network_code():
    # start-up: the symbolic path needs SymPy only; the rest is imported on first use
    import subprocess
    import sys

    code = (
        "import sys, symjac\n"
        "J = symjac.jacobian(['x1**2 + x2', 'x1 + x2**2'], ['x1', 'x2'])\n"
        "assert J.at([1, 2]).tolist() == [[2, 1], [1, 4]]\n"
        "loaded = [m for m in ('numpy', 'torch', 'symjac.networks', 'symjac.chain') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert symjac.Network.__name__ == 'Network' and 'numpy' in sys.modules\n"
        "assert 'mlp' in dir(symjac) and symjac.testing.__name__ == 'symjac.testing'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_attribute_of_the_package_is_an_attribute_error():
    import symjac

    with pytest.raises(AttributeError, match="module 'symjac' has no attribute 'nope'"):
        symjac.nope  # noqa: B018
