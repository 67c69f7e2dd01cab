"""symjac.scan: errors over many points, and the PNG plot."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

import symjac
from symjac.comparison import METHODS


@pytest.fixture(scope="module")
def tanh_scan():
    return symjac.scan(nn.Tanh(), np.linspace(-12, 12, 241))


def test_float32_autograd_leaves_the_band_past_5_float64_stays_inside(tanh_scan):
    x = tanh_scan.x
    ok32 = tanh_scan.series("autograd", "float32").ok
    assert ok32[np.abs(x) <= 5.0].all()
    assert not ok32[np.abs(x) >= 8].any()
    assert (~ok32[(np.abs(x) > 5.3) & (np.abs(x) < 8)]).mean() > 0.8
    for method in ("autograd", "jacrev", "jacfwd", "backward"):
        assert tanh_scan.series(method, "float64").ok.all(), method
    ulps32 = tanh_scan.series("jacrev", "float32").max_ulps
    assert ulps32[np.argmin(np.abs(x - 10))] > 1e6
    band = tanh_scan.series("autograd", "float64").band_ulps
    assert (band > 1e9).all()  # rtol 1e-6 relative to max|J| = tanh'(x) is >= 1e9 ULPs


def test_scan_agrees_with_compare_at_a_point(tanh_scan):
    k = int(np.argmin(np.abs(tanh_scan.x - 10)))
    row = symjac.compare(nn.Tanh(), [float(tanh_scan.x[k])]).row("whole", "autograd", "float32")
    assert tanh_scan.series("autograd", "float32").max_ulps[k] == pytest.approx(row.max_ulps)


def test_plot_writes_a_png(tanh_scan, tmp_path):
    path = tanh_scan.plot(tmp_path / "tanh.png")
    data = (tmp_path / "tanh.png").read_bytes()
    assert str(path).endswith("tanh.png") and len(data) > 1000 and data[:4] == b"\x89PNG"


def test_plot_without_matplotlib_says_how_to_install(tanh_scan, tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"symjac\[plot\]"):
        tanh_scan.plot(tmp_path / "x.png")


def test_scan_of_batches_maps_and_networks():
    points = np.array([[0.5, -1.0], [1.0, 2.0], [0.0, 0.0]])
    s = symjac.scan(symjac.examples.planar(), points, dtypes="float64")
    assert s.x is None and s.ok and s.points.shape == (3, 2)
    assert "backward" not in s.methods
    net = symjac.examples.small_mlp(seed=0)
    s2 = symjac.scan(net, torch.linspace(-2, 2, 9))
    assert s2.ok and set(s2.methods) == set(METHODS)


def test_scan_flags_kinks_as_conventions():
    net = symjac.mlp([1, 1], "identity", weights=[[[1]]], biases=False, output_activation="relu")
    s = symjac.scan(net, [-1.0, 0.0, 1.0], dtypes="float64")
    assert s.series("autograd", "float64").convention.tolist() == [False, True, False]
    assert s.ok


def test_scan_user_mistakes():
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        symjac.scan(symjac.examples.planar(), [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        symjac.scan(nn.Tanh(), [0.0, float("inf")])
    with pytest.raises(KeyError, match="no series"):
        symjac.scan(nn.Tanh(), [0.0], dtypes="float64").series("autograd", "float32")
