"""RTL of the cores: integer requantization vs float32, Verilog that Yosys elaborates.

The requantization check compares the hardware algorithm (`requant_int`, built the same
way in `dualopu.rtl.core`) with numpy's IEEE float32 arithmetic, an independent
reference; it cannot catch a difference between `requant_int` and the Amaranth netlist
(the RTL simulation test is where that would be caught, and is not done yet).
The elaboration test catches Verilog that Yosys cannot read or whose hierarchy does not
resolve; it cannot catch functional errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dualopu.hw.config import hardware_from_dict, list_presets, load_hardware
from dualopu.rtl.cases import tiny_hw
from dualopu.rtl.export import RtlError, check_verilog, core_verilog, module_name, write_rtl
from dualopu.rtl.params import MAX_BEAT_BYTES, core_rtl, pack, rtl_dram_note
from dualopu.rtl.requant import encode_mult, requant_int


def test_requant_matches_float32() -> None:
    rng = np.random.default_rng(1)
    accs = np.concatenate(
        [
            rng.integers(-(2**31), 2**31, 3000),
            rng.integers(-5000, 5000, 3000),
            np.array([0, 1, -1, 2**24 + 1, -(2**24) - 3, 2**31 - 1, -(2**31)]),
        ]
    )
    for t, acc in enumerate(accs):
        m = np.float32(np.exp(rng.uniform(-25, 3))) if t % 5 else np.float32(2.0 ** -int(rng.integers(0, 20)))
        sig, e = encode_mult(float(m))
        for lo, hi in ((-128, 127), (0, 127), (0, 40)):
            ref = int(np.clip(np.rint(np.float32(np.int32(acc)) * m), lo, hi))
            assert requant_int(int(acc), 0, sig, e, lo, hi) == ref, (acc, m)


def test_pack_rejects_out_of_range_field() -> None:
    from dualopu.errors import HardwareError

    with pytest.raises(HardwareError):
        pack(op=1, nch=1 << 12)


def test_tiny_verilog_elaborates(tmp_path: Path) -> None:
    hw = tiny_hw()  # the tiny cores the RTL simulation tests run (dualopu.rtl.cases)
    paths = write_rtl(hw, tmp_path, line_width=12)
    assert [p.name for p in paths] == ["opu_regular.v", "opu_dw.v"]
    text = paths[0].read_text()
    assert "module opu_regular" in text and "inbuf0" in text
    meta = json.loads((tmp_path / "rtl.json").read_text())
    assert meta["rtl_dram_bytes_per_cycle"] == hw.dram_bytes_per_cycle == 8 and meta["dram_note"] is None


def test_unified_core_elaborates(tmp_path: Path) -> None:
    d = {
        "name": "u",
        "dram_bytes_per_cycle": 8,
        "cores": [
            {
                "name": "unified",
                "type": "unified",
                "pe_count": 2,
                "input_size": 9,
                "ic_parallel": 9,
                "input_buffer_kib": 1,
                "weight_buffer_kib": 1,
                "output_buffer_kib": 1,
            }
        ],
    }
    hw = hardware_from_dict(d)
    p = core_rtl(hw.cores[0], hw, 10)
    path = tmp_path / "u.v"
    path.write_text(core_verilog(p))
    check_verilog(path, module_name("unified"))


def test_rtl_cli_bad_hardware_is_one_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "dualopu.cli", "rtl", "no-such-hw", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_systolic_core_is_refused_in_one_line(tmp_path: Path) -> None:
    """tpu-like's weight-stationary array has no RTL: one line, exit 2, nothing written."""
    out = tmp_path / "tpu"
    res = subprocess.run(
        [sys.executable, "-m", "dualopu.cli", "rtl", "tpu-like", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "systolic" in lines[0], res.stderr
    assert not out.exists()


def test_fast_dram_gets_a_capped_beat() -> None:
    """opu's 512 B/cycle DRAM: the RTL builds a 64 B beat (its banks are beat-wide) and says so."""
    hw = load_hardware("opu")
    p = core_rtl(hw.cores[0], hw)
    assert p.beat_bytes == MAX_BEAT_BYTES < hw.dram_bytes_per_cycle
    assert p.w_banks == p.word_bytes // MAX_BEAT_BYTES
    note = rtl_dram_note(hw)
    assert note is not None and "512 B/cycle" in note
    assert rtl_dram_note(load_hardware("dual-opu")) is None


def test_missing_native_yosys_is_an_rtl_error(tmp_path: Path) -> None:
    path = tmp_path / "x.v"
    path.write_text("module x(); endmodule\n")
    with pytest.raises(RtlError, match="cannot run yosys"):
        check_verilog(path, "x", yosys=str(tmp_path / "no-such-yosys"))


@pytest.mark.slow
def test_dual_opu_elaborates(tmp_path: Path) -> None:
    """The headline design: both cores' Verilog passes Yosys `hierarchy -check` (~1 min CPU)."""
    paths = write_rtl(load_hardware("dual-opu"), tmp_path)
    assert [p.name for p in paths] == ["opu_regular.v", "opu_depthwise.v"]


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("DUALOPU_RTL_PRESETS"),
    reason="single-opu and opu take ~5 min CPU each to generate and elaborate "
    "(benchmarks/bench_rtl_elab.py records the times); set DUALOPU_RTL_PRESETS=1 to run",
)
@pytest.mark.parametrize(
    "preset",
    [
        p
        for p in list_presets()
        if p != "dual-opu" and all(c.dataflow == "opu" for c in load_hardware(p).cores)
    ],
)
def test_presets_elaborate(preset: str, tmp_path: Path) -> None:
    hw = load_hardware(preset)
    paths = write_rtl(hw, tmp_path)
    assert [p.name for p in paths] == [f"{module_name(c.name)}.v" for c in hw.cores]
