"""Network IR: an ordered DAG of layers with explicit shapes and costs.

Every later stage (cost model, compiler, simulators, scheduler, tuner, reports) reads
these objects. Conventions:

* Shapes are NCHW with N == 1 (one image). A fully connected layer sees ``(1, C, 1, 1)``
  in and out, so every tensor is 4-D.
* Every layer produces exactly one tensor. An operator with several outputs (ONNX
  ``Split``) becomes several layers (``SHUFFLE`` / ``op="slice"``).
* ``inputs`` names producer layers; the network input is named ``Network.input_name``.
* BatchNorm and activations fold into their producer: they appear in ``fused`` and
  ``activation`` and are costed as free post-processing in the producer's output stage
  (the OPU post-processing unit runs them in-line). Standalone activations that cannot
  fold (no single producer) are ``ACTIVATION`` layers costed as element-wise work.
* MACs follow the published convention (PyTorch hooks): Conv
  ``Cout*Hout*Wout*(Cin/groups)*kh*kw``; FC ``in*out``; everything else 0 MACs
  (its work is ``elementwise_ops``).

Layer semantics needed by the functional simulator live in ``op`` and ``attrs``:

=============  =======================  ================================================
kind           op                       attrs
=============  =======================  ================================================
CONV etc.      "conv"                   bias: bool
FC             "fc"                     bias: bool
POOL           "maxpool" | "avgpool" |  ceil_mode: bool, count_include_pad: bool
               "global_avgpool"
ADD / MUL      "add" / "mul"            (second input may be (1, C, 1, 1): broadcast)
CONCAT         "concat"                 (channel axis)
SHUFFLE        "channel_shuffle"        groups: int
SHUFFLE        "slice"                  start: int, end: int (channel range)
SHUFFLE        "flatten"                (identity on data; (1,C,H,W) -> (1,C*H*W,1,1))
ACTIVATION     "activation"             (function in ``activation``)
ACTIVATION     "affine"                 per-channel scale and shift (a BatchNormalization
                                        with no conv to fold into), then ``activation``
=============  =======================  ================================================
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

import numpy as np

Shape = tuple[int, int, int, int]

ACTIVATIONS = ("relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu")
#: Activations the post-processing unit applies through a 256-entry INT8 table (the rest clip).
TABLE_ACTIVATIONS = ("hardswish", "hardsigmoid", "sigmoid", "silu")


class LayerKind(str, Enum):
    """Operator kind; decides which core type runs a layer and how it is costed."""

    CONV = "conv"  # dense convolution with a kernel larger than 1x1
    POINTWISE = "pointwise"  # dense 1x1 convolution
    DEPTHWISE = "depthwise"  # groups == in_channels, out_channels = multiplier * in_channels
    GROUPED = "grouped"  # 1 < groups < in_channels
    FC = "fc"  # fully connected (Gemm / MatMul)
    POOL = "pool"
    ADD = "add"
    MUL = "mul"
    CONCAT = "concat"
    SHUFFLE = "shuffle"  # channel shuffle, slice, flatten: data movement only
    ACTIVATION = "activation"

    def __str__(self) -> str:
        return self.value


#: Kinds that run on PE arrays as multiply-accumulate work.
MAC_KINDS = frozenset({LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.GROUPED, LayerKind.FC})
#: Kinds the regular-convolution core runs.
REGULAR_KINDS = frozenset({LayerKind.CONV, LayerKind.POINTWISE, LayerKind.GROUPED, LayerKind.FC})
#: Element-wise / data-movement kinds (post-processing unit work).
ELEMENTWISE_KINDS = frozenset(
    {LayerKind.POOL, LayerKind.ADD, LayerKind.MUL, LayerKind.CONCAT, LayerKind.SHUFFLE, LayerKind.ACTIVATION}
)

#: Stable integer codes for vectorized tables.
KIND_CODES: dict[LayerKind, int] = {k: i for i, k in enumerate(LayerKind)}


def conv_kind(in_channels: int, out_channels: int, groups: int, kernel: tuple[int, int]) -> LayerKind:
    """Classify a convolution. Depthwise when ``groups == in_channels`` and
    ``out_channels`` is a whole multiple of it; never costed as dense."""
    if groups > 1 and groups == in_channels and out_channels % in_channels == 0:
        return LayerKind.DEPTHWISE
    if groups > 1:
        return LayerKind.GROUPED
    if kernel == (1, 1):
        return LayerKind.POINTWISE
    return LayerKind.CONV


@dataclass(frozen=True)
class Layer:
    """One IR layer producing one tensor."""

    name: str
    kind: LayerKind
    op: str
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    activation: str | None = None
    fused: tuple[str, ...] = ()  # folded ONNX ops, e.g. ("BatchNormalization", "Clip")
    has_bias: bool = False
    bn_params: int = 0  # BatchNorm affine parameters folded in (counted as parameters, as PyTorch does)
    attrs: Mapping[str, Any] = field(default_factory=dict)

    # ---- shapes -------------------------------------------------------------
    @property
    def in_shape(self) -> Shape:
        """Shape of the first (main) input."""
        return self.in_shapes[0]

    @property
    def in_channels(self) -> int:
        return self.in_shapes[0][1]

    @property
    def out_channels(self) -> int:
        return self.out_shape[1]

    # ---- counts -------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Multiply-accumulates of one image (published convention)."""
        if self.kind in (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.GROUPED):
            _, cout, hout, wout = self.out_shape
            return cout * hout * wout * (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]
        if self.kind is LayerKind.FC:
            return self.in_channels * self.out_channels
        return 0

    @property
    def weight_count(self) -> int:
        """Weights (and bias) the PE array loads: the layer's DRAM weight traffic in elements."""
        if self.kind in (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.GROUPED):
            w = self.out_channels * (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]
        elif self.kind is LayerKind.FC:
            w = self.in_channels * self.out_channels
        else:
            return 0
        return w + (self.out_channels if self.has_bias else 0)

    @property
    def param_count(self) -> int:
        """Trainable parameters as PyTorch counts them (weights, bias, folded BatchNorm affine)."""
        return self.weight_count + self.bn_params

    @property
    def in_elems(self) -> int:
        """Activation elements read (all inputs)."""
        return int(sum(int(np.prod(s)) for s in self.in_shapes))

    @property
    def out_elems(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def in_bytes(self) -> int:
        """Activation bytes read at INT8."""
        return self.in_elems

    @property
    def out_bytes(self) -> int:
        """Activation bytes written at INT8."""
        return self.out_elems

    @property
    def elementwise_ops(self) -> int:
        """Element operations of non-MAC layers (pool window reads, adds, muls); 0 for data movement."""
        if self.kind is LayerKind.POOL:
            if self.op == "global_avgpool":
                return self.in_elems
            return self.out_elems * self.kernel[0] * self.kernel[1]
        if self.kind in (LayerKind.ADD, LayerKind.MUL, LayerKind.ACTIVATION):
            return self.out_elems
        return 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict including derived counts."""
        d = asdict(self)
        d["kind"] = self.kind.value
        d["attrs"] = dict(self.attrs)
        d["in_shape"] = list(self.in_shape)
        d["macs"] = self.macs
        d["weight_count"] = self.weight_count
        d["param_count"] = self.param_count
        d["in_bytes"] = self.in_bytes
        d["out_bytes"] = self.out_bytes
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Layer:
        return Layer(
            name=d["name"],
            kind=LayerKind(d["kind"]),
            op=d["op"],
            inputs=tuple(d["inputs"]),
            in_shapes=tuple(tuple(s) for s in d["in_shapes"]),  # type: ignore[misc]
            out_shape=tuple(d["out_shape"]),  # type: ignore[arg-type]
            kernel=tuple(d["kernel"]),  # type: ignore[arg-type]
            stride=tuple(d["stride"]),  # type: ignore[arg-type]
            padding=tuple(d["padding"]),  # type: ignore[arg-type]
            dilation=tuple(d["dilation"]),  # type: ignore[arg-type]
            groups=int(d["groups"]),
            activation=d.get("activation"),
            fused=tuple(d.get("fused", ())),
            has_bias=bool(d.get("has_bias", False)),
            bn_params=int(d.get("bn_params", 0)),
            attrs=dict(d.get("attrs", {})),
        )


def uses_table(layer: Layer) -> bool:
    """Whether a layer's post-processing ends in a table lookup (nonlinear activation)."""
    standalone = layer.kind is LayerKind.ACTIVATION and layer.op != "affine"  # an affine alone clips, no table
    return standalone or layer.activation in TABLE_ACTIVATIONS


def kernel_extent(layer: Layer) -> tuple[int, int]:
    """Rows and columns of input one output pixel reads (the dilated kernel)."""
    return (layer.kernel[0] - 1) * layer.dilation[0] + 1, (layer.kernel[1] - 1) * layer.dilation[1] + 1


def n_broadcast_inputs(layer: Layer) -> int:
    """Inputs of an add / mul whose plane is broadcast (spatial shape differs from the output)."""
    if layer.kind not in (LayerKind.ADD, LayerKind.MUL):
        return 0
    return sum(1 for s in layer.in_shapes if s[2:] != layer.out_shape[2:])


@dataclass(frozen=True)
class LayerTable:
    """Struct-of-arrays view of a network for vectorized cost models (one row per layer)."""

    kind: np.ndarray  # int8 codes from KIND_CODES
    cin: np.ndarray
    cout: np.ndarray
    hin: np.ndarray
    win: np.ndarray
    hout: np.ndarray
    wout: np.ndarray
    kh: np.ndarray  # kernel taps (undilated): weights and MACs
    kw: np.ndarray
    kh_ext: np.ndarray  # dilated kernel extent: input rows / columns one output pixel reads
    kw_ext: np.ndarray
    sh: np.ndarray
    sw: np.ndarray
    groups: np.ndarray
    macs: np.ndarray
    weight_elems: np.ndarray
    in_elems: np.ndarray
    out_elems: np.ndarray
    elementwise_ops: np.ndarray
    has_bias: np.ndarray  # 0/1
    table_act: np.ndarray  # 0/1: the post-processing applies a 256-entry activation table
    n_inputs: np.ndarray
    n_bcast: np.ndarray  # element-wise inputs broadcast over the plane ((1, C, 1, 1) against (1, C, H, W))
    global_pool: np.ndarray  # 0/1: a global average pool (a whole input plane per output element)
    permutes: np.ndarray  # 0/1: a channel permutation (channel_shuffle): a remap in a planar layout only

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def mask(self, *kinds: LayerKind) -> np.ndarray:
        """Boolean mask of the rows of any of ``kinds``."""
        return np.isin(self.kind, [KIND_CODES[k] for k in kinds])

    @staticmethod
    def of(layers: tuple[Layer, ...] | list[Layer]) -> LayerTable:
        """The table of ``layers`` (one row each, in order)."""
        n = len(layers)

        def arr(values: list[int]) -> np.ndarray:
            return np.asarray(values, dtype=np.int64).reshape(n)

        ls = layers
        return LayerTable(
            kind=np.asarray([KIND_CODES[layer.kind] for layer in ls], dtype=np.int8).reshape(n),
            cin=arr([layer.in_shape[1] for layer in ls]),
            cout=arr([layer.out_shape[1] for layer in ls]),
            hin=arr([layer.in_shape[2] for layer in ls]),
            win=arr([layer.in_shape[3] for layer in ls]),
            hout=arr([layer.out_shape[2] for layer in ls]),
            wout=arr([layer.out_shape[3] for layer in ls]),
            kh=arr([layer.kernel[0] for layer in ls]),
            kw=arr([layer.kernel[1] for layer in ls]),
            kh_ext=arr([kernel_extent(layer)[0] for layer in ls]),
            kw_ext=arr([kernel_extent(layer)[1] for layer in ls]),
            sh=arr([layer.stride[0] for layer in ls]),
            sw=arr([layer.stride[1] for layer in ls]),
            groups=arr([layer.groups for layer in ls]),
            macs=arr([layer.macs for layer in ls]),
            weight_elems=arr([layer.weight_count for layer in ls]),
            in_elems=arr([layer.in_elems for layer in ls]),
            out_elems=arr([layer.out_elems for layer in ls]),
            elementwise_ops=arr([layer.elementwise_ops for layer in ls]),
            has_bias=arr([int(layer.has_bias) for layer in ls]),
            table_act=arr([int(uses_table(layer)) for layer in ls]),
            n_inputs=arr([len(layer.inputs) for layer in ls]),
            n_bcast=arr([n_broadcast_inputs(layer) for layer in ls]),
            global_pool=arr([int(layer.op == "global_avgpool") for layer in ls]),
            permutes=arr([int(layer.op == "channel_shuffle") for layer in ls]),
        )


@dataclass(frozen=True)
class Network:
    """A network as an ordered (topological) tuple of layers."""

    name: str
    input_shape: Shape
    layers: tuple[Layer, ...]
    input_name: str = "input"
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.outputs and self.layers:
            object.__setattr__(self, "outputs", (self.layers[-1].name,))

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @cached_property
    def index(self) -> dict[str, int]:
        """Layer name -> position."""
        return {layer.name: i for i, layer in enumerate(self.layers)}

    def layer(self, name: str) -> Layer:
        return self.layers[self.index[name]]

    @cached_property
    def predecessors(self) -> tuple[tuple[int, ...], ...]:
        """Per layer, the positions of its producer layers (network input excluded)."""
        return tuple(tuple(self.index[i] for i in layer.inputs if i != self.input_name) for layer in self.layers)

    @cached_property
    def successors(self) -> tuple[tuple[int, ...], ...]:
        succ: list[list[int]] = [[] for _ in self.layers]
        for i, preds in enumerate(self.predecessors):
            for p in preds:
                succ[p].append(i)
        return tuple(tuple(s) for s in succ)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_params(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    @property
    def total_weights(self) -> int:
        return sum(layer.weight_count for layer in self.layers)

    def kind_counts(self) -> dict[str, int]:
        """Number of layers of each kind."""
        return dict(Counter(layer.kind.value for layer in self.layers))

    @cached_property
    def table(self) -> LayerTable:
        """Vectorized view used by the planner and the cost model."""
        return LayerTable.of(self.layers)

    def with_name(self, name: str) -> Network:
        return Network(name=name, input_shape=self.input_shape, layers=self.layers,
                       input_name=self.input_name, outputs=self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "input_shape": list(self.input_shape),
            "input_name": self.input_name,
            "outputs": list(self.outputs),
            "total_macs": self.total_macs,
            "total_params": self.total_params,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Network:
        return Network(
            name=d["model"],
            input_shape=tuple(d["input_shape"]),  # type: ignore[arg-type]
            layers=tuple(Layer.from_dict(x) for x in d["layers"]),
            input_name=d.get("input_name", "input"),
            outputs=tuple(d.get("outputs", ())),
        )

    def validate(self) -> None:
        """Check topological order and that every input names a known tensor."""
        from dualopu.errors import ModelError

        seen = {self.input_name}
        for layer in self.layers:
            for i in layer.inputs:
                if i not in seen:
                    raise ModelError(f"layer {layer.name!r} reads {i!r} before it is produced")
            if len(layer.inputs) != len(layer.in_shapes):
                raise ModelError(f"layer {layer.name!r} has {len(layer.inputs)} inputs but "
                                 f"{len(layer.in_shapes)} input shapes")
            _check_geometry(layer)
            seen.add(layer.name)


_CONV_KINDS = (LayerKind.CONV, LayerKind.POINTWISE, LayerKind.DEPTHWISE, LayerKind.GROUPED)


def _check_geometry(layer: Layer) -> None:
    """Shapes, strides and groups that make sense: what an importer or a JSON file could get wrong."""
    from dualopu.errors import ModelError

    where = f"layer {layer.name!r}"
    for s in (*layer.in_shapes, layer.out_shape):
        if len(s) != 4 or any(int(d) < 1 for d in s):
            raise ModelError(f"{where}: shape {list(s)} is not 4-D with positive dims")
    if min(*layer.kernel, *layer.stride, *layer.dilation) < 1 or layer.groups < 1 or min(layer.padding) < 0:
        raise ModelError(f"{where}: kernel {list(layer.kernel)}, stride {list(layer.stride)}, dilation "
                         f"{list(layer.dilation)} and groups {layer.groups} must be >= 1, padding >= 0")
    if layer.kind not in _CONV_KINDS:
        return
    cin, cout, g = layer.in_channels, layer.out_channels, layer.groups
    if cin % g or cout % g:
        raise ModelError(f"{where}: groups={g} does not divide {cin} -> {cout} channels")
    for ax in (0, 1):
        extent = layer.dilation[ax] * (layer.kernel[ax] - 1) + 1
        padded = layer.in_shape[2 + ax] + layer.padding[ax] + layer.padding[ax + 2]
        if extent > padded:
            raise ModelError(f"{where}: kernel extent {extent} is larger than the padded input {padded}")
        if (padded - extent) // layer.stride[ax] + 1 != layer.out_shape[2 + ax]:
            raise ModelError(f"{where}: output size {layer.out_shape[2 + ax]} does not follow from input, kernel, "
                             "stride and padding")
