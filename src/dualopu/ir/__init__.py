"""Network IR, ONNX import/export and the built-in zoo."""

from dualopu.ir.network import (
    ELEMENTWISE_KINDS,
    KIND_CODES,
    MAC_KINDS,
    REGULAR_KINDS,
    Layer,
    LayerKind,
    LayerTable,
    Network,
    Shape,
    conv_kind,
)

__all__ = [
    "ELEMENTWISE_KINDS",
    "KIND_CODES",
    "MAC_KINDS",
    "REGULAR_KINDS",
    "Layer",
    "LayerKind",
    "LayerTable",
    "Network",
    "Shape",
    "conv_kind",
]
