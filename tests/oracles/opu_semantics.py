"""Test-side restatement of the OPU authors' timing semantics (opu-sim) and tiling (opu-compiler).

Independent of ``dualopu.cost``: written from the facts listed in docs/assumptions.md
("OPU fidelity: facts from opu-sim / opu-compiler"), in our own code. It gives per-layer
cycles for one layer shape on the authors' single OPU, so our analytical model can be
compared with the authors' own semantics layer by layer.

What it can catch: biases of our model in compute mapping (channel enhancement, widening,
depthwise grouping), DRAM burst latency, and store scheduling. What it cannot: anything the
authors' code itself gets wrong, or details it is silent on (see the stated choices there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OpuArch:
    """The authors' machine constants (sources in docs/assumptions.md)."""

    multipliers: int = 1024  # Arch.h: MACs per cycle of the regular array
    word_elems: int = 64  # Arch.h: elements (channels) per 64-byte DRAM word
    fmap_buffer_words: int = 1444  # Arch.h: feature buffer depth per bank
    weight_bank_words: int = 36 * 16  # Arch.h: 36 rows x 1024 B = 576 DRAM words per bank
    burst_words: int = 8  # opu-sim: words per DRAM burst
    row_latency_cycles: int = 20  # opu-sim: fixed cycles per burst row / load block
    compute_epilogue_cycles: int = 30  # opu-sim: per COMPUTE instruction
    store_epilogue_cycles: int = 20  # opu-sim: per DDR store
    dw_pes: int = 64  # opu-sim: depthwise engine, one channel per PE
    clock_mhz: float = 200.0
    #: "square": the compiler's square-tile search (LowerConv2d.cpp). "rows": a diagnostic, not
    #: theirs: full-width row bands as tall as the feature buffer holds (the shape of our tiles),
    #: to measure how much of a gap the tile shape alone explains.
    tiling: str = "square"

    @property
    def parallel_k(self) -> int:
        return self.multipliers // self.word_elems  # 16 output channels per cycle


@dataclass(frozen=True)
class LayerShape:
    """One layer: ``kind`` in {'conv', 'depthwise', 'fc'}; pointwise is a 1x1 'conv'."""

    kind: str
    c_in: int
    c_out: int
    h_in: int
    w_in: int
    kernel: int = 1
    stride: int = 1
    pad: int = 0


@dataclass(frozen=True)
class OpuLayerCycles:
    total_cycles: int
    compute_cycles: int  # PE-engine busy cycles
    dma_cycles: int  # DMA-engine busy cycles (loads + stores)
    tile_hw: int  # chosen square tile (input positions)
    channel_enhanced: bool


#: ``std::numeric_limits<int>::max()``, the search's initial best cost.
_INT_MAX = 2**31 - 1


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _burst_row_cycles(words: int, a: OpuArch) -> int:
    """One DRAM row: bursts of 8 words, one cycle each, plus the fixed latency."""
    return _cdiv(words, a.burst_words) + a.row_latency_cycles if words > 0 else 0


def channel_enhance(s: LayerShape, a: OpuArch) -> tuple[LayerShape, bool]:
    """ChannelEnhance: few-channel kxk conv -> 1x1 conv over an im2col input."""
    if s.kind == "conv" and s.kernel > 1 and s.kernel * s.kernel * s.c_in < a.word_elems:
        hp, wp = s.h_in + 2 * s.pad, s.w_in + 2 * s.pad
        return (
            LayerShape(
                "conv",
                s.c_in * s.kernel * s.kernel,
                s.c_out,
                hp - s.kernel + 1,
                wp - s.kernel + 1,
                1,
                s.stride,
                0,
            ),
            True,
        )
    return s, False


def choose_tile(h: int, r: int, stride: int, c: int, k: int, a: OpuArch) -> int:
    """The compiler's square-tile search (h = w, in input positions; LowerConv2d.cpp:20-69); ties
    go to the larger tile. Its costs are C++ ``float``s (single precision, one rounding per
    operation in source order, the two remainder strips added one after the other), here numpy
    float32 scalars."""
    f32 = np.float32
    spatial_k = min(a.parallel_k, k)
    e = a.word_elems
    spatial_c = min(e, c)
    span = h - r + 1

    def ceil_div(x: int, y: int) -> np.float32:  # LowerConv2d.cpp:12-14
        return f32(math.ceil(f32(x) / f32(y)))

    def one(ht: int, wt: int) -> np.float32:
        comp = f32(r * r) * ceil_div(ht, stride) * ceil_div(wt, stride) * f32(e) / f32(spatial_k)
        mem = f32((ht + r - 1) * (wt + r - 1) + r * r * e * e) / f32(e)
        return max(comp, mem)

    blocks = (ceil_div(c, spatial_c), ceil_div(k, e))
    # the source keeps the best cost in an int (LowerConv2d.cpp:33, 63-64): truncated, so a
    # later tile within 1 cycle of the best also wins
    best, best_cost = min(r + 1, h), _INT_MAX
    for t in range(min(r + 1, h), span + 1):
        if (t + r - 1) ** 2 > a.fmap_buffer_words:
            continue
        cnt, res = divmod(span, t)
        cost = f32(0.0) + f32(cnt * cnt) * blocks[0] * blocks[1] * one(t, t)
        if res:
            cost += f32(cnt) * blocks[0] * blocks[1] * one(res, t)
            cost += f32(cnt) * blocks[0] * blocks[1] * one(t, res)
            cost += blocks[0] * blocks[1] * one(res, res)
        if cost <= f32(best_cost):
            best, best_cost = t, int(cost)
    return best


