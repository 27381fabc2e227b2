"""Per-instruction timing of one core, and the dependencies between a layer's instructions.

Latency of an instruction = ``instr_overhead_cycles`` (issue / DMA set-up, the unit is busy)
plus its work:

* LOAD / STORE: ``bytes`` over the DRAM port, whose ``dram_bytes_per_cycle`` is shared
  equally by all transfers in flight (the event-driven engine does the sharing).
* COMPUTE, OPU regular mode (``pic`` x ``poc`` per cycle, per group of the tile):
  ``ceil(cin_g / pic) * ceil(oc_g / poc) * kh * kw * rows * Wout`` (with ``widen_per_tile``
  the remainder input-channel tile widened: `dualopu.plan.opu_rules.regular_passes`); every
  COMPUTE also pays the core's ``compute_overhead_cycles``.
* COMPUTE, OPU depthwise mode (``pw`` PEs per channel, line buffer):
  ``rows * ceil(Wout / pw) * ceil(kh * kw / input_size)`` plus the line-buffer fill
  ``(kh_ext - 1) * Win + (kw_ext - 1)`` of every tile.
* COMPUTE, systolic (``rows`` x ``cols``, weight stationary): every pass of the tile's
  pixels through one block of weights (``rows`` reduction inputs x up to ``cols`` output
  channels) costs ``pixels + rows + used columns`` (stream, then the skew over the rows and
  over the columns in use): per group ``ceil(cin_g*kh*kw / rows) * (ceil(oc_g / cols) *
  (pixels + rows) + oc_g)``; depthwise, one column per channel:
  ``oc * ceil(kh*kw / rows) * (pixels + rows + 1)``. Every COMPUTE tile pays its own
  passes (a new tile restarts the wavefront).
* POST: ``ceil(ops / post_ops_per_cycle)``; ops are window reads (pool), plane reads
  (global average pool) or output elements (add, mul, activation).

Dependencies come from buffer slots (a scoreboard): a COMPUTE/POST waits for the LOADs
that filled the slots it reads and for the STORE that drained the output slot it
overwrites; a LOAD waits until every reader of the slot's previous contents finished; a
STORE waits for the tile it drains. Each unit (DMA: loads and stores; EXEC: PE array and
post-processing) executes its instructions in program order.

The buffers are checked: a slot never holds more than half its buffer (double buffering).
Requantization parameters and tables live in the post-processing unit's parameter memory,
not in the weight buffer, but travel over DRAM with the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dualopu.compiler.codegen import in_cols
from dualopu.compiler.isa import Compute, Load, Post, Store, columns
from dualopu.compiler.program import LayerProgram
from dualopu.errors import ProgramError
from dualopu.hw.config import Core, DramModel
from dualopu.ir.network import MAC_KINDS, LayerKind, kernel_extent
from dualopu.plan.bytes import half_buffers, weights_per_oc_bytes
from dualopu.plan.opu_rules import burst_rows_of_load, regular_passes, store_drain_bytes
from dualopu.plan.split import OPU64_WORD_BYTES, word_groups

DMA = 0
EXEC = 1


@dataclass(frozen=True)
class TimedLayer:
    """A layer's instructions ready for the engine (parallel tuples, one entry per instruction)."""

    unit: tuple[int, ...]  # DMA or EXEC
    fixed: tuple[float, ...]  # overhead cycles
    work: tuple[float, ...]  # EXEC: cycles; DMA: bytes
    deps: tuple[tuple[int, ...], ...]  # indices (within the layer) that must finish first

    def __len__(self) -> int:
        return len(self.unit)


