"""Compile SymPy expressions into fast NumPy, torch and mpmath functions.

NOTE: codegen
    symjac writes its own small code generator instead of calling
    ``sympy.lambdify``: lambdify prints symbol *names* into the generated
    source, so a symbol named like code runs. Here every variable is renamed
    ``_x0, _x1, ...`` and every shared subexpression (found by ``sympy.cse``)
    ``_t0, _t1, ...``; only numbers, operators and the spellings in
    :data:`symjac.functions.BACKEND_FUNCTIONS` (NOTE: function-table) reach the
    source. Subexpressions without variables are folded to constants at compile
    time (at the working precision for mpmath). Array backends write each
    non-zero entry into a zero-filled result of shape ``(..., *out_shape)``, so
    constant entries broadcast over the batch and zeros cost nothing.

>>> import sympy
>>> x = sympy.Symbol("x", real=True)
>>> fn = compile_exprs([x**2, 2*x], [x], (1, 2), "numpy")
>>> fn([[3.0], [0.5]])
array([[[9.  , 6.  ]],
<BLANKLINE>
       [[0.25, 1.  ]]])
"""

from __future__ import annotations

import functools
import itertools
import linecache
import math
from collections.abc import Callable, Sequence
from typing import Any

import sympy

from symjac.exceptions import UnsupportedError
from symjac.functions import BACKEND_FUNCTIONS, BACKENDS, sigmoid

__all__ = ["NumericFunction", "compile_exprs"]


class _LazyNumpy:
    # NumPy on first use: ``symjac jacobian`` (symbolic only) never needs it, and its
    # import is a fifth of SymPy's; the first attribute access puts the module itself in
    # this module's globals, so later uses cost nothing extra
    def __getattr__(self, name: str) -> Any:
        import numpy

        globals()["np"] = numpy
        return getattr(numpy, name)


np: Any = _LazyNumpy()

_RELATIONS = {
    sympy.StrictGreaterThan: ">",
    sympy.StrictLessThan: "<",
    sympy.GreaterThan: ">=",
    sympy.LessThan: "<=",
    sympy.Eq: "==",
    sympy.Ne: "!=",
}


def _supported() -> str:
    names = sorted({getattr(f, "__name__", str(f)) for f in BACKEND_FUNCTIONS})
    return ", ".join(names)


