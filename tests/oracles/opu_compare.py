"""Per-layer comparison of our analytical model with the authors' semantics (opu_semantics).

Used by tests/test_opu_fidelity.py and benchmarks/opu_fidelity.py. Distinct layer shapes of a
network are grouped by kind (first conv, pointwise expand / project, depthwise s1 / s2, FC);
per kind it reports the geometric-mean ratio ours/theirs and the Spearman rank correlation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dualopu.cost.evaluate import cost_matrix
from dualopu.hw.config import Hardware
from dualopu.ir.network import LayerKind, Network

from .opu_semantics import LayerShape, OpuArch, layer_cycles

KINDS = ("first conv", "pointwise expand", "pointwise project", "depthwise s1", "depthwise s2", "fc")


@dataclass(frozen=True)
class Row:
    kind: str
    shape: LayerShape
    ours_cycles: float
    theirs_cycles: float


def layer_kind_name(kind: LayerKind, c_in: int, c_out: int, stride: int) -> str | None:
    if kind is LayerKind.CONV:
        return "first conv"
    if kind is LayerKind.POINTWISE:
        return "pointwise expand" if c_out > c_in else "pointwise project"
    if kind is LayerKind.DEPTHWISE:
        return "depthwise s1" if stride == 1 else "depthwise s2"
    if kind is LayerKind.FC:
        return "fc"
    return None


def compare(net: Network, hw: Hardware, arch: OpuArch = OpuArch()) -> list[Row]:
    """One row per distinct MAC-layer shape of ``net`` on the first core of ``hw``."""
    cm = cost_matrix(net, hw)
    rows: dict[tuple, Row] = {}
    for i, layer in enumerate(net.layers):
        c_in, c_out = layer.in_channels, layer.out_channels
        name = layer_kind_name(layer.kind, c_in, c_out, layer.stride[0])
        if name is None:
            continue
        if layer.kind is LayerKind.FC:
            shape = LayerShape("fc", math.prod(layer.in_shape[1:]), c_out, 1, 1)
        else:
            _, _, h, w = layer.in_shape
            kind = "depthwise" if layer.kind is LayerKind.DEPTHWISE else "conv"
            shape = LayerShape(kind, c_in, c_out, h, w, layer.kernel[0], layer.stride[0], layer.padding[0])
        key = (name, shape)
        if key not in rows:
            rows[key] = Row(
                name, shape, float(cm.cycles[i, 0]), float(layer_cycles(shape, arch).total_cycles)
            )
    return list(rows.values())


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):  # average ties
        m = x == v
        r[m] = r[m].mean()
    return r


def spearman(a: list[float], b: list[float]) -> float:
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(np.asarray(a)), _ranks(np.asarray(b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def geomean_ratio(rows: list[Row]) -> float:
    return float(np.exp(np.mean([np.log(r.ours_cycles / r.theirs_cycles) for r in rows])))


def summary(rows: list[Row]) -> dict[str, tuple[int, float, float]]:
    """kind -> (n shapes, geometric-mean ratio ours/theirs, Spearman); plus 'all' and 'depthwise'."""
    out: dict[str, tuple[int, float, float]] = {}
    groups = {k: [r for r in rows if r.kind == k] for k in KINDS}
    groups["depthwise"] = [r for r in rows if r.kind.startswith("depthwise")]
    groups["all"] = rows
    for k, rs in groups.items():
        if rs:
            out[k] = (
                len(rs),
                geomean_ratio(rs),
                spearman([r.ours_cycles for r in rs], [r.theirs_cycles for r in rs]),
            )
    return out


def table(rows: list[Row]) -> str:
    lines = ["| layer kind | shapes | geo-mean ours/theirs | Spearman |", "|---|---|---|---|"]
    for k, (n, g, rho) in summary(rows).items():
        lines.append(f"| {k} | {n} | {g:.2f} | {rho:.2f} |")
    return "\n".join(lines)
