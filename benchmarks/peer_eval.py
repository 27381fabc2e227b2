"""One peer evaluation of an ONNX file, run by the peer's own Python (see bench_peers.py).

``python peer_eval.py zigzag|stream MODEL.onnx WORKDIR`` prepares the export the way the peer
needs it (each fix is named in the output; BENCHMARKS.md explains them), calls the peer's public
API on one of its own shipped example accelerators, and prints one JSON line:
``{"tool", "version", "hardware", "fixes", "latency_cycles", "prepare_s", "evaluate_s"}``.
The preparation runs inside the timed process, as dualopu's own ONNX import does.
Only the peer's public API is called; nothing of its code is copied here.
"""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

import onnx
from onnx import numpy_helper

#: ZigZag 3.9.1's shipped single-core example closest to 1024 INT8 MACs: TPU-like, a 32 x 32 array.
ZIGZAG_HARDWARE = "inputs/hardware/tpu_like.yaml"
ZIGZAG_MAPPING = "inputs/mapping/tpu_like.yaml"
#: Stream 2.1.1 ships no single-core 1024-MAC accelerator; its TPU-like example has four of ZigZag's
#: 32 x 32 INT8 cores (plus pooling, SIMD and DRAM cores). Override with the third argument.
STREAM_HARDWARE = "inputs/examples/hardware/tpu_like_quad_core.yaml"


