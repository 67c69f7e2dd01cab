"""Draw the error scan of tanh's derivative for "Exact versus autograd".

Run by the docs build (docs/_ext/symjac_docs.py calls ``main()`` before the pages are read); writes
docs/_generated/error-scan.png. Run it by hand with ``python docs/_scripts/error_scan.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import symjac

OUT = Path(__file__).resolve().parent.parent / "_generated" / "error-scan.png"


def main() -> Path:
    OUT.parent.mkdir(exist_ok=True)
    xs = np.linspace(-12, 12, 481)
    result = symjac.scan(torch.nn.Tanh(), xs, methods=["autograd"])
    return Path(result.plot(OUT))


if __name__ == "__main__":
    print(main())
