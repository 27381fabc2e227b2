"""The built-in zoo: published MAC/parameter counts, any input size, true depthwise MACs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualopu.ir import LayerKind, conv_kind
from dualopu.ir.loader import load_network
from dualopu.ir.zoo import ZOO, Builder, build

# Published figures (torchvision docs / the papers), independent of macs.json.
PUBLISHED = {
    "mobilenet_v1": (569e6, 4.23e6),
    "mobilenet_v2": (300e6, 3.50e6),
    "mobilenet_v3_large": (217e6, 5.48e6),
    "mobilenet_v3_small": (56.5e6, 2.54e6),
    "shufflenet_v2_x1_0": (146e6, 2.28e6),
    "squeezenet1_1": (350e6, 1.24e6),
    "mnasnet1_0": (314e6, 4.38e6),
    "efficientnet_b0": (386e6, 5.29e6),
    "resnet18": (1814e6, 11.69e6),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_published_counts_within_2_percent(name: str) -> None:
    net = build(name)
    macs, params = PUBLISHED[name]
    assert net.total_macs == pytest.approx(macs, rel=0.02)
    assert net.total_params == pytest.approx(params, rel=0.02)


@pytest.mark.parametrize("name", [n for n in ZOO if n != "mobilenet_v1"])
def test_matches_pytorch_hook_counts(name: str, reference_counts: dict) -> None:
    ref = reference_counts[f"{name}.onnx"]
    net = build(name)
    assert net.total_macs == pytest.approx(ref["macs"], rel=0.005)
    assert net.total_params == pytest.approx(ref["params"], rel=0.005)


@pytest.mark.parametrize("name", list(ZOO))
@pytest.mark.parametrize("shape", [(1, 3, 96, 96), (1, 3, 160, 160), (1, 3, 193, 257)])
def test_any_input_size(name: str, shape: tuple[int, int, int, int]) -> None:
    net = build(name, shape)
    net.validate()
    assert net.input_shape == shape
    assert net.layers[-1].out_shape[1] == 1000
    assert len({layer.name for layer in net.layers}) == len(net.layers)
    assert 0 < net.total_macs < build(name).total_macs * (shape[2] * shape[3]) / (224 * 224) * 1.3


def test_depthwise_and_grouped_costed_by_true_macs() -> None:
    b = Builder("t", (1, 32, 56, 56))
    b.conv("dw", "input", 32, 3, 1, g=32)
    b.conv("grp", "dw", 64, 3, 1, g=4)
    net = b.build()
    dw, grp = net.layer("dw"), net.layer("grp")
    assert dw.kind is LayerKind.DEPTHWISE and grp.kind is LayerKind.GROUPED
    assert dw.macs == 32 * 3 * 3 * 56 * 56  # C*K*K*H*W, not C*C*K*K*H*W
    assert grp.macs == 64 * (32 // 4) * 3 * 3 * 56 * 56
    assert dw.weight_count == 32 * 9


@given(
    cin=st.integers(1, 64),
    mult=st.integers(1, 4),
    k=st.sampled_from([1, 3, 5, 7]),
    groups_pick=st.integers(0, 3),
)
def test_conv_kind_classification(cin: int, mult: int, k: int, groups_pick: int) -> None:
    divisors = [g for g in range(1, cin + 1) if cin % g == 0]
    g = divisors[groups_pick % len(divisors)]
    cout = g * mult
    kind = conv_kind(cin, cout, g, (k, k))
    if g > 1 and g == cin:
        assert kind is LayerKind.DEPTHWISE
    elif g > 1:
        assert kind is LayerKind.GROUPED
    else:
        assert kind is (LayerKind.POINTWISE if k == 1 else LayerKind.CONV)


def test_load_network_by_name_spellings() -> None:
    assert load_network("MobileNet-V2").name == "mobilenet_v2"
    assert load_network("mobilenet_v2", "1x3x96x96").input_shape == (1, 3, 96, 96)
