"""What :func:`symjac.compare` and :func:`symjac.scan` compare: targets, one class per kind.

NOTE: target-protocol
    A target (a :class:`Target` subclass) is what the comparison pipeline reads; it
    never asks which kind of model it has. :func:`make_target` picks the class from
    a registry (:func:`register_target`: a predicate and a factory), so a new kind of
    model is added from its own module without editing this one; the kinds
    registered are :class:`~symjac.VectorMap` (:class:`MapTarget`, here) and
    ``torch.nn.Module`` and :class:`~symjac.Network` (``NetworkTarget``, in
    :mod:`symjac.comparison.network_target`).
    A target has ``label``, ``wrapped`` (a note, or ``""``), ``n_in``, ``n_out``,
    ``input_names``, ``functions`` (the custom autograd.Functions in it) and
    ``inapplicable()`` (method -> why it cannot apply), and for one dtype
    (``checks(dtype, x64)``, a :class:`DtypeChecks`, NOTE: honest-reference):

    (a) ``stages``: a list of :class:`StageCheck`, each a quantity name (``"J1"``,
        ``"J2"``, ...), a torch callable of ONE flat input tensor, the point torch
        evaluates it at (torch's own stage input), the exact Jacobian (a NumPy
        object array of mpmath values) and a convention string (``""`` if none);
    (b) ``chain``: combines torch's stage Jacobians (in stage order) into the
        ``"chain"`` quantity, held to ``chain_exact`` (a plain product
        :math:`J_D \\cdots J_1` for a chain; a graph model accumulates along its
        graph); None for no chain row;
    (c) ``function`` and ``variant.x``: the whole torch function and the point,
        held to ``exact`` with the convention ``convention``;
    (d) ``own``: symjac's own compiled Jacobian, a torch callable of the point;
    (e) ``extra_rows``: adds rows of its own through a
        :class:`~symjac.comparison.collect.DtypeRows` (custom autograd.Function
        rows, NOTE: custom-functions), or None;

    and ``notes``, the report notes of that dtype. For ``order=2`` a target has
    ``exact_hessian(variant)`` and ``own_hessian(variant)``; for :func:`symjac.scan`
    ``batch_exact(variant, points)`` (exact whole Jacobians ``(B, m, n)``),
    ``batch_conventions(variant, X)`` (one flag per point) and
    ``batch_jacobian(variant, method, X, m, n)`` (torch's, or symjac's own).

>>> import symjac, torch
>>> target = make_target(torch.nn.Tanh(), 1)
>>> target.label, [s.quantity for s in target.checks("float64", np.array([0.5])).stages]
('Tanh [1, 1]', ['J1'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

from symjac.accuracy import as_exact
from symjac.comparison import conventions
from symjac.comparison.methods import batched_jacobian
from symjac.comparison.render import fmt_point
from symjac.maps import VectorMap
from symjac.networks import Network

__all__ = [
    "DtypeChecks",
    "MapTarget",
    "StageCheck",
    "Target",
    "Variant",
    "as_point",
    "make_target",
    "register_target",
]


def torch_dtype(name: str) -> Any:
    """The torch dtype of a canonical dtype name.

    >>> torch_dtype("float32")
    torch.float32
    """
    import torch

    return getattr(torch, name)


def as_point(x: Any, what: str = "x") -> np.ndarray:
    """``x`` (a number, a sequence, an array or a tensor) as a float64 array.

    >>> as_point([1, 2]).tolist()
    [1.0, 2.0]
    """
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


@dataclasses.dataclass
class Variant:
    """Everything torch and the reference need in one dtype."""

    dtype: str
    x: Any  # the cast point as a tensor (n,)
    point: tuple[float, ...]  # the cast point as floats
    notes: list[str]  # what the cast changed, for each row of the dtype
    module: Any = None
    linears: list[Any] = dataclasses.field(default_factory=list)
    network: Network | None = None
    weights_changed: bool = False


@dataclasses.dataclass(frozen=True)
class StageCheck:
    """One stage of a target, checked alone (NOTE: target-protocol (a))."""

    quantity: str
    function: Callable[[Any], Any]
    point: Any
    exact: np.ndarray
    convention: str = ""


@dataclasses.dataclass
class DtypeChecks:
    """What a target gives the pipeline for one dtype (NOTE: target-protocol)."""

    variant: Variant
    function: Callable[[Any], Any]
    exact: np.ndarray
    own: Callable[[Any], Any]
    convention: str = ""
    stages: list[StageCheck] = dataclasses.field(default_factory=list)
    chain: Callable[[list[Any]], Any] | None = None
    chain_exact: np.ndarray | None = None
    extra_rows: Callable[[Any], None] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


class Target:
    """The base of every target (NOTE: target-protocol); subclasses fill in the checks."""

    label: str = ""
    wrapped: str = ""
    n_in: int = 0
    n_out: int = 0
    input_names: list[str] = []  # noqa: RUF012 (each subclass sets its own)

    @property
    def functions(self) -> list[tuple[int, Any]]:
        """(stage index, FunctionCall) of each custom autograd.Function in the target."""
        return []

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

    def variant(self, dtype: str, x64: np.ndarray) -> Variant:
        """The point cast to ``dtype`` (refused where it overflows); subclasses cast the model."""
        import torch

        tdt = torch_dtype(dtype)
        x = torch.as_tensor(x64, dtype=torch.float64).to(tdt)
        if not bool(torch.isfinite(x).all()):
            largest = torch.finfo(tdt).max
            raise ValueError(
                f"the point {fmt_point(tuple(float(v) for v in x64))} overflows {dtype} "
                f"(largest {largest:.3g}); use a point within {dtype}'s range or leave "
                f"{dtype} out of the dtypes"
            )
        point = tuple(float(v) for v in x.double().tolist())
        notes = []
        if point != tuple(float(v) for v in x64):
            notes.append(f"point rounded to {dtype}: x = {fmt_point(point)}")
        return Variant(dtype, x, point, notes)

    def checks(self, dtype: str, x64: np.ndarray) -> DtypeChecks:
        """Everything compared in ``dtype`` at ``x64`` (NOTE: target-protocol)."""
        raise NotImplementedError

    def exact_hessian(self, variant: Variant) -> np.ndarray:
        """The exact ``(m, n, n)`` Hessian at the variant's point (``order=2``)."""
        raise NotImplementedError

    def own_hessian(self, variant: Variant) -> Callable[[Any], Any]:
        """symjac's compiled Hessian as a torch function of the point (``order=2``)."""
        raise NotImplementedError

    def batch_exact(self, variant: Variant, points: np.ndarray) -> np.ndarray:
        """The exact whole Jacobians at ``points`` (``(B, n)``, already cast) for scan."""
        raise NotImplementedError

    def batch_conventions(self, variant: Variant, X: Any) -> np.ndarray:
        """One flag per row of ``X``: is the derivative a convention there (NOTE: conventions)?"""
        raise NotImplementedError

    def batch_jacobian(self, variant: Variant, method: str, X: Any, m: int, n: int) -> Any:
        """torch's (or, for ``"symjac"``, symjac's own) ``(B, m, n)`` Jacobians at ``X``."""
        raise NotImplementedError


