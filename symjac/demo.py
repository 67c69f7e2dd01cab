"""``symjac demo``: the walkthrough (the blog post symjac grew from), retold with exact answers.

The story is data plus one renderer: :func:`compute` runs the walkthrough's own torch code
and symjac's exact counterparts, :func:`story` turns those numbers into :class:`Step`
records (every sentence that depends on a number is computed from it), and :func:`render`
lays the steps out in :data:`WIDTH` columns. torch is imported only when the demo runs.

>>> steps = [Step("A heading", (Para("Some text."), Table(("a", "b"), (("1", "2"),))), 1)]
>>> print("\\n".join(render(steps)))
1. A heading
  Some text.
  a  b
  1  2
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import textwrap
from typing import Any

import numpy as np
import sympy

from symjac import examples
from symjac import latex as _latex
from symjac.cli import (
    DEMO_EXIT_CODES,
    EXIT_OK,
    EXIT_USAGE,
    REFERENCE_DIGITS,
    SHOWN_DIGITS,
    CliError,
    Style,
    grid,
    jacobian_document,
    jacobian_text,
    layer_rule_entry,
    mp_rows,
    mp_text,
    stage_formulas,
    stage_lines,
    value_latex,
)
from symjac.maps import VectorMap

__all__ = ["EXIT_CODES", "WALKTHROUGH_BACKWARD", "WIDTH", "compute", "render", "run", "story"]

#: the demo's text fits a terminal this wide
WIDTH = 80

#: the walkthrough's printed ``x.grad.item()`` for ``torch.manual_seed(0)``, ``x = 1.0``
WALKTHROUGH_BACKWARD = -0.060868293046951294

#: the exit codes ``symjac demo`` can return (``symjac demo --help`` lists them)
EXIT_CODES = DEMO_EXIT_CODES

#: largest finite float32 number: the network runs at x rounded to float32
FLOAT32_MAX = float(np.finfo(np.float32).max)


# -- the records ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Para:
    """A paragraph, wrapped to the width."""

    text: str


@dataclasses.dataclass(frozen=True)
class Lines:
    """Lines kept as they are (a line too wide is wrapped at its spaces)."""

    lines: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Rows of two columns: torch's print-out on the left, the exact values on the right."""

    rows: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


@dataclasses.dataclass(frozen=True)
class Table:
    """A header and rows; the first column is left-aligned, the others right-aligned."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Para | Lines | Pairs | Table


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the story: a numbered (or unnumbered) heading and its blocks."""

    title: str
    blocks: tuple[Block, ...]
    number: int | None = None


# -- the numbers ----------------------------------------------------------------------------


def float32_ulps_apart(a: float, b: float) -> int:
    """How many float32 numbers apart ``a`` and ``b`` (both float32 values) are, from their
    bit patterns: 0 for the same number, 1 for neighbours.

    >>> float32_ulps_apart(1.0, float(np.nextafter(np.float32(1), np.float32(2))))
    1
    >>> float32_ulps_apart(-0.0, 0.0)
    0
    """

    def ordered(v: float) -> int:
        bits = int(np.array(v, dtype=np.float32).view(np.int32))
        return bits if bits >= 0 else -(bits & 0x7FFFFFFF)

    return abs(ordered(a) - ordered(b))


def is_float32(value: float) -> bool:
    """Whether ``value`` is exactly a float32 number.

    >>> is_float32(0.5), is_float32(0.1)
    (True, False)
    """
    return math.isfinite(value) and float(np.float32(value)) == value


def _nearest_float32(exact: Any) -> float:
    """The float32 number nearest the exact (mpmath) value: the correctly rounded result."""
    import mpmath

    guess = np.float32(float(exact))
    candidates = [
        guess,
        np.nextafter(guess, np.float32(-np.inf)),
        np.nextafter(guess, np.float32(np.inf)),
    ]
    return float(min(candidates, key=lambda c: abs(mpmath.mpf(float(c)) - exact)))


