"""Output targets checked before any work, and atomic result folders (dualopu.clikit.outputs).

Every output flag is tried against a folder where a file is needed (or a file where a folder is
needed), a path under a file, and a location that cannot be written (/proc: refused even for
root); each must be one line, exit 2, before any work (nothing new on disk). The folder tests
check the promise "a refused or killed run leaves the output as it was" on tune and reproduce.
They cannot catch a command that writes outside its declared output flags.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualopu.cli import app
from dualopu.clikit.outputs import MARKER, OutputError, output_dir, staging_path
from dualopu.errors import DualOpuError

runner = CliRunner()


def assert_one_line(args: list[str], *fragments: str) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (args, res.output, res.exception)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, (args, res.stderr)
    for f in fragments:
        assert f in lines[0], (args, lines[0])
    return lines[0]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# (command before the flag, flag, command after) for every file output flag
FILE_FLAGS = [
    (["evaluate", "mobilenet_v2"], "--csv"),
    (["evaluate", "mobilenet_v2"], "--plot"),
    (["schedule", "mobilenet_v2"], "--gantt"),
    (["schedule", "mobilenet_v2"], "--gantt-png"),
    (["schedule", "mobilenet_v2"], "--trace"),
    (["schedule", "mobilenet_v2"], "-o"),
    (["schedule", "mobilenet_v2"], "--output"),
    (["schedule", "mobilenet_v2"], "--out"),
    (["compile", "mobilenet_v2"], "-o"),
    (["compile", "mobilenet_v2"], "--out"),
    (["export", "mobilenet_v2"], ""),  # positional OUTPUT
]
DIR_FLAGS = [
    (["tune", "squeezenet1_1", "--quiet"], "--out"),
    (["tune", "squeezenet1_1", "--quiet"], "-o"),
    (["reproduce", "--quick"], "--out"),
    (["reproduce", "--quick"], "--output"),
]


def _args(base: list[str], flag: str, value: str) -> list[str]:
    return [*base, flag, value] if flag else [*base, value]


@pytest.mark.parametrize(("base", "flag"), FILE_FLAGS, ids=[f"{b[0]}{f or '-OUTPUT'}" for b, f in FILE_FLAGS])
@pytest.mark.parametrize("case", ["existing-folder", "under-a-file", "read-only"])
def test_file_outputs_checked_first(base: list[str], flag: str, case: str, tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("keep")
    target, fragment = {
        "existing-folder": (tmp_path / "a-folder", "is a folder"),
        "under-a-file": (tmp_path / "a-file" / "x.out", "is a file"),
        "read-only": (Path("/proc/dualopu-no-such/x.out"), "cannot write"),
    }[case]
    before = _tree(tmp_path)
    assert_one_line(_args(base, flag, str(target)), fragment)
    assert _tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder"]


@pytest.mark.parametrize(("base", "flag"), DIR_FLAGS, ids=[f"{b[0]}{f}" for b, f in DIR_FLAGS])
@pytest.mark.parametrize("case", ["existing-file", "under-a-file", "read-only", "foreign-folder", "cwd"])
def test_folder_outputs_checked_first(
    base: list[str], flag: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("keep")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("do not delete")
    monkeypatch.chdir(tmp_path)
    target, fragment = {
        "existing-file": (tmp_path / "a-file", "is a file"),
        "under-a-file": (tmp_path / "a-file" / "out", "is a file"),
        "read-only": (Path("/proc/dualopu-no-such/out"), "cannot write"),
        "foreign-folder": (tmp_path / "mine", "not written by dualopu"),
        "cwd": (Path("."), "current folder"),
    }[case]
    before = _tree(tmp_path)
    assert_one_line([*base, flag, str(target)], fragment)
    assert _tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "mine"]


def test_refused_tune_leaves_nothing(tmp_path: Path) -> None:
    """A refusal after the folder was staged (no design fits the budget) leaves no tune.db behind."""
    out = tmp_path / "run"
    assert_one_line(["tune", "squeezenet1_1", "--quiet", "--area", "1", "--out", str(out)], "area budget")
    assert list(tmp_path.iterdir()) == []


def test_refused_reproduce_keeps_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dualopu.report.reproduce as rep

    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("old complete report")
    (out / "figures").mkdir()
    (out / "figures" / "a.png").write_bytes(b"old")
    before = _tree(out)

    def half_then_fail(stage: Path, quick: bool = False, progress: object = None) -> dict[str, object]:
        (Path(stage) / "figures").mkdir(exist_ok=True)
        (Path(stage) / "figures" / "a.png").write_bytes(b"new, half-written run")
        raise DualOpuError(f"{stage}/something: failed halfway")

    monkeypatch.setattr(rep, "reproduce", half_then_fail)
    line = assert_one_line(["reproduce", "--quick", "--out", str(out)], "failed halfway")
    assert ".partial" not in line
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_output_dir_replaces_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "res"
    with output_dir(out) as stage:
        (stage / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1" and (out / MARKER).exists()
    with pytest.raises(RuntimeError), output_dir(out) as stage:
        (stage / "a.txt").write_text("2")
        raise RuntimeError("killed")
    assert (out / "a.txt").read_text() == "1" and not staging_path(out).exists()
    with output_dir(out) as stage:
        (stage / "b.txt").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.txt"]  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_output_dir_keeps_partial_for_resume(tmp_path: Path) -> None:
    out = tmp_path / "res"
    with pytest.raises(KeyboardInterrupt), output_dir(out, keep_partial=True) as stage:
        (stage / "store").write_text("half")
        raise KeyboardInterrupt
    assert not out.exists() and (staging_path(out) / "store").read_text() == "half"
    with output_dir(out, resume=True) as stage:
        assert (stage / "store").read_text() == "half"
        (stage / "store").write_text("done")
    assert (out / "store").read_text() == "done"
    with output_dir(out) as stage:  # a non-resuming run starts empty
        assert not (stage / "store").exists()


def test_output_dir_refuses_files_and_foreign_folders(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file"), output_dir(tmp_path / "f"):
        pass
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not written by dualopu"), output_dir(tmp_path / "d"):
        pass
    assert (tmp_path / "d" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_killed_tune_overwrite_leaves_old_result(tmp_path: Path) -> None:
    """SIGKILL during `tune --overwrite` into a finished folder: the old result stays as it was."""
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "dualopu.cli",
        "tune",
        "squeezenet1_1",
        "--quiet",
        "--json",
        "--confirm-top",
        "32",
        "--out",
        str(out),
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = _tree(out)
    env = {**os.environ, "DUALOPU_TUNE_THROTTLE_S": "0.2"}
    proc = subprocess.Popen(
        [*cmd, "--overwrite"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    stage = staging_path(out)
    deadline = time.time() + 120
    while not (stage / "tune.db").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _tree(out) == before
