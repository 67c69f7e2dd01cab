r"""Custom ``torch.autograd.Function``\ s: the forward read exactly, the backward held to it.

NOTE: custom-functions
    A custom Function pairs a ``forward`` with a hand-written ``backward`` (and
    maybe ``jvp``). torch.fx traces the ``forward`` on proxies and records its
    operations inline, which would silently replace the user's backward by
    autograd's. So while symjac traces a model, ``Function.apply`` is replaced
    by an interceptor (:func:`intercepted`) that records one opaque node, a
    :class:`FunctionCall`, whenever it meets a proxy. It is recognised by what
    it is, a subclass of ``torch.autograd.Function``, not by how torch stores
    ``apply`` (a Python classmethod up to 2.13, the C ``classmethod_descriptor``
    of ``_FunctionBase`` in 2.14); whatever was there is put back afterwards.

    :func:`read_function` then reads the ``forward`` alone: it is traced
    with torch.fx and interpreted on one real SymPy symbol through the
    elementwise op table of :mod:`symjac.torch_ops`, giving an
    :class:`~symjac.activations.Activation` whose SymPy form is the forward and
    whose torch implementation is the Function itself. The exact side of every
    comparison therefore comes from the forward, while each torch method runs
    the user's backward or jvp; :func:`symjac.compare` adds rows for the
    Function's own Jacobian (:func:`backward_jacobian`, :func:`jvp_jacobian`)
    at torch's input to it, so a wrong backward is named with its entry. The
    reading is checked against the Function's own output at probe points; a
    forward that cannot be read (not elementwise, data-dependent, several
    tensor inputs) raises :class:`~symjac.UnsupportedError` naming the Function.

>>> import torch, symjac
>>> class Cube(torch.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return 3 * x * x * grad
>>> act = read_function(FunctionCall(Cube, ()))
>>> act.name, act.expr, act.derivative
('Cube', z**3, 3*z**2)
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import sympy

from symjac.activations import Activation, Z, kink_sites
from symjac.exceptions import UnsupportedError
from symjac.torch_ops import elementwise_rule, op_name, quiet_torch
from symjac.variables import exact_number

__all__ = [
    "FunctionCall",
    "backward_jacobian",
    "intercepted",
    "jvp_jacobian",
    "read_function",
]

_MISSING = object()
_CONSTANT_TYPES = (bool, int, float, str, type(None))


class FunctionCall:
    """One call of a custom Function in a traced model: ``cls.apply(x, *consts)``.

    ``consts`` are the call's arguments after the tensor input; they must be
    plain constants (numbers, strings, ``None``). Calling the object calls the
    Function, so torch's methods run the user's backward and jvp.

    >>> import torch
    >>> class Double(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, k):
    ...         return k * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return 2 * grad, None
    >>> call = FunctionCall(Double, (2.0,))
    >>> call(torch.tensor([1.5])), call.has_jvp, call.has_setup_context
    (tensor([3.]), False, False)
    """

    def __init__(self, cls: type, consts: tuple[Any, ...]):
        self.cls = cls
        self.consts = tuple(consts)
        # torch.fx's code generator names a call target by these two attributes
        self.__name__ = f"{cls.__name__}_apply"
        self.__module__ = getattr(cls, "__module__", __name__)

    def __call__(self, x: Any) -> Any:
        return self.cls.apply(x, *self.consts)

    def __repr__(self) -> str:
        return f"FunctionCall({self.cls.__name__}, {self.consts!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FunctionCall)
            and other.cls is self.cls
            and other.consts == self.consts
        )

    def __hash__(self) -> int:
        return hash((id(self.cls), self.consts))

    @property
    def name(self) -> str:
        """The Function's class name."""
        return self.cls.__name__

    @property
    def has_setup_context(self) -> bool:
        """Whether the Function separates ``setup_context`` (then torch.func can transform it)."""
        import torch

        return self.cls.setup_context is not torch.autograd.Function.setup_context

    @property
    def has_vmap(self) -> bool:
        """Whether the Function can be vmapped (``generate_vmap_rule`` or a ``vmap`` rule)."""
        import torch

        return bool(getattr(self.cls, "generate_vmap_rule", False)) or (
            self.cls.vmap is not torch.autograd.Function.vmap
        )

    @property
    def has_jvp(self) -> bool:
        """Whether the Function defines ``jvp`` (forward-mode AD)."""
        import torch

        return self.cls.jvp is not torch.autograd.Function.jvp


def _refuse(cls: type, why: str) -> UnsupportedError:
    return UnsupportedError(f"the custom torch.autograd.Function {cls.__name__}: {why}")


