r"""Fully connected networks built symbolically, layer by layer.

A :class:`Network` is a chain of stages :math:`s_l = \sigma_l(W_l s_{l-1} + b_l)`.
For the seed document's ``[1, 2, 2, 1]`` tanh network the stages are
:math:`x \to a \to b \to p`, with one Jacobian per stage.

NOTE: layer-rule
    A layer's Jacobian is never obtained by differentiating a composed
    expression (that tree grows like width^depth). Each activation's
    derivative is derived once by SymPy (:mod:`symjac.activations`) and the
    rule :math:`J_l = \operatorname{diag}(\sigma_l'(z_l))\, W_l`, with
    :math:`z_l = W_l s_{l-1} + b_l`, is instantiated entry by entry:
    :math:`(J_l)_{ij} = \sigma_l'(z_{l,i})\, W_{l,ij}`. The whole Jacobian is
    the chain product :math:`J_D \cdots J_1` with each stage's value
    substituted, multiplied in the cheaper order for the shapes (from the
    output side when the network narrows: reverse mode). The symbolic identity
    with direct differentiation is checked in the tests.

>>> import symjac
>>> net = symjac.mlp([1, 2, 1], activation="tanh")
>>> [J.shape for J in net.layer_jacobians()]
[(2, 1), (1, 2)]
>>> net.layer_jacobians()[0].matrix
Matrix([
[w^{(1)}_{11}*(1 - tanh(b^{(1)}_{1} + w^{(1)}_{11}*x)**2)],
[w^{(1)}_{21}*(1 - tanh(b^{(1)}_{2} + w^{(1)}_{21}*x)**2)]])
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from symjac import latex as _latex
from symjac import limits
from symjac.activations import Activation, Z, get_activation
from symjac.chain import layer_matrix, layer_outputs
from symjac.display import DIGITS, LayerJacobians
from symjac.exceptions import LimitError
from symjac.layer import Layer
from symjac.maps import Jacobian, VectorMap
from symjac.variables import exact_number, exact_point

if TYPE_CHECKING:
    from symjac.hessians import Hessian

__all__ = ["Layer", "Network", "Reference", "mlp"]


@dataclasses.dataclass
class Reference:
    """High-precision values of a network at one point (from :meth:`Network.reference`).

    ``stages`` holds each stage's value (input first), ``pre`` each layer's
    pre-activation :math:`z_l`, ``layers`` each layer Jacobian, ``chain`` the
    product of the layer Jacobians and ``whole`` the whole Jacobian (the same
    matrix: see NOTE: mp-reference); all are NumPy object arrays of mpmath
    numbers carrying ``digits`` plus guard digits.
    """

    digits: int
    stages: list[np.ndarray]
    pre: list[np.ndarray]
    layers: list[np.ndarray]
    chain: np.ndarray

    @property
    def whole(self) -> np.ndarray:
        """The whole Jacobian: by the chain rule, the chain product at the exact stage values."""
        return self.chain


@functools.cache
def _mp_activation(activation: Activation, digits: int) -> tuple[Any, Any]:
    from symjac.numeric import compile_exprs

    value = compile_exprs([activation.expr], [Z], (1,), "mpmath", digits=digits)
    slope = compile_exprs([activation.derivative], [Z], (1,), "mpmath", digits=digits)
    return value.kernel, slope.kernel


@functools.cache
def _activation_weight(activation: Activation) -> tuple[float, bool]:
    """``(size relative to tanh, kinked)`` of an activation, for NOTE: jacobian-cost."""
    exprs = (activation.expr, activation.derivative)
    ops = sum(sympy.count_ops(e) for e in exprs)
    kinds = (sympy.Piecewise, sympy.Max, sympy.Min, sympy.Heaviside, sympy.Abs, sympy.sign)
    kinked = any(e.has(*kinds) for e in exprs)
    return max(1.0, ops / 4), kinked


def _matvec(matrix: sympy.MatrixBase, vector: Sequence[sympy.Expr]) -> list[sympy.Expr]:
    rows, cols = matrix.shape
    return [sympy.Add(*[matrix[i, j] * vector[j] for j in range(cols)]) for i in range(rows)]


def _matmul(a: list[list[sympy.Expr]], b: list[list[sympy.Expr]]) -> list[list[sympy.Expr]]:
    inner = len(b)
    return [
        [sympy.Add(*[row[k] * b[k][j] for k in range(inner)]) for j in range(len(b[0]))]
        for row in a
    ]


def _stage_names(depth: int, n_out: int) -> list[str]:
    hidden = "abcdefghkmnqrstuv"
    names = [hidden[i] if i < len(hidden) else f"h{i + 1}_" for i in range(depth - 1)]
    return [*names, "p" if n_out == 1 else "y"]


def _stage_symbols(name: str, width: int) -> tuple[sympy.Symbol, ...]:
    if width == 1:
        return (sympy.Symbol(name, real=True),)
    return tuple(sympy.Symbol(f"{name}{i + 1}", real=True) for i in range(width))


class Network:
    r"""A fully connected network as a chain of exact symbolic stages.

    Build one with :func:`mlp` (symbolic or given weights) or
    :func:`symjac.from_torch` (the exact weights of a ``torch.nn.Module``).

    ``stages`` are the per-layer :class:`~symjac.VectorMap`\ s (``x -> a -> b -> p``
    for the seed's network); ``layer_jacobians()`` gives :math:`J_1, J_2, \dots`
    by the layer rule (NOTE: layer-rule); ``jacobian()`` the whole network's.

    >>> import symjac
    >>> net = symjac.mlp([1, 2, 2, 1], weights=[[[1], [2]], [[1, 0], [0, 1]], [[1, -1]]], biases=False)
    >>> [s.name for s in net.stages], net.sizes
    (['a', 'b', 'p'], (1, 2, 2, 1))
    >>> net.chain_at([0]) == net.jacobian().at([0])
    True
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        input_names: Sequence[str] | None = None,
        stage_names: Sequence[str] | None = None,
        module: Any = None,
    ):
        if not layers:
            raise ValueError("a network needs at least one layer, got none")
        for k, (prev, layer) in enumerate(zip(layers, layers[1:])):
            if prev.shape[0] != layer.shape[1]:
                raise ValueError(
                    f"layer {k + 2} takes {layer.shape[1]} inputs but layer {k + 1} gives "
                    f"{prev.shape[0]} outputs; the sizes must chain"
                )
        self.layers = tuple(layers)
        self.sizes = (layers[0].shape[1], *(layer.shape[0] for layer in layers))
        self.module = module
        n_in = self.sizes[0]
        if input_names is None:
            input_names = ["x"] if n_in == 1 else [f"x{i + 1}" for i in range(n_in)]
        self.inputs = tuple(sympy.Symbol(str(n), real=True) for n in input_names)
        if len(self.inputs) != n_in:
            raise ValueError(f"{len(self.inputs)} input names for {n_in} inputs")
        names = list(stage_names) if stage_names else _stage_names(len(layers), self.sizes[-1])
        if len(names) != len(layers):
            raise ValueError(f"{len(names)} stage names for {len(layers)} layers")
        self.stage_names = tuple(names)
        self.stage_symbols = [self.inputs] + [
            _stage_symbols(name, width) for name, width in zip(names, self.sizes[1:])
        ]
        params: set[sympy.Symbol] = set()
        for layer in layers:
            params |= layer.free_symbols
        self.params = tuple(sorted(params, key=lambda s: s.name))

    # -- structure --------------------------------------------------------------------------
    def __repr__(self) -> str:
        acts = ", ".join(layer.activation.label for layer in self.layers)
        kind = "symbolic" if self.params else "exact"
        return f"Network(sizes={list(self.sizes)}, activations=[{acts}], weights={kind})"

    def _pre_activation(self, index: int, inputs: Sequence[sympy.Expr]) -> list[sympy.Expr]:
        layer = self.layers[index]
        z = _matvec(layer.weight, inputs)
        if layer.bias is not None:
            z = [zi + bi for zi, bi in zip(z, layer.bias)]
        return z

    @property
    def stages(self) -> list[VectorMap]:
        """One :class:`~symjac.VectorMap` per layer, each in its own input symbols."""
        return [
            self._stage_map(k, self._stage_parts(k, matrix=False)[0])
            for k in range(len(self.layers))
        ]

    def _stage_map(self, index: int, outs: Sequence[sympy.Expr]) -> VectorMap:
        return VectorMap._trusted(
            outs,
            self.stage_symbols[index],
            name=self.stage_names[index],
            params=self.params,
            output_names=[s.name for s in self.stage_symbols[index + 1]],
        )

    def _stage_parts(self, index: int, *, matrix: bool) -> tuple[list[sympy.Expr], Any]:
        # a stage's outputs (and its layer-rule matrix) in its own input symbols; the plain
        # cases are assembled directly as the same SymPy trees (NOTE: fast-layer in symjac.chain)
        layer = self.layers[index]
        symbols = self.stage_symbols[index]
        key = (layer, tuple(symbols))
        cache = self.__dict__.setdefault("_stage_outputs", {})
        hit = cache.get(index)
        if hit is None or hit[0] != key:
            parts = layer_outputs(layer.weight, layer.bias, layer.activation, symbols)
            outs = (
                parts.outputs
                if parts is not None
                else [layer.activation(zi) for zi in self._pre_activation(index, symbols)]
            )
            hit = cache[index] = (key, outs, parts)
        _, outs, parts = hit
        if not matrix:
            return list(outs), None
        if parts is not None:
            return list(outs), layer_matrix(layer.weight, parts)
        return list(outs), self._layer_matrix(index, symbols)

    def _layer_matrix(self, index: int, inputs: Sequence[sympy.Expr]) -> list[list[sympy.Expr]]:
        # NOTE: layer-rule: (J_l)_ij = s'(z_i) W_ij, no differentiation of the composition
        layer = self.layers[index]
        z = self._pre_activation(index, inputs)
        rows, cols = layer.shape
        result = []
        for i in range(rows):
            slope = layer.activation.prime(z[i])
            result.append([slope * layer.weight[i, j] for j in range(cols)])
        return result

    def layer_jacobians(self) -> LayerJacobians:
        r"""``[J_1, ..., J_D]``: each layer's exact Jacobian in its own input symbols.

        A :class:`~symjac.display.LayerJacobians`: a list that a notebook shows
        as :math:`J_1 = \dots,\ J_2 = \dots`. Each Jacobian prints its
        non-integer numbers (float weights, torch's activation constants) to 4
        significant digits by default, like :meth:`latex` (NOTE: display-digits
        in :mod:`symjac.display`); ``J.latex(digits=None)`` prints them exactly.

        >>> import symjac
        >>> net = symjac.mlp([2, 1], output_activation="tanh")
        >>> net.layer_jacobians()[0].latex(show="value")
        '\\begin{pmatrix} w^{(1)}_{11} \\left(1 - \\tanh^{2}{\\left(b^{(1)}_{1} + w^{(1)}_{11} x_{1} + w^{(1)}_{12} x_{2} \\right)}\\right) & w^{(1)}_{12} \\left(1 - \\tanh^{2}{\\left(b^{(1)}_{1} + w^{(1)}_{11} x_{1} + w^{(1)}_{12} x_{2} \\right)}\\right) \\end{pmatrix}'
        """
        # layers, symbols and names are immutable: a repeat call reuses the built matrices
        key = (self.layers, tuple(self.stage_symbols), self.stage_names, self.params)
        cached = self.__dict__.get("_layer_jacobians")
        if cached is not None and cached[0] == key:
            return LayerJacobians(cached[1])
        jacobians = LayerJacobians()
        for k in range(len(self.layers)):
            outs, rows = self._stage_parts(k, matrix=True)
            stage = self._stage_map(k, outs)
            jacobians.append(
                Jacobian(sympy.ImmutableMatrix(rows), stage, name=f"J_{k + 1}", digits=DIGITS)
            )
        self.__dict__["_layer_jacobians"] = (key, tuple(jacobians))
        return jacobians

    def _chain_cost(self) -> int:
        # NOTE: jacobian-cost. Estimated SymPy operations of jacobian(), fitted to measured
        # times (tanh, sigmoid, silu, gelu, relu, elu, leaky_relu, softplus; widths 2-64,
        # 1-3 hidden layers). The chain's multiply-adds, twice the stage values, and the
        # paths through the hidden layers (SymPy's evaluation walks the DAGs as trees:
        # width 8 took 0.9 s at depth 5 and 190 s at depth 8, with nearly the same
        # multiply-add count), times the number of hidden layers (each nests the trees
        # once more), times the activations' size relative to tanh (count_ops of value and
        # slope: gelu's are 7 times tanh's, and took 8 times as long). Kinked activations
        # (Piecewise, Max, Heaviside...) cost 5 times more per unit, more for wide layers
        # (their sums of pieces), and one kinked layer of another's outputs multiplies by
        # 2**width: SymPy combines the pieces (ELU 3-4-4-2 took 5 s, 3-3-3-2 2.7 s).
        sizes = self.sizes
        n_in, n_out = sizes[0], sizes[-1]
        forward = sum(sizes[k + 1] * sizes[k] * n_in for k in range(1, len(sizes) - 1))
        reverse = sum(n_out * sizes[k + 1] * sizes[k] for k in range(len(sizes) - 2))
        stage_values = sum(sizes[k] * sizes[k + 1] for k in range(len(sizes) - 1))
        paths = math.prod(sizes[1:-1])
        base = min(forward, reverse) + 2 * stage_values + paths
        hidden = max(1, len(sizes) - 2)
        weights = [_activation_weight(layer.activation) for layer in self.layers]
        cost = 2 * hidden * base * max(w for w, _ in weights)
        kinked = [k for _, k in weights]
        if any(kinked):
            cost *= 5 * max(1.0, max(sizes[1:-1], default=1) / 16)
            exponent = sum(
                sizes[k] for k in range(1, len(self.layers)) if kinked[k] and kinked[k - 1]
            )
            cost *= 2 ** min(exponent, 256)
        return int(cost)

    def _stage_values(self) -> list[list[sympy.Expr]]:
        values: list[list[sympy.Expr]] = [list(self.inputs)]
        for k, layer in enumerate(self.layers):
            z = self._pre_activation(k, values[-1])
            values.append([layer.activation(zi) for zi in z])
        return values

    def _chain(self, values: Sequence[Sequence[sympy.Expr]]) -> list[list[sympy.Expr]]:
        mats = [self._layer_matrix(k, values[k]) for k in range(len(self.layers))]
        if self.sizes[-1] <= self.sizes[0]:  # reverse mode: start from the output side
            product = mats[-1]
            for mat in reversed(mats[:-1]):
                product = _matmul(product, mat)
        else:
            product = mats[0]
            for mat in mats[1:]:
                product = _matmul(mat, product)
        return product

    def as_map(self) -> VectorMap:
        """The whole network as one composed :class:`~symjac.VectorMap` ``x -> output``.

        >>> import symjac
        >>> symjac.mlp([1, 1], weights=[[[3]]], biases=[[1]], activation="identity").as_map().outputs
        (3*x + 1,)
        """
        values = self._stage_values()
        return VectorMap._trusted(
            values[-1],
            self.inputs,
            name=self.stage_names[-1],
            params=self.params,
            output_names=[s.name for s in self.stage_symbols[-1]],
        )

    def hessian(self) -> Hessian:
        """The Hessian of the network's outputs, from its structure (NOTE: second-order-chain).

        ``.numeric(backend)`` is a batched kernel over the stages; ``.at(x)`` and
        ``.matrices`` are exact (size-limited); ``.reference(x)`` high precision.

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=False, output_activation="tanh")
        >>> net.hessian().matrices[0]
        Matrix([[-4*(2 - 2*tanh(2*x)**2)*tanh(2*x)]])
        """
        from symjac.hessians import Hessian

        return Hessian(self)

    def jacobian(self) -> Jacobian:
        """The whole network's exact Jacobian, as the chain of layer Jacobians (NOTE: layer-rule).

        Refuses with :class:`~symjac.LimitError` when the chain would need more
        than ``limits.max_jacobian_ops`` SymPy operations.

        >>> import symjac
        >>> J = symjac.mlp([1, 1, 1], weights=[[[2]], [[3]]], biases=False, activation="identity").jacobian()
        >>> J.matrix
        Matrix([[6]])
        """
        cost = self._chain_cost()
        cap = limits.current().max_jacobian_ops
        if cost > cap:
            raise LimitError(
                f"the whole-network symbolic Jacobian of a {list(self.sizes)} network needs about "
                f"{cost} SymPy operations; the limit is max_jacobian_ops={cap}. Use "
                "net.layer_jacobians() (layerwise) or net.numeric() for values, or raise the "
                "limit with symjac.limits.override(max_jacobian_ops=...)"
            )
        values = self._stage_values()
        whole = self.as_map()
        J = Jacobian(sympy.ImmutableMatrix(self._chain(values)), whole, name=f"J_{{{whole.name}}}")
        # J.at(x) is the chain at x (the same exact value, without substituting into the
        # whole tree), and its evalf comes from the forward reference (NOTE: mp-reference)
        J.__dict__["_evaluator"] = self.chain_at
        return J

    # -- values -----------------------------------------------------------------------------
    def _exact_input(self, x: Any) -> list[sympy.Expr]:
        values = exact_point(x, self.inputs)
        return [values[s] for s in self.inputs]

    def _require_concrete(self, what: str) -> None:
        if self.params:
            shown = ", ".join(s.name for s in self.params[:4])
            raise ValueError(
                f"{what} needs numeric weights, but this network has symbolic ones ({shown}, ...); "
                "build it with weights= or from_torch(), or substitute with net.subs({...})"
            )

    def trace(self, x: Any, *, digits: int | None = None) -> list[sympy.Matrix]:
        """Every stage's exact value at ``x``: ``[x, a, b, p]`` for the seed's network.

        ``x`` is a sequence, 1-D array or tensor; floats are taken exactly. With
        ``digits`` the values are evaluated to that many significant digits.

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=[[1]], output_activation="tanh")
        >>> net.trace([0.5])
        [Matrix([[1/2]]), Matrix([[tanh(2)]])]
        """
        values = [self._exact_input(x)]
        for k, layer in enumerate(self.layers):
            z = self._pre_activation(k, values[-1])
            values.append([layer.activation(zi) for zi in z])
        mats = [sympy.Matrix(v) for v in values]
        return [m.evalf(digits) for m in mats] if digits else mats

    def chain_at(self, x: Any) -> sympy.Matrix:
        """``J_D(s_{D-1}(x)) ... J_1(x)``: the chain product at ``x``, exact.

        The result is exact; its ``evalf(n)`` (and ``n(n)``) takes the digits from
        :meth:`reference` (a linear high-precision pass, NOTE: mp-reference) instead of
        evaluating the nested exact tree, whose size grows like width**depth (a width-16
        network took 26 s that way). Concrete weights only; once an entry is changed,
        ``evalf`` is SymPy's own again.

        >>> import symjac, sympy
        >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=False, activation="tanh")
        >>> net.chain_at([0])
        Matrix([[2]])
        >>> net = symjac.mlp([1, 2, 1], weights=[[[1], [2]], [[1, 1]]], biases=False)
        >>> net.chain_at([0.5]).evalf(20)
        Matrix([[1.6263964161939795489]])
        """
        rows = self._chain([list(v) for v in self.trace(x)])
        if self.params:
            return sympy.Matrix(rows)
        return _ChainValue(rows, self, x)

    def numeric(self, backend: str = "numpy") -> Any:
        """The compiled whole Jacobian: points ``(..., n_in)`` to ``(..., n_out, n_in)``.

        ``"numpy"`` computes in float64; ``"torch"`` keeps the input tensor's
        dtype and device (weights are cast to it); ``"mpmath"`` evaluates the
        exact chain at 50 digits.

        >>> import symjac, numpy as np
        >>> net = symjac.mlp([1, 2, 1], weights=[[[1], [2]], [[1, 1]]], biases=False, activation="tanh")
        >>> fn = net.numeric("numpy")
        >>> bool(np.allclose(fn([[0.0]]), [[[3.0]]]))
        True
        """
        self._require_concrete("numeric()")
        from symjac.chain_numeric import compile_network

        return compile_network(self, backend)

    def reference(self, x: Any, *, digits: int = 50) -> Reference:
        """mpmath values (``digits`` significant digits) of every stage, layer Jacobian,
        their chain product and the whole Jacobian at ``x``.

        >>> import symjac
        >>> net = symjac.mlp([1, 1], weights=[[[2]]], biases=False, output_activation="tanh")
        >>> ref = net.reference([0.5], digits=20)
        >>> import mpmath
        >>> mpmath.nstr(ref.whole[0, 0], 20)
        '0.83994868322805213879'
        """
        self._require_concrete("reference()")
        if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 10_000:
            raise ValueError(f"digits must be an int between 1 and 10000, got {digits!r}")
        import mpmath

        # NOTE: mp-reference. A linear high-precision forward pass: z_l = W_l s_{l-1} + b_l
        # with the exact rational weights, s_l = act(z_l), J_l = diag(act'(z_l)) W_l
        # (NOTE: layer-rule), all at digits + 10 guard digits. The whole Jacobian is the
        # product of these J_l: by the chain rule it *is* the whole Jacobian at the exact
        # stage values. Evaluating the symbolic whole Jacobian instead would walk nested
        # stage expressions whose tree grows like width**depth.
        work = digits + 10
        ctx = mpmath.MPContext()
        ctx.dps = work

        def mp_array(matrix: sympy.MatrixBase) -> np.ndarray:
            out = np.empty(matrix.shape, dtype=object)
            for (i, j), v in np.ndenumerate(np.array(matrix.tolist(), dtype=object)):
                out[i, j] = ctx.mpf(v.p) / v.q if v.is_Rational else ctx.mpf(str(sympy.N(v, work)))
            return out

        s = mp_array(sympy.Matrix(self._exact_input(x)))[:, 0]
        stages, pre, layers = [s], [], []
        for layer in self.layers:
            w = mp_array(layer.weight)
            z = w.dot(s)
            if layer.bias is not None:
                z = z + mp_array(layer.bias)[:, 0]
            value, slope = _mp_activation(layer.activation, work)
            s = np.array([value(zi)[0] for zi in z], dtype=object)
            pre.append(z)
            stages.append(s)
            layers.append(np.array([slope(zi)[0] for zi in z], dtype=object)[:, None] * w)
        chain = layers[-1]
        for mat in reversed(layers[:-1]):
            chain = chain.dot(mat)
        return Reference(digits=digits, stages=stages, pre=pre, layers=layers, chain=chain)

    def subs(self, values: Mapping[Any, Any]) -> Network:
        """A copy with symbolic weights replaced by numbers (keys: Symbols or their names).

        >>> import symjac
        >>> net = symjac.mlp([1, 1], activation="identity", bias=False)
        >>> net.subs({"w^{(1)}_{11}": 3}).jacobian().matrix
        Matrix([[3]])
        """
        by_name = {s.name: s for s in self.params}
        replace = {}
        for key, value in values.items():
            name = key.name if isinstance(key, sympy.Symbol) else key
            if name not in by_name:
                raise ValueError(
                    f"{key!r} is not a weight of this network; weights: {', '.join(by_name)}"
                )
            replace[by_name[name]] = exact_number(value, label=str(name))
        layers = [
            layer.replace(
                weight=layer.weight.xreplace(replace),
                bias=None if layer.bias is None else layer.bias.xreplace(replace),
            )
            for layer in self.layers
        ]
        return Network(
            layers, input_names=[s.name for s in self.inputs], stage_names=self.stage_names
        )

    # -- printing ---------------------------------------------------------------------------
    def latex(self, *, digits: int | None = DIGITS) -> str:
        r"""Each stage's map, each :math:`J_l` as formulas, and the chain-rule equation.

        Concrete weights are rounded to ``digits`` for display, by default 4
        significant digits, the default of the :meth:`layer_jacobians` too (NOTE:
        display-digits in :mod:`symjac.display`); ``digits=None`` prints them
        exactly. Symbolic weights also get the matrix form of the layer rule.

        >>> import symjac
        >>> print(symjac.mlp([1, 1], activation="tanh").latex().splitlines()[-1])
        \frac{\partial p}{\partial x} = J_1
        """
        lines = []
        for k, (stage, jac) in enumerate(zip(self.stages, self.layer_jacobians())):
            lines.append(stage.latex(digits=digits))
            lines.append(jac.latex(digits=digits))
            if self.params:
                lines.append(self._layer_rule_latex(k))
        out = self.stage_names[-1]
        ins = "x" if len(self.inputs) == 1 else r"\mathbf{x}"
        product = " ".join(f"J_{k}" for k in range(len(self.layers), 0, -1))
        d = r"\partial"
        lines.append(rf"\frac{{{d} {_latex.symbol_latex(out)}}}{{{d} {ins}}} = {product}")
        return _latex.truncate("\n".join(lines))

    def _layer_rule_latex(self, k: int) -> str:
        act = self.layers[k].activation
        n = k + 1
        if act.derivative == 1:
            return rf"J_{n} = W^{{({n})}}"
        source = _latex.symbol_latex(self.stage_names[k - 1]) if k else "x"
        if len(self.stage_symbols[k]) > 1:
            source = rf"\mathbf{{{source}}}"
        bias = rf" + \mathbf{{b}}^{{({n})}}" if self.layers[k].bias is not None else ""
        z = sympy.Symbol(rf"W^{{({n})}} {source}{bias}", real=True)
        return rf"J_{n} = \operatorname{{diag}}\left({_latex.expr_latex(act.prime(z))}\right) W^{{({n})}}"

    def _repr_latex_(self) -> str:
        # gathered: one formula per row, centred, in Jupyter's MathJax and in Sphinx's alike
        rows = r" \\ ".join(self.latex().splitlines())
        return rf"$$\begin{{gathered}} {rows} \end{{gathered}}$$"


