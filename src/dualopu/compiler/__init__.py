"""Compiler: network IR + hardware -> per-core instruction programs; INT8 quantization and
its ONNX export (the reference the functional simulator is checked against)."""

from dualopu.compiler.codegen import compile_layer, compile_network
from dualopu.compiler.isa import Compute, Instr, Load, Post, Store
from dualopu.compiler.program import LayerProgram, Program, TensorInfo
from dualopu.compiler.quant import QLayer, QuantizedNetwork, float_forward, quantize, random_weights
from dualopu.compiler.tiling import Mapping, Tiling, plan_layer

#: Imported on first use: `qonnx` imports onnx (about a second), which compiling does not need.
_LAZY = {"build_qonnx", "export_qonnx", "run_qonnx"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from dualopu.compiler import qonnx

        return getattr(qonnx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Compute",
    "Instr",
    "LayerProgram",
    "Load",
    "Mapping",
    "Post",
    "Program",
    "QLayer",
    "QuantizedNetwork",
    "Store",
    "TensorInfo",
    "Tiling",
    "build_qonnx",
    "compile_layer",
    "compile_network",
    "export_qonnx",
    "float_forward",
    "plan_layer",
    "quantize",
    "random_weights",
    "run_qonnx",
]
