"""Analytical per-layer cost model of OPU-style cores (vectorized with numpy).

One function, `core_costs`, prices every layer of a network on one core type for one or
many configurations at once: parameters may be scalars or arrays of shape ``(n, 1)`` and
results have shape ``(n, n_layers)``. The tuner relies on this broadcasting.

Mapping rules (docs/assumptions.md has the sources):

* Regular layers (conv, pointwise, grouped, FC) on the ``opu`` dataflow: per cycle the
  array consumes ``pic`` input channels x ``poc`` output channels for one kernel position
  and one output pixel, ``pic * poc = pe_count * input_size``. With few input channels
  (``<= pic/4`` or ``<= pic/2``) it widens the outputs 4x or 2x (OPU). Ceil-division waste
  is counted tile by tile: an output-channel tile narrower than the array wastes the rest.
* Depthwise layers on the ``opu`` dataflow (depthwise or unified core): each PE computes
  one output pixel of one channel from a line buffer, ``ceil(kh*kw / input_size)`` cycles
  per output (a 3x3 kernel uses 9 of 16 inputs), plus a line-buffer fill of
  ``(kh-1)*W_in + (kw-1)`` cycles per tile. A tile holds ``tc`` channels: one per PE
  (``min(P, C)``), capped by what the buffers hold (weights, ``kh`` input rows, one output
  row), then spread evenly, ``tc = ceil(C / ceil(C / tc))``; ``pw = floor(P / tc)`` PEs
  share a channel.
* ``systolic`` dataflow (TPU-like, weight-stationary, rows = input_size, columns = pe_count):
  im2col reduction over rows, output channels over columns; every tile restarts the
  wavefront and pays the fill and drain ``rows + (columns it uses)``, so a layer with
  ``R`` row tiles pays ``ceil(C_out/cols) * (HW + R*rows) + R*C_out`` per reduction pass and
  group. A depthwise channel occupies one column (inputs flow across all columns, so
  channels run one after another): ``HW + R*(rows + 1)`` per channel and pass; its tiles
  hold as many channels as the buffers allow (the array width does not matter).
* Element-wise layers (pool, add, mul, standalone activation) stream through the
  post-processing unit: ``ceil(ops / post_ops_per_cycle)`` cycles, memory-bound in practice.
  Concat, slice, channel shuffle and flatten cost nothing: OPU writes outputs at remapped
  addresses.
* Tiling: output rows x output-channel tiles sized to half of each buffer (double
  buffering). Regular layers take all output channels in one tile when their weights and
  one output row fit, else a multiple of the array's output-channel parallelism. Weights
  and inputs are loaded once when they stay resident, otherwise the cheaper loop order is
  chosen. Every stage costs ``max(memory, compute)`` in steady state, with one load and
  one store exposed at the ends:
  ``cycles = max(S*mem_s + max(comp_s - store_s, 0), S*comp_s + load_s + store_s)``, where each per-stage term
  includes ``instr_overhead_cycles`` per instruction. Loads and stores share one DRAM port.

The minimum tile (one output channel's weights, ``kh`` input rows, one output row) does not
depend on the PE array, so a bigger array never refuses a layer; with the same tiles, more
PEs never make a layer slower. Tiles do follow the PE count, though, so a bigger array can
occasionally be a little slower (docs/assumptions.md, "more PEs, same buffers").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from dualopu.hw.config import Core, CoreType
from dualopu.ir.network import KIND_CODES, LayerKind, LayerTable

_K = KIND_CODES
_REGULAR_CODES = [_K[LayerKind.CONV], _K[LayerKind.POINTWISE], _K[LayerKind.GROUPED], _K[LayerKind.FC]]
_DW_CODE = _K[LayerKind.DEPTHWISE]
_ELTWISE_CODES = [_K[LayerKind.POOL], _K[LayerKind.ADD], _K[LayerKind.MUL], _K[LayerKind.ACTIVATION]]
_FREE_CODES = [_K[LayerKind.CONCAT], _K[LayerKind.SHUFFLE]]


@dataclass(frozen=True)
class CoreParams:
    """Numeric parameters of one core type; fields broadcast (scalars or ``(n, 1)`` arrays)."""

    core_type: CoreType
    dataflow: str
    pe_count: np.ndarray
    input_size: np.ndarray
    ic_parallel: np.ndarray
    input_buffer_bytes: np.ndarray
    weight_buffer_bytes: np.ndarray
    output_buffer_bytes: np.ndarray
    instr_overhead_cycles: np.ndarray
    post_ops_per_cycle: np.ndarray
    runs_elementwise: bool = True

    @staticmethod
    def of(core: Core) -> CoreParams:
        """Scalar parameters of one configured core (shape ``(1, 1)``)."""
        return CoreParams.batch(
            core.type,
            core.dataflow,
            pe_count=core.pe_count,
            input_size=core.input_size,
            ic_parallel=core.ic_parallel,
            input_buffer_kib=core.input_buffer_kib,
            weight_buffer_kib=core.weight_buffer_kib,
            output_buffer_kib=core.output_buffer_kib,
            instr_overhead_cycles=core.instr_overhead_cycles,
            post_ops_per_cycle=core.post_ops_per_cycle,
            runs_elementwise=core.runs_elementwise,
        )

    @staticmethod
    def batch(
        core_type: CoreType,
        dataflow: str,
        *,
        pe_count: ArrayLike,
        input_size: ArrayLike,
        ic_parallel: ArrayLike = 64,
        input_buffer_kib: ArrayLike,
        weight_buffer_kib: ArrayLike,
        output_buffer_kib: ArrayLike,
        instr_overhead_cycles: ArrayLike = 16,
        post_ops_per_cycle: ArrayLike = 64,
        runs_elementwise: bool = True,
    ) -> CoreParams:
        """Parameters for many configurations: each argument a scalar or a 1-D array of length n."""

        def col(x: ArrayLike) -> np.ndarray:
            return np.asarray(x, dtype=np.float64).reshape(-1, 1)

        return CoreParams(
            core_type=core_type,
            dataflow=dataflow,
            pe_count=col(pe_count),
            input_size=col(input_size),
            ic_parallel=col(ic_parallel),
            input_buffer_bytes=col(input_buffer_kib) * 1024.0,
            weight_buffer_bytes=col(weight_buffer_kib) * 1024.0,
            output_buffer_bytes=col(output_buffer_kib) * 1024.0,
            instr_overhead_cycles=col(instr_overhead_cycles),
            post_ops_per_cycle=col(post_ops_per_cycle),
            runs_elementwise=runs_elementwise,
        )


@dataclass(frozen=True)
class CoreCosts:
    """Per-layer costs on one core type; every array has shape ``(n_configs, n_layers)``.

    ``cycles`` is ``inf`` where the core cannot run the layer (wrong kind) or no tile fits
    the buffers (``feasible`` false for the latter, with ``runnable`` true).
    """

    cycles: np.ndarray
    compute_cycles: np.ndarray  # PE-array busy cycles (incl. ceil waste and line-buffer fill)
    memory_cycles: np.ndarray  # DRAM bytes / bandwidth
    load_bytes: np.ndarray
    store_bytes: np.ndarray
    stages: np.ndarray  # double-buffered pipeline stages (tiles)
    runnable: np.ndarray  # kind supported by this core
    feasible: np.ndarray  # minimum tile fits the buffers

    @property
    def dram_bytes(self) -> np.ndarray:
        return self.load_bytes + self.store_bytes


def _cdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.ceil(a / b)


#: Bytes per output channel loaded with the weights: a float32 requantization multiplier,
#: and an int32 bias where the layer has one (replacing the bias element of the weights).
PARAM_BYTES_MULT = 4
PARAM_BYTES_BIAS = 4
#: Bytes of a 256-entry activation table, loaded once per layer.
TABLE_BYTES = 256


def _pipeline_cycles(
    stages: np.ndarray, compute: np.ndarray, load_bytes: np.ndarray, store_bytes: np.ndarray,
    bw: float, ovh: np.ndarray, load_instrs: np.ndarray | None = None,
) -> np.ndarray:
    """Double-buffered pipeline of ``stages`` uniform tiles: max(load+store, compute) per stage.
    ``load_instrs`` LOAD instructions in all (default one per stage) each pay the overhead."""
    s = np.maximum(stages, 1.0)
    n_loads = s if load_instrs is None else np.maximum(load_instrs, 1.0)
    comp_s = compute / s + ovh
    load_s = load_bytes / s / bw + ovh * n_loads / s
    store_s = store_bytes / s / bw + ovh
    mem_s = load_s + store_s
    # memory-bound: the DRAM port is busy S*mem_s, plus the part of the last compute not hidden
    # behind the previous tile's store; compute-bound: S computes plus the first load and last store
    return np.maximum(s * mem_s + np.maximum(comp_s - store_s, 0.0), s * comp_s + load_s + store_s)


def _rows_per_tile(
    half_in: np.ndarray, in_row_bytes: np.ndarray, kh: np.ndarray, sh: np.ndarray,
    half_out: np.ndarray, out_row_bytes: np.ndarray, hout: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Output rows per tile limited by input and output buffer halves; and feasibility."""
    rows_in = np.floor(half_in / np.maximum(in_row_bytes, 1.0))
    tr_in = np.floor((rows_in - kh) / sh) + 1.0
    tr_out = np.floor(half_out / np.maximum(out_row_bytes, 1.0))
    feasible = (rows_in >= kh) & (tr_out >= 1.0)
    tr = np.clip(np.minimum(tr_in, tr_out), 1.0, None)
    tr = np.minimum(tr, hout)
    return tr, feasible


