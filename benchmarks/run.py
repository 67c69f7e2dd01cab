"""symjac's performance benchmarks: every target of the performance issue, one table.

Run ``python benchmarks/run.py`` (full, several minutes) or ``--quick`` (a smoke
run for CI, under two minutes: smaller batches, fewer repeats). It prints a
Markdown table (case, symjac, baseline, ratio, target, met) and the machine's
measured peaks. It reports and never fails on speed: the exit status is 0
unless something crashes.

Timing rules: one thread on both sides (``OMP_NUM_THREADS=1`` etc. are set
before NumPy is imported, ``torch.set_num_threads(1)``), the baseline runs in
the same process right next to symjac, and each number is the median of
repeated runs. Symbolic timings are *cold*: SymPy's cache is cleared and the
network is freshly read from torch before each run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import sympy  # noqa: E402
import torch  # noqa: E402
from sympy.core.cache import clear_cache  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import symjac  # noqa: E402
from symjac.chain_numeric import chain_costs  # noqa: E402
from symjac.kernels import compiled_unavailable_reason  # noqa: E402
from symjac.kernels import kernel_label as _kernel_label  # noqa: E402
from symjac.kernels import matmul_choices as _matmul_choices  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hessian as hessian_benchmark  # noqa: E402  (benchmarks/hessian.py: the PINN Hessian)
import tracing as tracing_benchmark  # noqa: E402  (benchmarks/tracing.py: reading models)
from timing import PEAK_KIB_SOURCE, fmt_time  # noqa: E402

torch.set_num_threads(1)

NETS = {
    "A": [4, 4, 4, 4],
    "B": [16, 16, 16, 16, 16],
    "C": [4, 32, 32, 32, 32, 1],
}

ROWS: list[tuple[str, str, str, str, str, str]] = []


# -- helpers ------------------------------------------------------------------------------------
def module(sizes: list[int], dtype: Any = torch.float64) -> torch.nn.Sequential:
    """tanh MLP with weights from torch.manual_seed(0), identity output layer."""
    torch.manual_seed(0)
    mods: list[torch.nn.Module] = []
    for k in range(len(sizes) - 1):
        mods.append(torch.nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            mods.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*mods).to(dtype)
    model.requires_grad_(False)  # inference: the baseline builds no graph for the weights
    return model


def median_time(
    fn: Callable[[], Any], reps: int, *, setup: Callable[[], Any] | None = None
) -> float:
    times = []
    for _ in range(reps):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(fns: list[Callable[[], Any]], reps: int) -> list[float]:
    """Median time of each function, run in turns: a burst of load on this shared machine
    then slows every side alike instead of the one that happened to run during it."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def row(case: str, ours: str, base: str, ratio: str, target: str, met: bool | None) -> None:
    flag = "info" if met is None else ("yes" if met else "**no**")
    ROWS.append((case, ours, base, ratio, target, flag))
    print(f"  {case}: {ours} | {base} | {ratio} | {target} | {flag}", file=sys.stderr, flush=True)


# -- machine peaks ------------------------------------------------------------------------------
def machine_peaks(quick: bool) -> dict[str, float]:
    n = 512 if quick else 1024
    a = np.random.default_rng(0).standard_normal((n, n))
    b = a.copy()
    a @ b
    t = median_time(lambda: a @ b, 3 if quick else 5)
    gflops = 2 * n**3 / t / 1e9
    size = (16 if quick else 64) * 2**20 // 8  # float64 elements: 16 / 64 MiB arrays
    src = np.ones(size)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t = median_time(lambda: np.copyto(dst, src), 5 if quick else 9)
    bandwidth = 2 * src.nbytes / t / 1e9  # read + write
    rates = transcendental_rates(quick)
    # the bound counts tanh at the fastest tanh this machine has (NumPy's or torch's)
    tanh_rate = max(rates["np.tanh float64"], rates["torch.tanh float64"]) / 1e3
    return {
        "matmul_gflops": gflops,
        "bandwidth_gbs": bandwidth,
        "tanh_gevals": tanh_rate,
        "rates": rates,
    }


