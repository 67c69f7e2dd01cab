"""The elementwise kernels of the batched chain: activations' values and slopes, per machine.

The compiled network Jacobian (:mod:`symjac.chain_numeric`) spends most of its time here
(NOTE: kernels). :func:`kernel_choice` says which kernels a block gets,
:func:`forced_kernels` overrides the choice, :func:`kernel_label` is what
``NetworkFunction.kernels`` reports.

>>> with forced_kernels("numpy-exp"):
...     kernel_label("tanh", "float64")
'numpy-exp'
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from symjac import _native
from symjac.activations import Activation, Z
from symjac.exceptions import SymjacError
from symjac.numeric import NumericFunction, compile_exprs

__all__ = [
    "KERNELS",
    "KERNEL_NAMES",
    "activation_kind",
    "available_kernels",
    "compiled_unavailable_reason",
    "elementwise",
    "elementwise_acts",
    "forced_kernels",
    "kernel_choice",
    "kernel_for",
    "kernel_label",
    "kernel_labels",
    "matmul",
    "matmul_choices",
]

# -- elementwise kernels, chosen per machine (NOTE: kernels) ----------------------------------
#
# NOTE: kernels
#     The batched chain spends most of its time in the activations' values and slopes, and
#     how fast those are depends on the CPU far more than the matrix products do: NumPy's
#     float64 ``np.tanh`` has a SIMD kernel only with AVX-512 (514 M values/s there, 29-50 M/s
#     on an AVX2-only core), while torch's vectorised ``exp`` runs at about 290 M/s on both.
#     So tanh and sigmoid have four kernels each, all in the cancellation-free forms of
#     NOTE: stable-rewrites: ``numpy`` (``np.tanh`` and ``2 / (1 + cosh(2z))``,
#     NOTE: tanh-slope), ``numpy-exp`` and ``torch-exp`` (value and slope from one
#     exponential, by ``np.exp`` or by torch's CPU kernel on the block's own memory,
#     ``torch.from_numpy``, no copy), and ``compiled`` (one fused C loop, built on first
#     use where a C compiler exists, NOTE: native kernels in symjac._native; in float64
#     its values and slopes are within about half an ulp, from a double-double exponential,
#     so it is taken unless another kernel measures ``_COMPILED_MARGIN`` faster). For tanh,
#     ``E = exp(|2z|)``, ``e = 1 / E``:
#     ``sech(z)**2 = 4 / (2 + E + e)`` (``2 + E + e = 2 (1 + cosh(2z))``, the form cosh
#     is computed in, so the slope rounds as the cosh form does: on 2.5e5 points of
#     [-20, 20] against 80-bit values, mean 0.30 ulp and at most 1.4, against 0.30 and
#     1.2) and ``tanh|z| = (1 - e) / (1 + e)`` (mean 0.49 units of 1.1e-16 from the exact
#     value, at most 1.6; ``np.tanh``: 0.27 and 0.9). Tanh layers get doubled weights
#     (exact), so their matrix product gives ``u = 2z`` directly. A calibration, once per
#     process and (activation, dtype) on first use (:func:`kernel_choice`: each kernel on
#     blocks of two sizes, a few ms), fits a per-call and a per-element cost, so a block
#     of any size takes the kernel expected fastest for it (torch's dispatch costs a few
#     µs per call, which small blocks feel). One point always takes the lean NumPy path
#     (NOTE: one-point); np.longdouble blocks (the benchmark's 80-bit chain) ``numpy``.
#     ``NetworkFunction.kernels`` reports the choice, :func:`forced_kernels` overrides it,
#     :func:`available_kernels` lists what this machine has; the tests run every choice
#     against the 50-digit reference.

#: the kernel sets every activation in :data:`KERNELS` has
KERNEL_NAMES = ("numpy", "numpy-exp", "torch-exp", "compiled")
#: block sizes (elements) the calibration times, best of ``_CALIBRATION_REPS`` each
_CALIBRATION_SIZES = (1024, 8192)
_CALIBRATION_REPS = 4
#: blocks above the calibration's sizes are timed themselves, per power-of-two bucket of
#: sizes up to this many elements: NumPy's passes over a block that has left the L1/L2
#: caches cost more per element than the fit from cache-sized blocks predicts, a fused
#: loop's do not (measured 11.0 against 9.0 ns per value on 52k-value blocks, where the
#: fit ranked them the other way)
_LARGEST_TIMED = 2**17
_LARGE: dict[tuple[str, str, int], str] = {}
#: the compiled kernels round float64 values and slopes to within about half an ulp (the
#: others to 1.2-2): they are taken unless another kernel measures this much faster
_COMPILED_MARGIN = 1.15
#: per (activation, dtype): each kernel's fitted cost ``(seconds per call, per element)``
_COSTS: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
_PICKED: dict[tuple[str, np.dtype, int], str] = {}
_FORCED: contextvars.ContextVar[str | None] = contextvars.ContextVar("symjac_kernels", default=None)


#: float sizes the exp kernels run on (float64, float32)
_EXP_SIZES = (8, 4)


def _exp_numpy(u: np.ndarray) -> np.ndarray:
    return np.exp(u, out=u)


def _exp_torch(u: np.ndarray) -> np.ndarray:
    import torch

    torch.from_numpy(u).exp_()  # torch's vectorised kernel on the block's own memory
    return u


def _tanh_cosh(
    u: np.ndarray, value: bool, divide: bool, bias: np.ndarray | None = None
) -> tuple[Any, np.ndarray]:
    if bias is not None:
        u += bias
    # u = 2z. sech(z)**2 = 2 / (1 + cosh(2z)) (NOTE: stable-rewrites, NOTE: tanh-slope);
    # with ``divide`` the divisor cosh(z)**2 = (1 + cosh(2z)) / 2 instead
    s = np.cosh(u)
    s += 1.0
    if divide:
        s *= 0.5
    else:
        np.divide(2.0, s, out=s)
    if not value:
        return None, s
    u *= 0.5  # z, exactly
    return np.tanh(u, out=u), s


def _tanh_exp(exp: Any) -> Any:
    def kernel(
        u: np.ndarray, value: bool, divide: bool, bias: np.ndarray | None = None
    ) -> tuple[Any, np.ndarray]:
        if bias is not None:
            u += bias
        # u = 2z; one exponential for both (NOTE: kernels): E = exp(|u|) >= 1 and e = 1 / E.
        # 2 + E + e = 2 (1 + cosh(2z)); beyond |z| = 354.9 E is inf and the slope 0, as
        # 2 / (1 + cosh(2z)) gives it; tanh|z| = (1 - e) / (1 + e), then z's sign
        big = np.abs(u)
        exp(big)
        e = np.reciprocal(big)
        big += 2.0
        big += e
        if divide:
            big *= 0.25  # cosh(z)**2
        else:
            np.divide(4.0, big, out=big)
        if not value:
            return None, big
        t = np.subtract(1.0, e)  # exact for e >= 1/2 (Sterbenz)
        e += 1.0
        t /= e
        return np.copysign(t, u, out=t), big

    return kernel


def _sigmoid_exp(exp: Any) -> Any:
    def kernel(
        z: np.ndarray, value: bool, divide: bool, bias: np.ndarray | None = None
    ) -> tuple[Any, np.ndarray]:
        if bias is not None:
            z += bias
        # 1 / (1 + exp(-z)) without overflow, and s' = sigmoid(z) sigmoid(-z) = e / (1 + e)**2
        # with e = exp(-|z|): no cancellation (NOTE: stable-rewrites)
        e = np.abs(z)
        np.negative(e, out=e)
        exp(e)
        d = 1.0 + e
        a = np.where(z >= 0, 1.0, e) / d if value else None
        d *= d
        return a, np.divide(e, d, out=d)

    return kernel


#: per activation and kernel name, ``kernel(z, value, divide, bias=None) -> (value or None,
#: slope)``: on a block ``z`` of pre-activations (``u = 2z`` for tanh), overwritten;
#: ``divide`` asks for the slope's reciprocal (NOTE: tanh-slope in symjac.chain_numeric);
#: ``bias``, a column ``(rows, 1)`` for a 2-D block, is added to ``z`` first (the compiled
#: kernels add it inside their loop, which saves the chain a pass over each block)
KERNELS: dict[str, dict[str, Any]] = {
    "tanh": {
        "numpy": _tanh_cosh,
        "numpy-exp": _tanh_exp(_exp_numpy),
        "torch-exp": _tanh_exp(_exp_torch),
        "compiled": _native.tanh,
    },
    "sigmoid": {
        "numpy": _sigmoid_exp(_exp_numpy),
        "numpy-exp": _sigmoid_exp(_exp_numpy),
        "torch-exp": _sigmoid_exp(_exp_torch),
        "compiled": _native.sigmoid,
    },
}


def compiled_unavailable_reason() -> str | None:
    """Why the ``"compiled"`` kernels cannot run here (no C compiler, a failed build,
    ``SYMJAC_NATIVE=0``), or None where they can (NOTE: native kernels).

    >>> reason = compiled_unavailable_reason()
    >>> reason is None or "compiled" not in available_kernels()
    True
    """
    return _native.unavailable_reason()


def available_kernels() -> tuple[str, ...]:
    """The kernel sets this machine can run: :data:`KERNEL_NAMES`, less ``"compiled"``
    where the compiled kernels are unavailable (:func:`compiled_unavailable_reason` says
    why; NOTE: native kernels).

    >>> available_kernels()[:3]
    ('numpy', 'numpy-exp', 'torch-exp')
    """
    if _native.library() is None:
        return KERNEL_NAMES[:3]
    return KERNEL_NAMES


def _best_times(kind: str, dtype: np.dtype, sizes: Sequence[int]) -> dict[tuple[str, int], float]:
    # each candidate on blocks of pre-activations in [-3, 3] of each size, best of a few
    # calls taken in turns (a burst of load on the machine then hits every kernel alike)
    names = available_kernels()
    blocks = [np.linspace(-3.0, 3.0, size, dtype=dtype).reshape(16, -1) for size in sizes]
    best = {(name, size): float("inf") for name in names for size in sizes}
    with np.errstate(all="ignore"):
        for rep in range(_CALIBRATION_REPS + 1):
            for name in names:
                fn = KERNELS[kind][name]
                for size, z0 in zip(sizes, blocks):
                    z = z0.copy()
                    t0 = time.perf_counter()
                    fn(z, True, False)
                    if rep:  # the first round warms the kernels up
                        best[name, size] = min(best[name, size], time.perf_counter() - t0)
    return best


def _calibrate(kind: str, dtype: np.dtype) -> dict[str, tuple[float, float]]:
    # fitted as a per-call plus a per-element cost from two block sizes; a few ms
    small, large = _CALIBRATION_SIZES
    best = _best_times(kind, dtype, _CALIBRATION_SIZES)
    costs: dict[str, tuple[float, float]] = {}
    for name in available_kernels():
        t_small, t_large = best[name, small], best[name, large]
        per_element = max((t_large - t_small) / (large - small), 0.0)
        costs[name] = (max(t_small - per_element * small, 0.0), per_element)
    return costs


def _large_choice(kind: str, dtype: Any, size: int) -> str:
    bucket = min(1 << (size - 1).bit_length(), _LARGEST_TIMED)
    key = (kind, np.dtype(dtype).name, bucket)
    name = _LARGE.get(key)
    if name is None:
        best = _best_times(kind, np.dtype(dtype), [bucket])
        name = _LARGE[key] = min(available_kernels(), key=lambda n: _ranked(n, best[n, bucket]))
    return name


def _ranked(name: str, seconds: float) -> float:
    # accuracy first among kernels of about the same speed (NOTE: kernels)
    return seconds / _COMPILED_MARGIN if name == "compiled" else seconds


def _kernel_costs(kind: str, dtype: Any) -> dict[str, tuple[float, float]]:
    key = (kind, np.dtype(dtype).name)
    costs = _COSTS.get(key)
    if costs is None:
        costs = _COSTS[key] = _calibrate(kind, np.dtype(dtype))
    return costs


def kernel_choice(kind: str, dtype: Any, size: int = _CALIBRATION_SIZES[1]) -> str:
    """The kernels (one of :func:`available_kernels`) that compute the ``kind``
    activation's values and slopes on a block of ``size`` elements of ``dtype``: the
    fastest by a calibration run once per process, the compiled ones (the most accurate)
    unless another is clearly faster (NOTE: kernels).

    >>> kernel_choice("tanh", np.float64) in available_kernels()
    True
    >>> with forced_kernels("numpy"):
    ...     kernel_choice("tanh", np.float64)
    'numpy'
    """
    forced = _FORCED.get()
    if forced is not None:
        return forced
    if size > _CALIBRATION_SIZES[1]:
        return _large_choice(kind, dtype, size)
    costs = _kernel_costs(kind, dtype)
    return min(costs, key=lambda name: _ranked(name, costs[name][0] + costs[name][1] * size))


@contextlib.contextmanager
def forced_kernels(name: str) -> Iterator[None]:
    """Use the ``name`` kernels (one of :data:`KERNEL_NAMES`) on every block inside a
    ``with`` block instead of the measured choice (NOTE: kernels): for tests and
    benchmarks. ``"compiled"`` raises :class:`~symjac.SymjacError` where this machine
    cannot build them (:func:`available_kernels`).

    >>> import symjac
    >>> fn = symjac.mlp([2, 3, 1], weights=[np.ones((3, 2)), np.ones((1, 3))]).numeric()
    >>> with forced_kernels("torch-exp"):
    ...     fn.kernels
    {'tanh/float64': 'torch-exp'}
    """
    if name not in KERNEL_NAMES:
        raise ValueError(f"unknown kernels {name!r}; choose one of {', '.join(KERNEL_NAMES)}")
    if name not in available_kernels():
        raise SymjacError(
            f"the {name!r} kernels are unavailable here: {compiled_unavailable_reason()}; "
            f"choose one of {', '.join(available_kernels())}"
        )
    token = _FORCED.set(name)
    try:
        yield
    finally:
        _FORCED.reset(token)


def kernel_for(kind: str, dtype: np.dtype, size: int) -> Any:
    """The kernel (from :data:`KERNELS`) for a block of ``size`` elements of ``dtype``: the
    forced one, else the fastest measured (NOTE: kernels); ``"numpy"`` for a dtype the exp
    kernels do not run on.

    >>> with forced_kernels("torch-exp"):
    ...     kernel_for("sigmoid", np.dtype(np.float64), 100) is KERNELS["sigmoid"]["torch-exp"]
    True
    >>> kernel_for("tanh", np.dtype(np.longdouble), 100) is KERNELS["tanh"]["numpy"]
    True
    """
    if dtype.itemsize not in _EXP_SIZES or dtype.kind != "f":
        return KERNELS[kind]["numpy"]  # e.g. np.longdouble (the benchmark's 80-bit chain)
    forced = _FORCED.get()
    if forced is not None:
        return KERNELS[kind][forced]
    key = (kind, dtype, size)
    name = _PICKED.get(key)
    if name is None:
        if len(_PICKED) > 4096:
            _PICKED.clear()
        name = _PICKED[key] = kernel_choice(kind, dtype, size)
    return KERNELS[kind][name]


def kernel_label(kind: str, dtype: str) -> str:
    """How ``NetworkFunction.kernels`` names the kernels a ``kind`` activation gets on
    ``dtype`` blocks: one name, or the large blocks' with the crossover and the small
    blocks' (NOTE: kernels).

    >>> kernel_label("tanh", "float64").split()[0] in KERNEL_NAMES
    True
    """
    forced = _FORCED.get()
    if forced is not None:
        return forced
    small, large = (kernel_choice(kind, dtype, size) for size in (_SMALL_LABEL, 2**22))
    if small == large:
        return large
    costs = _kernel_costs(kind, dtype)
    (a0, b0), (a1, b1) = costs[small], costs[large]
    # the fitted crossover where the fit ranks them so; else above the fitted sizes, where
    # blocks are timed themselves
    top = _CALIBRATION_SIZES[1]
    cross = min(int((a1 - a0) / (b0 - b1)), top) if b0 > b1 else top
    return f"{large} from {max(cross, _SMALL_LABEL)} values per block, {small} below"


#: the smallest block a label considers (elements; _MIN_BLOCK points of a narrow layer)
_SMALL_LABEL = 512

# -- matrix products, by the faster library per shape (NOTE: chain-matmul) --------------------
#
# NOTE: chain-matmul
#     The chain's products are small-by-wide, ``(n_l, n_(l-1)) @ (n_(l-1), points)``, one per
#     layer and block. For these shapes NumPy's BLAS and torch's differ by up to 2x, and which
#     is faster depends on the machine (one thread each, measured on an AVX2 core: OpenBLAS
#     2.8-3.7 GFLOP/s, torch's MKL 4.2-7.9 GFLOP/s on 32 x 32 by 32 x 1628). So
#     :func:`matmul` times both on the first product of each shape (operands, output
#     layout and dtype; best of a few calls in turns, well under a ms) and uses torch's
#     from then on where it was at least 10% faster (near a tie noise would decide);
#     torch's runs on the arrays' own memory (``torch.from_numpy``, no copy). Only the
#     summation order differs (a few ulps, as between any two BLAS builds); the tests hold
#     both to the high-precision reference. :func:`matmul_choices` reports the choices.

#: per (shapes, strides, dtype, out layout): "numpy" or "torch"
_MATMUL: dict[tuple[Any, ...], str] = {}
_MATMUL_REPS = 4


def _torch_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    import torch

    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    if out is None:
        return torch.matmul(ta, tb).numpy()
    torch.matmul(ta, tb, out=torch.from_numpy(out))
    return out


def _torch_ready(*arrays: np.ndarray | None) -> bool:
    # torch.from_numpy takes no negative strides and warns on read-only arrays; torch's
    # matmul does not promote mixed dtypes as NumPy's does
    if len({x.dtype for x in arrays if x is not None}) != 1:
        return False
    return all(
        x is None
        or (
            (x.dtype.itemsize in _EXP_SIZES and x.dtype.kind == "f" and x.flags.writeable)
            and min(x.strides, default=0) >= 0
        )
        for x in arrays
    )


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (NumPy's broadcasting rules; into ``out`` if given) by NumPy or torch,
    whichever measured faster for these shapes on this machine (NOTE: chain-matmul).

    >>> a, b = np.ones((3, 2)), np.ones((2, 4))
    >>> matmul(a, b).tolist()[0]
    [2.0, 2.0, 2.0, 2.0]
    """
    if not _torch_ready(a, b, out):
        return np.matmul(a, b, out=out)
    key = (
        a.shape,
        a.strides,
        b.shape,
        b.strides,
        a.dtype.char,
        None if out is None else out.strides,
    )
    name = _MATMUL.get(key)
    if name is None:
        name = _MATMUL[key] = _time_matmul(a, b, out)
    if name == "torch":
        return _torch_matmul(a, b, out)
    return np.matmul(a, b, out=out)


