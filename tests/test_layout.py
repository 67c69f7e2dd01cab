"""The package's layout rules (NOTE-free, checked from the source): one room per concept.

* no module over 800 lines, no function over 100;
* no module imports another module's private (underscore) name;
* ``torch`` is imported at module level only under ``symjac/torch_interop`` (the torch boundary);
* private SymPy API only in ``symjac/_sympy_fast.py`` (NOTE: sympy-fallback there).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "symjac"
MODULES = sorted(PACKAGE.rglob("*.py"))
#: private modules whose whole purpose is to be imported by their one user
PRIVATE_MODULES = {"_sympy_fast", "_native"}
#: private SymPy hooks that only symjac/_sympy_fast.py may touch
SYMPY_PRIVATE = re.compile(
    r"\._from_args\b|\b_addsort\b|\._assumptions\b|\bfrom_rep\b|_new_rawargs|\._prec\b"
)


def _rel(path: pathlib.Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_modules_and_functions_are_small(path: pathlib.Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 800, f"{_rel(path)} has {len(text.splitlines())} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= 100, f"{_rel(path)}:{node.lineno} {node.name} has {length} lines"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_private_name_crosses_a_module(path: pathlib.Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symjac"):
            for alias in node.names:
                private = alias.name.startswith("_") and alias.name not in PRIVATE_MODULES
                assert not private, f"{_rel(path)}:{node.lineno} imports {node.module}.{alias.name}"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_torch_only_at_the_boundary(path: pathlib.Path) -> None:
    if "torch_interop" in path.parts:
        return
    for node in ast.parse(path.read_text()).body:  # module level only
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        assert not any(n == "torch" or n.startswith("torch.") for n in names), (
            f"{_rel(path)}:{node.lineno} imports torch at module level; only "
            "symjac/torch_interop may (import it inside the function that needs it)"
        )


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_private_sympy_api_in_one_module(path: pathlib.Path) -> None:
    if path.name == "_sympy_fast.py":
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        assert not SYMPY_PRIVATE.search(code), f"{_rel(path)}:{number}: {line.strip()}"
