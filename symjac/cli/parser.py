"""The ``symjac`` argument parser: one ``_add_<command>`` per subcommand.

Building it imports nothing heavy (NOTE: cli-torch-free in :mod:`symjac.cli`):
``--seed`` is checked by :func:`symjac.cli.values.parse_seed`, and the exit codes
listed in each ``--help`` come from :mod:`symjac.cli.errors`.

>>> build_parser().parse_args(["mlp", "--sizes", "1,2,1", "--seed", "3"]).seed
3
"""

from __future__ import annotations

import argparse
import textwrap
from typing import NoReturn

import symjac
from symjac.cli.errors import DEMO_EXIT_CODES, EXIT_CODES, EXIT_USAGE, CliError
from symjac.cli.values import parse_seed

__all__ = ["build_parser"]

_FORMATTER = argparse.RawDescriptionHelpFormatter


class _ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) raised as :class:`CliError`."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message}; see '{self.prog} --help'", EXIT_USAGE)


def _demo_epilog() -> str:
    """``symjac demo --help``'s example and the exit codes demo can return (not check's)."""
    codes = "\n".join(f"  {code}  {text}" for code, text in DEMO_EXIT_CODES.items())
    return f"example:\n  symjac demo --seed 0 --x 1.0\n\nexit codes:\n{codes}"


def _epilog(example: str) -> str:
    codes = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    return f"{example}\n\nexit codes:\n{codes}"


def _describe(text: str) -> str:
    return textwrap.fill(text, 79)


def build_parser() -> argparse.ArgumentParser:
    """The ``symjac`` argument parser (subcommands demo, jacobian, mlp, check).

    >>> build_parser().parse_args(["jacobian", "x**2", "--wrt", "x"]).wrt
    ['x']
    """
    parser = _ArgumentParser(
        prog="symjac",
        description=_describe("Exact Jacobians with SymPy, and PyTorch autograd held to them."),
        epilog=_epilog(
            "examples:\n"
            "  symjac demo                      the walkthrough symjac grew from, exactly\n"
            '  symjac jacobian "x1**2 + x2" "x1 + x2**2" --wrt x1 x2 --at x1=1 x2=2\n'
            "  symjac mlp --sizes 1,2,2,1 --symbolic\n"
            "  symjac check mymodel:build --input 0.5"
        ),
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"symjac {symjac.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    _add_demo(sub)
    _add_jacobian(sub)
    _add_mlp(sub)
    _add_check(sub)
    return parser


def _common(p: argparse.ArgumentParser, *, latex: bool = True) -> None:
    """The options every subcommand takes: ``--latex`` (if ``latex``), ``--json``, ``--debug``."""
    if latex:
        p.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks for errors",
    )


def _add_demo(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="the walkthrough symjac grew from, with exact values and float32 errors",
        description=_describe(
            "Retell the walkthrough (the blog post symjac grew from) step by step: the polynomial "
            "examples, the [1, 2, 2, 1] tanh network's stage Jacobians, the walkthrough's own "
            "torch computation beside the exact values, and each torch result's error in float32 "
            "ULPs. The polynomial examples are evaluated at x = X and (x1, x2) = (X, 2); the "
            "network's weights are drawn after torch.manual_seed(SEED)."
        ),
        epilog=_demo_epilog(),
        formatter_class=_FORMATTER,
    )
    demo.add_argument(
        "--seed",
        type=parse_seed,
        default=0,
        help="torch.manual_seed for the network, 0 to 2**64 - 1 (default 0)",
    )
    demo.add_argument("--x", type=float, default=1.0, help="the input point x0 (default 1.0)")
    _common(demo)


