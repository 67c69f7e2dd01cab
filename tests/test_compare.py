"""symjac.compare: the report, the tanh saturation case, dtypes, conventions, random targets."""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import symjac
from symjac.comparison import METHODS, Report, Row

TANH10 = float(1 - mpmath.tanh(mpmath.mpf(10)) ** 2)  # 8.2446e-9


def _tanh_targets():
    lin = nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.zero_()
    return {
        "nn.Tanh()": nn.Tanh(),
        "Sequential(Linear, Tanh)": nn.Sequential(lin, nn.Tanh()),
        "VectorMap tanh(x)": symjac.VectorMap("tanh(x)", "x"),
    }


def test_torch_tanh_at_10_float32_autograd_and_finite_differences_agree_on_the_wrong_answer():
    x = torch.tensor([10.0], dtype=torch.float32, requires_grad=True)
    (grad,) = torch.autograd.grad(torch.tanh(x).sum(), x)
    assert grad.item() == 0.0
    assert pytest.approx(8.2446e-9, rel=1e-4) == TANH10
    assert np.finfo(np.float32).tiny < TANH10  # a normal float32 number
    # gradcheck-style central differences (torch.autograd.gradcheck's own scheme) in float32
    eps = 1e-3
    with torch.no_grad():
        fd = (torch.tanh(x + eps) - torch.tanh(x - eps)) / (2 * eps)
    assert fd.item() == 0.0  # finite differences agree with the wrong answer
    with pytest.warns(UserWarning, match="double precision"):
        assert torch.autograd.gradcheck(torch.tanh, (x,), eps=eps, atol=1e-6, rtol=1e-3)
    # only the exact value exposes it
    report = symjac.compare(nn.Tanh(), [10.0])
    row = report.row("whole", "autograd", "float32")
    assert row.verdict == "mismatch" and row.max_ulps > 1e6 and row.computed == 0.0
    assert float(row.exact) == pytest.approx(TANH10, rel=1e-12)


@pytest.mark.parametrize("name", list(_tanh_targets()))
def test_tanh_saturation_fails_in_float32_passes_in_float64(name):
    target = _tanh_targets()[name]
    report = symjac.compare(target, [10.0])
    assert not report.ok
    for row in report.rows:
        if row.method == "symjac":
            continue  # symjac's own formula: see test_symjac_compiled_tanh_derivative
        if row.dtype == "float32":
            assert row.verdict == "mismatch", row.label
            assert row.max_ulps > 1e6
        else:
            assert row.verdict == "ok", row.label
            assert row.max_ulps > 1e6  # the ULP figure still shows the cancellation
    methods = {r.method for r in report.rows}
    assert methods == set(METHODS)
    assert report.skipped == []


def test_symjac_compiled_tanh_derivative():
    # the map's compiled Jacobian prints tanh' as sech(x)**2, which has no cancellation
    row = symjac.compare(symjac.VectorMap("tanh(x)", "x"), [10.0], methods=["symjac"]).rows[0]
    assert row.dtype == "float32" and row.verdict == "ok"
    # the network chain compiles the activation's 1 - tanh(z)**2 and saturates like torch
    net_row = symjac.compare(nn.Tanh(), [10.0], methods=["symjac"], dtypes="float32").rows[0]
    assert net_row.verdict in ("ok", "mismatch")


def test_float64_passes_at_minus_12():
    row = symjac.compare(nn.Tanh(), [-12.0], dtypes="float64").row("whole", "jacrev", "float64")
    assert row.ok and 1e-8 < row.max_rel < 1e-6


def test_saturated_tanh_network():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[8.0, 4.0], [6.0, 5.0], [7.0, 9.0]]))
        model[0].bias.zero_()
    report = symjac.compare(model, [1.0, 0.5])
    assert not report.ok
    assert all(r.ok for r in report.rows if r.dtype == "float64")
    assert report.row("J1", "autograd", "float32").verdict == "mismatch"
    assert report.row("whole", "autograd", "float32").verdict == "mismatch"
    # symjac's compiled chain uses sech(z)**2, not 1 - tanh(z)**2: it keeps its digits
    # where autograd loses them (NOTE: stable-rewrites)
    for dtype in ("float32", "float64"):
        row = report.row("whole", "symjac", dtype)
        assert row.verdict == "ok" and row.max_ulps < 4, (dtype, row.max_ulps)
    assert report.row("whole", "autograd", "float64").max_ulps > 1e5


