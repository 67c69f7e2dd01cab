"""The whole Jacobian's errors over many points: :func:`scan`, :class:`Scan`, :class:`ScanSeries`.

Each point's errors and verdict come from :func:`symjac.accuracy.measure`, as every
row of :func:`symjac.compare` does.

>>> import symjac, torch
>>> symjac.scan(torch.nn.Tanh(), [0.0, 9.0], methods=["jacrev"]).ok
False
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from symjac import progress
from symjac.accuracy import Tolerance, dtype_name, measure, tolerance, ulp
from symjac.comparison import methods as torch_methods
from symjac.comparison.render import scan_plot, scan_png
from symjac.comparison.targets import Target, as_point, make_target, torch_dtype

__all__ = ["Scan", "ScanSeries", "scan"]


@dataclasses.dataclass(frozen=True)
class ScanSeries:
    """Errors of one method in one dtype at every point of a :class:`Scan`.

    Arrays have one entry per point: ``max_abs``, ``max_rel`` (to that point's
    ``max|J_exact|``), ``max_ulps``, ``band_ulps`` (the tolerance in ULPs at the
    largest exact entry), ``ok`` (within tolerance, or a convention point) and
    ``convention``.
    """

    method: str
    dtype: str
    max_abs: np.ndarray
    max_rel: np.ndarray
    max_ulps: np.ndarray
    band_ulps: np.ndarray
    ok: np.ndarray
    convention: np.ndarray


class Scan:
    """Errors of :func:`scan` over many points, per method and dtype.

    ``points`` is ``(B, n)``; ``x`` the 1-D coordinate when ``n == 1``;
    ``series(method, dtype)`` a :class:`ScanSeries`; ``plot(path)`` writes a PNG.

    >>> import symjac, torch
    >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 6.0], methods=["autograd"])
    >>> s.series("autograd", "float32").ok.tolist(), s.series("autograd", "float64").ok.tolist()
    ([True, False], [True, True])
    """

    def __init__(
        self, target: str, points: np.ndarray, dtypes: Sequence[str], series: Sequence[ScanSeries]
    ):
        self.target = target
        self.points = points
        self.dtypes = tuple(dtypes)
        self._series = {(s.method, s.dtype): s for s in series}

    @property
    def x(self) -> np.ndarray | None:
        """The points as a 1-D array when there is one input, else None."""
        return self.points[:, 0] if self.points.shape[1] == 1 else None

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods scanned, in report order."""
        return tuple(dict.fromkeys(m for m, _ in self._series))

    @property
    def all_series(self) -> list[ScanSeries]:
        """Every series, in the order scanned (dtype by dtype, method by method)."""
        return list(self._series.values())

    @property
    def ok(self) -> bool:
        """True when every method is within tolerance at every point in every dtype.

        A scan with no series is never ok (NOTE: no-vacuous-pass).
        """
        return bool(self._series) and all(bool(s.ok.all()) for s in self._series.values())

    def series(self, method: str, dtype: Any) -> ScanSeries:
        """The errors of ``method`` in ``dtype``.

        >>> import symjac, torch
        >>> symjac.scan(torch.nn.Tanh(), [1.0], dtypes="float64").series("jacrev", "float64").max_ulps.shape
        (1,)
        """
        key = (method, dtype_name(dtype))
        if key not in self._series:
            raise KeyError(
                f"no series {key}; scanned: {', '.join(f'{m}/{d}' for m, d in self._series)}"
            )
        return self._series[key]

    def __repr__(self) -> str:
        return (
            f"Scan({self.target}, {len(self.points)} points, methods={list(self.methods)}, "
            f"dtypes={list(self.dtypes)})"
        )

    def plot(self, path: Any) -> Any:
        """Draw ULP error against x (or point index) per method and dtype; write a PNG.

        The dashed line of each dtype is its tolerance band in ULPs at the
        largest exact entry. Needs matplotlib (``pip install 'symjac[plot]'``);
        uses the Agg backend without touching pyplot's global state.

        >>> import symjac, torch, tempfile, os
        >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     os.path.getsize(s.plot(os.path.join(d, "scan.png"))) > 0
        True
        """
        return scan_plot(self, path)

    def _repr_png_(self) -> bytes | None:
        """The :meth:`plot` as PNG bytes (how Jupyter shows a scan); None without matplotlib.

        >>> import symjac, torch
        >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
        >>> s._repr_png_()[:4]
        b'\\x89PNG'
        """
        return scan_png(self)


def _scan_points(xs: Any, n_in: int | None) -> np.ndarray:
    arr = as_point(xs, "xs")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 1:
        if n_in not in (None, 1):
            raise ValueError(
                f"xs for a target with {n_in} inputs must have shape (B, {n_in}), got {arr.shape}"
            )
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"xs must be a 1-D range or a batch (B, n) of points, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("xs must be finite; remove NaN and inf points")
    return arr


#: points per step of :func:`scan`'s exact evaluation (and of its progress bar)
_SCAN_CHUNK = 64


