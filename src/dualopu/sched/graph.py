"""Task graphs: every (network, image, layer) of a workload as a task with costs on every core.

Task ids are dense integers: network ``n``'s image ``i`` layer ``l`` is
``offset[n] + i * len(net_n) + l``. Dependencies are compressed sparse rows (CSR) of
integer ids, built with numpy from each network's layer DAG, so a graph of 1,000 images
takes milliseconds. Zero-cost layers (concat, slice, shuffle, flatten: address remapping)
stay tasks of duration 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dualopu.cost.evaluate import CostMatrix, check_runs
from dualopu.cost.placement import place_workload
from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware
from dualopu.ir.network import Network
from dualopu.sched.workload import Workload


@dataclass(frozen=True)
class NetPlan:
    """One network's per-layer arrays, shared by all its images."""

    network: Network
    cost: np.ndarray  # (L, K) cycles, inf where a core cannot run the layer
    dram_bytes: np.ndarray  # (L, K)
    default_core: np.ndarray  # (L,) `dualopu.cost.placement.place_workload`'s placement
    src: np.ndarray  # layer-level edges src -> dst
    dst: np.ndarray
    min_cost: np.ndarray  # (L,) cheapest capable core
    head: np.ndarray  # (L,) longest min-cost path before the layer starts
    tail: np.ndarray  # (L,) longest min-cost path from the layer's start to the image's end
    head_cycles: np.ndarray  # (L, K) first phase: the layer's loads at the port's full rate (`_ends`)
    head_bytes: np.ndarray  # (L, K)
    end_cycles: np.ndarray  # (L, K) last phase: its stores at the port's full rate
    end_bytes: np.ndarray  # (L, K)


def net_plan(net: Network, hw: Hardware, cm: CostMatrix | None, core: np.ndarray) -> NetPlan:
    """Per-layer costs, placement ``core`` and critical-path lengths of one network on ``hw``."""
    cm = check_runs(net, hw, cm)
    if cm.cycles.shape != (len(net), len(hw.cores)):
        raise ScheduleError(
            f"cost matrix of {net.name!r} has shape {cm.cycles.shape}, expected ({len(net)}, {len(hw.cores)})"
        )
    cost = np.where(np.isfinite(cm.cycles), np.maximum(cm.cycles, 0.0), np.inf)
    dram = np.where(np.isfinite(cost), np.maximum(cm.dram_bytes, 0.0), 0.0)
    edges = sorted({(p, i) for i, ps in enumerate(net.predecessors) for p in ps})
    src = np.array([e[0] for e in edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges], dtype=np.int64)
    mc = cost.min(axis=1)
    L = len(net)
    head, tail = np.zeros(L), mc.copy()
    preds, succs = net.predecessors, net.successors
    for i in range(L):  # layers are in topological order
        if preds[i]:
            head[i] = max(head[p] + mc[p] for p in preds[i])
    for i in range(L - 1, -1, -1):
        if succs[i]:
            tail[i] = mc[i] + max(tail[s] for s in succs[i])
    hb, hc, eb, ec = _ends(cm, hw, cost)
    return NetPlan(
        net, cost, dram, np.asarray(core, dtype=np.int64), src, dst, mc, head, tail, hc, hb, ec, eb
    )


def _ends(
    cm: CostMatrix, hw: Hardware, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bytes and cycles of a layer's port phases, its loads first and its stores last: the
    cost model's bytes, each at the port's full rate for the port time the cost model prices
    them at (`CostMatrix.memory_cycles`, split by bytes). The simulator runs every transfer at
    the port's rate; a transfer's fixed costs (burst-row latency, instruction overhead, store
    drain) hold only the core's own DMA engine. So the rest of the task (compute and those
    fixed costs) is a phase without DRAM demand, which contention does not stretch: spreading
    the bytes over it would count that time as bandwidth use and hide collisions."""
    ok = np.isfinite(cost) & (cost > 0)
    load = np.where(ok, np.maximum(cm.load_bytes, 0.0), 0.0)
    store = np.where(ok, np.maximum(cm.store_bytes, 0.0), 0.0)
    port = np.where(ok, np.maximum(cm.memory_cycles, 0.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        load_share = np.where(load + store > 0, load / (load + store), 0.0)
    hb, eb = load, store
    hc, ec = port * load_share, port * (1.0 - load_share)
    scale = np.where(
        hc + ec > 0.5 * np.where(ok, cost, 0.0),
        0.5 * np.where(ok, cost, 0.0) / np.maximum(hc + ec, 1e-12),
        1.0,
    )  # a DRAM-bound layer: its port phases take half its time at most, the other bytes stream evenly
    return hb * scale, hc * scale, eb * scale, ec * scale


def _csr(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, values[order]


@dataclass(frozen=True)
class TaskGraph:
    """Flat arrays over all tasks of a workload on one processor."""

    workload: Workload
    hardware: Hardware
    plans: tuple[NetPlan, ...]
    offset: np.ndarray  # first task id of each network (length N + 1)
    net: np.ndarray  # network index per task
    image: np.ndarray  # image index within its network
    layer: np.ndarray  # layer index within its network
    cls: np.ndarray  # (network, layer) class index: same costs for every image
    cost: np.ndarray  # (n, K) cycles, inf where not runnable
    dram_bytes: np.ndarray  # (n, K)
    default_core: np.ndarray
    src: np.ndarray  # task-level edges src -> dst
    dst: np.ndarray
    pred_ptr: np.ndarray
    pred_idx: np.ndarray
    succ_ptr: np.ndarray
    succ_idx: np.ndarray
    rank: np.ndarray  # arrival rank of the task's image (interleaves networks by share)
    head: np.ndarray
    tail: np.ndarray
    head_cycles: np.ndarray  # (n, K) see `NetPlan`
    head_bytes: np.ndarray
    end_cycles: np.ndarray
    end_bytes: np.ndarray

    def __len__(self) -> int:
        return int(self.net.shape[0])

    @property
    def n_cores(self) -> int:
        return len(self.hardware.cores)

    @cached_property
    def min_cost(self) -> np.ndarray:
        return self.cost.min(axis=1)

    @cached_property
    def capable(self) -> np.ndarray:
        """(n, K) whether each core can run each task."""
        return np.isfinite(self.cost)

    def task_id(self, net: np.ndarray, image: np.ndarray, layer: np.ndarray) -> np.ndarray:
        """Dense ids of (network, image, layer) triples (no range check)."""
        sizes = np.array([len(p.network) for p in self.plans], dtype=np.int64)
        return self.offset[net] + image * sizes[net] + layer

    def describe(self, t: int) -> str:
        """``network image #i layer 'name'`` for error messages."""
        p = self.plans[int(self.net[t])]
        return (
            f"{p.network.name} image {int(self.image[t])} layer {p.network.layers[int(self.layer[t])].name!r}"
        )


