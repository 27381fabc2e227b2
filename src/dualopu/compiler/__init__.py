"""Compiler: network IR + hardware -> per-core instruction programs; INT8 quantization and
its ONNX export (the reference the functional simulator is checked against)."""

from dualopu.compiler.codegen import compile_layer, compile_network
from dualopu.compiler.isa import Compute, Instr, Load, Post, Store
from dualopu.compiler.program import LayerProgram, Program, TensorInfo
from dualopu.compiler.qonnx import build_qonnx, export_qonnx, run_qonnx
from dualopu.compiler.quant import QLayer, QuantizedNetwork, float_forward, quantize, random_weights
from dualopu.compiler.tiling import Mapping, Tiling, plan_layer

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
