"""Activations: each defined once as a SymPy expression, derivative by SymPy, held to torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as F
from torch import nn

import symjac
from symjac.activations import ACTIVATIONS, Activation, Z, get_activation
from symjac.functions import sigmoid, softplus

z = sympy.Symbol("z", real=True)

#: (name, params, an independent torch reference for the value)
CASES = [
    ("identity", {}, lambda t: t),
    ("tanh", {}, nn.Tanh()),
    ("sigmoid", {}, nn.Sigmoid()),
    ("softplus", {}, nn.Softplus()),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, nn.Softplus(beta=2.0, threshold=3.0)),
    ("relu", {}, nn.ReLU()),
    ("leaky_relu", {}, nn.LeakyReLU()),
    ("leaky_relu", {"negative_slope": 0.25}, nn.LeakyReLU(0.25)),
    ("elu", {}, nn.ELU()),
    ("elu", {"alpha": 0.5}, nn.ELU(alpha=0.5)),
    ("silu", {}, nn.SiLU()),
    ("gelu", {}, nn.GELU()),
    ("gelu_tanh", {}, nn.GELU(approximate="tanh")),
    ("selu", {}, nn.SELU()),
    ("celu", {"alpha": 0.7}, nn.CELU(0.7)),
    ("mish", {}, nn.Mish()),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, nn.Hardtanh(-0.5, 2.0)),
    ("relu6", {}, nn.ReLU6()),
    ("hardsigmoid", {}, nn.Hardsigmoid()),
    ("hardswish", {}, nn.Hardswish()),
    ("softsign", {}, nn.Softsign()),
    ("tanhshrink", {}, nn.Tanhshrink()),
    ("logsigmoid", {}, nn.LogSigmoid()),
    ("sin", {}, torch.sin),
    ("cos", {}, torch.cos),
    ("exp", {}, torch.exp),
    ("log", {}, torch.log),
    ("sqrt", {}, torch.sqrt),
    ("abs", {}, torch.abs),
    ("square", {}, torch.square),
    ("reciprocal", {}, torch.reciprocal),
    ("rsqrt", {}, torch.rsqrt),
    ("neg", {}, torch.neg),
    ("sinh", {}, torch.sinh),
    ("cosh", {}, torch.cosh),
    ("atan", {}, torch.atan),
    ("erf", {}, torch.erf),
    ("log1p", {}, torch.log1p),
    ("expm1", {}, torch.expm1),
    ("clamp", {"min": -1.0, "max": 1.5}, lambda t: torch.clamp(t, -1.0, 1.5)),
    ("pow", {"exponent": 3.0}, lambda t: t**3),
    ("pow", {"exponent": 0.5}, lambda t: t**0.5),
]
#: real only for positive arguments: checked at the absolute values of POINTS
POSITIVE = {"log", "sqrt", "rsqrt", "pow", "log1p"}
#: torch's own float64 derivative is inexact here (measured against 30 digits): hardsigmoid's
#: backward multiplies by the float32 constant 1/6; tanhshrink's computes 1 - (1 - tanh^2); celu's
#: (alpha = 0.7) is off by 6e-8 relative, as if 1/alpha were rounded to float32
TORCH_SLOPE_RTOL = {"hardsigmoid": 1e-7, "tanhshrink": 1e-9, "celu": 1e-6}
IDS = [f"{n}-{'-'.join(f'{k}{v}' for k, v in p.items())}" for n, p, _ in CASES]
# away from every kink (0, and softplus's threshold/beta = 20 and 1.5)
POINTS = [-3.25, -1.5625, -0.7, -0.001, 0.002, 0.3, 1.2, 1.75, 2.9]


def test_registry_is_complete():
    # every activation (and elementwise graph primitive) is held to torch below
    assert {name for name, _, _ in CASES} == set(ACTIVATIONS)


@pytest.mark.parametrize(("name", "params", "reference"), CASES, ids=IDS)
def test_value_and_derivative_match_torch_autograd(name, params, reference):
    act = get_activation(name, **params)
    assert isinstance(act, Activation)
    assert act.name == name
    assert act.expr.free_symbols <= {Z}
    points = [abs(p) for p in POINTS] if name in POSITIVE else POINTS
    xt = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    value = reference(xt)
    (grad,) = torch.autograd.grad(value.sum(), xt)
    for p, v, g in zip(points, value.detach().tolist(), grad.tolist()):
        arg = sympy.Rational(p)
        exact_value = float(sympy.N(act(arg), 30))
        exact_slope = float(sympy.N(act.prime(arg), 30))
        # absolute slack for torch's own float64 cancellation (gelu_tanh's 1 + tanh near -3)
        assert exact_value == pytest.approx(v, rel=1e-14, abs=1e-15)
        assert exact_slope == pytest.approx(g, rel=TORCH_SLOPE_RTOL.get(name, 1e-13), abs=1e-15)
    # torch_function() is the same function as the nn module
    np.testing.assert_allclose(
        act.torch_function()(xt.detach()).numpy(), value.detach().numpy(), rtol=1e-15, atol=0
    )


@pytest.mark.parametrize(("name", "params", "reference"), CASES, ids=IDS)
def test_derivative_is_sympys_derivative_of_the_expression(name, params, reference):
    act = get_activation(name, **params)
    assert act.derivative == sympy.diff(act.expr, Z)
    assert act.prime(Z) is act.derivative
    assert act(Z) is act.expr
    w = sympy.Symbol("w", real=True)
    assert act.prime(3 * w) == act.derivative.xreplace({Z: 3 * w})


def test_closed_forms():
    assert get_activation("identity").expr == z
    assert get_activation("identity").derivative == 1
    assert get_activation("tanh").expr == sympy.tanh(z)
    assert get_activation("tanh").derivative == 1 - sympy.tanh(z) ** 2
    assert get_activation("sigmoid").expr == sigmoid(z)
    assert get_activation("sigmoid").derivative == sigmoid(z) * (1 - sigmoid(z))
    assert get_activation("relu").expr == sympy.Max(0, z)
    assert get_activation("relu").derivative == sympy.Heaviside(z)
    assert get_activation("silu").expr == z * sigmoid(z)
    gelu = get_activation("gelu").expr
    assert gelu == z / 2 * (1 + sympy.erf(z / sympy.sqrt(2)))  # the erf form, as torch's default
    assert gelu.has(sympy.erf)
    gelu_tanh = get_activation("gelu_tanh").expr
    assert gelu_tanh.has(sympy.tanh) and not gelu_tanh.has(sympy.erf)
    assert gelu_tanh.has(sympy.Rational(44715, 10**6))
    assert get_activation("softplus").expr.has(softplus)
    assert get_activation("elu", alpha=2).expr == sympy.Piecewise(
        (z, z > 0), (2 * (sympy.exp(z) - 1), True)
    )


def test_parameters_are_exact():
    # 0.1 is taken as the binary value the float holds, not the decimal 1/10
    act = get_activation("leaky_relu", negative_slope=0.1)
    assert act.prime(sympy.Integer(-1)) == sympy.Rational(0.1)
    assert act.prime(sympy.Integer(-1)) != sympy.Rational(1, 10)
    assert get_activation("elu", alpha=0.5)(sympy.Integer(-1)) == (sympy.exp(-1) - 1) / 2


def test_softplus_threshold_switches_to_identity_as_torch():
    act = get_activation("softplus", beta=2.0, threshold=3.0)
    assert act.kinks == (sympy.Rational(3, 2),)
    # beta * z > threshold: exactly the input, slope exactly 1
    assert act(sympy.Integer(2)) == 2
    assert act.prime(sympy.Integer(2)) == 1
    # at and below the threshold: log(1 + exp(beta z)) / beta
    assert act(sympy.Rational(3, 2)) == softplus(sympy.Integer(3)) / 2
    xt = torch.tensor([1.5, 1.5000001, 2.0], dtype=torch.float64, requires_grad=True)
    out = F.softplus(xt, beta=2.0, threshold=3.0)
    (grad,) = torch.autograd.grad(out.sum(), xt)
    for p, g in zip(xt.tolist(), grad.tolist()):
        assert float(sympy.N(act.prime(sympy.Rational(p)), 30)) == pytest.approx(g, rel=1e-14)
    default = get_activation("softplus")
    assert default.kinks == (sympy.Integer(20),)
    assert default(sympy.Integer(21)) == 21
    assert default(sympy.Integer(19)) == softplus(sympy.Integer(19))


def test_kinks_and_conventions():
    relu = get_activation("relu")
    assert relu.kinks == (0,)
    assert "relu'(0) = 0" in relu.convention
    # SymPy's convention at the kink is Heaviside(0) = 1/2; torch uses 0: recorded, not hidden
    assert relu.prime(sympy.Integer(0)) == sympy.Rational(1, 2)
    xt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    torch.relu(xt).backward()
    assert xt.grad.item() == 0.0
    # leaky_relu and elu at 0 follow torch's choice of the negative side exactly
    leaky = get_activation("leaky_relu", negative_slope=0.25)
    assert leaky.kinks == (0,)
    assert leaky.prime(sympy.Integer(0)) == sympy.Rational(1, 4)
    xt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    F.leaky_relu(xt, 0.25).backward()
    assert xt.grad.item() == 0.25
    elu = get_activation("elu", alpha=0.5)
    assert elu.kinks == (0,)
    assert elu.prime(sympy.Integer(0)) == sympy.Rational(1, 2)
    xt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    F.elu(xt, 0.5).backward()
    assert xt.grad.item() == 0.5
    # elu with alpha = 1 is differentiable at 0
    assert get_activation("elu").kinks == ()
    for smooth in ("identity", "tanh", "sigmoid", "silu", "gelu", "gelu_tanh"):
        assert get_activation(smooth).kinks == ()


def test_labels():
    assert get_activation("tanh").label == "tanh"
    assert get_activation("leaky_relu", negative_slope=0.2).label == (
        "leaky_relu(negative_slope=0.2)"
    )
    assert get_activation("softplus", beta=2.0, threshold=3.0).label == (
        "softplus(beta=2.0, threshold=3.0)"
    )


def test_lookup_is_cached_and_case_insensitive():
    assert get_activation("tanh") is get_activation("tanh")
    assert get_activation("TANH") is get_activation("tanh")
    assert get_activation("linear") is get_activation("identity")
    assert get_activation("None") is get_activation("identity")
    act = get_activation("relu")
    assert get_activation(act) is act
    assert get_activation("elu", alpha=0.5) is not get_activation("elu", alpha=0.25)
    assert symjac.get_activation is get_activation


def test_lookup_errors():
    with pytest.raises(
        ValueError,
        match=r"unknown activation 'swish'; supported: abs, atan, celu, clamp, cos, cosh, elu, "
        r"erf, exp, expm1, gelu, gelu_tanh, hardsigmoid, hardswish, hardtanh, identity, ",
    ):
        get_activation("swish")
    with pytest.raises(TypeError, match="activation must be a name or an Activation, got int"):
        get_activation(3)
    with pytest.raises(
        TypeError, match=r"activation 'tanh' does not take the parameters \['beta'\]"
    ):
        get_activation("tanh", beta=2)
    with pytest.raises(
        TypeError, match=r"activation 'elu' does not take the parameters \['slope'\]"
    ):
        get_activation("elu", slope=2)


def test_unsupported_parameter_values():
    with pytest.raises(ValueError, match="nan"):
        get_activation("leaky_relu", negative_slope=float("nan"))
    with pytest.raises(TypeError):
        get_activation("elu", alpha=[1.0])


@pytest.mark.parametrize(("name", "params", "reference"), CASES, ids=IDS)
def test_compiled_through_networks_matches_torch(name, params, reference):
    """The activation inside a one-layer network: compiled value path agrees with torch."""
    net = symjac.mlp(
        [1, 1], weights=[[[1]]], biases=False, output_activation=get_activation(name, **params)
    )
    fn = net.numeric("numpy")
    pts = np.array(POINTS).reshape(-1, 1)
    xt = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(reference(xt).sum(), xt)
    rtol = TORCH_SLOPE_RTOL.get(name, 1e-13)
    np.testing.assert_allclose(fn(pts).ravel(), grad.numpy(), rtol=rtol, atol=1e-15)
    assert math.isfinite(float(fn(np.array([[30.0]])).ravel()[0]))
