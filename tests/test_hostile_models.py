"""Hostile and broken models, files and sizes: refused from metadata, before anything is built.

Each test builds its own small hostile input in ``tmp_path``. A file that declares a huge
tensor is written by hand (its zip records and pickle), so the test never allocates the
tensor it describes. Memory is measured in a child process (``ru_maxrss``), with a generous
margin: torch's import alone takes most of it.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

import symjac
from symjac import limits
from symjac.cli import main
from symjac.exceptions import LimitError
from symjac.torch_interop.files import inspect_file, load_file, module_from_state_dict

#: peak resident memory allowed for any one hostile input (the issue's bound)
MEMORY_KIB = 1 << 20
#: one error message, one line
MAX_MESSAGE = 300


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("symjac: error: ") and "Traceback" not in err, err
    assert len(line) - len("symjac: error: ") <= MAX_MESSAGE, line
    for word in words:
        assert word in line, (word, line)
    return line


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(symjac.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


#: runs the CLI in a fresh process and reports its own peak resident memory
CHILD = """
import resource, sys
from symjac.cli import main
code = main(sys.argv[1:])
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_measured(cwd: Path, *argv: str) -> tuple[int, str, int]:
    """(exit code, the error line, peak resident memory in KiB) of ``symjac ARGV`` in a child."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=child_env(),
        check=False,
    )
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("maxrss_kib "), proc.stderr
    rss = int(lines[-1].split()[1]) // (1024 if sys.platform == "darwin" else 1)
    return proc.returncode, "\n".join(lines[:-1]), rss


# -- hand-written torch files -------------------------------------------------------------------


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def tensor_pickle(shapes: dict[str, tuple[int, ...]], *, legacy: bool = False) -> bytes:
    """The pickle torch.save writes for a state_dict of float32 tensors of ``shapes``.

    Written opcode by opcode, so that a declared shape costs nothing: this is the format
    torch.load reads (``collections.OrderedDict`` of ``torch._utils._rebuild_tensor_v2``
    calls on persistent ``('storage', torch.FloatStorage, key, 'cpu', numel)`` ids; the
    legacy format adds a view entry).
    """
    out = [b"\x80\x02ccollections\nOrderedDict\n)R("]
    for key, (name, shape) in enumerate(shapes.items()):
        numel = 1
        for n in shape:
            numel *= n
        strides = [1] * len(shape)
        for i in range(len(shape) - 2, -1, -1):
            strides[i] = strides[i + 1] * shape[i + 1]
        persistent = b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n"
        persistent += _unicode(str(key)) + _unicode("cpu") + _int(numel)
        persistent += (b"N" if legacy else b"") + b"t"
        out.append(_unicode(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(")
        out.append(persistent + b"QK\x00")
        out.append(b"(" + b"".join(_int(n) for n in shape) + b"t")
        out.append(b"(" + b"".join(_int(s) for s in strides) + b"t")
        out.append(b"\x89ccollections\nOrderedDict\n)RtR")
    out.append(b"u.")
    return b"".join(out)


def zip_records(path: Path, records: list[tuple[str, bytes, int, int, bool]]) -> None:
    """Write a zip archive of ``(name, stored bytes, uncompressed size, crc, deflated)``."""
    local, central = io.BytesIO(), io.BytesIO()
    for name, data, size, crc, deflated in records:
        raw = name.encode()
        method = 8 if deflated else 0
        offset = local.tell()
        header = (0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0)
        local.write(struct.pack("<IHHHHHIIIHH", *header) + raw + data)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
    body, directory = local.getvalue(), central.getvalue()
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(directory), len(body), 0
    )
    path.write_bytes(body + directory + end)


def zeros_deflated(nbytes: int) -> bytes:
    """A raw deflate stream of ``nbytes`` zero bytes, built from one repeated 16 MiB block."""
    chunk = 1 << 24
    whole, rest = divmod(nbytes, chunk)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(chunk)) + packer.flush(zlib.Z_FULL_FLUSH)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = packer.compress(bytes(rest)) + packer.flush()
    return block * whole + tail


def torch_archive(path: Path, shapes: dict[str, tuple[int, ...]], data: list[bytes]) -> None:
    """A torch.save archive whose tensors' records hold ``data`` (deflated zeros if empty)."""
    records: list[tuple[str, bytes, int, int, bool]] = []
    pkl = tensor_pickle(shapes)
    records.append(("archive/data.pkl", pkl, len(pkl), zlib.crc32(pkl), False))
    records.append(("archive/version", b"3\n", 2, zlib.crc32(b"3\n"), False))
    records.append(("archive/byteorder", b"little", 6, zlib.crc32(b"little"), False))
    for key, shape in enumerate(shapes.values()):
        numel = 1
        for n in shape:
            numel *= n
        if key < len(data):
            raw = data[key]
            records.append((f"archive/data/{key}", raw, len(raw), zlib.crc32(raw), False))
        else:  # the CRC is not computed (4 GiB of zeros): torch would check it only after
            # allocating and inflating the record, which is what must not happen
            records.append((f"archive/data/{key}", zeros_deflated(4 * numel), 4 * numel, 0, True))
    zip_records(path, records)


