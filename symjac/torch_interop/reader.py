"""Read any traced ``torch.nn.Module`` into a :class:`~symjac.graph.Model`, op by op.

The module is traced with ``torch.fx`` (stack traces recorded, custom autograd
Functions kept as single calls) and then *run* once on a float64 copy at a probe
batch, node by node. Every fx node is looked up in the primitive table's torch
column (:mod:`symjac.graph.primitives`) and becomes primitive nodes; the rule's
value is checked against torch's own at that node, so a misread operation is
refused where it happens instead of giving a plausible wrong Jacobian.

NOTE: reading-order
    An operation on constants only (``ub - lb`` of two buffers) is read like any
    other, as an unbatched node: it stays exact in the reference and symbolic
    forms. Identity-like operations (``Dropout`` in eval mode, ``clone``) add no
    node. Refusals are one line naming the operation as the user wrote it, the
    module path and the source line of ``forward``, and what to do.
"""

from __future__ import annotations

import copy
import functools
import operator
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from symjac.exceptions import UnsupportedError
from symjac.graph.backends import NumpyOps
from symjac.graph.model import InputPart, Model, Stage, run_nodes
from symjac.graph.primitives import COMPOSITES, ELEMENTWISE, PRIMITIVES, Node, Ref

__all__ = [
    "op_text",
    "read_model",
    "refusal",
    "resolve",
    "source_of",
    "static_check",
    "torch_function",
    "torch_targets",
]

#: the probe batch: an odd size, so no per-sample axis is mistaken for the batch axis
_BATCH = 3


def resolve(name: str) -> Any:
    """The torch object a table name stands for: ``"torch.tanh"``, ``"F.gelu"``, ``"Tensor.sum"``.

    Returns a callable, a method name (``"sum"``) or an ``nn.Module`` class, or None
    for a descriptive entry.

    >>> resolve("F.tanh") is torch.nn.functional.tanh, resolve("Tensor.sum"), resolve("nn.Tanh")
    (True, 'sum', <class 'torch.nn.modules.activation.Tanh'>)
    """
    if " " in name or "(" in name:
        return None
    head, _, rest = name.partition(".")
    roots: dict[str, Any] = {"torch": torch, "F": F, "nn": nn, "operator": operator}
    if head == "Tensor":
        return rest
    obj: Any = roots.get(head)
    for part in rest.split("."):
        obj = getattr(obj, part, None)
    return obj


def torch_function(act: Any) -> Callable[[Any], Any]:
    """torch's own function for an :class:`~symjac.activations.Activation`, from the table.

    The table's first function spelling, called with the activation's parameters by
    their torch keywords; an activation the table has no spelling for runs as
    symjac's torch code for its expression.

    >>> from symjac.activations import get_activation
    >>> torch_function(get_activation("elu", alpha=0.5))(torch.tensor([-1.0]))
    tensor([-0.3161])
    """
    reading = ELEMENTWISE.get(act.name)
    if act.name == "identity":
        return lambda t: t
    if act.name == "gelu_tanh":
        return lambda t: F.gelu(t, approximate="tanh")
    fn = next((resolve(f) for f in (reading.functions if reading else ()) if resolve(f)), None)
    if fn is None:
        from symjac.activations import Z
        from symjac.numeric import compile_exprs

        compiled = compile_exprs([act.expr], [Z], (), "torch")
        return lambda t: compiled(t[..., None])
    keywords = {kw: dict(act.params)[name] for name, kw, _ in reading.params
                if dict(act.params).get(name) is not None}  # fmt: skip
    return functools.partial(fn, **keywords) if keywords else fn


