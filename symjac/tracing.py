"""Read a real ``torch.nn.Module`` into an exact symbolic :class:`~symjac.Network`.

The module is traced with ``torch.fx`` (so custom ``forward`` methods such as
the seed's ``SmallMLP`` work, not only ``nn.Sequential``), and the traced graph
must be a single chain of ``Linear`` layers, each followed by at most one
activation. Stages are split at each ``Linear`` the way the seed splits
``layer1``/``layer2``/``layer3``; a final ``squeeze`` is recorded. Weights
become exact SymPy rationals of the values the tensors hold (NOTE:
symbols-once), so every symbolic result is exact *for that model*. The result
is checked against the module's own output at a probe point, so a graph that
was misread never passes silently.

>>> import symjac
>>> net = symjac.from_torch(symjac.examples.small_mlp(seed=0))
>>> net
Network(sizes=[1, 2, 2, 1], activations=[tanh, tanh, identity], weights=exact)
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import sympy

from symjac.activations import get_activation
from symjac.autograd_functions import FunctionCall, intercepted, read_function
from symjac.exceptions import UnsupportedError
from symjac.networks import Layer, Network
from symjac.torch_ops import METHOD_ACTIVATIONS, function_activation, module_activation, op_name

__all__ = ["SUPPORTED", "from_torch"]

#: what from_torch can read, for error messages
SUPPORTED = (
    "nn.Linear; activations tanh, sigmoid, relu, leaky_relu, elu, softplus, silu, gelu "
    "(as nn modules, torch.* or F.* functions, or tensor methods); nn.Identity; "
    "nn.Dropout in eval mode; a final squeeze(); custom torch.autograd.Functions whose "
    "forward is elementwise (their backward is then checked)"
)


def _unsupported(what: str, why: str = "") -> UnsupportedError:
    tail = f" ({why})" if why else ""
    return UnsupportedError(f"symjac cannot represent {what}{tail}; supported: {SUPPORTED}")


def _check_parameters(module: Any) -> None:
    import torch

    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if tensor.is_meta:
            raise ValueError(
                f"parameter {name!r} is a meta tensor, which holds no values; "
                "materialize the module first (e.g. module.to_empty(device='cpu') and load weights)"
            )
        if tensor.is_complex():
            raise TypeError(
                f"parameter {name!r} is complex ({tensor.dtype}); symjac works with real weights"
            )
        if not tensor.is_floating_point() and name.split(".")[-1] in ("weight", "bias"):
            raise TypeError(
                f"parameter {name!r} has dtype {tensor.dtype}; weights must be floating point"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"parameter {name!r} holds NaN or inf; exact weights must be finite")


def _exact_matrix(tensor: Any) -> sympy.ImmutableMatrix:
    import torch

    values = tensor.detach().cpu().to(torch.float64)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    rows, cols = values.shape
    # float32/float16/bfloat16 -> float64 is exact, and Rational(float) is the exact binary value
    return sympy.ImmutableMatrix(
        rows, cols, [sympy.Rational(v) for v in values.reshape(-1).tolist()]
    )


def _trace(module: Any) -> Any:
    # custom autograd.Functions become one node each (NOTE: custom-functions)
    with intercepted():
        return _fx_trace(module)


def _fx_trace(module: Any) -> Any:
    import torch.fx

    try:
        return torch.fx.symbolic_trace(module)
    except UnsupportedError:
        raise
    except Exception as err:  # fx raises many types; all mean "not a fixed graph"
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise _unsupported(
            f"the forward of {type(module).__name__}",
            f"torch.fx could not trace it: {reason}; data-dependent control flow and "
            "custom autograd Functions have no fixed graph",
        ) from None


def from_torch(module: Any, example_input: Any = None, *, input_names: Any = None) -> Network:
    """Read a ``torch.nn.Module`` (``nn.Sequential`` or a custom ``forward``) into a Network.

    ``example_input`` (optional) is a point the module accepts; the network is
    checked to reproduce the module's output there (a default probe point is
    used otherwise). Anything outside the supported set raises
    :class:`~symjac.UnsupportedError` naming the module or operation.

    >>> import symjac, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    >>> net = symjac.from_torch(model)
    >>> net.sizes, [s.name for s in net.stages]
    ((2, 3, 1), ['a', 'p'])
    >>> symjac.from_torch(torch.nn.Conv1d(1, 1, 3))
    Traceback (most recent call last):
    ...
    symjac.exceptions.UnsupportedError: symjac cannot represent the module Conv1d at '0'; supported: ...
    """
    import torch
    from torch import nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    _check_parameters(module)
    for name, sub in module.named_modules():
        if isinstance(sub, nn.modules.dropout._DropoutNd) and sub.training and sub.p > 0:
            raise _unsupported(
                f"{type(sub).__name__} {name!r} in training mode", "call module.eval() first"
            )
        if isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.training:
            raise _unsupported(
                f"{type(sub).__name__} {name!r} in training mode", "its output depends on the batch"
            )
    if not list(module.children()) and not isinstance(module, nn.Sequential):
        module = nn.Sequential(module)  # a lone layer: trace it as a leaf so errors name it
    graph = _trace(module)
    submodules = dict(graph.named_modules())

    ops: list[tuple[str, Any]] = []
    current = None
    for node in graph.graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise _unsupported("a forward with several inputs", "the network maps one tensor")
            current = node
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise _unsupported("a forward whose output is not its last operation")
            continue
        if node.op == "get_attr":
            raise _unsupported(
                f"direct use of the tensor attribute {node.target!r}", "use nn.Linear layers"
            )
        data_args = [a for a in (*node.args, *node.kwargs.values()) if isinstance(a, torch.fx.Node)]
        if data_args != [current] or node.args[:1] != (current,):
            raise _unsupported(
                f"the operation {node.format_node()[:80]!r}",
                "the forward must be a single chain of layers",
            )
        if node.op == "call_module":
            sub = submodules[node.target]
            act = module_activation(sub)
            if isinstance(sub, nn.Linear):
                ops.append(("linear", sub))
            elif act is not None:
                ops.append(("act", act))
            elif isinstance(sub, (nn.Identity, nn.modules.dropout._DropoutNd)):
                pass
            else:
                raise _unsupported(f"the module {type(sub).__name__} at {node.target!r}")
        elif node.op == "call_function" and isinstance(node.target, FunctionCall):
            ops.append(("act", read_function(node.target)))
        elif node.op == "call_function":
            act = function_activation(node.target, node.args[1:], dict(node.kwargs))
            if act is not None:
                ops.append(("act", act))
            elif node.target in (torch.squeeze,):
                ops.append(("squeeze", None))
            elif node.target in (
                torch.argmax,
                torch.argmin,
                torch.nn.functional.one_hot,
                torch.round,
                torch.sign,
            ):
                raise _unsupported(
                    f"{op_name(node.target)}", "its output is integer or piecewise constant"
                )
            elif node.target in (operator.add, operator.mul, operator.sub, operator.truediv):
                raise _unsupported(
                    f"arithmetic {op_name(node.target)} in forward", "use nn.Linear layers"
                )
            else:
                raise _unsupported(f"the function {op_name(node.target)}")
        elif node.op == "call_method":
            if node.target in METHOD_ACTIVATIONS:
                ops.append(("act", get_activation(METHOD_ACTIVATIONS[node.target])))
            elif node.target == "squeeze":
                ops.append(("squeeze", None))
            elif node.target in ("argmax", "argmin", "long", "int", "round"):
                raise _unsupported(
                    f"the method .{node.target}()", "its output is integer or piecewise constant"
                )
            else:
                raise _unsupported(f"the method .{node.target}()")
        current = node
    if not ops or ops[0][0] != "linear":
        raise _unsupported(
            f"{type(module).__name__} whose forward does not start with nn.Linear",
            "every stage is a Linear layer followed by an activation",
        )

    layers: list[Layer] = []
    pending: dict[str, Any] = {}

    def close() -> None:
        if pending:
            linear = pending["linear"]
            layers.append(
                Layer(
                    _exact_matrix(linear.weight),
                    None if linear.bias is None else _exact_matrix(linear.bias),
                    pending.get("act", get_activation("identity")),
                    pending.get("squeeze", False),
                )
            )
            pending.clear()

    for kind, value in ops:
        if kind == "linear":
            close()
            pending["linear"] = value
        elif kind == "act":
            if "squeeze" in pending:
                raise _unsupported(
                    f"the activation {value.name} after squeeze()",
                    "squeeze() may only end the forward",
                )
            if "act" in pending:
                raise _unsupported(
                    f"two activations in a row ({pending.get('act', get_activation('identity')).name}, {value.name})",
                    "each Linear takes at most one activation",
                )
            pending["act"] = value
        else:
            pending["squeeze"] = True
    close()
    if any(layer.squeeze for layer in layers[:-1]):
        raise _unsupported("squeeze() before the last layer")
    network = Network(layers, input_names=input_names, module=module)
    _verify(network, module, example_input)
    return network


def _verify(network: Network, module: Any, example_input: Any) -> None:
    import torch

    from symjac.chain import _elementwise

    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    n_in = network.sizes[0]
    if example_input is None:
        probe = torch.linspace(-0.75, 0.5, n_in, dtype=torch.float64).reshape(1, n_in)
    else:
        probe = torch.as_tensor(example_input).detach().to(torch.float64).reshape(-1, n_in)
    with torch.no_grad():
        expected = module(probe.to(dtype)).to(torch.float64).reshape(probe.shape[0], -1).numpy()
    a = probe.numpy()
    for layer in network.layers:
        w = np.array(layer.weight.tolist(), dtype=np.float64)
        z = a @ w.T + (
            0 if layer.bias is None else np.array(layer.bias.tolist(), dtype=np.float64).ravel()
        )
        value, _ = _elementwise(layer.activation, "numpy")
        a = value(z[..., None])
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    tol = {torch.float64: 1e-10}.get(
        dtype, 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-4
    )
    if a.shape != expected.shape or not np.allclose(a, expected, rtol=0, atol=tol * scale):
        raise _unsupported(
            f"{type(module).__name__}: the traced chain does not reproduce the module's output",
            "its forward does more than Linear layers and activations",
        )
