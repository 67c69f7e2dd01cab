"""Batched Hessian of a PINN network: symjac's kernel against ``vmap(torch.func.hessian)``.

The network is the PINN shape ``u(x, t)``: ``2 -> 32 x 3 -> 1``, tanh, float64, weights
from ``torch.manual_seed(0)``. For N = 10 000 points and N = 1 point, symjac's batched
Hessian (``Network.hessian().numeric("numpy")`` and ``("torch")``, NOTE: second-order-chain
in symjac.hessians) is timed against ``torch.vmap(torch.func.hessian(f))`` in the same
process, in turns, one thread on both sides; each time is a median (at N = 1 over runs of
20 consecutive calls, the first of each run dropped: see ``_medians``). Accuracy: the largest
error relative to ``max|H_exact|`` against symjac's exact reference (``Hessian.reference``,
mpmath at 50 digits) at the benchmark points (every point for N = 1; an evenly spaced
sample of the 10 000, the reference costing about a second a point), and against
torch's float64 Hessian at all of them.

    python benchmarks/hessian.py [--quick]          # the timing table
    python benchmarks/hessian.py --calibrate [--quick]  # NOTE: second-order-tolerance data

``run(quick)`` returns the rows; ``benchmarks/run.py`` prints them with the others.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import fmt_time  # noqa: E402  (benchmarks/timing.py)

import symjac  # noqa: E402
from symjac.second_order import tolerance as second_order_tolerance  # noqa: E402
from symjac.torch_ops import quiet_torch  # noqa: E402

#: (case, symjac, baseline, ratio, target, met): the columns of benchmarks/run.py
Row = tuple[str, str, str, str, str, str]

SIZES = [2, 32, 32, 32, 1]


def pinn(seed: int = 0) -> torch.nn.Sequential:
    """The PINN network u(x, t): 2 -> 32 x 3 -> 1, tanh, float64, torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    mods: list[torch.nn.Module] = []
    for k in range(len(SIZES) - 1):
        mods.append(torch.nn.Linear(SIZES[k], SIZES[k + 1]))
        if k < len(SIZES) - 2:
            mods.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*mods).double()
    model.requires_grad_(False)
    return model


def _medians(fns: list[Callable[[], Any]], reps: int, run: int = 1) -> list[float]:
    """Median time of one call of each function, the functions taking turns (a burst of load
    slows all sides alike). Each turn is ``run`` consecutive calls; with ``run > 1`` the first
    call of each turn is not counted: it pays for the caches the other side just evicted."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()  # warm up: compiled kernels, torch.func's first-use costs
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            for k in range(run):
                t0 = time.perf_counter()
                fn()
                if run == 1 or k > 0:
                    ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def _rel(computed: np.ndarray, exact: np.ndarray) -> float:
    """Largest |computed - exact| over max|exact|, per point; the worst point."""
    worst = 0.0
    for c, e in zip(computed, exact):
        scale = max(abs(v) for v in e.ravel())
        diff = max(abs(float(a) - b) for a, b in zip(c.ravel(), e.ravel()))
        worst = max(worst, float(diff / scale) if scale else float(diff))
    return worst


def run(quick: bool = False) -> list[Row]:
    """Time and check the batched PINN Hessian; return rows in benchmarks/run.py's columns."""
    torch.set_num_threads(1)
    model = pinn()
    net = symjac.from_torch(model)
    H = net.hessian()
    ours_np, ours_torch = H.numeric("numpy"), H.numeric("torch")
    with quiet_torch():
        baseline = torch.vmap(torch.func.hessian(lambda x: model(x).squeeze(-1)))
    rows: list[Row] = []
    tol = second_order_tolerance("float64").rtol
    rng = np.random.default_rng(0)
    cases = ((10_000, 2.0, 5 if quick else 15, 1, 4 if quick else 32),
             (1, 20.0, 10 if quick else 40, 20, 1))  # fmt: skip
    for N, target, reps, run_length, sample in cases:
        X = rng.uniform(-1.0, 1.0, size=(N, 2))
        Xt = torch.as_tensor(X)

        def base(Xt: Any = Xt) -> Any:
            with quiet_torch():
                return baseline(Xt)

        t_np, t_torch, t_base = _medians(
            [lambda X=X: ours_np(X), lambda Xt=Xt: ours_torch(Xt), base], reps, run_length
        )
        got_np, got_torch = ours_np(X)[:, 0], ours_torch(Xt)[:, 0].numpy()
        want = base().numpy()
        index = np.linspace(0, N - 1, sample).round().astype(int)
        exact = np.stack([H.reference(X[i])[0] for i in index])
        err_np, err_torch = _rel(got_np[index], exact), _rel(got_torch[index], exact)
        err_base = _rel(want[index], exact)
        vs_torch = float(np.abs(got_np - want).max() / np.abs(want).max())
        for label, t, err in (("numpy", t_np, err_np), ("torch", t_torch, err_torch)):
            ratio = t_base / t
            rows.append(
                (
                    f"PINN Hessian {SIZES}, N = {N}, {label} (float64; max rel err vs exact "
                    f"{err:.1e} at {sample} pts, vmap(hessian) {err_base:.1e})",
                    fmt_time(t),
                    fmt_time(t_base),
                    f"{ratio:.1f}x",
                    f">= {target:g}x",
                    "yes" if ratio >= target and err <= tol else "**no**",
                )
            )
        rows.append(
            (
                f"PINN Hessian N = {N}: symjac numpy vs torch's float64 Hessian, all points",
                f"{vs_torch:.1e} rel",
                "",
                "",
                f"<= {tol:g}",
                "yes" if vs_torch <= tol else "**no**",
            )
        )
    return rows


