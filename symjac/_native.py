"""symjac's compiled elementwise kernels, built at run time with the machine's C compiler.

NOTE: native kernels
    The batched chain's activations cost one exponential and about ten NumPy passes over
    each block (NOTE: kernels in symjac.kernels); neither NumPy's ufuncs nor torch's eager
    kernels fuse them. ``_native.c`` computes a block's values and slopes in one
    branch-free loop that the compiler vectorises for the CPU at hand, with its own
    exponential (no libm call) in the cancellation-free forms of NOTE: stable-rewrites.
    It is not built at install time (``pip install`` must work without a compiler): on
    first use, :func:`library` compiles it with ``$CC`` or ``cc`` (``-O3 -march=native``,
    then without ``-march`` if the compiler rejects it) into a per-user cache
    (``$SYMJAC_CACHE_DIR``, else ``$XDG_CACHE_HOME/symjac`` or ``~/.cache/symjac``), under
    a name that hashes the source, the compiler, its flags and the CPU (a library built
    for one CPU must not be loaded on another: it could use instructions this one lacks).
    A cached library is loaded only from a directory and file that are the user's own and
    not writable by others; otherwise it is built in a private temporary directory.
    ``SYMJAC_NATIVE=0`` turns the kernels off; without a compiler, or if the build fails,
    they are unavailable, :func:`unavailable_reason` says why, and the calibration
    chooses among the other kernels. The tests hold these kernels to the same
    high-precision reference as the others.

>>> lib = library()
>>> lib is None or lib.symjac_native_version() == 2
True
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["library", "sigmoid", "tanh", "unavailable_reason"]

_SOURCE = Path(__file__).with_name("_native.c")
#: the interface version ``_native.c`` reports (``symjac_native_version``)
_VERSION = 2
#: seconds one compiler run may take
_COMPILE_TIMEOUT = 120
#: ``-ffp-contract=off``: the double-double sums must not be fused (NOTE in ``_native.c``)
_FLAGS = ("-O3", "-fPIC", "-shared", "-fno-trapping-math", "-ffp-contract=off", "-std=c99")
#: tried in order; ``-mprefer-vector-width=256``: GCC tunes some AMD cores for 128-bit
#: vectors, measured 7% slower on them
_ARCH_FLAGS = (("-march=native", "-mprefer-vector-width=256"), ("-march=native",), ())

_state: dict[str, Any] = {}


def unavailable_reason() -> str | None:
    """Why the compiled kernels cannot be used here (None when they can); builds them
    on the first call, like :func:`library`.

    >>> reason = unavailable_reason()
    >>> reason is None or isinstance(reason, str)
    True
    """
    library()
    return _state.get("reason")


def library() -> Any:
    """The loaded compiled kernels (a :class:`ctypes.CDLL`), or None where they are
    unavailable (NOTE: native kernels); built and loaded once per process.

    >>> lib = library()
    >>> lib is None or hasattr(lib, "symjac_tanh_f64")
    True
    """
    if "lib" not in _state:
        lib, reason = None, None
        try:
            lib = _load()
        except _Unavailable as err:
            reason = str(err)
        _state["lib"], _state["reason"] = lib, reason
    return _state["lib"]


class _Unavailable(Exception):
    pass


def _compiler() -> list[str]:
    if os.environ.get("SYMJAC_NATIVE", "1").strip() == "0":
        raise _Unavailable("turned off by SYMJAC_NATIVE=0")
    if os.name != "posix":
        raise _Unavailable(f"built only on POSIX systems, not on {os.name!r}")
    cc = shlex.split(os.environ.get("CC", ""))
    if cc and shutil.which(cc[0]):
        return cc
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    raise _Unavailable("no C compiler found (set CC, or install cc, gcc or clang)")


def _cpu_identity() -> str:
    # what a build with -march=native depends on: the CPU model and its feature flags
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [ln for ln in f.read(1 << 20).splitlines()[:64] if ":" in ln]
        keep = ("model name", "flags", "features", "cpu part", "cpu implementer")
        return "\n".join(ln for ln in lines if ln.split(":")[0].strip().lower() in keep)
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _private_dir(path: Path) -> bool:
    # the user's own, and nobody else can write to it (else a planted library could load)
    try:
        info = path.stat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _cache_dir() -> Path | None:
    root = os.environ.get("SYMJAC_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "symjac"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return path if _private_dir(path) else None


def _load() -> Any:
    cc = _compiler()
    source = _SOURCE.read_bytes()
    parts = [" ".join(cc), repr(_FLAGS + _ARCH_FLAGS), _cpu_identity(), platform.machine()]
    key = hashlib.sha256(b"\0".join([source, *(p.encode() for p in [*parts, sys.platform])]))
    name = f"symjac-native-{key.hexdigest()[:20]}.so"
    cache = _cache_dir()
    if cache is not None:
        target = cache / name
        if target.is_file():
            info = target.stat()
            if info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                try:
                    return _open(target)
                except _Unavailable:
                    pass  # e.g. truncated by a full disk: built again below
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            built = _build(cc, Path(tmp))
            os.replace(built, target)  # atomic: a concurrent process sees all or nothing
        return _open(target)
    with tempfile.TemporaryDirectory() as tmp:  # mode 0700; the loaded library stays mapped
        return _open(_build(cc, Path(tmp)))


def _build(cc: list[str], workdir: Path) -> Path:
    out = workdir / "native.so"
    errors = []
    for arch in _ARCH_FLAGS:
        cmd = [*cc, *_FLAGS, *arch, "-o", str(out), str(_SOURCE)]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=_COMPILE_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise _Unavailable(f"the C compiler {cc[0]!r} could not run: {err}") from None
        if run.returncode == 0 and out.is_file():
            out.chmod(0o700)
            return out
        errors.append(run.stderr.strip().splitlines()[-1:] or ["(no message)"])
    raise _Unavailable(f"{cc[0]!r} could not compile {_SOURCE.name}: {errors[-1][0]}")


def _open(path: Path) -> Any:
    try:
        lib = ctypes.CDLL(str(path))
        if lib.symjac_native_version() != _VERSION:
            raise _Unavailable(f"{path} is not this symjac's build (interface version)")
    except (OSError, AttributeError) as err:
        raise _Unavailable(f"{path} could not be loaded: {err}") from None
    ptr, size, flag = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int
    for suffix in ("f64", "f32"):
        fn = getattr(lib, f"symjac_tanh_{suffix}")
        fn.argtypes, fn.restype = [ptr, ptr, size, size, ptr, flag, flag], None
        fn = getattr(lib, f"symjac_sigmoid_{suffix}")
        fn.argtypes, fn.restype = [ptr, ptr, size, size, ptr, flag], None
    return lib


def _block(z: np.ndarray) -> np.ndarray:
    # the C loops take one contiguous, aligned, writable run of native floats
    if z.flags.c_contiguous and z.flags.aligned and z.flags.writeable and z.dtype.isnative:
        return z
    return np.array(z, order="C")


def _rows(z: np.ndarray, bias: np.ndarray | None) -> tuple[int, int, Any]:
    # (rows, cols, bias pointer): a bias is one value per row of a 2-D block
    if bias is None:
        return 1, z.size, None
    if z.ndim != 2 or bias.size != z.shape[0]:
        want = f"{z.shape[0]} values, one per row" if z.ndim == 2 else "a 2-D block"
        raise ValueError(
            f"a bias needs {want}; got {bias.size} values for a block of shape {z.shape}: "
            "pass the layer's bias as a (rows, 1) column, or add it to the block first"
        )
    b = np.ascontiguousarray(bias, dtype=z.dtype).reshape(-1)
    return z.shape[0], z.shape[1], b


def tanh(
    u: np.ndarray, value: bool, divide: bool, bias: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray]:
    """The tanh kernel (NOTE: kernels in symjac.kernels): on ``u = 2z`` (float64 or
    float32; with ``bias``, one value per row of a 2-D ``u``, added first), ``tanh(z)``
    (in ``u``'s memory) when ``value``, and ``sech(z)**2``, or its reciprocal
    ``cosh(z)**2`` with ``divide``.

    >>> u = np.array([0.0, 2.0])  # z = 0 and z = 1
    >>> if library() is not None:
    ...     t, s = tanh(u, True, False)
    ...     assert abs(t[1] - np.tanh(1.0)) < 2e-16 and abs(s[1] - np.cosh(1.0) ** -2) < 2e-16
    ...     t, _ = tanh(np.zeros((2, 1)), True, False, bias=np.array([[0.0], [2.0]]))
    ...     assert t[1, 0] == np.tanh(1.0)
    """
    lib = library()
    u = _block(u)
    rows, cols, b = _rows(u, bias)
    slope = np.empty_like(u)
    fn = lib.symjac_tanh_f64 if u.dtype.itemsize == 8 else lib.symjac_tanh_f32
    fn(u.ctypes.data, slope.ctypes.data, rows, cols, None if b is None else b.ctypes.data,
       value, divide)  # fmt: skip
    return (u if value else None), slope


def sigmoid(
    z: np.ndarray, value: bool, divide: bool, bias: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray]:
    """The sigmoid kernel: ``sigmoid(z)`` (in ``z``'s memory) when ``value``, and
    ``sigmoid'(z)``; ``bias`` as for :func:`tanh`; ``divide`` is ignored (the chain
    divides only by tanh slopes).

    >>> if library() is not None:
    ...     v, s = sigmoid(np.array([0.0]), True, False)
    ...     assert (v[0], s[0]) == (0.5, 0.25)
    """
    lib = library()
    z = _block(z)
    rows, cols, b = _rows(z, bias)
    slope = np.empty_like(z)
    fn = lib.symjac_sigmoid_f64 if z.dtype.itemsize == 8 else lib.symjac_sigmoid_f32
    fn(z.ctypes.data, slope.ctypes.data, rows, cols, None if b is None else b.ctypes.data,
       value)  # fmt: skip
    return (z if value else None), slope
