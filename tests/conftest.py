"""Shared fixtures: a seeded random generator and torch autograd as the reference Jacobian."""

from __future__ import annotations

import contextlib
import re
import sys
import warnings

import numpy as np
import pytest
import torch

# When a property test fails, Hypothesis imports libcst to write a patch; libcst's
# import warns (DeprecationWarning from mypy_extensions), which filterwarnings=error
# turns into an INTERNALERROR hiding the falsifying example. Import it once, quietly.
with contextlib.suppress(ImportError), warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import libcst.metadata  # noqa: F401


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def autograd_jacobian(fn, points: torch.Tensor) -> torch.Tensor:
    """Per-point Jacobians ``(B, m, n)`` of a batched map ``(B, n) -> (B, m)``.

    Rows of a batch do not interact, so the Jacobian of the batch sum is the
    stack of the per-point Jacobians.
    """
    jac = torch.autograd.functional.jacobian(lambda X: fn(X).sum(0), points, vectorize=True)
    return jac.permute(1, 0, 2)


@pytest.fixture
def torch_jacobian():
    return autograd_jacobian


@pytest.fixture
def import_target(tmp_path, monkeypatch, request):
    """Write Python source as a module importable from the (temporary) current directory.

    ``import_target(text)`` returns the module's name, for ``symjac check NAME:attribute``.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    names: list[str] = []

    def make(text: str) -> str:
        test = re.sub(r"\W", "_", request.node.name)
        name = f"symjac_targets_{test}_{len(names)}"
        (tmp_path / f"{name}.py").write_text(text)
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)
