"""from_torch: reading real torch modules (Sequential and custom forward) into exact networks."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as F
from torch import nn

import symjac
from symjac.graph.model import Model


def _jacrev(model: nn.Module, point) -> np.ndarray:
    xt = torch.as_tensor(np.asarray(point, dtype=np.float64))
    return torch.func.jacrev(model.double())(xt).detach().numpy()


def _assert_matches_torch(model: nn.Module, point, *, tol: float = 1e-12) -> symjac.Network:
    net = symjac.from_torch(model)
    ref = _jacrev(model, point)
    got = net.numeric("numpy")(np.asarray(point, dtype=np.float64))
    assert got.shape == ref.shape
    assert float(np.max(np.abs(got - ref))) <= tol * max(float(np.max(np.abs(ref))), 1e-300)
    return net


POINT = [0.3, -0.7]


class Functional(nn.Module):
    """Linear(2, 3) -> fn -> Linear(3, 2), with fn a torch function or tensor method."""

    def __init__(self, fn):
        super().__init__()
        torch.manual_seed(3)
        self.inner = nn.Linear(2, 3)
        self.outer = nn.Linear(3, 2)
        self.fn = fn

    def forward(self, x):
        return self.outer(self.fn(self.inner(x)))


MODULE_FORMS = [
    (nn.Tanh(), "tanh"),
    (nn.Sigmoid(), "sigmoid"),
    (nn.ReLU(), "relu"),
    (nn.LeakyReLU(0.2), "leaky_relu(negative_slope=0.2)"),
    (nn.LeakyReLU(), "leaky_relu(negative_slope=0.01)"),
    (nn.ELU(alpha=0.7), "elu(alpha=0.7)"),
    (nn.Softplus(beta=2.0, threshold=3.0), "softplus(beta=2.0, threshold=3.0)"),
    (nn.Softplus(), "softplus(beta=1.0, threshold=20.0)"),
    (nn.SiLU(), "silu"),
    (nn.GELU(), "gelu"),
    (nn.GELU(approximate="tanh"), "gelu_tanh"),
    (nn.Identity(), "identity"),
]


@pytest.mark.parametrize(("module", "label"), MODULE_FORMS, ids=[m[1] for m in MODULE_FORMS])
def test_module_activations_with_parameters(module, label):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 3), module, nn.Linear(3, 2))
    net = _assert_matches_torch(model, POINT)
    assert [layer.activation.label for layer in net.layers] == [label, "identity"]


FUNCTIONAL_FORMS = [
    (torch.tanh, "tanh"),
    (F.tanh, "tanh"),
    (torch.sigmoid, "sigmoid"),
    (F.sigmoid, "sigmoid"),
    (torch.relu, "relu"),
    (F.relu, "relu"),
    (lambda t: F.relu(t, inplace=True), "relu"),
    (F.silu, "silu"),
    (F.gelu, "gelu"),
    (lambda t: F.gelu(t, approximate="tanh"), "gelu_tanh"),
    (lambda t: F.leaky_relu(t, 0.2), "leaky_relu(negative_slope=0.2)"),
    (lambda t: F.leaky_relu(t, negative_slope=0.3), "leaky_relu(negative_slope=0.3)"),
    (lambda t: F.elu(t, 0.5), "elu(alpha=0.5)"),
    (lambda t: F.elu(t, alpha=0.25), "elu(alpha=0.25)"),
    (lambda t: F.softplus(t, beta=2, threshold=1), "softplus(beta=2.0, threshold=1.0)"),
    # positional beta / threshold (F.softplus is a builtin: fx keeps them positional)
    (lambda t: F.softplus(t, 2, 1), "softplus(beta=2.0, threshold=1.0)"),
    (lambda t: F.softplus(t, 3), "softplus(beta=3.0, threshold=20.0)"),
    (lambda t: t.tanh(), "tanh"),
    (lambda t: t.sigmoid(), "sigmoid"),
    (lambda t: t.relu(), "relu"),
]


@pytest.mark.parametrize(
    ("fn", "label"), FUNCTIONAL_FORMS, ids=[f"{i}-{f[1]}" for i, f in enumerate(FUNCTIONAL_FORMS)]
)
def test_functional_and_method_activations(fn, label):
    net = _assert_matches_torch(Functional(fn), POINT)
    assert [layer.activation.label for layer in net.layers] == [label, "identity"]
    assert net.sizes == (2, 3, 2)


def test_custom_forward_seed_small_mlp():
    model = symjac.examples.small_mlp(seed=0)
    net = _assert_matches_torch(model, [1.0])
    assert net.module is not None
    assert net.sizes == (1, 2, 2, 1)
    assert [s.name for s in net.stages] == ["a", "b", "p"]
    # a different seed gives different weights, read just as exactly
    other = symjac.from_torch(symjac.examples.small_mlp(seed=1))
    assert other.layers[0].weight != net.layers[0].weight


def test_sequential_splits_stages_at_each_linear():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Linear(4, 2), nn.Sigmoid(), nn.Linear(2, 1)
    )
    net = _assert_matches_torch(model, [0.1, 0.2, -0.3])
    assert net.sizes == (3, 4, 4, 2, 1)
    assert [layer.activation.name for layer in net.layers] == [
        "tanh",
        "identity",
        "sigmoid",
        "identity",
    ]
    assert [s.name for s in net.stages] == ["a", "b", "c", "p"]


def test_nested_sequential_and_identity_and_eval_dropout():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Tanh()),
        nn.Identity(),
        nn.Sequential(nn.Linear(3, 2)),
    ).eval()
    net = _assert_matches_torch(model, POINT)
    assert net.sizes == (2, 3, 2)


def test_dropout_with_p_zero_is_fine_in_training_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.0), nn.Tanh())
    assert symjac.from_torch(model).sizes == (2, 2)


class Squeezed(nn.Module):
    def __init__(self, how):
        super().__init__()
        torch.manual_seed(2)
        self.l1 = nn.Linear(2, 3)
        self.l2 = nn.Linear(3, 1)
        self.how = how

    def forward(self, x):
        return self.how(self.l2(torch.tanh(self.l1(x))))


@pytest.mark.parametrize(
    "how", [lambda t: t.squeeze(-1), torch.squeeze, lambda t: t.squeeze()], ids=["m", "f", "m0"]
)
def test_final_squeezed_linear(how):
    net = symjac.from_torch(Squeezed(how))
    assert net.layers[-1].squeeze is True
    assert not net.layers[0].squeeze
    assert net.sizes == (2, 3, 1)
    model = Squeezed(how).double()
    ref = torch.func.jacrev(model)(torch.tensor(POINT, dtype=torch.float64)).detach().numpy()
    got = net.numeric("numpy")(np.array(POINT))
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-13, atol=1e-16)


def test_linear_without_bias():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Linear(3, 1, bias=False))
    net = _assert_matches_torch(model, POINT)
    assert [layer.bias for layer in net.layers] == [None, None]
    assert net.as_map().at([0, 0]) == sympy.Matrix([[0]])  # no bias: the origin maps to 0


def test_lone_linear_module():
    torch.manual_seed(0)
    net = _assert_matches_torch(nn.Linear(3, 2), [1.0, 2.0, 3.0])
    assert net.sizes == (3, 2)
    J = net.jacobian().matrix
    lin = symjac.from_torch(nn.Linear(3, 2))
    assert J.shape == (2, 3) and lin.jacobian().matrix.free_symbols == set()


def test_float64_module_weights_exact():
    torch.manual_seed(0)
    f64 = torch.float64
    model = nn.Sequential(nn.Linear(2, 2, dtype=f64), nn.Tanh(), nn.Linear(2, 1, dtype=f64))
    net = _assert_matches_torch(model, POINT)
    w = model[0].weight.detach()
    exact = net.layers[0].weight
    assert [float(e) for e in exact] == w.reshape(-1).tolist()
    # a float64 weight generally needs more than float32's 24 bits
    assert any(sympy.Rational(v).q > 2**30 for v in w.reshape(-1).tolist())
    assert all(e == sympy.Rational(v) for e, v in zip(exact, w.reshape(-1).tolist()))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_weights_are_read_exactly(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).to(dtype)
    net = symjac.from_torch(model)
    for layer, linear in zip(net.layers, [model[0], model[2]]):
        values = linear.weight.detach().reshape(-1)
        exact = list(layer.weight)
        assert [float(e) for e in exact] == values.double().tolist()
        # the Rational converts back to the very same low-precision value
        back = torch.tensor([float(e) for e in exact], dtype=torch.float64).to(dtype)
        assert torch.equal(back, values)
        # 11 (float16) or 8 (bfloat16) significant bits: small numerators
        assert all(abs(e.p) < 2**11 for e in exact)
    # the Jacobian is that of the rounded weights, exactly: compare with float64 of them
    ref = _jacrev(model.double(), POINT)
    got = net.numeric("numpy")(np.array(POINT))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-16)


def test_float32_weight_rationals_round_trip():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    net = symjac.from_torch(model)
    for layer, linear in zip(net.layers, [model[0], model[2]]):
        for entry, value in zip(
            [*layer.weight, *layer.bias],
            [*linear.weight.detach().reshape(-1), *linear.bias.detach()],
        ):
            assert isinstance(entry, sympy.Rational)
            assert torch.tensor(float(entry), dtype=torch.float32) == value
            assert float(entry) == value.item()


def test_example_input_is_used_to_verify():
    model = symjac.examples.small_mlp(seed=0)
    net = symjac.from_torch(model, torch.tensor([[1.0], [-2.0]]))
    assert net.sizes == (1, 2, 2, 1)
    net2 = symjac.from_torch(model, example_input=[0.5])
    assert net2.layers[0].weight == net.layers[0].weight


def test_input_names():
    torch.manual_seed(0)
    net = symjac.from_torch(nn.Sequential(nn.Linear(2, 1)), input_names=["u", "v"])
    assert [s.name for s in net.inputs] == ["u", "v"]
    assert net.jacobian().inputs == tuple(sympy.symbols("u v", real=True))


# -- errors --------------------------------------------------------------------------------------


def _names_supported(err: pytest.ExceptionInfo) -> None:
    # one line, with the way out (the docs page lists every supported operation)
    assert "\n" not in str(err.value)
    assert "supported operations" in str(err.value) or "eval()" in str(err.value)


@pytest.mark.parametrize(
    ("module", "match"),
    [
        (nn.Conv1d(1, 1, 3), r"the module Conv1d \(in 0\): symjac has no rule"),
        (nn.Conv2d(1, 1, 3), r"the module Conv2d \(in 0\)"),
        (nn.Sequential(nn.Conv2d(1, 1, 3), nn.Tanh()), r"the module Conv2d \(in 0\)"),
        (nn.LSTM(2, 3), r"the module LSTM \(in 0\)"),
        (nn.Sequential(nn.Linear(2, 2), nn.LSTM(2, 3)), r"the module LSTM \(in 1\)"),
        (nn.Sequential(nn.Linear(2, 2), nn.Softmax(-1)), r"the module Softmax \(in 1\)"),
    ],
)
def test_unsupported_modules(module, match):
    with pytest.raises(symjac.UnsupportedError, match=match) as err:
        symjac.from_torch(module)
    _names_supported(err)


def test_batchnorm_in_eval_mode_is_read():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).eval()
    assert symjac.from_torch(model).sizes == (2, 2)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 2)

    def forward(self, x):
        if x.sum() > 0:
            return torch.tanh(self.l1(x))
        return self.l1(x)


def test_data_dependent_control_flow():
    with pytest.raises(
        symjac.UnsupportedError,
        match=r"the forward of DataDependent \(at test_tracing\.py:\d+: if x\.sum\(\) > 0:\): "
        r"it branches or loops on a tensor's value \(data-dependent control flow\)",
    ) as err:
        symjac.from_torch(DataDependent())
    assert "\n" not in str(err.value)


def test_dropout_in_training_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Tanh())
    with pytest.raises(
        symjac.UnsupportedError,
        match=r"Dropout '1' in training mode \(call module.eval\(\) first\)",
    ) as err:
        symjac.from_torch(model)
    _names_supported(err)
    assert symjac.from_torch(model.eval()).sizes == (2, 2)  # eval mode is fine


def test_batchnorm_in_training_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with pytest.raises(
        symjac.UnsupportedError, match=r"BatchNorm1d '1' in training mode .*depends on the batch"
    ) as err:
        symjac.from_torch(model)
    _names_supported(err)


class ArgMax(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.l1 = nn.Linear(2, 3)
        self.how = how

    def forward(self, x):
        return self.how(self.l1(x))


@pytest.mark.parametrize(
    ("how", "match"),
    [
        (lambda t: torch.argmax(t, dim=-1), r"torch\.argmax .*no rule"),
        (lambda t: t.argmax(-1), r"the tensor method \.argmax\(\)"),
        (lambda t: F.one_hot(t.argmax(-1), 3), r"\.argmax\(\)"),
        (lambda t: F.one_hot(t.long(), 3), r"the tensor method \.long\(\)"),
        (lambda t: t.long(), r"the tensor method \.long\(\)"),
        (lambda t: t.int(), r"the tensor method \.int\(\)"),
        (lambda t: torch.round(t), r"torch\.round .*no rule"),
        (lambda t: t.to(torch.int64), r"the tensor method \.to\(\) .*torch\.int64 tensor"),
    ],
    ids=["argmax", "argmax-method", "one_hot-argmax", "one_hot-long", "long", "int", "round", "to"],
)
def test_integer_outputs(how, match):
    with pytest.raises(symjac.UnsupportedError, match=match) as err:
        symjac.from_torch(ArgMax(how))
    assert "\n" not in str(err.value)


# custom autograd.Functions: tests/test_custom_functions.py


def test_meta_tensors():
    model = nn.Sequential(nn.Linear(2, 2, device="meta"), nn.Tanh())
    with pytest.raises(ValueError, match=r"parameter '0.weight' is a meta tensor.*to_empty"):
        symjac.from_torch(model)
    with pytest.raises(ValueError, match="parameter 'weight' is a meta tensor"):
        symjac.from_torch(nn.Linear(2, 2, device="meta"))


def _agrees_with_jacrev(model: nn.Module, n_in: int) -> None:
    model = model.double()
    read = symjac.from_torch(model)  # a chain of any tabled activations, or a graph of stages
    assert isinstance(read, (Model, symjac.Network))
    x = torch.linspace(-0.6, 0.4, n_in, dtype=torch.float64)
    expected = torch.func.jacrev(lambda v: model(v[None]).reshape(-1))(x)
    got = read.reference(x.tolist()).whole.astype(float)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "model",
    [
        nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.ReLU()),
        nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Sigmoid(), nn.Linear(2, 1)),
        Functional(lambda t: torch.tanh(torch.relu(t))),
        nn.Sequential(nn.Tanh(), nn.Linear(2, 2)),
    ],
    ids=["tanh-relu", "sigmoid-sigmoid", "relu-tanh", "activation-first"],
)
def test_what_is_not_a_chain_is_read_as_a_graph(model):
    _agrees_with_jacrev(model, 2)


class SqueezeThenAct(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 1)
        self.l2 = nn.Linear(1, 1)

    def forward(self, x):
        return self.l2(torch.tanh(self.l1(x).squeeze(-1)).unsqueeze(-1))


class SqueezeThenLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 3)
        self.l2 = nn.Linear(3, 1)

    def forward(self, x):
        return self.l2(self.l1(x).squeeze(0))


def test_squeeze_anywhere_is_read_as_a_graph():
    class ActAfterSqueeze(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = nn.Linear(2, 1)

        def forward(self, x):
            return torch.tanh(self.l1(x).squeeze(-1))

    _agrees_with_jacrev(ActAfterSqueeze(), 2)
    _agrees_with_jacrev(SqueezeThenAct(), 2)


@pytest.mark.parametrize("thing", [lambda t: t, torch.ones(2), "model", None, nn])
def test_not_a_module(thing):
    with pytest.raises(TypeError, match=r"from_torch expects a torch.nn.Module, got \w+"):
        symjac.from_torch(thing)


@pytest.mark.parametrize("model", [nn.Tanh(), nn.Sequential()], ids=["lone-activation", "empty"])
def test_input_size_must_be_known(model):
    with pytest.raises(ValueError, match=r"cannot tell the input sizes .*pass example_input"):
        symjac.from_torch(model)
    assert symjac.from_torch(model, example_input=torch.zeros(1, 3)).sizes == (3, 3)


class Arithmetic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 2)

    def forward(self, x):
        return self.l1(x) * 2


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 2)

    def forward(self, x):
        return x + torch.tanh(self.l1(x))


def test_arithmetic_and_branches_are_read():
    _agrees_with_jacrev(Arithmetic(), 2)
    _agrees_with_jacrev(Residual(), 2)
    _agrees_with_jacrev(Functional(torch.exp), 2)


def test_bad_weights_are_refused():
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"parameter '0.weight' holds NaN or inf"):
        symjac.from_torch(model)
    cplx = nn.Sequential(nn.Linear(2, 2, dtype=torch.complex64))
    with pytest.raises(TypeError, match=r"parameter '0.weight' is complex"):
        symjac.from_torch(cplx)
