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

import contextlib
import contextvars
import functools
import gc
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import sympy
from sympy.core.add import Add, _addsort
from sympy.core.mul import Mul
from sympy.core.power import Pow
from sympy.polys.domains import EXRAW
from sympy.polys.matrices import DomainMatrix
from sympy.polys.matrices.sdm import SDM

from symjac.activations import Activation, Z
from symjac.numeric import NumericFunction, compile_exprs

__all__ = [
    "LayerOutputs",
    "NetworkFunction",
    "chain_costs",
    "compile_network",
    "layer_matrix",
    "layer_outputs",
    "symbolic_layer",
]

_ONE, _MINUS_ONE, _TWO = sympy.S.One, sympy.S.NegativeOne, sympy.Integer(2)
_object_new = object.__new__
_TANH_NARGS = sympy.tanh(Z, evaluate=False).nargs


# -- symbolic layers, built the way SymPy would build them (NOTE: fast-layer) ------------------
#
# NOTE: fast-layer
#     Network.layer_jacobians() instantiates J_l = diag(s'(z_l)) W_l entry by entry
#     (NOTE: layer-rule). Letting SymPy evaluate every product is slow for wide layers:
#     each fresh Rational weight and each long sum z_l triggers SymPy's assumption system
#     (tanh(z) alone asks whether z is zero, imaginary, negative...). For the plain case
#     (rational weights and bias, distinct symbols as inputs, tanh or identity) the
#     expressions SymPy's evaluation would produce are known in advance, so they are
#     assembled directly from their canonical parts (Add/Mul ``_from_args`` with SymPy's
#     own argument order). The result is the *same* SymPy tree (``==``), which the tests
#     check against the evaluated construction; anything else takes the evaluated path.
#     In the inner loops the nodes are made the way those constructors make them, minus
#     their overhead: ``_node`` for two-argument Add/Mul, ``_tanh_node`` without the
#     cache lookup that hashes the whole sum, ``_immutable_matrix`` from the sparse
#     representation ImmutableMatrix would build. A layer's outputs are built once and
#     shared by ``Network.stages`` and ``Network.layer_jacobians()``.


@functools.cache
def _class_rank(cls: type) -> int | None:
    # the position Basic.compare gives a class (ordering_of_classes), None when unlisted
    from sympy.core.basic import ordering_of_classes

    name = cls.__name__
    return ordering_of_classes.index(name) if name in ordering_of_classes else None


_SYMBOL_RANK = _class_rank(sympy.Symbol)
_MUL_RANK = _class_rank(Mul)


def _term_key(term: Any) -> tuple[Any, ...] | None:
    """A sort key equal to Basic.compare's order on ``x`` and ``c*x`` terms (c rational)."""
    if term.is_Symbol:
        return (_SYMBOL_RANK, term.name)
    c, x = term.args
    rank = _class_rank(type(c))
    if rank is None:
        return None
    # Basic.compare: class, then the length of the hashable content, then its items
    return (_MUL_RANK, rank, c.p, c.q, x.name)


def _sort_terms(terms: list[Any]) -> None:
    keys = [_term_key(t) for t in terms]
    if any(k is None for k in keys):
        _addsort(terms)
        return
    order = sorted(range(len(terms)), key=keys.__getitem__)
    terms[:] = [terms[i] for i in order]


def _plain_terms(row: Sequence[Any], symbols: Sequence[Any]) -> list[Any] | None:
    terms = []
    for c, x in zip(row, symbols):
        if not c.is_Rational:
            return None
        if c.p == 0:
            continue
        terms.append(x if c is _ONE else Mul._from_args((c, x), True))
    _sort_terms(terms)
    return terms


def _rational(p: int, q: int) -> Any:
    """``Rational(p, q)`` for coprime ``p``, ``q > 0``, without re-normalising (same object kind)."""
    if q == 1:
        return sympy.Integer(p)
    if p == 1 and q == 2:
        return sympy.S.Half
    obj = sympy.Expr.__new__(sympy.Rational)
    obj.p, obj.q = p, q
    return obj


def _neg(c: Any) -> Any:
    return _rational(-c.p, c.q)


def _rational_rows(matrix: Any) -> list[list[Any]]:
    # ImmutableMatrix.tolist() builds each Rational through the full constructor; the
    # entries of a QQ/ZZ matrix are already normalised fractions
    rep = getattr(matrix, "_rep", None)
    domain = str(getattr(rep, "domain", ""))
    if domain not in ("QQ", "ZZ"):
        return matrix.tolist()
    rows, cols = matrix.shape
    if domain == "ZZ":
        flat = [sympy.Integer(int(a)) for a in rep.to_list_flat()]
    else:
        flat = [_rational(int(a.numerator), int(a.denominator)) for a in rep.to_list_flat()]
    return [flat[i * cols : (i + 1) * cols] for i in range(rows)]