class _Printer:
    """Prints one SymPy expression as backend source (see NOTE: codegen)."""

    def __init__(
        self, backend: str, names: dict[sympy.Symbol, str], namespace: dict[str, Any], digits: int
    ):
        self.backend = backend
        self.names = names
        self.namespace = namespace
        self.digits = digits
        self.constants: dict[sympy.Expr, str] = {}

    def constant(self, expr: sympy.Expr) -> str:
        if expr in self.constants:
            return self.constants[expr]
        if expr.is_Integer and (self.backend == "mpmath" or abs(int(expr)) < 2**53):
            return f"({int(expr)})"
        if expr.has(sympy.I) or expr.is_real is False:
            raise UnsupportedError(f"complex constant {expr} in a real-valued function")
        if self.backend == "mpmath":
            ctx = self.namespace["mp"]
            with_guard = sympy.N(expr, self.digits + 15)
            if with_guard.has(sympy.nan, sympy.zoo) or not with_guard.is_Number:
                value = ctx.nan
            else:
                value = (
                    ctx.mpf(str(with_guard))
                    if with_guard.is_finite
                    else (ctx.inf if with_guard > 0 else -ctx.inf)
                )
        else:
            value = (
                float(expr)
                if expr.is_finite is not False or expr in (sympy.oo, -sympy.oo)
                else math.nan
            )
            if expr is sympy.nan or expr is sympy.zoo:
                value = math.nan
            if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
                return repr(value)
        name = f"_k{len(self.constants)}"
        self.namespace[name] = value
        self.constants[expr] = name
        return name

    def __call__(self, expr: sympy.Basic) -> str:
        if expr in self.names:
            return self.names[expr]
        if isinstance(expr, sympy.Symbol):
            raise ValueError(
                f"the expression has the free symbol {expr.name!r}, which is not an input; "
                "substitute a value for it first (VectorMap.subs)"
            )
        if isinstance(expr, sympy.Expr) and expr.is_number:
            return self.constant(expr)
        if expr is sympy.true or expr is sympy.false:
            return "True" if expr is sympy.true else "False"
        if isinstance(expr, sympy.Add):
            return "(" + " + ".join(self(arg) for arg in expr.args) + ")"
        if isinstance(expr, sympy.Mul):
            return self.mul(expr)
        if isinstance(expr, sympy.Pow):
            return self.pow(expr)
        if isinstance(expr, sympy.Piecewise):
            return self.piecewise(expr.args)
        if type(expr) in _RELATIONS:
            return f"({self(expr.lhs)} {_RELATIONS[type(expr)]} {self(expr.rhs)})"
        func = expr.func
        if isinstance(expr, (sympy.Derivative, sympy.Subs)):
            # the derivative of an undefined function (sympy.Function("g")): name g itself
            inner = sorted(
                {
                    f.func.__name__
                    for f in expr.atoms(sympy.Function)
                    if f.func not in BACKEND_FUNCTIONS
                }
            ) or [type(expr).__name__]
            raise UnsupportedError(
                f"symjac cannot compile the derivative of {', '.join(inner)} (in "
                f"{str(expr)[:60]}) for the {self.backend} backend; supported functions: "
                f"{_supported()}"
            )
        if isinstance(expr, sympy.ITE):
            # SymPy writes `Piecewise(...) > 0` as ITE(c, a, b), a boolean if-then-else
            cond, then, other = (self(arg) for arg in expr.args)
            if self.backend == "mpmath":
                return f"({then} if {cond} else {other})"
            where = "np.where" if self.backend == "numpy" else "_where"
            return f"{where}({cond}, {then}, {other})"
        if isinstance(expr, sympy.Heaviside):
            return f"_heaviside({self(expr.args[0])}, {self(expr.args[1]) if len(expr.args) > 1 else '0.5'})"
        if func in BACKEND_FUNCTIONS:
            spelling = getattr(BACKEND_FUNCTIONS[func], self.backend)
            args = [self.operand(arg) if len(expr.args) > 1 else self(arg) for arg in expr.args]
            if func in (sympy.And, sympy.Or) and self.backend != "mpmath":
                # np.logical_and and torch.logical_and take two operands
                return functools.reduce(lambda a, b: f"{spelling}({a}, {b})", args)
            return f"{spelling}({', '.join(args)})"
        raise UnsupportedError(
            f"symjac cannot compile {func.__name__} (in {str(expr)[:60]}) for the {self.backend} "
            f"backend; supported functions: {_supported()}"
        )

    def operand(self, expr: sympy.Basic) -> str:
        # torch functions of several tensors (atan2, where) refuse Python numbers, and
        # torch.as_tensor would give them the default dtype: make constants tensors of
        # the points' own dtype and device
        code = self(expr)
        if self.backend == "torch" and isinstance(expr, sympy.Expr) and expr.is_number:
            return f"_X.new_tensor({code})"
        return code

    def mul(self, expr: sympy.Mul) -> str:
        numer, denom = [], []
        for factor in expr.args:
            if isinstance(factor, sympy.Pow) and factor.exp.is_number and factor.exp.is_negative:
                inverse = (
                    factor.base
                    if factor.exp == -1
                    else sympy.Pow(factor.base, -factor.exp, evaluate=False)
                )
                denom.append(self(inverse))
            else:
                numer.append(self(factor))
        top = "*".join(numer) if numer else "1"
        if not denom:
            return f"({top})"
        return self.divide(top, "*".join(denom))

    def divide(self, top: str, bottom: str) -> str:
        # mpmath raises ZeroDivisionError at a pole; numpy and torch give inf: so does _div
        if self.backend == "mpmath":
            return f"_div({top}, {bottom})"
        return f"({top}/({bottom}))"

    def pow(self, expr: sympy.Pow) -> str:
        base, exp = expr.args
        if exp == sympy.S.Half:
            return f"{BACKEND_FUNCTIONS[sympy.sqrt][BACKENDS.index(self.backend)]}({self(base)})"
        if exp.is_number and exp.is_negative:
            return self.divide("1", self(sympy.Pow(base, -exp, evaluate=False)))
        if exp == 2 and base in self.names:
            b = self(base)
            return f"({b}*{b})"
        return f"({self(base)}**{self(exp)})"

    def piecewise(self, pairs: tuple[tuple[sympy.Expr, sympy.Basic], ...]) -> str:
        if not pairs:
            return self.constant(sympy.nan)
        (value, cond), rest = pairs[0], pairs[1:]
        if cond is sympy.true:
            return self(value)
        where = {"numpy": "np.where", "torch": "_where"}.get(self.backend)
        if where is None:
            return f"({self(value)} if {self(cond)} else {self.piecewise(rest)})"
        if rest and rest[0][1] is sympy.true:
            rest_code = self.operand(rest[0][0])
        else:
            rest_code = self.piecewise(rest)
        return f"{where}({self(cond)}, {self.operand(value)}, {rest_code})"


