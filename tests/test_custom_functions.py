"""Custom ``torch.autograd.Function``s: read from their forward, their backward and jvp checked.

NOTE: custom-functions in symjac.autograd_functions. These run on every torch version CI
installs (the oldest admitted and the newest a plain install resolves).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch
from torch import nn

import symjac
from symjac.activations import Z
from symjac.autograd_functions import FunctionCall, intercepted, read_function
from symjac.cli import main


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class Squash(torch.autograd.Function):
    """tanh forward with a straight-through (identity) backward: a deliberate wrong backward."""

    @staticmethod
    def forward(ctx, x):
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


#: the documentation's example: Cube (a wrong backward), RightCube, build(), build_right()
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "_examples" / "custom_function.py"


def _example():
    import importlib.util

    spec = importlib.util.spec_from_file_location("symjac_docs_custom_function", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_EXAMPLE = _example()
#: x**3 whose backward forgot the factor 3
WrongCube = _EXAMPLE.Cube


class Swish(torch.autograd.Function):
    """torch.func style: forward without ctx, setup_context, backward, jvp and a vmap rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, beta):
        return x * torch.sigmoid(beta * x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, beta = inputs
        ctx.beta = beta
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.beta * x)
        return grad * (s + ctx.beta * x * s * (1 - s)), None

    @staticmethod
    def jvp(ctx, x_t, beta_t):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.beta * x)
        return x_t * (s + ctx.beta * x * s * (1 - s))


class SwishBadJvp(Swish):
    @staticmethod
    def jvp(ctx, x_t, beta_t):
        (x,) = ctx.saved_tensors
        return x_t * torch.sigmoid(ctx.beta * x)  # forgot the product rule


class Clip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.clamp(x, min=0.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0).to(grad.dtype)


class WithFunction(nn.Module):
    """Linear(2, 3) -> fn.apply(., *args) -> Linear(3, 1)."""

    def __init__(self, fn, *args, seed=3):
        super().__init__()
        torch.manual_seed(seed)
        self.l1 = nn.Linear(2, 3)
        self.l2 = nn.Linear(3, 1)
        self.fn = fn
        self.args = args

    def forward(self, x):
        return self.l2(self.fn.apply(self.l1(x), *self.args))


#: Linear(1, 2) -> fn -> Linear(2, 1), the issue's one-input shape (the docs example's Net)
OneInput = _EXAMPLE.Net


def test_detected_by_what_it_is_and_apply_restored():
    saved = torch.autograd.Function.__dict__.get("apply")
    net = symjac.from_torch(WithFunction(Square))
    act = net.layers[0].activation
    assert (act.name, act.expr, act.derivative) == ("Square", Z**2, 2 * Z)
    assert act.function == FunctionCall(Square, ())
    # the interceptor is gone, whatever torch stored there before (2.13: classmethod,
    # 2.14: the C classmethod_descriptor)
    assert torch.autograd.Function.__dict__.get("apply") is saved
    assert "apply" not in Square.__dict__
    xt = torch.tensor([0.5], requires_grad=True)
    Square.apply(xt).backward()
    assert xt.grad.item() == 1.0


def test_interceptor_restored_after_an_error():
    saved = torch.autograd.Function.__dict__.get("apply")
    with pytest.raises(RuntimeError, match="boom"), intercepted():
        raise RuntimeError("boom")
    assert torch.autograd.Function.__dict__.get("apply") is saved


@pytest.mark.parametrize(
    ("fn", "args", "expr"),
    [
        (Square, (), Z**2),
        (Squash, (), sympy.tanh(Z)),
        (WrongCube, (), Z**3),
        (Swish, (0.5,), Z * symjac.functions.sigmoid(Z / 2)),
        (Clip, (), sympy.Max(0, Z)),
    ],
)
def test_forward_read_exactly(fn, args, expr):
    act = read_function(FunctionCall(fn, args))
    assert sympy.simplify(act.expr - expr) == 0
    net = symjac.from_torch(WithFunction(fn, *args))
    assert net.layers[0].activation.expr == act.expr


def test_correct_functions_pass():
    for model, x in [
        (WithFunction(Square), [0.3, -0.7]),
        (WithFunction(Swish, 0.5), [0.3, -0.7]),
        (OneInput(Square), [0.5]),
    ]:
        report = symjac.testing.assert_jacobian_agrees(model, x)
        name = model.fn.__name__
        rows = [r for r in report.rows if r.quantity == name]
        methods = {"backward", "jvp"} if name == "Swish" else {"backward"}
        assert {(r.method, r.dtype) for r in rows} == {
            (m, d) for m in methods for d in ("float32", "float64")
        }
        assert all(r.ok for r in rows)


def test_setup_context_function_runs_torch_func():
    report = symjac.compare(WithFunction(Swish, 0.5), [0.3, -0.7])
    assert {"jacrev", "jacfwd"} <= {r.method for r in report.rows if r.quantity == "whole"}
    assert report.ok and not report.skipped


