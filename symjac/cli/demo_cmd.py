"""``symjac demo``: the walkthrough symjac grew from, retold with exact values.

The work is :mod:`symjac.demo`'s (it needs NumPy and torch), imported only when
the command runs (NOTE: cli-torch-free in :mod:`symjac.cli`).

>>> from symjac.cli.parser import build_parser
>>> from symjac.cli.text import Style
>>> code, doc, lines = cmd_demo(build_parser().parse_args(["demo"]), Style(False))
>>> code, doc["command"]
(0, 'demo')
"""

from __future__ import annotations

import argparse
from typing import Any

from symjac.cli.text import Style


def cmd_demo(args: argparse.Namespace, style: Style) -> tuple[int, dict[str, Any], list[str]]:
    """``symjac demo``: the walkthrough, step by step, with exact answers (:mod:`symjac.demo`).

    Returns the exit code, the JSON document and the text lines, like every command (the
    module's example runs it).
    """
    from symjac import demo

    return demo.run(args, style)
