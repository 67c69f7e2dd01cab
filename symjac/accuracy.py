r"""The one comparison helper: how far a computed Jacobian is from the exact one.

Everything in symjac that holds numbers to an exact value (the report of
:func:`symjac.compare`, :func:`symjac.scan`, :mod:`symjac.testing`, the CLI and
the docs) measures through :func:`measure`, with the per-dtype tolerances of
:data:`TOLERANCES`. The style follows jax's ``public_test_util``: one table of
tolerances per dtype, and an ``err_msg`` threaded through so that a failure
says which quantity failed.

Two error figures are kept for every entry :math:`c` against its exact value
:math:`e` (an mpmath number, or a float):

* the error relative to the largest exact entry, :math:`|c - e| / \max|J|`,
  which is what rounding in a chain of products and sums produces;
* the distance in units in the last place (ULPs) of the compared dtype *at the
  exact value*, :math:`|c - e| / \operatorname{ulp}(e)`, which shows how many
  representable numbers lie between the two. Zero and subnormal exact values
  use the dtype's smallest subnormal as their ULP, so the figure stays finite.

An entry agrees when :math:`|c - e| \le \max(\text{rtol} \cdot \max|J|,\
\text{ulps} \cdot \operatorname{ulp}(e))`: either bound suffices. NaN or
infinity is never agreement, it is its own verdict ``"nonfinite"``.

>>> m = measure([0.0], [8.2446e-9], "float32", err_msg="tanh'(10)")
>>> m.verdict, m.max_rel
('mismatch', 1.0)
>>> measure([8.2446e-9], [8.2446e-9], "float32").verdict
'ok'
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import mpmath
import numpy as np

__all__ = [
    "FORMATS",
    "TOLERANCES",
    "VERDICTS",
    "FloatFormat",
    "Measurement",
    "Tolerance",
    "as_exact",
    "dtype_name",
    "measure",
    "tolerance",
    "ulp",
    "ulp_distance",
]

#: every verdict :func:`measure` can give; only ``ok`` and ``convention`` pass
VERDICTS = ("ok", "mismatch", "nonfinite", "convention")


@dataclasses.dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: ``precision`` bits (with the implicit one),
    the smallest normal exponent ``emin`` and the largest ``emax``.

    >>> FORMATS["float32"].eps
    1.1920928955078125e-07
    """

    name: str
    precision: int
    emin: int
    emax: int

    @property
    def eps(self) -> float:
        """The distance from 1 to the next larger number, ``2**(1 - precision)``."""
        return 2.0 ** (1 - self.precision)

    @property
    def tiny_ulp(self) -> float:
        """The smallest subnormal, the ULP of zero and of every subnormal number."""
        return 2.0 ** (self.emin - self.precision + 1)


