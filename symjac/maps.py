r"""Vector maps and their exact Jacobians.

A :class:`VectorMap` is a function :math:`f: \mathbb{R}^n \to \mathbb{R}^m` written
in SymPy (or in strings, parsed safely: NOTE: safe-parsing). Its
:class:`Jacobian` is the :math:`m \times n` matrix of partial derivatives
:math:`J_{ij} = \partial f_i / \partial x_j`: rows are outputs, columns inputs.

>>> import symjac
>>> f = symjac.VectorMap(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"], name="f")
>>> J = f.jacobian()
>>> J.matrix
Matrix([
[2*x1,    1],
[   1, 2*x2]])
>>> J.at({"x1": 1, "x2": 2})
Matrix([
[2, 1],
[1, 4]])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any

import sympy

from symjac import latex as _latex
from symjac import limits
from symjac.evaluation import exact_at
from symjac.exceptions import LimitError, SymjacWarning
from symjac.numeric import NumericFunction, compile_exprs
from symjac.parsing import parse_expression
from symjac.variables import exact_number, exact_point, make_symbols

if TYPE_CHECKING:
    from symjac.hessians import Hessian

__all__ = ["Jacobian", "VectorMap", "jacobian"]

_SHOW = ("both", "value", "definition")


def _check_label(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"{what} must be a non-empty string, got {name!r}")
    return name


def _to_expr(item: Any, names: Mapping[str, sympy.Symbol], index: int) -> sympy.Expr:
    if isinstance(item, str):
        return parse_expression(item, names)
    if isinstance(item, sympy.Basic):
        if not isinstance(item, sympy.Expr) or (isinstance(item, sympy.Symbol) and item.is_Boolean):
            raise TypeError(
                f"output {index + 1} is {type(item).__name__} ({item}), not a real expression; "
                "relations and booleans have no derivative"
            )
        for sym in item.free_symbols:
            known = names.get(sym.name)  # type: ignore[attr-defined]
            if known is None:
                declared = ", ".join(names) or "none"
                raise ValueError(
                    f"output {index + 1} ({item}) contains the symbol {sym} that is not declared "
                    f"(declared: {declared}); add it to the inputs or to params="
                )
            if known != sym:
                raise ValueError(
                    f"output {index + 1} uses a symbol {sym.name!r} whose assumptions differ from "
                    f"the declared {sym.name!r}; SymPy would treat them as two variables. "
                    f"Use the declared symbol or pass the name as a string"
                )
        if item.has(sympy.I) or item.has(sympy.nan, sympy.zoo, sympy.oo):
            raise ValueError(f"output {index + 1} ({item}) is not a finite real expression")
        return item
    if isinstance(item, bool):
        raise TypeError(f"output {index + 1} is a bool; give an expression")
    try:
        return exact_number(item, label=f"output {index + 1}")
    except TypeError:
        raise TypeError(
            f"output {index + 1} must be a string, a SymPy expression or a number, "
            f"got {type(item).__name__}"
        ) from None


def _derivative_size(exprs: Sequence[sympy.Expr], inputs: Sequence[sympy.Symbol]) -> int:
    """Estimated tree nodes of all partial derivatives, without computing them.

    NOTE: derivative-size
        SymPy's ``diff`` and printing cost grows with the size of the result
        tree, which can be quadratic in the input: ``d/dx`` of a product of k
        factors is k products of k factors. The estimate follows the rules of
        differentiation on tree sizes (memoized, so shared subtrees cost once
        to estimate): a sum costs its terms' derivatives, a product one copy of
        itself per varying factor, a function or power a copy of itself and of
        its argument. It is checked against ``max_derivative_nodes`` before
        ``diff`` runs.
    """
    size: dict[sympy.Basic, int] = {}
    dsize: dict[sympy.Basic, int] = {}
    wanted = set(inputs)
    # iterative post-order over the DAG (expressions from networks are deep)
    for expr in exprs:
        stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
        while stack:
            node, ready = stack.pop()
            if node in size:
                continue
            if node.args and not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in size)
                continue
            size[node] = 1 + sum(size[a] for a in node.args)
            if not node.args:
                dsize[node] = 1 if node in wanted else 0
                continue
            varying = [a for a in node.args if dsize[a]]
            if not varying:
                dsize[node] = 0
            elif isinstance(node, sympy.Add):
                dsize[node] = sum(dsize[a] for a in varying)
            elif isinstance(node, sympy.Mul):
                dsize[node] = sum(size[node] - size[a] + dsize[a] for a in varying)
            else:
                dsize[node] = sum(size[node] + size[a] + dsize[a] for a in varying)
    functions = sum(1 for node in size if isinstance(node, sympy.Function))
    bound = limits.current().max_functions
    if functions > bound:
        raise LimitError(
            f"the map applies {functions} distinct functions (the limit is {bound}); each costs "
            "SymPy about a millisecond to differentiate, evaluate and print (split the map or "
            "raise symjac.limits.override(max_functions=...))"
        )
    return sum(dsize[e] for e in exprs) * max(len(wanted), 1)


def _bound_derivative(
    exprs: Sequence[sympy.Expr], inputs: Sequence[sympy.Symbol], what: str
) -> None:
    bound = limits.current().max_derivative_nodes
    estimate = _derivative_size(exprs, inputs)
    if estimate > bound:
        raise LimitError(
            f"{what} would have about {estimate} terms and factors (the limit is {bound}): "
            "long products of functions have quadratically large derivatives; split the map, "
            "evaluate it numerically with .numeric(), or raise "
            "symjac.limits.override(max_derivative_nodes=...)"
        )


class VectorMap:
    r"""A map :math:`f: \mathbb{R}^n \to \mathbb{R}^m` given by exact expressions.

    Parameters
    ----------
    outputs
        One expression or a sequence of them: strings (parsed safely, ``^`` is a
        power) or SymPy expressions.
    inputs
        The variables, in input order: names, a string ``"x1 x2"``, or Symbols.
        Names become real symbols (NOTE: symbols-once).
    name
        The map's name, used in LaTeX (``J_f``, :math:`\partial f_1`).
    params
        Symbols that are constants, not inputs (for example symbolic weights).
        Give them values with :meth:`subs` before compiling.
    output_names
        Names of the outputs in LaTeX; default ``f1, f2, ...`` (or ``f`` if m = 1).

    Examples
    --------
    >>> import symjac
    >>> f = symjac.VectorMap("x1**2 + 3*x1*x2 + x2**2", "x1 x2", name="f")
    >>> f.shape, f.outputs
    ((1, 2), (x1**2 + 3*x1*x2 + x2**2,))
    >>> f.gradient().matrix
    Matrix([
    [2*x1 + 3*x2],
    [3*x1 + 2*x2]])
    """

    def __init__(
        self,
        outputs: Any,
        inputs: Any,
        *,
        name: str = "f",
        params: Any = (),
        output_names: Sequence[str] | None = None,
    ):
        self.name = _check_label(name, "name")
        self.inputs = make_symbols(inputs)
        if not self.inputs:
            raise ValueError("a map needs at least one input variable, got none")
        self.params = make_symbols(params, what="params") if params else ()
        names: dict[str, sympy.Symbol] = {}
        for sym in (*self.inputs, *self.params):
            if sym.name in names:
                raise ValueError(f"{sym.name!r} is both an input and a parameter; choose one")
            names[sym.name] = sym
        if isinstance(outputs, (str, sympy.Basic)) and not isinstance(outputs, sympy.MatrixBase):
            items: list[Any] = [outputs]
        elif isinstance(outputs, (sympy.MatrixBase, Sequence)) or hasattr(outputs, "__iter__"):
            items = list(outputs)
        else:
            items = [outputs]
        if not items:
            raise ValueError("a map needs at least one output expression, got none")
        self.outputs = tuple(_to_expr(item, names, i) for i, item in enumerate(items))
        m = len(self.outputs)
        if output_names is None:
            output_names = [name] if m == 1 else [f"{name}{i + 1}" for i in range(m)]
        output_names = [str(o) for o in output_names]
        if len(output_names) != m:
            raise ValueError(f"{len(output_names)} output names for {m} outputs")
        self.output_names = tuple(output_names)
        used = set().union(*(e.free_symbols for e in self.outputs))
        unused = [s.name for s in self.inputs if s not in used]
        if unused:
            warnings.warn(
                f"variable(s) {', '.join(unused)} do not appear in {name}; "
                "their Jacobian columns are zero",
                SymjacWarning,
                stacklevel=2,
            )

    @classmethod
    def _trusted(
        cls,
        outputs: Sequence[sympy.Expr],
        inputs: Sequence[sympy.Symbol],
        *,
        name: str,
        params: Sequence[sympy.Symbol] = (),
        output_names: Sequence[str] | None = None,
    ) -> VectorMap:
        # built by symjac itself (networks): inputs are checked symbols, outputs SymPy
        self = cls.__new__(cls)
        self.name = name
        self.inputs = tuple(inputs)
        self.params = tuple(params)
        self.outputs = tuple(outputs)
        m = len(self.outputs)
        self.output_names = tuple(
            output_names or ([name] if m == 1 else [f"{name}{i + 1}" for i in range(m)])
        )
        return self

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``: the number of outputs and of inputs (the Jacobian's shape)."""
        return (len(self.outputs), len(self.inputs))

    def __repr__(self) -> str:
        ins = ", ".join(s.name for s in self.inputs)
        outs = ", ".join(str(e) for e in self.outputs)
        return f"VectorMap({self.name}: ({ins}) -> ({outs}))"

    def jacobian(self) -> Jacobian:
        """The exact Jacobian, an ``m x n`` matrix (rows: outputs, columns: inputs).

        >>> import symjac
        >>> symjac.VectorMap("x**2", "x").jacobian().matrix
        Matrix([[2*x]])
        """
        _bound_derivative(self.outputs, self.inputs, f"the Jacobian of {self.name}")
        matrix = sympy.ImmutableMatrix(
            len(self.outputs),
            len(self.inputs),
            [sympy.diff(e, x) for e in self.outputs for x in self.inputs],
        )
        return Jacobian(matrix, self)

    def hessian(self) -> Hessian:
        """The exact Hessian: one symmetric ``n x n`` matrix per output, an ``(m, n, n)`` array.

        >>> import symjac
        >>> symjac.examples.quadratic().hessian().matrices[0]
        Matrix([
        [2, 3],
        [3, 2]])
        """
        from symjac.hessians import Hessian

        first = self.jacobian().matrix
        _bound_derivative(list(first), self.inputs, f"the Hessian of {self.name}")
        n = len(self.inputs)
        matrices = [
            sympy.ImmutableMatrix(
                n, n, [sympy.diff(first[k, i], x) for i in range(n) for x in self.inputs]
            )
            for k in range(len(self.outputs))
        ]
        return Hessian(self, matrices=matrices)

    def gradient(self) -> Jacobian:
        r"""The gradient of a scalar map, as an ``n x 1`` column (the transposed Jacobian).

        >>> import symjac
        >>> print(symjac.examples.quadratic().gradient().latex())
        \nabla f = \begin{pmatrix} \frac{\partial f}{\partial x_1} \\ \frac{\partial f}{\partial x_2} \end{pmatrix} = \begin{pmatrix} 2 x_{1} + 3 x_{2} \\ 3 x_{1} + 2 x_{2} \end{pmatrix}
        """
        if len(self.outputs) != 1:
            raise ValueError(
                f"a gradient needs a scalar map (1 output); {self.name} has {len(self.outputs)} "
                "outputs, use .jacobian() instead"
            )
        return Jacobian(self.jacobian().matrix.T, self, kind="gradient")

    def at(self, point: Any) -> sympy.Matrix:
        """The map's exact value at ``point`` (mapping or sequence), as an ``m x 1`` matrix.

        >>> import symjac
        >>> symjac.examples.planar().at([1, 2])
        Matrix([
        [3],
        [5]])
        """
        values = exact_point(point, self.inputs)
        return sympy.Matrix(exact_at(self.outputs, values, labels=self.output_names))

    def subs(self, values: Mapping[Any, Any]) -> VectorMap:
        """A copy with parameters replaced by exact numbers (keys: names or Symbols).

        >>> import symjac
        >>> g = symjac.VectorMap("w*x", "x", params="w")
        >>> g.subs({"w": 0.5}).outputs
        (x/2,)
        """
        by_name = {s.name: s for s in self.params}
        replace: dict[sympy.Symbol, sympy.Expr] = {}
        for key, value in values.items():
            name = key.name if isinstance(key, sympy.Symbol) else key
            if name not in by_name:
                raise ValueError(
                    f"{key!r} is not a parameter of {self.name}; parameters: "
                    f"{', '.join(by_name) or 'none'}"
                )
            replace[by_name[name]] = exact_number(value, label=str(name))
        return VectorMap._trusted(
            [e.xreplace(replace) for e in self.outputs],
            self.inputs,
            name=self.name,
            params=[p for p in self.params if p not in replace],
            output_names=self.output_names,
        )

    def numeric(self, backend: str = "numpy", *, digits: int | None = None) -> NumericFunction:
        """Compile the map: points ``(..., n)`` to values ``(..., m)``.

        >>> import symjac
        >>> symjac.examples.planar().numeric("numpy")([1.0, 2.0])
        array([3., 5.])
        """
        return compile_exprs(
            self.outputs, self.inputs, (len(self.outputs),), backend, digits=digits
        )

    def latex(self, *, digits: int | None = None) -> str:
        r"""The map as a formula, e.g. ``f(x_1, x_2) = \begin{pmatrix} ... \end{pmatrix}``.

        >>> import symjac
        >>> symjac.examples.square().latex()
        'f(x) = x^{2}'
        """
        args = ", ".join(_latex.symbol_latex(s.name) for s in self.inputs)
        values = [_latex.expr_latex(e, digits) for e in self.outputs]
        body = values[0] if len(values) == 1 else _latex.matrix_latex([[v] for v in values])
        return _latex.truncate(f"{_latex.symbol_latex(self.name)}({args}) = {body}")

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"


