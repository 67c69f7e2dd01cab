r"""A traced model as a graph of stages, and every derivative of it by one accumulation.

NOTE: graph-accumulation
    A :class:`Model` is a list of :class:`~symjac.graph.primitives.Node`\ s in
    topological order, grouped into :class:`Stage`\ s (one per operation of the
    user's ``forward``: a module call, ``x + f(x)``, a ``torch.cat``). Its whole
    Jacobian is forward-mode accumulation over the graph: each node's tangent
    :math:`J_v = \sum_u \partial_u v \, J_u` over its arguments, seeded with the
    identity on the inputs; a residual ``x + f(x)`` gives :math:`I + J_f`. A stage's
    own Jacobian is the same accumulation seeded on the stage's inputs only. The
    rules are the table's (NOTE: one-rule-four-backends), so the compiled batched
    Jacobian, the exact reference at a point (mpmath at ``digits``, from the exact
    weights) and the symbolic Jacobian all follow this one path.

>>> import symjac, torch
>>> class Block(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = torch.nn.Linear(2, 2)
...     def forward(self, x):  # a residual block
...         y = torch.tanh(self.fc(x))
...         return x + y
>>> model = symjac.from_torch(Block())
>>> [s.name for s in model.stages]
['fc', 'tanh(fc)', 'x + tanh']
>>> J = model.numeric("numpy")([[0.1, 0.2]])
>>> expected = torch.func.jacrev(model.module)(torch.tensor([[0.1, 0.2]])).reshape(2, 2)
>>> bool(abs(J - expected.detach().numpy()).max() < 1e-6)
True
>>> print(model.chain_rule(latex=False)[-1])
J = I + D[tanh(fc)] D[fc]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from symjac import limits
from symjac.exceptions import LimitError
from symjac.graph.backends import MpOps, NumpyOps, Ops, SympyOps, TorchOps
from symjac.graph.primitives import PRIMITIVES, In, Node, Ref

__all__ = ["GraphReference", "InputPart", "Model", "ModelFunction", "Stage"]


@dataclasses.dataclass(frozen=True)
class InputPart:
    """One argument of ``forward``: its name, per-sample shape and place in the input vector.

    >>> InputPart("t", (1,), 1).size
    1
    """

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        """How many coordinates of the input vector this part holds."""
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One operation of the model's ``forward``, named for the user.

    ``name`` is the module path (``blocks.0.fc1``) or the source expression
    (``x + tanh``); ``kind`` what it is (``Linear``, ``add``, ``LayerNorm``...);
    ``inputs`` the nodes it reads (model inputs or earlier stages' outputs);
    ``nodes`` its own nodes, the last being its output; ``source`` the line of
    ``forward`` that made it. ``torch`` is ``(fx node, item, fx input nodes)``, from
    which :mod:`symjac.comparison.model_target` rebuilds the stage as torch computes it
    in each dtype; ``custom`` is the custom ``autograd.Function`` call it is, if any.

    >>> import symjac, torch
    >>> stage = symjac.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))).stages[1]
    >>> stage.name, stage.kind, stage.inputs
    ('1', 'LayerNorm', (1,))
    """

    name: str
    kind: str
    inputs: tuple[int, ...]
    nodes: tuple[int, ...]
    source: str = ""
    torch: Any = dataclasses.field(default=None, compare=False, repr=False)
    custom: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def output(self) -> int:
        """The node holding the stage's value."""
        return self.nodes[-1]


@dataclasses.dataclass
class GraphReference:
    """High-precision values of a model at one point (from :meth:`Model.reference`).

    ``values[k]`` is the exact value of stage ``k`` (flattened), ``stages[k]`` its
    Jacobian with respect to its inputs (concatenated, flattened, in
    ``Stage.inputs`` order) at the exact values, ``whole`` the whole Jacobian; all
    NumPy object arrays of mpmath numbers with ``digits`` plus guard digits; ``nodes``
    holds every node's value.

    >>> import symjac, torch
    >>> model = symjac.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2)))
    >>> [j.shape for j in model.reference([0.5, 0.25]).stages]
    [(2, 2), (2, 2)]
    """

    digits: int
    values: list[np.ndarray]
    stages: list[np.ndarray]
    whole: np.ndarray
    nodes: dict[int, np.ndarray]