def test_seed_small_mlp_report_matches_the_seed():
    report = symjac.compare(symjac.examples.small_mlp(seed=0), [1.0])
    assert report.ok and report.skipped == []
    quantities = {r.quantity for r in report.rows}
    assert quantities == {"J1", "J2", "J3", "chain", "whole"}
    j1 = report.row("J1", "autograd", "float32")
    assert j1.shape == (2, 1)
    whole = report.row("whole", "backward", "float32")
    assert whole.computed == pytest.approx(-0.0609, abs=1e-4)
    assert {r.method for r in report.rows if r.quantity == "J2"} == {"autograd", "jacrev", "jacfwd"}


def test_report_prints_within_100_columns_and_serialises():
    report = symjac.compare(symjac.examples.small_mlp(seed=0), [1.0])
    text = str(report)
    assert all(len(line) <= 100 for line in text.splitlines()), text
    assert "whole" in text and "float32" in text and "OK" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and len(data["rows"]) == len(report.rows)
    assert set(data["rows"][0]["worst"]) == {"output", "input", "point", "computed", "exact"}
    assert isinstance(report, Report) and isinstance(report.rows[0], Row)
    bad = json.loads(json.dumps(symjac.compare(nn.Tanh(), [10.0]).to_dict()))
    assert bad["ok"] is False


def test_float64_point_into_float32_model_is_cast_and_said():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1))
    report = symjac.compare(model, [0.1])
    row32 = report.row("whole", "autograd", "float32")
    assert row32.point == (float(np.float32(0.1)),)
    assert "point rounded to float32" in row32.note
    assert "weights rounded" not in row32.note  # float32 weights are exact in both dtypes
    assert report.row("whole", "autograd", "float64").point == (0.1,)


def test_float64_model_cast_to_float32_uses_the_rounded_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1e-10)  # float64 weights that float32 cannot hold
    report = symjac.compare(model, [0.25, -0.5])
    assert report.ok
    row32 = report.row("whole", "jacrev", "float32")
    assert "weights rounded to float32" in row32.note
    assert any("original model's exact Jacobian differs" in n for n in report.notes)
    assert next(model.parameters()).dtype == torch.float64  # the original is untouched


def test_network_with_exact_weights_and_half_precision():
    net = symjac.mlp([2, 2, 1], "relu", weights=[[[1, "1/3"], [2, -1]], [[1, 1]]], biases=False)
    report = symjac.compare(net, [0.5, 0.25], dtypes=("float16", "bfloat16", "float64"))
    assert report.ok, str(report)
    assert "weights rounded to float64" in report.row("whole", "autograd", "float64").note


def test_relu_kink_is_a_convention():
    net = symjac.mlp([1, 1], "identity", weights=[[[1]]], biases=False, output_activation="relu")
    report = symjac.compare(net, [0.0])
    assert report.ok
    row = report.row("whole", "autograd", "float64")
    assert row.verdict == "convention" and "relu'(0) = 0" in row.note
    away = symjac.compare(net, [0.5]).row("whole", "autograd", "float64")
    assert away.verdict == "ok"


@pytest.mark.parametrize(
    "expr, point, word",
    [
        ("abs(x1) * x2", [0.0, 1.0], "abs"),
        ("Max(x1, x2)", [1.0, 1.0], "max"),
        ("sqrt(x1) + x2", [0.0, 1.0], "fractional power"),
        ("log(x1) + x2", [0.0, 1.0], "log"),
        ("Min(Max(x1, 0), 1) + x2", [1.0, 2.0], "min"),
    ],
)
def test_vector_map_kinks_are_conventions(expr, point, word):
    report = symjac.compare(symjac.VectorMap(expr, "x1 x2"), point)
    assert report.ok, str(report)
    assert all(r.verdict == "convention" for r in report.rows)
    assert word in report.rows[0].note


def test_vector_map_twin_and_methods():
    report = symjac.compare(symjac.examples.planar(), [1.0, 2.0])
    assert report.ok
    assert {r.quantity for r in report.rows} == {"whole"}
    assert "backward" not in {r.method for r in report.rows}  # two outputs
    assert report.row("whole", "symjac", "float64").max_abs == 0
    scalar = symjac.compare(symjac.examples.quadratic(), [1.0, 2.0], methods=["backward"])
    assert [r.method for r in scalar.rows] == ["backward", "backward"]


