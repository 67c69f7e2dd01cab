"""Exact Hessians, Laplacians and JVP/VJP/HVP products, for maps and networks."""

from __future__ import annotations

import hypothesis.strategies as st
import mpmath
import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings

import symjac
from symjac.activations import Activation, Z
from symjac.exceptions import LimitError
from symjac.torch_ops import quiet_torch

x, y, z = sympy.symbols("x y z", real=True)

# -- maps: the seed's examples and the peer suites' cases -------------------------------------


def test_seed_quadratic_hessian() -> None:
    H = symjac.examples.quadratic().hessian()
    assert H.shape == (1, 2, 2)
    assert H.matrices[0] == sympy.Matrix([[2, 3], [3, 2]])


def test_seed_square_and_planar_hessians() -> None:
    assert symjac.examples.square().hessian().matrices == [sympy.Matrix([[2]])]
    planar = symjac.examples.planar().hessian()
    assert planar.array.tolist() == [[[2, 0], [0, 0]], [[0, 0], [0, 2]]]


@pytest.mark.parametrize(
    "expr",
    [x**2 * y, x**2 * y**3, z + x * y**2],  # SymPy's test_jacobian_hessian
)
def test_sympy_peer_cases(expr: sympy.Expr) -> None:
    syms = [x, y] if not expr.has(z) else [x, y, z]
    H = symjac.VectorMap(expr, syms).hessian()
    assert H.matrices[0] == sympy.hessian(expr, syms)


def test_jax_peer_case_quadratic_form() -> None:
    # JAX api_test: the Hessian of x^T A x is A + A^T
    A = sympy.Matrix([[1, -2, 3], [4, 0, 5], [-1, 2, 7]])
    xs = sympy.Matrix(sympy.symbols("x1:4", real=True))
    f = (xs.T * A * xs)[0, 0]
    H = symjac.VectorMap(f, list(xs)).hessian()
    assert H.matrices[0] == A + A.T


def test_torch_peer_case_exp_of_a_slice() -> None:
    # PyTorch test_functional: hessian of 3 * a[:3].exp().sum() for a of length 4
    a = sympy.symbols("a1:5", real=True)
    with pytest.warns(symjac.SymjacWarning, match="a4 do not appear"):
        f = symjac.VectorMap(3 * sum(sympy.exp(v) for v in a[:3]), list(a))
    H = f.hessian()
    assert H.matrices[0] == sympy.diag(*(3 * sympy.exp(v) for v in a[:3]), 0)
    point = [0.25, -0.5, 1.0, 2.0]
    got = H.numeric("torch")(torch.tensor(point, dtype=torch.float64))
    want = torch.autograd.functional.hessian(
        lambda t: 3 * t.narrow(0, 0, 3).exp().sum(), torch.tensor(point, dtype=torch.float64)
    )
    torch.testing.assert_close(got[0], want, rtol=1e-14, atol=0)


def test_hessian_shortcut_and_latex() -> None:
    H = symjac.hessian("x1**2 + 3*x1*x2 + x2**2", "x1 x2")
    assert H.latex(show="value") == r"\begin{pmatrix} 2 & 3 \\ 3 & 2 \end{pmatrix}"
    assert H.latex(show="definition").startswith(r"H_f = \begin{pmatrix} \frac{\partial^2 f}")
    assert symjac.hessian("x**3", "x").latex() == r"H_f = \frac{d^2 f}{d x^2} = 6 x"
    assert repr(H) == "Hessian(shape=(1, 2, 2), wrt=(x1, x2))"


def test_hessian_at_is_exact_and_checks_the_domain() -> None:
    H = symjac.hessian("x**3 * y", "x y")
    assert H.at({"x": 0.5, "y": 2}).tolist() == [
        [[6, sympy.Rational(3, 4)], [sympy.Rational(3, 4), 0]]
    ]
    with pytest.raises(ValueError, match="outside the map's real domain"):
        symjac.hessian("sqrt(x)", "x").at([0])


def test_hessian_numeric_batches() -> None:
    fn = symjac.hessian(["x**2 * y", "sin(x)"], "x y").numeric("numpy")
    out = fn(np.array([[1.0, 2.0], [0.0, 1.0], [2.0, -1.0]]))
    assert out.shape == (3, 2, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[4.0, 2.0], [2.0, 0.0]])
    np.testing.assert_allclose(out[2, 1], [[-np.sin(2.0), 0.0], [0.0, 0.0]])


def test_hessian_of_a_long_product_is_refused() -> None:
    f = symjac.VectorMap("*".join(f"sin(x+{i})" for i in range(30)), "x")
    with pytest.raises(LimitError, match="Hessian of f"):
        f.hessian()


