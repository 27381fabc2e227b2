"""Test oracle: the mapping, tiling and cost rules as a plain scalar specification.

The rules of `dualopu.plan.plan_tiles` priced as `dualopu.cost.model.core_costs` does,
written the obvious way (``math``, ``if``/``else``, one layer at a time). It checks the
vectorized planner and pricer (tests compare them on random layers and configurations)
and is the baseline of ``benchmarks/bench_cost.py`` ("vectorized vs naive loop"). It is not
part of the package: the tool has one rule set, this is its executable specification.
It can catch a vectorization mistake (a wrong ``where`` branch, broadcasting, a lost
floor); it cannot catch a rule that is wrong in both (the cycle simulator checks those).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dualopu.hw.config import Core, CoreType
from dualopu.ir.network import Layer, LayerKind, Network, uses_table

PARAM_BYTES_MULT = 4  # float32 requantization multiplier per output channel
PARAM_BYTES_BIAS = 4  # int32 bias per output channel
TABLE_BYTES = 256  # activation table

_REGULAR = (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.GROUPED, LayerKind.FC)
_ELTWISE = (LayerKind.POOL, LayerKind.ADD, LayerKind.MUL, LayerKind.ACTIVATION)
_FREE = (LayerKind.CONCAT, LayerKind.SHUFFLE)


@dataclass(frozen=True)
class LayerCostRef:
    """Cost of one layer on one core (``cycles`` is ``inf`` when it cannot run there)."""

    cycles: float
    compute_cycles: float
    memory_cycles: float
    load_bytes: float
    store_bytes: float
    stages: float
    runnable: bool
    feasible: bool


def _rows_per_tile(
    half_in: float, in_row: float, kh: float, sh: float, half_out: float, out_row: float, hout: float
) -> tuple[float, bool]:
    rows_in = math.floor(half_in / max(in_row, 1.0))
    tr_in = math.floor((rows_in - kh) / sh) + 1.0
    tr_out = math.floor(half_out / max(out_row, 1.0))
    tr = min(max(min(tr_in, tr_out), 1.0), hout)
    return tr, rows_in >= kh and tr_out >= 1.0


def _pipeline(
    stages: float,
    compute: float,
    load: float,
    store: float,
    bw: float,
    ovh: float,
    load_instrs: float | None = None,
) -> float:
    s = max(stages, 1.0)
    n_loads = s if load_instrs is None else max(load_instrs, 1.0)
    comp_s = compute / s + ovh
    load_s = load / s / bw + ovh * n_loads / s
    store_s = store / s / bw + ovh
    return max(s * (load_s + store_s) + max(comp_s - store_s, 0.0), s * comp_s + load_s + store_s)


def layer_cost_reference(
    layer: Layer, core: Core, dram_bytes_per_cycle: float, data_bytes: int = 1
) -> LayerCostRef:
    """Cost of ``layer`` on ``core``, computed with scalar Python (same rules as `core_costs`)."""
    bw, db = float(dram_bytes_per_cycle), float(data_bytes)
    kind = layer.kind
    _, cin, hin, win = (float(x) for x in layer.in_shape)
    _, cout, hout, wout = (float(x) for x in layer.out_shape)
    kh, kw = float(layer.kernel[0]), float(layer.kernel[1])
    kh_ext = float((layer.kernel[0] - 1) * layer.dilation[0] + 1)  # input rows one output row reads
    kw_ext = float((layer.kernel[1] - 1) * layer.dilation[1] + 1)
    sh = float(layer.stride[0])
    groups = float(layer.groups)
    p, i = float(core.pe_count), float(core.input_size)
    half_in = core.input_buffer_kib * 1024.0 / 2
    half_w = core.weight_buffer_kib * 1024.0 / 2
    half_out = core.output_buffer_kib * 1024.0 / 2
    ovh = float(core.instr_overhead_cycles)
    in_bytes, out_bytes, w_bytes = layer.in_elems * db, layer.out_elems * db, layer.weight_count * db
    systolic = core.dataflow == "systolic"
    bias = 1.0 if layer.has_bias else 0.0
    w_full = w_bytes - bias * cout * db + cout * (PARAM_BYTES_MULT + PARAM_BYTES_BIAS * bias)
    table = TABLE_BYTES if uses_table(layer) else 0.0

    if kind in _FREE:
        ok = core.runs_elementwise
        return LayerCostRef(0.0 if ok else math.inf, 0.0, 0.0, 0.0, 0.0, 0.0, ok, True)
    if kind in _ELTWISE:
        if not core.runs_elementwise:
            return LayerCostRef(math.inf, 0.0, 0.0, 0.0, 0.0, 1.0, False, True)
        comp = math.ceil(layer.elementwise_ops / core.post_ops_per_cycle)
        tiles = _elementwise_tiles(layer, half_in, half_out, db)
        if tiles is None:
            return LayerCostRef(math.inf, comp, 0.0, 0.0, 0.0, 1.0, True, False)
        tc, tr, n_oc, n_rows = tiles
        s = n_oc * n_rows
        full = sum(1 for sh_ in layer.in_shapes if kind is LayerKind.POOL or sh_[2:] == layer.out_shape[2:])
        bcast = len(layer.in_shapes) - full
        if layer.op == "global_avgpool":
            in_load = in_bytes
        elif kind is LayerKind.POOL:
            in_load = min(hin, n_rows * ((tr - 1) * sh + kh_ext)) * win * cout * db
        else:
            in_load = full * out_bytes + bcast * cout * n_rows * db
        load = in_load + table
        instrs = s * len(layer.inputs) + (1 if table else 0)
        cyc = _pipeline(s, comp, load, out_bytes, bw, ovh, instrs)
        return LayerCostRef(cyc, comp, (load + out_bytes) / bw, load, out_bytes, s, True, True)

    kk = kh * kw
    if kind in _REGULAR:
        if core.type not in (CoreType.REGULAR, CoreType.UNIFIED):
            return LayerCostRef(math.inf, 0.0, 0.0, 0.0, 0.0, 1.0, False, True)
        cin_g, cout_g = cin / groups, cout / groups
        pic_e = 1.0
        if systolic:
            poc_e = p
        else:
            pic = min(float(core.ic_parallel), p * i)
            poc = math.floor(p * i / pic)
            widen = 4.0 if cin_g <= pic / 4 else (2.0 if cin_g <= pic / 2 else 1.0)
            widen = min(widen, max(math.floor(pic / i), 1.0))
            pic_e, poc_e = pic / widen, poc * widen
        toc_cap = min(math.floor(half_w / (cin_g * kk * db)), math.floor(half_out / max(wout * db, 1.0)))
        if toc_cap >= cout:
            toc = cout
        else:
            toc = math.floor(toc_cap / poc_e) * poc_e if toc_cap >= poc_e else toc_cap
        ok_w = toc >= 1
        toc = max(toc, 1.0)
        n_w = math.ceil(cout / toc)
        tr, ok_rows = _rows_per_tile(half_in, win * cin * db, kh_ext, sh, half_out, wout * toc * db, hout)
        n_in = math.ceil(hout / tr)
        if groups == 1:
            blocks = (n_w - 1) * math.ceil(toc / poc_e) + math.ceil((cout - (n_w - 1) * toc) / poc_e)
        else:
            blocks = groups * math.ceil(cout_g / poc_e)
        if systolic:
            red = math.ceil(cin_g * kk / i)
            comp = red * (blocks * (hout * wout + n_in * i) + n_in * cout)
        else:
            comp = math.ceil(cin_g / pic_e) * blocks * kk * hout * wout
        in_pass = min(hin, n_in * ((tr - 1) * sh + kh_ext)) * win * cin * db
        load_a = w_bytes + in_pass * (n_w if n_in > 1 else 1.0)
        load_b = in_pass + w_bytes * (n_in if n_w > 1 else 1.0)
        if load_a <= load_b:  # weights outer
            load = w_full + in_pass * (n_w if n_in > 1 else 1.0) + table
            instrs = n_w + (n_w * n_in if n_in > 1 else 1.0)
        else:
            load = in_pass + w_full * (n_in if n_w > 1 else 1.0) + table
            instrs = n_in + (n_in * n_w if n_w > 1 else 1.0)
        stages = n_w * n_in
        feasible = ok_w and ok_rows
    else:  # depthwise
        if core.type not in (CoreType.DEPTHWISE, CoreType.UNIFIED):
            return LayerCostRef(math.inf, 0.0, 0.0, 0.0, 0.0, 1.0, False, True)
        mult = max(cout / max(cin, 1.0), 1.0)
        ci = math.floor(half_in / max(kh_ext * win * db, 1.0))
        cap_in = (ci + 1) * mult - 1 if ci >= 1 else 0.0
        cap = min(math.floor(half_w / (kk * db)), math.floor(half_out / max(wout * db, 1.0)), cap_in)
        lanes = cout if systolic else min(p, cout)
        tc = max(min(lanes, cap), 1.0)
        n_ct = math.ceil(cout / tc)
        tc = math.ceil(cout / n_ct)
        tc_in = max(math.floor(tc / mult), 1.0)
        tr, ok_rows = _rows_per_tile(half_in, win * tc_in * db, kh_ext, sh, half_out, wout * tc * db, hout)
        n_rt = math.ceil(hout / tr)
        stages = n_ct * n_rt
        if systolic:
            comp = cout * math.ceil(kk / i) * (hout * wout + n_rt * (i + 1))
            fill = 0.0
        else:
            pw = math.floor(p / tc)
            comp = n_ct * hout * math.ceil(wout / pw) * math.ceil(kk / i)
            fill = (kh_ext - 1) * win + (kw_ext - 1)
        in_pass = min(hin, math.ceil(hout / tr) * ((tr - 1) * sh + kh_ext)) * win * cin * db
        load = in_pass + w_full + table
        instrs = stages + math.ceil(n_ct / max(math.floor(half_w / (tc * kk * db)), 1.0))
        comp = comp + stages * fill
        feasible = ok_rows and tc * kk * db <= half_w

    store = out_bytes
    cyc = _pipeline(stages, comp, load, store, bw, ovh, instrs) if feasible else math.inf
    return LayerCostRef(cyc, comp, (load + store) / bw, load, store, stages, True, feasible)


def _elementwise_tiles(
    layer: Layer, half_in: float, half_out: float, db: float
) -> tuple[float, float, float, float] | None:
    """(channels, rows, channel tiles, row tiles) of an element-wise layer, or None if none fits.

    Row tiles over all channels, channels halved until one row block fits; a global average
    pool tiles channels, a whole plane each; a broadcast input adds its channels to every tile."""
    _, cout, hout, wout = layer.out_shape
    _, _, hin, win = layer.in_shape
    if layer.op == "global_avgpool":
        tc = min(cout, math.floor(half_in / max(hin * win * db, 1.0)), math.floor(half_out / db))
        return None if tc < 1 else (tc, hout, math.ceil(cout / tc), 1)
    pool = layer.kind is LayerKind.POOL
    kh = (layer.kernel[0] - 1) * layer.dilation[0] + 1 if pool else 1
    sh = layer.stride[0] if pool else 1
    if not pool:
        win = wout
    full = sum(1 for s in layer.in_shapes if pool or s[2:] == (hout, wout))
    bcast = len(layer.in_shapes) - full
    tc = cout
    while tc >= 1:
        rows_in = math.floor((half_in - bcast * tc * db) / max(win * tc * full * db, 1.0))
        tr_out = math.floor(half_out / max(wout * tc * db, 1.0))
        if rows_in >= kh and tr_out >= 1:
            tr = min(max(min(math.floor((rows_in - kh) / sh) + 1, tr_out), 1), hout)
            return tc, tr, math.ceil(cout / tc), math.ceil(hout / tr)
        tc //= 2
    return None


def network_costs_reference(
    net: Network, core: Core, dram_bytes_per_cycle: float, data_bytes: int = 1
) -> list[LayerCostRef]:
    """Every layer of ``net`` on ``core``, one at a time."""
    return [layer_cost_reference(layer, core, dram_bytes_per_cycle, data_bytes) for layer in net.layers]
