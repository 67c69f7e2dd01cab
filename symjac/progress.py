"""Progress bars for long work (``scan`` over many points, ``symjac check``, the benchmarks).

NOTE: progress-policy
    A bar (tqdm, on stderr) is shown only to a person watching: when stderr
    is a terminal and nobody asked for silence (the CLI's ``--json`` runs
    inside :func:`quiet`). Piped or redirected output, CI logs, notebooks and
    tests therefore never get bar lines; stdout is never touched. On a
    terminal a bar appears only once the work has taken :data:`DELAY`
    seconds, so quick calls print nothing, and it is erased when the work
    ends. All of this is decided here, in :func:`enabled`, and nowhere else.

>>> import io
>>> enabled(io.StringIO())  # not a terminal
False
>>> with bar(3, "work") as shown:
...     for _ in range(3):
...         shown.update()
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["DELAY", "bar", "enabled", "quiet"]

#: seconds of work before a bar appears on a terminal
DELAY = 1.0

_silenced: ContextVar[bool] = ContextVar("symjac_progress_silenced", default=False)


def enabled(stream: Any = None) -> bool:
    """True when a bar would be shown on ``stream`` (default ``sys.stderr``).

    >>> import io
    >>> class Terminal(io.StringIO):
    ...     def isatty(self) -> bool:
    ...         return True
    >>> enabled(Terminal()), enabled(io.StringIO())
    (True, False)
    >>> with quiet():
    ...     enabled(Terminal())
    False
    """
    if _silenced.get():
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no stream, or a closed one
        return False


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No bars inside this block (the CLI's ``--json`` output).

    >>> import io
    >>> with quiet():
    ...     bar(10, "silent").disable
    True
    """
    token = _silenced.set(True)
    try:
        yield
    finally:
        _silenced.reset(token)


def bar(total: int | None, desc: str, *, unit: str = "it") -> Any:
    """A tqdm bar on stderr, disabled unless :func:`enabled` (NOTE: progress-policy).

    Use it as a context manager and call ``update(n)``; a disabled bar does
    nothing. tqdm is imported only here, so ``import symjac`` does not pay for it.

    >>> import time
    >>> with bar(2, "steps", unit="step") as shown:
    ...     for step in range(2):
    ...         time.sleep(0.01)  # the work
    ...         shown.update()
    """
    from tqdm import tqdm

    stream = sys.stderr
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=stream,
        disable=not enabled(stream),
        delay=DELAY,
        leave=False,
        dynamic_ncols=True,
    )
