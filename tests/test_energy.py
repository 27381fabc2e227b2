"""Energy model: hand-computed access counts on a tiny network, YAML overrides, monotonicity."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualopu.cost import evaluate
from dualopu.cost.energy import AccessCounts, dynamic_energy
from dualopu.cost.model import CoreParams
from dualopu.errors import HardwareError
from dualopu.hw import EnergyModel, hardware_from_dict, load_hardware, total_area
from dualopu.ir.network import LayerKind
from dualopu.ir.zoo import Builder


def _tiny():
    """input 16x8x8 -> depthwise 3x3 -> pointwise 16->16 -> add(pointwise, input)."""
    b = Builder("tiny", (1, 16, 8, 8))
    dw = b.conv("dw", "input", 16, k=3, g=16)
    pw = b.conv("pw", dw, 16, k=1)
    b.eltwise("add", LayerKind.ADD, pw, "input")
    return b.build()


def _sram(em: EnergyModel, bank_kib: float) -> float:
    """The stated law, written out here: 10 pJ per 64 bits at 8 KiB, times sqrt(size / 8 KiB)."""
    return em.sram_ref_pj_per_byte * math.sqrt(bank_kib / em.sram_ref_kib)


def test_tiny_network_energy_is_counts_times_energies():
    """Per-image energy = hand-counted accesses x per-access energies + leakage over the period.

    The counts below are worked out by hand from the mapping rules in docs/assumptions.md for
    the dual-opu preset (every layer fits in one tile), not from the model's code; so this
    catches a wrong count, a wrong SRAM bank size or a component left out of the total. It
    does not check the rules themselves (they are stated choices) nor the cycle count of the
    static term (taken from the cost model, whose own tests check it).

    regular core (48 PEs x 16, banks: input 64 KiB, weight 64 KiB, output 32 KiB):
      pw: 16 input channels <= 64/4, so the array widens 4x: 16 in x 48 out per cycle;
          64 pixels -> 64 compute cycles; MAC slots 64*768 = 49152 (32768 useful);
          accumulator updates 64*48; input reads 64 cycles * 16 B; weight reads 1 B/slot;
          loads: weights 256 + 16 multipliers * 4 B = 320 B, inputs 1024 B; store 1024 B;
          1024 requantizations
      add: loads 2 x 1024 B, store 1024 B, 1024 adds (follows pw onto the regular core)
    depthwise core (16 PEs x 16, banks: input 32 KiB, weight 4 KiB, output 16 KiB):
      dw: 16 channels, one per PE, 8 rows x 8 pixels x ceil(9/16) = 64 cycles + line-buffer
          fill 2*8+2 = 18 -> 82 cycles; slots 82*256; accumulator updates 82*16;
          loads: weights 144 + 16*4 = 208 B, inputs 1024 B (read once into the line buffer);
          weight reads 144 B; store 1024 B; 1024 requantizations
    """
    hw = load_hardware("dual-opu")
    em = hw.energy_model
    cost = evaluate(_tiny(), hw)
    assert [hw.cores[c].name for c in cost.core] == ["depthwise", "regular", "regular"]
    r_in, r_w, r_out = _sram(em, 64), _sram(em, 64), _sram(em, 32)
    d_in, d_w, d_out = _sram(em, 32), _sram(em, 4), _sram(em, 16)
    w = em.sram_write_factor

    mac = (49152 + 82 * 256) * (em.mac_pj + em.adder_input_pj) + (64 * 48 + 82 * 16) * em.accumulator_pj
    post = 2 * 1024 * em.requant_pj + 1024 * em.post_op_pj
    sram_pw = 1024 * r_in + 49152 * r_w + 1024 * w * r_in + 320 * w * r_w + 1024 * (w + 1) * r_out
    sram_add = 2048 * r_in + 2048 * w * r_in + 1024 * (w + 1) * r_out
    sram_dw = 1024 * d_in + 1024 * w * d_in + 144 * d_w + 208 * w * d_w + 1024 * (w + 1) * d_out
    sram = sram_pw + sram_add + sram_dw
    dram = (1344 + 2048 + 1232) * em.dram_read_pj_per_byte + 3 * 1024 * em.dram_write_pj_per_byte
    static = em.leakage_uw_per_area * total_area(hw) * cost.period_bound_cycles / hw.clock_mhz

    s = cost.summary()
    parts = s["energy_breakdown_uj"]
    assert parts["mac"] == pytest.approx(mac / 1e6, rel=1e-12)
    assert parts["post"] == pytest.approx(post / 1e6, rel=1e-12)
    assert parts["sram"] == pytest.approx(sram / 1e6, rel=1e-12)
    assert parts["dram"] == pytest.approx(dram / 1e6, rel=1e-12)
    assert parts["static"] == pytest.approx(static / 1e6, rel=1e-9)
    assert s["energy_uj_per_image"] == pytest.approx((mac + post + sram + dram + static) / 1e6, rel=1e-9)
    df = cost.to_dataframe()
    assert df["energy_uj"].sum() + s["energy_idle_static_uj"] == pytest.approx(
        s["energy_uj_per_image"], rel=1e-12
    )
    assert s["gops_per_watt"] == pytest.approx(
        2 * cost.network.total_macs / (s["energy_uj_per_image"] * 1e-6) / 1e9
    )


def test_energy_model_yaml_override_and_validation():
    """`energy_model:` overrides a field; non-positive or non-finite values are refused in one line."""
    base = load_hardware("dual-opu").model_dump(mode="json")
    hw = hardware_from_dict({**base, "energy_model": {"dram_read_pj_per_byte": 20.0}})
    assert hw.energy_model.dram_read_pj_per_byte == 20.0
    assert hw.energy_model.mac_pj == EnergyModel().mac_pj
    cheap = evaluate(_tiny(), hw).summary()["energy_breakdown_uj"]["dram"]
    assert cheap < evaluate(_tiny(), load_hardware("dual-opu")).summary()["energy_breakdown_uj"]["dram"]
    for bad in (-1.0, 0.0, float("inf"), float("nan")):
        with pytest.raises(HardwareError, match=r"energy_model\.mac_pj"):
            hardware_from_dict({**base, "energy_model": {"mac_pj": bad}})
    with pytest.raises(HardwareError, match="energy_model"):
        hardware_from_dict({**base, "energy_model": {"no_such_field": 1.0}})


def test_sram_energy_law_matches_the_cited_points():
    """The square-root law reproduces Horowitz's 8 KB and 32 KB figures exactly and 1 MB within 15%."""
    em = EnergyModel()
    per_64bit = em.sram_read_pj_per_byte(np.array([8.0, 32.0, 1024.0])) * 8
    assert per_64bit[0] == pytest.approx(10.0)
    assert per_64bit[1] == pytest.approx(20.0)
    assert per_64bit[2] == pytest.approx(100.0, rel=0.15)


