"""``symjac mlp``: a fully connected network's stages, layer Jacobians and chain product.

Symbolic weights by default; ``--seed N`` reads the weights of a torch
``nn.Sequential`` instead, and only that path imports torch
(NOTE: cli-torch-free in :mod:`symjac.cli`).

>>> from symjac.cli.parser import build_parser
>>> from symjac.cli.text import Style
>>> args = build_parser().parse_args(["mlp", "--sizes", "1,1"])
>>> print("\\n".join(cmd_mlp(args, Style(False))[2][:4]))
[1, 1] network, tanh between layers
  symbolic weights W<layer>_<row><col> and biases B<layer>_<row>
<BLANKLINE>
stage 1: x -> p   (identity, 1 -> 1)
"""

from __future__ import annotations

import argparse
from typing import Any

import sympy

import symjac
from symjac.cli.errors import EXIT_LIMIT, EXIT_OK, CliError
from symjac.cli.text import (
    REFERENCE_DIGITS,
    Style,
    exact_strings,
    expr_text,
    float_lists,
    grid,
    mp_rows,
    stage_lines,
    tuple_text,
    wrap,
)
from symjac.cli.values import check_activation, parse_sizes, weight_count, x_value
from symjac.exceptions import SymjacError

#: ``symjac mlp`` prints formulas for networks with at most this many weights
MAX_MLP_WEIGHTS = 128
#: ``symjac mlp --at`` also differentiates the composed map directly up to this many weights
MAX_IDENTITY_WEIGHTS = 32


