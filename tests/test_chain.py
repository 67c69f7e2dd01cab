"""The fast paths (symjac.chain, symjac.chain_numeric) give the exact SymPy route's numbers and trees."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

import symjac
from symjac.activations import ACTIVATIONS
from symjac.chain import symbolic_layer
from symjac.chain_numeric import chain_costs, compile_network

SPECIAL = [0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.25]


def _net(rng, sizes, activation="tanh", output="identity", special=False, bias=True):
    weights = [
        rng.choice(SPECIAL, size=(sizes[k + 1], sizes[k]))
        if special
        else rng.normal(size=(sizes[k + 1], sizes[k]))
        for k in range(len(sizes) - 1)
    ]
    biases = [rng.choice(SPECIAL, size=sizes[k + 1]) for k in range(len(sizes) - 1)]
    return symjac.mlp(
        sizes,
        activation=activation,
        weights=weights,
        biases=biases if bias else False,
        output_activation=output,
    )


def _evaluated(net, k):
    """The layer rule built with SymPy's evaluation (the reference construction)."""
    symbols = net.stage_symbols[k]
    z = net._pre_activation(k, symbols)
    outs = [net.layers[k].activation(zi) for zi in z]
    return outs, sympy.ImmutableMatrix(net._layer_matrix(k, symbols))


# -- symbolic: the assembled trees are SymPy's own ------------------------------------------------
@pytest.mark.parametrize("output", ["identity", "tanh"])
@pytest.mark.parametrize("special", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_fast_layers_are_sympys_trees(rng, output, special, bias):
    for _ in range(15):
        sizes = [int(v) for v in rng.integers(1, 5, size=rng.integers(2, 5))]
        net = _net(rng, sizes, output=output, special=special, bias=bias)
        jacobians = net.layer_jacobians()
        stages = net.stages
        for k in range(len(net.layers)):
            outs, matrix = _evaluated(net, k)
            assert jacobians[k].matrix == matrix
            assert list(jacobians[k].function.outputs) == outs
            assert list(stages[k].outputs) == outs
            # the directly built nodes carry what SymPy's constructor sets on them
            for mine, theirs in zip(
                sympy.preorder_traversal(sympy.Tuple(*stages[k].outputs)),
                sympy.preorder_traversal(sympy.Tuple(*outs)),
            ):
                assert type(mine) is type(theirs)
                assert getattr(mine, "nargs", None) == getattr(theirs, "nargs", None)


def test_sign_choice_matches_sympy_on_ties_and_majorities():
    # rows with more negative terms, more positive ones, and ties (even length)
    weights = [
        [[-1.5, -2.5, 0.75, -0.25], [1.5, -2.5, 0.75, -0.25], [0.5, 0.25, 3, 7]],
        [[1, -1, 2]],
    ]
    for biases in ([[0.5, -0.5, -2], [0]], [[0, 0, 0], [1]]):
        net = symjac.mlp([4, 3, 1], weights=weights, biases=biases, output_activation="tanh")
        for k, jac in enumerate(net.layer_jacobians()):
            outs, matrix = _evaluated(net, k)
            assert jac.matrix == matrix and list(jac.function.outputs) == outs


def test_layer_rule_is_the_derivative():
    net = _net(np.random.default_rng(3), [2, 3, 2], output="tanh")
    for jac, stage in zip(net.layer_jacobians(), net.stages):
        direct = sympy.Matrix(stage.outputs).jacobian(stage.inputs)
        assert sympy.simplify(jac.matrix - direct) == sympy.zeros(*jac.shape)


def test_non_plain_layers_fall_back():
    net = symjac.mlp([2, 2, 1], activation="tanh")  # symbolic weights
    layer = net.layers[0]
    assert (
        symbolic_layer(layer.weight, layer.bias, layer.activation, net.inputs, matrix=True) is None
    )
    sig = _net(np.random.default_rng(0), [2, 2, 1], activation="sigmoid")
    layer = sig.layers[0]
    assert (
        symbolic_layer(layer.weight, layer.bias, layer.activation, sig.inputs, matrix=True) is None
    )
    _, matrix = _evaluated(sig, 0)
    assert sig.layer_jacobians()[0].matrix == matrix


def test_repeat_calls_reuse_and_copy():
    net = _net(np.random.default_rng(1), [3, 3, 2])
    first, second = net.layer_jacobians(), net.layer_jacobians()
    assert first is not second
    assert [j.matrix for j in first] == [j.matrix for j in second]
    first.pop()
    assert len(net.layer_jacobians()) == 2


# -- compiled: same numbers as the exact route ----------------------------------------------------
#: real only for positive arguments, so not drawn as activations of random networks
DOMAIN_LIMITED = {"log", "log1p", "sqrt", "rsqrt"}


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - DOMAIN_LIMITED))
def test_compiled_matches_exact_for_every_activation(activation):
    rng = np.random.default_rng(sorted(ACTIVATIONS).index(activation))
    for sizes in ([2, 3, 2], [3, 2, 1]):
        net = _net(rng, sizes, activation=activation, output=activation)
        points = rng.uniform(-1.5, 1.5, size=(2, sizes[0]))
        exact = np.array(
            [np.array(net.reference(p, digits=30).whole.tolist(), dtype=float) for p in points]
        )
        scale = np.abs(exact).max()
        for order in ("forward", "reverse"):
            fn_np = compile_network(net, "numpy", order=order)
            fn_t = compile_network(net, "torch", order=order)
            assert fn_np.order == order
            np.testing.assert_allclose(fn_np(points), exact, rtol=0, atol=1e-13 * scale)
            np.testing.assert_allclose(fn_np(points[0]), exact[0], rtol=0, atol=1e-13 * scale)
            for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 1e-5)):
                xt = torch.as_tensor(points, dtype=dtype)
                for batch in (xt, xt[0], xt.repeat(20, 1)):  # small and large batch paths
                    got = fn_t(batch)
                    assert got.dtype == dtype
                    want = exact if batch.ndim == 2 else exact[0]
                    if batch.shape[0] == 40:
                        want = np.tile(exact, (20, 1, 1))
                    np.testing.assert_allclose(got.double().numpy(), want, rtol=0, atol=tol * scale)
                # the torch-operations chain (used for gradients and non-CPU devices)
                graded = fn_t(xt.clone().requires_grad_(True))
                assert graded.dtype == dtype
                np.testing.assert_allclose(
                    graded.detach().double().numpy(), exact, rtol=0, atol=tol * scale
                )