def _ker_round(k_tile: int, c_tile: int, a: OpuArch) -> int:
    """Output channels per cycle: 16, widened 4x/2x when the tile has <= 16 / <= 32 input channels."""
    rounds = _cdiv(k_tile, a.parallel_k)
    if c_tile <= a.word_elems // 4:
        rounds = _cdiv(rounds, 4)
    elif c_tile <= a.word_elems // 2:
        rounds = _cdiv(rounds, 2)
    return rounds


def _weight_words(k_tile: int, c_tile: int, rs: int, a: OpuArch) -> int:
    sk = a.parallel_k * (2 if c_tile <= a.word_elems // 2 else 1)
    kz = _cdiv(k_tile, sk) * sk
    cz = max(c_tile, a.word_elems // 2)
    return _cdiv(kz * cz, a.word_elems) * rs


@dataclass
class _Op:
    engine: str  # "dma" or "pe"
    cycles: int
    deps: tuple[int, ...]


def _schedule(ops: list[_Op]) -> int:
    """List schedule on two engines (one DMA, one PE), as the compiler's scheduler does: whenever an
    engine is free it takes the ready instruction that can start first (ties: program order)."""
    end: list[int | None] = [None] * len(ops)
    free = {"dma": 0, "pe": 0}
    left = list(range(len(ops)))
    while left:
        best, best_start = -1, None
        for i in left:
            deps = ops[i].deps
            if any(end[d] is None for d in deps):
                continue
            start = max([free[ops[i].engine], *(end[d] or 0 for d in deps)])
            if best_start is None or start < best_start:
                best, best_start = i, start
        assert best_start is not None, "dependency cycle"
        end[best] = best_start + ops[best].cycles
        free[ops[best].engine] = end[best] or 0
        left.remove(best)
    return max(e or 0 for e in end) if end else 0


def _spatial_tiles(span: int, t: int) -> list[int]:
    cnt, res = divmod(span, t)
    return [t] * cnt + ([res] if res else [])


def _tiles(hp: int, wp: int, r: int, stride: int, c: int, k: int, a: OpuArch) -> tuple[list[int], list[int], int]:
    """Spatial tiles (heights, widths, in input positions) and the square tile size (0 for row bands)."""
    if a.tiling == "rows":
        span_w = wp - r + 1
        rows = max(1, a.fmap_buffer_words // (span_w + r - 1) - (r - 1))
        return _spatial_tiles(hp - r + 1, min(rows, hp - r + 1)), [span_w], 0
    t = choose_tile(hp, r, stride, c, k, a)
    return _spatial_tiles(hp - r + 1, t), _spatial_tiles(wp - r + 1, t), t


def conv_cycles(s0: LayerShape, a: OpuArch = OpuArch()) -> OpuLayerCycles:
    """Regular conv / pointwise on the inner-product array, as compiled and simulated by the authors."""
    s, enhanced = channel_enhance(s0, a)
    e = a.word_elems
    r = s.kernel
    hp, wp = s.h_in + 2 * s.pad, s.w_in + 2 * s.pad
    hs, ws, t = _tiles(hp, wp, r, s.stride, s.c_in, s.c_out, a)
    k_tiles = [min(e, s.c_out - k0) for k0 in range(0, s.c_out, e)]
    c_tiles = [min(e, s.c_in - c0) for c0 in range(0, s.c_in, e)]
    ops: list[_Op] = []
    loaded_w: set[tuple[int, int]] = set()
    loaded_b: set[int] = set()
    pe_ends: list[int] = []
    for ht in hs:
        for wt in ws:
            ho, wo = _cdiv(ht, s.stride), _cdiv(wt, s.stride)
            for ki, kt in enumerate(k_tiles):
                for ci, ct in enumerate(c_tiles):
                    load = sum(_burst_row_cycles(wt + r - 1, a) for _ in range(ht + r - 1))
                    if (ki, ci) not in loaded_w:
                        loaded_w.add((ki, ci))
                        load += _burst_row_cycles(_weight_words(kt, ct, r * r, a), a)
                    if ci == 0 and ki not in loaded_b:
                        loaded_b.add(ki)
                        load += _burst_row_cycles(2, a)
                    # two buffer banks: this load waits for the compute two tiles back
                    bank_dep = (pe_ends[-2],) if len(pe_ends) >= 2 else ()
                    ops.append(_Op("dma", load, bank_dep))
                    li = len(ops) - 1
                    comp = r * r * (ho * wo * _ker_round(kt, ct, a) + a.compute_epilogue_cycles)
                    ops.append(_Op("pe", comp, (li,)))
                    pe_ends.append(len(ops) - 1)
                    if ci == len(c_tiles) - 1:
                        ops.append(_Op("dma", ho * wo + a.store_epilogue_cycles, (len(ops) - 1,)))
    total = _schedule(ops)
    return OpuLayerCycles(
        total,
        sum(o.cycles for o in ops if o.engine == "pe"),
        sum(o.cycles for o in ops if o.engine == "dma"),
        t,
        enhanced,
    )


def depthwise_cycles(s: LayerShape, a: OpuArch = OpuArch()) -> OpuLayerCycles:
    """Depthwise conv on the 64-PE depthwise engine, one 64-channel group per COMPUTE."""
    r = s.kernel
    hp, wp = s.h_in + 2 * s.pad, s.w_in + 2 * s.pad
    hs, ws, t = _tiles(hp, wp, r, s.stride, a.word_elems, a.word_elems, a)
    groups = _cdiv(s.c_in, a.dw_pes)
    ops: list[_Op] = []
    pe_ends: list[int] = []
    for ht in hs:
        for wt in ws:
            ho, wo = _cdiv(ht, s.stride), _cdiv(wt, s.stride)
            for _g in range(groups):
                load = sum(_burst_row_cycles(wt + r - 1, a) for _ in range(ht + r - 1))
                if len(pe_ends) < groups:  # weights and bias once per group
                    load += _burst_row_cycles(_cdiv(a.dw_pes * r * r, a.word_elems), a)
                    load += _burst_row_cycles(2, a)
                bank_dep = (pe_ends[-2],) if len(pe_ends) >= 2 else ()
                ops.append(_Op("dma", load, bank_dep))
                comp = 2 * (wt + r - 1) + 2 + ho * wo + a.compute_epilogue_cycles
                ops.append(_Op("pe", comp, (len(ops) - 1,)))
                pe_ends.append(len(ops) - 1)
                ops.append(_Op("dma", ho * wo + a.store_epilogue_cycles, (len(ops) - 1,)))
    return OpuLayerCycles(
        _schedule(ops),
        sum(o.cycles for o in ops if o.engine == "pe"),
        sum(o.cycles for o in ops if o.engine == "dma"),
        t,
        False,
    )


def fc_cycles(s: LayerShape, a: OpuArch = OpuArch()) -> OpuLayerCycles:
    """FC: weights streamed in weight-bank blocks; 1 cycle per COMPUTE (opu-sim)."""
    words = _cdiv(s.c_out * _cdiv(s.c_in, a.word_elems) * a.word_elems, a.word_elems)
    blocks = _cdiv(words, a.weight_bank_words)
    ops: list[_Op] = [_Op("dma", _burst_row_cycles(_cdiv(s.c_in, a.word_elems), a), ())]
    pe_ends: list[int] = []
    left = words
    for _ in range(blocks):
        n = min(left, a.weight_bank_words)
        left -= n
        bank_dep = (pe_ends[-2],) if len(pe_ends) >= 2 else ()
        ops.append(_Op("dma", _burst_row_cycles(n, a), bank_dep))
        ops.append(_Op("pe", 1, (len(ops) - 1,)))
        pe_ends.append(len(ops) - 1)
    ops.append(_Op("dma", _cdiv(s.c_out, a.word_elems) + a.store_epilogue_cycles, (len(ops) - 1,)))
    return OpuLayerCycles(
        _schedule(ops),
        sum(o.cycles for o in ops if o.engine == "pe"),
        sum(o.cycles for o in ops if o.engine == "dma"),
        0,
        False,
    )


def layer_cycles(s: LayerShape, a: OpuArch = OpuArch()) -> OpuLayerCycles:
    if s.kind == "depthwise":
        return depthwise_cycles(s, a)
    if s.kind == "fc":
        return fc_cycles(s, a)
    return conv_cycles(s, a)
