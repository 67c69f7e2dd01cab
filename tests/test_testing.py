"""symjac.testing: assert helpers with numpy-style failure messages."""

from __future__ import annotations

import mpmath
import pytest
from torch import nn

import symjac
from symjac import testing


def test_passing_returns_the_report():
    report = testing.assert_jacobian_agrees(symjac.examples.small_mlp(seed=0), [1.0])
    assert report.ok


def test_failure_message_names_quantity_method_dtype_worst_entry_and_tolerance():
    with pytest.raises(AssertionError) as info:
        testing.assert_jacobian_agrees(nn.Tanh(), [10.0], err_msg="saturated tanh")
    text = str(info.value)
    assert "saturated tanh" in text
    assert "whole / autograd / float32" in text or "J1 / autograd / float32" in text
    assert "rtol=0.0003" in text and "64 float32 ULPs" in text
    assert "computed 0.0, exact 8.2446" in text
    assert "output 0, input 0" in text
    assert "more failing rows" in text  # only the first few are spelled out


def test_overrides_pass_through():
    testing.assert_jacobian_agrees(nn.Tanh(), [10.0], dtypes="float32", rtol=1.0)
    with pytest.raises(AssertionError, match="rtol=0"):
        testing.assert_jacobian_agrees(nn.Tanh(), [3.0], dtypes="float32", rtol=0, ulps=0.25)


def test_assert_exact_close():
    assert testing.assert_exact_close([0.5], [mpmath.mpf("0.5")]).ok
    with pytest.raises(AssertionError, match="my quantity"):
        testing.assert_exact_close([0.0], [1.0], "float64", err_msg="my quantity")


def test_user_mistakes_are_not_assertion_errors():
    with pytest.raises(TypeError):
        testing.assert_jacobian_agrees(nn.Tanh(), [1.0], err_msg=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        testing.assert_jacobian_agrees(symjac.examples.planar(), [1.0])