@contextlib.contextmanager
def intercepted() -> Iterator[None]:
    """While active, a custom Function applied to an fx proxy records one :class:`FunctionCall`.

    See NOTE: custom-functions. Calls on real tensors go to torch unchanged.

    >>> import torch
    >>> before = torch.autograd.Function.__dict__.get("apply")
    >>> with intercepted():
    ...     pass
    >>> torch.autograd.Function.__dict__.get("apply") is before
    True
    """
    import torch
    import torch.fx

    base = torch.autograd.Function
    saved = base.__dict__.get("apply", _MISSING)

    def original(cls: type) -> Any:
        # the apply torch itself would use, bound to cls, whatever descriptor stores it
        if saved is _MISSING:
            return getattr(super(base, cls), "apply")  # noqa: B009 (a super() proxy)
        return saved.__get__(None, cls)

    def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
        proxies = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.fx.Proxy)]
        if not proxies:
            return original(cls)(*args, **kwargs)
        if kwargs or len(proxies) != 1 or args[0] is not proxies[0]:
            raise _refuse(
                cls,
                f"it is applied to {len(proxies)} traced values ({'keyword arguments, ' if kwargs else ''}"
                "parameters and buffers count too); symjac reads Functions of one tensor input, "
                "with constant further arguments",
            )
        consts = args[1:]
        bad = [c for c in consts if not isinstance(c, _CONSTANT_TYPES)]
        if bad:
            raise _refuse(
                cls,
                f"its further argument is a {type(bad[0]).__name__}, not a constant number, "
                "string or None; pass only such constants after the input tensor, or compute "
                "other tensors inside forward",
            )
        call = FunctionCall(cls, consts)
        return proxies[0].tracer.create_proxy("call_function", call, (args[0],), {})

    base.apply = classmethod(apply)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        if saved is _MISSING:
            del base.apply
        else:
            base.apply = saved  # type: ignore[method-assign]


class _TraceContext:
    """Stands in for ``ctx`` while the forward is traced: it keeps attributes, ignores calls."""

    def __getattr__(self, name: str) -> Any:
        # save_for_backward, mark_non_differentiable, set_materialize_grads, ...
        return lambda *args, **kwargs: None


def _trace_forward(call: FunctionCall) -> Any:
    import torch.fx

    ctx = _TraceContext()
    forward = call.cls.forward
    if call.has_setup_context:

        def fn(x: Any) -> Any:
            return forward(x, *call.consts)

    else:

        def fn(x: Any) -> Any:
            return forward(ctx, x, *call.consts)

    try:
        tracer = torch.fx.Tracer()
        tracer.record_stack_traces = True  # so a refusal can name the line of the forward
        graph = tracer.trace(fn)
        return torch.fx.GraphModule(tracer.root, graph, f"{call.name}_forward")
    except UnsupportedError:
        raise
    except Exception as err:  # fx raises many types; all mean "no fixed graph"
        reason = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise _refuse(
            call.cls,
            f"symjac cannot read its forward: torch.fx could not trace it ({reason}); "
            "a forward with data-dependent control flow has no fixed formula",
        ) from None


def _where(node: Any) -> str:
    """`` (at file:line: code)`` of the user's line that made ``node``, from fx's stack trace."""
    from symjac.torch_interop.reader import source_of

    found = source_of(node)
    return f" (at {found})" if found and ": " in found else ""


def _constant(gm: Any, target: str, call: FunctionCall) -> sympy.Expr:
    value: Any = gm
    for part in target.split("."):
        value = getattr(value, part)
    if getattr(value, "numel", lambda: 0)() != 1:
        raise _refuse(
            call.cls,
            f"its forward uses a constant tensor of shape {tuple(value.shape)}; symjac reads "
            "elementwise forwards, with scalar constants only",
        )
    return exact_number(float(value.reshape(()).item()))


def _interpret(gm: Any, call: FunctionCall) -> sympy.Expr:
    import torch.fx

    env: dict[Any, Any] = {}

    def value(arg: Any) -> Any:
        return torch.fx.node.map_arg(arg, lambda n: env[n])

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            env[node] = Z
        elif node.op == "get_attr":
            env[node] = _constant(gm, node.target, call)
        elif node.op in ("call_function", "call_method"):
            args, kwargs = value(node.args), value(node.kwargs)
            rule = elementwise_rule(node.op, node.target, tuple(args), dict(kwargs))
            if rule is None:
                raise _refuse(
                    call.cls,
                    f"its forward uses {op_name(node.target)}{_where(node)}, which symjac cannot "
                    "read as an elementwise formula; write the forward with elementwise torch "
                    "operations (see symjac.torch_ops), or leave the Function out of the check",
                )
            try:
                env[node] = rule(*args, **kwargs)
            except (TypeError, ValueError) as err:
                raise _refuse(
                    call.cls,
                    f"its forward calls {op_name(node.target)} with arguments symjac "
                    f"cannot read ({err})",
                ) from None
        elif node.op == "output":
            out = env[node.args[0]] if isinstance(node.args[0], torch.fx.Node) else node.args[0]
            if not isinstance(out, sympy.Expr):
                raise _refuse(
                    call.cls,
                    "its forward returns "
                    + ("several values" if isinstance(out, (tuple, list)) else "no tensor formula")
                    + "; symjac reads Functions with one tensor output",
                )
            return sympy.sympify(out)
        else:
            raise _refuse(call.cls, f"its forward contains a {node.op} node")
    raise _refuse(call.cls, "its forward has no output")


