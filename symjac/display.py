r"""How symjac's objects look in a notebook, and the one digits default for network values.

NOTE: display-digits
    Numbers that come from floats (a trained model's weights, torch's
    activation constants such as leaky_relu's 0.01) are exact binary fractions
    (``\frac{4569195}{16777216}``); printed in full they bury the formula. So
    everything derived from a network (its :meth:`~symjac.Network.latex`, its
    layer Jacobians) prints non-integer numbers rounded to :data:`DIGITS`
    significant digits by default, and ``digits=None`` prints them exactly.
    Maps written by hand (``"x/3"``) stay exact. Rounding is for display only:
    the matrices themselves are exact.

In Jupyter every object renders as math or HTML: a :class:`~symjac.Jacobian`,
a :class:`~symjac.VectorMap` and a :class:`~symjac.Network` as LaTeX, the list
of layer Jacobians as :math:`J_1 = \dots,\ J_2 = \dots` side by side
(:class:`LayerJacobians`), a :class:`~symjac.Report` as a coloured table and a
:class:`~symjac.comparison.Scan` as its plot.

>>> import symjac
>>> net = symjac.mlp([1, 1, 1], weights=[[[0.5]], [[3]]], biases=False, activation="tanh")
>>> print(net.layer_jacobians().latex())
J_1 = 0.5 - 0.5 \tanh^{2}{\left(0.5 x \right)}, \quad J_2 = 3
"""

from __future__ import annotations

from types import EllipsisType

from symjac import latex as _latex

__all__ = ["DIGITS", "LayerJacobians"]

#: significant digits shown for numbers derived from float weights (NOTE: display-digits)
DIGITS = 4


class LayerJacobians(list):  # type: ignore[type-arg]
    r"""The layer Jacobians :math:`J_1, \dots, J_D` of a network: a list that renders as math.

    Returned by :meth:`symjac.Network.layer_jacobians`. It is a plain ``list``
    of :class:`~symjac.Jacobian` (index it, unpack it, ``pop`` it); in a
    notebook it shows every :math:`J_l` side by side, each with its own
    digits default (NOTE: display-digits).

    >>> import symjac
    >>> net = symjac.mlp([2, 1], weights=[[[1, -2]]], biases=False)
    >>> jacs = net.layer_jacobians()
    >>> isinstance(jacs, list), len(jacs), jacs[0].shape
    (True, 1, (1, 2))
    >>> jacs._repr_latex_()
    '$J_1 = \\begin{pmatrix} 1 & -2 \\end{pmatrix}$'
    """

    def latex(self, *, digits: int | EllipsisType | None = ...) -> str:
        r"""``J_1 = <value>, \quad J_2 = <value>, ...``; ``digits`` as in :meth:`symjac.Jacobian.latex`.

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[0.1]]], biases=False)
        >>> net.layer_jacobians().latex(), net.layer_jacobians().latex(digits=None)
        ('J_1 = 0.1', 'J_1 = \\frac{3602879701896397}{36028797018963968}')
        """
        parts = [f"{J.name} = {J.latex(show='value', digits=digits)}" for J in self]
        return _latex.truncate(r", \quad ".join(parts))

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"
