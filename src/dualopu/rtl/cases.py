"""Tiny processors and layers the RTL simulation runs (tests and `benchmarks/bench_rtl_sim.py`).

The Amaranth Python simulator runs a few thousand cycles per second, so the cases are
small: 8x8 (or 6x6) planes, 8-16 channels, a regular core of 4 PEs x 4 inputs
(``ic_parallel`` 8) and a depthwise core of 2 window PEs, at 8 DRAM bytes per cycle.
"""

from __future__ import annotations

from dualopu.hw.config import Hardware, hardware_from_dict
from dualopu.ir.network import Network
from dualopu.sim.testnets import NetBuilder

#: Line-buffer width of the tiny depthwise core (pixels of a padded input row).
TINY_LINE_WIDTH = 12
#: Line-buffer width for the 32x32 block (its depthwise layer runs on 16x16 planes).
BLOCK_LINE_WIDTH = 20


def tiny_hw(buffer_kib: float = 1.0, input_kib: float = 2.0) -> Hardware:
    """A regular core (4 PEs x 4 inputs, 8 input channels per cycle) and a depthwise core
    (2 PEs x 9 inputs), 8 B/cycle DRAM."""
    return hardware_from_dict(
        {
            "name": "rtl-tiny",
            "dram_bytes_per_cycle": 8,
            "cores": [
                {
                    "name": "regular",
                    "type": "regular",
                    "pe_count": 4,
                    "input_size": 4,
                    "ic_parallel": 8,
                    "input_buffer_kib": input_kib,
                    "weight_buffer_kib": 1,
                    "output_buffer_kib": max(buffer_kib, 1.0),
                },
                {
                    "name": "dw",
                    "type": "depthwise",
                    "pe_count": 2,
                    "input_size": 9,
                    "input_buffer_kib": buffer_kib,
                    "weight_buffer_kib": 1,
                    "output_buffer_kib": buffer_kib,
                },
            ],
        }
    )


def layer_net(kind: str, size: int = 8, channels: int = 8, stride: int = 1) -> Network:
    """One layer on a ``(1, channels, size, size)`` input: ``conv`` (3x3, ReLU, to 8 channels),
    ``depthwise`` (3x3, ReLU6) or ``pointwise`` (1x1 to 16 channels, no activation)."""
    b = NetBuilder(f"rtl-{kind}", (1, channels, size, size))
    if kind == "conv":
        y = b.conv("input", 8, 3, s=stride, act="relu")
    elif kind == "depthwise":
        y = b.dw("input", s=stride, act="relu6")
    elif kind == "pointwise":
        y = b.conv("input", 16, 1, s=stride)
    else:
        raise ValueError(f"unknown layer kind {kind!r}")
    return Network(
        name=b.name, input_name="input", input_shape=b.input_shape, layers=tuple(b.layers), outputs=(y,)
    )


def separable_block(size: int = 32, channels: int = 8) -> Network:
    """A 3-layer depthwise-separable block: 3x3 stride-2 conv (ReLU), 3x3 depthwise (ReLU6),
    1x1 pointwise to twice the channels (ReLU6)."""
    b = NetBuilder("rtl-block", (1, channels, size, size))
    x = b.conv("input", channels, 3, s=2, act="relu")
    x = b.dw(x, act="relu6")
    y = b.conv(x, 2 * channels, 1, act="relu6")
    return Network(
        name=b.name, input_name="input", input_shape=b.input_shape, layers=tuple(b.layers), outputs=(y,)
    )
