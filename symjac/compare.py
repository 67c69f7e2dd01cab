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
    Piecewise boundaries, fractional powers at 0 and log at <= 0.

>>> import symjac, torch
>>> report = symjac.compare(torch.nn.Tanh(), [10.0])
>>> report.ok
False
>>> report.row("whole", "autograd", "float32").verdict, report.row("whole", "autograd", "float64").verdict
('mismatch', 'ok')
"""

from __future__ import annotations

import copy
import dataclasses
import html
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy

from symjac import progress
from symjac.accuracy import (
    FORMATS,
    Measurement,
    _as_exact,
    _entry_errors,
    dtype_name,
    measure,
    tolerance,
)
from symjac.activations import kink_sites
from symjac.maps import VectorMap
from symjac.networks import Layer, Network, Reference
from symjac.torch_ops import quiet_torch
from symjac.tracing import _exact_matrix

__all__ = ["METHODS", "Report", "Row", "Scan", "ScanSeries", "compare", "scan"]

#: the ways a Jacobian is computed, in report order
METHODS = ("autograd", "jacrev", "jacfwd", "backward", "symjac")


# -- targets ------------------------------------------------------------------------------------


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _as_point(x: Any, what: str = "x") -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        if x.is_complex():
            raise TypeError(f"{what} is complex ({x.dtype}); symjac works with real points")
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except OverflowError:
        raise ValueError(
            f"{what} holds a number too large for float64 (above 1.8e308); "
            "give a point within float64's range"
        ) from None
    except (TypeError, ValueError):
        raise TypeError(
            f"{what} must be a number, a sequence of numbers, an array or a tensor, "
            f"got {type(x).__name__}"
        ) from None
    return arr


def _activation_module(module: Any) -> bool:
    return not list(module.parameters()) and not list(module.children())


class _Twin:
    """A concrete network rebuilt as torch code (for a Network without a module)."""

    @staticmethod
    def build(network: Network) -> Any:
        import torch
        from torch import nn

        class NetworkTwin(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linears = nn.ModuleList()
                for layer in network.layers:
                    out_f, in_f = layer.shape
                    lin = nn.Linear(in_f, out_f, bias=layer.bias is not None, dtype=torch.float64)
                    with torch.no_grad():
                        lin.weight.copy_(
                            torch.tensor(np.array(layer.weight.tolist(), dtype=np.float64))
                        )
                        if layer.bias is not None:
                            lin.bias.copy_(
                                torch.tensor(np.array(layer.bias.tolist(), dtype=np.float64))[:, 0]
                            )
                    self.linears.append(lin)
                self.acts = [layer.activation.torch_function() for layer in network.layers]
                self.squeeze = network.layers[-1].squeeze

            def forward(self, x: Any) -> Any:
                for lin, act in zip(self.linears, self.acts):
                    x = act(lin(x))
                return x.squeeze(-1) if self.squeeze else x

        return NetworkTwin().to(torch.float64)


@dataclasses.dataclass
class _Variant:
    """Everything torch and the reference need in one dtype."""

    dtype: str
    x: Any  # the cast point as a tensor (n,)
    point: tuple[float, ...]  # the cast point as floats
    notes: list[str]
    module: Any = None
    linears: list[Any] = dataclasses.field(default_factory=list)
    network: Network | None = None
    weights_changed: bool = False


class _Target:
    def __init__(self, target: Any, n_hint: int | None):
        import torch
        from torch import nn

        from symjac.tracing import from_torch

        self.map: VectorMap | None = None
        self.network: Network | None = None
        self.module: Any = None
        self.label = type(target).__name__
        self.wrapped = ""
        if isinstance(target, nn.Module):
            module = target
            if _activation_module(module):
                if n_hint is None:
                    raise ValueError(
                        f"{type(module).__name__} has no Linear layer to give the input size; "
                        "pass a point x so its length sets the size"
                    )
                lin = nn.Linear(n_hint, n_hint, dtype=torch.float64)
                with torch.no_grad():
                    lin.weight.copy_(torch.eye(n_hint, dtype=torch.float64))
                    lin.bias.zero_()
                module = nn.Sequential(lin, module)
                self.wrapped = (
                    f"{type(target).__name__} has no Linear layer: compared as "
                    f"Sequential(Linear({n_hint}, {n_hint}) with identity weight and zero bias, "
                    f"{type(target).__name__}()), which computes the same values exactly"
                )
            self.module = module
            self.network = from_torch(module)
            self.label = f"{type(target).__name__} {list(self.network.sizes)}"
        elif isinstance(target, Network):
            target._require_concrete("compare()")
            self.network = target
            self.module = target.module if target.module is not None else _Twin.build(target)
            self.label = f"Network {list(target.sizes)}"
        elif isinstance(target, VectorMap):
            if target.params:
                raise ValueError(
                    f"the map {target.name} has parameters ({', '.join(p.name for p in target.params)}); "
                    "substitute values first with .subs({...})"
                )
            self.map = target
            self.jacobian = target.jacobian()
            self.twin = target.numeric("torch")
            self.label = f"VectorMap {target.name}: R^{target.shape[1]} -> R^{target.shape[0]}"
            self._kinks = _map_kinks(target)
        else:
            raise TypeError(
                "target must be a torch.nn.Module, a symjac.Network or a symjac.VectorMap, "
                f"got {type(target).__name__}"
            )
        self.n_in = len(self.map.inputs) if self.map is not None else self.network.sizes[0]
        self._variants: dict[str, _Variant] = {}
        self._compiled: dict[tuple[int, str], Any] = {}

    @property
    def n_out(self) -> int:
        return self.map.shape[0] if self.map is not None else self.network.sizes[-1]

    @property
    def functions(self) -> list[tuple[int, Any]]:
        """(layer index, FunctionCall) of each custom autograd.Function in the network."""
        if self.network is None:
            return []
        return [
            (k, layer.activation.function)
            for k, layer in enumerate(self.network.layers)
            if layer.activation.function is not None
        ]

    def inapplicable(self) -> dict[str, str]:
        """Method -> why it cannot apply to this target (left out of the default methods)."""
        out: dict[str, str] = {}
        if self.n_out != 1:
            out["backward"] = f".backward() needs a scalar output and this one has {self.n_out}"
        calls = [call for _, call in self.functions]
        if no_setup := sorted({c.name for c in calls if not c.has_setup_context}):
            why = (
                f"the custom autograd.Function {', '.join(no_setup)} has no setup_context, "
                "which torch.func's transforms need"
            )
            out["jacrev"] = out["jacfwd"] = why
        if "jacfwd" not in out and (no_jvp := sorted({c.name for c in calls if not c.has_jvp})):
            out["jacfwd"] = (
                f"the custom autograd.Function {', '.join(no_jvp)} defines no jvp, which "
                "forward mode needs"
            )
        if "jacfwd" not in out and (no_vmap := sorted({c.name for c in calls if not c.has_vmap})):
            out["jacfwd"] = (
                f"the custom autograd.Function {', '.join(no_vmap)} has no vmap rule "
                "(generate_vmap_rule = True or a vmap staticmethod), which jacfwd needs"
            )
        return out

    @property
    def input_names(self) -> list[str]:
        src = self.map if self.map is not None else self.network
        return [s.name for s in src.inputs]

    # one dtype ---------------------------------------------------------------------------------
    def variant(self, dtype: str, x64: np.ndarray) -> _Variant:
        import torch

        tdt = _torch_dtype(dtype)
        x = torch.as_tensor(x64, dtype=torch.float64).to(tdt)
        if not bool(torch.isfinite(x).all()):
            largest = torch.finfo(tdt).max
            raise ValueError(
                f"the point {_fmt_point(tuple(float(v) for v in x64))} overflows {dtype} "
                f"(largest {largest:.3g}); use a point within {dtype}'s range or leave "
                f"{dtype} out of the dtypes"
            )
        point = tuple(float(v) for v in x.double().tolist())
        notes = []
        if point != tuple(float(v) for v in x64):
            notes.append(f"point rounded to {dtype}: x = {_fmt_point(point)}")
        var = _Variant(dtype, x, point, notes)
        if self.map is not None:
            return var
        module = copy.deepcopy(self.module).to(tdt)
        var.module = module
        var.linears = _linear_order(module, x)
        if len(var.linears) != len(self.network.layers):
            from symjac.exceptions import UnsupportedError

            raise UnsupportedError(
                f"the module calls {len(var.linears)} Linear layers but its network has "
                f"{len(self.network.layers)} stages; symjac compares chains of distinct layers"
            )
        layers = []
        for lin, layer in zip(var.linears, self.network.layers):
            layers.append(
                Layer(
                    _exact_matrix(lin.weight),
                    None if lin.bias is None else _exact_matrix(lin.bias),
                    layer.activation,
                    layer.squeeze,
                )
            )
        changed = any(
            a.weight != b.weight or a.bias != b.bias for a, b in zip(layers, self.network.layers)
        )
        var.weights_changed = changed
        if changed:
            var.network = Network(layers, input_names=self.input_names)
            notes.append(
                f"weights rounded to {dtype}; the exact reference uses the rounded weights "
                "(see NOTE: honest-reference)"
            )
        else:
            var.network = self.network
        return var

    def compiled(self, network: Network | None, backend: str) -> Any:
        key = (id(network), backend)
        if key not in self._compiled:
            if self.map is not None:
                self._compiled[key] = self.jacobian.numeric(backend)
            else:
                self._compiled[key] = network.numeric(backend)
        return self._compiled[key]


def _linear_order(module: Any, x: Any) -> list[Any]:
    import torch
    from torch import nn

    order: list[Any] = []
    handles = [
        sub.register_forward_hook(lambda mod, args, out: order.append(mod))
        for sub in module.modules()
        if isinstance(sub, nn.Linear)
    ]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return order


def _fmt_point(point: Sequence[float]) -> str:
    return "[" + ", ".join(repr(float(v)) for v in point) + "]"


# -- kinks ----------------------------------------------------------------------------------------


def _map_kinks(vm: VectorMap) -> list[tuple[str, sympy.Expr, str]]:
    """Places where the map's derivative does not exist: (description, expression, test)."""
    found = [site for expr in vm.outputs for site in kink_sites(expr)]
    return list(dict.fromkeys(found))


