"""Export a `QuantizedNetwork` as an ONNX model onnxruntime runs, bit-exact by construction.

The graph takes and returns int8 tensors. Integer arithmetic uses integer operators
(``ConvInteger`` for conv / pointwise / depthwise / grouped / FC and for the window sums of
average pooling, ``ReduceSum`` on int32 for global average pooling, ``MaxPool`` on int8),
and every requantization is explicit float32 arithmetic::

    acc:int32 -> [Add bias:int32] -> Cast(float32) -> Mul(M:float32) -> Round -> Clip(lo, hi)
              -> Cast(int8) -> [Cast(int32) -> Add(128) -> Gather(table)]

ONNX ``Round`` is round-half-to-even (onnxruntime uses ``std::nearbyint`` in the default
rounding mode), which is what ``numpy.rint`` does; each float32 ``Mul`` / ``Add`` is one
IEEE-754 rounding in both. Integer sums are exact, so simulator and onnxruntime agree
bit for bit. `run_qonnx` runs with graph optimizations disabled, so onnxruntime evaluates
exactly these operators (no fusion into a differently rounded kernel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dualopu.compiler.quant import QLayer, QuantizedNetwork
from dualopu.errors import ModelError
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind
from dualopu.util import write_atomic

OPSET = 17


class _Graph:
    """A small ONNX graph builder with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"_{hint}_{self.n}"

    def const(self, arr: np.ndarray | np.generic, hint: str = "c") -> str:
        nm = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out


def _tail(g: _Graph, v: str, q: QLayer, out: str) -> None:
    """float32 -> Round -> Clip -> Cast int8 [-> table]: the requantization tail."""
    r = g.op("Round", [v])
    c = g.op("Clip", [r, g.const(np.float32(q.lo)), g.const(np.float32(q.hi))])
    if q.table is None:
        g.op("Cast", [c], out, to=TensorProto.INT8)
        return
    p = g.op("Cast", [c], to=TensorProto.INT8)
    _table(g, p, q, out)


def _table(g: _Graph, p: str, q: QLayer, out: str) -> None:
    assert q.table is not None
    i = g.op("Cast", [p], to=TensorProto.INT32)
    idx = g.op("Add", [i, g.const(np.int32(128))])
    g.op("Gather", [g.const(q.table.astype(np.int8), "table"), idx], out, axis=0)


def _conv_pads(layer: Layer) -> list[int]:
    pt, pl, pb, pr = layer.padding
    return [pt, pl, pb, pr]


def _mac(g: _Graph, layer: Layer, q: QLayer, x: str) -> None:
    assert q.weight is not None
    w = g.const(q.weight.astype(np.int8), "w")
    acc = g.op("ConvInteger", [x, w], kernel_shape=list(layer.kernel), strides=list(layer.stride),
               pads=_conv_pads(layer), dilations=list(layer.dilation), group=layer.groups)
    if q.bias is not None:
        acc = g.op("Add", [acc, g.const(q.bias.astype(np.int32).reshape(1, -1, 1, 1), "bias")])
    f = g.op("Cast", [acc], to=TensorProto.FLOAT)
    m = g.op("Mul", [f, g.const(q.mult.astype(np.float32).reshape(1, -1, 1, 1), "mult")])
    _tail(g, m, q, layer.name)


def _avgpool(g: _Graph, layer: Layer, q: QLayer, x: str) -> None:
    _, c, hin, win = layer.in_shape
    _, _, hout, wout = layer.out_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    pt, pl = layer.padding[0], layer.padding[1]
    pb = max((hout - 1) * sh + kh - hin - pt, 0)
    pr = max((wout - 1) * sw + kw - win - pl, 0)
    if (hin + pt + pb - kh) // sh + 1 != hout or (win + pl + pr - kw) // sw + 1 != wout:
        raise ModelError(f"avgpool {layer.name!r}: cannot express its output shape with integer padding")
    ones = g.const(np.ones((c, 1, kh, kw), dtype=np.int8), "ones")
    acc = g.op("ConvInteger", [x, ones], kernel_shape=[kh, kw], strides=[sh, sw], pads=[pt, pl, pb, pr], group=c)
    f = g.op("Cast", [acc], to=TensorProto.FLOAT)
    m = g.op("Mul", [f, g.const(q.mult.astype(np.float32).reshape(1, 1, hout, wout), "mult")])
    _tail(g, m, q, layer.name)