@functools.cache
def torch_targets() -> dict[tuple[str, Any], tuple[str, str]]:
    """``(fx op, target) -> (table, entry)`` for every resolvable torch name of the tables.

    >>> targets = torch_targets()
    >>> targets["call_module", torch.nn.Tanh], targets["call_function", torch.cat]
    (('elementwise', 'tanh'), ('primitive', 'cat'))
    """
    out: dict[tuple[str, Any], tuple[str, str]] = {}

    def add(name: str, entry: tuple[str, str]) -> None:
        obj = resolve(name)
        if obj is None:
            return
        op = (
            "call_method"
            if isinstance(obj, str)
            else "call_module"
            if isinstance(obj, type)
            else "call_function"
        )
        if out.get((op, obj), entry) != entry:  # NOTE: two-way-table: one entry per spelling
            raise AssertionError(
                f"{name} is spelled by two table entries: {out[op, obj]} and {entry}"
            )
        out[op, obj] = entry

    for prim in PRIMITIVES.values():
        for name in prim.torch:
            add(name, ("primitive", prim.name))
    for act, reading in ELEMENTWISE.items():
        for name in reading.functions:
            add(name, ("elementwise", act))
        for method in reading.methods:
            add(f"Tensor.{method}", ("elementwise", act))
        if reading.module:
            add(f"nn.{reading.module}", ("elementwise", act))
    for name in ("operator.getitem", "Tensor.__getitem__"):
        add(name, ("primitive", "index"))
    for kind, composite in COMPOSITES.items():
        for name in composite.torch:
            add(name, ("composite", kind))
    return out


def source_of(node: torch.fx.Node) -> str:
    """``file.py:12: code`` of the user's line that made ``node`` (from fx's stack trace).

    Empty where the line is torch's own (``nn.Sequential``) or was not recorded.

    >>> source_of(torch.fx.symbolic_trace(torch.nn.Tanh()).graph.find_nodes(op="output")[0])
    ''
    """
    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(__file__)))
    lines = (node.meta.get("stack_trace") or "").splitlines()
    found = ""
    for i, line in enumerate(lines):
        match = re.match(r'\s*File "(.+)", line (\d+), in ', line)
        if match and not match.group(1).startswith(skip):
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            code = "" if code.startswith("File ") else f": {code}"
            found = f"{os.path.basename(match.group(1))}:{match.group(2)}{code}"
    return found


