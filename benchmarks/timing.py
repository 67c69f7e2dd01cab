"""Helpers shared by the benchmark scripts (``run.py`` and ``hessian.py``)."""

from __future__ import annotations

__all__ = ["fmt_time"]


def fmt_time(t: float) -> str:
    """A duration in seconds, in the unit that reads best: ``'1.50 ms'``."""
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"
