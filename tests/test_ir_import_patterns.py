"""Real-export patterns the importer must cost exactly, and nonsense it must refuse.

The graphs are built here with onnx.helper, so the expected MACs come from the textbook
formula applied by hand to the graph we wrote (Cout*Hout*Wout*Cin/g*kh*kw), not from the
importer. These tests catch a wrong fold, a lost layer or a wrong output size; they cannot
catch an error in the formula itself (test_ir_zoo checks that against PyTorch's counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dualopu.errors import DualOpuError
from dualopu.ir.loader import load_network
from dualopu.ir.network import LayerKind
from dualopu.ir.onnx_import import import_onnx


class G:
    """A tiny graph builder: tensors by name, weights as zero initializers."""

    def __init__(self, shape: list[Any]) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.shape = shape
        self.k = 0

    def name(self, op: str) -> str:
        self.k += 1
        return f"{op.lower()}{self.k}"

    def init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, ins: list[str], n_out: int = 1, **kw: Any) -> Any:
        nm = self.name(op)
        outs = [f"{nm}_out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, ins, outs, name=nm, **kw))
        return outs[0] if n_out == 1 else outs

    def conv(
        self, x: str, cin: int, cout: int, k: int, s: int = 1, p: int = 0, g: int = 1, d: int = 1
    ) -> str:
        w = self.init(f"w{self.k + 1}", np.zeros((cout, cin // g, k, k), np.float32))
        return self.node(
            "Conv", [x, w], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=g, dilations=[d, d]
        )

    def bn(self, x: str, c: int) -> str:
        ps = [self.init(f"bn{self.k + 1}_{n}", np.ones(c, np.float32)) for n in ("s", "b", "m", "v")]
        return self.node("BatchNormalization", [x, *ps])

    def save(self, out: str, path: Path) -> Path:
        graph = helper.make_graph(
            self.nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(path))
        return path


def conv_macs(cout: int, ho: int, wo: int, cin_per_group: int, k: int) -> int:
    return cout * ho * wo * cin_per_group * k * k


def test_densenet_bn_after_concat(tmp_path: Path) -> None:
    """Concat -> BN -> ReLU -> 1x1 conv (DenseNet pre-activation): the BN+ReLU is an affine layer."""
    g = G([1, 8, 16, 16])
    a = g.conv("x", 8, 4, 3, p=1)
    cat = g.node("Concat", ["x", a], axis=1)
    r = g.node("Relu", [g.bn(cat, 12)])
    y = g.conv(r, 12, 16, 1)
    net = import_onnx(g.save(y, tmp_path / "m.onnx"))
    assert net.total_macs == conv_macs(4, 16, 16, 8, 3) + conv_macs(16, 16, 16, 12, 1)
    aff = [layer for layer in net.layers if layer.op == "affine"]
    assert len(aff) == 1 and aff[0].activation == "relu" and aff[0].kind is LayerKind.ACTIVATION
    assert aff[0].bn_params == 24 and aff[0].elementwise_ops == 12 * 16 * 16


def test_mixnet_split_convs_concat_bn(tmp_path: Path) -> None:
    """Split -> 3x3 / 5x5 depthwise -> Concat -> BN: the BN folds exactly into the two convs."""
    g = G([1, 16, 20, 20])
    s0, s1 = g.node("Split", ["x", g.init("sp", np.array([8, 8], np.int64))], n_out=2, axis=1)
    c0 = g.conv(s0, 8, 8, 3, p=1, g=8)
    c1 = g.conv(s1, 8, 8, 5, p=2, g=8)
    y = g.node("Relu", [g.bn(g.node("Concat", [c0, c1], axis=1), 16)])
    net = import_onnx(g.save(y, tmp_path / "m.onnx"))
    assert net.total_macs == conv_macs(8, 20, 20, 1, 3) + conv_macs(8, 20, 20, 1, 5)
    assert not [layer for layer in net.layers if layer.op == "affine"]
    assert [layer.bn_params for layer in net.layers if layer.kind is LayerKind.DEPTHWISE] == [16, 16]


def test_bn_folds_into_unpadded_consumer_conv(tmp_path: Path) -> None:
    """Input -> BN -> 1x1 conv: exact fold into the consumer, no extra layer."""
    g = G([1, 4, 8, 8])
    y = g.conv(g.bn("x", 4), 4, 6, 1)
    net = import_onnx(g.save(y, tmp_path / "m.onnx"))
    assert (
        len(net.layers) == 1 and net.layers[0].bn_params == 8 and net.total_macs == conv_macs(6, 8, 8, 4, 1)
    )


def test_bn_before_padded_conv_is_an_affine(tmp_path: Path) -> None:
    """Padding inserts zeros after the BN, so folding would not be exact: an affine layer instead."""
    g = G([1, 4, 8, 8])
    y = g.conv(g.bn("x", 4), 4, 6, 3, p=1)
    net = import_onnx(g.save(y, tmp_path / "m.onnx"))
    assert [layer.op for layer in net.layers] == ["affine", "conv"]


def _tf_same(g: G, x: str, c: int, k: int, s: int) -> str:
    """timm's pad_same as torch exports it: pads computed from Shape with Ceil/Sub/Max, then Pad."""
    pads = []
    for axis in (2, 3):
        size = g.node("Gather", [g.node("Shape", [x]), g.init(f"ax{g.k}", np.array(axis, np.int64))])
        sf = g.node("Cast", [size], to=TensorProto.FLOAT)
        out = g.node("Ceil", [g.node("Div", [sf, g.init(f"s{g.k}", np.array(float(s), np.float32))])])
        outi = g.node("Cast", [out], to=TensorProto.INT64)
        need = g.node(
            "Sub",
            [
                g.node(
                    "Add",
                    [
                        g.node(
                            "Mul",
                            [
                                g.node("Sub", [outi, g.init(f"one{g.k}", np.array(1))]),
                                g.init(f"st{g.k}", np.array(s)),
                            ],
                        ),
                        g.init(f"k{g.k}", np.array(k)),
                    ],
                ),
                size,
            ],
        )
        total = g.node("Max", [need, g.init(f"zero{g.k}", np.array(0))])
        lo = g.node("Div", [total, g.init(f"two{g.k}", np.array(2))])
        hi = g.node("Sub", [total, lo])
        pads.append((lo, hi))
    uns = [
        g.node("Unsqueeze", [t, g.init(f"u{g.k}", np.array([0]))])
        for t in (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
    ]
    zeros = g.init(f"z{g.k}", np.zeros(2, np.int64))
    vec = g.node("Concat", [zeros, uns[0], uns[1], zeros, uns[2], uns[3]], axis=0)
    padded = g.node("Pad", [x, vec], mode="constant")
    return g.conv(padded, c, c, k, s=s, g=c)


@pytest.mark.parametrize(("size", "stride"), [(16, 1), (16, 2), (15, 2)])
def test_tf_same_padding_folds(tmp_path: Path, size: int, stride: int) -> None:
    """TF-SAME: out = ceil(in / stride); pads (possibly asymmetric) land in the conv."""
    g = G([1, 8, size, size])
    y = _tf_same(g, "x", 8, 3, stride)
    net = import_onnx(g.save(y, tmp_path / "m.onnx"))
    out = -(-size // stride)
    total = max((out - 1) * stride + 3 - size, 0)
    assert len(net.layers) == 1
    layer = net.layers[0]
    assert layer.out_shape == (1, 8, out, out)
    assert layer.padding == (total // 2, total // 2, total - total // 2, total - total // 2)
    assert net.total_macs == conv_macs(8, out, out, 1, 3)
    # the same file at another size re-derives the pads
    assert import_onnx(tmp_path / "m.onnx", input_shape=(1, 8, 2 * size, 2 * size)).layers[0].out_shape[
        2
    ] == -(-2 * size // stride)


def test_pad_not_before_conv_refused(tmp_path: Path) -> None:
    g = G([1, 4, 8, 8])
    y = g.node("Relu", [g.node("Pad", ["x", g.init("p", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))])])
    with pytest.raises(DualOpuError, match=r"Pad \(node 'pad1'\).*single Conv"):
        import_onnx(g.save(y, tmp_path / "m.onnx"))


def test_hard_coded_reshape_refused_at_another_size(tmp_path: Path) -> None:
    """A static export that flattens with a constant [1, C*H*W] cannot run at another size: named."""
    g = G([1, 4, 8, 8])
    c = g.conv("x", 4, 4, 3, p=1)
    r = g.node("Reshape", [c, g.init("shape", np.array([1, 256], np.int64))])
    y = g.node("Gemm", [r, g.init("fw", np.zeros((10, 256), np.float32))], transB=1)
    path = g.save(y, tmp_path / "m.onnx")
    assert import_onnx(path).total_macs == conv_macs(4, 8, 8, 4, 3) + 2560
    with pytest.raises(DualOpuError, match=r"node 'reshape2'.*another input size"):
        load_network(path, input_shape=(1, 4, 12, 12))


# ---- nonsense refused ------------------------------------------------------------------
def _one_conv(tmp_path: Path, shape: list[int], wshape: tuple[int, ...], **kw: Any) -> Path:
    g = G(shape)
    w = g.init("w", np.zeros(wshape, np.float32))
    y = g.node("Conv", ["x", w], **kw)
    return g.save(y, tmp_path / "m.onnx")


@pytest.mark.parametrize(
    ("shape", "wshape", "kw", "match"),
    [
        ([1, 4, 8, 8], (4, 4, 3, 3), {"dilations": [0, 1]}, r"node 'conv1'.*dilations=\[0, 1\]"),
        ([1, 4, 8, 8], (4, 4, 3, 3), {"strides": [0, 1]}, r"node 'conv1'.*strides"),
        ([1, 4, 4, 4], (4, 4, 7, 7), {}, r"node 'conv1'.*larger than the padded input 4x4"),
        ([1, 4, 8, 8], (4, 4, 3, 3), {"dilations": [4, 4]}, r"node 'conv1'.*kernel extent 9x9"),
        ([1, 6, 8, 8], (6, 1, 3, 3), {"group": 4}, r"node 'conv1'.*group=4 does not divide"),
        ([1, 4, 8, 8], (4, 3, 3, 3), {}, r"node 'conv1'.*expect 3 input channels.*has 4"),
        ([1, 4, 8, 8], (4, 4, 3, 3), {"pads": [-1, 0, 0, 0]}, r"node 'conv1'.*pads"),
    ],
)
def test_nonsense_conv_refused(
    tmp_path: Path, shape: list[int], wshape: tuple[int, ...], kw: dict[str, Any], match: str
) -> None:
    with pytest.raises(DualOpuError, match=match):
        import_onnx(_one_conv(tmp_path, shape, wshape, **kw))


def test_duplicate_node_outputs_refused(tmp_path: Path) -> None:
    g = G([1, 4, 8, 8])
    g.nodes.append(helper.make_node("Relu", ["x"], ["y"], name="a"))
    g.nodes.append(helper.make_node("Relu", ["x"], ["y"], name="b"))
    with pytest.raises(DualOpuError, match=r"node 'b'.*'y' is also produced by node 'a'"):
        import_onnx(g.save("y", tmp_path / "m.onnx"))


def test_fc_weights_disagreeing_with_input_refused(tmp_path: Path) -> None:
    g = G([1, 4, 2, 2])
    y = g.node("Gemm", [g.node("Flatten", ["x"]), g.init("fw", np.zeros((10, 15), np.float32))], transB=1)
    with pytest.raises(DualOpuError, match=r"node 'gemm2'.*expect 15 input features.*has 16"):
        import_onnx(g.save(y, tmp_path / "m.onnx"))


@pytest.mark.parametrize(
    "shape", ["1x3x224", "3x224", "1x3x0x224", "1x3x-2x224", "2x3x224x224", "1x3x224x224x1"]
)
def test_bad_input_shapes_refused(tmp_path: Path, shape: str) -> None:
    g = G(["N", 3, "H", "W"])
    y = g.conv("x", 3, 4, 3, p=1)
    path = g.save(y, tmp_path / "m.onnx")
    with pytest.raises(DualOpuError, match="input shape"):
        load_network(path, input_shape=shape)


@pytest.mark.parametrize("shape", [(1, 3, 224), (1, 3, 0, 4), (1, True, 8, 8), (1, 3, 8.0, 8)])
def test_bad_input_shape_tuples_refused(tmp_path: Path, shape: Any) -> None:
    g = G(["N", 3, "H", "W"])
    path = g.save(g.conv("x", 3, 4, 3, p=1), tmp_path / "m.onnx")
    with pytest.raises(DualOpuError, match="input shape"):
        load_network(path, input_shape=shape)


def test_channel_mismatch_with_static_input_refused(tmp_path: Path) -> None:
    g = G([1, 3, 8, 8])
    path = g.save(g.conv("x", 3, 4, 3, p=1), tmp_path / "m.onnx")
    with pytest.raises(DualOpuError, match="has 1 channels; the model's input 'x' has 3"):
        load_network(path, input_shape=(1, 1, 8, 8))


def _cli(*args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "dualopu.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_inspect_static_export_at_160() -> None:
    """`dualopu inspect` passes --input-shape through to re-derive a static-224 export's shapes."""
    from conftest import MODELS_DIR

    path = MODELS_DIR / "mobilenet_v2.onnx"
    if not path.is_file():
        pytest.skip("shared models not present")
    r = _cli("inspect", str(path), "--input-shape", "1x3x160x160")
    assert r.returncode == 0, r.stderr
    assert "160" in r.stdout


def test_cli_inspect_hard_coded_reshape_refused_in_one_line(tmp_path: Path) -> None:
    g = G([1, 4, 8, 8])
    r = g.node("Reshape", [g.conv("x", 4, 4, 3, p=1), g.init("shape", np.array([1, 256], np.int64))])
    path = g.save(
        g.node("Gemm", [r, g.init("fw", np.zeros((10, 256), np.float32))], transB=1), tmp_path / "m.onnx"
    )
    res = _cli("inspect", str(path), "--input-shape", "1x4x12x12")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "reshape2" in res.stderr


def test_affine_layer_is_costed_and_refused_by_the_compiler(tmp_path: Path) -> None:
    """The cost model prices the affine as element-wise work; compile names it rather than guessing."""
    from dualopu.compiler import compile_network
    from dualopu.cost import evaluate
    from dualopu.hw import load_hardware

    g = G([1, 8, 16, 16])
    y = g.conv(
        g.node("Relu", [g.bn(g.node("Concat", ["x", g.conv("x", 8, 4, 3, p=1)], axis=1), 12)]), 12, 16, 1
    )
    net = import_onnx(g.save(y, tmp_path / "m.onnx"))
    hw = load_hardware("dual-opu")
    assert evaluate(net, hw) is not None
    with pytest.raises(DualOpuError, match="affine"):
        compile_network(net, hw)
