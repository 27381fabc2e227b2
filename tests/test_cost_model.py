"""Analytical cost model: vectorized vs naive reference, and physical properties (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualopu.cost.model import CoreParams, core_costs
from dualopu.cost.reference import layer_cost_reference
from dualopu.hw.config import Core, CoreType
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind, Network, conv_kind

BW = 64.0


def _out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


@st.composite
def layers(draw: st.DrawFn, kinds: tuple[str, ...] = ("conv", "pw", "dw", "grouped", "fc", "pool", "add", "free")) -> Layer:
    """A random, shape-consistent layer of one of ``kinds``."""
    kind = draw(st.sampled_from(kinds))
    h = draw(st.integers(1, 120))
    w = draw(st.integers(1, 120)) if draw(st.booleans()) else h
    cin = draw(st.integers(1, 1024))
    if kind == "fc":
        cout = draw(st.integers(1, 1280))
        return Layer(name="fc", kind=LayerKind.FC, op="fc", inputs=("input",), in_shapes=((1, cin, 1, 1),),
                     out_shape=(1, cout, 1, 1), has_bias=draw(st.booleans()))
    if kind in ("add", "free"):
        shape = (1, cin, h, w)
        lk = LayerKind.ADD if kind == "add" else draw(st.sampled_from([LayerKind.CONCAT, LayerKind.SHUFFLE]))
        return Layer(name=kind, kind=lk, op=lk.value, inputs=("input", "input"), in_shapes=(shape, shape),
                     out_shape=shape)
    k = draw(st.sampled_from([1, 3, 5, 7])) if kind != "pw" else 1
    k = min(k, h + 2 * (k // 2), w + 2 * (k // 2))
    s = draw(st.sampled_from([1, 2]))
    p = k // 2
    ho, wo = _out(h, k, s, p), _out(w, k, s, p)
    if kind == "pool":
        return Layer(name="pool", kind=LayerKind.POOL, op="maxpool", inputs=("input",), in_shapes=((1, cin, h, w),),
                     out_shape=(1, cin, ho, wo), kernel=(k, k), stride=(s, s), padding=(p, p, p, p))
    groups = 1
    cout = draw(st.integers(1, 1024))
    if kind == "dw":
        cin = max(cin // 2, 2)
        groups, cout = cin, cin * draw(st.sampled_from([1, 1, 1, 2]))
    elif kind == "grouped":
        groups = draw(st.sampled_from([2, 4, 8]))
        cin, cout = max(cin // groups, 1) * groups, max(cout // groups, 1) * groups
        if cin == groups:  # would be depthwise
            cin *= 2
    lk = conv_kind(cin, cout, groups, (k, k))
    return Layer(name=lk.value, kind=lk, op="conv", inputs=("input",), in_shapes=((1, cin, h, w),),
                 out_shape=(1, cout, ho, wo), kernel=(k, k), stride=(s, s), padding=(p, p, p, p), groups=groups,
                 has_bias=draw(st.booleans()))


@st.composite
def cores(draw: st.DrawFn, core_type: CoreType | None = None, dataflow: str | None = None) -> Core:
    """A random valid core."""
    ct = core_type or draw(st.sampled_from(list(CoreType)))
    df = dataflow or ("opu" if ct is CoreType.DEPTHWISE else draw(st.sampled_from(["opu", "systolic"])))
    isz = draw(st.sampled_from([1, 2, 4, 8, 9, 16, 32]))
    pe = draw(st.integers(1, 256))
    icp = isz * draw(st.sampled_from([1, 2, 4, 8])) if isz != 9 else 9 * draw(st.sampled_from([1, 2, 4]))
    kib = st.floats(1.0, 512.0).map(lambda x: round(x, 1))
    return Core(name="c", type=ct, dataflow=df, pe_count=pe, input_size=isz, ic_parallel=icp,  # type: ignore[arg-type]
                input_buffer_kib=draw(kib), weight_buffer_kib=draw(kib), output_buffer_kib=draw(kib),
                instr_overhead_cycles=draw(st.integers(0, 64)), post_ops_per_cycle=draw(st.sampled_from([16, 64])))


def _net(ls: list[Layer]) -> Network:
    return Network(name="random", input_shape=(1, 3, 8, 8),
                   layers=tuple(Layer(**{**lay.__dict__, "name": f"l{i}"}) for i, lay in enumerate(ls)))


def _costs(layer: Layer, core: Core) -> tuple[float, float, float, float]:
    c = core_costs(_net([layer]).table, CoreParams.of(core), BW)
    return float(c.cycles[0, 0]), float(c.compute_cycles[0, 0]), float(c.memory_cycles[0, 0]), float(c.dram_bytes[0, 0])


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.lists(layers(), min_size=1, max_size=8), cores())
def test_vectorized_matches_naive_reference(ls: list[Layer], core: Core) -> None:
    net = _net(ls)
    vec = core_costs(net.table, CoreParams.of(core), BW)
    for j, layer in enumerate(net.layers):
        ref = layer_cost_reference(layer, core, BW)
        for field in ("cycles", "compute_cycles", "memory_cycles", "load_bytes", "store_bytes", "stages"):
            got = float(getattr(vec, field)[0, j])
            want = getattr(ref, field)
            assert got == want or math.isclose(got, want, rel_tol=1e-12), (field, layer, got, want)
        assert bool(vec.runnable[0, j]) == ref.runnable
        assert bool(vec.feasible[0, j]) == ref.feasible


@settings(max_examples=40, deadline=None)
@given(st.lists(layers(), min_size=1, max_size=6), st.lists(cores(CoreType.UNIFIED, "opu"), min_size=2, max_size=5))
def test_batched_configs_match_single(ls: list[Layer], cs: list[Core]) -> None:
    """CoreParams.batch over n configurations equals n single evaluations (row by row)."""
    t = _net(ls).table
    batch = CoreParams.batch(
        CoreType.UNIFIED, "opu",
        pe_count=[c.pe_count for c in cs], input_size=[c.input_size for c in cs],
        ic_parallel=[c.ic_parallel for c in cs], input_buffer_kib=[c.input_buffer_kib for c in cs],
        weight_buffer_kib=[c.weight_buffer_kib for c in cs], output_buffer_kib=[c.output_buffer_kib for c in cs],
        instr_overhead_cycles=[c.instr_overhead_cycles for c in cs],
        post_ops_per_cycle=[c.post_ops_per_cycle for c in cs],
    )
    many = core_costs(t, batch, BW)
    assert many.cycles.shape == (len(cs), len(ls))
    for k, c in enumerate(cs):
        one = core_costs(t, CoreParams.of(c), BW)
        np.testing.assert_array_equal(many.cycles[k], one.cycles[0])
        np.testing.assert_array_equal(many.dram_bytes[k], one.dram_bytes[0])


def _capable(layer: Layer, core: Core) -> bool:
    return layer.kind not in MAC_KINDS or layer.kind in core.runs


@_SETTINGS
@given(layers(), cores())
def test_cycles_respect_compute_and_memory_bounds(layer: Layer, core: Core) -> None:
    cyc, comp, mem, dram = _costs(layer, core)
    if not math.isfinite(cyc):
        assert not _capable(layer, core) or not layer_cost_reference(layer, core, BW).feasible
        return
    assert cyc >= layer.macs / core.macs_per_cycle - 1e-9  # compute bound
    assert cyc >= dram / BW - 1e-9  # memory bound
    assert cyc >= comp - 1e-9 and cyc >= mem - 1e-9
    if layer.macs:
        eff = layer.macs / (core.macs_per_cycle * cyc)
        assert 0 < eff <= 1


@_SETTINGS
@given(layers(kinds=("conv", "pw", "dw", "grouped", "fc")), cores(), st.integers(1, 256))
def test_more_pes_never_slower(layer: Layer, core: Core, extra: int) -> None:
    """With the same buffers and bandwidth, adding PEs never makes a layer slower."""
    bigger = Core.model_validate({**core.model_dump(), "pe_count": core.pe_count + extra})
    small, big = _costs(layer, core)[0], _costs(layer, bigger)[0]
    assert big <= small * (1 + 1e-12), (small, big)