def cmd_mlp(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac mlp``: a network's stages, layer Jacobians, chain product and whole Jacobian."""
    sizes = parse_sizes(args.sizes)
    activation = check_activation(args.activation)
    if weight_count(sizes) > MAX_MLP_WEIGHTS:
        raise CliError(
            f"a {sizes} network has {weight_count(sizes)} weights; symjac mlp prints formulas "
            f"for at most {MAX_MLP_WEIGHTS} (beyond that they run to megabytes). Use a smaller "
            "--sizes, or the Python API (symjac.mlp(...).layer_jacobians(), net.numeric()) or "
            "'symjac check' for bigger networks",
            EXIT_LIMIT,
        )
    if args.seed is not None:
        from symjac.torch_interop.files import torch_sequential
        from symjac.tracing import from_torch

        module = torch_sequential(sizes, activation, args.seed)
        net = from_torch(module)
        kind = f"exact float32 weights of nn.Sequential after torch.manual_seed({args.seed})"
        digits: int | None = 4
    else:
        net = symjac.mlp(sizes, activation)
        kind = "symbolic weights W<layer>_<row><col> and biases B<layer>_<row>"
        digits = None
    doc: dict[str, Any] = {
        "command": "mlp",
        "sizes": sizes,
        "activation": activation,
        "weights": "symbolic" if args.seed is None else "seed",
        "seed": args.seed,
    }
    lines = [
        style.bold(f"[{', '.join(map(str, sizes))}] network, {activation} between layers"),
        *wrap(kind + ("; shown rounded to 4 digits" if digits else "")),
        "",
    ]
    stage_text, stage_data = stage_lines(net, digits)
    lines.extend(stage_text)
    doc["stages"] = stage_data
    product = " ".join(f"J{k}" for k in range(len(net.layers), 0, -1))
    out = tuple_text([s.name for s in net.stage_symbols[-1]])
    ins = tuple_text([s.name for s in net.inputs])
    lines.append("")
    lines.append(style.bold(f"chain rule: d{out}/d{ins} = {product}"))
    doc["chain"] = product
    try:
        whole = net.jacobian()
    except SymjacError as err:
        whole = None
        lines.extend(wrap(f"whole Jacobian not built: {err}", "  "))
        doc["whole"] = {"error": str(err)}
    if whole is not None:
        cells = [[expr_text(e, digits) for e in row] for row in whole.matrix.tolist()]
        lines.append(
            f"  whole Jacobian ({whole.shape[0]} x {whole.shape[1]}), each stage substituted:"
        )
        lines.extend(grid(cells, "    "))
        doc["whole"] = {"shape": list(whole.shape), "exact": exact_strings(whole.matrix)}
    doc["at"] = None
    if args.at is not None:
        doc["at"], at_lines = _mlp_at(
            net, args.at, args.seed is not None, digits, product, out, ins
        )
        lines.append("")
        lines.extend(style.bold(line) if k == 0 else line for k, line in enumerate(at_lines))
    if args.latex:
        latex = net.latex(digits=4 if args.seed is not None else None)
        doc["latex"] = latex
        lines = latex.splitlines()
    return EXIT_OK, doc, lines


def _mlp_at(
    net: Any, text: str, concrete: bool, digits: int | None, product: str, out: str, ins: str
) -> tuple[dict[str, Any], list[str]]:
    """Values at one input: each layer Jacobian, the chain product and the whole Jacobian."""
    values = x_value(text, net.sizes[0])
    exact_x = [sympy.Rational(v) for v in values]
    small = weight_count(net.sizes) <= MAX_IDENTITY_WEIGHTS
    doc: dict[str, Any] = {"x": values}
    lines = [f"at {ins} = {tuple_text([repr(v) for v in values])}:"]
    if concrete:  # numbers: 50-digit values from mpmath, shown to 10 digits
        ref = net.reference(exact_x, digits=REFERENCE_DIGITS)
        named = [(f"J{k + 1}", m) for k, m in enumerate(ref.layers)]
        named += [("chain", ref.chain), ("whole", ref.whole)]
        doc["layers"] = [
            {"name": name, "exact": mp_rows(m, REFERENCE_DIGITS), "numeric": _mp_floats(m)}
            for name, m in named[:-2]
        ]
        doc["chain"] = {
            "exact": mp_rows(ref.chain, REFERENCE_DIGITS),
            "numeric": _mp_floats(ref.chain),
        }
        doc["whole"] = {
            "exact": mp_rows(ref.whole, REFERENCE_DIGITS),
            "numeric": _mp_floats(ref.whole),
        }
        shown = {name: mp_rows(m) for name, m in named}
    else:
        stages = net.trace(exact_x)
        layer_values = [
            sympy.Matrix(J.matrix.xreplace(dict(zip(J.inputs, stages[k]))))
            for k, J in enumerate(net.layer_jacobians())
        ]
        chain = net.chain_at(exact_x)
        doc["layers"] = [
            {"name": f"J{k + 1}", "exact": exact_strings(v), "numeric": float_lists(v)}
            for k, v in enumerate(layer_values)
        ]
        doc["chain"] = {"exact": exact_strings(chain), "numeric": float_lists(chain)}
        shown = {f"J{k + 1}": exact_strings(v) for k, v in enumerate(layer_values)}
        shown["chain"] = exact_strings(chain)
    for k in range(len(net.layers)):
        lines.append(f"  J{k + 1} =")
        lines.extend(grid(shown[f"J{k + 1}"], "    "))
    lines.append(f"  {product} (chain product) =")
    lines.extend(grid(shown["chain"], "    "))
    same: bool | None = None
    if small:  # differentiate the composed map directly and compare expressions exactly
        direct = net.as_map().jacobian().at(exact_x)
        chain_exact = net.chain_at(exact_x)
        same = all(sympy.expand(a - b) == 0 for a, b in zip(chain_exact, direct))
        doc["whole"] = {
            "exact": doc["whole"]["exact"] if concrete else exact_strings(direct),
            "numeric": doc["whole"]["numeric"] if concrete else float_lists(direct),
        }
        lines.append(f"  d{out}/d{ins} (differentiating the whole composed map) =")
        lines.extend(grid(shown["whole"] if concrete else exact_strings(direct), "    "))
        verdict = "identical: the difference expands to 0" if same else "DIFFERENT"
        lines.append(f"  chain product vs whole map: {verdict}")
    else:
        lines.extend(
            wrap(
                f"(the whole composed map is not differentiated directly above "
                f"{MAX_IDENTITY_WEIGHTS} weights; the layer rule J_l = diag(s'(z_l)) W_l gives the "
                "same Jacobian)",
                "  ",
            )
        )
        doc.setdefault("whole", None)
    doc["chain_equals_whole"] = same
    return doc, lines


def _mp_floats(matrix: Any) -> list[list[float]]:
    return [[float(v) for v in row] for row in matrix.tolist()]
