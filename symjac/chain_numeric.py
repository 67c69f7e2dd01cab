"""Compiled whole-network Jacobians: the chain rule as batched array code.

For a concrete :class:`~symjac.Network` the Jacobian at a batch of points is
``J = J_D ... J_1`` with ``J_l = diag(s_l'(z_l)) W_l`` (NOTE: layer-rule). This
module evaluates that chain with array operations instead of scalar code:

* the weights are float arrays prepared once, when the function is compiled;
* the product is taken in the cheaper order for the network's shapes, chosen by
  counting multiply-adds (NOTE: chain-order): from the output side (reverse
  mode) when the network narrows, from the input side otherwise;
* every layer of the product is **one** matrix product over the whole batch:
  reverse mode keeps the running product as ``(N * n_out, n_l)`` rows and
  multiplies by ``W_l``; forward mode keeps its transpose as ``(N * n_in, n_l)``
  rows and multiplies by ``W_l^T``. No per-point tiny matrix products;
* ``tanh``, ``sigmoid`` and ``identity`` have hand-specialised slopes in the
  cancellation-free forms of NOTE: stable-rewrites (``tanh' = sech(z)**2``,
  ``sigmoid' = sigmoid(z) sigmoid(-z)``), so saturated units keep their digits;
  every other activation, and its SymPy-derived derivative, is compiled once
  through the same code generator as everything else (NOTE: codegen). The
  specialised slopes are the same formulas SymPy derives; the tests check both
  routes against the exact SymPy Jacobian;
* a layer with the identity activation multiplies by nothing, and an identity
  output layer starts reverse mode from the constant ``W_D``.

Each backend is one small class behind one protocol, :class:`ChainPath`:
:class:`NumpyChain` (float64 arrays, NOTE: blocked-chain and NOTE: one-point),
:class:`TorchChain` (tensors; CPU tensors without grad run the NumPy chain on their
own memory) and :class:`MpmathChain` (the high-precision reference per point).
:class:`NetworkFunction` is what users get: it picks the path and reports it.
The activations' elementwise kernels are in :mod:`symjac.kernels` (NOTE: kernels).

NOTE: chain-order
    With widths ``n_0, ..., n_D``, reverse mode costs about
    ``sum_{l<D} n_D n_l n_{l-1}`` multiply-adds per point and forward mode
    ``sum_{l>1} n_0 n_l n_{l-1}``; forward mode also pays a final transpose of
    ``n_D n_0`` entries. :func:`chain_costs` computes both and ``"auto"``
    takes the cheaper (reverse on ties).

>>> import symjac, numpy as np
>>> net = symjac.mlp([2, 3, 1], weights=[np.ones((3, 2)), np.ones((1, 3))], activation="tanh")
>>> fn = compile_network(net, "numpy")
>>> fn(np.zeros((5, 2))).shape
(5, 1, 2)
>>> fn.order
'reverse'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from symjac.kernels import activation_kind, elementwise_acts, kernel_for, kernel_labels, matmul

__all__ = [
    "ChainPath",
    "Layout",
    "MpmathChain",
    "NetworkFunction",
    "NumpyChain",
    "chain_costs",
    "compile_network",
]

_ORDERS = ("auto", "forward", "reverse")
# NOTE: tanh-slope
#     The compiled NumPy chain (batched and single point) takes tanh'(z) = sech(z)**2 as
#     2 / (1 + cosh(2z)). 1 - tanh(z)**2 cancels where tanh
#     saturates (NOTE: stable-rewrites in symjac.numeric); 1 / cosh(z)**2 does not, but
#     squaring doubles cosh's rounding error (about 2 ulps). 2z is exact, 1 + cosh(2z) adds
#     half an ulp, the division another: measured against an 80-bit evaluation of 1e5
#     points on the benchmark networks, the Jacobian's error fell from 8.1e-16 to 6.0e-16
#     of max|J| (width 4) and 3.8e-15 to 3.0e-15 (width 32), below torch's (1 - y**2) float64
#     jacrev on both, at the same cost. Where the chain divides instead (one-row products),
#     the divisor is cosh(z)**2 = (1 + cosh(2z)) / 2, scaled exactly; at one point (NOTE:
#     one-point) it divides by 1 + cosh(2z) and multiplies by the doubled weights 2 W, which
#     gives the same bits (scaling by 2 commutes with rounding, subnormals aside) one
#     operation sooner. The torch-operations chain (tensors that require grad, other
#     devices) uses 4e / (1 + e)**2 with e = exp(-2|z|): cosh(2z) overflows for |z| > 355,
#     and its backward would then multiply inf by 0 (NaN gradients); e cannot overflow.

#: weights, transposed weights, column biases (or None) in one dtype
_Arrays = tuple[list[np.ndarray], list[np.ndarray], list["np.ndarray | None"]]
#: bytes of per-point intermediates in one block of the batched chain (NOTE: blocked-chain)
_BLOCK_BYTES = 2**22
_MIN_BLOCK = 256


def chain_costs(sizes: Sequence[int]) -> dict[str, int]:
    """Multiply-adds per point of the chain product in each order (NOTE: chain-order).

    >>> chain_costs([4, 32, 32, 32, 32, 1])
    {'forward': 12932, 'reverse': 3360}
    """
    n_in, n_out = sizes[0], sizes[-1]
    depth = len(sizes) - 1
    forward = sum(n_in * sizes[k] * sizes[k - 1] + n_in * sizes[k] for k in range(2, depth + 1))
    forward += n_in * sizes[1] + (n_out * n_in if n_out > 1 else 0)
    reverse = sum(n_out * sizes[k] * sizes[k - 1] + n_out * sizes[k] for k in range(1, depth))
    reverse += n_out * sizes[depth - 1]
    return {"forward": forward, "reverse": reverse}


class Layout(NamedTuple):
    """The shape of a network's Jacobian, shared by the paths: ``n_in`` inputs named
    ``names`` (in order), ``n_out`` outputs.

    >>> Layout(2, 1, ("x1", "x2")).error((3,))
    ValueError('expected points of shape (..., 2) with coordinates in the order (x1, x2), got shape (3,)')
    """

    n_in: int
    n_out: int
    names: tuple[str, ...]

    def error(self, shape: tuple[int, ...]) -> ValueError:
        """The error for points of the wrong ``shape``."""
        return ValueError(
            f"expected points of shape (..., {self.n_in}) with coordinates in the order "
            f"({', '.join(self.names)}), got shape {shape}"
        )


class ChainPath(Protocol):
    """One backend's compiled chain: points ``(..., n_in)`` to Jacobians ``(..., n_out, n_in)``.

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], biases=False, activation="identity")
    >>> isinstance(compile_network(net).path, NumpyChain)
    True
    """

    def __call__(self, points: Any) -> Any: ...

    def kernels(self) -> dict[str, str]:
        """Which kernels compute each activation's values and slopes, per dtype (NOTE: kernels)."""
        ...


