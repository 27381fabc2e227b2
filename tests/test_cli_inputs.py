"""CLI input validation (dualopu.clikit.checks) and the one error path (dualopu.clikit.app).

Every numeric flag, every shape flag, oversized and deeply nested inputs, bad hardware YAML
values and usage errors must give one stderr line, exit 2 and no traceback. These tests run the
real typer app in-process (CliRunner), so they catch a flag that bypasses the checks or a
failure that escapes the error path; they cannot catch a check whose limit is badly chosen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualopu.cli import app
from dualopu.clikit.app import one_line

runner = CliRunner()


def assert_one_line(args: list[str], *fragments: str) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (args, res.output, res.exception)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (args, res.stderr)
    assert "Traceback" not in res.stderr and "╭" not in res.stderr
    for f in fragments:
        assert f in lines[0], (args, lines[0])
    return lines[0]


SCHED = ["schedule", "mobilenet_v2"]
TUNE = ["tune", "mobilenet_v2", "--quiet"]
VALIDATE = ["validate", "missing.json", "--models", "mobilenet_v2"]

NUMERIC_CASES = [
    (TUNE, "--confirm-top", "0", "at least 1"),
    (TUNE, "--confirm-top", "-5", "at least 1"),
    (TUNE, "--confirm-top", "100000000", "at most"),
    (TUNE, "--trials", "0", "at least 1"),
    (TUNE, "--trials", "-1", "at least 1"),
    (TUNE, "--dram", "0", "greater than 0"),
    (TUNE, "--dram", "-64", "greater than 0"),
    (TUNE, "--dram", "nan", "finite"),
    (TUNE, "--dram", "inf", "finite"),
    (TUNE, "--area", "0", "greater than 0"),
    (TUNE, "--area", "nan", "finite"),
    (TUNE, "--area", "-1", "greater than 0"),
    (TUNE, "--images", "0", "at least 1"),
    (TUNE, "--images", "1000000000", "at most 10,000"),
    (TUNE, "--seed", "-1", "at least 0"),
    (SCHED, "--images", "0", "at least 1"),
    (SCHED, "--images", "-3", "at least 1"),
    (SCHED, "--images", "1000000000", "at most 10,000"),
    (SCHED, "--time-limit", "0", "greater than 0"),
    (SCHED, "--time-limit", "nan", "finite"),
    (SCHED, "--time-limit", "inf", "finite"),
    (VALIDATE, "--images", "1000000000", "at most 10,000"),
    (VALIDATE, "--images", "0", "at least 1"),
    (["export", "mobilenet_v2", "x.onnx"], "--seed", "-1", "at least 0"),
    (["simulate", "mobilenet_v2"], "--seed", "-1", "at least 0"),
]


@pytest.mark.parametrize(
    ("base", "flag", "value", "fragment"),
    NUMERIC_CASES,
    ids=[f"{c[0][0]}{c[1]}={c[2]}" for c in NUMERIC_CASES],
)
def test_numeric_flags_refused_in_one_line(
    base: list[str], flag: str, value: str, fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = assert_one_line([*base, flag, value], flag, fragment)
    assert not any(tmp_path.iterdir()), "a refused command wrote something"
    assert line.startswith("error:")


BOOL_CASES = [(SCHED, "--images"), (TUNE, "--trials"), (TUNE, "--confirm-top")]


@pytest.mark.parametrize(("base", "flag"), BOOL_CASES)
def test_bools_refused_where_ints_are_meant(base: list[str], flag: str) -> None:
    assert_one_line([*base, flag, "true"], flag)


SHAPE_COMMANDS = [
    ["inspect", "mobilenet_v2"],
    ["evaluate", "mobilenet_v2"],
    ["zoo"],
    SCHED,
    TUNE,
    ["compile", "mobilenet_v2", "-o", "p.json"],
    ["simulate", "mobilenet_v2"],
]


@pytest.mark.parametrize("base", SHAPE_COMMANDS, ids=[c[0] for c in SHAPE_COMMANDS])
@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ("1x3x224", "3 dims"),
        ("1x3x0x224", "positive"),
        ("1x3x224x-4", "positive"),
        ("2x3x224x224", "batch"),
        ("1x3x99999x224", "at most"),
        ("axb", "malformed"),
    ],
)
def test_input_shapes_are_four_positive_dims(
    base: list[str], shape: str, fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line([*base, "--input-shape", shape], shape, fragment)


def test_input_size_is_an_alias_of_input_shape(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["compile", "mobilenet_v2", "--input-size", "64", "--out", str(tmp_path / "p.json"), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert '"input_shape": [\n    1,\n    3,\n    64,\n    64\n  ]' in res.stdout


def test_usage_errors_are_one_line() -> None:
    assert_one_line(["evaluate", "mobilenet_v2", "--bogus"], "--bogus", "--help")
    assert_one_line(["schedule"], "models")
    assert_one_line(["nosuchcommand"], "nosuchcommand")


def _deep_json(path: Path, depth: int = 100_000) -> Path:
    path.write_text("[" * depth + "]" * depth)
    return path


def test_deeply_nested_json_refused(tmp_path: Path) -> None:
    deep = _deep_json(tmp_path / "deep.json")
    assert_one_line(["validate", str(deep), "--models", "mobilenet_v2", "--images", "1"], "nested")
    assert_one_line(["simulate", "mobilenet_v2", "--program", str(deep)], "nested")


def test_oversized_inputs_refused_quickly(tmp_path: Path) -> None:
    big_yaml = tmp_path / "big.yaml"
    with big_yaml.open("wb") as f:
        f.truncate(50 << 20)  # sparse 50 MiB: refused by size before any parsing
    assert_one_line(["evaluate", "mobilenet_v2", "--hw", str(big_yaml)], "MiB", "limit")
    big_json = tmp_path / "big.json"
    with big_json.open("wb") as f:
        f.truncate(300 << 20)
    assert_one_line(["simulate", "mobilenet_v2", "--program", str(big_json)], "MiB", "limit")
    assert_one_line(["validate", str(big_json), "--models", "mobilenet_v2", "--images", "1"], "MiB", "limit")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ("  pe_count: true\n", "boolean"),
        ("  input_buffer_kib: .inf\n", "finite"),
        ("  weight_buffer_kib: .nan\n", "finite"),
    ],
)
def test_hardware_yaml_refuses_bools_and_non_finite(tmp_path: Path, edit: str, fragment: str) -> None:
    from dualopu.hw import load_hardware

    text = load_hardware("dual-opu").to_yaml()
    key = edit.split(":")[0].strip()
    lines = text.splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines[i] = indent + edit.strip() + "\n"
    hw = tmp_path / "hw.yaml"
    hw.write_text("".join(lines))
    assert_one_line(["area", str(hw)], key, fragment)


def test_hardware_yaml_refuses_infinite_clock(tmp_path: Path) -> None:
    from dualopu.hw import load_hardware

    text = load_hardware("dual-opu").to_yaml().replace("clock_mhz: 200.0", "clock_mhz: .inf")
    assert "clock_mhz: .inf" in text
    hw = tmp_path / "hw.yaml"
    hw.write_text(text)
    assert_one_line(["evaluate", "mobilenet_v2", "--hw", str(hw)], "clock_mhz", "finite")


def test_corrupt_store_on_resume_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "tune.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    before = (out / "tune.db").read_bytes()
    line = assert_one_line(["tune", "squeezenet1_1", "--quiet", "--resume", "--out", str(out)])
    assert ".partial" not in line
    assert (out / "tune.db").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_dask_connection_failure_maps_to_one_line() -> None:
    """A real `distributed` connection error (nothing listens on the port) is recognised as Dask's."""
    distributed = pytest.importorskip("distributed")
    with pytest.raises((OSError, TimeoutError)) as info:
        distributed.Client("tcp://127.0.0.1:9", timeout="1s")
    message = one_line(info.value)
    assert message is not None and message.startswith("Dask:") and "\n" not in message


def test_bugs_keep_their_traceback() -> None:
    assert one_line(ZeroDivisionError("x")) is None
    assert one_line(KeyError("x")) is None
