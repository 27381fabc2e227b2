"""Small hand-built networks covering every layer kind (tests, benchmarks, examples).

`NetBuilder` computes shapes with PyTorch's rules, so the networks look like what the
ONNX importer produces.
"""

from __future__ import annotations

import math

from dualopu.ir.network import Layer, LayerKind, Network, Shape, conv_kind


def _out(n: int, k: int, s: int, p0: int, p1: int, d: int = 1, ceil: bool = False) -> int:
    span = n + p0 + p1 - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    o = math.ceil(span / s) + 1
    if (o - 1) * s >= n + p0:
        o -= 1
    return o


class NetBuilder:
    """Append layers one at a time; every method returns the new tensor's name."""

    def __init__(self, name: str, input_shape: Shape, input_name: str = "input") -> None:
        self.name = name
        self.input_shape = input_shape
        self.input_name = input_name
        self.layers: list[Layer] = []
        self.shapes: dict[str, Shape] = {input_name: input_shape}

    def _add(self, layer: Layer) -> str:
        self.layers.append(layer)
        self.shapes[layer.name] = layer.out_shape
        return layer.name

    def _name(self, prefix: str, name: str | None) -> str:
        return name or f"{prefix}{len(self.layers)}"

    def conv(self, x: str, cout: int, k: int = 3, s: int = 1, p: int | None = None, groups: int = 1,
             act: str | None = None, bias: bool = True, d: int = 1, name: str | None = None) -> str:
        _, cin, h, w = self.shapes[x]
        p = (d * (k - 1)) // 2 if p is None else p
        shape = (1, cout, _out(h, k, s, p, p, d), _out(w, k, s, p, p, d))
        return self._add(Layer(
            name=self._name("conv", name), kind=conv_kind(cin, cout, groups, (k, k)), op="conv", inputs=(x,),
            in_shapes=(self.shapes[x],), out_shape=shape, kernel=(k, k), stride=(s, s), padding=(p, p, p, p),
            dilation=(d, d), groups=groups, activation=act, has_bias=bias, attrs={"bias": bias},
        ))

    def dw(self, x: str, k: int = 3, s: int = 1, act: str | None = None, mult: int = 1, name: str | None = None) -> str:
        c = self.shapes[x][1]
        return self.conv(x, c * mult, k, s, groups=c, act=act, name=name)

    def fc(self, x: str, out: int, act: str | None = None, name: str | None = None) -> str:
        shape = self.shapes[x]
        if shape[2:] != (1, 1):
            raise ValueError("fc needs a (1, C, 1, 1) input; flatten first")
        return self._add(Layer(
            name=self._name("fc", name), kind=LayerKind.FC, op="fc", inputs=(x,), in_shapes=(shape,),
            out_shape=(1, out, 1, 1), activation=act, has_bias=True, attrs={"bias": True},
        ))

    def pool(self, x: str, op: str, k: int, s: int, p: int = 0, ceil: bool = False, include_pad: bool = True,
             act: str | None = None, name: str | None = None) -> str:
        _, c, h, w = self.shapes[x]
        shape = (1, c, _out(h, k, s, p, p, 1, ceil), _out(w, k, s, p, p, 1, ceil))
        return self._add(Layer(
            name=self._name(op, name), kind=LayerKind.POOL, op=op, inputs=(x,), in_shapes=(self.shapes[x],),
            out_shape=shape, kernel=(k, k), stride=(s, s), padding=(p, p, p, p), activation=act,
            attrs={"ceil_mode": ceil, "count_include_pad": include_pad},
        ))

    def gap(self, x: str, name: str | None = None) -> str:
        _, c, h, w = self.shapes[x]
        return self._add(Layer(
            name=self._name("gap", name), kind=LayerKind.POOL, op="global_avgpool", inputs=(x,),
            in_shapes=(self.shapes[x],), out_shape=(1, c, 1, 1), kernel=(h, w),
            attrs={"ceil_mode": False, "count_include_pad": False},
        ))

    def _bcast(self, a: str, b: str) -> Shape:
        sa, sb = self.shapes[a], self.shapes[b]
        return sa if sa[2] * sa[3] >= sb[2] * sb[3] else sb

    def add(self, a: str, b: str, act: str | None = None, name: str | None = None) -> str:
        return self._add(Layer(
            name=self._name("add", name), kind=LayerKind.ADD, op="add", inputs=(a, b),
            in_shapes=(self.shapes[a], self.shapes[b]), out_shape=self._bcast(a, b), activation=act,
        ))

    def mul(self, a: str, b: str, name: str | None = None) -> str:
        return self._add(Layer(
            name=self._name("mul", name), kind=LayerKind.MUL, op="mul", inputs=(a, b),
            in_shapes=(self.shapes[a], self.shapes[b]), out_shape=self._bcast(a, b),
        ))

    def concat(self, *xs: str, name: str | None = None) -> str:
        shapes = [self.shapes[x] for x in xs]
        c = sum(s[1] for s in shapes)
        return self._add(Layer(
            name=self._name("concat", name), kind=LayerKind.CONCAT, op="concat", inputs=tuple(xs),
            in_shapes=tuple(shapes), out_shape=(1, c, shapes[0][2], shapes[0][3]),
        ))

    def slice(self, x: str, start: int, end: int, name: str | None = None) -> str:
        _, _, h, w = self.shapes[x]
        return self._add(Layer(
            name=self._name("slice", name), kind=LayerKind.SHUFFLE, op="slice", inputs=(x,),
            in_shapes=(self.shapes[x],), out_shape=(1, end - start, h, w), attrs={"start": start, "end": end},
        ))

    def shuffle(self, x: str, groups: int, name: str | None = None) -> str:
        return self._add(Layer(
            name=self._name("shuffle", name), kind=LayerKind.SHUFFLE, op="channel_shuffle", inputs=(x,),
            in_shapes=(self.shapes[x],), out_shape=self.shapes[x], attrs={"groups": groups},
        ))

    def flatten(self, x: str, name: str | None = None) -> str:
        _, c, h, w = self.shapes[x]
        return self._add(Layer(
            name=self._name("flatten", name), kind=LayerKind.SHUFFLE, op="flatten", inputs=(x,),
            in_shapes=(self.shapes[x],), out_shape=(1, c * h * w, 1, 1),
        ))

    def act(self, x: str, fn: str, name: str | None = None) -> str:
        return self._add(Layer(
            name=self._name("act", name), kind=LayerKind.ACTIVATION, op="activation", inputs=(x,),
            in_shapes=(self.shapes[x],), out_shape=self.shapes[x], activation=fn,
        ))

    def build(self, outputs: tuple[str, ...] = ()) -> Network:
        net = Network(name=self.name, input_shape=self.input_shape, layers=tuple(self.layers),
                      input_name=self.input_name, outputs=outputs)
        net.validate()
        return net


