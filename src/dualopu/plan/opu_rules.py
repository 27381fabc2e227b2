"""OPU-fidelity mapping rules (issue 12), each a small named function over plan arrays.

Each reads one hardware field (defaults off, so other presets keep their mapping); sources
are in docs/assumptions.md, "OPU fidelity: facts from opu-sim / opu-compiler".
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def depthwise_lanes(cout: np.ndarray, pe_count: np.ndarray, channel_group: np.ndarray) -> np.ndarray:
    """Channels a depthwise tile may hold: one per PE, and with 64-channel groups (opu-sim's
    depthwise engine, ``channel_group > 0``) at most one group."""
    lanes = np.minimum(pe_count, cout)
    return np.where(channel_group > 0, np.minimum(lanes, np.maximum(channel_group, 1.0)), lanes)


def depthwise_pes_per_channel(tc: np.ndarray, pe_count: np.ndarray, channel_group: np.ndarray) -> np.ndarray:
    """PEs working on one channel: the free PEs share channels (``floor(P / tc)``), except on a
    grouped engine, where each PE owns one channel and the rest idle (opu-sim RunComputeDW)."""
    return np.where(channel_group > 0, 1.0, np.floor(pe_count / tc))


def store_drain_bytes(
    store_bytes: np.ndarray, lanes: np.ndarray, elems_per_cycle: np.ndarray, bw: float
) -> np.ndarray:
    """Port-equivalent bytes of a store drained through the post-processing unit at
    ``elems_per_cycle`` (opu-sim RunPostProcess: one output word per cycle): the store holds
    the DRAM port ``max(bytes / bw, lanes / rate)`` cycles, ``lanes`` being the elements it
    drains (whole 64-channel words on an ``opu64`` core: `plan.rules.store_lanes`,
    `plan.split.word_groups`). ``elems_per_cycle = 0``: off."""
    drain_cycles = np.where(elems_per_cycle > 0, lanes / np.maximum(elems_per_cycle, 1e-12), 0.0)
    return np.maximum(store_bytes, drain_cycles * bw)


def burst_rows_of_load(
    rows: float, channels: float, data_bytes: float, word_bytes: float, plane_pixels: float = 2.0
) -> float:
    """DRAM burst rows of one input LOAD in the 64-channel-word layout: each tile row of each
    word-wide channel group is one burst row (opu-sim charges every row its fixed latency),
    except a one-pixel plane (a vector: an FC input, a ``(1, C, 1, 1)`` operand), whose word
    groups are consecutive words (group ``g`` at ``g * H * W``, Allocator.cpp:98-99): one row."""
    if plane_pixels <= 1:
        return 1.0
    return rows * math.ceil(channels * data_bytes / word_bytes)


def burst_latency_cycles(
    in_load_bytes: np.ndarray,
    win: np.ndarray,
    in_rows: np.ndarray,
    in_ch: np.ndarray,
    load_instrs: np.ndarray,
    store_instrs: np.ndarray,
    data_bytes: float,
    word_bytes: float,
    row_latency_cycles: float,
    vector: np.ndarray | bool = False,
) -> np.ndarray:
    """Fixed DRAM latency of a layer under the burst model: every burst row of an input load,
    every weight load and every store pays ``row_latency_cycles`` (opu-sim RunLoad / RunStore).
    Input rows are counted from the bytes loaded (halo re-reads and every input included):
    ``bytes / (W * channels)`` rows, each ``ceil(channels / word)`` burst rows, or one where the
    input is a one-pixel plane (``vector``, `burst_rows_of_load`). The other LOADs (weights,
    tables, broadcast ``(1, C, 1, 1)`` operands) are one burst row each."""
    groups = np.where(vector, 1.0, np.ceil(in_ch * data_bytes / word_bytes))
    row_bytes = np.maximum(win * in_ch * data_bytes, 1.0)
    in_rows_total = in_load_bytes / row_bytes
    in_burst_rows = in_rows_total * groups
    n_in_loads = np.ceil(in_rows_total / np.maximum(in_rows, 1.0) - 1e-9)
    other_rows = np.maximum(load_instrs - n_in_loads, 0.0)
    return row_latency_cycles * (in_burst_rows + other_rows + np.maximum(store_instrs, 1.0))


def channel_enhanced(cin_g: np.ndarray, kk: np.ndarray, ic_parallel: np.ndarray, enabled: np.ndarray) -> np.ndarray:
    """opu-compiler ChannelEnhance: a kxk conv whose ``k*k*C_in`` is below one word of input
    channels runs as a 1x1 conv over its im2col input, ``k*k*C_in`` values filling the PE inputs."""
    return (enabled > 0) & (kk > 1) & (cin_g * kk < ic_parallel)


def reduction_per_position(cin_g: np.ndarray, kk: np.ndarray, enhanced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(input values reduced per cycle-group, kernel positions stepped): ``(C, k*k)`` normally,
    ``(k*k*C, 1)`` when channel-enhanced."""
    return np.where(enhanced, cin_g * kk, cin_g), np.where(enhanced, 1.0, kk)
def widen_factor(cin: np.ndarray, pic: np.ndarray, input_size: np.ndarray) -> np.ndarray:
    """Output widening of a reduction over ``cin`` input channels on an array taking ``pic``
    per cycle: 4x when ``cin <= pic/4``, 2x when ``<= pic/2``, never beyond ``pic /
    input_size`` (each PE keeps at least one input channel; opu-compiler Scheduler.cpp:36-45)."""
    w = np.where(cin <= pic / 4, 4.0, np.where(cin <= pic / 2, 2.0, 1.0))
    return np.minimum(w, np.maximum(np.floor(pic / input_size), 1.0))


