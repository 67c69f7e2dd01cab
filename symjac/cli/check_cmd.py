"""``symjac check``: hold a model's autograd Jacobian to the exact one.

The model (``TARGET``) is read by :mod:`symjac.torch_interop.files`, imported
only when the command runs (NOTE: cli-torch-free in :mod:`symjac.cli`); the
comparison itself is :func:`symjac.comparison.compare`.

>>> from symjac.cli.parser import build_parser
>>> from symjac.cli.text import Style, wrap
>>> args = build_parser().parse_args(["check", "symjac.examples:small_mlp", "--dtypes", "float64"])
>>> code, doc, lines = cmd_check(args, Style(False))
>>> code, lines[-1]
(0, 'symjac.examples:small_mlp: autograd agrees with the exact Jacobian')
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from symjac.cli.errors import (
    EXIT_DISAGREE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_UNCHECKED,
    EXIT_USAGE,
    CliError,
)
from symjac.cli.text import Style, wrap
from symjac.cli.values import x_value


def cmd_check(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac check``: hold a model's autograd Jacobian to the exact one."""
    dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    known = ("float16", "bfloat16", "float32", "float64")
    bad = [d for d in dtypes if d not in known]
    if not dtypes or bad:
        raise CliError(
            f"--dtypes takes a comma-separated list of {', '.join(known)}, got {args.dtypes!r}",
            EXIT_USAGE,
        )
    try:
        from symjac.comparison import compare  # type: ignore[import-not-found]
    except ImportError:
        raise CliError(
            "symjac.comparison is not available in this installation; update symjac", EXIT_INTERNAL
        ) from None
    from symjac.torch_interop.files import input_width, resolve_target

    module = resolve_target(
        args.target, trust_pickle=args.trust_pickle, sizes=args.sizes, activation=args.activation
    )
    from symjac.tracing import check_module_size

    check_module_size(module)  # before any symbolic reading: a 1000 x 1000 layer is refused now
    graph = _graph_of(module)
    n_in = graph.n_in if graph is not None else input_width(module)
    x = x_value(args.input, n_in) if args.input else [1.0] * n_in
    methods = None
    if args.methods is not None:
        from symjac.comparison import METHODS

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        bad = [m for m in methods if m not in METHODS]
        if not methods or bad:
            raise CliError(
                f"--methods takes a comma-separated list of {', '.join(METHODS)}, "
                f"got {args.methods!r}",
                EXIT_USAGE,
            )
    report = compare_shown(compare, module, x, dtypes, methods, args)
    doc = {"command": "check", "target": args.target, "input": x, "dtypes": list(dtypes),
           "order": args.order}  # fmt: skip
    exact = "the exact Jacobian" + (" and Hessian" if args.order == 2 else "")
    doc.update(report.to_dict())
    doc["ok"] = bool(report.ok)
    if report.failures:
        code, verdict = EXIT_DISAGREE, style.bad("DISAGREES") + f" with {exact}"
    elif not report.ok:  # NOTE: no-vacuous-pass in symjac.comparison
        code = EXIT_UNCHECKED
        verdict = style.bad("COULD NOT BE CHECKED") + (
            f" ({len(report.skipped)} requested computations could not run; "
            "--allow-skipped accepts that)"
        )
    else:
        code, verdict = EXIT_OK, style.good("agrees") + f" with {exact}"
    lines = [*str(report).splitlines(), ""]
    if graph is not None:  # the chain rule along the model's graph (NOTE: graph-accumulation)
        lines += wrap(
            "chain rule along the graph (D: a stage's own Jacobian, J: with respect to the input):",
            "",
        )
        for rule in graph.chain_rule(latex=False):
            lines += wrap(rule, "  ")
        lines.append("")
        doc["chain_rule"] = graph.chain_rule(latex=False)
    lines.append(f"{args.target}: autograd {verdict}")
    return code, doc, lines


def _graph_of(module: Any) -> Any:
    """The module read as a graph ``Model``, or None for a plain chain (or an unreadable one)."""
    from symjac.exceptions import SymjacError
    from symjac.graph.model import Model
    from symjac.tracing import from_torch

    try:
        read = from_torch(module)
    except (SymjacError, ValueError, TypeError):
        return None  # compare() reports why, with its own message
    return read if isinstance(read, Model) else None


def compare_shown(
    compare: Callable[..., Any],
    module: Any,
    x: list[float],
    dtypes: Sequence[str],
    methods: list[str] | None,
    args: argparse.Namespace,
) -> Any:
    """``compare(...)``, with a progress bar over the dtypes on a terminal (not with --json).

    compare() runs every dtype in one call, so a bar (NOTE: progress-policy in
    symjac.progress) needs one call per dtype, merged into the same report
    (same rows, notes and verdict) at the cost of reading the model once more
    per extra dtype; off a terminal the single call runs.

    >>> from symjac import examples
    >>> from symjac.comparison import compare
    >>> args = argparse.Namespace(allow_skipped=False, json=True)
    >>> compare_shown(compare, examples.small_mlp(0), [0.5], ["float64"], ["jacrev"], args).ok
    True
    """
    from symjac import progress

    order = getattr(args, "order", 1)  # callers building their own Namespace may leave it out
    options = {"methods": methods, "allow_skipped": args.allow_skipped, "order": order}
    with progress.quiet() if args.json else contextlib.nullcontext():
        if not progress.enabled():
            return compare(module, x, dtypes=dtypes, **options)
        from symjac.comparison import Report

        names = list(dict.fromkeys(dtypes))
        parts = []
        with progress.bar(len(names), "symjac check", unit="dtype") as shown:
            for dtype in names:
                parts.append(compare(module, x, dtypes=[dtype], **options))
                shown.update()
    first = parts[0]
    return Report(
        first.target,
        first.point,
        names,
        [row for part in parts for row in part.rows],
        list(dict.fromkeys(note for part in parts for note in part.notes)),
        [item for part in parts for item in part.skipped],
        first.input_names,
        allow_skipped=args.allow_skipped,
    )
