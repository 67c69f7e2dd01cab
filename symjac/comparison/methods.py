"""torch's ways of computing a Jacobian (:data:`METHODS`), dispatched once.

:func:`jacobian` computes one method's Jacobian of a function at one point;
:func:`batched_jacobian` does it at a batch of points, through the same dispatch:
per point under ``torch.func.vmap`` where the function can be vmapped, else as the
Jacobian of the batch sum (each point's output depends only on that point).

>>> import torch
>>> jacobian("jacfwd", torch.sin, torch.zeros(2, dtype=torch.float64))
tensor([[1., 0.],
        [0., 1.]], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from symjac.accuracy import dtype_name
from symjac.torch_ops import quiet_torch

__all__ = ["METHODS", "batched_jacobian", "check_dtypes", "check_methods", "jacobian"]

#: the ways a Jacobian is computed, in report order
METHODS = ("autograd", "jacrev", "jacfwd", "backward", "symjac")


def check_dtypes(dtypes: Any) -> list[str]:
    """The canonical names of ``dtypes`` (one dtype or several), each once, in order.

    >>> check_dtypes("float32"), check_dtypes(["float64", "double"])
    (['float32'], ['float64'])
    """
    if isinstance(dtypes, str) or not isinstance(dtypes, Iterable):
        dtypes = [dtypes]
    names = [dtype_name(d) for d in dtypes]
    if not names:
        raise ValueError(
            "dtypes must name at least one dtype, e.g. ('float32', 'float64'); got none"
        )
    return list(dict.fromkeys(names))


def check_methods(methods: Any) -> list[str]:
    """The methods asked for, in :data:`METHODS` order; ``None`` means all of them.

    >>> check_methods(["jacfwd", "autograd"])
    ['autograd', 'jacfwd']
    """
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [methods]
    chosen = list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ValueError(
            f"methods must be among {', '.join(METHODS)}, got {chosen!r}; leave it out for all"
        )
    return [m for m in METHODS if m in chosen]


def _dispatch(method: str, fn: Callable[[Any], Any], x: Any) -> Any:
    """The one place that maps a method name to torch's call (all but ``symjac``)."""
    import torch

    if method == "autograd":
        return torch.autograd.functional.jacobian(fn, x)
    if method == "jacrev":
        return torch.func.jacrev(fn)(x)
    if method == "jacfwd":
        return torch.func.jacfwd(fn)(x)
    if method == "backward":
        xr = x.detach().clone().requires_grad_(True)
        y = fn(xr)
        if y.numel() != 1:
            raise ValueError(f".backward() needs a scalar output and this one has {y.numel()}")
        if not y.requires_grad:  # a constant map: .backward() has nothing to do, the gradient is 0
            return torch.zeros_like(xr)
        y.reshape(()).backward()
        return xr.grad
    raise ValueError(method)


def jacobian(method: str, fn: Callable[[Any], Any], x: Any) -> Any:
    """torch's Jacobian of ``fn`` at ``x`` by ``method`` (one of :data:`METHODS` but ``symjac``).

    The shape is torch's (``output shape + input shape``); ``backward`` gives the
    gradient of a scalar output.

    >>> import torch
    >>> jacobian("backward", lambda t: (t**2).sum(), torch.tensor([1.0, 2.0]))
    tensor([2., 4.])
    """
    with quiet_torch():
        return _dispatch(method, fn, x)


def batched_jacobian(
    method: str,
    fn: Callable[[Any], Any],
    X: Any,
    m: int,
    n: int,
    *,
    per_point: bool,
    vmappable: bool = True,
) -> Any:
    """The ``(B, m, n)`` Jacobians of ``fn`` at each row of ``X`` (shape ``(B, n)``).

    ``per_point``: ``fn`` takes one point ``(n,)`` (a module); the torch.func methods
    then run under ``vmap`` point by point, and the others on ``vmap(fn)`` (or on
    ``fn`` itself, which must then take the batch, when ``vmappable`` is False: a
    custom autograd.Function without ``setup_context`` cannot be vmapped). Otherwise
    ``fn`` takes the batch ``(B, n)``. Either way the batched function's Jacobian is
    taken of its batch sum: each point's output depends on that point only.

    >>> import torch
    >>> X = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> batched_jacobian("jacrev", lambda t: t**2, X, 1, 1, per_point=True).reshape(-1).tolist()
    [0.0, 2.0]
    """
    import torch

    with quiet_torch():
        if per_point and method in ("jacrev", "jacfwd"):
            return torch.func.vmap(lambda x: _dispatch(method, fn, x))(X).reshape(-1, m, n)
        batched = torch.func.vmap(fn) if per_point and vmappable else fn
        jac = _dispatch(method, lambda Z: batched(Z).reshape(-1, m).sum(0), X)
    if method == "backward":
        return jac.reshape(-1, 1, n)
    return jac.reshape(m, -1, n).permute(1, 0, 2)