def _negative(term: Any) -> bool:
    if term.is_Rational:
        return term.p < 0
    if term.is_Mul:
        return term.args[0].p < 0
    return False


def _negated(term: Any) -> Any:
    if term.is_Rational:
        return _neg(term)
    if term.is_Mul:
        c = _neg(term.args[0])
        return term.args[1] if c is _ONE else Mul._from_args((c, term.args[1]), True)
    return Mul._from_args((_MINUS_ONE, term), True)


def _plain_tanh(z: Any, terms: list[Any], const: Any) -> tuple[Any, Any]:
    """``(tanh(z), t)`` as SymPy evaluates them: ``t = tanh(+-z)`` with the sign SymPy keeps."""
    negative = sum(1 for t in terms if _negative(t)) + (
        1 if const is not None and const.p < 0 else 0
    )
    positive = len(terms) + (const is not None) - negative
    flip = negative > positive if negative != positive else z.could_extract_minus_sign()
    if not flip:
        t = _tanh_node(z)
        return t, t
    neg_terms = [_negated(t) for t in terms]
    _sort_terms(neg_terms)
    if const is not None:
        neg_terms.insert(0, _neg(const))
    t = _tanh_node(Add._from_args(neg_terms, True))
    return Mul._from_args((_MINUS_ONE, t), True), t


def _tanh_node(z: Any) -> Any:
    # what tanh(z, evaluate=False) builds (Application.__new__: the node, then its
    # ``nargs``), without its cache lookup, which hashes the whole sum (NOTE: fast-layer)
    obj = sympy.Basic.__new__(sympy.tanh, z)
    obj.nargs = _TANH_NARGS
    return obj


def _square(t: Any) -> Any:
    # what Pow(t, 2) builds for a tanh node: no evaluation applies to it
    obj = sympy.Expr.__new__(Pow, t, _TWO)
    obj.is_commutative = True
    return obj


def _node(cls: type, a: Any, b: Any) -> Any:
    # cls._from_args((a, b), True) without its call overhead: a commutative two-argument
    # Add or Mul whose arguments are already in SymPy's order (NOTE: fast-layer)
    obj = _object_new(cls)
    obj._assumptions = cls.default_assumptions
    obj._mhash = None
    obj._args = (a, b)
    obj.is_commutative = True
    return obj


def symbolic_layer(
    weight: Any, bias: Any, activation: Activation, symbols: Sequence[Any], *, matrix: bool
) -> tuple[list[Any], Any] | None:
    """``(outputs, J)`` of one layer in its input ``symbols`` (NOTE: fast-layer).

    ``outputs[i] = activation(z_i)`` and, with ``matrix``, ``J`` is the
    ImmutableMatrix with ``J[i, j] = activation'(z_i) * weight[i, j]``: exactly the
    expressions SymPy's evaluation gives. Returns ``None`` when the layer is not a
    plain case (the caller then evaluates with SymPy).

    >>> import sympy
    >>> from symjac.activations import get_activation
    >>> x1, x2 = sympy.symbols("x1 x2", real=True)
    >>> W, b = sympy.ImmutableMatrix([[1, -2]]), sympy.ImmutableMatrix([3])
    >>> outputs, J = symbolic_layer(W, b, get_activation("tanh"), [x1, x2], matrix=True)
    >>> outputs
    [tanh(x1 - 2*x2 + 3)]
    >>> J == sympy.Matrix(outputs).jacobian([x1, x2])
    True
    """
    parts = layer_outputs(weight, bias, activation, symbols)
    if parts is None:
        return None
    return parts.outputs, (layer_matrix(weight, parts) if matrix else None)


class LayerOutputs(NamedTuple):
    """A plain layer's outputs and what its Jacobian is built from (NOTE: fast-layer).

    >>> import sympy
    >>> from symjac.activations import get_activation
    >>> x1, x2 = sympy.symbols("x1 x2", real=True)
    >>> W = sympy.ImmutableMatrix([[-1, -2]])
    >>> parts = layer_outputs(W, None, get_activation("tanh"), [x1, x2])
    >>> parts.outputs, parts.tanhs      # SymPy keeps tanh odd: the sign moves out
    ([-tanh(x1 + 2*x2)], [tanh(x1 + 2*x2)])
    """

    kind: str  # "tanh" or "identity"
    outputs: list[Any]
    #: per row, the ``tanh`` node SymPy differentiates (``tanh(-z)`` when it keeps the sign)
    tanhs: list[Any]
    #: the weight's rows as SymPy Rationals
    rows: list[list[Any]]


