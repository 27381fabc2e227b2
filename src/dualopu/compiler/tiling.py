"""Per-layer mapping and tiles as the program records them: the plan's decisions as integers.

Nothing is decided here: `dualopu.plan.plan_tiles` decides once for every layer (one
vectorized call per core), and `layer_tiles` reads one layer's column of that plan into
the `Mapping` / `Tiling` records a program stores. Terms: ``toc`` output channels per tile,
``tr`` output rows per tile, ``n_oc`` x ``n_rows`` tiles (*stages*).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dualopu.errors import HardwareError, ProgramError
from dualopu.hw.config import Core
from dualopu.hw.params import CoreParams
from dualopu.ir.network import Layer, LayerTable, kernel_extent
from dualopu.plan import MODES, ORDERS, TilePlan, plan_tiles
from dualopu.plan.refusal import refusal_message

__all__ = ["MODES", "ORDERS", "Mapping", "Tiling", "kernel_extent", "layer_tiles", "plan_layer"]


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
    enhanced: bool = False  # conv: channel-enhanced (k*k*C values per PE input group, one position)
    rows: int = 0
    cols: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tiling:
    """Tile sizes and loop order of one layer (``stages = n_oc * n_rows * n_cols`` tiles)."""

    order: str
    toc: int  # output channels per tile
    tr: int  # output rows per tile
    n_oc: int
    n_rows: int
    tw: int = 1  # output columns per tile (the whole width when n_cols = 1)
    n_cols: int = 1  # column tiles (1: full-width row bands)

    @property
    def stages(self) -> int:
        return self.n_oc * self.n_rows * self.n_cols

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stages": self.stages}


def layer_tiles(
    plan: TilePlan, j: int, layer: Layer, core: Core, core_label: int | str = ""
) -> tuple[Mapping, Tiling | None]:
    """Mapping and tiles of layer ``j`` of ``plan`` (planned for ``core``); `HardwareError`
    naming the buffer when its minimum tile does not fit."""
    mode = MODES[int(plan.mode[0, j])]
    if mode == "free":
        return Mapping("free"), None
    if mode == "none":
        raise ProgramError(
            f"layer {layer.name!r} ({layer.kind.value}) placed on core {core.name!r}, which cannot run it"
        )
    if not plan.feasible[0, j]:
        raise HardwareError(
            refusal_message(layer, core, core_label if core_label != "" else core.name, plan, j)
        )
    if mode == "conv":
        mapping = Mapping(
            "conv", pic=float(plan.pic[0, j]), poc=float(plan.poc[0, j]), enhanced=bool(plan.enhanced[0, j] > 0)
        )
    elif mode == "dw":
        mapping = Mapping("dw", pw=int(plan.pw[0, j]))
    elif mode in ("sa", "sa_dw"):
        mapping = Mapping(mode, rows=core.input_size, cols=core.pe_count)
    else:
        mapping = Mapping("post")
    tiling = Tiling(
        order=ORDERS[int(plan.order[0, j])],
        toc=int(plan.toc[0, j]),
        tr=int(plan.tr[0, j]),
        n_oc=int(plan.n_oc[0, j]),
        n_rows=int(plan.n_rows[0, j]),
        tw=int(plan.tw[0, j]),
        n_cols=int(plan.n_cols[0, j]),
    )
    return mapping, tiling


def plan_layer(layer: Layer, core: Core, data_bytes: int) -> tuple[Mapping, Tiling | None]:
    """Mapping and tiling of one layer on ``core`` (a one-layer plan)."""
    return layer_tiles(plan_tiles(LayerTable.of([layer]), CoreParams.of(core), data_bytes), 0, layer, core)