# -- calibration of NOTE: second-order-tolerance ----------------------------------------------

ACTIVATIONS = {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "softplus": torch.nn.Softplus,
               "gelu": torch.nn.GELU}  # fmt: skip


def random_net(rng: np.random.Generator, activation: str) -> torch.nn.Sequential:
    """A small random MLP: n in 1..3 inputs, one or two hidden layers of 2..8, one output;
    weights N(0, s^2) with s one of 1, 2, 4 (the larger scales reach saturation)."""
    n, w, depth = int(rng.integers(1, 4)), int(rng.integers(2, 9)), int(rng.integers(1, 3))
    scale = float(rng.choice([1.0, 2.0, 4.0]))
    sizes = [n] + [w] * depth + [1]
    mods: list[torch.nn.Module] = []
    for k in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[k], sizes[k + 1], dtype=torch.float64)
        with torch.no_grad():  # float32-representable weights: the float32 copy is the same net
            lin.weight.copy_(torch.as_tensor(scale * rng.standard_normal(lin.weight.shape)).float())
            lin.bias.copy_(torch.as_tensor(rng.standard_normal(lin.bias.shape)).float())
        mods.append(lin)
        if k < len(sizes) - 2:
            mods.append(ACTIVATIONS[activation]())
    return torch.nn.Sequential(*mods)


def calibrate(count: int, seed: int = 0) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(activation, dtype) -> [(worst first-order rel err, worst second-order rel err)]."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for k in range(count):
        activation = list(ACTIVATIONS)[k % len(ACTIVATIONS)]
        model = random_net(rng, activation)
        x = np.asarray(rng.standard_normal(model[0].in_features), dtype=np.float32)
        report = symjac.compare(model, x.astype(np.float64), order=2)
        for dtype in ("float32", "float64"):
            first = max(r.max_rel for r in report.rows
                        if r.dtype == dtype and r.quantity in ("whole", "chain"))  # fmt: skip
            second = max(r.max_rel for r in report.rows
                         if r.dtype == dtype and r.quantity == "hessian" and r.method != "symjac")  # fmt: skip
            out.setdefault((activation, dtype), []).append((first, second))
    return out


def _calibration_table(data: dict[tuple[str, str], list[tuple[float, float]]]) -> str:
    from symjac.accuracy import tolerance

    lines = ["activation  dtype    nets  worst 1st  worst 2nd  2nd/1st p50  p99    max    "
             "1st fail  2nd fail  2nd fails, 1st passes"]  # fmt: skip
    for (activation, dtype), pairs in sorted(data.items()):
        first = np.array([p[0] for p in pairs])
        second = np.array([p[1] for p in pairs])
        ratios = second / np.maximum(first, 1e-300)
        p50, p99 = np.quantile(ratios, [0.5, 0.99])
        rt1 = tolerance(dtype).rtol
        rt2 = second_order_tolerance(dtype).rtol
        bad = int(((second > rt2) & (first <= rt1)).sum())
        lines.append(
            f"{activation:10s}  {dtype:7s}  {len(pairs):4d}  {first.max():9.2e}  "
            f"{second.max():9.2e}  {p50:11.2f}  {p99:5.1f}  {ratios.max():5.1f}  "
            f"{int((first > rt1).sum()):8d}  {int((second > rt2).sum()):8d}  {bad}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sample points")
    parser.add_argument("--calibrate", action="store_true", help="second-order tolerance data")
    parser.add_argument("--save", metavar="JSON", help="with --calibrate: also write the data")
    args = parser.parse_args()
    if args.calibrate:
        data = calibrate(40 if args.quick else 600)
        if args.save:
            import json

            Path(args.save).write_text(json.dumps({f"{a} {d}": v for (a, d), v in data.items()}))
        print(_calibration_table(data))
        return 0
    rows = run(args.quick)
    print("| case | symjac | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