def _arguments(nodes: Sequence[Node], node: Node, vals: dict, tans: dict, ops: Ops) -> list[In]:
    out = []
    for a in node.args:
        if isinstance(a, Ref):
            src = nodes[a.index]
            out.append(In(vals[a.index], tans.get(a.index), src.shape, src.batched))
        else:
            out.append(In(ops.number(a), None, None, False))
    return out


def run_nodes(
    nodes: Sequence[Node], order: Sequence[int], ops: Ops, vals: dict, tans: dict
) -> None:
    """Evaluate ``nodes[order]`` in place into ``vals``/``tans`` (NOTE: graph-accumulation)."""
    for i in order:
        node = nodes[i]
        if node.op == "const":
            vals[i], tans[i] = ops.const(node.params["value"]), None
        elif node.op != "input":
            rule = PRIMITIVES[node.op].rule
            vals[i], tans[i] = rule(ops, node, _arguments(nodes, node, vals, tans, ops))


class Model:
    """A torch model read exactly: a graph of stages (see NOTE: graph-accumulation).

    Made by :func:`symjac.from_torch` for any model that is not a plain chain of
    ``Linear`` layers and activations (those are a :class:`~symjac.Network`).
    ``parts`` are ``forward``'s arguments, which symjac treats as one input vector
    with named parts; ``inputs`` its SymPy symbols; ``sizes`` is ``(n_in, n_out)``.

    >>> import symjac, torch
    >>> model = symjac.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2)))
    >>> model.sizes, [s.name for s in model.inputs]
    ((3, 2), ['input1', 'input2', 'input3'])
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        stages: Sequence[Stage],
        parts: Sequence[InputPart],
        output: int,
        *,
        module: Any = None,
        input_names: Sequence[str] | None = None,
        fx_graph: Any = None,
    ):
        self.nodes = tuple(nodes)
        self.fx_graph = fx_graph  # the traced torch graph, for comparisons stage by stage
        self.stages = tuple(stages)
        self.parts = tuple(parts)
        self.output = output
        self.module = module
        self.n_in = sum(p.size for p in self.parts)
        self.n_out = math.prod(self.nodes[output].shape)
        self.sizes = (self.n_in, self.n_out)
        names = [name for p in self.parts for name in _coordinate_names(p)]
        if input_names is not None:
            names = [str(v) for v in input_names]
            if len(names) != self.n_in:
                raise ValueError(
                    f"{len(names)} input names for {self.n_in} inputs; give one name per "
                    "input coordinate"
                )
        self.inputs = tuple(sympy.Symbol(name, real=True) for name in names)
        self._input_nodes = [i for i, n in enumerate(self.nodes) if n.op == "input"]

    def __repr__(self) -> str:
        parts = ", ".join(f"{p.name}{list(p.shape)}" for p in self.parts)
        return (
            f"Model(inputs=[{parts}], outputs={self.n_out}, stages={len(self.stages)}, "
            f"weights=exact)"
        )

    @property
    def params(self) -> tuple[sympy.Symbol, ...]:
        """Free parameters: none, a traced model's weights are numbers."""
        return ()

    # -- evaluation -----------------------------------------------------------------------------
    def _seed(self, ops: Ops, x: Any, tangent: bool) -> tuple[dict, dict]:
        """Input values (``x`` is ``(N, n_in)`` in ``ops``' numbers) and their tangents."""
        vals: dict[int, Any] = {}
        tans: dict[int, Any] = {}
        n = x.shape[0]
        for i in self._input_nodes:
            part = self.parts[self.nodes[i].params["part"]]
            vals[i] = x[:, part.offset : part.offset + part.size].reshape((n, *part.shape))
            tans[i] = ops.seed(n, part.shape, part.offset, self.n_in) if tangent else None
        return vals, tans

    def evaluate(self, ops: Ops, x: Any, *, tangent: bool = True) -> tuple[dict, dict]:
        """Values and tangents of every node at the batch ``x`` (``(N, n_in)``)."""
        vals, tans = self._seed(ops, x, tangent)
        run_nodes(self.nodes, range(len(self.nodes)), ops, vals, tans)
        return vals, tans

    def stage_jacobian(self, ops: Ops, k: int, vals: dict) -> Any:
        """Stage ``k``'s Jacobian w.r.t. its inputs at the node values ``vals``: ``(N, m, n)``."""
        stage = self.stages[k]
        width = sum(math.prod(self.nodes[i].shape) for i in stage.inputs)
        local_vals, local_tans = dict(vals), {}
        offset = 0
        for i in stage.inputs:
            shape = self.nodes[i].shape
            n = vals[i].shape[0]
            local_tans[i] = ops.seed(n, shape, offset, width)
            offset += math.prod(shape)
        run_nodes(self.nodes, stage.nodes, ops, local_vals, local_tans)
        t = local_tans[stage.output]
        if t is None:
            return ops.zeros((vals[stage.output].shape[0], self._size(stage.output), width))
        return t.reshape((t.shape[0], self._size(stage.output), width))

    def _size(self, i: int) -> int:
        return math.prod(self.nodes[i].shape)

    def _whole(self, tans: dict, ops: Ops, n: int) -> Any:
        t = tans[self.output]
        if t is None:  # an output that does not depend on the input
            return ops.zeros((n, self.n_out, self.n_in))
        return t.reshape((n, self.n_out, self.n_in))

    # -- public derivatives ---------------------------------------------------------------------
    def numeric(self, backend: str = "numpy") -> ModelFunction:
        """The batched whole Jacobian, compiled: points ``(..., n_in)`` -> ``(..., n_out, n_in)``.

        ``backend`` is ``"numpy"`` (float64) or ``"torch"`` (the tensor's dtype and
        device). See NOTE: graph-accumulation.
        """
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
        return ModelFunction(self, backend)

    def reference(self, x: Any, *, digits: int = 50) -> GraphReference:
        """Exact values, stage Jacobians and whole Jacobian at one point, to ``digits`` digits.

        The weights enter as the exact binary values the tensors hold and every
        operation runs in mpmath, so ``digits`` digits are right (NOTE:
        graph-accumulation).
        """
        from symjac.variables import exact_point

        if not isinstance(digits, int) or isinstance(digits, bool) or not 15 <= digits <= 1000:
            raise ValueError(f"digits must be an int between 15 and 1000, got {digits!r}")
        self._check_reference_cost(digits)
        point = list(exact_point(x, self.inputs).values())
        ops = MpOps(digits)
        ctx = ops.ctx
        row = [
            ctx.mpf(v.p) / v.q if v.is_Rational else ctx.mpf(str(sympy.N(v, ctx.dps)))
            for v in point
        ]
        x_mp = np.array([[*row, None]], dtype=object)[:, :-1]
        vals, tans = self.evaluate(ops, x_mp)
        stage_vals = [vals[s.output].reshape(-1) for s in self.stages]
        stage_jacs = [self.stage_jacobian(ops, k, vals)[0] for k in range(len(self.stages))]
        nodes = {i: v for i, v in vals.items()}
        return GraphReference(digits, stage_vals, stage_jacs, self._whole(tans, ops, 1)[0], nodes)

    def _check_reference_cost(self, digits: int) -> None:
        # mpmath does about a million multiplications a second at 50 digits: refuse what
        # would take minutes, before doing any of it
        cost, cap = self.flops() * max(1.0, digits / 50), limits.current().max_reference_ops
        if cost > cap:
            raise LimitError(
                f"the exact reference of this model takes about {cost:.2g} high-precision "
                f"operations; the limit is max_reference_ops={cap} (minutes of work). Use "
                "model.numeric() for float64 values, or raise it with "
                "symjac.limits.override(max_reference_ops=...)"
            )

    def flops(self) -> int:
        """Multiplications of one Jacobian evaluation (for cost bounds and benchmarks)."""
        total = 0
        for node in self.nodes:
            size = math.prod(node.shape)
            if node.op == "linear":
                total += node.params["weight"].size * (self.n_in + 1)
            elif node.batched and node.op != "input":
                total += size * (self.n_in + 1)
        return total

    def chain_rule(self, *, latex: bool = True) -> list[str]:
        """The chain rule along the graph, one line per stage (see :func:`chain_rule`)."""
        return chain_rule(self, latex=latex)

    def latex(self) -> str:
        r"""The stages and the chain rule along the graph, as one LaTeX ``aligned`` block."""
        rows = [line.replace(" = ", " &= ", 1) for line in chain_rule(self, latex=True)]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def as_map(self) -> Any:
        """The model as an exact symbolic :class:`~symjac.VectorMap` (size-limited)."""
        from symjac.maps import VectorMap

        exprs = self._symbolic_outputs()
        names = ["y"] if len(exprs) == 1 else [f"y{i + 1}" for i in range(len(exprs))]
        return VectorMap(exprs, self.inputs, output_names=names, name="model")

    def jacobian(self) -> Any:
        """The whole Jacobian as exact SymPy expressions (size-limited; see :meth:`as_map`)."""
        return self.as_map().jacobian()

    def _symbolic_outputs(self) -> list[sympy.Expr]:
        cost, cap = self.symbolic_cost(), limits.current().max_jacobian_ops
        if cost > cap:
            raise LimitError(
                f"the symbolic expression of this model would have about {cost} SymPy "
                f"operations; the limit is max_jacobian_ops={cap}. Use .numeric() or "
                ".reference(x) for numbers, or raise it with "
                "symjac.limits.override(max_jacobian_ops=...)"
            )
        ops = SympyOps()
        x = np.array([[*self.inputs, None]], dtype=object)[:, :-1]
        vals, _ = self.evaluate(ops, x, tangent=False)
        return [sympy.sympify(v) for v in np.asarray(vals[self.output]).reshape(-1)]

    def symbolic_cost(self) -> int:
        """Estimated SymPy operations of the whole symbolic expression, before building it."""
        per_entry: dict[int, float] = {}
        total = 0.0
        for i, node in enumerate(self.nodes):
            refs = [per_entry.get(a.index, 1.0) for a in node.args if isinstance(a, Ref)]
            if node.op in ("input", "const"):
                c = 1.0
            elif node.op == "linear":
                c = node.params["weight"].shape[1] * (max(refs) + 2)
            elif node.op == "sum":
                inner = math.prod(self.nodes[node.args[0].index].shape) / max(
                    1, math.prod(node.shape)
                )
                c = inner * (max(refs) + 1)
            else:
                c = sum(refs) + 4
            per_entry[i] = c
            if i == self.output:
                total = c * math.prod(node.shape)
        return int(total)