def _groups_in(c0: int, c1: int, og: int) -> list[int]:
    """Output channels of each group that ``[c0, c1)`` touches."""
    return [min(c1, (g + 1) * og) - max(c0, g * og) for g in range(c0 // og, (c1 - 1) // og + 1)]


def compute_cycles(lp: LayerProgram, ins: Compute, core: Core) -> float:
    """PE-array cycles of one COMPUTE tile (overhead excluded)."""
    ly = lp.layer
    m = lp.mapping
    _, cin, _, win = ly.in_shape
    _, cout, _, wout = ly.out_shape
    kk = ly.kernel[0] * ly.kernel[1]
    rows = ins.r1 - ins.r0
    q0, q1 = columns(ins, wout)
    wout = q1 - q0  # this tile's output columns
    if q1 - q0 != ly.out_shape[3]:  # a column tile reads its own input columns (halo included)
        x0, x1 = in_cols(ly, q0, q1)
        win = x1 - x0
    if m.mode == "conv":
        if m.pic <= 0 or m.poc <= 0 or m.pic > core.ic_parallel or m.pic * m.poc > core.macs_per_cycle * (1 + 1e-9):
            raise ProgramError(f"layer {ly.name!r}: mapping pic={m.pic} x poc={m.poc} does not fit core {core.name!r} "
                               f"({core.macs_per_cycle} MACs/cycle, ic_parallel {core.ic_parallel})")
        cin_g = cin // ly.groups
        og = cout // ly.groups
        red, steps = (cin_g * kk, 1) if m.enhanced else (cin_g, kk)  # plan.opu_rules.reduction_per_position
        passes = (
            regular_passes(red, n, m.pic, m.poc, core.input_size, core.widen_per_tile)
            for n in _groups_in(ins.c0, ins.c1, og)
        )
        return float(sum(float(x) for x in passes) * steps * rows * wout)
    if m.mode == "sa":
        _check_sa(lp, core)
        cin_g = cin // ly.groups
        og = cout // ly.groups
        red = math.ceil(cin_g * kk / m.rows)
        return float(sum(red * (math.ceil(n / m.cols) * (rows * wout + m.rows) + n)
                         for n in _groups_in(ins.c0, ins.c1, og)))
    if m.mode == "dw":
        n = ins.c1 - ins.c0
        if m.pw < 1 or n * m.pw > core.pe_count:
            raise ProgramError(f"layer {ly.name!r}: {n} channels x pw={m.pw} exceed the {core.pe_count} PEs of "
                               f"core {core.name!r}")
        kh, kw = kernel_extent(ly)
        fill = (kh - 1) * win + (kw - 1)
        return float(rows * math.ceil(wout / m.pw) * math.ceil(kk / core.input_size) + fill)
    if m.mode == "sa_dw":
        _check_sa(lp, core)
        return float((ins.c1 - ins.c0) * math.ceil(kk / m.rows) * (rows * wout + m.rows + 1))
    raise ProgramError(f"layer {ly.name!r}: COMPUTE under mapping mode {m.mode!r}")


def _check_sa(lp: LayerProgram, core: Core) -> None:
    m = lp.mapping
    if core.dataflow != "systolic" or m.rows != core.input_size or m.cols != core.pe_count:
        raise ProgramError(f"layer {lp.name!r}: systolic mapping {m.rows}x{m.cols} does not match core {core.name!r}")


def post_cycles(lp: LayerProgram, ins: Post, core: Core) -> float:
    """Post-processing unit cycles of one POST tile (overhead excluded)."""
    ly = lp.layer
    n = ins.c1 - ins.c0
    out = n * (ins.r1 - ins.r0) * ly.out_shape[3]
    if ly.op == "global_avgpool":
        ops = n * ly.in_shape[2] * ly.in_shape[3]
    elif ly.kind is LayerKind.POOL:
        ops = out * ly.kernel[0] * ly.kernel[1]
    else:
        ops = out
    return float(math.ceil(ops / core.post_ops_per_cycle))


def _store_lanes(lp: LayerProgram, ins: Store, core: Core, data_bytes: int) -> np.ndarray:
    """Elements a STORE drains: its elements, or on an ``opu64`` core its pixels times the
    whole words its channels touch (`dualopu.plan.rules.store_lanes` counts the same per layer)."""
    elems = ins.bytes / data_bytes
    if core.layout != "opu64":
        return np.asarray(elems, dtype=np.float64)
    per_word = OPU64_WORD_BYTES // data_bytes
    pixels = elems / (ins.c1 - ins.c0)
    return np.asarray(pixels * word_groups(ins.c0, ins.c1, per_word) * per_word, dtype=np.float64)


def _weight_bytes(lp: LayerProgram, ins: Load, db: int) -> int:
    """Weight-buffer bytes a weight LOAD fills (its parameters go to the post-processing unit);
    an element-wise layer's only weight LOAD is its activation table, which fills the slot whole."""
    if lp.layer.kind not in MAC_KINDS:
        return ins.bytes
    return (ins.c1 - ins.c0) * weights_per_oc_bytes(lp.layer, db)


def time_layer(
    lp: LayerProgram,
    core: Core,
    data_bytes: int,
    dram_bytes_per_cycle: float | None = None,
    dram_model: DramModel | None = None,
) -> TimedLayer:
    """Latencies and slot dependencies of a layer's instructions on ``core``.

    With ``core.store_elems_per_cycle`` set (and the port rate given), a STORE also holds the
    port while the post-processing unit drains it (`dualopu.plan.opu_rules.store_drain_bytes`)."""
    ovh = float(core.instr_overhead_cycles)
    fixed: list[float] = []
    burst = dram_model is not None and dram_model.mode == "burst"
    lat = float(dram_model.row_latency_cycles) if dram_model is not None and burst else 0.0
    word = float(dram_model.word_bytes) if dram_model is not None else 1.0
    half = half_buffers(core)
    unit: list[int] = []
    work: list[float] = []
    deps: list[tuple[int, ...]] = []
    # scoreboard per (buf, slot): writers and readers of the current contents, readers of the previous
    writers: dict[tuple[str, int], list[int]] = {}
    readers: dict[tuple[str, int], list[int]] = {}
    prev_readers: dict[tuple[str, int], list[int]] = {}
    fill: dict[tuple[str, int], float] = {}
    out_fill: dict[int, int] = {}  # bytes an out slot holds (appending COMPUTEs add up)

    def write(key: tuple[str, int], i: int, new_generation: bool) -> list[int]:
        if new_generation or readers.get(key):
            prev_readers[key] = readers.get(key, [])
            writers[key] = [i]
            readers[key] = []
            fill[key] = 0.0
        else:
            writers.setdefault(key, []).append(i)
        return list(prev_readers.get(key, []))

    def read(key: tuple[str, int], i: int) -> list[int]:
        w = writers.get(key, [])
        if w:
            readers.setdefault(key, []).append(i)
        return list(w)

    for i, ins in enumerate(lp.instrs):
        if isinstance(ins, Load):
            key = (ins.buf, ins.slot)
            d = write(key, i, new_generation=False)
            fill[key] = fill.get(key, 0.0) + (_weight_bytes(lp, ins, data_bytes) if ins.buf == "w" else ins.bytes)
            if fill[key] > half[ins.buf] + 1e-9:
                raise ProgramError(f"layer {lp.name!r}: instruction {i} fills {ins.buf}[{ins.slot}] with "
                                   f"{fill[key]:.0f} B, more than half the buffer ({half[ins.buf]:.0f} B)")
            unit.append(DMA)
            work.append(float(ins.bytes))
            deps.append(tuple(d))
            if burst:  # fixed latency per burst row (input rows x word-wide channel groups; weights: one)
                plane = math.prod(lp.layer.in_shapes[ins.port][2:]) if ins.buf != "w" else 1
                rows = burst_rows_of_load(ins.r1 - ins.r0, ins.c1 - ins.c0, data_bytes, word, plane) if ins.buf != "w" else 1.0
                fixed.append(ovh + lat * rows)
                continue
        elif isinstance(ins, Store):
            unit.append(DMA)
            work.append(float(ins.bytes))
            deps.append(tuple(read(("out", ins.slot), i)))
            extra = lat
            if core.store_elems_per_cycle > 0 and dram_bytes_per_cycle:
                bw = float(dram_bytes_per_cycle)
                elems = np.asarray(core.store_elems_per_cycle, dtype=np.float64)
                lanes = _store_lanes(lp, ins, core, data_bytes)
                port = store_drain_bytes(np.asarray(ins.bytes, dtype=np.float64), lanes, elems, bw)
                extra += (float(port) - ins.bytes) / bw
            if extra:
                fixed.append(ovh + extra)
                continue
        else:
            append = isinstance(ins, Compute) and ins.append  # fc_store_once: next channels of the slot
            d = read(("in", ins.in_slot), i) + read(("w", ins.w_slot), i)
            d += write(("out", ins.out_slot), i, new_generation=not append)
            q0, q1 = columns(ins, lp.layer.out_shape[3])
            out_bytes = (ins.c1 - ins.c0) * (ins.r1 - ins.r0) * (q1 - q0) * data_bytes
            out_bytes += out_fill.get(ins.out_slot, 0) if append else 0
            out_fill[ins.out_slot] = out_bytes
            if out_bytes > half["out"] + 1e-9:
                raise ProgramError(f"layer {lp.name!r}: instruction {i} writes a {out_bytes} B tile, more than "
                                   f"half the output buffer ({half['out']:.0f} B)")
            unit.append(EXEC)
            work.append(compute_cycles(lp, ins, core) if isinstance(ins, Compute) else post_cycles(lp, ins, core))
            deps.append(tuple(d))
            if isinstance(ins, Compute) and core.compute_overhead_cycles:
                fixed.append(ovh + core.compute_overhead_cycles)
                continue
        fixed.extend([ovh] * (len(unit) - len(fixed)))
    return TimedLayer(unit=tuple(unit), fixed=tuple(fixed), work=tuple(work), deps=tuple(deps))
