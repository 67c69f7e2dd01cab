"""Sphinx helpers for the symjac docs: content derived from the code at build time.

``{backend-table}``
    The table of :data:`symjac.functions.BACKEND_FUNCTIONS` (with the parser
    names from :data:`symjac.functions.PARSER_FUNCTIONS`), rendered from the
    dictionaries themselves so it cannot go stale.

``{command-output}``
    Runs a ``symjac ...`` command line while the docs build and shows the
    command with its real output. ``:returncode:`` gives the expected exit
    status (default 0); any other status is a build warning, so ``-W`` fails.

On ``builder-inited`` the figure scripts in ``docs/_scripts`` are run, writing
their images to ``docs/_generated`` (``check_*.py`` there are checks of the built
site, run by CI after the build, not figures). On ``build-finished`` MathJax is
copied into the HTML output's ``_static/mathjax`` from the sphinx-mathjax-offline
package, so the site renders math without a network (``mathjax_path`` in conf.py
names the file).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent


def _name(function: Any) -> str:
    return getattr(function, "__name__", str(function))


def _literal_entry(text: str) -> nodes.entry:
    entry = nodes.entry()
    para = nodes.paragraph()
    if text:
        para += nodes.literal(text, text)
    entry += para
    return entry


def _text_entry(text: str) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph(text, text)
    return entry


def _table(header: list[str], rows: list[list[nodes.entry]], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["symjac-generated"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    row = nodes.row()
    for title in header:
        row += _text_entry(title)
    head += row
    group += head
    body = nodes.tbody()
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += cell
        body += row
    group += body
    return table


class BackendTable(SphinxDirective):
    """Render ``BACKEND_FUNCTIONS`` (and the parser names of each function)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from symjac.functions import BACKEND_FUNCTIONS, BACKENDS, PARSER_FUNCTIONS

        self.env.note_dependency(str(ROOT / "symjac" / "functions.py"))
        spelled: dict[Any, list[str]] = {}
        for text, (constructor, arity) in PARSER_FUNCTIONS.items():
            args = "x, y, ..." if arity is None else ", ".join(["x", "y"][: arity or 1])
            spelled.setdefault(constructor, []).append(f"{text}({args})")
        rows = []
        for function, row in BACKEND_FUNCTIONS.items():
            module = getattr(function, "__module__", "")
            qualified = (
                _name(function) if module.startswith("symjac") else f"sympy.{_name(function)}"
            )
            parser = ", ".join(spelled.get(function, [])) or "(conditions only)"
            rows.append(
                [_literal_entry(qualified), _text_entry(parser)]
                + [_literal_entry(getattr(row, backend)) for backend in BACKENDS]
            )
        header = ["SymPy function", "parser spelling", *BACKENDS]
        return [_table(header, rows, [18, 26, 18, 18, 18])]


class PrimitiveTable(SphinxDirective):
    """Render the graph core's primitive, elementwise and composite tables (``:kind:``)."""

    has_content = False
    option_spec = {"kind": str}  # noqa: RUF012 (Sphinx's interface)

    def run(self) -> list[nodes.Node]:
        from symjac.activations import get_activation
        from symjac.graph.primitives import COMPOSITES, ELEMENTWISE, PRIMITIVES

        self.env.note_dependency(str(ROOT / "symjac" / "graph" / "primitives.py"))
        kind = self.options.get("kind", "primitives")
        if kind == "elementwise":
            rows = []
            for name, reading in ELEMENTWISE.items():
                spellings = [*reading.functions, *(f".{m}()" for m in reading.methods)]
                if reading.module:
                    spellings.insert(0, f"nn.{reading.module}")
                rows.append([_literal_entry(name), _literal_entry(str(get_activation(name).expr)),
                             _text_entry(", ".join(spellings) or "(no torch spelling)")])  # fmt: skip
            return [_table(["function", "s(z), exact", "torch spellings"], rows, [16, 40, 44])]
        if kind == "composites":
            rows = [[_literal_entry(name), _text_entry(", ".join(c.torch)), _literal_entry(c.computes)]
                    for name, c in COMPOSITES.items()]  # fmt: skip
            return [_table(["composite", "torch", "computes (LaTeX)"], rows, [16, 34, 50])]
        rows = [[_literal_entry(p.name), _literal_entry(p.computes), _literal_entry(p.jacobian),
                 _text_entry(", ".join(p.torch))] for p in PRIMITIVES.values()]  # fmt: skip
        return [_table(["primitive", "computes", "local Jacobian", "torch"], rows,
                       [12, 22, 30, 36])]  # fmt: skip


class ToleranceTable(SphinxDirective):
    """Render ``symjac.accuracy.TOLERANCES`` with each format's epsilon."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from symjac.accuracy import FORMATS, TOLERANCES

        self.env.note_dependency(str(ROOT / "symjac" / "accuracy.py"))
        rows = []
        for name, tol in TOLERANCES.items():
            fmt = FORMATS[name]
            rows.append(
                [
                    _literal_entry(name),
                    _text_entry(str(fmt.precision)),
                    _text_entry(f"{fmt.eps:.3g}"),
                    _text_entry(f"{tol.rtol:g}"),
                    _text_entry(f"about {tol.rtol / fmt.eps:.3g}"),
                    _text_entry(f"{tol.ulps:g}"),
                ]
            )
        header = ["dtype", "precision (bits)", "eps", "rtol", "rtol / eps", "ulps"]
        return [_table(header, rows, [14, 14, 14, 14, 16, 10])]


def _run(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``symjac ...`` or ``pytest ...`` with this checkout's package: (status, output)."""
    env = dict(os.environ, COLUMNS="100", PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    if argv[0] == "symjac":
        code = "import sys; from symjac.cli import main; sys.exit(main(sys.argv[1:]))"
        command = [sys.executable, "-c", code, *argv[1:]]
    else:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv[1:]]
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return result.returncode, (result.stdout + result.stderr).rstrip()