def legacy_file(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """torch's legacy (non-zip) format: magic, protocol, sys info, the object, its storage keys."""
    parts = [
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"little_endian": True}, protocol=2),
        tensor_pickle(shapes, legacy=True),
        pickle.dumps([str(k) for k in range(len(shapes))], protocol=2),
    ]
    path.write_bytes(b"".join(parts))


def test_hand_written_archive_is_what_torch_reads(tmp_path):
    # the writer above is faithful: a small archive of it loads with torch's own loader
    values = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    path = tmp_path / "small.pt"
    torch_archive(path, {"w": (3, 2)}, [values.numpy().tobytes()])
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], values)
    legacy = tmp_path / "legacy.pt"
    legacy_file(legacy, {"w": (3, 2)})
    with legacy.open("ab") as f:  # the storage itself: its element count, then its bytes
        f.write(struct.pack("<q", 6) + values.numpy().tobytes())
    assert torch.equal(torch.load(legacy, weights_only=True)["w"], values)
    assert inspect_file(str(path)).tensors == [("w", (3, 2))]
    assert inspect_file(str(legacy)).tensors == [("w", (3, 2))]


# -- files: sizes from metadata, before torch.load -----------------------------------------------


def test_deflated_archive_with_huge_tensor_is_refused_before_loading(tmp_path):
    # 4 GiB of float32 zeros in a few MB: torch.load would inflate it all before any check
    path = tmp_path / "big.pt"
    torch_archive(path, {"0.weight": (32767, 32767)}, [])
    assert path.stat().st_size < 64 * 2**20
    code, err, rss = run_measured(tmp_path, "check", "big.pt", "--sizes", "32767,1")
    assert code == 3, err
    one_line_error(err, "big.pt", "(32767, 32767)", "max_weights")
    assert rss < MEMORY_KIB, rss


def test_uncompressed_record_sizes_are_bounded(tmp_path):
    # the pickle declares 4 numbers, the record unpacks to 1 MiB (in about 1 KB on disk):
    # torch allocates the record's declared size, so that size is what counts
    path = tmp_path / "big.pt"
    pkl = tensor_pickle({"0.weight": (2, 2)})
    record = ("archive/data/0", zeros_deflated(2**20), 2**20, 0, True)
    zip_records(path, [("archive/data.pkl", pkl, len(pkl), zlib.crc32(pkl), False), record])
    assert path.stat().st_size < 10_000
    with limits.override(max_file_bytes=100_000), pytest.raises(LimitError) as info:
        inspect_file(str(path))
    assert "unpacks to 1048" in str(info.value) and "max_file_bytes=100000" in str(info.value)


