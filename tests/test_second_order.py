"""compare(order=2): torch's Hessians, JVPs and VJPs held to the exact ones; CLI and helpers."""

from __future__ import annotations

import json
import textwrap

import hypothesis.strategies as st
import mpmath
import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings

import symjac
from symjac.activations import Activation, Z
from symjac.cli import main
from symjac.second_order import HESSIAN_METHODS, SECOND_ORDER_TOLERANCES, tolerance

SIN = Activation("sin", sympy.sin(Z))


def _weights(rng: np.random.Generator, sizes: list[int], scale: float = 1.0) -> list[list]:
    # float32 numbers, so that the float32 copy of the network is the same network
    return [
        (scale * rng.standard_normal((sizes[k + 1], sizes[k]))).astype(np.float32).tolist()
        for k in range(len(sizes) - 1)
    ]


def _biases(rng: np.random.Generator, sizes: list[int]) -> list[list]:
    return [rng.standard_normal(s).astype(np.float32).tolist() for s in sizes[1:]]


def _net(activation: object, sizes: list[int], seed: int, scale: float = 1.0) -> symjac.Network:
    rng = np.random.default_rng(seed)
    return symjac.mlp(
        sizes,
        activation=activation,
        weights=_weights(rng, sizes, scale),
        biases=_biases(rng, sizes),
    )


def _hessian_rows(report: symjac.Report, dtype: str) -> dict[str, object]:
    return {r.method: r for r in report.rows if r.quantity == "hessian" and r.dtype == dtype}


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "gelu", SIN])
def test_every_hessian_method_agrees_on_ordinary_networks(activation: object) -> None:
    net = _net(activation, [2, 4, 3, 1], seed=3)
    report = symjac.compare(net, [0.4, -0.9], order=2)
    assert report.ok, str(report)
    for dtype in ("float32", "float64"):
        rows = _hessian_rows(report, dtype)
        assert list(rows) == list(HESSIAN_METHODS)
        assert all(r.shape == (1, 2, 2) for r in rows.values())
        assert report.row("jvp", "func.jvp", dtype).shape == (1, 1)
        assert report.row("vjp", "func.vjp", dtype).shape == (1, 2)
    # the rows measure something: float64 torch is near the exact Hessian, and not trivially
    h64 = report.row("hessian", "hessian", "float64")
    assert h64.max_rel < 1e-13 and float(abs(h64.exact)) > 1e-3


def test_exact_hessian_reference_matches_an_independent_mpmath_evaluation() -> None:
    # the reference rows are held to: a one-neuron tanh net, tanh'' = -2 tanh sech^2 by hand
    net = symjac.mlp([1, 1, 1], weights=[[[1.5]], [[-2.0]]], biases=[[0.25], [0.0]])
    report = symjac.compare(net, [0.5], dtypes="float64", order=2)
    with mpmath.workdps(60):
        z = mpmath.mpf(1.5) * mpmath.mpf(0.5) + mpmath.mpf(0.25)
        want = -2 * mpmath.mpf(1.5) ** 2 * (-2 * mpmath.tanh(z) * mpmath.sech(z) ** 2)
        got = report.row("hessian", "symjac", "float64").exact
        assert abs(got - want) < mpmath.mpf(10) ** -45


def test_map_rows_are_exact() -> None:
    # planar: J = [[2 x1, 1], [1, 2 x2]], Hessians [[2, 0], [0, 0]] and [[0, 0], [0, 2]]
    report = symjac.compare(symjac.examples.planar(), [1.0, 2.0], order=2)
    assert report.ok, str(report)
    for dtype in ("float32", "float64"):
        for method in HESSIAN_METHODS:
            assert report.row("hessian", method, dtype).max_abs == 0
        jvp, vjp = report.row("jvp", "func.jvp", dtype), report.row("vjp", "func.vjp", dtype)
        assert jvp.shape == (2, 1) and vjp.shape == (1, 2)
        assert jvp.max_abs == vjp.max_abs == 0
        assert float(jvp.exact) in (3.0, 5.0)  # J (1, 1) = (3, 5); (1, 1) J = (3, 5)
    curved = symjac.VectorMap(["sin(x1) * exp(x2)"], "x1 x2")
    report = symjac.compare(curved, [0.7, -0.3], order=2)
    assert report.ok, str(report)
    row = report.row("hessian", "grad(grad)", "float64")
    assert row.max_rel < 1e-14 and row.shape == (1, 2, 2)


