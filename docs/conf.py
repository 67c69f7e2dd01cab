"""Sphinx configuration for the symjac documentation.

Build (warnings are errors)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

Nothing here reaches the network: no intersphinx, MathJax is only referenced
by the generated HTML. Everything derived from the code (the backend table,
command output, the error-scan figure) is produced while the docs build, so it
cannot go stale.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# the package from this checkout, even without `pip install -e .`
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import symjac  # noqa: E402

project = "symjac"
author = "symjac developers"
copyright = "symjac developers"
version = release = symjac.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "symjac_docs",  # docs/_ext/symjac_docs.py: backend table, command output, figures
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "_scripts", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# -- MyST -----------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- autodoc / napoleon ---------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- doctest --------------------------------------------------------------------------------
# Only the explicit {doctest} / {testcode} blocks of the pages run here; the ``>>>`` examples
# inside docstrings are already run by ``pytest --doctest-modules`` in their module's namespace.
doctest_test_doctest_blocks = ""
import doctest  # noqa: E402

doctest_default_flags = (
    doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1
)

# -- HTML -----------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"symjac {release}"
html_static_path: list[str] = []
pygments_style = "sphinx"
