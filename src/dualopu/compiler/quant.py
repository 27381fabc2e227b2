"""Post-training INT8 quantization of a network (given or random float weights).

INT8 semantics (mirrored exactly by `dualopu.compiler.qonnx` and `dualopu.sim.functional`):

* Every tensor ``t`` is int8 with a per-tensor scale ``s_t`` and zero point 0 (symmetric):
  real value = ``s_t * q``. Scales come from calibration: ``max|x| / 127`` over the
  calibration images of a float forward pass. Tensors joined by concat, slice, channel
  shuffle, flatten (and max pool without a table activation) share one scale, so those
  layers move bytes without arithmetic.
* Weights: symmetric int8 in ``[-127, 127]``, one scale per output channel
  (``per_channel=True``) or per tensor; bias int32 at scale ``s_in * s_w[c]``.
* Requantization (all in IEEE float32, rounding half to even as ONNX ``Round``)::

      conv / fc:  q = clip(rint(float32(acc_int32 + bias) * M[c]), lo, hi)
      add:        q = clip(rint(float32(a) * Ma + float32(b) * Mb), lo, hi)
      mul:        q = clip(rint((float32(a) * float32(b)) * M), lo, hi)
      avgpool:    q = clip(rint(float32(window_sum_int32) * M[h, w]), lo, hi)   (M per position)
      global avg: q = clip(rint(float32(plane_sum_int32) * M), lo, hi)
      maxpool:    q = clip(max(window), lo, hi)            (same scale as the input)

  with ``M = float32(s_in * s_w[c] / s_t)`` etc. (the products of scales in float64, one
  rounding to float32). ``float32(int32)`` rounds to nearest even when ``|acc| > 2**24``;
  both sides do the same conversion.
* Activations: ``relu`` / ``relu6`` are the clip bounds ``lo, hi`` (``[0, 127]`` and
  ``[0, min(127, rint(6 / s_out))]``). ``hardswish``, ``hardsigmoid`` (PyTorch: relu6(x+3)/6),
  ``sigmoid`` and ``silu`` go through a 256-entry int8 table: the layer first requantizes
  to a pre-activation int8 ``p`` at scale ``s_pre`` (calibrated on the pre-activation), then
  ``q = table[p + 128]`` with ``table[i] = clip(rint(f((i - 128) * s_pre) / s_out), -128, 127)``.
  A standalone activation layer is a table from its input scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dualopu.errors import ModelError
from dualopu.ir.network import MAC_KINDS, TABLE_ACTIVATIONS, Layer, LayerKind, Network

FREE_KINDS = (LayerKind.CONCAT, LayerKind.SHUFFLE)

FloatWeights = Mapping[str, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class QLayer:
    """INT8 parameters of one layer (``None`` fields do not apply to its kind).

    ``mult``: float32 requantization multipliers (conv/fc: ``(Cout,)``; add: ``(2,)``;
    mul, global average pool: ``(1,)``; average pool: ``(Hout, Wout)``; else empty).
    """

    weight: np.ndarray | None = None  # int8 (Cout, Cin/groups, kh, kw)
    bias: np.ndarray | None = None  # int32 (Cout,)
    w_scale: np.ndarray | None = None  # float64 (Cout,)
    mult: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    lo: int = -128
    hi: int = 127
    table: np.ndarray | None = None  # int8 (256,)
    pre_scale: float = 0.0  # scale of the pre-activation int8 (table layers)


@dataclass(frozen=True)
class QuantizedNetwork:
    """A network with INT8 parameters and one scale per tensor."""

    network: Network
    scales: Mapping[str, float]
    layers: tuple[QLayer, ...]
    per_channel: bool = True

    @property
    def input_scale(self) -> float:
        return self.scales[self.network.input_name]

    def qlayer(self, name: str) -> QLayer:
        return self.layers[self.network.index[name]]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float image -> int8 at the input scale."""
        return np.clip(np.rint(np.asarray(x, dtype=np.float64) / self.input_scale), -128, 127).astype(np.int8)

    def dequantize(self, name: str, q: np.ndarray) -> np.ndarray:
        return q.astype(np.float64) * self.scales[name]


