"""The ``symjac`` command line: output text, JSON, exit codes and error lines.

Most tests call :func:`symjac.cli.main` in-process (capsys); a few run the real
``python -m symjac`` / ``symjac`` processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import symjac
from symjac import cli
from symjac.cli import main
from symjac.torch_interop.files import examples_model

ANSI = re.compile(r"\x1b\[")
PY_M = [sys.executable, "-m", "symjac"]
EXACT_DP_DX = "-0.060868281791541203137719915388527812914798663294419"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symjac: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, err)


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.update(extra)
    root = str(Path(symjac.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def demo_text() -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["demo"]) == 0
    return buffer.getvalue()


@pytest.fixture(scope="module")
def demo_json() -> dict:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["demo", "--json"]) == 0
    return json.loads(buffer.getvalue())


# -- top level ------------------------------------------------------------------------------


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"symjac {symjac.__version__}"


# demo lists only its own exit codes (tests/test_demo.py)
@pytest.mark.parametrize("command", [[], ["jacobian"], ["mlp"], ["check"]])
def test_help_for_every_command(capsys, command):
    code, out, err = run(capsys, *command, "--help")
    assert code == 0 and not err
    assert "example" in out
    assert "exit codes:" in out
    for code_line in ("0  success", "1  check: the model disagrees", "2  usage", "3  a limit"):
        assert code_line in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_no_command_is_a_usage_error(capsys):
    code, out, err = run(capsys)
    assert code == 2 and not out
    assert_one_line_error(err, "no command", "demo, jacobian, mlp, check")


def test_output_closed_early_is_not_an_error():
    proc = subprocess.run(
        f"'{sys.executable}' -m symjac mlp --sizes 1,8,8,1 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert proc.stdout.startswith("[1, 8, 8, 1] network")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_unknown_option_is_one_line(capsys):
    code, out, err = run(capsys, "jacobian", "x", "--wrt", "x", "--frobnicate")
    assert code == 2 and not out
    assert_one_line_error(err, "--frobnicate", "symjac jacobian --help")


# -- jacobian -------------------------------------------------------------------------------


def test_jacobian_text_seed_example(capsys):
    code, out, err = run(
        capsys, "jacobian", "x1**2 + x2", "x1 + x2**2", "--wrt", "x1", "x2", "--at", "x1=1", "x2=2"
    )
    assert code == 0 and not err
    assert "f(x1, x2) = (x1**2 + x2, x1 + x2**2)" in out
    assert "[2*x1     1]\n  [   1  2*x2]" in out
    assert "[2  1]\n  [1  4]" in out


def test_jacobian_scalar_lists_partials(capsys):
    code, out, _ = run(capsys, "jacobian", "x1**2 + 3*x1*x2 + x2**2", "--wrt", "x1,x2")
    assert code == 0
    assert "df/dx1 = 2*x1 + 3*x2" in out
    assert "df/dx2 = 3*x1 + 2*x2" in out


def test_jacobian_exact_value_digits(capsys):
    code, out, _ = run(capsys, "jacobian", "sin(x)*exp(y)", "--wrt", "x", "y", "--at", "x=1", "y=0")
    assert code == 0
    assert "df/dx = cos(1) ~ 0.540302305868140" in out
    assert "df/dy = sin(1) ~ 0.841470984807897" in out


def test_jacobian_json(capsys):
    code, out, err = run(
        capsys,
        "jacobian",
        "x1**2 + x2",
        "x1 + x2**2",
        "--wrt",
        "x1",
        "x2",
        "--at",
        "x1=1/2",
        "x2=pi",
        "--json",
    )
    assert code == 0 and not err
    doc = json.loads(out)
    assert doc["command"] == "jacobian"
    assert doc["function"]["inputs"] == ["x1", "x2"]
    assert doc["jacobian"]["shape"] == [2, 2]
    assert doc["jacobian"]["exact"] == [["2*x1", "1"], ["1", "2*x2"]]
    assert doc["point"] == {"x1": "1/2", "x2": "pi"}
    assert doc["value"]["exact"] == [["1", "1"], ["1", "2*pi"]]
    assert doc["value"]["numeric"][1][1] == pytest.approx(2 * 3.141592653589793, rel=1e-15)
    assert all(isinstance(v, float) for row in doc["value"]["numeric"] for v in row)


def test_jacobian_latex(capsys):
    code, out, _ = run(
        capsys, "jacobian", "x1**2 + x2", "x1 + x2**2", "--wrt", "x1", "x2", "--latex"
    )
    assert code == 0
    assert r"\begin{pmatrix} 2 x_{1} & 1 \\ 1 & 2 x_{2} \end{pmatrix}" in out


def test_jacobian_unused_variable_warns_on_stderr(capsys):
    code, out, err = run(capsys, "jacobian", "x**2", "--wrt", "x", "y")
    assert code == 0
    assert err.startswith("symjac: warning: variable(s) y do not appear")
    assert "df/dx = 2*x\ndf/dy = 0" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["jacobian", "x+", "--wrt", "x"], ["incomplete expression"]),
        (["jacobian", "x + y", "--wrt", "x"], ["unknown name 'y'", "--wrt"]),
        (["jacobian", "x", "--wrt", "x", "--at", "y=1"], ["'y'", "not a variable"]),
        (["jacobian", "x*y", "--wrt", "x", "y", "--at", "x=1"], ["no value for y"]),
        (["jacobian", "x", "--wrt", "x", "--at", "x"], ["VAR=VALUE"]),
        (["jacobian", "x", "--wrt", "x", "--at", "x=sqrt(-1)"], ["--at x", "complex"]),
        (["jacobian", "x"], ["--wrt"]),
        (["jacobian", "x", "--wrt", "1x"], ["1x"]),
    ],
)
def test_jacobian_usage_errors(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    assert_one_line_error(err, *words)


def test_jacobian_limit_exit_code(capsys):
    code, _, err = run(capsys, "jacobian", "9**9**9 * x", "--wrt", "x")
    assert code == 3
    assert_one_line_error(err, "limit")


@pytest.mark.parametrize(
    "template",
    [
        "__import__('os').system('touch {path}')",
        "x.__class__.__base__.__subclasses__()",
        "(lambda: __import__('os').system('touch {path}'))()",
        "open('{path}', 'w')",
        "exec(\"open('{path}', 'w')\")",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "x; import os; os.system('touch {path}')",
    ],
)
def test_jacobian_hostile_expressions(capsys, tmp_path, template):
    target = tmp_path / "pwned"
    code, out, err = run(capsys, "jacobian", template.format(path=target), "--wrt", "x")
    assert code == 2 and not out
    assert_one_line_error(err)
    assert not target.exists()


def test_debug_shows_traceback(capsys):
    code, _, err = run(capsys, "--debug", "jacobian", "x+", "--wrt", "x")
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("symjac: error: ")
    code, _, err = run(capsys, "jacobian", "x+", "--wrt", "x", "--debug")
    assert code == 2 and "Traceback" in err


def test_internal_error_is_one_line(capsys, monkeypatch):
    def broken(args, style):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(cli.COMMANDS, "jacobian", broken)
    code, _, err = run(capsys, "jacobian", "x", "--wrt", "x")
    assert code == 4
    assert_one_line_error(err, "internal error", "RuntimeError: boom", "--debug")


def test_jacobian_does_not_import_torch():
    script = (
        "import sys; from symjac.cli import main; "
        "code = main(['jacobian', 'x1**2 + x2', 'x1 + x2**2', '--wrt', 'x1', 'x2', "
        "'--at', 'x1=1', 'x2=2', '--json']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"]["exact"] == [["2", "1"], ["1", "4"]]


def test_subprocess_hostile_expression(tmp_path):
    target = tmp_path / "pwned"
    proc = subprocess.run(
        [*PY_M, "jacobian", f"__import__('os').system('touch {target}')", "--wrt", "x"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr)
    assert not target.exists()


@pytest.mark.skipif(shutil.which("symjac") is None, reason="console script not installed")
def test_console_script_version_and_jacobian():
    proc = subprocess.run(["symjac", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"symjac {symjac.__version__}"
    proc = subprocess.run(
        ["symjac", "jacobian", "x**3", "--wrt", "x", "--at", "x=2"],
        capture_output=True,
        text=True,
        env=subprocess_env(NO_COLOR="1"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "df/dx = 3*x**2" in proc.stdout
    assert "at x = 2:\n  df/dx = 12" in proc.stdout


# -- colour -----------------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_tty_and_never_with_no_color(monkeypatch):
    argv = ["jacobian", "x1**2 + x2", "x1 + x2**2", "--wrt", "x1", "x2"]
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    assert main(argv) == 0
    assert ANSI.search(tty.getvalue())

    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    assert main(argv) == 0
    assert not ANSI.search(tty.getvalue())

    monkeypatch.delenv("NO_COLOR")
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stdout", plain)
    assert main(argv) == 0
    assert not ANSI.search(plain.getvalue())


def test_subprocess_no_tty_no_color():
    for env in (subprocess_env(), subprocess_env(NO_COLOR="1")):
        proc = subprocess.run(
            [sys.executable, "-m", "symjac", "mlp", "--sizes", "1,2,1"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        assert not ANSI.search(proc.stdout + proc.stderr)


# -- demo -------------------------------------------------------------------------------------


def test_demo_reproduces_the_walkthrough(demo_text):
    text = demo_text
    # the walkthrough's own print-out (torch 2.13 CPU reproduces it)
    for piece in [
        "J1 (d a / d x) shape: torch.Size([2, 1])",
        "tensor([[-0.0040],",
        "[ 0.5156]])",
        "J2 (d b / d a) shape: torch.Size([2, 2])",
        "tensor([[-0.2704,  0.1882],",
        "[-0.0139,  0.5565]])",
        "J3 (d p / d b) shape: torch.Size([2])",
        "tensor([-0.2137, -0.1390])",
        "dp/dx (from whole network): tensor([-0.0609])",
        "dp/dx from J3*J2*J1: tensor([-0.0609])",
        "difference: 0.0",
        "dp/dx (from autograd backward): -0.06086828",
        "-0.060868293046951294",  # the walkthrough's printed backward value, explained
    ]:
        assert piece in text, piece
    # the polynomial examples
    assert "df/dx = 2*x" in text
    assert "df/dx1 = 2*x1 + 3*x2" in text
    assert "[2*x1     1]" in text
    # what the walkthrough could not show
    assert f"exact dp/dx = {EXACT_DP_DX}" in text
    for method in ("jacobian(whole, x0)", "J3 @ J2 @ J1", "p.backward()", "symjac compiled"):
        assert method in text
    assert "ULPs" in text and "Lesson" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not ANSI.search(text)


def test_demo_json(demo_json):
    doc = demo_json
    assert doc["command"] == "demo" and doc["seed"] == 0 and doc["x"] == 1.0
    assert [e["name"] for e in doc["examples"]] == ["square", "quadratic", "planar"]
    assert doc["examples"][2]["jacobian"]["exact"] == [["2*x1", "1"], ["1", "2*x2"]]
    torch_values = doc["torch"]
    assert torch_values["J1"] == [
        [pytest.approx(-0.0040, abs=5e-5)],
        [pytest.approx(0.5156, abs=5e-5)],
    ]
    assert torch_values["J2"] == [
        [pytest.approx(-0.2704, abs=5e-5), pytest.approx(0.1882, abs=5e-5)],
        [pytest.approx(-0.0139, abs=5e-5), pytest.approx(0.5565, abs=5e-5)],
    ]
    assert torch_values["J3"] == [
        pytest.approx(-0.2137, abs=5e-5),
        pytest.approx(-0.1390, abs=5e-5),
    ]
    assert torch_values["difference"] == 0.0
    assert torch_values["backward_difference"] == 0.0
    assert doc["exact"]["dp_dx"].startswith(EXACT_DP_DX)
    assert doc["network"]["chain_equals_whole"] is True
    assert len(doc["network"]["stages"]) == 3
    assert doc["network"]["layer_values"][0]["exact"][1][0].startswith("0.51564791806549863643")
    methods = [row["method"] for row in doc["errors"]]
    assert len(methods) == 4
    for row in doc["errors"]:
        assert isinstance(row["value"], float)
        assert row["value"] == pytest.approx(-0.0608682818, abs=1e-8)
        assert 0 <= row["ulps"] < 4
    assert doc["walkthrough_backward"]["ulps"] == pytest.approx(3.02, abs=0.01)


def test_demo_latex_and_other_point(capsys):
    code, out, _ = run(capsys, "demo", "--latex", "--x", "0.1", "--seed", "1")
    assert code == 0
    assert r"J_f = \begin{pmatrix}" in out
    assert r"\frac{\partial p}{\partial x} = J_3 J_2 J_1" in out
    assert "in float32" in out  # 0.1 is not a float32 number: the demo says so
    assert "-0.060868293046951294" not in out  # the walkthrough's value: manual_seed(0), x = 1


def test_demo_bad_x(capsys):
    code, _, err = run(capsys, "demo", "--x", "nan")
    assert code == 2
    assert_one_line_error(err, "--x")
    code, _, err = run(capsys, "demo", "--x", "one")
    assert code == 2
    assert_one_line_error(err, "--x")


def test_demo_keeps_the_global_rng():
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    with contextlib.redirect_stdout(io.StringIO()):
        examples_model(0)
    assert torch.equal(torch.rand(3), expected)


# -- mlp --------------------------------------------------------------------------------------


def test_mlp_symbolic(capsys):
    code, out, err = run(capsys, "mlp", "--sizes", "1,2,2,1", "--at", "1.0")
    assert code == 0 and not err
    assert "a1 = tanh(B1_1 + W1_11*x)" in out
    assert "J1 = d(a1, a2)/dx   (2 x 1)" in out
    assert "[W3_11  W3_12]" in out
    assert "chain rule: dp/dx = J3 J2 J1" in out
    assert "chain product vs whole map: identical" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_mlp_seed_json_matches_the_seed_network(capsys):
    code, out, _ = run(capsys, "mlp", "--sizes", "1,2,2,1", "--seed", "0", "--at", "1.0", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["sizes"] == [1, 2, 2, 1] and doc["seed"] == 0
    assert [s["name"] for s in doc["stages"]] == ["a", "b", "p"]
    assert doc["stages"][1]["jacobian"]["shape"] == [2, 2]
    at = doc["at"]
    assert at["chain_equals_whole"] is True
    # nn.Sequential after manual_seed(0) holds the same weights as the seed's SmallMLP
    assert at["chain"]["numeric"][0][0] == pytest.approx(-0.06086828179154120, rel=1e-14)
    assert at["whole"]["numeric"] == at["chain"]["numeric"]
    assert at["layers"][0]["numeric"][1][0] == pytest.approx(0.5156479180654986, rel=1e-14)


def test_mlp_size_limit_is_exit_3(capsys):
    code, out, err = run(capsys, "mlp", "--sizes", "1,16,16,1")
    assert code == 3 and not out
    assert_one_line_error(err, "288 weights", "at most 128", "symjac check")


def test_mlp_seed_values_without_direct_check(capsys):
    code, out, _ = run(
        capsys, "mlp", "--sizes", "2,12,2", "--seed", "1", "--at", "0.5,-0.5", "--json"
    )
    assert code == 0
    at = json.loads(out)["at"]
    assert at["chain_equals_whole"] is None
    assert len(at["chain"]["exact"]) == 2 and len(at["chain"]["exact"][0]) == 2
    assert isinstance(at["chain"]["numeric"][0][0], float)


def test_mlp_latex(capsys):
    code, out, _ = run(capsys, "mlp", "--sizes", "2,1", "--activation", "sigmoid", "--latex")
    assert code == 0
    assert r"\begin{pmatrix}" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["mlp", "--sizes", "1"], ["--sizes", "at least two"]),
        (["mlp", "--sizes", "1,a,1"], ["--sizes"]),
        (["mlp", "--sizes", "1,2,1", "--activation", "swish"], ["swish", "tanh"]),
        (["mlp", "--sizes", "1,2,1", "--symbolic", "--seed", "0"], ["not allowed with"]),
        (["mlp", "--sizes", "1,2,1", "--at", "1,2"], ["1 input"]),
    ],
)
def test_mlp_usage_errors(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    assert_one_line_error(err, *words)


# -- check ------------------------------------------------------------------------------------

TARGETS = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))

    def saturated():
        lin = nn.Linear(1, 1)
        with torch.no_grad():
            lin.weight.fill_(1.0)
            lin.bias.zero_()
        return nn.Sequential(lin, nn.Tanh())

    model = build()
    not_a_model = 42
    """
)


