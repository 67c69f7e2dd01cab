"""The compiled kernels (NOTE: native kernels in symjac._native): built, cached, refused,
and as exact as the NumPy kernels, elementwise against mpmath."""

from __future__ import annotations

import os
import stat

import mpmath
import numpy as np
import pytest

from symjac import SymjacError, _native, kernels
from symjac.kernels import available_kernels, forced_kernels

needs_native = pytest.mark.skipif(
    _native.library() is None and os.environ.get("CI") != "true",
    reason=f"no compiled kernels here: {_native.unavailable_reason()}",
)


def test_ci_has_the_compiled_kernels():
    # CI runs on machines with a C compiler: there, every kernel test must cover them
    if os.environ.get("CI") != "true":
        pytest.skip("only CI promises a C compiler")
    assert _native.library() is not None, _native.unavailable_reason()
    assert "compiled" in available_kernels()


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """``_native._load`` with its cache in a new directory; the process's library kept."""
    monkeypatch.setenv("SYMJAC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SYMJAC_NATIVE", raising=False)
    return tmp_path / "cache"


@needs_native
def test_builds_into_a_private_cache_then_loads_from_it(fresh):
    lib = _native._load()
    assert lib.symjac_native_version() == _native._VERSION
    (built,) = fresh.iterdir()
    assert built.name.startswith("symjac-native-") and built.suffix == ".so"
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    before = built.stat().st_mtime_ns
    assert _native._load().symjac_native_version() == _native._VERSION
    assert built.stat().st_mtime_ns == before  # loaded, not rebuilt


@needs_native
def test_a_cache_others_can_write_to_is_not_used(fresh):
    fresh.mkdir()
    fresh.chmod(0o777)
    planted = fresh / "planted.so"
    planted.write_bytes(b"not a library")
    assert _native._load().symjac_native_version() == _native._VERSION
    assert sorted(p.name for p in fresh.iterdir()) == ["planted.so"]  # built elsewhere


@needs_native
def test_a_damaged_cached_library_is_rebuilt(fresh, monkeypatch, tmp_path):
    _native._load()
    (built,) = fresh.iterdir()
    # the same name in another cache, damaged (never rewrite a loaded library in place:
    # the process maps it; the cache itself only ever replaces files, os.replace)
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    (other / built.name).write_bytes(b"\0" * 64)
    monkeypatch.setenv("SYMJAC_CACHE_DIR", str(other))
    assert _native._load().symjac_native_version() == _native._VERSION
    assert (other / built.name).stat().st_size > 64


def test_turned_off_or_without_a_compiler_they_are_unavailable(fresh, monkeypatch):
    monkeypatch.setenv("SYMJAC_NATIVE", "0")
    with pytest.raises(_native._Unavailable, match=r"turned off by SYMJAC_NATIVE=0"):
        _native._load()
    monkeypatch.setenv("SYMJAC_NATIVE", "1")
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    with pytest.raises(_native._Unavailable, match=r"'false' could not compile _native\.c"):
        _native._load()


def test_forcing_unavailable_kernels_says_why(monkeypatch):
    monkeypatch.setattr(_native, "_state", {"lib": None, "reason": "no C compiler found"})
    monkeypatch.setattr(kernels, "_COSTS", {})
    assert "compiled" not in available_kernels()
    with (
        pytest.raises(
            SymjacError,
            match=r"the 'compiled' kernels are unavailable here: no C compiler found; "
            r"choose one of numpy, numpy-exp, torch-exp",
        ),
        forced_kernels("compiled"),
    ):
        pass
    assert kernels.kernel_choice("tanh", np.float64) != "compiled"  # calibrated without


def _ulps(got: np.ndarray, exact: list, dtype) -> np.ndarray:
    tiny = np.finfo(dtype).smallest_subnormal
    out = []
    for g, e in zip(got.tolist(), exact):
        ef = dtype(float(e))
        unit = float(np.spacing(abs(ef))) if ef != 0 else float(tiny)
        out.append(float(abs(mpmath.mpf(g) - e)) / unit)
    return np.array(out)


POINTS = np.concatenate(
    [
        np.linspace(-20, 20, 801),
        np.geomspace(1e-300, 1, 120),
        -np.geomspace(1e-12, 1, 60),
        np.linspace(-360, -340, 41),  # slopes in the subnormal range
    ]
)


