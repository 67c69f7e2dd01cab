"""The input shapes of a traced model: from an example input, or read off the first layers.

NOTE: input-sizes
    ``forward(x, t)`` takes tensors whose sizes the module does not state. They are
    read from the first layer each input feeds through shape-preserving operations
    (elementwise functions, arithmetic with constants): a ``Linear``'s
    ``in_features``, a norm's ``normalized_shape`` or ``num_features``. Inputs joined
    by ``torch.cat`` before such a layer share its width: each input counts once per
    appearance (Fourier features ``cat([x, sin(x), cos(x)])`` count ``x`` three
    times) and unknown inputs are taken to be equally wide. The guess is then run
    through the module; when no guess runs, the error asks for ``example_input``.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx
from torch import nn

__all__ = ["example_tensor", "input_shapes"]

_PASS_THROUGH = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
                 torch.add, torch.sub, torch.mul, torch.div, torch.sin, torch.cos,
                 torch.tanh, torch.exp, torch.sigmoid}  # fmt: skip


def example_tensor(value: Any, expected: str) -> torch.Tensor:
    """``value`` as a finite float64 tensor, or a one-line TypeError/ValueError saying why.

    ``expected`` says what was wanted, for the message.

    >>> example_tensor([0.5, 1.0], "numbers").tolist()
    [0.5, 1.0]
    >>> example_tensor([float("nan")], "numbers")
    Traceback (most recent call last):
    ...
    ValueError: example input must be finite, got [nan]; give a point where the module's output is defined
    """
    try:
        t = torch.as_tensor(value).detach().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"example_input must be {expected}, got {type(value).__name__} "
            f"({(str(err).splitlines() or [''])[0][:80]})"
        ) from None
    if not bool(torch.isfinite(t).all()):
        raise ValueError(
            f"example input must be finite, got {t.reshape(-1)[:4].tolist()}; give a point "
            "where the module's output is defined"
        )
    return t


def _width(gm: torch.fx.GraphModule, node: torch.fx.Node) -> int | None:
    """The input width the layer ``node`` expects, if it is a layer that says so."""
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        if isinstance(sub, nn.Linear):
            return sub.in_features
        if isinstance(sub, (nn.LayerNorm, nn.RMSNorm)) and len(sub.normalized_shape) == 1:
            return int(sub.normalized_shape[0])
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            return sub.num_features
    if node.op == "call_function" and node.target is torch.nn.functional.linear:
        weight = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
        if isinstance(weight, torch.fx.Node) and weight.op == "get_attr":
            return int(gm.get_parameter(weight.target).shape[1])
    return None


def _feeds(gm: torch.fx.GraphModule, start: torch.fx.Node) -> tuple[int | None, Any]:
    """``(width, cat node or None)`` of the first sized layer ``start`` reaches."""
    frontier, cat = [start], None
    for _ in range(50):
        nxt = []
        for node in frontier:
            for user in node.users:
                width = _width(gm, user)
                if width is not None:
                    return width, cat
                if user.op == "call_function" and user.target in (torch.cat, torch.concat):
                    cat = cat or user
                    nxt.append(user)
                elif user.op in ("call_function", "call_method", "call_module"):
                    nxt.append(user)
        frontier = nxt
        if not frontier:
            break
    return None, None


def _roots(node: Any, placeholders: set[Any]) -> list[Any]:
    """The placeholders an argument of a cat derives from elementwise (one each)."""
    for _ in range(20):
        if node in placeholders:
            return [node]
        data = (
            [a for a in node.all_input_nodes if a.op != "get_attr"]
            if hasattr(node, "all_input_nodes")
            else []
        )
        if len(data) != 1:
            return []
        node = data[0]
    return []


def _guess(gm: torch.fx.GraphModule) -> list[tuple[int, ...]] | None:
    holders = [n for n in gm.graph.nodes if n.op == "placeholder" and not n.args]
    sizes: dict[Any, int] = {}
    for p in holders:
        width, cat = _feeds(gm, p)
        if width is None:
            return None
        if cat is None:
            sizes[p] = width
            continue
        counts: dict[Any, int] = {}
        for arg in cat.args[0]:
            for root in _roots(arg, set(holders)):
                counts[root] = counts.get(root, 0) + 1
        total = sum(counts.values())
        if total == 0 or width % total:
            return None
        for root in counts:
            sizes.setdefault(root, width // total)
    if any(p not in sizes for p in holders):
        return None
    return [(sizes[p],) for p in holders]


def _runs(module: nn.Module, shapes: list[tuple[int, ...]]) -> bool:
    try:
        with torch.no_grad():
            dtype = next((p.dtype for p in module.parameters()), torch.float32)
            module(*[torch.zeros((3, *s), dtype=dtype) for s in shapes])
        return True
    except Exception:  # any failure means the guess is wrong
        return False


def input_shapes(
    gm: torch.fx.GraphModule, module: nn.Module, example: Any
) -> list[tuple[int, ...]]:
    """Per-sample shapes of ``forward``'s tensor arguments (NOTE: input-sizes).

    >>> input_shapes(torch.fx.symbolic_trace(nn.Linear(3, 1)), nn.Linear(3, 1), None)
    [(3,)]
    """
    # arguments with a default (forward(x, scale=2.0)) are constants, not inputs
    holders = [n for n in gm.graph.nodes if n.op == "placeholder" and not n.args]
    if example is not None:
        tensors = isinstance(example, (tuple, list)) and all(
            isinstance(v, torch.Tensor) for v in example
        )
        several = isinstance(example, (tuple, list)) and (len(holders) > 1 or tensors)
        items = list(example) if several else [example]
        if len(items) != len(holders):
            raise ValueError(
                f"example_input has {len(items)} part(s) but forward takes {len(holders)} "
                f"({', '.join(str(h.target) for h in holders)}); give one tensor per argument"
            )
        shapes = []
        for item in items:
            t = example_tensor(item, "tensors or numbers, one per argument of forward")
            shapes.append(tuple(t.shape[1:]) if t.ndim >= 2 else (max(1, t.numel()),))
        return shapes
    shapes = _guess(gm)
    if shapes is None or not _runs(module, shapes):
        names = ", ".join(str(h.target) for h in holders)
        raise ValueError(
            f"symjac cannot tell the input sizes of {type(module).__name__} (forward takes "
            f"{names}); pass example_input=... (a tensor, or a tuple of one per argument)"
        )
    return shapes
