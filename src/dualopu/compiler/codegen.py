"""Compile a network for a processor: placement, DRAM layout, tiles, instruction streams.

Placement is `dualopu.cost.placement.place` (the one rule, shared with the cost model and
the scheduler) unless a placement is given; each layer's mapping and tiles are the plan's
(`dualopu.plan.plan_tiles`, one call per core, read by `dualopu.compiler.tiling`), turned
into stages (the loads a tile needs, one
COMPUTE or POST, one STORE). Stages are emitted software-pipelined so that the in-order
DMA queue runs one tile ahead of the PE array::

    LOAD(0) LOAD(1) EXEC(0) STORE(0) LOAD(2) EXEC(1) STORE(1) ... EXEC(S-1) STORE(S-1)

A tile is (re)loaded only when it is not the one already in its buffer slot, which is
how resident weights / inputs of the model's loop orders come out (weights outer: a
weight tile is loaded once and the input row tiles stream, or stay resident if there is
only one; inputs outer: the converse).

Weight tiles carry, besides the INT8 weights, per output channel a float32 requantization
multiplier and (with a bias) an int32 bias, and the layer's first weight tile the 256-byte
activation table of a nonlinear activation (`PARAM_BYTES_*`). Element-wise layers with
a table load it with one LOAD ``w``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dualopu.compiler.isa import Compute, Instr, Load, Post, Store
from dualopu.compiler.program import LayerProgram, Program, TensorInfo, check_plan, core_snapshot, runs_of
from dualopu.compiler.tiling import Mapping, Tiling, layer_tiles
from dualopu.cost.evaluate import cost_matrix
from dualopu.cost.placement import Placement, place
from dualopu.errors import ModelError, ProgramError
from dualopu.hw.config import Hardware
from dualopu.hw.params import CoreParams
from dualopu.ir.network import (
    MAC_KINDS,
    TABLE_ACTIVATIONS,
    Layer,
    LayerKind,
    LayerTable,
    Network,
    kernel_extent,
    uses_table,
)
from dualopu.plan import TABLE_BYTES, TilePlan, plan_tiles, weight_tile_bytes
from dualopu.plan.rules import MODE
from dualopu.plan.split import split_channels, split_rows

__all__ = ["compile_layer", "compile_network", "in_rows", "split_channels", "split_rows", "weight_tile_bytes"]


def in_rows(layer: Layer, r0: int, r1: int) -> tuple[int, int]:
    """Input rows (clipped to the tensor) that output rows ``[r0, r1)`` read."""
    kh, _ = kernel_extent(layer)
    lo = r0 * layer.stride[0] - layer.padding[0]
    hi = (r1 - 1) * layer.stride[0] - layer.padding[0] + kh
    hin = layer.in_shape[2]
    lo, hi = max(lo, 0), min(hi, hin)
    return lo, max(hi, lo)


def in_cols(layer: Layer, q0: int, q1: int) -> tuple[int, int]:
    """Input columns (clipped to the tensor) that output columns ``[q0, q1)`` read."""
    _, kw = kernel_extent(layer)
    lo = q0 * layer.stride[1] - layer.padding[1]
    hi = (q1 - 1) * layer.stride[1] - layer.padding[1] + kw
    win = layer.in_shape[3]
    lo, hi = max(lo, 0), min(hi, win)
    return lo, max(hi, lo)


# ---- DRAM layout --------------------------------------------------------------------------


def _view(layer: Layer, ins: Sequence[TensorInfo]) -> np.ndarray:
    """Address table of a free layer's output over its inputs' planes."""
    a = [t.chan_addr for t in ins]
    _, c, h, w = layer.out_shape
    if layer.op == "concat":
        if any(t.shape[2:] != (h, w) for t in ins):
            raise ModelError(f"concat {layer.name!r}: inputs of different spatial size")
        out = np.concatenate(a)
    elif layer.op == "slice":
        start, end = int(layer.attrs["start"]), int(layer.attrs["end"])
        out = a[0][start:end]
    elif layer.op == "channel_shuffle":
        g = int(layer.attrs["groups"])
        if c % g:
            raise ModelError(f"channel_shuffle {layer.name!r}: {c} channels not divisible by {g} groups")
        out = a[0].reshape(g, c // g).T.reshape(-1)
    elif layer.op == "flatten":
        src = ins[0]
        plane = src.plane
        out = (a[0][:, None] + np.arange(plane, dtype=np.int64)[None, :]).reshape(-1)
        if (h, w) != (1, 1):
            raise ModelError(f"flatten {layer.name!r}: output {list(layer.out_shape)} is not (1, C*H*W, 1, 1)")
    else:
        raise ModelError(f"layer {layer.name!r}: {layer.kind.value} op {layer.op!r} has no address-remapping rule")
    if out.size != c:
        raise ModelError(f"layer {layer.name!r}: remapping gives {out.size} channels, shape says {c}")
    return out


def _layout(net: Network, copies: frozenset[int] = frozenset()) -> tuple[dict[str, TensorInfo], int]:
    """Physical tensors packed one after another; views for free layers (``copies``: indices of
    data-movement layers that run as a copy, with a physical output)."""
    tensors: dict[str, TensorInfo] = {}
    top = 0

    def alloc(shape: tuple[int, int, int, int]) -> TensorInfo:
        nonlocal top
        _, c, h, w = shape
        t = TensorInfo(shape=shape, runs=((top, c, h * w),), physical=True)
        top += c * h * w
        return t

    tensors[net.input_name] = alloc(net.input_shape)
    for i, layer in enumerate(net.layers):
        if layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE) and i not in copies:
            if layer.activation is not None:
                raise ModelError(f"layer {layer.name!r}: activation on a data-movement layer")
            addr = _view(layer, [tensors[i] for i in layer.inputs])
            tensors[layer.name] = TensorInfo(shape=layer.out_shape, runs=runs_of(addr), physical=False)
        else:
            tensors[layer.name] = alloc(layer.out_shape)
    return tensors, top


# ---- stages -------------------------------------------------------------------------------


@dataclass
class _Slots:
    """Round-robin slot allocation with residency: a tile already in a slot is not reloaded."""

    held: dict[str, tuple[object, int]] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    def need(self, buf: str, key: object) -> tuple[int, bool]:
        """Slot holding tile ``key`` of ``buf``, and whether it must be loaded."""
        cur = self.held.get(buf)
        if cur is not None and cur[0] == key:
            return cur[1], False
        n = self.count.get(buf, 0)
        self.count[buf] = n + 1
        self.held[buf] = (key, n % 2)
        return n % 2, True


@dataclass(frozen=True)
class _Stage:
    loads: tuple[Load, ...]
    exe: Compute | Post
    store: Store | None  # None: the tile stays in its out slot (a later STORE drains it)


def _post_tags(layer: Layer) -> tuple[str, ...]:
    tags = ["bias"] if layer.has_bias else []
    tags.append("requant")
    if layer.activation:
        tags.append(f"{layer.activation}" + ("(table)" if layer.activation in TABLE_ACTIVATIONS else "(clip)"))
    return tuple(tags)


def _oc_unit(mapping: Mapping) -> int:
    """Output channels the PE array produces per pass (tiles are balanced in these units)."""
    unit = mapping.cols if mapping.mode == "sa" else mapping.poc
    return max(int(unit), 1) if float(unit).is_integer() else 1


def _mac_stages(
    layer: Layer, tiling: Tiling, mapping: Mapping, per_load: int, db: int, store_once: bool = False
) -> list[_Stage]:
    """Stages of a conv / pointwise / grouped / FC / depthwise layer.

    One LOAD fetches the weights of ``per_load`` channel tiles (the plan's
    ``w_tiles_per_load``: depthwise weights are small, so several channel tiles share one).
    ``store_once`` (an FC under ``fc_store_once``, the plan's single STORE): every tile goes into
    ``out`` slot 0 after the previous one (``append``) and the last stage stores them all.
    """
    _, cin, _, win = layer.in_shape
    _, cout, hout, wout = layer.out_shape
    cin_g = cin // layer.groups
    kk = layer.kernel[0] * layer.kernel[1]
    dw = layer.kind is LayerKind.DEPTHWISE
    mult = max(cout // max(cin, 1), 1)
    oc_tiles = split_channels(cout, tiling.toc, tiling.n_oc, 1 if dw else _oc_unit(mapping))
    row_tiles = split_rows(hout, tiling.n_rows)
    # column tiles (spatial_tiling: opu): spatial tiles in row-major order, as one spatial index
    col_tiles = split_rows(wout, tiling.n_cols) if tiling.n_cols > 1 else [(0, 0)]
    spatial = [(k, m) for k in range(tiling.n_rows) for m in range(len(col_tiles))]
    if tiling.order == "inputs_outer":
        order = [(j, sp) for sp in spatial for j in range(tiling.n_oc)]
    else:  # weights_outer, channels_outer (depthwise)
        order = [(j, sp) for j in range(tiling.n_oc) for sp in spatial]
    slots = _Slots()
    stages: list[_Stage] = []
    first_w = True
    tags = _post_tags(layer)
    for n, (j, (k, m)) in enumerate(order):
        o0, o1 = oc_tiles[j]
        r0, r1 = row_tiles[k]
        q0, q1 = col_tiles[m]  # (0, 0): all columns
        x0, x1 = in_cols(layer, q0, q1) if q1 else (0, 0)
        width_in, width_out = (x1 - x0, q1 - q0) if q1 else (win, wout)
        i0, i1 = in_rows(layer, r0, r1)
        c0, c1 = (o0 // mult, (o1 - 1) // mult + 1) if dw else (0, cin)
        loads: list[Load] = []
        ws, load_w = slots.need("w", j // per_load)
        if load_w:
            w0 = oc_tiles[j // per_load * per_load][0]
            w1 = oc_tiles[min(len(oc_tiles), (j // per_load + 1) * per_load) - 1][1]
            loads.append(Load("w", ws, 0, "", w0, w1, 0, 0, weight_tile_bytes(layer, w1 - w0, first_w, db)))
            first_w = False
        xs, load_x = slots.need("in", (k, m, c0, c1))
        if load_x:
            loads.append(Load("in", xs, 0, layer.inputs[0], c0, c1, i0, i1,
                              (c1 - c0) * (i1 - i0) * width_in * db, x0, x1))
        macs = (o1 - o0) * (r1 - r0) * width_out * cin_g * kk
        out = 0 if store_once else n % 2
        if store_once:
            last = n == len(order) - 1
            store = Store(out, layer.name, 0, cout, r0, r1, cout * (r1 - r0) * width_out * db) if last else None
        else:
            store = Store(out, layer.name, o0, o1, r0, r1, (o1 - o0) * (r1 - r0) * width_out * db, q0, q1)
        stages.append(_Stage(
            tuple(loads),
            Compute(xs, ws, out, o0, o1, r0, r1, macs, tags, q0, q1, int(store_once and n > 0)),
            store,
        ))
    return stages


def _post_stages(layer: Layer, tiling: Tiling, db: int) -> list[_Stage]:
    """Stages of a pool / add / mul / activation layer on the post-processing unit."""
    _, cout, hout, wout = layer.out_shape
    hin = layer.in_shape[2]
    stages: list[_Stage] = []
    pre: list[Load] = []
    if uses_table(layer):
        pre.append(Load("w", 0, 0, "", 0, cout, 0, 0, TABLE_BYTES))
    n = 0
    for c0, c1 in split_rows(cout, tiling.n_oc):
        for r0, r1 in split_rows(hout, tiling.n_rows):
            slot = n % 2
            loads = list(pre) if n == 0 else []
            for port, (src, shape) in enumerate(zip(layer.inputs, layer.in_shapes, strict=True)):
                if layer.op == "global_avgpool":
                    i0, i1 = 0, hin
                elif layer.kind is LayerKind.POOL:
                    i0, i1 = in_rows(layer, r0, r1)
                elif shape[2:] != (hout, wout):  # broadcast (1, C, 1, 1)
                    i0, i1 = 0, shape[2]
                else:
                    i0, i1 = r0, r1
                loads.append(Load("in", slot, port, src, c0, c1, i0, i1, (c1 - c0) * (i1 - i0) * shape[3] * db))
            tile_out = (c1 - c0) * (r1 - r0) * wout
            if layer.op == "global_avgpool":
                ops = (c1 - c0) * layer.in_shape[2] * layer.in_shape[3]
            elif layer.kind is LayerKind.POOL:
                ops = tile_out * layer.kernel[0] * layer.kernel[1]
            else:
                ops = tile_out
            stages.append(_Stage(
                tuple(loads),
                Post(slot, 0, slot, c0, c1, r0, r1, ops),
                Store(slot, layer.name, c0, c1, r0, r1, tile_out * db),
            ))
            n += 1
    return stages


def _copy_stages(layer: Layer, tiling: Tiling, db: int) -> list[_Stage]:
    """Stages of a channel shuffle run as a copy (`dualopu.plan.rules.copy_rows`): row tiles of
    all channels, LOAD from the input, POST (the permutation), STORE."""
    _, cin, _, win = layer.in_shape
    _, cout, hout, wout = layer.out_shape
    stages: list[_Stage] = []
    for n, (r0, r1) in enumerate(split_rows(hout, tiling.n_rows)):
        slot = n % 2
        stages.append(
            _Stage(
                (Load("in", slot, 0, layer.inputs[0], 0, cin, r0, r1, cin * (r1 - r0) * win * db),),
                Post(slot, 0, slot, 0, cout, r0, r1, cout * (r1 - r0) * wout),
                Store(slot, layer.name, 0, cout, r0, r1, cout * (r1 - r0) * wout * db),
            )
        )
    return stages


def _pipeline(stages: Sequence[_Stage]) -> tuple[Instr, ...]:
    """Software-pipelined emission: loads of tile i+1 before the compute of tile i."""
    out: list[Instr] = []
    if not stages:
        return ()
    out.extend(stages[0].loads)
    for i, st in enumerate(stages):
        if i + 1 < len(stages):
            out.extend(stages[i + 1].loads)
        out.append(st.exe)
        if st.store is not None:
            out.append(st.store)
    return tuple(out)


def _check_post_op(layer: Layer) -> None:
    ok = {
        LayerKind.POOL: ("maxpool", "avgpool", "global_avgpool"),
        LayerKind.ADD: ("add",),
        LayerKind.MUL: ("mul",),
        LayerKind.ACTIVATION: ("activation",),
    }
    if layer.kind in ok and layer.op not in ok[layer.kind]:
        raise ModelError(f"layer {layer.name!r}: op {layer.op!r} is not a {layer.kind.value} operator we can compile")
    if layer.kind is LayerKind.ACTIVATION and layer.activation is None:
        raise ModelError(f"activation layer {layer.name!r} names no activation function")


def compile_layer(
    layer: Layer, index: int, core_index: int, hw: Hardware, plan: TilePlan | None = None, column: int = 0
) -> LayerProgram:
    """Mapping, tiling and instructions of one layer on core ``core_index``: column
    ``column`` of ``plan`` (planned for that core; default a one-layer plan)."""
    core = hw.cores[core_index]
    if layer.kind in MAC_KINDS and layer.kind not in core.runs:
        raise ProgramError(f"layer {layer.name!r} ({layer.kind.value}) placed on core {core.name!r} "
                           f"of type {core.type.value}, which cannot run it")
    _check_post_op(layer)
    if plan is None:
        plan, column = plan_tiles(LayerTable.of([layer]), CoreParams.of(core), hw.data_bytes), 0
    mapping, tiling = layer_tiles(plan, column, layer, core, core_index)
    if tiling is None:
        instrs: tuple[Instr, ...] = ()
    elif layer.kind in MAC_KINDS:
        per_load = int(plan.w_tiles_per_load[0, column])
        store_once = int(plan.store_instrs[0, column]) < tiling.stages  # fc_store_once: one STORE
        instrs = _pipeline(_mac_stages(layer, tiling, mapping, per_load, hw.data_bytes, store_once))
    elif layer.kind is LayerKind.SHUFFLE:
        instrs = _pipeline(_copy_stages(layer, tiling, hw.data_bytes))
    else:
        instrs = _pipeline(_post_stages(layer, tiling, hw.data_bytes))
    return LayerProgram(index=index, core=core_index, layer=layer, mapping=mapping, tiling=tiling, instrs=instrs)


def compile_network(net: Network, hw: Hardware, placement: Placement | Sequence[int] | np.ndarray | None = None
                    ) -> Program:
    """Compile ``net`` for ``hw``: `place`'s placement (or ``placement``), tiling and instructions."""
    net.validate()
    plans: list[TilePlan] = []
    if placement is None:
        cm = cost_matrix(net, hw)
        core, plans = place(net, hw, cm).core, list(cm.plans)
    elif isinstance(placement, Placement):
        core = placement.core
    else:
        core = np.asarray(placement, dtype=np.int64)
        if core.shape != (len(net),) or core.min(initial=0) < 0 or core.max(initial=0) >= len(hw.cores):
            raise ProgramError(f"placement must give a core index in [0, {len(hw.cores)}) for each of {len(net)} layers")
    if len(plans) != len(hw.cores):  # one vectorized plan per core, over all layers
        plans = [plan_tiles(net.table, CoreParams.of(c), hw.data_bytes) for c in hw.cores]
    copies = frozenset(
        i
        for i, layer in enumerate(net.layers)
        if layer.kind is LayerKind.SHUFFLE and int(plans[int(core[i])].mode[0, i]) == MODE["post"]
    )
    tensors, top = _layout(net, copies)
    layers = tuple(compile_layer(layer, i, int(core[i]), hw, plans[int(core[i])], i) for i, layer in enumerate(net.layers))
    prog = Program(
        network=net.name,
        hardware=hw.name,
        input_name=net.input_name,
        input_shape=net.input_shape,
        outputs=tuple(net.outputs),
        data_bytes=hw.data_bytes,
        dram_bytes=top,
        cores=tuple(core_snapshot(c) for c in hw.cores),
        tensors=tensors,
        layers=layers,
    )
    check_plan(prog)  # the instructions realize the plan (bytes per tile, stages, loads)
    return prog
