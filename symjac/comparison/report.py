"""The result types of :func:`symjac.compare`: :class:`Row` and :class:`Report`.

Their text and HTML rendering is :mod:`symjac.comparison.render`.

>>> import symjac, torch
>>> symjac.compare(torch.nn.Tanh(), [0.5], "float64").row("whole", "jacrev", "float64").ok
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import mpmath

from symjac.accuracy import Measurement, dtype_name, tolerance
from symjac.comparison.render import fmt_point, json_float, report_html, report_text

__all__ = ["Report", "Row"]


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a :class:`Report`: one quantity, one method, one dtype.

    The error figures come from :attr:`measurement` (a
    :class:`~symjac.accuracy.Measurement`); ``point`` is the point as compared
    (cast to the dtype) and ``note`` says what else the reader must know
    (rounded weights, a convention).

    >>> import symjac, torch
    >>> row = symjac.compare(torch.nn.Tanh(), [0.5], dtypes=["float64"]).rows[0]
    >>> row.quantity, row.method, row.dtype, row.verdict
    ('J1', 'autograd', 'float64', 'ok')
    """

    quantity: str
    method: str
    measurement: Measurement
    point: tuple[float, ...]
    note: str = ""

    @property
    def dtype(self) -> str:
        """The dtype torch computed in."""
        return self.measurement.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The Jacobian's shape ``(outputs, inputs)``."""
        return self.measurement.shape

    @property
    def max_abs(self) -> float:
        """Largest absolute error."""
        return self.measurement.max_abs

    @property
    def max_rel(self) -> float:
        """Largest error relative to ``max|J_exact|``."""
        return self.measurement.max_rel

    @property
    def max_ulps(self) -> float:
        """Largest distance in ULPs of :attr:`dtype` at the exact value."""
        return self.measurement.max_ulps

    @property
    def verdict(self) -> str:
        """``ok``, ``mismatch``, ``nonfinite`` or ``convention``."""
        return self.measurement.verdict

    @property
    def ok(self) -> bool:
        """True for ``ok`` and ``convention``."""
        return self.measurement.ok

    @property
    def worst(self) -> tuple[int, ...]:
        """``(output index, input index)`` of the worst entry; ``(output, input, input)``
        for a ``hessian`` row."""
        w = self.measurement.worst
        return tuple(w) if len(w) >= 2 else (0, 0)

    @property
    def computed(self) -> float:
        """torch's value at the worst entry."""
        return self.measurement.computed

    @property
    def exact(self) -> Any:
        """The exact value (mpmath) at the worst entry."""
        return self.measurement.exact

    @property
    def label(self) -> str:
        """``"whole / autograd / float32"``: names the row in messages."""
        return f"{self.quantity} / {self.method} / {self.dtype}"

    def to_dict(self) -> dict[str, Any]:
        """This row as JSON-ready data (non-finite floats become strings).

        >>> import symjac, torch
        >>> symjac.compare(torch.nn.Tanh(), [0.5], dtypes=["float64"]).rows[0].to_dict()["worst"]["output"]
        0
        """
        m = self.measurement
        return {
            "quantity": self.quantity,
            "method": self.method,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "max_abs": json_float(m.max_abs),
            "max_rel": json_float(m.max_rel),
            "max_ulps": json_float(m.max_ulps),
            "worst": {
                "output": self.worst[0],
                "input": self.worst[1],
                # a Hessian row's entry d2 f_k / dx_i dx_j has a second input index
                **({"input2": self.worst[2]} if len(self.worst) == 3 else {}),
                "point": [json_float(v) for v in self.point],
                "computed": json_float(m.computed),
                "exact": mpmath.nstr(m.exact, 25) if not isinstance(m.exact, float) else m.exact,
            },
            "tolerance": {"rtol": m.tolerance.rtol, "ulps": m.tolerance.ulps},
            "verdict": m.verdict,
            "ok": m.ok,
            "note": self.note,
        }


