"""The seed document's examples, ready to use.

* :func:`square`: :math:`f(x) = x^2`, derivative :math:`2x`.
* :func:`quadratic`: :math:`f(x_1, x_2) = x_1^2 + 3 x_1 x_2 + x_2^2`, gradient
  :math:`(2 x_1 + 3 x_2,\\ 3 x_1 + 2 x_2)`.
* :func:`planar`: :math:`f(x_1, x_2) = (x_1^2 + x_2,\\ x_1 + x_2^2)`, Jacobian
  :math:`[[2 x_1, 1], [1, 2 x_2]]`.
* :func:`small_mlp`: the seed's ``[1, 2, 2, 1]`` tanh network ``SmallMLP``.

>>> from symjac import examples
>>> examples.square().jacobian().matrix
Matrix([[2*x]])
"""

from __future__ import annotations

from typing import Any

from symjac.maps import VectorMap

__all__ = ["planar", "quadratic", "small_mlp", "square"]


def square() -> VectorMap:
    """:math:`f(x) = x^2`, whose derivative is :math:`2x`.

    >>> square().jacobian().at([3])
    Matrix([[6]])
    """
    return VectorMap("x**2", "x", name="f")


def quadratic() -> VectorMap:
    """:math:`f(x_1, x_2) = x_1^2 + 3 x_1 x_2 + x_2^2`, a scalar map of two variables.

    >>> quadratic().gradient().at([1, 1]).T
    Matrix([[5, 5]])
    """
    return VectorMap("x1**2 + 3*x1*x2 + x2**2", ["x1", "x2"], name="f")


def planar() -> VectorMap:
    """:math:`f(x_1, x_2) = (x_1^2 + x_2, x_1 + x_2^2)`, a map from the plane to the plane.

    >>> planar().jacobian().matrix
    Matrix([
    [2*x1,    1],
    [   1, 2*x2]])
    """
    return VectorMap(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"], name="f")


def small_mlp(seed: int = 0) -> Any:
    """The seed document's ``SmallMLP``: ``Linear(1, 2)``, ``Linear(2, 2)``, ``Linear(2, 1)``,
    ``torch.tanh`` after the first two, built right after ``torch.manual_seed(seed)``.

    Its ``forward`` is the seed's own: ``a = act(l1(x)); b = act(l2(a)); p = l3(b)``.

    >>> model = small_mlp(seed=0)
    >>> [tuple(p.shape) for p in model.parameters()]
    [(2, 1), (2,), (2, 2), (2,), (1, 2), (1,)]
    """
    import torch

    from symjac.torch_interop.small_mlp import SmallMLP

    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    torch.manual_seed(seed)
    return SmallMLP()
