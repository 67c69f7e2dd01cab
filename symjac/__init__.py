"""symjac: exact Jacobians with SymPy, and PyTorch autograd held to them.

>>> import symjac
>>> symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"]).matrix
Matrix([
[2*x1,    1],
[   1, 2*x2]])
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from symjac import examples, limits
from symjac.activations import Activation, get_activation
from symjac.exceptions import LimitError, ParseError, SymjacError, SymjacWarning, UnsupportedError
from symjac.maps import Jacobian, VectorMap, jacobian

if TYPE_CHECKING:  # imported on first use (start-up: ``symjac jacobian`` needs none of them)
    from symjac import testing
    from symjac.compare import Report, compare, scan
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
    "Report": "symjac.compare",
    "compare": "symjac.compare",
    "scan": "symjac.compare",
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


class _Package(types.ModuleType):
    """The ``symjac`` package, whose ``compare`` is the function, never the module.

    NOTE: compare-name
        ``symjac.compare`` is the function :func:`symjac.compare.compare`, defined in
        the module of the same name. Importing that module anywhere (``from
        symjac.compare import scan``) makes Python's import system set the
        package attribute ``compare`` to the *module*, after the lazy lookup
        below may already have bound the function, or before it could. So the
        package refuses to let a submodule replace a public name that is a
        function; ``sys.modules["symjac.compare"]`` is the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _FUNCTION_NAMES:
            return
        super().__setattr__(name, value)


#: public names that are functions although a submodule has the same name
_FUNCTION_NAMES = frozenset({"compare"})
sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symjac' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    same = module == f"symjac.{name}" and name not in _FUNCTION_NAMES
    value = loaded if same else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