def _stabilized(expr: sympy.Basic, memo: dict[sympy.Basic, sympy.Basic]) -> sympy.Basic:
    """Rewrite cancelling forms before code generation.

    NOTE: stable-rewrites. ``1 - tanh(u)**2`` and ``1 - sigmoid(u)`` cancel
    catastrophically in floating point (torch's autograd returns 0 for
    tanh'(10) in float32, while the true value is a normal float32 number);
    the equal forms ``sech(u)**2`` and ``sigmoid(-u)`` do not. Applied to the
    float backends only, before ``cse`` hides the pattern; memoised, because
    network expressions share subtrees. mpmath code keeps the plain form.
    """
    if expr in memo:
        return memo[expr]
    result = expr
    if expr.args:
        args = [_stabilized(arg, memo) for arg in expr.args]
        if any(new is not old for new, old in zip(args, expr.args)):
            result = expr.func(*args)
    if isinstance(result, sympy.Add) and len(result.args) == 2 and result.args[0].is_Number:
        c = result.args[0]
        coeff, term = result.args[1].as_coeff_Mul()
        if coeff == -c:
            if isinstance(term, sympy.Pow) and term.exp == 2 and isinstance(term.base, sympy.tanh):
                result = c * sympy.sech(term.base.args[0]) ** 2
            elif isinstance(term, sigmoid):
                result = c * sigmoid(-term.args[0])
    memo[expr] = result
    return result


# -- backend namespaces -------------------------------------------------------------------------


@functools.cache
def _numpy_namespace() -> dict[str, Any]:
    import numpy as np  # the module itself in generated code (not the lazy stand-in)

    # SciPy is optional (not a dependency of symjac): use it when it is installed
    def _erf(x: Any) -> Any:
        try:
            from scipy.special import erf
        except ImportError:
            # frompyfunc hands a 0-d input back as a Python float: asarray keeps it an array
            return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=np.float64)
        return erf(x)

    def _erfc(x: Any) -> Any:
        try:
            from scipy.special import erfc
        except ImportError:
            return np.asarray(np.frompyfunc(math.erfc, 1, 1)(x), dtype=np.float64)
        return erfc(x)

    def _sigmoid(x: Any) -> Any:
        try:
            from scipy.special import expit
        except ImportError:
            x = np.asarray(x, dtype=np.float64)
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1.0, e) / (1.0 + e)
        return expit(x)

    return {
        "np": np,
        "_erf": _erf,
        "_erfc": _erfc,
        "_sigmoid": _sigmoid,
        "_softplus": lambda x: np.logaddexp(0.0, x),
        "_sech": lambda x: 1.0 / np.cosh(x),
        "_heaviside": lambda x, h: np.heaviside(x, h),
        "_max": lambda *a: functools.reduce(np.maximum, a),
        "_min": lambda *a: functools.reduce(np.minimum, a),
    }