def test_order_one_is_unchanged_and_order_is_checked() -> None:
    module = symjac.examples.small_mlp(seed=0)
    plain, first = symjac.compare(module, [1.0]), symjac.compare(module, [1.0], order=1)
    assert str(plain) == str(first)
    assert {r.quantity for r in plain.rows} == {"J1", "J2", "J3", "chain", "whole"}
    second = symjac.compare(module, [1.0], order=2)
    assert [r.label for r in second.rows[: len(plain.rows)]] == [r.label for r in plain.rows]
    for bad in (3, 0, True, "2"):
        with pytest.raises(ValueError, match="order must be 1"):
            symjac.compare(module, [1.0], order=bad)


def _saturated() -> torch.nn.Sequential:
    # pre-activation 8: tanh' = 4.5e-7 and tanh'' = -9e-7 are normal float32 numbers, but
    # torch's 1 - y**2 from the rounded y keeps about one digit of them
    lin = torch.nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(2.0)
        lin.bias.zero_()
    return torch.nn.Sequential(lin, torch.nn.Tanh())


def test_saturated_tanh_float32_double_backward_is_flagged() -> None:
    report = symjac.compare(_saturated(), [4.0], order=2)
    assert not report.ok
    for method in ("grad(grad)", "autograd", "hessian", "jacfwd(rev)"):
        row = report.row("hessian", method, "float32")
        assert row.verdict == "mismatch", row
        assert row.max_rel > 10 * SECOND_ORDER_TOLERANCES["float32"].rtol
        assert report.row("hessian", method, "float64").verdict == "ok"
    # symjac's own kernel uses sech^2, no cancellation: it passes in float32
    assert report.row("hessian", "symjac", "float32").verdict == "ok"
    assert report.row("hessian", "symjac", "float32").max_rel < 1e-5


def test_second_order_tolerances_are_documented_and_overridable() -> None:
    assert tolerance("float32").rtol == SECOND_ORDER_TOLERANCES["float32"].rtol
    assert tolerance("float64", rtol=0.5).rtol == 0.5
    with pytest.raises(ValueError, match="rtol must be"):
        tolerance("float32", rtol=-1)
    # a huge rtol passes the saturated net's second-order rows (the override reaches them)
    report = symjac.compare(_saturated(), [4.0], dtypes="float32", order=2, rtol=0.9)
    assert report.row("hessian", "grad(grad)", "float32").ok
    assert "second-order-tolerance" in " ".join(report.notes)


def test_a_second_order_method_that_cannot_run_fails_the_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no double backward here")

    monkeypatch.setattr(torch.autograd.functional, "hessian", broken)
    report = symjac.compare(torch.nn.Tanh(), [0.5], dtypes="float64", order=2)
    assert not report.ok and not report.complete
    assert report.skipped == [
        "hessian by autograd in float64: RuntimeError: no double backward here"
    ]
    assert not report.failures  # every row that ran passed: the skip alone fails it
    accepted = symjac.compare(torch.nn.Tanh(), [0.5], dtypes="float64", order=2, allow_skipped=True)
    assert accepted.ok


