"""The one-line message for a buffer that cannot hold a layer's minimum tile."""

from __future__ import annotations

from dualopu.hw.config import Core
from dualopu.ir.network import Layer
from dualopu.plan.bytes import BUFFER_SLOTS
from dualopu.plan.rules import LIMITS, TilePlan

_WHAT = {
    "input_buffer_kib": "input rows of the minimum tile",
    "weight_buffer_kib": "weights of one output channel",
    "output_buffer_kib": "one output row",
}


def refusal_message(layer: Layer, core: Core, j: int | str, plan: TilePlan, col: int, config: int = 0) -> str:
    """``field 'cores[j].<buffer>' (core NAME): ... needs >= X KiB`` from the plan's refusal."""
    field = LIMITS[int(plan.limit[config, col])]
    if not field:
        return (
            f"field 'cores[{j}].input_buffer_kib/weight_buffer_kib/output_buffer_kib' (core {core.name!r}): "
            f"buffers too small for layer {layer.name!r}"
        )
    need = int(plan.need_bytes[config, col])
    have = float(getattr(core, field))
    return (
        f"field 'cores[{j}].{field}' (core {core.name!r}): {have:g} KiB cannot hold the minimum tile of "
        f"layer {layer.name!r} ({_WHAT[field]} = {need} B per half buffer); "
        f"needs >= {BUFFER_SLOTS * need / 1024:.3g} KiB"
    )
