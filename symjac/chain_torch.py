"""The ``"torch"`` path of a compiled network Jacobian (:mod:`symjac.chain_numeric`).

Tensors keep their dtype and device. CPU tensors that do not require grad run the NumPy
chain on their own memory; the rest runs torch operations, with a slope that keeps its
gradient finite at saturation (NOTE: tanh-slope in symjac.chain_numeric).

>>> import symjac, torch
>>> net = symjac.mlp([2, 3, 1], weights=[[[1, 0], [0, 1], [1, 1]], [[1, 1, 1]]])
>>> fn = net.numeric("torch")
>>> fn(torch.zeros(4, 2, dtype=torch.float32)).dtype
torch.float32
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symjac.chain_numeric import Layout, NumpyChain
from symjac.kernels import activation_kind, elementwise_acts, kernel_labels

__all__ = ["TorchChain"]

#: float32 CPU tensors with more coordinates than this are computed in float32: the float32
#: chain measured no slower from 16 points and 1.5-2.6x faster at 1000 (A, B and C of
#: benchmarks/run.py); below, both cost the per-call overhead, and float64 rounds better
_F32_NUMPY = 256


class TorchChain:
    """The ``"torch"`` path: keeps the input tensor's dtype and device. CPU tensors that do
    not require grad run the :class:`NumpyChain` on their own memory (faster than torch's
    per-operation dispatch); the rest runs torch operations (NOTE: tanh-slope).

    >>> import symjac, torch
    >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], biases=False, activation="identity")
    >>> TorchChain(net, "reverse", Layout(1, 1, ("x1",)))(torch.ones(2, 1)).shape
    torch.Size([2, 1, 1])
    """

    def __init__(self, network: Any, order: str, layout: Layout):
        import torch

        self._torch_module = torch
        self.layout = layout
        self.n_in, self.n_out = layout.n_in, layout.n_out
        self.order = order
        kinds = [activation_kind(layer.activation) for layer in network.layers]
        # the generic activations compiled for torch, also on the NumPy chain's blocks
        self.acts = elementwise_acts(network, kinds, "torch")
        self.numpy = NumpyChain(network, order, self.acts, layout)
        self.kinds = self.numpy.kinds
        self._torch_cache: dict[Any, Any] = {}

    def kernels(self) -> dict[str, str]:
        """The kernels of the float64 and float32 blocks (NOTE: kernels).

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], output_activation="tanh")
        >>> list(TorchChain(net, "reverse", Layout(1, 1, ("x1",))).kernels())
        ['tanh/float64', 'tanh/float32']
        """
        return kernel_labels(self.kinds, ("float64", "float32"))

    def _torch_params(self, dtype: Any, device: Any) -> list[Any]:
        chain = self.numpy
        key = (dtype, device)
        params = self._torch_cache.get(key)
        if params is None:
            import torch

            def conv(a: np.ndarray | None) -> Any:
                return None if a is None else torch.as_tensor(a, dtype=dtype, device=device)

            params = [
                (conv(w), conv(wt), conv(b))
                for w, wt, b in zip(chain.weights, chain.weights_t, chain.biases)
            ]
            self._torch_cache[key] = params
        return params

    def __call__(self, points: Any) -> Any:
        torch = self._torch_module
        chain = self.numpy
        if (
            type(points) is torch.Tensor
            and chain.lean is not None
            and not points.requires_grad
            and points.is_cpu
            and points.shape in chain.one_shapes
        ):
            # one CPU point (NOTE: one-point): float64 math on the tensor's memory, the
            # result converted to the tensor's dtype in NumPy (cheaper than Tensor.to)
            dtype = points.dtype
            if dtype is torch.float64 or dtype is torch.float32:
                # a Python list, then a float64 array: cheaper than Tensor.numpy() + astype
                values = points.tolist()
                if len(points.shape) == 2:
                    values = values[0]
                out = chain.one_point(np.array(values), values)
                if dtype is torch.float32:
                    out = out.astype(np.float32)
                if len(points.shape) == 2:
                    out = out.reshape(1, self.n_out, self.n_in)
                return torch.from_numpy(out)
        if type(points) is not torch.Tensor and not isinstance(points, torch.Tensor):
            points = torch.as_tensor(np.asarray(points, dtype=np.float64))
        dtype = points.dtype
        if (
            dtype is not torch.float64
            and dtype is not torch.float32
            and not points.is_floating_point()
        ):
            raise TypeError(
                f"expected a floating-point tensor, got {points.dtype}; convert it first, "
                "e.g. x.to(torch.float64)"
            )
        shape = points.shape
        if not shape or shape[-1] != self.n_in:
            raise self.layout.error(tuple(shape))
        if (
            (dtype is torch.float64 or dtype is torch.float32)
            and points.device.type == "cpu"
            and not points.requires_grad
        ):
            # on the CPU the NumPy chain, run on the tensor's own memory, beats torch's
            # per-operation dispatch; small batches compute in float64 and get the tensor's
            # dtype back
            x = points.numpy()
            if dtype is torch.float32 and points.numel() > _F32_NUMPY:
                # a large float32 batch: the same chain in float32 (half the memory traffic)
                x2 = x.reshape(-1, self.n_in)
                with np.errstate(all="ignore"):
                    out = chain.batched(x2, x2.shape[0])
                return torch.from_numpy(out).reshape(*shape[:-1], self.n_out, self.n_in)
            if len(shape) == 2:
                out = chain(x if dtype is torch.float64 else x.astype(np.float64))
            else:
                out = chain(x.astype(np.float64, copy=False))
            result = torch.from_numpy(out)
            return result if dtype is torch.float64 else result.to(dtype)
        batch = shape[:-1]
        n = 1
        for d in batch:
            n *= d
        x = points.reshape(n, self.n_in)
        params = self._torch_params(points.dtype, points.device)
        with torch.no_grad() if not points.requires_grad else _nullcontext():
            out = self._torch(x, n, params)
        return out.reshape(*batch, self.n_out, self.n_in)

    def _torch(self, x: Any, n: int, params: list[Any]) -> Any:
        import torch

        slopes = []
        a = x
        last = len(params) - 1
        for k, ((_, wt, b), kind) in enumerate(zip(params, self.kinds)):
            z = a @ wt if b is None else torch.addmm(b, a, wt)
            if kind == "tanh":
                a = torch.tanh(z)
                # 4e / (1 + e)**2 with e = exp(-2|z|) <= 1: sech(z)**2 with no overflow,
                # so its own gradient stays finite at saturation (NOTE: tanh-slope)
                e = torch.exp(-2.0 * z.abs())
                s = 4.0 * e / (1.0 + e).square()
            elif kind == "identity":
                a, s = z, None
            elif kind == "sigmoid":
                a = torch.sigmoid(z)
                s = a * torch.sigmoid(-z)
            else:
                value, slope = self.acts[k]
                zz = z[..., None]
                s = torch.as_tensor(slope(zz), dtype=z.dtype, device=z.device).expand_as(z)
                a = None if k == last else value(zz)
            slopes.append(s)
        m, n0 = self.n_out, self.n_in
        depth = len(params)
        if self.order == "reverse":
            s = slopes[-1]
            shared = s is None
            r = params[-1][0] if shared else s[:, :, None] * params[-1][0]
            for k in range(depth - 2, -1, -1):
                s = slopes[k]
                if s is not None:
                    if shared:
                        r = r[None, :, :] * s[:, None, :]
                        shared = False
                    else:
                        r = r.reshape(n, m, -1) * s[:, None, :]
                w = params[k][0]
                r = r @ w if shared else r.reshape(n * m, -1) @ w
            if shared:
                return r.expand(n, m, n0).clone()
            return r.reshape(n, m, n0)
        s = slopes[0]
        shared = s is None
        t = params[0][1] if shared else params[0][1][None, :, :] * s[:, None, :]
        for k in range(1, depth):
            wt = params[k][1]
            t = t @ wt if shared else t.reshape(n * n0, -1) @ wt
            s = slopes[k]
            if s is not None:
                if shared:
                    t = t[None, :, :] * s[:, None, :]
                    shared = False
                else:
                    t = t.reshape(n, n0, -1) * s[:, None, :]
        if shared:
            return t.T.expand(n, m, n0).clone()
        t = t.reshape(n, n0, m)
        if m == 1:
            return t.reshape(n, 1, n0)
        return t.transpose(1, 2).contiguous()


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