def _module_path(node: torch.fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    paths = [v[0] if isinstance(v, tuple) else str(k) for k, v in stack.items()]
    return paths[-1] if paths else ""


#: Python operators by the symbol a user writes
_OPERATORS = {operator.gt: ">", operator.ge: ">=", operator.lt: "<", operator.le: "<=",
              operator.eq: "==", operator.ne: "!=", operator.and_: "&", operator.or_: "|",
              operator.invert: "~", operator.floordiv: "//", operator.mod: "%",
              operator.matmul: "@"}  # fmt: skip

#: where users find torch's functions, for naming one as they wrote it
_NAMESPACES = (("torch", torch), ("torch.nn.functional", F), ("torch.fft", torch.fft),
               ("torch.linalg", torch.linalg), ("torch.special", torch.special))  # fmt: skip


def op_text(node: torch.fx.Node, module: Any = None) -> str:
    """The operation as the user wrote it: ``torch.fft.rfft``, ``.sum()``, ``the module Conv1d``.

    >>> gm = torch.fx.symbolic_trace(lambda x: torch.fft.rfft(x) > 0)
    >>> [op_text(n) for n in gm.graph.nodes if n.op == "call_function"]
    ['torch.fft.rfft', 'the operator >']
    """
    from symjac.torch_ops import op_name

    if node.op == "call_module":
        return f"the module {type(module or node.target).__name__}"
    if node.op == "call_method":
        return f"the tensor method .{node.target}()"
    symbol = _OPERATORS.get(node.target)
    if symbol is not None:
        return f"the operator {symbol}"
    for prefix, space in _NAMESPACES:
        for name in dir(space):
            if getattr(space, name, None) is node.target:
                return f"{prefix}.{name}"
    return op_name(node.target)


def refusal(node: torch.fx.Node, what: str, why: str, fix: str) -> UnsupportedError:
    """An operation symjac cannot read: one line with the op, where it is, why, what to do.

    >>> gm = torch.fx.symbolic_trace(lambda x: torch.fft.rfft(x))
    >>> node = next(n for n in gm.graph.nodes if n.op == "call_function")
    >>> str(refusal(node, op_text(node), "symjac has no rule for it", "rewrite it"))
    'symjac cannot read torch.fft.rfft: symjac has no rule for it; rewrite it'
    """
    where = [f"in {p}" for p in [_module_path(node)] if p]
    if src := source_of(node):
        where.append(f"at {src}")
    place = f" ({', '.join(where)})" if where else ""
    return UnsupportedError(f"symjac cannot read {what}{place}: {why}; {fix}")


_UNSUPPORTED_FIX = "rewrite it with supported operations (see docs: 'Your model')"


class _Reader(torch.fx.Interpreter):
    """Runs the traced module on the probe and records primitive nodes for each fx node."""

    def __init__(self, gm: torch.fx.GraphModule, original: nn.Module):
        super().__init__(gm)
        self.original = original
        #: the dtype the model computes in (RMSNorm's default eps follows it)
        self.dtype = next((p.dtype for p in original.parameters()), torch.float32)
        self.stage_names: dict[int, str] = {}
        self.nodes: list[Node] = []
        self.stages: list[Stage] = []
        self.parts: list[InputPart] = []
        self.sym: dict[torch.fx.Node, Any] = {}
        self.vals: dict[int, Any] = {}
        self.tans: dict[int, Any] = {}
        self.ops = NumpyOps()
        self.targets = torch_targets()
        self.fx_node: torch.fx.Node | None = None
        self.result: int | None = None

    # -- building nodes --------------------------------------------------------------------------
    def add(self, op: str, args: tuple[Any, ...], shape: Any = None, **params: Any) -> Ref:
        """A new node; its shape, unless given, is read off its value at the probe."""
        batched = any(isinstance(a, Ref) and self.nodes[a.index].batched for a in args)
        self.nodes.append(Node(op, args, params, tuple(shape or ()), batched))
        index = len(self.nodes) - 1
        run_nodes(self.nodes, [index], self.ops, self.vals, self.tans)
        if shape is None:
            value = np.shape(self.vals[index])
            self.nodes[index] = Node(op, args, params, value[1:] if batched else value, batched)
        return Ref(index)

    def const(self, tensor: Any) -> Ref:
        array = np.asarray(tensor.detach().to(torch.float64).cpu().numpy(), dtype=np.float64)
        self.nodes.append(Node("const", (), {"value": array}, tuple(array.shape), False))
        self.vals[len(self.nodes) - 1] = array
        return Ref(len(self.nodes) - 1)

    def shape_of(self, ref: Ref) -> tuple[int, ...]:
        return self.nodes[ref.index].shape

    def batched(self, value: Any) -> bool:
        return isinstance(value, Ref) and self.nodes[value.index].batched

    def operand(self, value: Any, node: torch.fx.Node) -> Any:
        """A node argument: a Ref, a tensor constant (read as a const node) or a number."""
        if isinstance(value, (Ref, int, float)) and not isinstance(value, bool):
            return value
        numeric = (torch.int64, torch.int32)
        if isinstance(value, torch.Tensor) and (
            value.dtype.is_floating_point or value.dtype in numeric
        ):
            return self.const(value)
        raise refusal(node, op_text(node), f"an argument of type {type(value).__name__}",
                      _UNSUPPORTED_FIX)  # fmt: skip

    # -- running -----------------------------------------------------------------------------------
    def run_node(self, n: torch.fx.Node) -> Any:
        real = super().run_node(n)
        self.fx_node = n
        first = len(self.nodes)
        if n.op == "placeholder":
            self.sym[n] = self.placeholder_ref(n, real)
            return real
        if n.op == "output":
            self.finish(n)
            return real
        if n.op == "get_attr":
            self.sym[n] = self.const(real) if isinstance(real, torch.Tensor) else real
            return real
        from symjac.torch_interop.readers import read_node

        if isinstance(real, torch.Tensor) and not (real.is_floating_point() or real.is_complex()):
            raise refusal(n, op_text(n, self.module_of(n)), f"its result is a {real.dtype} "
                          "tensor, integer or boolean, which has no derivative",
                          "keep the model's values floating point")  # fmt: skip
        result = read_node(self, n, real)
        if isinstance(real, torch.Tensor) and not isinstance(result, Ref):
            raise refusal(n, op_text(n, self.module_of(n)), "symjac has no reading of its "
                          "tensor result", _UNSUPPORTED_FIX)  # fmt: skip
        self.sym[n] = result
        self.check(n, real, result)
        self.record_stages(n, first, result)
        return real

    def placeholder_ref(self, n: torch.fx.Node, real: Any) -> Any:
        if n.args and not isinstance(real, torch.Tensor):
            return real  # an argument with a default (forward(x, scale=2.0)): a constant
        if not isinstance(real, torch.Tensor):
            raise refusal(n, f"the argument {n.target!r} of forward", "it is not a tensor",
                          "give every argument of forward as a tensor")  # fmt: skip
        shape = tuple(real.shape[1:])
        offset = sum(p.size for p in self.parts)
        self.parts.append(InputPart(str(n.target), shape, offset))
        self.nodes.append(Node("input", (), {"part": len(self.parts) - 1}, shape, True))
        index = len(self.nodes) - 1
        self.vals[index] = real.detach().numpy()
        return Ref(index)

    def finish(self, n: torch.fx.Node) -> None:
        result = self.sym.get(n.args[0]) if isinstance(n.args[0], torch.fx.Node) else None
        if not self.batched(result):
            raise refusal(n, "the output of forward",
                          "it is not one tensor that depends on the input (a tuple, dict or "
                          "constant)", "return one tensor")  # fmt: skip
        self.result = result.index

    def check(self, n: torch.fx.Node, real: Any, result: Any) -> None:
        """The rule's value must be torch's, node by node (NOTE: reading-order)."""
        pairs = list(zip(result, real)) if isinstance(result, tuple) else [(result, real)]
        for ref, value in pairs:
            if not isinstance(ref, Ref) or not isinstance(value, torch.Tensor):
                continue
            node = self.nodes[ref.index]
            expected = value.detach().to(torch.float64).numpy()
            got = np.asarray(self.vals[ref.index], dtype=np.float64)
            lead = (_BATCH,) if node.batched else ()
            if expected.shape != (*lead, *node.shape) or got.shape != expected.shape:
                raise refusal(n, op_text(n, self.module_of(n)),
                              f"symjac read a result of shape {got.shape} where torch gives "
                              f"{tuple(expected.shape)}", _UNSUPPORTED_FIX)  # fmt: skip
            scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
            if not np.allclose(got, expected, rtol=1e-9, atol=1e-9 * scale, equal_nan=True):
                raise refusal(n, op_text(n, self.module_of(n)),
                              "symjac's reading does not reproduce torch's values",
                              _UNSUPPORTED_FIX)  # fmt: skip

    def module_of(self, n: torch.fx.Node) -> Any:
        return self.module.get_submodule(n.target) if n.op == "call_module" else None

    def record_stages(self, n: torch.fx.Node, first: int, result: Any) -> None:
        outputs = list(result) if isinstance(result, tuple) else [result]
        start = first
        for item, ref in enumerate(outputs):
            if not self.batched(ref) or ref.index < first:
                continue  # an alias (Identity, Dropout) or a constant: no stage of its own
            # a piece of split/chunk owns the nodes made after the previous piece
            own = tuple(i for i in range(start, ref.index + 1) if self.nodes[i].op != "const")
            start = ref.index + 1
            inputs = self.stage_inputs(n)
            name = self.stage_name(n, item if isinstance(result, tuple) else None)
            kind = (type(self.module_of(n)).__name__ if n.op == "call_module"
                    else op_text(n).removeprefix("the tensor method "))  # fmt: skip
            custom = n.target if getattr(n.target, "cls", None) is not None else None
            stage = Stage(name, kind, tuple(r.index for r, _ in inputs), own, source_of(n),
                          torch=(n, item if isinstance(result, tuple) else None,
                                 tuple(f for _, f in inputs)),
                          custom=custom)  # fmt: skip
            self.stages.append(stage)
            self.stage_names[ref.index] = name

    def stage_inputs(self, n: torch.fx.Node) -> list[tuple[Ref, torch.fx.Node]]:
        found: list[tuple[Ref, torch.fx.Node]] = []
        seen: set[int] = set()

        def visit(a: Any) -> None:
            if isinstance(a, torch.fx.Node):
                ref = self.sym.get(a)
                if self.batched(ref) and ref.index not in seen:
                    seen.add(ref.index)
                    found.append((ref, a))
            elif isinstance(a, (list, tuple)):
                for b in a:
                    visit(b)

        for a in (*n.args, *n.kwargs.values()):
            visit(a)
        return found

    def stage_name(self, n: torch.fx.Node, item: int | None) -> str:
        if n.op == "call_module":
            return str(n.target)
        args = [self.arg_name(a) for a in n.args]
        symbols = {operator.add: "+", operator.sub: "-", operator.mul: "*",
                   operator.truediv: "/", operator.matmul: "@", operator.pow: "**"}  # fmt: skip
        if n.op == "call_function" and n.target in symbols and len(args) == 2:
            text = f"{args[0]} {symbols[n.target]} {args[1]}"
        elif n.op == "call_function" and n.target is operator.getitem:
            text = f"{args[0]}[{_key_text(n.args[1])}]"
        else:
            fn = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "op")
            if getattr(n.target, "cls", None) is not None:
                fn = n.target.name
            text = f"{fn}({', '.join(a for a in args if a)})"
        return text if item is None else f"{text}[{item}]"

    def arg_name(self, a: Any) -> str:
        if isinstance(a, torch.fx.Node):
            ref = self.sym.get(a)
            if isinstance(ref, Ref) and ref.index in self.stage_names and a.op == "call_module":
                return str(a.target)
            if a.op == "call_function" and a.target is getattr:
                return f"{self.arg_name(a.args[0])}.{a.args[1]}"
            if a.op == "get_attr":  # a weight or buffer by its path; fx's folded ones as "c"
                return "c" if str(a.target).startswith("_tensor_constant") else str(a.target)
            return a.name
        if isinstance(a, (list, tuple)):
            return ", ".join(self.arg_name(b) for b in a)
        if isinstance(a, (int, float)):
            return repr(a)
        return ""


