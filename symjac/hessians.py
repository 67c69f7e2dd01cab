r"""Second derivatives: exact Hessians and Laplacians, and Jacobian/Hessian-vector products.

The Hessian of :math:`f: \mathbb{R}^n \to \mathbb{R}^m` is one symmetric
:math:`n \times n` matrix per output, :math:`H_{kij} = \partial^2 f_k / \partial x_i
\partial x_j`, an ``(m, n, n)`` array (the layout of ``torch.func.hessian`` for a vector
output). For a map it comes from SymPy; for a network from its structure.

NOTE: second-order-chain
    A network stage is :math:`s = \sigma(z)`, :math:`z = W a + b`. Carrying each
    stage's value :math:`a`, first derivatives :math:`A = \partial a / \partial x`
    and second derivatives :math:`\mathcal{H} = \partial^2 a / \partial x^2`
    forward, the stage maps them by the second-order chain rule

    .. math::
        Z' = W A, \quad Z'' = W \mathcal{H}, \quad
        A^{+}_{i} = \sigma'(z_i) Z'_i, \quad
        \mathcal{H}^{+}_{i} = \sigma''(z_i)\, Z'_i Z_i'^{\top} + \sigma'(z_i)\, Z''_i .

    Only the per-stage local derivatives :math:`\sigma', \sigma''` are ever
    differentiated, never the composed tree. The same recursion runs on exact
    SymPy numbers (:meth:`Hessian.at`), on mpmath numbers (:meth:`Hessian.reference`),
    on symbols (the symbolic array, size-limited like ``jacobian()``) and on
    batched NumPy or torch arrays (:meth:`Hessian.numeric`, one einsum per stage,
    no symbolic array built). For tanh and sigmoid the slopes use forms without
    cancellation (:math:`\operatorname{sech}^2`, :math:`\sigma(z)\sigma(-z)`).

>>> import symjac
>>> H = symjac.hessian("x1**2 + 3*x1*x2 + x2**2", "x1 x2")
>>> H.array
[[[2, 3], [3, 2]]]
>>> H.laplacian().at({"x1": 0, "x2": 0})
Matrix([[4]])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import Any

import numpy as np
import sympy

from symjac import latex as _latex
from symjac import limits
from symjac.activations import Activation, Z
from symjac.display import DIGITS
from symjac.evaluation import exact_at
from symjac.exceptions import LimitError
from symjac.kernels import kernel_for
from symjac.maps import VectorMap
from symjac.numeric import NumericFunction, compile_exprs
from symjac.variables import exact_point, make_symbols

__all__ = [
    "Hessian",
    "Laplacian",
    "NetworkHessianFunction",
    "hessian",
    "hvp",
    "jvp",
    "laplacian",
    "vjp",
]


# -- per-stage local derivatives -------------------------------------------------------------


@functools.cache
def _local(
    activation: Activation, stable: bool = False
) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """:math:`(\\sigma, \\sigma', \\sigma'')` in ``z``; ``stable``: forms without cancellation
    for numbers (symbolic results keep the activation's own derivative, as ``jacobian()``)."""
    d1 = activation.derivative
    if not stable:
        return activation.expr, d1, sympy.diff(d1, Z)
    if activation.name == "tanh":
        sech2 = sympy.sech(Z) ** 2
        return activation.expr, sech2, -2 * sympy.tanh(Z) * sech2
    if activation.name == "sigmoid":
        s, r = activation.expr, activation.expr.xreplace({Z: -Z})
        return s, s * r, s * r * (r - s)
    return activation.expr, d1, sympy.diff(d1, Z)


@functools.cache
def _local_kernel(activation: Activation, backend: str, digits: int | None = None) -> Any:
    exprs = _local(activation, stable=True)
    return compile_exprs(list(exprs), [Z], (3,), backend, digits=digits)


def _tanh_local(xp: Any, z: Any) -> tuple[Any, Any, Any]:
    if xp is np:
        # the batched chain's kernels (NOTE: kernels in symjac.kernels): tanh and sech^2
        # in one pass from u = 2z, without NumPy's tanh (slow on CPUs without AVX-512)
        u = z + z
        t, e = kernel_for("tanh", u.dtype, u.size)(u, True, False)
    else:  # torch: tensors that require grad, or on other devices (no out= for autograd)
        t = xp.tanh(z)
        # e = exp(-2|z|) in (0, 1]: sech^2 = 4 e / (1 + e)^2, no cancellation
        e = xp.exp(-2.0 * abs(z))
        e = 4.0 * e / (e + 1.0) ** 2
    s2 = t * e
    s2 *= -2.0
    return t, e, s2


def _sigmoid_local(xp: Any, z: Any) -> tuple[Any, Any, Any]:
    # sigma'' = s r (r - s) with r = sigma(-z), and r - s = -tanh(z / 2): no cancellation
    if xp is np:  # as in _tanh_local; tanh(z / 2) is the tanh kernel's value at u = z
        s, s1 = kernel_for("sigmoid", z.dtype, z.size)(z.copy(), True, False)
        half, _ = kernel_for("tanh", z.dtype, z.size)(z.copy(), True, False)
        half *= s1
        np.negative(half, out=half)
        return s, s1, half
    e = xp.exp(-abs(z))
    p = 1.0 / (1.0 + e)
    s, r = xp.where(z >= 0, p, e * p), xp.where(z >= 0, e * p, p)  # sigma(z), sigma(-z)
    s1 = s * r
    return s, s1, -s1 * xp.tanh(0.5 * z)


def _fast_local(activation: Activation) -> Callable[[Any, Any], tuple[Any, Any, Any]] | None:
    """Direct array code for the common activations: each of sigma, sigma', sigma'' once,
    in the same forms without cancellation as :func:`_local` (the generic compiled kernel
    evaluates shared subexpressions once per output)."""
    from symjac.activations import get_activation

    for name, fn in (("tanh", _tanh_local), ("sigmoid", _sigmoid_local)):
        if activation.name == name and activation.expr == get_activation(name).expr:
            return fn
    return None


def _is_identity(activation: Activation) -> bool:
    return activation.name == "identity"


# -- the recursion on scalars (exact numbers, mpmath numbers, symbols) -----------------------


def _forward_scalar(
    x: Sequence[Any],
    layers: Sequence[tuple[Any, Any, Callable[[Any], tuple[Any, Any, Any]]]],
    zero: Any,
) -> tuple[list[Any], list[list[Any]], list[list[list[Any]]]]:
    """NOTE: second-order-chain on Python scalars: (value, first, second) of the output."""
    n = len(x)
    a = list(x)
    A = [[zero + (1 if i == k else 0) for k in range(n)] for i in range(n)]
    H = [[[zero] * n for _ in range(n)] for _ in range(n)]
    for W, b, local in layers:
        rows, cols = len(W), len(W[0])
        z = [
            sum((W[i][j] * a[j] for j in range(cols)), zero) + (b[i] if b else zero)
            for i in range(rows)
        ]
        Zp = [
            [sum((W[i][j] * A[j][k] for j in range(cols)), zero) for k in range(n)]
            for i in range(rows)
        ]
        Zpp = [
            [
                [sum((W[i][j] * H[j][k][q] for j in range(cols)), zero) for q in range(n)]
                for k in range(n)
            ]
            for i in range(rows)
        ]
        a, A, H = [], [], []
        for i in range(rows):
            s, s1, s2 = local(z[i])
            a.append(s)
            A.append([s1 * Zp[i][k] for k in range(n)])
            H.append(
                [[s2 * Zp[i][k] * Zp[i][q] + s1 * Zpp[i][k][q] for q in range(n)] for k in range(n)]
            )
    return a, A, H


def _exact_layers(net: Any) -> list[tuple[Any, Any, Callable[[Any], tuple[Any, Any, Any]]]]:
    out = []
    for layer in net.layers:
        s, d1, d2 = _local(layer.activation)

        def local(z: Any, s: Any = s, d1: Any = d1, d2: Any = d2) -> tuple[Any, Any, Any]:
            return s.xreplace({Z: z}), d1.xreplace({Z: z}), d2.xreplace({Z: z})

        bias = None if layer.bias is None else list(layer.bias)
        out.append((layer.weight.tolist(), bias, local))
    return out


def _network_cost(net: Any) -> int:
    """Tree size of the exact second derivatives, as NOTE: jacobian-cost estimates them."""
    sizes = net.sizes
    paths = math.prod(sizes[1:-1]) if len(sizes) > 2 else 1
    return paths * sum(sizes) * sizes[0] ** 2


def _check_network_cost(net: Any, what: str) -> None:
    cost, bound = _network_cost(net), limits.current().max_jacobian_ops
    if cost > bound:
        raise LimitError(
            f"the exact {what} of a {list(net.sizes)} network would need about {cost} SymPy "
            f"operations (the limit max_jacobian_ops is {bound}); use .numeric() or "
            ".reference(x) for numbers, or raise symjac.limits.override(max_jacobian_ops=...)"
        )


# -- the batched recursion (numpy and torch) --------------------------------------------------


class NetworkHessianFunction:
    """The batched Hessian of a network: points ``(..., n)`` to ``(..., m, n, n)``.

    One einsum per stage (NOTE: second-order-chain); the symbolic array is never built.
    ``"numpy"`` computes in float64, ``"torch"`` keeps the tensor's dtype and device.

    >>> import symjac
    >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=False, output_activation="tanh")
    >>> fn = net.hessian().numeric("numpy")
    >>> fn([[0.5]]).shape
    (1, 1, 1, 1)
    """

    def __init__(self, net: Any, backend: str):
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
        self.backend = backend
        self.n_in, self.n_out = net.sizes[0], net.sizes[-1]
        self._layers = [
            (
                *layer.arrays(),
                _fast_local(layer.activation) or _local_kernel(layer.activation, backend),
                _is_identity(layer.activation),
            )
            for layer in net.layers
        ]
        self._torch_cache: dict[Any, list[Any]] = {}
        # CPU tensors without grad run the NumPy recursion on their own memory: at these
        # sizes torch's per-operation dispatch costs more than the arithmetic (as for the
        # Jacobian, symjac.chain_torch)
        self._numpy_twin = NetworkHessianFunction(net, "numpy") if backend == "torch" else None
        # points per block: each stage carries (width, n + n (n + 1) / 2, points) numbers;
        # about 80 000 of them (640 kB in float64) keep a block's passes in the caches.
        # Measured against 40 000 and 160 000 on an AVX2 core (N = 1e4, four networks):
        # 1.04-1.34x faster than the smaller blocks (per-block costs), while 160 000 fell
        # off a cliff, 2.4-2.6x slower, for 64 and 128 wide layers
        n = self.n_in
        widest = max([n, *(W.shape[0] for W, _, _, _ in self._layers)])
        self._block = max(64, 80_000 // (widest * (n + n * (n + 1) // 2)))

    def __repr__(self) -> str:
        return f"NetworkHessianFunction(backend={self.backend!r}, {self.n_in} -> {self.n_out})"

    def _params(self, like: Any) -> list[Any]:
        if self.backend == "numpy":
            return [(W, b) for W, b, _, _ in self._layers]
        import torch

        key = (like.dtype, like.device)
        if key not in self._torch_cache:
            self._torch_cache[key] = [
                (
                    torch.as_tensor(W, dtype=like.dtype, device=like.device),
                    None if b is None else torch.as_tensor(b, dtype=like.dtype, device=like.device),
                )
                for W, b, _, _ in self._layers
            ]
        return self._torch_cache[key]

    def _input(self, points: Any) -> Any:
        if self.backend == "numpy":
            x = np.asarray(points, dtype=np.float64)
        else:
            import torch

            x = points if isinstance(points, torch.Tensor) else torch.as_tensor(points)
            if not x.is_floating_point():
                x = x.to(torch.float64)
        if x.ndim == 0 or x.shape[-1] != self.n_in:
            raise ValueError(
                f"expected points of shape (..., {self.n_in}), got shape {tuple(x.shape)}"
            )
        return x

    def __call__(self, points: Any) -> Any:
        x = self._input(points)
        twin = self._numpy_twin
        if twin is not None and x.device.type == "cpu" and not x.requires_grad:
            import torch

            if x.dtype is torch.float64 or x.dtype is torch.float32:
                H = twin(x.numpy())  # float64 math; float32 points get float32 back
                return torch.from_numpy(H).to(x.dtype)
        batch = tuple(x.shape[:-1])
        flat = x.reshape(-1, self.n_in)
        B = self._block
        if flat.shape[0] <= B:
            H = self.forward(flat)[2]
        else:  # blocks of points whose intermediates stay in the CPU cache: about 1.4x faster
            parts = [self.forward(flat[i : i + B])[2] for i in range(0, flat.shape[0], B)]
            H = np.concatenate(parts) if self.backend == "numpy" else __import__("torch").cat(parts)
        return H.reshape(*batch, *H.shape[1:])

    def forward(self, x: Any) -> tuple[Any, Any, Any]:
        """(values (N, m), first (N, m, n), second (N, m, n, n)) at points ``x`` (N, n)."""
        xp = np if self.backend == "numpy" else __import__("torch")
        N, n = x.shape
        # Layout for speed: neurons first and points last, (w, N), (w, n, N) and (w, P, N), so
        # that each stage's products with W are one matrix product over all points and the
        # elementwise products run along the long point axis. H is symmetric: only its
        # P = n (n + 1) / 2 entries k <= q are carried.
        rows, _ = _pairs(n)
        width = n + len(rows)  # per neuron: n first derivatives, then the P second ones
        if self.backend == "numpy":
            empty: Callable[..., Any] = np.empty
        else:
            empty = functools.partial(xp.empty, dtype=x.dtype, device=x.device)
        a, G = x.T, None
        for (W, b), (_, _, kernel, identity) in zip(self._params(x), self._layers):
            w, w_in = W.shape
            z = W @ a if b is None else W @ a + b[:, None]
            if G is None:  # the first stage: Z' = W at every point, Z'' = 0
                Zp, Y = W[:, :, None], None
            else:  # [Z', Z''] = W [A, H]: one matrix product
                Y = (W @ G.reshape(w_in, -1)).reshape(w, width, N)
                Zp = Y[:, :n]
            if identity:
                if Y is None:
                    Y = empty((w, width, N))
                    Y[:, :n], Y[:, n:] = Zp, 0.0
                a, G = z, Y
                continue
            if isinstance(kernel, NumericFunction):
                local = kernel(z[..., None])  # (w, N, 3): value, slope, curvature
                s, s1, s2 = local[..., 0], local[..., 1], local[..., 2]
            else:
                s, s1, s2 = kernel(xp, z)
            # H+ = s' Z'' + s'' Z' Z'^T on the pairs k <= q; the pairs (k, k..n-1) are one
            # contiguous block, so the outer product is n slice products (no gathers)
            sZ = s2[:, None, :] * Zp
            blocks = [sZ[:, k : k + 1, :] * Zp[:, k:, :] for k in range(n)]
            if Y is None:
                Y = empty((w, width, N))
                Y[:, :n] = s1[:, None, :] * Zp
                start = n
                for block in blocks:
                    Y[:, start : start + block.shape[1]] = block
                    start += block.shape[1]
            else:
                Y *= s1[:, None, :]  # A+ = s' Z' and s' Z'' in one pass (Y is this stage's own)
                start = n
                for block in blocks:
                    Y[:, start : start + block.shape[1]] += block
                    start += block.shape[1]
            a, G = s, Y
        At, Ht = G[:, :n], G[:, n:]
        m = a.shape[0]
        full = _full_index(n)
        if self.backend == "numpy":  # transpose, not moveaxis: its checks cost more at N = 1
            H = np.ascontiguousarray(Ht[:, full, :].reshape(m, n, n, N).transpose(3, 0, 1, 2))
            return a.T, At.transpose(2, 0, 1), H
        H = Ht[:, full, :].reshape(m, n, n, N).movedim(-1, 0).contiguous()
        return a.T.contiguous(), At.movedim(-1, 0).contiguous(), H


@functools.cache
def _pairs(n: int) -> tuple[list[int], list[int]]:
    """The index pairs (k, q), k <= q, of a symmetric n x n matrix, row by row."""
    pairs = [(k, q) for k in range(n) for q in range(k, n)]
    return [k for k, _ in pairs], [q for _, q in pairs]


@functools.cache
def _full_index(n: int) -> list[int]:
    """For each entry (k, q) of an n x n matrix, row-major, its pair index in :func:`_pairs`."""
    rows, cols = _pairs(n)
    where = {(k, q): p for p, (k, q) in enumerate(zip(rows, cols))}
    return [where[min(k, q), max(k, q)] for k in range(n) for q in range(n)]


# -- the public objects ------------------------------------------------------------------------


def _second_latex(output: str, a: str, b: str, *, ordinary: bool) -> str:
    out = _latex.symbol_latex(output)
    if ordinary:
        return rf"\frac{{d^2 {out}}}{{d {_latex.symbol_latex(a)}^2}}"
    if a == b:
        return rf"\frac{{\partial^2 {out}}}{{\partial {_latex.symbol_latex(a)}^2}}"
    return (
        rf"\frac{{\partial^2 {out}}}{{\partial {_latex.symbol_latex(a)} "
        rf"\partial {_latex.symbol_latex(b)}}}"
    )


class Hessian:
    r"""The exact second derivatives of a map or network: an ``(m, n, n)`` array.

    ``matrices[k]`` is output ``k``'s symmetric :math:`n \times n` Hessian;
    :meth:`at` gives exact values, :meth:`numeric` a compiled batched function,
    :meth:`reference` high-precision numbers, :meth:`laplacian` the trace.

    >>> import symjac
    >>> H = symjac.examples.planar().hessian()
    >>> H.shape
    (2, 2, 2)
    >>> print(H.latex(show="value"))
    \begin{pmatrix} 2 & 0 \\ 0 & 0 \end{pmatrix}, \begin{pmatrix} 0 & 0 \\ 0 & 2 \end{pmatrix}
    """

    def __init__(self, function: Any, *, matrices: Sequence[sympy.MatrixBase] | None = None):
        self.function = function
        self.inputs = tuple(function.inputs)
        self._network = matrices is None
        self._matrices = None if matrices is None else [sympy.ImmutableMatrix(m) for m in matrices]
        n_out = function.sizes[-1] if self._network else len(function.outputs)
        self.shape = (n_out, len(self.inputs), len(self.inputs))
        self.output_names = self._output_names()
        #: LaTeX's default rounding: a network's float weights print as decimals, a map
        #: you wrote stays exact (one default for everything derived from weights)
        self.digits: int | None = DIGITS if self._network else None

    def _output_names(self) -> tuple[str, ...]:
        if not self._network:
            return tuple(self.function.output_names)
        name, m = self.function.stage_names[-1], self.shape[0]
        return (name,) if m == 1 else tuple(f"{name}{i + 1}" for i in range(m))

    def __repr__(self) -> str:
        wrt = ", ".join(s.name for s in self.inputs) + ("," if len(self.inputs) == 1 else "")
        return f"Hessian(shape={self.shape}, wrt=({wrt}))"

    @property
    def matrices(self) -> list[sympy.ImmutableMatrix]:
        """One exact symmetric ``n x n`` matrix per output (size-limited for networks)."""
        if self._matrices is None:
            net = self.function
            net._require_concrete("hessian().matrices")
            _check_network_cost(net, "Hessian")
            _, _, H = _forward_scalar(list(net.inputs), _exact_layers(net), sympy.Integer(0))
            self._matrices = [sympy.ImmutableMatrix(h) for h in H]
        return self._matrices

    @property
    def array(self) -> sympy.ImmutableDenseNDimArray:
        """The ``(m, n, n)`` array of exact entries."""
        return sympy.ImmutableDenseNDimArray([m.tolist() for m in self.matrices], self.shape)

    def at(self, point: Any) -> sympy.ImmutableDenseNDimArray:
        """Exact values at ``point`` (mapping or sequence): an ``(m, n, n)`` SymPy array.

        >>> import symjac
        >>> symjac.hessian("sin(x)*y", "x y").at({"x": 0, "y": 2})
        [[[0, 1], [1, 0]]]
        """
        values = exact_point(point, self.inputs)
        if self._network:
            net = self.function
            net._require_concrete("hessian().at()")
            _check_network_cost(net, "Hessian at a point")
            x = [values[s] for s in self.inputs]
            _, _, H = _forward_scalar(x, _exact_layers(net), sympy.Integer(0))
            return sympy.ImmutableDenseNDimArray(H, self.shape)
        m, n, _ = self.shape
        labels = [
            f"d2{self.output_names[k]}/d{self.inputs[i].name}d{self.inputs[j].name}"
            for k in range(m)
            for i in range(n)
            for j in range(n)
        ]
        entries = [e for mat in self.matrices for e in mat]
        return sympy.ImmutableDenseNDimArray(exact_at(entries, values, labels=labels), self.shape)

    def numeric(self, backend: str = "numpy", *, digits: int | None = None) -> Any:
        """Compile: points ``(..., n)`` to Hessians ``(..., m, n, n)``.

        For a network this is a batched kernel over its stages (NOTE: second-order-chain);
        for a map, the compiled exact entries (``"numpy"``, ``"torch"`` or ``"mpmath"``).

        >>> import symjac
        >>> symjac.hessian("x**3", "x").numeric("numpy")([[1.0], [2.0]])
        array([[[[ 6.]]],
        <BLANKLINE>
        <BLANKLINE>
               [[[12.]]]])
        """
        if self._network:
            if digits is not None:
                raise ValueError("digits= applies to maps' 'mpmath' backend; use .reference()")
            self.function._require_concrete("hessian().numeric()")
            return NetworkHessianFunction(self.function, backend)
        entries = [e for mat in self.matrices for e in mat]
        return compile_exprs(entries, self.inputs, self.shape, backend, digits=digits)

    def reference(self, x: Any, *, digits: int = 50) -> np.ndarray:
        """High-precision values at ``x``: an ``(m, n, n)`` object array of mpmath numbers.

        >>> import symjac, mpmath
        >>> H = symjac.hessian("exp(x)", "x")
        >>> mpmath.nstr(H.reference([1.0], digits=20)[0, 0, 0], 20)
        '2.7182818284590452354'
        """
        if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 10_000:
            raise ValueError(f"digits must be an int between 1 and 10000, got {digits!r}")
        import mpmath

        values = exact_point(x, self.inputs)
        ctx = mpmath.MPContext()
        ctx.dps = digits + 10
        if not self._network:
            exact = self.at(values)
            out = np.empty(self.shape, dtype=object)
            for idx in np.ndindex(*self.shape):
                out[idx] = ctx.mpmathify(sympy.N(exact[idx], digits + 10))
            return out
        net = self.function
        net._require_concrete("hessian().reference()")

        def mp(v: sympy.Expr) -> Any:
            return (
                ctx.mpf(int(v.p)) / int(v.q)
                if v.is_Rational
                else ctx.mpmathify(sympy.N(v, digits + 10))
            )

        layers = []
        for layer in net.layers:
            W = [[mp(v) for v in row] for row in layer.weight.tolist()]
            b = None if layer.bias is None else [mp(v) for v in layer.bias]
            exprs = _local(layer.activation, stable=True)

            def local(z: Any, exprs: tuple[sympy.Expr, ...] = exprs) -> tuple[Any, Any, Any]:
                # SymPy's evalf at the working precision: the point z is not rounded
                arg = sympy.Float(z, ctx.dps)
                s, s1, s2 = (ctx.mpf(str(sympy.N(e.xreplace({Z: arg}), ctx.dps))) for e in exprs)
                return s, s1, s2

            layers.append((W, b, local))
        _, _, H = _forward_scalar([mp(values[s]) for s in self.inputs], layers, ctx.mpf(0))
        return np.array(H, dtype=object).reshape(self.shape)

    def laplacian(self, wrt: Any = None) -> Laplacian:
        r"""The Laplacian :math:`\sum_i \partial^2 f_k / \partial x_i^2` per output, over the
        inputs ``wrt`` (names or Symbols; default all).

        >>> import symjac
        >>> symjac.hessian("x**2 * t", "x t").laplacian("x").at({"x": 3, "t": 5})
        Matrix([[10]])
        """
        return Laplacian(self, wrt)

    def latex(
        self,
        *,
        show: str = "both",
        name: str | None = None,
        digits: int | EllipsisType | None = ...,
    ) -> str:
        r"""LaTeX: ``show="both"`` (definition = value), ``"value"`` or ``"definition"``.

        >>> import symjac
        >>> print(symjac.examples.quadratic().hessian().latex())
        H_f = \begin{pmatrix} \frac{\partial^2 f}{\partial x_1^2} & \frac{\partial^2 f}{\partial x_1 \partial x_2} \\ \frac{\partial^2 f}{\partial x_2 \partial x_1} & \frac{\partial^2 f}{\partial x_2^2} \end{pmatrix} = \begin{pmatrix} 2 & 3 \\ 3 & 2 \end{pmatrix}
        """
        if show not in ("both", "value", "definition"):
            raise ValueError(f"show must be 'both', 'value' or 'definition', got {show!r}")
        if digits is ...:
            digits = self.digits
        n = len(self.inputs)
        names = [s.name for s in self.inputs]
        parts = []
        for k, out in enumerate(self.output_names):
            label = name if name is not None else f"H_{{{_latex.symbol_latex(out)}}}"
            if name is None and len(_latex.symbol_latex(out)) == 1:
                label = f"H_{_latex.symbol_latex(out)}"
            if n == 1:
                definition = _second_latex(out, names[0], names[0], ordinary=True)
            else:
                definition = _latex.matrix_latex(
                    [[_second_latex(out, a, b, ordinary=False) for b in names] for a in names]
                )
            value = ""
            if show != "definition":
                mat = self.matrices[k]
                cells = [[_latex.expr_latex(mat[i, j], digits) for j in range(n)] for i in range(n)]
                value = cells[0][0] if n == 1 else _latex.matrix_latex(cells)
            pieces = {
                "both": [label, definition, value],
                "value": [value],
                "definition": [label, definition],
            }
            parts.append(" = ".join(pieces[show]))
        return _latex.truncate(", ".join(parts))

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"


class Laplacian:
    r"""The trace of each output's Hessian over chosen inputs (made by :meth:`Hessian.laplacian`).

    >>> import symjac
    >>> lap = symjac.laplacian("x**2 + y**2 + x*y", "x y")
    >>> lap.at([1, 2]), lap.numeric("numpy")([[1.0, 2.0]])
    (Matrix([[4]]), array([[4.]]))
    """

    def __init__(self, hessian: Hessian, wrt: Any = None):
        self.hessian = hessian
        if wrt is None:
            chosen = list(hessian.inputs)
        else:
            by_name = {s.name: s for s in hessian.inputs}
            chosen = []
            for sym in make_symbols(wrt, what="wrt"):
                if sym.name not in by_name:
                    raise ValueError(
                        f"{sym.name!r} is not an input; the inputs are {', '.join(by_name)}"
                    )
                chosen.append(by_name[sym.name])
        self.wrt = tuple(chosen)
        self._index = [hessian.inputs.index(s) for s in self.wrt]

    def __repr__(self) -> str:
        return f"Laplacian(wrt=({', '.join(s.name for s in self.wrt)}), outputs={self.hessian.shape[0]})"

    def expressions(self) -> list[sympy.Expr]:
        """The exact Laplacian of each output (size-limited for networks)."""
        return [sympy.Add(*(m[i, i] for i in self._index)) for m in self.hessian.matrices]

    def at(self, point: Any) -> sympy.Matrix:
        """Exact values at ``point``, an ``m x 1`` matrix."""
        H = self.hessian.at(point)
        m = self.hessian.shape[0]
        return sympy.Matrix([[sympy.Add(*(H[k, i, i] for i in self._index))] for k in range(m)])

    def numeric(self, backend: str = "numpy") -> Callable[[Any], Any]:
        """Compile: points ``(..., n)`` to Laplacians ``(..., m)``."""
        fn = self.hessian.numeric(backend)
        index = list(self._index)

        def laplacian(points: Any) -> Any:
            H = fn(points)
            return H[..., index, index].sum(-1)

        laplacian.__doc__ = f"Laplacian over {', '.join(s.name for s in self.wrt)} ({backend})."
        return laplacian


# -- Jacobian- and Hessian-vector products -----------------------------------------------------


def _jacobian_function(target: Any, backend: str) -> Callable[[Any], Any]:
    if isinstance(target, VectorMap):
        return target.jacobian().numeric(backend)
    return target.numeric(backend)


def _einsum(backend: str) -> Callable[..., Any]:
    if backend == "torch":
        import torch

        return torch.einsum
    return np.einsum


def _vector(backend: str, value: Any, like: Any) -> Any:
    if backend == "torch":
        import torch

        return torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return np.asarray(value, dtype=np.float64)


def jvp(target: Any, backend: str = "numpy") -> Callable[[Any, Any], Any]:
    r"""The Jacobian-vector product :math:`J(x) v` as a compiled function ``fn(x, v)``.

    ``x`` and ``v`` have shape ``(..., n)``; the result ``(..., m)``. ``target`` is a
    :class:`~symjac.VectorMap` or a :class:`~symjac.Network`.

    >>> import symjac
    >>> f = symjac.examples.planar()      # J = [[2 x1, 1], [1, 2 x2]]
    >>> symjac.jvp(f)([1.0, 2.0], [1.0, 0.0])
    array([2., 1.])
    """
    fn, einsum = _jacobian_function(target, backend), _einsum(backend)

    def product(x: Any, v: Any) -> Any:
        J = fn(x)
        return einsum("...ij,...j->...i", J, _vector(backend, v, J))

    return product


def vjp(target: Any, backend: str = "numpy") -> Callable[[Any, Any], Any]:
    r"""The vector-Jacobian product :math:`u^\top J(x)` as a compiled function ``fn(x, u)``.

    ``x`` has shape ``(..., n)``, ``u`` ``(..., m)``; the result ``(..., n)``.

    >>> import symjac
    >>> symjac.vjp(symjac.examples.planar())([1.0, 2.0], [0.0, 1.0])
    array([1., 4.])
    """
    fn, einsum = _jacobian_function(target, backend), _einsum(backend)

    def product(x: Any, u: Any) -> Any:
        J = fn(x)
        return einsum("...i,...ij->...j", _vector(backend, u, J), J)

    return product


def hvp(target: Any, backend: str = "numpy") -> Callable[[Any, Any], Any]:
    r"""The Hessian-vector product :math:`H_k(x) v` of every output, ``fn(x, v)``.

    ``x`` and ``v`` have shape ``(..., n)``; the result ``(..., m, n)``.

    >>> import symjac
    >>> symjac.hvp(symjac.examples.quadratic())([0.0, 0.0], [1.0, 0.0])
    array([[2., 3.]])
    """
    fn, einsum = target.hessian().numeric(backend), _einsum(backend)

    def product(x: Any, v: Any) -> Any:
        H = fn(x)
        return einsum("...kij,...j->...ki", H, _vector(backend, v, H))

    return product


def hessian(outputs: Any, inputs: Any, *, name: str = "f", params: Any = ()) -> Hessian:
    """The exact Hessian of the map ``inputs -> outputs``: ``VectorMap(...).hessian()``.

    >>> import symjac
    >>> symjac.hessian("x**2 * y", "x y").matrices[0]
    Matrix([
    [2*y, 2*x],
    [2*x,   0]])
    """
    return VectorMap(outputs, inputs, name=name, params=params).hessian()


def laplacian(outputs: Any, inputs: Any, *, wrt: Any = None, name: str = "f") -> Laplacian:
    """The exact Laplacian of the map ``inputs -> outputs`` over ``wrt`` (default all inputs).

    >>> import symjac
    >>> symjac.laplacian("sin(x) * exp(t)", "x t", wrt="x").expressions()
    [-exp(t)*sin(x)]
    """
    return hessian(outputs, inputs, name=name).laplacian(wrt)