def test_exact_jacobian_at_point_equals_compiled():
    net = _net(np.random.default_rng(7), [2, 3, 2], output="tanh")
    x = [0.375, -0.625]
    exact = np.array(net.jacobian().at(x).evalf(30).tolist(), dtype=float)
    for order in ("forward", "reverse"):
        got = compile_network(net, "numpy", order=order)(np.array(x))
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-15)


def test_orders_agree_and_auto_picks_the_cheaper():
    rng = np.random.default_rng(11)
    narrowing = _net(rng, [6, 5, 4, 1])
    widening = _net(rng, [1, 4, 5, 6])
    assert chain_costs(narrowing.sizes)["reverse"] < chain_costs(narrowing.sizes)["forward"]
    assert compile_network(narrowing).order == "reverse"
    assert compile_network(widening).order == "forward"
    for net in (narrowing, widening, _net(rng, [3, 3]), _net(rng, [3, 4, 3], output="tanh")):
        x = rng.normal(size=(7, net.sizes[0]))
        f = compile_network(net, order="forward")(x)
        r = compile_network(net, order="reverse")(x)
        np.testing.assert_allclose(f, r, rtol=0, atol=1e-14)


def test_identity_only_network_is_the_weight_matrix():
    w = [[[1.0, 2.0], [3.0, 4.0]], [[0.5, -1.0]]]
    net = symjac.mlp([2, 2, 1], activation="identity", weights=w, biases=False)
    for order in ("forward", "reverse"):
        got = compile_network(net, order=order)(np.zeros((3, 2)))
        np.testing.assert_allclose(got, np.tile([[[-2.5, -3.0]]], (3, 1, 1)))


