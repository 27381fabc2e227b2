"""The fpga-xc7 area model: the fitted table, its provenance, the DSP rule, the CLI.

The table is data measured by Yosys (scripts/fit_fpga_area.py); these tests check that it
is self-consistent (refitting its own grid gives its coefficients), that the synthesized DSP
counts follow the documented rule, that the tool's feature of a core agrees with what the
RTL generator builds, and the `area_model` field and `dualopu area --area-model` paths.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualopu.errors import HardwareError
from dualopu.hw.area_fpga import (
    DW_WINDOW_TAPS,
    FEATURES,
    RESOURCES,
    RTL_MAX_BEAT_BYTES,
    built_macs,
    core_features,
    core_resources,
    dsp_by_rule,
    fit_nonnegative,
    fpga_breakdown,
    load_table,
    output_lanes,
)
from dualopu.hw.config import CoreType, hardware_from_dict, list_presets, load_hardware


def _grid() -> list[dict]:
    return load_table()["provenance"]["grid"]


def test_table_has_provenance() -> None:
    doc = load_table()
    prov = doc["provenance"]
    assert doc["family"] == "xc7"
    assert "Yosys" in prov["tool"] and prov["script"] == "scripts/fit_fpga_area.py"
    assert prov["date"] and prov["total_cpu_seconds"] > 0
    for typ in ("regular", "depthwise"):
        t = doc["types"][typ]
        assert len(t["points"]) > len(FEATURES)  # over-determined fit
        for res in RESOURCES:
            assert len(t["fit"][res]["residuals"]) == len(t["points"])


def test_refit_of_stored_grid_gives_stored_coefficients() -> None:
    doc = load_table()
    for t in doc["types"].values():
        rows = [g for g in _grid() if g["point"] in t["points"]]
        hws = [hardware_from_dict(g["hardware"]) for g in rows]
        x = np.array([core_features(h.cores[0], h.dram_bytes_per_cycle) for h in hws])
        for res in RESOURCES:
            y = np.array([g["resources"][res] for g in rows], dtype=float)
            coef = fit_nonnegative(x, y)
            stored = np.array([t["fit"][res]["coefficients"][f] for f in FEATURES])
            np.testing.assert_allclose(coef, stored, rtol=1e-4, atol=1e-3)


def test_synthesized_dsp_follow_the_documented_rule() -> None:
    for g in _grid():
        hw = hardware_from_dict(g["hardware"])
        c = hw.cores[0]
        lanes = output_lanes(c.type, c.pe_count, c.input_size, c.ic_parallel)
        macs = built_macs(c.type, c.pe_count, c.input_size)
        assert g["resources"]["dsp"] == int(dsp_by_rule(macs, lanes)), g["point"]
        assert (
            g["resources"]["dsp"]
            == core_resources(c.type, c.pe_count, c.input_size, c.ic_parallel, 1, 8)["dsp"][0]
        )


def test_window_taps_match_the_generator() -> None:
    from dualopu.rtl.params import DW_KERNEL_MAX

    assert DW_KERNEL_MAX**2 == DW_WINDOW_TAPS


def test_output_lanes_and_beat_match_the_generator() -> None:
    from dualopu.rtl.params import MAX_BEAT_BYTES, core_rtl

    assert MAX_BEAT_BYTES == RTL_MAX_BEAT_BYTES
    hws = [hardware_from_dict(g["hardware"]) for g in _grid()] + [load_hardware(p) for p in list_presets()]
    for hw in hws:
        for c in hw.cores:
            if c.dataflow != "opu":
                continue  # a systolic core has no RTL (the generator refuses it)
            assert core_features(c, hw.dram_bytes_per_cycle)[FEATURES.index("beat_bytes")] == (
                core_rtl(c, hw).beat_bytes
            ), (hw.name, c.name)
            lanes = output_lanes(c.type, c.pe_count, c.input_size, c.ic_parallel)
            assert float(lanes[()] if lanes.ndim == 0 else lanes) == core_rtl(c, hw).out_banks, (
                hw.name,
                c.name,
            )


@settings(max_examples=50, deadline=None)
@given(pe=st.integers(1, 128), isz=st.sampled_from([4, 8, 16]), kib=st.floats(1, 512))
def test_more_pes_never_fewer_dsps(pe: int, isz: int, kib: float) -> None:
    for t in (CoreType.REGULAR, CoreType.DEPTHWISE, CoreType.UNIFIED):
        a = core_resources(t, pe, isz, 64, kib, 64)
        b = core_resources(t, pe + 1, isz, 64, kib, 64)
        assert b["dsp"][0] >= a["dsp"][0]


def test_area_model_field() -> None:
    d = load_hardware("dual-opu").model_dump(mode="json")
    assert d["area_model"]["kind"] == "mac-equivalent"
    d["area_model"] = "fpga-xc7"
    assert hardware_from_dict(d).area_model.kind == "fpga-xc7"
    d["area_model"] = "asic"
    with pytest.raises(HardwareError, match="area_model"):
        hardware_from_dict(d)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dualopu.cli", *args], capture_output=True, text=True)


def test_area_cli_fpga_json() -> None:
    res = _cli("area", "dual-opu", "--area-model", "fpga-xc7", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["area_model"] == "fpga-xc7" and [c["core"] for c in out["cores"]] == ["regular", "depthwise"]
    hw = load_hardware("dual-opu")
    for row, pred in zip(out["cores"], fpga_breakdown(hw), strict=True):
        for k in RESOURCES:
            assert row[k] == pytest.approx(getattr(pred, k), abs=0.06)
    assert out["total"]["dsp"] == pytest.approx(sum(c["dsp"] for c in out["cores"]), abs=0.2)


def test_area_cli_bad_model_is_one_line() -> None:
    res = _cli("area", "dual-opu", "--area-model", "asic")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_area_cli_follows_the_description(tmp_path: Path) -> None:
    d = load_hardware("single-opu").model_dump(mode="json")
    d["area_model"] = "fpga-xc7"
    path = tmp_path / "hw.yaml"
    path.write_text(json.dumps(d))  # JSON is YAML
    out = json.loads(_cli("area", str(path), "--json").stdout)
    assert out["area_model"] == "fpga-xc7" and out["cores"][0]["dsp"] > 0
    out = json.loads(_cli("area", str(path), "--area-model", "mac-equivalent", "--json").stdout)
    assert out["area_model"] == "mac-equivalent" and "dsp" not in out["cores"][0]
