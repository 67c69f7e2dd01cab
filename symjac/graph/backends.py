"""Array namespaces the graph's primitive rules run on: one rule, four number systems.

NOTE: one-rule-four-backends
    Every primitive of :mod:`symjac.graph.primitives` is written once, as a
    forward-mode rule over arrays (a value and its tangent). The rule only uses
    ``+ - * / @``, indexing, ``reshape`` and the few methods of :class:`Ops`, so
    the same code computes

    * ``NumpyOps``: float64 NumPy arrays, the compiled batched Jacobian;
    * ``TorchOps``: torch tensors in the caller's dtype and device;
    * ``MpOps``: NumPy object arrays of mpmath numbers at ``digits`` digits,
      the exact reference (weights enter as the exact binary values they hold);
    * ``SympyOps``: NumPy object arrays of SymPy expressions, the symbolic
      model (weights as exact rationals).

    There is no second implementation of any derivative to drift from the first:
    what the docs, the compiled function, the reference and the symbolic
    Jacobian compute is one table entry read four ways.

>>> import numpy as np
>>> from symjac.activations import get_activation
>>> value, slope = NumpyOps().elementwise(get_activation("tanh"), np.array([0.0, 1.0]))
>>> slope.round(6).tolist()
[1.0, 0.419974]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np
import sympy

from symjac.activations import Activation, Z

__all__ = ["MpOps", "NumpyOps", "Ops", "SympyOps", "TorchOps"]


class Ops:
    """The operations a primitive rule may use beyond array arithmetic (NumPy flavour).

    Subclasses change how constants and elementwise functions are made; NumPy's
    own functions serve float arrays and object arrays (mpmath, SymPy) alike.
    """

    name = "numpy"

    def __init__(self) -> None:
        self._consts: dict[int, Any] = {}

    def const(self, array: np.ndarray) -> Any:
        """A float64 constant (a weight) in this number system, converted once per array."""
        key = id(array)
        if key not in self._consts:
            self._consts[key] = (array, self._convert(array))
        return self._consts[key][1]

    def _convert(self, array: np.ndarray) -> Any:
        return np.asarray(array, dtype=np.float64)

    def number(self, value: float) -> Any:
        """A Python number in this number system."""
        return float(value)

    def cat(self, items: Sequence[Any], axis: int) -> Any:
        return np.concatenate(items, axis=axis)

    def sum(self, a: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        return np.sum(a, axis=axes, keepdims=keepdims)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        return np.zeros(shape)

    def broadcast_to(self, a: Any, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(a, shape)

    def seed(self, n: int, shape: tuple[int, ...], offset: int, width: int) -> Any:
        """The tangent of an input part: identity columns ``offset..offset+size`` of ``width``."""
        size = int(np.prod(shape, dtype=np.int64))
        block = np.zeros((size, width))
        block[np.arange(size), offset + np.arange(size)] = 1.0
        return self.broadcast_to(self._convert(block).reshape(*shape, width), (n, *shape, width))

    def elementwise(self, act: Activation, z: Any) -> tuple[Any, Any]:
        """``(act(z), act'(z))`` elementwise."""
        value, slope = _compiled(act, "numpy")
        return value(z[..., None]), slope(z[..., None])


@functools.cache
def _compiled(act: Activation, backend: str) -> tuple[Any, Any]:
    from symjac.numeric import compile_exprs

    value = compile_exprs([act.expr], [Z], (), backend)
    slope = compile_exprs([act.derivative], [Z], (), backend)
    return value, slope


class NumpyOps(Ops):
    """float64 NumPy arrays (the compiled ``"numpy"`` backend)."""


class TorchOps(Ops):
    """torch tensors of one dtype and device (the compiled ``"torch"`` backend)."""

    name = "torch"

    def __init__(self, dtype: Any, device: Any = None) -> None:
        super().__init__()
        self.dtype, self.device = dtype, device

    def _convert(self, array: np.ndarray) -> Any:
        import torch

        return torch.as_tensor(np.asarray(array), dtype=self.dtype, device=self.device)

    def cat(self, items: Sequence[Any], axis: int) -> Any:
        import torch

        return torch.cat(list(items), dim=axis)

    def sum(self, a: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        return a.sum(dim=axes, keepdim=keepdims)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        import torch

        return torch.zeros(shape, dtype=self.dtype, device=self.device)

    def broadcast_to(self, a: Any, shape: tuple[int, ...]) -> Any:
        return a.broadcast_to(shape)

    def elementwise(self, act: Activation, z: Any) -> tuple[Any, Any]:
        value, slope = _compiled(act, "torch")
        return value(z[..., None]), slope(z[..., None])


class MpOps(Ops):
    """NumPy object arrays of mpmath numbers at ``digits`` digits (the exact reference)."""

    name = "mpmath"

    def __init__(self, digits: int) -> None:
        super().__init__()
        self.digits = digits
        self.ctx = mpmath.MPContext()
        self.ctx.dps = digits + 10  # guard digits

    def _convert(self, array: np.ndarray) -> Any:
        mpf = self.ctx.mpf  # a float converts exactly: it is a binary fraction
        flat = [mpf(float(v)) for v in np.asarray(array, dtype=np.float64).reshape(-1)]
        return np.array([*flat, None], dtype=object)[:-1].reshape(np.shape(array))

    def number(self, value: float) -> Any:
        return self.ctx.mpf(value)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        out = np.empty(shape, dtype=object)
        out.fill(self.ctx.mpf(0))
        return out

    def elementwise(self, act: Activation, z: Any) -> tuple[Any, Any]:
        value, slope = _mp_kernels(act, self.digits)
        with mpmath.workdps(self.ctx.dps):
            return _map(value, z), _map(slope, z)


@functools.cache
def _mp_kernels(act: Activation, digits: int) -> tuple[Any, Any]:
    from symjac.numeric import compile_exprs

    value = compile_exprs([act.expr], [Z], (), "mpmath", digits=digits + 10)
    slope = compile_exprs([act.derivative], [Z], (), "mpmath", digits=digits + 10)
    v, s = value.kernel, slope.kernel
    return (lambda z: v(z)[0]), (lambda z: s(z)[0])


def _map(fn: Any, z: np.ndarray) -> np.ndarray:
    out = np.empty(z.shape, dtype=object)
    flat, src = out.reshape(-1), np.asarray(z, dtype=object).reshape(-1)
    for i, v in enumerate(src):
        flat[i] = fn(v)
    return out


class SympyOps(Ops):
    """NumPy object arrays of SymPy expressions (the symbolic model; weights exact)."""

    name = "sympy"

    def _convert(self, array: np.ndarray) -> Any:
        flat = [sympy.Rational(float(v)) for v in np.asarray(array, dtype=np.float64).ravel()]
        return np.array([*flat, None], dtype=object)[:-1].reshape(np.shape(array))

    def number(self, value: float) -> Any:
        from symjac.variables import exact_number

        return exact_number(value)

    def zeros(self, shape: tuple[int, ...]) -> Any:
        out = np.empty(shape, dtype=object)
        out.fill(sympy.Integer(0))
        return out

    def elementwise(self, act: Activation, z: Any) -> tuple[Any, Any]:
        return _map(act, z), _map(act.prime, z)