def transcendental_rates(quick: bool) -> dict[str, float]:
    """M values/s of NumPy's and torch's elementwise functions on 2**20 points of [-3, 3]."""
    rates: dict[str, float] = {}
    for dtype in (np.float64, np.float32):
        x = np.linspace(-3, 3, 2**20).astype(dtype)
        out = np.empty_like(x)
        xt, ot = torch.from_numpy(x), torch.from_numpy(out)
        fns: dict[str, Callable[[], Any]] = {
            "np.tanh": lambda x=x, out=out: np.tanh(x, out=out),
            "np.cosh": lambda x=x, out=out: np.cosh(x, out=out),
            "np.exp": lambda x=x, out=out: np.exp(x, out=out),
            "torch.tanh": lambda xt=xt, ot=ot: torch.tanh(xt, out=ot),
            "torch.cosh": lambda xt=xt, ot=ot: torch.cosh(xt, out=ot),
            "torch.exp": lambda xt=xt, ot=ot: torch.exp(xt, out=ot),
        }
        for name, fn in fns.items():
            fn()
            t = median_time(fn, 3 if quick else 7)
            rates[f"{name} {np.dtype(dtype).name}"] = x.size / t / 1e6
    return rates


def simd_levels() -> tuple[str, str]:
    """NumPy's widest enabled CPU features and torch's CPU capability."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    order = ["SSE42", "AVX", "FMA3", "AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR"]
    have = [f for f in order if features.get(f)]
    level = ", ".join(have[-3:]) if have else "baseline only"
    if not any(f.startswith("AVX512") for f in have):
        level += " (no AVX-512)"
    return level, str(torch.backends.cpu.get_cpu_capability())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


WRT = ("--wrt", "x1", "x2")


# -- start-up -----------------------------------------------------------------------------------
def target_startup(quick: bool) -> None:
    """``symjac jacobian ...`` against ``python -c "import sympy"``: wall time, in turns.

    Counted with bytecode caching on, as a default Python has it: the first run of an
    editable install writes symjac's ``.pyc`` files and every later run reads them (pip
    compiles SymPy's at install). Where ``PYTHONDONTWRITEBYTECODE`` is set (some machines
    of this project's kind set it), the children get it unset and a private
    ``PYTHONPYCACHEPREFIX`` (no ``__pycache__`` in the checkout), after one warm-up run
    each; the same commands compiled from source on every run are reported beside it.
    """
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmds = [
        [sys.executable, "-c", "import sympy"],
        [sys.executable, "-m", "symjac", "jacobian", "x1**2 + x2", "x1 + x2**2", *WRT],
    ]
    reps = 3 if quick else 5

    def runner(cmd: list[str], env: dict[str, str]) -> Callable[[], Any]:
        return lambda: subprocess.run(cmd, env=env, capture_output=True, check=True)

    case = (
        '4b. start-up: symjac jacobian "x1**2 + x2" "x1 + x2**2" --wrt x1 x2 vs '
        f'python -c "import sympy" (wall time, median of {reps}, in turns'
    )
    with tempfile.TemporaryDirectory() as pycache:
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = pycache
        runs = [runner(c, cached) for c in cmds]
        for run in runs:
            run()  # writes the bytecode that a user's second run finds
        base, ours = interleaved_medians(runs, reps)
    row(f"{case}; bytecode cached)", fmt_time(ours), fmt_time(base), f"{ours / base:.2f}x",
        "<= 1.25x", ours / base <= 1.25)  # fmt: skip
    if env.get("PYTHONDONTWRITEBYTECODE"):
        base, ours = interleaved_medians([runner(c, env) for c in cmds], reps)
        row(f"{case}; PYTHONDONTWRITEBYTECODE is set here: compiled from source every run)",
            fmt_time(ours), fmt_time(base), f"{ours / base:.2f}x", "info", None)  # fmt: skip


# -- target 1: layer Jacobians ------------------------------------------------------------------
def target_layer_jacobians(quick: bool) -> None:
    reps = 3 if quick else 5
    mod32 = module([32] * 7)
    nets: list[Any] = []

    def fresh32() -> None:
        gc.collect()
        nets[:] = [symjac.from_torch(mod32)]
        clear_cache()

    t32 = median_time(lambda: nets[0].layer_jacobians(), reps, setup=fresh32)
    row(
        "1. layer_jacobians(), width 32 x depth 6 (cold, from a fresh network)",
        fmt_time(t32),
        "",
        "",
        "<= 0.1 s",
        t32 <= 0.1,
    )
    mod8 = module([8, 8, 8])
    net8 = symjac.from_torch(mod8)
    stages = net8.stages

    def sympy_way() -> None:
        for stage in stages:
            sympy.Matrix(stage.outputs).jacobian(stage.inputs)

    # gc.collect() walks every object and flushes the CPU caches; it runs first, so a
    # sub-millisecond call is not charged for refilling them (the baseline is unaffected)
    def cold() -> None:
        gc.collect()
        clear_cache()

    base = median_time(sympy_way, reps, setup=cold)

    def fresh8(built: bool) -> None:
        gc.collect()
        nets[:] = [symjac.from_torch(mod8)]
        if built:
            _ = nets[0].stages  # the baseline's starting point: the layer maps, built
        clear_cache()

    t8 = median_time(lambda: nets[0].layer_jacobians(), reps * 9, setup=lambda: fresh8(True))
    row(
        "1. layer_jacobians() vs Matrix.jacobian, width 8 x depth 2 "
        "(cold; both start from the built layer maps)",
        fmt_time(t8),
        fmt_time(base),
        f"{base / t8:.0f}x",
        ">= 1000x",
        base / t8 >= 1000,
    )
    t8s = median_time(lambda: nets[0].layer_jacobians(), reps * 9, setup=lambda: fresh8(False))
    row(
        "1. same, from a fresh network (symjac also builds the layer maps)",
        fmt_time(t8s),
        fmt_time(base),
        f"{base / t8s:.0f}x",
        "info",
        None,
    )
    # repeat calls: SymPy's cache warm for the baseline, the built matrices reused by symjac
    base_w = median_time(sympy_way, reps * 3)
    t8_w = median_time(net8.layer_jacobians, reps * 3)
    row(
        "1. same, repeat calls (SymPy cache warm; symjac reuses its matrices)",
        fmt_time(t8_w),
        fmt_time(base_w),
        f"{base_w / t8_w:.0f}x",
        ">= 1000x",
        base_w / t8_w >= 1000,
    )
    # exactness: the layer rule is the SymPy derivative
    J = net8.layer_jacobians()
    same = all(
        sympy.simplify(J[k].matrix - sympy.Matrix(st.outputs).jacobian(st.inputs))
        == sympy.zeros(*J[k].shape)
        for k, st in enumerate(stages)
    )
    row("1. layer Jacobians equal SymPy's (simplify(diff) == 0)", str(same), "", "", "True", same)


# -- target 2: whole symbolic Jacobian ----------------------------------------------------------
def target_whole(quick: bool) -> None:
    mod = module([8] * 5)
    nets: list[Any] = []

    def fresh() -> None:
        nets[:] = [symjac.from_torch(mod)]
        clear_cache()
        gc.collect()

    out: list[Any] = []
    t = median_time(lambda: out.append(nets[0].jacobian()), 1 if quick else 3, setup=fresh)
    J = out[-1]
    exact = not J.matrix.has(sympy.Float)
    if quick:
        close, note = True, "exact; value not checked in --quick"
    else:
        # its value at a point, through symjac's own code generator (slow: a huge tree)
        x = np.array([0.25, -0.5, 0.125, 0.75, -0.25, 0.5, -0.125, 0.375])
        err = float(np.abs(J.numeric("numpy")(x) - nets[0].numeric("numpy")(x)).max())
        close, note = err < 1e-14, f"exact; value at a point agrees to {err:.0e}"
    row(
        f"2. jacobian(), width 8 x depth 4 (cold; {note})",
        fmt_time(t),
        "",
        "",
        "<= 2 s, exact",
        t <= 2 and exact and close,
    )
    big = symjac.from_torch(module([128] * 9))
    t0 = time.perf_counter()
    try:
        big.jacobian()
        message = ""
    except symjac.LimitError as err:
        message = str(err)
    t_err = time.perf_counter() - t0
    ok = "max_jacobian_ops" in message and "layer_jacobians" in message
    row(
        "2. jacobian() beyond the limit, width 128 x depth 8: LimitError",
        fmt_time(t_err),
        "",
        "",
        "clear error naming limit + layerwise, no hang",
        ok and t_err < 1,
    )


# -- targets 3, 5, 6: compiled batched Jacobians ------------------------------------------------
def compiled(quick: bool, peaks: dict[str, float]) -> None:
    big_n = 10_000 if quick else 100_000
    sizes_n = (1, 1000, big_n)
    rng = np.random.default_rng(0)
    for name, sizes in NETS.items():
        net = symjac.from_torch(module(sizes))
        fns = {"numpy": net.numeric("numpy"), "torch": net.numeric("torch")}
        for n in sizes_n:
            x64 = rng.uniform(-1.5, 1.5, size=(n, sizes[0]))
            for dtype in (torch.float64, torch.float32):
                mod = module(sizes, dtype)
                jac = torch.func.vmap(torch.func.jacrev(mod))
                xt = torch.as_tensor(x64, dtype=dtype)
                xn = xt.numpy()
                reps = 200 if n == 1 else (30 if n == 1000 else (3 if quick else 5))
                # at N = 1e5, nine turns: jacrev's own time there varied 3x between calls
                breps = 50 if n == 1 else (10 if n == 1000 else (2 if quick else 9))
                if quick:
                    reps, breps = max(3, reps // 4), max(2, breps // 3)
                jac(xt)
                fns["numpy"](xn)
                fns["torch"](xt)
                calls = [
                    lambda jac=jac, xt=xt: jac(xt),
                    lambda f=fns["numpy"], a=xn: f(a),
                    lambda f=fns["torch"], a=xt: f(a),
                ]
                if n == big_n:
                    # milliseconds per call: in turns, so load bursts hit every side alike
                    base, t_np, t_t = interleaved_medians(calls, breps)
                else:
                    # microseconds per call: each side in its own warm loop (after a jacrev
                    # call the caches are cold, which would dominate a 10 µs call), in five
                    # rounds taken in turns; the best round's median counts for every side,
                    # so one burst of load cannot decide a row
                    rounds = [
                        (
                            median_time(calls[0], max(1, breps // 5)),
                            median_time(calls[1], max(1, reps // 5)),
                            median_time(calls[2], max(1, reps // 5)),
                        )
                        for _ in range(5)
                    ]
                    base, t_np, t_t = (min(r[i] for r in rounds) for i in range(3))
                timed = {"numpy": t_np, "torch": t_t}
                need = 30 if n == 1 else (1.5 if n == 1000 else 2)
                for backend in ("numpy", "torch"):
                    t = timed[backend]
                    label = (
                        "f32 in, f64 math"
                        if backend == "numpy" and dtype == torch.float32
                        else str(dtype).replace("torch.", "")
                    )
                    # numpy with float32 input computes in float64 by contract: reported,
                    # but it is not a float32 computation (the torch row is)
                    mixed = backend == "numpy" and dtype == torch.float32
                    row(
                        f"3. {name} {sizes} N={n:g} {backend} ({label})",
                        fmt_time(t),
                        fmt_time(base),
                        f"{base / t:.1f}x",
                        "info" if mixed else f">= {need}x",
                        None if mixed else base / t >= need,
                    )
                if n == big_n and dtype == torch.float64:
                    accuracy(name, net, fns, mod, jac, xt, x64)
                    roofline(name, sizes, n, fns, jac, xt, x64, peaks, quick)


def accuracy(
    name: str, net: Any, fns: dict[str, Any], mod: Any, jac: Any, xt: Any, x64: Any
) -> None:
    ref = jac(xt).numpy()
    scale = np.abs(ref).reshape(len(ref), -1).max(axis=1)
    for backend in ("numpy", "torch"):
        got = np.asarray(fns[backend](x64 if backend == "numpy" else xt))
        err = np.abs(got - ref).reshape(len(ref), -1).max(axis=1) / scale
        worst = float(err.max())
        row(
            f"5. {name}: max over points of max abs(J - J_torch64) / max abs(J_torch64), {backend} f64",
            f"{worst:.2e}",
            "",
            "",
            "<= 1e-15",
            worst <= 1e-15,
        )
    # who is right: both against the same chain evaluated in 80-bit extended precision
    # (np.longdouble, 64-bit significand) at every point, itself checked against 40 digits
    ext = np.asarray(fns["numpy"]._numpy(x64.astype(np.longdouble), len(x64)))
    ext_scale = np.abs(ext).reshape(len(ext), -1).max(axis=1)

    def err(values: Any) -> np.ndarray:
        return np.abs(values - ext).reshape(len(ext), -1).max(axis=1) / ext_scale

    e_ours, e_torch = err(np.asarray(fns["numpy"](x64))), err(ref)
    check = 0.0
    for i in np.argsort(-e_torch)[:2]:
        exact = net.reference(x64[i], digits=40).whole.tolist()
        exact_ld = np.array([[np.longdouble(str(v)) for v in r] for r in exact])
        check = max(check, float(np.abs(ext[i] - exact_ld).max() / np.abs(exact_ld).max()))
    row(
        f"5. {name}: max_point error vs an 80-bit evaluation (symjac, then torch; the 80-bit "
        f"values are {check:.0e} from 40 digits)",
        f"{e_ours.max():.2e}",
        f"{e_torch.max():.2e}",
        "",
        "info",
        None,
    )


def roofline(
    name: str,
    sizes: list[int],
    n: int,
    fns: dict[str, Any],
    jac: Any,
    xt: Any,
    x64: Any,
    peaks: dict[str, float],
    quick: bool,
) -> None:
    pairs = sum(sizes[k] * sizes[k + 1] for k in range(len(sizes) - 1))
    flops = 2 * n * (pairs + min(chain_costs(sizes).values()))
    nbytes = 8 * n * (sizes[0] + sizes[0] * sizes[-1])
    tanh_evals = n * sum(sizes[1:-1])
    bound = max(flops / (peaks["matmul_gflops"] * 1e9), nbytes / (peaks["bandwidth_gbs"] * 1e9))
    bound += tanh_evals / (peaks["tanh_gevals"] * 1e9)
    t_np, t_t, t_j = interleaved_medians(
        [lambda: fns["numpy"](x64), lambda: fns["torch"](xt), lambda: jac(xt)],
        3 if quick else 9,
    )
    for label, t in (("numpy", t_np), ("torch", t_t)):
        row(
            f"6. {name} N={n:g} f64: fraction of machine bound ({fmt_time(bound)}), {label} vs jacrev",
            f"{bound / t:.0%}",
            f"{bound / t_j:.0%}",
            "",
            ">= 40%",
            bound / t >= 0.40,
        )


# -- target 4: scale ----------------------------------------------------------------------------
SCALE_CHILD = (
    PEAK_KIB_SOURCE
    + r"""
