"""The mapping and tiling rules, decided once for every layer and core configuration.

`plan_tiles` returns a `TilePlan`: numpy arrays of shape ``(n_configs, n_layers)`` (one
configuration is ``(1, n_layers)``). The cost model prices it (`dualopu.cost.model`), the
compiler turns its rows into integer tiles and instructions (`dualopu.compiler.tiling`),
the program validator checks programs against it (`dualopu.compiler.program`). Every rule
is a small named function below; docs/assumptions.md gives their sources.

* **Mapping** (`regular_mapping`): on the ``opu`` dataflow a regular layer uses ``pic``
  input x ``poc`` output channels per cycle, ``pic * poc = pe_count * input_size``, widened
  4x or 2x when the layer has few input channels. Systolic: rows = ``input_size``
  (reduction), columns = ``pe_count`` (output channels). Depthwise: one channel per PE,
  ``pw = floor(P / tc)`` PEs share a channel. Element-wise layers run on the
  post-processing unit; concat / slice / shuffle / flatten are free (address remapping),
  except a channel shuffle on an ``opu64``-layout core, which is a copy (`copy_rows`).
* **Tiles**: output channels x output rows, each tile filling at most half of each buffer
  (double buffering). ``toc`` (`regular_channel_tile`): all output channels when their
  weights and one output row fit, else a multiple of the array's output channels per pass.
  Depthwise (`depthwise_channel_tile`): one channel per PE capped by the buffers, spread
  evenly. Element-wise (`elementwise_channel_tile`): all channels, halved until a row tile
  fits. Rows (`rows_per_tile`): as many as the input half (with the dilated kernel's halo)
  and the output half hold.
* **Loop order** (`weights_outer`): weights outer when that moves no more bytes than
  inputs outer (weights and inputs alone decide).
* **Loads**: a LOAD whenever the weight tile or the input tile changes; depthwise weights of
  several channel tiles share one LOAD (`w_tiles_per_load`).
* **Refusal**: a layer whose minimum tile (one output channel's weights, ``kh_ext`` input
  rows, one output row) does not fit is infeasible; ``limit`` names the buffer and
  ``need_bytes`` the bytes one half of it must hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dualopu.hw.config import CoreType
from dualopu.hw.params import CoreParams
from dualopu.ir.network import KIND_CODES, LayerKind, LayerTable
from dualopu.plan.bytes import BUFFER_SLOTS, TABLE_BYTES, param_bytes_per_oc
from dualopu.plan.opu_rules import (
    channel_enhanced,
    depthwise_lanes,
    depthwise_pes_per_channel,
    reduction_per_position,
    square_spatial_tile,
    widen_factor,
)
from dualopu.plan.split import OPU64_WORD_BYTES, channel_tile_words
from dualopu.util import memo_on

#: Mapping modes: how a layer's arithmetic is laid onto a core (``none``: the core cannot run it).
MODES = ("conv", "dw", "sa", "sa_dw", "post", "free", "none")
MODE = {m: i for i, m in enumerate(MODES)}
#: Tile loop orders.
ORDERS = ("weights_outer", "inputs_outer", "channels_outer", "rows")
ORDER = {o: i for i, o in enumerate(ORDERS)}
#: Which buffer refuses the minimum tile (the `Core` field to enlarge); "" when it fits.
LIMITS = ("", "input_buffer_kib", "weight_buffer_kib", "output_buffer_kib")
LIMIT = {name: i for i, name in enumerate(LIMITS)}

#: The opu-compiler's array constants its tile search is written for (Arch.h: 64 elements per
#: DRAM word, 1024 multipliers): `spatial_tiles` applies the search with these on every core.
OPU_COMPILER_WORD_ELEMS = 64.0
OPU_COMPILER_MULTIPLIERS = 1024.0

_K = KIND_CODES
REGULAR_CODES = (_K[LayerKind.CONV], _K[LayerKind.POINTWISE], _K[LayerKind.GROUPED], _K[LayerKind.FC])
DEPTHWISE_CODES = (_K[LayerKind.DEPTHWISE],)
ELEMENTWISE_CODES = (_K[LayerKind.POOL], _K[LayerKind.ADD], _K[LayerKind.MUL], _K[LayerKind.ACTIVATION])
FREE_CODES = (_K[LayerKind.CONCAT], _K[LayerKind.SHUFFLE])
_POOL = _K[LayerKind.POOL]
_FC = _K[LayerKind.FC]


#: Every TilePlan field: dtype and value for layers no rule sets (kinds the core cannot run).
PLAN_FIELDS: dict[str, tuple[type, float]] = {
    "mode": (np.int8, MODE["none"]),
    "order": (np.int8, 0),
    "runnable": (np.bool_, False),
    "feasible": (np.bool_, True),
    "limit": (np.int8, 0),
    "need_bytes": (np.float64, 0.0),
    "pic": (np.float64, 0.0),
    "poc": (np.float64, 0.0),
    "widen": (np.float64, 0.0),
    "enhanced": (np.float64, 0.0),
    "pw": (np.float64, 0.0),
    "toc": (np.float64, 0.0),
    "tr": (np.float64, 0.0),
    "n_oc": (np.float64, 1.0),
    "n_rows": (np.float64, 1.0),
    "tw": (np.float64, 0.0),
    "n_cols": (np.float64, 1.0),
    "w_tiles_per_load": (np.float64, 1.0),
    "in_rows": (np.float64, 0.0),
    "in_ch": (np.float64, 0.0),
    "in_cols": (np.float64, 0.0),
    "in_rows_mean": (np.float64, 0.0),
    "in_cols_mean": (np.float64, 0.0),
    "in_ch_mean": (np.float64, 0.0),
    "w_tile_bytes": (np.float64, 0.0),
    "in_tile_bytes": (np.float64, 0.0),
    "out_tile_bytes": (np.float64, 0.0),
    "w_load_bytes": (np.float64, 0.0),
    "in_load_bytes": (np.float64, 0.0),
    "store_bytes": (np.float64, 0.0),
    "store_lanes": (np.float64, 0.0),
    "load_instrs": (np.float64, 0.0),
    "store_instrs": (np.float64, 0.0),
}


class TilePlan:
    """The mapping and tiling decisions; every field an array ``(n_configs, n_layers)``.

    Sizes are for a full tile (the compiler balances the tiles, so some are smaller).
    Byte totals are what the layer moves over DRAM in all. The rules fill the fields family
    by family (`family`); a full array is assembled on first access. A new mapping option is
    a new field in `PLAN_FIELDS` (with its value for layers no rule sets) plus its rule.
    """

    mode: np.ndarray  # int8 index into MODES
    order: np.ndarray  # int8 index into ORDERS
    runnable: np.ndarray  # bool: the core type runs this kind
    feasible: np.ndarray  # bool: the minimum tile fits the buffers
    limit: np.ndarray  # int8 index into LIMITS: the buffer that refuses (0 when feasible)
    need_bytes: np.ndarray  # bytes of the minimum tile in one half of the refusing buffer
    pic: np.ndarray  # conv: input channels per cycle (after widening)
    poc: np.ndarray  # conv: output channels per cycle (after widening); sa: columns
    widen: np.ndarray  # conv: output widening factor (1, 2 or 4)
    enhanced: np.ndarray  # conv: 1 where channel-enhanced (kxk few-channel conv as 1x1 over im2col)
    pw: np.ndarray  # dw: PEs per channel
    toc: np.ndarray  # output channels per tile
    tr: np.ndarray  # output rows per tile
    n_oc: np.ndarray  # channel tiles
    n_rows: np.ndarray  # row tiles
    tw: np.ndarray  # output columns per tile (the whole width for row bands)
    n_cols: np.ndarray  # column tiles (1: full-width row bands)
    w_tiles_per_load: np.ndarray  # channel tiles whose weights one LOAD brings (depthwise > 1)
    in_rows: np.ndarray  # input rows a full tile reads (halo included)
    in_ch: np.ndarray  # input channels a full tile reads
    in_cols: np.ndarray  # input columns a full tile reads (halo included)
    in_rows_mean: np.ndarray  # square tiles: mean input rows / columns of a tile (balanced tiles are
    in_cols_mean: np.ndarray  # smaller than full ones; DRAM burst rows follow these); 0 for row bands
    in_ch_mean: np.ndarray  # depthwise: mean input channels of a tile (a remainder tile is narrower); else 0
    w_tile_bytes: np.ndarray  # DRAM bytes of one full weight tile (weights + parameters)
    in_tile_bytes: np.ndarray  # DRAM bytes of one full input tile (all inputs)
    out_tile_bytes: np.ndarray  # DRAM bytes of one full output tile
    w_load_bytes: np.ndarray  # total weight, parameter and table bytes loaded
    in_load_bytes: np.ndarray  # total input bytes loaded (halo re-reads included)
    store_bytes: np.ndarray  # total output bytes stored
    store_lanes: np.ndarray  # output elements the stores drain, in whole DRAM words on opu64 (`store_lanes`)
    load_instrs: np.ndarray  # LOAD instructions in all
    store_instrs: np.ndarray  # STORE instructions in all (one per stage, or one for an FC under fc_store_once)

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self._parts: dict[str, list[tuple[np.ndarray, np.ndarray | float]]] = {}
        self._family: dict[str, dict[str, np.ndarray | float]] = {}

    def put(self, family: str, cols: np.ndarray, **values: np.ndarray | float) -> None:
        """Set fields of columns ``cols`` (the rows of ``family``); only while planning."""
        unknown = set(values) - set(PLAN_FIELDS)
        if unknown:
            raise KeyError(f"not TilePlan fields: {sorted(unknown)}")
        for k, v in values.items():
            self._parts.setdefault(k, []).append((cols, v))
        self._family.setdefault(family, {}).update(values)

    def planned(self, family: str) -> bool:
        """Whether a rule set the columns of ``family`` (the core runs it)."""
        return family in self._family

    def family(self, family: str, field: str) -> np.ndarray | float:
        """A field's values on the columns of ``family`` as set by its rule (scalar or ``(n, m)``)."""
        return self._family[family][field]

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in PLAN_FIELDS:
            raise AttributeError(name)
        dtype, default = PLAN_FIELDS[name]
        arr = np.full(self.__dict__["shape"], default, dtype=dtype)
        for cols, v in self.__dict__["_parts"].get(name, ()):
            arr[:, cols] = v
        arr.flags.writeable = False  # plans may be shared (memoized): never changed in place
        self.__dict__[name] = arr
        return arr

    @property
    def stages(self) -> np.ndarray:
        """Double-buffered pipeline stages (tiles); 0 for free layers."""
        return self.n_oc * self.n_rows * self.n_cols

    @property
    def load_bytes(self) -> np.ndarray:
        return self.w_load_bytes + self.in_load_bytes

    def column(self, j: int, config: int = 0) -> dict[str, float]:
        """All fields of one layer on one configuration, as Python numbers."""
        return {k: getattr(self, k)[config, j].item() for k in PLAN_FIELDS}