class MpmathChain:
    """The ``"mpmath"`` path: one linear high-precision pass per point (NOTE: mp-reference),
    by ``reference(point).whole`` (the network's :meth:`~symjac.Network.reference`).

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=False, activation="identity")
    >>> MpmathChain(net.reference, Layout(1, 1, ("x1",)))([[0.5]])[0, 0, 0]
    mpf('2.0')
    """

    def __init__(self, reference: Callable[[list[Any]], Any], layout: Layout):
        self.reference = reference
        self.layout = layout
        self.n_in, self.n_out = layout.n_in, layout.n_out

    def __call__(self, points: Any) -> np.ndarray:
        # one linear high-precision pass per point (NOTE: mp-reference), never the symbolic tree
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().double().numpy()
        arr = np.asarray(points, dtype=object)
        if arr.ndim == 0 or arr.shape[-1] != self.n_in:
            raise self.layout.error(arr.shape)
        flat = arr.reshape(-1, self.n_in)
        out = np.empty((flat.shape[0], self.n_out, self.n_in), dtype=object)
        for k, point in enumerate(flat):
            out[k] = self.reference(list(point)).whole
        return out.reshape(*arr.shape[:-1], self.n_out, self.n_in)

    def kernels(self) -> dict[str, str]:
        """None: mpmath evaluates every activation itself.

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=False)
        >>> MpmathChain(net.reference, Layout(1, 1, ("x1",))).kernels()
        {}
        """
        return {}


