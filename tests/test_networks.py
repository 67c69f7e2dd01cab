"""Symbolic tanh-MLP networks: the seed's numbers, the layer rule, the chain rule, and torch.

The reference for every numeric comparison is torch autograd (``torch.func.jacrev`` or
``torch.autograd.functional.jacobian``) on the same module; the reference for every exact
comparison is SymPy differentiating the composed map directly.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import symjac

x, a1, a2, b1, b2 = sympy.symbols("x a1 a2 b1 b2", real=True)


@pytest.fixture(scope="module")
def seed_model() -> nn.Module:
    return symjac.examples.small_mlp(seed=0)


@pytest.fixture(scope="module")
def seed_net(seed_model) -> symjac.Network:
    return symjac.from_torch(seed_model)


def _float_matrix(matrix: sympy.MatrixBase, digits: int = 30) -> np.ndarray:
    return np.array(matrix.evalf(digits).tolist(), dtype=np.float64)


# -- the API of the issue ------------------------------------------------------------------------


def test_seed_network_structure(seed_net):
    assert isinstance(seed_net, symjac.Network)
    assert seed_net.sizes == (1, 2, 2, 1)
    assert [layer.activation.name for layer in seed_net.layers] == ["tanh", "tanh", "identity"]
    stages = seed_net.stages
    assert [s.name for s in stages] == ["a", "b", "p"]
    assert [s.inputs for s in stages] == [(x,), (a1, a2), (b1, b2)]
    assert [s.shape for s in stages] == [(2, 1), (2, 2), (1, 2)]
    jacs = seed_net.layer_jacobians()
    assert [J.shape for J in jacs] == [(2, 1), (2, 2), (1, 2)]
    # each in its own stage's input symbols
    assert [J.inputs for J in jacs] == [(x,), (a1, a2), (b1, b2)]
    assert jacs[0].matrix.free_symbols == {x}
    assert jacs[1].matrix.free_symbols == {a1, a2}
    assert jacs[2].matrix.free_symbols == set()  # the last layer is linear
    assert repr(seed_net) == (
        "Network(sizes=[1, 2, 2, 1], activations=[tanh, tanh, identity], weights=exact)"
    )


def test_stages_are_the_modules_layers(seed_model, seed_net):
    # stage a is tanh(l1(x)) with l1's exact weights; compare values at an exact point
    w = seed_model.l1.weight.detach().double()
    bias = seed_model.l1.bias.detach().double()
    expected = torch.tanh(w[:, 0] * 0.5 + bias).numpy()
    got = _float_matrix(seed_net.stages[0].at([0.5])).ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_weights_are_exact_rationals_of_the_float32_values(seed_model, seed_net):
    for layer, linear in zip(seed_net.layers, [seed_model.l1, seed_model.l2, seed_model.l3]):
        weights = linear.weight.detach().reshape(-1).tolist()
        biases = linear.bias.detach().tolist()
        entries = [*layer.weight, *layer.bias]
        assert all(isinstance(e, sympy.Rational) for e in entries)
        # float32 values have at most 24 significant bits: denominators are powers of two
        assert all(sympy.Integer(e.q) & (e.q - 1) == 0 for e in entries)
        assert [float(e) for e in layer.weight] == weights
        assert [float(e) for e in layer.bias] == biases
        assert all(sympy.Rational(v) == e for v, e in zip(weights + biases, entries))


def test_seed_table_from_symjac_exact_values(seed_net):
    """The seed document's printed table, to its 4 decimals."""
    trace = seed_net.trace([1.0])
    J1, J2, J3 = (
        _float_matrix(J.at(list(point))) for J, point in zip(seed_net.layer_jacobians(), trace)
    )
    assert np.round(J1, 4).tolist() == [[-0.0040], [0.5156]]
    assert np.round(J2, 4).tolist() == [[-0.2704, 0.1882], [-0.0139, 0.5565]]
    assert np.round(J3, 4).tolist() == [[-0.2137, -0.1390]]
    assert round(float(seed_net.jacobian().at([1.0])[0]), 4) == -0.0609
    assert round(float(seed_net.chain_at([1.0])[0]), 4) == -0.0609