@pytest.fixture
def target_dir(import_target):
    return import_target(TARGETS)


def test_check_agreeing_module(capsys, target_dir):
    code, out, err = run(capsys, "check", f"{target_dir}:build", "--input", "0.5")
    assert code == 0, err
    assert "OK:" in out and "agrees" in out
    code, out, _ = run(capsys, "check", f"{target_dir}:model", "--dtypes", "float64", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["dtypes"] == ["float64"]
    assert doc["input"] == [1.0]
    assert all(row["verdict"] == "ok" for row in doc["rows"])


def test_check_saturated_tanh_disagrees(capsys, target_dir):
    argv = ["check", f"{target_dir}:saturated", "--input", "10", "--dtypes", "float32"]
    code, out, _ = run(capsys, *argv)
    assert code == 1
    assert "mismatch" in out and "DISAGREES" in out
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert "mismatch" in {row["verdict"] for row in doc["rows"]}


@pytest.mark.parametrize(
    "suffix, words",
    [
        (":nothing", ["has no attribute 'nothing'"]),
        (":not_a_model", ["int", "not a torch.nn.Module"]),
    ],
)
def test_check_bad_targets(capsys, target_dir, suffix, words):
    code, out, err = run(capsys, "check", target_dir + suffix)
    assert code == 2 and not out
    assert_one_line_error(err, *words)


def test_check_missing_module_and_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    code, _, err = run(capsys, "check", "no_such_module_xyz:build")
    assert code == 2
    assert_one_line_error(err, "cannot import 'no_such_module_xyz'")
    code, _, err = run(capsys, "check", "missing.pt")
    assert code == 2
    assert_one_line_error(err, "no such file 'missing.pt'")


def test_check_bad_options(capsys, target_dir):
    code, _, err = run(capsys, "check", f"{target_dir}:build", "--dtypes", "float8")
    assert code == 2
    assert_one_line_error(err, "--dtypes", "float32")
    code, _, err = run(capsys, "check", f"{target_dir}:build", "--input", "1,2")
    assert code == 2
    assert_one_line_error(err, "1 input")


def seed_module() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))