_counts = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)
_energy = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(_counts, min_size=13, max_size=13),
    extra=st.floats(min_value=1.0, max_value=1e8),
    dram=_energy,
    mac=_energy,
)
def test_energy_grows_with_dram_traffic_and_mac_slots(base, extra, dram, mac):
    """More DRAM bytes or more MAC slots, all else equal, cost exactly that much more energy.
    Catches a component priced with the wrong sign or dropped; not whether the counts are right."""
    em = EnergyModel(dram_read_pj_per_byte=dram, dram_write_pj_per_byte=dram, mac_pj=mac)
    p = CoreParams.of(load_hardware("dual-opu").cores[0])
    names = list(AccessCounts.__dataclass_fields__)
    c0 = AccessCounts(*(np.array([[v]]) for v in base))

    def bump(field: str) -> AccessCounts:
        return AccessCounts(*(np.array([[v + (extra if n == field else 0.0)]]) for n, v in zip(names, base)))

    e0 = dynamic_energy(c0, p, em).total_pj[0, 0]
    assert dynamic_energy(bump("dram_read_bytes"), p, em).total_pj[0, 0] == pytest.approx(e0 + extra * dram)
    assert dynamic_energy(bump("dram_write_bytes"), p, em).total_pj[0, 0] == pytest.approx(e0 + extra * dram)
    assert dynamic_energy(bump("mac_slots"), p, em).total_pj[0, 0] == pytest.approx(e0 + extra * mac)


@settings(max_examples=40, deadline=None)
@given(
    cin=st.integers(1, 256),
    cout=st.integers(1, 256),
    more=st.integers(1, 256),
    hw_=st.integers(4, 56),
    k=st.sampled_from([1, 3]),
)
def test_network_energy_grows_with_output_channels(cin, cout, more, hw_, k):
    """A conv with more output channels (more MACs, more weight and output DRAM bytes) costs more
    energy per image on dual-opu. Catches counts that fall when the work grows."""
    hw = load_hardware("dual-opu")

    def energy(c: int) -> tuple[float, float, float]:
        b = Builder("one", (1, cin, hw_, hw_))
        b.conv("c", "input", c, k=k)
        s = evaluate(b.build(), hw).summary()
        return s["energy_uj_per_image"], s["dram_bytes"], float(s["total_macs"])

    e0, d0, m0 = energy(cout)
    e1, d1, m1 = energy(cout + more)
    assert m1 > m0 and d1 > d0
    assert e1 > e0


