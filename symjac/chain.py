"""The symbolic chain: each layer's outputs and Jacobian as SymPy's own trees, built fast.

For a concrete :class:`~symjac.Network`, ``Network.layer_jacobians()`` instantiates
``J_l = diag(s'(z_l)) W_l`` entry by entry (NOTE: layer-rule). This module builds the
plain layers' trees directly from their canonical parts (NOTE: fast-layer), through the
primitives of :mod:`symjac._sympy_fast`, the one module that touches SymPy's internals
(NOTE: sympy-fallback). The compiled numeric chain is :mod:`symjac.chain_numeric`
(``compile_network``, ``NetworkFunction``), its kernels :mod:`symjac.kernels`; both are
still reachable from here under their old names.

>>> import sympy
>>> from symjac.activations import get_activation
>>> x1, x2 = sympy.symbols("x1 x2", real=True)
>>> W = sympy.ImmutableMatrix([[1, -2]])
>>> layer_outputs(W, None, get_activation("identity"), [x1, x2]).outputs
[x1 - 2*x2]
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import sympy

from symjac import _sympy_fast
from symjac._sympy_fast import Construction
from symjac.activations import Activation

__all__ = [
    "LayerOutputs",
    "layer_matrix",
    "layer_outputs",
    "symbolic_layer",
]

_ONE, _MINUS_ONE = sympy.S.One, sympy.S.NegativeOne


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
#     their overhead: two-argument Add/Mul, the tanh node without the cache lookup that
#     hashes the whole sum, the ImmutableMatrix from the sparse representation it would
#     build. Those primitives, and every other use of SymPy's internals, are in
#     symjac._sympy_fast, each with a public twin that builds the same tree and takes over
#     on an untested SymPy or any failure (NOTE: sympy-fallback). A layer's outputs are
#     built once and shared by ``Network.stages`` and ``Network.layer_jacobians()``.


def _plain_terms(c: Construction, row: Sequence[Any], symbols: Sequence[Any]) -> list[Any] | None:
    terms = []
    for w, x in zip(row, symbols):
        if not w.is_Rational:
            return None
        if w.p == 0:
            continue
        terms.append(x if w is _ONE else c.mul(w, x))
    c.sort_terms(terms)
    return terms


def _negative(term: Any) -> bool:
    if term.is_Rational:
        return term.p < 0
    if term.is_Mul:
        return term.args[0].p < 0
    return False


def _negated(c: Construction, term: Any) -> Any:
    if term.is_Rational:
        return c.rational(-term.p, term.q)
    if term.is_Mul:
        neg = c.rational(-term.args[0].p, term.args[0].q)
        return term.args[1] if neg is _ONE else c.mul(neg, term.args[1])
    return c.mul(_MINUS_ONE, term)


def _plain_tanh(c: Construction, z: Any, terms: list[Any], const: Any) -> tuple[Any, Any]:
    """``(tanh(z), t)`` as SymPy evaluates them: ``t = tanh(+-z)`` with the sign SymPy keeps."""
    negative = sum(1 for t in terms if _negative(t)) + (
        1 if const is not None and const.p < 0 else 0
    )
    positive = len(terms) + (const is not None) - negative
    flip = negative > positive if negative != positive else z.could_extract_minus_sign()
    if not flip:
        t = c.tanh(z)
        return t, t
    neg_terms = [_negated(c, t) for t in terms]
    c.sort_terms(neg_terms)
    if const is not None:
        neg_terms.insert(0, c.rational(-const.p, const.q))
    t = c.tanh(c.add(neg_terms))
    return c.mul(_MINUS_ONE, t), t


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
    with _gc_paused():
        return _sympy_fast.build(lambda c: _plain_outputs(c, kind, weight, bias, symbols))


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
    with _gc_paused():
        return _sympy_fast.build(lambda c: _tanh_matrix(c, weight, parts))


def _tanh_matrix(c: Construction, weight: Any, parts: LayerOutputs) -> Any:
    rows, cols = weight.shape
    dod: dict[int, dict[int, Any]] = {}
    flat = [sympy.S.Zero] * (rows * cols)
    add2, mul, rational = c.add2, c.mul, c.rational
    for i, (row, t) in enumerate(zip(parts.rows, parts.tanhs)):
        square = c.square(t)
        slope = add2(_ONE, mul(_MINUS_ONE, square))
        entries = {}
        # w * (1 - t**2) with SymPy's distribution of a rational over a sum: w - w*t**2
        for j, w in enumerate(row):
            if w.p == 0:
                continue
            if w is _ONE:
                entries[j] = slope
            elif w is _MINUS_ONE:
                entries[j] = add2(_MINUS_ONE, square)
            else:
                entries[j] = add2(w, mul(rational(-w.p, w.q), square))
        if entries:
            dod[i] = entries
            for j, entry in entries.items():
                flat[i * cols + j] = entry
    return c.immutable_matrix(dod, flat, rows, cols)


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
    c: Construction, kind: str, weight: Any, bias: Any, symbols: Sequence[Any]
) -> LayerOutputs | None:
    if len({c.assumptions_key(s) for s in symbols}) > 1:
        return None  # Basic.compare would then also compare assumptions
    rows_w = c.rational_rows(weight)
    biases = [None] * len(rows_w) if bias is None else [r[0] for r in c.rational_rows(bias)]
    outs: list[Any] = []
    tanhs: list[Any] = []
    for row, b in zip(rows_w, biases):
        terms = _plain_terms(c, row, symbols)
        if terms is None or (b is not None and not b.is_Rational):
            return None
        const = b if b is not None and b.p != 0 else None
        if len(terms) + (const is not None) < 2 or not terms:
            return None  # a single term or a constant: SymPy's own rules apply
        z = c.add([const, *terms] if const is not None else terms)
        if kind == "identity":
            outs.append(z)
            continue
        value, t = _plain_tanh(c, z, terms, const)
        outs.append(value)
        tanhs.append(t)
    return LayerOutputs(kind, outs, tanhs, rows_w)


#: names that moved out of this module, still importable from it (lazily: the symbolic
#: chain needs neither NumPy arrays nor the kernels)
_MOVED = {
    "NetworkFunction": "symjac.chain_numeric",
    "chain_costs": "symjac.chain_numeric",
    "compile_network": "symjac.chain_numeric",
    "forced_kernels": "symjac.kernels",
    "kernel_choice": "symjac.kernels",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