@functools.cache
def _torch_namespace() -> dict[str, Any]:
    import torch

    def _like(args: Sequence[Any]) -> list[Any]:
        ref = next(a for a in args if isinstance(a, torch.Tensor))
        return [
            a
            if isinstance(a, torch.Tensor)
            else torch.as_tensor(a, dtype=ref.dtype, device=ref.device)
            for a in args
        ]

    def _assemble(points: Any, entries: list[Any], shape: tuple[int, ...]) -> Any:
        batch = points.shape[:-1]
        parts = [
            torch.broadcast_to(
                e
                if isinstance(e, torch.Tensor)
                else torch.tensor(e, dtype=points.dtype, device=points.device),
                batch,
            )
            for e in entries
        ]
        if not parts:
            return points.new_zeros((*batch, *shape))
        return torch.stack(parts, dim=-1).reshape((*batch, *shape))

    def _where(cond: Any, a: Any, b: Any) -> Any:
        if not isinstance(cond, torch.Tensor):
            return a if cond else b
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            a = torch.as_tensor(a, dtype=torch.get_default_dtype(), device=cond.device)
        a, b = _like([a, b])
        return torch.where(cond, a, b)

    return {
        "torch": torch,
        "_where": _where,
        "_assemble": _assemble,
        "_softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),
        # 2e / (1 + e**2), e = exp(-|x|) <= 1: cosh(x) overflows for |x| > 710 and its
        # backward then gives inf * 0 = NaN; this form's gradient stays finite
        "_sech": lambda x: (lambda e: 2.0 * e / (1.0 + e * e))(torch.exp(-x.abs())),
        "_heaviside": lambda x, h: torch.heaviside(x, torch.full_like(x, h)),
        "_max": lambda *a: functools.reduce(torch.maximum, _like(a)),
        "_min": lambda *a: functools.reduce(torch.minimum, _like(a)),
    }


def _mpmath_namespace(digits: int) -> dict[str, Any]:
    import mpmath

    ctx = mpmath.MPContext()
    ctx.dps = digits

    def _div(a: Any, b: Any) -> Any:
        if b:
            return a / b
        if not a or ctx.isnan(a):
            return ctx.nan
        return ctx.inf if a > 0 else -ctx.inf  # mpmath has no -0: the pole is approached from +0

    return {
        "mp": ctx,
        "_div": _div,
        "_sigmoid": lambda x: 1 / (1 + ctx.exp(-x)),
        "_softplus": lambda x: ctx.log1p(ctx.exp(x)) if x < 0 else x + ctx.log1p(ctx.exp(-x)),
        "_heaviside": lambda x, h: ctx.mpf(1) if x > 0 else (ctx.mpf(0) if x < 0 else ctx.mpf(h)),
        "_and": lambda *a: all(a),
        "_or": lambda *a: any(a),
        "_not": lambda a: not a,
    }


# -- the compiled function ----------------------------------------------------------------------


