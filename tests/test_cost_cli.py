"""`dualopu evaluate`, `area` and `presets` on every built-in network, every shared ONNX file
and every preset."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import shared_models
from dualopu.cli import app
from dualopu.ir.zoo import list_zoo

PRESETS = ("dual-opu", "single-opu", "tpu-like")
runner = CliRunner()


def _evaluate_json(*args: str) -> dict:
    res = runner.invoke(app, ["evaluate", *args, "--json"])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _check(data: dict, hw: str) -> None:
    assert data["hardware"] == hw and data["latency_cycles"] > 0 and data["throughput_bound_ips"] > 0
    layers = data["layers"]
    assert layers and all(r["core"] for r in layers)
    assert {r["bound"] for r in layers} <= {"compute", "memory", "free"}
    assert sum(r["cycles"] for r in layers) == pytest.approx(data["latency_cycles"])
    assert sum(c["busy_cycles"] for c in data["cores"]) == pytest.approx(data["latency_cycles"])
    assert all(0 < r["pe_efficiency"] <= 1 for r in layers if r["macs"] > 0)
    assert sum(r["macs"] for r in layers) == data["total_macs"]


@pytest.mark.parametrize("name", list_zoo())
def test_evaluate_every_builtin_on_every_preset(name: str) -> None:
    for hw in PRESETS:
        _check(_evaluate_json(name, "--hw", hw), hw)


@pytest.mark.parametrize("path", shared_models(), ids=lambda p: p.stem)
def test_evaluate_every_shared_onnx_on_every_preset(path: Path) -> None:
    for hw in PRESETS:
        _check(_evaluate_json(str(path), "--hw", hw), hw)


def test_evaluate_table_csv_plot(tmp_path: Path) -> None:
    out_csv, out_png = tmp_path / "layers.csv", tmp_path / "roof.png"
    res = runner.invoke(app, ["evaluate", "mobilenet_v2", "--hw", "dual-opu", "--input-shape", "1x3x160x160",
                              "--csv", str(out_csv), "--plot", str(out_png)])
    assert res.exit_code == 0, res.stderr
    assert "latency" in res.stdout and "regular" in res.stdout and "depthwise" in res.stdout
    rows = list(csv.DictReader(out_csv.open()))
    assert rows and {"layer", "core", "cycles", "bound", "pe_efficiency", "macs_per_dram_byte"} <= set(rows[0])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp file


def test_evaluate_input_shape_changes_cost() -> None:
    small = _evaluate_json("mobilenet_v2", "--input-shape", "1x3x96x96")
    big = _evaluate_json("mobilenet_v2")
    assert small["total_macs"] < big["total_macs"] and small["latency_cycles"] < big["latency_cycles"]


def test_evaluate_bad_inputs(tmp_path: Path) -> None:
    for args, fragment in [
        (["nonet"], "unknown network"),
        (["mobilenet_v2", "--input-shape", "1x3xAx9"], "input shape"),
        (["mobilenet_v2", "--hw", "nohw"], "unknown hardware"),
    ]:
        res = runner.invoke(app, ["evaluate", *args])
        assert res.exit_code == 2 and fragment in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_area_and_presets() -> None:
    for hw in PRESETS:
        res = runner.invoke(app, ["area", hw, "--json"])
        assert res.exit_code == 0, res.stderr
        data = json.loads(res.stdout)
        assert data["total_area"] == pytest.approx(sum(c["total_area"] for c in data["cores"]))
        for c in data["cores"]:
            assert c["total_area"] == pytest.approx(c["pe_area"] + c["sram_area"] + c["fixed_area"])
    res = runner.invoke(app, ["area", "dual-opu"])
    assert res.exit_code == 0 and "depthwise" in res.stdout and "total" in res.stdout
    data = json.loads(runner.invoke(app, ["presets", "--json"]).stdout)
    assert {r["name"] for r in data} >= set(PRESETS)
    assert len({round(r["area"], 6) for r in data if r["name"] in PRESETS}) == 1  # same area
    assert runner.invoke(app, ["hw"]).exit_code == 0
