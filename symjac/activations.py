r"""Activation functions, each defined once as a SymPy expression.

Every activation is an expression in one real symbol ``z``; its derivative is
computed by SymPy (never written by hand) the first time it is needed, and the
layer rule :math:`J_l = \operatorname{diag}(s'(z_l))\, W_l` instantiates it per
layer (NOTE: layer-rule in :mod:`symjac.networks`).

Where the derivative does not exist (the kink of ``relu`` at 0), the SymPy
value follows SymPy's convention (``Heaviside(0) = 1/2``) and ``kinks`` records
the point, with the rule torch applies there, so a comparison can report a
*convention* instead of a mismatch.

NOTE: two-way-table
    :data:`TABLE` has one entry per elementwise function: its SymPy factory and
    its torch spellings (an ``nn`` module, ``torch.*``/``F.*`` functions, tensor
    methods, with the torch keywords of its parameters). It is read forwards by
    ``symjac.torch_interop.reader.torch_targets`` (a traced torch call -> the entry,
    checked one-to-one: no spelling may name two entries) and backwards by
    ``torch_function`` (an :class:`Activation` -> torch's own function, for twins
    and checks). Adding an activation is one entry here plus its tests
    (``tests/test_activations.py`` holds each to torch; ``tests/test_graph.py``
    checks the table is complete).

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

__all__ = [
    "ACTIVATIONS",
    "ELEMENTWISE",
    "TABLE",
    "Activation",
    "Entry",
    "Spelling",
    "get_activation",
    "kink_sites",
]

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
        """The torch function that computes this activation (used for twins and checks).

        Read from the one two-way table of torch spellings
        (:data:`symjac.graph.primitives.ELEMENTWISE`); a custom Function is itself.
        """
        if self.function is not None:
            return self.function
        from symjac.torch_interop.reader import torch_function

        return torch_function(self)


@dataclasses.dataclass(frozen=True)
class Spelling:
    """How one elementwise function appears in torch: module, functions, methods, params.

    ``params`` are ``(symjac name, torch keyword, position after the input)``; a
    module's attribute of the same torch keyword gives the value.

    >>> ELEMENTWISE["leaky_relu"].params
    (('negative_slope', 'negative_slope', 0),)
    """

    module: str | None
    functions: tuple[str, ...]
    methods: tuple[str, ...]
    params: tuple[tuple[str, str, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of :data:`TABLE`: the SymPy factory and the torch spellings of a function.

    >>> TABLE["tanh"].build().expr, TABLE["tanh"].torch.module
    (tanh(z), 'Tanh')
    """

    build: Callable[..., Activation]
    torch: Spelling


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


def _kinked(name: str, expr: sympy.Expr, params: tuple[tuple[str, Any], ...], kinks: Any,
            convention: str) -> Activation:  # fmt: skip
    return Activation(name, expr, params, tuple(sympy.sympify(k) for k in kinks), convention)


def _celu(alpha: float = 1.0) -> Activation:
    a = _exact(alpha)
    expr = sympy.Piecewise((Z, Z > 0), (a * (sympy.exp(Z / a) - 1), True))
    return Activation("celu", expr, (("alpha", alpha),))  # C1 at 0: no kink


def _hardtanh(min_val: float = -1.0, max_val: float = 1.0) -> Activation:
    lo, hi = _exact(min_val), _exact(max_val)
    return _kinked("hardtanh", sympy.Max(lo, sympy.Min(hi, Z)),
                   (("min_val", min_val), ("max_val", max_val)), (lo, hi),
                   "torch uses hardtanh' = 0 at min_val and max_val")  # fmt: skip


def _clamp(min: float | None = None, max: float | None = None) -> Activation:
    expr: sympy.Expr = Z
    kinks = []
    if max is not None:
        expr = sympy.Min(_exact(max), expr)
        kinks.append(_exact(max))
    if min is not None:
        expr = sympy.Max(_exact(min), expr)
        kinks.insert(0, _exact(min))
    return _kinked("clamp", expr, (("min", min), ("max", max)), kinks,
                   "torch uses clamp' = 1 at min and max")  # fmt: skip


def _power(exponent: float = 2.0) -> Activation:
    e = _exact(exponent)
    fractional = e.is_Rational and not e.is_integer
    kinks = (0,) if fractional or e.is_negative else ()
    return _kinked("pow", Z**e, (("exponent", exponent),), kinks,
                   "torch's pow at 0 gives inf or nan for this exponent")  # fmt: skip