def _map_exact(tgt: _Target, point: Sequence[float]) -> np.ndarray:
    try:
        return np.asarray(
            tgt.compiled(None, "mpmath")(np.array(point, dtype=np.float64)), dtype=object
        )
    except (ZeroDivisionError, ValueError):
        # mpmath raises where the derivative has a pole (1/sqrt(0)): evaluate exactly instead
        values = tgt.jacobian.at(list(point))
        out = np.empty(values.shape, dtype=object)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v = values[i, j]
                if v.is_finite and v.is_real:
                    out[i, j] = mpmath.mpf(str(sympy.N(v, 60)))
                elif v in (sympy.oo, -sympy.oo):
                    out[i, j] = mpmath.inf if v == sympy.oo else -mpmath.inf
                else:
                    out[i, j] = mpmath.nan
        return out


def _hits(value: Any, test: str) -> bool:
    if test == "zero":
        return value == 0
    return value <= 0


def _exact_value(expr: sympy.Expr, subs: dict[sympy.Symbol, sympy.Expr]) -> Any:
    value = expr.xreplace(subs)
    if value.is_Rational:
        return value
    number = sympy.N(value, 60)
    if not number.is_real or not number.is_finite:
        return number
    return 0 if abs(number) < sympy.Float("1e-45") else number


def _map_conventions(target: _Target, point: Sequence[float]) -> str:
    subs = {s: sympy.Rational(v) for s, v in zip(target.map.inputs, point)}
    notes = []
    for description, expr, test in target._kinks:
        value = _exact_value(expr, subs)
        if value.is_number and value.is_real and _hits(value, test):
            notes.append(f"{description} ({expr} = {value})")
    return "; ".join(notes)


def _network_conventions(var: _Variant, ref: Reference, torch_stages: list[Any]) -> dict[int, str]:
    """Layer index -> why that layer's derivative is a convention at this point."""
    import torch

    found: dict[int, str] = {}
    for k, layer in enumerate(var.network.layers):
        act = layer.activation
        if not act.kinks:
            continue
        with torch.no_grad():
            z_torch = var.linears[k](torch_stages[k]).double().reshape(-1).tolist()
        for i, z in enumerate(ref.pre[k]):
            for kink in act.kinks:
                kv = float(kink)
                exact_hit = abs(z - (mpmath.mpf(kink.p) / kink.q if kink.is_Rational else kv)) < (
                    mpmath.mpf(10) ** -45 * (1 + abs(kv))
                )
                if exact_hit or z_torch[i] == kv:
                    where = "exactly" if exact_hit else f"in torch's {var.dtype} forward pass"
                    found.setdefault(
                        k,
                        f"layer {k + 1} ({act.label}): pre-activation {i + 1} is {where} at the "
                        f"kink {kink}; {act.convention or 'torch picks one side'}",
                    )
    return found