# ---- float reference for calibration ------------------------------------------------------


def act_float(name: str | None, x: np.ndarray) -> np.ndarray:
    """Activation functions in float64 (PyTorch definitions)."""
    if name is None:
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "relu6":
        return np.clip(x, 0.0, 6.0)
    if name == "hardsigmoid":
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    if name == "hardswish":
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    raise ModelError(f"unsupported activation {name!r}")


def _window_block(x: np.ndarray, layer: Layer, fill: float) -> np.ndarray:
    """The padded input block every output window of ``layer`` reads, ``(C, Hneed, Wneed)``."""
    c, h, w = x.shape
    _, _, hout, wout = layer.out_shape
    kh = (layer.kernel[0] - 1) * layer.dilation[0] + 1
    kw = (layer.kernel[1] - 1) * layer.dilation[1] + 1
    hn = (hout - 1) * layer.stride[0] + kh
    wn = (wout - 1) * layer.stride[1] + kw
    pt, pl = layer.padding[0], layer.padding[1]
    blk = np.full((c, hn, wn), fill, dtype=x.dtype)
    hh, ww = min(h, hn - pt), min(w, wn - pl)
    blk[:, pt:pt + hh, pl:pl + ww] = x[:, :hh, :ww]
    return blk


def _windows(blk: np.ndarray, layer: Layer) -> np.ndarray:
    """``(C, kh*kw, Hout, Wout)`` strided views of the window elements."""
    _, _, hout, wout = layer.out_shape
    sh, sw = layer.stride
    dh, dw = layer.dilation
    parts = [
        blk[:, i * dh: i * dh + (hout - 1) * sh + 1: sh, j * dw: j * dw + (wout - 1) * sw + 1: sw]
        for i in range(layer.kernel[0]) for j in range(layer.kernel[1])
    ]
    return np.stack(parts, axis=1)


