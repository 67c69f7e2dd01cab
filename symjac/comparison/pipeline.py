"""The pipeline of :func:`symjac.compare`: a target, then per dtype every row it gives.

>>> import symjac, torch
>>> [r.quantity for r in compare(torch.nn.Tanh(), [0.5], "float64", methods=["jacrev"]).rows]
['J1', 'chain', 'whole']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symjac.accuracy import tolerance
from symjac.comparison import methods as torch_methods
from symjac.comparison.collect import Collector, DtypeRows
from symjac.comparison.report import Report
from symjac.comparison.targets import StageCheck, Target, as_point, make_target

__all__ = ["compare"]


def compare(
    target: Any,
    x: Any,
    dtypes: Any = ("float32", "float64"),
    *,
    methods: Sequence[str] | None = None,
    rtol: float | None = None,
    ulps: float | None = None,
    allow_skipped: bool = False,
    order: int = 1,
) -> Report:
    """Hold every torch Jacobian of ``target`` at ``x`` to the exact one, in each dtype.

    ``target`` is a ``torch.nn.Module`` (read with :func:`symjac.from_torch`; a
    lone activation module such as ``nn.Tanh()`` is accepted too), a
    :class:`~symjac.Network` or a :class:`~symjac.VectorMap` (differentiated
    through its torch twin ``VectorMap.numeric("torch")``, generated from the
    same function table as every backend). ``x`` is one point; it is cast to
    each dtype. ``methods`` limits the methods (:data:`~symjac.comparison.METHODS`);
    ``rtol`` and ``ulps`` override the per-dtype tolerances of
    :data:`symjac.accuracy.TOLERANCES`. See NOTE: honest-reference and NOTE:
    conventions in :mod:`symjac.comparison`. A requested computation that cannot run is
    listed in ``skipped`` and makes the report fail, unless ``allow_skipped``
    (NOTE: no-vacuous-pass); symjac's own compiled Jacobian never skips, its
    errors propagate. A custom ``torch.autograd.Function`` in the model adds
    rows of its own for its ``backward`` (and ``jvp``), held to the exact
    Jacobian of its ``forward`` (NOTE: custom-functions). ``order=2`` adds the
    second-order rows of :mod:`symjac.second_order`: every torch Hessian (and
    ``torch.func.jvp``/``vjp``) held to the exact one, with the second-order
    tolerances (NOTE: second-order-tolerance there).

    >>> import symjac, torch
    >>> report = symjac.compare(torch.nn.Tanh(), [10.0], methods=["autograd"])
    >>> [(r.quantity, r.dtype, r.verdict) for r in report.rows if r.quantity == "whole"]
    [('whole', 'float32', 'mismatch'), ('whole', 'float64', 'ok')]
    >>> report.row("whole", "autograd", "float32").computed
    0.0
    """
    names = torch_methods.check_dtypes(dtypes)
    chosen = torch_methods.check_methods(methods)
    if not isinstance(allow_skipped, bool):
        raise TypeError(f"allow_skipped must be True or False, got {allow_skipped!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 (Jacobians) or 2 (also Hessians), got {order!r}")
    tolerance("float64", rtol=rtol, ulps=ulps)  # validate once, with a clear message
    x64 = _one_point(x)
    tgt = make_target(target, int(x64.size))
    if x64.size != tgt.n_in:
        raise ValueError(
            f"x has {x64.size} coordinates but {tgt.label} takes {tgt.n_in} "
            f"({', '.join(tgt.input_names)}); give one value per input"
        )
    out = Collector(rtol=rtol, ulps=ulps)
    out.note(tgt.wrapped)
    if methods is None:  # the default is every method that applies (NOTE: no-vacuous-pass)
        for method, why in tgt.inapplicable().items():
            chosen.remove(method)
            out.note(f"{method} is not run: {why}; ask for it by name to try it anyway")
    for dtype in names:
        _compare_dtype(tgt, dtype, x64, chosen, out)
    if order == 2:
        from symjac.second_order import add_second_order

        add_second_order(tgt, names, x64, out)
    return Report(tgt.label, tuple(float(v) for v in x64), names, out.rows, out.notes,
                  out.skipped, tgt.input_names, allow_skipped=allow_skipped)  # fmt: skip


def _one_point(x: Any) -> np.ndarray:
    x64 = as_point(x)
    if x64.ndim > 1:
        raise ValueError(
            f"x must be one point of shape (n,), got shape {x64.shape}; use symjac.scan for batches"
        )
    x64 = x64.reshape(-1)
    if not np.all(np.isfinite(x64)):
        raise ValueError(f"x must be finite, got {x64.tolist()}")
    return x64


def _compare_dtype(
    tgt: Target, dtype: str, x64: np.ndarray, chosen: Sequence[str], out: Collector
) -> None:
    """Every row of one dtype: per method the stages, their chain and the whole Jacobian."""
    checks = tgt.checks(dtype, x64)
    var = checks.variant
    out.notes.extend(checks.notes)
    rows = out.dtype(dtype, var.point, var.notes)
    for method in chosen:
        if method == "symjac":  # symjac's own function: its errors propagate
            rows.add("whole", method, checks.own(var.x), checks.exact, checks.convention)
            continue
        values = [_stage_value(rows, method, stage) for stage in checks.stages]
        if checks.stages and checks.chain is not None and all(v is not None for v in values):
            rows.add("chain", method, checks.chain(values), checks.chain_exact, checks.convention)
        whole = rows.attempt(
            "whole",
            method,
            lambda method=method: torch_methods.jacobian(method, checks.function, var.x),
        )
        if whole is not None:
            rows.add("whole", method, whole, checks.exact, checks.convention)
    if checks.extra_rows is not None:
        checks.extra_rows(rows)


def _stage_value(rows: DtypeRows, method: str, stage: StageCheck) -> Any:
    """torch's Jacobian of one stage by ``method`` (its row added), or None."""
    if method == "backward" and stage.exact.shape[0] != 1:
        return None  # no such quantity for .backward(): not a skip
    value = rows.attempt(
        stage.quantity, method, lambda: torch_methods.jacobian(method, stage.function, stage.point)
    )
    if value is not None:
        rows.add(stage.quantity, method, value, stage.exact, stage.convention)
    return value