def all_kinds_net(size: int = 32) -> Network:
    """Every layer kind and activation once: conv, depthwise (and multiplier 2), grouped,
    pointwise, FC, max / avg (ceil mode, padding) / global pools, add, SE mul, concat,
    slice, channel shuffle, flatten, standalone activation, all six activations."""
    b = NetBuilder("all_kinds", (1, 3, size, size))
    x = b.conv("input", 16, 3, 2, act="relu6")
    m = b.pool(x, "maxpool", 3, 2, 1)
    a = b.pool(x, "avgpool", 3, 2, 0, ceil=True, include_pad=False)
    x = b.concat(m, a)  # 32 channels
    d = b.dw(x, 3, 1, act="hardswish")
    d2 = b.dw(d, 3, 2, mult=2)  # depthwise multiplier 2: 64 channels
    g = b.conv(d2, 32, 3, 1, groups=4, act="silu")
    s = b.gap(g)
    s = b.conv(s, 8, 1, act="relu")
    s = b.conv(s, 32, 1, act="hardsigmoid")
    g = b.mul(g, s)
    left = b.slice(g, 0, 16)
    right = b.conv(b.slice(g, 16, 32), 16, 1, act="sigmoid")
    x = b.shuffle(b.concat(left, right), 2)
    y = b.conv(x, 32, 1)
    x = b.add(x, y, act="relu")
    x = b.act(x, "hardswish")
    x = b.pool(x, "avgpool", 2, 2)
    x = b.conv(x, 24, 3, 1, p=1, act="relu", d=1)
    x = b.flatten(b.gap(x))
    x = b.fc(x, 10)
    return b.build()


def inverted_residual_net(size: int = 64, classes: int = 100) -> Network:
    """A MobileNetV2-like stack of inverted residual blocks (expansion 1x1, depthwise 3x3,
    projection 1x1, residual add), global average pool, flatten, FC."""
    b = NetBuilder("inverted_residual", (1, 3, size, size))
    x = b.conv("input", 32, 3, 2, act="relu6")
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2), (6, 96, 2, 1)]:
        for i in range(n):
            y = b.conv(x, cin * t, 1, act="relu6") if t != 1 else x
            y = b.dw(y, 3, s if i == 0 else 1, act="relu6")
            y = b.conv(y, c, 1)
            x = b.add(x, y) if (s == 1 or i) and cin == c else y
            cin = c
    x = b.flatten(b.gap(b.conv(x, 320, 1, act="relu6")))
    return b.build((b.fc(x, classes),))
