"""torch operations read as SymPy: activations and the elementwise op table.

Two readers share this module:

* :func:`module_activation`, :func:`function_activation` and
  :data:`METHOD_ACTIVATIONS` recognise an activation in a traced model, as an
  ``nn`` module, a ``torch.*``/``F.*`` function or a tensor method, and give its
  :class:`~symjac.activations.Activation` (with the parameters it was built with);
* :func:`elementwise_rule` gives, for one traced torch call, the SymPy rule that
  computes it on scalars. It reads the ``forward`` of a custom
  ``torch.autograd.Function`` (NOTE: custom-functions in
  :mod:`symjac.autograd_functions`). The functions of the one SymPy-to-backend
  table (NOTE: function-table) are read from that table's torch column, so a
  function added there is readable here too; arithmetic and the few torch
  functions with no SymPy class of their own are written out below.

>>> import torch, sympy
>>> function_activation(torch.tanh, (), {}).name
'tanh'
>>> z = sympy.Symbol("z", real=True)
>>> elementwise_rule("call_function", torch.exp)(z)
exp(z)
>>> elementwise_rule("call_method", "sigmoid")(z)
sigmoid(z)
"""

from __future__ import annotations

import contextlib
import functools
import operator
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import sympy

from symjac.activations import Activation, get_activation
from symjac.functions import BACKEND_FUNCTIONS, sigmoid
from symjac.graph.primitives import ELEMENTWISE
from symjac.variables import exact_number

__all__ = [
    "METHOD_ACTIVATIONS",
    "elementwise_rule",
    "function_activation",
    "module_activation",
    "op_name",
    "quiet_torch",
]

#: tensor methods that are activations without parameters -> activation name (from the table)
METHOD_ACTIVATIONS = {
    method: name
    for name, reading in ELEMENTWISE.items()
    for method in reading.methods
    if not reading.params
}


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """Silence torch's ``torch.jit.script`` deprecation warning inside symjac's own torch calls.

    torch's forward-mode AD loads its jvp decompositions through
    ``torch.jit.script`` the first time it runs, which warns that it is
    deprecated (a DeprecationWarning up to torch 2.13, a FutureWarning from
    2.14): torch's own business, not the caller's. Only that message, and only
    when ``torch.jit`` raises it, is silenced; the filters end with the block.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     with quiet_torch():
    ...         warnings.warn_explicit("`torch.jit.script` is deprecated.", FutureWarning,
    ...                                "_script.py", 1, module="torch.jit._script")
    ...         warnings.warn("a user's warning")
    >>> [str(w.message) for w in seen]
    ["a user's warning"]
    """
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings(
                "ignore",
                message=r".*torch\.jit\.script.*deprecated",
                category=category,
                module=r"torch\.jit(\.|$)",
            )
        yield


def _tabled(op: str, target: Any) -> str | None:
    """The elementwise table's activation name for an fx ``(op, target)``, if any."""
    from symjac.torch_interop.reader import torch_targets

    entry = torch_targets().get((op, target))
    return entry[1] if entry is not None and entry[0] == "elementwise" else None


def _make(name: str, params: dict[str, Any]) -> Activation | None:
    if name == "gelu" and params.pop("approximate", "none") == "tanh":
        name = "gelu_tanh"
    if name == "pow" and not isinstance(params.get("exponent"), (int, float)):
        return None  # pow(c, x) or pow(x, y): not an activation of one input
    try:
        return get_activation(name, **{k: float(v) for k, v in params.items() if v is not None})
    except (TypeError, ValueError):
        return None


def module_activation(module: Any) -> Activation | None:
    """The activation an ``nn`` module computes, or ``None`` if it is not one.

    Read from the one table of torch spellings (``symjac.graph.primitives.ELEMENTWISE``).

    >>> import torch
    >>> module_activation(torch.nn.LeakyReLU(0.2)).label
    'leaky_relu(negative_slope=0.2)'
    """
    from symjac.graph.primitives import ELEMENTWISE

    name = _tabled("call_module", type(module))
    if name is None:
        return None
    params = {sym: getattr(module, kw) for sym, kw, _ in ELEMENTWISE[name].params}
    if name == "gelu":
        params["approximate"] = module.approximate
    return _make(name, params)


