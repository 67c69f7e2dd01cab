"""Test helpers: assert that torch's Jacobians agree with the exact ones.

In the spirit of ``numpy.testing.assert_allclose``: on failure the
``AssertionError`` says which quantity, method and dtype failed, the worst
entries (computed and exact values) and the tolerance that was applied. The
pytest plugin (:mod:`symjac.pytest_plugin`) offers the same check as the
fixture ``jacobian_check``.

>>> import symjac, torch
>>> symjac.testing.assert_jacobian_agrees(symjac.examples.small_mlp(seed=0), [1.0]).ok
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["assert_exact_close", "assert_jacobian_agrees", "failure_message"]

#: how many failing rows an AssertionError spells out in full
MAX_SHOWN = 5


def failure_message(report: Any, err_msg: str = "") -> str:
    """The text an :func:`assert_jacobian_agrees` failure carries, for a :class:`~symjac.Report`.

    >>> import symjac, torch
    >>> report = symjac.compare(torch.nn.Tanh(), [10.0], dtypes="float32", methods=["jacrev"])
    >>> print(failure_message(report).splitlines()[0])
    Jacobians of Tanh [1, 1] at x = [10.0] disagree with the exact value: 3 of 3 rows fail
    """
    failures = report.failures
    where = f"Jacobians of {report.target} at x = [{', '.join(repr(v) for v in report.point)}]"
    if failures:
        head = f"{where} disagree with the exact value: {len(failures)} of {len(report.rows)} rows fail"
    elif not report.rows:
        head = f"{where} were not checked: no method produced a row"
    else:
        head = (
            f"{where} were not fully checked: {len(report.skipped)} requested computations "
            "could not run"
        )
    lines = [head]
    if err_msg:
        lines.append(err_msg)
    if report.skipped and not report.allow_skipped:
        # NOTE: no-vacuous-pass in symjac.comparison.report: a skip fails the check, and says why
        lines.append("")
        lines.append("could not run (pass allow_skipped=True to accept this):")
        lines.extend(f"  {item}" for item in report.skipped)
    for row in failures[:MAX_SHOWN]:
        lines.append("")
        lines.append(f"{row.label}:")
        text = row.measurement.message()
        text = text.replace(f"\n{row.measurement.err_msg}\n", "\n", 1)
        if row.worst is not None and len(row.measurement.shape) == 2:
            text += (
                f"\n(worst entry: output {row.worst[0]}, input {row.worst[1]}, "
                f"at the {row.dtype} point [{', '.join(repr(v) for v in row.point)}])"
            )
        elif len(row.measurement.shape) == 3:  # a Hessian row: d2 f_k / dx_i dx_j
            k, i, j = row.worst
            text += (
                f"\n(worst entry: output {k}, inputs {i} and {j}, "
                f"at the {row.dtype} point [{', '.join(repr(v) for v in row.point)}])"
            )
        if row.note and row.note not in text:
            text += f"\nnote: {row.note}"
        lines.extend("  " + line for line in text.splitlines())
    if len(failures) > MAX_SHOWN:
        rest = ", ".join(r.label for r in failures[MAX_SHOWN:])
        lines.append(f"\n... and {len(failures) - MAX_SHOWN} more failing rows: {rest}")
    return "\n".join(lines)


def assert_jacobian_agrees(
    target: Any,
    x: Any,
    dtypes: Any = ("float32", "float64"),
    rtol: float | None = None,
    ulps: float | None = None,
    *,
    methods: Sequence[str] | None = None,
    err_msg: str = "",
    allow_skipped: bool = False,
    order: int = 1,
) -> Any:
    """Raise ``AssertionError`` unless every torch Jacobian of ``target`` at ``x`` agrees.

    Runs :func:`symjac.compare` (same ``target``, ``x``, ``dtypes``,
    ``methods``, ``rtol``, ``ulps``, ``allow_skipped``, ``order``; ``order=2``
    holds torch's Hessians, JVPs and VJPs to the exact ones too) and returns its
    :class:`~symjac.Report` when every row passes (``ok`` or ``convention``).
    A requested method that could not run fails the assertion, naming the
    method and the reason, unless ``allow_skipped=True``.

    >>> import symjac, torch
    >>> symjac.testing.assert_jacobian_agrees(torch.nn.Tanh(), [10.0], dtypes="float32",
    ...                                       methods=["autograd"])
    Traceback (most recent call last):
    ...
    AssertionError: Jacobians of Tanh [1, 1] at x = [10.0] disagree with the exact value: 3 of 3 rows fail
    ...
    >>> symjac.testing.assert_jacobian_agrees(torch.nn.Tanh(), [0.5], order=2).row(
    ...     "hessian", "grad(grad)", "float32").ok
    True
    """
    from symjac.comparison import compare

    if not isinstance(err_msg, str):
        raise TypeError(f"err_msg must be a string, got {type(err_msg).__name__}")
    report = compare(
        target,
        x,
        dtypes,
        methods=methods,
        rtol=rtol,
        ulps=ulps,
        allow_skipped=allow_skipped,
        order=order,
    )
    if not report.ok:
        raise AssertionError(failure_message(report, err_msg))
    return report


def assert_exact_close(
    computed: Any,
    exact: Any,
    dtype: Any = "float64",
    rtol: float | None = None,
    ulps: float | None = None,
    *,
    err_msg: str = "",
) -> Any:
    """Raise ``AssertionError`` unless ``computed`` agrees with ``exact`` (mpmath or floats).

    The check of :func:`symjac.accuracy.measure` with the tolerance of
    ``dtype``; returns the :class:`~symjac.accuracy.Measurement` on success.

    >>> import mpmath
    >>> assert_exact_close([0.0], [mpmath.mpf("8.2446e-9")], "float32", err_msg="tanh'(10)")
    Traceback (most recent call last):
    ...
    AssertionError: Not equal to the exact value within rtol=0.0003 (relative to max|exact|) or 64 float32 ULPs
    tanh'(10)
    ...
    """
    from symjac.accuracy import measure

    m = measure(computed, exact, dtype, rtol=rtol, ulps=ulps, err_msg=err_msg)
    if not m.ok:
        raise AssertionError(m.message())
    return m