def _time_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> str:
    if len(_MATMUL) > 4096:
        _MATMUL.clear()
    fns = {"numpy": np.matmul, "torch": _torch_matmul}
    best = dict.fromkeys(fns, float("inf"))
    for rep in range(_MATMUL_REPS + 1):  # in turns, so that neither gets a warmer cache
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(a, b, out)
            if rep:  # the first round warms both up
                best[name] = min(best[name], time.perf_counter() - t0)
    # torch only when clearly faster: near a tie, timing noise would decide
    return "torch" if best["torch"] < 0.9 * best["numpy"] else "numpy"


def matmul_choices() -> dict[str, int]:
    """How many product shapes :func:`matmul` has measured so far went to each library.

    >>> set(matmul_choices()) <= {"numpy", "torch"}
    True
    """
    out: dict[str, int] = {}
    for name in _MATMUL.values():
        out[name] = out.get(name, 0) + 1
    return out


@functools.cache
def elementwise(activation: Activation, backend: str) -> tuple[NumericFunction, NumericFunction]:
    """An activation's value and slope compiled for ``backend`` through the code generator
    (NOTE: codegen in symjac.numeric), as the chain runs them on any activation without a
    specialised kernel; cached per activation.

    >>> from symjac.activations import get_activation
    >>> value, slope = elementwise(get_activation("softplus"), "numpy")
    >>> float(slope([0.0]))
    0.5
    """
    value = compile_exprs([activation.expr], [Z], (), backend)
    slope = compile_exprs([activation.derivative], [Z], (), backend)
    return value, slope


