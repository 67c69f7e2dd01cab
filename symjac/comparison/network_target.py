"""Networks as comparison targets: a ``torch.nn.Module`` or a :class:`~symjac.Network`.

A network's quantities are each layer Jacobian ``J1, J2, ...`` (torch's, along
torch's own forward pass), their ``chain`` product and the ``whole`` Jacobian of
the module; a custom autograd.Function adds rows for its own backward and jvp
(NOTE: custom-functions). NOTE: target-protocol in :mod:`symjac.comparison.targets`.

>>> import symjac, torch
>>> target = NetworkTarget.from_module(torch.nn.Tanh(), 2)
>>> target.label, target.n_in, target.wrapped.split(":")[0]
('Tanh [2, 2]', 2, 'Tanh has no Linear layer')
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

from symjac.comparison import conventions
from symjac.comparison.collect import DtypeRows
from symjac.comparison.methods import batched_jacobian
from symjac.comparison.targets import DtypeChecks, StageCheck, Target, Variant, register_target
from symjac.networks import Layer, Network

__all__ = ["NetworkTarget", "layer_function", "linear_order", "twin_module"]


def twin_module(network: Network) -> Any:
    """A concrete network rebuilt as torch code (for a Network without a module).

    >>> import symjac
    >>> net = symjac.mlp([1, 2, 1], weights=[[[1.0], [2.0]], [[3.0, 4.0]]], biases=False)
    >>> twin_module(net).linears[0].weight.shape
    torch.Size([2, 1])
    """
    import torch
    from torch import nn

    class NetworkTwin(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linears = nn.ModuleList()
            for layer in network.layers:
                out_f, in_f = layer.shape
                w, b = layer.arrays()
                lin = nn.Linear(in_f, out_f, bias=b is not None, dtype=torch.float64)
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(w))
                    if b is not None:
                        lin.bias.copy_(torch.from_numpy(b))
                self.linears.append(lin)
            self.acts = [layer.activation.torch_function() for layer in network.layers]
            self.squeeze = network.layers[-1].squeeze

        def forward(self, x: Any) -> Any:
            for lin, act in zip(self.linears, self.acts):
                x = act(lin(x))
            return x.squeeze(-1) if self.squeeze else x

    return NetworkTwin().to(torch.float64)


def linear_order(module: Any, x: Any) -> list[Any]:
    """The ``nn.Linear`` submodules in the order the forward pass at ``x`` calls them.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    >>> [lin.out_features for lin in linear_order(net, torch.zeros(1))]
    [2, 1]
    """
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


def layer_function(linear: Any, layer: Layer) -> Callable[[Any], Any]:
    """One stage in torch: ``activation(linear(s))`` (squeezed where the layer squeezes).

    >>> import torch, symjac
    >>> layer = symjac.mlp([1, 1], output_activation="relu", weights=[[[2.0]]], biases=False).layers[0]
    >>> layer_function(torch.nn.Linear(1, 1, bias=False), layer)(-torch.ones(1)).shape
    torch.Size([1])
    """
    act = layer.activation.torch_function()

    def fn(s: Any) -> Any:
        out = act(linear(s))
        return out.squeeze(-1) if layer.squeeze else out

    return fn


def _array(tensor: Any) -> np.ndarray:
    """A tensor's values as float64 (exact: NOTE: lazy-weights in :mod:`symjac.networks`)."""
    import torch

    return tensor.detach().cpu().to(torch.float64).numpy().copy()


def _is_module(obj: Any) -> bool:
    from torch import nn

    return isinstance(obj, nn.Module)


def _activation_module(module: Any) -> bool:
    return not list(module.parameters()) and not list(module.children())


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(abs(v) for v in a.ravel())
    diff = max(abs(u - v) for u, v in zip(a.ravel(), b.ravel()))
    return float(diff / scale) if scale else float(diff)


