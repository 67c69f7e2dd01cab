"""Hold a model's autograd Jacobians to the exact ones: a complete test file.

Shown on the docs page "Testing your own code"; tests/test_docs.py runs it with pytest.
"""

from __future__ import annotations

import pytest
import torch

import symjac
from symjac.testing import assert_exact_close, assert_jacobian_agrees


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 4),
        torch.nn.Tanh(),
        torch.nn.Linear(4, 4),
        torch.nn.SiLU(),
        torch.nn.Linear(4, 1),
    )


@pytest.mark.parametrize("x", [[0.5, -1.0], [0.0, 0.0], [2.0, 3.0]])
def test_autograd_agrees_with_exact(jacobian_check, x):
    # the fixture from symjac's pytest plugin: every method, float32 and float64
    jacobian_check(make_model(), x)


def test_float64_backward_within_a_few_ulps():
    # a stricter tolerance: no relative slack, at most 16 float64 ULPs per entry
    report = assert_jacobian_agrees(
        make_model(), [0.5, -1.0], dtypes="float64", rtol=0, ulps=16, methods=["backward"]
    )
    assert report.row("whole", "backward", "float64").max_ulps <= 16


def test_my_hand_written_derivative():
    # your own derivative code, held to the exact derivative at 50 digits
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    mine = 1 / torch.cosh(x) ** 2  # d/dx tanh(x)
    exact = symjac.jacobian("tanh(x)", "x").numeric("mpmath")(x.numpy()[:, None])[:, 0, 0]
    assert_exact_close(mine.numpy(), exact, "float64", err_msg="sech^2")


def test_saturated_tanh_is_caught():
    # float32 autograd returns 0 for tanh'(10); the exact value is 8.2446e-9
    with pytest.raises(AssertionError, match="disagree with the exact value"):
        assert_jacobian_agrees(torch.nn.Tanh(), [10.0], dtypes="float32", methods=["autograd"])