class NumpyChain:
    """The ``"numpy"`` path, float64 (also what :class:`~symjac.chain_torch.TorchChain` runs on CPU tensors):
    one point by the lean path (NOTE: one-point), batches in cache-sized blocks with the
    points last (NOTE: blocked-chain). ``acts`` are the compiled value/slope pairs of the
    layers without a specialised kernel.

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], biases=False, activation="identity")
    >>> chain = NumpyChain(net, "reverse", [None], Layout(1, 1, ("x1",)))
    >>> chain([[1.0], [3.0]]).tolist()
    [[[2.0]], [[2.0]]]
    """

    def __init__(self, network: Any, order: str, acts: list[Any], layout: Layout):
        self.layout = layout
        self.n_in, self.n_out = layout.n_in, layout.n_out
        self.order = order
        arrays = [layer.arrays() for layer in network.layers]  # NOTE: lazy-weights
        self.weights = [np.ascontiguousarray(w) for w, _ in arrays]
        self.weights_t = [np.ascontiguousarray(w.T) for w in self.weights]
        biases = [b for _, b in arrays]
        if all(b is not None and not b.any() for b in biases):
            self.biases = [None] * len(biases)
        else:
            self.biases = [None if b is None or not b.any() else b for b in biases]
        # weights, transposed weights and column biases per dtype: a float64 bias added to
        # a float32 block would take NumPy's slow mixed-type path
        self._by_dtype: dict[Any, _Arrays] = {}
        self.kinds = [activation_kind(layer.activation) for layer in network.layers]
        self.acts = acts
        self._plan_one_point()
        # a one-row running product (one output in reverse mode, one input in forward
        # mode) is no bigger than a slope: dividing it by cosh(z)**2 saves a division
        single = (self.n_out if self.order == "reverse" else self.n_in) == 1
        self._batch_divide = [single and kind == "tanh" for kind in self.kinds]
        # a layer's value feeds only the next layer's z, which an identity output layer
        # does not need (its slope is 1): the last hidden layer's value is then skipped
        last = len(self.kinds) - 1
        self._batch_value = [
            k < last and (k + 1 < last or self.kinds[last] != "identity")
            for k in range(len(self.kinds))
        ]
        # points per block of the batched chain (NOTE: blocked-chain): every per-point
        # intermediate (values, slopes, the running product) of a block fits in the cache
        sizes = tuple(network.sizes)
        running = max(
            (self.n_out if self.order == "reverse" else self.n_in) * width for width in sizes
        )
        self.block_coords = _BLOCK_BYTES // (8 * (2 * sum(sizes[1:]) + 2 * running))

    def _plan_one_point(self) -> None:
        # the lean single-point path (NOTE: one-point): specialised activations only
        self.lean = None
        if "generic" not in self.kinds:
            # (W, b, kind, whether the value feeds a later layer); reverse mode never
            # evaluates an identity output layer
            depth = len(self.kinds)
            skip = self.order == "reverse" and self.kinds[-1] == "identity"
            used = depth - 1 if skip else depth
            self.lean = [
                (self.weights[k], self.biases[k], self.kinds[k], k + 1 < used) for k in range(used)
            ]
        self._lean_divide = [kind == "tanh" for kind in self.kinds]
        # the single-point chain divides by 1 + cosh(2z) = 2 cosh(z)**2 and multiplies by the
        # doubled weights: the bits of dividing by cosh(z)**2 (NOTE: tanh-slope)
        self._lean_ws = [
            2.0 * w if divide else w for w, divide in zip(self.weights, self._lean_divide)
        ]
        self._lean_wts = [np.ascontiguousarray(w.T) for w in self._lean_ws]
        self.one_shapes = ((self.n_in,), (1, self.n_in))
        self._x_limit = self._lean_input_limit() if self.lean is not None else -1.0

    def kernels(self) -> dict[str, str]:
        """The kernels of the float64 blocks (NOTE: kernels).

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], output_activation="sigmoid")
        >>> list(NumpyChain(net, "reverse", [None], Layout(1, 1, ("x1",))).kernels())
        ['sigmoid/float64']
        """
        return kernel_labels(self.kinds, ("float64",))

    def __call__(self, points: Any) -> np.ndarray:
        if type(points) is np.ndarray and points.dtype == np.float64:
            x = points
        else:
            x = self._numpy_input(points)
        shape = x.shape
        if self.lean is not None and shape in self.one_shapes:
            out = self.one_point(x.reshape(self.n_in))
            return out if len(shape) == 1 else out.reshape(1, self.n_out, self.n_in)
        if len(shape) == 2 and shape[1] == self.n_in:
            with np.errstate(all="ignore"):
                return self.batched(x, shape[0])
        if not shape or shape[-1] != self.n_in:
            raise self.layout.error(shape)
        batch = shape[:-1]
        with np.errstate(all="ignore"):
            out = self.batched(x.reshape(-1, self.n_in), int(np.prod(batch, dtype=np.int64)))
        return out.reshape(*batch, self.n_out, self.n_in)

    def _numpy_input(self, points: Any) -> np.ndarray:
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().numpy()
        x = np.asarray(points)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"expected real numbers, got an array of dtype {x.dtype}")
        return x.astype(np.float64, copy=False)

    def _arrays(self, dtype: Any) -> _Arrays:
        arrays = self._by_dtype.get(dtype)
        if arrays is None:
            arrays = (
                [w.astype(dtype) for w in self.weights],
                [w.astype(dtype) for w in self.weights_t],
                [None if b is None else b.astype(dtype)[:, None] for b in self.biases],
            )
            self._by_dtype[dtype] = arrays
        return arrays

    def _value_arrays(self, dtype: Any) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        arrays = self._by_dtype.get(("values", dtype))
        if arrays is None:
            ws, _, bs = self._arrays(dtype)
            scale = [2.0 if kind == "tanh" else 1.0 for kind in self.kinds]
            arrays = (
                [w * c if c != 1.0 else w for w, c in zip(ws, scale)],
                [None if b is None else (b * c if c != 1.0 else b) for b, c in zip(bs, scale)],
            )
            self._by_dtype[("values", dtype)] = arrays
        return arrays

    def _values(self, x: np.ndarray) -> list[np.ndarray | None]:
        """Forward pass over points ``x`` ``(n, n_in)``; each layer's slope ``s_l'(z_l)``.

        The slopes come back points-last, ``(n_l, n)`` (NOTE: blocked-chain); ``None``
        for an identity layer; ``cosh(z)**2``, the slope's reciprocal, where
        ``_batch_divide`` says the chain divides. The last layer's value is never needed, nor
        the last hidden layer's before an identity output (``_batch_value``).
        """
        slopes: list[np.ndarray | None] = []
        dtype = x.dtype
        # tanh layers get 2 W and 2 b: their kernels take u = 2z, exactly (NOTE: kernels)
        weights, biases = self._value_arrays(dtype)
        last = len(weights) - 1
        a = x.T
        for k, (w, b, kind) in enumerate(zip(weights, biases, self.kinds)):
            if kind == "identity":
                slopes.append(None)
                if k < last:
                    a = matmul(w, a)
                    if b is not None:
                        a += b
                continue
            z = matmul(w, a)  # NOTE: chain-matmul
            if kind == "tanh" or kind == "sigmoid":
                # the value and the slope (or, with _batch_divide, the slope's reciprocal)
                # by the kernels measured fastest here (NOTE: kernels), the bias added there
                kernel = kernel_for(kind, dtype, z.size)
                a, s = kernel(z, self._batch_value[k], self._batch_divide[k], b)
            else:
                if b is not None:
                    z += b
                value, slope = self.acts[k]
                zz = z[..., None]
                s = np.asarray(slope(zz), dtype=dtype)
                if s.shape != z.shape:
                    s = np.broadcast_to(s, z.shape)
                a = np.asarray(value(zz), dtype=dtype) if self._batch_value[k] else None
            slopes.append(s)
        return slopes

    def _lean_input_limit(self) -> float:
        """Below which ``max|x|`` the single-point path can neither overflow nor warn.

        Bounds ``|z_l| <= alpha * max|x| + beta`` through the layers (``|tanh|``,
        ``|sigmoid| <= 1``); with every ``|z| < 300``, ``cosh(2z) < e**600`` is
        finite, and with the product of the weights' absolute sums below ``1e300`` the
        chain stays finite too. Then :meth:`_one` needs no ``np.errstate`` (about 1 µs).
        Returns -1 when no input qualifies or the input is too long to check cheaply.
        """
        if self.n_in > 32:
            return -1.0
        bound = 300.0
        alpha, beta, limit, chain = 1.0, 0.0, float("inf"), 1.0
        for w, b, kind, _ in self.lean:
            k = float(np.abs(w).sum(axis=1).max()) if w.size else 0.0
            chain *= max(float(np.abs(w).sum()), 1.0)
            alpha, beta = k * alpha, k * beta + (0.0 if b is None else float(np.abs(b).max()))
            if beta >= bound:
                return -1.0
            if alpha > 0:
                limit = min(limit, (bound - beta) / alpha)
            if kind != "identity":
                alpha, beta = 0.0, 1.0
        chain *= max(float(np.abs(self.weights[-1]).sum()), 1.0)
        return limit if chain < 1e300 and np.isfinite(chain) else -1.0

    def one_point(self, x: np.ndarray, values: list[float] | None = None) -> np.ndarray:
        """:meth:`_one` under ``np.errstate`` unless the input's size rules out overflow.

        ``values`` is ``x.tolist()`` when the caller already has it.
        """
        # a NaN makes the comparison False: the guarded route
        if values is None:
            values = x.tolist()
        if self._x_limit >= 0 and max(map(abs, values)) <= self._x_limit:
            return self._one(x)
        with np.errstate(all="ignore"):
            return self._one(x)

    def _one(self, x: np.ndarray) -> np.ndarray:
        """The Jacobian ``(n_out, n_in)`` at one float64 point ``x`` of shape ``(n_in,)``.

        NOTE: one-point
            At a single point NumPy's per-call overhead is the whole cost, so this path
            does the fewest array operations: matrix-vector ``ndarray.dot`` (not the
            ``matmul`` ufunc, about 1 µs slower per call), no batch axes or reshapes, no
            value for an identity output layer in reverse mode, in-place updates. The
            formulas, and their order of operations, are those of :meth:`_values` and
            :meth:`batched`, so the result agrees with the batched path to rounding. The
            caller holds ``np.errstate(all="ignore")`` (``cosh(2z)`` overflows to
            ``inf`` for ``|z| > 355``, where dividing by it gives 0, the slope
            ``sech(z)**2 < 2e-308`` flushed to zero) unless
            :meth:`_lean_input_limit` shows that nothing can overflow.
        """
        reverse = self.order == "reverse"
        slopes: list[np.ndarray | None] = []
        a = x
        cosh, tanh = np.cosh, np.tanh
        for w, b, kind, value in self.lean:
            z = w.dot(a)
            if b is not None:
                z += b
            if kind == "tanh":
                # kept as the divisor 1 + cosh(2z) = 2 cosh(z)**2 (NOTE: tanh-slope); the
                # chain divides by it and multiplies by the doubled weights
                s = z + z
                cosh(s, out=s)
                s += 1.0
                if value:
                    a = tanh(z, out=z)
            elif kind == "identity":
                a, s = z, None
            else:  # sigmoid: e / (1 + e)**2 with e = exp(-|z|)
                e = np.exp(-np.abs(z))
                d = 1.0 + e
                if value:
                    a = np.where(z >= 0, 1.0, e) / d
                s = e / (d * d)
            slopes.append(s)
        if len(slopes) < len(self.weights):
            slopes.append(None)  # the identity output layer, not evaluated
        last = len(slopes) - 1
        divide = self._lean_divide
        if reverse:
            ws = self._lean_ws
            # one output: the running product is a row vector, kept 1-D (no broadcasting)
            top = ws[-1][0] if self.n_out == 1 else ws[-1]
            s = slopes[-1]
            if s is None:
                r = top
            else:
                s = s[:, None] if self.n_out > 1 else s
                r = top / s if divide[last] else top * s
            for k in range(last - 1, -1, -1):
                s = slopes[k]
                if s is not None:
                    if r is top:
                        r = r / s if divide[k] else r * s
                    elif divide[k]:
                        r /= s
                    else:
                        r *= s
                r = r.dot(ws[k])
            if r is top:
                r = r.copy()
            return r.reshape(1, -1) if self.n_out == 1 else r
        wts = self._lean_wts
        s = slopes[0]
        t = wts[0] if s is None else wts[0] / s if divide[0] else wts[0] * s
        for k in range(1, last + 1):
            t = t.dot(wts[k])
            s = slopes[k]
            if s is not None:
                if divide[k]:
                    t /= s
                else:
                    t *= s
        return t.T.copy()

    def batched(self, x: np.ndarray, n: int) -> np.ndarray:
        # float64 for the numpy backend; float32 when a large float32 tensor asks for it
        out = np.empty((n, self.n_out, self.n_in), dtype=x.dtype)
        step = max(_MIN_BLOCK, self.block_coords * 8 // x.dtype.itemsize)
        for i in range(0, n, step):
            j = min(i + step, n)
            self._numpy_block(x[i:j], out[i:j])
        return out

    def _numpy_block(self, x: np.ndarray, out: np.ndarray) -> None:
        """The Jacobians at points ``x`` ``(n, n_in)``, written to ``out`` ``(n, n_out, n_in)``.

        NOTE: blocked-chain
            Two choices make the batched chain fast. Blocks: one pass over the whole batch
            per operation would stream every intermediate (a 13 MB running product on a
            width-4 net at N = 1e5) through main memory several times per layer, so
            :meth:`batched` feeds points in blocks whose intermediates fit in the cache.
            Points last: the running product is laid out ``(m, n_l, n)`` (reverse) or
            ``(n0, n_l, n)`` (forward), so the slope scaling ``diag(s'(z))`` is an
            elementwise product whose inner loop runs over the block's points (with points
            first it would run over a handful of columns, and NumPy's per-loop overhead
            dominated: measured 2x on a width-4 net), and each layer's product is a stack
            of GEMMs ``(n_l, n_(l-1)) @ (n_(l-1), n)``. In reverse mode the last GEMMs
            write straight into ``out``, seen as ``(m, n, n0)``. The arithmetic per point
            is the same as at one point (NOTE: one-point); BLAS may order a sum
            differently (a few ulps).
        """
        ws, wts, _ = self._arrays(x.dtype)
        slopes = self._values(x)
        depth = len(ws)
        ops = [np.divide if d else np.multiply for d in self._batch_divide]
        if self.order == "reverse":
            # R = J_D ... J_l, points last: (m, n_{l-1}, n); ``shared`` while no slope has
            # entered yet (then R is one matrix (m, n_{l-1}) for every point)
            r: np.ndarray = ws[-1]
            shared = True
            for k in range(depth - 1, -1, -1):
                s = slopes[k]
                if s is not None:
                    op = ops[k]
                    if k == depth - 1:  # diag(s_D) W_D: the slope scales R's rows
                        r = op(r[:, :, None], s[:, None, :])
                    elif shared:  # R diag(s_k): the slope scales R's columns
                        r = op(r[:, :, None], s[None, :, :])
                    else:
                        op(r, s[None, :, :], out=r)
                    shared = False
                if k == depth - 1:
                    continue  # W_D is already in R
                if shared:
                    r = r @ ws[k]
                elif k == 0:
                    # the last product, (m, n, n0), lands in ``out`` seen as (m, n, n0): each
                    # of its m GEMMs writes rows m * n0 apart, no copy (measured 3x faster
                    # than a product followed by a transposing copy)
                    matmul(r.transpose(0, 2, 1), ws[0], out=out.transpose(1, 0, 2))
                    return
                else:
                    r = matmul(wts[k], r)
            if shared:
                out[...] = r
            else:  # one layer: R = J_1 as (m, n0, n)
                np.copyto(out, r.transpose(2, 0, 1))
            return
        # forward: F = J_l ... J_1, points last: (n0, n_l, n)
        f: np.ndarray = ws[0]
        shared = True
        for k in range(depth):
            if k:
                f = ws[k] @ f if shared else matmul(ws[k], f)
            s = slopes[k]
            if s is not None:
                if shared:
                    f = ops[k](f.T[:, :, None], s[None, :, :])
                    shared = False
                else:
                    ops[k](f, s[None, :, :], out=f)
        if shared:
            out[...] = f
        else:
            np.copyto(out, f.transpose(2, 1, 0))


class NetworkFunction:
    """A network's compiled Jacobian: points ``(..., n_in)`` to ``(..., n_out, n_in)``.

    ``order`` is ``"forward"`` or ``"reverse"`` (the order the chain is
    multiplied in; ``"auto"`` at compile time picks the cheaper, NOTE:
    chain-order). The ``"numpy"`` backend computes in float64; ``"torch"``
    keeps the input tensor's dtype and device. ``path`` is the backend's
    :class:`ChainPath` that does the work.

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], biases=False, activation="identity")
    >>> NetworkFunction(net, "numpy")
    NetworkFunction('numpy', sizes=[1, 1], order='reverse')
    """

    def __init__(self, network: Any, backend: str, order: str = "auto"):
        if order not in _ORDERS:
            raise ValueError(f"unknown order {order!r}; choose one of {', '.join(_ORDERS)}")
        self.network = network
        self.backend = backend
        self.sizes = tuple(network.sizes)
        self.n_in = self.sizes[0]
        self.n_out = self.sizes[-1]
        self.costs = chain_costs(self.sizes)
        if order == "auto":
            order = "forward" if self.costs["forward"] < self.costs["reverse"] else "reverse"
        self.order = order
        layout = Layout(self.n_in, self.n_out, tuple(s.name for s in network.inputs))
        self.path: ChainPath
        if backend == "numpy":
            kinds = [activation_kind(layer.activation) for layer in network.layers]
            acts = elementwise_acts(network, kinds, "numpy")
            self.path = NumpyChain(network, order, acts, layout)
        elif backend == "torch":
            from symjac.chain_torch import TorchChain

            self.path = TorchChain(network, order, layout)
        else:
            self.path = MpmathChain(network.reference, layout)
        self._call = self.path.__call__

    def __repr__(self) -> str:
        kernels = self.kernels
        shown = f", kernels={kernels}" if kernels else ""
        return (
            f"NetworkFunction({self.backend!r}, sizes={list(self.sizes)}, "
            f"order={self.order!r}{shown})"
        )

    @property
    def kernels(self) -> dict[str, str]:
        """Which kernels compute each activation's values and slopes, per dtype (NOTE: kernels).

        ``"numpy"``: ``np.tanh`` and ``2 / (1 + np.cosh(2z))``; ``"numpy-exp"`` and
        ``"torch-exp"``: the same quantities from one exponential, by ``np.exp`` or by
        torch's CPU kernel on the same memory; ``"compiled"``: both in one C loop built
        for this CPU (NOTE: native kernels). The choice is measured once per process;
        when small blocks are faster with other kernels the entry names both and the
        crossover. One point always takes the lean NumPy path (NOTE: one-point), and
        tensors that require grad or live on other devices use torch operations.

        >>> import symjac, numpy as np
        >>> fn = symjac.mlp([2, 3, 1], weights=[np.ones((3, 2)), np.ones((1, 3))]).numeric()
        >>> list(fn.kernels)
        ['tanh/float64']
        """
        return self.path.kernels()

    def __call__(self, points: Any) -> Any:
        return self._call(points)

    def _numpy(self, x: np.ndarray, n: int) -> np.ndarray:
        # the batched NumPy chain in x's own dtype (benchmarks/run.py: its 80-bit reference)
        return getattr(self.path, "numpy", self.path).batched(x, n)


def compile_network(
    network: Any, backend: str = "numpy", *, order: str = "auto"
) -> NetworkFunction:
    """Compile a concrete network's whole Jacobian for ``backend`` (numpy, torch or mpmath).

    ``order`` picks how the chain is multiplied: ``"auto"`` (the cheaper, NOTE:
    chain-order), ``"forward"`` or ``"reverse"``; the values agree to rounding.

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2.0]]], biases=False, activation="identity")
    >>> compile_network(net)([[1.0]]).tolist()
    [[[2.0]]]
    """
    if backend not in ("numpy", "torch", "mpmath"):
        raise ValueError(f"unknown backend {backend!r}; choose one of numpy, torch, mpmath")
    return NetworkFunction(network, backend, order)