def scan(
    target: Any,
    xs: Any,
    dtypes: Any = ("float32", "float64"),
    *,
    methods: Sequence[str] | None = None,
    rtol: float | None = None,
    ulps: float | None = None,
) -> Scan:
    """The whole Jacobian's errors over many points, per method and dtype (vectorised).

    ``xs`` is a 1-D range (one input) or a batch ``(B, n)``. torch's Jacobians
    are batched (``vmap(jacrev)``, ``vmap(jacfwd)``, autograd of the batch
    sum); the exact values come from symjac's compiled mpmath function at 50
    digits, at the points cast to each dtype (NOTE: honest-reference).
    Convention points (NOTE: conventions) are flagged from torch's float64
    and in-dtype pre-activations (networks) or the kink expressions (maps).

    >>> import symjac, torch, numpy as np
    >>> s = symjac.scan(torch.nn.Tanh(), np.linspace(-12, 12, 25), methods=["autograd"])
    >>> x, ok32 = s.x, s.series("autograd", "float32").ok
    >>> bool(ok32[np.abs(x) <= 4].all()), bool(ok32[np.abs(x) >= 6].any())
    (True, False)
    >>> bool(s.series("autograd", "float64").ok.all())
    True
    """
    names = torch_methods.check_dtypes(dtypes)
    chosen = torch_methods.check_methods(methods)
    tolerance("float64", rtol=rtol, ulps=ulps)
    arr = as_point(xs, "xs")
    n_hint = arr.shape[1] if arr.ndim == 2 else 1 if arr.ndim <= 1 else None
    tgt = make_target(target, n_hint)
    if methods is None:  # every method that applies (NOTE: no-vacuous-pass)
        chosen = [m for m in chosen if m not in tgt.inapplicable()]
    elif "backward" in chosen and tgt.n_out != 1:
        raise ValueError(
            f"methods includes 'backward', but .backward() needs a scalar output and "
            f"{tgt.label} has {tgt.n_out}; leave it out"
        )
    points = _scan_points(xs, tgt.n_in)
    if points.shape[1] != tgt.n_in:
        raise ValueError(
            f"xs has points with {points.shape[1]} coordinates but {tgt.label} takes {tgt.n_in}"
        )
    series: list[ScanSeries] = []
    # the exact values (mpmath, point by point) are the slow part: NOTE: progress-policy
    shown = progress.bar(len(names) * len(points), "symjac.scan", unit="point")
    for dtype in names:
        series += _scan_dtype(tgt, dtype, points, chosen, tolerance(dtype, rtol=rtol, ulps=ulps),
                              shown)  # fmt: skip
    shown.close()
    return Scan(tgt.label, points, names, series)


def _scan_dtype(
    tgt: Target,
    dtype: str,
    points: np.ndarray,
    chosen: Sequence[str],
    tol: Tolerance,
    shown: Any,
) -> list[ScanSeries]:
    """The series of each method in one dtype."""
    import torch

    var = tgt.variant(dtype, points[0])
    X = torch.as_tensor(points, dtype=torch.float64).to(torch_dtype(dtype))
    X64 = X.double().numpy()
    parts = []
    for start in range(0, len(X64), _SCAN_CHUNK):
        chunk = X64[start : start + _SCAN_CHUNK]
        parts.append(tgt.batch_exact(var, chunk))
        shown.update(len(chunk))
    B = X.shape[0]
    exact = np.concatenate(parts).reshape(B, -1, tgt.n_in)
    _, m, n = exact.shape
    flags = tgt.batch_conventions(var, X)
    bands = np.array([_band_ulps(exact[b], dtype, tol) for b in range(B)])
    out = []
    for method in chosen:
        computed = tgt.batch_jacobian(var, method, X, m, n).detach().double().numpy()
        out.append(_series(method, dtype, computed, exact, flags, bands, tol))
    return out


def _series(
    method: str,
    dtype: str,
    computed: np.ndarray,
    exact: np.ndarray,
    flags: np.ndarray,
    bands: np.ndarray,
    tol: Tolerance,
) -> ScanSeries:
    """One method's series: :func:`~symjac.accuracy.measure` at each point."""
    found = [
        measure(
            computed[b],
            exact[b],
            dtype,
            rtol=tol.rtol,
            ulps=tol.ulps,
            convention="at a kink" if flags[b] else "",
        )
        for b in range(len(computed))
    ]
    finite = np.array([math.isfinite(r.max_abs) for r in found])
    return ScanSeries(
        method=method,
        dtype=dtype,
        max_abs=np.array([r.max_abs for r in found]),
        # a non-finite point has no relative error to show, as with its absolute one
        max_rel=np.where(finite, [r.max_rel for r in found], np.inf),
        max_ulps=np.array([r.max_ulps for r in found]),
        band_ulps=bands,
        ok=np.array([r.ok for r in found]),
        convention=flags.copy(),
    )


def _band_ulps(exact: np.ndarray, dtype: str, tol: Tolerance) -> float:
    """The tolerance in ULPs of ``dtype`` at the largest exact entry (the plot's dashed line)."""
    entries = np.asarray(exact, dtype=object).ravel()
    magnitudes = [float(abs(e)) if math.isfinite(float(abs(e))) else math.inf for e in entries]
    big = int(np.argmax(magnitudes))
    spacing = ulp(entries[big], dtype)
    return float(np.maximum(tol.rtol * magnitudes[big], tol.ulps * spacing) / spacing)