def _coordinate_names(part: InputPart) -> list[str]:
    if part.size == 1:
        return [part.name]
    return [f"{part.name}{i + 1}" for i in range(part.size)]


class ModelFunction:
    """The compiled batched Jacobian of a :class:`Model` (see :meth:`Model.numeric`).

    >>> import symjac, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    >>> fn = symjac.from_torch(net).numeric("torch")
    >>> fn(torch.zeros(5, 2, dtype=torch.float32)).shape
    torch.Size([5, 2, 2])
    """

    def __init__(self, model: Model, backend: str):
        self.model = model
        self.backend = backend

    def __repr__(self) -> str:
        return f"ModelFunction({self.backend!r}, n_in={self.model.n_in}, n_out={self.model.n_out})"

    @property
    def kernels(self) -> dict[str, str]:
        """What computes the elementwise work: the backend's own vectorised functions."""
        return {"elementwise": f"{self.backend} (SymPy-generated, NOTE: codegen)"}

    def __call__(self, points: Any) -> Any:
        n = self.model.n_in
        if self.backend == "torch":
            import torch

            if not isinstance(points, torch.Tensor):
                points = torch.as_tensor(np.asarray(points, dtype=np.float64))
            if not points.is_floating_point():
                raise TypeError(
                    f"expected a floating-point tensor, got {points.dtype}; convert it first, "
                    "e.g. x.to(torch.float64)"
                )
            ops: Ops = TorchOps(points.dtype, points.device)
        else:
            if type(points).__module__.startswith("torch"):
                points = points.detach().cpu().numpy()
            points = np.asarray(points, dtype=np.float64)
            ops = NumpyOps()
        shape = tuple(points.shape)
        if not shape or shape[-1] != n:
            names = ", ".join(s.name for s in self.model.inputs)
            raise ValueError(
                f"expected points of shape (..., {n}) with coordinates in the order ({names}), "
                f"got shape {shape}"
            )
        batch = shape[:-1]
        flat = points.reshape((-1, n))
        with np.errstate(all="ignore"):
            _, tans = self.model.evaluate(ops, flat)
        whole = self.model._whole(tans, ops, flat.shape[0])
        return whole.reshape((*batch, self.model.n_out, n))