def layer_outputs(
    weight: Any, bias: Any, activation: Activation, symbols: Sequence[Any]
) -> LayerOutputs | None:
    """The plain layer's outputs, or ``None`` when SymPy's evaluation must build them.

    >>> import sympy
    >>> from symjac.activations import get_activation
    >>> x1, x2 = sympy.symbols("x1 x2", real=True)
    >>> W, b = sympy.ImmutableMatrix([[1, -2]]), sympy.ImmutableMatrix([3])
    >>> layer_outputs(W, b, get_activation("tanh"), [x1, x2]).outputs
    [tanh(x1 - 2*x2 + 3)]
    >>> layer_outputs(W, b, get_activation("sigmoid"), [x1, x2]) is None
    True
    """
    kind = activation.name if not activation.params and activation.function is None else ""
    if kind not in ("tanh", "identity"):
        return None
    if len(set(symbols)) != len(symbols) or not all(type(s) is sympy.Symbol for s in symbols):
        return None
    if len({s._assumptions0 for s in symbols}) > 1:
        return None  # Basic.compare would then also compare assumptions
    with _gc_paused():
        return _plain_outputs(kind, weight, bias, symbols)


def layer_matrix(weight: Any, parts: LayerOutputs) -> Any:
    """``diag(s'(z)) W`` as the ImmutableMatrix SymPy's evaluation gives (NOTE: fast-layer).

    >>> import sympy
    >>> from symjac.activations import get_activation
    >>> x1, x2 = sympy.symbols("x1 x2", real=True)
    >>> W = sympy.ImmutableMatrix([[1, -2]])
    >>> layer_matrix(W, layer_outputs(W, None, get_activation("tanh"), [x1, x2]))
    Matrix([[1 - tanh(x1 - 2*x2)**2, 2*tanh(x1 - 2*x2)**2 - 2]])
    """
    if parts.kind == "identity":
        return sympy.ImmutableMatrix(weight)  # J = W, the very same entries
    rows, cols = weight.shape
    dod: dict[int, dict[int, Any]] = {}
    flat = [sympy.S.Zero] * (rows * cols)
    with _gc_paused():
        for i, (row, t) in enumerate(zip(parts.rows, parts.tanhs)):
            square = _square(t)
            slope = _node(Add, _ONE, _node(Mul, _MINUS_ONE, square))
            entries = {}
            # w * (1 - t**2) with SymPy's distribution of a rational over a sum: w - w*t**2
            for j, w in enumerate(row):
                if w.p == 0:
                    continue
                if w is _ONE:
                    entries[j] = slope
                elif w is _MINUS_ONE:
                    entries[j] = _node(Add, _MINUS_ONE, square)
                else:
                    entries[j] = _node(Add, w, _node(Mul, _rational(-w.p, w.q), square))
            if entries:
                dod[i] = entries
                for j, entry in entries.items():
                    flat[i * cols + j] = entry
        return _immutable_matrix(dod, flat, rows, cols)


def _immutable_matrix(dod: dict[int, dict[int, Any]], flat: list[Any], rows: int, cols: int) -> Any:
    # what ImmutableMatrix(rows, cols, flat) builds (a sparse EXRAW representation), without
    # comparing every entry to 0 and without converting the entries to EXRAW twice
    # (ImmutableMatrix._fromrep does rep.to_sympy()); NOTE: fast-layer
    obj = sympy.Basic.__new__(
        sympy.ImmutableMatrix,
        sympy.Integer(rows),
        sympy.Integer(cols),
        sympy.Tuple(*flat, sympify=False),
    )
    obj._rows, obj._cols = rows, cols
    obj._rep = DomainMatrix.from_rep(SDM(dod, (rows, cols), EXRAW))
    return obj


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # building many small objects at once: the cyclic GC would rescan the growing heap
    # again and again (these trees hold no cycles), so it pauses for the build
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _plain_outputs(
    kind: str, weight: Any, bias: Any, symbols: Sequence[Any]
) -> LayerOutputs | None:
    rows_w = _rational_rows(weight)
    biases = [None] * len(rows_w) if bias is None else [r[0] for r in _rational_rows(bias)]
    outs: list[Any] = []
    tanhs: list[Any] = []
    for row, b in zip(rows_w, biases):
        terms = _plain_terms(row, symbols)
        if terms is None or (b is not None and not b.is_Rational):
            return None
        const = b if b is not None and b.p != 0 else None
        if len(terms) + (const is not None) < 2 or not terms:
            return None  # a single term or a constant: SymPy's own rules apply
        z = Add._from_args([const, *terms] if const is not None else terms, True)
        if kind == "identity":
            outs.append(z)
            continue
        value, t = _plain_tanh(z, terms, const)
        outs.append(value)
        tanhs.append(t)
    return LayerOutputs(kind, outs, tanhs, rows_w)


