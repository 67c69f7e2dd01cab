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
    #: digits in one integer literal (and in a constant computed from literals)
    max_digits: int = 100
    #: absolute value of a numeric exponent
    max_exponent: int = 1_000
    #: SymPy operations in a whole-network symbolic Jacobian (entries x tree size)
    max_jacobian_ops: int = 2_000_000
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