def core_costs(t: LayerTable, p: CoreParams, dram_bytes_per_cycle: float, data_bytes: int = 1) -> CoreCosts:
    """Price every layer of ``t`` on the core(s) ``p``. Shapes: ``(n_configs, n_layers)``."""
    bw = float(dram_bytes_per_cycle)
    db = float(data_bytes)
    f = np.float64
    cin, cout = t.cin.astype(f), t.cout.astype(f)
    hin, win, hout, wout = t.hin.astype(f), t.win.astype(f), t.hout.astype(f), t.wout.astype(f)
    kh, kw, sh = t.kh.astype(f), t.kw.astype(f), t.sh.astype(f)
    groups = t.groups.astype(f)
    n_cfg = p.pe_count.shape[0]
    shape = (n_cfg, len(t))
    P, isz = p.pe_count, p.input_size
    half_in, half_w, half_out = p.input_buffer_bytes / 2, p.weight_buffer_bytes / 2, p.output_buffer_bytes / 2
    ovh = p.instr_overhead_cycles

    is_reg = np.isin(t.kind, _REGULAR_CODES)
    is_dw = t.kind == _DW_CODE
    is_elt = np.isin(t.kind, _ELTWISE_CODES)
    is_free = np.isin(t.kind, _FREE_CODES)

    runs_reg = p.core_type in (CoreType.REGULAR, CoreType.UNIFIED)
    runs_dw = p.core_type in (CoreType.DEPTHWISE, CoreType.UNIFIED)
    runnable = np.broadcast_to(
        (is_reg & runs_reg) | (is_dw & runs_dw) | ((is_elt | is_free) & p.runs_elementwise), shape
    )

    compute = np.zeros(shape)
    load = np.zeros(shape)
    store = np.zeros(shape)
    stages = np.ones(shape)
    feasible = np.ones(shape, dtype=bool)

    in_bytes = t.in_elems.astype(f) * db
    out_bytes = t.out_elems.astype(f) * db
    w_bytes = t.weight_elems.astype(f) * db
    has_bias = t.has_bias.astype(f)
    # weights as loaded: INT8 weights, a requantization multiplier per output channel and an
    # int32 bias (in place of the bias element counted in ``weight_elems``)
    w_full = w_bytes - has_bias * cout * db + cout * (PARAM_BYTES_MULT + PARAM_BYTES_BIAS * has_bias)
    table = t.table_act.astype(f) * TABLE_BYTES
    load_instrs = np.zeros(shape)

    # ---- regular layers: input-channel x output-channel unrolling ---------------------
    if runs_reg and is_reg.any():
        cin_g, cout_g = cin / groups, cout / groups
        kk = kh * kw
        pic_e = np.ones(shape)
        if p.dataflow == "systolic":
            poc_e = P  # columns
        else:
            macs_pc = P * isz
            pic = np.minimum(p.ic_parallel, macs_pc)
            poc = np.floor(macs_pc / pic)
            widen = np.where(cin_g <= pic / 4, 4.0, np.where(cin_g <= pic / 2, 2.0, 1.0))
            widen = np.minimum(widen, np.maximum(np.floor(pic / isz), 1.0))
            pic_e, poc_e = pic / widen, poc * widen
        w_per_oc = cin_g * kk * db
        # output channels whose weights and one output row fit (P-independent)
        toc_cap = np.minimum(np.floor(half_w / w_per_oc), np.floor(half_out / np.maximum(wout * db, 1.0)))
        # all output channels in one tile when their weights fit; else a multiple of poc_e
        toc = np.where(toc_cap >= cout, cout, np.where(toc_cap >= poc_e, np.floor(toc_cap / poc_e) * poc_e, toc_cap))
        ok_w = toc >= 1
        toc = np.maximum(toc, 1.0)
        n_w = _cdiv(cout, toc)
        tr, ok_rows = _rows_per_tile(half_in, win * cin * db, kh, sh, half_out, wout * toc * db, hout)
        n_in = _cdiv(hout, tr)
        # output-channel blocks of poc_e the array computes: per tile, so a tile narrower than
        # the array wastes the rest of it (exact for groups == 1; grouped: per group)
        last = cout - (n_w - 1.0) * toc
        blocks = np.where(groups == 1, (n_w - 1.0) * _cdiv(toc, poc_e) + _cdiv(last, poc_e),
                          groups * _cdiv(cout_g, poc_e))
        if p.dataflow == "systolic":
            # every tile restarts the wavefront: fill and drain of the rows and of the columns it
            # uses, per reduction pass and group (row tiles each pay it again)
            red = _cdiv(cin_g * kk, isz)
            comp = red * (blocks * (hout * wout + n_in * isz) + n_in * cout)
        else:
            comp = _cdiv(cin_g, pic_e) * blocks * kk * hout * wout
        in_pass = np.minimum(hin, n_in * ((tr - 1) * sh + kh)) * win * cin * db
        load_a = w_bytes + in_pass * np.where(n_in > 1, n_w, 1.0)  # weights outer
        load_b = in_pass + w_bytes * np.where(n_w > 1, n_in, 1.0)  # inputs outer
        w_outer = load_a <= load_b  # the loop order is chosen on the weights and inputs alone
        # what is loaded: weights with their requantization parameters, the table once
        wp = w_full
        loaded = np.where(w_outer, wp + in_pass * np.where(n_in > 1, n_w, 1.0),
                          in_pass + wp * np.where(n_w > 1, n_in, 1.0)) + table
        # a LOAD whenever the weight tile or the input tile changes
        instrs = np.where(w_outer, n_w + np.where(n_in > 1, n_w * n_in, 1.0),
                          n_in + np.where(n_w > 1, n_in * n_w, 1.0))
        m = is_reg
        compute = np.where(m, comp, compute)
        load = np.where(m, loaded, load)
        load_instrs = np.where(m, instrs, load_instrs)
        store = np.where(m, out_bytes, store)
        stages = np.where(m, n_w * n_in, stages)
        feasible = np.where(m, ok_w & ok_rows, feasible)

    # ---- depthwise layers ---------------------------------------------------------------
    if runs_dw and is_dw.any():
        kk = kh * kw
        mult = np.maximum(cout / np.maximum(cin, 1.0), 1.0)
        # channels per tile: one per PE (systolic: all channels, one column works at a time),
        # capped by what the buffers hold (weights, kh input rows, one output row), then
        # spread evenly over the channel tiles
        ci = np.floor(half_in / np.maximum(kh * win * db, 1.0))  # input channels of kh rows
        cap_in = np.where(ci >= 1, (ci + 1) * mult - 1, 0.0)
        cap_w = np.floor(half_w / (kk * db))
        cap_out = np.floor(half_out / np.maximum(wout * db, 1.0))
        lanes = cout if p.dataflow == "systolic" else np.minimum(P, cout)
        tc = np.maximum(np.minimum(np.minimum(lanes, cap_w), np.minimum(cap_out, cap_in)), 1.0)
        n_ct = _cdiv(cout, tc)
        tc = _cdiv(cout, n_ct)
        tc_in = np.maximum(np.floor(tc / mult), 1.0)
        tr, ok_rows = _rows_per_tile(half_in, win * tc_in * db, kh, sh, half_out, wout * tc * db, hout)
        n_rt = _cdiv(hout, tr)
        s = n_ct * n_rt
        if p.dataflow == "systolic":
            # channels one after another, each tile paying rows + one column of fill per channel
            comp = cout * _cdiv(kk, isz) * (hout * wout + n_rt * (isz + 1))
            fill = np.zeros_like(comp)
        else:
            pw = np.floor(P / tc)
            comp = n_ct * hout * _cdiv(wout, pw) * _cdiv(kk, isz)
            fill = (kh - 1) * win + (kw - 1)
        ok_w = tc * kk * db <= half_w
        in_pass = np.minimum(hin, n_rt * ((tr - 1) * sh + kh)) * win * cin * db
        # one LOAD per stage for inputs; weights of several channel tiles per LOAD
        per_load = np.maximum(np.floor(half_w / (tc * kk * db)), 1.0)
        m = is_dw
        compute = np.where(m, comp + s * fill, compute)
        load = np.where(m, in_pass + w_full + table, load)
        load_instrs = np.where(m, s + _cdiv(n_ct, per_load), load_instrs)
        store = np.where(m, out_bytes, store)
        stages = np.where(m, s, stages)
        feasible = np.where(m, ok_w & ok_rows, feasible)

    # ---- element-wise layers on the post-processing unit --------------------------------
    if p.runs_elementwise and is_elt.any():
        ops = t.elementwise_ops.astype(f)
        comp = _cdiv(ops, p.post_ops_per_cycle)
        s = np.maximum(_cdiv(in_bytes, half_in), _cdiv(out_bytes, half_out))
        m = is_elt
        compute = np.where(m, comp, compute)
        load = np.where(m, in_bytes + table, load)
        load_instrs = np.where(m, s * t.n_inputs + (table > 0), load_instrs)
        store = np.where(m, out_bytes, store)
        stages = np.where(m, s, stages)

    cycles = _pipeline_cycles(stages, compute, load, store, bw, ovh, load_instrs)
    cycles = np.where(np.broadcast_to(is_free, shape), 0.0, cycles)
    compute = np.where(np.broadcast_to(is_free, shape), 0.0, compute)
    load = np.where(np.broadcast_to(is_free, shape), 0.0, load)
    store = np.where(np.broadcast_to(is_free, shape), 0.0, store)
    stages = np.where(np.broadcast_to(is_free, shape), 0.0, stages)
    cycles = np.where(runnable & feasible, cycles, np.inf)
    return CoreCosts(
        cycles=cycles,
        compute_cycles=compute,
        memory_cycles=(load + store) / bw,
        load_bytes=load,
        store_bytes=store,
        stages=stages,
        runnable=np.asarray(runnable),
        feasible=np.asarray(feasible),
    )