_ORDERS = ("auto", "forward", "reverse")
#: float32 CPU tensors with more coordinates than this are computed in float32
_F32_NUMPY = 4096
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
#: activations with a hand-specialised value/slope pair (the slope reuses the value)
_SPECIAL = ("identity", "tanh", "sigmoid")


# -- elementwise kernels, chosen per machine (NOTE: kernels) ----------------------------------
#
# NOTE: kernels
#     The batched chain spends most of its time in the activations' values and slopes, and
#     how fast those are depends on the CPU far more than the matrix products do: NumPy's
#     float64 ``np.tanh`` has a SIMD kernel only with AVX-512 (514 M values/s there, 29-50 M/s
#     on an AVX2-only core), while torch's vectorised ``exp`` runs at about 290 M/s on both.
#     So tanh and sigmoid have three kernels each, all in the cancellation-free forms of
#     NOTE: stable-rewrites: ``numpy`` (``np.tanh`` and ``2 / (1 + cosh(2z))``,
#     NOTE: tanh-slope), ``numpy-exp`` and ``torch-exp`` (value and slope from one
#     exponential, by ``np.exp`` or by torch's CPU kernel on the block's own memory,
#     ``torch.from_numpy``, no copy). For tanh, ``E = exp(|2z|)``, ``e = 1 / E``:
#     ``sech(z)**2 = 4 / (2 + E + e)`` (``2 + E + e = 2 (1 + cosh(2z))``, the form cosh
#     is computed in, so the slope rounds as the cosh form does: on 2.5e5 points of
#     [-20, 20] against 80-bit values, mean 0.30 ulp and at most 1.4, against 0.30 and
#     1.2) and ``tanh|z| = (1 - e) / (1 + e)`` (mean 0.49 units of 1.1e-16 from the exact
#     value, at most 1.6; ``np.tanh``: 0.27 and 0.9). Tanh layers get doubled weights
#     (exact), so their matrix product gives ``u = 2z`` directly. A calibration, once per
#     process and (activation, dtype) on first use (:func:`kernel_choice`: each kernel on
#     blocks of two sizes, a few ms), fits a per-call and a per-element cost, so a block
#     of any size takes the kernel expected fastest for it (torch's dispatch costs a few
#     µs per call, which small blocks feel). One point always takes the lean NumPy path
#     (NOTE: one-point); np.longdouble blocks (the benchmark's 80-bit chain) ``numpy``.
#     ``NetworkFunction.kernels`` reports the choice, :func:`forced_kernels` overrides it;
#     the tests run every choice against the 50-digit reference.

_KERNEL_NAMES = ("numpy", "numpy-exp", "torch-exp")
#: block sizes (elements) the calibration times, best of ``_CALIBRATION_REPS`` each
_CALIBRATION_SIZES = (1024, 8192)
_CALIBRATION_REPS = 2
#: per (activation, dtype): each kernel's fitted cost ``(seconds per call, per element)``
_COSTS: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
_PICKED: dict[tuple[str, np.dtype, int], str] = {}
_FORCED: contextvars.ContextVar[str | None] = contextvars.ContextVar("symjac_kernels", default=None)


#: float sizes the exp kernels run on (float64, float32)
_EXP_SIZES = (8, 4)


def _exp_numpy(u: np.ndarray) -> np.ndarray:
    return np.exp(u, out=u)


def _exp_torch(u: np.ndarray) -> np.ndarray:
    import torch

    torch.from_numpy(u).exp_()  # torch's vectorised kernel on the block's own memory
    return u


def _tanh_cosh(u: np.ndarray, value: bool, divide: bool) -> tuple[Any, np.ndarray]:
    # u = 2z. sech(z)**2 = 2 / (1 + cosh(2z)) (NOTE: stable-rewrites, NOTE: tanh-slope);
    # with ``divide`` the divisor cosh(z)**2 = (1 + cosh(2z)) / 2 instead
    s = np.cosh(u)
    s += 1.0
    if divide:
        s *= 0.5
    else:
        np.divide(2.0, s, out=s)
    if not value:
        return None, s
    u *= 0.5  # z, exactly
    return np.tanh(u, out=u), s


def _tanh_exp(exp: Any) -> Any:
    def kernel(u: np.ndarray, value: bool, divide: bool) -> tuple[Any, np.ndarray]:
        # u = 2z; one exponential for both (NOTE: kernels): E = exp(|u|) >= 1 and e = 1 / E.
        # 2 + E + e = 2 (1 + cosh(2z)); beyond |z| = 354.9 E is inf and the slope 0, as
        # 2 / (1 + cosh(2z)) gives it; tanh|z| = (1 - e) / (1 + e), then z's sign
        big = np.abs(u)
        exp(big)
        e = np.reciprocal(big)
        big += 2.0
        big += e
        if divide:
            big *= 0.25  # cosh(z)**2
        else:
            np.divide(4.0, big, out=big)
        if not value:
            return None, big
        t = np.subtract(1.0, e)  # exact for e >= 1/2 (Sterbenz)
        e += 1.0
        t /= e
        return np.copysign(t, u, out=t), big

    return kernel


