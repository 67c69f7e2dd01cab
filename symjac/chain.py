"""Compiled whole-network Jacobians: the chain rule as batched array code.

For a concrete :class:`~symjac.Network` the Jacobian at a batch of points is
``J = J_D ... J_1`` with ``J_l = diag(s_l'(z_l)) W_l`` (NOTE: layer-rule). This
module evaluates that chain with array operations (weights passed as arrays)
instead of scalar code, which is what makes wide networks fast. Each
activation and its SymPy-derived derivative are compiled once through the same
code generator as everything else (NOTE: codegen).

>>> import symjac, numpy as np
>>> net = symjac.mlp([2, 3, 1], weights=[np.ones((3, 2)), np.ones((1, 3))], activation="tanh")
>>> fn = compile_network(net, "numpy")
>>> fn(np.zeros((5, 2))).shape
(5, 1, 2)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import sympy

from symjac.activations import Activation, Z
from symjac.numeric import NumericFunction, compile_exprs

__all__ = ["NetworkFunction", "compile_network"]


@functools.cache
def _elementwise(activation: Activation, backend: str) -> tuple[NumericFunction, NumericFunction]:
    value = compile_exprs([activation.expr], [Z], (), backend)
    slope = compile_exprs([activation.derivative], [Z], (), backend)
    return value, slope


class NetworkFunction:
    """A network's compiled Jacobian: points ``(..., n_in)`` to ``(..., n_out, n_in)``."""

    def __init__(self, network: Any, backend: str):
        self.network = network
        self.backend = backend
        self.n_in = network.sizes[0]
        self.n_out = network.sizes[-1]
        self._weights = [
            np.array(layer.weight.tolist(), dtype=np.float64) for layer in network.layers
        ]
        self._biases = [
            None if layer.bias is None else np.array(layer.bias.tolist(), dtype=np.float64).ravel()
            for layer in network.layers
        ]
        self._acts = [_elementwise(layer.activation, backend) for layer in network.layers]
        self._torch_cache: dict[Any, Any] = {}
        if backend == "mpmath":
            self._mp = network.jacobian().numeric("mpmath")

    def __repr__(self) -> str:
        return f"NetworkFunction({self.backend!r}, sizes={list(self.network.sizes)})"

    def _shape_error(self, shape: tuple[int, ...]) -> ValueError:
        order = ", ".join(s.name for s in self.network.inputs)
        return ValueError(
            f"expected points of shape (..., {self.n_in}) with coordinates in the order ({order}), got shape {shape}"
        )

    def __call__(self, points: Any) -> Any:
        if self.backend == "mpmath":
            return self._mp(points)
        if self.backend == "torch":
            return self._call_torch(points)
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().numpy()
        x = np.asarray(points)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"expected real numbers, got an array of dtype {x.dtype}")
        x = x.astype(np.float64, copy=False)
        if x.ndim == 0 or x.shape[-1] != self.n_in:
            raise self._shape_error(x.shape)
        batch = x.shape[:-1]
        a = x.reshape(-1, self.n_in)
        jac = None
        with np.errstate(all="ignore"):
            for w, b, (act, slope) in zip(self._weights, self._biases, self._acts):
                z = a @ w.T
                if b is not None:
                    z += b
                s = slope(z[..., None])
                a = act(z[..., None])
                layer = s[..., :, None] * w  # (N, out, in)
                jac = layer if jac is None else np.matmul(layer, jac)
        return jac.reshape(*batch, self.n_out, self.n_in)

    def _call_torch(self, points: Any) -> Any:
        import torch

        if not isinstance(points, torch.Tensor):
            points = torch.as_tensor(np.asarray(points, dtype=np.float64))
        if not points.is_floating_point():
            raise TypeError(
                f"expected a floating-point tensor, got {points.dtype}; convert it first, e.g. x.to(torch.float64)"
            )
        if points.ndim == 0 or points.shape[-1] != self.n_in:
            raise self._shape_error(tuple(points.shape))
        key = (points.dtype, points.device)
        if key not in self._torch_cache:
            self._torch_cache[key] = [
                (
                    torch.as_tensor(w, dtype=points.dtype, device=points.device),
                    None
                    if b is None
                    else torch.as_tensor(b, dtype=points.dtype, device=points.device),
                )
                for w, b in zip(self._weights, self._biases)
            ]
        batch = points.shape[:-1]
        a = points.reshape(-1, self.n_in)
        jac = None
        for (w, b), (act, slope) in zip(self._torch_cache[key], self._acts):
            z = a @ w.T
            if b is not None:
                z = z + b
            s = slope(z[..., None])
            a = act(z[..., None])
            layer = s[..., :, None] * w
            jac = layer if jac is None else torch.matmul(layer, jac)
        return jac.reshape(*batch, self.n_out, self.n_in)


def compile_network(network: Any, backend: str = "numpy") -> NetworkFunction:
    """Compile a concrete network's whole Jacobian for ``backend`` (numpy, torch or mpmath).

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], biases=False, activation="identity")
    >>> compile_network(net)([[1.0]]).tolist()
    [[[2.0]]]
    """
    if backend not in ("numpy", "torch", "mpmath"):
        raise ValueError(f"unknown backend {backend!r}; choose one of numpy, torch, mpmath")
    return NetworkFunction(network, backend)


_ = sympy  # sympy objects flow through network.layers
