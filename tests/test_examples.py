"""symjac.examples: the seed document's three maps and their known derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

import symjac
from symjac import examples

x, x1, x2 = sympy.symbols("x x1 x2", real=True)


def test_square():
    f = examples.square()
    assert isinstance(f, symjac.VectorMap)
    assert f.inputs == (x,) and f.outputs == (x**2,) and f.name == "f"
    J = f.jacobian()
    assert J.matrix == sympy.Matrix([[2 * x]])
    assert J.at([3]) == sympy.Matrix([[6]])
    assert J.at({"x": sympy.Rational(-1, 2)}) == sympy.Matrix([[-1]])
    assert f.gradient().matrix == sympy.Matrix([[2 * x]])
    np.testing.assert_array_equal(
        J.numeric("numpy")(np.array([[0.5], [-2.0]]))[:, 0, 0], [1.0, -4.0]
    )


def test_quadratic():
    f = examples.quadratic()
    assert f.inputs == (x1, x2)
    assert f.outputs == (x1**2 + 3 * x1 * x2 + x2**2,)
    g = f.gradient()
    assert g.shape == (2, 1)
    assert g.matrix == sympy.Matrix([2 * x1 + 3 * x2, 3 * x1 + 2 * x2])
    assert f.jacobian().matrix == sympy.Matrix([[2 * x1 + 3 * x2, 3 * x1 + 2 * x2]])
    assert g.at([1, 2]) == sympy.Matrix([8, 7])
    assert f.at([1, 2]) == sympy.Matrix([11])
    # the gradient of f.numeric("torch") by autograd is the same
    point = torch.tensor([0.25, -1.5], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(f.numeric("torch")(point)[0], point)
    np.testing.assert_allclose(g.numeric("numpy")([0.25, -1.5])[:, 0], grad.numpy(), rtol=1e-15)


def test_planar():
    f = examples.planar()
    assert f.inputs == (x1, x2)
    assert f.outputs == (x1**2 + x2, x1 + x2**2)
    J = f.jacobian()
    assert J.matrix == sympy.Matrix([[2 * x1, 1], [1, 2 * x2]])
    assert J.at([1, 2]) == sympy.Matrix([[2, 1], [1, 4]])
    assert f.at([1, 2]) == sympy.Matrix([3, 5])
    with pytest.raises(ValueError, match="a gradient needs a scalar map"):
        f.gradient()


@pytest.mark.parametrize("example", ["square", "quadratic", "planar"])
def test_examples_are_fresh_and_equal_to_hand_built_maps(example):
    built = {
        "square": lambda: symjac.VectorMap("x**2", "x"),
        "quadratic": lambda: symjac.VectorMap("x1**2 + 3*x1*x2 + x2**2", "x1 x2"),
        "planar": lambda: symjac.VectorMap(["x1**2 + x2", "x1 + x2**2"], "x1 x2"),
    }[example]()
    first, second = getattr(examples, example)(), getattr(examples, example)()
    assert first is not second
    assert first.outputs == second.outputs == built.outputs
    assert first.inputs == built.inputs
    assert first.jacobian().matrix == built.jacobian().matrix


@pytest.mark.parametrize("seed", [0, 1])
def test_small_mlp_is_seeded(seed):
    a, b = examples.small_mlp(seed=seed), examples.small_mlp(seed=seed)
    assert [tuple(p.shape) for p in a.parameters()] == [(2, 1), (2,), (2, 2), (2,), (1, 2), (1,)]
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert a(torch.zeros(3, 1)).shape == (3, 1)


def test_small_mlp_seeds_differ_and_are_checked():
    a, b = examples.small_mlp(seed=0), examples.small_mlp(seed=1)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))
    with pytest.raises(TypeError, match=r"seed must be an int, got 0\.5"):
        examples.small_mlp(seed=0.5)
