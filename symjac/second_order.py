r"""Second-order rows of :func:`symjac.compare` (``order=2``): Hessians, JVPs and VJPs.

For each requested dtype, every way torch computes a Hessian is held to the exact
Hessian of the function torch computes in that dtype (NOTE: honest-reference in
:mod:`symjac.comparison`: the cast weights at the cast point), through the same
:func:`symjac.accuracy.measure` as the first-order rows:

* quantity ``hessian`` (shape ``m x n x n``), methods ``hessian``
  (``torch.func.hessian``), ``jacfwd(rev)`` (``torch.func.jacfwd(torch.func.jacrev(f))``),
  ``autograd`` (``torch.autograd.functional.hessian``, one scalar output at a time, as
  the first order's ``autograd`` is ``torch.autograd.functional.jacobian``),
  ``grad(grad)`` (double backward: ``torch.autograd.grad`` with ``create_graph=True``,
  then the gradient of each gradient entry) and ``symjac`` (symjac's compiled
  Hessian, NOTE: second-order-chain, run by torch in that dtype); the names are short
  so that the report still fits 100 columns;
* quantity ``jvp`` (shape ``m x 1``), method ``func.jvp``: ``torch.func.jvp`` with
  the tangent :math:`v = (1, \dots, 1)`, held to the exact :math:`J v` (the row sums
  of the exact Jacobian);
* quantity ``vjp`` (shape ``1 x n``), method ``func.vjp``: ``torch.func.vjp`` with the
  cotangent :math:`u = (1, \dots, 1)`, held to the exact :math:`u^\top J` (the column
  sums). All-ones vectors are exact in every dtype, so the products' references are
  exact sums of exact entries.

NOTE: second-order-tolerance
    Second derivatives are computed by differentiating torch's derivative code.
    tanh's backward is ``g * (1 - y**2)`` from the rounded ``y = tanh(z)``, and
    double backward differentiates that again: the rounded ``1 - y**2`` (the
    cancellation) enters ``tanh'' = -2 y (1 - y**2)`` as a factor, so for a lone
    tanh the second derivative loses the same digits as the first. Measured for
    ``torch.func.hessian`` and double backward of ``torch.tanh`` in float32 against
    mpmath, relative error at z:

    ====  =======  =======  =======  =======  =======  =======  =======  =======
    z     2        3        4        5        6        6.5      7        8
    ====  =======  =======  =======  =======  =======  =======  =======  =======
    1st   1.3e-7   5.6e-6   4.3e-5   2.0e-4   8.0e-4   2.1e-3   3.5e-3   5.9e-2
    2nd   1.5e-7   5.6e-6   4.3e-5   2.0e-4   8.0e-4   2.1e-3   3.5e-3   5.9e-2
    ====  =======  =======  =======  =======  =======  =======  =======  =======

    In a network the Hessian entry is a sum :math:`\sigma'' Z' Z'^\top + \sigma' Z''`
    over stages whose terms can cancel each other, and softplus and sigmoid cancel in
    ``s (1 - s)``: the second order's relative error is then larger than the first's.
    ``python benchmarks/hessian.py --calibrate`` (600 random networks ``[n, w, w, 1]`` or
    ``[n, w, 1]``, n in 1..3, w in 2..8, tanh, sigmoid, softplus, gelu, weights
    N(0, s^2) with s in {1, 2, 4} rounded to float32, points N(0, 1)) measured the
    worst error of the torch Hessian methods relative to ``max|H_exact|``:

    ========  =======  =======  ========  =======  ===================================
    dtype     gelu     sigmoid  softplus  tanh     second / first order, p50 and p99
    ========  =======  =======  ========  =======  ===================================
    float32   1.4e-5   6.6e-5   5.8e-4    0.42     0.75 to 2.4; 26 to 551
    float64   1.2e-14  7.9e-14  3.8e-13   1.4e-8   0.96 to 1.8; 38 to 852
    ========  =======  =======  ========  =======  ===================================

    The policy:

    * float64, rtol 1e-6 as in the first order: the worst network (a saturated tanh
      one, 1.4e-8) passes with a margin of 70.
    * float32, rtol 2e-3, not the first order's 3e-4: the worst network whose
      first-order rows pass, apart from tanh ones, is a softplus one at 5.8e-4
      (margin 3.4); gelu and sigmoid pass with margins over 30. Of the 150 tanh
      networks, 4 fail: 3 fail their first-order rows too, and one whose first-order
      error is 3.3e-5 has torch Hessians 2.3e-3 off, while symjac's float32 kernel
      (sech^2, no cancellation) is 2.4e-6 off at the same point: digits lost to
      cancellation, which is what the check is for. A lone tanh is flagged from
      z ~ 6.4 (``compare(nn.Tanh(), [8.0], order=2)`` fails every float32 Hessian).
    * float16 and bfloat16 are not calibrated: twice their first-order bands
      (2e-2, 1e-1).

    The ULP floor stays 64 (8 in the short formats) for entries whose exact value is
    zero or tiny. JVP and VJP rows are first-order quantities and keep the
    first-order tolerances (NOTE: tolerance-policy in :mod:`symjac.accuracy`).

>>> import symjac, torch
>>> report = symjac.compare(torch.nn.Tanh(), [0.5], dtypes="float64", order=2)
>>> report.row("hessian", "grad(grad)", "float64").verdict
'ok'
>>> report.row("hessian", "hessian", "float64").shape
(1, 1, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np

from symjac.accuracy import Tolerance
from symjac.accuracy import tolerance as first_order_tolerance
from symjac.torch_ops import quiet_torch

if TYPE_CHECKING:
    from symjac.comparison.collect import Collector
    from symjac.comparison.targets import Target

__all__ = ["HESSIAN_METHODS", "PRODUCT_METHODS", "SECOND_ORDER_TOLERANCES", "tolerance"]

#: the ways torch (and symjac) compute a Hessian, in report order
HESSIAN_METHODS = ("hessian", "jacfwd(rev)", "autograd", "grad(grad)", "symjac")
#: the Jacobian-vector and vector-Jacobian products: (quantity, method)
PRODUCT_METHODS = (("jvp", "func.jvp"), ("vjp", "func.vjp"))

#: the default tolerance of second-derivative rows per dtype; NOTE: second-order-tolerance
SECOND_ORDER_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-6, ulps=64),
    "float32": Tolerance(rtol=2e-3, ulps=64),
    "float16": Tolerance(rtol=2e-2, ulps=8),
    "bfloat16": Tolerance(rtol=1e-1, ulps=8),
}

# the torch.func transforms of each method, to leave them out where torch.func cannot run
_FUNC_METHODS = {"hessian": "jacfwd", "jacfwd(rev)": "jacfwd", "func.jvp": "jacfwd",
                 "func.vjp": "jacrev"}  # fmt: skip


def tolerance(dtype: Any, *, rtol: float | None = None, ulps: float | None = None) -> Tolerance:
    """The default second-order :class:`~symjac.accuracy.Tolerance` of ``dtype``, overridden.

    >>> tolerance("float32")
    Tolerance(rtol=0.002, ulps=64)
    >>> tolerance("float64", rtol=1e-9)
    Tolerance(rtol=1e-09, ulps=64)
    """
    base = first_order_tolerance(dtype, rtol=rtol, ulps=ulps)  # validates, and names the dtype
    from symjac.accuracy import dtype_name

    table = SECOND_ORDER_TOLERANCES[dtype_name(dtype)]
    return Tolerance(table.rtol if rtol is None else base.rtol,
                     table.ulps if ulps is None else base.ulps)  # fmt: skip


def _hessian(method: str, fn: Callable[[Any], Any], x: Any, m: int) -> Any:
    """torch's ``(m, n, n)`` Hessian of ``fn`` at the point ``x`` (shape ``(n,)``) by ``method``."""
    import torch

    n = x.shape[0]

    def output(k: int) -> Callable[[Any], Any]:
        return lambda t: fn(t).reshape(-1)[k]

    with quiet_torch():
        if method == "hessian":
            return torch.func.hessian(fn)(x).reshape(m, n, n)
        if method == "jacfwd(rev)":
            return torch.func.jacfwd(torch.func.jacrev(fn))(x).reshape(m, n, n)
        if method == "autograd":  # scalar functions only: one output at a time
            return torch.stack(
                [torch.autograd.functional.hessian(output(k), x) for k in range(m)]
            ).reshape(m, n, n)
        if method == "grad(grad)":
            return _double_backward(fn, x, m)
    raise ValueError(method)


