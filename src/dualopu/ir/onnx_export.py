"""Export a Network to ONNX (opset 17) that onnxruntime runs and `import_onnx` reads back
to the identical layer list. Weights are seeded random unless given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dualopu.ir.network import Layer, LayerKind, Network
from dualopu.util import write_atomic

Weights = dict[str, dict[str, np.ndarray]]


def _act_nodes(
    act: str | None, x: str, out: str, name: str, inits: list[TensorProto]
) -> list[onnx.NodeProto]:
    """Nodes applying ``act`` to tensor ``x`` producing ``out`` (identity when None)."""
    if act is None:
        return [helper.make_node("Identity", [x], [out], name=f"{name}/identity")]
    if act == "relu":
        return [helper.make_node("Relu", [x], [out], name=f"{name}/relu")]
    if act == "relu6":
        lo, hi = f"{name}/clip_min", f"{name}/clip_max"
        inits += [
            numpy_helper.from_array(np.array(0.0, np.float32), lo),
            numpy_helper.from_array(np.array(6.0, np.float32), hi),
        ]
        return [helper.make_node("Clip", [x, lo, hi], [out], name=f"{name}/clip")]
    if act == "hardswish":
        return [helper.make_node("HardSwish", [x], [out], name=f"{name}/hardswish")]
    if act == "hardsigmoid":
        return [
            helper.make_node("HardSigmoid", [x], [out], name=f"{name}/hardsigmoid", alpha=1 / 6, beta=0.5)
        ]
    if act == "sigmoid":
        return [helper.make_node("Sigmoid", [x], [out], name=f"{name}/sigmoid")]
    if act == "silu":
        return [
            helper.make_node("Sigmoid", [x], [f"{name}/sig"], name=f"{name}/sigmoid"),
            helper.make_node("Mul", [x, f"{name}/sig"], [out], name=f"{name}/mul"),
        ]
    raise ValueError(f"unknown activation {act!r}")


def random_weights(net: Network, seed: int = 0) -> Weights:
    """He-initialised weights (and biases) for every conv/FC layer, seeded."""
    rng = np.random.default_rng(seed)
    out: Weights = {}
    for layer in net.layers:
        if layer.kind in (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.GROUPED):
            shape = (layer.out_channels, layer.in_channels // layer.groups, *layer.kernel)
        elif layer.kind is LayerKind.FC:
            shape = (layer.out_channels, layer.in_channels)
        else:
            continue
        fan_in = int(np.prod(shape[1:]))
        w = {"weight": (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)}
        if layer.has_bias:
            w["bias"] = (rng.standard_normal(layer.out_channels) * 0.05).astype(np.float32)
        out[layer.name] = w
    return out


def build_onnx(net: Network, weights: Weights | None = None, seed: int = 0) -> onnx.ModelProto:
    """The ONNX model of ``net`` (float32, fixed 1xCxHxW input named like the network input)."""
    weights = weights if weights is not None else random_weights(net, seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []
    consumers: dict[str, list[Layer]] = {}
    for layer in net.layers:
        for i in layer.inputs:
            consumers.setdefault(i, []).append(layer)

    def flat_for_fc(layer: Layer) -> bool:
        """A global pool feeding only FC layers is exported 2-D (ReduceMean keepdims=0), as torch does."""
        users = consumers.get(layer.name, [])
        return layer.op == "global_avgpool" and bool(users) and all(u.kind is LayerKind.FC for u in users)

    for layer in net.layers:
        name, ins = layer.name, list(layer.inputs)
        raw = f"{name}/raw"
        if layer.kind in (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.GROUPED):
            w = weights[name]
            inits.append(numpy_helper.from_array(w["weight"], f"{name}.weight"))
            conv_in = [ins[0], f"{name}.weight"]
            if layer.has_bias:
                inits.append(numpy_helper.from_array(w["bias"], f"{name}.bias"))
                conv_in.append(f"{name}.bias")
            conv_out = f"{name}/conv" if layer.bn_params else raw
            nodes.append(
                helper.make_node(
                    "Conv",
                    conv_in,
                    [conv_out],
                    name=name,
                    kernel_shape=list(layer.kernel),
                    strides=list(layer.stride),
                    pads=list(layer.padding),
                    dilations=list(layer.dilation),
                    group=layer.groups,
                )
            )
            if layer.bn_params:
                c = layer.out_channels
                for suffix, val in (
                    ("scale", np.ones(c)),
                    ("bias", np.zeros(c)),
                    ("mean", np.zeros(c)),
                    ("var", np.ones(c)),
                ):
                    inits.append(numpy_helper.from_array(val.astype(np.float32), f"{name}.bn.{suffix}"))
                nodes.append(
                    helper.make_node(
                        "BatchNormalization",
                        [conv_out] + [f"{name}.bn.{s}" for s in ("scale", "bias", "mean", "var")],
                        [raw],
                        name=f"{name}/bn",
                    )
                )
        elif layer.kind is LayerKind.FC:
            w = weights[name]
            inits.append(numpy_helper.from_array(w["weight"], f"{name}.weight"))
            gin = [ins[0], f"{name}.weight"]
            if layer.has_bias:
                inits.append(numpy_helper.from_array(w["bias"], f"{name}.bias"))
                gin.append(f"{name}.bias")
            nodes.append(helper.make_node("Gemm", gin, [raw], name=name, transB=1))
        elif layer.kind is LayerKind.POOL:
            if layer.op == "global_avgpool":
                if flat_for_fc(layer):
                    nodes.append(
                        helper.make_node("ReduceMean", ins, [raw], name=name, axes=[2, 3], keepdims=0)
                    )
                else:
                    nodes.append(helper.make_node("GlobalAveragePool", ins, [raw], name=name))
            else:
                extra: dict[str, Any] = (
                    {"count_include_pad": int(layer.attrs.get("count_include_pad", False))}
                    if layer.op == "avgpool"
                    else {}
                )
                nodes.append(
                    helper.make_node(
                        "MaxPool" if layer.op == "maxpool" else "AveragePool",
                        ins,
                        [raw],
                        name=name,
                        kernel_shape=list(layer.kernel),
                        strides=list(layer.stride),
                        pads=list(layer.padding),
                        ceil_mode=int(layer.attrs.get("ceil_mode", False)),
                        **extra,
                    )
                )
        elif layer.kind in (LayerKind.ADD, LayerKind.MUL):
            nodes.append(
                helper.make_node("Add" if layer.kind is LayerKind.ADD else "Mul", ins, [raw], name=name)
            )
        elif layer.kind is LayerKind.CONCAT:
            nodes.append(helper.make_node("Concat", ins, [raw], name=name, axis=1))
        elif layer.kind is LayerKind.ACTIVATION and layer.op == "affine":
            c = (
                layer.out_channels
            )  # identity statistics: a BatchNormalization the importer reads back as affine
            for suffix, val in (
                ("scale", np.ones(c)),
                ("bias", np.zeros(c)),
                ("mean", np.zeros(c)),
                ("var", np.ones(c)),
            ):
                inits.append(numpy_helper.from_array(val.astype(np.float32), f"{name}.bn.{suffix}"))
            nodes.append(
                helper.make_node(
                    "BatchNormalization",
                    [ins[0]] + [f"{name}.bn.{s}" for s in ("scale", "bias", "mean", "var")],
                    [raw],
                    name=name,
                )
            )
        elif layer.kind is LayerKind.ACTIVATION:
            nodes += _act_nodes(layer.activation, ins[0], name, name, inits)
            continue
        elif layer.op == "slice":
            consts = {"starts": layer.attrs["start"], "ends": layer.attrs["end"], "axes": 1}
            for k, v in consts.items():
                inits.append(numpy_helper.from_array(np.array([v], np.int64), f"{name}.{k}"))
            nodes.append(
                helper.make_node(
                    "Slice", [ins[0], f"{name}.starts", f"{name}.ends", f"{name}.axes"], [raw], name=name
                )
            )
        elif layer.op == "channel_shuffle":
            _, c, h, w_ = layer.out_shape
            g = int(layer.attrs["groups"])
            inits += [
                numpy_helper.from_array(np.array([1, g, c // g, h, w_], np.int64), f"{name}.shape5"),
                numpy_helper.from_array(np.array([1, c, h, w_], np.int64), f"{name}.shape4"),
            ]
            nodes += [
                helper.make_node(
                    "Reshape", [ins[0], f"{name}.shape5"], [f"{name}/r5"], name=f"{name}/reshape"
                ),
                helper.make_node(
                    "Transpose", [f"{name}/r5"], [f"{name}/t"], name=f"{name}/transpose", perm=[0, 2, 1, 3, 4]
                ),
                helper.make_node("Reshape", [f"{name}/t", f"{name}.shape4"], [raw], name=name),
            ]
        elif layer.op == "flatten":
            nodes.append(helper.make_node("Flatten", ins, [raw], name=name, axis=1))
        else:
            raise ValueError(f"cannot export layer {name!r} ({layer.kind.value}/{layer.op})")
        act = layer.activation if layer.kind is not LayerKind.ACTIVATION or layer.op == "affine" else None
        if act is None:
            nodes[-1].output[0] = name
        else:
            nodes += _act_nodes(act, raw, name, name, inits)

    out_shapes = {layer.name: layer.out_shape for layer in net.layers}
    outputs = [
        helper.make_tensor_value_info(
            o,
            TensorProto.FLOAT,
            [1, out_shapes[o][1]]
            if net.layer(o).out_shape[2:] == (1, 1) and net.layer(o).kind in (LayerKind.FC, LayerKind.SHUFFLE)
            else list(out_shapes[o]),
        )
        for o in net.outputs
    ]
    graph = helper.make_graph(
        nodes,
        net.name,
        [helper.make_tensor_value_info(net.input_name, TensorProto.FLOAT, list(net.input_shape))],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="dualopu")
    model.ir_version = 8
    return model


def export_onnx(net: Network, path: str | Path, weights: Weights | None = None, seed: int = 0) -> Path:
    """Write ``net`` as an ONNX file (atomically)."""
    model = build_onnx(net, weights, seed)
    onnx.checker.check_model(model)
    return write_atomic(path, model.SerializeToString())
