"""Every elementwise kernel of the batched chain (NOTE: kernels in symjac.kernels) is as exact.

The kernel choice is measured per machine, so every test forces each choice in turn and
holds it to the same bound against the high-precision reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import symjac
from symjac import kernels
from symjac.kernels import forced_kernels, kernel_choice

KERNELS = kernels.KERNEL_NAMES


def _net(seed, sizes, activation="tanh", output="identity"):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    biases = [rng.normal(size=sizes[k + 1]) for k in range(len(sizes) - 1)]
    return symjac.mlp(
        sizes, activation=activation, weights=weights, biases=biases, output_activation=output
    )


def _reference(net, points):
    return np.array([[[float(v) for v in row] for row in net.reference(p).whole] for p in points])


def _worst(got, ref):
    """Largest error over points, each relative to that point's max|J|."""
    scale = np.abs(ref).reshape(len(ref), -1).max(axis=1)
    return float((np.abs(got - ref).reshape(len(ref), -1).max(axis=1) / scale).max())


NETS = [
    # reverse order, one output: the chain divides by cosh(z)**2 (NOTE: tanh-slope)
    ([3, 6, 5, 1], "tanh", "identity"),
    # reverse order, two outputs; a tanh output layer
    ([4, 5, 5, 2], "tanh", "tanh"),
    # forward order, one input: the divide path on the input side
    ([1, 6, 6, 4], "tanh", "identity"),
    ([3, 5, 5, 2], "sigmoid", "sigmoid"),
]


@pytest.mark.parametrize(("sizes", "activation", "output"), NETS)
def test_every_kernel_is_as_close_to_the_reference(sizes, activation, output):
    net = _net(len(sizes) + sizes[0], sizes, activation, output)
    rng = np.random.default_rng(1)
    # moderate points, and points large enough to saturate some units
    points = np.concatenate(
        [rng.uniform(-1.5, 1.5, (24, sizes[0])), rng.uniform(-8, 8, (8, sizes[0]))]
    )
    ref = _reference(net, points)
    fn = net.numeric("numpy")
    errors = {}
    for name in KERNELS:
        with forced_kernels(name):
            assert set(fn.kernels.values()) == {name}
            got = fn(points)
        errors[name] = _worst(got, ref)
    # each chain is a few roundings per layer from the exact Jacobian (NOTE: tanh-slope),
    # and no kernel is measurably further from it than NumPy's np.tanh / np.cosh chain
    assert max(errors.values()) < 2e-14, errors
    assert all(e <= 1.5 * errors["numpy"] + 1e-15 for e in errors.values()), errors


def test_float32_kernels_match_the_float64_reference():
    net = _net(3, [4, 8, 8, 1])
    points = np.random.default_rng(2).uniform(-2, 2, (1200, 4))  # float32 chain above _F32_NUMPY
    x = torch.as_tensor(points, dtype=torch.float32)
    ref = net.numeric("numpy")(x.double().numpy())  # at the float32 points themselves
    fn = net.numeric("torch")
    errors = {}
    for name in KERNELS:
        with forced_kernels(name):
            got = fn(x)
        assert got.dtype == torch.float32
        errors[name] = _worst(got.double().numpy(), ref)
    assert max(errors.values()) < 5e-5, errors  # weights and values rounded to float32
    assert all(e <= 1.5 * errors["numpy"] + 1e-7 for e in errors.values()), errors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["tanh", "sigmoid"])
def test_kernels_stay_finite_and_agree_at_saturation(kind, dtype):
    z = np.array([-1e4, -800.0, -354.0, -60.0, -20.0, -1e-30, 0.0, 1e-30, 20.0, 88.0, 800.0])
    z = z.astype(dtype)
    results = {}
    for name, fn in kernels.KERNELS[kind].items():
        # tanh kernels take u = 2z (their layers' weights are doubled)
        u = 2 * z if kind == "tanh" else z.copy()
        with np.errstate(all="ignore"):  # as in the chain: cosh(2z) may overflow to inf
            value, slope = fn(u, True, False)
        assert np.isfinite(value).all() and np.isfinite(slope).all(), name
        results[name] = (value, slope)
    exact_value = np.tanh(z.astype(np.longdouble)) if kind == "tanh" else None
    tiny = np.finfo(dtype).tiny
    for name, (value, slope) in results.items():
        ref_v, ref_s = results["numpy"]
        # slopes within a few times the smallest normal number may be rounded differently
        big = np.maximum(np.abs(ref_s), np.abs(slope)) > 8 * tiny
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(slope[big], ref_s[big], rtol=8 * eps, atol=0, err_msg=name)
        assert (np.abs(slope[~big]) <= 8 * tiny).all(), name
        np.testing.assert_allclose(value, ref_v, rtol=0, atol=4 * eps, err_msg=name)
        if exact_value is not None:
            err = np.abs(value.astype(np.longdouble) - exact_value).max()
            assert err <= 4 * eps, name


def test_divisor_form_is_the_slopes_reciprocal():
    z = np.linspace(-30, 30, 241)
    for name, fn in kernels.KERNELS["tanh"].items():
        _, slope = fn(2 * z, False, False)
        _, divisor = fn(2 * z, False, True)
        np.testing.assert_allclose(slope * divisor, 1.0, rtol=4e-16 * 8, err_msg=name)