class Report:
    """The result of :func:`symjac.compare`: one :class:`Row` per (quantity, method, dtype).

    ``ok`` is True when every row passes; ``print(report)`` shows a table that
    fits 100 columns; ``to_dict()`` is JSON-ready.

    >>> import symjac, torch
    >>> report = symjac.compare(symjac.examples.small_mlp(seed=0), [1.0])
    >>> report.ok, len(report.rows) > 10
    (True, True)
    >>> print(report)  # doctest: +ELLIPSIS
    symjac.compare: SmallMLP [1, 2, 2, 1] at x = [1.0]
    ...
    """

    def __init__(
        self,
        target: str,
        point: Sequence[float],
        dtypes: Sequence[str],
        rows: Sequence[Row],
        notes: Sequence[str] = (),
        skipped: Sequence[str] = (),
        input_names: Sequence[str] = (),
        *,
        allow_skipped: bool = False,
    ):
        self.target = target
        self.point = tuple(point)
        self.dtypes = tuple(dtypes)
        self.rows = list(rows)
        self.notes = list(notes)
        self.skipped = list(skipped)
        self.input_names = tuple(input_names)
        self.allow_skipped = bool(allow_skipped)

    @property
    def complete(self) -> bool:
        """True when there are rows and every requested computation ran (nothing ``skipped``).

        >>> import symjac, torch
        >>> symjac.compare(torch.nn.Tanh(), [0.5], methods=["jacrev"]).complete
        True
        """
        return bool(self.rows) and not self.skipped

    @property
    def ok(self) -> bool:
        """True when every row is within tolerance (``ok`` or ``convention``) and nothing was skipped.

        NOTE: no-vacuous-pass. A check never passes by not checking: a report
        with no rows is never ok, and neither is one in which a requested
        computation could not run (``skipped`` says which and why), unless it
        was made with ``allow_skipped=True``. Methods that do not apply to a
        target (``.backward()`` of a vector output, ``torch.func`` on a custom
        Function without ``setup_context``) are left out of the default methods
        with a note; asked for by name, they count as skipped.
        """
        if not self.rows:
            return False
        if self.skipped and not self.allow_skipped:
            return False
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> list[Row]:
        """The rows that fail (``mismatch`` or ``nonfinite``)."""
        return [row for row in self.rows if not row.ok]

    def row(self, quantity: str, method: str, dtype: Any) -> Row:
        """The row of one quantity (``"J1"``, ``"chain"``, ``"whole"``), method and dtype.

        >>> import symjac, torch
        >>> symjac.compare(torch.nn.Tanh(), [0.5]).row("whole", "jacfwd", "float32").ok
        True
        """
        name = dtype_name(dtype)
        for row in self.rows:
            if row.quantity == quantity and row.method == method and row.dtype == name:
                return row
        have = sorted({(r.quantity, r.method) for r in self.rows})
        raise KeyError(
            f"no row ({quantity!r}, {method!r}, {name!r}); rows: "
            + ", ".join(f"{q}/{m}" for q, m in have)
        )

    def __repr__(self) -> str:
        return (
            f"Report({self.target}, x={fmt_point(self.point)}, {len(self.rows)} rows, ok={self.ok})"
        )

    def __str__(self) -> str:
        return report_text(self)

    def _repr_html_(self) -> str:
        """The report as an HTML table with coloured verdicts (how Jupyter shows it).

        The same columns, summary and notes as ``print(report)``; each verdict
        cell is coloured: ok green, convention amber, mismatch and nonfinite red.

        >>> import symjac, torch
        >>> page = symjac.compare(torch.nn.Tanh(), [10.0])._repr_html_()
        >>> page.startswith("<div") and "mismatch</td>" in page and "FAILED" in page
        True
        """
        return report_html(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (used by the CLI's ``--json``).

        >>> import json, symjac, torch
        >>> data = symjac.compare(torch.nn.Tanh(), [10.0]).to_dict()
        >>> data["ok"], json.loads(json.dumps(data))["rows"][0]["verdict"]
        (False, 'mismatch')
        """
        return {
            "target": self.target,
            "point": [json_float(v) for v in self.point],
            "inputs": list(self.input_names),
            "dtypes": list(self.dtypes),
            "ok": self.ok,
            "tolerances": {
                d: {"rtol": tolerance(d).rtol, "ulps": tolerance(d).ulps} for d in self.dtypes
            },
            "rows": [row.to_dict() for row in self.rows],
            "notes": list(self.notes),
            "skipped": list(self.skipped),
            "allow_skipped": self.allow_skipped,
        }