def test_user_mistakes():
    with pytest.raises(TypeError, match="target must be"):
        symjac.compare("tanh(x)", [1.0])
    with pytest.raises(ValueError, match="coordinates"):
        symjac.compare(symjac.examples.planar(), [1.0])
    with pytest.raises(ValueError, match="methods must be among"):
        symjac.compare(nn.Tanh(), [1.0], methods=["grad"])
    with pytest.raises(ValueError, match="dtype must be one of"):
        symjac.compare(nn.Tanh(), [1.0], dtypes=["int32"])
    with pytest.raises(ValueError, match="symbolic"):
        symjac.compare(symjac.mlp([1, 1]), [1.0])
    with pytest.raises(ValueError, match="parameters"):
        symjac.compare(symjac.VectorMap("w*x", "x", params="w"), [1.0])
    with pytest.raises(ValueError, match="one point"):
        symjac.compare(nn.Tanh(), [[1.0], [2.0]])
    with pytest.raises(ValueError, match="finite"):
        symjac.compare(nn.Tanh(), [float("nan")])
    with pytest.raises(ValueError, match="rtol"):
        symjac.compare(nn.Tanh(), [1.0], rtol=-1.0)


def test_overrides_reach_every_row():
    report = symjac.compare(nn.Tanh(), [3.0], rtol=0, ulps=0.5, dtypes="float32")
    assert all(r.measurement.tolerance.rtol == 0 for r in report.rows)
    assert not report.ok and "tolerance used" in str(report)


# -- random targets -------------------------------------------------------------------------------

_MONOMIAL_EXPONENTS = st.lists(st.integers(0, 4), min_size=1, max_size=4)


@st.composite
def polynomial_maps(draw):
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 4))
    names = [f"x{i + 1}" for i in range(n)]
    outputs = []
    for _ in range(m):
        terms = []
        for _ in range(draw(st.integers(1, 4))):
            coeff = draw(st.integers(-5, 5).filter(bool))
            powers = [draw(st.integers(0, 2)) for _ in range(n)]
            while sum(powers) > 4:
                powers[powers.index(max(powers))] -= 1
            mono = "*".join(f"{v}**{p}" for v, p in zip(names, powers) if p)
            terms.append(f"{coeff}*{mono}" if mono else str(coeff))
        outputs.append(" + ".join(terms) + f" + {names[0]}*0")
    point = [draw(st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))) for _ in names]
    return outputs, names, point


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(polynomial_maps())
def test_random_polynomial_maps_agree_in_float64(case):
    outputs, names, point = case
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", symjac.SymjacWarning)
        vm = symjac.VectorMap(outputs, names)
    report = symjac.compare(vm, point, dtypes="float64")
    assert report.ok, str(report)
    assert report.skipped == []


ACTS = ["tanh", "sigmoid", "relu", "leaky_relu", "elu", "softplus", "silu", "gelu", "gelu_tanh",
        "identity"]  # fmt: skip


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 5)) for _ in range(depth + 1)]
    acts = [draw(st.sampled_from(ACTS)) for _ in range(depth)]
    floats = st.floats(-1, 1, allow_nan=False).map(lambda v: round(v, 4))
    weights = [
        [[draw(floats) for _ in range(sizes[k])] for _ in range(sizes[k + 1])] for k in range(depth)
    ]
    biases = [[draw(floats) for _ in range(sizes[k + 1])] for k in range(depth)]
    point = [draw(floats) for _ in range(sizes[0])]
    net = symjac.mlp(sizes, acts[:-1], weights=weights, biases=biases, output_activation=acts[-1])
    return net, point


def _min_kink_distance(net, point) -> float:
    a = np.array(point, dtype=np.float64)
    best = np.inf
    for layer in net.layers:
        w = np.array(layer.weight.tolist(), dtype=np.float64)
        z = w @ a + np.array(layer.bias.tolist(), dtype=np.float64).ravel()
        for kink in layer.activation.kinks:
            best = min(best, float(np.min(np.abs(z - float(kink)))))
        a = layer.activation.torch_function()(torch.tensor(z)).numpy()
    return best


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_networks_agree_in_float64_and_float32_away_from_kinks(case):
    net, point = case
    assume(_min_kink_distance(net, point) > 1e-3)
    report = symjac.compare(net, point)
    assert report.skipped == []
    assert report.ok, str(report)