def build_task_graph(
    workload: Workload, hw: Hardware, matrices: Sequence[CostMatrix | None] | None = None
) -> TaskGraph:
    """Every (network, image, layer) of ``workload`` as a task with its cost on every core of ``hw``.

    ``matrices`` optionally gives a precomputed cost matrix per network (same order)."""
    nets, imgs = workload.networks, workload.images
    if matrices is not None and len(matrices) != len(nets):
        raise ScheduleError(f"{len(matrices)} cost matrices for {len(nets)} networks")
    cms = [check_runs(n, hw, None if matrices is None else matrices[i]) for i, n in enumerate(nets)]
    placed = place_workload(nets, hw, cms, imgs).split([len(n) for n in nets])
    plans = tuple(net_plan(n, hw, cm, p.core) for n, cm, p in zip(nets, cms, placed))
    sizes = np.array([len(n) for n in nets], dtype=np.int64)
    counts = np.array(imgs, dtype=np.int64)
    offset = np.zeros(len(nets) + 1, dtype=np.int64)
    np.cumsum(sizes * counts, out=offset[1:])
    cls_off = np.concatenate([[0], np.cumsum(sizes)])
    max_imgs = int(counts.max())
    parts: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "net",
            "image",
            "layer",
            "cls",
            "cost",
            "bytes",
            "core",
            "rank",
            "head",
            "tail",
            "src",
            "dst",
            "hc",
            "hb",
            "ec",
            "eb",
        )
    }
    for ni, (p, m) in enumerate(zip(plans, imgs)):
        L = len(p.network)
        img = np.repeat(np.arange(m, dtype=np.int64), L)
        parts["net"].append(np.full(L * m, ni, dtype=np.int64))
        parts["image"].append(img)
        parts["layer"].append(np.tile(np.arange(L, dtype=np.int64), m))
        parts["cls"].append(np.tile(np.arange(L, dtype=np.int64) + cls_off[ni], m))
        parts["cost"].append(np.tile(p.cost, (m, 1)))
        parts["bytes"].append(np.tile(p.dram_bytes, (m, 1)))
        parts["core"].append(np.tile(p.default_core, m))
        parts["rank"].append((img + 0.5) / m * max_imgs + ni * 1e-6)
        parts["head"].append(np.tile(p.head, m))
        parts["tail"].append(np.tile(p.tail, m))
        for key, arr in (
            ("hc", p.head_cycles),
            ("hb", p.head_bytes),
            ("ec", p.end_cycles),
            ("eb", p.end_bytes),
        ):
            parts[key].append(np.tile(arr, (m, 1)))
        shift = offset[ni] + np.arange(m, dtype=np.int64)[:, None] * L
        parts["src"].append((shift + p.src[None, :]).ravel())
        parts["dst"].append((shift + p.dst[None, :]).ravel())
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    n = int(offset[-1])
    src, dst = cat["src"].astype(np.int64), cat["dst"].astype(np.int64)
    pred_ptr, pred_idx = _csr(dst, src, n)
    succ_ptr, succ_idx = _csr(src, dst, n)
    return TaskGraph(
        workload,
        hw,
        plans,
        offset,
        cat["net"],
        cat["image"],
        cat["layer"],
        cat["cls"],
        cat["cost"],
        cat["bytes"],
        cat["core"],
        src,
        dst,
        pred_ptr,
        pred_idx,
        succ_ptr,
        succ_idx,
        cat["rank"],
        cat["head"],
        cat["tail"],
        cat["hc"],
        cat["hb"],
        cat["ec"],
        cat["eb"],
    )