class Jacobian:
    r"""The exact Jacobian of a :class:`VectorMap`, or any matrix of partial derivatives.

    ``matrix`` is an immutable SymPy matrix of shape ``(m, n)``; ``inputs`` are
    the symbols its columns differentiate by. Use :meth:`at` for exact values,
    :meth:`numeric` for fast ones, :meth:`latex` to print it.

    >>> import symjac
    >>> J = symjac.examples.planar().jacobian()
    >>> J.shape
    (2, 2)
    >>> print(J.latex(show="value"))
    \begin{pmatrix} 2 x_{1} & 1 \\ 1 & 2 x_{2} \end{pmatrix}
    """

    def __init__(
        self,
        matrix: sympy.MatrixBase,
        function: VectorMap,
        *,
        kind: str = "jacobian",
        name: str | None = None,
        digits: int | None = None,
    ):
        self.matrix = sympy.ImmutableMatrix(matrix)
        self.function = function
        self.inputs = function.inputs
        self.kind = kind
        if digits is not None and (
            not isinstance(digits, int) or isinstance(digits, bool) or digits < 1
        ):
            raise ValueError(f"digits must be a positive int or None, got {digits!r}")
        #: the default of :meth:`latex`'s ``digits`` (NOTE: display-digits in symjac.display)
        self.digits = digits
        label = _latex.symbol_latex(function.name)
        default = (
            rf"\nabla {label}"
            if kind == "gradient"
            else (f"J_{label}" if len(label) == 1 else f"J_{{{label}}}")
        )
        self.name = name if name is not None else default

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of :attr:`matrix`."""
        return tuple(self.matrix.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        wrt = ", ".join(s.name for s in self.inputs) + ("," if len(self.inputs) == 1 else "")
        return f"Jacobian({self.name!r}, shape={self.shape}, wrt=({wrt}))"

    def at(self, point: Any) -> sympy.Matrix:
        """Exact value at ``point``: a mapping (names or Symbols as keys) or a sequence.

        Floats are taken exactly (the binary value they hold).

        >>> import symjac
        >>> J = symjac.examples.planar().jacobian()
        >>> J.at({"x1": 0.5, "x2": 2})
        Matrix([
        [1, 1],
        [1, 4]])
        """
        evaluator = self.__dict__.get("_evaluator")
        if evaluator is not None:  # a network's Jacobian: its chain at the point (Network)
            return evaluator(point)
        values = exact_point(point, self.inputs)
        rows, cols = self.shape
        labels = [self._entry_label(i, j) for i in range(rows) for j in range(cols)]
        return sympy.Matrix(rows, cols, exact_at(list(self.matrix), values, labels=labels))

    def _entry_label(self, i: int, j: int) -> str:
        """How an entry is named in messages: ``df1/dx2`` (a gradient's entries ``df/dx2``)."""
        outs = self.function.output_names
        if self.kind == "gradient":
            return f"d{outs[0]}/d{self.inputs[i].name}"
        return f"d{outs[i]}/d{self.inputs[j].name}"

    def numeric(self, backend: str = "numpy", *, digits: int | None = None) -> NumericFunction:
        """Compile: points ``(..., n)`` to matrices ``(..., rows, columns)``.

        ``backend`` is ``"numpy"`` (float64), ``"torch"`` (keeps the tensor's
        dtype and device) or ``"mpmath"`` (``digits`` significant digits,
        default 50). Shared subexpressions are computed once.

        >>> import symjac, torch
        >>> fn = symjac.examples.planar().jacobian().numeric("torch")
        >>> fn(torch.tensor([1.0, 2.0]))
        tensor([[2., 1.],
                [1., 4.]])
        """
        entries = list(self.matrix)
        return compile_exprs(entries, self.inputs, self.shape, backend, digits=digits)

    def latex(
        self,
        *,
        show: str = "both",
        name: str | None = None,
        digits: int | EllipsisType | None = ...,
    ) -> str:
        r"""LaTeX: ``show="both"`` (definition = value), ``"value"`` or ``"definition"``.

        ``name`` replaces the matrix name (default ``J_f``); ``digits`` rounds
        non-integer numbers in the value, ``digits=None`` prints them exactly.
        The default is the Jacobian's own :attr:`digits`: exact for maps you
        write, 4 significant digits for the layer Jacobians of a network with
        numeric weights (NOTE: display-digits in :mod:`symjac.display`).

        >>> import symjac
        >>> print(symjac.examples.planar().jacobian().latex())
        J_f = \begin{pmatrix} \frac{\partial f_1}{\partial x_1} & \frac{\partial f_1}{\partial x_2} \\ \frac{\partial f_2}{\partial x_1} & \frac{\partial f_2}{\partial x_2} \end{pmatrix} = \begin{pmatrix} 2 x_{1} & 1 \\ 1 & 2 x_{2} \end{pmatrix}
        >>> print(symjac.examples.square().jacobian().latex())
        J_f = \frac{d f}{d x} = 2 x
        """
        if show not in _SHOW:
            raise ValueError(f"show must be one of {', '.join(map(repr, _SHOW))}, got {show!r}")
        if digits is ...:
            digits = self.digits
        label = self.name if name is None else _check_label(name, "name")
        rows, cols = self.shape
        outs = self.function.output_names
        scalar = rows == 1 and cols == 1
        if scalar:
            definition = _latex.partial_latex(outs[0], self.inputs[0].name, ordinary=True)
            value = _latex.expr_latex(self.matrix[0, 0], digits)
        else:
            if self.kind == "gradient":
                cells = [[_latex.partial_latex(outs[0], x.name)] for x in self.inputs]
            else:
                cells = [[_latex.partial_latex(o, x.name) for x in self.inputs] for o in outs]
            definition = _latex.matrix_latex(cells)
            value = _latex.matrix_latex(
                [
                    [_latex.expr_latex(self.matrix[i, j], digits) for j in range(cols)]
                    for i in range(rows)
                ]
            )
        parts = {
            "both": [label, definition, value],
            "value": [value],
            "definition": [label, definition],
        }
        return _latex.truncate(" = ".join(parts[show]))

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"


def jacobian(outputs: Any, inputs: Any, *, name: str = "f", params: Any = ()) -> Jacobian:
    """The exact Jacobian of the map ``inputs -> outputs``: ``VectorMap(...).jacobian()``.

    >>> import symjac
    >>> symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"]).matrix
    Matrix([
    [2*x1,    1],
    [   1, 2*x2]])
    """
    return VectorMap(outputs, inputs, name=name, params=params).jacobian()
