"""The pytest plugin (pytest11 entry point): the jacobian_check fixture, run via pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_plugin_is_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "symjac.pytest_plugin" in names


def test_jacobian_check_fixture_in_a_user_test_file(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_user="""
        import pytest
        import torch
        import symjac


        def test_seed_network(jacobian_check):
            report = jacobian_check(symjac.examples.small_mlp(seed=0), [1.0])
            assert report.ok and len(jacobian_check.reports) == 1


        def test_saturated_tanh(jacobian_check):
            jacobian_check(torch.nn.Tanh(), [10.0], dtypes=["float32"], methods=["autograd"])


        def test_map_in_float64(jacobian_check):
            jacobian_check(symjac.examples.planar(), [1.0, 2.0], dtypes="float64")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_saturated_tanh*",
            "*AssertionError: Jacobians of Tanh*disagree with the exact value*",
            "*Max ULP distance (float32)*",
        ]
    )