def _double_backward(fn: Callable[[Any], Any], x: Any, m: int) -> Any:
    import torch

    n = x.shape[0]
    xr = x.detach().clone().requires_grad_(True)
    y = fn(xr).reshape(-1)
    out = torch.zeros((m, n, n), dtype=x.dtype, device=x.device)
    for k in range(m):
        if not y[k].requires_grad:  # a constant output: its Hessian is 0
            continue
        (g,) = torch.autograd.grad(y[k], xr, create_graph=True, retain_graph=True)
        for i in range(n):
            if not g[i].requires_grad:  # a gradient entry that does not depend on x
                continue
            (row,) = torch.autograd.grad(g[i], xr, retain_graph=True, allow_unused=True)
            if row is not None:
                out[k, i] = row.detach()
    return out


def _product(quantity: str, fn: Callable[[Any], Any], x: Any, m: int) -> Any:
    import torch

    with quiet_torch():
        if quantity == "jvp":
            _, tangent = torch.func.jvp(fn, (x,), (torch.ones_like(x),))
            return tangent.reshape(m, 1)
        out, pull = torch.func.vjp(fn, x)
        (cotangent,) = pull(torch.ones_like(out))
        return cotangent.reshape(1, -1)


def _sums(exact: np.ndarray, axis: int) -> np.ndarray:
    """Exact row (axis 1) or column (axis 0) sums of an object array of mpmath numbers."""
    rows, cols = exact.shape
    if axis == 1:
        return np.array([[mpmath.fsum(exact[i, :])] for i in range(rows)], dtype=object)
    return np.array([[mpmath.fsum(exact[:, j]) for j in range(cols)]], dtype=object)