def _seed_computation(model: Any, x: float) -> dict[str, Any]:
    """The walkthrough's own torch code, run on ``model`` at ``x``."""
    import torch
    from torch.autograd.functional import jacobian

    x0 = torch.tensor([x])

    def layer1(x: Any) -> Any:
        return model.act(model.l1(x))

    def layer2(a: Any) -> Any:
        return model.act(model.l2(a))

    def layer3(b: Any) -> Any:
        return model.l3(b).squeeze()

    def whole(x: Any) -> Any:
        return layer3(layer2(layer1(x)))

    J1 = jacobian(layer1, x0, create_graph=False)
    a0 = layer1(x0).detach()
    J2 = jacobian(layer2, a0, create_graph=False)
    b0 = layer2(a0).detach()
    J3 = jacobian(layer3, b0, create_graph=False)
    dp_dx = jacobian(whole, x0, create_graph=False)
    chain = J3 @ J2 @ J1
    xg = torch.tensor([x], requires_grad=True)
    p = model(xg)
    p.backward()
    grad = xg.grad.item()
    return {
        "x0": x0,
        "J1": J1,
        "J2": J2,
        "J3": J3,
        "dp_dx": dp_dx,
        "chain": chain,
        "difference": chain.item() - dp_dx.item(),
        "backward": grad,
        "backward_difference": grad - dp_dx.item(),
    }


def _example_point(f: VectorMap, x: float) -> dict[str, Any]:
    # the decimal as given (--x 0.1 is 1/10), exact
    xs = sympy.Rational(repr(x))
    if len(f.inputs) == 1:
        return {f.inputs[0].name: xs}
    return {f.inputs[0].name: xs, f.inputs[1].name: sympy.Integer(2)}


@dataclasses.dataclass
class Numbers:
    """Everything the story says, computed (from :func:`compute`)."""

    seed: int
    x: float
    x32: float
    torch_version: str
    examples: list[tuple[str, VectorMap, dict[str, Any]]]
    net: Any
    run: dict[str, Any]
    ref: Any
    exact: Any
    identical: bool
    methods: list[dict[str, Any]]
    ulp_size: float
    nearest: float
    nearest_ulps: float
    tolerance: Any
    walkthrough: dict[str, Any] | None


def compute(seed: int, x: float) -> Numbers:
    """Run the walkthrough's torch code and symjac's exact counterparts at ``x``.

    >>> numbers = compute(0, 1.0)
    >>> numbers.identical, numbers.walkthrough["float32_ulps_from_torch"] >= 0
    (True, True)
    """
    import torch

    from symjac.accuracy import tolerance, ulp, ulp_distance
    from symjac.torch_interop.files import examples_model
    from symjac.tracing import from_torch

    model = examples_model(seed)
    net = from_torch(model)
    run = _seed_computation(model, x)
    x32 = run["x0"].item()  # the input torch really uses: x rounded to float32
    chain_exact = net.chain_at([x32])
    whole_exact = net.as_map().jacobian().at([x32])
    identical = all(sympy.expand(a - b) == 0 for a, b in zip(chain_exact, whole_exact))
    ref = net.reference([x32], digits=REFERENCE_DIGITS)
    exact = ref.whole[0, 0]
    compiled = net.numeric("torch")(torch.tensor([x32], dtype=torch.float32)).reshape(-1)[0]
    nearest = _nearest_float32(exact)
    methods = []
    for label, who, value in [
        ("jacobian(whole, x0)", "torch's jacobian()", run["dp_dx"].reshape(-1)[0].item()),
        ("J3 @ J2 @ J1 (torch)", "torch's J3 @ J2 @ J1", run["chain"].reshape(-1)[0].item()),
        ("p.backward(); x.grad", "torch's backward()", run["backward"]),
        ("symjac compiled (float32)", "symjac's compiled float32 function", compiled.item()),
    ]:
        value = float(value)
        methods.append(
            {
                "method": label,
                "who": who,
                "value": value,
                "error": float(value - exact),
                "ulps": float(ulp_distance(value, exact, "float32")),
                "ulps_from_nearest": float32_ulps_apart(value, nearest),
            }
        )
    walkthrough = None
    if seed == 0 and x == 1.0:  # the walkthrough's own setting
        walkthrough = {
            "value": WALKTHROUGH_BACKWARD,
            "is_float32": is_float32(WALKTHROUGH_BACKWARD),
            "ulps": float(ulp_distance(WALKTHROUGH_BACKWARD, exact, "float32")),
            "float32_ulps_from_torch": float32_ulps_apart(WALKTHROUGH_BACKWARD, run["backward"]),
        }
    return Numbers(
        seed=seed,
        x=x,
        x32=x32,
        torch_version=torch.__version__,
        examples=[
            (name, f, _example_point(f, x))
            for name, f in [(n, getattr(examples, n)()) for n in ("square", "quadratic", "planar")]
        ],
        net=net,
        run=run,
        ref=ref,
        exact=exact,
        identical=identical,
        methods=methods,
        ulp_size=ulp(exact, "float32"),
        nearest=nearest,
        nearest_ulps=float(ulp_distance(nearest, exact, "float32")),
        tolerance=tolerance("float32"),
        walkthrough=walkthrough,
    )


