"""Byte counts every layer reads and writes: half buffers, weight tiles with their
post-processing parameters, activation tables (one definition for planner, compiler and
simulators)."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from dualopu.hw.config import Core
from dualopu.hw.params import KIB_BYTES
from dualopu.ir.network import Layer, uses_table

#: Bytes per output channel loaded with the weights: a float32 requantization multiplier,
#: and an int32 bias where the layer has one (replacing the bias element of the weights).
PARAM_BYTES_MULT = 4
PARAM_BYTES_BIAS = 4
#: Bytes of a 256-entry activation table, loaded once per layer.
TABLE_BYTES = 256
#: Double buffering: a tile may fill half of its buffer.
BUFFER_SLOTS = 2

Num = TypeVar("Num", float, np.ndarray)


def half_buffer_bytes(kib: Num) -> Num:
    """Bytes of one slot (half) of a double-buffered buffer of ``kib`` KiB."""
    return kib * (KIB_BYTES / BUFFER_SLOTS)


def half_buffers(core: Core) -> dict[str, float]:
    """Half-buffer bytes of a core's ``in``, ``w`` and ``out`` buffers."""
    return {
        "in": half_buffer_bytes(core.input_buffer_kib),
        "w": half_buffer_bytes(core.weight_buffer_kib),
        "out": half_buffer_bytes(core.output_buffer_kib),
    }


def param_bytes_per_oc(has_bias: Num) -> Num:
    """Post-processing parameter bytes travelling with each output channel's weights."""
    return PARAM_BYTES_MULT + PARAM_BYTES_BIAS * has_bias


def weights_per_oc_bytes(layer: Layer, data_bytes: int) -> int:
    """INT8 weight bytes of one output channel (what occupies the weight buffer)."""
    return layer.in_channels // layer.groups * layer.kernel[0] * layer.kernel[1] * data_bytes


def weight_tile_bytes(layer: Layer, oc: int, first: bool, data_bytes: int) -> int:
    """DRAM bytes of a weight tile of ``oc`` output channels: weights, multipliers and
    biases, plus the activation table on the layer's first weight tile."""
    per_oc = weights_per_oc_bytes(layer, data_bytes) + PARAM_BYTES_MULT + (PARAM_BYTES_BIAS if layer.has_bias else 0)
    return oc * per_oc + (TABLE_BYTES if first and uses_table(layer) else 0)