def test_seed_table_from_torch_as_the_seed_computes_it(seed_model, seed_net):
    """The seed's own code (torch.autograd.functional.jacobian per layer) on torch 2.13 CPU."""
    from torch.autograd.functional import jacobian

    model = seed_model
    x0 = torch.tensor([1.0])

    def layer1(x):
        return model.act(model.l1(x))

    def layer2(a):
        return model.act(model.l2(a))

    def layer3(b):
        return model.l3(b).squeeze()

    def whole(x):
        return layer3(layer2(layer1(x)))

    J1 = jacobian(layer1, x0)
    a0 = layer1(x0).detach()
    J2 = jacobian(layer2, a0)
    b0 = layer2(a0).detach()
    J3 = jacobian(layer3, b0)
    assert (tuple(J1.shape), tuple(J2.shape), tuple(J3.shape)) == ((2, 1), (2, 2), (2,))
    # the seed's printout is torch's 4-decimal display of these float32 tensors
    np.testing.assert_array_equal(np.round(J1.double().numpy(), 4), [[-0.0040], [0.5156]])
    np.testing.assert_array_equal(
        np.round(J2.double().numpy(), 4), [[-0.2704, 0.1882], [-0.0139, 0.5565]]
    )
    np.testing.assert_array_equal(np.round(J3.double().numpy(), 4), [-0.2137, -0.1390])
    dp_dx = jacobian(whole, x0)
    chain = J3 @ J2 @ J1
    assert round(dp_dx.item(), 4) == round(chain.item(), 4) == -0.0609
    assert abs(chain.item() - dp_dx.item()) < 1e-7  # the seed printed "difference: 0.0"
    # torch's float32 layer Jacobians agree with symjac's exact ones to float32 accuracy
    trace = seed_net.trace([1.0])
    exact = [_float_matrix(J.at(list(p))) for J, p in zip(seed_net.layer_jacobians(), trace)]
    for mine, theirs in zip(exact, [J1, J2, J3.reshape(1, 2)]):
        np.testing.assert_allclose(theirs.double().numpy(), mine, rtol=0, atol=2e-7)


def test_seed_exact_derivative_to_30_digits(seed_net):
    expected = "-0.0608682817915412031377199153885"
    assert str(sympy.N(seed_net.chain_at([1.0])[0], 30)) == expected
    ref = seed_net.reference([1.0], digits=50)
    assert ref.digits == 50
    # 30 significant digits of the 50-digit mpmath value
    assert str(ref.whole[0, 0]).startswith("-0.060868281791541203137719915388527")
    assert str(ref.chain[0, 0]).startswith("-0.060868281791541203137719915388527")
    assert len(ref.layers) == 3
    assert [m.shape for m in ref.layers] == [(2, 1), (2, 2), (1, 2)]
    assert str(ref.layers[0][0, 0]).startswith("-0.0040171561804401230299371541856")
    assert str(ref.layers[1][1, 1]).startswith("0.55650649277595250706100319385")
    assert [s.shape for s in ref.stages] == [(1,), (2,), (2,), (1,)]
    assert str(ref.stages[-1][0]).startswith("-0.70568100077340036306255561963")


def test_seed_backward_float32_value(seed_model):
    # torch 2.13 CPU, float32: p.backward() gives -0.0608682855963707 (the float32 nearest the
    # product torch computes). The seed document, on an older torch, printed
    # -0.060868293046951294; both are within float32 rounding of the exact -0.0608682817915...
    xx = torch.tensor([1.0], requires_grad=True)
    seed_model(xx).backward()
    assert xx.grad.item() == -0.0608682855963707
    assert abs(xx.grad.item() - -0.06086828179154120313772) < 1e-8
    assert abs(-0.060868293046951294 - -0.06086828179154120313772) < 2e-8


def test_trace_is_exact_and_takes_floats_exactly(seed_net):
    values = seed_net.trace([0.1])
    assert [v.shape for v in values] == [(1, 1), (2, 1), (2, 1), (1, 1)]
    assert values[0][0] == sympy.Rational(3602879701896397, 36028797018963968)  # float 0.1
    tvalues = seed_net.trace(torch.tensor([0.1]))  # a float32 tensor: its value, exactly
    assert tvalues[0][0] == sympy.Rational(13421773, 134217728)
    assert all(isinstance(v, sympy.MatrixBase) for v in values)
    assert values[1][0].has(sympy.tanh) and not values[1].has(sympy.Float)
    rounded = seed_net.trace([1.0], digits=20)
    assert str(rounded[-1][0]) == "-0.70568100077340036306"


def test_chain_at_is_exact_and_equals_the_whole_jacobian(seed_net):
    chain = seed_net.chain_at([1.0])
    assert isinstance(chain, sympy.MatrixBase)
    assert chain.shape == (1, 1)
    assert not chain.has(sympy.Float)
    assert chain == seed_net.jacobian().at([1.0])
    assert sympy.expand(chain[0] - seed_net.as_map().jacobian().at([1.0])[0]) == 0


def test_numeric_shapes_and_values(seed_net, seed_model):
    fn = seed_net.numeric("numpy")
    pts = np.linspace(-2, 2, 12).reshape(3, 4, 1)
    out = fn(pts)
    assert out.shape == (3, 4, 1, 1) and out.dtype == np.float64
    model64 = symjac.examples.small_mlp(seed=0).double()
    for p, J in zip(pts.reshape(-1, 1), out.reshape(-1, 1, 1)):
        ref = torch.func.jacrev(model64)(torch.tensor(p)).detach().numpy()
        np.testing.assert_allclose(J, ref, rtol=1e-13, atol=1e-15)
    tfn = seed_net.numeric("torch")
    out32 = tfn(torch.tensor([[1.0], [0.5]]))
    assert out32.dtype == torch.float32 and tuple(out32.shape) == (2, 1, 1)
    out64 = tfn(torch.tensor([[1.0]], dtype=torch.float64))
    assert out64.dtype == torch.float64
    assert out64.item() == pytest.approx(-0.06086828179154120, rel=1e-14)
    mp = seed_net.numeric("mpmath")([1.0])
    assert str(mp[0][0]).startswith("-0.06086828179154120313771991538852")


def test_symbolic_mlp_structure_and_layer_rule():
    net = symjac.mlp([1, 2, 2, 1], activation="tanh")
    assert repr(net) == (
        "Network(sizes=[1, 2, 2, 1], activations=[tanh, tanh, identity], weights=symbolic)"
    )
    assert len(net.params) == 2 + 2 + 4 + 2 + 2 + 1
    jacs = net.layer_jacobians()
    # J_l = diag(1 - tanh^2(W_l s + b_l)) W_l, built here independently of symjac
    for k, (J, layer) in enumerate(zip(jacs, net.layers)):
        s = sympy.Matrix(net.stage_symbols[k])
        z = layer.weight * s + layer.bias
        if layer.activation.name == "tanh":
            D = sympy.diag(*[1 - sympy.tanh(zi) ** 2 for zi in z])
        else:
            D = sympy.eye(len(z))
        assert sympy.expand(J.matrix - D * layer.weight) == sympy.zeros(*J.shape)
        # and it is the stage's own derivative
        assert sympy.expand(J.matrix - net.stages[k].jacobian().matrix) == sympy.zeros(*J.shape)
    w11 = sympy.Symbol("w^{(1)}_{11}", real=True)
    bb1 = sympy.Symbol("b^{(1)}_{1}", real=True)
    assert jacs[0].matrix[0, 0] == w11 * (1 - sympy.tanh(w11 * x + bb1) ** 2)


def test_symbolic_latex_elementwise_and_matrix_form():
    lines = symjac.mlp([1, 2, 2, 1], activation="tanh").latex().splitlines()
    assert lines[0] == (
        r"a(x) = \begin{pmatrix} \tanh{\left(b^{(1)}_{1} + w^{(1)}_{11} x \right)} \\ "
        r"\tanh{\left(b^{(1)}_{2} + w^{(1)}_{21} x \right)} \end{pmatrix}"
    )
    assert lines[1] == (
        r"J_1 = \begin{pmatrix} \frac{\partial a_1}{\partial x} \\ "
        r"\frac{\partial a_2}{\partial x} \end{pmatrix} = \begin{pmatrix} "
        r"w^{(1)}_{11} \left(1 - \tanh^{2}{\left(b^{(1)}_{1} + w^{(1)}_{11} x \right)}\right) \\ "
        r"w^{(1)}_{21} \left(1 - \tanh^{2}{\left(b^{(1)}_{2} + w^{(1)}_{21} x \right)}\right) "
        r"\end{pmatrix}"
    )
    assert lines[2] == (
        r"J_1 = \operatorname{diag}\left(1 - \tanh^{2}{\left(W^{(1)} x + \mathbf{b}^{(1)} "
        r"\right)}\right) W^{(1)}"
    )
    assert lines[5] == (
        r"J_2 = \operatorname{diag}\left(1 - \tanh^{2}{\left(W^{(2)} \mathbf{a} + "
        r"\mathbf{b}^{(2)} \right)}\right) W^{(2)}"
    )
    assert r"\frac{\partial b_1}{\partial a_2} & \frac{\partial b_2}{\partial a_1}" not in lines[4]
    assert r"w^{(2)}_{12} \left(1 - \tanh^{2}{\left(a_{1} w^{(2)}_{11}" in lines[4]
    assert lines[8] == r"J_3 = W^{(3)}"
    assert lines[-1] == r"\frac{\partial p}{\partial x} = J_3 J_2 J_1"
    assert len(lines) == 10


def test_concrete_latex_rounds_weights(seed_net):
    lines = seed_net.latex().splitlines()
    assert len(lines) == 7  # no matrix-form lines for concrete weights
    assert lines[5] == (
        r"J_3 = \begin{pmatrix} \frac{\partial p}{\partial b_1} & "
        r"\frac{\partial p}{\partial b_2} \end{pmatrix} = \begin{pmatrix} -0.2137 & -0.139 "
        r"\end{pmatrix}"
    )
    assert lines[0] == (
        r"a(x) = \begin{pmatrix} - \tanh{\left(0.007487 x + 0.823 \right)} \\ "
        r"\tanh{\left(0.5364 x - 0.7359 \right)} \end{pmatrix}"
    )
    assert lines[-1] == r"\frac{\partial p}{\partial x} = J_3 J_2 J_1"


# -- the chain rule, symbolically ----------------------------------------------------------------


def test_chain_rule_identity_symbolic_mlp():
    net = symjac.mlp([1, 2, 2, 1], activation="tanh")
    chain = net.jacobian().matrix
    direct = net.as_map().jacobian().matrix
    assert chain.shape == direct.shape == (1, 1)
    assert sympy.expand(chain - direct) == sympy.zeros(1, 1)
    # the identity is not vacuous: the wrong order of the factors is not the derivative
    J1, J2, J3 = net.layer_jacobians()
    wrong = J3.matrix * J2.matrix.T * J1.matrix  # a plausible mistake: a transposed J2
    values = net._stage_values()
    subs = dict(zip(net.stage_symbols[1] + net.stage_symbols[2], values[1] + values[2]))
    assert sympy.expand(wrong.xreplace(subs) - direct) != sympy.zeros(1, 1)


def test_chain_rule_identity_seed_network(seed_net):
    chain = seed_net.jacobian().matrix
    direct = seed_net.as_map().jacobian().matrix
    assert sympy.expand(chain - direct) == sympy.zeros(1, 1)
    for point in (sympy.Rational(-3, 2), sympy.Integer(0), sympy.Rational(7, 10), 1.0):
        c = sympy.N(seed_net.chain_at([point])[0], 60)
        d = sympy.N(direct.xreplace({x: sympy.nsimplify(point)})[0], 60)
        assert abs(c - d) < sympy.Float(10) ** -55