def _conv_float(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, layer: Layer) -> np.ndarray:
    _, cout, hout, wout = layer.out_shape
    g = layer.groups
    cols = _windows(_window_block(x, layer, 0.0), layer)  # (C, kk, H, W)
    cin = cols.shape[0]
    cols = cols.reshape(g, (cin // g) * cols.shape[1], hout * wout)
    wm = w.reshape(g, cout // g, -1)
    y = np.matmul(wm, cols).reshape(cout, hout, wout)
    if b is not None:
        y = y + b[:, None, None]
    return y


def avgpool_counts(layer: Layer) -> np.ndarray:
    """Divisor of every average-pool output position (PyTorch's rule), ``(Hout, Wout)``."""
    _, _, hin, win = layer.in_shape
    _, _, hout, wout = layer.out_shape
    include_pad = bool(layer.attrs.get("count_include_pad", True))

    def axis(n_out: int, n_in: int, k: int, s: int, p0: int, p1: int) -> np.ndarray:
        start = np.arange(n_out) * s - p0
        end = np.minimum(start + k, n_in + p1)
        size_pad = end - start
        size_in = np.minimum(end, n_in) - np.maximum(start, 0)
        return size_pad if include_pad else size_in

    ch = axis(hout, hin, layer.kernel[0], layer.stride[0], layer.padding[0], layer.padding[2])
    cw = axis(wout, win, layer.kernel[1], layer.stride[1], layer.padding[1], layer.padding[3])
    return np.maximum(ch[:, None] * cw[None, :], 1)


def _pool_float(x: np.ndarray, layer: Layer) -> np.ndarray:
    if layer.op == "global_avgpool":
        return x.mean(axis=(1, 2), keepdims=True)
    if layer.op == "maxpool":
        return _windows(_window_block(x, layer, -np.inf), layer).max(axis=1)
    if layer.op == "avgpool":
        s = _windows(_window_block(x, layer, 0.0), layer).sum(axis=1)
        return s / avgpool_counts(layer)[None]
    raise ModelError(f"pool {layer.name!r}: unsupported op {layer.op!r}")


def _free_float(layer: Layer, xs: Sequence[np.ndarray]) -> np.ndarray:
    _, c, h, w = layer.out_shape
    if layer.op == "concat":
        return np.concatenate(xs, axis=0)
    if layer.op == "slice":
        return xs[0][int(layer.attrs["start"]): int(layer.attrs["end"])]
    if layer.op == "channel_shuffle":
        g = int(layer.attrs["groups"])
        x = xs[0]
        return x.reshape(g, c // g, h, w).transpose(1, 0, 2, 3).reshape(c, h, w)
    if layer.op == "flatten":
        return xs[0].reshape(c, h, w)
    raise ModelError(f"layer {layer.name!r}: unsupported data-movement op {layer.op!r}")


def float_forward(
    net: Network, weights: FloatWeights, x: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Float64 forward pass of one image ``(1, C, H, W)``: every tensor ``(C, H, W)``, and
    every layer's value before its activation."""
    vals: dict[str, np.ndarray] = {net.input_name: np.asarray(x, dtype=np.float64).reshape(net.input_shape[1:])}
    pre: dict[str, np.ndarray] = {}
    for layer in net.layers:
        xs = [vals[i] for i in layer.inputs]
        if layer.kind in MAC_KINDS:
            wd = weights[layer.name]
            y = _conv_float(xs[0].reshape(layer.in_shape[1:]), wd["weight"], wd.get("bias"), layer)
        elif layer.kind is LayerKind.POOL:
            y = _pool_float(xs[0], layer)
        elif layer.kind is LayerKind.ADD:
            y = xs[0] + xs[1]
        elif layer.kind is LayerKind.MUL:
            y = xs[0] * xs[1]
        elif layer.kind is LayerKind.ACTIVATION:
            y = xs[0]
        elif layer.kind in FREE_KINDS:
            y = _free_float(layer, xs)
        else:  # pragma: no cover - every kind is listed above
            raise ModelError(f"layer {layer.name!r}: unsupported kind {layer.kind.value}")
        pre[layer.name] = y
        vals[layer.name] = act_float(layer.activation, y)
        if vals[layer.name].shape != tuple(layer.out_shape[1:]):
            raise ModelError(f"layer {layer.name!r}: computed shape {vals[layer.name].shape}, IR says "
                             f"{layer.out_shape[1:]}")
    return vals, pre


# ---- weights -----------------------------------------------------------------------------


def weight_shape(layer: Layer) -> tuple[int, int, int, int]:
    """``(Cout, Cin/groups, kh, kw)``; FC is a 1x1 convolution over a ``(1, C, 1, 1)`` input."""
    return (layer.out_channels, layer.in_channels // layer.groups, layer.kernel[0], layer.kernel[1])


def random_weights(net: Network, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """He-normal weights and small biases for every MAC layer (reproducible by ``seed``)."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for layer in net.layers:
        if layer.kind not in MAC_KINDS:
            continue
        shape = weight_shape(layer)
        fan_in = shape[1] * shape[2] * shape[3]
        d = {"weight": rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)}
        if layer.has_bias:
            d["bias"] = rng.uniform(-0.1, 0.1, shape[0])
        out[layer.name] = d
    return out


def _normalize_weights(net: Network, weights: Mapping[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """Accept ``{layer: {"weight": W, "bias": b}}``, ``{layer: (W, b)}`` or ``{layer: W}``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for layer in net.layers:
        if layer.kind not in MAC_KINDS:
            continue
        if layer.name not in weights:
            raise ModelError(f"weights: no entry for layer {layer.name!r}")
        v = weights[layer.name]
        if isinstance(v, Mapping):
            w, b = v.get("weight"), v.get("bias")
        elif isinstance(v, tuple | list):
            w, b = v[0], (v[1] if len(v) > 1 else None)
        else:
            w, b = v, None
        shape = weight_shape(layer)
        w = np.asarray(w, dtype=np.float64)
        if w.size != int(np.prod(shape)):
            raise ModelError(f"weights of {layer.name!r}: {w.shape} does not fit {shape}")
        d: dict[str, np.ndarray] = {"weight": w.reshape(shape)}
        if b is not None:
            bias = np.asarray(b, dtype=np.float64).reshape(-1)
            if bias.size != shape[0]:
                raise ModelError(f"bias of {layer.name!r}: {bias.size} values for {shape[0]} output channels")
            if not layer.has_bias and np.any(bias != 0):
                raise ModelError(f"bias given for layer {layer.name!r}, which the IR says has none")
            if layer.has_bias:
                d["bias"] = bias
        out[layer.name] = d
    return out


# ---- quantization ------------------------------------------------------------------------


def _tie_classes(net: Network) -> dict[str, str]:
    """Union-find over tensors that must share a scale; tensor -> class representative."""
    parent: dict[str, str] = {net.input_name: net.input_name}
    for layer in net.layers:
        parent[layer.name] = layer.name

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for layer in net.layers:
        tie = layer.kind in FREE_KINDS or (layer.op == "maxpool" and layer.activation not in TABLE_ACTIVATIONS)
        if tie:
            for i in layer.inputs:
                parent[find(i)] = find(layer.name)
    return {t: find(t) for t in parent}


def _calibration_images(net: Network, calibration: int | np.ndarray | Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    if isinstance(calibration, int):
        rng = np.random.default_rng(seed + 1)
        return [rng.standard_normal(net.input_shape) for _ in range(max(calibration, 1))]
    arr = [np.asarray(calibration, dtype=np.float64)] if isinstance(calibration, np.ndarray) else [
        np.asarray(c, dtype=np.float64) for c in calibration]
    images: list[np.ndarray] = []
    for a in arr:
        if a.ndim == 4 and a.shape[1:] == net.input_shape[1:]:
            images.extend(a[i:i + 1] for i in range(a.shape[0]))
        elif a.shape == net.input_shape[1:]:
            images.append(a[None])
        else:
            raise ModelError(f"calibration image of shape {a.shape} does not fit input {net.input_shape}")
    if not images:
        raise ModelError("calibration: no images")
    return images


def _scale(amax: float) -> float:
    return float(amax) / 127.0 if amax > 0 and np.isfinite(amax) else 1.0


def _clip_bounds(act: str | None, s_out: float) -> tuple[int, int]:
    if act == "relu":
        return 0, 127
    if act == "relu6":
        return 0, int(min(127, np.rint(6.0 / s_out)))
    return -128, 127


def make_table(act: str, s_pre: float, s_out: float) -> np.ndarray:
    """int8 table of ``act`` from scale ``s_pre`` to ``s_out``, indexed by ``q + 128``."""
    q = np.arange(-128, 128, dtype=np.float64)
    y = act_float(act, q * s_pre)
    return np.clip(np.rint(y / s_out), -128, 127).astype(np.int8)


def _f32(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(np.float32)


def quantize(
    net: Network,
    weights: Mapping[str, Any] | None = None,
    seed: int = 0,
    calibration: int | np.ndarray | Sequence[np.ndarray] = 2,
    per_channel: bool = True,
) -> QuantizedNetwork:
    """Post-training INT8 quantization.

    ``weights``: float weights per MAC layer (see `_normalize_weights`), random He-normal
    ones (``seed``) when omitted. ``calibration``: a number of random standard-normal
    images, or float images of the input shape.
    """
    net.validate()
    wf = random_weights(net, seed) if weights is None else _normalize_weights(net, weights)
    amax: dict[str, float] = {}
    pre_amax: dict[str, float] = {}
    for img in _calibration_images(net, calibration, seed):
        vals, pre = float_forward(net, wf, img)
        for k, v in vals.items():
            amax[k] = max(amax.get(k, 0.0), float(np.abs(v).max(initial=0.0)))
        for k, v in pre.items():
            pre_amax[k] = max(pre_amax.get(k, 0.0), float(np.abs(v).max(initial=0.0)))
    cls = _tie_classes(net)
    cls_amax: dict[str, float] = {}
    for t, rep in cls.items():
        cls_amax[rep] = max(cls_amax.get(rep, 0.0), amax.get(t, 0.0))
    scales = {t: _scale(cls_amax[rep]) for t, rep in cls.items()}

    qlayers: list[QLayer] = []
    for layer in net.layers:
        s_out = scales[layer.name]
        s_in = [scales[i] for i in layer.inputs]
        act = layer.activation
        table_act = act if act in TABLE_ACTIVATIONS else None
        if layer.kind is LayerKind.ACTIVATION:
            table_act = act
        if layer.kind in FREE_KINDS:
            qlayers.append(QLayer())
            continue
        if layer.op == "maxpool" or layer.kind is LayerKind.ACTIVATION:
            s_pre = s_in[0]
        else:
            s_pre = _scale(pre_amax.get(layer.name, 0.0)) if table_act else s_out
        table = make_table(table_act, s_pre, s_out) if table_act else None
        lo, hi = (-128, 127) if table_act else _clip_bounds(act, s_out)
        if layer.kind in MAC_KINDS:
            w = wf[layer.name]["weight"]
            flat = np.abs(w.reshape(w.shape[0], -1))
            wmax = flat.max(axis=1) if per_channel else np.full(w.shape[0], flat.max(initial=0.0))
            s_w = np.where(wmax > 0, wmax / 127.0, 1.0)
            wq = np.clip(np.rint(w / s_w[:, None, None, None]), -127, 127).astype(np.int8)
            b = wf[layer.name].get("bias")
            bq = None
            if layer.has_bias:
                bf = np.zeros(w.shape[0]) if b is None else b
                bq = np.clip(np.rint(bf / (s_in[0] * s_w)), -(2**31), 2**31 - 1).astype(np.int32)
            qlayers.append(QLayer(weight=wq, bias=bq, w_scale=s_w, mult=_f32(s_in[0] * s_w / s_pre),
                                  lo=lo, hi=hi, table=table, pre_scale=s_pre))
        elif layer.kind is LayerKind.ADD:
            qlayers.append(QLayer(mult=_f32(np.array([s_in[0] / s_pre, s_in[1] / s_pre])), lo=lo, hi=hi,
                                  table=table, pre_scale=s_pre))
        elif layer.kind is LayerKind.MUL:
            qlayers.append(QLayer(mult=_f32(np.array([s_in[0] * s_in[1] / s_pre])), lo=lo, hi=hi,
                                  table=table, pre_scale=s_pre))
        elif layer.op == "global_avgpool":
            hw = layer.in_shape[2] * layer.in_shape[3]
            qlayers.append(QLayer(mult=_f32(np.array([s_in[0] / (hw * s_pre)])), lo=lo, hi=hi,
                                  table=table, pre_scale=s_pre))
        elif layer.op == "avgpool":
            qlayers.append(QLayer(mult=_f32(s_in[0] / (avgpool_counts(layer) * s_pre)), lo=lo, hi=hi,
                                  table=table, pre_scale=s_pre))
        elif layer.op == "maxpool" or layer.kind is LayerKind.ACTIVATION:
            qlayers.append(QLayer(lo=lo, hi=hi, table=table, pre_scale=s_pre))
        else:
            raise ModelError(f"layer {layer.name!r}: cannot quantize {layer.kind.value}/{layer.op}")
    return QuantizedNetwork(network=net, scales=scales, layers=tuple(qlayers), per_channel=per_channel)
