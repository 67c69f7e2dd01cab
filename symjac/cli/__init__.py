"""The ``symjac`` command line: ``demo``, ``jacobian``, ``mlp`` and ``check``.

Run ``symjac --help`` (or ``python -m symjac --help``) for the commands. Every
command prints readable text, or one JSON document with ``--json``. Errors are
one line on stderr, ``symjac: error: ...``, naming the problem and the fix (a
traceback only with ``--debug``).

Exit codes (see :data:`EXIT_CODES`): 0 ok, 1 the model disagrees with the exact
Jacobian (``check``), 2 a usage or input error, 3 a limit of symjac itself (a
size limit, or a function, layer or operation it cannot represent), 4 an
internal error, 5 a requested check that could not run (``check``: a method
skipped; ``--allow-skipped`` accepts that).

The package: :mod:`~symjac.cli.main` (:func:`main`, the error mapping and the
output layer), :mod:`~symjac.cli.errors` (exit codes, :class:`CliError`),
:mod:`~symjac.cli.parser`, :mod:`~symjac.cli.values` (option values),
:mod:`~symjac.cli.text` (the text helpers), and one module per command
(``jacobian_cmd``, ``mlp_cmd``, ``check_cmd``, ``demo_cmd``). Model files and
torch modules are read by :mod:`symjac.torch_interop.files`.

NOTE: cli-torch-free
    ``symjac jacobian`` never imports torch (it costs seconds to import):
    the modules of this package import only symjac's SymPy core at the top,
    and torch (with :mod:`symjac.torch_interop.files`) is imported inside the
    commands that need it (``demo``, ``mlp --seed``, ``check``).

>>> main(["jacobian", "x1**2 + x2", "x1 + x2**2", "--wrt", "x1", "x2", "--at", "x1=1", "x2=2"])
f(x1, x2) = (x1**2 + x2, x1 + x2**2)
<BLANKLINE>
J_f = d(f1, f2)/d(x1, x2)   (2 x 2: rows are outputs, columns are inputs)
  [2*x1     1]
  [   1  2*x2]
<BLANKLINE>
J_f at x1 = 1, x2 = 2:
  [2  1]
  [1  4]
0
"""

from symjac.cli.check_cmd import cmd_check, compare_shown
from symjac.cli.demo_cmd import cmd_demo
from symjac.cli.errors import (
    DEMO_EXIT_CODES,
    EXIT_CODES,
    EXIT_DISAGREE,
    EXIT_INTERNAL,
    EXIT_LIMIT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_UNCHECKED,
    EXIT_USAGE,
    CliError,
)
from symjac.cli.jacobian_cmd import cmd_jacobian, jacobian_document, jacobian_text
from symjac.cli.main import COMMANDS, MAX_MESSAGE, json_safe, main
from symjac.cli.mlp_cmd import MAX_IDENTITY_WEIGHTS, MAX_MLP_WEIGHTS, cmd_mlp
from symjac.cli.parser import build_parser
from symjac.cli.text import (
    MAX_FORMULA,
    REFERENCE_DIGITS,
    SHOWN_DIGITS,
    WIDTH,
    Style,
    cut,
    exact_strings,
    expr_text,
    float_lists,
    grid,
    jacobian_label,
    layer_rule_entry,
    map_text,
    mp_rows,
    mp_text,
    numeric,
    point_text,
    readable_names,
    rounded,
    stage_formulas,
    stage_lines,
    value_latex,
    wrap,
)
from symjac.cli.values import SEED_RANGE

__all__ = [
    "COMMANDS",
    "DEMO_EXIT_CODES",
    "EXIT_CODES",
    "EXIT_DISAGREE",
    "EXIT_INTERNAL",
    "EXIT_LIMIT",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_UNCHECKED",
    "EXIT_USAGE",
    "MAX_FORMULA",
    "MAX_IDENTITY_WEIGHTS",
    "MAX_MESSAGE",
    "MAX_MLP_WEIGHTS",
    "REFERENCE_DIGITS",
    "SEED_RANGE",
    "SHOWN_DIGITS",
    "WIDTH",
    "CliError",
    "Style",
    "build_parser",
    "cmd_check",
    "cmd_demo",
    "cmd_jacobian",
    "cmd_mlp",
    "compare_shown",
    "cut",
    "exact_strings",
    "expr_text",
    "float_lists",
    "grid",
    "jacobian_document",
    "jacobian_label",
    "jacobian_text",
    "json_safe",
    "layer_rule_entry",
    "main",
    "map_text",
    "mp_rows",
    "mp_text",
    "numeric",
    "point_text",
    "readable_names",
    "rounded",
    "stage_formulas",
    "stage_lines",
    "value_latex",
    "wrap",
]
