"""Hardware description: presets, YAML loading, validation messages, area model."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import dualopu
from dualopu.cli import app
from dualopu.cost import evaluate
from dualopu.errors import HardwareError
from dualopu.hw import (
    AreaModel,
    CoreType,
    Hardware,
    area_breakdown,
    core_area,
    hardware_from_dict,
    list_presets,
    load_hardware,
    total_area,
)
from dualopu.hw.config import PRESET_DIR
from dualopu.ir.zoo import build

PRESETS = ("dual-opu", "single-opu", "tpu-like")
runner = CliRunner()


def _preset_dict(name: str = "dual-opu") -> dict[str, Any]:
    return yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())


# ---- presets and loading ------------------------------------------------------------------------


def test_presets_shipped_and_load() -> None:
    assert set(PRESETS) <= set(list_presets())
    for name in PRESETS:
        hw = load_hardware(name)
        assert hw.name == name and hw.total_macs_per_cycle == 1024  # 512 DSPs = 1024 INT8 MACs (OPU)
        assert hw.clock_mhz == 200 and hw.dram_bytes_per_cycle == 64
    assert [c.type for c in load_hardware("dual-opu").cores] == [CoreType.REGULAR, CoreType.DEPTHWISE]
    assert load_hardware("DUAL_OPU") == load_hardware("dual-opu")
    assert dualopu.load_hardware("tpu-like").cores[0].dataflow == "systolic"


def test_yaml_round_trip_and_path(tmp_path: Path) -> None:
    for name in PRESETS:
        hw = load_hardware(name)
        path = tmp_path / f"{name}.yaml"
        path.write_text(hw.to_yaml())
        assert load_hardware(path) == hw
        assert load_hardware(str(path)) == hw
    assert load_hardware(hw) is hw


def test_same_area_presets() -> None:
    """single-opu and tpu-like are sized (buffers) to exactly the area of dual-opu."""
    ref = total_area(load_hardware("dual-opu"))
    for name in PRESETS:
        assert total_area(load_hardware(name)) == pytest.approx(ref, rel=1e-12)


def test_area_breakdown_adds_up() -> None:
    hw = load_hardware("dual-opu")
    am = hw.area_model
    parts = area_breakdown(hw)
    assert [p.core for p in parts] == ["regular", "depthwise"]
    reg, dw = hw.cores
    # regular core: PEs x (inputs x (MAC + adder) + per-PE fixed); no line buffer
    assert parts[0].pe_area == pytest.approx(48 * (16 * (am.mac_area + am.adder_area) + am.pe_fixed_area))
    assert parts[1].pe_area == pytest.approx(
        16 * (16 * (am.mac_area + am.adder_area) + am.pe_fixed_area + am.line_buffer_area_per_pe)
    )
    assert parts[0].sram_area == pytest.approx(320 * am.sram_area_per_kib)
    assert all(p.fixed_area == am.core_fixed_area for p in parts)
    assert sum(p.total for p in parts) == pytest.approx(total_area(hw))
    del reg, dw


def test_core_area_broadcasts() -> None:
    am = AreaModel()
    pes = np.array([16, 32, 64])
    a = core_area(am, CoreType.REGULAR, pes, 16, 100.0)
    assert a.shape == (3,) and np.all(np.diff(a) > 0)
    grid = core_area(am, CoreType.DEPTHWISE, pes[:, None], np.array([[8, 9, 16]]), 10.0)
    assert grid.shape == (3, 3)
    assert grid[0, 1] == pytest.approx(float(core_area(am, CoreType.DEPTHWISE, 16, 9, 10.0)))


# ---- bad hardware descriptions --------------------------------------------------------------------


def _set(path: str, value: Any) -> Any:
    def mod(d: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = d
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mod


_DELETE = object()

BAD = {
    "negative_pes": (_set("cores.0.pe_count", -4), "cores[0].pe_count"),
    "zero_pes": (_set("cores.1.pe_count", 0), "cores[1].pe_count"),
    "zero_input_size": (_set("cores.1.input_size", 0), "cores[1].input_size"),
    "unknown_core_type": (_set("cores.0.type", "vector"), "cores[0].type"),
    "missing_field": (_set("cores.0.input_buffer_kib", _DELETE), "cores[0].input_buffer_kib"),
    "missing_cores": (_set("cores", _DELETE), "'cores'"),
    "no_cores": (_set("cores", []), "'cores'"),
    "negative_buffer": (_set("cores.0.weight_buffer_kib", -1), "cores[0].weight_buffer_kib"),
    "zero_bandwidth": (_set("dram_bytes_per_cycle", 0), "dram_bytes_per_cycle"),
    "unknown_field": (_set("cores.0.pe_cnt", 3), "cores[0].pe_cnt"),
    "text_pes": (_set("cores.0.pe_count", "many"), "cores[0].pe_count"),
    "unknown_dataflow": (_set("cores.0.dataflow", "dataflowy"), "cores[0].dataflow"),
    "ic_parallel": (_set("cores.0.ic_parallel", 24), "ic_parallel"),
    "duplicate_names": (_set("cores.1.name", "regular"), "unique"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_config_names_the_field(case: str, tmp_path: Path) -> None:
    mod, fragment = BAD[case]
    data = _preset_dict()
    mod(data)
    with pytest.raises(HardwareError, match="invalid hardware description") as exc:
        hardware_from_dict(copy.deepcopy(data), "x.yaml")
    assert fragment in str(exc.value) and "\n" not in str(exc.value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["area", str(path)])
    assert res.exit_code == 2 and fragment in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def _files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    (tmp_path / "notyaml.yaml").write_text("cores: [unclosed\n  - : :\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x81")
    (tmp_path / "adir").mkdir()
    return {
        "not_yaml": (str(tmp_path / "notyaml.yaml"), "not valid YAML"),
        "top_level_list": (str(tmp_path / "list.yaml"), "expected a YAML mapping"),
        "empty": (str(tmp_path / "empty.yaml"), "expected a YAML mapping"),
        "binary": (str(tmp_path / "binary.yaml"), "not a text YAML file"),
        "directory": (str(tmp_path / "adir"), "is a directory"),
        "unknown_preset": ("quad-opu", "unknown hardware 'quad-opu'"),
        "missing_file": (str(tmp_path / "nope.yaml"), "not found"),
    }


@pytest.mark.parametrize(
    "case", ["not_yaml", "top_level_list", "empty", "binary", "directory", "unknown_preset", "missing_file"]
)
def test_bad_hardware_source(case: str, tmp_path: Path) -> None:
    source, fragment = _files(tmp_path)[case]
    with pytest.raises(HardwareError, match=fragment.replace("(", r"\(")):
        load_hardware(source)
    res = runner.invoke(app, ["evaluate", "mobilenet_v2", "--hw", source])
    assert res.exit_code == 2 and fragment in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _hw_with(cores: list[dict[str, Any]]) -> Hardware:
    return hardware_from_dict({"name": "custom", "cores": cores})


_REG = dict(
    name="reg",
    type="regular",
    pe_count=64,
    input_size=16,
    input_buffer_kib=128,
    weight_buffer_kib=128,
    output_buffer_kib=64,
)
_DW = dict(
    name="dw",
    type="depthwise",
    pe_count=16,
    input_size=9,
    input_buffer_kib=64,
    weight_buffer_kib=8,
    output_buffer_kib=32,
)


def test_core_type_that_cannot_run_a_layer_kind(tmp_path: Path) -> None:
    path = tmp_path / "regular-only.yaml"
    path.write_text(yaml.safe_dump({"name": "regular-only", "cores": [_REG]}))
    res = runner.invoke(app, ["evaluate", "mobilenet_v2", "--hw", str(path)])
    assert res.exit_code == 2 and "cores[].type" in res.stderr and "depthwise" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    net = build("mobilenet_v2", (1, 3, 96, 96))
    with pytest.raises(HardwareError, match=r"cores\[\]\.type.*depthwise layer.*depthwise or unified"):
        evaluate(net, _hw_with([_REG]))
    with pytest.raises(HardwareError, match=r"cores\[\]\.type.*(conv|pointwise) layer.*regular or unified"):
        evaluate(net, _hw_with([_DW]))
    evaluate(build("resnet18", (1, 3, 64, 64)), _hw_with([_REG]))  # no depthwise layer: fine
    no_post = [{**_REG, "runs_elementwise": False}, {**_DW, "runs_elementwise": False}]
    with pytest.raises(HardwareError, match=r"runs_elementwise"):
        evaluate(net, _hw_with(no_post))


@pytest.mark.parametrize(
    ("core", "field"),
    [
        (1, "input_buffer_kib"),  # 3 rows x 48 x 1 B of the first depthwise layer do not fit 0.1 KiB / 2
        (1, "weight_buffer_kib"),
        (0, "input_buffer_kib"),
        (0, "weight_buffer_kib"),  # one output channel of 1280 x 320 weights: 320 B
        (0, "output_buffer_kib"),
    ],
)
def test_buffer_too_small_for_minimum_tile(core: int, field: str, tmp_path: Path) -> None:
    data = _preset_dict()
    data["cores"][core][field] = 0.005
    hw = hardware_from_dict(data)
    net = build("mobilenet_v2", (1, 3, 96, 96))
    with pytest.raises(HardwareError, match=rf"cores\[{core}\]\.{field}.*minimum tile") as exc:
        evaluate(net, hw)
    assert "needs >=" in str(exc.value)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["evaluate", "mobilenet_v2", "--input-shape", "1x3x96x96", "--hw", str(path)])
    assert res.exit_code == 2 and f"cores[{core}].{field}" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_process_exit_code_and_single_line(tmp_path: Path) -> None:
    """The real process: exit status 2, one stderr line, no traceback."""
    data = _preset_dict()
    data["cores"][0]["pe_count"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    for args in (["area", str(bad)], ["evaluate", "mobilenet_v2", "--hw", str(tmp_path)]):
        res = subprocess.run(
            [sys.executable, "-m", "dualopu.cli", *args], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 2, res.stderr
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