def test_constant_map_compares_with_a_zero_gradient():
    # a map that does not depend on its input: .backward() has no graph, the Jacobian is 0
    with pytest.warns(symjac.SymjacWarning):
        vm = symjac.VectorMap("1 + 0*x1", ["x1"])
    report = symjac.compare(vm, [0.0], dtypes="float64")
    assert report.ok, str(report)
    assert not report.skipped
    assert report.row("whole", "backward", "float64").max_abs == 0.0


# -- no vacuous passes (NOTE: no-vacuous-pass) ----------------------------------------------


def _raise_for(method_name, monkeypatch):
    from symjac.comparison import methods

    real = methods._dispatch

    def broken(method, fn, x):
        if method == method_name:
            raise RuntimeError(f"{method} is broken here")
        return real(method, fn, x)

    monkeypatch.setattr(methods, "_dispatch", broken)


def test_every_requested_method_skipped_fails(monkeypatch):
    _raise_for("jacrev", monkeypatch)
    model = symjac.examples.small_mlp(seed=0)
    report = symjac.compare(model, [1.0], methods=["jacrev"])
    assert report.rows == [] and len(report.skipped) == 8  # J1-J3 and whole, two dtypes
    assert not report.ok and not report.complete
    with pytest.raises(AssertionError, match=r"were not checked: no method produced a row"):
        symjac.testing.assert_jacobian_agrees(model, [1.0], methods=["jacrev"])
    # zero rows stay a failure even when skips are accepted
    with pytest.raises(AssertionError, match=r"no method produced a row"):
        symjac.testing.assert_jacobian_agrees(model, [1.0], methods=["jacrev"], allow_skipped=True)


def test_one_skipped_method_fails_unless_accepted(monkeypatch, jacobian_check):
    _raise_for("jacfwd", monkeypatch)
    model = symjac.examples.small_mlp(seed=0)
    report = symjac.compare(model, [1.0])
    assert report.rows and all(r.ok for r in report.rows)
    assert not report.ok
    assert "whole by jacfwd in float32: RuntimeError: jacfwd is broken here" in report.skipped
    assert "requested computations could not run" in str(report)
    with pytest.raises(AssertionError, match=r"(?s)not fully checked.*whole by jacfwd in float64"):
        jacobian_check(model, [1.0])
    accepted = jacobian_check(model, [1.0], allow_skipped=True)
    assert accepted.ok and accepted.skipped and accepted.to_dict()["allow_skipped"] is True


def test_symjac_own_function_raising_propagates(monkeypatch):
    net = symjac.from_torch(symjac.examples.small_mlp(seed=0))

    def broken(self, backend="numpy", order="auto"):
        raise RuntimeError("compiled Jacobian is broken")

    monkeypatch.setattr(symjac.Network, "numeric", broken)
    with pytest.raises(RuntimeError, match="compiled Jacobian is broken"):
        symjac.compare(net, [1.0], methods=["symjac"])
    vm = symjac.VectorMap("x**2", "x")
    monkeypatch.setattr(symjac.Jacobian, "numeric", broken)
    with pytest.raises(RuntimeError, match="compiled Jacobian is broken"):
        symjac.compare(vm, [1.0], methods=["symjac"])


def test_zero_rows_is_never_ok():
    assert not Report("t", [1.0], ["float32"], []).ok
    assert not Report("t", [1.0], ["float32"], [], allow_skipped=True).ok


def test_backward_of_a_vector_output():
    planar = symjac.examples.planar()
    default = symjac.compare(planar, [1.0, 2.0])
    assert default.ok and "backward" not in {r.method for r in default.rows}
    assert any(
        n.startswith("backward is not run: .backward() needs a scalar") for n in default.notes
    )
    asked = symjac.compare(planar, [1.0, 2.0], methods=["backward"])
    assert not asked.ok and asked.rows == []
    assert asked.skipped[0].startswith("whole by backward in float32: ValueError: .backward()")
    with pytest.raises(ValueError, match=r"'backward'.*needs a scalar output"):
        symjac.scan(planar, [[1.0, 2.0]], methods=["backward"])
    assert symjac.scan(planar, [[1.0, 2.0]]).ok


def test_compare_is_only_the_function():
    import importlib
    import subprocess
    import sys
    import types

    assert isinstance(symjac.compare, types.FunctionType)
    assert symjac.compare is symjac.comparison.compare
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("symjac.compare")
    # in a fresh interpreter, importing the package's modules first changes nothing
    code = (
        "import symjac.comparison.pipeline, symjac.second_order, symjac, types; "
        "assert isinstance(symjac.compare, types.FunctionType)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
