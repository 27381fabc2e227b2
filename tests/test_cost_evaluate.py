"""Whole-network evaluation: API, per-layer table, placement, and the seed's claims about
depthwise layers (efficiency on a unified array, compute vs memory bound)."""

from __future__ import annotations

import numpy as np
import pytest

import dualopu
from dualopu.cost import cost_matrix, place_layers
from dualopu.cost.model import CoreParams, core_costs
from dualopu.hw import Hardware, hardware_from_dict, load_hardware
from dualopu.hw.config import Core
from dualopu.ir.network import MAC_KINDS, Network
from dualopu.ir.zoo import build, list_zoo

PRESETS = ("dual-opu", "single-opu", "tpu-like")


@pytest.fixture(scope="module")
def mnv2() -> Network:
    return build("mobilenet_v2")


def test_api_result_has_layers_and_core_totals(mnv2: Network) -> None:
    res = dualopu.evaluate(mnv2, dualopu.load_hardware("dual-opu"))
    df = res.to_dataframe()
    for col in ("layer", "kind", "core", "cycles", "compute_cycles", "memory_cycles", "bound", "macs",
                "pe_efficiency", "dram_bytes", "macs_per_dram_byte", "attainable_macs_per_cycle"):
        assert col in df.columns
    assert len(df) == len(mnv2) and set(df["core"]) == {"regular", "depthwise"}
    assert (df.loc[df["kind"] == "depthwise", "core"] == "depthwise").all()
    assert res.latency_cycles == pytest.approx(df["cycles"].sum())
    units = np.array([res.hardware.cores[c].macs_per_cycle for c in res.core])
    mac = df["macs"] > 0
    eff = df["macs"] / (units * df["cycles"])  # MACs / (PEs x input size x cycles)
    np.testing.assert_allclose(df.loc[mac, "pe_efficiency"], eff[mac])
    assert ((df.loc[mac, "pe_efficiency"] > 0) & (df.loc[mac, "pe_efficiency"] <= 1)).all()
    assert (df["cycles"] >= np.maximum(df["compute_cycles"], df["memory_cycles"]) - 1e-9).all()
    s = res.summary()
    assert s["total_macs"] == mnv2.total_macs
    assert sum(c["busy_cycles"] for c in s["cores"]) == pytest.approx(s["latency_cycles"])
    assert sum(c["macs"] for c in s["cores"]) == mnv2.total_macs
    assert s["period_bound_cycles"] <= s["latency_cycles"]
    assert 0 < s["pe_efficiency_sequential"] <= s["pe_efficiency_at_bound"] <= 1
    assert all(r["macs_per_dram_byte"] is None or np.isfinite(r["macs_per_dram_byte"]) for r in res.layer_records())


def _place_reference(net: Network, hw: Hardware, cm: object) -> np.ndarray:
    """The original per-layer loop of `place_layers` (kept to check the vectorized one)."""
    cycles = cm.cycles  # type: ignore[attr-defined]
    core = np.full(len(net), -1, dtype=np.int64)
    for i, layer in enumerate(net.layers):
        finite = np.isfinite(cycles[i])
        if layer.kind not in MAC_KINDS:
            for p in net.predecessors[i]:
                if core[p] >= 0 and finite[core[p]]:
                    core[i] = core[p]
                    break
        if core[i] < 0:
            core[i] = int(np.argmin(np.where(finite, cycles[i], np.inf)))
    return core


@pytest.mark.parametrize("name", list_zoo())
def test_placement_matches_reference_loop(name: str) -> None:
    net = build(name)
    for hw_name in PRESETS:
        hw = load_hardware(hw_name)
        cm = cost_matrix(net, hw)
        np.testing.assert_array_equal(place_layers(net, hw, cm), _place_reference(net, hw, cm))


# ---- the seed's claims about depthwise layers ---------------------------------------------------


def _dw_efficiency(net: Network, core: Core, bw: float = 64.0) -> tuple[np.ndarray, np.ndarray]:
    """Per 3x3 depthwise layer: PE efficiency end to end and of the PE array alone (compute cycles)."""
    t = net.table
    c = core_costs(t, CoreParams.of(core), bw)
    m = np.array([lay.kind.value == "depthwise" and lay.kernel == (3, 3) for lay in net.layers])
    macs = t.macs[m].astype(float)
    return macs / (core.macs_per_cycle * c.cycles[0, m]), macs / (core.macs_per_cycle * c.compute_cycles[0, m])