def test_choice_is_one_of_the_kernels_and_is_reported():
    for kind in ("tanh", "sigmoid"):
        for dtype in (np.float64, np.float32):
            assert kernel_choice(kind, dtype) in KERNELS
            assert kernel_choice(kind, dtype, 64) in KERNELS
    fn = _net(0, [2, 3, 1]).numeric("torch")
    assert list(fn.kernels) == ["tanh/float64", "tanh/float32"]
    assert "kernels=" in repr(fn)
    assert all(any(k in label for k in KERNELS) for label in fn.kernels.values())
    assert _net(0, [2, 3, 1], activation="identity").numeric().kernels == {}
    assert _net(0, [2, 3, 1]).numeric("mpmath").kernels == {}


def test_forced_kernels_rejects_unknown_names():
    with (
        pytest.raises(ValueError, match=r"unknown kernels 'fast'; choose one of numpy"),
        forced_kernels("fast"),
    ):
        pass


def test_extended_precision_blocks_take_the_numpy_kernels():
    # the benchmark's 80-bit chain: neither exp kernel can run on np.longdouble
    net = _net(5, [2, 4, 1])
    fn = net.numeric("numpy")
    points = np.random.default_rng(0).uniform(-1, 1, (300, 2))
    for name in KERNELS:
        with forced_kernels(name):
            ext = fn.path.batched(points.astype(np.longdouble), len(points))
        assert ext.dtype == np.longdouble
        np.testing.assert_allclose(ext.astype(float), fn(points), rtol=0, atol=1e-14)


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_gives_numpys_product_by_either_library(monkeypatch, library, dtype):
    # NOTE: chain-matmul: whichever library the timing picks, the same product
    monkeypatch.setattr(kernels, "_MATMUL", {})
    monkeypatch.setattr(kernels, "_time_matmul", lambda a, b, out: library)
    rng = np.random.default_rng(4)
    w = rng.normal(size=(5, 3)).astype(dtype)
    a = rng.normal(size=(3, 40)).astype(dtype)
    stack = rng.normal(size=(2, 3, 40)).astype(dtype)
    eps = float(np.finfo(dtype).eps)

    def close(got, want):  # a few roundings of the largest term: the order of a sum
        np.testing.assert_allclose(got, want, rtol=0, atol=16 * eps * np.abs(want).max())

    close(kernels.matmul(w, a), w @ a)
    close(kernels.matmul(w, stack), w @ stack)
    out = np.empty((40, 2, 5), dtype=dtype).transpose(1, 0, 2)  # written through a view
    got = kernels.matmul(stack.transpose(0, 2, 1), w.T, out=out)
    assert got is out
    close(out, stack.transpose(0, 2, 1) @ w.T)
    assert set(kernels.matmul_choices()) == {library}


def test_matmul_leaves_arrays_torch_cannot_share_to_numpy(monkeypatch):
    monkeypatch.setattr(kernels, "_MATMUL", {})
    monkeypatch.setattr(kernels, "_time_matmul", lambda a, b, out: "torch")
    w = np.arange(6.0).reshape(2, 3)
    frozen = np.ones((3, 4))
    frozen.flags.writeable = False  # torch.from_numpy would warn
    flipped = np.ones((3, 4))[::-1]  # negative strides: torch.from_numpy refuses
    extended = np.ones((3, 4), dtype=np.longdouble)
    single = np.ones((3, 4), dtype=np.float32)  # NumPy promotes it to w's float64
    for b in (frozen, flipped, extended, single):
        np.testing.assert_array_equal(kernels.matmul(w, b), w @ b)
    assert kernels.matmul_choices() == {}  # none of them was timed


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["tanh", "sigmoid"])
def test_a_bias_is_added_as_the_chain_would_add_it(kind, dtype):
    # the compiled kernels add the bias inside their loop: bit for bit z + b first
    rng = np.random.default_rng(4)
    z = rng.uniform(-4, 4, (5, 37)).astype(dtype)
    b = rng.uniform(-1, 1, (5, 1)).astype(dtype)
    for name in kernels.available_kernels():
        fn = kernels.KERNELS[kind][name]
        for value, divide in ((True, False), (True, True), (False, False)):
            got_v, got_s = fn(z.copy(), value, divide, b)
            want_v, want_s = fn(z + b, value, divide)
            np.testing.assert_array_equal(got_s, want_s, err_msg=name)
            if value:
                np.testing.assert_array_equal(got_v, want_v, err_msg=name)


def test_a_bias_of_the_wrong_length_is_refused():
    if "compiled" not in kernels.available_kernels():
        pytest.skip(f"no compiled kernels here: {kernels.compiled_unavailable_reason()}")
    tanh = kernels.KERNELS["tanh"]["compiled"]
    with pytest.raises(
        ValueError, match=r"needs 5 values, one per row; got 3 values .* shape \(5, 4\)"
    ):
        tanh(np.zeros((5, 4)), True, False, np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"needs a 2-D block; got 4 values .* shape \(4,\)"):
        tanh(np.zeros(4), True, False, np.zeros(4))