# -- the story ------------------------------------------------------------------------------


def _ulps(n: float) -> str:
    return f"{n:g} float32 ULP" + ("" if n == 1 else "s")


def _apart(steps: int) -> str:
    if steps == 0:
        return "the same float32 number"
    if steps == 1:
        return "neighbouring float32 numbers, 1 float32 ULP apart"
    return f"{steps} float32 ULPs apart"


def _printed_difference(value: float) -> str:
    """What the walkthrough's ``print("difference:", value)`` shows."""
    return f"difference: {value}"


def _examples_steps(n: Numbers, latex: bool) -> list[Step]:
    titles = {
        "square": "One variable: f(x) = x^2 has the derivative df/dx = 2x.",
        "quadratic": "Two variables, one output: each partial derivative holds the other "
        "variable fixed.",
        "planar": "Two outputs of two inputs: the Jacobian has a row per output, a column per "
        "input.",
    }
    steps = []
    for k, (name, f, point) in enumerate(n.examples):
        if latex:
            J = f.jacobian()
            lines = [f.latex(), J.latex(), value_latex(J, point)]
        else:
            lines = jacobian_text(f, point, Style(False))
        blocks: tuple[Block, ...] = (Lines(tuple(lines)),)
        if name == "quadratic":
            blocks += (_hessian_block(f, latex),)
        steps.append(Step(titles[name], blocks, k + 1))
    return steps


def _hessian_block(f: VectorMap, latex: bool) -> Block:
    """The second derivatives of the quadratic: its Hessian is constant."""
    H = f.hessian()
    if latex:
        return Lines(("", H.latex()))
    cells = [[str(v) for v in row] for row in H.matrices[0].tolist()]
    return Lines(
        (
            "",
            "Second derivatives: the Hessian H_f = (d2f/dxi dxj), symmetric and here",
            "the same at every point:",
            *grid(cells, "  "),
        )
    )


def _jname(k: int) -> str:
    return f"J_{k}" if k < 10 else f"J_{{{k}}}"


def _network_step(n: Numbers, latex: bool) -> Step:
    act = n.net.layers[0].activation
    slope = layer_rule_entry(act)
    blocks: list[Block] = [
        Para(
            "Weights are the model's exact float32 values, shown rounded to 4 digits with "
            "their own signs. Layer rule: J_l = diag(s'(z)) W_l, so entry (i, j) of a "
            f"{act.label} layer is"
        ),
        Lines((f"  {slope}, where z = W_l (stage input) + B_l.",)),
    ]
    if latex:
        lines = []
        formulas = stage_formulas(n.net, 4, latex=True) or []
        for k, stage in enumerate(formulas):
            names = [_latex.symbol_latex(s.name) for s in n.net.stage_symbols[k + 1]]
            lines += [f"{name} = {text}" for name, text in zip(names, stage["outputs"])]
            rows = r" \\ ".join(" & ".join(row) for row in stage["entries"])
            lines.append(rf"{_jname(k + 1)} = \begin{{pmatrix}} {rows} \end{{pmatrix}}")
        product = " ".join(_jname(k) for k in range(len(formulas), 0, -1))
        lines.append(rf"\frac{{\partial p}}{{\partial x}} = {product}")
        blocks.append(Lines(tuple(lines)))
    else:
        blocks.append(Lines(tuple(stage_lines(n.net, 4, WIDTH - 2)[0])))
    blocks.append(Para("Chain rule as matrix multiplication: dp/dx = J3 J2 J1."))
    title = (
        f"The walkthrough's [1, 2, 2, 1] tanh network, its weights drawn after "
        f"torch.manual_seed({n.seed}): one Jacobian per stage."
    )
    return Step(title, tuple(blocks), 4)


