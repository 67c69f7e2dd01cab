"""``symjac``'s entry point: dispatch to a command, map errors to exit codes, write output.

:func:`main` parses the arguments (:mod:`symjac.cli.parser`), runs one command
from :data:`COMMANDS`, and turns what it raised into one line on stderr and an
exit code (:data:`~symjac.cli.errors.EXIT_CODES`); the output layer here
(``_say``, ``_emit``) survives a closed pipe, a closed stdout and a full disk.

>>> main(["jacobian", "x**2", "--wrt", "x", "--at", "x=3"])
f(x) = x**2
<BLANKLINE>
df/dx = 2*x
<BLANKLINE>
<BLANKLINE>
at x = 3:
  df/dx = 6
<BLANKLINE>
0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from symjac.cli.check_cmd import cmd_check
from symjac.cli.demo_cmd import cmd_demo
from symjac.cli.errors import (
    EXIT_INTERNAL,
    EXIT_LIMIT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    CliError,
    first_line,
)
from symjac.cli.jacobian_cmd import cmd_jacobian
from symjac.cli.mlp_cmd import cmd_mlp
from symjac.cli.parser import build_parser
from symjac.cli.text import Style
from symjac.exceptions import SymjacError

#: longest message printed; longer ones keep their start and their advice at the end
MAX_MESSAGE = 300


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning raised inside the block (the CLI prints them as one-line notes).

    >>> with collect_warnings() as caught:
    ...     warnings.warn("careful")
    >>> [str(w.message) for w in caught]
    ['careful']
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _say(kind: str, message: str) -> None:
    """One line on stderr (``symjac: error: ...``), at most MAX_MESSAGE characters.

    A closed or full stderr is ignored: there is nowhere left to report to, and the
    exit code still says what happened.
    """
    text = " ".join(str(message).split())
    if len(text) > MAX_MESSAGE:
        head = MAX_MESSAGE * 2 // 3
        text = text[:head] + " ... " + text[len(text) - (MAX_MESSAGE - head - 5) :]
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(f"symjac: {kind}: {text}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """One ``symjac: warning: ...`` line on stderr.

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     warn("loading m.pt runs code from the file")
    >>> err.getvalue()
    'symjac: warning: loading m.pt runs code from the file\\n'
    """
    _say("warning", message)


def _emit(text: str) -> str | None:
    """Write the command's output to stdout; on failure, the reason (the stream is then muted).

    ``symjac ... | head`` closing the pipe early is not a failure: the reader has what it
    wanted. A closed stdout (``>&-``) or a full disk (``> /dev/full``) is, and must not be
    read as success by a script.
    """
    if sys.stdout is None:
        return "standard output is closed, so nothing was written; redirect it to a file instead"
    try:
        print(text, file=sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        _mute_stdout()
        return None
    except (OSError, ValueError) as err:
        _mute_stdout()
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return f"could not write the output ({reason}); free space or write it elsewhere"
    return None


def _mute_stdout() -> None:
    # Python flushes stdout again at exit; point the descriptor at /dev/null so that the
    # failed write is not reported a second time as a traceback
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


COMMANDS: dict[
    str, Callable[[argparse.Namespace, Style], tuple[int, dict[str, Any], list[str]]]
] = {
    "demo": cmd_demo,
    "jacobian": cmd_jacobian,
    "mlp": cmd_mlp,
    "check": cmd_check,
}


def main(argv: list[str] | None = None) -> int:
    """Run the ``symjac`` command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    >>> main(["jacobian", "x**2", "--wrt", "x", "--at", "x=3", "--json"])
    {
      "command": "jacobian", ...
    }
    0
    """
    args_list = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args_list
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(args_list)
        if extra:
            where = f"symjac {args.command}" if args.command else "symjac"
            raise CliError(
                f"unrecognized arguments: {' '.join(extra)}; see '{where} --help'", EXIT_USAGE
            )
    except CliError as err:
        _say("error", str(err))
        return err.code
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.command is None:
        _say(
            "error",
            f"no command given; choose one of {', '.join(COMMANDS)} (see 'symjac --help')",
        )
        return EXIT_USAGE
    debug = debug or bool(getattr(args, "debug", False))
    style = Style.for_stream(sys.stdout)
    code, message, failure = EXIT_OK, "", None
    try:
        with collect_warnings() as caught:
            code, doc, lines = COMMANDS[args.command](args, style)
    except CliError as err:
        code, message, failure = err.code, str(err), err
    except SymjacError as err:
        code, message, failure = EXIT_LIMIT, str(err), err
    except (ValueError, TypeError, OSError) as err:
        code, message, failure = EXIT_USAGE, str(err), err
    except KeyboardInterrupt:
        _say("error", "interrupted")
        return 130
    except SystemExit as exc:  # user code (a model's forward, a factory) called sys.exit
        code, failure = EXIT_USAGE, exc
        message = (
            f"the code symjac ran for this command called sys.exit({exc.code!r}), so nothing "
            "was checked; remove the exit from the model's code"
        )
    except MemoryError:
        code, failure = EXIT_LIMIT, None
        message = (
            "ran out of memory; the input is too large for this machine "
            "(use smaller sizes, or lower the limits in symjac.limits)"
        )
    except Exception as err:
        code, failure = EXIT_INTERNAL, err
        message = (
            f"internal error: {type(err).__name__}: {first_line(err)} "
            "(rerun with --debug for the traceback, and please report it)"
        )
    if message:
        if debug and failure is not None:
            traceback.print_exception(failure)
        _say("error", message)
        return code
    for w in caught:
        warn(str(w.message))
    text = json.dumps(json_safe(doc), indent=2, allow_nan=False) if args.json else "\n".join(lines)
    problem = _emit(text)
    if problem is not None:
        _say("error", problem)
        return EXIT_OUTPUT
    return code


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by the strings ``"nan"``, ``"inf"``, ``"-inf"``
    (JSON has no such numbers).

    >>> json_safe({"a": [1.0, float("inf")], "b": float("nan")})
    {'a': [1.0, 'inf'], 'b': 'nan'}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