def chain_rule(model: Model, *, latex: bool = True, max_terms: int = 8) -> list[str]:
    r"""The chain rule along the graph: one line per stage, then the whole Jacobian.

    :math:`D_s` is stage ``s``'s own Jacobian and :math:`J_s` the Jacobian of its
    value with respect to the model's input, accumulated from its inputs' (NOTE:
    graph-accumulation): :math:`J_s = \sum_u D_s^{(u)} J_u`, where a sum or
    difference of two values adds their Jacobians. The last line expands the whole
    Jacobian into products of stage Jacobians when it has at most ``max_terms``
    terms: a residual block shows :math:`I + D_f`.

    >>> import symjac, torch
    >>> class Residual(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(2, 2)
    ...     def forward(self, x):
    ...         return x + torch.tanh(self.fc(x))
    >>> print("\n".join(chain_rule(symjac.from_torch(Residual()), latex=False)))
    J[fc] = D[fc]
    J[tanh(fc)] = D[tanh(fc)] J[fc]
    J[x + tanh] = I + J[tanh(fc)]
    J = I + D[tanh(fc)] D[fc]
    """

    def sym(letter: str, text: str) -> str:
        return rf"{letter}_{{\mathrm{{{_tex(text)}}}}}" if latex else f"{letter}[{text}]"

    names = {s.output: s.name for s in model.stages}
    seeds: dict[int, str] = {}
    for i, node in enumerate(model.nodes):
        if node.op == "input":
            part = model.parts[node.params["part"]]
            seeds[i] = "I" if len(model.parts) == 1 else sym("E", part.name)
    expanded: dict[int, list[tuple[int, list[str]]]] = {i: [(1, [e])] for i, e in seeds.items()}
    lines = []
    for stage in model.stages:

        def acc(i: int) -> str:
            return seeds[i] if i in seeds else sym("J", names[i])

        if stage.kind in ("add", "sub") and len(stage.inputs) == 2:
            a, b = stage.inputs
            rhs = f"{acc(a)} {'+' if stage.kind == 'add' else '-'} {acc(b)}"
            sign = 1 if stage.kind == "add" else -1
            expanded[stage.output] = expanded[a] + [(sign * c, p) for c, p in expanded[b]]
        else:
            parts, terms = [], []
            for i in stage.inputs:
                local = sym("D", stage.name)
                if len(stage.inputs) > 1:
                    wrt = names.get(i) or model.parts[model.nodes[i].params["part"]].name
                    local += rf"^{{(\mathrm{{{_tex(wrt)}}})}}" if latex else f"[{wrt}]"
                parts.append(f"{local} {acc(i)}".replace(" I", ""))
                terms += [(c, [local, *p]) for c, p in expanded[i]]
            rhs = " + ".join(parts)
            expanded[stage.output] = terms
        lines.append(f"{sym('J', stage.name)} = {rhs}")
    whole = expanded.get(model.output, [])
    if len(whole) <= max_terms:
        lines.append(f"J = {_terms_text(whole)}")
    else:
        lines.append(
            f"J = {sym('J', names[model.output])}  ({len(whole)} products along the graph)"
        )
    return lines


def _tex(text: str) -> str:
    return "".join("\\" + c if c in "_#%&{}$" else c for c in text)


def _terms_text(terms: list[tuple[int, list[str]]]) -> str:
    out = ""
    for c, factors in terms:
        body = " ".join(f for f in factors if f != "I") or "I"
        if not out:
            out = f"-{body}" if c < 0 else body
        else:
            out += f" {'-' if c < 0 else '+'} {body}"
    return out or "0"