def _torch_step(n: Numbers) -> Step:
    run = n.run
    blocks: list[Block] = []
    if n.x32 != n.x:
        blocks.append(Para(f"x = {n.x!r} is {n.x32!r} in float32, which torch and symjac use."))
    blocks.append(
        Para(
            "Left: torch, printed as the walkthrough prints it. Right: the exact values "
            f"({SHOWN_DIGITS} digits)."
        )
    )
    rows = []
    for k, label in enumerate(["J1 (d a / d x)", "J2 (d b / d a)", "J3 (d p / d b)"]):
        tensor = run[f"J{k + 1}"]
        left = (f"{label} shape: {tensor.shape}", *str(tensor).splitlines())
        exact = mp_rows(n.ref.layers[k])
        if k == 2:  # the walkthrough's layer3 squeezes: J3 prints as a vector
            right = ("", "[" + ", ".join(exact[0]) + "]")
        else:
            right = ("", *(f"[{', '.join(r)}]" for r in exact))
        rows.append((left, right))
    blocks.append(Pairs(tuple(rows)))
    exact_text = mp_text(n.exact)
    steps = float32_ulps_apart(run["chain"].item(), run["dp_dx"].item())
    blocks.append(
        Pairs(
            (
                ((f"dp/dx (from whole network): {run['dp_dx']}",), (exact_text,)),
                ((f"dp/dx from J3*J2*J1: {run['chain']}",), (exact_text,)),
                ((_printed_difference(run["difference"]),), ("0 (exactly)",)),
            )
        )
    )
    blocks.append(
        Para(
            "That difference is torch's J3*J2*J1 minus torch's whole-network dp/dx (in units "
            f"of dp/dx): {run['difference']!r}, so the two are {_apart(steps)}. Exactly, "
            "J3 J2 J1 = dp/dx, so the exact difference is 0."
        )
    )
    title = f"The walkthrough's torch code at x = {n.x!r}: jacobian() per stage, along the forward pass."
    return Step(title, tuple(blocks), 5)


def _backward_step(n: Numbers) -> Step:
    run = n.run
    steps = float32_ulps_apart(run["backward"], run["dp_dx"].item())
    blocks: list[Block] = [
        Pairs(
            (
                ((f"dp/dx (from autograd backward): {run['backward']}",), (mp_text(n.exact),)),
                ((_printed_difference(run["backward_difference"]),), ()),
            )
        ),
        Para(
            "That difference is x.grad minus torch's whole-network dp/dx (in units of dp/dx): "
            f"{run['backward_difference']!r}, so the two are {_apart(steps)}."
        ),
    ]
    w = n.walkthrough
    if w is not None:
        value, today = w["value"], run["backward"]
        if not w["is_float32"]:
            text = f"The walkthrough printed {value!r} here, which is not a float32 number."
        elif w["float32_ulps_from_torch"] == 0:
            text = (
                f"The walkthrough printed {value!r} here: the same float32 number torch "
                f"{n.torch_version} computes."
            )
        else:
            text = (
                f"The walkthrough printed {value!r} here. .item() prints a float32 result in "
                f"full, and that is a different float32 number from today's {today!r} (torch "
                f"{n.torch_version}): {_ulps(w['float32_ulps_from_torch'])} apart. The older "
                "torch the walkthrough ran computed a different float32 result."
            )
        blocks.append(Para(text))
    title = "The walkthrough's autograd backward: p = model(x); p.backward(); x.grad."
    return Step(title, tuple(blocks), 6)


def _errors_step(n: Numbers) -> Step:
    same = "identical expressions" if n.identical else "NOT identical (a bug: please report it)"
    blocks: list[Block] = [
        Lines((f"exact dp/dx = {mp_text(n.exact, REFERENCE_DIGITS)}",)),
        Para(
            f"({REFERENCE_DIGITS} digits, from the model's exact weights; J3 J2 J1 and the "
            f"derivative of the whole map are {same}.) One float32 ULP (the spacing of float32 "
            f"numbers) near dp/dx is {n.ulp_size:.3g}; the float32 number nearest dp/dx is "
            f"{n.nearest!r}, {n.nearest_ulps:.2f} ULPs from it."
        ),
        Table(
            ("method", "float32 value", "value - exact", "ULPs off"),
            tuple(
                (m["method"], repr(m["value"]), f"{m['error']:.3g}", f"{m['ulps']:.2f}")
                for m in n.methods
            ),
        ),
    ]
    if n.walkthrough is not None:
        blocks.append(
            Para(
                f"The walkthrough's own backward value, {n.walkthrough['value']!r}, is "
                f"{n.walkthrough['ulps']:.2f} ULPs from the exact dp/dx."
            )
        )
    title = "What the walkthrough could not show: the exact dp/dx, and each float32 result's error."
    return Step(title, tuple(blocks), 7)