def test_legacy_file_declaring_a_huge_storage_is_refused(tmp_path, capsys):
    # the legacy loader allocates each storage at its declared size before reading it
    path = tmp_path / "legacy.pt"
    legacy_file(path, {"0.weight": (40000, 40000)})
    with pytest.raises(LimitError, match=r"\(40000, 40000\).*max_weights"):
        inspect_file(str(path))
    code, _, err = run(capsys, "check", str(path), "--sizes", "40000,1")
    assert code == 3
    one_line_error(err, "legacy.pt", "max_weights")


def test_file_size_limit_names_the_limit(tmp_path, capsys):
    path = tmp_path / "weights.pt"
    torch.save(nn.Linear(2, 1).state_dict(), path)
    with limits.override(max_file_bytes=100):
        code, _, err = run(capsys, "check", str(path), "--sizes", "2,1")
    assert code == 3
    one_line_error(err, "weights.pt", "max_file_bytes=100", "symjac.limits.override")


def test_numbers_in_a_file_are_bounded_by_max_weights(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(nn.Linear(4, 3).state_dict(), path)
    assert inspect_file(str(path)).numbers == 15
    with limits.override(max_weights=14), pytest.raises(LimitError, match=r"'weight'.*\(3, 4\)"):
        inspect_file(str(path))


def test_unsafe_global_is_named_not_called_corrupt(tmp_path, capsys):
    # torch's safe loader blocks os.system with a message of its own wording
    good = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, good)
    path = tmp_path / "payload.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = b"\x80\x02cos\nsystem\nX\x05\x00\x00\x00echo!\x85R."
            dst.writestr(info.filename, data)
    code, out, err = run(capsys, "check", str(path), "--sizes", "1,1")
    assert code == 2 and not out
    line = one_line_error(err, "payload.pt", "os.system", "safe loader", "--trust-pickle only")
    assert "corrupt" not in line


def test_plain_pickle_is_named_as_such(tmp_path, capsys):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(collections.OrderedDict(w=[1.0, 2.0]), protocol=4))
    code, _, err = run(capsys, "check", str(path), "--sizes", "1,2")
    assert code == 2
    one_line_error(err, "weights.pkl", "plain Python pickle", "torch.save")


def test_junk_export_archive_with_trust_pickle_prints_no_torch_log(tmp_path, capsys):
    path = tmp_path / "model.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/junk", "not an exported program")
    code, out, err = run(capsys, "check", str(path), "--trust-pickle")
    assert code == 2 and not out
    warning, *rest = err.strip().splitlines()
    assert warning.startswith("symjac: warning: loading model.pt2 with torch.export.load")
    one_line_error("\n".join(rest), "model.pt2", "torch.export")
    not_zip = tmp_path / "junk.pt2"
    not_zip.write_bytes(b"junk" * 100)
    code, _, err = run(capsys, "check", str(not_zip), "--trust-pickle")
    assert code == 2
    one_line_error(err, "junk.pt2", "not a zip archive")


# -- state_dicts: torch's exact shape check --------------------------------------------------------


def test_broadcastable_bias_is_refused_like_load_state_dict(tmp_path, capsys):
    state = nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1)).state_dict()
    state["0.bias"] = torch.tensor([0.25])  # broadcasts over the layer's 2 outputs
    with pytest.raises(RuntimeError, match="size mismatch"):  # what torch itself says
        nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1)).load_state_dict(state)
    path = tmp_path / "bias.pt"
    torch.save(state, path)
    code, out, err = run(capsys, "check", str(path), "--sizes", "1,2,1")
    assert code == 2 and not out
    one_line_error(err, "'0.bias'", "(1,)", "(2,)")


def test_state_dict_keeps_float64_weights_exact():
    state = nn.Linear(1, 2).double().state_dict()
    state["weight"] = torch.tensor([[0.1], [1 / 3]], dtype=torch.float64)
    module = module_from_state_dict(state, [1, 2], "tanh", "w.pt")
    assert module[0].weight.dtype == torch.float64
    assert torch.equal(module[0].weight, state["weight"])  # not rounded through float32


