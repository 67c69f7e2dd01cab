"""SymPy's public constructors build the very trees of the fast path (NOTE: sympy-fallback).

Every test builds the same networks twice, with the fast primitives forced on and with the
public fallback forced on, and holds the symbolic results to ``==`` and the same ``srepr``.
CI also runs this file and tests/test_chain.py with ``SYMJAC_SYMPY_FALLBACK=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import sympy

import symjac
from symjac import _sympy_fast
from symjac._sympy_fast import FAST, PUBLIC, construction, fallback_reason, forced_fallback
from symjac.activations import get_activation
from symjac.chain import layer_matrix, layer_outputs

SPECIAL = [0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.25]


@pytest.fixture(autouse=True)
def _fresh_guard():
    # every test may change the guard's state (a patched version, a failing primitive)
    _sympy_fast.refresh()
    yield
    _sympy_fast.refresh()


#: (sizes, activation, output activation, weights from SPECIAL or normal), then the seed's net
SPECS = [
    ([2, 3, 1], "tanh", "identity", False),
    ([3, 4, 4, 2], "tanh", "tanh", True),
    ([4, 4, 4, 4], "tanh", "identity", True),
    ([2, 5, 3], "identity", "identity", True),
    ([3, 3, 2], "sigmoid", "tanh", True),
    ([2, 3, 2], "softplus", "identity", False),
    ([2, 4, 1], "tanh", "sigmoid", True),
    "small_mlp",
]


def _network(index: int) -> symjac.Network:
    """A fresh network (nothing cached on it) for ``SPECS[index]``."""
    spec = SPECS[index]
    if spec == "small_mlp":
        return symjac.from_torch(symjac.examples.small_mlp())
    sizes, activation, output, special = spec
    rng = np.random.default_rng(index)

    def draw(shape):
        return rng.choice(SPECIAL, size=shape) if special else rng.normal(size=shape)

    return symjac.mlp(
        sizes,
        activation=activation,
        weights=[draw((sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)],
        biases=[draw(sizes[k + 1]) for k in range(len(sizes) - 1)],
        output_activation=output,
    )


def _symbolic(net: symjac.Network) -> list[object]:
    """Everything the chain builds symbolically for ``net``, in a fresh network copy."""
    out: list[object] = []
    for k, layer in enumerate(net.layers):
        parts = layer_outputs(layer.weight, layer.bias, layer.activation, net.stage_symbols[k])
        out.append(None if parts is None else sympy.Tuple(*parts.outputs, *parts.tanhs))
        if parts is not None:
            out.append(layer_matrix(layer.weight, parts))
    out.extend(J.matrix for J in net.layer_jacobians())
    out.extend(sympy.Tuple(*stage.outputs) for stage in net.stages)
    out.append(net.jacobian().matrix)
    return out


def _assert_same(fast: list[object], public: list[object]) -> None:
    assert len(fast) == len(public)
    for a, b in zip(fast, public):
        assert a == b
        assert sympy.srepr(a) == sympy.srepr(b)


def _fast_or_skip() -> None:
    if construction() is not FAST:
        pytest.skip(f"the fast path is off here: {fallback_reason()}")


def test_fallback_builds_the_same_trees_as_the_fast_path():
    with forced_fallback(False):
        _fast_or_skip()
        fast = [_symbolic(_network(i)) for i in range(len(SPECS))]
    with forced_fallback():
        assert construction() is PUBLIC
        public = [_symbolic(_network(i)) for i in range(len(SPECS))]
    assert any(item is not None for item in fast[0])  # the plain layers took the fast route
    for a, b in zip(fast, public):
        _assert_same(a, b)


def test_fallback_layers_with_signs_ties_and_mixed_assumptions():
    x1, x2, x3 = sympy.symbols("x1 x2 x3", real=True)
    y = sympy.Symbol("y")
    tanh, identity = get_activation("tanh"), get_activation("identity")
    cases = [
        (sympy.ImmutableMatrix([[-1, -2, 3]]), sympy.ImmutableMatrix([-1]), [x1, x2, x3]),
        (sympy.ImmutableMatrix([[1, -1]]), None, [x1, x2]),  # a tie: SymPy's own sign rule
        (sympy.ImmutableMatrix([[sympy.Rational(-1, 3), -5]]), None, [x2, x1]),
        (sympy.ImmutableMatrix([[1, 2]]), None, [x1, y]),  # mixed assumptions: not plain
    ]
    for weight, bias, symbols in cases:
        built = []
        for enabled in (False, True):
            with forced_fallback(enabled):
                row = []
                for activation in (tanh, identity):
                    parts = layer_outputs(weight, bias, activation, symbols)
                    row.append(None if parts is None else list(parts))
                    if parts is not None:
                        row.append(layer_matrix(weight, parts))
                built.append(row)
        assert built[0] == built[1]
        assert sympy.srepr(built[0]) == sympy.srepr(built[1])


@pytest.mark.parametrize("version", ["1.15.0", "1.11.1", "banana"])
def test_version_guard_falls_back_on_an_untested_sympy(monkeypatch, version):
    with forced_fallback(False):
        _fast_or_skip()
        fast = _symbolic(_network(1))
    monkeypatch.setattr(sympy, "__version__", version)
    assert "not a tested version" in _sympy_fast.refresh()
    with forced_fallback(False):  # even asked for, the fast path stays off
        assert construction() is PUBLIC
        assert version in fallback_reason()
        _assert_same(fast, _symbolic(_network(1)))


def test_a_failing_fast_primitive_means_the_public_path(monkeypatch):
    with forced_fallback(False):
        _fast_or_skip()
        fast = _symbolic(_network(2))

    def broken(*args):
        raise AttributeError("'Add' object has no attribute '_args'")

    monkeypatch.setattr(FAST, "add2", broken)
    with forced_fallback(False):
        _assert_same(fast, _symbolic(_network(2)))  # the build is redone, publicly
        assert "a fast build failed: AttributeError" in fallback_reason()
        assert construction() is PUBLIC


def test_a_self_check_mismatch_means_the_public_path(monkeypatch):
    monkeypatch.setattr(FAST, "rational", lambda p, q: sympy.Rational(p + 1, q))
    assert _sympy_fast.refresh().startswith("self-check")
    with forced_fallback(False):
        assert construction() is PUBLIC


def test_environment_variable_forces_the_fallback():
    code = (
        "from symjac import _sympy_fast as f\n"
        "assert f.fallback_reason() == 'forced', f.fallback_reason()\n"
        "assert f.construction() is f.PUBLIC\n"
        "with f.forced_fallback(False):\n"
        "    assert f.construction() is f.FAST, f.fallback_reason()\n"
    )
    env = {**os.environ, "SYMJAC_SYMPY_FALLBACK": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_the_installed_sympy_is_tested_and_passes_the_self_check():
    # pyproject.toml pins SymPy to the tested versions: there the fast path must be on
    assert _sympy_fast.version_tested(sympy.__version__)
    assert _sympy_fast.refresh() == ""