@pytest.mark.parametrize("fn", [WrongCube, Squash])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_wrong_backward_fails_naming_function_and_entry(fn, dtype):
    model = OneInput(fn)
    with pytest.raises(AssertionError) as err:
        symjac.testing.assert_jacobian_agrees(model, [0.5], dtypes=dtype, methods=["jacrev"])
    text = str(err.value)
    assert f"{fn.__name__} / backward / {dtype}:" in text
    assert f"the custom autograd.Function {fn.__name__} of layer 1" in text
    assert re.search(r"worst entry: output \d, input \d", text)
    # jacrev itself could not run (no setup_context): reported, never a silent pass
    assert "could not run" in text and f"whole by jacrev in {dtype}: RuntimeError" in text
    # with the default methods the wrong backward fails too (autograd uses it)
    report = symjac.compare(model, [0.5], dtypes=dtype)
    assert not report.ok
    assert {r.quantity for r in report.failures} >= {fn.__name__, "whole"}
    assert report.row(fn.__name__, "backward", dtype).verdict == "mismatch"


def test_wrong_jvp_is_caught():
    report = symjac.compare(WithFunction(SwishBadJvp, 0.5), [0.3, -0.7], dtypes="float64")
    assert report.row("SwishBadJvp", "backward", "float64").ok
    assert report.row("SwishBadJvp", "jvp", "float64").verdict == "mismatch"
    assert report.row("whole", "jacfwd", "float64").verdict == "mismatch"
    assert report.row("whole", "jacrev", "float64").ok


def test_kink_is_a_convention():
    model = WithFunction(Clip)
    with torch.no_grad():
        model.l1.weight.zero_()
        model.l1.bias.copy_(torch.tensor([0.0, 0.5, -0.5]))
    report = symjac.compare(model, [0.3, -0.7], dtypes="float64")
    assert report.row("Clip", "backward", "float64").verdict == "convention"
    assert report.ok


def test_repeated_function_rows_are_per_layer():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.a, self.b, self.c = nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1)

        def forward(self, x):
            return self.c(Square.apply(self.b(Square.apply(self.a(x)))))

    report = symjac.compare(Twice(), [0.2, 0.4], dtypes="float64")
    assert {r.quantity for r in report.rows} >= {"Square@1", "Square@2"}
    assert report.ok


class SumFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x - x.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad


class Branchy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        if x.sum() > 0:
            return x
        return -x

    @staticmethod
    def backward(ctx, grad):
        return grad


class ConstVector(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * torch.tensor([1.0, 2.0, 3.0])

    @staticmethod
    def backward(ctx, grad):
        return grad


class Scaled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        return x * w

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2


class WithParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 3)
        self.w = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return Scaled.apply(self.l1(x), self.w)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (
            WithFunction(SumFn),
            r"Function SumFn: its forward uses \.sum\(\) \(at \S*test_custom_functions\.py:\d+: "
            r"return x - x\.sum\(\)\), which symjac cannot read as an elementwise formula",
        ),
        (WithFunction(Branchy), r"Function Branchy: symjac cannot read its forward.*control flow"),
        (WithFunction(ConstVector), r"Function ConstVector: .*constant tensor of shape \(3,\)"),
        (WithParameter(), r"Function Scaled: it is applied to 2 traced values"),
        (WithFunction(NoBackward), r"Function NoBackward: it defines no backward"),
    ],
)
def test_unreadable_forward_names_the_function(model, match):
    saved = torch.autograd.Function.__dict__.get("apply")
    with pytest.raises(symjac.UnsupportedError, match=match) as err:
        symjac.from_torch(model)
    assert "\n" not in str(err.value)
    assert torch.autograd.Function.__dict__.get("apply") is saved


def test_compiled_and_reference_use_the_forward():
    model = WithFunction(Swish, 0.5).double()
    net = symjac.from_torch(model)
    x = torch.tensor([[0.3, -0.7], [1.1, 0.4]], dtype=torch.float64)
    want = torch.stack([torch.func.jacrev(model)(p) for p in x]).detach().numpy()
    for backend in ("numpy", "torch"):
        got = np.asarray(net.numeric(backend)(x.numpy() if backend == "numpy" else x))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    ref = net.reference([0.3, -0.7]).whole
    np.testing.assert_allclose(np.array(ref, dtype=float), want[0], rtol=1e-12)


@pytest.fixture
def targets(import_target):
    return import_target(EXAMPLE.read_text())


def test_cli_check_wrong_backward(capsys, targets):
    code = main(["check", f"{targets}:build", "--input", "0.5"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert re.search(r"^Cube\s+backward\s+float32 .* mismatch", out, re.M)
    assert "DISAGREES" in out and "warning" not in (out + err).lower()
    code = main(["check", f"{targets}:build_right", "--input", "0.5"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert re.search(r"^RightCube\s+backward\s+float64 .* ok", out, re.M)
    assert "jacrev is not run: the custom autograd.Function RightCube has no setup_context" in out


def test_cli_check_method_that_cannot_run_exits_5(capsys, targets):
    code = main(["check", f"{targets}:build_right", "--input", "0.5", "--methods", "jacrev"])
    out, err = capsys.readouterr()
    assert code == 5, out + err
    assert "COULD NOT BE CHECKED" in out and "whole by jacrev in float32" in out
    code = main(
        [
            "check",
            f"{targets}:build_right",
            "--input",
            "0.5",
            "--methods",
            "jacrev",
            "--allow-skipped",
            "--json",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["allow_skipped"] is True and doc["skipped"]