@pytest.mark.slow
def test_evaluate_json_has_energy_fields():
    """`dualopu evaluate mobilenet_v2 --hw dual-opu --json` reports per-image and per-layer energy."""
    out = subprocess.run(
        [sys.executable, "-m", "dualopu.cli", "evaluate", "mobilenet_v2", "--hw", "dual-opu", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    d = json.loads(out)
    assert d["energy_uj_per_image"] > 0 and d["gops_per_watt"] > 0
    for row in d["layers"]:
        for c in ("mac", "post", "sram", "dram", "static"):
            assert row[f"energy_{c}_uj"] >= 0
    total = sum(r["energy_uj"] for r in d["layers"]) + d["energy_idle_static_uj"]
    assert total == pytest.approx(d["energy_uj_per_image"], rel=1e-9)


def test_batched_candidate_energy_equals_network_energy():
    """The tuner's vectorized path (many configurations per core at once, template placement)
    gives the preset's energy per image exactly when the preset is among the candidates.
    Catches the two paths drifting apart (placement, bank sizes, static term); both rest on
    the same access counts, so it cannot catch a wrong count."""
    from dualopu.cost.energy import energy_per_image_uj, placed_dynamic_pj
    from dualopu.cost.model import core_costs
    from dualopu.hw import core_area
    from dualopu.ir.zoo import build

    hw = load_hardware("dual-opu")
    net = build("mobilenet_v2")
    cost = evaluate(net, hw)
    dyn, areas, busy = [], [], []
    for k, c in enumerate(hw.cores):
        pes = np.array([8, c.pe_count, 64])
        p = CoreParams.like(c, pe_count=pes)  # every other field as the preset's core (as the tuner does)
        costs = core_costs(net.table, p, hw.dram_bytes_per_cycle, hw.data_bytes, hw.dram_model)
        mask = cost.core == k
        dyn.append(placed_dynamic_pj(net.table, p, costs, mask, hw.energy_model, hw.data_bytes))
        busy.append(costs.cycles[:, mask].sum(axis=1))
        buffers = c.input_buffer_kib + c.weight_buffer_kib + c.output_buffer_kib
        areas.append(core_area(hw.area_model, c.type, pes, c.input_size, buffers))
    idx = np.array([[1, 1], [0, 2], [2, 0]])
    dram_cycles = cost.dram_bytes / hw.dram_bytes_per_cycle
    period = np.maximum(np.maximum(busy[0][idx[:, 0]], busy[1][idx[:, 1]]), dram_cycles)
    area = areas[0][idx[:, 0]] + areas[1][idx[:, 1]]
    e = energy_per_image_uj(dyn, idx, area, period, hw.energy_model, hw.clock_mhz)
    assert e[0] == pytest.approx(cost.summary()["energy_uj_per_image"], rel=1e-9)
    assert np.all(np.isfinite(e)) and len(set(np.round(e, 6))) == 3


def test_scheduled_energy_of_one_sequential_image():
    """One image scheduled sequentially on the default placement: the schedule's energy is the
    evaluated dynamic energy plus the whole chip's leakage over the makespan (= the latency).
    Catches tasks mapped to the wrong layer or core and a static term over the wrong time."""
    from dualopu.cost.energy import network_energy, scheduled_energy
    from dualopu.sched import Workload, schedule

    hw = load_hardware("dual-opu")
    net = _tiny()
    cost = evaluate(net, hw)
    work = Workload.single(net, 1)
    s = schedule(work, hw, "sequential")
    assert s.makespan_cycles == pytest.approx(cost.latency_cycles)
    e = scheduled_energy(s, work, hw)
    leak = hw.energy_model.leakage_uw_per_area * total_area(hw) * cost.latency_cycles / hw.clock_mhz
    dyn = float(network_energy(cost).dynamic.total_pj.sum())
    assert e["energy_uj_per_image"] == pytest.approx((dyn + leak) / 1e6, rel=1e-9)
    assert e["energy_static_uj_per_image"] == pytest.approx(leak / 1e6, rel=1e-9)
