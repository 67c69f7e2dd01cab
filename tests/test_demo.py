"""``symjac demo``: the walkthrough retold in 80 columns, every number-dependent sentence computed.

Expected values are computed here independently (float32 bit patterns with ``struct``,
the nearest float32 with mpmath), never copied from a run.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import struct

import mpmath
import numpy as np
import pytest
import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

import symjac
from symjac import cli, demo
from symjac.cli import Style, main
from symjac.torch_interop.files import examples_model

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@functools.cache
def demo_run(x: float = 1.0, latex: bool = False, colour: bool = False) -> tuple[dict, str]:
    code, doc, lines = demo.run(argparse.Namespace(seed=0, x=x, latex=latex), Style(colour))
    assert code == 0
    return doc, "\n".join(lines)


def bits_apart(a: float, b: float) -> int:
    """float32 numbers between a and b, from their bit patterns (sign-magnitude to ordered)."""

    def ordered(v: float) -> int:
        (i,) = struct.unpack("<i", struct.pack("<f", v))
        return i if i >= 0 else -(i & 0x7FFFFFFF)

    return abs(ordered(a) - ordered(b))


def lesson(text: str) -> str:
    return " ".join(text.split("\nLesson.\n", 1)[1].split())


def step(text: str, number: int) -> str:
    return re.search(rf"^{number}\. .*?(?=^\d\. |^Lesson\.)", text, re.S | re.M).group(0)


# -- 80 columns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "latex", "colour"),
    [
        (1.0, False, False),
        (1.0, False, True),
        (0.0, False, False),
        (-3.0, False, True),
        (0.1, False, False),
        (1e-30, False, False),
        (-2.5e38, False, False),
        (0.0, True, False),
        (-3.0, True, True),
    ],
)
def test_every_line_fits_80_columns(x, latex, colour):
    _, text = demo_run(x, latex, colour)
    assert bool(ANSI.search(text)) == colour
    widths = [len(ANSI.sub("", line)) for line in text.splitlines()]
    assert max(widths) <= demo.WIDTH == 80, text


@pytest.mark.parametrize("x", [1.0, 0.0, -3.0])
def test_columns_never_run_together(x):
    _, text = demo_run(x)
    rows = [line for line in text.splitlines() if line.startswith("  dp/dx ")]
    assert len(rows) == 3
    for line in rows:  # torch's value, then at least 3 spaces, then the exact value
        assert re.fullmatch(r"  dp/dx [^:]*: \S+ {3,}-?\d\.\d+", line), line


def test_help_lists_only_the_exit_codes_demo_returns(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    codes = re.findall(r"^  (\d)  ", out.split("exit codes:\n", 1)[1], re.M)
    assert [int(c) for c in codes] == list(demo.EXIT_CODES) == [0, 2, 4, 6]
    assert "check:" not in out
    assert "walkthrough" in out and "torch.manual_seed" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_x_outside_float32_is_a_one_line_error(capsys):
    assert main(["demo", "--x", "1e39"]) == 2
    captured = capsys.readouterr()
    assert not captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "--x" in lines[0] and "float32" in lines[0]


# -- naming ---------------------------------------------------------------------------------


def test_the_document_is_the_walkthrough_and_the_rng_is_manual_seed():
    for latex in (False, True):
        _, text = demo_run(1.0, latex)
        assert "walkthrough" in text
        # "seed" appears only as torch.manual_seed(0), never for the document
        assert re.findall(r"seed\w*", text, re.I) == ["seed"] * text.count("manual_seed(")
        assert "torch.manual_seed(0)" in text


# -- the model's own signs, textbook form ---------------------------------------------------


def test_stages_show_the_model_signs_in_textbook_form():
    model = examples_model(0)
    w = model.l1.weight[0, 0].item()
    b = model.l1.bias[0].item()
    assert w < 0  # the premise: SymPy would print a1 = -tanh(...)
    z = f"{w:.4g} x {'-' if b < 0 else '+'} {abs(b):.4g}"
    _, text = demo_run()
    assert f"a1 = tanh({z})" in text
    assert f"{w:.4g} (1 - tanh^2({z}))" in text
    assert "W_ij (1 - tanh^2(z_i))" in text
    assert "-tanh(" not in text and ")**2" not in text and "tanh(" + z[1:] not in text
    latex = " ".join(demo_run(1.0, True)[1].split())  # LaTeX lines wrap at spaces
    assert rf"a_1 = \tanh{{\left({z} \right)}}" in latex
    assert rf"{w:.4g} \left(1 - \tanh^{{2}}{{\left({z} \right)}}\right)" in latex


def test_mlp_prints_the_same_textbook_form(capsys):
    assert main(["mlp", "--sizes", "1,2,2,1", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    _, text = demo_run()
    stage1 = re.search(r"a1 = .*\n.*\n.*\n.*\n.*\n", out).group(0)
    assert stage1.replace("\n", "\n  ") in text  # demo indents mlp's stage lines by 2


TRANSFORMS = (*standard_transformations, convert_xor, implicit_multiplication_application)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "silu", "relu", "elu", "gelu"])
def test_textbook_text_means_the_sympy_expression(activation):
    # the text is built from the weights, not from SymPy: parse it back and compare values
    weights = [[[-0.375], [1.25]], [[0.5, -2.0]]]
    net = symjac.mlp([1, 2, 1], activation, weights=weights, biases=[[0.625, -0.25], [0.125]])
    x0 = 0.3
    names = {"x": sympy.Symbol("x")}
    stage = cli.stage_formulas(net, 17)[0]
    exact_outputs = [e.subs(net.inputs[0], x0) for e in net.stages[0].outputs]
    exact_entries = net.layer_jacobians()[0].matrix.subs(net.inputs[0], x0)
    local = {"x": names["x"], "Heaviside": sympy.Heaviside, "Max": sympy.Max}
    local["sigmoid"] = symjac.functions.sigmoid
    for i, text in enumerate(stage["outputs"]):
        parsed = parse_expr(text, local_dict=local, transformations=TRANSFORMS)
        assert float(parsed.subs(names["x"], x0)) == pytest.approx(float(exact_outputs[i]))
    for i, row in enumerate(stage["entries"]):
        parsed = parse_expr(row[0], local_dict=local, transformations=TRANSFORMS)
        assert float(parsed.subs(names["x"], x0)) == pytest.approx(float(exact_entries[i, 0]))


# -- labelled differences -------------------------------------------------------------------


@pytest.mark.parametrize("x", [1.0, 0.0])
def test_every_printed_difference_says_what_it_is(x):
    doc, text = demo_run(x)
    lines = text.splitlines()
    found = 0
    for k, line in enumerate(lines):
        if line.startswith("  difference: "):
            found += 1
            label = " ".join(" ".join(lines[k + 1 : k + 4]).split())
            assert label.startswith("That difference is "), label
            assert " minus " in label and "(in units of dp/dx)" in label
    assert found == 2
    torch_run = doc["torch"]
    chain_steps = bits_apart(torch_run["dp_dx_chain"][0], torch_run["dp_dx_whole"][0])
    assert torch_run["difference_float32_ulps"] == chain_steps
    words = {0: "the same float32 number", 1: "neighbouring float32 numbers, 1 float32 ULP apart"}
    expected = words.get(chain_steps, f"{chain_steps} float32 ULPs apart")
    assert expected in " ".join(step(text, 5).split())
    assert "value - exact" in text  # the error column says what it is


# -- the walkthrough's backward value -------------------------------------------------------


def test_walkthrough_value_is_explained_as_a_different_float32_result():
    doc, text = demo_run()
    value, today = demo.WALKTHROUGH_BACKWARD, doc["torch"]["backward"]
    assert struct.unpack("<f", struct.pack("<f", value))[0] == value  # a float32 number
    apart = bits_apart(value, today)
    assert doc["walkthrough_backward"]["float32_ulps_from_torch"] == apart
    said = " ".join(step(text, 6).split())
    assert f"The walkthrough printed {value!r} here" in said
    if apart == 0:
        assert "the same float32 number" in said
    else:
        assert f"a different float32 number from today's {today!r}" in said
        assert f"{apart} float32 ULP" in said
        assert "older torch the walkthrough ran computed a different float32 result" in said
    assert "significant" not in text and "depend on its version" not in text


def test_walkthrough_value_only_where_it_belongs():
    doc, text = demo_run(0.0)
    assert doc["walkthrough_backward"] is None
    assert repr(demo.WALKTHROUGH_BACKWARD) not in text


# -- statements computed from the numbers ---------------------------------------------------


def nearest_float32(exact: mpmath.mpf) -> float:
    f = np.float32(float(exact))
    near = [f, np.nextafter(f, np.float32(-1e30)), np.nextafter(f, np.float32(1e30))]
    return float(min(near, key=lambda c: abs(mpmath.mpf(float(c)) - exact)))


@pytest.mark.parametrize("x", [1.0, 0.0, -3.0])
def test_closeness_statements_are_computed(x):
    doc, text = demo_run(x)
    with mpmath.workdps(60):
        exact = mpmath.mpf(doc["exact"]["dp_dx"])
        nearest = nearest_float32(exact)
    assert doc["nearest_float32"]["value"] == nearest
    said = lesson(text)
    for method in doc["errors"]:
        steps = bits_apart(method["value"], nearest)
        assert method["ulps_from_nearest"] == steps
        if steps == 0:
            where = "the float32 number nearest dp/dx, as close as float32 allows"
        else:
            where = (
                f"{steps} float32 ULP{'' if steps == 1 else 's'} from the float32 number nearest"
            )
        assert f"{method['value']!r}: {where}" in said, (method, said)
    closest = sum(1 for m in doc["errors"] if bits_apart(m["value"], nearest) == 0)
    assert said.count("as close as float32 allows") == (1 if closest else 0)


@pytest.mark.parametrize("x", [1.0, 0.0, -3.0])
def test_closing_lesson_quotes_the_differences_printed(x):
    _, text = demo_run(x)
    said = lesson(text)
    for number in (5, 6):
        printed = re.search(r"^  (difference: \S+)", step(text, number), re.M).group(1)
        value = float(printed.split()[1])
        if value == 0:
            assert re.search(rf"'{re.escape(printed)}' of [^.]*step {number}", said), said
        else:
            assert f"Step {number}'s '{printed}' is float32 rounding" in said
            assert not re.search(rf"'difference: 0\.0' of [^.]*step {number}\b", said)


def test_float32_ulps_apart():
    one_up = float(np.nextafter(np.float32(1), np.float32(2)))
    tiny = float(np.nextafter(np.float32(0), np.float32(1)))
    assert demo.float32_ulps_apart(1.0, one_up) == 1 == bits_apart(1.0, one_up)
    assert demo.float32_ulps_apart(-tiny, tiny) == 2
    assert demo.float32_ulps_apart(-0.0, 0.0) == 0
    assert demo.float32_ulps_apart(-1.0, -1.0) == 0
    assert not demo.is_float32(0.1) and demo.is_float32(-0.060868293046951294)
    assert not demo.is_float32(math.inf)


def test_renderer_stacks_columns_that_would_not_fit():
    wide = demo.Pairs(((("torch " * 9,), ("exact " * 7,)),))
    lines = demo.render([demo.Step("Title", (wide,), 1)], width=80)
    assert lines[1] == "  " + ("torch " * 9).rstrip()
    assert lines[2] == "      exact: " + ("exact " * 7).rstrip()
    narrow = demo.Pairs(((("torch",), ("exact",)),))
    assert demo.render([demo.Step("Title", (narrow,), 1)])[1] == "  torch   exact"
    long_word = demo.Lines(("x" * 100,))
    assert max(len(line) for line in demo.render([demo.Step("T", (long_word,))])) <= 80


def test_step_two_prints_the_quadratics_hessian():
    _, text = demo_run()
    two = step(text, 2)
    assert "Hessian H_f" in two
    assert "[2  3]" in two and "[3  2]" in two
    _, latex = demo_run(latex=True)
    flat = " ".join(step(latex, 2).split())  # the renderer wraps long LaTeX lines
    assert r"\end{pmatrix} = \begin{pmatrix} 2 & 3 \\ 3 & 2 \end{pmatrix}" in flat