def test_state_dict_of_integers_or_mixed_dtypes_is_a_user_error(tmp_path, capsys):
    for name, state in [
        ("int.pt", {"w": torch.ones(2, 1, dtype=torch.int64)}),
        ("mixed.pt", {"w": torch.ones(2, 1, dtype=torch.float64), "b": torch.ones(2)}),
    ]:
        torch.save(state, tmp_path / name)
        code, _, err = run(capsys, "check", str(tmp_path / name), "--sizes", "1,2")
        assert code == 2
        one_line_error(err, name, "dtype")


# -- modules: shapes and sizes -------------------------------------------------------------------


def _bias(module: nn.Linear, n: int) -> nn.Linear:
    module.bias = nn.Parameter(torch.zeros(n))
    return module


@pytest.mark.parametrize(
    ("module", "words"),
    [
        (lambda: _bias(nn.Linear(2, 3), 1), ["bias of shape (1,)", "expected (3,)"]),
        (lambda: _bias(nn.Linear(2, 3), 5), ["bias of shape (5,)", "expected (3,)"]),
        (lambda: nn.Linear(0, 3), ["Linear(0, 3)", "at least one input"]),
        (lambda: nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 0)), ["Linear(3, 0)"]),
    ],
)
def test_layers_of_impossible_shape_are_value_errors(module, words):
    with warnings.catch_warnings():  # torch warns that it cannot initialize an empty layer
        warnings.simplefilter("ignore", UserWarning)
        built = module()
    with pytest.raises(ValueError) as info:
        symjac.from_torch(built)
    for word in words:
        assert word in str(info.value)


def test_wrong_bias_from_a_factory_is_exit_2_not_internal(import_target, capsys):
    name = import_target(
        "import torch\n"
        "def build():\n"
        "    layer = torch.nn.Linear(2, 3)\n"
        "    layer.bias = torch.nn.Parameter(torch.zeros(5))\n"
        "    return layer\n"
    )
    code, _, err = run(capsys, "check", f"{name}:build")
    assert code == 2
    one_line_error(err, "bias of shape (5,)")


def test_big_module_in_check_is_a_limit_before_reading(import_target, capsys):
    name = import_target("import torch\nmodel = torch.nn.Linear(1000, 1000)\n")
    code, out, err = run(capsys, "check", f"{name}:model")
    assert code == 3 and not out
    one_line_error(err, "1001000", "max_weights=", "symjac.limits.override(max_weights=...)")


def test_sizes_are_checked_before_anything_is_built(tmp_path, capsys):
    torch.save(nn.Linear(1, 1).state_dict(), tmp_path / "w.pt")
    code, err, rss = run_measured(tmp_path, "check", "w.pt", "--sizes", "1,100000,100000,1")
    assert code == 3, err
    one_line_error(err, "--sizes", "max_weights")
    assert rss < MEMORY_KIB, rss


def test_mlp_sizes_are_checked_before_any_symbol(tmp_path):
    script = (
        "import symjac\n"
        "for sizes in ([2000, 2000], [1, 10**9, 1]):\n"
        "    try:\n"
        "        symjac.mlp(sizes)\n"
        "    except symjac.LimitError as err:\n"
        "        print(err)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=child_env()
    )
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 2, proc.stderr
    assert "[2000, 2000] network has 4002000" in lines[0]
    assert "[1, 1000000000, 1] network" in lines[1] and "max_weights" in lines[1]


def test_mlp_limit_counts_biases_only_when_there_are_some():
    with limits.override(max_weights=6):
        assert symjac.mlp([2, 3], bias=False).sizes == (2, 3)
        with pytest.raises(LimitError, match="has 9 weights"):
            symjac.mlp([2, 3])


