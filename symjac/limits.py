"""Size limits that keep symjac's work bounded on untrusted input.

Every limit is checked *before* SymPy builds an object, so a hostile string is
refused in microseconds instead of hanging the process. The values are
documented defaults; :func:`override` changes them for a ``with`` block.

>>> from symjac import limits
>>> limits.current().max_length
10000
>>> with limits.override(max_length=50):
...     limits.current().max_length
50
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from collections.abc import Iterator, Sequence

__all__ = ["Limits", "check_weights", "current", "override"]


@dataclasses.dataclass(frozen=True)
class Limits:
    """The limits in force. Fields are documented next to their defaults.

    >>> Limits().max_depth
    100
    """

    #: characters in one expression string
    max_length: int = 10_000
    #: AST nodes in one expression string
    max_nodes: int = 5_000
    #: nesting depth of one expression (parentheses, calls, operators)
    max_depth: int = 100
    #: significant digits in one number literal (``123.45`` has 5; ``0.001`` has 3)
    max_digits: int = 100
    #: absolute value of a numeric exponent, of the exponent in ``1e-5``, and of the
    #: numeric argument of ``exp sinh cosh sigmoid softplus`` (``exp(1000)`` is allowed)
    max_exponent: int = 1_000
    #: decimal digits of any constant computed while parsing (``2**1000`` has 302):
    #: exact rationals are refused before they are computed, other constants once
    #: evaluated to 15 digits must be below ``10**max_constant_digits``
    max_constant_digits: int = 1_000
    #: estimated SymPy operations for a whole-network symbolic Jacobian (and Hessian),
    #: fitted to measured times per activation (NOTE: jacobian-cost in symjac/networks.py):
    #: multiply-adds and paths through the hidden layers, scaled by depth, the activation's
    #: size relative to tanh and its kinks; the default allows about a second of SymPy work
    max_jacobian_ops: int = 20_000
    #: characters in a LaTeX string before it is truncated with a note
    max_latex: int = 20_000
    #: distinct function applications (``sin(x + 1)``) in one map: each costs SymPy about a
    #: millisecond to build, differentiate, evaluate and print, so 150 stay well within a second
    max_functions: int = 150
    #: estimated nodes of a map's symbolic Jacobian (NOTE: derivative-size): the derivative
    #: of a product of k factors has k terms of k factors, so a 1.5 KB product is refused
    #: instead of taking seconds to build and print; about 1e-4 s per node
    max_derivative_nodes: int = 10_000
    #: weights and biases of one network (``symjac.mlp``, ``from_torch``, ``symjac check``,
    #: ``--sizes``) and numbers in the tensors of one model file, checked before anything is
    #: built or loaded: each weight becomes an exact rational (about 1e-4 s to read, a few
    #: times that to check), so the default reads in seconds to tens of seconds
    max_weights: int = 200_000
    #: numbers of one module read by ``from_torch``, held as float64 arrays (8 bytes each)
    #: and made exact only where shown or asked for symbolically (NOTE: lazy-weights)
    max_read_weights: int = 20_000_000
    #: high-precision multiplications of one exact reference of a graph model
    #: (``Model.reference``): mpmath does about a million a second at 50 digits
    max_reference_ops: int = 50_000_000
    #: bytes of one model file, on disk and uncompressed (the sum of a zip archive's
    #: records), checked before ``torch.load`` allocates them
    max_file_bytes: int = 64 * 2**20


_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("symjac_limits", default=Limits())  # noqa: B039 (frozen)


def current() -> Limits:
    """Return the limits in force in this context.

    >>> current().max_nodes
    5000
    """
    return _LIMITS.get()


@contextlib.contextmanager
def override(**changes: int) -> Iterator[Limits]:
    """Temporarily change some limits; unknown names are a ``TypeError``.

    >>> with override(max_depth=10) as lim:
    ...     lim.max_depth
    10
    """
    fields = {f.name for f in dataclasses.fields(Limits)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise TypeError(
            f"unknown limit(s) {', '.join(unknown)}; the limits are: {', '.join(sorted(fields))}"
        )
    for key, value in changes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"limit {key} must be a positive int, got {value!r}")
    token = _LIMITS.set(dataclasses.replace(_LIMITS.get(), **changes))
    try:
        yield _LIMITS.get()
    finally:
        _LIMITS.reset(token)


def check_weights(count: int, what: str, limit: str = "max_weights") -> None:
    """Refuse ``what`` (a network or file holding ``count`` weights) above ``max_weights``.

    Called before anything is allocated, so a size such as ``[1, 10**9, 1]`` is
    refused at once instead of exhausting memory.

    >>> check_weights(10, "a [2, 3] network")
    >>> check_weights(10**9, "a [1, 10**9, 1] network")
    Traceback (most recent call last):
    ...
    symjac.exceptions.LimitError: a [1, 10**9, 1] network has 1000000000 weights and biases; the limit is max_weights=200000 ...
    """
    from symjac.exceptions import LimitError

    cap = getattr(current(), limit)
    if count > cap:
        why = (
            "reads each one as an exact rational"
            if limit == "max_weights"
            else "holds them in memory"
        )
        raise LimitError(
            f"{what} has {_int_text(count)} weights and biases; the limit is {limit}={cap} (symjac "
            f"{why}); use a smaller model, or raise the limit with "
            f"symjac.limits.override({limit}=...)"
        )


def _int_text(value: int) -> str:
    # huge ints print as a power of ten (str() of one over 4300 digits raises ValueError)
    return str(value) if abs(value) < 10**18 else f"about 10**{math.log10(abs(value)):.0f}"


def sizes_text(sizes: Sequence[int]) -> str:
    """Layer sizes for a one-line message: at most 8 shown, huge widths as powers of ten.

    >>> sizes_text([1, 10**40, 1])
    '[1, about 10**40, 1]'
    >>> sizes_text([2] * 20)
    '[2, 2, 2, 2, 2, 2, 2, ..., 2] (20 sizes)'
    """
    shown = [_int_text(s) if isinstance(s, int) else repr(s)[:20] for s in sizes]
    if len(shown) <= 8:
        return f"[{', '.join(shown)}]"
    return f"[{', '.join(shown[:7])}, ..., {shown[-1]}] ({len(shown)} sizes)"
