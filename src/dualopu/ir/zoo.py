"""Built-in network zoo, built by our own code (no downloads, no weights).

Each builder reproduces the torchvision definition layer for layer (channels, kernels,
strides, SE blocks, residual adds, channel split/shuffle, pooling, classifier) at any
input size. BatchNorm folds into its conv (``bn_params`` keeps PyTorch's parameter
count); activations fold into their producer's ``activation``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dualopu.errors import ModelError
from dualopu.ir.network import Layer, LayerKind, Network, Shape, conv_kind

#: ONNX operators an activation folds, as the importer records them in ``Layer.fused``.
ACT_OPS: dict[str, tuple[str, ...]] = {
    "relu": ("Relu",),
    "relu6": ("Clip",),
    "hardswish": ("HardSwish",),
    "hardsigmoid": ("HardSigmoid",),
    "sigmoid": ("Sigmoid",),
    "silu": ("Sigmoid", "Mul"),
}


class Builder:
    """Appends layers with shape inference; every method returns the new layer's name."""

    def __init__(self, name: str, input_shape: Shape) -> None:
        self.name = name
        self.input_shape = input_shape
        self.shapes: dict[str, Shape] = {"input": input_shape}
        self.layers: list[Layer] = []

    def _add(self, layer: Layer) -> str:
        if layer.name in self.shapes:
            raise ValueError(f"duplicate layer name {layer.name}")
        self.layers.append(layer)
        self.shapes[layer.name] = layer.out_shape
        return layer.name

    def conv(
        self,
        name: str,
        x: str,
        cout: int,
        k: int,
        s: int = 1,
        g: int = 1,
        act: str | None = None,
        bn: bool = True,
        bias: bool | None = None,
        p: int | None = None,
    ) -> str:
        n, cin, h, w = self.shapes[x]
        pad = (k - 1) // 2 if p is None else p
        ho, wo = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        if ho < 1 or wo < 1:
            raise ModelError(f"input too small: layer {name} would have an empty output")
        has_bias = (not bn) if bias is None else bias
        fused = (("BatchNormalization",) if bn else ()) + (ACT_OPS[act] if act else ())
        return self._add(
            Layer(
                name=name,
                kind=conv_kind(cin, cout, g, (k, k)),
                op="conv",
                inputs=(x,),
                in_shapes=((n, cin, h, w),),
                out_shape=(n, cout, ho, wo),
                kernel=(k, k),
                stride=(s, s),
                padding=(pad, pad, pad, pad),
                groups=g,
                activation=act,
                fused=fused,
                has_bias=has_bias,
                bn_params=2 * cout if bn else 0,
                attrs={"bias": has_bias},
            )
        )

    def fc(self, name: str, x: str, cout: int, act: str | None = None) -> str:
        n, c, h, w = self.shapes[x]
        return self._add(
            Layer(
                name=name,
                kind=LayerKind.FC,
                op="fc",
                inputs=(x,),
                in_shapes=((n, c * h * w, 1, 1),),
                out_shape=(n, cout, 1, 1),
                activation=act,
                fused=ACT_OPS[act] if act else (),
                has_bias=True,
                attrs={"bias": True},
            )
        )

    def pool(self, name: str, x: str, op: str, k: int = 1, s: int = 1, p: int = 0, ceil: bool = False) -> str:
        n, c, h, w = self.shapes[x]
        if op == "global_avgpool":
            k_h, k_w, s, p, ho, wo = h, w, 1, 0, 1, 1
        else:
            rnd = math.ceil if ceil else math.floor
            k_h = k_w = k
            ho = int(rnd((h + 2 * p - k) / s)) + 1
            wo = int(rnd((w + 2 * p - k) / s)) + 1
            if ceil:  # PyTorch: the last window must start inside the padded input
                ho -= int((ho - 1) * s >= h + p)
                wo -= int((wo - 1) * s >= w + p)
        return self._add(
            Layer(
                name=name,
                kind=LayerKind.POOL,
                op=op,
                inputs=(x,),
                in_shapes=((n, c, h, w),),
                out_shape=(n, c, ho, wo),
                kernel=(k_h, k_w),
                stride=(s, s),
                padding=(p, p, p, p),
                attrs={"ceil_mode": ceil, "count_include_pad": False},
            )
        )

    def eltwise(self, name: str, kind: LayerKind, a: str, b: str, act: str | None = None) -> str:
        sa, sb = self.shapes[a], self.shapes[b]
        return self._add(
            Layer(
                name=name,
                kind=kind,
                op=kind.value,
                inputs=(a, b),
                in_shapes=(sa, sb),
                out_shape=sa,
                activation=act,
                fused=ACT_OPS[act] if act else (),
            )
        )

    def concat(self, name: str, xs: list[str]) -> str:
        shapes = [self.shapes[x] for x in xs]
        n, _, h, w = shapes[0]
        return self._add(
            Layer(
                name=name,
                kind=LayerKind.CONCAT,
                op="concat",
                inputs=tuple(xs),
                in_shapes=tuple(shapes),
                out_shape=(n, sum(s[1] for s in shapes), h, w),
            )
        )

    def slice(self, name: str, x: str, start: int, end: int) -> str:
        n, _, h, w = self.shapes[x]
        return self._add(
            Layer(
                name=name,
                kind=LayerKind.SHUFFLE,
                op="slice",
                inputs=(x,),
                in_shapes=(self.shapes[x],),
                out_shape=(n, end - start, h, w),
                attrs={"start": start, "end": end},
            )
        )

    def shuffle(self, name: str, x: str, groups: int) -> str:
        return self._add(
            Layer(
                name=name,
                kind=LayerKind.SHUFFLE,
                op="channel_shuffle",
                inputs=(x,),
                in_shapes=(self.shapes[x],),
                out_shape=self.shapes[x],
                attrs={"groups": groups},
            )
        )

    def flatten(self, name: str, x: str) -> str:
        n, c, h, w = self.shapes[x]
        return self._add(
            Layer(
                name=name,
                kind=LayerKind.SHUFFLE,
                op="flatten",
                inputs=(x,),
                in_shapes=((n, c, h, w),),
                out_shape=(n, c * h * w, 1, 1),
            )
        )

    def channels(self, x: str) -> int:
        return self.shapes[x][1]

    def build(self) -> Network:
        net = Network(name=self.name, input_shape=self.input_shape, layers=tuple(self.layers))
        net.validate()
        return net


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _classifier_pool(b: Builder, x: str, prefix: str = "avgpool") -> str:
    return b.flatten("flatten", b.pool(prefix, x, "global_avgpool"))