def fix_batch(model: onnx.ModelProto) -> int:
    """Dynamic batch -> 1 on graph inputs/outputs (neither peer accepts a symbolic dimension)."""
    n = 0
    for vi in [*model.graph.input, *model.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
            n += 1
    return n


def fold_constants(model: onnx.ModelProto) -> int:
    """Constant nodes -> initializers; Identity of an initializer -> the initializer itself.

    torch's export of zeroed weights shares one tensor through Identity nodes; both peers then see
    the weight as a second layer input (ZigZag: "No more than 2 layer predecessors expected")."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    alias: dict[str, str] = {}
    keep: list[onnx.NodeProto] = []
    folded = 0
    for node in g.node:
        if node.op_type == "Constant" and len(node.output) == 1 and node.attribute[0].name == "value":
            tensor = onnx.helper.get_attribute_value(node.attribute[0])
            tensor.name = node.output[0]
            g.initializer.append(tensor)
            inits.add(tensor.name)
            folded += 1
            continue
        src = alias.get(node.input[0], node.input[0]) if node.input else ""
        if node.op_type == "Identity" and src in inits:
            alias[node.output[0]] = src
            folded += 1
            continue
        keep.append(node)
    for node in keep:
        for k, name in enumerate(node.input):
            node.input[k] = alias.get(name, name)
    del g.node[:]
    g.node.extend(keep)
    return folded


def clip_to_relu(model: onnx.ModelProto) -> int:
    """Clip (ReLU6) -> Relu: Stream 2.1.1 has no Clip parser; the cost class (element-wise) is the same."""
    n = 0
    for node in model.graph.node:
        if node.op_type == "Clip":
            node.op_type = "Relu"
            del node.input[1:]
            n += 1
    return n


def _channels(model: onnx.ModelProto) -> dict[str, int]:
    shapes: dict[str, int] = {}
    for vi in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            shapes[vi.name] = dims[1].dim_value
    return shapes


def split_concat(model: onnx.ModelProto) -> int:
    """Remove channel Concats exactly: Stream 2.1.1 has no Concat parser.

    A channel-wise op (MaxPool, Relu) of a concat is the concat of that op on each part, and a
    convolution over a concat is the sum of convolutions over its parts (weights split by input
    channel, the bias on the first): the same MACs plus one element-wise Add per split."""
    g = model.graph
    chans = _channels(model)
    inits = {t.name: t for t in g.initializer}
    parts: dict[str, list[str]] = {}  # a removed concat's output -> the tensors it joined
    out: list[onnx.NodeProto] = []
    removed = 0
    for node in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Concat" and attrs.get("axis") == 1:
            parts[node.output[0]] = [p for x in node.input for p in parts.get(x, [x])]
            removed += 1
            continue
        if not any(x in parts for x in node.input):
            out.append(node)
            continue
        src = node.input[0]
        if node.op_type in ("MaxPool", "Relu") and src in parts:
            new = []
            for k, p in enumerate(parts[src]):
                name = f"{node.output[0]}__part{k}"
                out.append(
                    onnx.helper.make_node(node.op_type, [p], [name], name=f"{node.name}__part{k}", **attrs)
                )
                chans[name] = chans[p]
                new.append(name)
            parts[node.output[0]] = new
            continue
        if node.op_type == "Conv" and src in parts and attrs.get("group", 1) == 1:
            weight = numpy_helper.to_array(inits[node.input[1]])
            start, partial = 0, []
            for k, p in enumerate(parts[src]):
                c = chans[p]
                w_name = f"{node.input[1]}__part{k}"
                g.initializer.append(numpy_helper.from_array(weight[:, start : start + c].copy(), w_name))
                start += c
                ins = [p, w_name] + (list(node.input[2:3]) if k == 0 else [])
                name = f"{node.output[0]}__part{k}"
                out.append(onnx.helper.make_node("Conv", ins, [name], name=f"{node.name}__part{k}", **attrs))
                partial.append(name)
            acc = partial[0]
            for k, p in enumerate(partial[1:], 1):
                name = node.output[0] if k == len(partial) - 1 else f"{node.output[0]}__sum{k}"
                out.append(onnx.helper.make_node("Add", [acc, p], [name], name=f"{node.name}__add{k}"))
                acc = name
            continue
        raise NotImplementedError(f"cannot split the concat feeding {node.op_type} {node.name}")
    del g.node[:]
    g.node.extend(out)
    del g.value_info[:]
    return removed


def prepare(path: str, work: Path, tool: str) -> tuple[str, dict[str, int]]:
    """The export as ``tool`` can read it, saved under ``work``; the fixes applied (name -> count)."""
    model = onnx.load(path)
    fixes = {"batch_1": fix_batch(model), "fold_constant_identity": fold_constants(model)}
    model = onnx.shape_inference.infer_shapes(model)
    fixes["shape_inference"] = 1
    if tool == "stream":
        fixes["clip_to_relu"] = clip_to_relu(model)
        fixes["split_concat"] = split_concat(model)
        model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    out = work / f"{Path(path).stem}.{tool}.onnx"
    onnx.save(model, str(out))
    return str(out), {k: v for k, v in fixes.items() if v}


def run_zigzag(onnx_path: str, work: Path) -> tuple[float, str]:
    from zigzag.api import get_hardware_performance_zigzag

    root = files("zigzag")
    _energy, latency, _cmes = get_hardware_performance_zigzag(
        onnx_path,
        str(root / ZIGZAG_HARDWARE),
        str(root / ZIGZAG_MAPPING),
        opt="latency",
        dump_folder=str(work / "zigzag-out"),
        pickle_filename=str(work / "zigzag-out" / "cmes.pickle"),
    )
    return float(latency), f"zigzag:{ZIGZAG_HARDWARE} + {ZIGZAG_MAPPING}"


def run_stream(
    onnx_path: str, work: Path, fixes: dict[str, int], hardware: str | None = None, fusion: str = "default"
) -> tuple[float, str]:
    """Stream's own mapping generator; if its fused groups cannot be allocated, Stream's
    documented layer-by-layer fallback (``fusion_cut_points: per-layer``). ``fusion="per-layer"``
    asks for layer-by-layer from the start (Stream's fused search on MobileNetV2 had not finished
    after 1155 s CPU)."""
    from stream.api import SolveOptions, evaluate_mapping
    from stream.ir.infeasibility import InfeasibleAllocationError

    hw = hardware or str(files("stream") / STREAM_HARDWARE)
    if fusion == "per-layer":
        fixes["per_layer_fusion_asked"] = 1
        options = SolveOptions(artifacts=False, stage_options={"fusion_cut_points": "per-layer"})
        est = evaluate_mapping(hw, onnx_path, str(work / "stream-out-per-layer"), options=options)
        return float(est.cycles), f"stream:{hardware or STREAM_HARDWARE} (per-layer)"
    try:
        est = evaluate_mapping(hw, onnx_path, str(work / "stream-out"), options=SolveOptions(artifacts=False))
    except InfeasibleAllocationError:
        fixes["per_layer_fusion_after_infeasible"] = 1
        options = SolveOptions(artifacts=False, stage_options={"fusion_cut_points": "per-layer"})
        est = evaluate_mapping(hw, onnx_path, str(work / "stream-out-per-layer"), options=options)
    return float(est.cycles), f"stream:{hardware or STREAM_HARDWARE}"


#: Optional last argument of ``peer_eval.py stream ...``: Stream's fusion (``default`` or ``per-layer``).
STREAM_FUSION_FLAG = "--stream-fusion="


def main(argv: list[str]) -> int:
    fusion = "default"
    for a in [a for a in argv if a.startswith(STREAM_FUSION_FLAG)]:
        fusion = a[len(STREAM_FUSION_FLAG) :]
        argv = [x for x in argv if x != a]
    tool, model, work = argv[1], argv[2], Path(argv[3])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    prepared, fixes = prepare(model, work, tool)
    t1 = time.perf_counter()
    if tool == "zigzag":
        cycles, hw = run_zigzag(prepared, work)
    elif tool == "stream":
        cycles, hw = run_stream(prepared, work, fixes, argv[4] if len(argv) > 4 else None, fusion)
    else:
        raise SystemExit(f"unknown peer {tool!r}")
    t2 = time.perf_counter()
    result: dict[str, Any] = {
        "tool": tool,
        "version": metadata.version(f"{tool}-dse"),
        "hardware": hw,
        "fixes": fixes,
        "latency_cycles": cycles,
        "prepare_s": t1 - t0,
        "evaluate_s": t2 - t1,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