def test_mlp_refuses_a_tensor_of_the_wrong_shape_before_converting_it():
    big = torch.zeros(3000, 3000)
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(2, 1\), got \(3000"):
        symjac.mlp([1, 2], weights=[big])


# -- seeds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [str(10**23), "-1", "1.5"])
@pytest.mark.parametrize("command", [["demo"], ["mlp", "--sizes", "1,2,1"]])
def test_seed_out_of_range_names_the_option(capsys, command, seed):
    code, out, err = run(capsys, *command, "--seed", seed)
    assert code == 2 and not out
    one_line_error(err, "--seed", "2**64 - 1")


def test_seed_range_in_the_python_helpers():
    from symjac.torch_interop.files import examples_model, torch_sequential

    with pytest.raises(ValueError, match="seed"):
        examples_model(2**64)
    with pytest.raises(ValueError, match="seed"):
        torch_sequential([1, 1], "tanh", seed=-1)
    assert examples_model(2**64 - 1).l1.weight.shape == (2, 1)


# -- user code that exits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "words"),
    [
        ("import sys\nsys.exit(0)\n", "model", ["importing", "sys.exit(0)"]),
        ("import sys\ndef build():\n    sys.exit(0)\n", "build", ["calling", "sys.exit(0)"]),
        ("import sys\ndef build():\n    sys.exit()\n", "build", ["sys.exit()"]),
        (
            "class Stop(BaseException):\n    pass\ndef build():\n    raise Stop('halt')\n",
            "build",
            ["Stop: halt"],
        ),
    ],
    ids=["import", "factory", "no-code", "base-exception"],
)
def test_a_spec_that_exits_fails_clearly(import_target, capsys, source, target, words):
    name = import_target(source)
    code, out, err = run(capsys, "check", f"{name}:{target}")
    assert code == 2 and not out
    one_line_error(err, name, *words)


def test_a_forward_that_exits_is_a_value_error():
    class Exits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            sys.exit(0)

    with pytest.raises(ValueError, match=r"Exits raised SystemExit\(0\)"):
        symjac.from_torch(Exits())


EXITS_DURING_CHECK = """
import sys
import torch


class ExitsInFloat64(torch.nn.Module):
    # traced and read fine, then exits when compare runs it in float64
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def forward(self, x):
        if isinstance(x, torch.Tensor) and x.dtype == torch.float64:
            sys.exit(0)
        return self.layer(x)


model = ExitsInFloat64()
"""


def test_a_forward_that_exits_during_the_check_is_not_success(import_target, capsys):
    name = import_target(EXITS_DURING_CHECK)
    code, out, err = run(capsys, "check", f"{name}:model")
    assert code == 2 and not out
    one_line_error(err, "sys.exit(0)", "nothing was checked")


# -- example inputs ------------------------------------------------------------------------------


def test_example_input_of_the_wrong_length_is_a_value_error():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    for bad in ([1.0, 2.0, 3.0], [], [[1.0, 2.0, 3.0]]):
        with pytest.raises(ValueError, match=r"takes 2 input.*give 2 number"):
            symjac.from_torch(model, example_input=bad)
    assert symjac.from_torch(model, example_input=[[0.5, 1.0], [1.0, 2.0]]).sizes == (2, 3, 1)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_example_input_is_named(value):
    model = nn.Sequential(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="example input must be finite"):
        symjac.from_torch(model, example_input=[value, 1.0])


def test_load_file_is_still_weights_only(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(nn.Linear(2, 1).state_dict(), path)
    assert sorted(load_file(str(path))) == ["bias", "weight"]


def test_lazy_module_is_a_value_error_not_a_shape_crash():
    with warnings.catch_warnings():  # torch warns that lazy modules are experimental
        warnings.simplefilter("ignore", UserWarning)
        lazy = nn.Sequential(nn.LazyLinear(2))
    with pytest.raises(ValueError, match="uninitialized"):
        symjac.from_torch(lazy)
