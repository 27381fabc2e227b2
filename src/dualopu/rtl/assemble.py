"""Assembler: a compiled `Program` to the RTL controller's micro-instructions and DRAM image.

Each LOAD / COMPUTE / STORE of a layer becomes one micro-instruction word
(`dualopu.rtl.params.FIELDS`) of the core's DMA or EXEC instruction memory, in program
order per unit. The slot dependencies the cycle simulator uses (`dualopu.sim.timing`,
the one scoreboard rule) become each word's ``wait`` field: the number of instructions
the *other* unit must have completed before this one may start. Same-unit dependencies
are implied by in-order execution. Layers assembled together run one after the other:
a layer's first instruction on each unit waits for the other unit to finish the
previous layer (the cycle simulator drains a core between layers).

DRAM image: the activation tensors sit at the program's addresses (exactly where the
functional simulator puts them, `dualopu.sim.functional`), so the output of the RTL is
read back with the same address tables. Weight LOADs read from a weight region placed
after the activations: per weight LOAD, the INT8 weights in the PE array's word order
(one word of ``pe_count * input_size`` bytes per cycle, ``w_banks`` DRAM beats each),
then one beat per output channel with its post-processing entry (int32 bias, float32
multiplier as significand and exponent, `dualopu.rtl.requant.encode_mult`). These are
the functional simulator's per-channel records (weights, multiplier, bias) permuted into
the order the hardware consumes them; the byte count per LOAD equals the program's when
the channel counts fill whole PE words (otherwise the RTL pads a word, see
`AsmLayer.load_bytes`).

Supported: dense convolution / pointwise / FC-as-1x1 with ``groups == 1`` on a regular
core and depthwise convolution (multiplier 1, kernel up to 3x3) on a depthwise core,
dilation 1, bias + requantization + ReLU / ReLU6 / no activation, physical tensors
(uniform channel stride). Anything else is refused by name (`RtlError`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dualopu.compiler.isa import Compute, Load, Store
from dualopu.compiler.program import LayerProgram, Program
from dualopu.compiler.quant import QuantizedNetwork
from dualopu.hw.config import Hardware
from dualopu.ir.network import LayerKind
from dualopu.rtl.export import RtlError
from dualopu.rtl.params import (
    DW_KERNEL_MAX,
    OP_CONV,
    OP_DW,
    OP_END,
    OP_LOAD_IN,
    OP_LOAD_W,
    OP_STORE,
    CoreRtl,
    core_rtl,
    pack,
)
from dualopu.rtl.requant import PARAM_ENTRY_BYTES, encode_mult
from dualopu.sim.timing import DMA, EXEC, time_layer

#: Activations the post-processing lanes implement as a clip (no table).
CLIP_ACTIVATIONS = (None, "relu", "relu6")


@dataclass(frozen=True)
class AsmLayer:
    """One layer's micro-instructions.

    ``dma`` / ``exec_``: the words of each unit, in order; ``index``: for each program
    instruction, ``(unit, position in that unit's stream)``; ``load_bytes``: DRAM bytes each
    program instruction moves on the RTL (LOAD/STORE; 0 for COMPUTE)."""

    layer: int
    dma: tuple[int, ...]
    exec_: tuple[int, ...]
    index: tuple[tuple[int, int], ...]
    load_bytes: tuple[int, ...]


@dataclass(frozen=True)
class RtlImage:
    """Instruction words and DRAM contents for running layers of a program on one core."""

    core: int
    params: CoreRtl
    layers: tuple[AsmLayer, ...]
    dram: np.ndarray  # uint8, activations at the program's addresses, then the weight region

    def streams(self) -> tuple[list[int], list[int]]:
        """The two instruction memories' contents (each ends with END)."""
        dma = [w for a in self.layers for w in a.dma] + [pack(op=OP_END)]
        ex = [w for a in self.layers for w in a.exec_] + [pack(op=OP_END)]
        if max(len(dma), len(ex)) > self.params.imem_depth:
            raise RtlError(
                f"{max(len(dma), len(ex))} micro-instructions exceed the instruction memory "
                f"({self.params.imem_depth} words)"
            )
        return dma, ex


def _slot_base(depth: int, slot: int) -> int:
    return slot * (depth // 2)


def _uniform(program: Program, name: str, c0: int, c1: int) -> tuple[int, int]:
    """``(address of channel c0, channel stride)`` of a tensor's channels ``[c0, c1)``."""
    addr = program.tensors[name].chan_addr[c0:c1]
    step = int(addr[1] - addr[0]) if len(addr) > 1 else 0
    if len(addr) > 2 and np.any(np.diff(addr) != step):
        raise RtlError(
            f"tensor {name!r} c[{c0}:{c1}]: channels at non-uniform addresses (the RTL DMA takes one "
            "channel stride per instruction)"
        )
    return int(addr[0]), step


def _param_entry(bias: int, mult: float) -> int:
    sig, exp = encode_mult(mult)
    if not -128 <= exp <= 127:
        raise RtlError(f"requantization multiplier {mult:g} outside the 8-bit exponent range of the RTL")
    return (bias & 0xFFFFFFFF) | (sig << 32) | ((exp & 0xFF) << 56)


def _weight_words(lp: LayerProgram, p: CoreRtl, weight: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """PE-array words (``n_words x word_bytes``, int8) of output channels ``[c0, c1)``."""
    ly = lp.layer
    kh, kw = ly.kernel
    if ly.kind is LayerKind.DEPTHWISE:
        n_t = math.ceil((c1 - c0) / p.pe_count)
        words = np.zeros((n_t, p.pe_count, p.input_size), dtype=np.int8)
        for c in range(c0, c1):
            t, q = divmod(c - c0, p.pe_count)
            for ky in range(kh):
                for kx in range(kw):
                    words[t, q, ky * DW_KERNEL_MAX + kx] = weight[c, 0, ky, kx]
        return words.reshape(n_t, -1)
    cin = ly.in_shape[1]
    g, poc, isz, pic = p.group, p.poc, p.input_size, p.pic
    ncb = math.ceil(cin / pic)
    nob = math.ceil((c1 - c0) / poc)
    wpad = np.zeros((nob * poc, ncb * pic, kh, kw), dtype=np.int8)
    wpad[: c1 - c0, :cin] = weight[c0:c1]
    # word (ob, ky, kx, cb), byte (j*g + k)*isz + i = W[ob*poc + j, cb*pic + k*isz + i, ky, kx]
    w6 = wpad.reshape(nob, poc, ncb, g, isz, kh, kw)
    return np.ascontiguousarray(w6.transpose(0, 5, 6, 2, 1, 3, 4)).reshape(nob * kh * kw * ncb, poc * g * isz)


def _check_layer(lp: LayerProgram, p: CoreRtl) -> None:
    ly = lp.layer
    where = f"layer {ly.name!r}"
    if ly.activation not in CLIP_ACTIVATIONS:
        raise RtlError(f"{where}: activation {ly.activation!r} is not in the RTL (only ReLU, ReLU6 or none)")
    if ly.dilation != (1, 1):
        raise RtlError(f"{where}: dilation {ly.dilation} is not in the RTL")
    if ly.kind is LayerKind.DEPTHWISE:
        if not p.depthwise or ly.out_channels != ly.in_shape[1]:
            raise RtlError(f"{where}: depthwise (multiplier 1) needs a depthwise core")
        if max(ly.kernel) > DW_KERNEL_MAX:
            raise RtlError(
                f"{where}: kernel {ly.kernel} larger than the window PEs' {DW_KERNEL_MAX}x{DW_KERNEL_MAX}"
            )
        if ly.padding[1] + ly.in_shape[3] + ly.padding[3] > p.line_width:
            raise RtlError(
                f"{where}: padded row of {ly.padding[1] + ly.in_shape[3] + ly.padding[3]} pixels exceeds "
                f"the line buffer ({p.line_width})"
            )
    elif ly.kind in (LayerKind.CONV, LayerKind.POINTWISE):
        if not p.regular or ly.groups != 1:
            raise RtlError(f"{where}: dense convolution (groups 1) needs a regular core")
        m = lp.mapping
        if m.mode != "conv" or m.enhanced or (m.pic, m.poc) != (p.pic, p.poc):
            raise RtlError(
                f"{where}: mapping {m.mode} pic={m.pic:g} x poc={m.poc:g}{' enhanced' if m.enhanced else ''} is not "
                f"built in the RTL, whose array is pic={p.pic} x poc={p.poc} (no low-channel widening)"
            )
    else:
        raise RtlError(f"{where}: {ly.kind.value} layers are not in the RTL")


def assemble_layer(
    program: Program,
    qnet: QuantizedNetwork,
    hw: Hardware,
    layer: int,
    p: CoreRtl,
    weight_region: bytearray,
    weight_base: int,
    offsets: tuple[int, int] = (0, 0),
) -> AsmLayer:
    """Micro-instructions of one layer; its weight LOADs' bytes are appended to
    ``weight_region`` (at DRAM address ``weight_base + len(weight_region)``). ``offsets``:
    instructions each unit runs before this layer; waits and ``AsmLayer.index`` count from
    the stream's start, and an instruction without a dependency on the other unit waits for
    all of that unit's earlier layers (the drain between layers)."""
    lp = program.layers[layer]
    if any(isinstance(ins, Compute) and ins.append for ins in lp.instrs):
        raise RtlError(f"layer {lp.name!r}: appending COMPUTEs (fc_store_once) are not in the RTL, whose output "
                       "slot holds one tile; use fc_store_once: false")
    _check_layer(lp, p)
    if lp.tiling is not None and lp.tiling.n_cols > 1:
        raise RtlError(f"layer {lp.name!r}: column tiles (spatial_tiling: opu) are not in the RTL, which moves "
                       "whole rows; use spatial_tiling: rows")
    ly = lp.layer
    q = qnet.layers[lp.index]
    assert q.weight is not None
    core = hw.cores[lp.core]
    timed = time_layer(lp, core, program.data_bytes, hw.dram_bytes_per_cycle, hw.dram_model)
    b = p.beat_bytes
    dw = ly.kind is LayerKind.DEPTHWISE
    _, cin, hin, win = ly.in_shape
    _, cout, _, wout = ly.out_shape
    kh, kw = ly.kernel
    sh, sw = ly.stride
    pt, pl = ly.padding[0], ly.padding[1]
    wrs = math.ceil(win / b)
    orow = math.ceil(wout / b)
    lanes = p.pe_count if dw else p.poc
    in_loads: dict[int, Load] = {}
    w_loads: dict[int, Load] = {}
    pos = [0, 0]
    index: list[tuple[int, int]] = []
    words: tuple[list[int], list[int]] = ([], [])
    moved: list[int] = []
    bias = q.bias if q.bias is not None else np.zeros(cout, dtype=np.int64)
    for i, ins in enumerate(lp.instrs):
        u = timed.unit[i]
        # absolute counts: the other unit's earlier layers, then this layer's dependencies
        wait = max((index[d][1] + 1 for d in timed.deps[i] if timed.unit[d] != u), default=offsets[1 - u])
        where = f"layer {ly.name!r} instruction {i}"
        if isinstance(ins, Load) and ins.buf == "w":
            ww = _weight_words(lp, p, q.weight, ins.c0, ins.c1)
            beats = np.zeros((ww.shape[0], p.w_banks * b), dtype=np.uint8)
            beats[:, : p.word_bytes] = ww.view(np.uint8)
            par = np.zeros((ins.c1 - ins.c0, b), dtype=np.uint8)
            for k, c in enumerate(range(ins.c0, ins.c1)):
                e = _param_entry(int(bias[c]), float(q.mult[c]))
                par[k, :PARAM_ENTRY_BYTES] = np.frombuffer(
                    e.to_bytes(PARAM_ENTRY_BYTES, "little"), dtype=np.uint8
                )
            blob = np.concatenate([beats.reshape(-1), par.reshape(-1)])
            addr = weight_base + len(weight_region)
            weight_region.extend(blob.tobytes())
            nbeats = ww.shape[0] * p.w_banks
            if (
                ww.shape[0] > p.w_depth // 2
                or math.ceil((ins.c1 - ins.c0) / p.out_banks) > p.param_depth // 2
            ):
                raise RtlError(
                    f"{where}: weight tile of {ww.shape[0]} PE words (channels padded to whole words) does not fit "
                    f"half the RTL weight buffer ({p.w_depth // 2} words)"
                )
            word = pack(
                op=OP_LOAD_W,
                wait=wait,
                dram=addr,
                nbeats=nbeats,
                nparam=ins.c1 - ins.c0,
                buf=_slot_base(p.w_depth, ins.slot),
                pbase=_slot_base(p.param_depth, ins.slot),
            )
            w_loads[ins.slot] = ins
            moved.append(len(blob))
        elif isinstance(ins, Load):
            if ins.port != 0:
                raise RtlError(f"{where}: a second input port is not in the RTL")
            a0, step = _uniform(program, ins.src, ins.c0, ins.c1)
            w_src = program.tensors[ins.src].shape[3]
            nch, nrows = ins.c1 - ins.c0, ins.r1 - ins.r0
            nwb = math.ceil(w_src / b)
            bcs = nrows * nwb
            nb = p.pe_count if dw else p.pic
            if math.ceil(nch / nb) * bcs > p.in_depth // 2:
                raise RtlError(
                    f"{where}: input tile does not fit half an input bank ({p.in_depth // 2} beats)"
                )
            word = pack(
                op=OP_LOAD_IN,
                wait=wait,
                dram=a0 + ins.r0 * w_src,
                cstride=step,
                rowlen=w_src,
                nch=nch,
                nrows=nrows,
                nwb=nwb,
                buf=_slot_base(p.in_depth, ins.slot),
                bcs=bcs,
                nb=nb,
                nbeats=nch * nrows * nwb,
            )
            in_loads[ins.slot] = ins
            moved.append(nch * nrows * nwb * b)
        elif isinstance(ins, Store):
            a0, step = _uniform(program, ins.dst, ins.c0, ins.c1)
            nch, nrows = ins.c1 - ins.c0, ins.r1 - ins.r0
            word = pack(
                op=OP_STORE,
                wait=wait,
                dram=a0 + ins.r0 * wout,
                cstride=step,
                rowlen=wout,
                nch=nch,
                nrows=nrows,
                nwb=orow,
                buf=_slot_base(p.out_depth, ins.slot),
                bcs=nrows * orow,
                nb=lanes,
                nbeats=nch * nrows * orow,
            )
            moved.append(nch * nrows * orow * b)
        elif isinstance(ins, Compute):
            xl, wl = in_loads.get(ins.in_slot), w_loads.get(ins.w_slot)
            if xl is None or wl is None:
                raise RtlError(f"{where}: operands not loaded by this layer")
            noy = ins.r1 - ins.r0
            iy0 = ins.r0 * sh - pt - xl.r0
            rel_c = ins.c0 - wl.c0
            unit = p.pe_count if dw else p.poc
            if rel_c % unit:
                raise RtlError(f"{where}: tile oc[{ins.c0}:] not aligned to the weight LOAD's PE words")
            common = dict(
                wait=wait,
                noy=noy,
                nox=wout,
                kh=kh,
                kw=kw,
                sh=sh,
                sw=sw,
                iy0=iy0,
                padl=pl,
                ra0=iy0 * wrs,
                ra_step=sh * wrs,
                nrin=xl.r1 - xl.r0,
                win=win,
                wrs=wrs,
                ibase=_slot_base(p.in_depth, ins.in_slot),
                obase=_slot_base(p.out_depth, ins.out_slot),
                orow=orow,
                lo=q.lo,
                hi=q.hi,
            )
            if dw:
                if ins.c1 - ins.c0 > p.pe_count or xl.c0 != ins.c0:
                    raise RtlError(
                        f"{where}: a depthwise tile must be its input tile and at most {p.pe_count} channels"
                    )
                word = pack(
                    op=OP_DW,
                    nob=1,
                    ncb=1,
                    wbase=_slot_base(p.w_depth, ins.w_slot) + rel_c // unit,
                    pbase=_slot_base(p.param_depth, ins.w_slot) + rel_c // unit,
                    obcs=noy * orow,
                    **common,
                )
            else:
                ncb = math.ceil(cin / p.pic)
                if xl.c0 != 0 or xl.c1 != cin:
                    raise RtlError(f"{where}: a dense tile needs every input channel loaded")
                nob = math.ceil((ins.c1 - ins.c0) / p.poc)
                if nob * noy * orow > p.out_depth // 2:
                    raise RtlError(f"{where}: output tile does not fit half an output bank")
                wob = kh * kw * ncb
                word = pack(
                    op=OP_CONV,
                    nob=nob,
                    ncb=ncb,
                    ibcs=(xl.r1 - xl.r0) * wrs,
                    wbase=_slot_base(p.w_depth, ins.w_slot) + rel_c // unit * wob,
                    wob=wob,
                    pbase=_slot_base(p.param_depth, ins.w_slot) + rel_c // unit,
                    obcs=noy * orow,
                    **common,
                )
            moved.append(0)
        else:
            raise RtlError(f"{where}: {ins.op} is not in the RTL")
        index.append((u, offsets[u] + pos[u]))
        words[u].append(word)
        pos[u] += 1
    del hin
    return AsmLayer(
        layer=layer,
        dma=tuple(words[DMA]),
        exec_=tuple(words[EXEC]),
        index=tuple(index),
        load_bytes=tuple(moved),
    )


def assemble(
    program: Program,
    qnet: QuantizedNetwork,
    hw: Hardware,
    layers: Sequence[int],
    line_width: int | None = None,
) -> RtlImage:
    """Micro-instructions of ``layers`` (all on one core, run in this order) and the DRAM image."""
    if not layers:
        raise RtlError("no layers to assemble")
    core = {program.layers[i].core for i in layers}
    if len(core) != 1:
        raise RtlError(f"layers {list(layers)} are on different cores; assemble one core at a time")
    ci = core.pop()
    program.check_hardware(hw)
    p = core_rtl(hw.cores[ci], hw, line_width) if line_width else core_rtl(hw.cores[ci], hw)
    b = p.beat_bytes
    base = math.ceil(program.dram_bytes / b) * b
    region = bytearray()
    out: list[AsmLayer] = []
    done = [0, 0]
    for i in layers:
        a = assemble_layer(program, qnet, hw, i, p, region, base, (done[0], done[1]))
        out.append(a)
        done[0] += len(a.dma)
        done[1] += len(a.exec_)
    dram = np.zeros(base + len(region), dtype=np.uint8)
    dram[base:] = np.frombuffer(bytes(region), dtype=np.uint8)
    return RtlImage(core=ci, params=p, layers=tuple(out), dram=dram)
