"""CLI for the IR: zoo, inspect, export, and every bad input (one line, exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dualopu.ir.onnx_export import export_onnx
from dualopu.ir.zoo import build


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualopu.cli", *args], capture_output=True, text=True, timeout=120
    )


def assert_user_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_zoo_json() -> None:
    res = run("zoo", "--json")
    assert res.returncode == 0
    rows = json.loads(res.stdout)
    assert {r["name"] for r in rows} >= {"mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0"}


def test_inspect_table_and_json() -> None:
    res = run("inspect", "mobilenet_v2")
    assert res.returncode == 0 and "depthwise" in res.stdout
    res = run("inspect", "mobilenet_v2", "--input-shape", "1x3x96x96", "--json")
    data = json.loads(res.stdout)
    assert (
        data["model"] == "mobilenet_v2"
        and data["total_macs"] == build("mobilenet_v2", (1, 3, 96, 96)).total_macs
    )
    layer = data["layers"][1]
    for key in ("name", "kind", "in_shape", "out_shape", "kernel", "stride", "groups", "macs"):
        assert key in layer
    assert data["total_params"] > 3_000_000


def test_export_then_inspect(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    assert run("export", "mobilenet_v3_small", str(out), "--input-shape", "1x3x96x96").returncode == 0
    data = json.loads(run("inspect", str(out), "--json").stdout)
    assert data["total_macs"] == build("mobilenet_v3_small", (1, 3, 96, 96)).total_macs


def test_missing_file(tmp_path: Path) -> None:
    assert_user_error(run("inspect", str(tmp_path / "nope.onnx")), "not found")


def test_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "text.onnx"
    bad.write_text("this is not a model\n" * 20)
    assert_user_error(run("inspect", str(bad)), "ONNX")


def test_truncated_onnx(tmp_path: Path) -> None:
    good = tmp_path / "good.onnx"
    export_onnx(build("mobilenet_v2", (1, 3, 64, 64)), good)
    data = good.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    assert_user_error(run("inspect", str(bad)), "ONNX")


def _tiny_model(path: Path, op_node: onnx.NodeProto, dims: list[int | str], inits: list[TensorProto]) -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [conv, op_node],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w"), *inits],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_unsupported_operator_named(tmp_path: Path) -> None:
    path = tmp_path / "einsum.onnx"
    _tiny_model(
        path,
        helper.make_node("Einsum", ["c", "c"], ["y"], name="my_einsum", equation="nchw,nchw->nchw"),
        [1, 3, 16, 16],
        [],
    )
    assert_user_error(run("inspect", str(path)), "Einsum", "my_einsum")


def test_dynamic_spatial_dims_need_input_shape(tmp_path: Path) -> None:
    path = tmp_path / "dyn.onnx"
    _tiny_model(path, helper.make_node("Relu", ["c"], ["y"], name="relu0"), ["N", 3, "H", "W"], [])
    assert_user_error(run("inspect", str(path)), "--input-shape")
    res = run("inspect", str(path), "--input-shape", "1x3x32x32", "--json")
    assert res.returncode == 0
    assert json.loads(res.stdout)["layers"][0]["out_shape"] == [1, 8, 32, 32]


@pytest.mark.parametrize("shape", ["1x3xfoo", "1x3x0x224", "2x3x224x224", "axb"])
def test_malformed_input_shape(shape: str) -> None:
    assert_user_error(run("inspect", "mobilenet_v2", "--input-shape", shape), "shape")


def test_unknown_name() -> None:
    assert_user_error(run("inspect", "mobilenet_v9"), "built-in")


def test_export_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    assert_user_error(run("export", "squeezenet1_1", str(out), "--input-shape", "1x3x2x2"), "too small")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_written_files_get_usual_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from dualopu.util import write_atomic

    umask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "x.txt", "hello")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == "hello"