def _sigmoid_exp(exp: Any) -> Any:
    def kernel(z: np.ndarray, value: bool, divide: bool) -> tuple[Any, np.ndarray]:
        # 1 / (1 + exp(-z)) without overflow, and s' = sigmoid(z) sigmoid(-z) = e / (1 + e)**2
        # with e = exp(-|z|): no cancellation (NOTE: stable-rewrites)
        e = np.abs(z)
        np.negative(e, out=e)
        exp(e)
        d = 1.0 + e
        a = np.where(z >= 0, 1.0, e) / d if value else None
        d *= d
        return a, np.divide(e, d, out=d)

    return kernel


_KERNELS: dict[str, dict[str, Any]] = {
    "tanh": {
        "numpy": _tanh_cosh,
        "numpy-exp": _tanh_exp(_exp_numpy),
        "torch-exp": _tanh_exp(_exp_torch),
    },
    "sigmoid": {
        "numpy": _sigmoid_exp(_exp_numpy),
        "numpy-exp": _sigmoid_exp(_exp_numpy),
        "torch-exp": _sigmoid_exp(_exp_torch),
    },
}


def _calibrate(kind: str, dtype: np.dtype) -> dict[str, tuple[float, float]]:
    # each candidate on blocks of pre-activations in [-3, 3] of two sizes (best of a few
    # calls after a warm-up), fitted as a per-call plus a per-element cost; a few ms
    small, large = _CALIBRATION_SIZES
    costs: dict[str, tuple[float, float]] = {}
    with np.errstate(all="ignore"):
        for name, fn in _KERNELS[kind].items():
            times = []
            for size in (small, large):
                z0 = np.linspace(-3.0, 3.0, size, dtype=dtype).reshape(16, -1)
                best = float("inf")
                for rep in range(_CALIBRATION_REPS + 1):
                    z = z0.copy()
                    t0 = time.perf_counter()
                    fn(z, True, False)
                    if rep:  # the first call warms the kernel up
                        best = min(best, time.perf_counter() - t0)
                times.append(best)
            per_element = max((times[1] - times[0]) / (large - small), 0.0)
            costs[name] = (max(times[0] - per_element * small, 0.0), per_element)
    return costs


def _kernel_costs(kind: str, dtype: Any) -> dict[str, tuple[float, float]]:
    key = (kind, np.dtype(dtype).name)
    costs = _COSTS.get(key)
    if costs is None:
        costs = _COSTS[key] = _calibrate(kind, np.dtype(dtype))
    return costs


def kernel_choice(kind: str, dtype: Any, size: int = _CALIBRATION_SIZES[1]) -> str:
    """The kernels (``"numpy"``, ``"numpy-exp"`` or ``"torch-exp"``) that compute the
    ``kind`` activation's values and slopes on a block of ``size`` elements of ``dtype``:
    the fastest by a calibration run once per process (NOTE: kernels).

    >>> kernel_choice("tanh", np.float64) in ("numpy", "numpy-exp", "torch-exp")
    True
    >>> with forced_kernels("numpy"):
    ...     kernel_choice("tanh", np.float64)
    'numpy'
    """
    forced = _FORCED.get()
    if forced is not None:
        return forced
    costs = _kernel_costs(kind, dtype)
    return min(costs, key=lambda name: costs[name][0] + costs[name][1] * size)


@contextlib.contextmanager
def forced_kernels(name: str) -> Iterator[None]:
    """Use the ``name`` kernels (one of ``"numpy"``, ``"numpy-exp"``, ``"torch-exp"``) on
    every block inside a ``with`` block instead of the measured choice (NOTE: kernels):
    for tests and benchmarks.

    >>> import symjac
    >>> fn = symjac.mlp([2, 3, 1], weights=[np.ones((3, 2)), np.ones((1, 3))]).numeric()
    >>> with forced_kernels("torch-exp"):
    ...     fn.kernels
    {'tanh/float64': 'torch-exp'}
    """
    if name not in _KERNEL_NAMES:
        raise ValueError(f"unknown kernels {name!r}; choose one of {', '.join(_KERNEL_NAMES)}")
    token = _FORCED.set(name)
    try:
        yield
    finally:
        _FORCED.reset(token)


