"""Open the built docs in headless Chromium, offline, and check that the math really rendered.

CI runs this after the HTML build (``.ci/run``); it is not a figure script, so the docs build
skips it (``check_*.py``). For each page it loads ``file://.../page.html`` with every host name
unresolvable (so nothing can come from the network), lets the page's scripts run, dumps the DOM
and requires that

- MathJax typeset every formula: as many ``<mjx-container>`` elements as the page has math
  (``class="math"`` elements), and no MathJax error (``<mjx-merror>``);
- no raw TeX is left in the text outside code (``\\(``, ``\\[``, ``\\begin{``).

Usage::

    python docs/_scripts/check_rendered.py [HTML_DIR] [--pages index tutorial ...]
        [--screenshots DIR]

``--screenshots DIR`` also saves a PNG of each page for a person to look at (not committed).
Chromium is Debian's ``chromium`` package (``apt-get install -y chromium``); set ``CHROMIUM``
to use another binary.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
PAGES = ("index", "tutorial", "api", "notebook")
# without these a headless Chromium on a machine without network can hang at start
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host name resolves
)
RAW_TEX = re.compile(r"\\\(|\\\[|\\begin\{")
MATH = re.compile(r'class="(?:[^"]*\s)?math(?:\s[^"]*)?"')  # Sphinx's math elements


def chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        sys.exit(
            "check_rendered: Chromium not found; install it (apt-get install -y chromium) "
            "or set CHROMIUM to its binary"
        )
    return found


def run(binary: str, args: list[str], profile: str) -> str:
    command = [binary, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        sys.exit(f"check_rendered: Chromium did not finish within 180 s: {' '.join(command)}")
    if result.returncode != 0:
        sys.exit(f"check_rendered: Chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def text_outside_code(dom: str) -> str:
    body = dom.split("<body", 1)[-1]
    for tag in ("script", "style", "pre", "code", "mjx-container", "textarea"):
        body = re.sub(rf"<{tag}\b.*?</{tag}>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def check_page(binary: str, html_dir: Path, page: str, shots: Path | None) -> list[str]:
    path = html_dir / f"{page}.html"
    if not path.is_file():
        return [f"{path} does not exist; build the docs first"]
    source = path.read_text(encoding="utf-8")
    expected = len(MATH.findall(source))
    with tempfile.TemporaryDirectory() as profile:
        dom = run(binary, ["--dump-dom", path.as_uri()], profile)
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            run(binary, [f"--screenshot={shots / (page + '.png')}", "--window-size=1280,2000",
                         path.as_uri()], profile)  # fmt: skip
    rendered = len(re.findall(r"<mjx-container\b", dom))
    problems = []
    if expected == 0:
        problems.append(f"{page}: the page has no math to check")
    if rendered < expected:
        problems.append(f"{page}: {rendered} formulas typeset by MathJax, {expected} on the page")
    if "<mjx-merror" in dom:
        problems.append(f"{page}: MathJax reports a TeX error (mjx-merror)")
    raw = RAW_TEX.findall(text_outside_code(dom))
    if raw:
        problems.append(f"{page}: raw TeX left in the text ({len(raw)}x, e.g. {raw[0]!r})")
    if not problems:
        print(f"{page}.html: {rendered} formulas rendered by MathJax, no raw TeX, offline")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", default=str(DOCS / "_build" / "html"))
    parser.add_argument("--pages", nargs="+", default=list(PAGES))
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args(argv)
    binary = chromium()
    problems = []
    for page in args.pages:
        problems += check_page(binary, Path(args.html_dir).resolve(), page, args.screenshots)
    for problem in problems:
        print(f"check_rendered: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