# ---- networks ---------------------------------------------------------------------------


def mobilenet_v1(shape: Shape) -> Network:
    b = Builder("mobilenet_v1", shape)
    x = b.conv("features.0", "input", 32, 3, 2, act="relu")
    cfg = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    )
    for i, (c, s) in enumerate(cfg, start=1):
        cin = b.channels(x)
        x = b.conv(f"features.{i}.dw", x, cin, 3, s, g=cin, act="relu")
        x = b.conv(f"features.{i}.pw", x, c, 1, act="relu")
    b.fc("fc", _classifier_pool(b, x), 1000)
    return b.build()


def mobilenet_v2(shape: Shape) -> Network:
    b = Builder("mobilenet_v2", shape)
    x = b.conv("features.0", "input", 32, 3, 2, act="relu6")
    i = 1
    for t, c, n, s in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for r in range(n):
            stride = s if r == 0 else 1
            cin = b.channels(x)
            hidden = cin * t
            y, j = x, 0
            if t != 1:
                y = b.conv(f"features.{i}.conv.{j}", y, hidden, 1, act="relu6")
                j += 1
            y = b.conv(f"features.{i}.conv.{j}", y, hidden, 3, stride, g=hidden, act="relu6")
            y = b.conv(f"features.{i}.conv.{j + 1}", y, c, 1)
            x = b.eltwise(f"features.{i}.add", LayerKind.ADD, x, y) if stride == 1 and cin == c else y
            i += 1
    x = b.conv(f"features.{i}", x, 1280, 1, act="relu6")
    b.fc("classifier.1", _classifier_pool(b, x), 1000)
    return b.build()