def test_chain_rule_identity_wider_symbolic_network():
    net = symjac.mlp([2, 2, 1], activation="sigmoid", output_activation="tanh")
    diff = net.jacobian().matrix - net.as_map().jacobian().matrix
    assert diff.shape == (1, 2)
    assert all(sympy.expand(e) == 0 for e in diff)


# -- hypothesis: random networks against torch.func.jacrev -----------------------------------------

SMOOTH = ["tanh", "sigmoid", "softplus", "elu", "silu", "gelu", "gelu_tanh", "identity"]
KINKED = ["relu", "leaky_relu"]


def _torch_activation(name: str) -> nn.Module:
    return {
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
        "softplus": nn.Softplus(),
        "elu": nn.ELU(alpha=0.5),
        "silu": nn.SiLU(),
        "gelu": nn.GELU(),
        "gelu_tanh": nn.GELU(approximate="tanh"),
        "identity": nn.Identity(),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.125),
    }[name]


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1))
    acts = draw(st.lists(st.sampled_from(SMOOTH + KINKED), min_size=depth, max_size=depth))
    seed = draw(st.integers(0, 2**31 - 1))
    point = draw(
        st.lists(
            st.floats(-2, 2, allow_nan=False, allow_subnormal=False),
            min_size=sizes[0],
            max_size=sizes[0],
        )
    )
    return sizes, acts, seed, point


def _build(sizes, acts, seed) -> nn.Sequential:
    torch.manual_seed(seed)
    mods: list[nn.Module] = []
    for k, act in enumerate(acts):
        mods.append(nn.Linear(sizes[k], sizes[k + 1], bias=(seed + k) % 3 != 0))
        mods.append(_torch_activation(act))
    return nn.Sequential(*mods).double()


def _close(got, ref, scale: float) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape
    if scale == 0.0:
        assert np.array_equal(got, ref)
    else:
        assert float(np.max(np.abs(got - ref))) <= 1e-12 * scale


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_networks_agree_with_jacrev(spec):
    sizes, acts, seed, point = spec
    model = _build(sizes, acts, seed)
    xt = torch.tensor(point, dtype=torch.float64)
    # torch's stage values and pre-activations; stay away from relu / leaky_relu kinks
    stage_values = [xt]
    for k in range(len(acts)):
        linear, act = model[2 * k], model[2 * k + 1]
        with torch.no_grad():
            z = linear(stage_values[-1])
        if acts[k] in KINKED:
            assume(bool((z.abs() > 1e-6).all()))
        with torch.no_grad():
            stage_values.append(act(z))
    net = symjac.from_torch(model)
    assert net.sizes == tuple(sizes)
    assert [layer.activation.name for layer in net.layers] == acts

    # layer Jacobians, each at symjac's own traced stage input
    trace = net.trace(point)
    layer_values = []
    for k, J in enumerate(net.layer_jacobians()):
        stage_in = _float_matrix(trace[k]).ravel()
        np.testing.assert_allclose(stage_in, stage_values[k].numpy(), rtol=1e-13, atol=1e-14)
        mine = J.numeric("numpy")(stage_in)
        sub = nn.Sequential(model[2 * k], model[2 * k + 1])
        ref = torch.func.jacrev(sub)(stage_values[k]).detach().numpy()
        _close(mine, ref, float(np.max(np.abs(ref))))
        layer_values.append(mine)

    whole = torch.func.jacrev(model)(xt).detach().numpy()
    scale = float(np.max(np.abs(whole)))
    chain = layer_values[-1]
    for mat in reversed(layer_values[:-1]):
        chain = chain @ mat
    _close(chain, whole, scale)
    _close(net.numeric("numpy")(np.array(point)), whole, scale)
    _close(net.numeric("torch")(xt).numpy(), whole, scale)
    if sum(sizes) <= 8 and len(acts) <= 2:  # the symbolic whole Jacobian, within its cost limit
        _close(net.jacobian().numeric("numpy")(np.array(point)), whole, scale)


# -- limits and errors ---------------------------------------------------------------------------


