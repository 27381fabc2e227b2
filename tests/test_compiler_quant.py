"""INT8 quantization and its ONNX export."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest

from dualopu.compiler import (
    build_qonnx,
    compile_network,
    export_qonnx,
    float_forward,
    quantize,
    random_weights,
    run_qonnx,
)
from dualopu.compiler.quant import make_table
from dualopu.errors import ModelError
from dualopu.hw.config import load_hardware
from dualopu.ir.network import MAC_KINDS, LayerKind
from dualopu.sim import run_functional_all
from dualopu.sim.testnets import NetBuilder, all_kinds_net


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


@pytest.mark.parametrize("per_channel", [True, False])
def test_quantized_network_tracks_float(per_channel: bool) -> None:
    """The INT8 network (run by the simulator) stays close to the float network it came from."""
    net = all_kinds_net(32)
    q = quantize(net, seed=3, per_channel=per_channel)
    img = np.random.default_rng(99).standard_normal(net.input_shape)
    ref, _ = float_forward(net, random_weights(net, 3), img)
    sim = run_functional_all(compile_network(net, load_hardware("dual-opu")), q, q.quantize_input(img))
    for layer in net.layers:
        assert _cos(ref[layer.name], q.dequantize(layer.name, sim[layer.name])) > 0.97, layer.name


def test_weight_format_and_scales() -> None:
    net = all_kinds_net(32)
    q = quantize(net, seed=0)
    for layer, ql in zip(net.layers, q.layers, strict=True):
        if layer.kind in MAC_KINDS:
            assert ql.weight is not None and ql.weight.dtype == np.int8
            assert ql.weight.min() >= -127 and ql.weight.max() <= 127
            assert np.abs(ql.weight.reshape(len(ql.weight), -1)).max(axis=1).min() == 127  # per channel
            assert ql.mult.dtype == np.float32 and ql.mult.shape == (layer.out_channels,)
            assert (ql.bias is not None) == layer.has_bias
    # data-movement layers share their input's scale (no arithmetic)
    for layer in net.layers:
        if layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE) or layer.op == "maxpool":
            assert all(q.scales[i] == q.scales[layer.name] for i in layer.inputs)


def test_given_weights_used_and_checked() -> None:
    net = all_kinds_net(32)
    w = random_weights(net, 7)
    a = quantize(net, weights=w)
    b = quantize(net, seed=7)
    assert all(np.array_equal(x.weight, y.weight) for x, y in zip(a.layers, b.layers, strict=True)
               if x.weight is not None and y.weight is not None)
    as_tuples = {k: (v["weight"], v.get("bias")) for k, v in w.items()}
    c = quantize(net, weights=as_tuples)
    assert c.scales == a.scales
    bad = dict(w)
    bad["conv0"] = {"weight": np.zeros((3, 3))}
    with pytest.raises(ModelError, match="does not fit"):
        quantize(net, weights=bad)
    missing = {k: v for k, v in w.items() if k != "fc23"}
    with pytest.raises(ModelError, match="no entry"):
        quantize(net, weights=missing)


def test_calibration_images() -> None:
    net = all_kinds_net(32)
    imgs = np.random.default_rng(0).standard_normal((3, *net.input_shape[1:]))
    q1 = quantize(net, calibration=imgs)
    q2 = quantize(net, calibration=[imgs[i] for i in range(3)])
    assert q1.scales == q2.scales
    assert q1.input_scale == pytest.approx(np.abs(imgs).max() / 127)
    with pytest.raises(ModelError):
        quantize(net, calibration=np.zeros((2, 2)))


@pytest.mark.parametrize("act", ["hardswish", "hardsigmoid", "sigmoid", "silu"])
def test_activation_tables(act: str) -> None:
    t = make_table(act, 0.05, 0.02)
    assert t.dtype == np.int8 and t.shape == (256,)
    x = (np.arange(256) - 128) * 0.05
    if act in ("hardsigmoid", "sigmoid"):
        assert np.all(np.diff(t.astype(int)) >= 0)  # monotone
    ref = {"hardswish": x * np.clip(x + 3, 0, 6) / 6, "hardsigmoid": np.clip(x + 3, 0, 6) / 6,
           "sigmoid": 1 / (1 + np.exp(-x)), "silu": x / (1 + np.exp(-x))}[act]
    assert np.abs(t * 0.02 - np.clip(ref, -128 * 0.02, 127 * 0.02)).max() <= 0.01 + 1e-12


def test_export_is_valid_onnx_with_integer_ops(tmp_path) -> None:
    net = all_kinds_net(32)
    q = quantize(net)
    path = export_qonnx(q, tmp_path / "q.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ops = {n.op_type for n in model.graph.node}
    assert {"ConvInteger", "MaxPool", "ReduceSum", "Round", "Gather"} <= ops
    assert not ops & {"Conv", "QLinearConv", "QuantizeLinear"}
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT8
    x = q.quantize_input(np.random.default_rng(0).standard_normal(net.input_shape))
    out = run_qonnx(path, x)
    assert list(out) == list(net.outputs) and out[net.outputs[0]].dtype == np.int8


def test_onnxruntime_optimizations_do_not_change_results() -> None:
    """With every graph optimization on, onnxruntime still computes the same bits."""
    net = all_kinds_net(32)
    q = quantize(net, seed=5)
    x = q.quantize_input(np.random.default_rng(1).standard_normal(net.input_shape) * 3)
    model = build_qonnx(q, intermediate=True)
    a = run_qonnx(model, x, optimize=False)
    b = run_qonnx(model, x, optimize=True)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_relu6_and_relu_clip_bounds() -> None:
    b = NetBuilder("clip", (1, 3, 8, 8))
    y = b.conv("input", 4, 3, act="relu6")
    b.conv(y, 4, 3, act="relu")
    q = quantize(b.build(), seed=0)
    assert (q.layers[0].lo, q.layers[1].lo) == (0, 0)
    assert q.layers[0].hi == min(127, int(np.rint(6 / q.scales["conv0"])))
    assert q.layers[0].table is None


HAS_ZOO = importlib.util.find_spec("dualopu.ir.zoo") is not None and importlib.util.find_spec(
    "dualopu.ir.onnx_export") is not None
ZOO = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "shufflenet_v2_x1_0",
       "squeezenet1_1", "mnasnet1_0", "efficientnet_b0", "resnet18")


@pytest.mark.skipif(not HAS_ZOO, reason="dualopu.ir.zoo / onnx_export not available")
@pytest.mark.parametrize("name", ZOO)
def test_int8_network_tracks_onnxruntime_float(name: str) -> None:
    """Independent references: the float network exported by `ir.onnx_export` and run by
    onnxruntime. Our float semantics (calibration) match it, and the simulated INT8 network's
    output stays close to it."""
    import onnxruntime as ort

    from dualopu.ir.onnx_export import build_onnx
    from dualopu.ir.onnx_export import random_weights as ir_weights
    from dualopu.ir.zoo import build  # type: ignore[import-not-found]
    from dualopu.sim import run_functional

    net = build(name, input_shape=(1, 3, 64, 64))
    w = ir_weights(net, 0)
    sess = ort.InferenceSession(build_onnx(net, w).SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(net.input_shape).astype(np.float32)
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float64)
    mine, _ = float_forward(net, w, x)
    out = net.outputs[0]
    assert np.abs(mine[out].reshape(ref.shape) - ref).max() <= 1e-3 * np.abs(ref).max()
    q = quantize(net, weights=w, calibration=[x[0]])
    y = run_functional(compile_network(net, load_hardware("dual-opu")), q, q.quantize_input(x))
    assert _cos(q.dequantize(out, y), ref) > 0.95