class _ChainValue(sympy.MutableDenseMatrix):
    """An exact chain product at a point whose ``evalf`` uses the network's reference."""

    _network: Network
    _point: Any
    _entries: tuple[sympy.Expr, ...]

    def __new__(cls, rows: Any, network: Network, point: Any) -> _ChainValue:
        obj = super().__new__(cls, rows)
        obj._network, obj._point, obj._entries = network, point, tuple(obj)
        return obj

    def evalf(self, n: int = 15, subs: Any = None, **options: Any) -> Any:
        """``n``-digit values from the network's reference (SymPy's evalf once changed)."""
        entries = tuple(self)
        changed = len(entries) != len(self._entries) or any(
            a is not b for a, b in zip(entries, self._entries)
        )
        if subs is not None or options or changed or not isinstance(n, int) or n < 1:
            return sympy.Matrix(self).evalf(n, subs=subs, **options)
        from mpmath.libmp import to_str

        ref = self._network.reference(self._point, digits=n).whole
        rows, cols = self.shape
        # exact numbers round themselves; the rest from the reference's n + 10 digits
        return sympy.Matrix(
            rows,
            cols,
            [
                v.evalf(n) if v.is_Number else sympy.Float(to_str(ref.flat[k]._mpf_, n + 10), n)
                for k, v in enumerate(entries)
            ],
        )

    n = evalf