def test_whole_jacobian_refuses_a_large_network():
    net = symjac.mlp([3, 4, 4, 2], activation="tanh")
    with (
        symjac.limits.override(max_jacobian_ops=50),
        pytest.raises(symjac.LimitError, match=r"max_jacobian_ops=50") as info,
    ):
        net.jacobian()
    message = str(info.value)
    assert "[3, 4, 4, 2]" in message
    assert "net.layer_jacobians()" in message and "layerwise" in message
    assert "limits.override(max_jacobian_ops=...)" in message
    assert isinstance(info.value, symjac.SymjacError)
    # layerwise still works under the same limit
    with symjac.limits.override(max_jacobian_ops=50):
        assert [J.shape for J in net.layer_jacobians()] == [(4, 3), (4, 4), (2, 4)]


def test_whole_jacobian_default_limit_refuses_wide_deep_network_quickly():
    import time

    weights = [np.ones((130, 130), dtype=int) for _ in range(3)]
    net = symjac.mlp([130] * 4, weights=weights, biases=False)
    start = time.perf_counter()
    with pytest.raises(symjac.LimitError, match=r"max_jacobian_ops=20000\. Use net\.layer"):
        net.jacobian()
    assert time.perf_counter() - start < 1  # refused before any SymPy work


def test_symbolic_weights_have_no_numeric_values():
    net = symjac.mlp([1, 2, 1])
    with pytest.raises(ValueError, match=r"numeric\(\) needs numeric weights"):
        net.numeric("numpy")
    with pytest.raises(ValueError, match=r"reference\(\) needs numeric weights"):
        net.reference([1.0])


def test_subs_makes_a_symbolic_network_concrete():
    net = symjac.mlp([1, 1, 1], activation="tanh", bias=False)
    concrete = net.subs({"w^{(1)}_{11}": 2, "w^{(2)}_{11}": 0.5})
    assert concrete.params == ()
    assert concrete.jacobian().at([0]) == sympy.Matrix([[1]])
    with pytest.raises(ValueError, match="is not a weight of this network"):
        net.subs({"w9": 1})


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ([1], ValueError, "at least two positive ints"),
        ([1, 0, 1], ValueError, "at least two positive ints"),
        ([1, True], ValueError, "at least two positive ints"),
        ("1,2", TypeError, "sequence of ints"),
        (3, TypeError, "sequence of ints"),
    ],
)
def test_mlp_rejects_bad_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        symjac.mlp(sizes)


def test_mlp_rejects_mismatched_weights_and_activations():
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(2, 1\)"):
        symjac.mlp([1, 2], weights=[[[1, 2]]])
    with pytest.raises(ValueError, match="1 weight matrices for 2 layers"):
        symjac.mlp([1, 2, 1], weights=[[[1], [2]]])
    with pytest.raises(ValueError, match="1 activations for 2 hidden layers"):
        symjac.mlp([1, 2, 2, 1], activation=["tanh"])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        symjac.mlp([1, 2, 1], activation="swish")
    with pytest.raises(ValueError, match="nan"):
        symjac.mlp([1, 1], weights=[[[float("nan")]]])


def test_trace_rejects_a_point_of_the_wrong_length(seed_net):
    with pytest.raises(ValueError, match=r"expected 1 coordinate in the order \(x\), got 2"):
        seed_net.trace([1.0, 2.0])


def test_mixed_activations_per_layer():
    net = symjac.mlp(
        [2, 3, 3, 1],
        activation=["relu", "sigmoid"],
        weights=[np.ones((3, 2)), np.eye(3), np.ones((1, 3))],
        output_activation="tanh",
    )
    assert [layer.activation.name for layer in net.layers] == ["relu", "sigmoid", "tanh"]
    J = net.jacobian().at([1, 1])
    s = sympy.Rational(1, 1)
    sig = symjac.activations.get_activation("sigmoid")
    slope = sig.prime(2 * s)
    expected = (1 - sympy.tanh(3 * sig(2 * s)) ** 2) * 3 * slope * 1
    assert sympy.simplify(J[0, 0] - expected) == 0
    assert J[0, 0] == J[0, 1]