def _key_text(key: Any) -> str:
    """An index as written: ``:, 0:1`` or ``..., 1``."""
    parts = key if isinstance(key, tuple) else (key,)

    def one(k: Any) -> str:
        if isinstance(k, slice):
            text = f"{'' if k.start is None else k.start}:{'' if k.stop is None else k.stop}"
            return text + (f":{k.step}" if k.step is not None else "")
        return "..." if k is Ellipsis else repr(k)

    return ", ".join(one(k) for k in parts)


def _trace(module: nn.Module) -> torch.fx.GraphModule:
    from symjac.autograd_functions import intercepted

    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        with intercepted():
            graph = tracer.trace(module)
    except UnsupportedError:
        raise
    except (SystemExit, GeneratorExit) as err:
        raise ValueError(
            f"the forward of {type(module).__name__} raised {type(err).__name__} while it was "
            "traced; a forward must return a tensor, not exit"
        ) from None
    except Exception as err:  # fx raises many types; all mean "no fixed graph"
        text = (str(err).splitlines() or [type(err).__name__])[0]
        where = _user_frame(err)
        if "control flow" in text or "bool" in text.lower() or "iterate" in text:
            raise UnsupportedError(
                f"symjac cannot read the forward of {type(module).__name__}{where}: it branches "
                "or loops on a tensor's value (data-dependent control flow), so it has no fixed "
                "graph; compute both branches and select with arithmetic, or read each "
                "branch as its own model"
            ) from None
        raise UnsupportedError(
            f"symjac cannot read the forward of {type(module).__name__}{where}: torch.fx could "
            f"not trace it ({text[:160]}); write forward with tensor operations only"
        ) from None
    return torch.fx.GraphModule(tracer.root, graph, type(module).__name__)