import os, sys, time, json
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
sys.path.insert(0, sys.argv[1])
import torch, symjac
torch.set_num_threads(1)
torch.manual_seed(0)
sizes = [128] * 9
mods = []
for k in range(8):
    mods.append(torch.nn.Linear(128, 128))
    if k < 7:
        mods.append(torch.nn.Tanh())
net = symjac.from_torch(torch.nn.Sequential(*mods).double())
before = peak_kib()
t0 = time.perf_counter()
J = net.layer_jacobians()
fn = net.numeric("numpy")
fn(torch.zeros(1, 128, dtype=torch.float64).numpy())
t = time.perf_counter() - t0
peak = peak_kib()
print(json.dumps({"time": t, "peak_kib": peak, "before_kib": before}))
"""
)


def target_scale() -> None:
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", SCALE_CHILD, root], capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    peak_gib = data["peak_kib"] / 2**20
    row(
        "4. width 128 x depth 8: layer_jacobians() + numeric() ready",
        fmt_time(data["time"]),
        "",
        "",
        "<= 5 s",
        data["time"] <= 5,
    )
    row(
        "4. same: peak RSS of the whole process (incl. torch import)",
        f"{peak_gib:.2f} GiB",
        f"{data['before_kib'] / 2**20:.2f} GiB before",
        "",
        "< 2 GiB",
        peak_gib < 2,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (< 2 minutes)")
    args = parser.parse_args()
    start = time.perf_counter()
    print("measuring machine peaks ...", file=sys.stderr, flush=True)
    peaks = machine_peaks(args.quick)
    parts = [lambda: target_layer_jacobians(args.quick), lambda: target_whole(args.quick),
             target_scale, lambda: target_startup(args.quick),
             lambda: compiled(args.quick, peaks),
             lambda: ROWS.extend(hessian_benchmark.run(args.quick)),
             lambda: ROWS.extend(tracing_benchmark.run(args.quick))]  # fmt: skip
    from symjac import progress

    with progress.bar(len(parts), "benchmarks", unit="part") as shown:  # on a terminal only
        for part in parts:
            part()
            shown.update()
    numpy_simd, torch_simd = simd_levels()
    print(f"## symjac benchmarks{' (--quick)' if args.quick else ''}\n")
    print(
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, sympy {sympy.__version__}; "
        "1 thread each side.\n"
    )
    print(f"SIMD: NumPy {numpy_simd}; torch {torch_simd}.\n")
    print("| peak (measured) | value |\n| --- | --- |")
    print(f"| NumPy matmul (float64, 1 thread) | {peaks['matmul_gflops']:.1f} GFLOP/s |")
    print(f"| memory bandwidth (large copy, read + write) | {peaks['bandwidth_gbs']:.1f} GB/s |")
    rates = peaks["rates"]
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} M values/s |")
    for kind in ("tanh", "exp", "cosh"):
        for dtype in ("float64", "float32"):
            ratio = rates[f"torch.{kind} {dtype}"] / rates[f"np.{kind} {dtype}"]
            print(f"| torch.{kind} / np.{kind} ({dtype}) | {ratio:.2f}x |")
    print("\n| kernels for large blocks (symjac.chain, calibrated once per process) | choice |")
    print("| --- | --- |")
    for kind in ("tanh", "sigmoid"):
        for dtype in ("float64", "float32"):
            print(f"| {kind} {dtype} | {_kernel_label(kind, dtype)} |")
    reason = compiled_unavailable_reason()
    print(f"| compiled kernels (NOTE: native kernels) | {reason or 'built and loaded'} |")
    shapes = ", ".join(f"{n} {lib}" for lib, n in sorted(_matmul_choices().items()))
    print(f"| chain products (NOTE: chain-matmul), shapes per library | {shapes or 'none'} |")
    print()
    print(
        "| case | symjac | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |"
    )
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    met = sum(r[5] == "yes" for r in ROWS)
    missed = sum(r[5] == "**no**" for r in ROWS)
    print(
        f"\n{met} met, {missed} not met; baseline for 3/6 is torch.func.vmap(torch.func.jacrev(model)) "
        f"in the same dtype; total {time.perf_counter() - start:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