def test_batch_shapes_and_inputs():
    net = _net(np.random.default_rng(5), [3, 4, 2])
    fn = net.numeric("numpy")
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    out = fn(x)
    assert out.shape == (2, 5, 2, 3)
    np.testing.assert_allclose(out[1, 2], fn(x[1, 2]))
    np.testing.assert_allclose(fn(x.astype(np.float32)), fn(x.astype(np.float32).astype(float)))
    np.testing.assert_allclose(fn(torch.as_tensor(x)), out)
    assert fn(x[0].tolist()).shape == (5, 2, 3)
    ft = net.numeric("torch")
    assert ft(torch.as_tensor(x)).shape == (2, 5, 2, 3)
    assert ft(x).dtype == torch.float64


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_shape_and_type_errors(backend):
    fn = _net(np.random.default_rng(2), [3, 2, 1]).numeric(backend)
    wrap = (lambda a: a) if backend == "numpy" else torch.as_tensor
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\).*x1, x2, x3.*\(4, 2\)"):
        fn(wrap(np.zeros((4, 2))))
    with pytest.raises(ValueError, match="shape"):
        fn(wrap(np.float64(1.0)))
    with pytest.raises(TypeError):
        fn(np.array(["a", "b", "c"]) if backend == "numpy" else torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="order"):
        compile_network(_net(np.random.default_rng(2), [3, 2, 1]), order="sideways")


def test_torch_gradients_flow_when_required():
    net = _net(np.random.default_rng(4), [2, 3, 1])
    x = torch.tensor([[0.2, -0.4]], dtype=torch.float64, requires_grad=True)
    J = net.numeric("torch")(x)
    J.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("v", [0.5, 3.0, 20.0, 400.0, 800.0])
def test_torch_gradients_stay_finite_at_saturation(v):
    # J(x) = sech(x)**2 - sech(x/2)**2, so dJ/dx = -2 sech(x)**2 tanh(x) + sech(x/2)**2 tanh(x/2)
    import mpmath

    net = symjac.mlp([1, 2, 1], weights=[[[1.0], [-0.5]], [[1.0, 2.0]]], biases=False)
    x = torch.tensor([[v]], dtype=torch.float64, requires_grad=True)
    net.numeric("torch")(x).sum().backward()
    u = mpmath.mpf(v)
    want = -2 * mpmath.sech(u) ** 2 * mpmath.tanh(u) + mpmath.sech(u / 2) ** 2 * mpmath.tanh(u / 2)
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.item() == pytest.approx(float(want), rel=1e-13, abs=1e-300)


def test_non_finite_inputs_do_not_warn():
    net = _net(np.random.default_rng(6), [2, 3, 2], activation="elu")
    out = net.numeric("numpy")(np.array([[np.inf, 0.0], [np.nan, 1.0]]))
    assert out.shape == (2, 2, 2)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
def test_large_float32_batches_compute_in_float32(activation):
    net = _net(np.random.default_rng(8), [3, 5, 2], activation=activation)
    x = np.random.default_rng(1).uniform(-2, 2, size=(3000, 3))
    want = net.numeric("numpy")(x)
    for order in ("forward", "reverse"):
        got = compile_network(net, "torch", order=order)(torch.as_tensor(x, dtype=torch.float32))
        assert got.dtype == torch.float32 and got.shape == (3000, 2, 3)
        np.testing.assert_allclose(
            got.double().numpy(), want, rtol=0, atol=1e-5 * np.abs(want).max()
        )


# -- the blocked, points-last chain (NOTE: blocked-chain) -----------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
@pytest.mark.parametrize(
    "sizes", [[3, 5, 2], [2, 4, 6], [4, 3], [5, 4, 4, 1], [1, 3, 3, 1], [3, 6, 6, 6, 3]]
)
def test_blocks_agree_with_single_points(monkeypatch, activation, sizes):
    # many small blocks and a ragged last one: every point as the lean single-point path gives it
    monkeypatch.setattr("symjac.chain_numeric._MIN_BLOCK", 7)
    rng = np.random.default_rng(sum(sizes))
    for output in ("identity", "tanh"):
        net = _net(rng, sizes, activation=activation, output=output)
        x = rng.uniform(-2, 2, size=(61, sizes[0]))
        for order in ("forward", "reverse"):
            fn = compile_network(net, "numpy", order=order)
            fn.path.block_coords = 1  # blocks of _MIN_BLOCK points
            got = fn(x)
            assert got.shape == (61, sizes[-1], sizes[0]) and got.flags.c_contiguous
            want = np.array([fn(p) for p in x])
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * scale)
            got32 = compile_network(net, "torch", order=order)
            got32.path.numpy.block_coords = 1
            xt = torch.as_tensor(np.tile(x, (80, 1)), dtype=torch.float32)  # > _F32_NUMPY
            np.testing.assert_allclose(
                got32(xt).double().numpy()[:61], want, rtol=0, atol=1e-5 * scale
            )


