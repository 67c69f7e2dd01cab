"""Helpers shared by the benchmark scripts (``run.py``, ``hessian.py`` and ``tracing.py``)."""

from __future__ import annotations

__all__ = ["PEAK_KIB_SOURCE", "fmt_time"]

#: source text of ``peak_kib()`` (KiB) for the benchmarks' child processes: the process's own peak
#: resident set (``VmHWM``, reset by ``exec``). ``getrusage``'s ``ru_maxrss`` is kept across
#: ``execve`` on Linux, so a child started by a large benchmark process reported the
#: parent's peak (2.27 GiB in one full run, where the child itself used a fraction of it).
PEAK_KIB_SOURCE = r"""
def peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource, sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS
"""


def fmt_time(t: float) -> str:
    """A duration in seconds, in the unit that reads best: ``'1.50 ms'``."""
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"