def _kinks(expr: sympy.Expr) -> tuple[sympy.Expr, ...]:
    # the points where the formula switches branch: linear kink arguments' roots
    points: set[sympy.Expr] = set()
    for _, arg, test in kink_sites(expr):
        if test == "zero" and arg.is_polynomial(Z):
            poly = sympy.Poly(arg, Z)
            if poly.degree() == 1:
                a, b = poly.all_coeffs()
                points.add(-b / a)
    return tuple(sorted(points, key=float))


def _check_reading(act: Activation, call: FunctionCall) -> None:
    import torch

    from symjac.numeric import compile_exprs

    probe = torch.linspace(-1.9, 1.7, 19, dtype=torch.float64)
    try:
        with torch.no_grad():
            expected = call(probe)
    except Exception as err:  # the user's own code: any error means we cannot confirm
        raise _refuse(
            call.cls, f"its forward raised {type(err).__name__} on float64 input: {err}"
        ) from None
    if not isinstance(expected, torch.Tensor) or tuple(expected.shape) != tuple(probe.shape):
        shape = tuple(expected.shape) if isinstance(expected, torch.Tensor) else type(expected)
        raise _refuse(
            call.cls,
            f"its forward maps an input of shape {tuple(probe.shape)} to {shape}; "
            "symjac reads elementwise Functions",
        )
    fn = compile_exprs([act.expr], [Z], (), "numpy")
    with np.errstate(all="ignore"):
        got = np.asarray(fn(probe.numpy()[:, None]), dtype=np.float64).reshape(-1)
    want = expected.detach().double().numpy()
    if not np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True):
        worst = int(np.nanargmax(np.abs(got - want)))
        raise _refuse(
            call.cls,
            f"its forward was read as {act.expr} but that formula gives {got[worst]!r} at "
            f"{float(probe[worst])!r} where the Function gives {want[worst]!r}; symjac reads "
            "elementwise forwards only",
        )


@functools.lru_cache(maxsize=256)
def read_function(call: FunctionCall) -> Activation:
    """The :class:`~symjac.activations.Activation` a custom Function's forward computes.

    See NOTE: custom-functions. The result's ``torch_function()`` is the
    Function itself (with the user's backward); its ``expr`` is the forward.

    >>> import torch
    >>> class Bad(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x.sum()
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return grad
    >>> read_function(FunctionCall(Bad, ()))
    Traceback (most recent call last):
    ...
    symjac.exceptions.UnsupportedError: the custom torch.autograd.Function Bad: its forward uses .sum()...
    """
    if not _defines_backward(call.cls):
        raise _refuse(call.cls, "it defines no backward, so there is nothing of its own to check")
    expr = _interpret(_trace_forward(call), call)
    kinks = _kinks(expr)
    act = Activation(
        call.name,
        expr,
        tuple((f"arg{i + 1}", c) for i, c in enumerate(call.consts)),
        kinks=kinks,
        convention=f"the custom Function {call.name}'s backward picks the value at its kink"
        if kinks
        else "",
        function=call,
    )
    _check_reading(act, call)
    return act


def _defines_backward(cls: type) -> bool:
    import torch

    base = torch.autograd.Function
    return cls.backward is not base.backward or cls.vjp is not base.vjp


def backward_jacobian(call: FunctionCall, z: Any) -> Any:
    """The Jacobian of ``call`` at the 1-D tensor ``z`` as the user's ``backward`` gives it.

    One vector-Jacobian product per output (``torch.autograd.functional.jacobian``),
    in ``z``'s dtype. A backward that forgot the factor 2 of :math:`(x^2)' = 2x`:

    >>> import torch
    >>> class Half(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return x * grad
    >>> backward_jacobian(FunctionCall(Half, ()), torch.tensor([1.0, 3.0]))
    tensor([[1., 0.],
            [0., 3.]])
    """
    import torch

    return torch.autograd.functional.jacobian(call, z)


def jvp_jacobian(call: FunctionCall, z: Any) -> Any:
    """The Jacobian of ``call`` at the 1-D tensor ``z`` as the user's ``jvp`` gives it.

    One forward-mode product per input (``torch.autograd.forward_ad``); an
    output without a tangent counts as zero. For :math:`x^2`, whose derivative is
    :math:`2x`:

    >>> import torch
    >>> class Sq(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_forward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         raise NotImplementedError
    ...     @staticmethod
    ...     def jvp(ctx, tangent):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * tangent
    >>> jvp_jacobian(FunctionCall(Sq, ()), torch.tensor([1.0, 3.0]))
    tensor([[2., 0.],
            [0., 6.]])
    """
    import torch
    import torch.autograd.forward_ad as fwAD

    columns = []
    with quiet_torch(), fwAD.dual_level():
        for j in range(z.numel()):
            tangent = torch.zeros_like(z)
            tangent[j] = 1
            out = fwAD.unpack_dual(call(fwAD.make_dual(z, tangent))).tangent
            columns.append(torch.zeros_like(z) if out is None else out.reshape(-1))
    return torch.stack(columns, dim=-1)