def test_laplacian_over_chosen_inputs() -> None:
    lap = symjac.laplacian("sin(x) * exp(t) + x**2 * t", "x t", wrt="x")
    assert lap.expressions() == [
        2 * sympy.Symbol("t", real=True)
        - sympy.exp(sympy.Symbol("t", real=True)) * sympy.sin(sympy.Symbol("x", real=True))
    ]
    assert lap.at({"x": 0, "t": 3}) == sympy.Matrix([[6]])
    np.testing.assert_allclose(lap.numeric("numpy")([[0.0, 3.0]]), [[6.0]])
    with pytest.raises(ValueError, match="'q' is not an input"):
        symjac.laplacian("x", "x", wrt="q")


def test_products_match_the_jacobian() -> None:
    f = symjac.VectorMap(["x1**2 * x2", "sin(x1) + x2**3"], "x1 x2")
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    V = np.array([[1.0, 2.0], [-1.0, 0.5]])
    U = np.array([[0.5, 1.0], [2.0, -3.0]])
    J = f.jacobian().numeric("numpy")(X)
    np.testing.assert_allclose(symjac.jvp(f)(X, V), np.einsum("nij,nj->ni", J, V), rtol=1e-15)
    np.testing.assert_allclose(symjac.vjp(f)(X, U), np.einsum("ni,nij->nj", U, J), rtol=1e-15)
    H = f.hessian().numeric("numpy")(X)
    np.testing.assert_allclose(symjac.hvp(f)(X, V), np.einsum("nkij,nj->nki", H, V), rtol=1e-15)
    tx = torch.tensor(X[0], dtype=torch.float64)
    with quiet_torch():  # torch.func.jvp's first use may warn about torch.jit.script
        _, want = torch.func.jvp(
            lambda t: torch.stack([t[0] ** 2 * t[1], torch.sin(t[0]) + t[1] ** 3]),
            (tx,),
            (torch.tensor(V[0], dtype=torch.float64),),
        )
    torch.testing.assert_close(symjac.jvp(f, "torch")(tx, V[0]), want, rtol=1e-14, atol=0)


# -- networks: the second-order chain rule against torch.func.hessian ------------------------

SIN = Activation("sin", sympy.sin(Z))
_TORCH = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": torch.nn.functional.softplus,
    "gelu": torch.nn.functional.gelu,
    "sin": torch.sin,
}


def _activation(name: str) -> object:
    return SIN if name == "sin" else name


@st.composite
def networks(draw: st.DrawFn) -> tuple[list[int], str, list[np.ndarray], list[np.ndarray]]:
    n_in = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    sizes = [n_in, *hidden, draw(st.integers(1, 2))]
    act = draw(st.sampled_from(sorted(_TORCH)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1.5, 1.5, (o, i)) for i, o in zip(sizes, sizes[1:])]
    biases = [rng.uniform(-1.0, 1.0, o) for o in sizes[1:]]
    return sizes, act, weights, biases


def _torch_net(act: str, weights: list[np.ndarray], biases: list[np.ndarray]) -> object:
    Ws = [torch.tensor(w) for w in weights]
    bs = [torch.tensor(b) for b in biases]

    def f(t: torch.Tensor) -> torch.Tensor:
        for k, (W, b) in enumerate(zip(Ws, bs)):
            t = W @ t + b
            if k < len(Ws) - 1:
                t = _TORCH[act](t)
        return t

    return f


@settings(max_examples=40, deadline=None)
@given(spec=networks(), point_seed=st.integers(0, 2**32 - 1))
def test_network_hessian_agrees_with_torch_func(spec: tuple, point_seed: int) -> None:
    sizes, act, weights, biases = spec
    net = symjac.mlp(sizes, _activation(act), weights=weights, biases=biases)
    point = np.random.default_rng(point_seed).uniform(-2, 2, sizes[0])
    with quiet_torch():
        want = torch.func.hessian(_torch_net(act, weights, biases))(torch.tensor(point)).numpy()
    scale = max(np.abs(want).max(), 1e-300)
    got = net.hessian().numeric("numpy")(point)
    assert got.shape == want.shape == (sizes[-1], sizes[0], sizes[0])
    assert np.abs(got - want).max() <= 1e-11 * scale
    got_t = net.hessian().numeric("torch")(torch.tensor(point)).numpy()
    assert np.abs(got_t - want).max() <= 1e-11 * scale
    ref = net.hessian().reference(point, digits=30)
    assert np.abs(ref.astype(float) - want).max() <= 1e-11 * scale