def _se(b: Builder, prefix: str, x: str, squeeze: int, act: str, gate: str) -> str:
    c = b.channels(x)
    s = b.pool(f"{prefix}.avgpool", x, "global_avgpool")
    s = b.conv(f"{prefix}.fc1", s, squeeze, 1, act=act, bn=False)
    s = b.conv(f"{prefix}.fc2", s, c, 1, act=gate, bn=False)
    return b.eltwise(f"{prefix}.scale", LayerKind.MUL, x, s)


def _mobilenet_v3(
    name: str, shape: Shape, cfg: list[tuple[int, int, int, bool, str, int]], last: int, hidden: int
) -> Network:
    b = Builder(name, shape)
    x = b.conv("features.0", "input", 16, 3, 2, act="hardswish")
    for i, (k, exp, out, se, act, s) in enumerate(cfg, start=1):
        cin = b.channels(x)
        y, j = x, 0
        if exp != cin:
            y = b.conv(f"features.{i}.block.{j}", y, exp, 1, act=act)
            j += 1
        y = b.conv(f"features.{i}.block.{j}", y, exp, k, s, g=exp, act=act)
        j += 1
        if se:
            y = _se(b, f"features.{i}.block.{j}", y, make_divisible(exp // 4), "relu", "hardsigmoid")
            j += 1
        y = b.conv(f"features.{i}.block.{j}", y, out, 1)
        x = b.eltwise(f"features.{i}.add", LayerKind.ADD, x, y) if s == 1 and cin == out else y
    x = b.conv(f"features.{len(cfg) + 1}", x, last, 1, act="hardswish")
    x = b.fc("classifier.0", _classifier_pool(b, x), hidden, act="hardswish")
    b.fc("classifier.3", x, 1000)
    return b.build()


def mobilenet_v3_large(shape: Shape) -> Network:
    cfg = [
        (3, 16, 16, False, "relu", 1),
        (3, 64, 24, False, "relu", 2),
        (3, 72, 24, False, "relu", 1),
        (5, 72, 40, True, "relu", 2),
        (5, 120, 40, True, "relu", 1),
        (5, 120, 40, True, "relu", 1),
        (3, 240, 80, False, "hardswish", 2),
        (3, 200, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1),
        (3, 480, 112, True, "hardswish", 1),
        (3, 672, 112, True, "hardswish", 1),
        (5, 672, 160, True, "hardswish", 2),
        (5, 960, 160, True, "hardswish", 1),
        (5, 960, 160, True, "hardswish", 1),
    ]
    return _mobilenet_v3("mobilenet_v3_large", shape, cfg, 960, 1280)


def mobilenet_v3_small(shape: Shape) -> Network:
    cfg = [
        (3, 16, 16, True, "relu", 2),
        (3, 72, 24, False, "relu", 2),
        (3, 88, 24, False, "relu", 1),
        (5, 96, 40, True, "hardswish", 2),
        (5, 240, 40, True, "hardswish", 1),
        (5, 240, 40, True, "hardswish", 1),
        (5, 120, 48, True, "hardswish", 1),
        (5, 144, 48, True, "hardswish", 1),
        (5, 288, 96, True, "hardswish", 2),
        (5, 576, 96, True, "hardswish", 1),
        (5, 576, 96, True, "hardswish", 1),
    ]
    return _mobilenet_v3("mobilenet_v3_small", shape, cfg, 576, 1024)


def shufflenet_v2_x1_0(shape: Shape) -> Network:
    b = Builder("shufflenet_v2_x1_0", shape)
    x = b.conv("conv1", "input", 24, 3, 2, act="relu")
    x = b.pool("maxpool", x, "maxpool", 3, 2, 1)
    for stage, (reps, oup) in enumerate(zip([4, 8, 4], [116, 232, 464]), start=2):
        bf = oup // 2
        for r in range(reps):
            p = f"stage{stage}.{r}"
            inp = b.channels(x)
            if r == 0:
                a = b.conv(f"{p}.branch1.0", x, inp, 3, 2, g=inp)
                a = b.conv(f"{p}.branch1.2", a, bf, 1, act="relu")
                y = b.conv(f"{p}.branch2.0", x, bf, 1, act="relu")
                y = b.conv(f"{p}.branch2.3", y, bf, 3, 2, g=bf)
                y = b.conv(f"{p}.branch2.5", y, bf, 1, act="relu")
            else:
                a = b.slice(f"{p}.split0", x, 0, inp // 2)
                y = b.slice(f"{p}.split1", x, inp // 2, inp)
                y = b.conv(f"{p}.branch2.0", y, bf, 1, act="relu")
                y = b.conv(f"{p}.branch2.3", y, bf, 3, 1, g=bf)
                y = b.conv(f"{p}.branch2.5", y, bf, 1, act="relu")
            x = b.shuffle(f"{p}.shuffle", b.concat(f"{p}.concat", [a, y]), 2)
    x = b.conv("conv5", x, 1024, 1, act="relu")
    b.fc("fc", b.pool("mean", x, "global_avgpool"), 1000)
    return b.build()


def squeezenet1_1(shape: Shape) -> Network:
    b = Builder("squeezenet1_1", shape)
    x = b.conv("features.0", "input", 64, 3, 2, act="relu", bn=False, p=0)
    x = b.pool("features.2", x, "maxpool", 3, 2, ceil=True)
    fires = {
        3: (16, 64),
        4: (16, 64),
        6: (32, 128),
        7: (32, 128),
        9: (48, 192),
        10: (48, 192),
        11: (64, 256),
        12: (64, 256),
    }
    for i in range(3, 13):
        if i in (5, 8):
            x = b.pool(f"features.{i}", x, "maxpool", 3, 2, ceil=True)
            continue
        sq, ex = fires[i]
        s = b.conv(f"features.{i}.squeeze", x, sq, 1, act="relu", bn=False)
        e1 = b.conv(f"features.{i}.expand1x1", s, ex, 1, act="relu", bn=False)
        e3 = b.conv(f"features.{i}.expand3x3", s, ex, 3, act="relu", bn=False)
        x = b.concat(f"features.{i}.concat", [e1, e3])
    x = b.conv("classifier.1", x, 1000, 1, act="relu", bn=False)
    _classifier_pool(b, x)
    return b.build()


def mnasnet1_0(shape: Shape) -> Network:
    b = Builder("mnasnet1_0", shape)
    x = b.conv("layers.0", "input", 32, 3, 2, act="relu")
    x = b.conv("layers.3", x, 32, 3, 1, g=32, act="relu")
    x = b.conv("layers.6", x, 16, 1)
    for st, (out, k, s, exp, reps) in enumerate(
        [
            (24, 3, 2, 3, 3),
            (40, 5, 2, 3, 3),
            (80, 5, 2, 6, 3),
            (96, 3, 1, 6, 2),
            (192, 5, 2, 6, 4),
            (320, 3, 1, 6, 1),
        ],
        start=8,
    ):
        for r in range(reps):
            p = f"layers.{st}.{r}"
            cin = b.channels(x)
            stride = s if r == 0 else 1
            y = b.conv(f"{p}.layers.0", x, cin * exp, 1, act="relu")
            y = b.conv(f"{p}.layers.3", y, cin * exp, k, stride, g=cin * exp, act="relu")
            y = b.conv(f"{p}.layers.6", y, out, 1)
            x = b.eltwise(f"{p}.add", LayerKind.ADD, x, y) if stride == 1 and cin == out else y
    x = b.conv("layers.14", x, 1280, 1, act="relu")
    b.fc("classifier.1", b.pool("mean", x, "global_avgpool"), 1000)
    return b.build()


def efficientnet_b0(shape: Shape) -> Network:
    b = Builder("efficientnet_b0", shape)
    x = b.conv("features.0", "input", 32, 3, 2, act="silu")
    stage = 1
    for exp, k, s, cout, reps in [
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ]:
        for r in range(reps):
            p = f"features.{stage}.{r}.block"
            cin = b.channels(x)
            stride = s if r == 0 else 1
            hidden = make_divisible(cin * exp)
            y, j = x, 0
            if hidden != cin:
                y = b.conv(f"{p}.{j}", y, hidden, 1, act="silu")
                j += 1
            y = b.conv(f"{p}.{j}", y, hidden, k, stride, g=hidden, act="silu")
            y = _se(b, f"{p}.{j + 1}", y, max(1, cin // 4), "silu", "sigmoid")
            y = b.conv(f"{p}.{j + 2}", y, cout, 1)
            x = (
                b.eltwise(f"features.{stage}.{r}.add", LayerKind.ADD, x, y)
                if stride == 1 and cin == cout
                else y
            )
        stage += 1
    x = b.conv("features.8", x, 1280, 1, act="silu")
    b.fc("classifier.1", _classifier_pool(b, x), 1000)
    return b.build()


def resnet18(shape: Shape) -> Network:
    b = Builder("resnet18", shape)
    x = b.conv("conv1", "input", 64, 7, 2, act="relu")
    x = b.pool("maxpool", x, "maxpool", 3, 2, 1)
    for li, c in enumerate([64, 128, 256, 512], start=1):
        for r in range(2):
            p = f"layer{li}.{r}"
            s = 2 if (r == 0 and li > 1) else 1
            y = b.conv(f"{p}.conv1", x, c, 3, s, act="relu")
            y = b.conv(f"{p}.conv2", y, c, 3, 1)
            idn = b.conv(f"{p}.downsample.0", x, c, 1, s) if (s != 1 or b.channels(x) != c) else x
            x = b.eltwise(f"{p}.add", LayerKind.ADD, y, idn, act="relu")
    b.fc("fc", _classifier_pool(b, x), 1000)
    return b.build()


ZOO: dict[str, Callable[[Shape], Network]] = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3_large,
    "mobilenet_v3_small": mobilenet_v3_small,
    "shufflenet_v2_x1_0": shufflenet_v2_x1_0,
    "squeezenet1_1": squeezenet1_1,
    "mnasnet1_0": mnasnet1_0,
    "efficientnet_b0": efficientnet_b0,
    "resnet18": resnet18,
}

#: The light-weight networks the seed studies (ResNet-18 is the regular-CNN reference).
LIGHTWEIGHT = tuple(n for n in ZOO if n != "resnet18")


def canonical_name(name: str) -> str | None:
    """Built-in name for a user spelling (case-insensitive, '-' or '_'), or None."""
    key = name.strip().lower().replace("-", "_")
    return key if key in ZOO else None


def list_zoo() -> list[str]:
    return list(ZOO)


def build(name: str, input_shape: Shape | None = None) -> Network:
    """Build a built-in network at ``input_shape`` (default 1x3x224x224)."""
    key = canonical_name(name)
    if key is None:
        raise ModelError(f"unknown network {name!r}; built-ins: {', '.join(ZOO)}")
    shape = input_shape or (1, 3, 224, 224)
    return ZOO[key](shape)


def zoo_summary(input_shape: Shape | None = None) -> list[dict[str, Any]]:
    """One row per built-in: MACs, params, layer and depthwise counts."""
    rows = []
    for name in ZOO:
        net = build(name, input_shape)
        kinds = net.kind_counts()
        rows.append(
            {
                "name": name,
                "macs": net.total_macs,
                "params": net.total_params,
                "layers": len(net),
                "depthwise": kinds.get("depthwise", 0),
                "input_shape": list(net.input_shape),
            }
        )
    return rows