def test_block_size_keeps_intermediates_small():
    narrow = compile_network(_net(np.random.default_rng(0), [4, 4, 4, 4]))
    wide = compile_network(_net(np.random.default_rng(0), [16, 16, 16, 16, 16]))
    assert narrow.path.block_coords > wide.path.block_coords >= 100  # both fit in a few MB


# -- the single-point path (NOTE: one-point) ------------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "identity", "elu"])
@pytest.mark.parametrize("output", ["identity", "tanh", "sigmoid"])
def test_single_point_path_agrees_with_batch_and_exact(activation, output):
    rng = np.random.default_rng(21)
    for sizes in ([3, 4, 2], [2, 5, 5, 1], [1, 3, 4]):
        net = _net(rng, sizes, activation=activation, output=output)
        points = rng.uniform(-2, 2, size=(2, sizes[0]))
        # saturated units: cosh overflows (|z| > 710) or nearly so
        points[1] *= 400.0
        exact = np.array(
            [np.array(net.reference(p, digits=30).whole.tolist(), dtype=float) for p in points]
        )
        for order in ("forward", "reverse"):
            fn = compile_network(net, "numpy", order=order)
            ft = compile_network(net, "torch", order=order)
            batch = fn(np.repeat(points, 2, axis=0))[::2]
            for i, p in enumerate(points):
                scale = max(np.abs(exact[i]).max(), 1e-300)
                one, row = fn(p), fn(p[None, :])
                assert one.shape == (sizes[-1], sizes[0]) and row.shape == (1, *one.shape)
                np.testing.assert_array_equal(one, row[0])
                # the batched chain to rounding (sums in another order), and the exact value;
                # saturated units are ill-conditioned (sech(z)**2 amplifies z's rounding)
                # (there a 30-digit reference can itself cancel to 0: compare with the batch)
                if i == 0:
                    np.testing.assert_allclose(one, batch[i], rtol=0, atol=2e-14 * scale)
                    np.testing.assert_allclose(one, exact[i], rtol=0, atol=1e-14 * scale)
                else:
                    big = max(np.abs(batch[i]).max(), 1e-300)
                    np.testing.assert_allclose(one, batch[i], rtol=0, atol=1e-11 * big)
                for dtype in (torch.float64, torch.float32):
                    got = ft(torch.as_tensor(p[None, :], dtype=dtype))
                    assert got.dtype == dtype and got.shape == row.shape
                    want = fn(np.asarray(p, dtype=np.dtype(str(dtype)[6:])))
                    np.testing.assert_allclose(
                        got[0].double().numpy(),
                        want.astype(got.numpy().dtype),
                        rtol=0,
                        atol=(1e-6 if dtype == torch.float32 else 1e-14) * np.abs(want).max(),
                    )


