"""Draw the PINN page's figure: error of u_xx against the input range, float32 and float64.

Run by the docs build (docs/_ext/symjac_docs.py calls ``main()`` before the pages are read);
writes docs/_generated/pinn-error.png. Run it by hand with ``python docs/_scripts/pinn_error.py``.

The network is the page's u(x, t), ``2 -> 16 -> 16 -> 1`` tanh with weights from
``torch.manual_seed(0)``. For each range a, 6 points (x, t) on the circle of radius a, at the
same angles for every a, give u_xx by double backward (``torch.autograd.grad`` with
``create_graph=True``) in float32 and float64, and by symjac's kernel in float32; the plot
shows the worst error at each a relative to max|H_exact| there (the measure of
``symjac.compare``), against the exact Hessian at the float32 point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import symjac

OUT = Path(__file__).resolve().parent.parent / "_generated" / "pinn-error.png"


def pinn() -> torch.nn.Sequential:
    """The page's u(x, t): 2 -> 16 -> 16 -> 1, tanh, torch.manual_seed(0)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 1),
    )


def u_xx_double_backward(model: torch.nn.Module, point: torch.Tensor) -> float:
    """d^2 u / dx^2 at one point (x, t), the way PINN codes compute it."""
    p = point.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(p).sum(), p, create_graph=True)
    (second,) = torch.autograd.grad(grad[0], p)
    return float(second[0])


def errors(ranges: np.ndarray, angles: int = 6) -> dict[str, np.ndarray]:
    """Worst |u_xx - exact| / max|H_exact| over the points of each range."""
    model32 = pinn()
    model64 = pinn().double()
    net = symjac.from_torch(model32)  # float32 weights: the same function in both dtypes
    kernel = net.hessian().numeric("torch")
    theta = np.linspace(0.3, 0.3 + 2 * np.pi, angles, endpoint=False)
    out = {name: np.zeros(len(ranges)) for name in ("float32", "float64", "symjac float32")}
    for r, a in enumerate(ranges):
        for th in theta:
            p32 = torch.tensor([a * np.cos(th), a * np.sin(th)], dtype=torch.float32)
            p64 = p32.double()  # the float32 point, exactly
            H = np.array(net.hessian().reference(p64.tolist())[0], dtype=float)
            scale, exact = np.abs(H).max(), H[0, 0]
            got = {
                "float32": u_xx_double_backward(model32, p32),
                "float64": u_xx_double_backward(model64, p64),
                "symjac float32": float(kernel(p32)[0, 0, 0]),
            }
            for name, value in got.items():
                out[name][r] = max(out[name][r], abs(value - exact) / scale)
    return out


def main() -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from symjac.second_order import tolerance

    OUT.parent.mkdir(exist_ok=True)
    ranges = np.geomspace(0.5, 300, 18)
    data = errors(ranges)
    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, style in (("float32", "o-"), ("float64", "s-"), ("symjac float32", "^-")):
        label = f"double backward {name}" if not name.startswith("symjac") else "symjac kernel"
        ax.plot(ranges, np.maximum(data[name], 1e-18), style, ms=3, lw=1, label=label)
    for dtype, colour in (("float32", "gray"), ("float64", "black")):
        ax.axhline(tolerance(dtype).rtol, ls="--", lw=1, color=colour,
                   label=f"tolerance {dtype} (second order)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input range a: points (x, t) with |(x, t)| = a")
    ax.set_ylabel("worst |u_xx - exact| / max|H_exact|")
    ax.set_title("u(x, t) = 2 -> 16 -> 16 -> 1 tanh: u_xx by double backward vs exact")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT, format="png", dpi=100)
    return OUT


if __name__ == "__main__":
    print(main())
