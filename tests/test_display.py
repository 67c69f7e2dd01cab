"""Notebook display: what Jupyter shows for each object, and the one digits default."""

from __future__ import annotations

import sys

import mpmath
import numpy as np
import pytest
import torch

import symjac
from symjac.accuracy import measure
from symjac.comparison import Report, Row
from symjac.display import DIGITS, LayerJacobians


def _exact(value: float) -> np.ndarray:
    return np.array([[mpmath.mpf(value)]], dtype=object)


# -- layer Jacobians ------------------------------------------------------------------------------


def test_layer_jacobians_render_side_by_side() -> None:
    net = symjac.mlp([1, 1, 1], weights=[[[0.5]], [[3]]], biases=False, activation="tanh")
    jacs = net.layer_jacobians()
    assert jacs._repr_latex_() == r"$J_1 = 0.5 - 0.5 \tanh^{2}{\left(0.5 x \right)}, \quad J_2 = 3$"
    assert jacs.latex(digits=None) == (
        r"J_1 = \frac{1}{2} - \frac{\tanh^{2}{\left(\frac{x}{2} \right)}}{2}, \quad J_2 = 3"
    )


def test_layer_jacobians_are_still_a_list() -> None:
    net = symjac.mlp([1, 2, 1], weights=[[[1], [2]], [[3, 4]]], biases=False, activation="tanh")
    jacs = net.layer_jacobians()
    assert isinstance(jacs, LayerJacobians) and isinstance(jacs, list)
    J1, J2 = jacs
    assert jacs == [J1, J2] and jacs[-1] is J2 and jacs[:1] == [J1]
    jacs.pop()
    assert len(net.layer_jacobians()) == 2  # a fresh list each call


# -- one digits default ---------------------------------------------------------------------------


def test_layer_jacobians_of_float_weights_print_decimals_like_the_network() -> None:
    net = symjac.mlp([1, 2], weights=[[[0.1], [-2]]], biases=False)
    (J,) = net.layer_jacobians()
    assert J.digits == DIGITS
    assert J.latex(show="value") == r"\begin{pmatrix} 0.1 \\ -2 \end{pmatrix}"
    assert J.latex(show="value", digits=None) == (
        r"\begin{pmatrix} \frac{3602879701896397}{36028797018963968} \\ -2 \end{pmatrix}"
    )
    assert J._repr_latex_() == f"${J.latex(digits=DIGITS)}$"
    assert net.latex() == net.latex(digits=DIGITS)
    assert net.latex().splitlines()[1] == J.latex()


def test_a_real_model_layer_jacobian_is_short() -> None:
    net = symjac.from_torch(symjac.examples.small_mlp(seed=0))
    J1 = net.layer_jacobians()[0]
    assert r"\frac" not in J1.latex(show="value")
    assert r"\frac{" in J1.latex(show="value", digits=None)  # binary fractions, exactly
    assert len(J1.latex()) < len(J1.latex(digits=None))


def test_maps_you_write_stay_exact() -> None:
    J = symjac.jacobian("x/3", "x")
    assert J.digits is None
    assert J.latex() == r"J_f = \frac{d f}{d x} = \frac{1}{3}"
    assert J.latex(digits=2) == r"J_f = \frac{d f}{d x} = 0.33"


@pytest.mark.parametrize("digits", [0, -1, 2.5, True, "4"])
def test_bad_digits_default_is_refused(digits: object) -> None:
    J = symjac.jacobian("x", "x")
    with pytest.raises(ValueError, match="digits must be a positive int or None"):
        symjac.Jacobian(J.matrix, J.function, digits=digits)  # type: ignore[arg-type]


# -- network ------------------------------------------------------------------------------------


def test_network_renders_one_formula_per_row() -> None:
    net = symjac.mlp([1, 1], weights=[[[2]]], biases=False)
    assert net._repr_latex_() == (
        r"$$\begin{gathered} p(x) = 2 x \\ J_1 = \frac{d p}{d x} = 2 \\ "
        r"\frac{\partial p}{\partial x} = J_1 \end{gathered}$$"
    )


# -- report ---------------------------------------------------------------------------------------


def test_report_html_table_with_verdict_colours() -> None:
    bad = measure(np.array([[0.0]]), _exact(0.25), "float32")
    kink = measure(np.array([[1.0]]), _exact(1), "float32", convention="relu at its kink")
    report = Report(
        "Toy [1, 1]",
        [0.5],
        ["float32"],
        [Row("whole", "autograd", bad, (0.5,)), Row("whole", "jacrev", kink, (0.5,), "kink")],
        notes=["a note"],
        input_names=["x"],
    )
    left = '<th style="text-align:left">'
    right = '<th style="text-align:right">'
    r = '<td style="text-align:right">'
    assert report._repr_html_() == "\n".join(
        [
            '<div class="symjac-report">',
            "<p><b>symjac.compare</b>: Toy [1, 1] at x = [0.5]<br>inputs (x); exact: mpmath, "
            "50 digits; default tolerance: float32 rtol 0.0003 or 64 ULPs</p>",
            '<table cellpadding="3">',
            f"<thead><tr>{left}qty</th>{left}method</th>{left}dtype</th>{left}shape</th>"
            f"{right}max|err|</th>{right}rel.err</th>{right}max ULPs</th>{left}worst</th>"
            f"{right}computed</th>{right}exact</th>{left}verdict</th></tr></thead>",
            f"<tbody><tr><td>whole</td><td>autograd</td><td>float32</td><td>1x1</td>{r}0.25</td>"
            f"{r}1</td>{r}8.4e+06</td><td>0,0</td>{r}0</td>{r}0.25</td>"
            '<td style="color:#a40e26;background:#ffebe9;font-weight:bold">mismatch</td></tr>'
            f"<tr><td>whole</td><td>jacrev</td><td>float32</td><td>1x1</td>{r}0</td>{r}0</td>"
            f"{r}0</td><td>0,0</td>{r}1</td>{r}1</td>"
            '<td style="color:#7d4e00;background:#fff8c5;font-weight:bold">convention [1]</td>'
            "</tr></tbody>",
            "</table>",
            '<p style="color:#a40e26;font-weight:bold">FAILED: 1 of 2 rows within tolerance</p>',
            "<ul><li>[1] kink</li><li>note: a note</li></ul>",
            "</div>",
        ]
    )


def test_report_html_escapes_and_passes_green() -> None:
    ok = measure(np.array([[0.5]]), _exact(0.5), "float64")
    report = Report("Net<T> & co", [1.0], ["float64"], [Row("whole", "autograd", ok, (1.0,))])
    page = report._repr_html_()
    assert "Net&lt;T&gt; &amp; co" in page and "<T>" not in page
    assert '<td style="color:#116329;background:#dafbe1;font-weight:bold">ok</td>' in page
    assert '<p style="color:#116329;font-weight:bold">OK: 1 of 1 rows within tolerance</p>' in page
    assert "<ul>" not in page  # no notes, no list


# -- scan ---------------------------------------------------------------------------------------


def test_scan_shows_its_plot() -> None:
    s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
    png = s._repr_png_()
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")


def test_scan_without_matplotlib_falls_back_to_text(monkeypatch: pytest.MonkeyPatch) -> None:
    s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
    for name in ("matplotlib.backends.backend_agg", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    assert s._repr_png_() is None
    assert repr(s).startswith("Scan(")