# -- torch Jacobians ------------------------------------------------------------------------------


def _jacobian(method: str, fn: Callable[[Any], Any], x: Any) -> Any:
    with quiet_torch():
        return _jacobian_inner(method, fn, x)


def _jacobian_inner(method: str, fn: Callable[[Any], Any], x: Any) -> Any:
    import torch

    if method == "autograd":
        return torch.autograd.functional.jacobian(fn, x)
    if method == "jacrev":
        return torch.func.jacrev(fn)(x)
    if method == "jacfwd":
        return torch.func.jacfwd(fn)(x)
    if method == "backward":
        xr = x.detach().clone().requires_grad_(True)
        y = fn(xr)
        if y.numel() != 1:
            raise ValueError(f".backward() needs a scalar output and this one has {y.numel()}")
        if not y.requires_grad:  # a constant map: .backward() has nothing to do, the gradient is 0
            return torch.zeros_like(xr)
        y.reshape(()).backward()
        return xr.grad
    raise ValueError(method)


def _matrix_of(value: Any, m: int, n: int) -> np.ndarray:
    return value.detach().cpu().double().reshape(m, n).numpy()


# -- report -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a :class:`Report`: one quantity, one method, one dtype.

    The error figures come from :attr:`measurement` (a
    :class:`~symjac.accuracy.Measurement`); ``point`` is the point as compared
    (cast to the dtype) and ``note`` says what else the reader must know
    (rounded weights, a convention).

    >>> import symjac, torch
    >>> row = symjac.compare(torch.nn.Tanh(), [0.5], dtypes=["float64"]).rows[0]
    >>> row.quantity, row.method, row.dtype, row.verdict
    ('J1', 'autograd', 'float64', 'ok')
    """

    quantity: str
    method: str
    measurement: Measurement
    point: tuple[float, ...]
    note: str = ""

    @property
    def dtype(self) -> str:
        """The dtype torch computed in."""
        return self.measurement.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The Jacobian's shape ``(outputs, inputs)``."""
        return self.measurement.shape

    @property
    def max_abs(self) -> float:
        """Largest absolute error."""
        return self.measurement.max_abs

    @property
    def max_rel(self) -> float:
        """Largest error relative to ``max|J_exact|``."""
        return self.measurement.max_rel

    @property
    def max_ulps(self) -> float:
        """Largest distance in ULPs of :attr:`dtype` at the exact value."""
        return self.measurement.max_ulps

    @property
    def verdict(self) -> str:
        """``ok``, ``mismatch``, ``nonfinite`` or ``convention``."""
        return self.measurement.verdict

    @property
    def ok(self) -> bool:
        """True for ``ok`` and ``convention``."""
        return self.measurement.ok

    @property
    def worst(self) -> tuple[int, ...]:
        """``(output index, input index)`` of the worst entry; ``(output, input, input)``
        for a ``hessian`` row."""
        w = self.measurement.worst
        return tuple(w) if len(w) >= 2 else (0, 0)

    @property
    def computed(self) -> float:
        """torch's value at the worst entry."""
        return self.measurement.computed

    @property
    def exact(self) -> Any:
        """The exact value (mpmath) at the worst entry."""
        return self.measurement.exact

    @property
    def label(self) -> str:
        """``"whole / autograd / float32"``: names the row in messages."""
        return f"{self.quantity} / {self.method} / {self.dtype}"

    def to_dict(self) -> dict[str, Any]:
        """This row as JSON-ready data (non-finite floats become strings).

        >>> import symjac, torch
        >>> symjac.compare(torch.nn.Tanh(), [0.5], dtypes=["float64"]).rows[0].to_dict()["worst"]["output"]
        0
        """
        m = self.measurement
        return {
            "quantity": self.quantity,
            "method": self.method,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "max_abs": _json_float(m.max_abs),
            "max_rel": _json_float(m.max_rel),
            "max_ulps": _json_float(m.max_ulps),
            "worst": {
                "output": self.worst[0],
                "input": self.worst[1],
                # a Hessian row's entry d2 f_k / dx_i dx_j has a second input index
                **({"input2": self.worst[2]} if len(self.worst) == 3 else {}),
                "point": [_json_float(v) for v in self.point],
                "computed": _json_float(m.computed),
                "exact": mpmath.nstr(m.exact, 25) if not isinstance(m.exact, float) else m.exact,
            },
            "tolerance": {"rtol": m.tolerance.rtol, "ulps": m.tolerance.ulps},
            "verdict": m.verdict,
            "ok": m.ok,
            "note": self.note,
        }


#: verdict -> (text colour, background) in Report._repr_html_
_VERDICT_COLOURS = {
    "ok": ("#116329", "#dafbe1"),
    "convention": ("#7d4e00", "#fff8c5"),
    "mismatch": ("#a40e26", "#ffebe9"),
    "nonfinite": ("#a40e26", "#ffebe9"),
}