def _layer(g: _Graph, layer: Layer, q: QLayer) -> None:
    xs = list(layer.inputs)
    _, c, h, w = layer.out_shape
    if layer.kind in MAC_KINDS:
        _mac(g, layer, q, xs[0])
    elif layer.op == "maxpool":
        y = g.op("MaxPool", [xs[0]], kernel_shape=list(layer.kernel), strides=list(layer.stride),
                 pads=_conv_pads(layer), ceil_mode=int(bool(layer.attrs.get("ceil_mode", False))),
                 dilations=list(layer.dilation))
        if q.lo > -128 or q.hi < 127:
            y = g.op("Clip", [y, g.const(np.int8(q.lo)), g.const(np.int8(q.hi))])
        if q.table is not None:
            _table(g, y, q, layer.name)
        else:
            g.op("Identity", [y], layer.name)
    elif layer.op == "avgpool":
        _avgpool(g, layer, q, xs[0])
    elif layer.op == "global_avgpool":
        i = g.op("Cast", [xs[0]], to=TensorProto.INT32)
        s = g.op("ReduceSum", [i, g.const(np.array([2, 3], dtype=np.int64))], keepdims=1)
        f = g.op("Cast", [s], to=TensorProto.FLOAT)
        _tail(g, g.op("Mul", [f, g.const(q.mult.astype(np.float32).reshape(()))]), q, layer.name)
    elif layer.kind is LayerKind.ADD:
        a = g.op("Mul", [g.op("Cast", [xs[0]], to=TensorProto.FLOAT), g.const(q.mult[0:1].astype(np.float32).reshape(()))])
        b = g.op("Mul", [g.op("Cast", [xs[1]], to=TensorProto.FLOAT), g.const(q.mult[1:2].astype(np.float32).reshape(()))])
        _tail(g, g.op("Add", [a, b]), q, layer.name)
    elif layer.kind is LayerKind.MUL:
        p = g.op("Mul", [g.op("Cast", [xs[0]], to=TensorProto.FLOAT), g.op("Cast", [xs[1]], to=TensorProto.FLOAT)])
        _tail(g, g.op("Mul", [p, g.const(q.mult.astype(np.float32).reshape(()))]), q, layer.name)
    elif layer.kind is LayerKind.ACTIVATION:
        _table(g, xs[0], q, layer.name)
    elif layer.op == "concat":
        g.op("Concat", xs, layer.name, axis=1)
    elif layer.op == "slice":
        g.op("Slice", [xs[0], g.const(np.array([int(layer.attrs["start"])], dtype=np.int64)),
                       g.const(np.array([int(layer.attrs["end"])], dtype=np.int64)),
                       g.const(np.array([1], dtype=np.int64))], layer.name)
    elif layer.op == "channel_shuffle":
        grp = int(layer.attrs["groups"])
        r = g.op("Reshape", [xs[0], g.const(np.array([1, grp, c // grp, h, w], dtype=np.int64))])
        t = g.op("Transpose", [r], perm=[0, 2, 1, 3, 4])
        g.op("Reshape", [t, g.const(np.array([1, c, h, w], dtype=np.int64))], layer.name)
    elif layer.op == "flatten":
        g.op("Reshape", [xs[0], g.const(np.array([1, c, h, w], dtype=np.int64))], layer.name)
    else:
        raise ModelError(f"layer {layer.name!r}: cannot export {layer.kind.value}/{layer.op}")


def build_qonnx(qnet: QuantizedNetwork, intermediate: bool = False) -> onnx.ModelProto:
    """The quantized network as an ONNX model (int8 in, int8 out). ``intermediate`` makes
    every layer's tensor a graph output (for per-layer comparison)."""
    net = qnet.network
    g = _Graph()
    for layer, q in zip(net.layers, qnet.layers, strict=True):
        _layer(g, layer, q)
    outs = list(net.outputs)
    if intermediate:
        outs += [layer.name for layer in net.layers if layer.name not in outs]
    shapes = {layer.name: layer.out_shape for layer in net.layers}
    graph = helper.make_graph(
        g.nodes,
        f"{net.name}_int8",
        [helper.make_tensor_value_info(net.input_name, TensorProto.INT8, list(net.input_shape))],
        [helper.make_tensor_value_info(o, TensorProto.INT8, list(shapes[o])) for o in outs],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dualopu")
    model.ir_version = 8
    return model


def export_qonnx(qnet: QuantizedNetwork, path: str | Path, intermediate: bool = False) -> Path:
    """Write the quantized ONNX model to ``path`` (atomically)."""
    model = build_qonnx(qnet, intermediate=intermediate)
    return write_atomic(path, model.SerializeToString())


def run_qonnx(
    model: str | Path | onnx.ModelProto, input_int8: np.ndarray, optimize: bool = False
) -> dict[str, np.ndarray]:
    """Run an exported model on onnxruntime (CPU); every graph output by name."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    so.log_severity_level = 3
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: np.ascontiguousarray(input_int8, dtype=np.int8)})
    return {o.name: np.asarray(v) for o, v in zip(sess.get_outputs(), outs, strict=True)}
