r"""Activation functions, each defined once as a SymPy expression.

Every activation is an expression in one real symbol ``z``; its derivative is
computed by SymPy (never written by hand) the first time it is needed, and the
layer rule :math:`J_l = \operatorname{diag}(s'(z_l))\, W_l` instantiates it per
layer (NOTE: layer-rule in :mod:`symjac.networks`).

Where the derivative does not exist (the kink of ``relu`` at 0), the SymPy
value follows SymPy's convention (``Heaviside(0) = 1/2``) and ``kinks`` records
the point, with the rule torch applies there, so a comparison can report a
*convention* instead of a mismatch.

>>> act = get_activation("tanh")
>>> act.derivative
1 - tanh(z)**2
>>> get_activation("relu").kinks, get_activation("relu").derivative
((0,), Heaviside(z))
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from typing import Any

import sympy

from symjac.functions import sigmoid, softplus

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "kink_sites"]

#: the symbol every activation is written in
Z = sympy.Symbol("z", real=True)


@dataclasses.dataclass(frozen=True)
class Activation:
    """An elementwise activation :math:`s(z)` with its exact derivative.

    ``expr`` is written in the real symbol ``z``; ``params`` are the constants
    it was built with (for example ``negative_slope``); ``kinks`` are the
    points where the derivative does not exist and ``convention`` the value
    torch's autograd uses there. ``function`` is set for an activation read
    from a custom ``torch.autograd.Function`` (NOTE: custom-functions in
    :mod:`symjac.autograd_functions`): calling it runs the Function, with the
    user's backward.

    >>> act = get_activation("leaky_relu", negative_slope=0.25)
    >>> act(sympy.Integer(-2)), act.prime(sympy.Integer(-2))
    (-1/2, 1/4)
    """

    name: str
    expr: sympy.Expr
    params: tuple[tuple[str, Any], ...] = ()
    kinks: tuple[sympy.Expr, ...] = ()
    convention: str = ""
    function: Callable[[Any], Any] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

    @functools.cached_property
    def derivative(self) -> sympy.Expr:
        """:math:`s'(z)`, derived by SymPy once per activation."""
        return sympy.diff(self.expr, Z)

    def __call__(self, arg: sympy.Expr) -> sympy.Expr:
        """:math:`s(\\text{arg})`."""
        return self.expr if arg is Z else self.expr.xreplace({Z: arg})

    def prime(self, arg: sympy.Expr) -> sympy.Expr:
        """:math:`s'(\\text{arg})`."""
        return self.derivative if arg is Z else self.derivative.xreplace({Z: arg})

    @property
    def label(self) -> str:
        """The name with its parameters, e.g. ``leaky_relu(negative_slope=0.01)``."""
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params)})"

    def torch_function(self) -> Callable[[Any], Any]:
        """The torch function that computes this activation (used for twins and checks)."""
        if self.function is not None:
            return self.function
        import torch
        import torch.nn.functional as F

        p = dict(self.params)
        table: dict[str, Callable[[Any], Any]] = {
            "identity": lambda t: t,
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
            "relu": torch.relu,
            "softplus": lambda t: F.softplus(
                t, beta=p.get("beta", 1), threshold=p.get("threshold", 20)
            ),
            "leaky_relu": lambda t: F.leaky_relu(t, p.get("negative_slope", 0.01)),
            "elu": lambda t: F.elu(t, p.get("alpha", 1.0)),
            "silu": F.silu,
            "gelu": lambda t: F.gelu(t),
            "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        }
        if self.name not in table:  # a custom activation: symjac's torch code for its expression
            from symjac.numeric import compile_exprs

            fn = compile_exprs([self.expr], [Z], (), "torch")
            return lambda t: fn(t[..., None])
        return table[self.name]


def _exact(value: Any) -> sympy.Expr:
    from symjac.variables import exact_number

    return exact_number(value)


def _softplus(beta: float = 1.0, threshold: float = 20.0) -> Activation:
    b, t = _exact(beta), _exact(threshold)
    # torch returns the input itself above the threshold; model exactly that
    expr = sympy.Piecewise((Z, b * Z > t), (softplus(b * Z) / b, True))
    if beta == 1:
        expr = sympy.Piecewise((Z, t < Z), (softplus(Z), True))
    return Activation(
        "softplus",
        expr,
        (("beta", beta), ("threshold", threshold)),
        kinks=(t / b,),
        convention=f"torch switches to the identity for beta*z > {threshold}",
    )


def _leaky_relu(negative_slope: float = 0.01) -> Activation:
    a = _exact(negative_slope)
    return Activation(
        "leaky_relu",
        sympy.Piecewise((Z, Z > 0), (a * Z, True)),
        (("negative_slope", negative_slope),),
        kinks=(sympy.Integer(0),),
        convention=f"torch uses the slope {negative_slope} at z = 0",
    )


def _elu(alpha: float = 1.0) -> Activation:
    a = _exact(alpha)
    return Activation(
        "elu",
        sympy.Piecewise((Z, Z > 0), (a * (sympy.exp(Z) - 1), True)),
        (("alpha", alpha),),
        kinks=() if a == 1 else (sympy.Integer(0),),
        convention=f"torch uses alpha*exp(0) = {alpha} at z = 0",
    )


#: activation name -> factory taking the activation's parameters as keywords
ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "identity": lambda: Activation("identity", Z),
    "tanh": lambda: Activation("tanh", sympy.tanh(Z)),
    "sigmoid": lambda: Activation("sigmoid", sigmoid(Z)),
    "softplus": _softplus,
    "relu": lambda: Activation(
        "relu", sympy.Max(0, Z), kinks=(sympy.Integer(0),), convention="torch uses relu'(0) = 0"
    ),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "silu": lambda: Activation("silu", Z * sigmoid(Z)),
    "gelu": lambda: Activation("gelu", Z / 2 * (1 + sympy.erf(Z / sympy.sqrt(2)))),
    "gelu_tanh": lambda: Activation(
        "gelu_tanh",
        Z
        / 2
        * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (Z + sympy.Rational(44715, 10**6) * Z**3))),
    ),
}


@functools.cache
def _cached(name: str, params: tuple[tuple[str, Any], ...]) -> Activation:
    return ACTIVATIONS[name](**dict(params))


def get_activation(activation: str | Activation, **params: Any) -> Activation:
    """Look up an activation by name (with its parameters), or pass one through.

    >>> get_activation("sigmoid").derivative
    (1 - sigmoid(z))*sigmoid(z)
    >>> get_activation("swish")
    Traceback (most recent call last):
    ...
    ValueError: unknown activation 'swish'; supported: elu, gelu, gelu_tanh, identity, leaky_relu, relu, sigmoid, silu, softplus, tanh
    """
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(
            f"activation must be a name or an Activation, got {type(activation).__name__}"
        )
    key = activation.lower()
    if key in ("linear", "none"):
        key = "identity"
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; supported: {', '.join(sorted(ACTIVATIONS))}"
        )
    try:
        return _cached(key, tuple(sorted(params.items())))
    except TypeError:
        raise TypeError(
            f"activation {key!r} does not take the parameters {sorted(params)}"
        ) from None


def kink_sites(expr: sympy.Expr) -> list[tuple[str, sympy.Expr, str]]:
    """Where ``expr``'s derivative may not exist: ``(description, expression, test)`` triples.

    ``test`` is ``"zero"`` (the derivative fails where ``expression`` is 0) or
    ``"nonpositive"`` (where it is <= 0). Read by :func:`symjac.compare` for maps
    and for the forwards of custom autograd Functions (NOTE: conventions there).

    >>> [(e, t) for _, e, t in kink_sites(sympy.Abs(Z - 1) + sympy.log(Z))]
    [(z - 1, 'zero'), (z, 'nonpositive')]
    """
    found: list[tuple[str, sympy.Expr, str]] = []
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Abs):
            found.append(("abs(u) at u = 0: torch uses abs'(0) = 0", node.args[0], "zero"))
        elif isinstance(node, sympy.sign):
            found.append(("sign(u) at u = 0: torch uses 0", node.args[0], "zero"))
        elif isinstance(node, (sympy.Max, sympy.Min)):
            name = "max" if isinstance(node, sympy.Max) else "min"
            for a, b in itertools.combinations(node.args, 2):
                found.append(
                    (
                        f"{name} of tied arguments (clamp/relu at its kink): torch "
                        "splits or picks one side",
                        a - b,
                        "zero",
                    )
                )
        elif isinstance(node, sympy.Heaviside):
            found.append(
                ("Heaviside(u) at u = 0: the step has no derivative", node.args[0], "zero")
            )
        elif isinstance(node, sympy.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sympy.core.relational.Relational):
                    found.append(
                        ("a Piecewise boundary: torch takes one branch", rel.lhs - rel.rhs, "zero")
                    )
        elif isinstance(node, sympy.Pow):
            e = node.exp
            if e.is_number and e.is_Rational and not e.is_integer and e > 0 and e < 1:
                found.append(
                    ("a fractional power (sqrt) at 0: derivative infinite", node.base, "zero")
                )
        elif isinstance(node, sympy.log):
            found.append(("log(u) at u <= 0: not real there", node.args[0], "nonpositive"))
    return found