def _exact_slopes(act: Any, zs: Sequence[float]) -> list[Any]:
    from symjac.activations import Z
    from symjac.numeric import compile_exprs

    slope = compile_exprs([act.derivative], [Z], (), "mpmath", digits=50)
    return [slope([v]) for v in zs]


class NetworkTarget(Target):
    """A chain of Linear layers and activations: a module with its network."""

    def __init__(self, network: Network, module: Any, label: str, wrapped: str = ""):
        self.network = network
        self.module = module
        self.label = label
        self.wrapped = wrapped
        self.n_in = network.sizes[0]
        self.n_out = network.sizes[-1]
        self.input_names = [s.name for s in network.inputs]
        self._compiled: dict[tuple[int, str], Any] = {}
        self._original: dict[tuple[float, ...], np.ndarray] = {}

    @classmethod
    def from_module(cls, target: Any, n_hint: int | None) -> Target:
        """The target of a torch module (a lone activation module is given an identity Linear)."""
        import torch
        from torch import nn

        from symjac.tracing import from_torch

        module, wrapped = target, ""
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
            wrapped = (
                f"{type(target).__name__} has no Linear layer: compared as "
                f"Sequential(Linear({n_hint}, {n_hint}) with identity weight and zero bias, "
                f"{type(target).__name__}()), which computes the same values exactly"
            )
        from symjac.tracing import check_module_size

        check_module_size(module)  # the exact reference makes every weight exact
        network = from_torch(module)
        if not isinstance(network, Network):  # a graph model (NOTE: graph-accumulation)
            from symjac.comparison.model_target import ModelTarget

            return ModelTarget(network, module, f"{type(target).__name__} {list(network.sizes)}")
        return cls(network, module, f"{type(target).__name__} {list(network.sizes)}", wrapped)

    @classmethod
    def from_network(cls, target: Network, n_hint: int | None = None) -> NetworkTarget:
        """The target of a concrete :class:`~symjac.Network` (its module, or a torch twin)."""
        target._require_concrete("compare()")
        module = target.module if target.module is not None else twin_module(target)
        return cls(target, module, f"Network {list(target.sizes)}")

    @property
    def functions(self) -> list[tuple[int, Any]]:
        """(layer index, FunctionCall) of each custom autograd.Function in the network."""
        return [
            (k, layer.activation.function)
            for k, layer in enumerate(self.network.layers)
            if layer.activation.function is not None
        ]

    def variant(self, dtype: str, x64: np.ndarray) -> Variant:
        """The point and the module cast to ``dtype``, with the network of the cast weights."""
        var = super().variant(dtype, x64)
        module = copy.deepcopy(self.module).to(var.x.dtype)
        var.module = module
        var.linears = linear_order(module, var.x)
        if len(var.linears) != len(self.network.layers):
            from symjac.exceptions import UnsupportedError

            raise UnsupportedError(
                f"the module calls {len(var.linears)} Linear layers but its network has "
                f"{len(self.network.layers)} stages; symjac compares chains of distinct layers"
            )
        layers = [
            Layer(
                _array(lin.weight),
                None if lin.bias is None else _array(lin.bias),
                layer.activation,
                layer.squeeze,
            )
            for lin, layer in zip(var.linears, self.network.layers)
        ]
        changed = any(a != b for a, b in zip(layers, self.network.layers))
        var.weights_changed = changed
        if changed:
            var.network = Network(layers, input_names=self.input_names)
            var.notes.append(
                f"weights rounded to {dtype}; the exact reference uses the rounded weights "
                "(see NOTE: honest-reference)"
            )
        else:
            var.network = self.network
        return var

    def compiled(self, network: Network, backend: str) -> Any:
        """symjac's compiled Jacobian of ``network`` for ``backend`` (compiled once)."""
        key = (id(network), backend)
        if key not in self._compiled:
            self._compiled[key] = network.numeric(backend)
        return self._compiled[key]

    def _cast_note(self, dtype: str, x64: np.ndarray, whole: np.ndarray) -> str:
        key = tuple(float(v) for v in x64)
        if key not in self._original:
            self._original[key] = self.network.reference(list(x64)).whole
        diff = _rel_diff(self._original[key], whole)
        return (
            f"{dtype}: casting the model changed its weights; the original model's exact "
            f"Jacobian differs from the {dtype} model's by {diff:.2g} relative to its "
            "largest entry"
        )

    def checks(self, dtype: str, x64: np.ndarray) -> DtypeChecks:
        import torch

        var = self.variant(dtype, x64)
        net = var.network
        ref = net.reference(var.point)
        notes = [self._cast_note(dtype, x64, ref.whole)] if var.weights_changed else []
        layer_fns = [layer_function(lin, layer) for lin, layer in zip(var.linears, net.layers)]
        torch_stages = [var.x]
        with torch.no_grad():
            for fn in layer_fns:
                torch_stages.append(fn(torch_stages[-1]).reshape(-1))
        kinks = conventions.network_conventions(var, ref, torch_stages)
        shapes = [exact.shape for exact in ref.layers]

        def chain(values: list[Any]) -> Any:
            mats = [v.detach().reshape(shape) for v, shape in zip(values, shapes)]
            product = mats[-1]
            for mat in reversed(mats[:-1]):
                product = product @ mat
            return product

        def extra_rows(rows: DtypeRows) -> None:
            for k, call in self.functions:
                self._function_rows(var, k, call, torch_stages[k], rows)

        return DtypeChecks(
            variant=var,
            function=var.module,
            exact=ref.whole,
            own=lambda x: self.compiled(net, "torch")(x),
            convention="; ".join(kinks.values()),
            stages=[
                StageCheck(f"J{k + 1}", fn, torch_stages[k], ref.layers[k], kinks.get(k, ""))
                for k, fn in enumerate(layer_fns)
            ],
            chain=chain,
            chain_exact=ref.chain,
            extra_rows=extra_rows,
            notes=notes,
        )

    def _function_rows(self, var: Variant, k: int, call: Any, stage: Any, rows: DtypeRows) -> None:
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
        convention = conventions.function_convention(act, zs, call.name)
        repeated = sum(c.cls is call.cls for _, c in self.functions) > 1
        quantity = f"{call.name}@{k + 1}" if repeated else call.name
        where = (
            f"the custom autograd.Function {call.name} of layer {k + 1}, at torch's {var.dtype} "
            "input to it"
        )
        methods = [("backward", backward_jacobian)]
        if call.has_jvp:
            methods.append(("jvp", jvp_jacobian))
        for method, jac in methods:
            value = rows.attempt(quantity, method, lambda jac=jac: jac(call, z))
            if value is not None:
                rows.add(quantity, method, value, exact, convention, note=where)

    def exact_hessian(self, variant: Variant) -> np.ndarray:
        return variant.network.hessian().reference(list(variant.point))

    def own_hessian(self, variant: Variant) -> Callable[[Any], Any]:
        return variant.network.hessian().numeric("torch")

    def batch_exact(self, variant: Variant, points: np.ndarray) -> np.ndarray:
        return np.stack([variant.network.reference(p).chain for p in points])

    def batch_conventions(self, variant: Variant, X: Any) -> np.ndarray:
        return conventions.network_convention_flags(variant, X)

    def batch_jacobian(self, variant: Variant, method: str, X: Any, m: int, n: int) -> Any:
        if method == "symjac":
            return self.compiled(variant.network, "torch")(X).reshape(-1, m, n)
        # a custom autograd.Function without setup_context cannot be vmapped: batch it directly
        return batched_jacobian(method, variant.module, X, m, n, per_point=True,
                                vmappable=not self.functions)  # fmt: skip


register_target(_is_module, NetworkTarget.from_module)
register_target(lambda obj: isinstance(obj, Network), NetworkTarget.from_network)
