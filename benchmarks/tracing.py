"""Reading models: ``symjac.from_torch`` wall time and memory, each case in a fresh process.

Cases (issue targets in brackets): a 1000 x 1000 ``Linear`` (1M weights) [<= 2 s, < 1 GiB
peak RSS including torch's import]; a width-32, depth-6 tanh chain [<= 50 ms, tracing
included]; and a residual PINN ``forward(x, t)`` with input normalisation by buffers, read as a
graph of stages. Each time is the median of 5 reads in one process after one read of another
model (so one-time imports are not counted; the first read is printed too). Weights stay
float64 arrays and become exact rationals only when shown or asked for symbolically (NOTE:
lazy-weights in symjac.layer), which is what makes the first case fast.

    python benchmarks/tracing.py [--quick]

``run(quick)`` returns the rows; ``benchmarks/run.py`` prints them with the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import PEAK_KIB_SOURCE, fmt_time  # benchmarks/timing.py

#: (case, symjac, baseline, ratio, target, met): the columns of benchmarks/run.py
Row = tuple[str, str, str, str, str, str]

CHILD = (
    PEAK_KIB_SOURCE
    + r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import torch
from torch import nn
import symjac
torch.manual_seed(0)
case = sys.argv[2]
if case == "wide":
    model = nn.Sequential(nn.Linear(1000, 1000))
elif case == "chain":
    layers = []
    for i in range(6):
        layers += [nn.Linear(4 if i == 0 else 32, 32), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(32, 1))
else:
    class PINN(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("lb", torch.tensor([-1.0, 0.0]))
            self.register_buffer("ub", torch.tensor([1.0, 2.0]))
            self.inp, self.hidden, self.out = nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 1)
        def forward(self, x, t):
            h = (torch.cat([x, t], dim=1) - self.lb) / (self.ub - self.lb)
            h = torch.tanh(self.inp(h))
            h = h + torch.tanh(self.hidden(h))
            return self.out(h)
    model = PINN()
before = peak_kib()
symjac.from_torch(nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.LayerNorm(2)))  # imports
start = time.perf_counter()
symjac.from_torch(model)
first = time.perf_counter() - start
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    read = symjac.from_torch(model)
    times.append(time.perf_counter() - start)
peak = peak_kib()
print(json.dumps({"first": first, "median": statistics.median(times), "peak_kib": peak,
                  "before_kib": before, "kind": type(read).__name__}))
"""
)


def _measure(case: str, reps: int) -> dict:
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", CHILD, root, case, str(reps)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    """The rows of the tracing table (see the module docstring)."""
    reps = 3 if quick else 5
    rows: list[Row] = []
    wide = _measure("wide", reps)
    gib = wide["peak_kib"] / 2**20
    rows.append(("5. from_torch: Linear(1000, 1000), 1M weights (median; first read "
                 f"{fmt_time(wide['first'])})", fmt_time(wide["median"]), "", "", "<= 2 s",
                 "yes" if wide["first"] <= 2 else "**no**"))  # fmt: skip
    rows.append(("5. same: peak RSS of the whole process (incl. torch import)", f"{gib:.2f} GiB",
                 f"{wide['before_kib'] / 2**20:.2f} GiB after import", "", "< 1 GiB",
                 "yes" if gib < 1 else "**no**"))  # fmt: skip
    chain = _measure("chain", reps)
    rows.append((f"5. from_torch: tanh chain [4, 32 x 6, 1] (median; first read "
                 f"{fmt_time(chain['first'])})", fmt_time(chain["median"]), "", "", "<= 50 ms",
                 "yes" if chain["median"] <= 0.05 else "**no**"))  # fmt: skip
    pinn = _measure("pinn", reps)
    rows.append((f"5. from_torch: residual PINN forward(x, t), read as a {pinn['kind']} "
                 f"(median; first {fmt_time(pinn['first'])})", fmt_time(pinn["median"]), "", "",
                 "(no target)", ""))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    print(
        "| case | symjac | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |"
    )
    for r in run(args.quick):
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