def _kernel(kind: str, dtype: np.dtype, size: int) -> Any:
    if dtype.itemsize not in _EXP_SIZES or dtype.kind != "f":
        return _KERNELS[kind]["numpy"]  # e.g. np.longdouble (the benchmark's 80-bit chain)
    forced = _FORCED.get()
    if forced is not None:
        return _KERNELS[kind][forced]
    key = (kind, dtype, size)
    name = _PICKED.get(key)
    if name is None:
        if len(_PICKED) > 4096:
            _PICKED.clear()
        name = _PICKED[key] = kernel_choice(kind, dtype, size)
    return _KERNELS[kind][name]


def _kernel_label(kind: str, dtype: str) -> str:
    forced = _FORCED.get()
    if forced is not None:
        return forced
    small, large = (kernel_choice(kind, dtype, size) for size in (_SMALL_LABEL, 2**22))
    if small == large:
        return large
    costs = _kernel_costs(kind, dtype)
    (a0, b0), (a1, b1) = costs[small], costs[large]
    cross = int((a1 - a0) / (b0 - b1)) if b0 > b1 else 0
    return f"{large} from {cross} values per block, {small} below"


#: the smallest block a label considers (elements; _MIN_BLOCK points of a narrow layer)
_SMALL_LABEL = 512


@functools.cache
def _elementwise(activation: Activation, backend: str) -> tuple[NumericFunction, NumericFunction]:
    value = compile_exprs([activation.expr], [Z], (), backend)
    slope = compile_exprs([activation.derivative], [Z], (), backend)
    return value, slope


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


def _kind(activation: Activation) -> str:
    # the specialised formulas are used only for the exact expressions they implement
    if activation.name in _SPECIAL and not activation.params and activation.function is None:
        return activation.name
    return "generic"