def test_single_point_path_warns_on_nothing_and_does_not_alias():
    import warnings

    rng = np.random.default_rng(22)
    net = _net(rng, [3, 4, 4, 2])
    identity = symjac.mlp([2, 2], activation="identity", weights=[[[1.0, 2.0], [3.0, 4.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in ([1e3, -1e3, 0.5], [np.inf, 0.0, 1.0], [np.nan, 1.0, 2.0], [1e308, 0.0, 0.0]):
            out = net.numeric("numpy")(np.array(x))
            assert out.shape == (2, 3)
        assert np.isfinite(net.numeric("numpy")(np.array([1e3, -1e3, 0.5]))).all()
        for backend in ("numpy", "torch"):
            fn = identity.numeric(backend)
            x = np.zeros(2) if backend == "numpy" else torch.zeros(1, 2, dtype=torch.float64)
            first = fn(x)
            first[...] = 7.0  # the result is the caller's: the weights stay untouched
            assert fn(x).tolist() in ([[1.0, 2.0], [3.0, 4.0]], [[[1.0, 2.0], [3.0, 4.0]]])


def test_single_point_torch_keeps_autograd_and_errors():
    net = _net(np.random.default_rng(23), [3, 4, 1])
    ft = net.numeric("torch")
    x = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64, requires_grad=True)
    J = ft(x)
    assert J.requires_grad and J.shape == (1, 3)
    J.sum().backward()
    assert x.grad is not None
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        ft(torch.zeros(1, 2, dtype=torch.float64))
    with pytest.raises(TypeError):
        ft(torch.zeros(1, 3, dtype=torch.int64))


# -- exact values at a point through the forward reference (NOTE: mp-reference) ----------------


def _old_route(net, x):
    """The exact chain at ``x`` as a plain Matrix: SymPy's evalf walks its whole tree."""
    return sympy.Matrix(net._chain([list(v) for v in net.trace(x)]))


@pytest.mark.parametrize(
    ("sizes", "activation", "output"),
    [
        ([1, 2, 2, 1], "tanh", "identity"),
        ([2, 3, 2], "sigmoid", "tanh"),
        ([2, 2, 2, 1], "elu", "identity"),
    ],
)
@pytest.mark.parametrize("digits", [15, 20, 30])
def test_value_at_a_point_has_the_old_routes_digits(sizes, activation, output, digits):
    net = _net(np.random.default_rng(len(sizes) + digits), sizes, activation, output)
    x = [0.375, -0.625][: sizes[0]]
    old = [str(v) for v in _old_route(net, x).evalf(digits)]
    chain = net.chain_at(x)
    at = net.jacobian().at(x)
    assert chain == at == _old_route(net, x)  # the same exact values
    assert [str(v) for v in chain.evalf(digits)] == old
    assert [str(v) for v in at.evalf(digits)] == old
    assert [str(v) for v in at.n(digits)] == old


def test_value_at_a_point_keeps_exact_zeros_and_falls_back_once_changed():
    # a zero weight column: the exact 0 entries stay the Integer 0 under evalf
    net = symjac.mlp([2, 2, 1], weights=[[[1, 0], [2, 0]], [[1, 1]]], biases=False)
    value = net.chain_at([0.5, 0.25])
    shown = value.evalf(20)
    assert shown[0, 1] == 0 and shown[0, 1].is_Integer
    value[0, 0] = sympy.Rational(1, 3)  # no longer the network's value: SymPy's own evalf
    assert str(value.evalf(20)[0, 0]) == "0.33333333333333333333"
    assert value.evalf(20, subs={}) == value.evalf(20)


def test_symbolic_weights_value_at_a_point_is_a_plain_matrix():
    net = symjac.mlp([1, 2, 1])
    value = net.chain_at([0.5])
    assert type(value) is sympy.Matrix
    assert value.has(sympy.Symbol)


# -- jacobian()'s cost bound covers every activation (NOTE: jacobian-cost) -----------------------


@pytest.mark.parametrize("activation", ["elu", "softplus", "leaky_relu", "relu"])
def test_kinked_activations_nested_twice_are_refused_with_the_limit_error(activation):
    # the 3 -> 16 -> 16 -> 2 networks ran past 60 s; now refused before any work
    rng = np.random.default_rng(0)
    sizes = [3, 16, 16, 2]
    weights = [rng.normal(size=(sizes[k + 1], sizes[k])) for k in range(3)]
    net = symjac.mlp(sizes, activation=activation, weights=weights)
    with pytest.raises(symjac.LimitError, match=r"max_jacobian_ops=20000\. Use net\.layer"):
        net.jacobian()


def test_cost_model_orders_activations_by_their_size():
    weights = [np.ones((8, 3)), np.ones((8, 8)), np.ones((2, 8))]
    costs = {
        act: symjac.mlp([3, 8, 8, 2], activation=act, weights=weights)._chain_cost()
        for act in ("identity", "tanh", "silu", "gelu", "elu")
    }
    assert costs["identity"] == costs["tanh"] < costs["silu"] < costs["gelu"] < costs["elu"]
    # one kinked layer feeding another multiplies by 2**width: 4 -> 8 units, 16 times more
    weights4 = [np.ones((4, 3)), np.ones((4, 4)), np.ones((2, 4))]
    small = symjac.mlp([3, 4, 4, 2], activation="elu", weights=weights4)._chain_cost()
    assert costs["elu"] > 16 * small


def test_one_kinked_layer_still_gives_the_whole_jacobian():
    net = symjac.mlp([3, 4, 2], activation="elu", weights=[np.ones((4, 3)), np.ones((2, 4))])
    J = net.jacobian()
    assert J.shape == (2, 3)
    point = [0.5, -0.25, 0.125]
    np.testing.assert_allclose(
        np.array(J.at(point).evalf(20).tolist(), dtype=float),
        net.numeric()(np.array(point)),
        atol=1e-15,
    )