#: the formats symjac compares in, by name
FORMATS: dict[str, FloatFormat] = {
    "float64": FloatFormat("float64", 53, -1022, 1023),
    "float32": FloatFormat("float32", 24, -126, 127),
    "float16": FloatFormat("float16", 11, -14, 15),
    "bfloat16": FloatFormat("bfloat16", 8, -126, 127),
}


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``rtol``: error allowed relative to ``max|J_exact|``; ``ulps``: error allowed in
    ULPs of the dtype at each exact entry. An entry passes if it meets either.

    >>> Tolerance(1e-6, 64)
    Tolerance(rtol=1e-06, ulps=64)
    """

    rtol: float
    ulps: float


# NOTE: tolerance-policy
#     Calibrated on torch's own rounding, not on hope. torch computes tanh' as
#     1 - y**2 from the rounded y = tanh(x): near saturation this subtracts two
#     nearly equal numbers, so the derivative is only known to about eps / tanh'(x)
#     relative. Measured for autograd of torch.tanh on 2401 points of [-12, 12]
#     against mpmath (50 digits), worst relative error over |x| <= a:
#
#       a          1        2        3        4        5        6       8     10     12
#       float64  2.1e-16  1.4e-15  1.0e-14  6.3e-14  4.8e-13  3.6e-12  2e-10  9.8e-9  5.3e-7
#       float32  1.3e-7   7.2e-7   5.6e-6   4.3e-5   3.0e-4   2.0e-3   0.11   1.0    1.0
#       float16  7.6e-4   5.9e-3   4.4e-2   0.33     1.0      (all 1.0 beyond)
#       bfloat16 6.7e-3   4.0e-2   0.32     1.0      (all 1.0 beyond)
#
#     (at x = 10 float64 is 9.8e-9 off, about 4.5e7 float64 ULPs; float32 returns 0,
#     100 % off, although the exact 8.2446e-9 is a normal float32.) The policy:
#
#     * float64, rtol 1e-6 (about 4500 eps): the whole of [-12, 12] passes, worst
#       5.3e-7 at |x| = 12, with a margin of 2. The ULP figure (up to ~1e9 there)
#       is still shown in every row: cancellation is visible, not hidden.
#     * float32, rtol 3e-4 (about 2500 eps): ordinary chained float32 rounding
#       (tens to hundreds of eps) passes; tanh leaves the band at |x| ~ 5.1 and
#       the total loss at |x| >= 8.3 fails. rtol 1e-4 would fail from 4.5, 1e-3
#       from 5.6.
#     * float16, rtol 1e-2 (about 10 eps): fails from |x| ~ 2.3.
#     * bfloat16, rtol 5e-2 (about 6 eps): fails from |x| ~ 2.
#
#     The ULP bound (ulps) is the floor that matters where max|J_exact| is zero
#     or every entry is tiny (a dead relu layer): a few ULPs of slack per entry,
#     more in the short formats where one ULP is a large step. For a strict ULP
#     check pass rtol=0 and ulps=N.
#: the default tolerance per dtype; see NOTE: tolerance-policy in the source
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-6, ulps=64),
    "float32": Tolerance(rtol=3e-4, ulps=64),
    "float16": Tolerance(rtol=1e-2, ulps=8),
    "bfloat16": Tolerance(rtol=5e-2, ulps=8),
}


def dtype_name(dtype: Any) -> str:
    """The canonical name of a float dtype: a name, a torch dtype or a NumPy dtype.

    >>> import torch, numpy as np
    >>> dtype_name(torch.float32), dtype_name(np.float64), dtype_name("bfloat16")
    ('float32', 'float64', 'bfloat16')
    >>> dtype_name("int8")
    Traceback (most recent call last):
    ...
    ValueError: dtype must be one of float64, float32, float16, bfloat16, got 'int8'
    """
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
    elif type(dtype).__module__.startswith("torch"):
        name = str(dtype).removeprefix("torch.")
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype)
    aliases = {"double": "float64", "float": "float32", "half": "float16"}
    name = aliases.get(name, name)
    if name not in FORMATS:
        raise ValueError(f"dtype must be one of {', '.join(FORMATS)}, got {dtype!r}")
    return name


def tolerance(dtype: Any, *, rtol: float | None = None, ulps: float | None = None) -> Tolerance:
    """The default :class:`Tolerance` of ``dtype`` with ``rtol``/``ulps`` overridden.

    >>> tolerance("float32")
    Tolerance(rtol=0.0003, ulps=64)
    >>> tolerance("float64", ulps=4)
    Tolerance(rtol=1e-06, ulps=4)
    """
    base = TOLERANCES[dtype_name(dtype)]
    for label, value in (("rtol", rtol), ("ulps", ulps)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
    return Tolerance(base.rtol if rtol is None else rtol, base.ulps if ulps is None else ulps)


_CTX = mpmath.MPContext()
_CTX.prec = 256


def _mp(value: Any) -> Any:
    if isinstance(value, mpmath.mpf):
        return _CTX.mpf(value)
    if type(value).__module__.startswith("mpmath"):
        return _CTX.mpf(value.real) if hasattr(value, "real") else _CTX.mpf(value)
    return _CTX.mpf(float(value))


def ulp(exact: Any, dtype: Any) -> float:
    """The spacing of ``dtype`` numbers at ``exact``: ``2**(floor(log2|exact|) - p + 1)``.

    Zero and subnormal values get the smallest subnormal; values beyond the
    largest finite number get the ULP of the top binade.

    >>> ulp(1.0, "float32"), ulp(0.0, "float64"), ulp(8.2446e-9, "float32")
    (1.1920928955078125e-07, 5e-324, 8.881784197001252e-16)
    """
    fmt = FORMATS[dtype_name(dtype)]
    return _ulp(_mp(exact), fmt)


def _ulp(value: Any, fmt: FloatFormat) -> float:
    if not _CTX.isfinite(value):
        return math.nan
    if value == 0:
        return fmt.tiny_ulp
    _, k = _CTX.frexp(value)  # |value| = m * 2**k with m in [0.5, 1)
    exponent = min(max(int(k) - 1, fmt.emin), fmt.emax)
    return math.ldexp(1.0, exponent - fmt.precision + 1)


def _as_computed(values: Any) -> np.ndarray:
    if type(values).__module__.startswith("torch"):
        values = values.detach().cpu().double().numpy()
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.vectorize(float, otypes=[np.float64])(arr) if arr.size else arr.astype(float)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"computed values must be real numbers, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64)


def as_exact(values: Any) -> np.ndarray:
    """``values`` (numbers, mpmath numbers, an array or a tensor) as an object array of
    256-bit mpmath numbers, the form :func:`measure` compares in.

    >>> as_exact([0.5, 2]).tolist()
    [mpf('0.5'), mpf('2.0')]
    """
    if type(values).__module__.startswith("torch"):
        values = values.detach().cpu().double().numpy()
    arr = np.asarray(values, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for index in np.ndindex(arr.shape):
        out[index] = _mp(arr[index])
    return out


def _entry_errors(
    computed: np.ndarray, exact: np.ndarray, fmt: FloatFormat
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per entry: absolute error, ULPs of fmt at the exact value, |exact|, ulp(exact)."""
    abs_err = np.empty(computed.shape)
    ulps = np.empty(computed.shape)
    magnitude = np.empty(computed.shape)
    spacing = np.empty(computed.shape)
    for index in np.ndindex(computed.shape):
        c, e = computed[index], exact[index]
        finite_e = bool(_CTX.isfinite(e))
        magnitude[index] = float(abs(e)) if finite_e else math.inf
        spacing[index] = _ulp(e, fmt)
        if not math.isfinite(c) or not finite_e:
            abs_err[index] = math.nan if (math.isnan(c) or _CTX.isnan(e)) else math.inf
            ulps[index] = abs_err[index]
            continue
        diff = abs(_CTX.mpf(c) - e)
        abs_err[index] = float(diff)
        ulps[index] = float(diff / spacing[index])
    return abs_err, ulps, magnitude, spacing


