"""Exit codes and the one-line error every ``symjac`` command raises for the user.

Kept apart from :mod:`symjac.cli.main` so that the commands, the parser and
:mod:`symjac.torch_interop.files` can raise :class:`CliError` without importing
the dispatcher that imports them.

>>> EXIT_CODES[EXIT_LIMIT]
'a limit of symjac (a size limit, or a function, layer or op it cannot read)'
"""

from __future__ import annotations

__all__ = [
    "DEMO_EXIT_CODES",
    "EXIT_CODES",
    "EXIT_DISAGREE",
    "EXIT_INTERNAL",
    "EXIT_LIMIT",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_UNCHECKED",
    "EXIT_USAGE",
    "CliError",
    "first_line",
]

EXIT_OK = 0
EXIT_DISAGREE = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_INTERNAL = 4
EXIT_UNCHECKED = 5
EXIT_OUTPUT = 6

#: exit code -> meaning, as documented in ``symjac --help``
EXIT_CODES = {
    EXIT_OK: "success (check: the model agrees with the exact Jacobian)",
    EXIT_DISAGREE: "check: the model disagrees with the exact Jacobian beyond tolerance",
    EXIT_USAGE: "usage or input error (bad option, expression, point, file or target)",
    EXIT_LIMIT: "a limit of symjac (a size limit, or a function, layer or op it cannot read)",
    EXIT_INTERNAL: "internal error (a bug: rerun with --debug and report the traceback)",
    EXIT_UNCHECKED: "check: a requested method could not run, so the model was not fully checked",
    EXIT_OUTPUT: "the output could not be written (standard output closed or its disk full)",
}

#: the exit codes ``symjac demo`` can return (``symjac demo --help`` lists them); kept here,
#: not in :mod:`symjac.demo`, so that building the parser does not import NumPy
DEMO_EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_USAGE: "usage or input error (a bad option, --x or --seed)",
    EXIT_INTERNAL: EXIT_CODES[EXIT_INTERNAL],
    EXIT_OUTPUT: EXIT_CODES[EXIT_OUTPUT],
}


class CliError(Exception):
    """A one-line error for the user, with the exit code to return.

    >>> err = CliError("no such file 'm.pt'; check the path", EXIT_USAGE)
    >>> err.code, str(err)
    (2, "no such file 'm.pt'; check the path")
    """

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def first_line(err: BaseException) -> str:
    """The first sentence of an exception's message, at most 160 characters.

    >>> first_line(ValueError("bad size. Use 1,2,1\\nmore"))
    'bad size'
    """
    text = str(err).strip().splitlines()
    first = text[0].split(". ")[0] if text else ""
    return first if len(first) <= 160 else first[:157] + "..."