def test_custom_function_without_setup_context_leaves_torch_func_out() -> None:
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(1, 1, dtype=torch.float64)
            with torch.no_grad():
                self.lin.weight.fill_(0.5)
                self.lin.bias.fill_(0.25)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return Cube.apply(self.lin(x))

    report = symjac.compare(Model(), [0.5], dtypes="float64", order=2)
    methods = {r.method for r in report.rows if r.quantity == "hessian"}
    assert methods == {"autograd", "grad(grad)", "symjac"}
    assert any(
        n.startswith("hessian is not run: the custom autograd.Function") for n in report.notes
    )
    # its backward is written in torch ops, so double backward is exact: (x^3)'' = 6 x
    row = report.row("hessian", "grad(grad)", "float64")
    assert row.ok and float(row.exact) == pytest.approx(6 * 0.5**2 * 0.5, rel=1e-15)


def test_report_with_second_order_rows_fits_100_columns() -> None:
    torch.manual_seed(1)
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)
    ).double()
    for weight in module.parameters():
        torch.nn.init.normal_(weight, std=3.0)  # float64 weights: the float32 rows carry notes
    report = symjac.compare(module, [0.5, -1.0], order=2)
    text = str(report)
    assert "hessian grad(grad)" in text
    assert all(len(line) <= 100 for line in text.splitlines()), text
    data = json.loads(json.dumps(report.to_dict()))
    hess = [r for r in data["rows"] if r["quantity"] == "hessian"]
    assert hess and all("input2" in r["worst"] for r in hess)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    activation=st.sampled_from(["tanh", "sigmoid", "softplus", "gelu"]),
    n=st.integers(1, 3),
    width=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    point=st.lists(st.floats(-3, 3, allow_nan=False), min_size=3, max_size=3),
)
def test_nothing_correct_is_labelled_wrong_in_float64(
    activation: str, n: int, width: int, seed: int, point: list[float]
) -> None:
    net = _net(activation, [n, width, width, 1], seed=seed, scale=2.0)
    report = symjac.compare(net, point[:n], dtypes="float64", order=2)
    assert report.complete, report.skipped
    assert report.ok, str(report)


# -- the command line and the testing helpers ----------------------------------------------------

TARGETS = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))

    def saturated():
        lin = nn.Linear(1, 1)
        with torch.no_grad():
            lin.weight.fill_(2.0)
            lin.bias.zero_()
        return nn.Sequential(lin, nn.Tanh())
    """
)


def test_cli_check_order_2_exit_codes(capsys: pytest.CaptureFixture[str], import_target) -> None:
    name = import_target(TARGETS)
    assert main(["check", f"{name}:build", "--input", "0.5,-1", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "hessian grad(grad)" in out and "agrees with the exact Jacobian and Hessian" in out
    # first order passes at x = 4 in float64; the float32 Hessians do not
    argv = ["check", f"{name}:saturated", "--input", "4", "--order", "2", "--json"]
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["order"] == 2 and doc["ok"] is False
    bad = {(r["quantity"], r["method"], r["dtype"]) for r in doc["rows"] if not r["ok"]}
    assert ("hessian", "grad(grad)", "float32") in bad
    assert main(["check", f"{name}:saturated", "--input", "4", "--dtypes", "float64",
                 "--order", "2"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["check", f"{name}:build", "--order", "3"]) == 2
    assert "--order" in capsys.readouterr().err


def test_testing_helper_and_fixture_take_order(jacobian_check) -> None:
    report = symjac.testing.assert_jacobian_agrees(symjac.examples.quadratic(), [1.0, 2.0], order=2)
    assert report.row("hessian", "symjac", "float64").computed == 2.0  # H = [[2, 3], [3, 2]]
    with pytest.raises(AssertionError) as info:
        symjac.testing.assert_jacobian_agrees(
            _saturated(), [4.0], dtypes="float32", methods=["jacrev"], order=2
        )
    text = str(info.value)
    assert "hessian / hessian / float32:" in text  # among the first rows spelled out
    assert "(worst entry: output 0, inputs 0 and 0, at the float32 point [4.0])" in text
    checked = jacobian_check(torch.nn.Tanh(), [0.5], dtypes="float64", order=2)
    assert checked.row("hessian", "grad(grad)", "float64").ok
    assert jacobian_check.reports == [checked]
