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

import collections
import contextlib
import dataclasses
import io
import logging
import math
import operator
import os
import pickle
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import sympy

from symjac import limits
from symjac.activations import get_activation
from symjac.autograd_functions import FunctionCall, intercepted, read_function
from symjac.exceptions import LimitError, UnsupportedError
from symjac.networks import Layer, Network
from symjac.torch_ops import METHOD_ACTIVATIONS, function_activation, module_activation, op_name

__all__ = ["SUPPORTED", "FileContents", "check_module_size", "from_torch", "inspect_file"]

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


def check_module_size(module: Any) -> int:
    """Refuse a module with more than ``limits.max_weights`` numbers in its tensors.

    Counted from the tensors' shapes, before any is read, so a 1000 x 1000
    layer is refused at once instead of being read for minutes. Returns the count.

    >>> import torch
    >>> check_module_size(torch.nn.Linear(2, 3))
    9
    >>> check_module_size(torch.nn.Linear(1000, 1000))
    Traceback (most recent call last):
    ...
    symjac.exceptions.LimitError: the module Linear has 1001000 weights and biases; the limit is max_weights=200000 ...
    """
    import torch

    tensors = [*module.parameters(), *module.buffers()]
    if any(torch.nn.parameter.is_lazy(t) for t in tensors):
        raise ValueError(
            f"{type(module).__name__} has uninitialized (lazy) parameters, which have no shape "
            "yet; run one forward pass on an example input first"
        )
    count = sum(math.prod(t.shape) for t in tensors)
    limits.check_weights(count, f"the module {type(module).__name__}")
    return count


def _check_linear(name: str, layer: Any) -> None:
    # exact shapes, as torch's load_state_dict demands: a (1,) bias of a 2-output layer would
    # broadcast in forward and be read as [b, b] (or cut short by zip) without this
    weight, bias = layer.weight, layer.bias
    rows, cols = layer.out_features, layer.in_features
    if rows < 1 or cols < 1:
        raise ValueError(
            f"layer {name!r} is Linear({cols}, {rows}); symjac needs at least one input and one "
            "output per layer: remove the layer or give it a positive width"
        )
    if tuple(weight.shape) != (rows, cols):
        raise ValueError(
            f"layer {name!r} (Linear({cols}, {rows})) has a weight of shape "
            f"{tuple(weight.shape)}; expected ({rows}, {cols}): load weights of the layer's shape"
        )
    if bias is not None and tuple(bias.shape) != (rows,):
        raise ValueError(
            f"layer {name!r} (Linear({cols}, {rows})) has a bias of shape {tuple(bias.shape)}; "
            f"expected ({rows},): load a bias of the layer's shape"
        )


def _check_parameters(module: Any) -> None:
    import torch

    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.Linear):
            _check_linear(name or type(module).__name__, sub)
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
    except (SystemExit, GeneratorExit) as err:  # user code must not end the process silently
        raise ValueError(
            f"the forward of {type(module).__name__} raised {type(err).__name__}"
            f"({_exit_arg(err)}) while it was traced; a forward must return a tensor, not exit"
        ) from None
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
    check_module_size(module)
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
        probe = _example_probe(example_input, n_in)
    try:
        with torch.no_grad():
            output = module(probe.to(dtype))
    except (SystemExit, GeneratorExit) as err:  # user code must not end the process silently
        raise ValueError(
            f"the forward of {type(module).__name__} raised {type(err).__name__}"
            f"({_exit_arg(err)}); a forward must return a tensor, not exit"
        ) from None
    expected = output.to(torch.float64).reshape(probe.shape[0], -1).numpy()
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


def _exit_arg(err: BaseException) -> str:
    return repr(err.args[0])[:40] if err.args else ""


def _example_probe(example_input: Any, n_in: int) -> Any:
    """``example_input`` as a float64 batch of shape ``(N, n_in)``, or a clear ValueError."""
    import torch

    try:
        values = torch.as_tensor(example_input).detach().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"example_input must be numbers (a list, array or tensor of {n_in}), got "
            f"{type(example_input).__name__} ({str(err).splitlines()[0][:80]})"
        ) from None
    shape = tuple(values.shape)
    if len(shape) <= 1:
        ok = values.numel() == n_in or (n_in == 1 and values.numel() >= 1)
    else:
        ok = len(shape) == 2 and shape[1] == n_in and shape[0] >= 1
    if not ok:
        raise ValueError(
            f"example_input has shape {shape}, but the module takes {n_in} input(s): give "
            f"{n_in} number(s), or a batch of shape (N, {n_in})"
        )
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"example input must be finite, got {values.reshape(-1)[:4].tolist()}; "
            "give a point where the module's output is defined"
        )
    return values.reshape(-1, n_in)


