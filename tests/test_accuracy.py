"""symjac.accuracy: ULPs, measurements, and the tolerance table calibrated on torch's rounding."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from symjac.accuracy import (
    TOLERANCES,
    Tolerance,
    dtype_name,
    measure,
    tolerance,
    ulp,
    ulp_distance,
)

TANH10 = mpmath.mpf(1) - mpmath.tanh(10) ** 2


def test_ulp_of_normal_zero_and_subnormal_values():
    assert ulp(1.0, "float64") == 2.0**-52
    assert ulp(1.5, "float32") == 2.0**-23
    assert ulp(0.0, "float32") == 2.0**-149
    assert ulp(1e-45, "float32") == 2.0**-149  # subnormal: the smallest subnormal
    assert ulp(1.0, "bfloat16") == 2.0**-7
    assert ulp(1.0, "float16") == 2.0**-10


def test_ulp_distance_resolves_below_float64():
    with mpmath.workprec(100):
        exact = mpmath.mpf(1) + mpmath.ldexp(1, -60)
    assert ulp_distance(1.0, exact, "float64") == pytest.approx(2.0**-8)
    assert ulp_distance([0.0], [2.0**-1074], "float64").tolist() == [1.0]
    assert math.isinf(ulp_distance(math.inf, 1.0, "float64"))
    assert math.isnan(ulp_distance(math.nan, 1.0, "float64"))


def test_tanh_at_10_in_float32_is_millions_of_ulps():
    assert float(TANH10) > np.finfo(np.float32).tiny  # a normal float32 number
    assert ulp_distance(0.0, TANH10, "float32") > 9e6


def test_measure_fields_and_worst_entry():
    m = measure([[1.0, 2.0 + 1e-3]], [[1.0, 2.0]], "float64", err_msg="J2 jacrev")
    assert m.verdict == "mismatch" and not m.ok
    assert m.shape == (1, 2) and m.worst == (0, 1)
    assert m.max_abs == pytest.approx(1e-3) and m.max_rel == pytest.approx(5e-4)
    assert "J2 jacrev" in m.message() and "rtol=1e-06" in m.message()


def test_nonfinite_is_never_agreement():
    assert measure([math.inf], [math.inf], "float64").verdict == "nonfinite"
    assert measure([1.0, math.nan], [1.0, 1.0], "float32").worst == (1,)


def test_convention_passes():
    m = measure([0.0], [0.5], "float64", convention="torch uses relu'(0) = 0")
    assert m.verdict == "convention" and m.ok and "relu" in m.message()


def test_overrides_and_strict_ulp_mode():
    assert tolerance("float64", rtol=0, ulps=2) == Tolerance(0, 2)
    near = [1.0 + 3 * 2.0**-52]
    assert measure(near, [1.0], "float64").ok
    assert not measure(near, [1.0], "float64", rtol=0, ulps=2).ok
    assert measure([0.0], [0.0], "float64", rtol=0, ulps=0).ok


def test_zero_exact_uses_the_ulp_floor():
    assert measure([1e-322], [0.0], "float64").ok
    assert not measure([1e-300], [0.0], "float64").ok


@pytest.mark.parametrize(
    "bad, error",
    [("int8", ValueError), (object(), ValueError)],
)
def test_dtype_errors(bad, error):
    with pytest.raises(error, match="dtype must be one of"):
        dtype_name(bad)


def test_user_mistakes_raise_one_line_errors():
    with pytest.raises(ValueError, match="shape"):
        measure([1.0, 2.0], [1.0], "float64")
    with pytest.raises(ValueError, match="rtol must be"):
        tolerance("float64", rtol=-1)
    with pytest.raises(TypeError, match="err_msg"):
        measure([1.0], [1.0], "float64", err_msg=3)  # type: ignore[arg-type]
    assert dtype_name(torch.bfloat16) == "bfloat16" and dtype_name(np.float16) == "float16"


def _tanh_grad_errors(dtype: torch.dtype, xs: np.ndarray) -> np.ndarray:
    t = torch.tensor(xs, dtype=dtype, requires_grad=True)
    torch.tanh(t).sum().backward()
    rel = []
    for g, x in zip(t.grad.double().tolist(), t.detach().double().tolist()):
        exact = 1 - mpmath.tanh(mpmath.mpf(x)) ** 2
        rel.append(float(abs(g - exact) / exact))
    return np.array(rel)


def test_tolerance_table_matches_the_measured_tanh_rounding():
    """The numbers in NOTE: tolerance-policy, re-measured on a grid of [-12, 12]."""
    xs = np.linspace(-12, 12, 481)
    rel64 = _tanh_grad_errors(torch.float64, xs)
    rel32 = _tanh_grad_errors(torch.float32, xs)
    assert rel64.max() <= TOLERANCES["float64"].rtol  # float64 passes all of [-12, 12]
    assert rel64.max() > 1e-9  # ... although it is millions of ULPs off there
    rtol32 = TOLERANCES["float32"].rtol
    assert (rel32[np.abs(xs) <= 5.1] <= rtol32).all()
    # past |x| ~ 5 float32 leaves the band (a few grid points round luckily)
    band = (np.abs(xs) >= 5.4) & (np.abs(xs) < 8)
    assert (rel32[band] > rtol32).mean() > 0.8
    assert (rel32[np.abs(xs) >= 8] > rtol32).all()
    assert rel32[np.abs(xs) >= 10].min() == 1.0  # torch returns 0 there: 100 % off
