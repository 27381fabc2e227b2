"""dualopu: heterogeneous multi-core overlay processors for light-weight CNNs.

The public API mirrors the CLI::

    import dualopu
    net = dualopu.load_network("mobilenet_v2")          # built-in name or ONNX path
    hw = dualopu.load_hardware("dual-opu")              # preset name or YAML path
    result = dualopu.evaluate(net, hw)                  # per-layer analytical cost
"""

from __future__ import annotations

__version__ = "0.1.0"

from dualopu.cost import NetworkCost, evaluate
from dualopu.errors import DualOpuError
from dualopu.hw import Hardware, load_hardware
from dualopu.ir import Layer, LayerKind, Network

__all__ = [
    "DualOpuError",
    "Hardware",
    "Layer",
    "LayerKind",
    "Network",
    "NetworkCost",
    "__version__",
    "evaluate",
    "load_hardware",
]