def _weight_symbols(layer: int, rows: int, cols: int) -> sympy.ImmutableMatrix:
    sep = "," if max(rows, cols) > 9 else ""
    return sympy.ImmutableMatrix(
        rows,
        cols,
        [
            sympy.Symbol(f"w^{{({layer})}}_{{{i + 1}{sep}{j + 1}}}", real=True)
            for i in range(rows)
            for j in range(cols)
        ],
    )


def _matrix(value: Any, shape: tuple[int, int], what: str) -> sympy.ImmutableMatrix:
    given = getattr(value, "shape", None)  # tensors and arrays: check before converting
    if given is not None and tuple(given) not in (shape, (shape[0],) if shape[1] == 1 else shape):
        raise ValueError(f"{what} must have shape {shape}, got {tuple(given)}")
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 1 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {arr.shape}")
    return sympy.ImmutableMatrix(
        shape[0],
        shape[1],
        [
            exact_number(v, label=what) if not isinstance(v, sympy.Symbol) else v
            for v in arr.ravel()
        ],
    )


def mlp(
    sizes: Sequence[int],
    activation: Any = "tanh",
    *,
    bias: bool = True,
    weights: Sequence[Any] | None = None,
    biases: Sequence[Any] | bool | None = None,
    output_activation: Any = "identity",
) -> Network:
    r"""A fully connected network of the given layer ``sizes``.

    Hidden layers use ``activation`` (a name, or one per hidden layer), the last
    layer ``output_activation`` (identity by default, as in the seed). Without
    ``weights`` every weight and bias is a symbol :math:`w^{(l)}_{ij}`,
    :math:`b^{(l)}_i`; with them (nested lists, arrays or tensors of shape
    ``(out, in)``) the weights are exact numbers. ``biases=False`` or
    ``bias=False`` drops the biases.

    >>> import symjac
    >>> net = symjac.mlp([1, 2, 2, 1], activation="tanh")
    >>> net
    Network(sizes=[1, 2, 2, 1], activations=[tanh, tanh, identity], weights=symbolic)
    >>> net.layer_jacobians()[2].matrix
    Matrix([[w^{(3)}_{11}, w^{(3)}_{12}]])
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of ints such as [1, 2, 2, 1], got {sizes!r}")
    if len(sizes) < 2 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise ValueError(
            f"sizes must be at least two positive ints such as [1, 2, 2, 1], got {list(sizes)}"
        )
    depth = len(sizes) - 1
    if isinstance(activation, (str, Activation)):
        acts = [get_activation(activation)] * (depth - 1)
    else:
        acts = [get_activation(a) for a in activation]
        if len(acts) != depth - 1:
            raise ValueError(f"{len(acts)} activations for {depth - 1} hidden layers")
    acts.append(get_activation(output_activation))
    if biases is False:
        bias = False
        biases = None
    # before any symbol or matrix exists: mlp([1, 10**9, 1]) is refused, not allocated
    pairs = sum(sizes[k] * sizes[k + 1] for k in range(depth))
    limits.check_weights(
        pairs + (sum(sizes[1:]) if bias else 0), f"a {limits.sizes_text(sizes)} network"
    )
    if weights is not None and len(weights) != depth:
        raise ValueError(f"{len(weights)} weight matrices for {depth} layers")
    if biases is not None and biases is not True and len(biases) != depth:
        raise ValueError(f"{len(biases)} bias vectors for {depth} layers")
    layers = []
    for k in range(depth):
        shape = (sizes[k + 1], sizes[k])
        w = (
            _weight_symbols(k + 1, *shape)
            if weights is None
            else _matrix(weights[k], shape, f"weights[{k}]")
        )
        if not bias:
            b = None
        elif biases is None or biases is True:
            b = (
                sympy.ImmutableMatrix(
                    [
                        sympy.Symbol(f"b^{{({k + 1})}}_{{{i + 1}}}", real=True)
                        for i in range(shape[0])
                    ]
                )
                if weights is None
                else sympy.zeros(shape[0], 1).as_immutable()
            )
        else:
            b = _matrix(biases[k], (shape[0], 1), f"biases[{k}]")
        layers.append(Layer(w, b, acts[k]))
    return Network(layers)
