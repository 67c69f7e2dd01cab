"""Progress bars: shown on a terminal, silent otherwise (NOTE: progress-policy), never timed."""

from __future__ import annotations

import argparse
import io
import json
import sys

import numpy as np
import pytest
import torch

import symjac
from symjac import progress
from symjac.cli import main
from symjac.cli.check_cmd import compare_shown
from symjac.comparison import compare


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, and keeps what is written to it."""

    def isatty(self) -> bool:
        return True


class Closed(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """From here on stderr is a terminal, and a bar appears at once (nothing here is timed).

    Called in the test itself: pytest's capture resets sys.stderr after fixtures are set up.
    """
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "DELAY", 0)
    return stream


def test_enabled_only_on_a_terminal() -> None:
    assert progress.enabled(Terminal())
    assert not progress.enabled(io.StringIO())
    assert not progress.enabled(Closed())
    assert not progress.enabled(object())  # no isatty at all


def test_quiet_silences_and_restores() -> None:
    with progress.quiet():
        assert not progress.enabled(Terminal())
        with progress.quiet():
            pass
        assert not progress.enabled(Terminal())
    assert progress.enabled(Terminal())


def test_bar_follows_the_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    with progress.bar(3, "work") as shown:
        assert not shown.disable
        shown.update(3)
    assert "work" in terminal.getvalue() and "0/3" in terminal.getvalue()
    with progress.quiet(), progress.bar(3, "hidden") as shown:
        assert shown.disable
        shown.update(3)
    assert "hidden" not in terminal.getvalue()


def test_bar_is_disabled_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "DELAY", 0)
    with progress.bar(3, "piped") as shown:
        assert shown.disable
        shown.update(3)
    assert stream.getvalue() == ""


def test_scan_shows_progress_on_a_terminal_and_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = on_terminal(monkeypatch)
    xs = np.linspace(-2, 2, 70)  # more than one chunk of points
    shown = symjac.scan(symjac.examples.small_mlp(seed=0), xs, methods=["jacrev"])
    assert "symjac.scan" in terminal.getvalue() and "0/140" in terminal.getvalue()
    with progress.quiet():
        silent = symjac.scan(symjac.examples.small_mlp(seed=0), xs, methods=["jacrev"])
    for dtype in ("float32", "float64"):
        a, b = shown.series("jacrev", dtype), silent.series("jacrev", dtype)
        assert np.array_equal(a.max_ulps, b.max_ulps) and np.array_equal(a.ok, b.ok)


def test_scan_of_a_map_in_chunks_matches_point_by_point() -> None:
    vm = symjac.VectorMap(["x1**2 + sin(x2)", "x1*x2"], ["x1", "x2"])
    points = np.random.default_rng(0).uniform(-2, 2, size=(130, 2))  # three chunks
    whole = symjac.scan(vm, points, methods=["jacrev"]).series("jacrev", "float32")
    parts = [symjac.scan(vm, points[k : k + 1], methods=["jacrev"]) for k in (0, 64, 129)]
    for k, part in zip((0, 64, 129), parts):
        assert part.series("jacrev", "float32").max_ulps[0] == whole.max_ulps[k]


def _check(*extra: str) -> int:
    return main(["check", "symjac.examples:small_mlp", "--input", "0.5", *extra])


def test_check_shows_progress_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    assert _check() == 0
    assert "symjac check" in terminal.getvalue() and "0/2" in terminal.getvalue()
    shown = capsys.readouterr().out
    with progress.quiet():
        assert _check() == 0
    assert capsys.readouterr().out == shown  # the bar changes nothing on stdout


def test_check_json_is_silent_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = on_terminal(monkeypatch)
    assert _check("--json") == 0
    assert terminal.getvalue() == ""
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_check_in_steps_gives_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    # a float64 model: casting to float32 rounds the weights, so each dtype adds its own notes
    torch.manual_seed(1)
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)
    ).double()
    for weight in module.parameters():
        torch.nn.init.normal_(weight)  # drawn in float64: not float32 numbers
    args = argparse.Namespace(json=False, allow_skipped=False)
    dtypes = ("float32", "float64")
    in_steps = compare_shown(compare, module, [0.5, -1.0], dtypes, None, args)
    assert "symjac check" in terminal.getvalue()
    with progress.quiet():
        at_once = compare_shown(compare, module, [0.5, -1.0], dtypes, None, args)
    assert any("casting the model changed its weights" in note for note in at_once.notes)
    assert in_steps.to_dict() == at_once.to_dict()
    assert str(in_steps) == str(at_once)