def _add_jacobian(sub: argparse._SubParsersAction) -> None:
    jac = sub.add_parser(
        "jacobian",
        help="the exact Jacobian of expressions (and its value at a point)",
        description=_describe(
            "The exact Jacobian of the map from the --wrt variables to the expressions, "
            "one row per expression. Expressions are parsed safely (never eval'd): numbers, names, "
            "+ - * / ** ^ and functions such as sin, exp, tanh, sigmoid. Put -- before an expression "
            "that starts with '-'."
        ),
        epilog=_epilog(
            "examples:\n"
            '  symjac jacobian "x1**2 + x2" "x1 + x2**2" --wrt x1 x2 --at x1=1 x2=2\n'
            '  symjac jacobian "sin(x)*exp(y)" --wrt x y --at x=pi/2 y=0 --json\n'
            '  symjac jacobian --wrt x -- "-x**2"'
        ),
        formatter_class=_FORMATTER,
    )
    jac.add_argument("exprs", nargs="+", metavar="EXPR", help="one expression per output")
    jac.add_argument(
        "--wrt", nargs="+", required=True, metavar="VAR", help="the input variables, in order"
    )
    jac.add_argument(
        "--at",
        nargs="+",
        action="extend",
        metavar="VAR=VALUE",
        help="evaluate at this point (exact values such as 1, 0.5, 1/3, pi/4)",
    )
    jac.add_argument(
        "--params", nargs="+", metavar="NAME", help="names that are constants, not inputs"
    )
    jac.add_argument("--name", default="f", help="the map's name (default f)")
    _common(jac)


def _add_mlp(sub: argparse._SubParsersAction) -> None:
    mlp = sub.add_parser(
        "mlp",
        help="a fully connected network's stage formulas and Jacobians",
        description=_describe(
            "A fully connected network of the given layer sizes: each stage's formula, each "
            "layer Jacobian J_l = diag(s'(z_l)) W_l, the chain product and the whole Jacobian, with "
            "symbolic weights (--symbolic, the default) or the weights of a torch nn.Sequential built "
            "after torch.manual_seed(N) (--seed N)."
        ),
        epilog=_epilog(
            "examples:\n"
            "  symjac mlp --sizes 1,2,2,1 --symbolic\n"
            "  symjac mlp --sizes 1,2,2,1 --seed 0 --at 1.0"
        ),
        formatter_class=_FORMATTER,
    )
    mlp.add_argument("--sizes", required=True, help="layer widths, input first, e.g. 1,2,2,1")
    mlp.add_argument(
        "--activation", default="tanh", help="activation between layers (default tanh)"
    )
    weights = mlp.add_mutually_exclusive_group()
    weights.add_argument("--symbolic", action="store_true", help="symbolic weights (default)")
    weights.add_argument(
        "--seed",
        type=parse_seed,
        help="weights of nn.Sequential after torch.manual_seed(N), 0 to 2**64 - 1",
    )
    mlp.add_argument("--at", metavar="X", help="evaluate at this input, e.g. 1.0 or 0.5,1.0")
    _common(mlp)


def _add_check(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        "check",
        help="hold a model's autograd Jacobian to the exact one",
        description=_describe(
            "Compare torch autograd's Jacobian of a model with symjac's exact one, per dtype. "
            "TARGET is package.module:attribute (a module, or a callable returning one, importable from "
            "the current directory) or a state_dict file saved with torch.save(model.state_dict(), path) "
            "plus --sizes and --activation. Files load with torch.load(weights_only=True); pickled "
            "modules and .pt2 archives can run code and are refused unless --trust-pickle."
        ),
        epilog=_epilog(
            "examples:\n"
            "  symjac check mymodel:build_model --input 0.5\n"
            "  symjac check weights.pt --sizes 1,2,2,1 --activation tanh --dtypes float32"
        ),
        formatter_class=_FORMATTER,
    )
    check.add_argument(
        "target", metavar="TARGET", help="package.module:attribute or a state_dict file"
    )
    check.add_argument(
        "--input", metavar="VALUES", help="the input point, e.g. 0.5 or 0.5,1.0 (default all 1.0)"
    )
    check.add_argument(
        "--dtypes", default="float32,float64", help="dtypes to check (default float32,float64)"
    )
    check.add_argument("--sizes", help="layer widths for a state_dict file, e.g. 1,2,2,1")
    check.add_argument(
        "--activation", default="tanh", help="activation for a state_dict file (default tanh)"
    )
    check.add_argument(
        "--methods",
        metavar="LIST",
        help="methods to run, e.g. jacrev,autograd (default: every method that applies)",
    )
    check.add_argument(
        "--order",
        type=int,
        choices=(1, 2),
        default=1,
        help="2 also holds torch's Hessians, JVPs and VJPs to the exact ones (default 1)",
    )
    check.add_argument(
        "--allow-skipped",
        action="store_true",
        help="pass although a method could not run (by default that fails with exit 5)",
    )
    check.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow pickled modules and .pt2 archives (runs code from the file)",
    )
    _common(check, latex=False)