def function_activation(
    target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Activation | None:
    """The activation a ``torch.*``/``F.*`` call computes (``args`` after the input), or ``None``.

    >>> import torch
    >>> function_activation(torch.nn.functional.elu, (0.5,), {}).label
    'elu(alpha=0.5)'
    """
    from symjac.graph.primitives import ELEMENTWISE

    name = _tabled("call_function", target)
    if name is None:
        return None
    params = {
        sym: args[pos] if len(args) > pos else kwargs.get(kw)
        for sym, kw, pos in ELEMENTWISE[name].params
    }
    if name == "gelu":
        params["approximate"] = kwargs.get("approximate", "none")
    return _make(name, params)


def op_name(target: Any) -> str:
    """A torch operation's name as a user writes it (``torch.tanh``, ``.sum()``).

    >>> import torch
    >>> op_name(torch.tanh), op_name("sum")
    ('torch.tanh', '.sum()')
    """
    if isinstance(target, str):
        return f".{target}()"
    import torch

    name = getattr(target, "__name__", None) or str(target)
    for prefix, space in (
        ("torch", torch),
        ("torch.nn.functional", torch.nn.functional),
        ("torch.special", torch.special),
    ):
        if getattr(space, name, None) is target:
            return f"{prefix}.{name}"
    module = getattr(target, "__module__", "") or ""
    if module == "_operator":
        return {"truediv": "/", "floordiv": "//", "getitem": "indexing"}.get(name, name)
    return f"{module}.{name}" if module and not name.startswith(module) else name


# -- elementwise rules: scalar SymPy arguments -> SymPy ---------------------------------------

Rule = Callable[..., Any]


def _number(value: Any) -> sympy.Expr:
    if isinstance(value, sympy.Basic):
        return value
    return exact_number(value)


def _clamp(x: Any, min: Any = None, max: Any = None) -> Any:
    if min is not None:
        x = sympy.Max(_number(min), x)
    if max is not None:
        x = sympy.Min(_number(max), x)
    return x


def _add(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return _number(a) + _number(alpha) * _number(b)


def _sub(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return _number(a) - _number(alpha) * _number(b)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if cond is sympy.true:
        return _number(a)
    if cond is sympy.false:
        return _number(b)
    return sympy.Piecewise((_number(a), cond), (_number(b), True))


def _activation_rule(name: str, **params: Any) -> Rule:
    act = get_activation(name, **params)
    return lambda x: act(_number(x))


def _passthrough(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


#: arithmetic and torch functions without a SymPy class of their own. Keys are fx targets:
#: functions for ``call_function`` and method names for ``call_method``.
_ARITHMETIC: dict[Any, Rule] = {
    operator.add: lambda a, b: _number(a) + _number(b),
    operator.sub: lambda a, b: _number(a) - _number(b),
    operator.mul: lambda a, b: _number(a) * _number(b),
    operator.truediv: lambda a, b: _number(a) / _number(b),
    operator.pow: lambda a, b: _number(a) ** _number(b),
    operator.neg: lambda a: -_number(a),
    operator.pos: lambda a: _number(a),
    operator.gt: lambda a, b: sympy.Gt(_number(a), _number(b)),
    operator.ge: lambda a, b: sympy.Ge(_number(a), _number(b)),
    operator.lt: lambda a, b: sympy.Lt(_number(a), _number(b)),
    operator.le: lambda a, b: sympy.Le(_number(a), _number(b)),
    "add": _add,
    "__add__": _add,
    "__radd__": lambda a, b: _number(b) + _number(a),
    "sub": _sub,
    "__sub__": _sub,
    "__rsub__": lambda a, b: _number(b) - _number(a),
    "mul": lambda a, b: _number(a) * _number(b),
    "__mul__": lambda a, b: _number(a) * _number(b),
    "__rmul__": lambda a, b: _number(b) * _number(a),
    "div": lambda a, b: _number(a) / _number(b),
    "__truediv__": lambda a, b: _number(a) / _number(b),
    "__rtruediv__": lambda a, b: _number(b) / _number(a),
    "pow": lambda a, b: _number(a) ** _number(b),
    "__pow__": lambda a, b: _number(a) ** _number(b),
    "__rpow__": lambda a, b: _number(b) ** _number(a),
    "neg": lambda a: -_number(a),
    "__neg__": lambda a: -_number(a),
    "square": lambda a: _number(a) ** 2,
    "reciprocal": lambda a: 1 / _number(a),
    "rsqrt": lambda a: 1 / sympy.sqrt(_number(a)),
    "log1p": lambda a: sympy.log(1 + _number(a)),
    "expm1": lambda a: sympy.exp(_number(a)) - 1,
    "clamp": _clamp,
    "clip": _clamp,
    "clamp_min": lambda x, m: _clamp(x, min=m),
    "clamp_max": lambda x, m: _clamp(x, max=m),
    "where": _where,
    # copies and views of the same values (a forward runs without grad anyway)
    "clone": _passthrough,
    "contiguous": _passthrough,
    "detach": _passthrough,
}


@functools.cache
def _table() -> dict[tuple[str, Any], Rule]:
    import torch
    import torch.nn.functional as F

    table: dict[tuple[str, Any], Rule] = {}
    # the functions of the one SymPy-to-backend table, by its torch column (NOTE: function-table)
    for cls, row in BACKEND_FUNCTIONS.items():
        if not row.torch.startswith("torch.") or cls in (sympy.And, sympy.Or, sympy.Not):
            continue
        target: Any = torch
        for part in row.torch.split(".")[1:]:
            target = getattr(target, part)
        table["call_function", target] = cls
        method = row.torch.rsplit(".", 1)[1]
        if hasattr(torch.Tensor, method):
            table["call_method", method] = cls
    for key, rule in _ARITHMETIC.items():
        if isinstance(key, str):
            table["call_method", key] = rule
            if not key.startswith("_") and hasattr(torch, key):
                table["call_function", getattr(torch, key)] = rule
        else:
            table["call_function", key] = rule
    table["call_function", torch.true_divide] = _ARITHMETIC["div"]
    table["call_function", torch.subtract] = _sub
    table["call_function", torch.multiply] = _ARITHMETIC["mul"]
    table["call_function", torch.negative] = _ARITHMETIC["neg"]
    table["call_function", torch.special.expit] = sigmoid
    table["call_function", torch.special.expm1] = _ARITHMETIC["expm1"]
    table["call_function", torch.special.log1p] = _ARITHMETIC["log1p"]
    for fn in (torch.relu, F.relu):
        table["call_function", fn] = _activation_rule("relu")
    table["call_method", "relu"] = _activation_rule("relu")
    table["call_function", F.silu] = _activation_rule("silu")
    return table


def elementwise_rule(
    op: str, target: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
) -> Rule | None:
    """The SymPy rule for one traced elementwise torch call, or ``None`` if there is none.

    ``op`` is the fx node kind (``"call_function"`` or ``"call_method"``);
    ``args``/``kwargs`` (after the input) are used for the parametrised
    activations of ``torch.nn.functional``.

    >>> import sympy, torch
    >>> z = sympy.Symbol("z", real=True)
    >>> elementwise_rule("call_function", torch.clamp)(z, min=0)
    Max(0, z)
    >>> elementwise_rule("call_function", torch.sum) is None
    True
    """
    rule = _table().get((op, target))
    if rule is not None:
        return rule
    if op == "call_function":
        act = function_activation(target, tuple(args[1:]), dict(kwargs or {}))
        if act is not None:
            return lambda x, *rest, **kw: act(_number(x))
    return None