def _json_float(value: float) -> float | str:
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _g(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


class Report:
    """The result of :func:`compare`: one :class:`Row` per (quantity, method, dtype).

    ``ok`` is True when every row passes; ``print(report)`` shows a table that
    fits 100 columns; ``to_dict()`` is JSON-ready.

    >>> import symjac, torch
    >>> report = symjac.compare(symjac.examples.small_mlp(seed=0), [1.0])
    >>> report.ok, len(report.rows) > 10
    (True, True)
    >>> print(report)  # doctest: +ELLIPSIS
    symjac.compare: SmallMLP [1, 2, 2, 1] at x = [1.0]
    ...
    """

    def __init__(
        self,
        target: str,
        point: Sequence[float],
        dtypes: Sequence[str],
        rows: Sequence[Row],
        notes: Sequence[str] = (),
        skipped: Sequence[str] = (),
        input_names: Sequence[str] = (),
        *,
        allow_skipped: bool = False,
    ):
        self.target = target
        self.point = tuple(point)
        self.dtypes = tuple(dtypes)
        self.rows = list(rows)
        self.notes = list(notes)
        self.skipped = list(skipped)
        self.input_names = tuple(input_names)
        self.allow_skipped = bool(allow_skipped)

    @property
    def complete(self) -> bool:
        """True when there are rows and every requested computation ran (nothing ``skipped``).

        >>> import symjac, torch
        >>> symjac.compare(torch.nn.Tanh(), [0.5], methods=["jacrev"]).complete
        True
        """
        return bool(self.rows) and not self.skipped

    @property
    def ok(self) -> bool:
        """True when every row is within tolerance (``ok`` or ``convention``) and nothing was skipped.

        NOTE: no-vacuous-pass. A check never passes by not checking: a report
        with no rows is never ok, and neither is one in which a requested
        computation could not run (``skipped`` says which and why), unless it
        was made with ``allow_skipped=True``. Methods that do not apply to a
        target (``.backward()`` of a vector output, ``torch.func`` on a custom
        Function without ``setup_context``) are left out of the default methods
        with a note; asked for by name, they count as skipped.
        """
        if not self.rows:
            return False
        if self.skipped and not self.allow_skipped:
            return False
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> list[Row]:
        """The rows that fail (``mismatch`` or ``nonfinite``)."""
        return [row for row in self.rows if not row.ok]

    def row(self, quantity: str, method: str, dtype: Any) -> Row:
        """The row of one quantity (``"J1"``, ``"chain"``, ``"whole"``), method and dtype.

        >>> import symjac, torch
        >>> symjac.compare(torch.nn.Tanh(), [0.5]).row("whole", "jacfwd", "float32").ok
        True
        """
        name = dtype_name(dtype)
        for row in self.rows:
            if row.quantity == quantity and row.method == method and row.dtype == name:
                return row
        have = sorted({(r.quantity, r.method) for r in self.rows})
        raise KeyError(
            f"no row ({quantity!r}, {method!r}, {name!r}); rows: "
            + ", ".join(f"{q}/{m}" for q, m in have)
        )

    def __repr__(self) -> str:
        return (
            f"Report({self.target}, x={_fmt_point(self.point)}, {len(self.rows)} rows, "
            f"ok={self.ok})"
        )

    def __str__(self) -> str:
        header = ["qty", "method", "dtype", "shape", "max|err|", "rel.err", "max ULPs", "worst",
                  "computed", "exact", "verdict"]  # fmt: skip
        notes: list[str] = []
        cells = []
        for row in self.rows:
            m = row.measurement
            verdict = row.verdict
            if row.note:
                if row.note not in notes:
                    notes.append(row.note)
                verdict += f" [{notes.index(row.note) + 1}]"
            cells.append(
                [
                    row.quantity,
                    row.method,
                    row.dtype,
                    "x".join(str(s) for s in row.shape),
                    _g(m.max_abs),
                    _g(m.max_rel),
                    _g(m.max_ulps),
                    ",".join(str(i) for i in row.worst),
                    _g(m.computed, 4),
                    _g(float(m.exact), 4),
                    verdict,
                ]
            )
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
                  for i, h in enumerate(header)]  # fmt: skip
        right = {4, 5, 6, 8, 9}

        def line(values: Sequence[str]) -> str:
            parts = [
                v.rjust(w) if i in right else v.ljust(w)
                for i, (v, w) in enumerate(zip(values, widths))
            ]
            return " ".join(parts).rstrip()

        names = ", ".join(self.input_names) if self.input_names else "x"
        tols = "; ".join(
            f"{d} rtol {tolerance(d).rtol:g} or {tolerance(d).ulps:g} ULPs" for d in self.dtypes
        )
        out = [
            f"symjac.compare: {self.target} at x = {_fmt_point(self.point)}",
            f"inputs ({names}); exact: mpmath, 50 digits; default tolerance: {tols}",
        ]
        out = [w for text in out for w in textwrap.wrap(text, 100, subsequent_indent="  ")]
        if self.rows:
            rtols = {(r.dtype, r.measurement.tolerance) for r in self.rows}
            custom = [t for t in rtols if t[1] != tolerance(t[0])]
            if custom:
                out.append(
                    "tolerance used: "
                    + "; ".join(
                        f"{d} rtol {t.rtol:g} or {t.ulps:g} ULPs" for d, t in sorted(custom)
                    )
                )
        out.append(line(header))
        out.extend(line(c) for c in cells)
        out.append(
            f"{'OK' if self.ok else 'FAILED'}: {sum(r.ok for r in self.rows)} of {len(self.rows)} "
            "rows within tolerance"
            + (
                f"; {len(self.skipped)} requested computations could not run"
                if self.skipped
                else ""
            )
            + (" (accepted: allow_skipped)" if self.skipped and self.allow_skipped else "")
        )
        for k, note in enumerate(notes + self.notes, 1):
            prefix = f"[{k}] " if k <= len(notes) else "note: "
            out.extend(textwrap.wrap(prefix + note, 100, subsequent_indent="    "))
        for item in self.skipped:
            out.extend(textwrap.wrap("skipped: " + item, 100, subsequent_indent="    "))
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """The report as an HTML table with coloured verdicts (how Jupyter shows it).

        The same columns, summary and notes as ``print(report)``; each verdict
        cell is coloured: ok green, convention amber, mismatch and nonfinite red.

        >>> import symjac, torch
        >>> page = symjac.compare(torch.nn.Tanh(), [10.0])._repr_html_()
        >>> page.startswith("<div") and "mismatch</td>" in page and "FAILED" in page
        True
        """
        esc = html.escape
        header = ["qty", "method", "dtype", "shape", "max|err|", "rel.err", "max ULPs", "worst",
                  "computed", "exact", "verdict"]  # fmt: skip
        right = {4, 5, 6, 8, 9}
        notes: list[str] = []
        body = []
        for row in self.rows:
            m = row.measurement
            mark = ""
            if row.note:
                if row.note not in notes:
                    notes.append(row.note)
                mark = f" [{notes.index(row.note) + 1}]"
            cells = [row.quantity, row.method, row.dtype, "x".join(str(s) for s in row.shape),
                     _g(m.max_abs), _g(m.max_rel), _g(m.max_ulps),
                     ",".join(str(i) for i in row.worst), _g(m.computed, 4), _g(float(m.exact), 4)]  # fmt: skip
            tds = [
                f'<td style="text-align:right">{esc(c)}</td>'
                if i in right
                else f"<td>{esc(c)}</td>"
                for i, c in enumerate(cells)
            ]
            colour, background = _VERDICT_COLOURS.get(row.verdict, ("#000000", "transparent"))
            tds.append(
                f'<td style="color:{colour};background:{background};font-weight:bold">'
                f"{esc(row.verdict)}{esc(mark)}</td>"
            )
            body.append("<tr>" + "".join(tds) + "</tr>")
        names = ", ".join(self.input_names) if self.input_names else "x"
        tols = "; ".join(
            f"{d} rtol {tolerance(d).rtol:g} or {tolerance(d).ulps:g} ULPs" for d in self.dtypes
        )
        summary = (
            f"{'OK' if self.ok else 'FAILED'}: {sum(r.ok for r in self.rows)} of "
            f"{len(self.rows)} rows within tolerance"
            + (
                f"; {len(self.skipped)} requested computations could not run"
                if self.skipped
                else ""
            )
            + (" (accepted: allow_skipped)" if self.skipped and self.allow_skipped else "")
        )
        colour = _VERDICT_COLOURS["ok" if self.ok else "mismatch"][0]
        extra = [f"[{k}] {note}" for k, note in enumerate(notes, 1)]
        extra += [f"note: {note}" for note in self.notes]
        extra += [f"skipped: {item}" for item in self.skipped]
        out = [
            '<div class="symjac-report">',
            f"<p><b>symjac.compare</b>: {esc(self.target)} at x = {esc(_fmt_point(self.point))}"
            f"<br>inputs ({esc(names)}); exact: mpmath, 50 digits; default tolerance: "
            f"{esc(tols)}</p>",
            '<table cellpadding="3">',
            "<thead><tr>"
            + "".join(
                f'<th style="text-align:{"right" if i in right else "left"}">{esc(h)}</th>'
                for i, h in enumerate(header)
            )
            + "</tr></thead>",
            "<tbody>" + "".join(body) + "</tbody>",
            "</table>",
            f'<p style="color:{colour};font-weight:bold">{esc(summary)}</p>',
        ]
        if extra:
            out.append("<ul>" + "".join(f"<li>{esc(e)}</li>" for e in extra) + "</ul>")
        out.append("</div>")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (used by the CLI's ``--json``).

        >>> import json, symjac, torch
        >>> data = symjac.compare(torch.nn.Tanh(), [10.0]).to_dict()
        >>> data["ok"], json.loads(json.dumps(data))["rows"][0]["verdict"]
        (False, 'mismatch')
        """
        return {
            "target": self.target,
            "point": [_json_float(v) for v in self.point],
            "inputs": list(self.input_names),
            "dtypes": list(self.dtypes),
            "ok": self.ok,
            "tolerances": {
                d: {"rtol": tolerance(d).rtol, "ulps": tolerance(d).ulps} for d in self.dtypes
            },
            "rows": [row.to_dict() for row in self.rows],
            "notes": list(self.notes),
            "skipped": list(self.skipped),
            "allow_skipped": self.allow_skipped,
        }


def _check_dtypes(dtypes: Any) -> list[str]:
    if isinstance(dtypes, str) or not isinstance(dtypes, Iterable):
        dtypes = [dtypes]
    names = [dtype_name(d) for d in dtypes]
    if not names:
        raise ValueError(
            "dtypes must name at least one dtype, e.g. ('float32', 'float64'); got none"
        )
    return list(dict.fromkeys(names))


def _check_methods(methods: Any) -> list[str]:
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [methods]
    chosen = list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ValueError(
            f"methods must be among {', '.join(METHODS)}, got {chosen!r}; leave it out for all"
        )
    return [m for m in METHODS if m in chosen]


def compare(
    target: Any,
    x: Any,
    dtypes: Any = ("float32", "float64"),
    *,
    methods: Sequence[str] | None = None,
    rtol: float | None = None,
    ulps: float | None = None,
    allow_skipped: bool = False,
    order: int = 1,
) -> Report:
    """Hold every torch Jacobian of ``target`` at ``x`` to the exact one, in each dtype.

    ``target`` is a ``torch.nn.Module`` (read with :func:`symjac.from_torch`; a
    lone activation module such as ``nn.Tanh()`` is accepted too), a
    :class:`~symjac.Network` or a :class:`~symjac.VectorMap` (differentiated
    through its torch twin ``VectorMap.numeric("torch")``, generated from the
    same function table as every backend). ``x`` is one point; it is cast to
    each dtype. ``methods`` limits the methods (:data:`METHODS`); ``rtol`` and
    ``ulps`` override the per-dtype tolerances of
    :data:`symjac.accuracy.TOLERANCES`. See NOTE: honest-reference and NOTE:
    conventions in this module. A requested computation that cannot run is
    listed in ``skipped`` and makes the report fail, unless ``allow_skipped``
    (NOTE: no-vacuous-pass); symjac's own compiled Jacobian never skips, its
    errors propagate. A custom ``torch.autograd.Function`` in the model adds
    rows of its own for its ``backward`` (and ``jvp``), held to the exact
    Jacobian of its ``forward`` (NOTE: custom-functions). ``order=2`` adds the
    second-order rows of :mod:`symjac.second_order`: every torch Hessian (and
    ``torch.func.jvp``/``vjp``) held to the exact one, with the second-order
    tolerances (NOTE: second-order-tolerance there).

    >>> import symjac, torch
    >>> report = symjac.compare(torch.nn.Tanh(), [10.0], methods=["autograd"])
    >>> [(r.quantity, r.dtype, r.verdict) for r in report.rows if r.quantity == "whole"]
    [('whole', 'float32', 'mismatch'), ('whole', 'float64', 'ok')]
    >>> report.row("whole", "autograd", "float32").computed
    0.0
    """
    names = _check_dtypes(dtypes)
    chosen = _check_methods(methods)
    if not isinstance(allow_skipped, bool):
        raise TypeError(f"allow_skipped must be True or False, got {allow_skipped!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 (Jacobians) or 2 (also Hessians), got {order!r}")
    tolerance("float64", rtol=rtol, ulps=ulps)  # validate once, with a clear message
    x64 = _as_point(x)
    if x64.ndim > 1:
        raise ValueError(
            f"x must be one point of shape (n,), got shape {x64.shape}; use symjac.scan for batches"
        )
    x64 = x64.reshape(-1)
    if not np.all(np.isfinite(x64)):
        raise ValueError(f"x must be finite, got {x64.tolist()}")
    tgt = _Target(target, int(x64.size))
    if x64.size != tgt.n_in:
        raise ValueError(
            f"x has {x64.size} coordinates but {tgt.label} takes {tgt.n_in} "
            f"({', '.join(tgt.input_names)}); give one value per input"
        )
    rows: list[Row] = []
    notes = [tgt.wrapped] if tgt.wrapped else []
    if methods is None:  # the default is every method that applies (NOTE: no-vacuous-pass)
        for method, why in tgt.inapplicable().items():
            chosen.remove(method)
            notes.append(f"{method} is not run: {why}; ask for it by name to try it anyway")
    skipped: list[str] = []
    original: list[Any] = []
    for dtype in names:
        _compare_dtype(tgt, dtype, x64, chosen, rtol, ulps, rows, notes, skipped, original)
    if order == 2:
        from symjac.second_order import add_second_order

        add_second_order(tgt, names, x64, rows, notes, skipped, rtol=rtol, ulps=ulps)
    return Report(tgt.label, tuple(float(v) for v in x64), names, rows, notes, skipped,
                  tgt.input_names, allow_skipped=allow_skipped)  # fmt: skip


def _compare_dtype(
    tgt: _Target,
    dtype: str,
    x64: np.ndarray,
    chosen: Sequence[str],
    rtol: float | None,
    ulps: float | None,
    rows: list[Row],
    notes: list[str],
    skipped: list[str],
    original: list[Any],
) -> None:
    import torch

    var = tgt.variant(dtype, x64)
    base_note = "; ".join(var.notes)

    def add(
        quantity: str,
        method: str,
        value: Any,
        exact: np.ndarray,
        convention: str = "",
        note: str = "",
    ) -> None:
        m, n = exact.shape
        label = f"{quantity} by {method} in {var.dtype}"
        meas = measure(
            _matrix_of(value, m, n),
            exact,
            var.dtype,
            rtol=rtol,
            ulps=ulps,
            err_msg=label,
            convention=convention,
        )
        text = "; ".join(p for p in (base_note, note, convention) if p)
        rows.append(Row(quantity, method, meas, var.point, text))

    def attempt(quantity: str, method: str, compute: Callable[[], Any]) -> Any:
        # a torch method that cannot run is recorded, never dropped (NOTE: no-vacuous-pass)
        try:
            return compute()
        except Exception as err:  # a torch method may not support a dtype on this device
            first = (str(err).splitlines() or [type(err).__name__])[0][:120]
            skipped.append(f"{quantity} by {method} in {dtype}: {type(err).__name__}: {first}")
            return None

    if tgt.map is not None:
        exact = _map_exact(tgt, var.point)
        convention = _map_conventions(tgt, var.point)
        for method in chosen:
            if method == "symjac":  # symjac's own function: its errors propagate
                value = tgt.compiled(None, "torch")(var.x)
            else:
                value = attempt(
                    "whole", method, lambda method=method: _jacobian(method, tgt.twin, var.x)
                )
            if value is not None:
                add("whole", method, value, exact, convention)
        return

    net = var.network
    ref = net.reference(var.point)
    if var.weights_changed:
        if not original:
            original.append(tgt.network.reference(list(x64)).whole)
        diff = _rel_diff(original[0], ref.whole)
        notes.append(
            f"{dtype}: casting the model changed its weights; the original model's exact "
            f"Jacobian differs from the {dtype} model's by {diff:.2g} relative to its "
            "largest entry"
        )
    layer_fns = [_layer_function(lin, layer) for lin, layer in zip(var.linears, net.layers)]
    torch_stages = [var.x]
    with torch.no_grad():
        for fn in layer_fns:
            torch_stages.append(fn(torch_stages[-1]).reshape(-1))
    kinks = _network_conventions(var, ref, torch_stages)
    whole_convention = "; ".join(kinks.values())
    for method in chosen:
        layer_values: list[Any] = []
        if method != "symjac":
            for k, fn in enumerate(layer_fns):
                if method == "backward" and ref.layers[k].shape[0] != 1:
                    layer_values.append(None)  # no such quantity for .backward(): not a skip
                    continue
                value = attempt(
                    f"J{k + 1}",
                    method,
                    lambda fn=fn, k=k, method=method: _jacobian(method, fn, torch_stages[k]),
                )
                layer_values.append(value)
                if value is not None:
                    add(f"J{k + 1}", method, value, ref.layers[k], kinks.get(k, ""))
            if all(v is not None for v in layer_values):
                mats = [v.detach().reshape(ref.layers[k].shape) for k, v in enumerate(layer_values)]
                product = mats[-1]
                for mat in reversed(mats[:-1]):
                    product = product @ mat
                add("chain", method, product, ref.chain, whole_convention)
            whole = attempt(
                "whole", method, lambda method=method: _jacobian(method, var.module, var.x)
            )
        else:  # symjac's own function: its errors propagate
            whole = tgt.compiled(net, "torch")(var.x)
        if whole is not None:
            add("whole", method, whole, ref.whole, whole_convention)
    for k, call in tgt.functions:
        _function_rows(var, k, call, torch_stages[k], tgt.functions, add, attempt)


def _function_rows(
    var: _Variant,
    k: int,
    call: Any,
    stage: Any,
    functions: list[tuple[int, Any]],
    add: Callable[..., None],
    attempt: Callable[[str, str, Callable[[], Any]], Any],
) -> None:
    """Rows holding a custom Function's own backward and jvp to its forward's exact Jacobian."""
    import torch

    from symjac.autograd_functions import backward_jacobian, jvp_jacobian

    act = var.network.layers[k].activation
    with torch.no_grad():
        z = var.linears[k](stage).detach().reshape(-1)
    zs = [float(v) for v in z.double().tolist()]
    slopes = _exact_slopes(act, zs)
    exact = np.zeros((len(zs), len(zs)), dtype=object)
    for i in range(len(zs)):
        for j in range(len(zs)):
            exact[i, j] = slopes[i] if i == j else mpmath.mpf(0)
    hits = [i + 1 for i, v in enumerate(zs) for kink in act.kinks if sympy.Rational(v) == kink]
    convention = f"input {hits[0]} of {call.name} is at its kink; {act.convention}" if hits else ""
    repeated = sum(c.cls is call.cls for _, c in functions) > 1
    quantity = f"{call.name}@{k + 1}" if repeated else call.name
    where = (
        f"the custom autograd.Function {call.name} of layer {k + 1}, at torch's {var.dtype} "
        "input to it"
    )
    methods = [("backward", backward_jacobian)]
    if call.has_jvp:
        methods.append(("jvp", jvp_jacobian))
    for method, jac in methods:
        value = attempt(quantity, method, lambda jac=jac: jac(call, z))
        if value is not None:
            add(quantity, method, value, exact, convention, note=where)


def _exact_slopes(act: Any, zs: Sequence[float]) -> list[Any]:
    from symjac.activations import Z
    from symjac.numeric import compile_exprs

    slope = compile_exprs([act.derivative], [Z], (), "mpmath", digits=50)
    return [slope([v]) for v in zs]


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(abs(v) for v in a.ravel())
    diff = max(abs(u - v) for u, v in zip(a.ravel(), b.ravel()))
    return float(diff / scale) if scale else float(diff)


def _layer_function(linear: Any, layer: Layer) -> Callable[[Any], Any]:
    act = layer.activation.torch_function()

    def fn(s: Any) -> Any:
        out = act(linear(s))
        return out.squeeze(-1) if layer.squeeze else out

    return fn


# -- scan ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScanSeries:
    """Errors of one method in one dtype at every point of a :class:`Scan`.

    Arrays have one entry per point: ``max_abs``, ``max_rel`` (to that point's
    ``max|J_exact|``), ``max_ulps``, ``band_ulps`` (the tolerance in ULPs at the
    largest exact entry), ``ok`` (within tolerance, or a convention point) and
    ``convention``.
    """

    method: str
    dtype: str
    max_abs: np.ndarray
    max_rel: np.ndarray
    max_ulps: np.ndarray
    band_ulps: np.ndarray
    ok: np.ndarray
    convention: np.ndarray


class Scan:
    """Errors of :func:`scan` over many points, per method and dtype.

    ``points`` is ``(B, n)``; ``x`` the 1-D coordinate when ``n == 1``;
    ``series(method, dtype)`` a :class:`ScanSeries`; ``plot(path)`` writes a PNG.

    >>> import symjac, torch
    >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 6.0], methods=["autograd"])
    >>> s.series("autograd", "float32").ok.tolist(), s.series("autograd", "float64").ok.tolist()
    ([True, False], [True, True])
    """

    def __init__(
        self, target: str, points: np.ndarray, dtypes: Sequence[str], series: Sequence[ScanSeries]
    ):
        self.target = target
        self.points = points
        self.dtypes = tuple(dtypes)
        self._series = {(s.method, s.dtype): s for s in series}

    @property
    def x(self) -> np.ndarray | None:
        """The points as a 1-D array when there is one input, else None."""
        return self.points[:, 0] if self.points.shape[1] == 1 else None

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods scanned, in report order."""
        return tuple(dict.fromkeys(m for m, _ in self._series))

    @property
    def ok(self) -> bool:
        """True when every method is within tolerance at every point in every dtype.

        A scan with no series is never ok (NOTE: no-vacuous-pass).
        """
        return bool(self._series) and all(bool(s.ok.all()) for s in self._series.values())

    def series(self, method: str, dtype: Any) -> ScanSeries:
        """The errors of ``method`` in ``dtype``.

        >>> import symjac, torch
        >>> symjac.scan(torch.nn.Tanh(), [1.0], dtypes="float64").series("jacrev", "float64").max_ulps.shape
        (1,)
        """
        key = (method, dtype_name(dtype))
        if key not in self._series:
            raise KeyError(
                f"no series {key}; scanned: {', '.join(f'{m}/{d}' for m, d in self._series)}"
            )
        return self._series[key]

    def __repr__(self) -> str:
        return (
            f"Scan({self.target}, {len(self.points)} points, methods={list(self.methods)}, "
            f"dtypes={list(self.dtypes)})"
        )

    def plot(self, path: Any) -> Any:
        """Draw ULP error against x (or point index) per method and dtype; write a PNG.

        The dashed line of each dtype is its tolerance band in ULPs at the
        largest exact entry. Needs matplotlib (``pip install 'symjac[plot]'``);
        uses the Agg backend without touching pyplot's global state.

        >>> import symjac, torch, tempfile, os
        >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     os.path.getsize(s.plot(os.path.join(d, "scan.png"))) > 0
        True
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(
                "Scan.plot needs matplotlib, which is not installed; install it with "
                "pip install 'symjac[plot]' (or pip install matplotlib)"
            ) from None
        import os

        path = os.fspath(path)
        fig = Figure(figsize=(8, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        xs = self.x if self.x is not None else np.arange(len(self.points))
        styles = {"float64": "-", "float32": "-", "float16": "-", "bfloat16": "-"}
        for (method, dtype), s in self._series.items():
            y = np.where(np.isfinite(s.max_ulps), np.maximum(s.max_ulps, 0.1), np.nan)
            ax.plot(xs, y, styles[dtype], lw=1, label=f"{method} {dtype}")
        for dtype in self.dtypes:
            band = next(s.band_ulps for (m, d), s in self._series.items() if d == dtype)
            ax.plot(xs, band, "--", color="black" if dtype == "float64" else "gray", lw=1,
                    label=f"tolerance {dtype}")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("x" if self.x is not None else "point index")
        ax.set_ylabel("max ULP error (in the dtype, at the exact value)")
        ax.set_title(f"symjac.scan: {self.target}")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
        return path

    def _repr_png_(self) -> bytes | None:
        """The :meth:`plot` as PNG bytes (how Jupyter shows a scan); None without matplotlib.

        >>> import symjac, torch
        >>> s = symjac.scan(torch.nn.Tanh(), [0.0, 1.0], methods=["jacrev"], dtypes="float64")
        >>> s._repr_png_()[:4]
        b'\\x89PNG'
        """
        import os
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self.plot(os.path.join(tmp, "scan.png"))
            except ImportError:  # no matplotlib: Jupyter falls back to the repr
                return None
            with open(path, "rb") as fh:
                return fh.read()


def _scan_points(xs: Any, n_in: int | None) -> np.ndarray:
    arr = _as_point(xs, "xs")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 1:
        if n_in not in (None, 1):
            raise ValueError(
                f"xs for a target with {n_in} inputs must have shape (B, {n_in}), got {arr.shape}"
            )
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"xs must be a 1-D range or a batch (B, n) of points, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("xs must be finite; remove NaN and inf points")
    return arr


def _batched_jacobian(tgt: _Target, var: _Variant, method: str, X: Any, m: int, n: int) -> Any:
    with quiet_torch():
        return _batched_jacobian_inner(tgt, var, method, X, m, n)


def _batched_jacobian_inner(
    tgt: _Target, var: _Variant, method: str, X: Any, m: int, n: int
) -> Any:
    import torch

    if method == "symjac":
        fn = tgt.compiled(var.network, "torch")
        return fn(X).reshape(-1, m, n)
    if tgt.map is not None:
        batch = tgt.twin

        def summed(Z: Any) -> Any:
            return batch(Z).sum(0)

        if method == "backward":
            Xr = X.detach().clone().requires_grad_(True)
            total = batch(Xr).sum()
            if not total.requires_grad:  # a constant map
                return torch.zeros_like(Xr).reshape(-1, 1, n)
            total.backward()
            return Xr.grad.reshape(-1, 1, n)
        if method == "autograd":
            jac = torch.autograd.functional.jacobian(summed, X)
        elif method == "jacrev":
            jac = torch.func.jacrev(summed)(X)
        else:
            jac = torch.func.jacfwd(summed)(X)
        return jac.reshape(m, -1, n).permute(1, 0, 2)
    module = var.module
    # a custom autograd.Function without setup_context cannot be vmapped: batch it directly
    batched = module if tgt.functions else torch.func.vmap(module)
    if method == "backward":
        Xr = X.detach().clone().requires_grad_(True)
        batched(Xr).sum().backward()
        return Xr.grad.reshape(-1, 1, n)
    if method == "autograd":
        jac = torch.autograd.functional.jacobian(lambda Z: batched(Z).reshape(-1, m).sum(0), X)
        return jac.reshape(m, -1, n).permute(1, 0, 2)
    transform = torch.func.jacrev if method == "jacrev" else torch.func.jacfwd
    return torch.func.vmap(transform(module))(X).reshape(-1, m, n)


def _scan_conventions(tgt: _Target, var: _Variant, X: Any) -> np.ndarray:
    import torch

    B = X.shape[0]
    flags = np.zeros(B, dtype=bool)
    if tgt.map is not None:
        for _, expr, test in tgt._kinks:
            values = np.broadcast_to(
                VectorMap._trusted([expr], tgt.map.inputs, name="k").numeric("numpy")(
                    X.double().numpy()
                )[..., 0],
                (B,),
            )
            flags |= values == 0 if test == "zero" else values <= 0
        return flags
    with torch.no_grad():
        for dt in (torch.float64, X.dtype):
            a = X.to(dt)
            for lin, layer in zip(var.linears, var.network.layers):
                w = lin.weight.to(dt)
                z = a @ w.T + (0 if lin.bias is None else lin.bias.to(dt))
                for kink in layer.activation.kinks:
                    flags |= (z == float(kink)).any(-1).numpy()
                a = layer.activation.torch_function()(z)
    return flags


#: points per step of :func:`scan`'s exact evaluation (and of its progress bar)
_SCAN_CHUNK = 64


def scan(
    target: Any,
    xs: Any,
    dtypes: Any = ("float32", "float64"),
    *,
    methods: Sequence[str] | None = None,
    rtol: float | None = None,
    ulps: float | None = None,
) -> Scan:
    """The whole Jacobian's errors over many points, per method and dtype (vectorised).

    ``xs`` is a 1-D range (one input) or a batch ``(B, n)``. torch's Jacobians
    are batched (``vmap(jacrev)``, ``vmap(jacfwd)``, autograd of the batch
    sum); the exact values come from symjac's compiled mpmath function at 50
    digits, at the points cast to each dtype (NOTE: honest-reference).
    Convention points (NOTE: conventions) are flagged from torch's float64
    and in-dtype pre-activations (networks) or the kink expressions (maps).

    >>> import symjac, torch, numpy as np
    >>> s = symjac.scan(torch.nn.Tanh(), np.linspace(-12, 12, 25), methods=["autograd"])
    >>> x, ok32 = s.x, s.series("autograd", "float32").ok
    >>> bool(ok32[np.abs(x) <= 4].all()), bool(ok32[np.abs(x) >= 6].any())
    (True, False)
    >>> bool(s.series("autograd", "float64").ok.all())
    True
    """
    import torch

    names = _check_dtypes(dtypes)
    chosen = _check_methods(methods)
    tolerance("float64", rtol=rtol, ulps=ulps)
    n_hint = None
    arr = _as_point(xs, "xs")
    if arr.ndim == 2:
        n_hint = arr.shape[1]
    elif arr.ndim <= 1:
        n_hint = 1
    tgt = _Target(target, n_hint)
    if methods is None:  # every method that applies (NOTE: no-vacuous-pass)
        chosen = [m for m in chosen if m not in tgt.inapplicable()]
    elif "backward" in chosen and tgt.n_out != 1:
        raise ValueError(
            f"methods includes 'backward', but .backward() needs a scalar output and "
            f"{tgt.label} has {tgt.n_out}; leave it out"
        )
    points = _scan_points(xs, tgt.n_in)
    if points.shape[1] != tgt.n_in:
        raise ValueError(
            f"xs has points with {points.shape[1]} coordinates but {tgt.label} takes {tgt.n_in}"
        )
    series: list[ScanSeries] = []
    # the exact values (mpmath, point by point) are the slow part: NOTE: progress-policy
    shown = progress.bar(len(names) * len(points), "symjac.scan", unit="point")
    for dtype in names:
        fmt = FORMATS[dtype]
        tol = tolerance(dtype, rtol=rtol, ulps=ulps)
        var = tgt.variant(dtype, points[0])
        X = torch.as_tensor(points, dtype=torch.float64).to(_torch_dtype(dtype))
        X64 = X.double().numpy()
        parts = []
        for start in range(0, len(X64), _SCAN_CHUNK):
            chunk = X64[start : start + _SCAN_CHUNK]
            if tgt.map is not None:
                parts.append(_as_exact(tgt.compiled(None, "mpmath")(chunk)))
            else:
                parts.append(np.stack([var.network.reference(p).chain for p in chunk]))
            shown.update(len(chunk))
        exact = np.concatenate(parts)
        B = X.shape[0]
        exact = exact.reshape(B, -1, tgt.n_in)
        _, m, n = exact.shape
        conventions = _scan_conventions(tgt, var, X)
        for method in chosen:
            jac = _batched_jacobian(tgt, var, method, X, m, n)
            computed = jac.detach().double().numpy()
            abs_err, ulp_err, magnitude, spacing = _entry_errors(computed, exact, fmt)
            flat = (B, m * n)
            abs_err, ulp_err = abs_err.reshape(flat), ulp_err.reshape(flat)
            magnitude, spacing = magnitude.reshape(flat), spacing.reshape(flat)
            scale = magnitude.max(axis=1)
            bound = np.maximum(tol.rtol * scale[:, None], tol.ulps * spacing)
            finite = np.isfinite(abs_err).all(axis=1)
            within = np.where(np.isfinite(abs_err), abs_err <= bound, False).all(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(scale > 0, abs_err.max(axis=1) / scale, np.where(
                    abs_err.max(axis=1) > 0, np.inf, 0.0))  # fmt: skip
            big = magnitude.argmax(axis=1)
            rows = np.arange(B)
            band = bound[rows, big] / spacing[rows, big]
            series.append(
                ScanSeries(
                    method=method,
                    dtype=dtype,
                    max_abs=np.where(finite, abs_err.max(axis=1), np.inf),
                    max_rel=np.where(finite, rel, np.inf),
                    max_ulps=np.where(finite, ulp_err.max(axis=1), np.inf),
                    band_ulps=band,
                    ok=(within & finite) | conventions,
                    convention=conventions.copy(),
                )
            )
    shown.close()
    return Scan(tgt.label, points, names, series)
