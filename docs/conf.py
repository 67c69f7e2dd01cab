"""Sphinx configuration for the symjac documentation.

Build (warnings are errors)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

Nothing here reaches the network, and neither does the built site: there is
no intersphinx, and MathJax is copied into ``_static/mathjax`` from the
``sphinx-mathjax-offline`` package (docs/_ext/symjac_docs.py), so pages render
their math offline. Everything derived from the code (the backend table,
command output, the error-scan figure, the executed notebook) is produced while
the docs build, so it cannot go stale.
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
# ... and for the notebook's kernel, a separate process
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import symjac  # noqa: E402

project = "symjac"
author = "symjac developers"
copyright = "symjac developers"
version = release = symjac.__version__

extensions = [
    "myst_nb",  # MyST Markdown (it loads myst_parser) and executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "symjac_docs",  # docs/_ext/symjac_docs.py: backend table, command output, figures, MathJax
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "_scripts", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# -- MyST -----------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- notebooks (myst-nb) ---------------------------------------------------------------------
# docs/notebook.ipynb is stored without outputs and executed by every build; an error in a
# cell, or anything a cell writes to stderr, is a warning (so -W fails the build).
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_output_stderr = "warn"
nb_ipywidgets_js: dict[str, dict[str, str]] = {}  # no widget scripts from a CDN
nb_merge_streams = True
# The kernel gets an IPython profile of its own, not the user's ~/.ipython: a quiet one, since its
# log warns on stderr that its sockets (on this machine only) are not encrypted.
_profile = DOCS / "_generated" / "ipython" / "profile_default"
_profile.mkdir(parents=True, exist_ok=True)
(_profile / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "ERROR"\n')
os.environ["IPYTHONDIR"] = str(_profile.parent)

# -- MathJax, shipped with the site ---------------------------------------------------------
# The files come from the sphinx-mathjax-offline package (MathJax 3); symjac_docs copies them to
# _static/mathjax. SVG output draws every glyph itself: no web fonts, which browsers may refuse
# to load from file:// pages.
mathjax_path = "mathjax/tex-svg.js"

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
