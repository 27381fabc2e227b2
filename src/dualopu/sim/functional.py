"""INT8 functional simulator: executes a compiled program tile by tile (numpy, vectorized per tile).

State: a byte-addressed DRAM image (int8) holding the activations at the program's
addresses, and per core the ``in`` / ``w`` / ``out`` buffer slots. LOAD gathers a tile from
DRAM through the source tensor's channel-address table (views of concat / slice / shuffle /
flatten cost nothing), COMPUTE / POST read slots and write an output slot, STORE scatters
the output slot to DRAM. Instructions run in program order; any execution order the
cycle simulator's dependencies allow gives the same result.

Arithmetic is the INT8 semantics of `dualopu.compiler.quant`: integer accumulation is
exact (int32 for element-wise sums; dense products summed in float64, exact because
every partial sum is an integer below 2**53), requantization is float32 with
round-half-to-even (``numpy.rint``), as the exported ONNX model does. Only the quantized
parameters (weights, bias, multipliers, tables) are read from `QuantizedNetwork`; none of
the calibration or reference code is used.

Weights travel: every MAC layer's parameters are laid out in a weight image in DRAM (the
activation table first, if the layer has one, then per output channel its INT8 weights, a
float32 requantization multiplier and an int32 bias; `dualopu.plan.bytes`). A weight LOAD
copies exactly its ``bytes`` from that image into its slot (the layer's first weight LOAD
carries the table), and COMPUTE decodes weights, multipliers and biases from the slot
bytes: a missing or short weight LOAD is a `ProgramError`, never silently the right answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from dualopu.compiler.isa import Compute, Load, Post, Store, columns
from dualopu.compiler.program import LayerProgram, Program
from dualopu.compiler.quant import QLayer, QuantizedNetwork
from dualopu.errors import ProgramError, ShapeError
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind, uses_table
from dualopu.plan.bytes import PARAM_BYTES_BIAS, PARAM_BYTES_MULT, TABLE_BYTES, weights_per_oc_bytes


@dataclass(frozen=True)
class _Tile:
    """On-chip data: channels from ``c0``, rows from ``r0``, columns from ``q0``, shape ``(c, r, q)``."""

    data: np.ndarray
    c0: int
    r0: int
    q0: int = 0


@dataclass(frozen=True)
class _WTile:
    """A weight slot: the bytes a LOAD brought for output channels ``[c0, c1)``."""

    layer: int
    c0: int
    c1: int
    data: np.ndarray  # uint8, as copied from the weight image
    table: bool  # the bytes start with the activation table


def _weight_image(layer: Layer, q: QLayer) -> np.ndarray:
    """The layer's parameters as they sit in DRAM: [table] then per output channel
    weights (int8), multiplier (float32), bias (int32, if any)."""
    parts: list[np.ndarray] = []
    if uses_table(layer):
        t = q.table if q.table is not None else np.zeros(TABLE_BYTES, dtype=np.int8)
        parts.append(np.ascontiguousarray(t, dtype=np.int8).view(np.uint8).reshape(-1))
    if q.weight is not None:
        cout = layer.out_channels
        rec = [np.ascontiguousarray(q.weight, dtype=np.int8).reshape(cout, -1).view(np.uint8),
               np.ascontiguousarray(q.mult[:cout], dtype=np.float32).reshape(cout, 1).view(np.uint8)]
        if layer.has_bias:
            b = q.bias if q.bias is not None else np.zeros(cout, dtype=np.int32)
            rec.append(np.ascontiguousarray(b, dtype=np.int32).reshape(cout, 1).view(np.uint8))
        parts.append(np.concatenate(rec, axis=1).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)


def _record_bytes(layer: Layer) -> int:
    return weights_per_oc_bytes(layer, 1) + PARAM_BYTES_MULT + (PARAM_BYTES_BIAS if layer.has_bias else 0)


def _loaded_params(lp: LayerProgram, ins: Compute, wt: _WTile, q: QLayer, where: str) -> QLayer:
    """Weights, multipliers and biases of ``ins``'s channels decoded from the slot's bytes."""
    ly = lp.layer
    rec = _record_bytes(ly)
    off = (TABLE_BYTES if wt.table else 0) + (ins.c0 - wt.c0) * rec
    end = off + (ins.c1 - ins.c0) * rec
    if wt.data.size < end:
        raise ProgramError(f"{where}: weights of oc[{ins.c0}:{ins.c1}] incomplete in w[{ins.w_slot}] "
                           f"(its LOAD brought {wt.data.size} B, the tile needs {end} B)")
    recs = wt.data[off:end].reshape(ins.c1 - ins.c0, rec)
    nw = weights_per_oc_bytes(ly, 1)
    assert q.weight is not None
    weight = np.zeros((ly.out_channels, *q.weight.shape[1:]), dtype=np.int8)
    weight[ins.c0:ins.c1] = np.ascontiguousarray(recs[:, :nw]).view(np.int8).reshape(-1, *q.weight.shape[1:])
    mult = np.zeros(ly.out_channels, dtype=np.float32)
    mult[ins.c0:ins.c1] = np.ascontiguousarray(recs[:, nw:nw + PARAM_BYTES_MULT]).view(np.float32).reshape(-1)
    bias = None
    if ly.has_bias:
        bias = np.zeros(ly.out_channels, dtype=np.int32)
        bias[ins.c0:ins.c1] = np.ascontiguousarray(recs[:, nw + PARAM_BYTES_MULT:]).view(np.int32).reshape(-1)
    return replace(q, weight=weight, bias=bias, mult=mult)


def _tail(v: np.ndarray, q: QLayer) -> np.ndarray:
    """float32 -> round half to even -> clip -> int8 -> optional table."""
    r = np.clip(np.rint(v), np.float32(q.lo), np.float32(q.hi)).astype(np.int8)
    return _table(r, q)


def _table(x: np.ndarray, q: QLayer) -> np.ndarray:
    if q.table is None:
        return x
    return q.table[x.astype(np.int16) + 128]


def _rows_from(tile: _Tile, lo: int, hi: int, c0: int, c1: int, where: str,
               cols: tuple[int, int] | None = None) -> np.ndarray:
    """Rows ``[lo, hi)`` x channels ``[c0, c1)`` (x columns ``cols``, default all the tile holds)
    of a loaded tile (ProgramError if not loaded)."""
    t0 = tile.r0
    nc, nr, nq = tile.data.shape
    q0, q1 = cols if cols is not None else (tile.q0, tile.q0 + nq)
    if lo < t0 or hi > t0 + nr or c0 < tile.c0 or c1 > tile.c0 + nc or q0 < tile.q0 or q1 > tile.q0 + nq:
        raise ProgramError(f"{where}: reads c[{c0}:{c1}] r[{lo}:{hi}] q[{q0}:{q1}] but the slot holds "
                           f"c[{tile.c0}:{tile.c0 + nc}] r[{t0}:{t0 + nr}] q[{tile.q0}:{tile.q0 + nq}]")
    return tile.data[c0 - tile.c0:c1 - tile.c0, lo - t0:hi - t0, q0 - tile.q0:q1 - tile.q0]


def _block(tile: _Tile, ly: Layer, r0: int, r1: int, c0: int, c1: int, fill: int, dtype: type, where: str,
           q0: int = 0, q1: int = 0) -> np.ndarray:
    """The padded input block that output rows ``[r0, r1)`` x columns ``[q0, q1)`` (all when
    ``q1 = 0``) read, ``(c, Hneed, Wneed)``."""
    _, _, hin, win = ly.in_shape
    q1 = q1 or ly.out_shape[3]
    kh = (ly.kernel[0] - 1) * ly.dilation[0] + 1
    kw = (ly.kernel[1] - 1) * ly.dilation[1] + 1
    lo = r0 * ly.stride[0] - ly.padding[0]
    hn = (r1 - r0 - 1) * ly.stride[0] + kh
    lo_q = q0 * ly.stride[1] - ly.padding[1]
    wn = (q1 - q0 - 1) * ly.stride[1] + kw
    a, b = max(lo, 0), min(lo + hn, hin)
    qa, qb = max(lo_q, 0), min(lo_q + wn, win)
    blk = np.full((c1 - c0, hn, wn), fill, dtype=dtype)
    if b > a and qb > qa:
        src = _rows_from(tile, a, b, c0, c1, where, (qa, qb))
        blk[:, a - lo:b - lo, qa - lo_q:qb - lo_q] = src
    return blk


def _windows(blk: np.ndarray, ly: Layer, rows: int, cols: int = 0) -> list[np.ndarray]:
    """Per kernel position, the ``(c, rows, cols)`` strided view of the block (``cols = 0``: Wout)."""
    wout = cols or ly.out_shape[3]
    sh, sw = ly.stride
    dh, dw = ly.dilation
    return [blk[:, i * dh: i * dh + (rows - 1) * sh + 1: sh, j * dw: j * dw + (wout - 1) * sw + 1: sw]
            for i in range(ly.kernel[0]) for j in range(ly.kernel[1])]


def _conv_tile(lp: LayerProgram, ins: Compute, tile: _Tile, q: QLayer, where: str) -> np.ndarray:
    """Accumulators int64 ``(oc, rows, Wout)`` of a COMPUTE tile."""
    ly = lp.layer
    assert q.weight is not None
    _, cin, _, _ = ly.in_shape
    cout = ly.out_channels
    rows = ins.r1 - ins.r0
    q0, q1 = columns(ins, ly.out_shape[3])
    wout = q1 - q0
    if ly.kind is LayerKind.DEPTHWISE:
        m = max(cout // cin, 1)
        i0, i1 = ins.c0 // m, (ins.c1 - 1) // m + 1
        blk = _block(tile, ly, ins.r0, ins.r1, i0, i1, 0, np.int32, where, q0, q1)
        sel = np.arange(ins.c0, ins.c1) // m - i0
        wts = q.weight[ins.c0:ins.c1, 0].reshape(ins.c1 - ins.c0, -1).astype(np.int32)
        acc = np.zeros((ins.c1 - ins.c0, rows, wout), dtype=np.int32)
        for k, win in enumerate(_windows(blk, ly, rows, wout)):
            acc += win[sel] * wts[:, k, None, None]
        return acc.astype(np.int64)
    g = ly.groups
    og, cg = cout // g, cin // g
    g0, g1 = ins.c0 // og, (ins.c1 - 1) // og + 1
    blk = _block(tile, ly, ins.r0, ins.r1, g0 * cg, g1 * cg, 0, np.float64, where, q0, q1)
    cols = np.stack(_windows(blk, ly, rows, wout), axis=1)  # (c, kk, rows, wout)
    cols = cols.reshape(g1 - g0, cg * cols.shape[1], rows * wout)
    w = q.weight[g0 * og:g1 * og].reshape(g1 - g0, og, -1).astype(np.float64)
    acc = np.matmul(w, cols).reshape((g1 - g0) * og, rows, wout)
    acc = acc[ins.c0 - g0 * og:ins.c1 - g0 * og]
    return acc.astype(np.int64)  # exact integers


def _compute(lp: LayerProgram, ins: Compute, tile: _Tile, q: QLayer, where: str) -> np.ndarray:
    acc = _conv_tile(lp, ins, tile, q, where)
    if q.bias is not None:
        acc = acc + q.bias[ins.c0:ins.c1, None, None].astype(np.int64)
    f = acc.astype(np.int32).astype(np.float32) * q.mult[ins.c0:ins.c1, None, None]
    return _tail(f, q)


def _post(lp: LayerProgram, ins: Post, tiles: list[_Tile], q: QLayer, where: str) -> np.ndarray:
    ly = lp.layer
    c0, c1, r0, r1 = ins.c0, ins.c1, ins.r0, ins.r1
    rows = r1 - r0
    if ly.op == "maxpool":
        blk = _block(tiles[0], ly, r0, r1, c0, c1, -32768, np.int16, where)
        y = np.maximum.reduce(_windows(blk, ly, rows))
        return _table(np.clip(y, q.lo, q.hi).astype(np.int8), q)
    if ly.op == "avgpool":
        blk = _block(tiles[0], ly, r0, r1, c0, c1, 0, np.int32, where)
        s = np.add.reduce(_windows(blk, ly, rows))
        return _tail(s.astype(np.float32) * q.mult[r0:r1][None], q)
    if ly.op == "global_avgpool":
        x = _rows_from(tiles[0], 0, ly.in_shape[2], c0, c1, where)
        s = x.astype(np.int32).sum(axis=(1, 2), dtype=np.int32)
        return _tail((s.astype(np.float32) * q.mult[0]).reshape(-1, 1, 1), q)
    if ly.kind is LayerKind.ACTIVATION:
        return _table(_rows_from(tiles[0], r0, r1, c0, c1, where), q)
    if ly.op == "channel_shuffle":  # a copy (opu64 layout): the post-processing unit permutes the channels
        c, g = ly.out_shape[1], int(ly.attrs["groups"])
        x = _rows_from(tiles[0], r0, r1, 0, c, where)
        return x[np.arange(c).reshape(g, c // g).T.reshape(-1)][c0:c1]

    def operand(k: int) -> np.ndarray:
        shape = ly.in_shapes[k]
        if shape[2:] != ly.out_shape[2:]:
            return _rows_from(tiles[k], 0, shape[2], c0, c1, where).astype(np.float32)
        return _rows_from(tiles[k], r0, r1, c0, c1, where).astype(np.float32)

    if ly.kind is LayerKind.ADD:
        return _tail(operand(0) * q.mult[0] + operand(1) * q.mult[1], q)
    if ly.kind is LayerKind.MUL:
        return _tail((operand(0) * operand(1)) * q.mult[0], q)
    raise ProgramError(f"{where}: POST cannot run {ly.kind.value}/{ly.op}")


def _key(layer: Layer) -> str:
    """What the functional simulator relies on of a layer, JSON-normalized for comparison."""
    d = layer.to_dict()
    return json.dumps({k: d[k] for k in ("name", "kind", "op", "inputs", "in_shapes", "out_shape", "kernel",
                                         "stride", "padding", "dilation", "groups", "activation", "has_bias",
                                         "attrs")}, sort_keys=True, default=str)


def _check(program: Program, qnet: QuantizedNetwork, x: np.ndarray) -> None:
    net = qnet.network
    same = len(program.layers) == len(net.layers) and tuple(program.input_shape) == tuple(net.input_shape) and all(
        _key(lp.layer) == _key(layer) for lp, layer in zip(program.layers, net.layers, strict=False))
    if not same:
        raise ProgramError(f"program for {program.network!r} {list(program.input_shape)} does not match the "
                           f"quantized network {net.name!r} {list(net.input_shape)}")
    if tuple(x.shape) != tuple(program.input_shape):
        raise ShapeError(f"input of shape {tuple(x.shape)}, program expects {tuple(program.input_shape)}")
    if x.dtype != np.int8:
        raise ShapeError(f"input must be int8, got {x.dtype}")


def _execute(program: Program, qnet: QuantizedNetwork, x: np.ndarray) -> np.ndarray:
    """Run every instruction; the final DRAM image."""
    _check(program, qnet, x)
    dram = np.zeros(program.dram_bytes, dtype=np.int8)
    t_in = program.tensors[program.input_name]
    _, c, h, _ = program.input_shape
    dram[t_in.addresses(0, c, 0, h)] = x[0]
    slots: dict[tuple[int, str, int, int], _Tile] = {}  # (core, buf, slot, port)
    wslots: dict[tuple[int, int], _WTile] = {}
    for lp in program.layers:
        q = qnet.layers[lp.index]
        image = _weight_image(lp.layer, q) if lp.instrs else np.zeros(0, dtype=np.uint8)
        has_table = uses_table(lp.layer)
        table: np.ndarray | None = None  # the activation table as loaded (post-processing memory)
        first_w = True
        for k, ins in enumerate(lp.instrs):
            where = f"layer {lp.name!r} instruction {k}"
            if isinstance(ins, Load):
                if ins.buf == "w":
                    with_table = first_w and has_table
                    if lp.layer.kind in MAC_KINDS:
                        off = 0 if with_table else TABLE_BYTES * has_table + ins.c0 * _record_bytes(lp.layer)
                        if with_table and ins.c0 != 0:
                            raise ProgramError(f"{where}: the first weight LOAD must start at channel 0 (table)")
                    else:
                        off = 0
                    data = image[off:off + ins.bytes]
                    if with_table and data.size >= TABLE_BYTES and q.table is not None:
                        table = data[:TABLE_BYTES].view(np.int8)
                    first_w = False
                    wslots[(lp.core, ins.slot)] = _WTile(lp.index, ins.c0, ins.c1, data, with_table)
                    continue
                t = program.tensors[ins.src]
                data = dram[t.addresses(ins.c0, ins.c1, ins.r0, ins.r1, ins.q0, ins.q1)]
                slots[(lp.core, "in", ins.slot, ins.port)] = _Tile(data, ins.c0, ins.r0, ins.q0)
            elif isinstance(ins, Compute):
                wt = wslots.get((lp.core, ins.w_slot))
                if wt is None or wt.layer != lp.index or ins.c0 < wt.c0 or ins.c1 > wt.c1:
                    raise ProgramError(f"{where}: weights of oc[{ins.c0}:{ins.c1}] are not in w[{ins.w_slot}]")
                tile = slots.get((lp.core, "in", ins.in_slot, 0))
                if tile is None:
                    raise ProgramError(f"{where}: in[{ins.in_slot}] is empty")
                if q.table is not None and table is None:
                    raise ProgramError(f"{where}: the activation table is not loaded")
                ql = _loaded_params(lp, ins, wt, q, where)
                y = _compute(lp, ins, tile, ql if table is None else replace(ql, table=table), where)
                key = (lp.core, "out", ins.out_slot, 0)
                if ins.append:  # after the channels the slot holds (same rows and columns)
                    held = slots.get(key)
                    if held is None or held.c0 + held.data.shape[0] != ins.c0 or (held.r0, held.q0) != (
                        ins.r0,
                        ins.q0,
                    ) or held.data.shape[1:] != y.shape[1:]:
                        raise ProgramError(f"{where}: append to out[{ins.out_slot}], which does not end at "
                                           f"channel {ins.c0} of the same rows and columns")
                    y = np.concatenate([held.data, y])
                    slots[key] = _Tile(y, held.c0, ins.r0, ins.q0)
                else:
                    slots[key] = _Tile(y, ins.c0, ins.r0, ins.q0)
            elif isinstance(ins, Post):
                tiles = []
                for port in range(len(lp.layer.inputs)):
                    tl = slots.get((lp.core, "in", ins.in_slot, port))
                    if tl is None:
                        raise ProgramError(f"{where}: in[{ins.in_slot}].{port} is empty")
                    tiles.append(tl)
                if q.table is not None:
                    wt = wslots.get((lp.core, ins.w_slot))
                    if wt is None or wt.layer != lp.index or table is None:
                        raise ProgramError(f"{where}: the activation table is not loaded")
                    q = replace(q, table=table)
                y = _post(lp, ins, tiles, q, where)
                slots[(lp.core, "out", ins.out_slot, 0)] = _Tile(y, ins.c0, ins.r0)
            elif isinstance(ins, Store):
                tile = slots.get((lp.core, "out", ins.slot, 0))
                if tile is None:
                    raise ProgramError(f"{where}: out[{ins.slot}] is empty")
                cols = columns(ins, program.tensors[ins.dst].shape[3])
                data = _rows_from(tile, ins.r0, ins.r1, ins.c0, ins.c1, where, cols)
                dram[program.tensors[ins.dst].addresses(ins.c0, ins.c1, ins.r0, ins.r1, ins.q0, ins.q1)] = data
    return dram


def _read(program: Program, dram: np.ndarray, name: str) -> np.ndarray:
    t = program.tensors[name]
    _, c, h, _ = t.shape
    return dram[t.addresses(0, c, 0, h)][None]


def run_functional_all(program: Program, qnet: QuantizedNetwork, input_int8: np.ndarray) -> dict[str, np.ndarray]:
    """Execute ``program``; every tensor (input, each layer's output) read back from DRAM."""
    dram = _execute(program, qnet, np.asarray(input_int8))
    return {name: _read(program, dram, name) for name in program.tensors}


def run_functional(program: Program, qnet: QuantizedNetwork, input_int8: np.ndarray) -> np.ndarray:
    """Execute ``program`` on an int8 input ``(1, C, H, W)``; the network's (first) output, int8."""
    dram = _execute(program, qnet, np.asarray(input_int8))
    return _read(program, dram, program.outputs[0])