# torch's SELU constants, as the doubles torch computes with (NOTE: honest-reference)
def _selu() -> Activation:
    alpha, scale = _exact(1.6732632423543772), _exact(1.0507009873554805)
    return _kinked("selu", scale * sympy.Piecewise((Z, Z > 0), (alpha * (sympy.exp(Z) - 1), True)),
                   (), (0,), "torch uses scale*alpha = 1.7581 at z = 0")  # fmt: skip


def _hard() -> sympy.Expr:
    # relu6(z + 3) / 6, built when first used: Max/Min cost SymPy 0.1 s, too much for import
    return sympy.Max(0, sympy.Min(1, Z / 6 + sympy.Rational(1, 2)))


#: every elementwise function: its SymPy form (a factory taking its parameters) and how torch
#: spells it (module, functions, methods, parameters). One entry per function: the reader,
#: the torch twins and the docs all read this table (NOTE: two-way-table).
TABLE: dict[str, Entry] = {
    "identity": Entry(
        lambda: Activation("identity", Z),
        Spelling(None, (), ()),
    ),
    "tanh": Entry(
        lambda: Activation("tanh", sympy.tanh(Z)),
        Spelling("Tanh", ("torch.tanh", "F.tanh"), ("tanh",)),
    ),
    "sigmoid": Entry(
        lambda: Activation("sigmoid", sigmoid(Z)),
        Spelling("Sigmoid", ("torch.sigmoid", "F.sigmoid", "torch.special.expit"), ("sigmoid",)),
    ),
    "softplus": Entry(
        _softplus,
        Spelling(
            "Softplus", ("F.softplus",), (), (("beta", "beta", 0), ("threshold", "threshold", 1))
        ),
    ),
    "relu": Entry(
        lambda: Activation(
            "relu", sympy.Max(0, Z), kinks=(sympy.Integer(0),), convention="torch uses relu'(0) = 0"
        ),
        Spelling("ReLU", ("torch.relu", "F.relu"), ("relu",)),
    ),
    "leaky_relu": Entry(
        _leaky_relu,
        Spelling("LeakyReLU", ("F.leaky_relu",), (), (("negative_slope", "negative_slope", 0),)),
    ),
    "elu": Entry(
        _elu,
        Spelling("ELU", ("F.elu",), (), (("alpha", "alpha", 0),)),
    ),
    "silu": Entry(
        lambda: Activation("silu", Z * sigmoid(Z)),
        Spelling("SiLU", ("F.silu",), ()),
    ),
    "gelu": Entry(
        lambda: Activation("gelu", Z / 2 * (1 + sympy.erf(Z / sympy.sqrt(2)))),
        Spelling("GELU", ("F.gelu",), ()),
    ),
    "gelu_tanh": Entry(
        lambda: Activation(
            "gelu_tanh",
            Z
            / 2
            * (
                1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (Z + sympy.Rational(44715, 10**6) * Z**3))
            ),
        ),
        Spelling("GELU(approximate='tanh')", ("F.gelu(approximate='tanh')",), ()),
    ),
    "selu": Entry(
        _selu,
        Spelling("SELU", ("torch.selu", "F.selu"), ()),
    ),
    "celu": Entry(
        _celu,
        Spelling("CELU", ("torch.celu", "F.celu"), (), (("alpha", "alpha", 0),)),
    ),
    "mish": Entry(
        lambda: Activation("mish", Z * sympy.tanh(softplus(Z))),
        Spelling("Mish", ("F.mish",), ()),
    ),
    "hardtanh": Entry(
        _hardtanh,
        Spelling(
            "Hardtanh", ("F.hardtanh",), (), (("min_val", "min_val", 0), ("max_val", "max_val", 1))
        ),
    ),
    "relu6": Entry(
        lambda: _kinked(
            "relu6",
            sympy.Min(6, sympy.Max(0, Z)),
            (),
            (0, 6),
            "torch uses relu6' = 0 at 0 and at 6",
        ),
        Spelling("ReLU6", ("F.relu6",), ()),
    ),
    "hardsigmoid": Entry(
        lambda: _kinked(
            "hardsigmoid", _hard(), (), (-3, 3), "torch uses hardsigmoid' = 0 at -3 and 3"
        ),
        Spelling("Hardsigmoid", ("F.hardsigmoid",), ()),
    ),
    "hardswish": Entry(
        lambda: _kinked(
            "hardswish", Z * _hard(), (), (-3, 3), "torch uses the inner side's slope at -3 and 3"
        ),
        Spelling("Hardswish", ("F.hardswish",), ()),
    ),
    "softsign": Entry(
        lambda: Activation("softsign", Z / (1 + sympy.Abs(Z))),
        Spelling("Softsign", ("F.softsign",), ()),
    ),
    "tanhshrink": Entry(
        lambda: Activation("tanhshrink", Z - sympy.tanh(Z)),
        Spelling("Tanhshrink", ("F.tanhshrink",), ()),
    ),
    "logsigmoid": Entry(
        lambda: Activation("logsigmoid", -softplus(-Z)),
        Spelling("LogSigmoid", ("F.logsigmoid",), ()),
    ),
    "sin": Entry(
        lambda: Activation("sin", sympy.sin(Z)),
        Spelling(None, ("torch.sin",), ("sin",)),
    ),
    "cos": Entry(
        lambda: Activation("cos", sympy.cos(Z)),
        Spelling(None, ("torch.cos",), ("cos",)),
    ),
    "exp": Entry(
        lambda: Activation("exp", sympy.exp(Z)),
        Spelling(None, ("torch.exp",), ("exp",)),
    ),
    "log": Entry(
        lambda: Activation("log", sympy.log(Z)),
        Spelling(None, ("torch.log",), ("log",)),
    ),
    "sqrt": Entry(
        lambda: _kinked("sqrt", sympy.sqrt(Z), (), (0,), "torch gives inf at 0"),
        Spelling(None, ("torch.sqrt",), ("sqrt",)),
    ),
    "abs": Entry(
        lambda: _kinked("abs", sympy.Abs(Z), (), (0,), "torch uses abs'(0) = 0"),
        Spelling(None, ("torch.abs", "operator.abs"), ("abs",)),
    ),
    "square": Entry(
        lambda: Activation("square", Z**2),
        Spelling(None, ("torch.square",), ("square",)),
    ),
    "reciprocal": Entry(
        lambda: Activation("reciprocal", 1 / Z),
        Spelling(None, ("torch.reciprocal",), ("reciprocal",)),
    ),
    "rsqrt": Entry(
        lambda: Activation("rsqrt", 1 / sympy.sqrt(Z)),
        Spelling(None, ("torch.rsqrt",), ("rsqrt",)),
    ),
    "neg": Entry(
        lambda: Activation("neg", -Z),
        Spelling(None, ("operator.neg", "torch.neg", "torch.negative"), ("neg",)),
    ),
    "sinh": Entry(
        lambda: Activation("sinh", sympy.sinh(Z)),
        Spelling(None, ("torch.sinh",), ("sinh",)),
    ),
    "cosh": Entry(
        lambda: Activation("cosh", sympy.cosh(Z)),
        Spelling(None, ("torch.cosh",), ("cosh",)),
    ),
    "atan": Entry(
        lambda: Activation("atan", sympy.atan(Z)),
        Spelling(None, ("torch.atan", "torch.arctan"), ("atan",)),
    ),
    "erf": Entry(
        lambda: Activation("erf", sympy.erf(Z)),
        Spelling(None, ("torch.erf", "torch.special.erf"), ("erf",)),
    ),
    "log1p": Entry(
        lambda: Activation("log1p", sympy.log(1 + Z)),
        Spelling(None, ("torch.log1p",), ("log1p",)),
    ),
    "expm1": Entry(
        lambda: Activation("expm1", sympy.exp(Z) - 1),
        Spelling(None, ("torch.expm1",), ("expm1",)),
    ),
    "clamp": Entry(
        _clamp,
        Spelling(
            None,
            ("torch.clamp", "torch.clip"),
            ("clamp", "clip"),
            (("min", "min", 0), ("max", "max", 1)),
        ),
    ),
    "pow": Entry(
        _power,
        Spelling(None, ("torch.pow", "operator.pow"), ("pow",), (("exponent", "exponent", 0),)),
    ),
}

#: activation name -> factory taking the activation's parameters as keywords
ACTIVATIONS: dict[str, Callable[..., Activation]] = {name: e.build for name, e in TABLE.items()}
#: activation name -> its torch spellings
ELEMENTWISE: dict[str, Spelling] = {name: e.torch for name, e in TABLE.items()}


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
    ValueError: unknown activation 'swish'; supported: abs, atan, celu, clamp, cos, cosh, ..., tanh, tanhshrink
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
