"""symjac: exact Jacobians with SymPy, and PyTorch autograd held to them.

>>> import symjac
>>> symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"]).matrix
Matrix([
[2*x1,    1],
[   1, 2*x2]])
"""

from symjac import examples, limits, testing
from symjac.activations import Activation, get_activation
from symjac.compare import Report, compare, scan
from symjac.exceptions import LimitError, ParseError, SymjacError, SymjacWarning, UnsupportedError
from symjac.maps import Jacobian, VectorMap, jacobian
from symjac.networks import Layer, Network, Reference, mlp
from symjac.numeric import NumericFunction
from symjac.tracing import from_torch

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Jacobian",
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
    "jacobian",
    "limits",
    "mlp",
    "scan",
    "testing",
]