def _cached_run(argv: list[str], cwd: Path) -> tuple[int, str]:
    """``_run``, remembered in docs/_generated/commands until the code or the inputs change."""
    digest = hashlib.sha256(json.dumps([argv, str(cwd.relative_to(ROOT))]).encode())
    for path in sorted([*(ROOT / "symjac").glob("*.py"), *cwd.glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    cache = DOCS / "_generated" / "commands" / f"{digest.hexdigest()[:24]}.json"
    if cache.exists():
        data = json.loads(cache.read_text(encoding="utf-8"))
        return data["returncode"], data["output"]
    status, output = _run(argv, cwd)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"returncode": status, "output": output}), encoding="utf-8")
    return status, output


_TIMING = re.compile(r" in \d+\.\d+s( \(\d+:\d+:\d+\))?")


class CommandOutput(SphinxDirective):
    """``{command-output} symjac jacobian ...``: the command and its real output.

    ``symjac`` commands run this checkout's CLI; ``pytest`` commands run pytest with
    this checkout's package (and its pytest plugin). ``:cwd:`` is relative to the
    repository root; ``:returncode:`` is the expected exit status.
    """

    has_content = False
    required_arguments = 1
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Any]] = {
        "returncode": directives.nonnegative_int,
        "cwd": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        line = self.arguments[0].strip()
        argv = shlex.split(line)
        if not argv or argv[0] not in ("symjac", "pytest"):
            raise self.error(f"command-output runs symjac and pytest commands only, got {line!r}")
        cwd = (ROOT / self.options.get("cwd", "")).resolve()
        for path in [*(ROOT / "symjac").glob("*.py"), *cwd.glob("*.py")]:
            self.env.note_dependency(str(path))
        status, output = _cached_run(argv, cwd)
        expected = self.options.get("returncode", 0)
        if status != expected:
            logger.warning(
                "command %r exited with %d (expected %d):\n%s",
                line,
                status,
                expected,
                output,
                location=self.get_location(),
            )
        if argv[0] == "pytest":
            output = _TIMING.sub(" in ...s", output)
        text = f"$ {line}\n{output}"
        if expected:
            text += f"\n$ echo $?\n{status}"
        block = nodes.literal_block(text, text, language="console")
        self.set_source_info(block)
        return [block]


_SECTION_TITLES = {"Parameters", "Other Parameters", "Returns", "Yields", "Raises", "Attributes"}


def _examples_header(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Give a doctest that follows a numpydoc section its own ``Examples`` header.

    Without the header napoleon reads the ``>>>`` lines after a ``Parameters``
    section as more parameters. Runs before napoleon; a no-op for docstrings
    that already have the header or no such section.
    """
    in_section = False
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() in _SECTION_TITLES | {"Examples", "Notes", "See Also"} and set(
            nxt.strip()
        ) == {"-"}:
            in_section = line.strip() in _SECTION_TITLES
        elif in_section and line.startswith(">>>"):
            lines[i:i] = ["Examples", "--------", ""]
            return


def _make_figures(app: Any) -> None:
    """Run each figure script whose output is missing or older than the code it draws."""
    if app.builder.format != "html":
        return
    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    sources = [*(ROOT / "symjac").glob("*.py")]
    newest_code = max((p.stat().st_mtime for p in sources), default=0.0)
    for script in sorted((DOCS / "_scripts").glob("*.py")):
        if script.name.startswith("check_"):
            continue
        image = out / (script.stem.replace("_", "-") + ".png")
        if image.exists() and image.stat().st_mtime > max(newest_code, script.stat().st_mtime):
            continue
        logger.info("symjac docs: running %s", script.name)
        runpy.run_path(str(script), run_name="symjac_docs_figure")["main"]()


#: what the site needs of MathJax 3: the TeX-to-SVG component, the TeX extensions it loads on
#: demand, and the accessibility and menu parts its context menu loads (not the other
#: combined components, the CHTML fonts or the node.js entry point)
_MATHJAX_PARTS = ("tex-svg.js", "input", "output/svg", "a11y", "sre", "ui", "adaptors")


def _mathjax_source() -> Path | None:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def _copy_mathjax(app: Any, exception: Exception | None) -> None:
    """Ship MathJax with the HTML output (``_static/mathjax``), so math renders offline."""
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_source()
    if source is None or not (source / app.config.mathjax_path.split("/")[-1]).is_file():
        logger.warning(
            "MathJax is not installed, so the built pages cannot render math offline; install "
            'the docs extra: pip install -e ".[docs]" (it brings sphinx-mathjax-offline)'
        )
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("backend-table", BackendTable)
    app.add_directive("command-output", CommandOutput)
    app.add_directive("tolerance-table", ToleranceTable)
    app.add_directive("primitive-table", PrimitiveTable)
    app.connect("builder-inited", _make_figures)
    app.connect("build-finished", _copy_mathjax)
    # before sphinx.ext.napoleon (priority 500) parses the sections
    app.connect("autodoc-process-docstring", _examples_header, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
