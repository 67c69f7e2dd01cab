"""Model files and torch modules for the command line: read, refused or built.

``symjac check`` reads its ``TARGET`` here (:func:`resolve_target`): a
``package.module:attribute``, a state_dict file (:func:`load_file`, then
:func:`module_from_state_dict`), or a trusted pickle or ``.pt2`` archive.
A file is inspected before ``torch.load`` sees it (:func:`inspect_file`): its
declared sizes are checked against :mod:`symjac.limits`, and its pickle is read
with stubs, so a hostile file allocates and runs nothing. ``symjac mlp --seed``
and ``symjac demo`` build their networks here (:func:`torch_sequential`,
:func:`examples_model`).

This module imports torch at the top; the command line imports it only inside
the commands that need it (NOTE: cli-torch-free in :mod:`symjac.cli`).

>>> torch_sequential([2, 1], "identity", seed=0)
Sequential(
  (0): Linear(in_features=2, out_features=1, bias=True)
)
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib
import io
import logging
import math
import os
import pickle
import re
import sys
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from symjac import examples, limits
from symjac.cli.errors import EXIT_USAGE, CliError, first_line
from symjac.cli.main import collect_warnings, warn
from symjac.cli.text import cut
from symjac.cli.values import check_activation, check_seed, parse_sizes
from symjac.exceptions import LimitError

PICKLE_HINT = (
    "save model.state_dict() and pass it with --sizes, or pass --trust-pickle only if you trust "
    "the file"
)

_TORCH_ACTIVATIONS = {
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "softplus": "Softplus",
    "silu": "SiLU",
    "gelu": "GELU",
}


def torch_sequential(sizes: Sequence[int], activation: str, seed: int | None = None) -> Any:
    """``nn.Sequential`` of ``Linear`` layers with ``activation`` between them.

    With ``seed`` the weights are drawn after ``torch.manual_seed(seed)`` (the
    global generator's state is restored afterwards).

    >>> torch_sequential([1, 2, 1], "tanh", seed=0)
    Sequential(
      (0): Linear(in_features=1, out_features=2, bias=True)
      (1): Tanh()
      (2): Linear(in_features=2, out_features=1, bias=True)
    )
    """
    key = check_activation(activation)
    pairs = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    limits.check_weights(pairs, f"a {limits.sizes_text(sizes)} network")
    if seed is not None:
        check_seed(seed)
    layers: list[Any] = []
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for k in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[k], sizes[k + 1]))
            if k < len(sizes) - 2 and key != "identity":
                if key == "gelu_tanh":
                    layers.append(nn.GELU(approximate="tanh"))
                else:
                    layers.append(getattr(nn, _TORCH_ACTIVATIONS[key])())
    return nn.Sequential(*layers)


def examples_model(seed: int) -> Any:
    """The seed's ``SmallMLP`` built after ``torch.manual_seed(seed)``, leaving the global
    generator as it was.

    >>> examples_model(0).l1.weight.shape
    torch.Size([2, 1])
    """
    check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        return examples.small_mlp(seed)


# -- TARGET: a module:attribute or a model file ---------------------------------------------


def resolve_target(
    target: str, *, trust_pickle: bool = False, sizes: str | None = None, activation: str = "tanh"
) -> Any:
    """The ``nn.Module`` named by ``TARGET``: a ``module:attribute`` or a model file.

    ``trust_pickle``, ``sizes`` and ``activation`` are ``check``'s options of those
    names: a state_dict file needs ``sizes`` (``"1,2,2,1"``), a pickled module or a
    ``.pt2`` archive ``trust_pickle``.

    >>> type(resolve_target("symjac.examples:small_mlp")).__name__
    'SmallMLP'
    """
    if os.path.isfile(target):
        loaded = load_file(target, trust_pickle=trust_pickle)
        if isinstance(loaded, nn.Module):
            with contextlib.suppress(NotImplementedError):  # exported programs refuse eval()
                loaded.eval()
            return loaded
        if isinstance(loaded, dict):
            if not sizes:
                raise CliError(
                    f"{os.path.basename(target)} is a state_dict (weights only); give the layer "
                    "sizes with --sizes, e.g. --sizes 1,2,2,1 (and --activation)",
                    EXIT_USAGE,
                )
            return module_from_state_dict(
                loaded, parse_sizes(sizes), check_activation(activation), target
            )
        raise CliError(
            f"{os.path.basename(target)} holds a {type(loaded).__name__}, not a state_dict or a module",
            EXIT_USAGE,
        )
    if os.path.isdir(target):
        raise CliError(f"{target!r} is a directory; give a model file or package.module:attribute")
    if ":" not in target:
        raise CliError(
            f"no such file {target!r}, and it is not package.module:attribute; check the path "
            "or write e.g. mymodel:build_model",
            EXIT_USAGE,
        )
    return _as_module(_import_target(target), target).eval()


def _exited(err: BaseException) -> str:
    """How user code ended: ``called sys.exit(0)`` or ``raised ValueError: ...``."""
    if isinstance(err, SystemExit):
        return f"called sys.exit({'' if err.code is None else repr(err.code)[:40]})"
    detail = first_line(err)
    return f"raised {type(err).__name__}" + (f": {detail}" if detail else "")


def _import_target(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CliError(
            f"TARGET {spec!r} must be package.module:attribute or an existing state_dict file",
            EXIT_USAGE,
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # the file may be newer than the import system's listing
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise CliError(
            f"cannot import {module_name!r} ({err}); run symjac from the directory that holds it "
            "or install it",
            EXIT_USAGE,
        ) from None
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # the user's module raised, or exited, while importing
        raise CliError(
            f"importing {module_name!r} failed: it {_exited(err)}; fix the "
            "module: a model module must import without exiting (rerun with --debug for the "
            "traceback)",
            EXIT_USAGE,
        ) from err
    obj: Any = module
    for part in attribute.split("."):
        try:
            found = hasattr(obj, part)
            obj = getattr(obj, part) if found else obj
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # a module __getattr__ or property that raises or exits
            raise CliError(
                f"reading {attribute!r} of {module_name!r} failed: it {_exited(err)}; fix the "
                "attribute",
                EXIT_USAGE,
            ) from err
        if not found:
            raise CliError(
                f"module {module_name!r} has no attribute {attribute!r}; check the name after ':'",
                EXIT_USAGE,
            )
    return obj


def _as_module(obj: Any, what: str) -> Any:
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        try:
            result = obj()
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # the factory raised or exited: sys.exit(0) is no pass
            raise CliError(
                f"calling {what}() failed: it {_exited(err)}; it must build and return a "
                "torch.nn.Module without arguments, and not exit",
                EXIT_USAGE,
            ) from err
        if isinstance(result, nn.Module):
            return result
        raise CliError(
            f"{what} returned {type(result).__name__}, not a torch.nn.Module; "
            "point TARGET at a module or a function that returns one",
            EXIT_USAGE,
        )
    raise CliError(
        f"{what} is a {type(obj).__name__}, not a torch.nn.Module or a callable returning one",
        EXIT_USAGE,
    )


def _is_export_archive(path: str) -> bool:
    if path.endswith(".pt2"):
        return True
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/archive_format") for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_file(path: str, *, trust_pickle: bool = False) -> Any:
    """Load a model file: a state_dict with ``weights_only=True``; pickles only if trusted.

    Returns an ``nn.Module`` (trusted pickles and ``.pt2`` archives) or a
    mapping of tensors (a state_dict). Sizes and tensor shapes are read from the
    file's metadata and checked against :mod:`symjac.limits` first
    (:func:`inspect_file`), so nothing is allocated for a file over a limit.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save(nn.Linear(2, 1).state_dict(), path)
    >>> sorted(load_file(path))
    ['bias', 'weight']
    """
    name = os.path.basename(path)
    name = name if len(name) <= 60 else name[:57] + "..."
    export = path.endswith(".pt2")
    if export and not zipfile.is_zipfile(path):
        raise CliError(
            f"{name} is not a zip archive, so not a torch.export (.pt2) archive; it may be "
            "truncated or corrupt: save it again with torch.export.save",
            EXIT_USAGE,
        )
    try:
        contents = inspect_file(path)  # raises LimitError before anything is allocated
    except ValueError as err:
        if export:
            raise CliError(
                f"{err}, so not a torch.export (.pt2) archive; save it again with "
                "torch.export.save",
                EXIT_USAGE,
            ) from None
        raise _corrupt(name, str(err).replace(f"{os.path.basename(path)} ", "", 1)) from None
    if export or contents.kind == "export":
        if not trust_pickle:
            raise CliError(
                f"{name} is a torch.export (.pt2) archive, which can run code when loaded; "
                + PICKLE_HINT,
                EXIT_USAGE,
            )
        warn(f"loading {name} with torch.export.load: this runs code from the file")
        try:
            with collect_warnings(), quiet_logging():  # torch logs a traceback for a bad file
                return torch.export.load(path).module()
        except Exception as err:
            raise CliError(
                f"cannot load {name} as a torch.export archive: {first_line(err)}; save it "
                "again with torch.export.save"
            ) from None
    if contents.kind == "pickle":
        needs = next((g for g in contents.globals if not _safe_global(g)), None)
        raise CliError(
            f"{name} is a plain Python pickle"
            + (f" (it needs {needs[:60]})" if needs else "")
            + ", not a file written by torch.save, which symjac reads; if you trust it, load it "
            "in Python and save model.state_dict() with torch.save",
            EXIT_USAGE,
        )
    if trust_pickle:
        warn(
            f"loading {name} with weights_only=False (--trust-pickle): this can run code from the file"
        )
    try:
        with collect_warnings(), quiet_logging():
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as err:
        # torch's wording varies ("Unsupported global: GLOBAL x", "unsupported GLOBAL x whose
        # module m is blocked"); the scan's own list names the global when it says neither
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        needs = found.group(1) if found else None
        if needs is None and "weights_only" in str(err).replace(" ", "_"):
            needs = next((g for g in contents.globals if not _safe_global(g)), None)
        if needs:
            raise CliError(
                f"{name} holds a pickled Python object that needs {needs[:60]}, which torch's "
                "safe loader (weights_only=True) blocks: loading it could run code from the "
                f"file. {PICKLE_HINT[0].upper()}{PICKLE_HINT[1:]}",
                EXIT_USAGE,
            ) from None
        raise _corrupt(name, "its pickle data cannot be read") from None
    except Exception as err:
        detail = (
            f"{type(err).__name__}: {first_line(err)}" if first_line(err) else type(err).__name__
        )
        raise _corrupt(name, detail) from None


def _safe_global(name: str) -> bool:
    # what torch.save itself writes for a state_dict; anything else is the file's own code
    return name == "collections.OrderedDict" or (
        name.startswith(("torch._utils._rebuild_", "torch._tensor._rebuild_"))
        or (name.startswith("torch.") and name.endswith("Storage"))
    )


def _corrupt(name: str, detail: str) -> CliError:
    return CliError(
        f"{name} is not a readable torch file ({detail}); it may be truncated or corrupt: "
        "save it again with torch.save(model.state_dict(), path)",
        EXIT_USAGE,
    )


def module_from_state_dict(state: Any, sizes: Sequence[int], activation: str, name: str) -> Any:
    """Build ``nn.Sequential`` of ``sizes``/``activation`` and load ``state`` into it.

    The state_dict's tensors are matched to the layers in order (weights 2-D,
    biases 1-D), so ``nn.Sequential`` keys (``0.weight``) and named layers
    (``l1.weight``) both load.

    >>> sd = torch_sequential([1, 2, 1], "tanh", seed=0).state_dict()
    >>> module_from_state_dict(sd, [1, 2, 1], "tanh", "sd.pt")[2].weight.shape
    torch.Size([1, 2])
    """
    tensors = [(k, v) for k, v in state.items() if isinstance(v, torch.Tensor)]
    layers: list[dict[str, Any]] = []
    for key, tensor in tensors:
        if tensor.ndim == 2:
            layers.append({"weight": (key, tensor)})
        elif tensor.ndim == 1 and layers and "bias" not in layers[-1]:
            layers[-1]["bias"] = (key, tensor)
        else:
            raise CliError(
                f"{name}: unexpected tensor {key!r} of shape {tuple(tensor.shape)}; symjac reads "
                "state_dicts of Linear layers (weight, then bias, for each layer)",
                EXIT_USAGE,
            )
    if not tensors:
        raise CliError(
            f"{name} holds no tensors; expected a state_dict saved with "
            "torch.save(model.state_dict(), path)",
            EXIT_USAGE,
        )
    flag = ",".join(map(str, sizes))
    want = [(b, a) for a, b in zip(sizes, sizes[1:])]
    got = [tuple(layer["weight"][1].shape) for layer in layers]
    if got != want:
        first = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), len(want))
        where = f" (first: {layers[first]['weight'][0]!r})" if first < len(layers) else ""
        raise CliError(
            f"{name} holds weights of shapes {cut(str(got), 80)}{where}, but --sizes {flag} "
            f"needs {cut(str(want), 80)}; give the sizes the model was trained with",
            EXIT_USAGE,
        )
    # exact bias shapes, as torch's load_state_dict demands: copy_ would broadcast a (1,)
    # bias over a 2-output layer and read it as [b, b]
    for k, layer in enumerate(layers):
        if "bias" in layer and tuple(layer["bias"][1].shape) != (want[k][0],):
            key, bias = layer["bias"]
            raise CliError(
                f"{name}: tensor {key!r} has shape {tuple(bias.shape)}, but layer {k + 1} of "
                f"--sizes {flag} needs a bias of shape ({want[k][0]},); torch's load_state_dict "
                "refuses it too: save the model's own state_dict",
                EXIT_USAGE,
            )
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for _, t in tensors})
    dtype = tensors[0][1].dtype
    if len(dtypes) != 1 or not dtype.is_floating_point or dtype.is_complex:
        raise CliError(
            f"{name} holds tensors of dtype {', '.join(dtypes)}; symjac reads state_dicts whose "
            "tensors share one real floating dtype (such as float32): convert them before saving",
            EXIT_USAGE,
        )
    # in the file's dtype before copying: float64 weights must not pass through float32
    module = torch_sequential(sizes, activation).to(dtype)
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, layer in zip(linears, layers):
            lin.weight.copy_(layer["weight"][1])
            if "bias" in layer:
                lin.bias.copy_(layer["bias"][1])
            else:
                lin.bias = None
    return module.eval()


def input_width(module: Any) -> int:
    """Inputs of ``module``: its first ``Linear``'s ``in_features`` (1 without one).

    >>> input_width(torch_sequential([3, 2, 1], "tanh"))
    3
    """
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            return sub.in_features
    return 1


# -- model files, inspected before torch.load -----------------------------------------------

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