def _cdiv(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return np.ceil(a / b)


# ---- rules shared by the families ---------------------------------------------------------


def rows_per_tile(
    half_in: np.ndarray,
    in_row_bytes: np.ndarray,
    kh: np.ndarray,
    sh: np.ndarray,
    half_out: np.ndarray,
    out_row_bytes: np.ndarray,
    hout: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output rows per tile that the input half (``kh`` rows, then ``sh`` per extra output
    row) and the output half hold; and whether the input / output half holds one row."""
    rows_in = np.floor(half_in / np.maximum(in_row_bytes, 1.0))
    tr_in = np.floor((rows_in - kh) / sh) + 1.0
    tr_out = np.floor(half_out / np.maximum(out_row_bytes, 1.0))
    tr = np.minimum(np.clip(np.minimum(tr_in, tr_out), 1.0, None), hout)
    return tr, rows_in >= kh, tr_out >= 1.0


def input_rows_per_tile(tr: np.ndarray, kh: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """Input rows ``tr`` output rows read (the dilated kernel's halo included)."""
    return (tr - 1.0) * sh + kh


def input_pass_rows(
    hin: np.ndarray, n_rows: np.ndarray, tr: np.ndarray, kh: np.ndarray, sh: np.ndarray
) -> np.ndarray:
    """Input rows one pass over all row tiles reads (halo rows re-read, at most the plane)."""
    return np.minimum(hin, n_rows * input_rows_per_tile(tr, kh, sh))


#: Square tiles found so far, keyed by the search's inputs ``(extent, k, stride, c_in, c_out,
#: fmap_words)``: the search is a pure function of them (not of the array), and one process
#: plans the same few layer shapes on the same few buffer sizes many times (tuner batches,
#: confirmation, compiler, simulators). Cleared when it reaches `SQUARE_TILE_MEMO_SIZE`.
_SQUARE_TILE_MEMO: dict[tuple[float, ...], float] = {}
SQUARE_TILE_MEMO_SIZE = 1 << 16
_GOLDEN = (5.0**0.5 - 1.0) / 2.0


def _distinct_rows(arrays: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)``: one configuration (row of the ``(n, .)`` arrays) per distinct
    combination of the rows of ``arrays`` that vary per configuration, and each row's index
    into ``first``; rows of ``(1, .)`` arrays are shared by all. Rows are grouped by a fixed
    linear hash, then checked equal to their group's first row (exact; a collision falls back
    to sorting the rows' bytes)."""
    varying = [
        np.asarray(a, dtype=np.float64)
        for a in arrays
        if a.ndim == 2 and a.shape[0] > 1 and not (a == a[:1]).all()  # rows all equal: shared
    ]
    if n == 1 or not varying:
        return np.zeros(1, dtype=np.intp), np.zeros(n, dtype=np.intp)
    h = np.zeros(n)
    for i, a in enumerate(varying):
        w = 1.0 + ((np.arange(a.shape[1]) + 1.0 + 7.0 * i) * _GOLDEN) % 1.0  # distinct, irregular weights
        h += np.einsum("nl,l->n", a, w)  # einsum: no BLAS threads
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if all(np.array_equal(a, a[first][inverse]) for a in varying):
        return first, inverse
    key = np.ascontiguousarray(np.concatenate([np.broadcast_to(a, (n, a.shape[1])) for a in varying], axis=1))
    rows = key.view(np.dtype((np.void, key.shape[1] * key.itemsize))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _square_tiles_distinct(
    square: np.ndarray,
    extent: np.ndarray,
    k_ext: np.ndarray,
    stride: np.ndarray,
    red: np.ndarray,
    cout: np.ndarray,
    fmap_words: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, square, inverse)`` on the distinct configurations (`_distinct_rows`): the tile of
    every square entry (``NaN`` elsewhere), each distinct input searched once (`_SQUARE_TILE_MEMO`);
    ``x[inverse]`` spreads a distinct-row array ``x`` back to every configuration."""
    args = [np.asarray(a, dtype=np.float64) for a in (extent, k_ext, stride, red, cout, fmap_words)]
    sq = np.asarray(square, dtype=bool)
    shape = np.broadcast_shapes(sq.shape, *(a.shape for a in args))
    if len(shape) != 2:
        raise ValueError(f"square tiles: (configurations, layers) arrays expected, got {shape}")
    first, inverse = _distinct_rows([sq, *args], shape[0])
    rows = [np.broadcast_to(a, shape)[first] if a.ndim == 2 and a.shape[0] > 1 else a for a in (sq, *args)]
    sub = (len(first), shape[1])
    sel = np.broadcast_to(rows[0], sub)
    cols = [np.broadcast_to(a, sub)[sel] for a in rows[1:]]
    keys = list(zip(*(col.tolist() for col in cols)))
    memo = _SQUARE_TILE_MEMO
    miss = list(dict.fromkeys(k for k in keys if k not in memo))
    if miss:
        if len(memo) + len(miss) > SQUARE_TILE_MEMO_SIZE:
            memo.clear()
        m = np.array(miss, dtype=np.float64).reshape(len(miss), 6)
        found = square_spatial_tile(*m.T, OPU_COMPILER_WORD_ELEMS, OPU_COMPILER_MULTIPLIERS)
        memo.update(zip(miss, found.tolist()))
    t_u = np.full(sub, np.nan)
    t_u[sel] = [memo[k] for k in keys]
    return t_u, sel, inverse


def square_tiles_of(
    square: np.ndarray,
    extent: np.ndarray,
    k_ext: np.ndarray,
    stride: np.ndarray,
    red: np.ndarray,
    cout: np.ndarray,
    fmap_words: np.ndarray,
) -> np.ndarray:
    """`square_spatial_tile` on the entries where ``square`` (``NaN`` elsewhere), broadcast over
    its inputs, each distinct configuration and each distinct input combination searched once
    (`_distinct_rows`, `_SQUARE_TILE_MEMO`): the result is the rule's, only cheaper."""
    t_u, _, inverse = _square_tiles_distinct(square, extent, k_ext, stride, red, cout, fmap_words)
    return t_u[inverse]


def spatial_tiles(
    p: CoreParams,
    square: np.ndarray,
    hout: np.ndarray,
    wout: np.ndarray,
    k_ext: np.ndarray,
    stride: np.ndarray,
    red: np.ndarray,
    cout: np.ndarray,
    db: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tr_cap, tw, n_cols)``: with ``spatial_tiling: opu``, layers where ``square``
    take the opu-compiler's square tile (`square_spatial_tile`, searched over the extent the
    outputs read, ``(Hout-1)*s + k``, with the compiler's own array constants, Arch.h: 64-element
    words, 1024 multipliers; its feature bank = half our input buffer in words) as ``ceil(t / s)``
    output rows and columns; the others (and ``rows``) are full-width row bands (``tr_cap`` =
    Hout, one column tile). Fixed constants: the tiles follow the buffers and the layer, not the
    array size (the search is the compiler's, written for its array; it runs once per distinct
    input, and these follow on the distinct configurations, `_square_tiles_distinct`)."""
    shape = np.broadcast_shapes(hout.shape, p.pe_count.shape)
    if p.spatial_tiling != "opu":
        one = np.ones(shape)
        return hout * one, wout * one, one
    fmap_words = np.floor(p.input_buffer_bytes / BUFFER_SLOTS / (OPU_COMPILER_WORD_ELEMS * db))
    extent = (hout - 1.0) * stride + k_ext
    sq = np.broadcast_to(square, np.broadcast_shapes(shape, np.shape(square)))
    t, sq_u, inverse = _square_tiles_distinct(sq, extent, k_ext, stride, red, cout, fmap_words)
    st, ho, wo = (np.asarray(x, dtype=np.float64) for x in (stride, hout, wout))
    if any(x.ndim == 2 and x.shape[0] > 1 for x in (st, ho, wo)):  # per-configuration layer columns
        t, sq_u, inverse = t[inverse], np.broadcast_to(sq_u, t.shape)[inverse], np.arange(len(inverse))
    side = np.ceil(np.where(sq_u, t, 1.0) / st)
    tw = np.where(sq_u, np.minimum(side, wo), wo)
    tr_cap = np.where(sq_u, np.minimum(side, ho), ho)
    return tr_cap[inverse], tw[inverse], _cdiv(wo, tw)[inverse]


def input_cols_per_tile(
    tw: np.ndarray, n_cols: np.ndarray, kw: np.ndarray, sw: np.ndarray, win: np.ndarray
) -> np.ndarray:
    """Input columns a full column tile of ``tw`` outputs reads (the whole width for row bands)."""
    return np.where(n_cols > 1, np.minimum((tw - 1.0) * sw + kw, win), win)


def tiled_pass_extent(
    full: np.ndarray, n: np.ndarray, per_tile: np.ndarray, k: np.ndarray, s: np.ndarray
) -> np.ndarray:
    """Input rows (or columns) ``n`` adjacent tiles read in all: the plane plus the ``k - s``
    halo re-read at each of the ``n - 1`` inner boundaries, at most ``n`` full tiles."""
    return np.minimum(n * per_tile, full + (n - 1.0) * np.maximum(k - s, 0.0))


def square_pass(
    c: LayerColumns, n_rows: np.ndarray, tr: np.ndarray, n_cols: np.ndarray, in_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input elements per channel one pass over the spatial tiles reads, and the mean input rows
    and columns of a tile: square tiles use `tiled_pass_extent` on both axes; row bands (one
    column tile) keep `input_pass_rows` over the whole width (means 0: not used)."""
    rows_sq = tiled_pass_extent(c.hin, n_rows, input_rows_per_tile(tr, c.kh_ext, c.sh), c.kh_ext, c.sh)
    cols_sq = tiled_pass_extent(c.win, n_cols, in_cols, c.kw_ext, c.sw)
    bands = input_pass_rows(c.hin, n_rows, tr, c.kh_ext, c.sh) * c.win
    sq = n_cols > 1
    return (
        np.where(sq, rows_sq * cols_sq, bands),
        np.where(sq, rows_sq / n_rows, 0.0),
        np.where(sq, cols_sq / n_cols, 0.0),
    )


def fc_stored_once(
    is_fc: np.ndarray, enabled: np.ndarray, n_oc: np.ndarray, out_bytes: np.ndarray, half_out: np.ndarray
) -> np.ndarray:
    """Whether an FC layer's output-channel tiles accumulate in one output slot and one STORE
    writes them all (``fc_store_once``; opu-sim RunComputeFC writes each COMPUTE's outputs to the
    next partial-sum address and a store drains them, accelerator.cc:557, :650-654): an FC with
    more than one tile whose whole output fits half the output buffer."""
    return is_fc & (enabled > 0) & (n_oc > 1) & (out_bytes <= half_out)


def store_lanes(
    p: CoreParams,
    out_elems: np.ndarray,
    cout: np.ndarray,
    toc: np.ndarray,
    n_oc: np.ndarray,
    unit: np.ndarray | float,
    db: float,
    balanced: bool = False,
) -> np.ndarray:
    """Output elements a layer's STOREs drain through the post-processing unit: on an
    ``opu64`` core whole DRAM words (opu-sim RunPostProcess writes one 64-channel word of one
    pixel per cycle, however few of its channels the tile holds), i.e. pixels x the words the
    channel tiles touch (`channel_tile_words`) x channels per word; planar: the elements."""
    if p.layout != "opu64":
        return out_elems + 0.0 * toc
    per_word = OPU64_WORD_BYTES / db
    pixels = out_elems / np.maximum(cout, 1.0)
    return pixels * channel_tile_words(cout, toc, n_oc, unit, int(per_word), balanced) * per_word


# ---- regular layers (conv, pointwise, grouped, FC) -----------------------------------------


def regular_mapping(cin_g: np.ndarray, p: CoreParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pic, poc, widen)`` of the OPU regular mode (few input channels widen the outputs
    4x / 2x, never beyond ``ic_parallel / input_size``); systolic: ``(1, columns, 1)``."""
    P, isz = p.pe_count, p.input_size
    if p.dataflow == "systolic":
        one = np.ones(np.broadcast_shapes(cin_g.shape, P.shape))
        return one, P * one, one
    macs_pc = P * isz
    pic = np.minimum(p.ic_parallel, macs_pc)
    poc = np.floor(macs_pc / pic)
    widen = widen_factor(cin_g, pic, isz)
    return pic / widen, poc * widen, widen


def regular_channel_tile(cout: np.ndarray, cap: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """All output channels when ``cap`` (what the buffers hold) allows, else the largest
    multiple of ``unit`` (the array's output channels per pass) that fits, else ``cap``."""
    return np.where(cap >= cout, cout, np.where(cap >= unit, np.floor(cap / unit) * unit, cap))


def weights_outer(w_bytes: np.ndarray, in_pass: np.ndarray, n_w: np.ndarray, n_in: np.ndarray) -> np.ndarray:
    """Weights outer when it moves no more bytes than inputs outer (weights and inputs only)."""
    load_a = w_bytes + in_pass * np.where(n_in > 1, n_w, 1.0)
    load_b = in_pass + w_bytes * np.where(n_w > 1, n_in, 1.0)
    return load_a <= load_b


# ---- depthwise ---------------------------------------------------------------------------------


def depthwise_channel_tile(
    cout: np.ndarray,
    lanes: np.ndarray,
    cap_w: np.ndarray,
    cap_out: np.ndarray,
    cap_in: np.ndarray,
    channel_group: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Channels per tile: ``lanes`` (one per PE) capped by what the buffers hold, at least
    one, then spread evenly, ``tc = ceil(C / ceil(C / tc))``; and the number of tiles. A
    grouped engine (``channel_group > 0``, opu-sim's depthwise engine works on one 64-channel
    word per COMPUTE) keeps whole tiles from channel 0 and a remainder tile, so the tiles stay
    on word boundaries."""
    tc = np.maximum(np.minimum(np.minimum(lanes, cap_w), np.minimum(cap_out, cap_in)), 1.0)
    n_ct = _cdiv(cout, tc)
    return np.where(channel_group > 0, tc, _cdiv(cout, n_ct)), n_ct


def depthwise_weight_tiles_per_load(half_w: np.ndarray, w_group_bytes: np.ndarray) -> np.ndarray:
    """Channel tiles whose (small) weights one LOAD brings: as many as fill half the buffer."""
    return np.maximum(np.floor(half_w / np.maximum(w_group_bytes, 1.0)), 1.0)


# ---- element-wise ------------------------------------------------------------------------------


def elementwise_channel_tile(cout: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """All channels, halved (``floor``) until the tile fits ``cap`` channels; 0 if none fits.

    The halving sequence is ``floor(C / 2**k)``: the smallest ``k`` with ``floor(C / 2**k) <= cap``."""
    k = np.where(cout > cap, np.floor(np.log2(np.maximum(cout, 1.0) / np.maximum(cap + 1.0, 1.0))) + 1.0, 0.0)
    k = np.maximum(k, 0.0)
    tc = np.floor(cout / 2.0**k)
    k = np.where(tc > cap, k + 1.0, k)  # guard against rounding in log2
    tc = np.floor(cout / 2.0**k)
    up = np.floor(cout / 2.0 ** np.maximum(k - 1.0, 0.0))
    tc = np.where((k > 0) & (up <= cap), up, tc)
    return np.where(cap >= 1.0, tc, 0.0)


# ---- the planner -------------------------------------------------------------------------------


class LayerColumns:
    """Float64 columns of rows ``idx`` of a LayerTable, converted on first use and kept (the
    planner and the pricer run on the same table many times, e.g. once per core)."""

    def __init__(self, t: LayerTable, idx: np.ndarray) -> None:
        self._t = t
        self.idx = idx
        self._c: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("__"):  # pickle/copy probe dunders before __dict__ is filled (tune workers)
            raise AttributeError(name)
        c = self.__dict__["_c"]
        if name not in c:
            c[name] = getattr(self.__dict__["_t"], name)[self.__dict__["idx"]].astype(np.float64)
        return c[name]


#: Layer families the rules treat alike.
FAMILIES = {
    "regular": REGULAR_CODES,
    "depthwise": DEPTHWISE_CODES,
    "elementwise": ELEMENTWISE_CODES,
    "free": FREE_CODES,
}


def families(t: LayerTable) -> dict[str, LayerColumns]:
    """Rows of each family of ``t`` with their float columns (computed once per table)."""
    cache = t.__dict__.get("_plan_families")
    if cache is None:
        cache = {
            name: LayerColumns(t, np.flatnonzero(np.isin(t.kind, codes))) for name, codes in FAMILIES.items()
        }
        object.__setattr__(t, "_plan_families", cache)
    return cache


def _refusal(
    ok_in: np.ndarray,
    ok_w: np.ndarray,
    ok_out: np.ndarray,
    need_in: np.ndarray,
    need_w: np.ndarray,
    need_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feasibility, the first refusing buffer (input, weight, output) and its need in bytes."""
    limit = np.where(
        ~ok_in,
        LIMIT["input_buffer_kib"],
        np.where(~ok_w, LIMIT["weight_buffer_kib"], np.where(~ok_out, LIMIT["output_buffer_kib"], 0)),
    )
    need = np.where(~ok_in, need_in, np.where(~ok_w, need_w, np.where(~ok_out, need_out, 0.0)))
    return ok_in & ok_w & ok_out, limit.astype(np.int8), need


def _regular(b: TilePlan, c: LayerColumns, p: CoreParams, db: float) -> None:
    cols = c.idx
    cin, cout = c.cin, c.cout
    hin, win, hout, wout = c.hin, c.win, c.hout, c.wout
    kk = c.kh * c.kw
    kh, sh = c.kh_ext, c.sh
    groups, has_bias = c.groups, c.has_bias
    half_in, half_w, half_out = (
        p.input_buffer_bytes / BUFFER_SLOTS,
        p.weight_buffer_bytes / BUFFER_SLOTS,
        p.output_buffer_bytes / BUFFER_SLOTS,
    )
    cin_g = cin / groups
    enhanced = channel_enhanced(cin_g, kk, p.ic_parallel, p.channel_enhance)
    cin_red, _ = reduction_per_position(cin_g, kk, enhanced)
    pic, poc, widen = regular_mapping(cin_red, p)
    # square tiles where one input tile is one word of channels (no partial-sum tiles here)
    # (square kernels and strides; an enhanced conv's search runs over its im2col'd 1x1 conv)
    square = (groups == 1) & (cin_red <= OPU_COMPILER_WORD_ELEMS) & (c.kh_ext == c.kw_ext) & (sh == c.sw)
    k_sq = np.where(enhanced, 1.0, kh)
    tr_cap, tw, n_cols = spatial_tiles(p, square, hout, wout, k_sq, sh, cin_red, cout, db)
    in_cols = input_cols_per_tile(tw, n_cols, c.kw_ext, c.sw, win)
    w_per_oc = cin_g * kk * db
    cap = np.minimum(np.floor(half_w / w_per_oc), np.floor(half_out / np.maximum(tw * db, 1.0)))
    toc_raw = regular_channel_tile(cout, cap, poc)
    toc = np.maximum(toc_raw, 1.0)
    n_w = _cdiv(cout, toc)
    tr, ok_in, ok_out_rows = rows_per_tile(half_in, in_cols * cin * db, kh, sh, half_out, tw * toc * db, hout)
    tr = np.minimum(tr, tr_cap)
    n_in = _cdiv(hout, tr)
    ok_w = np.floor(half_w / w_per_oc) >= 1.0
    ok_out = (np.floor(half_out / np.maximum(tw * db, 1.0)) >= 1.0) & ok_out_rows
    feasible, limit, need = _refusal(ok_in, ok_w, ok_out, kh * in_cols * cin * db, w_per_oc, tw * db)
    pass_elems, rows_mean, cols_mean = square_pass(c, n_in, tr, n_cols, in_cols)
    in_pass = pass_elems * cin * db
    w_only = c.weight_elems * db
    w_out = weights_outer(w_only, in_pass, n_w, n_in * n_cols)
    w_full = cout * (w_per_oc + param_bytes_per_oc(has_bias))
    table = c.table_act * TABLE_BYTES
    w_load = np.where(w_out, w_full, w_full * np.where(n_w > 1, n_in * n_cols, 1.0)) + table
    n_sp = n_in * n_cols  # spatial tiles
    in_load = np.where(w_out, in_pass * np.where(n_sp > 1, n_w, 1.0), in_pass)
    instrs = np.where(
        w_out, n_w + np.where(n_sp > 1, n_w * n_sp, 1.0), n_sp + np.where(n_w > 1, n_sp * n_w, 1.0)
    )
    in_rows = np.minimum(input_rows_per_tile(tr, kh, sh), hin)
    mode = MODE["sa"] if p.dataflow == "systolic" else MODE["conv"]
    once = fc_stored_once(c.kind == _FC, p.fc_store_once, n_w, cout * db, half_out)
    unit = p.pe_count if p.dataflow == "systolic" else poc
    lanes = np.where(
        once,
        store_lanes(p, c.out_elems, cout, cout, 1.0, unit, db),
        store_lanes(p, c.out_elems, cout, toc, n_w, unit, db),
    )
    b.put(
        "regular",
        cols,
        mode=mode,
        runnable=True,
        feasible=feasible,
        limit=limit,
        need_bytes=need,
        order=np.where(w_out, ORDER["weights_outer"], ORDER["inputs_outer"]),
        pic=pic,
        poc=poc,
        widen=widen,
        enhanced=np.asarray(enhanced, dtype=np.float64),
        toc=toc,
        tr=tr,
        n_oc=n_w,
        n_rows=n_in,
        tw=tw,
        n_cols=n_cols,
        in_rows=in_rows,
        in_ch=cin,
        in_cols=in_cols,
        in_rows_mean=rows_mean,
        in_cols_mean=cols_mean,
        w_tile_bytes=toc * (w_per_oc + param_bytes_per_oc(has_bias)),
        in_tile_bytes=in_rows * in_cols * cin * db,
        out_tile_bytes=np.where(once, cout * db, toc * tr * tw * db),
        w_load_bytes=w_load,
        in_load_bytes=in_load,
        store_bytes=c.out_elems * db,
        store_lanes=lanes,
        load_instrs=instrs,
        store_instrs=np.where(once, 1.0, n_w * n_sp),
    )


def _depthwise(b: TilePlan, c: LayerColumns, p: CoreParams, db: float) -> None:
    cols = c.idx
    cin, cout = c.cin, c.cout
    hin, win, hout, wout = c.hin, c.win, c.hout, c.wout
    kk = c.kh * c.kw
    kh, sh = c.kh_ext, c.sh
    has_bias = c.has_bias
    half_in, half_w, half_out = (
        p.input_buffer_bytes / BUFFER_SLOTS,
        p.weight_buffer_bytes / BUFFER_SLOTS,
        p.output_buffer_bytes / BUFFER_SLOTS,
    )
    P = p.pe_count
    mult = np.maximum(cout / np.maximum(cin, 1.0), 1.0)
    systolic = p.dataflow == "systolic"
    # square tiles: the search with one word of channels in and out (the engine's 64-channel group)
    square = (c.kh_ext == c.kw_ext) & (sh == c.sw) & (not systolic)
    group = OPU_COMPILER_WORD_ELEMS + 0.0 * cout
    tr_cap, tw, n_cols = spatial_tiles(p, square, hout, wout, kh, sh, group, group, db)
    in_cols = input_cols_per_tile(tw, n_cols, c.kw_ext, c.sw, win)
    ci = np.floor(half_in / np.maximum(kh * in_cols * db, 1.0))  # input channels of kh rows
    cap_in = np.where(ci >= 1, (ci + 1) * mult - 1, 0.0)
    cap_w = np.floor(half_w / (kk * db))
    cap_out = np.floor(half_out / np.maximum(tw * db, 1.0))
    group = p.dw_channel_group
    lanes = cout if systolic else depthwise_lanes(cout, P, group)  # systolic: one column works at a time
    # word-aligned tiles on a grouped engine (channel multiplier 1; a multiplier > 1 keeps the spread,
    # whose tiles line up with their input channels)
    aligned = np.where(mult == 1.0, group, 0.0) if not systolic else 0.0
    tc, n_ct = depthwise_channel_tile(cout, lanes, cap_w, cap_out, cap_in, aligned)
    tc_in = np.maximum(np.floor(tc / mult), 1.0)
    tr, ok_in, ok_out = rows_per_tile(half_in, in_cols * tc_in * db, kh, sh, half_out, tw * tc * db, hout)
    tr = np.minimum(tr, tr_cap)
    n_rt = _cdiv(hout, tr)
    ok_w = tc * kk * db <= half_w
    feasible, limit, need = _refusal(ok_in, ok_w, ok_out, kh * in_cols * db, kk * db, tw * db)
    pass_elems, rows_mean, cols_mean = square_pass(c, n_rt, tr, n_cols, in_cols)
    in_pass = pass_elems * cin * db
    per_load = depthwise_weight_tiles_per_load(half_w, tc * kk * db)
    w_full = cout * (kk * db + param_bytes_per_oc(has_bias))
    table = c.table_act * TABLE_BYTES
    in_rows = np.minimum(input_rows_per_tile(tr, kh, sh), hin)
    in_ch = np.minimum(cin, np.floor((tc + mult - 2.0) / mult) + 1.0)  # input channels tc outputs can touch
    b.put(
        "depthwise",
        cols,
        mode=MODE["sa_dw"] if systolic else MODE["dw"],
        runnable=True,
        feasible=feasible,
        limit=limit,
        need_bytes=need,
        order=ORDER["channels_outer"],
        pw=np.zeros_like(tc) if systolic else depthwise_pes_per_channel(tc, P, group),
        poc=P if systolic else 0.0,
        toc=tc,
        tr=tr,
        n_oc=n_ct,
        n_rows=n_rt,
        tw=tw,
        n_cols=n_cols,
        w_tiles_per_load=per_load,
        in_rows=in_rows,
        in_ch=in_ch,
        in_cols=in_cols,
        in_rows_mean=rows_mean,
        in_cols_mean=cols_mean,
        in_ch_mean=np.where(mult == 1.0, cin / n_ct, in_ch),
        w_tile_bytes=tc * (kk * db + param_bytes_per_oc(has_bias)),
        in_tile_bytes=in_rows * in_cols * in_ch * db,
        out_tile_bytes=tc * tr * tw * db,
        w_load_bytes=w_full + table,
        in_load_bytes=in_pass,
        store_bytes=c.out_elems * db,
        store_lanes=store_lanes(p, c.out_elems, cout, tc, n_ct, 1.0, db),
        load_instrs=n_ct * n_rt * n_cols + _cdiv(n_ct, per_load),
        store_instrs=n_ct * n_rt * n_cols,
    )


def _elementwise(b: TilePlan, c: LayerColumns, p: CoreParams, db: float) -> None:
    """Row tiles over all channels (channels halved until a row block fits); a global
    average pool tiles channels (a whole plane each); a broadcast input adds its ``C`` bytes
    to every tile."""
    cols = c.idx
    cout, hin, hout, wout = c.cout, c.hin, c.hout, c.wout
    pool = c.kind == _POOL
    glob = c.global_pool > 0
    kh = np.where(pool, c.kh_ext, 1.0)
    sh = np.where(pool, c.sh, 1.0)
    win = np.where(pool, c.win, c.wout)
    n_in = c.n_inputs
    bcast = c.n_bcast
    full = n_in - bcast
    half_in, half_out = p.input_buffer_bytes / BUFFER_SLOTS, p.output_buffer_bytes / BUFFER_SLOTS
    # row tiles: channels whose kh input rows (all full inputs) plus broadcast channels fit,
    # and whose one output row fits
    cap_in = np.floor(half_in / (db * (bcast + kh * win * full)))
    cap_out = np.floor(half_out / np.maximum(wout * db, 1.0))
    tc_rows = elementwise_channel_tile(cout, np.minimum(cap_in, cap_out))
    tcr = np.maximum(tc_rows, 1.0)
    rows_in = np.floor((half_in - bcast * tcr * db) / np.maximum(win * tcr * full * db, 1.0))
    tr_out = np.floor(half_out / np.maximum(wout * tcr * db, 1.0))
    tr_rows = np.minimum(np.maximum(np.minimum(np.floor((rows_in - kh) / sh) + 1.0, tr_out), 1.0), hout)
    # global average pool: channel tiles of whole planes
    tc_glob = np.minimum(
        np.minimum(cout, np.floor(half_in / np.maximum(hin * win * db, 1.0))), np.floor(half_out / db)
    )
    tc = np.where(glob, tc_glob, tc_rows)
    ok_in = np.where(glob, np.floor(half_in / np.maximum(hin * win * db, 1.0)) >= 1.0, cap_in >= 1.0)
    ok_out = np.where(glob, np.floor(half_out / db) >= 1.0, cap_out >= 1.0)
    need_in = np.where(glob, hin * win * db, db * (bcast + kh * win * full))
    need_out = np.where(glob, db, wout * db)
    # a table activation's 256-entry table is one weight-buffer slot
    table = c.table_act * TABLE_BYTES
    ok_w = table <= p.weight_buffer_bytes / BUFFER_SLOTS
    feasible, limit, need = _refusal(ok_in, ok_w, ok_out, need_in, table, need_out)
    tc = np.maximum(tc, 1.0)
    tr = np.where(glob, hout, tr_rows)
    n_oc = _cdiv(cout, tc)
    n_rows = np.where(glob, 1.0, _cdiv(hout, tr))
    in_rows = np.where(glob, hin, np.minimum(input_rows_per_tile(tr, kh, sh), np.where(pool, hin, hout)))
    in_plane = c.in_elems * db  # all inputs, each once
    # pools re-read halo rows; broadcast inputs are re-read by every row tile
    pool_pass = input_pass_rows(hin, n_rows, tr, kh, sh) * win * cout * db
    in_load = np.where(
        glob, in_plane, np.where(pool, pool_pass, full * c.out_elems * db + bcast * cout * n_rows * db)
    )
    b.put(
        "elementwise",
        cols,
        mode=MODE["post"],
        runnable=p.runs_elementwise,
        feasible=feasible,
        limit=limit,
        need_bytes=need,
        order=ORDER["rows"],
        toc=tc,
        tr=tr,
        n_oc=n_oc,
        n_rows=n_rows,
        tw=wout,
        in_rows=in_rows,
        in_ch=tc,
        in_cols=win,
        in_tile_bytes=tc * db * (in_rows * win * full + bcast),
        out_tile_bytes=tc * tr * wout * db,
        w_load_bytes=table,
        in_load_bytes=in_load,
        store_bytes=c.out_elems * db,
        store_lanes=store_lanes(p, c.out_elems, cout, tc, n_oc, 1.0, db, balanced=True),
        load_instrs=n_oc * n_rows * n_in + (table > 0),
        store_instrs=n_oc * n_rows,
    )


def copy_rows(t: LayerTable, p: CoreParams) -> np.ndarray:
    """Rows of ``t`` that are a copy on ``p`` rather than an address remap: a channel
    permutation (channel shuffle) on a core whose DRAM layout packs 64 channels of one pixel
    into a word (``layout: opu64``; a within-word permutation cannot be an address remap).
    Concat, slice and flatten stay remaps in both layouts (docs/assumptions.md)."""
    free = families(t)["free"].idx
    if p.layout != "opu64" or not free.size:
        return free[:0]
    return free[t.permutes[free] > 0]


def _copy(b: TilePlan, c: LayerColumns, p: CoreParams, db: float) -> None:
    """A copy through the post-processing unit (which permutes the channels): row tiles of all
    channels (a permutation mixes every channel), each input byte read and each output byte
    written once."""
    cols = c.idx
    cin, cout, win, hin, hout, wout = c.cin, c.cout, c.win, c.hin, c.hout, c.wout
    half_in, half_out = p.input_buffer_bytes / BUFFER_SLOTS, p.output_buffer_bytes / BUFFER_SLOTS
    one = np.ones_like(cout)
    tr, ok_in, ok_out = rows_per_tile(half_in, win * cin * db, one, one, half_out, wout * cout * db, hout)
    n_rows = _cdiv(hout, tr)
    no_weights = np.ones_like(ok_in)
    feasible, limit, need = _refusal(ok_in, no_weights, ok_out, win * cin * db, 0.0 * cout, wout * cout * db)
    in_rows = np.minimum(tr, hin)
    b.put(
        "copy",
        cols,
        mode=MODE["post"],
        runnable=p.runs_elementwise,
        feasible=feasible,
        limit=limit,
        need_bytes=need,
        order=ORDER["rows"],
        toc=cout,
        tr=tr,
        n_oc=1.0,
        n_rows=n_rows,
        tw=wout,
        in_rows=in_rows,
        in_ch=cin,
        in_cols=win,
        in_tile_bytes=in_rows * win * cin * db,
        out_tile_bytes=tr * wout * cout * db,
        w_load_bytes=0.0,
        in_load_bytes=c.in_elems * db,
        store_bytes=c.out_elems * db,
        store_lanes=store_lanes(p, c.out_elems, cout, cout, 1.0, 1.0, db),
        load_instrs=n_rows,
        store_instrs=n_rows,
    )


#: Single-configuration plans kept per table (evaluate, placement, compiler and validator plan
#: the same network on the same cores several times); plans are pure and read-only.
MEMO_PLANS_PER_TABLE = 64


def plan_tiles(t: LayerTable, p: CoreParams, data_bytes: int = 1) -> TilePlan:
    """Mapping and tiles of every layer of ``t`` on the core configuration(s) ``p``.

    One configuration (``(1, 1)`` parameters) is memoized on the table, keyed by every
    parameter; batches are always planned afresh (`plan_tiles_uncached`)."""
    if p.n_configs != 1:
        return plan_tiles_uncached(t, p, data_bytes)
    key = (
        p.core_type,
        p.dataflow,
        p.runs_elementwise,
        p.layout,
        p.spatial_tiling,
        data_bytes,
        tuple(float(a[0, 0]) for a in p.arrays.values()),
    )
    return memo_on(t, "_plan_memo", key, lambda: plan_tiles_uncached(t, p, data_bytes), MEMO_PLANS_PER_TABLE)


def plan_tiles_uncached(t: LayerTable, p: CoreParams, data_bytes: int = 1) -> TilePlan:
    """Mapping and tiles of every layer of ``t`` on the core configuration(s) ``p``."""
    db = float(data_bytes)
    b = TilePlan((p.n_configs, len(t)))
    runs_reg = p.core_type in (CoreType.REGULAR, CoreType.UNIFIED)
    runs_dw = p.core_type in (CoreType.DEPTHWISE, CoreType.UNIFIED)
    fam = families(t)
    if runs_reg and fam["regular"].idx.size:
        _regular(b, fam["regular"], p, db)
    if runs_dw and fam["depthwise"].idx.size:
        _depthwise(b, fam["depthwise"], p, db)
    if p.runs_elementwise and fam["elementwise"].idx.size:
        _elementwise(b, fam["elementwise"], p, db)
    free = fam["free"].idx
    copies = copy_rows(t, p)
    if copies.size:
        _copy(b, LayerColumns(t, copies), p, db)
        free = np.setdiff1d(free, copies)
    if free.size:
        b.put(
            "free",
            free,
            mode=MODE["free"],
            runnable=p.runs_elementwise,
            n_oc=0.0,
            n_rows=0.0,
            w_tiles_per_load=0.0,
        )
    return b