def _lesson(n: Numbers) -> Step:
    run = n.run
    sentences = [
        "The chain rule is exact: J3 J2 J1 is the network's derivative, identically."
        if n.identical
        else "J3 J2 J1 and the whole map's derivative did NOT compare identical."
    ]
    whole = run["dp_dx"].item()
    printed = [
        (5, run["difference"], run["chain"].item(), "J3*J2*J1 and jacobian()"),
        (6, run["backward_difference"], run["backward"], "x.grad and jacobian()"),
    ]
    zero = [p for p in printed if p[1] == 0]
    if zero:
        quoted = _join([f"step {p[0]}" for p in zero])
        sentences.append(
            f"The '{_printed_difference(zero[0][1])}' of {quoted} shows only that torch's "
            "routes agree with each other, not how close they are to the exact value."
        )
    for number, value, computed, what in printed:
        if value != 0:
            sentences.append(
                f"Step {number}'s '{_printed_difference(value)}' is float32 rounding, not a "
                f"flaw of the chain rule: torch's {what} are "
                f"{_apart(float32_ulps_apart(computed, whole))}, though exactly they are equal."
            )
    groups: dict[float, list[dict[str, Any]]] = {}
    for m in n.methods:
        groups.setdefault(m["value"], []).append(m)
    for value, ms in groups.items():
        names = _join([m["who"] for m in ms])
        verb = "gives" if len(ms) == 1 else "give"
        off = ms[0]["ulps_from_nearest"]
        where = (
            "the float32 number nearest dp/dx, as close as float32 allows"
            if off == 0
            else f"{_ulps(off)} from the float32 number nearest dp/dx"
        )
        sentences.append(
            f"{names} {verb} {value!r}: {where} ({ms[0]['ulps']:.2f} ULPs from the exact value)."
        )
    tol = n.tolerance
    bound = max(tol.rtol * abs(float(n.exact)), tol.ulps * n.ulp_size)
    outside = [m["method"] for m in n.methods if not abs(m["error"]) <= bound]
    rule = f"symjac's float32 tolerance (rtol {tol.rtol:g} or {tol.ulps:g} ULPs)"
    sentences.append(
        f"All are within {rule}." if not outside else f"{_join(outside)}: outside {rule}."
    )
    sentences.append("Run 'symjac check' to hold your own model to its exact Jacobian.")
    return Step("Lesson.", (Para(" ".join(sentences)),))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def story(n: Numbers, *, latex: bool = False) -> list[Step]:
    """The demo's steps, computed from ``n`` (``latex`` prints formulas as LaTeX).

    >>> [step.number for step in story(compute(0, 1.0))]
    [None, 1, 2, 3, 4, 5, 6, 7, None]
    """
    intro = Step(
        "symjac demo: the walkthrough's Jacobians, step by step, with exact answers",
        (
            Para(
                "The walkthrough (the blog post symjac grew from; see the tutorial) derives "
                "Jacobians by hand, then checks PyTorch against itself. symjac redoes every "
                "step exactly (SymPy), so each number torch prints can be held to the true value."
            ),
        ),
    )
    return [
        intro,
        *_examples_steps(n, latex),
        _network_step(n, latex),
        _torch_step(n),
        _backward_step(n),
        _errors_step(n),
        _lesson(n),
    ]


# -- the renderer ---------------------------------------------------------------------------


