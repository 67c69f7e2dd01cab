"""One reader per table entry: an fx node (with torch's real values) -> primitive nodes.

Each function takes the running :class:`~symjac.torch_interop.reader._Reader`,
the fx node, its resolved arguments and torch's real result, and returns the
:class:`~symjac.graph.primitives.Ref` (or tuple of them) holding the value. The
table entry a node maps to comes from the primitive table's torch column
(:func:`symjac.torch_interop.reader.torch_targets`); see NOTE: reading-order.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn

from symjac.activations import Activation, get_activation
from symjac.graph.primitives import ELEMENTWISE, Ref

__all__ = ["COMPOSITE_READERS", "READERS", "read_node"]

_FIX = "rewrite it with supported operations (see docs: 'Your model')"
_DATA_DEPENDENT = {"item", "tolist", "numpy", "nonzero", "argmax", "argmin", "__bool__",
                   "long", "int", "round", "sign", "floor", "ceil", "bool"}  # fmt: skip
_ALIASES = {"clone", "contiguous", "detach", "float", "double", "to", "type_as", "half"}


def _refuse(r: Any, n: torch.fx.Node, why: str, fix: str = _FIX) -> Exception:
    from symjac.torch_interop.reader import op_text, refusal

    return refusal(n, op_text(n, r.module_of(n)), why, fix)


def _arg(n: torch.fx.Node, args: tuple, kwargs: dict, pos: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def _per_sample(real: torch.Tensor) -> tuple[int, ...]:
    return tuple(real.shape[1:])


def _dim(r: Any, n: torch.fx.Node, dim: int, ndim: int) -> int:
    """A torch dim of a batched tensor as a per-sample axis; the batch axis is refused."""
    d = dim % ndim
    if d == 0:
        raise _refuse(r, n, "it acts along the batch axis (dim 0), which mixes samples",
                      "act along the feature axes (dim=1 or dim=-1)")  # fmt: skip
    return d - 1


def read_node(r: Any, n: torch.fx.Node, real: Any) -> Any:
    """The primitive nodes for fx node ``n`` (see the module docstring)."""
    from symjac.autograd_functions import FunctionCall

    args = torch.fx.node.map_arg(n.args, lambda a: r.sym[a])
    kwargs = dict(torch.fx.node.map_arg(n.kwargs, lambda a: r.sym[a]))
    module = r.module_of(n)
    if n.op == "call_method" and (n.target in _DATA_DEPENDENT or n.target.endswith("_")):
        what = "modifies a tensor in place" if n.target.endswith("_") else "reads a tensor's values"
        raise _refuse(r, n, what, "write it out of place (x = x + y, not x += y)"
                      if n.target.endswith("_") else "keep the computation in tensors")  # fmt: skip
    if n.op == "call_function" and n.target in (operator.iadd, operator.isub, operator.imul,
                                                operator.itruediv, operator.setitem):  # fmt: skip
        raise _refuse(r, n, "it modifies a tensor in place",
                      "write it out of place (x = x + y, not x += y)")  # fmt: skip
    if n.op == "call_function" and isinstance(n.target, FunctionCall):
        from symjac.autograd_functions import read_function

        return _elementwise(r, n, args, read_function(n.target))
    key = type(module) if n.op == "call_module" else n.target
    entry = r.targets.get((n.op, key))
    if entry is None:
        return _untabled(r, n, args, kwargs, module, real)
    table, name = entry
    if table == "elementwise":
        return _elementwise(r, n, args, _activation(r, n, name, args, kwargs, module, real))
    reader = COMPOSITE_READERS.get(name) if table == "composite" else READERS[name]
    return reader(r, n, args, kwargs, module, real)


def _untabled(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Any:
    if n.op == "call_method" and n.target in _ALIASES:
        return args[0]
    if n.target is getattr and isinstance(real, torch.Tensor):
        if r.batched(args[0]) or args[1] not in ("T", "mT"):
            raise _refuse(r, n, f"it reads the attribute .{args[1]} of a tensor",
                          "use .reshape or indexing on features")  # fmt: skip
        return r.const(real)  # a transposed weight: the same exact values, permuted
    if module is not None and isinstance(module, (nn.Identity, nn.modules.dropout._DropoutNd)):
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p:
            raise _refuse(r, n, "it is in training mode (random)", "call model.eval() first")
        return args[0]
    if n.op == "call_function" and getattr(n.target, "__name__", "") in (
        "dropout",
        "alpha_dropout",
    ):
        if _arg(n, args, kwargs, 2, "training", True) and _arg(n, args, kwargs, 1, "p", 0.5):
            raise _refuse(r, n, "it is in training mode (random)",
                          "pass training=self.training and call model.eval()")  # fmt: skip
        return args[0]
    if not isinstance(real, (torch.Tensor, tuple, list)) or (
        isinstance(real, (tuple, list)) and not any(isinstance(v, torch.Tensor) for v in real)
    ):
        return real  # shape arithmetic (x.shape[0], x.size(-1)): a plain Python value
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return _batch_norm(r, n, args, kwargs, module, real)
    kind = (
        "a module symjac has no rule for"
        if module is not None
        else "an operation symjac has no rule for"
    )
    raise _refuse(r, n, kind, _FIX)


def _activation(r: Any, n: torch.fx.Node, name: str, args: tuple, kwargs: dict, module: Any,
                real: Any) -> Activation:  # fmt: skip
    reading = ELEMENTWISE[name]
    params: dict[str, Any] = {}
    for sym_name, kw, pos in reading.params:
        value = (
            getattr(module, kw, None)
            if module is not None
            else _arg(n, args, kwargs, pos + 1, kw, None)
        )
        if isinstance(value, (Ref, torch.Tensor)):
            raise _refuse(r, n, f"its {kw} is a tensor", f"give {kw} as a number")
        if value is not None:
            params[sym_name] = float(value)
    if name == "gelu":
        approx = (
            getattr(module, "approximate", None)
            if module is not None
            else kwargs.get("approximate")
        )
        if approx == "tanh":
            return get_activation("gelu_tanh")
    if name == "pow":
        base, exponent = args[0], params.get("exponent", _arg(n, args, kwargs, 1, "exponent", None))
        if isinstance(base, Ref) and isinstance(exponent, (int, float)):
            return get_activation("pow", exponent=float(exponent))
        raise _refuse(r, n, "its exponent depends on the input", "use torch.exp(y * log(c))")
    try:
        return get_activation(name, **params)
    except (TypeError, ValueError) as err:
        raise _refuse(r, n, str(err)) from None


def _elementwise(r: Any, n: torch.fx.Node, args: tuple, act: Activation) -> Ref:
    x = args[0]
    if not isinstance(x, Ref):
        x = r.operand(x, n)
    return r.add("elementwise", (x,), activation=act)


# -- primitives -------------------------------------------------------------------------------


def _linear(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
    if module is not None:
        weight, bias = module.weight, module.bias
        return _linear_node(r, n, args[0], _array(weight), None if bias is None else _array(bias))
    name = getattr(n.target, "__name__", "")
    a, b = args[0], _arg(n, args, kwargs, 1, "weight" if name == "linear" else "other", None)
    if name == "linear":
        bias = _arg(n, args, kwargs, 2, "bias", None)
        return _linear_node(r, n, a, _const_array(r, n, b), _const_array(r, n, bias))
    if r.batched(a) and r.batched(b):
        raise _refuse(r, n, "both factors depend on the input (a bilinear product)")
    if not r.batched(a):
        raise _refuse(r, n, "the constant is on the left (C @ x multiplies along the batch)",
                      "write x @ C.T")  # fmt: skip
    c = _const_array(r, n, b)
    if c.ndim == 1:
        out = _linear_node(r, n, a, c[None, :], None)
        return r.add("reshape", (out,), shape=_per_sample(real))
    if c.ndim != 2:
        raise _refuse(r, n, f"its constant factor has {c.ndim} dimensions", "use a matrix")
    return _linear_node(r, n, a, c.T.copy(), None)


def _array(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.detach().to(torch.float64).cpu().numpy(), dtype=np.float64)


def _const_array(r: Any, n: torch.fx.Node, ref: Any) -> Any:
    if ref is None:
        return None
    if isinstance(ref, Ref) and r.nodes[ref.index].op == "const":
        return r.nodes[ref.index].params["value"]
    raise _refuse(r, n, "its weight is computed in forward or depends on the input",
                  "keep weights as parameters or buffers")  # fmt: skip


def _linear_node(r: Any, n: torch.fx.Node, x: Any, weight: Any, bias: Any) -> Ref:
    if not r.batched(x):
        x = r.operand(x, n)
    return r.add("linear", (x,), weight=weight, bias=bias)


def _binary(op: str) -> Any:
    def read(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
        a, b = args[0], _arg(n, args, kwargs, 1, "other", None)
        if isinstance(n.target, str) and n.target.startswith("__r"):
            a, b = b, a
        if kwargs.get("rounding_mode") is not None:
            raise _refuse(r, n, "it rounds (rounding_mode), which has no derivative")
        alpha = kwargs.get("alpha", 1)
        a, b = r.operand(a, n), r.operand(b, n)
        if alpha != 1:
            b = r.add("mul", (b, float(alpha)))
        return r.add(op, (a, b))

    return read


def _cat(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
    items = list(args[0])
    name = getattr(n.target, "__name__", "")
    dim = 1 if name == "hstack" else _arg(n, args, kwargs, 1, "dim", 0)
    if not all(r.batched(a) for a in items):
        raise _refuse(
            r,
            n,
            "it joins a constant to values that depend on the input",
            "expand the constant to the batch first, or add it after a Linear",
        )
    if name == "stack":
        axis = _dim(r, n, dim, real.ndim)
        items = [r.add("reshape", (a,), shape=(*r.shape_of(a)[:axis], 1, *r.shape_of(a)[axis:]))
                 for a in items]  # fmt: skip
        return r.add("cat", tuple(items), axis=axis)
    return r.add("cat", tuple(items), axis=_dim(r, n, dim, real.ndim))


def _index(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Any:
    x = args[0]
    if isinstance(x, tuple):  # one piece of split/chunk/unbind
        return x[args[1]]
    name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
    source = r.env[n.args[0]]
    if not isinstance(source, torch.Tensor):
        return real  # indexing a shape or a list: a plain Python value
    ndim = source.ndim
    if name in ("split", "chunk", "unbind"):
        return _pieces(r, n, x, args, kwargs, real, name, ndim)
    if name == "narrow":
        d = _dim(r, n, _arg(n, args, kwargs, 1, "dim", 0), ndim)
        start, length = args[2], args[3]
        key = (*(slice(None),) * d, slice(start, start + length))
    elif name == "select":
        d = _dim(r, n, _arg(n, args, kwargs, 1, "dim", 0), ndim)
        key = (*(slice(None),) * d, args[2])
    else:
        key = _feature_key(r, n, args[1], ndim)
    if not r.batched(x):
        x = r.operand(x, n)
    return r.add("index", (x,), key=key)


def _feature_key(r: Any, n: torch.fx.Node, key: Any, ndim: int) -> tuple[Any, ...]:
    key = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, Ref) for k in key):
        raise _refuse(r, n, "it indexes with a tensor computed in forward", "index with numbers")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        fill = ndim - (len(key) - 1 - sum(k is None for k in key))
        key = key[:at] + (slice(None),) * fill + key[at + 1 :]
    if not key or key[0] != slice(None):
        raise _refuse(r, n, "it indexes the batch axis (dim 0)", "index features: x[:, i]")
    out = []
    for k in key[1:]:
        if isinstance(k, torch.Tensor):
            if k.dtype == torch.bool:
                raise _refuse(r, n, "it indexes with a boolean mask", "index with positions")
            k = k.tolist()
        out.append(k)
    return tuple(out)


def _pieces(r: Any, n: torch.fx.Node, x: Ref, args: tuple, kwargs: dict, real: Any, name: str,
            ndim: int) -> tuple[Ref, ...]:  # fmt: skip
    d = _dim(r, n, _arg(n, args, kwargs, 1 if name == "unbind" else 2, "dim", 0), ndim)
    pieces, start = [], 0
    for part in real:
        if name == "unbind":
            key = (slice(None),) * d + (start,)
            start += 1
        else:
            size = part.shape[d + 1]
            key = (slice(None),) * d + (slice(start, start + size),)
            start += size
        pieces.append(r.add("index", (x,), key=key))
    return tuple(pieces)


def _reshape(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Any:
    x = args[0]
    if not r.batched(x):
        return r.add("reshape", (r.operand(x, n),), shape=tuple(real.shape))
    if real.ndim == 0 or real.shape[0] != r.env[n.args[0]].shape[0]:
        raise _refuse(r, n, "it merges or moves the batch axis",
                      "reshape the features only: x.reshape(x.shape[0], -1)")  # fmt: skip
    shape = _per_sample(real)
    return x if shape == r.shape_of(x) else r.add("reshape", (x,), shape=shape)


def _sum(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
    x = args[0]
    ndim = r.env[n.args[0]].ndim
    dims = _arg(n, args, kwargs, 1, "dim", None)
    if dims is None:
        raise _refuse(r, n, "it reduces over every axis, the batch axis included",
                      "reduce over the features: x.sum(dim=-1)")  # fmt: skip
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    axes = tuple(sorted(_dim(r, n, d, ndim) for d in dims))
    keep = bool(_arg(n, args, kwargs, 2, "keepdim", False))
    mean = getattr(n.target, "__name__", n.target) == "mean"
    return r.add("sum", (x,), axes=axes, keepdim=keep, mean=mean)


READERS = {
    "linear": _linear,
    "add": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "div": _binary("div"),
    "cat": _cat,
    "index": _index,
    "reshape": _reshape,
    "sum": _sum,
}


# -- composites: modules read as several primitives ----------------------------------------------


def _normalize(r: Any, n: torch.fx.Node, x: Ref, k: int, eps: float, centre: bool) -> Ref:
    """``(x - mean) / sqrt(var + eps)`` (or ``x / sqrt(mean(x^2) + eps)``) over the last k axes."""
    ndim = len(r.shape_of(x))
    axes = tuple(range(ndim - k, ndim))
    if centre:
        x = r.add("sub", (x, r.add("sum", (x,), axes=axes, keepdim=True, mean=True)))
    square = r.add("mul", (x, x))
    var = r.add("sum", (square,), axes=axes, keepdim=True, mean=True)
    scale = r.add(
        "elementwise", (r.add("add", (var, float(eps))),), activation=get_activation("rsqrt")
    )
    return r.add("mul", (x, scale))


def _affine(r: Any, y: Ref, weight: Any, bias: Any) -> Ref:
    if weight is not None:
        y = r.add("mul", (y, r.const(weight)))
    if bias is not None:
        y = r.add("add", (y, r.const(bias)))
    return y


def _layer_norm(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
    if module is not None:
        shape, eps, weight, bias = module.normalized_shape, module.eps, module.weight, module.bias
    else:
        shape = _arg(n, args, kwargs, 1, "normalized_shape", None)
        eps = _arg(n, args, kwargs, 4, "eps", 1e-5)
        weight = _tensor_of(r, n, _arg(n, args, kwargs, 2, "weight", None))
        bias = _tensor_of(r, n, _arg(n, args, kwargs, 3, "bias", None))
    k = len(shape) if isinstance(shape, (tuple, list, torch.Size)) else 1
    return _affine(r, _normalize(r, n, args[0], k, eps, centre=True), weight, bias)


def _rms_norm(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
    if module is not None:
        shape, eps, weight = module.normalized_shape, module.eps, module.weight
    else:
        shape = _arg(n, args, kwargs, 1, "normalized_shape", None)
        eps = _arg(n, args, kwargs, 3, "eps", None)
        weight = _tensor_of(r, n, _arg(n, args, kwargs, 2, "weight", None))
    if eps is None:  # torch uses the machine epsilon of the model's dtype
        eps = torch.finfo(r.dtype).eps
    k = len(shape) if isinstance(shape, (tuple, list, torch.Size)) else 1
    return _affine(r, _normalize(r, n, args[0], k, eps, centre=False), weight, None)


def _batch_norm(r: Any, n: torch.fx.Node, args: tuple, kwargs: dict, module: Any, real: Any) -> Ref:
    if module.training or module.running_mean is None:
        raise _refuse(
            r,
            n,
            "it normalises with the batch's own statistics (training mode or "
            "track_running_stats=False)",
            "call model.eval() with running statistics",
        )
    x = args[0]
    channel_shape = (-1,) + (1,) * (len(r.shape_of(x)) - 1)
    mean = r.add("reshape", (r.const(module.running_mean),), shape=_shape(module, channel_shape))
    var = r.add("reshape", (r.const(module.running_var),), shape=_shape(module, channel_shape))
    std = r.add(
        "elementwise", (r.add("add", (var, float(module.eps))),), activation=get_activation("sqrt")
    )
    y = r.add("div", (r.add("sub", (x, mean)), std))
    if module.affine:
        w = r.add("reshape", (r.const(module.weight),), shape=_shape(module, channel_shape))
        b = r.add("reshape", (r.const(module.bias),), shape=_shape(module, channel_shape))
        y = r.add("add", (r.add("mul", (y, w)), b))
    return y


def _shape(module: Any, channel_shape: tuple[int, ...]) -> tuple[int, ...]:
    return (module.num_features, *channel_shape[1:])


def _tensor_of(r: Any, n: torch.fx.Node, ref: Any) -> Any:
    if ref is None:
        return None
    return torch.as_tensor(_const_array(r, n, ref))


COMPOSITE_READERS = {"layer_norm": _layer_norm, "rms_norm": _rms_norm, "batch_norm": _batch_norm}
