"""The documentation: every public name is in the API reference, and the site builds cleanly.

The two builds (HTML and the doctests of the pages) are the commands CI runs; each takes
15-60 seconds, and they are skipped when the ``docs`` extra (sphinx, furo, myst-parser) is not
installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symjac

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API = DOCS / "api.rst"

#: the public modules, each documented with ``automodule`` in the API reference
PUBLIC_MODULES = [
    "symjac.limits",
    "symjac.examples",
    "symjac.testing",
    "symjac.functions",
    "symjac.activations",
    "symjac.exceptions",
    "symjac.accuracy",
]


def _has_docs_tools() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("sphinx", "myst_parser", "furo"))


@pytest.mark.parametrize("name", symjac.__all__)
def test_every_public_name_is_in_the_api_reference(name: str) -> None:
    source = API.read_text(encoding="utf-8")
    assert re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", source), (
        f"symjac.{name} is in symjac.__all__ but not in docs/api.rst; add it to the reference"
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_is_documented(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    source = API.read_text(encoding="utf-8")
    assert f".. automodule:: {module}\n" in source, f"docs/api.rst has no automodule for {module}"


def test_every_page_is_in_a_toctree() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    pages = sorted(p.stem for p in DOCS.glob("*.md") if p.stem != "index")
    pages += sorted(p.stem for p in DOCS.glob("*.rst"))
    missing = [page for page in pages if not re.search(rf"^{re.escape(page)}$", index, re.M)]
    assert not missing, f"pages not in the toctree of docs/index.md: {missing}"


@pytest.mark.skipif(not _has_docs_tools(), reason='needs the docs extra: pip install -e ".[docs]"')
@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_docs_build_without_warnings(builder: str, tmp_path: Path) -> None:
    # a fresh output and doctree directory: an incremental build would not re-emit warnings
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        builder,
        "-d",
        str(tmp_path / "doctrees"),
        str(DOCS),
        str(tmp_path / builder),
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    report = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"sphinx-build -b {builder} failed:\n{report}"
    assert "WARNING" not in result.stderr, report