def regular_passes(
    red: ArrayLike,
    oc: ArrayLike,
    pic: ArrayLike,
    poc: ArrayLike,
    input_size: ArrayLike,
    per_tile: ArrayLike,
) -> np.ndarray:
    """Array passes (per kernel position and output pixel) of ``red`` reduced values x ``oc``
    output channels at ``pic`` x ``poc`` per cycle: ``ceil(red/pic) * ceil(oc/poc)``. With
    ``per_tile`` (opu-compiler: widening decided per input-channel tile) and ``red > pic``, the
    remainder tile of ``red mod pic`` channels is widened by `widen_factor`:
    ``floor(red/pic) * ceil(oc/poc) + ceil(oc / (poc * widen(rem)))``."""
    red, oc = np.asarray(red, dtype=np.float64), np.asarray(oc, dtype=np.float64)
    pic, poc = np.asarray(pic, dtype=np.float64), np.asarray(poc, dtype=np.float64)
    input_size = np.asarray(input_size, dtype=np.float64)
    plain = np.ceil(red / pic) * np.ceil(oc / poc)
    full = np.floor(red / pic)
    rem = red - full * pic
    split = full * np.ceil(oc / poc) + np.where(
        rem > 0, np.ceil(oc / (poc * widen_factor(rem, pic, input_size))), 0.0
    )
    return np.where((np.asarray(per_tile) > 0) & (red > pic), split, plain)


#: ``std::numeric_limits<int>::max()``: the square-tile search's initial best cost.
_SEARCH_INT_MAX = float(2**31 - 1)
_F32 = np.float32


def square_spatial_tile(
    h_in: ArrayLike,
    kernel: ArrayLike,
    stride: ArrayLike,
    c_in: ArrayLike,
    c_out: ArrayLike,
    fmap_words: ArrayLike,
    word_elems: ArrayLike,
    simd: ArrayLike,
) -> np.ndarray:
    """The opu-compiler's spatial tile (``FindTilingFactorConv2D``, LowerConv2d.cpp:20-69): the
    square tile ``t`` (input positions, ``t`` from ``min(r+1, H)`` to ``H-r+1``) whose input
    ``(t+r-1)^2`` fits ``fmap_words`` feature-buffer words and minimises the summed per-tile
    ``max(compute, memory)`` over full and remainder tiles, with
    ``compute = r^2 ceil(t/s)^2 word / min(simd/word, K)`` and
    ``memory = ((t+r-1)^2 + r^2 word^2) / word``, times ``ceil(C/min(word, C)) ceil(K/word)``
    channel blocks. As in the source, the costs are single-precision floats evaluated in its
    order (lines 12-14, 42-60: the two remainder strips are added one after the other) and the
    best cost is kept in an int (truncated, lines 33 and 63-64), so ties and near-ties go to
    the larger tile. ``h_in`` is the (padded) square input extent; vectorized over broadcast
    inputs.

    `plan.rules.spatial_tiles` uses it under ``spatial_tiling: opu``."""
    h, r, st, c, k, fw, simd_ = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (h_in, kernel, stride, c_in, c_out, fmap_words, simd))
    )
    e = float(np.asarray(word_elems))
    spatial_k = np.minimum(np.floor(simd_ / e), k)  # ints, as in the source
    spatial_c = np.minimum(e, c)
    span = h - r + 1.0
    lo = np.minimum(r + 1.0, h)
    best = lo.copy()
    best_cost = np.full(h.shape, _SEARCH_INT_MAX)  # an int (exact in float64)

    def cdiv(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """``ceil((float)x / (float)y)`` (the source's ``ceil_div``, in float)."""
        return np.ceil(_F32(x) / _F32(y))

    r2 = _F32(r * r)  # ``I->r * I->s``: an int product
    blocks_c, blocks_k = cdiv(c, spatial_c), cdiv(k, e)
    e32, sk32 = _F32(e), _F32(spatial_k)

    def one(ht: np.ndarray | float, wt: np.ndarray | float) -> np.ndarray:
        comp = r2 * cdiv(ht, st) * cdiv(wt, st) * e32 / sk32
        mem = _F32((ht + r - 1.0) * (wt + r - 1.0) + r * r * e * e) / e32
        return np.maximum(comp, mem)

    def term(count: np.ndarray | float, ht: np.ndarray | float, wt: np.ndarray | float) -> np.ndarray:
        """``count * ceil_div(C, spatial_c) * ceil_div(K, word) * max(...)``, left to right."""
        return _F32(count) * blocks_c * blocks_k * one(ht, wt)

    # the loop runs over the t some element admits: ``lo <= t <= span`` and ``(t+r-1)^2 <= fmap``
    fits = np.floor(np.sqrt(np.maximum(fw, 0.0))) - r + 1.0  # largest t whose input fits
    top = int(np.max(np.minimum(span, fits + 1.0))) if span.size else 0  # +1: float sqrt guard
    for t in range(int(np.min(lo)) if lo.size else 1, top + 1):
        tt = float(t)
        ok = (tt >= lo) & (tt <= span) & ((tt + r - 1.0) ** 2 <= fw)
        cnt = np.floor(span / tt)
        res = span - cnt * tt
        cost = _F32(0.0) + term(cnt * cnt, tt, tt)
        part = res > 0
        cost = np.where(part, cost + term(cnt, res, tt), cost)  # the h remainder strip
        cost = np.where(part, cost + term(cnt, tt, res), cost)  # the w remainder strip
        cost = np.where(part, cost + blocks_c * blocks_k * one(res, res), cost)  # the corner
        win = ok & (cost <= _F32(best_cost))  # ``cycle <= cycle_min``: the int as a float
        best = np.where(win, tt, best)
        best_cost = np.where(win, np.trunc(cost.astype(np.float64)), best_cost)
    return best
