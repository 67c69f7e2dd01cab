"""The graph core: real torch models read exactly, held to torch.func.jacrev (NOTE: graph-accumulation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import symjac
from symjac.activations import ACTIVATIONS, get_activation
from symjac.exceptions import UnsupportedError
from symjac.graph.backends import MpOps, NumpyOps, SympyOps, TorchOps
from symjac.graph.model import Model
from symjac.graph.primitives import COMPOSITES, ELEMENTWISE, PRIMITIVES
from symjac.torch_interop.reader import resolve, torch_targets


class Residual(nn.Module):
    def __init__(self, n: int = 3, h: int = 5) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n, h), nn.Linear(h, n)

    def forward(self, x):
        return x + self.fc2(torch.tanh(self.fc1(x)))


class ScaledLeft(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))

    def forward(self, x):
        return 0.1 * self.net(x)


class ScaledRight(ScaledLeft):
    def forward(self, x):
        return self.net(x) * 0.1


class PINN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("lb", torch.tensor([-1.0, 0.0]))
        self.register_buffer("ub", torch.tensor([1.0, 2.0]))
        self.l1, self.l2, self.out = nn.Linear(2, 6), nn.Linear(6, 6), nn.Linear(6, 1)

    def forward(self, x, t):
        h = (torch.cat([x, t], dim=1) - self.lb) / (self.ub - self.lb)
        h = torch.tanh(self.l1(h))
        h = h + torch.tanh(self.l2(h))
        return self.out(h)


class Fourier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(torch.cat([x, torch.sin(x), torch.cos(x)], dim=-1))


class Sine(nn.Module):
    def forward(self, x):
        return torch.sin(30.0 * x)


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        a, b = self.fc(x).chunk(2, dim=-1)
        y = a * torch.sigmoid(b)
        return torch.cat([y[:, 0:1] ** 2, y.narrow(1, 1, 1).abs(), (x @ self.fc.weight.T)], 1)


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * grad


class CustomBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        return Cube.apply(self.fc(x)) + self.fc(x)


def _bn() -> nn.Module:
    bn = nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


FAMILIES = {
    "residual": lambda: Residual(),
    "scaled left": lambda: ScaledLeft(),
    "scaled right": lambda: ScaledRight(),
    "pinn x, t": lambda: PINN(),
    "fourier features": lambda: Fourier(),
    "siren": lambda: nn.Sequential(nn.Linear(2, 4), Sine(), nn.Linear(4, 1)),
    "layernorm mlp": lambda: nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.GELU(),
                                           nn.Linear(4, 2)),
    "rmsnorm": lambda: nn.Sequential(nn.Linear(3, 4), nn.RMSNorm(4), nn.SiLU()),
    "batchnorm eval": lambda: nn.Sequential(nn.Linear(3, 4), _bn(), nn.SELU(), nn.Flatten(),
                                            nn.Linear(4, 2)),
    "mish hardtanh": lambda: nn.Sequential(nn.Linear(3, 4), nn.Mish(), nn.Linear(4, 3),
                                           nn.Hardtanh(-0.5, 0.5), nn.LayerNorm(3)),
    "more activations": lambda: nn.Sequential(nn.Linear(3, 4), nn.CELU(0.7), nn.Linear(4, 4),
                                              nn.Softsign(), nn.Linear(4, 4), nn.Tanhshrink(),
                                              nn.Linear(4, 4), nn.LogSigmoid(), nn.Linear(4, 4),
                                              nn.Hardswish(), nn.Softplus(2.0), nn.ELU(0.5),
                                              nn.LeakyReLU(0.2)),
    "gating, slicing, matmul": lambda: Gated(),
    "dropout identity eval": lambda: nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.3),
                                                   nn.Identity(), nn.Tanh(), nn.LayerNorm(3)),
    "custom Function": lambda: CustomBlock(),
}  # fmt: skip


def _point(model: Model, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(model.n_in, generator=gen, dtype=torch.float64) * 1.6 - 0.8


def _jacrev(model: Model, module: nn.Module, x: torch.Tensor) -> np.ndarray:
    def f(flat):
        parts = [flat[p.offset : p.offset + p.size].reshape(1, *p.shape) for p in model.parts]
        return module(*parts).reshape(-1)

    return torch.func.jacrev(f)(x).detach().numpy()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_agrees_with_jacrev(family: str) -> None:
    torch.manual_seed(3)
    module = FAMILIES[family]().double().eval()
    model = symjac.from_torch(module)
    assert isinstance(model, Model)
    for seed in range(3):
        x = _point(model, seed)
        exact = model.reference(x.tolist()).whole.astype(float)
        scale = np.abs(exact).max()
        for got in (model.numeric("numpy")(x.numpy()), model.numeric("torch")(x).numpy()):
            assert np.abs(got - exact).max() <= 1e-12 * scale, family
        jacrev = _jacrev(model, module, x)
        assert np.abs(jacrev - exact).max() <= TORCH_INEXACT.get(family, 1e-12) * scale, family
        in32 = model.numeric("torch")(x.float()).double().numpy()
        assert np.abs(in32 - exact).max() <= 1e-5 * scale


#: families where torch's own float64 derivative is the inexact one (measured against the
#: 50-digit reference): Tanhshrink's backward computes 1 - (1 - tanh^2), which cancels
TORCH_INEXACT = {"more activations": 1e-7}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_compares_ok(family: str) -> None:
    torch.manual_seed(4)
    module = FAMILIES[family]().double().eval()
    model = symjac.from_torch(module)
    x = _point(model, 7).tolist()
    report = symjac.compare(module, x, dtypes=["float64"], methods=["jacrev", "autograd"])
    assert report.ok, str(report)
    quantities = {r.quantity for r in report.rows}
    assert {s.name for s in model.stages} <= quantities
    assert {"chain", "whole"} <= quantities
    # every stage, the chain along the graph and the whole Jacobian: torch's float64 values
    # within 1e-12 of the exact ones, relative to their largest entry
    bound = TORCH_INEXACT.get(family, 1e-12)
    for row in report.rows:
        if row.quantity in {s.name for s in model.stages} | {"chain", "whole"}:
            assert row.max_rel <= bound, (family, row.quantity, row.method, row.max_rel)


def test_stage_names_follow_the_source() -> None:
    model = symjac.from_torch(Residual())
    assert [s.name for s in model.stages] == ["fc1", "tanh(fc1)", "fc2", "x + fc2"]
    assert model.stages[-1].source.endswith("return x + self.fc2(torch.tanh(self.fc1(x)))")
    pinn = symjac.from_torch(PINN())
    assert [p.name for p in pinn.parts] == ["x", "t"]
    assert [s.name for s in pinn.inputs] == ["x", "t"]


def test_residual_jacobian_is_identity_plus_branch() -> None:
    torch.manual_seed(0)
    module = Residual(2, 3).double()
    model = symjac.from_torch(module)
    ref = model.reference([0.25, -0.5])
    branch = ref.stages[2] @ ref.stages[1] @ ref.stages[0]  # fc2 . tanh . fc1
    eye = np.eye(2, dtype=object)
    assert np.all(np.abs((ref.whole - (eye + branch)).astype(float)) < 1e-40)


def test_chain_stays_a_network_and_the_seed_is_unchanged() -> None:
    net = symjac.from_torch(symjac.examples.small_mlp(seed=0))
    assert isinstance(net, symjac.Network)
    assert [s.name for s in net.stages] == ["a", "b", "p"]


def test_weights_stay_exact() -> None:
    torch.manual_seed(1)
    module = nn.Sequential(nn.Linear(1, 1), nn.LayerNorm(1, elementwise_affine=False))
    model = symjac.from_torch(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))
    w = model.nodes[1].params["weight"]
    assert w.dtype == np.float64
    expr = model.as_map().outputs[0]
    assert expr.free_symbols == set(model.inputs)
    assert any(a.is_Rational and a.q > 1 for a in expr.atoms())
    del module


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 4),
    h=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    act=st.sampled_from([nn.Tanh, nn.SiLU, nn.GELU, nn.Softplus, nn.Sigmoid, nn.Mish]),
    norm=st.booleans(),
)
def test_random_residual_networks(n: int, h: int, seed: int, act: type, norm: bool) -> None:
    torch.manual_seed(seed)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(n) if norm and n > 1 else nn.Identity()
            self.fc1, self.act, self.fc2 = nn.Linear(n, h), act(), nn.Linear(h, n)

        def forward(self, x):
            return x + 0.5 * self.fc2(self.act(self.fc1(self.norm(x))))

    module = nn.Sequential(Block(), Block()).double()
    model = symjac.from_torch(module)
    x = _point(model, seed)
    expected = _jacrev(model, module, x)
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(model.numeric("numpy")(x.numpy()) - expected).max() <= 1e-12 * scale
    assert np.abs(model.reference(x.tolist()).whole.astype(float) - expected).max() <= 1e-12 * scale


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x).add_(1)


class Spectral(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x).real


class BatchCat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return torch.cat([self.fc(x), x], dim=0)


class SumAll(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x) * self.fc(x).sum()


class SpectralBlock(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x).real


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.blocks = nn.ModuleList([SpectralBlock()])

    def forward(self, x):
        return self.blocks[0](self.fc(x))


REFUSALS = [
    (Nested(), r"torch\.fft\.rfft \(in blocks\.0, at test_graph\.py:\d+: return torch\.fft\.rfft\(x\)\.real\)"),
    (nn.Sequential(nn.Linear(2, 2), nn.Conv1d(1, 1, 1)), r"the module Conv1d \(in 1\): symjac has no rule"),
    (Spectral(), r"torch\.fft\.rfft .*at test_graph\.py:\d+: return torch\.fft\.rfft\(x\)\.real"),
    (Branchy(), r"forward of Branchy \(at test_graph\.py:\d+: if x\.sum\(\) > 0:\): .*data-dependent"),
    (InPlace(), r"\.add_\(\) .*test_graph\.py:\d+: .*modifies a tensor in place; write it out of place"),
    (BatchCat(), r"torch\.cat .*acts along the batch axis"),
    (SumAll(), r"\.sum\(\) .*reduces over every axis, the batch axis included"),
]  # fmt: skip


@pytest.mark.parametrize(("module", "message"), REFUSALS)
def test_refusals_are_one_line_with_op_and_place(module: nn.Module, message: str) -> None:
    with pytest.raises(UnsupportedError, match=message) as info:
        symjac.from_torch(module, example_input=torch.zeros(1, 2))
    text = str(info.value)
    assert "\n" not in text and "%" not in text and "call_function" not in text


def test_training_dropout_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="training mode"):
        symjac.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.LayerNorm(2)))


def test_unknown_input_sizes_ask_for_an_example() -> None:
    with pytest.raises(ValueError, match="pass example_input"):
        symjac.from_torch(Sine())
    model = symjac.from_torch(Sine(), example_input=torch.zeros(1, 3))
    assert model.sizes == (3, 3)


# -- the table -------------------------------------------------------------------------------


def test_table_is_complete() -> None:
    targets = torch_targets()
    for prim in PRIMITIVES.values():
        assert callable(prim.rule) and prim.computes and prim.jacobian
        resolved = [resolve(name) for name in prim.torch if resolve(name) is not None]
        if prim.name != "elementwise":
            assert resolved, prim.name
    for name, reading in ELEMENTWISE.items():
        act = get_activation(name)
        assert name in ACTIVATIONS and act.derivative is not None
        names = [*reading.functions, *(f"Tensor.{m}" for m in reading.methods)]
        if reading.module:
            names.append(f"nn.{reading.module}")
        assert name in ("identity", "gelu_tanh") or any(resolve(n) is not None for n in names), name
    for composite in COMPOSITES.values():
        assert any(("call_module", resolve(t)) in targets for t in composite.torch)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_every_elementwise_kernel_agrees_on_every_backend(name: str) -> None:
    act = get_activation(name)
    z = np.array([0.3, 0.7, 1.2])
    v_np, s_np = NumpyOps().elementwise(act, z)
    v_t, s_t = TorchOps(torch.float64).elementwise(act, torch.tensor(z))
    ops = MpOps(30)
    v_mp, s_mp = ops.elementwise(act, ops.const(z))
    zs = SympyOps().const(z)
    v_sy, s_sy = SympyOps().elementwise(act, zs)
    for value, slope in ((v_t.numpy(), s_t.numpy()), (v_mp.astype(float), s_mp.astype(float)),
                         (np.array([float(v.evalf()) for v in v_sy]),
                          np.array([float(s.evalf()) for s in s_sy]))):  # fmt: skip
        assert np.allclose(value, v_np, rtol=1e-12, atol=1e-300)
        assert np.allclose(slope, s_np, rtol=1e-12, atol=1e-300)


CHAIN_RULES = [
    (
        "residual",
        [
            r"J_{\mathrm{fc1}} &= D_{\mathrm{fc1}}",
            r"J_{\mathrm{tanh(fc1)}} &= D_{\mathrm{tanh(fc1)}} J_{\mathrm{fc1}}",
            r"J_{\mathrm{fc2}} &= D_{\mathrm{fc2}} J_{\mathrm{tanh(fc1)}}",
            r"J_{\mathrm{x + fc2}} &= I + J_{\mathrm{fc2}}",
            r"J &= I + D_{\mathrm{fc2}} D_{\mathrm{tanh(fc1)}} D_{\mathrm{fc1}}",
        ],
    ),
    (
        "scaled right",
        [
            r"J_{\mathrm{net.0}} &= D_{\mathrm{net.0}}",
            r"J_{\mathrm{net.1}} &= D_{\mathrm{net.1}} J_{\mathrm{net.0}}",
            r"J_{\mathrm{net.2}} &= D_{\mathrm{net.2}} J_{\mathrm{net.1}}",
            r"J_{\mathrm{net.2 * 0.1}} &= D_{\mathrm{net.2 * 0.1}} J_{\mathrm{net.2}}",
            r"J &= D_{\mathrm{net.2 * 0.1}} D_{\mathrm{net.2}} D_{\mathrm{net.1}} D_{\mathrm{net.0}}",
        ],
    ),
]


@pytest.mark.parametrize(("family", "lines"), CHAIN_RULES)
def test_chain_rule_latex(family: str, lines: list[str]) -> None:
    model = symjac.from_torch(FAMILIES[family]())
    latex = model.latex()
    assert latex == "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
    assert model._repr_latex_() == f"$\\displaystyle {latex}$"


def test_cli_check_prints_the_chain_rule_of_a_graph(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "residual_model.py").write_text(
        "import torch\n"
        "class Residual(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        torch.manual_seed(0)\n"
        "        self.fc = torch.nn.Linear(2, 2)\n"
        "    def forward(self, x):\n"
        "        return x + torch.tanh(self.fc(x))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from symjac.cli import main

    code = main(["check", "residual_model:Residual", "--dtypes", "float64", "--methods", "jacrev"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "  J[x + tanh] = I + J[tanh(fc)]" in out.splitlines()
    assert "  J = I + D[tanh(fc)] D[fc]" in out.splitlines()
    rules = out.split("chain rule along the graph")[1].splitlines()
    assert max(len(line) for line in rules) <= 80  # wrapped for a terminal


class Stacked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(2, 3), nn.Linear(2, 3)

    def forward(self, x):
        y = torch.stack([self.a(x), self.b(x)], dim=1)  # (N, 2, 3)
        z = nn.functional.gelu(y, approximate="tanh").view(x.shape[0], -1)
        return z.unsqueeze(1).sum(dim=-1) / 6.0


def test_stack_view_unsqueeze_and_gelu_tanh() -> None:
    torch.manual_seed(5)
    module = Stacked().double()
    model = symjac.from_torch(module)
    x = _point(model, 2)
    exact = model.reference(x.tolist()).whole.astype(float)
    assert np.abs(_jacrev(model, module, x) - exact).max() <= 1e-12 * np.abs(exact).max()
    assert any(n.op == "elementwise" and n.params["activation"].name == "gelu_tanh"
               for n in model.nodes)  # fmt: skip


def test_kinks_keep_the_convention_verdict() -> None:
    class Kinked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)
            with torch.no_grad():
                self.fc.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5]]))
                self.fc.bias.zero_()

        def forward(self, x):
            return x + torch.relu(self.fc(x))

    report = symjac.compare(Kinked().double(), [0.25, 0.25], dtypes=["float64"], methods=["jacrev"])
    assert report.ok
    stage = report.row("relu(fc)", "jacrev", "float64")
    assert stage.verdict == "convention" and "relu" in stage.note
    assert report.row("whole", "jacrev", "float64").verdict == "convention"
    away = symjac.compare(Kinked().double(), [0.5, 0.25], dtypes=["float64"], methods=["jacrev"])
    assert away.row("relu(fc)", "jacrev", "float64").verdict == "ok"


def test_symbolic_model_is_exact_and_size_limited() -> None:
    torch.manual_seed(6)
    small = symjac.from_torch(Residual(2, 2))
    J = small.jacobian()
    x = [0.25, -0.5]
    exact = small.reference(x).whole.astype(float)
    at = np.array(J.at(x).evalf(30).tolist(), dtype=float)
    assert np.abs(at - exact).max() < 1e-25
    big = symjac.from_torch(nn.Sequential(*[Residual(16, 16) for _ in range(6)]))
    with pytest.raises(
        symjac.LimitError, match=r"about \d+ SymPy operations; the limit is max_jacobian_ops"
    ):
        big.jacobian()
    assert big.numeric("numpy")(np.zeros((2, 16))).shape == (2, 16, 16)  # numbers stay available


def test_every_primitive_and_composite_has_a_reader_and_is_exercised() -> None:
    from symjac.torch_interop.readers import COMPOSITE_READERS, READERS

    assert set(READERS) | {"elementwise"} == set(PRIMITIVES)
    assert set(COMPOSITE_READERS) == set(COMPOSITES)
    used: set[str] = set()
    torch.manual_seed(0)
    for make in FAMILIES.values():
        used |= {node.op for node in symjac.from_torch(make().double().eval()).nodes}
    # each rule runs in the family tests on NumPy, torch and mpmath (and SymPy, below)
    assert set(PRIMITIVES) <= used, set(PRIMITIVES) - used
    model = symjac.from_torch(FAMILIES["gating, slicing, matmul"]())
    assert len(model.as_map().outputs) == model.n_out


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x, scale: float = 2.0):
        return self.fc(x) * scale


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        y = self.fc(x)
        return torch.where(y > 0, y, 0.1 * y)


def test_hostile_models_get_clear_errors() -> None:
    assert symjac.from_torch(Scaled()).sizes == (2, 2)  # a defaulted number is a constant
    norm = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    with pytest.raises(ValueError, match=r"fails on inputs of shape \(3, 5\) \(RuntimeError: .*"
                       r"give example_input of the shape forward takes"):  # fmt: skip
        symjac.from_torch(norm, example_input=torch.zeros(1, 5))
    with pytest.raises(ValueError, match="example input must be finite"):
        symjac.from_torch(norm, example_input=torch.full((1, 3), float("nan")))
    with pytest.raises(UnsupportedError, match=r"the operator > \(at test_graph\.py:\d+: "):
        symjac.from_torch(Masked())
    with pytest.raises(UnsupportedError, match="merges or moves the batch axis"):
        symjac.from_torch(nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2), nn.Flatten(0)))
    with pytest.raises(UnsupportedError, match=r"order=2.*graph models is not supported yet"):
        symjac.compare(norm, [0.1, 0.2, 0.3], order=2)
