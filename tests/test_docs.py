"""The documentation: every public name is in the API reference, and the site builds cleanly.

The two builds (HTML and the doctests of the pages) are the commands CI runs; each takes
one to three minutes (the notebook is executed), and they are skipped only when Sphinx is not
installed (the ``docs`` extra). The HTML build is made once and also checked for loads from
another host: the site must render without a network.
"""

from __future__ import annotations

import html.parser
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    "symjac.display",
    "symjac.progress",
    "symjac.evaluation",
    "symjac.second_order",
]


# only a missing Sphinx skips: with Sphinx but without the rest of the docs extra the build fails
needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None,
    reason='needs the docs extra: pip install -e ".[docs]"',
)


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
    pages += sorted(p.stem for p in [*DOCS.glob("*.rst"), *DOCS.glob("*.ipynb")])
    missing = [page for page in pages if not re.search(rf"^{re.escape(page)}$", index, re.M)]
    assert not missing, f"pages not in the toctree of docs/index.md: {missing}"


def _build(builder: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
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
    return result, tmp_path / builder


@pytest.fixture(scope="module")
def html_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return _build("html", tmp_path_factory.mktemp("docs"))


@needs_sphinx
@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_docs_build_without_warnings(
    builder: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    result, _ = (
        request.getfixturevalue("html_build") if builder == "html" else _build(builder, tmp_path)
    )
    report = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"sphinx-build -b {builder} failed:\n{report}"
    assert "WARNING" not in result.stderr, report


# -- the built site loads nothing from another host ----------------------------------------

#: <link rel=...> values that name a page to go to, not something the page loads
_NAVIGATION = {"index", "search", "next", "prev", "up", "top", "author", "license", "help",
               "copyright", "canonical", "alternate"}  # fmt: skip
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def _foreign(url: str) -> bool:
    return bool(
        re.match(r"(?i)^([a-z][a-z0-9+.-]*:)?//", url.strip())
    ) or url.strip().lower().startswith(("http:", "https:", "ftp:"))


class _Loads(html.parser.HTMLParser):
    """Every URL an HTML page loads by itself: scripts, styles, fonts, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and not set(a.get("rel", "").lower().split()) <= _NAVIGATION:
            self.urls.append(a.get("href", ""))
        for name in ("src", "data", "poster"):
            if name in a and tag != "a":
                self.urls.append(a[name])
        if "srcset" in a:
            self.urls += [part.split()[0] for part in a["srcset"].split(",") if part.strip()]
        self.urls += [u for pair in _CSS_URL.findall(a.get("style", "")) for u in pair if u]
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += [u for pair in _CSS_URL.findall(data) for u in pair if u]

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


def _foreign_loads(page: str) -> list[str]:
    parser = _Loads()
    parser.feed(page)
    return [url for url in parser.urls if _foreign(url)]


def test_the_load_check_finds_foreign_loads() -> None:
    page = (
        '<script src="https://cdn.example.org/mathjax/tex-chtml.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.org/css">'
        '<link rel="next" href="https://example.org/next.html">'
        '<img src="_images/plot.png"><img srcset="a.png 1x, HTTP://example.org/b.png 2x">'
        "<div style=\"background: url('https://example.org/bg.png')\"></div>"
        "<style>@import 'https://example.org/font.css';</style>"
        '<a href="https://example.org">a link is not a load</a><script src="_static/x.js"></script>'
    )
    assert _foreign_loads(page) == [
        "https://cdn.example.org/mathjax/tex-chtml.js",
        "//fonts.example.org/css",
        "HTTP://example.org/b.png",
        "https://example.org/bg.png",
        "https://example.org/font.css",
    ]


@needs_sphinx
def test_built_pages_load_nothing_from_another_host(html_build: tuple[Any, Path]) -> None:
    result, out = html_build
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 5
    found = [
        f"{p.relative_to(out)}: {url}"
        for p in pages
        for url in _foreign_loads(p.read_text("utf-8"))
    ]
    for sheet in sorted(out.rglob("*.css")):
        text = sheet.read_text("utf-8", errors="replace")
        urls = [u for pair in _CSS_URL.findall(text) for u in pair if u]
        found += [f"{sheet.relative_to(out)}: {url}" for url in urls if _foreign(url)]
    assert not found, "the built site loads from other hosts:\n" + "\n".join(found)
    # the math renderer is shipped with the site, where the pages point
    mathjax = out / "_static" / "mathjax" / "tex-svg.js"
    assert mathjax.is_file(), "MathJax was not copied into _static/mathjax"
    assert 'src="_static/mathjax/tex-svg.js"' in (out / "tutorial.html").read_text("utf-8")


@needs_sphinx
def test_the_notebook_is_executed_and_shows_each_object(html_build: tuple[Any, Path]) -> None:
    result, out = html_build
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    page = (out / "notebook.html").read_text("utf-8")
    # Jacobian, network, layer Jacobians: math; the reports: HTML tables; the scan: its plot
    assert page.count('class="output text_latex math') >= 5
    assert r"J_{\mathrm{x + tanh}} &amp;= I + J_{\mathrm{tanh(fc)}}" in page  # a graph model
    assert r"J_1 = \begin{pmatrix}" in page and r"\quad J_2 = " in page
    assert page.count('<div class="symjac-report">') == 2
    assert ">mismatch</td>" in page and ">ok</td>" in page
    images = re.findall(r'<img[^>]+src="(_images/[^"]+\.png)"', page)
    assert images and all((out / image).is_file() for image in images)
