"""What :func:`symjac.compare` gathers: rows, notes and the computations that could not run.

A :class:`Collector` holds them for one comparison; :meth:`Collector.dtype` gives the
:class:`DtypeRows` through which the rows of one dtype are measured (one
:func:`symjac.accuracy.measure` per row) and torch's computations attempted.

>>> import torch
>>> rows = Collector().dtype("float64", (0.5,))
>>> rows.attempt("whole", "jacrev", lambda: 1 / 0) is None, rows.collector.skipped
(True, ['whole by jacrev in float64: ZeroDivisionError: division by zero'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symjac.accuracy import Tolerance, measure
from symjac.comparison.report import Row

__all__ = ["Collector", "DtypeRows"]


@dataclasses.dataclass
class Collector:
    """The rows, notes and skipped computations of one comparison, and its tolerance overrides.

    >>> Collector(rtol=1e-9).rows
    []
    """

    rtol: float | None = None
    ulps: float | None = None
    rows: list[Row] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)

    def note(self, text: str) -> None:
        """Add a note for the whole report (empty text adds nothing)."""
        if text:
            self.notes.append(text)

    def dtype(self, dtype: str, point: Sequence[float], notes: Sequence[str] = ()) -> DtypeRows:
        """The rows of one dtype at ``point`` (as compared); ``notes`` go on each row."""
        return DtypeRows(self, dtype, tuple(point), "; ".join(notes))


@dataclasses.dataclass
class DtypeRows:
    """Measure and record the rows of one dtype (made by :meth:`Collector.dtype`)."""

    collector: Collector
    dtype: str
    point: tuple[float, ...]
    base_note: str = ""

    def add(
        self,
        quantity: str,
        method: str,
        value: Any,
        exact: np.ndarray,
        convention: str = "",
        note: str = "",
        tolerance: Tolerance | None = None,
    ) -> None:
        """Measure torch's ``value`` against ``exact`` (reshaped to its shape) and add the row.

        ``tolerance`` overrides the collector's ``rtol``/``ulps`` (second-order rows).
        """
        c = self.collector
        rtol, ulps = (c.rtol, c.ulps) if tolerance is None else (tolerance.rtol, tolerance.ulps)
        meas = measure(
            value.detach().cpu().double().reshape(exact.shape).numpy(),
            exact,
            self.dtype,
            rtol=rtol,
            ulps=ulps,
            err_msg=f"{quantity} by {method} in {self.dtype}",
            convention=convention,
        )
        text = "; ".join(p for p in (self.base_note, note, convention) if p)
        c.rows.append(Row(quantity, method, meas, self.point, text))

    def attempt(self, quantity: str, method: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, or None with the failure recorded in ``skipped``.

        A torch method that cannot run is recorded, never dropped (NOTE: no-vacuous-pass).
        """
        try:
            return compute()
        except Exception as err:  # a torch method may not support a dtype on this device
            first = (str(err).splitlines() or [type(err).__name__])[0][:120]
            self.collector.skipped.append(
                f"{quantity} by {method} in {self.dtype}: {type(err).__name__}: {first}"
            )
            return None