# -- model files, inspected before torch.load --------------------------------------------------

#: bytes per element of torch's storage classes, as pickled by torch.save
_ELEMENT_BYTES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "UntypedStorage": 1,
}
#: torch's legacy (non-zip) format starts with this pickled number
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclasses.dataclass
class FileContents:
    """What a model file declares, read from its metadata without loading any tensor.

    ``kind`` is ``"zip"`` (torch.save's archive), ``"export"`` (a torch.export
    ``.pt2`` archive), ``"legacy"`` (torch.save's pre-1.6 format) or ``"pickle"``
    (a plain Python pickle, not written by torch.save). ``globals`` lists the
    Python names the pickle would import, ``tensors`` each tensor's place and
    shape, ``numbers`` the elements of its storages and ``nbytes`` the bytes
    torch would allocate.

    >>> FileContents("zip", ["collections.OrderedDict"], [("weight", (2, 1))], 2, 8).numbers
    2
    """

    kind: str
    globals: list[str]
    tensors: list[tuple[str, tuple[int, ...]]]
    numbers: int
    nbytes: int


class _Stub:
    """Stands in for every object a scanned pickle names: nothing is imported or run."""

    name = "?"
    args: tuple[Any, ...] = ()  # NEWOBJ builds stubs without calling __init__
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("values", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("values", []).extend(values)


@dataclasses.dataclass
class _StorageStub:
    kind: str
    key: str
    numel: int


@dataclasses.dataclass
class _TensorStub:
    storage: Any
    shape: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any = 0, size: Any = (), *rest: Any) -> _TensorStub:
    shape = tuple(size) if isinstance(size, (tuple, list)) else ()
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"a tensor of shape {shape!r}")
    return _TensorStub(storage, shape)


def _first(data: Any = None, *rest: Any) -> Any:
    return data


def _from_type(func: Any, new_type: Any = None, args: Any = (), *rest: Any) -> Any:
    return func(*args) if callable(func) else None


_REBUILDS = {
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _first,
    "torch._utils._rebuild_parameter_with_state": _first,
    "torch._tensor._rebuild_from_type_v2": _from_type,
    "collections.OrderedDict": collections.OrderedDict,
}