@settings(max_examples=15, deadline=None)
@given(spec=networks(), point_seed=st.integers(0, 2**32 - 1))
def test_network_reference_agrees_with_sympy_on_the_composed_map(
    spec: tuple, point_seed: int
) -> None:
    # independent: SymPy differentiates the composed tree; the reference never does
    sizes, act, weights, biases = spec
    net = symjac.mlp(sizes, _activation(act), weights=weights, biases=biases)
    point = np.random.default_rng(point_seed).uniform(-2, 2, sizes[0])
    ref = net.hessian().reference(point, digits=30)
    with symjac.limits.override(max_derivative_nodes=10**7, max_functions=10**4):
        exact = net.as_map().hessian().at(point)
    with mpmath.workdps(40):
        for idx in np.ndindex(*ref.shape):
            value = mpmath.mpf(str(sympy.N(exact[idx], 40)))
            assert abs(ref[idx] - value) <= mpmath.mpf(10) ** -25 * (1 + abs(value))


def test_network_exact_hessian_at_a_point_matches_the_symbolic_array() -> None:
    net = symjac.mlp(
        [2, 2, 1],
        "tanh",
        weights=[[[0.5, -1.0], [0.25, 2.0]], [[1.0, -0.5]]],
        biases=[[0.1, -0.2], [0.0]],
    )
    H = net.hessian()
    at = H.at([0.5, -0.25])
    symbolic = H.matrices[0].xreplace(
        {net.inputs[0]: sympy.Rational(1, 2), net.inputs[1]: sympy.Rational(-1, 4)}
    )
    for i in range(2):
        for j in range(2):
            assert sympy.N(at[0, i, j] - symbolic[i, j], 30) == 0


def test_network_hessian_symbolic_array_is_size_limited() -> None:
    net = symjac.mlp(
        [3, 16, 16, 16, 1],
        "tanh",
        weights=[np.ones((16, 3)), np.ones((16, 16)), np.ones((16, 16)), np.ones((1, 16))],
        biases=False,
    )
    with pytest.raises(LimitError, match="max_jacobian_ops"):
        net.hessian().matrices  # noqa: B018
    # the batched kernel has no such limit
    assert net.hessian().numeric("numpy")(np.zeros((5, 3))).shape == (5, 1, 3, 3)


def test_network_laplacian_of_a_pinn() -> None:
    # u(x, t): the Laplacian over x only, as a PINN's residual uses it
    rng = np.random.default_rng(0)
    sizes = [2, 8, 8, 1]
    weights = [rng.normal(size=(o, i)) for i, o in zip(sizes, sizes[1:])]
    biases = [rng.normal(size=o) for o in sizes[1:]]
    net = symjac.mlp(sizes, "tanh", weights=weights, biases=biases)
    net_inputs = [s.name for s in net.inputs]
    lap = net.hessian().laplacian(net_inputs[0])
    points = rng.uniform(-1, 1, (7, 2))
    f = _torch_net("tanh", weights, biases)
    with quiet_torch():
        want = np.array([torch.func.hessian(f)(torch.tensor(p))[0, 0, 0].item() for p in points])
    np.testing.assert_allclose(lap.numeric("numpy")(points)[:, 0], want, rtol=1e-12, atol=1e-14)


def test_network_products() -> None:
    net = symjac.mlp([2, 3, 2], "sigmoid", weights=[np.eye(3, 2), np.ones((2, 3))], biases=False)
    X = np.array([[0.5, -0.5]])
    J = net.numeric("numpy")(X)
    np.testing.assert_allclose(symjac.jvp(net)(X, [[1.0, 0.0]]), J[:, :, 0], rtol=1e-15)
    np.testing.assert_allclose(symjac.vjp(net)(X, [[0.0, 1.0]]), J[:, 1, :], rtol=1e-15)
    assert symjac.hvp(net)(X, [[1.0, 0.0]]).shape == (1, 2, 2)


def test_torch_backend_routes_agree():
    # CPU tensors without grad take the NumPy recursion; tensors that require grad keep
    # torch operations (and their graph); float32 points get float32 back
    rng = np.random.default_rng(5)
    net = symjac.mlp(
        [3, 6, 5, 2], "tanh", weights=[rng.normal(size=s) for s in ((6, 3), (5, 6), (2, 5))]
    )
    points = rng.uniform(-2, 2, (70, 3))
    want = net.hessian().numeric("numpy")(points)
    fn = net.hessian().numeric("torch")
    fast = fn(torch.tensor(points))
    graph_x = torch.tensor(points, requires_grad=True)
    graph = fn(graph_x)
    assert graph.requires_grad and fast.dtype == torch.float64
    np.testing.assert_allclose(fast.numpy(), want, rtol=0, atol=1e-14 * np.abs(want).max())
    np.testing.assert_allclose(
        graph.detach().numpy(), want, rtol=0, atol=1e-13 * np.abs(want).max()
    )
    single = fn(torch.tensor(points, dtype=torch.float32))
    assert single.dtype == torch.float32
    np.testing.assert_allclose(
        single.double().numpy(), want, rtol=0, atol=1e-5 * np.abs(want).max()
    )