class NumericFunction:
    """A compiled function from points of shape ``(..., n)`` to values of shape ``(..., *out_shape)``.

    Made by :meth:`symjac.Jacobian.numeric` and :meth:`symjac.VectorMap.numeric`.
    ``source`` holds the generated code, for inspection.

    * ``"numpy"``: any array-like of real numbers; computes in float64.
    * ``"torch"``: a floating tensor (its dtype and device are kept); other
      array-likes become float64 tensors. The result is differentiable.
    * ``"mpmath"``: values are converted exactly (floats as the binary value they
      hold) and evaluated at ``digits`` significant digits; the result is a NumPy
      object array of mpmath numbers.

    >>> import symjac
    >>> fn = symjac.jacobian(["x1**2 + x2", "x1 + x2**2"], ["x1", "x2"]).numeric("numpy")
    >>> fn([1.0, 2.0])
    array([[2., 1.],
           [1., 4.]])
    >>> fn([[1.0, 2.0], [0.0, 0.0]]).shape
    (2, 2, 2)
    """

    def __init__(
        self,
        kernel: Callable[..., Any],
        *,
        backend: str,
        inputs: Sequence[sympy.Symbol],
        out_shape: tuple[int, ...],
        source: str,
        digits: int | None,
        context: Any = None,
    ):
        #: the generated function itself, called with the backend's arrays (no checks)
        self.kernel = kernel
        self.backend = backend
        self.inputs = tuple(inputs)
        self.out_shape = out_shape
        self.source = source
        self.digits = digits
        self._context = context

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.inputs)
        extra = f", digits={self.digits}" if self.digits else ""
        return f"NumericFunction({self.backend!r}, inputs=({names}), out_shape={self.out_shape}{extra})"

    def _check_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        n = len(self.inputs)
        if len(shape) == 0 and n == 1:
            return ()
        if len(shape) == 0 or shape[-1] != n:
            order = ", ".join(s.name for s in self.inputs)
            hint = " (for many 1-D points use x[..., None])" if n == 1 else ""
            raise ValueError(
                f"expected points of shape (..., {n}) with coordinates in the order ({order}), "
                f"got shape {shape}{hint}"
            )
        return shape[:-1]

    def __call__(self, points: Any) -> Any:
        if self.backend == "numpy":
            return self._call_numpy(points)
        if self.backend == "torch":
            return self._call_torch(points)
        return self._call_mpmath(points)

    def _call_numpy(self, points: Any) -> np.ndarray:
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().numpy()
        arr = np.asarray(points)
        if arr.dtype.kind == "c":
            raise TypeError(f"complex input ({arr.dtype}); symjac's functions are real-valued")
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"expected real numbers, got an array of dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
        batch = self._check_shape(arr.shape)
        if arr.ndim == 0:
            arr = arr[None]
        out = np.zeros(batch + self.out_shape)
        with np.errstate(all="ignore"):
            return self.kernel(arr, out)

    def _call_torch(self, points: Any) -> Any:
        import torch

        if not isinstance(points, torch.Tensor):
            points = torch.as_tensor(np.asarray(points, dtype=np.float64))
        if points.is_complex():
            raise TypeError(f"complex input ({points.dtype}); symjac's functions are real-valued")
        if not points.is_floating_point():
            raise TypeError(
                f"expected a floating-point tensor, got {points.dtype}; "
                "convert it first, e.g. x.to(torch.float64)"
            )
        self._check_shape(tuple(points.shape))
        if points.ndim == 0:
            points = points[None]
        return self.kernel(points, None)

    def _call_mpmath(self, points: Any) -> np.ndarray:
        from symjac.variables import exact_number

        ctx = self._context
        if type(points).__module__.startswith("torch"):
            points = points.detach().cpu().double().numpy()
        arr = np.asarray(points, dtype=object)
        batch = self._check_shape(arr.shape)
        flat = arr.reshape(-1, len(self.inputs))
        out = np.empty((flat.shape[0], *self.out_shape), dtype=object)
        size = math.prod(self.out_shape)
        for k, row in enumerate(flat):
            values = []
            for sym, value in zip(self.inputs, row, strict=True):
                if isinstance(value, float) and not math.isfinite(value):
                    values.append(ctx.mpf(value))
                    continue
                exact = exact_number(value, label=sym.name)
                values.append(
                    ctx.mpf(exact.p) / exact.q
                    if exact.is_Rational
                    else ctx.mpf(str(sympy.N(exact, ctx.dps + 15)))
                )
            result = self.kernel(*values)
            out[k] = np.array(result, dtype=object).reshape(self.out_shape) if size else out[k]
        return out.reshape(batch + self.out_shape)


