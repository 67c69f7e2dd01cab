"""symjac: exact Jacobians with SymPy, and PyTorch autograd held to them.

>>> import symjac
>>> symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"]).matrix
Matrix([
[2*x1,    1],
[   1, 2*x2]])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from symjac import examples, limits
from symjac.activations import Activation, get_activation
from symjac.exceptions import LimitError, ParseError, SymjacError, SymjacWarning, UnsupportedError
from symjac.maps import Jacobian, VectorMap, jacobian

if TYPE_CHECKING:  # imported on first use (start-up: ``symjac jacobian`` needs none of them)
    from symjac import testing
    from symjac.comparison import Report, compare, scan
    from symjac.hessians import Hessian, Laplacian, hessian, hvp, jvp, laplacian, vjp
    from symjac.networks import Layer, Network, Reference, mlp
    from symjac.numeric import NumericFunction
    from symjac.tracing import from_torch

__version__ = "0.1.0"

#: names imported on first access: networks, torch comparison and tracing bring NumPy and
#: the chain code, which the symbolic command line never needs
_LAZY = {
    "Layer": "symjac.networks",
    "Network": "symjac.networks",
    "Reference": "symjac.networks",
    "mlp": "symjac.networks",
    "Report": "symjac.comparison",
    "compare": "symjac.comparison",
    "scan": "symjac.comparison",
    "NumericFunction": "symjac.numeric",
    "from_torch": "symjac.tracing",
    "testing": "symjac.testing",
    "Hessian": "symjac.hessians",
    "Laplacian": "symjac.hessians",
    "hessian": "symjac.hessians",
    "laplacian": "symjac.hessians",
    "jvp": "symjac.hessians",
    "vjp": "symjac.hessians",
    "hvp": "symjac.hessians",
}

__all__ = [
    "Activation",
    "Hessian",
    "Jacobian",
    "Laplacian",
    "Layer",
    "LimitError",
    "Network",
    "NumericFunction",
    "ParseError",
    "Reference",
    "Report",
    "SymjacError",
    "SymjacWarning",
    "UnsupportedError",
    "VectorMap",
    "__version__",
    "compare",
    "examples",
    "from_torch",
    "get_activation",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "laplacian",
    "limits",
    "mlp",
    "scan",
    "testing",
    "vjp",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symjac' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module == f"symjac.{name}" else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