class _ScanUnpickler(pickle.Unpickler):
    """Reads a pickle's structure with stubs: records globals and declared storage sizes."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.globals: list[str] = []
        self.storages: dict[str, _StorageStub] = {}
        self._stubs: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full not in self.globals:
            self.globals.append(full)
        if full in _REBUILDS:
            return _REBUILDS[full]
        if full not in self._stubs:
            self._stubs[full] = type(name[:60] or "_", (_Stub,), {"name": full})
        return self._stubs[full]

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise ValueError(f"persistent id {pid!r}")
        tag = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if tag != "storage":
            return _Stub(*pid)
        # zip: (storage, type, key, location, numel); legacy adds view metadata
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(numel, int) or numel < 0:
            raise ValueError(f"storage {key!r} declares {numel!r} elements")
        kind = getattr(storage_type, "name", "?").rpartition(".")[2]
        return self.storages.setdefault(key, _StorageStub(kind, key, numel))


def _tensor_places(obj: Any) -> list[tuple[str, tuple[int, ...]]]:
    """Each tensor stub in ``obj`` with a readable place (``'0.weight'``, ``'_parameters.bias'``)."""
    found: list[tuple[str, tuple[int, ...]]] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack and len(seen) < 100_000:  # a hostile pickle may nest or share without bound
        place, item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, _TensorStub):
            found.append((place or "(top level)", item.shape))
            continue
        if isinstance(item, dict):
            children = [(str(k), v) for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(str(i), v) for i, v in enumerate(item)]
        elif isinstance(item, _Stub):
            children = [("", item.state), ("", item.args), *vars(item).get("items", {}).items()]
            children = [(str(k), v) for k, v in children]
        else:
            continue
        for key, child in reversed(children):
            # a pickled module's _modules/_parameters levels: '0.weight', as in its state_dict
            if key in ("_modules", "_parameters", "_buffers"):
                key = ""
            stack.append((f"{place}.{key}".strip(".") if key else place, child))
    return found


def _scan_pickles(data: Any, count: int) -> tuple[list[Any], _ScanUnpickler]:
    unpickler = _ScanUnpickler(data)
    results = []
    for _ in range(count):
        results.append(unpickler.load())
    return results, unpickler


@contextlib.contextmanager
def quiet_logging() -> Iterator[None]:
    """Silence the ``logging`` module inside the block (torch logs tracebacks of bad files).

    >>> import logging
    >>> with quiet_logging():
    ...     logging.getLogger("torch.export").warning("Ran into the following error")
    """
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def inspect_file(path: str) -> FileContents:
    """Read what a model file declares (sizes, tensor shapes, globals) without loading it.

    Every size is checked against :mod:`symjac.limits` (``max_file_bytes`` for
    the file and its uncompressed records, ``max_weights`` for the numbers in its
    tensors) before ``torch.load`` would allocate anything; a file over a limit
    raises :class:`~symjac.LimitError`, one that cannot be read ``ValueError``.
    Pickles are read with stubs: nothing from the file is imported or run.

    >>> import io, os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), path)
    >>> info = inspect_file(path)
    >>> info.kind, info.tensors, info.numbers
    ('zip', [('weight', (1, 2)), ('bias', (1,))], 3)
    """
    name = os.path.basename(path)
    cap = limits.current().max_file_bytes
    size = os.path.getsize(path)
    if size > cap:
        raise _file_limit(f"{name} has {size} bytes", cap)
    if zipfile.is_zipfile(path):
        return _inspect_zip(path, name, cap)
    with open(path, "rb") as file:
        data = file.read(cap + 1)  # in memory: a pickle's declared lengths then allocate nothing
    with io.BytesIO(data) as f:
        try:
            (first,), unpickler = _scan_pickles(f, 1)
            if first == _LEGACY_MAGIC:
                results, unpickler = _scan_pickles(f, 3)  # protocol, sys info, the object
                kind, obj = "legacy", results[2]
            else:
                kind, obj = "pickle", first
        except Exception as err:
            raise ValueError(f"{name} is not a pickle or zip archive ({_why(err)})") from None
    return _contents(kind, unpickler, obj, name)


def _inspect_zip(path: str, name: str, cap: int) -> FileContents:
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
            total = sum(r.file_size for r in records)
            pickles = [r for r in records if r.filename.endswith("data.pkl")]
            export = any(r.filename.endswith("/archive_format") for r in records)
            contents = None
            if not export:
                if len(pickles) != 1:
                    raise ValueError(f"{name} is a zip archive without torch's data.pkl record")
                if pickles[0].file_size > cap:
                    raise _file_limit(f"{name} has a pickle of {pickles[0].file_size} bytes", cap)
                with io.BytesIO(archive.read(pickles[0])) as f:
                    (obj,), unpickler = _scan_pickles(f, 1)
                # the tensors' shapes first: the clearest message for a file that is too big
                contents = _contents("zip", unpickler, obj, name)
    except (LimitError, ValueError):
        raise
    except Exception as err:  # zipfile and pickle raise many types for a damaged file
        raise ValueError(f"{name} is a damaged zip archive ({_why(err)})") from None
    if total > cap:  # what torch would allocate, whatever the pickle declares
        big = max(records, key=lambda r: r.file_size)
        raise _file_limit(
            f"{name} unpacks to {total} bytes (record {big.filename[-60:]!r} alone has "
            f"{big.file_size})",
            cap,
        )
    return contents or FileContents("export", [], [], 0, total)


def _contents(kind: str, unpickler: _ScanUnpickler, obj: Any, name: str) -> FileContents:
    storages = list(unpickler.storages.values())
    numbers = sum(s.numel for s in storages)
    nbytes = sum(s.numel * _ELEMENT_BYTES.get(s.kind, 8) for s in storages)
    tensors = _tensor_places(obj)
    cap = limits.current()
    if numbers > cap.max_weights:
        place, shape = max(tensors, key=lambda t: math.prod(t[1]), default=("?", ()))
        raise LimitError(
            f"{name} holds tensors of {numbers} numbers (the largest, {place[-40:]!r}, has shape "
            f"{shape}); the limit is max_weights={cap.max_weights}: check a smaller model, or "
            "raise the limit with symjac.limits.override(max_weights=...)"
        )
    if nbytes > cap.max_file_bytes:
        raise _file_limit(f"{name} declares tensors of {nbytes} bytes", cap.max_file_bytes)
    return FileContents(kind, list(unpickler.globals), tensors, numbers, nbytes)


def _file_limit(what: str, cap: int) -> LimitError:
    return LimitError(
        f"{what}; the limit is max_file_bytes={cap}: check a smaller model file, or raise the "
        "limit with symjac.limits.override(max_file_bytes=...)"
    )


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:100]}" if text else type(err).__name__
