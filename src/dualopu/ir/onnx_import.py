"""ONNX import: one topological walk over the graph into the IR.

What it does for you (the steps peers make users do by hand):

* fixes a dynamic batch dim to 1 and asks for ``input_shape`` when other dims are dynamic;
  a static-shape export can be imported at another ``input_size``: every shape is
  re-derived in the walk, and a constant that hard-codes the exported size is refused;
* folds constant shape arithmetic (Shape/Gather/Unsqueeze/Concat/Cast/Div/Clip/Max/... on
  known shapes, as in ShuffleNet's channel split or TF-"SAME" padding) with a small numpy
  evaluator;
* drops Identity weight copies and Dropout;
* folds BatchNormalization and activations into their producer (SiLU = Sigmoid+Mul); a
  BatchNormalization not after a conv folds into the convs feeding a concat, or into the
  consuming conv when that is exact (no padding), else becomes a per-channel affine layer
  (kind ACTIVATION, op ``affine``) on the post-processing unit;
* folds a zero constant Pad before a Conv into the conv's (possibly asymmetric) pads;
* recognizes Reshape-Transpose-Reshape as a channel shuffle and channel Slices/Split;
* prices grouped and depthwise convolutions by their true MACs.

Anything it does not understand, or that makes no sense (dilation 0, a kernel larger than
its padded input, groups that do not divide the channels, weights for other channels,
two nodes writing one tensor), is refused in one line naming the node and field: a model
we can only partly understand is never costed silently wrong.

The ``onnx`` package is not imported (see :mod:`dualopu.ir.onnx_proto`): that import alone
costs more CPU than parsing and walking any of the torchvision exports.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dualopu.errors import ModelError, ShapeError, UnsupportedOperatorError
from dualopu.ir.network import MAC_KINDS, Layer, LayerKind, Network, Shape, conv_kind
from dualopu.ir.onnx_proto import NP_DTYPES, attrs, load_model, to_array
from dualopu.ir.zoo import Builder

#: Initializers at most this large are read into numpy (shape constants, Clip bounds); the
#: weights are never copied out of the protobuf, only their dims are read.
_SMALL_CONST_ELEMS = 64
_INT64_MAX = np.iinfo(np.int64).max


def _int_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ONNX integer Div: truncates toward zero (numpy's // floors)."""
    q = np.floor_divide(x, y)
    if not (np.any(x < 0) or np.any(y < 0)):  # shapes: the usual, cheap case
        return q
    return np.where((np.remainder(x, y) != 0) & ((x < 0) != (y < 0)), q + 1, q)


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Sqrt": np.sqrt,
    "Neg": np.negative,
    "Abs": np.abs,
    "Not": np.logical_not,
    "Round": np.round,
    "Reciprocal": np.reciprocal,
    "Sign": np.sign,
    "Relu": lambda x: np.maximum(x, 0),
}
_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Pow": np.power,
    "Equal": np.equal,
    "Less": np.less,
    "Greater": np.greater,
    "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
}
_VARIADIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Max": np.maximum,
    "Min": np.minimum,
    "Sum": np.add,
}
_STRUCTURAL = {
    "Shape",
    "Size",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Cast",
    "Div",
    "Mod",
    "Slice",
    "Constant",
    "ConstantOfShape",
    "Range",
    "Reshape",
    "Identity",
    "Clip",
    "Where",
    "Expand",
    "Tile",
    "Transpose",
    "ReduceProd",
    "ReduceSum",
    "ReduceMin",
    "ReduceMax",
    "Flatten",
}
#: Operators the constant evaluator runs (on constants only; on activations each has its own handler or none).
CONST_OPS = frozenset(_STRUCTURAL | set(_UNARY) | set(_BINARY) | set(_VARIADIC))


def _load(path: Path) -> Any:
    return load_model(path)


def _check_input_shape(shape: Any) -> Shape:
    """A user-given input shape: four positive ints (batch 1); anything else is refused."""
    if not isinstance(shape, tuple | list) or len(shape) != 4:
        raise ShapeError(f"input shape {shape!r}: expected four dims NxCxHxW, e.g. 1x3x224x224")
    if any(isinstance(d, bool) or not isinstance(d, int | np.integer) or d <= 0 for d in shape):
        raise ShapeError(f"input shape {list(shape)}: every dim must be a positive integer")
    if int(shape[0]) != 1:
        raise ShapeError(
            f"input shape {list(shape)}: batch must be 1 (one image; the scheduler handles many)"
        )
    return (1, int(shape[1]), int(shape[2]), int(shape[3]))


