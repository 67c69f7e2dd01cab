"""Graph models as comparison targets: any traced module that is not a plain chain.

Each stage of the :class:`~symjac.graph.Model` (``blocks.0.fc1``, ``x + tanh``,
``cat(x, t)``) is a quantity of its own: torch's Jacobian of that one operation,
at torch's own values of its inputs, held to the exact stage Jacobian along the
exact forward pass. ``chain`` accumulates torch's stage Jacobians along the graph
(NOTE: graph-accumulation), and ``whole`` is every torch method on the module.
NOTE: target-protocol in :mod:`symjac.comparison.targets`.

>>> import symjac, torch
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
>>> report = symjac.compare(model, [0.1, 0.2], dtypes=["float64"], methods=["jacrev"])
>>> sorted({r.quantity for r in report.rows}), report.ok
(['0', '1', 'chain', 'whole'], True)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

from symjac.comparison.collect import DtypeRows
from symjac.comparison.methods import batched_jacobian
from symjac.comparison.targets import DtypeChecks, StageCheck, Target, Variant, register_target
from symjac.graph.model import Model

__all__ = ["ModelTarget"]


def _split(model: Model, flat: Any) -> list[Any]:
    """A flat point ``(n,)`` or batch ``(B, n)`` as ``forward``'s arguments ``(B, *shape)``."""
    batch = flat.reshape(-1, model.n_in)
    return [
        batch[:, p.offset : p.offset + p.size].reshape(batch.shape[0], *p.shape)
        for p in model.parts
    ]


def _whole_function(model: Model, module: Any) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        out = module(*_split(model, x))
        return out.reshape(-1) if x.ndim == 1 else out.reshape(x.shape[0], -1)

    return fn


def _torch_values(model: Model, module: Any, x: Any) -> dict[Any, Any]:
    """torch's own value of every traced node at ``x`` (in the module's dtype)."""
    import torch
    import torch.fx

    gm = torch.fx.GraphModule(module, model.fx_graph)
    env: dict[Any, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            env[n.name] = super().run_node(n)  # by name: GraphModule may copy the graph
            return env[n.name]

    with torch.no_grad():
        Recorder(gm).run(*_split(model, x))
    return env


def _stage_function(model: Model, k: int, module: Any, env: dict[Any, Any]) -> Callable[[Any], Any]:
    """Stage ``k`` as torch computes it: a function of its inputs, flattened and joined."""
    import torch
    import torch.fx

    fx_node, item, fx_inputs = model.stages[k].torch
    shapes = [model.nodes[i].shape for i in model.stages[k].inputs]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]

    def fn(flat: Any) -> Any:
        pieces = torch.split(flat, sizes)
        given = {f.name: p.reshape(1, *s) for f, p, s in zip(fx_inputs, pieces, shapes)}
        args = torch.fx.node.map_arg(fx_node.args, lambda a: given.get(a.name, env[a.name]))
        kwargs = torch.fx.node.map_arg(fx_node.kwargs, lambda a: given.get(a.name, env[a.name]))
        if fx_node.op == "call_module":
            out = module.get_submodule(fx_node.target)(*args, **kwargs)
        elif fx_node.op == "call_method":
            out = getattr(args[0], fx_node.target)(*args[1:], **kwargs)
        else:
            out = fx_node.target(*args, **kwargs)
        return (out if item is None else out[item]).reshape(-1)

    return fn