def compile_exprs(
    exprs: Sequence[sympy.Expr],
    inputs: Sequence[sympy.Symbol],
    out_shape: tuple[int, ...],
    backend: str,
    *,
    digits: int | None = None,
) -> NumericFunction:
    """Compile ``exprs`` (row-major entries of a result of ``out_shape``) for ``backend``.

    See NOTE: codegen. ``digits`` is the working precision of the ``"mpmath"``
    backend (default 50) and must not be given for the others.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> fn = compile_exprs([sympy.tanh(x)], [x], (1,), "mpmath", digits=30)
    >>> import mpmath
    >>> mpmath.nstr(fn([0.5])[0], 30)
    '0.462117157260009758502318483644'
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if digits is not None and backend != "mpmath":
        raise ValueError(f"digits= applies to the 'mpmath' backend only, not {backend!r}")
    if digits is not None and (
        not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 10_000
    ):
        raise ValueError(f"digits must be an int between 1 and 10000, got {digits!r}")
    if len(exprs) != math.prod(out_shape):
        raise ValueError(f"{len(exprs)} expressions do not fill a result of shape {out_shape}")
    inputs = tuple(inputs)
    # strict: numbers and SymPy objects only, never a string (NOTE: safe-parsing)
    exprs = [sympy.sympify(e, strict=True) for e in exprs]
    extra = set().union(*(e.free_symbols for e in exprs)) - set(inputs) if exprs else set()
    if extra:
        names = ", ".join(sorted(s.name for s in extra))
        raise ValueError(
            f"the expressions contain {names}, which {'is' if len(extra) == 1 else 'are'} not among "
            f"the inputs ({', '.join(s.name for s in inputs)}); substitute values first "
            "(VectorMap.subs) or declare them as inputs"
        )
    digits = 50 if backend == "mpmath" and digits is None else digits
    if backend == "numpy":
        namespace = dict(_numpy_namespace())
    elif backend == "torch":
        namespace = dict(_torch_namespace())
    else:
        namespace = _mpmath_namespace(digits or 50)
    names = {sym: f"_x{i}" for i, sym in enumerate(inputs)}
    if backend != "mpmath":
        memo: dict[sympy.Basic, sympy.Basic] = {}
        exprs = [_stabilized(e, memo) for e in exprs]
    temps = sympy.numbered_symbols("_cse", real=True)
    replacements, reduced = sympy.cse(list(exprs), symbols=temps, order="none")
    printer = _Printer(backend, names, namespace, digits or 50)
    lines: list[str] = []
    for i, (sym, value) in enumerate(replacements):
        code = printer(value)
        names[sym] = f"_t{i}"
        lines.append(f"    _t{i} = {code}")
    if backend == "mpmath":
        header = f"def _kernel({', '.join(names[s] for s in inputs)}):"
        body = [f"    return [{', '.join('mp.mpf(' + printer(e) + ')' for e in reduced)}]"]
    elif backend == "torch":
        # out of place (one stack), so torch.func transforms such as vmap can run the kernel
        header = "def _kernel(_X, _out):"
        unpack = [f"    {names[s]} = _X[..., {i}]" for i, s in enumerate(inputs)]
        lines = unpack + lines
        entries = ", ".join("0" if e == 0 else printer(e) for e in reduced)
        body = [f"    return _assemble(_X, [{entries}], {tuple(out_shape)!r})"]
    else:
        header = "def _kernel(_X, _out):"
        unpack = [f"    {names[s]} = _X[..., {i}]" for i, s in enumerate(inputs)]
        lines = unpack + lines
        body = []
        for index, expr in zip(
            itertools.product(*(range(k) for k in out_shape)), reduced, strict=True
        ):
            if expr != 0:
                position = ", ".join(str(i) for i in index)
                body.append(f"    _out[..., {position}] = {printer(expr)}")
        body.append("    return _out")
    source = "\n".join([header, *lines, *body]) + "\n"
    filename = f"<symjac-{backend}-{id(printer):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # source holds only generated names
    return NumericFunction(
        namespace["_kernel"],
        backend=backend,
        inputs=inputs,
        out_shape=tuple(out_shape),
        source=source,
        digits=digits if backend == "mpmath" else None,
        context=namespace.get("mp"),
    )