class NetworkFunction:
    """A network's compiled Jacobian: points ``(..., n_in)`` to ``(..., n_out, n_in)``.

    ``order`` is ``"forward"`` or ``"reverse"`` (the order the chain is
    multiplied in; ``"auto"`` at compile time picks the cheaper, NOTE:
    chain-order). The ``"numpy"`` backend computes in float64; ``"torch"``
    keeps the input tensor's dtype and device.
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
        self._weights = [
            np.ascontiguousarray(np.array(layer.weight.tolist(), dtype=np.float64))
            for layer in network.layers
        ]
        self._weights_t = [np.ascontiguousarray(w.T) for w in self._weights]
        self._biases = [
            None if layer.bias is None else np.array(layer.bias.tolist(), dtype=np.float64).ravel()
            for layer in network.layers
        ]
        if all(b is not None and not b.any() for b in self._biases):
            self._biases = [None] * len(self._biases)
        else:
            self._biases = [None if b is None or not b.any() else b for b in self._biases]
        # weights, transposed weights and column biases per dtype: a float64 bias added to
        # a float32 block would take NumPy's slow mixed-type path
        self._by_dtype: dict[Any, _Arrays] = {}
        self._kinds = [_kind(layer.activation) for layer in network.layers]
        self._acts = [
            _elementwise(layer.activation, "torch" if backend == "torch" else "numpy")
            if kind == "generic"
            else None
            for layer, kind in zip(network.layers, self._kinds)
        ]
        # the lean single-point path (NOTE: one-point): specialised activations only
        self._lean = None
        if "generic" not in self._kinds:
            # (W, b, kind, whether the value feeds a later layer); reverse mode never
            # evaluates an identity output layer
            depth = len(self._kinds)
            skip = self.order == "reverse" and self._kinds[-1] == "identity"
            used = depth - 1 if skip else depth
            self._lean = [
                (self._weights[k], self._biases[k], self._kinds[k], k + 1 < used)
                for k in range(used)
            ]
        self._lean_divide = [kind == "tanh" for kind in self._kinds]
        # the single-point chain divides by 1 + cosh(2z) = 2 cosh(z)**2 and multiplies by the
        # doubled weights: the bits of dividing by cosh(z)**2 (NOTE: tanh-slope)
        self._lean_ws = [
            2.0 * w if divide else w for w, divide in zip(self._weights, self._lean_divide)
        ]
        self._lean_wts = [np.ascontiguousarray(w.T) for w in self._lean_ws]
        # a one-row running product (one output in reverse mode, one input in forward
        # mode) is no bigger than a slope: dividing it by cosh(z)**2 saves a division
        single = (self.n_out if self.order == "reverse" else self.n_in) == 1
        self._batch_divide = [single and kind == "tanh" for kind in self._kinds]
        self._one_shapes = ((self.n_in,), (1, self.n_in))
        # points per block of the batched chain (NOTE: blocked-chain): every per-point
        # intermediate (values, slopes, the running product) of a block fits in the cache
        sizes = self.sizes
        running = max(
            (self.n_out if self.order == "reverse" else self.n_in) * width for width in sizes
        )
        self._block_coords = _BLOCK_BYTES // (8 * (2 * sum(sizes[1:]) + 2 * running))
        self._x_limit = self._lean_input_limit() if self._lean is not None else -1.0
        self._torch_cache: dict[Any, Any] = {}
        if backend == "torch":
            import torch

            self._torch_module = torch

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
        torch's CPU kernel on the same memory. The choice is measured once per process;
        when small blocks are faster with other kernels the entry names both and the
        crossover. One point always takes the lean NumPy path (NOTE: one-point), and
        tensors that require grad or live on other devices use torch operations.

        >>> import symjac, numpy as np
        >>> fn = symjac.mlp([2, 3, 1], weights=[np.ones((3, 2)), np.ones((1, 3))]).numeric()
        >>> list(fn.kernels)
        ['tanh/float64']
        """
        if self.backend == "mpmath":
            return {}
        dtypes = ("float64", "float32") if self.backend == "torch" else ("float64",)
        out = {}
        for kind in dict.fromkeys(k for k in self._kinds if k in _KERNELS):
            for dtype in dtypes:
                out[f"{kind}/{dtype}"] = _kernel_label(kind, dtype)
        return out

    def _shape_error(self, shape: tuple[int, ...]) -> ValueError:
        order = ", ".join(s.name for s in self.network.inputs)
        return ValueError(
            f"expected points of shape (..., {self.n_in}) with coordinates in the order "
            f"({order}), got shape {shape}"
        )

    # -- entry point -------------------------------------------------------------------------
    def __call__(self, points: Any) -> Any:
        if self.backend == "numpy":
            return self._call_numpy(points)
        if self.backend == "torch":
            return self._call_torch(points)
        return self._call_mpmath(points)

    def _call_mpmath(self, points: Any) -> np.ndarray:
        # one linear high-precision pass per point (NOTE: mp-reference), never the symbolic tree
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().double().numpy()
        arr = np.asarray(points, dtype=object)
        if arr.ndim == 0 or arr.shape[-1] != self.n_in:
            raise self._shape_error(arr.shape)
        flat = arr.reshape(-1, self.n_in)
        out = np.empty((flat.shape[0], self.n_out, self.n_in), dtype=object)
        for k, point in enumerate(flat):
            out[k] = self.network.reference(list(point)).whole
        return out.reshape(*arr.shape[:-1], self.n_out, self.n_in)

    def _call_numpy(self, points: Any) -> np.ndarray:
        if type(points) is np.ndarray and points.dtype == np.float64:
            x = points
        else:
            x = self._numpy_input(points)
        shape = x.shape
        if self._lean is not None and shape in self._one_shapes:
            out = self._one_point(x.reshape(self.n_in))
            return out if len(shape) == 1 else out.reshape(1, self.n_out, self.n_in)
        if len(shape) == 2 and shape[1] == self.n_in:
            with np.errstate(all="ignore"):
                return self._numpy(x, shape[0])
        if not shape or shape[-1] != self.n_in:
            raise self._shape_error(shape)
        batch = shape[:-1]
        with np.errstate(all="ignore"):
            out = self._numpy(x.reshape(-1, self.n_in), int(np.prod(batch, dtype=np.int64)))
        return out.reshape(*batch, self.n_out, self.n_in)

    def _numpy_input(self, points: Any) -> np.ndarray:
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().numpy()
        x = np.asarray(points)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"expected real numbers, got an array of dtype {x.dtype}")
        return x.astype(np.float64, copy=False)

    # -- the numpy chain ---------------------------------------------------------------------
    def _arrays(self, dtype: Any) -> _Arrays:
        arrays = self._by_dtype.get(dtype)
        if arrays is None:
            arrays = (
                [w.astype(dtype) for w in self._weights],
                [w.astype(dtype) for w in self._weights_t],
                [None if b is None else b.astype(dtype)[:, None] for b in self._biases],
            )
            self._by_dtype[dtype] = arrays
        return arrays

    def _value_arrays(self, dtype: Any) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        arrays = self._by_dtype.get(("values", dtype))
        if arrays is None:
            ws, _, bs = self._arrays(dtype)
            scale = [2.0 if kind == "tanh" else 1.0 for kind in self._kinds]
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
        ``_batch_divide`` says the chain divides. The last layer's value is never needed.
        """
        slopes: list[np.ndarray | None] = []
        dtype = x.dtype
        # tanh layers get 2 W and 2 b: their kernels take u = 2z, exactly (NOTE: kernels)
        weights, biases = self._value_arrays(dtype)
        last = len(weights) - 1
        a = x.T
        for k, (w, b, kind) in enumerate(zip(weights, biases, self._kinds)):
            if kind == "identity":
                slopes.append(None)
                if k < last:
                    a = w @ a
                    if b is not None:
                        a += b
                continue
            z = w @ a
            if b is not None:
                z += b
            if kind == "tanh" or kind == "sigmoid":
                # the value and the slope (or, with _batch_divide, the slope's reciprocal)
                # by the kernels measured fastest here (NOTE: kernels)
                a, s = _kernel(kind, dtype, z.size)(z, k < last, self._batch_divide[k])
            else:
                value, slope = self._acts[k]
                zz = z[..., None]
                s = np.asarray(slope(zz), dtype=dtype)
                if s.shape != z.shape:
                    s = np.broadcast_to(s, z.shape)
                a = None if k == last else np.asarray(value(zz), dtype=dtype)
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
        for w, b, kind, _ in self._lean:
            k = float(np.abs(w).sum(axis=1).max()) if w.size else 0.0
            chain *= max(float(np.abs(w).sum()), 1.0)
            alpha, beta = k * alpha, k * beta + (0.0 if b is None else float(np.abs(b).max()))
            if beta >= bound:
                return -1.0
            if alpha > 0:
                limit = min(limit, (bound - beta) / alpha)
            if kind != "identity":
                alpha, beta = 0.0, 1.0
        chain *= max(float(np.abs(self._weights[-1]).sum()), 1.0)
        return limit if chain < 1e300 and np.isfinite(chain) else -1.0

    def _one_point(self, x: np.ndarray, values: list[float] | None = None) -> np.ndarray:
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
            :meth:`_numpy`, so the result agrees with the batched path to rounding. The
            caller holds ``np.errstate(all="ignore")`` (``cosh(2z)`` overflows to
            ``inf`` for ``|z| > 355``, where dividing by it gives 0, the slope
            ``sech(z)**2 < 2e-308`` flushed to zero) unless
            :meth:`_lean_input_limit` shows that nothing can overflow.
        """
        reverse = self.order == "reverse"
        slopes: list[np.ndarray | None] = []
        a = x
        cosh, tanh = np.cosh, np.tanh
        for w, b, kind, value in self._lean:
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
        if len(slopes) < len(self._weights):
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

    def _numpy(self, x: np.ndarray, n: int) -> np.ndarray:
        # float64 for the numpy backend; float32 when a large float32 tensor asks for it
        out = np.empty((n, self.n_out, self.n_in), dtype=x.dtype)
        step = max(_MIN_BLOCK, self._block_coords * 8 // x.dtype.itemsize)
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
            :meth:`_numpy` feeds points in blocks whose intermediates fit in the cache.
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
                    np.matmul(r.transpose(0, 2, 1), ws[0], out=out.transpose(1, 0, 2))
                    return
                else:
                    r = np.matmul(wts[k], r)
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
                f = ws[k] @ f if shared else np.matmul(ws[k], f)
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

    # -- the torch chain ---------------------------------------------------------------------
    def _torch_params(self, dtype: Any, device: Any) -> list[Any]:
        key = (dtype, device)
        params = self._torch_cache.get(key)
        if params is None:
            import torch

            def conv(a: np.ndarray | None) -> Any:
                return None if a is None else torch.as_tensor(a, dtype=dtype, device=device)

            params = [
                (conv(w), conv(wt), conv(b))
                for w, wt, b in zip(self._weights, self._weights_t, self._biases)
            ]
            self._torch_cache[key] = params
        return params

    def _call_torch(self, points: Any) -> Any:
        torch = self._torch_module
        if (
            type(points) is torch.Tensor
            and self._lean is not None
            and not points.requires_grad
            and points.is_cpu
            and points.shape in self._one_shapes
        ):
            # one CPU point (NOTE: one-point): float64 math on the tensor's memory, the
            # result converted to the tensor's dtype in NumPy (cheaper than Tensor.to)
            dtype = points.dtype
            if dtype is torch.float64 or dtype is torch.float32:
                # a Python list, then a float64 array: cheaper than Tensor.numpy() + astype
                values = points.tolist()
                if len(points.shape) == 2:
                    values = values[0]
                out = self._one_point(np.array(values), values)
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
            raise self._shape_error(tuple(shape))
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
                    out = self._numpy(x2, x2.shape[0])
                return torch.from_numpy(out).reshape(*shape[:-1], self.n_out, self.n_in)
            if len(shape) == 2:
                out = self._call_numpy(x if dtype is torch.float64 else x.astype(np.float64))
            else:
                out = self._call_numpy(x.astype(np.float64, copy=False))
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
        for k, ((_, wt, b), kind) in enumerate(zip(params, self._kinds)):
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
                value, slope = self._acts[k]
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
