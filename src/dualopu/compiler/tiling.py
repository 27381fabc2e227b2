"""Per-layer mapping and tiling: the scalar realization of the rules in `dualopu.cost.model`.

Each function mirrors one branch of `core_costs` for one layer on one core, so that the
compiled program has exactly the analytical model's tiles (the tests compare the stage
counts). Where the program needs a decision the model only prices (the loop order, the
tile boundaries, the element-wise tiling), the choice is documented here.

Terms: *half* buffers (double buffering), ``toc`` output channels per tile, ``tr`` output
rows per tile, ``n_oc`` x ``n_rows`` tiles (*stages*).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from dualopu.errors import HardwareError
from dualopu.hw.config import Core
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind

#: Mapping modes: how a layer's arithmetic is laid onto a core.
MODES = ("conv", "dw", "sa", "sa_dw", "post", "free")
#: Tile loop orders.
ORDERS = ("weights_outer", "inputs_outer", "channels_outer", "rows")

FREE_OPS = ("concat", "slice", "channel_shuffle", "flatten")


@dataclass(frozen=True)
class Mapping:
    """How a layer uses a core's arithmetic.

    ``conv``: OPU regular mode, ``pic`` input x ``poc`` output channels per cycle for one
    kernel position and one output pixel. ``dw``: OPU line-buffered depthwise mode, one
    output pixel of one channel per PE, ``pw`` PEs per channel. ``sa`` / ``sa_dw``:
    weight-stationary systolic array of ``rows`` x ``cols``. ``post``: the post-processing
    unit (element-wise layers). ``free``: address remapping only (no instruction).
    """

    mode: str
    pic: float = 0.0
    poc: float = 0.0
    pw: int = 0
    rows: int = 0
    cols: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tiling:
    """Tile sizes and loop order of one layer (``stages = n_oc * n_rows`` tiles)."""

    order: str
    toc: int  # output channels per tile
    tr: int  # output rows per tile
    n_oc: int
    n_rows: int

    @property
    def stages(self) -> int:
        return self.n_oc * self.n_rows

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stages": self.stages}


def _rows_per_tile(
    half_in: float, in_row_bytes: float, kh: int, sh: int, half_out: float, out_row_bytes: float, hout: int
) -> tuple[int, bool]:
    """Output rows per tile limited by the input and output half buffers (model's `_rows_per_tile`)."""
    rows_in = math.floor(half_in / max(in_row_bytes, 1.0))
    tr_in = math.floor((rows_in - kh) / sh) + 1
    tr_out = math.floor(half_out / max(out_row_bytes, 1.0))
    feasible = rows_in >= kh and tr_out >= 1
    tr = max(min(tr_in, tr_out), 1)
    return int(min(tr, hout)), feasible


def kernel_extent(layer: Layer) -> tuple[int, int]:
    """Rows and columns of input one output pixel reads (dilated kernel)."""
    return (layer.kernel[0] - 1) * layer.dilation[0] + 1, (layer.kernel[1] - 1) * layer.dilation[1] + 1


def regular_mapping(layer: Layer, core: Core) -> Mapping:
    """OPU regular mapping or systolic mapping of a conv / pointwise / grouped / FC layer."""
    if core.dataflow == "systolic":
        return Mapping("sa", rows=core.input_size, cols=core.pe_count)
    cin_g = layer.in_channels / layer.groups
    macs_pc = core.pe_count * core.input_size
    pic = float(min(core.ic_parallel, macs_pc))
    poc = float(math.floor(macs_pc / pic))
    widen = 4.0 if cin_g <= pic / 4 else (2.0 if cin_g <= pic / 2 else 1.0)
    widen = min(widen, max(math.floor(pic / core.input_size), 1.0))
    return Mapping("conv", pic=pic / widen, poc=poc * widen)


def _halves(core: Core) -> tuple[float, float, float]:
    kib = 1024.0 / 2
    return core.input_buffer_kib * kib, core.weight_buffer_kib * kib, core.output_buffer_kib * kib


def _refuse(layer: Layer, core: Core) -> HardwareError:
    return HardwareError(
        f"field 'cores[{core.name}].input_buffer_kib/weight_buffer_kib/output_buffer_kib': buffers of core "
        f"{core.name!r} too small for the minimum tile of layer {layer.name!r}"
    )


def regular_tiling(layer: Layer, core: Core, mapping: Mapping, data_bytes: int) -> Tiling:
    """Output-channel x output-row tiles sized to half buffers (all output channels in one
    tile when their weights fit, else a multiple of ``poc``); the cheaper loop order."""
    db = float(data_bytes)
    half_in, half_w, half_out = _halves(core)
    _, cin, hin, win = layer.in_shape
    _, cout, hout, wout = layer.out_shape
    kh, _ = kernel_extent(layer)
    sh = layer.stride[0]
    cin_g = cin / layer.groups
    kk = layer.kernel[0] * layer.kernel[1]
    poc_e = float(mapping.cols) if mapping.mode == "sa" else mapping.poc
    w_per_oc = cin_g * kk * db
    # output channels whose weights and one output row fit; all of them in one tile if they
    # fit, else a multiple of the array's output channels per cycle
    toc_cap = min(math.floor(half_w / w_per_oc), math.floor(half_out / max(wout * db, 1.0)))
    if toc_cap >= cout:
        toc = cout
    else:
        toc = int(math.floor(toc_cap / poc_e) * poc_e if toc_cap >= poc_e else toc_cap)
    if toc < 1:
        raise _refuse(layer, core)
    n_w = math.ceil(cout / toc)
    tr, ok = _rows_per_tile(half_in, win * cin * db, kh, sh, half_out, wout * toc * db, hout)
    if not ok:
        raise _refuse(layer, core)
    n_in = math.ceil(hout / tr)
    w_bytes = layer.weight_count * db
    in_pass = min(hin, n_in * ((tr - 1) * sh + kh)) * win * cin * db
    load_a = w_bytes + in_pass * (n_w if n_in > 1 else 1)
    load_b = in_pass + w_bytes * (n_in if n_w > 1 else 1)
    order = "weights_outer" if load_a <= load_b else "inputs_outer"
    return Tiling(order=order, toc=toc, tr=tr, n_oc=n_w, n_rows=n_in)


def depthwise_plan(layer: Layer, core: Core, data_bytes: int) -> tuple[Mapping, Tiling]:
    """Channel tiles of one channel per PE (systolic: all channels, one column works at a
    time), capped by what the buffers hold (weights, one output row, ``kh`` input rows) and
    spread evenly over the tiles (``tc = ceil(C / n_ct)``), x output-row tiles. OPU mode:
    ``pw = P // tc`` PEs per channel; systolic: one column per channel."""
    db = float(data_bytes)
    half_in, half_w, half_out = _halves(core)
    _, cin, _, win = layer.in_shape
    _, cout, hout, wout = layer.out_shape
    kh, _ = kernel_extent(layer)
    sh = layer.stride[0]
    kk = layer.kernel[0] * layer.kernel[1]
    mult = max(cout / max(cin, 1), 1.0)
    ci = math.floor(half_in / max(kh * win * db, 1.0))
    cap_in = (ci + 1) * mult - 1 if ci >= 1 else 0.0
    cap = min(math.floor(half_w / (kk * db)), math.floor(half_out / max(wout * db, 1.0)), cap_in)
    lanes = cout if core.dataflow == "systolic" else min(core.pe_count, cout)  # systolic: one column at a time
    tc = max(min(lanes, cap), 1)
    n_ct = math.ceil(cout / tc)
    tc = math.ceil(cout / n_ct)
    tc_in = max(math.floor(tc / mult), 1)
    tr, ok = _rows_per_tile(half_in, win * tc_in * db, kh, sh, half_out, wout * tc * db, hout)
    if not ok or tc * kk * db > half_w:
        raise _refuse(layer, core)
    if core.dataflow == "systolic":
        mapping = Mapping("sa_dw", rows=core.input_size, cols=core.pe_count)
    else:
        mapping = Mapping("dw", pw=core.pe_count // tc)
    return mapping, Tiling(order="channels_outer", toc=int(tc), tr=tr, n_oc=n_ct, n_rows=math.ceil(hout / tr))


def elementwise_tiling(layer: Layer, core: Core, data_bytes: int) -> Tiling:
    """Tiles for the post-processing unit.

    The model prices ``max(ceil(in_bytes / half_in), ceil(out_bytes / half_out))`` stages
    without fixing their shape; we tile output rows (all channels) so that the input rows
    a tile reads (window halo included) and its output fit the half buffers, and split
    channels only when one row block does not fit. A global average pool tiles channels
    (a channel's whole plane per tile). A broadcast second input (``(1, C, 1, 1)``) adds
    its ``C`` bytes to every tile.
    """
    db = float(data_bytes)
    half_in, _, half_out = _halves(core)
    _, cout, hout, wout = layer.out_shape
    _, _, hin, win = layer.in_shape
    if layer.op == "global_avgpool":
        tc = int(min(cout, math.floor(half_in / max(hin * win * db, 1.0)), math.floor(half_out / db)))
        if tc < 1:
            raise _refuse(layer, core)
        return Tiling(order="rows", toc=tc, tr=hout, n_oc=math.ceil(cout / tc), n_rows=1)
    pool = layer.kind is LayerKind.POOL
    kh = kernel_extent(layer)[0] if pool else 1
    sh = layer.stride[0] if pool else 1
    if not pool:
        win = wout
    # bytes per channel of one input row, over all full-size inputs; per channel of broadcast inputs
    full = sum(1 for s in layer.in_shapes if pool or s[2:] == (hout, wout))
    bcast = len(layer.in_shapes) - full
    tc = cout
    while tc >= 1:
        fixed = bcast * tc * db
        rows_in = math.floor((half_in - fixed) / max(win * tc * full * db, 1.0))
        tr_out = math.floor(half_out / max(wout * tc * db, 1.0))
        if rows_in >= kh and tr_out >= 1:
            tr = int(min(max(min(math.floor((rows_in - kh) / sh) + 1, tr_out), 1), hout))
            return Tiling(order="rows", toc=tc, tr=tr, n_oc=math.ceil(cout / tc), n_rows=math.ceil(hout / tr))
        tc = tc // 2 if tc > 1 else 0
    raise _refuse(layer, core)


def plan_layer(layer: Layer, core: Core, data_bytes: int) -> tuple[Mapping, Tiling | None]:
    """Mapping and tiling of one layer on the core it is placed on."""
    if layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE):
        return Mapping("free"), None
    if layer.kind is LayerKind.DEPTHWISE:
        return depthwise_plan(layer, core, data_bytes)
    if layer.kind in MAC_KINDS:
        m = regular_mapping(layer, core)
        return m, regular_tiling(layer, core, m, data_bytes)
    return Mapping("post"), elementwise_tiling(layer, core, data_bytes)