class _Importer:
    """State of one walk: tensors are layers (activations) or constants (numpy arrays)."""

    def __init__(self, model: Any, name: str, input_shape: Shape | None) -> None:
        self.model = model
        g = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.const_dims: dict[str, tuple[int, ...]] = {}
        for init in g.initializer:
            dims = tuple(int(d) for d in init.dims)
            self.const_dims[init.name] = dims
            if math.prod(dims) <= _SMALL_CONST_ELEMS and init.data_location != 1:
                self.consts[init.name] = to_array(init, "initializer")
        inits = set(self.const_dims)
        inputs = [i for i in g.input if i.name not in inits]
        if len(inputs) != 1:
            raise ModelError(f"expected one image input, found {len(inputs)}: {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        self._check_unique_outputs(inits)
        self.resized = False  # the user asked for a spatial size other than the model's static one
        shape = self._input_shape(inputs[0], input_shape)
        self.b = Builder(name, shape)
        self.b.shapes = {self.input_name: shape}
        self.pos: dict[str, int] = {}  # layer name -> index in self.b.layers
        self.alias: dict[str, str] = {self.input_name: self.input_name}  # tensor -> layer (or input)
        self.users: dict[str, list[Any]] = {}  # tensor -> consuming nodes (built once)
        for n in g.node:
            for i in n.input:
                if i:
                    self.users.setdefault(i, []).append(n)
        self.consumers = Counter({t: len(ns) for t, ns in self.users.items()})
        self.graph_outputs = {o.name for o in g.output}
        for o in g.output:
            self.consumers[o.name] += 1
        self.pending: dict[str, tuple[str, Any]] = {}  # partial patterns (shuffle reshape/transpose)
        self.silu: dict[str, str] = {}  # sigmoid output -> its input tensor, awaiting the Mul
        self.pre_bn: dict[str, int] = {}  # BN output awaiting its consumer conv -> BN channels
        self.pad_of: dict[str, tuple[int, int, int, int]] = {}  # Pad output awaiting its conv -> pads
        self.concat_reads: dict[str, tuple[str, ...]] = {}  # concat layer -> the tensors it read

    # ---- checks before the walk ------------------------------------------------------------
    def _check_unique_outputs(self, inits: set[str]) -> None:
        """Every tensor has one producer: a second writer would make the walk cost a graph that is not there."""
        producer: dict[str, Any] = {
            self.input_name: "the graph input",
            **{i: "an initializer" for i in inits},
        }
        for node in self.model.graph.node:
            for o in node.output:
                if o and o in producer:
                    prev = producer[o]
                    prev = prev if isinstance(prev, str) else f"node {prev.name!r}"
                    raise ModelError(
                        f"node {node.name!r} ({node.op_type}): output {o!r} is also produced by "
                        f"{prev}; every tensor needs a single producer"
                    )
                producer[o] = node

    def _input_shape(self, vi: Any, given: Shape | None) -> Shape:
        dims = vi.type.tensor_type.shape.dim
        if len(dims) != 4:
            raise ModelError(f"input {vi.name!r} has rank {len(dims)}; expected an NCHW image tensor")
        static = [int(d.dim_value) if d.HasField("dim_value") else None for d in dims]
        if given is not None:
            given = _check_input_shape(given)
            if static[1] is not None and static[1] != given[1]:
                raise ShapeError(
                    f"input shape {'x'.join(map(str, given))} has {given[1]} channels; the model's "
                    f"input {vi.name!r} has {static[1]}"
                )
            self.resized = any(s is not None and s != v for s, v in zip(static[2:], given[2:]))
            return given
        bad = [k for k, s in enumerate(static) if s is not None and s <= 0 and k > 0]
        if bad:
            raise ModelError(
                f"input {vi.name!r}: static dim {bad[0]} is {static[bad[0]]}; pass --input-shape 1xCxHxW"
            )
        if any(s is None for s in static[1:]):
            names = [d.dim_param or "?" for d, s in zip(dims, static) if s is None]
            raise ShapeError(
                f"input {vi.name!r} has dynamic dims ({', '.join(names)}); pass --input-shape "
                "1xCxHxW (e.g. 1x3x224x224)"
            )
        assert static[1] is not None and static[2] is not None and static[3] is not None
        return (1, static[1], static[2], static[3])

    # ---- helpers -----------------------------------------------------------------------
    def layer_of(self, tensor: str, node: Any) -> str:
        if tensor in self.alias:
            return self.alias[tensor]
        raise UnsupportedOperatorError(
            f"node {node.name!r} ({node.op_type}) reads {tensor!r}, which is neither an activation we "
            "understood nor a constant"
        )

    def layer(self, name: str) -> Layer | None:
        k = self.pos.get(name)
        return None if k is None else self.b.layers[k]

    def is_act(self, tensor: str) -> bool:
        return tensor in self.alias

    def const(self, tensor: str, node: Any) -> np.ndarray:
        if tensor in self.consts:
            return self.consts[tensor]
        raise UnsupportedOperatorError(
            f"operator {node.op_type} (node {node.name!r}): input {tensor!r} is not "
            "a constant we can evaluate"
        )

    def dims_of(self, tensor: str, node: Any) -> tuple[int, ...]:
        """Dims of a constant (weights are known by dims only)."""
        if tensor in self.const_dims:
            return self.const_dims[tensor]
        return tuple(int(d) for d in self.const(tensor, node).shape)

    def unique(self, node: Any) -> str:
        base = node.name or node.output[0]
        name, k = base, 1
        while name in self.b.shapes:
            k += 1
            name = f"{base}#{k}"
        return name

    def _append(self, layer: Layer) -> None:
        self.pos[layer.name] = len(self.b.layers)
        self.b._add(layer)

    def add(self, node: Any, layer: Layer) -> None:
        self._append(layer)
        self.alias[node.output[0]] = layer.name

    def refuse(self, node: Any, why: str = "") -> UnsupportedOperatorError:
        extra = f": {why}" if why else ""
        return UnsupportedOperatorError(f"unsupported operator {node.op_type} (node {node.name!r}){extra}")

    def bad(self, node: Any, why: str) -> ModelError:
        """A node whose attributes or operands make no sense (not merely unsupported)."""
        hint = " (the graph fixes this for its exported input size)" if self.resized else ""
        return ModelError(f"node {node.name!r} ({node.op_type}): {why}{hint}")

    def _replace(self, layer_name: str, **changes: Any) -> None:
        idx = self.pos[layer_name]
        self.b.layers[idx] = dataclasses.replace(self.b.layers[idx], **changes)

    def _foldable(self, tensor: str) -> Layer | None:
        """The producer layer of ``tensor`` if an activation can fold into it."""
        lname = self.alias.get(tensor)
        if lname is None or lname == self.input_name or self.consumers[tensor] != 1:
            return None
        layer = self.layer(lname)
        if layer is None or layer.activation is not None:
            return None
        if layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE, LayerKind.POOL):
            return None
        return layer

    def _external_uses(self, lname: str) -> int:
        """Readers of a layer's output other than the nodes folded into it (a chain of single-use tensors)."""
        tensors = [t for t, v in self.alias.items() if v == lname]
        return sum(self.consumers[t] for t in tensors) - (len(tensors) - 1)

    # ---- the walk ----------------------------------------------------------------------
    def run(self) -> Network:
        for node in self.model.graph.node:
            self.visit(node)
        outs = [self.alias.get(o.name) for o in self.model.graph.output]
        if any(o is None or o == self.input_name for o in outs):
            raise ModelError("a graph output is not produced by a layer we understood")
        if self.pending:
            raise ModelError(f"unfinished Reshape/Transpose pattern at {sorted(self.pending)[0]!r}")
        net = Network(
            name=self.b.name,
            input_shape=self.b.input_shape,
            layers=tuple(self.b.layers),
            input_name=self.input_name,
            outputs=tuple(o for o in outs if o),
        )
        net.validate()
        return net

    def visit(self, node: Any) -> None:
        op = node.op_type
        ins = list(node.input)
        if op in ("Identity", "Dropout"):
            src = ins[0]
            if src in self.alias:
                self.alias[node.output[0]] = self.alias[src]
            elif src in self.consts:
                self.consts[node.output[0]] = self.consts[src]
            elif src in self.const_dims:
                self.const_dims[node.output[0]] = self.const_dims[src]
            return
        if node.domain not in ("", "ai.onnx"):
            raise self.refuse(node, f"operator domain {node.domain!r}")
        if not any(self.is_act(i) or i in self.pending for i in ins if i) or op == "Shape":
            self._fold_const(node)
            return
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise self.refuse(node)
        handler(node, ins)

    # ---- constant evaluation --------------------------------------------------------------
    def _fold_const(self, node: Any) -> None:
        op, a = node.op_type, attrs(node)
        if op not in CONST_OPS:
            raise self.refuse(node, "on constant inputs")
        if op == "Constant":
            if "value" in a:
                out = a["value"]
            elif "value_ints" in a or "value_floats" in a:
                out = np.array(
                    a.get("value_ints", a.get("value_floats")),
                    dtype=np.int64 if "value_ints" in a else np.float32,
                )
            elif "value_int" in a or "value_float" in a:
                out = np.array(
                    a.get("value_int", a.get("value_float")),
                    dtype=np.int64 if "value_int" in a else np.float32,
                )
            else:
                raise self.refuse(node, "Constant of a kind other than a tensor, int(s) or float(s)")
            self.consts[node.output[0]] = np.asarray(out)
            return
        if op in ("Shape", "Size"):
            src = node.input[0]
            if src in self.alias:
                dims = np.array(self.b.shapes[self.alias[src]], dtype=np.int64)
            else:
                dims = np.array(self.dims_of(src, node), dtype=np.int64)
            if op == "Size":
                self.consts[node.output[0]] = np.array(int(np.prod(dims)), dtype=np.int64)
                return
            start, end = a.get("start", 0), a.get("end", None)
            self.consts[node.output[0]] = dims[start:end]
            return
        xs: list[Any] = [self.const(i, node) if i else None for i in node.input]
        try:
            out = self._eval(node, op, a, xs)
        except (ValueError, IndexError, TypeError) as exc:
            raise self.bad(node, f"constant evaluation failed ({exc})") from None
        self.consts[node.output[0]] = np.asarray(out)

    def _eval(self, node: Any, op: str, a: dict[str, Any], xs: list[Any]) -> Any:
        x = xs[0]
        if op in _UNARY:
            return _UNARY[op](x)
        if op in _BINARY:
            return _BINARY[op](x, xs[1])
        if op in _VARIADIC:
            out = x
            for y in xs[1:]:
                out = _VARIADIC[op](out, y)
            return out
        if op == "Div":
            y = xs[1]
            return _int_div(x, y) if np.issubdtype(x.dtype, np.integer) else x / y
        if op == "Mod":
            return np.fmod(x, xs[1]) if a.get("fmod", 0) else np.remainder(x, xs[1])
        if op == "Clip":
            lo = xs[1] if len(xs) > 1 and xs[1] is not None else a.get("min")
            hi = xs[2] if len(xs) > 2 and xs[2] is not None else a.get("max")
            return np.clip(x, lo, hi).astype(x.dtype) if lo is not None or hi is not None else x
        if op == "Where":
            return np.where(x, xs[1], xs[2])
        if op == "Gather":
            return np.take(x, xs[1], axis=a.get("axis", 0))
        if op in ("Unsqueeze", "Squeeze"):
            axes: Any = a.get("axes", xs[1] if len(xs) > 1 else None)
            if op == "Unsqueeze":
                return np.expand_dims(x, tuple(int(v) for v in np.atleast_1d(axes)))
            return (
                np.squeeze(x, tuple(int(v) for v in np.atleast_1d(axes)))
                if axes is not None
                else np.squeeze(x)
            )
        if op == "Concat":
            return np.concatenate([np.atleast_1d(v) for v in xs if v is not None], axis=a.get("axis", 0))
        if op == "Cast":
            to = int(a["to"])
            if to not in NP_DTYPES:
                raise self.refuse(node, f"Cast to ONNX type {to}")
            return x.astype(NP_DTYPES[to])
        if op == "Reshape":
            target = [int(v) for v in xs[1]]
            if not a.get("allowzero", 0):
                target = [x.shape[k] if v == 0 else v for k, v in enumerate(target)]
            return x.reshape(target)
        if op == "Flatten":
            axis = int(a.get("axis", 1)) % max(x.ndim, 1)
            return x.reshape(int(np.prod(x.shape[:axis])), -1)
        if op == "Transpose":
            perm = a.get("perm")
            return np.transpose(x, perm)
        if op == "Expand":
            return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(v) for v in xs[1]))).copy()
        if op == "Tile":
            return np.tile(x, tuple(int(v) for v in xs[1]))
        if op.startswith("Reduce"):
            axes = a.get("axes", xs[1] if len(xs) > 1 else None)
            ax = (
                None
                if axes is None or len(np.atleast_1d(axes)) == 0
                else tuple(int(v) for v in np.atleast_1d(axes))
            )
            fn = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMin": np.min, "ReduceMax": np.max}[op]
            return fn(x, axis=ax, keepdims=bool(a.get("keepdims", 1)))
        if op == "ConstantOfShape":
            val = a["value"] if "value" in a else np.array([0.0], np.float32)
            return np.full(tuple(int(v) for v in x), val.reshape(-1)[0], dtype=val.dtype)
        if op == "Range":
            return np.arange(x, xs[1], xs[2])
        # Slice
        starts, ends = xs[1], xs[2]
        axes = xs[3] if len(xs) > 3 and xs[3] is not None else np.arange(len(starts))
        steps = xs[4] if len(xs) > 4 and xs[4] is not None else np.ones(len(starts), dtype=np.int64)
        sl = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            if int(st) == 0:
                raise self.bad(node, "Slice step 0")
            sl[int(ax)] = slice(int(s), None if int(st) < 0 and int(e) <= -_INT64_MAX else int(e), int(st))
        return x[tuple(sl)]

    # ---- convolution and its folded neighbours -------------------------------------------
    def _ints(
        self, node: Any, a: dict[str, Any], key: str, default: list[int], n: int, minimum: int
    ) -> list[int]:
        v = a.get(key, default)
        if not isinstance(v, list) or len(v) != n or any(int(x) < minimum for x in v):
            raise self.bad(node, f"{key}={v} must be {n} integers >= {minimum}")
        return [int(x) for x in v]

    def op_Conv(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        x = self.layer_of(ins[0], node)
        if ins[1] in self.alias:
            raise self.refuse(node, "convolution with activation-valued weights")
        wdims = self.dims_of(ins[1], node)
        if len(wdims) != 4:
            raise self.refuse(node, f"weights of rank {len(wdims)}: only 2-D convolutions are supported")
        n, cin, h, w = self.b.shapes[x]
        cout, wcin, kh, kw = (int(d) for d in wdims)
        if "kernel_shape" in a and list(a["kernel_shape"]) != [kh, kw]:
            raise self.bad(
                node, f"kernel_shape={a['kernel_shape']} disagrees with weights of dims {list(wdims)}"
            )
        if min(cout, wcin, kh, kw) < 1:
            raise self.bad(node, f"weights with dims {list(wdims)}")
        sh, sw = self._ints(node, a, "strides", [1, 1], 2, 1)
        dh, dw = self._ints(node, a, "dilations", [1, 1], 2, 1)
        g = int(a.get("group", 1))
        if g < 1:
            raise self.bad(node, f"group={g} must be >= 1")
        if cin % g or cout % g:
            raise self.bad(node, f"group={g} does not divide the {cin} input and {cout} output channels")
        if wcin * g != cin:
            raise self.bad(
                node,
                f"weights {list(wdims)} with group={g} expect {wcin * g} input channels; "
                f"the input {ins[0]!r} has {cin}",
            )
        pt, pl, pb, pr = self._ints(node, a, "pads", [0, 0, 0, 0], 4, 0)
        auto = str(a.get("auto_pad", "NOTSET"))
        ext_h, ext_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for size, s, ext in ((h, sh, ext_h), (w, sw, ext_w)):
                total = max((-(-size // s) - 1) * s + ext - size, 0)
                small = total // 2
                pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
            (pt, pb), (pl, pr) = pads
        elif auto == "VALID":
            pt = pl = pb = pr = 0
        elif auto != "NOTSET":
            raise self.bad(node, f"auto_pad={auto!r}")
        fused: tuple[str, ...] = ()
        bn_params = 0
        if ins[0] in self.pad_of:
            et, el, eb, er = self.pad_of.pop(ins[0])
            pt, pl, pb, pr = pt + et, pl + el, pb + eb, pr + er
            fused += ("Pad",)
        if ins[0] in self.pre_bn:
            bn_params = 2 * self.pre_bn.pop(ins[0])
            fused += ("BatchNormalization",)
        if ext_h > h + pt + pb or ext_w > w + pl + pr:
            raise self.bad(
                node,
                f"kernel extent {ext_h}x{ext_w} (kernel {kh}x{kw}, dilation {dh}x{dw}) is larger "
                f"than the padded input {h + pt + pb}x{w + pl + pr}",
            )
        ho = (h + pt + pb - ext_h) // sh + 1
        wo = (w + pl + pr - ext_w) // sw + 1
        has_bias = len(ins) > 2 and bool(ins[2])
        if has_bias and self.dims_of(ins[2], node) != (cout,):
            raise self.bad(
                node, f"bias of dims {list(self.dims_of(ins[2], node))} for {cout} output channels"
            )
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=conv_kind(cin, cout, g, (kh, kw)),
                op="conv",
                inputs=(x,),
                in_shapes=((n, cin, h, w),),
                out_shape=(n, cout, ho, wo),
                kernel=(kh, kw),
                stride=(sh, sw),
                padding=(pt, pl, pb, pr),
                dilation=(dh, dw),
                groups=g,
                has_bias=has_bias,
                attrs={"bias": has_bias},
                fused=fused,
                bn_params=bn_params,
            ),
        )

    def _sole_conv_user(self, tensor: str) -> Any | None:
        """The one Conv reading ``tensor`` as its data input, if that is its only reader."""
        users = self.users.get(tensor, [])
        if tensor in self.graph_outputs or len(users) != 1:
            return None
        user = users[0]
        if user.op_type != "Conv" or list(user.input).index(tensor) != 0:
            return None
        return user

    def op_Pad(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        x = self.layer_of(ins[0], node)
        if str(a.get("mode", "constant")) != "constant":
            raise self.refuse(
                node, f"Pad mode {a.get('mode')!r}: only a zero constant pad before a Conv is folded"
            )
        pads_v = (
            self.const(ins[1], node) if len(ins) > 1 and ins[1] else np.array(a.get("pads", []), np.int64)
        )
        value = self.const(ins[2], node) if len(ins) > 2 and ins[2] else np.array(a.get("value", 0.0))
        if value.size > 1 or float(value.reshape(-1)[0] if value.size else 0.0) != 0.0:
            raise self.refuse(
                node, f"Pad with constant value {value.tolist()}: only zero padding folds into a Conv"
            )
        pads = [int(v) for v in np.asarray(pads_v).reshape(-1)]
        axes = [int(v) % 4 for v in self.const(ins[3], node)] if len(ins) > 3 and ins[3] else [0, 1, 2, 3]
        if len(pads) != 2 * len(axes):
            raise self.bad(node, f"pads {pads} for {len(axes)} axes")
        begin, end = dict(zip(axes, pads[: len(axes)])), dict(zip(axes, pads[len(axes) :]))
        if any(begin.get(k, 0) or end.get(k, 0) for k in (0, 1)):
            raise self.refuse(node, f"Pad {pads} pads the batch or channel axis")
        if any(v < 0 for v in pads):
            raise self.refuse(node, f"Pad {pads} with negative pads (a crop)")
        if self._sole_conv_user(node.output[0]) is None:
            raise self.refuse(
                node,
                "a Pad that does not feed a single Conv: only a zero Pad before a convolution "
                "is folded (into its pads)",
            )
        self.pad_of[node.output[0]] = (begin.get(2, 0), begin.get(3, 0), end.get(2, 0), end.get(3, 0))
        self.alias[node.output[0]] = x

    def op_BatchNormalization(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        x_t, out = ins[0], node.output[0]
        x = self.layer_of(x_t, node)
        c = self.b.shapes[x][1]
        if a.get("training_mode", 0) or any(o and self.consumers[o] for o in node.output[1:]):
            raise self.refuse(node, "training-mode BatchNormalization (running statistics are read)")
        for k, p in zip(("scale", "B", "mean", "var"), ins[1:5]):
            if p in self.alias:
                raise self.refuse(node, f"BatchNormalization with an activation-valued {k}")
            if int(np.prod(self.dims_of(p, node))) != c:
                raise self.bad(node, f"{k} has {int(np.prod(self.dims_of(p, node)))} values for {c} channels")
        # 1. after a conv / FC: fold into its producer (the usual case)
        layer = self._foldable(x_t)
        if layer is not None and layer.kind in MAC_KINDS:
            self._replace(
                layer.name, bn_params=layer.bn_params + 2 * c, fused=(*layer.fused, "BatchNormalization")
            )
            self.alias[out] = layer.name
            return
        # 2. after a concat of convs read by nothing else: per-channel, so each conv takes its slice
        prod = self.layer(x)
        if (
            prod is not None
            and prod.kind is LayerKind.CONCAT
            and self._external_uses(x) == 1
            and self._fold_concat_bn(prod)
        ):
            self.alias[out] = x
            return
        # 3. into the one consuming conv when exact: no padding (zeros would be inserted after the affine)
        user = self._sole_conv_user(out)
        if user is not None:
            ua = attrs(user)
            if str(ua.get("auto_pad", "NOTSET")) in ("NOTSET", "VALID") and not any(ua.get("pads", [0])):
                self.pre_bn[out] = c
                self.alias[out] = x
                return
        # 4. otherwise a per-channel affine on the post-processing unit
        shape = self.b.shapes[x]
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=LayerKind.ACTIVATION,
                op="affine",
                inputs=(x,),
                in_shapes=(shape,),
                out_shape=shape,
                bn_params=2 * c,
                fused=("BatchNormalization",),
            ),
        )

    def _fold_concat_bn(self, concat: Layer) -> bool:
        srcs = [self.layer(s) for s in concat.inputs]
        if len(set(concat.inputs)) != len(concat.inputs):
            return False
        for s in srcs:
            if (
                s is None
                or s.kind not in MAC_KINDS
                or s.activation is not None
                or self._external_uses(s.name) != 1
            ):
                return False
        for s in srcs:
            assert s is not None
            self._replace(
                s.name, bn_params=s.bn_params + 2 * s.out_channels, fused=(*s.fused, "BatchNormalization")
            )
        return True

    # ---- activations ------------------------------------------------------------------
    def _activation(self, node: Any, ins: list[str], act: str) -> None:
        layer = self._foldable(ins[0])
        if layer is not None:
            self._replace(layer.name, activation=act, fused=(*layer.fused, node.op_type))
            self.alias[node.output[0]] = layer.name
            return
        x = self.layer_of(ins[0], node)
        shape = self.b.shapes[x]
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=LayerKind.ACTIVATION,
                op="activation",
                inputs=(x,),
                in_shapes=(shape,),
                out_shape=shape,
                activation=act,
                fused=(node.op_type,),
            ),
        )

    def op_Relu(self, node: Any, ins: list[str]) -> None:
        self._activation(node, ins, "relu")

    def op_Clip(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        lo = float(self.const(ins[1], node)) if len(ins) > 1 and ins[1] else a.get("min", -np.inf)
        hi = float(self.const(ins[2], node)) if len(ins) > 2 and ins[2] else a.get("max", np.inf)
        if lo == 0 and hi == 6:
            self._activation(node, ins, "relu6")
        elif lo == 0 and np.isinf(hi):
            self._activation(node, ins, "relu")
        else:
            raise self.refuse(node, f"Clip({lo}, {hi}) is neither ReLU nor ReLU6")

    def op_HardSwish(self, node: Any, ins: list[str]) -> None:
        self._activation(node, ins, "hardswish")

    def op_HardSigmoid(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
            raise self.refuse(node, "only PyTorch's hardsigmoid (alpha=1/6, beta=0.5) is supported")
        self._activation(node, ins, "hardsigmoid")

    def op_Sigmoid(self, node: Any, ins: list[str]) -> None:
        x, out = ins[0], node.output[0]
        muls = [n for n in self.users.get(out, []) if n.op_type == "Mul"]
        if (
            len(muls) == 1
            and set(muls[0].input) == {x, out}
            and self.consumers[x] == 2
            and self.consumers[out] == 1
        ):
            layer = self._foldable_silu(x)
            if layer is not None:
                self.silu[muls[0].output[0]] = x
                return
        self._activation(node, ins, "sigmoid")

    def _foldable_silu(self, tensor: str) -> Layer | None:
        layer = self.layer(self.alias.get(tensor, ""))
        if (
            layer is None
            or layer.activation is not None
            or layer.kind in (LayerKind.CONCAT, LayerKind.SHUFFLE)
        ):
            return None
        return layer

    # ---- element-wise, pooling, data movement ----------------------------------------------
    def _eltwise(self, node: Any, ins: list[str], kind: LayerKind) -> None:
        if len(ins) != 2 or not all(self.is_act(i) for i in ins):
            raise self.refuse(node, "element-wise with a constant operand")
        a, b = (self.layer_of(i, node) for i in ins)
        sa, sb = self.b.shapes[a], self.b.shapes[b]
        if sa[1] != sb[1] or (sb[2:] != sa[2:] and sb[2:] != (1, 1)):
            if sa[2:] == (1, 1) and sa[1] == sb[1] and kind is LayerKind.MUL:
                a, b, sa, sb = b, a, sb, sa
            else:
                raise self.refuse(node, f"shapes {sa} and {sb} do not broadcast channel-wise")
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=kind,
                op=kind.value,
                inputs=(a, b),
                in_shapes=(sa, sb),
                out_shape=sa,
            ),
        )

    def op_Add(self, node: Any, ins: list[str]) -> None:
        if not all(self.is_act(i) for i in ins):
            # MatMul + bias Add -> FC bias
            x = next(i for i in ins if self.is_act(i))
            layer = self.layer(self.alias[x])
            if (
                layer is not None
                and layer.kind is LayerKind.FC
                and not layer.has_bias
                and self.consumers[x] == 1
            ):
                self._replace(layer.name, has_bias=True, attrs={"bias": True})
                self.alias[node.output[0]] = layer.name
                return
        self._eltwise(node, ins, LayerKind.ADD)

    def op_Mul(self, node: Any, ins: list[str]) -> None:
        if node.output[0] in self.silu:
            x = self.silu.pop(node.output[0])
            layer = self._foldable_silu(x)
            assert layer is not None
            self._replace(layer.name, activation="silu", fused=(*layer.fused, "Sigmoid", "Mul"))
            self.alias[node.output[0]] = layer.name
            return
        self._eltwise(node, ins, LayerKind.MUL)

    def _pool(
        self,
        node: Any,
        x: str,
        op: str,
        k: tuple[int, ...],
        s: tuple[int, ...],
        pads: tuple[int, ...],
        ceil: bool,
        include_pad: bool = False,
    ) -> None:
        n, c, h, w = self.b.shapes[x]
        if op == "global_avgpool":
            ho = wo = 1
        else:
            if len(k) != 2 or len(s) != 2 or len(pads) != 4:
                raise self.refuse(node, "only 2-D pooling is supported")
            if min(k) < 1 or min(s) < 1 or min(pads) < 0:
                raise self.bad(
                    node, f"kernel_shape={list(k)}, strides={list(s)}, pads={list(pads)} must be positive"
                )
            if k[0] > h + pads[0] + pads[2] or k[1] > w + pads[1] + pads[3]:
                raise self.bad(
                    node,
                    f"kernel {k[0]}x{k[1]} is larger than the padded input "
                    f"{h + pads[0] + pads[2]}x{w + pads[1] + pads[3]}",
                )
            if max(pads[0], pads[2]) >= k[0] or max(pads[1], pads[3]) >= k[1]:
                raise self.bad(node, f"pads {list(pads)} as large as the kernel {list(k)}")
            rnd = np.ceil if ceil else np.floor
            ho = int(rnd((h + pads[0] + pads[2] - k[0]) / s[0])) + 1
            wo = int(rnd((w + pads[1] + pads[3] - k[1]) / s[1])) + 1
            if ceil:
                ho -= int((ho - 1) * s[0] >= h + pads[0])
                wo -= int((wo - 1) * s[1] >= w + pads[1])
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=LayerKind.POOL,
                op=op,
                inputs=(x,),
                in_shapes=((n, c, h, w),),
                out_shape=(n, c, ho, wo),
                kernel=(k[0], k[1]),
                stride=(s[0], s[1]),
                padding=(pads[0], pads[1], pads[2], pads[3]),
                attrs={"ceil_mode": ceil, "count_include_pad": include_pad},
            ),
        )

    def op_MaxPool(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        if a.get("dilations", [1, 1]) != [1, 1] or (len(node.output) > 1 and node.output[1]):
            raise self.refuse(node, "dilated pooling or pooling indices")
        if str(a.get("auto_pad", "NOTSET")) != "NOTSET":
            raise self.refuse(node, "auto_pad on pooling; export with explicit pads")
        self._pool(
            node,
            self.layer_of(ins[0], node),
            "maxpool",
            tuple(a["kernel_shape"]),
            tuple(a.get("strides", [1, 1])),
            tuple(a.get("pads", [0, 0, 0, 0])),
            bool(a.get("ceil_mode", 0)),
        )

    def op_AveragePool(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        if str(a.get("auto_pad", "NOTSET")) != "NOTSET":
            raise self.refuse(node, "auto_pad on pooling; export with explicit pads")
        self._pool(
            node,
            self.layer_of(ins[0], node),
            "avgpool",
            tuple(a["kernel_shape"]),
            tuple(a.get("strides", [1, 1])),
            tuple(a.get("pads", [0, 0, 0, 0])),
            bool(a.get("ceil_mode", 0)),
            bool(a.get("count_include_pad", 0)),
        )

    def op_GlobalAveragePool(self, node: Any, ins: list[str]) -> None:
        x = self.layer_of(ins[0], node)
        _, _, h, w = self.b.shapes[x]
        self._pool(node, x, "global_avgpool", (h, w), (1, 1), (0, 0, 0, 0), False)

    def op_ReduceMean(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        axes = a.get("axes")
        if axes is None and len(ins) > 1 and ins[1]:
            axes = [int(v) for v in self.const(ins[1], node)]
        if sorted(int(v) % 4 for v in (axes or [])) != [2, 3]:
            raise self.refuse(node, "ReduceMean over axes other than the spatial ones")
        self.op_GlobalAveragePool(node, ins)

    def op_Flatten(self, node: Any, ins: list[str]) -> None:
        if attrs(node).get("axis", 1) != 1:
            raise self.refuse(node, "Flatten with axis != 1")
        self._flatten(node, self.layer_of(ins[0], node))

    def _flatten(self, node: Any, x: str) -> None:
        n, c, h, w = self.b.shapes[x]
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=LayerKind.SHUFFLE,
                op="flatten",
                inputs=(x,),
                in_shapes=((n, c, h, w),),
                out_shape=(n, c * h * w, 1, 1),
            ),
        )

    def op_Reshape(self, node: Any, ins: list[str]) -> None:
        target = [int(v) for v in self.const(ins[1], node)]
        if ins[0] in self.pending:
            kind, info = self.pending.pop(ins[0])
            x, groups = info
            shape = self.b.shapes[x]
            if (
                kind == "transposed"
                and len(target) == 4
                and all(t in (-1, 0, d) for t, d in zip(target, shape))
            ):
                self.add(
                    node,
                    Layer(
                        name=self.unique(node),
                        kind=LayerKind.SHUFFLE,
                        op="channel_shuffle",
                        inputs=(x,),
                        in_shapes=(shape,),
                        out_shape=shape,
                        attrs={"groups": groups},
                    ),
                )
                return
            raise self.refuse(
                node, f"Reshape/Transpose pattern other than a channel shuffle (target {target})"
            )
        x = self.layer_of(ins[0], node)
        n, c, h, w = self.b.shapes[x]
        if len(target) == 5 and target[1] * target[2] == c and tuple(target[3:]) == (h, w):
            self.pending[node.output[0]] = ("split", (x, target[1]))
            return
        if len(target) == 2 and (target[1] in (-1, c * h * w)) and target[0] in (-1, 0, 1):
            self._flatten(node, x)
            return
        if len(target) == 4 and tuple(t for t in target if t > 0)[-3:] == (c, h, w):
            self.alias[node.output[0]] = x  # a no-op reshape
            return
        if self.resized:
            raise self.bad(
                node,
                f"Reshape of {(n, c, h, w)} to the constant {target}: this graph cannot run at "
                "another input size; re-export it with dynamic spatial dims",
            )
        raise self.refuse(node, f"Reshape of {(n, c, h, w)} to {target}")

    def op_Transpose(self, node: Any, ins: list[str]) -> None:
        perm = list(attrs(node).get("perm", []))
        if ins[0] in self.pending and self.pending[ins[0]][0] == "split" and perm == [0, 2, 1, 3, 4]:
            self.pending[node.output[0]] = ("transposed", self.pending.pop(ins[0])[1])
            return
        raise self.refuse(node, f"Transpose with perm {perm} (only the channel shuffle pattern is supported)")

    def _slice_layer(self, node: Any, out: str, x: str, start: int, end: int) -> None:
        n, c, h, w = self.b.shapes[x]
        start, end = max(0, min(start, c)), max(0, min(end, c))
        if end <= start:
            raise self.refuse(node, "empty channel slice")
        name = self.unique(node) if out == node.output[0] else f"{self.unique(node)}:{out}"
        self._append(
            Layer(
                name=name,
                kind=LayerKind.SHUFFLE,
                op="slice",
                inputs=(x,),
                in_shapes=((n, c, h, w),),
                out_shape=(n, end - start, h, w),
                attrs={"start": start, "end": end},
            )
        )
        self.alias[out] = name

    def op_Slice(self, node: Any, ins: list[str]) -> None:
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

    def op_Split(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        x = self.layer_of(ins[0], node)
        c = self.b.shapes[x][1]
        if int(a.get("axis", 0)) % 4 != 1:
            raise self.refuse(node, "Split along an axis other than channels")
        sizes = a.get("split")
        if sizes is None and len(ins) > 1 and ins[1]:
            sizes = [int(v) for v in self.const(ins[1], node)]
        if sizes is None:
            k = int(a.get("num_outputs", len(node.output)))
            if c % k:
                raise self.bad(node, f"an equal split of {c} channels into {k} outputs")
            sizes = [c // k] * k
        if len(sizes) != len(node.output) or sum(sizes) != c or min(sizes) < 1:
            raise self.bad(node, f"split sizes {list(sizes)} for {c} channels and {len(node.output)} outputs")
        start = 0
        for out, size in zip(node.output, sizes):
            self._slice_layer(node, out, x, start, start + int(size))
            start += int(size)

    def op_Concat(self, node: Any, ins: list[str]) -> None:
        if int(attrs(node).get("axis", 1)) % 4 != 1:
            raise self.refuse(node, "Concat along an axis other than channels")
        if not all(self.is_act(i) for i in ins if i):
            raise self.refuse(node, "Concat of an activation with a constant")
        xs = [self.layer_of(i, node) for i in ins if i]
        shapes = [self.b.shapes[x] for x in xs]
        n, _, h, w = shapes[0]
        if any(s[2:] != (h, w) for s in shapes):
            raise self.bad(
                node, f"inputs of spatial sizes {[list(s[2:]) for s in shapes]} cannot be concatenated"
            )
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=LayerKind.CONCAT,
                op="concat",
                inputs=tuple(xs),
                in_shapes=tuple(shapes),
                out_shape=(n, sum(s[1] for s in shapes), h, w),
            ),
        )

    def _fc(self, node: Any, x: str, cin_w: int, cout: int, has_bias: bool) -> None:
        n, c, h, w = self.b.shapes[x]
        if cin_w != c * h * w:
            raise self.bad(
                node,
                f"weights expect {cin_w} input features; the input {x!r} of shape {(n, c, h, w)} "
                f"has {c * h * w}",
            )
        self.add(
            node,
            Layer(
                name=self.unique(node),
                kind=LayerKind.FC,
                op="fc",
                inputs=(x,),
                in_shapes=((n, c * h * w, 1, 1),),
                out_shape=(n, cout, 1, 1),
                has_bias=has_bias,
                attrs={"bias": has_bias},
            ),
        )

    def op_Gemm(self, node: Any, ins: list[str]) -> None:
        a = attrs(node)
        if a.get("transA", 0):
            raise self.refuse(node, "Gemm with transA")
        if ins[1] in self.alias:
            raise self.refuse(node, "Gemm of two activations")
        wdims = self.dims_of(ins[1], node)
        if len(wdims) != 2:
            raise self.bad(node, f"weights of dims {list(wdims)} (Gemm needs a matrix)")
        cout, cin_w = (wdims[0], wdims[1]) if a.get("transB", 0) else (wdims[1], wdims[0])
        self._fc(node, self.layer_of(ins[0], node), int(cin_w), int(cout), len(ins) > 2 and bool(ins[2]))

    def op_MatMul(self, node: Any, ins: list[str]) -> None:
        if ins[1] in self.alias:
            raise self.refuse(node, "MatMul of two activations")
        wdims = self.dims_of(ins[1], node)
        if len(wdims) != 2:
            raise self.refuse(node, f"MatMul with weights of dims {list(wdims)}")
        self._fc(node, self.layer_of(ins[0], node), int(wdims[0]), int(wdims[1]), False)


def import_onnx(path: str | Path, input_shape: Shape | None = None, name: str | None = None) -> Network:
    """Import an ONNX CNN (opset 11 to 21) into the IR.

    ``input_shape`` fixes dynamic dims, or re-derives every shape of a static export at
    another spatial size (refused, naming the node, where a constant hard-codes a shape).
    """
    path = Path(path)
    model = load_model(path)
    imp = _Importer(model, name or path.stem, input_shape)
    return imp.run()
