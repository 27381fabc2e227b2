"""ONNX import: one topological walk over the graph into the IR.

What it does for you (the steps peers make users do by hand):

* fixes a dynamic batch dim to 1 and asks for ``input_shape`` when other dims are dynamic;
* folds constant shape arithmetic (Shape/Gather/Unsqueeze/Concat/Cast/Div/... on known
  shapes, as in ShuffleNet's channel split and shuffle) with a small numpy evaluator;
* drops Identity weight copies and Dropout;
* folds BatchNormalization and activations into their producer (SiLU = Sigmoid+Mul);
* recognizes Reshape-Transpose-Reshape as a channel shuffle and channel Slices/Split;
* prices grouped and depthwise convolutions by their true MACs.

Anything it does not understand is refused with the operator and node named: a model we
can only partly understand is never costed silently wrong.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from dualopu.errors import ModelError, ShapeError, UnsupportedOperatorError
from dualopu.ir.network import Layer, LayerKind, Network, Shape, conv_kind
from dualopu.ir.zoo import Builder

_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Div", "Mul", "Add", "Sub", "Slice",
              "Constant", "ConstantOfShape", "Range", "Floor", "Ceil", "Sqrt", "Reshape", "Identity"}
_ACTIVATION_OPS = {"Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid"}


def _load(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise ModelError(f"{path}: file not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not an ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends: not ONNX or truncated
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: truncated or not ONNX)") from None
    if model.ir_version <= 0 or not model.graph.node or not model.graph.input:
        raise ModelError(f"{path}: not an ONNX model (no graph nodes or inputs)")
    return model


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Importer:
    """State of one walk: tensors are layers (activations) or constants (numpy arrays)."""

    def __init__(self, model: onnx.ModelProto, name: str, input_shape: Shape | None) -> None:
        self.model = model
        g = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.const_dims: dict[str, tuple[int, ...]] = {}
        for init in g.initializer:
            self.const_dims[init.name] = tuple(init.dims)
            if (init.data_location != onnx.TensorProto.EXTERNAL and init.dims and int(np.prod(init.dims)) <= 64) or not init.dims:
                self.consts[init.name] = numpy_helper.to_array(init)
        inits = {i.name for i in g.initializer}
        inputs = [i for i in g.input if i.name not in inits]
        if len(inputs) != 1:
            raise ModelError(f"expected one image input, found {len(inputs)}: {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        shape = self._input_shape(inputs[0], input_shape)
        self.b = Builder(name, shape)
        self.b.shapes = {self.input_name: shape}
        self.alias: dict[str, str] = {self.input_name: self.input_name}  # tensor -> layer (or input)
        self.consumers = Counter(i for n in g.node for i in n.input if i)
        for o in g.output:
            self.consumers[o.name] += 1
        self.pending: dict[str, tuple[str, Any]] = {}  # partial patterns (shuffle reshape/transpose)
        self.silu: dict[str, str] = {}  # sigmoid output -> its input tensor, awaiting the Mul

    # ---- helpers -----------------------------------------------------------------------
    def _input_shape(self, vi: onnx.ValueInfoProto, given: Shape | None) -> Shape:
        dims = vi.type.tensor_type.shape.dim
        if len(dims) != 4:
            raise ModelError(f"input {vi.name!r} has rank {len(dims)}; expected an NCHW image tensor")
        static = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
        if given is not None:
            for k, (s, g) in enumerate(zip(static, given)):
                if k > 0 and s is not None and s != g:
                    raise ShapeError(f"--input-shape {'x'.join(map(str, given))} disagrees with the model's "
                                     f"static dim {k} = {s}")
            return given
        if any(s is None for s in static[1:]):
            names = [d.dim_param or "?" for d, s in zip(dims, static) if s is None]
            raise ShapeError(f"input {vi.name!r} has dynamic dims ({', '.join(names)}); pass --input-shape "
                             "1xCxHxW (e.g. 1x3x224x224)")
        return (1, static[1] or 1, static[2] or 1, static[3] or 1)

    def layer_of(self, tensor: str, node: onnx.NodeProto) -> str:
        if tensor in self.alias:
            return self.alias[tensor]
        raise UnsupportedOperatorError(
            f"node {node.name!r} ({node.op_type}) reads {tensor!r}, which is neither an activation we "
            "understood nor a constant"
        )

    def is_act(self, tensor: str) -> bool:
        return tensor in self.alias

    def const(self, tensor: str, node: onnx.NodeProto) -> np.ndarray:
        if tensor in self.consts:
            return self.consts[tensor]
        raise UnsupportedOperatorError(f"operator {node.op_type} (node {node.name!r}): input {tensor!r} is not "
                                       "a constant we can evaluate")

    def unique(self, node: onnx.NodeProto) -> str:
        base = node.name or node.output[0]
        name, k = base, 1
        while name in self.b.shapes:
            k += 1
            name = f"{base}#{k}"
        return name

    def add(self, node: onnx.NodeProto, layer: Layer) -> None:
        self.b._add(layer)
        self.alias[node.output[0]] = layer.name

    def refuse(self, node: onnx.NodeProto, why: str = "") -> UnsupportedOperatorError:
        extra = f": {why}" if why else ""
        return UnsupportedOperatorError(f"unsupported operator {node.op_type} (node {node.name!r}){extra}")

    def _replace_last(self, layer_name: str, **changes: Any) -> None:
        idx = next(i for i in range(len(self.b.layers) - 1, -1, -1) if self.b.layers[i].name == layer_name)
        self.b.layers[idx] = dataclasses.replace(self.b.layers[idx], **changes)

    def _foldable(self, tensor: str) -> Layer | None:
        """The producer layer of ``tensor`` if an activation can fold into it."""
        lname = self.alias.get(tensor)
        if lname is None or lname == self.input_name or self.consumers[tensor] != 1:
            return None
        layer = self.b.layers[-1] if self.b.layers and self.b.layers[-1].name == lname else None
        if layer is None:
            layer = next((x for x in self.b.layers if x.name == lname), None)
        if layer is None or layer.activation is not None:
            return None
        if layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE, LayerKind.POOL):
            return None
        return layer

    # ---- the walk ----------------------------------------------------------------------
    def run(self) -> Network:
        for node in self.model.graph.node:
            self.visit(node)
        outs = [self.alias.get(o.name) for o in self.model.graph.output]
        if any(o is None or o == self.input_name for o in outs):
            raise ModelError("a graph output is not produced by a layer we understood")
        if self.pending:
            raise ModelError(f"unfinished Reshape/Transpose pattern at {sorted(self.pending)[0]!r}")
        net = Network(name=self.b.name, input_shape=self.b.input_shape, layers=tuple(self.b.layers),
                      input_name=self.input_name, outputs=tuple(o for o in outs if o))
        net.validate()
        return net

    def visit(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        ins = [i for i in node.input]
        if op in ("Identity", "Dropout"):
            src = ins[0]
            if src in self.alias:
                self.alias[node.output[0]] = self.alias[src]
            elif src in self.consts:
                self.consts[node.output[0]] = self.consts[src]
            elif src in self.const_dims:
                self.const_dims[node.output[0]] = self.const_dims[src]
            return
        if not any(self.is_act(i) or i in self.pending for i in ins if i) or op == "Shape":
            self._fold_const(node)
            return
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise self.refuse(node)
        handler(node, ins)

    def _fold_const(self, node: onnx.NodeProto) -> None:
        op, a = node.op_type, _attrs(node)
        if op not in _SHAPE_OPS:
            raise self.refuse(node, "on constant inputs")
        if op == "Constant":
            self.consts[node.output[0]] = numpy_helper.to_array(a["value"]) if "value" in a else np.array(
                a.get("value_int", a.get("value_float", 0)))
            return
        if op == "Shape":
            src = node.input[0]
            if src in self.alias:
                shape = np.array(self.b.shapes[self.alias[src]], dtype=np.int64)
            elif src in self.const_dims:
                shape = np.array(self.const_dims[src], dtype=np.int64)
            else:
                shape = np.array(self.const(src, node).shape, dtype=np.int64)
            start, end = a.get("start", 0), a.get("end", None)
            self.consts[node.output[0]] = shape[start:end]
            return
        xs: list[Any] = [self.const(i, node) if i else None for i in node.input]
        x = xs[0]
        assert x is not None
        if op == "Gather":
            out = np.take(x, xs[1], axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            axes: Any = a.get("axes", xs[1] if len(xs) > 1 else None)
            out = np.expand_dims(x, tuple(int(v) for v in np.atleast_1d(axes)))
        elif op == "Squeeze":
            axes = a.get("axes", xs[1] if len(xs) > 1 else None)
            out = np.squeeze(x, tuple(int(v) for v in np.atleast_1d(axes))) if axes is not None else np.squeeze(x)
        elif op == "Concat":
            out = np.concatenate([np.atleast_1d(v) for v in xs if v is not None], axis=a.get("axis", 0))
        elif op == "Cast":
            out = x.astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
        elif op == "Div":
            y = xs[1]
            out = (x // y) if np.issubdtype(x.dtype, np.integer) else (x / y)
        elif op == "Mul":
            out = x * xs[1]
        elif op == "Add":
            out = x + xs[1]
        elif op == "Sub":
            out = x - xs[1]
        elif op in ("Floor", "Ceil", "Sqrt"):
            out = {"Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt}[op](x)
        elif op == "Reshape":
            out = x.reshape(xs[1])
        elif op == "ConstantOfShape":
            val = numpy_helper.to_array(a["value"]) if "value" in a else np.array([0.0], np.float32)
            out = np.full(x, val.reshape(-1)[0], dtype=val.dtype)
        elif op == "Range":
            out = np.arange(x, xs[1], xs[2])
        else:  # Slice
            starts, ends = xs[1], xs[2]
            axes = xs[3] if len(xs) > 3 and xs[3] is not None else np.arange(len(starts))
            steps = xs[4] if len(xs) > 4 and xs[4] is not None else np.ones(len(starts), dtype=np.int64)
            sl = [slice(None)] * x.ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            out = x[tuple(sl)]
        self.consts[node.output[0]] = np.asarray(out)

    # ---- operators on activations ---------------------------------------------------------
    def op_Conv(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        x = self.layer_of(ins[0], node)
        wdims = self.const_dims.get(ins[1]) or tuple(self.const(ins[1], node).shape)
        n, cin, h, w = self.b.shapes[x]
        cout, _, kh, kw = (int(d) for d in wdims)
        sh, sw = a.get("strides", [1, 1])
        dh, dw = a.get("dilations", [1, 1])
        g = int(a.get("group", 1))
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.refuse(node, "auto_pad is not supported; export with explicit pads")
        pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
        ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
        has_bias = len(ins) > 2 and bool(ins[2])
        self.add(node, Layer(
            name=self.unique(node), kind=conv_kind(cin, cout, g, (kh, kw)), op="conv", inputs=(x,),
            in_shapes=((n, cin, h, w),), out_shape=(n, cout, ho, wo), kernel=(kh, kw), stride=(sh, sw),
            padding=(pt, pl, pb, pr), dilation=(dh, dw), groups=g, has_bias=has_bias, attrs={"bias": has_bias},
        ))

    def op_BatchNormalization(self, node: onnx.NodeProto, ins: list[str]) -> None:
        layer = self._foldable(ins[0])
        if layer is None or layer.kind not in (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE,
                                               LayerKind.GROUPED, LayerKind.FC):
            raise self.refuse(node, "BatchNormalization not following a convolution")
        self._replace_last(layer.name, bn_params=layer.bn_params + 2 * layer.out_channels,
                           fused=(*layer.fused, "BatchNormalization"))
        self.alias[node.output[0]] = layer.name

    def _activation(self, node: onnx.NodeProto, ins: list[str], act: str) -> None:
        layer = self._foldable(ins[0])
        if layer is not None:
            self._replace_last(layer.name, activation=act, fused=(*layer.fused, node.op_type))
            self.alias[node.output[0]] = layer.name
            return
        x = self.layer_of(ins[0], node)
        shape = self.b.shapes[x]
        self.add(node, Layer(name=self.unique(node), kind=LayerKind.ACTIVATION, op="activation", inputs=(x,),
                             in_shapes=(shape,), out_shape=shape, activation=act, fused=(node.op_type,)))

    def op_Relu(self, node: onnx.NodeProto, ins: list[str]) -> None:
        self._activation(node, ins, "relu")

    def op_Clip(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        lo = float(self.const(ins[1], node)) if len(ins) > 1 and ins[1] else a.get("min", -np.inf)
        hi = float(self.const(ins[2], node)) if len(ins) > 2 and ins[2] else a.get("max", np.inf)
        if lo == 0 and hi == 6:
            self._activation(node, ins, "relu6")
        elif lo == 0 and np.isinf(hi):
            self._activation(node, ins, "relu")
        else:
            raise self.refuse(node, f"Clip({lo}, {hi}) is neither ReLU nor ReLU6")

    def op_HardSwish(self, node: onnx.NodeProto, ins: list[str]) -> None:
        self._activation(node, ins, "hardswish")

    def op_HardSigmoid(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
            raise self.refuse(node, "only PyTorch's hardsigmoid (alpha=1/6, beta=0.5) is supported")
        self._activation(node, ins, "hardsigmoid")

    def op_Sigmoid(self, node: onnx.NodeProto, ins: list[str]) -> None:
        x, out = ins[0], node.output[0]
        muls = [n for n in self.model.graph.node if n.op_type == "Mul" and out in n.input]
        if len(muls) == 1 and set(muls[0].input) == {x, out} and self.consumers[x] == 2 and self.consumers[out] == 1:
            layer = self._foldable_silu(x)
            if layer is not None:
                self.silu[muls[0].output[0]] = x
                return
        self._activation(node, ins, "sigmoid")

    def _foldable_silu(self, tensor: str) -> Layer | None:
        lname = self.alias.get(tensor)
        layer = next((x for x in self.b.layers if x.name == lname), None)
        if layer is None or layer.activation is not None or layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE):
            return None
        return layer

    def _eltwise(self, node: onnx.NodeProto, ins: list[str], kind: LayerKind) -> None:
        if not all(self.is_act(i) for i in ins):
            raise self.refuse(node, "element-wise with a constant operand")
        a, b = (self.layer_of(i, node) for i in ins)
        sa, sb = self.b.shapes[a], self.b.shapes[b]
        if sa[1] != sb[1] or (sb[2:] != sa[2:] and sb[2:] != (1, 1)):
            if sa[2:] == (1, 1) and kind is LayerKind.MUL:
                a, b, sa, sb = b, a, sb, sa
            else:
                raise self.refuse(node, f"shapes {sa} and {sb} do not broadcast channel-wise")
        self.add(node, Layer(name=self.unique(node), kind=kind, op=kind.value, inputs=(a, b), in_shapes=(sa, sb),
                             out_shape=sa))

    def op_Add(self, node: onnx.NodeProto, ins: list[str]) -> None:
        if not all(self.is_act(i) for i in ins):
            # MatMul + bias Add -> FC bias
            x = next(i for i in ins if self.is_act(i))
            lname = self.alias[x]
            layer = next(layer for layer in self.b.layers if layer.name == lname)
            if layer.kind is LayerKind.FC and not layer.has_bias and self.consumers[x] == 1:
                self._replace_last(lname, has_bias=True, attrs={"bias": True})
                self.alias[node.output[0]] = lname
                return
        self._eltwise(node, ins, LayerKind.ADD)

    def op_Mul(self, node: onnx.NodeProto, ins: list[str]) -> None:
        if node.output[0] in self.silu:
            x = self.silu.pop(node.output[0])
            layer = self._foldable_silu(x)
            assert layer is not None
            self._replace_last(layer.name, activation="silu", fused=(*layer.fused, "Sigmoid", "Mul"))
            self.alias[node.output[0]] = layer.name
            return
        self._eltwise(node, ins, LayerKind.MUL)

    def _pool(self, node: onnx.NodeProto, x: str, op: str, k: tuple[int, int], s: tuple[int, int],
              pads: tuple[int, int, int, int], ceil: bool, include_pad: bool = False) -> None:
        n, c, h, w = self.b.shapes[x]
        if op == "global_avgpool":
            ho = wo = 1
        else:
            rnd = np.ceil if ceil else np.floor
            ho = int(rnd((h + pads[0] + pads[2] - k[0]) / s[0])) + 1
            wo = int(rnd((w + pads[1] + pads[3] - k[1]) / s[1])) + 1
            if ceil:
                ho -= int((ho - 1) * s[0] >= h + pads[0])
                wo -= int((wo - 1) * s[1] >= w + pads[1])
        self.add(node, Layer(name=self.unique(node), kind=LayerKind.POOL, op=op, inputs=(x,),
                             in_shapes=((n, c, h, w),), out_shape=(n, c, ho, wo), kernel=k, stride=s, padding=pads,
                             attrs={"ceil_mode": ceil, "count_include_pad": include_pad}))

    def op_MaxPool(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        if a.get("dilations", [1, 1]) != [1, 1] or (len(node.output) > 1 and node.output[1]):
            raise self.refuse(node, "dilated pooling or pooling indices")
        self._pool(node, self.layer_of(ins[0], node), "maxpool", tuple(a["kernel_shape"]),
                   tuple(a.get("strides", [1, 1])), tuple(a.get("pads", [0, 0, 0, 0])), bool(a.get("ceil_mode", 0)))

    def op_AveragePool(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        self._pool(node, self.layer_of(ins[0], node), "avgpool", tuple(a["kernel_shape"]),
                   tuple(a.get("strides", [1, 1])), tuple(a.get("pads", [0, 0, 0, 0])), bool(a.get("ceil_mode", 0)),
                   bool(a.get("count_include_pad", 0)))

    def op_GlobalAveragePool(self, node: onnx.NodeProto, ins: list[str]) -> None:
        x = self.layer_of(ins[0], node)
        _, _, h, w = self.b.shapes[x]
        self._pool(node, x, "global_avgpool", (h, w), (1, 1), (0, 0, 0, 0), False)

    def op_ReduceMean(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        axes = a.get("axes")
        if axes is None and len(ins) > 1 and ins[1]:
            axes = [int(v) for v in self.const(ins[1], node)]
        if sorted(int(v) % 4 for v in (axes or [])) != [2, 3]:
            raise self.refuse(node, "ReduceMean over axes other than the spatial ones")
        self.op_GlobalAveragePool(node, ins)

    def op_Flatten(self, node: onnx.NodeProto, ins: list[str]) -> None:
        if _attrs(node).get("axis", 1) != 1:
            raise self.refuse(node, "Flatten with axis != 1")
        self._flatten(node, self.layer_of(ins[0], node))

    def _flatten(self, node: onnx.NodeProto, x: str) -> None:
        n, c, h, w = self.b.shapes[x]
        self.add(node, Layer(name=self.unique(node), kind=LayerKind.SHUFFLE, op="flatten", inputs=(x,),
                             in_shapes=((n, c, h, w),), out_shape=(n, c * h * w, 1, 1)))

    def op_Reshape(self, node: onnx.NodeProto, ins: list[str]) -> None:
        target = [int(v) for v in self.const(ins[1], node)]
        if ins[0] in self.pending:
            kind, info = self.pending.pop(ins[0])
            x, groups = info
            if kind == "transposed" and len(target) == 4:
                shape = self.b.shapes[x]
                self.add(node, Layer(name=self.unique(node), kind=LayerKind.SHUFFLE, op="channel_shuffle",
                                     inputs=(x,), in_shapes=(shape,), out_shape=shape, attrs={"groups": groups}))
                return
            raise self.refuse(node, "Reshape/Transpose pattern other than a channel shuffle")
        x = self.layer_of(ins[0], node)
        n, c, h, w = self.b.shapes[x]
        if len(target) == 5 and target[1] * target[2] == c and tuple(target[3:]) == (h, w):
            self.pending[node.output[0]] = ("split", (x, target[1]))
            return
        if len(target) == 2 and (target[1] in (-1, c * h * w)):
            self._flatten(node, x)
            return
        if len(target) == 4 and tuple(t for t in target if t > 0)[-3:] == (c, h, w):
            self.alias[node.output[0]] = x  # a no-op reshape
            return
        raise self.refuse(node, f"Reshape of {(n, c, h, w)} to {target}")

    def op_Transpose(self, node: onnx.NodeProto, ins: list[str]) -> None:
        perm = list(_attrs(node).get("perm", []))
        if ins[0] in self.pending and self.pending[ins[0]][0] == "split" and perm == [0, 2, 1, 3, 4]:
            self.pending[node.output[0]] = ("transposed", self.pending.pop(ins[0])[1])
            return
        raise self.refuse(node, f"Transpose with perm {perm} (only the channel shuffle pattern is supported)")

    def _slice_layer(self, node: onnx.NodeProto, out: str, x: str, start: int, end: int) -> None:
        n, c, h, w = self.b.shapes[x]
        start, end = max(0, min(start, c)), max(0, min(end, c))
        if end <= start:
            raise self.refuse(node, "empty channel slice")
        name = self.unique(node) if out == node.output[0] else f"{self.unique(node)}:{out}"
        self.b._add(Layer(name=name, kind=LayerKind.SHUFFLE, op="slice", inputs=(x,), in_shapes=((n, c, h, w),),
                          out_shape=(n, end - start, h, w), attrs={"start": start, "end": end}))
        self.alias[out] = name

    def op_Slice(self, node: onnx.NodeProto, ins: list[str]) -> None:
        x = self.layer_of(ins[0], node)
        starts, ends = self.const(ins[1], node), self.const(ins[2], node)
        axes = self.const(ins[3], node) if len(ins) > 3 and ins[3] else np.arange(len(starts))
        steps = self.const(ins[4], node) if len(ins) > 4 and ins[4] else np.ones(len(starts), np.int64)
        if len(starts) != 1 or int(axes[0]) % 4 != 1 or int(steps[0]) != 1:
            raise self.refuse(node, "only unit-step slices along the channel axis are supported")
        c = self.b.shapes[x][1]
        s, e = int(starts[0]), int(ends[0])
        s, e = (s + c if s < 0 else s), (e + c if e < 0 else e)
        self._slice_layer(node, node.output[0], x, s, e)

    def op_Split(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        x = self.layer_of(ins[0], node)
        c = self.b.shapes[x][1]
        if int(a.get("axis", 0)) % 4 != 1:
            raise self.refuse(node, "Split along an axis other than channels")
        sizes = a.get("split")
        if sizes is None and len(ins) > 1 and ins[1]:
            sizes = [int(v) for v in self.const(ins[1], node)]
        if sizes is None:
            k = len(node.output)
            sizes = [c // k] * k
        start = 0
        for out, size in zip(node.output, sizes):
            self._slice_layer(node, out, x, start, start + int(size))
            start += int(size)

    def op_Concat(self, node: onnx.NodeProto, ins: list[str]) -> None:
        if int(_attrs(node).get("axis", 1)) % 4 != 1:
            raise self.refuse(node, "Concat along an axis other than channels")
        xs = [self.layer_of(i, node) for i in ins]
        shapes = [self.b.shapes[x] for x in xs]
        n, _, h, w = shapes[0]
        self.add(node, Layer(name=self.unique(node), kind=LayerKind.CONCAT, op="concat", inputs=tuple(xs),
                             in_shapes=tuple(shapes), out_shape=(n, sum(s[1] for s in shapes), h, w)))

    def _fc(self, node: onnx.NodeProto, x: str, cout: int, has_bias: bool) -> None:
        n, c, h, w = self.b.shapes[x]
        self.add(node, Layer(name=self.unique(node), kind=LayerKind.FC, op="fc", inputs=(x,),
                             in_shapes=((n, c * h * w, 1, 1),), out_shape=(n, cout, 1, 1), has_bias=has_bias,
                             attrs={"bias": has_bias}))

    def op_Gemm(self, node: onnx.NodeProto, ins: list[str]) -> None:
        a = _attrs(node)
        if a.get("transA", 0):
            raise self.refuse(node, "Gemm with transA")
        wdims = self.const_dims.get(ins[1]) or tuple(self.const(ins[1], node).shape)
        cout = int(wdims[0] if a.get("transB", 0) else wdims[1])
        self._fc(node, self.layer_of(ins[0], node), cout, len(ins) > 2 and bool(ins[2]))

    def op_MatMul(self, node: onnx.NodeProto, ins: list[str]) -> None:
        if ins[1] in self.alias:
            raise self.refuse(node, "MatMul of two activations")
        wdims = self.const_dims.get(ins[1]) or tuple(self.const(ins[1], node).shape)
        self._fc(node, self.layer_of(ins[0], node), int(wdims[-1]), False)


def import_onnx(path: str | Path, input_shape: Shape | None = None, name: str | None = None) -> Network:
    """Import an ONNX CNN (opset 11 to 21) into the IR."""
    path = Path(path)
    model = _load(path)
    imp = _Importer(model, name or path.stem, input_shape)
    return imp.run()