#: activations with a hand-specialised value/slope pair (the slope reuses the value)
_SPECIAL = ("identity", "tanh", "sigmoid")


def activation_kind(activation: Activation) -> str:
    """``"identity"``, ``"tanh"`` or ``"sigmoid"`` for an activation the chain has
    specialised formulas for, else ``"generic"`` (compiled by :func:`elementwise`).

    >>> from symjac.activations import get_activation
    >>> activation_kind(get_activation("tanh")), activation_kind(get_activation("softplus"))
    ('tanh', 'generic')
    """
    # the specialised formulas are used only for the exact expressions they implement
    if activation.name in _SPECIAL and not activation.params and activation.function is None:
        return activation.name
    return "generic"


def elementwise_acts(network: Any, kinds: Sequence[str], backend: str) -> list[Any]:
    """Per layer, :func:`elementwise` of its activation for a ``"generic"`` kind, else None.

    >>> import symjac
    >>> net = symjac.mlp([1, 1, 1], weights=[[[1]], [[1]]], activation="softplus")
    >>> [act is None for act in elementwise_acts(net, ["generic", "identity"], "numpy")]
    [False, True]
    """
    return [
        elementwise(layer.activation, backend) if kind == "generic" else None
        for layer, kind in zip(network.layers, kinds)
    ]


def kernel_labels(kinds: Sequence[str], dtypes: Sequence[str]) -> dict[str, str]:
    """:func:`kernel_label` per ``"kind/dtype"`` for the layer kinds that have kernels.

    >>> with forced_kernels("numpy"):
    ...     kernel_labels(["tanh", "identity", "tanh"], ["float64"])
    {'tanh/float64': 'numpy'}
    """
    out = {}
    for kind in dict.fromkeys(k for k in kinds if k in KERNELS):
        for dtype in dtypes:
            out[f"{kind}/{dtype}"] = kernel_label(kind, dtype)
    return out