def test_check_state_dict_file(capsys, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(seed_module().state_dict(), path)
    code, out, err = run(
        capsys, "check", str(path), "--sizes", "1,2,2,1", "--input", "1.0", "--dtypes", "float32"
    )
    assert code == 0, err
    assert "agrees" in out
    # a state_dict with named layers (the seed's SmallMLP) loads by order
    named = tmp_path / "small_mlp.pt"
    torch.save(symjac.examples.small_mlp(0).state_dict(), named)
    code, out, _ = run(capsys, "check", str(named), "--sizes", "1,2,2,1", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_check_state_dict_needs_sizes(capsys, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(seed_module().state_dict(), path)
    code, _, err = run(capsys, "check", str(path))
    assert code == 2
    assert_one_line_error(err, "state_dict", "--sizes")
    code, _, err = run(capsys, "check", str(path), "--sizes", "1,3,1")
    assert code == 2
    assert_one_line_error(err, "shapes", "(2, 1)", "--sizes 1,3,1")


def test_check_loads_with_weights_only(capsys, tmp_path, monkeypatch):
    path = tmp_path / "weights.pt"
    torch.save(seed_module().state_dict(), path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    code, _, _ = run(capsys, "check", str(path), "--sizes", "1,2,2,1", "--dtypes", "float64")
    assert code == 0
    assert calls and calls[0]["weights_only"] is True


def test_check_refuses_pickled_module(capsys, tmp_path, monkeypatch):
    path = tmp_path / "whole.pt"
    torch.save(seed_module(), path)
    # an environment variable must not turn weights_only off behind our back
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    code, out, err = run(capsys, "check", str(path))
    assert code == 2 and not out
    assert_one_line_error(err, "pickled", "--trust-pickle", "state_dict")


def test_check_trust_pickle_loads_module_with_warning(capsys, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(seed_module(), path)
    code, out, err = run(capsys, "check", str(path), "--trust-pickle", "--dtypes", "float64")
    assert code == 0
    assert err.startswith("symjac: warning: loading whole.pt with weights_only=False")
    assert len(err.strip().splitlines()) == 1
    assert "agrees" in out


def test_check_refuses_export_archive(capsys, tmp_path):
    path = tmp_path / "model.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/archive_format", "pt2")
    code, _, err = run(capsys, "check", str(path))
    assert code == 2
    assert_one_line_error(err, "torch.export", "--trust-pickle")


@pytest.mark.parametrize(
    "content",
    [b"", b"definitely not a checkpoint", pickle.dumps({"a": 1}, protocol=2)[:-3]],
)
def test_check_corrupt_file(capsys, tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    code, out, err = run(capsys, "check", str(path), "--sizes", "1,2,1")
    assert code == 2 and not out
    assert_one_line_error(err, "broken.pt", "not a readable torch file", "torch.save")


def test_check_truncated_zip(capsys, tmp_path):
    good = tmp_path / "good.pt"
    torch.save(seed_module().state_dict(), good)
    data = good.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "check", str(path), "--sizes", "1,2,2,1")
    assert code == 2
    assert_one_line_error(err, "truncated.pt", "corrupt")


def test_check_file_without_tensors(capsys, tmp_path):
    path = tmp_path / "numbers.pt"
    torch.save({"w": [1, 2]}, path)
    code, _, err = run(capsys, "check", str(path), "--sizes", "1,2,1")
    assert code == 2
    assert_one_line_error(err, "no tensors")


def test_check_unsupported_module_is_a_limit(capsys, tmp_path, monkeypatch):
    name = "symjac_cli_targets_conv"
    (tmp_path / f"{name}.py").write_text(
        "from torch import nn\nmodel = nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=-1))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        code, _, err = run(capsys, "check", f"{name}:model")
    finally:
        sys.modules.pop(name, None)
    assert code == 3
    assert_one_line_error(err, "Softmax")


def test_subprocess_check_exit_codes(tmp_path):
    (tmp_path / "sat_target.py").write_text(TARGETS)
    base = [sys.executable, "-m", "symjac", "check"]
    env = subprocess_env()
    proc = subprocess.run(
        [*base, "sat_target:saturated", "--input", "10", "--dtypes", "float32", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["ok"] is False
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    proc = subprocess.run(
        [*base, "bad.pt", "--sizes", "1,2,1"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "bad.pt")


def test_check_prints_no_warnings_in_a_fresh_process():
    # torch 2.14 warns (FutureWarning) that torch.jit.script is deprecated each time forward
    # mode loads a decomposition; symjac silences exactly that, at its own call sites
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    out = subprocess.run(
        [*PY_M, "check", "symjac.examples:small_mlp", "--input", "1.0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "warning" not in (out.stdout + out.stderr).lower()
    assert "jacfwd" in out.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["jacobian", "--help"],
        ["mlp", "--help"],
        ["check", "--help"],
        ["demo", "--help"],
        ["mlp", "--sizes", "1,2,2,1", "--symbolic"],
        ["mlp", "--sizes", "1,2,2,1", "--seed", "0", "--at", "1.0"],
        ["mlp", "--sizes", "3,4,2", "--seed", "1", "--activation", "elu", "--at", "0.1,0.2,0.3"],
        ["jacobian", "x1**2 + x2", "x1 + x2**2", "--wrt", "x1", "x2", "--at", "x1=1", "x2=2"],
        ["jacobian", "relu(x)*sin(x)", "--wrt", "x", "--at", "x=0"],
    ],
    ids=lambda argv: " ".join(argv)[:40],
)
def test_text_output_fits_80_columns(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide
