"""Analytical per-layer cost model: prices a `TilePlan` (vectorized with numpy).

`core_costs` prices every layer of a network on one core type for one or many
configurations at once: `dualopu.plan.plan_tiles` decides the mapping and tiles (this
module decides nothing), and this module counts the cycles of that plan. Parameters may
be scalars or ``(n, 1)`` arrays and results have shape ``(n, n_layers)``; the tuner relies
on this broadcasting.

Pricing (docs/assumptions.md has the sources):

* ``conv`` (OPU regular mode): ``ceil(cin_g / pic) * blocks * kh * kw * Hout * Wout``, with
  ``blocks`` the array passes over output channels counted tile by tile (a tile narrower
  than the array wastes the rest of it; grouped: per group); with ``widen_per_tile`` the
  remainder input-channel tile is widened (`dualopu.plan.opu_rules.regular_passes`).
* ``sa`` (systolic): every tile restarts the wavefront and pays the fill and drain ``rows +
  (columns it uses)``: ``ceil(cin_g*kk/rows) * (blocks * (HW + R*rows) + R*C_out)``.
* ``dw`` (line-buffered depthwise): ``ceil(Wout / pw) * ceil(kh*kw / input_size)`` per
  output row and channel tile, plus a line-buffer fill ``(kh_ext-1)*W_in + (kw_ext-1)`` per
  tile. ``sa_dw``: channels one after another, ``HW + R*(rows + 1)`` per channel and pass.
* ``post`` (element-wise on the post-processing unit): ``ceil(ops / post_ops_per_cycle)``.
  A channel shuffle on an ``opu64`` core is a copy (`dualopu.plan.rules.copy_rows`): every
  output element through the post-processing unit. ``free`` layers cost nothing.
* The layer's time is the double-buffered pipeline (`dualopu.plan.pipeline_cycles`) of the
  plan's stages, bytes and LOAD instructions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dualopu.hw.config import DramModel
from dualopu.hw.params import CoreParams
from dualopu.ir.network import LayerTable
from dualopu.plan import (
    PARAM_BYTES_BIAS,
    PARAM_BYTES_MULT,
    TABLE_BYTES,
    TilePlan,
    pipeline_cycles,
    plan_tiles,
)
from dualopu.plan.opu_rules import (
    burst_latency_cycles,
    reduction_per_position,
    regular_passes,
    store_drain_bytes,
)
from dualopu.plan.rules import MODE, copy_rows, families

__all__ = [
    "PARAM_BYTES_BIAS",
    "PARAM_BYTES_MULT",
    "TABLE_BYTES",
    "CoreCosts",
    "CoreParams",
    "core_costs",
    "price",
]


@dataclass(frozen=True)
class CoreCosts:
    """Per-layer costs on one core type; every array has shape ``(n_configs, n_layers)``.

    ``cycles`` is ``inf`` where the core cannot run the layer (wrong kind) or no tile fits
    the buffers (``feasible`` false for the latter, with ``runnable`` true). ``plan`` is the
    mapping that was priced.
    """

    cycles: np.ndarray
    compute_cycles: np.ndarray  # PE-array busy cycles (incl. ceil waste and line-buffer fill)
    memory_cycles: np.ndarray  # DRAM bytes / bandwidth
    load_bytes: np.ndarray
    store_bytes: np.ndarray
    stages: np.ndarray  # double-buffered pipeline stages (tiles)
    runnable: np.ndarray  # kind supported by this core
    feasible: np.ndarray  # minimum tile fits the buffers
    plan: TilePlan | None = None

    @property
    def dram_bytes(self) -> np.ndarray:
        return self.load_bytes + self.store_bytes


def _cdiv(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return np.ceil(a / b)


def _compute_cycles(t: LayerTable, p: CoreParams, plan: TilePlan) -> np.ndarray:
    """PE-array / post-processing busy cycles of every layer under ``plan``."""
    out = np.zeros(plan.shape)
    isz = p.input_size
    fam = families(t)

    def get(family: str, field: str) -> np.ndarray:
        return np.asarray(plan.family(family, field))

    if plan.planned("regular"):
        c = fam["regular"]
        toc, n_w, n_in, pic, poc = (get("regular", k) for k in ("toc", "n_oc", "n_rows", "pic", "poc"))
        cin_g, cout_g = c.cin / c.groups, c.cout / c.groups
        kk, hw = c.kh * c.kw, c.hout * c.wout
        last = c.cout - (n_w - 1.0) * toc
        if int(get("regular", "mode")) == MODE["sa"]:
            blocks = np.where(
                c.groups == 1, (n_w - 1.0) * _cdiv(toc, poc) + _cdiv(last, poc), c.groups * _cdiv(cout_g, poc)
            )
            out[:, c.idx] = _cdiv(cin_g * kk, isz) * (blocks * (hw + n_in * isz) + n_in * c.cout)
        else:
            red, steps = reduction_per_position(cin_g, kk, get("regular", "enhanced") > 0)
            per_tile = p.widen_per_tile

            def passes(oc: np.ndarray) -> np.ndarray:
                return regular_passes(red, oc, pic, poc, isz, per_tile)

            passes_all = np.where(
                c.groups == 1, (n_w - 1.0) * passes(toc) + passes(last), c.groups * passes(cout_g)
            )
            out[:, c.idx] = passes_all * steps * hw
    if plan.planned("depthwise"):
        c = fam["depthwise"]
        n_ct, n_rt = get("depthwise", "n_oc"), get("depthwise", "n_rows")
        kk = c.kh * c.kw
        if int(get("depthwise", "mode")) == MODE["sa_dw"]:
            out[:, c.idx] = c.cout * _cdiv(kk, isz) * (c.hout * c.wout + n_rt * (isz + 1))
        else:
            n_cols = get("depthwise", "n_cols")
            width = np.where(n_cols > 1, get("depthwise", "in_cols_mean"), c.win)  # a tile's input width
            fill = (c.kh_ext - 1) * width + (c.kw_ext - 1)
            pw = get("depthwise", "pw")
            # balanced column tiles (`compiler.codegen.split_rows`): ceil(width / pw) per tile
            base = np.floor(c.wout / n_cols)
            extra = c.wout - base * n_cols
            col_steps = extra * _cdiv(base + 1.0, pw) + (n_cols - extra) * _cdiv(base, pw)
            out[:, c.idx] = n_ct * c.hout * col_steps * _cdiv(kk, isz) + n_ct * n_rt * n_cols * fill
    if plan.planned("elementwise"):
        c = fam["elementwise"]
        out[:, c.idx] = _cdiv(c.elementwise_ops, p.post_ops_per_cycle)
    if plan.planned("copy"):  # a permuting copy: every output element through the post-processing unit
        rows = copy_rows(t, p)
        out[:, rows] = _cdiv(t.out_elems[rows].astype(np.float64), p.post_ops_per_cycle)
    return out


def price(
    t: LayerTable,
    p: CoreParams,
    plan: TilePlan,
    dram_bytes_per_cycle: float,
    data_bytes: int = 1,
    dram: DramModel | None = None,
) -> CoreCosts:
    """Cycles, bytes and stages of ``plan`` (decided by `plan_tiles` for ``t`` on ``p``)."""
    bw = float(dram_bytes_per_cycle)
    compute = _compute_cycles(t, p, plan)
    load = plan.load_bytes
    store = plan.store_bytes
    stages = plan.stages
    store_port = store_drain_bytes(store, plan.store_lanes, p.store_elems_per_cycle, bw)
    load_port = load
    if dram is not None and dram.mode == "burst":  # fixed latency per burst row, as port-equivalent bytes
        lat = burst_latency_cycles(
            plan.in_load_bytes,
            # one burst row per tile row: square tiles by their mean tile (balanced, smaller than full)
            np.where(plan.n_cols > 1, plan.in_cols_mean, t.win.astype(np.float64)),
            np.where(plan.n_cols > 1, plan.in_rows_mean, plan.in_rows),
            np.where(plan.in_ch_mean > 0, plan.in_ch_mean, plan.in_ch),
            plan.load_instrs,
            plan.store_instrs,
            data_bytes,
            dram.word_bytes,
            dram.row_latency_cycles,
            t.hin * t.win == 1,
        )
        load_port = load + lat * bw
    pe_layer = np.isin(plan.mode, (MODE["conv"], MODE["dw"], MODE["sa"], MODE["sa_dw"]))  # COMPUTE, not POST
    compute_ovh = np.where(pe_layer, p.compute_overhead_cycles, 0.0)
    cycles = pipeline_cycles(
        stages, compute, load_port, store_port, bw, p.instr_overhead_cycles, plan.load_instrs, compute_ovh,
        plan.store_instrs,
    )
    free = plan.mode == MODE["free"]
    cycles = np.where(free, 0.0, cycles)
    cycles = np.where(plan.runnable & plan.feasible, cycles, np.inf)
    return CoreCosts(
        cycles=cycles,
        compute_cycles=compute,
        memory_cycles=(load + store) / bw,
        load_bytes=load,
        store_bytes=np.array(store),
        stages=np.where(plan.mode == MODE["none"], 1.0, stages),
        runnable=np.array(plan.runnable),
        feasible=np.array(plan.feasible),
        plan=plan,
    )


def core_costs(
    t: LayerTable,
    p: CoreParams,
    dram_bytes_per_cycle: float,
    data_bytes: int = 1,
    dram: DramModel | None = None,
) -> CoreCosts:
    """Plan and price every layer of ``t`` on the core(s) ``p``. Shapes: ``(n_configs, n_layers)``.
    ``dram``: the hardware's DRAM model (None = bandwidth only)."""
    return price(t, p, plan_tiles(t, p, data_bytes), dram_bytes_per_cycle, data_bytes, dram)