def _user_frame(err: BaseException) -> str:
    """`` (at file.py:12: code)`` of the last frame of the user's code in ``err``'s traceback."""
    import traceback

    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(__file__)))
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith(skip)]
    if not frames or not frames[-1].line:
        return ""
    last = frames[-1]
    return f" (at {os.path.basename(last.filename)}:{last.lineno}: {last.line.strip()})"


_SHAPE_METHODS = {"size", "dim", "numel", "__getitem__", "clone", "contiguous", "detach",
                  "float", "double", "to", "type_as", "half"}  # fmt: skip


def static_check(gm: torch.fx.GraphModule) -> None:
    """Refuse, before anything runs, an operation that is in none of symjac's tables.

    >>> static_check(torch.fx.symbolic_trace(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3))))
    Traceback (most recent call last):
    ...
    symjac.exceptions.UnsupportedError: symjac cannot read the module Conv1d (in 0): ...
    """
    from symjac.autograd_functions import FunctionCall

    targets = torch_targets()
    for n in gm.graph.nodes:
        if n.op == "call_module":
            sub = gm.get_submodule(n.target)
            known = (nn.Identity, nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
            if ("call_module", type(sub)) in targets or isinstance(sub, known):
                continue
            raise refusal(n, op_text(n, sub), "symjac has no rule for this module",
                          _UNSUPPORTED_FIX)  # fmt: skip
        if n.op == "call_function":
            if ("call_function", n.target) in targets or isinstance(n.target, FunctionCall):
                continue
            if n.target in (getattr, operator.getitem) or getattr(n.target, "__name__", "") in (
                "dropout",
                "alpha_dropout",
                "iadd",
                "isub",
                "imul",
                "itruediv",
                "setitem",
            ):
                continue
            raise refusal(n, op_text(n), "symjac has no rule for this operation",
                          _UNSUPPORTED_FIX)  # fmt: skip
        if n.op == "call_method":
            if ("call_method", n.target) in targets or n.target in _SHAPE_METHODS:
                continue
            if n.target.endswith("_") or n.target in ("item", "tolist", "numpy"):
                continue  # refused with its own message when it runs
            raise refusal(n, op_text(n), "symjac has no rule for this tensor method",
                          _UNSUPPORTED_FIX)  # fmt: skip


def read_model(module: nn.Module, example_input: Any = None, *, input_names: Any = None) -> Model:
    """Read ``module`` into an exact :class:`~symjac.graph.Model` (see the module docstring).

    ``example_input`` gives the input sizes (a tensor, or a tuple for several
    arguments of ``forward``); without it they are inferred from the layers the
    inputs feed (a ``Linear``'s ``in_features``, a norm's shape).

    >>> m = read_model(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2)))
    >>> m.sizes, [s.name for s in m.stages]
    ((3, 2), ['0', '1'])
    """
    gm = _trace(module)
    static_check(gm)
    probe = _probe(gm, module, example_input)
    double = copy.deepcopy(gm).to(torch.float64)
    reader = _Reader(double, module)
    try:
        with torch.no_grad():
            reader.run(*probe)
    except UnsupportedError as err:  # fx appends the graph and a traceback: keep one line
        raise type(err)(str(err).split("\n\nWhile executing")[0]) from None
    except (SystemExit, GeneratorExit, KeyboardInterrupt):
        raise
    except Exception as err:  # the module's own forward failed on inputs of these shapes
        shapes = ", ".join(str((_BATCH, *p.shape)) for p in reader.parts) or "?"
        first = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise ValueError(
            f"{type(module).__name__} fails on inputs of shape {shapes} ({type(err).__name__}: "
            f"{first}); give example_input of the shape forward takes"
        ) from None
    assert reader.result is not None
    return Model(reader.nodes, reader.stages, reader.parts, reader.result, module=module,
                 input_names=input_names, fx_graph=gm.graph)  # fmt: skip


def _probe(gm: torch.fx.GraphModule, module: nn.Module, example_input: Any) -> list[Any]:
    from symjac.torch_interop.sizes import input_shapes

    shapes = input_shapes(gm, module, example_input)
    gen = torch.Generator().manual_seed(20240601)
    return [
        (torch.rand((_BATCH, *shape), generator=gen, dtype=torch.float64) * 1.5 - 0.75)
        for shape in shapes
    ]