class ModelTarget(Target):
    """A traced graph model with the module it was read from."""

    def __init__(self, model: Model, module: Any, label: str):
        self.model = model
        self.module = module
        self.label = label
        self.n_in, self.n_out = model.n_in, model.n_out
        self.input_names = [s.name for s in model.inputs]

    @classmethod
    def from_model(cls, model: Model, n_hint: int | None = None) -> ModelTarget:
        """The target of a :class:`~symjac.graph.Model` (compared through its module)."""
        return cls(model, model.module, f"Model {list(model.sizes)}")

    @property
    def functions(self) -> list[tuple[int, Any]]:
        """(stage index, FunctionCall) of each custom autograd.Function in the model."""
        return [(k, s.custom) for k, s in enumerate(self.model.stages) if s.custom is not None]

    def variant(self, dtype: str, x64: np.ndarray) -> Variant:
        """The point and the module cast to ``dtype``, read again (NOTE: honest-reference)."""
        from symjac.torch_interop.reader import read_model

        var = super().variant(dtype, x64)
        var.module = copy.deepcopy(self.module).to(var.x.dtype)
        var.model = read_model(var.module, tuple(_split(self.model, var.x.double())))
        var.weights_changed = _weights(var.model) != _weights(self.model)
        if var.weights_changed:
            var.notes.append(
                f"weights rounded to {dtype}; the exact reference uses the rounded weights "
                "(see NOTE: honest-reference)"
            )
        return var

    def checks(self, dtype: str, x64: np.ndarray) -> DtypeChecks:
        import torch

        var = self.variant(dtype, x64)
        model = var.model
        ref = model.reference(var.point)
        env = _torch_values(model, var.module, var.x)
        stages = []
        for k, stage in enumerate(model.stages):
            fx_inputs = stage.torch[2]
            point = torch.cat([env[f.name].reshape(-1) for f in fx_inputs])
            convention = _kink(model, k, ref)
            stages.append(StageCheck(stage.name, _stage_function(model, k, var.module, env),
                                     point, ref.stages[k], convention))  # fmt: skip

        def chain(values: list[Any]) -> Any:
            return _accumulate(model, [v.detach() for v in values], var.x.dtype)

        def extra_rows(rows: DtypeRows) -> None:
            for k, call in self.functions:
                self._function_rows(var, k, call, stages[k].point, rows)

        return DtypeChecks(
            variant=var,
            function=_whole_function(model, var.module),
            exact=ref.whole,
            own=model.numeric("torch"),
            convention="; ".join(s.convention for s in stages if s.convention),
            stages=stages,
            chain=chain,
            chain_exact=ref.whole,
            extra_rows=extra_rows,
        )

    def _function_rows(self, var: Variant, k: int, call: Any, z: Any, rows: DtypeRows) -> None:
        """A custom Function's own backward (and jvp), held to its forward's exact Jacobian."""
        from symjac.autograd_functions import backward_jacobian, jvp_jacobian
        from symjac.graph.backends import MpOps

        node = var.model.nodes[var.model.stages[k].output]
        ops = MpOps(50)
        zs = ops.const(z.double().cpu().numpy())
        _, slopes = ops.elementwise(node.params["activation"], zs)
        exact = ops.zeros((len(slopes), len(slopes)))
        for i, slope in enumerate(slopes):
            exact[i, i] = slope
        where = f"the custom autograd.Function {call.name} at stage {var.model.stages[k].name}"
        methods = [("backward", backward_jacobian)] + (
            [("jvp", jvp_jacobian)] if call.has_jvp else []
        )
        for method, jac in methods:
            value = rows.attempt(call.name, method, lambda jac=jac: jac(call, z))
            if value is not None:
                rows.add(call.name, method, value, exact, "", note=where)

    def exact_hessian(self, variant: Variant) -> np.ndarray:
        from symjac.exceptions import UnsupportedError

        raise UnsupportedError(
            "second-order comparison (order=2) of graph models is not supported yet; "
            "compare with order=1, or use symjac.hessian on a Network or a VectorMap"
        )

    def batch_exact(self, variant: Variant, points: np.ndarray) -> np.ndarray:
        return np.stack([variant.model.reference(list(p)).whole for p in points])

    def batch_conventions(self, variant: Variant, X: Any) -> np.ndarray:
        points = np.asarray(X.detach().double().cpu().numpy()).reshape(-1, self.n_in)
        return np.array([bool(_kinks_at(variant.model, variant.model.reference(list(p))))
                         for p in points])  # fmt: skip

    def batch_jacobian(self, variant: Variant, method: str, X: Any, m: int, n: int) -> Any:
        if method == "symjac":
            return variant.model.numeric("torch")(X).reshape(-1, m, n)
        fn = _whole_function(variant.model, variant.module)
        return batched_jacobian(method, fn, X, m, n, per_point=True,
                                vmappable=not self.functions)  # fmt: skip


def _weights(model: Model) -> list[bytes]:
    out = []
    for node in model.nodes:
        for key in ("value", "weight", "bias"):
            value = node.params.get(key)
            if isinstance(value, np.ndarray):
                out.append(value.tobytes())
    return out


def _kinks_at(model: Model, ref: Any, only: Any = None) -> list[str]:
    """Elementwise nodes (of ``only``, or all) whose exact input sits on a kink of their function."""
    found = []
    for i, node in enumerate(model.nodes):
        act = node.params.get("activation") if node.op == "elementwise" else None
        if act is None or not act.kinks or (only is not None and i not in only):
            continue
        values = np.asarray(ref.nodes[node.args[0].index], dtype=object).reshape(-1)
        for kink in act.kinks:
            target = mpmath.mpf(kink.p) / kink.q if kink.is_Rational else mpmath.mpf(float(kink))
            if any(v == target for v in values):
                found.append(f"{act.name} at its kink {kink}: {act.convention}")
    return found


def _kink(model: Model, k: int, ref: Any) -> str:
    return "; ".join(_kinks_at(model, ref, set(model.stages[k].nodes)))


def _accumulate(model: Model, values: list[Any], dtype: Any) -> Any:
    """torch's stage Jacobians accumulated along the graph into the whole Jacobian."""
    import torch

    jac: dict[int, Any] = {}
    for i, node in enumerate(model.nodes):
        if node.op == "input":
            part = model.parts[node.params["part"]]
            eye = torch.eye(model.n_in, dtype=dtype)
            jac[i] = eye[part.offset : part.offset + part.size]
    for k, stage in enumerate(model.stages):
        blocks = [jac[i] for i in stage.inputs]
        jac[stage.output] = values[k].reshape(-1, sum(b.shape[0] for b in blocks)) @ torch.cat(
            blocks
        )
    if model.output not in jac:
        return torch.zeros(model.n_out, model.n_in, dtype=dtype)
    return jac[model.output]


register_target(lambda obj: isinstance(obj, Model), ModelTarget.from_model)
