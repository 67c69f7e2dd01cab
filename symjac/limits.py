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
from collections.abc import Iterator

__all__ = ["Limits", "current", "override"]


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
    #: estimated SymPy operations for a whole-network symbolic Jacobian: the chain
    #: product's multiply-adds plus the paths through the hidden layers (the product of
    #: their widths), which SymPy's tree walks visit; about 1e-4 s each, so the default
    #: allows a few seconds (width 16, depth 4) and refuses what would take minutes
    max_jacobian_ops: int = 20_000
    #: characters in a LaTeX string before it is truncated with a note
    max_latex: int = 20_000


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
