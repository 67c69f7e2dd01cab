"""One layer of a :class:`~symjac.Network`: exact weights, held as arrays until asked for.

>>> import numpy as np
>>> from symjac.activations import get_activation
>>> Layer(np.array([[0.5, -2.0]]), np.array([0.25]), get_activation("tanh")).shape
(1, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

from symjac.activations import Activation

__all__ = ["Layer"]


class Layer:
    """One stage: ``activation(weight @ s + bias)``, with exact weights.

    ``weight`` has shape ``(out, in)`` and ``bias`` ``(out, 1)`` (or ``None``), as
    SymPy matrices (exact rationals or symbols). A layer read from torch holds
    float64 arrays instead and makes the exact matrices only when they are asked
    for (NOTE: lazy-weights): every float is an exact binary fraction, so nothing
    is lost, and a million weights are read in a fraction of a second.
    ``squeeze`` records that the output is squeezed to a scalar (the seed's
    ``layer3``), which does not change the Jacobian's rows.

    NOTE: lazy-weights
        Numeric paths (compiled Jacobians, the reference, torch twins) read
        :meth:`arrays`; only symbolic work reads :attr:`weight`. The two are the
        same numbers: ``Rational(float)`` is the float's exact value.

    >>> import sympy, numpy as np
    >>> from symjac.activations import get_activation
    >>> layer = Layer(sympy.ImmutableMatrix([[2, 0]]), None, get_activation("identity"))
    >>> layer.shape
    (1, 2)
    >>> Layer(np.array([[0.5, 0.1]]), None, get_activation("identity")).weight
    Matrix([[1/2, 3602879701896397/36028797018963968]])
    """

    def __init__(self, weight: Any, bias: Any, activation: Activation, squeeze: bool = False):
        self._weight = self._array = self._bias = self._bias_array = None
        self._from_arrays = isinstance(weight, np.ndarray)  # else exact matrices are the source
        if self._from_arrays:
            self._array = np.ascontiguousarray(weight, dtype=np.float64)
            if bias is not None:
                self._bias_array = np.asarray(bias, dtype=np.float64).reshape(-1)
        else:
            self._weight, self._bias = weight, bias
        self.activation = activation
        self.squeeze = squeeze

    @property
    def weight(self) -> sympy.ImmutableMatrix:
        """The exact weight matrix (made from the array on first use: NOTE: lazy-weights)."""
        if self._weight is None:
            self._weight = _exact_array(self._array)
        return self._weight

    @property
    def bias(self) -> sympy.ImmutableMatrix | None:
        """The exact bias column, or None."""
        if self._bias is None and self._bias_array is not None:
            self._bias = _exact_array(self._bias_array.reshape(-1, 1))
        return self._bias

    @property
    def free_symbols(self) -> set[sympy.Symbol]:
        """Symbolic weights (none for a layer of numbers)."""
        if self._from_arrays:
            return set()
        out = set(self._weight.free_symbols)
        return out | (self._bias.free_symbols if self._bias is not None else set())

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(weight, bias)`` as float64 arrays ``(out, in)`` and ``(out,)`` (numbers only)."""
        if self._array is None:
            if self.free_symbols:
                raise ValueError("the layer has symbolic weights; substitute numbers first")
            self._array = np.array(self._weight.tolist(), dtype=np.float64)
            if self._bias is not None:
                self._bias_array = np.array(self._bias.tolist(), dtype=np.float64).reshape(-1)
        return self._array, self._bias_array

    @property
    def shape(self) -> tuple[int, int]:
        """``(out_features, in_features)``."""
        if self._array is not None:
            return tuple(self._array.shape)  # type: ignore[return-value]
        return tuple(self._weight.shape)  # type: ignore[return-value]

    def _key(self) -> tuple[Any, ...]:
        if self._from_arrays:
            b = None if self._bias_array is None else self._bias_array.tobytes()
            return ("arrays", self._array.shape, self._array.tobytes(), b)
        return ("exact", self.weight, self.bias)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layer):
            return NotImplemented
        same = (self.activation, self.squeeze) == (other.activation, other.squeeze)
        if not same or self.shape != other.shape:
            return False
        if self._key()[0] == other._key()[0]:
            return self._key() == other._key()
        return (self.weight, self.bias) == (other.weight, other.bias)

    def __hash__(self) -> int:
        return hash((self.shape, self.activation, self.squeeze))

    def __repr__(self) -> str:
        return f"Layer(shape={self.shape}, activation={self.activation.label})"

    def replace(self, **changes: Any) -> Layer:
        """A copy with ``weight``, ``bias``, ``activation`` or ``squeeze`` changed."""
        fields = {"weight": self.weight, "bias": self.bias, "activation": self.activation,
                  "squeeze": self.squeeze}  # fmt: skip
        fields.update(changes)
        return Layer(fields["weight"], fields["bias"], fields["activation"], fields["squeeze"])


def _exact_array(values: np.ndarray) -> sympy.ImmutableMatrix:
    """The exact matrix of float64 ``values``: each float is the binary fraction ``p / q``."""
    from symjac import _sympy_fast

    rows, cols = values.shape
    ratios = [v.as_integer_ratio() for v in values.ravel().tolist()]  # coprime, q > 0

    def make(c: _sympy_fast.Construction) -> sympy.ImmutableMatrix:
        flat = [c.rational(p, q) for p, q in ratios]
        dod: dict[int, dict[int, Any]] = {}
        for k, (p, _) in enumerate(ratios):
            if p:
                dod.setdefault(k // cols, {})[k % cols] = flat[k]
        return c.immutable_matrix(dod, flat, rows, cols)

    return _sympy_fast.build(make)