#: (predicate, factory) of each kind of target, the latest registered first
_REGISTRY: list[tuple[Callable[[Any], bool], Callable[[Any, int | None], Target]]] = []


def register_target(
    predicate: Callable[[Any], bool], factory: Callable[[Any, int | None], Target]
) -> None:
    """Let :func:`make_target` build ``factory(obj, n_hint)`` for every ``obj`` with
    ``predicate(obj)`` true. Later registrations are tried first, so a new kind may
    claim objects a built-in kind would also take.

    >>> class Marker(MapTarget): ...
    >>> register_target(lambda obj: obj == "marker", lambda obj, n: Marker(VectorMap("x", "x")))
    >>> type(make_target("marker", None)).__name__
    'Marker'
    >>> _REGISTRY.pop(0) and None  # unregister the example
    """
    _REGISTRY.insert(0, (predicate, factory))


def make_target(obj: Any, n_hint: int | None) -> Target:
    """The :class:`Target` of ``obj``; ``n_hint`` is the input size the point gives.

    >>> make_target(VectorMap("x**2", "x"), None).label
    'VectorMap f: R^1 -> R^1'
    """
    for predicate, factory in _REGISTRY:
        if predicate(obj):
            return factory(obj, n_hint)
    raise TypeError(
        "target must be a torch.nn.Module, a symjac.Network or a symjac.VectorMap, "
        f"got {type(obj).__name__}"
    )


class MapTarget(Target):
    """A :class:`~symjac.VectorMap`, differentiated through its torch twin: ``whole`` only."""

    def __init__(self, vm: VectorMap):
        if vm.params:
            raise ValueError(
                f"the map {vm.name} has parameters ({', '.join(p.name for p in vm.params)}); "
                "substitute values first with .subs({...})"
            )
        self.map = vm
        self.jacobian = vm.jacobian()
        self.twin = vm.numeric("torch")
        self.label = f"VectorMap {vm.name}: R^{vm.shape[1]} -> R^{vm.shape[0]}"
        self.kinks = conventions.map_kink_sites(vm)
        self.n_in = len(vm.inputs)
        self.n_out = vm.shape[0]
        self.input_names = [s.name for s in vm.inputs]
        self._compiled: dict[str, Any] = {}

    def compiled(self, backend: str) -> Any:
        """symjac's compiled Jacobian for ``backend`` (compiled once)."""
        if backend not in self._compiled:
            self._compiled[backend] = self.jacobian.numeric(backend)
        return self._compiled[backend]

    def exact(self, point: Sequence[float]) -> np.ndarray:
        """The exact Jacobian at ``point`` (mpmath; exactly evaluated where it has a pole)."""
        import sympy

        try:
            return np.asarray(self.compiled("mpmath")(np.array(point, dtype=np.float64)),
                              dtype=object)  # fmt: skip
        except (ZeroDivisionError, ValueError):
            # mpmath raises where the derivative has a pole (1/sqrt(0)): evaluate exactly instead
            values = self.jacobian.at(list(point))
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

    def checks(self, dtype: str, x64: np.ndarray) -> DtypeChecks:
        var = self.variant(dtype, x64)
        return DtypeChecks(
            variant=var,
            function=self.twin,
            exact=self.exact(var.point),
            own=lambda x: self.compiled("torch")(x),
            convention=conventions.map_convention(self.map, self.kinks, var.point),
        )

    def exact_hessian(self, variant: Variant) -> np.ndarray:
        return self.map.hessian().reference(list(variant.point))

    def own_hessian(self, variant: Variant) -> Callable[[Any], Any]:
        return self.map.hessian().numeric("torch")

    def batch_exact(self, variant: Variant, points: np.ndarray) -> np.ndarray:
        return as_exact(self.compiled("mpmath")(points))

    def batch_conventions(self, variant: Variant, X: Any) -> np.ndarray:
        return conventions.map_convention_flags(self.map, self.kinks, X)

    def batch_jacobian(self, variant: Variant, method: str, X: Any, m: int, n: int) -> Any:
        if method == "symjac":
            return self.compiled("torch")(X).reshape(-1, m, n)
        return batched_jacobian(method, self.twin, X, m, n, per_point=False)


register_target(lambda obj: isinstance(obj, VectorMap), lambda obj, n_hint: MapTarget(obj))
