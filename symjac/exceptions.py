"""Exceptions raised by symjac, and the contract for when each is raised.

The contract (in the spirit of latexify's ``exceptions`` module):

* A **user mistake** (a malformed expression, a point of the wrong length, an
  argument of the wrong type) raises a *built-in* exception, ``ValueError`` or
  ``TypeError``, so that ordinary ``except ValueError`` code keeps working.
  :class:`ParseError` is a ``ValueError`` for this reason.
* A **limit of symjac itself** (an input larger than a documented size limit, a
  function or torch operation that symjac cannot represent) raises a subclass of
  :class:`SymjacError`.

Every message says what was required, what was given, and how to fix it, on
one line.
"""

from __future__ import annotations

__all__ = ["LimitError", "ParseError", "SymjacError", "SymjacWarning", "UnsupportedError"]


class SymjacError(Exception):
    """Base class for symjac's own limits (never for plain user mistakes).

    >>> issubclass(LimitError, SymjacError)
    True
    """


class ParseError(ValueError):
    """A string could not be read as a mathematical expression.

    It is a ``ValueError``: the text is the user's to fix. ``text`` holds the
    offending input (truncated) and ``piece`` the part that was rejected.

    >>> err = ParseError("unknown function 'foo'", text="foo(x)", piece="foo")
    >>> isinstance(err, ValueError), err.piece
    (True, 'foo')
    """

    def __init__(self, message: str, *, text: str | None = None, piece: str | None = None):
        super().__init__(message)
        self.text = text
        self.piece = piece


class LimitError(SymjacError):
    """An input or a result is larger than one of symjac's documented limits.

    The message names the limit, the size that was seen, and the way around it
    (usually :func:`symjac.limits.override` or a layerwise alternative).

    >>> raise LimitError("expression has 9000 characters; the limit is 5000")
    Traceback (most recent call last):
    ...
    symjac.exceptions.LimitError: expression has 9000 characters; the limit is 5000
    """


class UnsupportedError(SymjacError):
    """symjac cannot represent a function, a torch operation or a module.

    The message names the unsupported piece and lists what is supported.

    >>> issubclass(UnsupportedError, SymjacError)
    True
    """


class SymjacWarning(UserWarning):
    """A warning about input that is legal but probably not what was meant.

    For example a variable that does not appear in any output: its Jacobian
    column is zero, which is correct but often a typo.

    >>> issubclass(SymjacWarning, UserWarning)
    True
    """