def test_depthwise_less_efficient_on_unified_core(mnv2: Network) -> None:
    """A 3x3 window uses 9 of the unified core's 16 inputs per PE, so its array is at most 9/16
    busy on depthwise layers; a depthwise core tuned to 9 inputs per PE uses all of them.

    Same PE count (64 PEs, the single-opu array): every 3x3 depthwise layer of MobileNetV2 is
    less efficient on the unified core, end to end at 64 B/cycle and in the PE array alone.
    Same MAC budget (1024 MAC units: 64 x 16 vs 113 x 9): the PE array alone is still less
    efficient on the unified core for every layer (end to end both are DRAM-bound).
    """
    unified = load_hardware("single-opu").cores[0]
    bufs = dict(input_buffer_kib=unified.input_buffer_kib, weight_buffer_kib=unified.weight_buffer_kib,
                output_buffer_kib=unified.output_buffer_kib)
    # the unified core's depthwise mapping options (the OPU machine model of the preset)
    bufs |= {k: getattr(unified, k) for k in ("instr_overhead_cycles", "compute_overhead_cycles", "layout",
                                              "dw_channel_group", "store_elems_per_cycle", "spatial_tiling")}
    dw_same_pes = Core(name="dw", type="depthwise", pe_count=64, input_size=9, **bufs)  # type: ignore[arg-type]
    dw_same_macs = Core(name="dw", type="depthwise", pe_count=113, input_size=9, **bufs)  # type: ignore[arg-type]
    u_end, u_pe = _dw_efficiency(mnv2, unified)
    d_end, d_pe = _dw_efficiency(mnv2, dw_same_pes)
    assert len(u_end) == 17
    assert np.all(u_pe <= 9 / 16 + 1e-12)
    assert np.all(u_end < d_end) and np.all(u_pe < d_pe)
    assert np.median(d_end / u_end) > 1.5
    _, d2_pe = _dw_efficiency(mnv2, dw_same_macs)
    assert np.all(u_pe < d2_pe)
    # one layer on the dual-opu preset's own depthwise core vs the unified core of the same input size:
    # the mapping is the same (line-buffered window, one pixel per PE), only the array size differs
    dw16 = Core(name="dw", type="depthwise", pe_count=64, input_size=16, **bufs)  # type: ignore[arg-type]
    np.testing.assert_allclose(_dw_efficiency(mnv2, dw16)[0], u_end)


def _bound_counts(net: Network, hw_name: str, kind: str) -> tuple[int, int]:
    df = dualopu.evaluate(net, load_hardware(hw_name)).to_dataframe()
    sub = df[df["kind"] == kind]
    return int((sub["bound"] == "compute").sum()), len(sub)


def test_pointwise_compute_bound_depthwise_memory_bound(mnv2: Network) -> None:
    """MobileNetV2, 224x224: the 34 pointwise layers are compute-bound on every preset.
    The 17 depthwise layers (about 4.4 MACs per DRAM byte) are memory-bound on the
    1024-MAC unified array (ridge 16 MAC/B; 9 effective at 9/16 of the inputs), but
    compute-bound on dual-opu's small depthwise core (256 MACs/cycle: ridge 4 MAC/B, 2.25
    effective), whose compute takes about 2.2x its DRAM time (median)."""
    for hw_name in PRESETS:
        assert _bound_counts(mnv2, hw_name, "pointwise") == (34, 34)
    # on single-opu only the 32-channel layer is compute-bound: one channel per PE (the authors'
    # 64-channel depthwise groups, issue 12) leaves half of the 64 PEs idle there
    sdf = dualopu.evaluate(mnv2, load_hardware("single-opu")).to_dataframe()
    narrow = np.array([ly.out_channels < 64 for ly in mnv2.layers])
    sdw = (sdf["kind"] == "depthwise").to_numpy()
    assert (sdf["bound"][sdw & ~narrow] == "memory").all() and (sdf["bound"][sdw & narrow] == "compute").all()
    assert _bound_counts(mnv2, "dual-opu", "depthwise") == (17, 17)
    df = dualopu.evaluate(mnv2, load_hardware("dual-opu")).to_dataframe()
    dw = df[df["kind"] == "depthwise"]
    assert 3.5 < dw["macs_per_dram_byte"].median() < 5.5
    ratio = dw["compute_cycles"] / dw["memory_cycles"]
    assert 1.5 < ratio.median() < 3.0
    # a depthwise core with 4x the MACs (64 x 16) makes them memory-bound (same buffers)
    big = hardware_from_dict({**load_hardware("dual-opu").model_dump(mode="json"), "name": "big-dw"})
    big = big.replace_core(1, pe_count=64)
    sub = dualopu.evaluate(mnv2, big).to_dataframe()
    assert (sub.loc[sub["kind"] == "depthwise", "bound"] == "memory").sum() >= 15