def add_second_order(tgt: Target, dtypes: Sequence[str], x64: np.ndarray, out: Collector) -> None:
    """Append the second-order rows of ``compare(..., order=2)`` (called by :func:`symjac.compare`).

    ``tgt`` is compare's target (NOTE: target-protocol) and ``out`` its collector, whose
    ``rtol``/``ulps`` override the tolerances; a method that cannot run is recorded in
    ``skipped`` (NOTE: no-vacuous-pass); torch.func methods that cannot apply to the
    target (a custom autograd.Function without ``setup_context``) are left out with a note.

    >>> import symjac, torch
    >>> report = symjac.compare(symjac.examples.quadratic(), [1.0, 2.0], "float64", order=2)
    >>> report.row("hessian", "jacfwd(rev)", "float64").max_abs  # H = [[2, 3], [3, 2]]
    0.0
    """
    rtol, ulps = out.rtol, out.ulps
    inapplicable = tgt.inapplicable()
    hessians = list(HESSIAN_METHODS)
    products = list(PRODUCT_METHODS)
    for method, transform in _FUNC_METHODS.items():
        if transform in inapplicable:
            hessians = [h for h in hessians if h != method]
            products = [p for p in products if p[1] != method]
            out.note(f"{method} is not run: {inapplicable[transform]}")
    tols = "; ".join(
        f"{d} rtol {tolerance(d, rtol=rtol, ulps=ulps).rtol:g} or "
        f"{tolerance(d, rtol=rtol, ulps=ulps).ulps:g} ULPs"
        for d in dtypes
    )
    out.note(
        "second order: hessian rows are torch.func.hessian (hessian), "
        "torch.func.jacfwd(torch.func.jacrev) (jacfwd(rev)), torch.autograd.functional.hessian "
        "(autograd), double backward with create_graph=True (grad(grad)) and symjac's kernel, "
        f"held to the exact Hessian within {tols} (NOTE: second-order-tolerance in "
        "symjac.second_order); jvp is torch.func.jvp's J v and vjp torch.func.vjp's u^T J, "
        "v and u all ones, within the first-order tolerance"
    )
    for dtype in dtypes:
        _dtype_rows(tgt, dtype, x64, hessians, products, out)


def _dtype_rows(
    tgt: Target,
    dtype: str,
    x64: np.ndarray,
    hessians: Sequence[str],
    products: Sequence[tuple[str, str]],
    out: Collector,
) -> None:
    checks = tgt.checks(dtype, x64)
    var = checks.variant
    m, n = tgt.n_out, tgt.n_in
    fn, exact_j, convention = checks.function, checks.exact, checks.convention
    exact_h = tgt.exact_hessian(var)
    rows = out.dtype(dtype, var.point, var.notes)
    tol2 = tolerance(dtype, rtol=out.rtol, ulps=out.ulps)
    for method in hessians:
        if method == "symjac":  # symjac's own kernel: its errors propagate
            value = tgt.own_hessian(var)(var.x).reshape(m, n, n)
        else:
            value = rows.attempt(
                "hessian", method, lambda method=method: _hessian(method, fn, var.x, m)
            )
        if value is not None:
            rows.add("hessian", method, value, exact_h, convention, tolerance=tol2)
    tol1 = first_order_tolerance(dtype, rtol=out.rtol, ulps=out.ulps)
    for quantity, method in products:
        value = rows.attempt(quantity, method, lambda q=quantity: _product(q, fn, var.x, m))
        if value is not None:
            exact = _sums(exact_j, 1 if quantity == "jvp" else 0)
            rows.add(quantity, method, value, exact, convention, tolerance=tol1)
