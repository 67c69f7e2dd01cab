r"""Hold PyTorch autograd to the exact Jacobian: :func:`compare` and :func:`scan`.

:func:`compare` evaluates, at one point and in each requested dtype, every
Jacobian torch can produce and measures it against the exact value (mpmath,
50 digits) with :func:`symjac.accuracy.measure`:

* **quantities**: for a network, each layer Jacobian ``J1, J2, ...`` (torch's,
  evaluated along torch's own forward pass, as the seed document does with its
  ``layer1``/``layer2``/``layer3`` functions), the ``chain`` product
  :math:`J_D \cdots J_1` of those torch layer Jacobians, and the ``whole``
  Jacobian of the module; for a :class:`~symjac.VectorMap` only ``whole``;
* **methods**: ``autograd`` (``torch.autograd.functional.jacobian``),
  ``jacrev`` and ``jacfwd`` (``torch.func``), ``backward`` (``.backward()``,
  scalar outputs only) and ``symjac`` (symjac's own compiled Jacobian, run by
  torch in that dtype; ``whole`` only).

The package: :mod:`~symjac.comparison.pipeline` (:func:`compare`),
:mod:`~symjac.comparison.scanning` (:func:`scan`), :mod:`~symjac.comparison.targets` and
:mod:`~symjac.comparison.network_target` (what is compared, NOTE: target-protocol),
:mod:`~symjac.comparison.methods` (torch's methods, dispatched once),
:mod:`~symjac.comparison.conventions` (the kinks), :mod:`~symjac.comparison.collect`
(rows, notes, skips), :mod:`~symjac.comparison.report` (:class:`Row`, :class:`Report`)
and :mod:`~symjac.comparison.render` (text, HTML, plot).

NOTE: honest-reference
    The exact value a dtype's rows are held to is the exact Jacobian *of the
    function torch computes in that dtype*: the module is copied and cast
    (``copy.deepcopy(module).to(dtype)``) and the point is cast, and the
    reference is built from the cast weights at the cast point. Rounding the
    weights or the point changes the function, not the quality of its
    derivative; blaming it on autograd would make every float32 row of a
    float64 model fail for the wrong reason. When casting changed the weights
    or the point the row says so, and the report's notes give how far the
    original model's exact Jacobian is from the cast one. Layer rows are held
    to the exact layer Jacobian along the *exact* forward pass, so they include
    what torch's rounded stage values cost.

NOTE: conventions
    Where the exact derivative does not exist (relu, leaky_relu, abs, clamp at
    their kinks; sqrt at 0; log at <= 0) torch follows a convention. A row whose
    quantity passes through such a point gets the verdict ``"convention"`` with
    the rule torch applies; it does not fail a check. For networks each
    activation's ``kinks`` are checked against the exact pre-activations and
    against torch's own (a rounded pre-activation can land on the kink); for a
    VectorMap the outputs are searched for Abs, Max, Min, Heaviside, sign,
    Piecewise boundaries, fractional powers at 0 and log at <= 0
    (:mod:`symjac.comparison.conventions`).

>>> import symjac, torch
>>> report = symjac.compare(torch.nn.Tanh(), [10.0])
>>> report.ok
False
>>> report.row("whole", "autograd", "float32").verdict, report.row("whole", "autograd", "float64").verdict
('mismatch', 'ok')
"""

from __future__ import annotations

from symjac.comparison import (
    model_target,  # noqa: F401 (it registers graph models)
    network_target,  # noqa: F401 (it registers the network targets)
)
from symjac.comparison.methods import METHODS
from symjac.comparison.pipeline import compare
from symjac.comparison.report import Report, Row
from symjac.comparison.scanning import Scan, ScanSeries, scan
from symjac.comparison.targets import Target, make_target, register_target

__all__ = [
    "METHODS",
    "Report",
    "Row",
    "Scan",
    "ScanSeries",
    "Target",
    "compare",
    "make_target",
    "register_target",
    "scan",
]