def _errors(kernel, u, z, value_of, slope_of, dtype):
    """ulps of a kernel's values and slopes at ``z`` (its input ``u``) from 120-bit ones."""
    mpmath.mp.prec = 120
    v, s = kernel(u, True, False)
    exact = [mpmath.mpf(float(x)) for x in z]
    return (
        v,
        s,
        _ulps(v, [value_of(x) for x in exact], dtype),
        _ulps(s, [slope_of(x) for x in exact], dtype),
    )


@pytest.fixture(params=["native", "portable"])
def build(request, monkeypatch, tmp_path):
    """The kernels as built for this CPU, and as built without ``-march`` (the fallback
    build, which has no fused multiply-add on x86-64: Dekker's exact products instead)."""
    if _native.library() is None:
        pytest.skip(f"no compiled kernels here: {_native.unavailable_reason()}")
    if request.param == "portable":
        monkeypatch.setenv("SYMJAC_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setattr(_native, "_ARCH_FLAGS", ((),))
        monkeypatch.setitem(_native._state, "lib", _native._load())
    return request.param


@needs_native
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_values_and_slopes_are_within_a_few_ulps(dtype, build):
    z = POINTS.astype(dtype)
    z = z if dtype == np.float64 else z[np.abs(z) < 50]
    _, s, err_t, err_s = _errors(_native.tanh, 2 * z, z, mpmath.tanh, _sech2, dtype)
    normal = s > np.finfo(dtype).tiny * 4
    if dtype == np.float64:
        # double-double arithmetic: measured 0.499 and 0.521 ulp at most (values, normal
        # slopes; subnormal slopes, |z| > 354, 2 units of the smallest subnormal)
        assert err_t.max() <= 0.55 and err_s[normal].max() <= 0.55, (err_t.max(), err_s.max())
        assert err_s.max() <= 2.0 and err_t.mean() <= 0.25 and err_s.mean() <= 0.25
    else:  # one rounding per step: measured 1.9 and 3.0
        assert err_t.max() <= 2.0 and err_s.max() <= 3.5, (err_t.max(), err_s.max())
        assert err_t.mean() <= 0.5 and err_s.mean() <= 0.5, (err_t.mean(), err_s.mean())
    _, c = _native.tanh(2 * z, False, True)
    np.testing.assert_allclose(c[normal] * s[normal], 1, rtol=4 * np.finfo(dtype).eps)


def _sech2(x):
    return mpmath.sech(x) ** 2


def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def _sigmoid_slope(x):
    return _sigmoid(x) * _sigmoid(-x)


@needs_native
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_values_and_slopes_are_within_a_few_ulps(dtype, build):
    z = POINTS.astype(dtype)
    z = z if dtype == np.float64 else z[np.abs(z) < 80]
    *_, err_v, err_s = _errors(_native.sigmoid, z.copy(), z, _sigmoid, _sigmoid_slope, dtype)
    bound_v, bound_s = (0.55, 0.55) if dtype == np.float64 else (2.5, 4.0)  # 0.505 and 0.501
    assert err_v.max() <= bound_v and err_s.max() <= bound_s, (err_v.max(), err_s.max())


@needs_native
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values(dtype):
    z = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4], dtype=dtype)
    t, s = _native.tanh(2 * z, True, False)
    assert np.isnan(t[0]) and np.isnan(s[0])
    assert t[1:].tolist() == [1, -1, 0, 0, 1, -1] and np.signbit(t[4])
    assert s[1:].tolist() == [0, 0, 1, 1, 0, 0]
    v, s = _native.sigmoid(z.copy(), True, False)
    assert np.isnan(v[0]) and np.isnan(s[0])
    assert v[1:].tolist() == [1, 0, 0.5, 0.5, 1, 0] and s[3] == 0.25


@needs_native
def test_non_contiguous_blocks_are_copied_not_misread():
    full = np.linspace(-3, 3, 40).reshape(4, 10)
    z, u = full[:, ::2], (2 * full)[:, ::2]
    assert not u.flags.c_contiguous
    t, s = _native.tanh(u, True, False)
    np.testing.assert_allclose(t, np.tanh(z), rtol=0, atol=4e-16)
    t, s = _native.tanh(np.asfortranarray(2 * z), False, False)
    assert t is None
    np.testing.assert_allclose(s, np.cosh(z) ** -2, rtol=1e-15)