def ulp_distance(computed: Any, exact: Any, dtype: Any) -> Any:
    """How many ``dtype`` ULPs (at the exact value) ``computed`` is from ``exact``.

    ``exact`` may hold mpmath numbers (an object array) or floats; the
    difference is taken at 256 bits, so sub-ULP distances in float64 are
    resolved. A non-finite value gives ``inf`` (or ``nan`` when either is NaN).
    Scalars give a float, arrays an array of the same shape.

    >>> import mpmath
    >>> ulp_distance(0.0, mpmath.mpf("8.2446e-9"), "float32") > 9e6
    True
    >>> ulp_distance([1.0, 0.0], [1.0 + 2**-52, 2**-1074], "float64").tolist()
    [1.0, 1.0]
    """
    fmt = FORMATS[dtype_name(dtype)]
    c = _as_computed(computed)
    e = as_exact(exact)
    if c.shape != e.shape:
        raise ValueError(
            f"computed has shape {c.shape} but exact has shape {e.shape}; they must match"
        )
    _, ulps, _, _ = _entry_errors(c, e, fmt)
    return float(ulps) if ulps.ndim == 0 else ulps


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The errors of one computed array against its exact value (from :func:`measure`).

    ``max_rel`` is relative to ``max|exact|``; ``max_ulps`` is in ULPs of
    ``dtype``; ``worst`` indexes the entry that is furthest outside the
    tolerance (the first non-finite one if any), with ``computed`` and
    ``exact`` its two values. ``verdict`` is one of :data:`VERDICTS`.

    >>> m = measure([[1.0, 2.0]], [[1.0, 2.0]], "float64")
    >>> m.ok, m.shape, m.worst
    (True, (1, 2), (0, 0))
    """

    dtype: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    max_ulps: float
    worst: tuple[int, ...]
    computed: float
    exact: Any
    verdict: str
    tolerance: Tolerance
    err_msg: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        """True for the verdicts that pass: ``ok`` and ``convention``."""
        return self.verdict in ("ok", "convention")

    def __str__(self) -> str:
        label = f"{self.err_msg}: " if self.err_msg else ""
        return (
            f"{label}{self.verdict} ({self.dtype}, shape {self.shape}): max abs {self.max_abs:.3g}, "
            f"max rel {self.max_rel:.3g}, max {self.max_ulps:.3g} ULPs; worst {self.worst}: "
            f"{self.computed!r} vs exact {_short(self.exact)}"
        )

    def message(self) -> str:
        """A failure message in the spirit of ``numpy.testing.assert_allclose``.

        >>> print(measure([0.0], [8.2446e-9], "float32", err_msg="J1 autograd").message())
        Not equal to the exact value within rtol=0.0003 (relative to max|exact|) or 64 float32 ULPs
        J1 autograd
        verdict: mismatch (float32, shape (1,))
        Max absolute difference: 8.2446e-09
        Max relative difference (to max|exact|): 1
        Max ULP distance (float32): 9.28e+06
        Worst entry (0,): computed 0.0, exact 8.2446000000000003e-9
        """
        tol = self.tolerance
        lines = [
            f"Not equal to the exact value within rtol={tol.rtol:g} (relative to max|exact|) "
            f"or {tol.ulps:g} {self.dtype} ULPs",
        ]
        if self.err_msg:
            lines.append(self.err_msg)
        lines += [
            f"verdict: {self.verdict} ({self.dtype}, shape {self.shape})",
            f"Max absolute difference: {self.max_abs:.6g}",
            f"Max relative difference (to max|exact|): {self.max_rel:.6g}",
            f"Max ULP distance ({self.dtype}): {self.max_ulps:.3g}",
            f"Worst entry {self.worst}: computed {self.computed!r}, exact {_short(self.exact, 17)}",
        ]
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


def _short(value: Any, digits: int = 6) -> str:
    if isinstance(value, mpmath.mpf) or type(value).__module__.startswith("mpmath"):
        return mpmath.nstr(value, digits)
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def measure(
    computed: Any,
    exact: Any,
    dtype: Any,
    *,
    rtol: float | None = None,
    ulps: float | None = None,
    err_msg: str = "",
    convention: str = "",
) -> Measurement:
    """Measure ``computed`` (floats, an array or a tensor) against ``exact``.

    ``dtype`` is the format the values were computed in: it sets the default
    tolerance (:data:`TOLERANCES`) and the ULP. ``convention``, when given,
    says that the exact derivative does not exist at the point and which rule
    the computation followed: the verdict is then ``"convention"``, which
    passes. ``err_msg`` names the quantity in messages.

    >>> import mpmath
    >>> m = measure([0.5, 1e-300], [mpmath.mpf("0.5"), 0], "float64", err_msg="J2")
    >>> m.verdict, m.worst
    ('ok', (1,))
    >>> measure([float("nan")], [1.0], "float64").verdict
    'nonfinite'
    >>> measure([0.0], [1.0], "float64", convention="relu'(0) = 0").verdict
    'convention'
    """
    name = dtype_name(dtype)
    fmt = FORMATS[name]
    tol = tolerance(name, rtol=rtol, ulps=ulps)
    if not isinstance(err_msg, str):
        raise TypeError(f"err_msg must be a string, got {type(err_msg).__name__}")
    c = _as_computed(computed)
    e = as_exact(exact)
    if c.shape != e.shape:
        raise ValueError(
            f"{err_msg + ': ' if err_msg else ''}computed has shape {c.shape} but exact has shape "
            f"{e.shape}; they must match"
        )
    shape = tuple(c.shape)
    if c.size == 0:
        verdict = "convention" if convention else "ok"
        return Measurement(name, shape, 0.0, 0.0, 0.0, (), math.nan, math.nan, verdict, tol,
                           err_msg, convention)  # fmt: skip
    abs_err, ulp_err, magnitude, spacing = _entry_errors(c, e, fmt)
    finite = np.isfinite(abs_err)
    scale = float(np.max(magnitude))
    max_abs = float(np.max(np.where(np.isnan(abs_err), math.inf, abs_err)))
    if not math.isfinite(scale):
        max_rel = math.nan
    elif scale == 0:
        max_rel = 0.0 if max_abs == 0 else math.inf
    else:
        max_rel = max_abs / scale
    max_ulps = float(np.max(np.where(np.isnan(ulp_err), math.inf, ulp_err)))
    bound = np.maximum(tol.rtol * (scale if math.isfinite(scale) else 0.0), tol.ulps * spacing)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(abs_err == 0, 0.0, abs_err / bound)
    if not finite.all():
        worst = tuple(int(i) for i in np.argwhere(~finite)[0])
        verdict = "nonfinite"
    else:
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), shape))
        verdict = "mismatch" if bool(np.any(excess > 1)) else "ok"
    if convention:
        verdict = "convention"
    return Measurement(
        dtype=name,
        shape=shape,
        max_abs=max_abs,
        max_rel=max_rel,
        max_ulps=max_ulps,
        worst=worst,
        computed=float(c[worst]),
        exact=e[worst],
        verdict=verdict,
        tolerance=tol,
        err_msg=err_msg,
        note=convention,
    )
