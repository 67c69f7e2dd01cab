"""Where the exact derivative does not exist and torch follows a convention (NOTE: conventions).

One module finds the kinks for :func:`symjac.compare` (at one point: a reason in
words) and :func:`symjac.scan` (at a batch: one flag per point):

* a :class:`~symjac.VectorMap`'s outputs are searched once for kink sites
  (:func:`map_kink_sites`: Abs, Max, Min, Heaviside, sign, Piecewise boundaries,
  fractional powers at 0, log at <= 0), each an expression and a test
  (:func:`at_kink`), evaluated exactly at a point or in float64 at a batch;
* a network's activations declare their ``kinks``; a pre-activation on one counts,
  whether the exact one is there or torch's own rounded one (a rounded
  pre-activation can land on the kink);
* a custom autograd.Function's input on its activation's kink
  (:func:`function_convention`).

>>> import sympy
>>> at_kink(sympy.Integer(0), "zero"), at_kink(-1.0, "nonpositive"), at_kink(2.0, "zero")
(True, True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
import sympy

from symjac.activations import Activation, kink_sites
from symjac.maps import VectorMap
from symjac.networks import Reference

if TYPE_CHECKING:
    from symjac.comparison.targets import Variant

__all__ = [
    "at_kink",
    "function_convention",
    "map_convention",
    "map_convention_flags",
    "map_kink_sites",
    "network_convention_flags",
    "network_conventions",
]


def at_kink(value: Any, test: str) -> Any:
    """Whether ``value`` (a number or an array) fails the kink ``test`` of :func:`map_kink_sites`.

    ``"zero"``: the derivative does not exist where the expression is 0;
    ``"nonpositive"``: where it is <= 0. Arrays give arrays of flags.

    >>> at_kink(np.array([0.0, 1.0]), "zero").tolist()
    [True, False]
    """
    if test == "zero":
        return value == 0
    return value <= 0


def map_kink_sites(vm: VectorMap) -> list[tuple[str, sympy.Expr, str]]:
    """Places where the map's derivative does not exist: (description, expression, test).

    >>> vm = VectorMap("Abs(x - 1)", "x")
    >>> [(e, t) for _, e, t in map_kink_sites(vm)]
    [(x - 1, 'zero')]
    """
    found = [site for expr in vm.outputs for site in kink_sites(expr)]
    return list(dict.fromkeys(found))


def _exact_value(expr: sympy.Expr, subs: dict[sympy.Symbol, sympy.Expr]) -> Any:
    value = expr.xreplace(subs)
    if value.is_Rational:
        return value
    number = sympy.N(value, 60)
    if not number.is_real or not number.is_finite:
        return number
    return 0 if abs(number) < sympy.Float("1e-45") else number


def map_convention(
    vm: VectorMap, sites: Sequence[tuple[str, sympy.Expr, str]], point: Sequence[float]
) -> str:
    """Why the map's derivative is a convention at ``point`` (exactly), or ``""``.

    >>> vm = VectorMap("Abs(x - 1)", "x")
    >>> map_convention(vm, map_kink_sites(vm), [1.0])
    "abs(u) at u = 0: torch uses abs'(0) = 0 (x - 1 = 0)"
    """
    subs = {s: sympy.Rational(v) for s, v in zip(vm.inputs, point)}
    notes = []
    for description, expr, test in sites:
        value = _exact_value(expr, subs)
        if value.is_number and value.is_real and at_kink(value, test):
            notes.append(f"{description} ({expr} = {value})")
    return "; ".join(notes)


def map_convention_flags(
    vm: VectorMap, sites: Sequence[tuple[str, sympy.Expr, str]], X: Any
) -> np.ndarray:
    """One flag per row of ``X`` (a ``(B, n)`` tensor): is the map at a kink there (float64)?

    >>> import torch
    >>> vm = VectorMap("Abs(x - 1)", "x")
    >>> map_convention_flags(vm, map_kink_sites(vm), torch.tensor([[1.0], [2.0]])).tolist()
    [True, False]
    """
    B = X.shape[0]
    flags = np.zeros(B, dtype=bool)
    for _, expr, test in sites:
        kink = VectorMap._trusted([expr], vm.inputs, name="k").numeric("numpy")
        values = np.broadcast_to(kink(X.double().numpy())[..., 0], (B,))
        flags |= at_kink(values, test)
    return flags


def network_conventions(
    variant: Variant, reference: Reference, torch_stages: Sequence[Any]
) -> dict[int, str]:
    """Layer index -> why that layer's derivative is a convention at this point.

    ``variant`` is the target's dtype variant (its ``network``, ``linears`` and
    ``dtype``), ``reference`` the exact values at its point and ``torch_stages``
    torch's own stage values (input first).
    """
    import torch

    found: dict[int, str] = {}
    for k, layer in enumerate(variant.network.layers):
        act = layer.activation
        if not act.kinks:
            continue
        with torch.no_grad():
            z_torch = variant.linears[k](torch_stages[k]).double().reshape(-1).tolist()
        for i, z in enumerate(reference.pre[k]):
            for kink in act.kinks:
                kv = float(kink)
                exact_hit = abs(z - (mpmath.mpf(kink.p) / kink.q if kink.is_Rational else kv)) < (
                    mpmath.mpf(10) ** -45 * (1 + abs(kv))
                )
                if exact_hit or z_torch[i] == kv:
                    where = "exactly" if exact_hit else f"in torch's {variant.dtype} forward pass"
                    found.setdefault(
                        k,
                        f"layer {k + 1} ({act.label}): pre-activation {i + 1} is {where} at the "
                        f"kink {kink}; {act.convention or 'torch picks one side'}",
                    )
    return found


def network_convention_flags(variant: Variant, X: Any) -> np.ndarray:
    """One flag per row of ``X``: does a pre-activation land on a kink, in float64 or in
    ``X``'s dtype (the batch form of :func:`network_conventions`)?"""
    import torch

    flags = np.zeros(X.shape[0], dtype=bool)
    with torch.no_grad():
        for dt in (torch.float64, X.dtype):
            a = X.to(dt)
            for lin, layer in zip(variant.linears, variant.network.layers):
                w = lin.weight.to(dt)
                z = a @ w.T + (0 if lin.bias is None else lin.bias.to(dt))
                for kink in layer.activation.kinks:
                    flags |= (z == float(kink)).any(-1).numpy()
                a = layer.activation.torch_function()(z)
    return flags


def function_convention(act: Activation, zs: Sequence[float], name: str) -> str:
    """Why a custom Function's Jacobian is a convention at its inputs ``zs``, or ``""``.

    >>> from symjac.activations import get_activation
    >>> print(function_convention(get_activation("relu"), [1.0, 0.0], "MyReLU"))
    input 2 of MyReLU is at its kink; torch uses relu'(0) = 0
    """
    hits = [i + 1 for i, v in enumerate(zs) for kink in act.kinks if sympy.Rational(v) == kink]
    return f"input {hits[0]} of {name} is at its kink; {act.convention}" if hits else ""
