r"""The primitive table: every operation a traced model may use, each with its exact rule.

A traced model is a directed acyclic graph of :class:`Node`\ s; each node applies one
primitive of :data:`PRIMITIVES` to earlier nodes, constants (weights, buffers) and
numbers. A primitive is *one* forward-mode rule (value and tangent) written against
the small array vocabulary of :class:`symjac.graph.backends.Ops` (NOTE:
one-rule-four-backends), so its SymPy form, its local Jacobian, the compiled NumPy
and torch kernels and the high-precision reference are all this one entry. The
``torch`` column names how each primitive appears in a model (an ``nn`` module, a
``torch.*``/``F.*`` function, a tensor method); :mod:`symjac.torch_interop.reader`
reads that column and nothing else, and the docs' table of supported operations is
generated from it. Elementwise functions (activations, ``sin``, ``exp``, ``clamp``...)
are the one ``elementwise`` primitive applied with an
:class:`~symjac.activations.Activation`; :data:`ELEMENTWISE` is their torch column.

Composite modules (``LayerNorm``, ``RMSNorm``, eval-mode ``BatchNorm1d``) are not
primitives: :data:`COMPOSITES` expands each into primitive nodes (a mean, a
subtraction, an ``rsqrt``...), so their exact Jacobians need no rule of their own.

>>> sorted(PRIMITIVES)[:4]
['add', 'cat', 'div', 'elementwise']
>>> ELEMENTWISE["tanh"].functions
('torch.tanh', 'F.tanh')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from symjac.activations import ELEMENTWISE, Spelling
from symjac.graph.backends import Ops

__all__ = [
    "COMPOSITES",
    "ELEMENTWISE",
    "PRIMITIVES",
    "Composite",
    "In",
    "Node",
    "Primitive",
    "Ref",
    "Spelling",
]


@dataclasses.dataclass(frozen=True)
class Ref:
    """A reference to an earlier node of the graph, by index (as a node argument)."""

    index: int


@dataclasses.dataclass(frozen=True, eq=False)
class Node:
    """One node: ``op`` applied to ``args`` (:class:`Ref`\\ s or numbers) with ``params``.

    ``shape`` is the per-sample shape for a ``batched`` node (one that depends on the
    model's input; arrays carry a leading batch axis) and the whole shape of a
    constant otherwise. ``op`` is a key of :data:`PRIMITIVES`, ``"input"`` (params
    ``part``) or ``"const"`` (params ``value``, a float64 array holding the exact
    binary values of a weight or buffer).
    """

    op: str
    args: tuple[Any, ...]
    params: dict[str, Any]
    shape: tuple[int, ...]
    batched: bool


class In(NamedTuple):
    """A rule's view of one argument: value, tangent (or None), shape, batched."""

    value: Any
    tangent: Any
    shape: tuple[int, ...] | None  # None for a plain number
    batched: bool


Rule = Callable[[Ops, Node, list[In]], tuple[Any, Any]]


@dataclasses.dataclass(frozen=True)
class Primitive:
    """A table entry: the rule, what it computes, its local Jacobian, and its torch names."""

    name: str
    rule: Rule
    computes: str  # LaTeX, in the argument names a, b, x
    jacobian: str  # LaTeX of the local Jacobian
    torch: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Composite:
    """A module expanded into primitives: its torch name and what it computes."""

    torch: tuple[str, ...]
    computes: str


# -- broadcasting a value or tangent against the output (batched arrays lead with N) ---------


def _col(arg: In, out_ndim: int) -> Any:
    """``arg``'s value shaped to scale a tangent of shape ``(N, *out, n)``."""
    v = arg.value
    if arg.shape is None:
        return v
    if arg.batched:
        lead = (1,) * (out_ndim - len(arg.shape))
        return v.reshape((v.shape[0], *lead, *arg.shape, 1))
    return v.reshape((*v.shape, 1))  # a constant: right-aligned with the output


def _tangent(ops: Ops, arg: In, node: Node) -> Any:
    """``arg``'s tangent broadcast to the output's shape, or None."""
    t = arg.tangent
    if t is None:
        return None
    lead = (1,) * (len(node.shape) - len(arg.shape))
    t = t.reshape((t.shape[0], *lead, *arg.shape, t.shape[-1]))
    return ops.broadcast_to(t, (t.shape[0], *node.shape, t.shape[-1]))


def _plus(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


def _scaled(t: Any, factor: Any) -> Any:
    return None if t is None else t * factor


def _add(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    a, b = ins
    return a.value + b.value, _plus(_tangent(ops, a, node), _tangent(ops, b, node))


def _sub(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    a, b = ins
    tb = _tangent(ops, b, node)
    return a.value - b.value, _plus(_tangent(ops, a, node), None if tb is None else -tb)


def _mul(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    a, b = ins
    k = len(node.shape)
    ta = _scaled(_tangent(ops, a, node), _col(b, k))
    return a.value * b.value, _plus(ta, _scaled(_tangent(ops, b, node), _col(a, k)))


def _div(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    a, b = ins
    value = a.value / b.value
    ta, tb = _tangent(ops, a, node), _tangent(ops, b, node)
    if ta is None and tb is None:
        return value, None
    k = len(node.shape)
    quotient = In(value, None, node.shape, node.batched)
    top = _plus(ta, None if tb is None else -(tb * _col(quotient, k)))
    return value, top / _col(b, k)


def _linear(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    (x,) = ins
    w = ops.const(node.params["weight"])
    value = x.value @ w.T
    if node.params.get("bias") is not None:
        value = value + ops.const(node.params["bias"])
    return value, None if x.tangent is None else w @ x.tangent


def _elementwise(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    (x,) = ins
    value, slope = ops.elementwise(node.params["activation"], x.value)
    return value, None if x.tangent is None else slope[..., None] * x.tangent


def _offset(node: Node) -> int:
    return 1 if node.batched else 0


def _cat(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    axis = node.params["axis"] + _offset(node)
    value = ops.cat([a.value for a in ins], axis)
    if all(a.tangent is None for a in ins):
        return value, None
    n, width = value.shape[0], next(a.tangent for a in ins if a.tangent is not None).shape[-1]
    tangents = [
        a.tangent if a.tangent is not None else ops.zeros((n, *a.shape, width)) for a in ins
    ]
    return value, ops.cat(tangents, axis)


def _index(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    (x,) = ins
    key = node.params["key"]
    if not node.batched:
        return x.value[key], None
    everything = slice(None)
    value = x.value[(everything, *key)]
    return value, None if x.tangent is None else x.tangent[(everything, *key, everything)]


def _reshape(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    (x,) = ins
    if not node.batched:
        return x.value.reshape(node.shape), None
    n = x.value.shape[0]
    value = x.value.reshape((n, *node.shape))
    t = x.tangent
    return value, None if t is None else t.reshape((n, *node.shape, t.shape[-1]))


def _sum(ops: Ops, node: Node, ins: list[In]) -> tuple[Any, Any]:
    (x,) = ins
    axes = tuple(a + _offset(node) for a in node.params["axes"])
    keep = node.params["keepdim"]
    value = ops.sum(x.value, axes, keep)
    t = None if x.tangent is None else ops.sum(x.tangent, axes, keep)
    if node.params.get("mean"):
        count = math.prod(x.shape[a] for a in node.params["axes"])
        value, t = value / count, None if t is None else t / count
    return value, t


#: every primitive: rule, formula, local Jacobian and torch names (NOTE: one-rule-four-backends)
PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (
        Primitive("linear", _linear, r"W x + b", r"W",
                  ("nn.Linear", "F.linear", "torch.matmul", "operator.matmul", "Tensor.matmul",
                   "torch.mm", "Tensor.mm")),
        Primitive("add", _add, r"a + b", r"\partial_a = I,\ \partial_b = I",
                  ("operator.add", "torch.add", "Tensor.add", "Tensor.__radd__")),
        Primitive("sub", _sub, r"a - b", r"\partial_a = I,\ \partial_b = -I",
                  ("operator.sub", "torch.sub", "torch.subtract", "Tensor.sub",
                   "Tensor.__rsub__")),
        Primitive("mul", _mul, r"a \odot b",
                  r"\partial_a = \operatorname{diag}(b),\ \partial_b = \operatorname{diag}(a)",
                  ("operator.mul", "torch.mul", "torch.multiply", "Tensor.mul",
                   "Tensor.__rmul__")),
        Primitive("div", _div, r"a / b",
                  r"\partial_a = \operatorname{diag}(1/b),\ \partial_b = "
                  r"-\operatorname{diag}(a/b^2)",
                  ("operator.truediv", "torch.div", "torch.true_divide", "Tensor.div",
                   "Tensor.__rtruediv__")),
        Primitive("elementwise", _elementwise, r"s(x)", r"\operatorname{diag}(s'(x))",
                  ("see the table of elementwise functions",)),
        Primitive("cat", _cat, r"(a, b, \dots)", r"\text{stacked identity blocks}",
                  ("torch.cat", "torch.concat", "torch.concatenate", "torch.stack",
                   "torch.hstack")),
        Primitive("index", _index, r"x_{S}", r"\text{rows of } I",
                  ("x[...] (indexing and slicing)", "Tensor.narrow", "torch.narrow",
                   "torch.split", "Tensor.split", "torch.chunk", "Tensor.chunk",
                   "torch.unbind", "Tensor.unbind", "Tensor.select")),
        Primitive("reshape", _reshape, r"x", r"I",
                  ("Tensor.reshape", "Tensor.view", "torch.reshape", "torch.flatten",
                   "Tensor.flatten", "nn.Flatten", "Tensor.unsqueeze", "torch.unsqueeze",
                   "Tensor.squeeze", "torch.squeeze", "Tensor.clone", "Tensor.contiguous",
                   "nn.Identity", "nn.Dropout (eval)", "F.dropout (eval)")),
        Primitive("sum", _sum, r"\textstyle\sum_i x_i \text{ (or the mean)}",
                  r"\mathbf{1}^\top \text{ (or } \mathbf{1}^\top / n)",
                  ("torch.sum", "Tensor.sum", "torch.mean", "Tensor.mean")),
    )
}  # fmt: skip


#: modules read as several primitives
COMPOSITES: dict[str, Composite] = {
    "layer_norm": Composite(
        ("nn.LayerNorm", "F.layer_norm"),
        r"\frac{x - \bar x}{\sqrt{\overline{(x - \bar x)^2} + \epsilon}} \odot w + b",
    ),
    "rms_norm": Composite(
        ("nn.RMSNorm", "F.rms_norm"), r"\frac{x}{\sqrt{\overline{x^2} + \epsilon}} \odot w"
    ),
    "batch_norm": Composite(  # in eval mode: an affine map from the running statistics
        ("nn.BatchNorm1d",), r"\frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot w + b"
    ),
}