def _fit(line: str, width: int) -> list[str]:
    """``line`` wrapped at its spaces to ``width`` (splitting a word only if it must)."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.wrap(
        line.strip(),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_on_hyphens=False,
    )


def _pairs_lines(block: Pairs, indent: str, width: int) -> list[str]:
    left_width = max(len(line) for left, _ in block.rows for line in left)
    right_width = max((len(line) for _, right in block.rows for line in right), default=0)
    side_by_side = len(indent) + left_width + 3 + right_width <= width
    lines = []
    for left, right in block.rows:
        if side_by_side:
            for k in range(max(len(left), len(right))):
                a = left[k] if k < len(left) else ""
                b = right[k] if k < len(right) else ""
                lines.append((indent + a.ljust(left_width + 3) + b).rstrip())
        else:  # too wide: the exact values go under torch's
            lines += [(indent + a).rstrip() for a in left]
            lines += [f"{indent}    exact: {b}".rstrip() for b in right if b]
    return lines


def _table_lines(block: Table, indent: str) -> list[str]:
    rows = [block.header, *block.rows]
    widths = [max(len(row[j]) for row in rows) for j in range(len(block.header))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def render(steps: list[Step], style: Style | None = None, width: int = WIDTH) -> list[str]:
    """The steps as lines of at most ``width`` columns (ANSI bold headings with ``style``).

    >>> steps = [Step("A title that is long enough to wrap", (Para("One short paragraph."),), 1)]
    >>> render(steps, width=24)
    ['1. A title that is long', '   enough to wrap', '  One short paragraph.']
    """
    style = style or Style(False)
    out: list[str] = []
    for k, step in enumerate(steps):
        if k:
            out.append("")
        if step.number is None:
            head = textwrap.wrap(step.title, width)
        else:
            head = textwrap.wrap(f"{step.number}. {step.title}", width, subsequent_indent="   ")
        out += [style.bold(line) for line in head]
        for block in step.blocks:
            if isinstance(block, Para):
                out += textwrap.wrap(block.text, width, initial_indent="  ", subsequent_indent="  ")
            elif isinstance(block, Lines):
                out += [
                    part
                    for line in block.lines
                    for part in _fit("  " + line if line else "", width)
                ]
            elif isinstance(block, Pairs):
                out += [
                    part for line in _pairs_lines(block, "  ", width) for part in _fit(line, width)
                ]
            else:
                table = _table_lines(block, "  ")
                out += [style.bold(table[0]) if style.enabled else table[0], *table[1:]]
    return out


# -- the command ----------------------------------------------------------------------------


def document(n: Numbers, steps_data: list[dict[str, Any]], latex: bool) -> dict[str, Any]:
    """The demo as one JSON document (``symjac demo --json``)."""
    run = n.run
    return {
        "command": "demo",
        "seed": n.seed,
        "x": n.x,
        "examples": [
            {"name": name, **jacobian_document(f, point, latex=latex)}
            for name, f, point in n.examples
        ],
        "network": {
            "sizes": list(n.net.sizes),
            "activations": [layer.activation.label for layer in n.net.layers],
            "x_float32": n.x32,
            "stages": steps_data,
            "layer_values": [
                {
                    "name": f"J{k + 1}",
                    "exact": [[mp_text(v, REFERENCE_DIGITS) for v in row] for row in m.tolist()],
                }
                for k, m in enumerate(n.ref.layers)
            ],
            "chain_equals_whole": n.identical,
        },
        "torch": {
            "version": n.torch_version,
            "J1": run["J1"].tolist(),
            "J2": run["J2"].tolist(),
            "J3": run["J3"].tolist(),
            "dp_dx_whole": run["dp_dx"].reshape(-1).tolist(),
            "dp_dx_chain": run["chain"].reshape(-1).tolist(),
            "difference": run["difference"],
            "difference_float32_ulps": float32_ulps_apart(run["chain"].item(), run["dp_dx"].item()),
            "backward": run["backward"],
            "backward_difference": run["backward_difference"],
            "backward_difference_float32_ulps": float32_ulps_apart(
                run["backward"], run["dp_dx"].item()
            ),
        },
        "exact": {"dp_dx": mp_text(n.exact, REFERENCE_DIGITS), "digits": REFERENCE_DIGITS},
        "nearest_float32": {"value": n.nearest, "ulps": n.nearest_ulps},
        "errors": n.methods,
        "walkthrough_backward": n.walkthrough,
    }


def run(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac demo``: the walkthrough, step by step, with the exact answers it lacked.

    >>> code, doc, lines = run(argparse.Namespace(seed=0, x=0.0, latex=False), Style(False))
    >>> code, max(len(line) for line in lines) <= WIDTH
    (0, True)
    """
    if not math.isfinite(args.x):
        raise CliError(f"--x must be a finite number, got {args.x}", EXIT_USAGE)
    if abs(args.x) > FLOAT32_MAX:
        raise CliError(
            f"--x must lie within float32's range (|x| <= {FLOAT32_MAX:.8g}), as the network "
            f"runs in float32; got {args.x}",
            EXIT_USAGE,
        )
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative integer, got {args.seed}", EXIT_USAGE)
    numbers = compute(args.seed, args.x)
    steps = story(numbers, latex=args.latex)
    stage_data = stage_lines(numbers.net, 4)[1]
    return EXIT_OK, document(numbers, stage_data, args.latex), render(steps, style)
