"""Task graphs of (network, image, layer), schedulers, lower bounds and a validator.

A workload is networks with a number of images each. Every (network, image, layer) is a
task with its cost on every core (the cost model's matrix; ``inf`` where a core cannot
run it) and its DRAM bytes. Schedulers place each task on a core at a start time:

* ``heuristic``: event-driven list scheduling over per-core ready queues. Priority is the
  image's arrival rank, then the layer's remaining critical path, so older images finish
  first while every core takes whatever work of any image is ready (images interleave and
  the regular and depthwise cores overlap). Element-wise tasks that several cores can run
  go to the core that can finish them first. Shared DRAM: a task that starts while other
  cores stream data gets the bandwidth they leave (fluid model, stretched duration).
* ``sequential``: images one after another, layers in order on their default core (the
  effect of the scheduler alone is the gap to ``heuristic``).
* ``cpsat``: OR-Tools CP-SAT on the same task graph (fixed default placement, no
  contention), for small workloads, to measure the heuristic's optimality gap.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from dualopu.cost.evaluate import CostMatrix, check_runs, place_layers
from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware
from dualopu.ir.network import MAC_KINDS, Network

_EPS = 1e-6


@dataclass(frozen=True)
class Workload:
    """Networks and how many images of each to run."""

    networks: tuple[Network, ...]
    images: tuple[int, ...]

    @staticmethod
    def single(net: Network, images: int) -> Workload:
        return Workload((net,), (images,))

    @staticmethod
    def mix(items: Sequence[tuple[Network, int]]) -> Workload:
        if not items:
            raise ScheduleError("empty workload")
        if any(n < 1 for _, n in items):
            raise ScheduleError("every network needs at least one image")
        return Workload(tuple(n for n, _ in items), tuple(int(k) for _, k in items))

    @property
    def total_images(self) -> int:
        return int(sum(self.images))

    @property
    def total_macs(self) -> int:
        return int(sum(net.total_macs * k for net, k in zip(self.networks, self.images)))


@dataclass(frozen=True)
class TaskGraph:
    """Flat arrays over all tasks of a workload on one processor."""

    workload: Workload
    hardware: Hardware
    net: np.ndarray  # network index per task
    image: np.ndarray  # image index within its network
    layer: np.ndarray  # layer index within its network
    cost: np.ndarray  # (n_tasks, n_cores) cycles, inf where not runnable
    dram_bytes: np.ndarray  # (n_tasks, n_cores)
    default_core: np.ndarray  # the cost model's placement
    preds: tuple[tuple[int, ...], ...]
    succs: tuple[tuple[int, ...], ...]
    rank: np.ndarray  # arrival rank of the task's image (interleaving networks)
    tail: np.ndarray  # remaining critical path (min cost) from this task to its image's end

    def __len__(self) -> int:
        return int(self.net.shape[0])

    @cached_property
    def min_cost(self) -> np.ndarray:
        return self.cost.min(axis=1)


def build_task_graph(workload: Workload, hw: Hardware, matrices: Sequence[CostMatrix] | None = None) -> TaskGraph:
    """Every (network, image, layer) as a task with costs on every core."""
    nets, imgs = workload.networks, workload.images
    mats = list(matrices) if matrices is not None else [check_runs(n, hw) for n in nets]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("net", "image", "layer", "cost", "bytes", "core", "rank", "tail")}
    preds: list[tuple[int, ...]] = []
    base = 0
    max_imgs = max(imgs)
    for ni, (net, n_img, cm) in enumerate(zip(nets, imgs, mats)):
        L = len(net)
        place = place_layers(net, hw, cm)
        mc = np.where(np.isfinite(cm.cycles), cm.cycles, np.inf).min(axis=1)
        tail = np.zeros(L)
        for li in range(L - 1, -1, -1):
            succ = net.successors[li]
            tail[li] = mc[li] + (max(tail[s] for s in succ) if succ else 0.0)
        for img in range(n_img):
            parts["net"].append(np.full(L, ni))
            parts["image"].append(np.full(L, img))
            parts["layer"].append(np.arange(L))
            parts["cost"].append(cm.cycles)
            parts["bytes"].append(cm.dram_bytes)
            parts["core"].append(place)
            # Spread each network's images evenly over the arrival order so mixes interleave.
            parts["rank"].append(np.full(L, (img + 0.5) / n_img * max_imgs + ni * 1e-3))
            parts["tail"].append(tail)
            preds += [tuple(base + p for p in net.predecessors[li]) for li in range(L)]
            base += L
    succs: list[list[int]] = [[] for _ in preds]
    for t, ps in enumerate(preds):
        for p in ps:
            succs[p].append(t)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return TaskGraph(workload, hw, cat["net"].astype(np.int64), cat["image"].astype(np.int64),
                     cat["layer"].astype(np.int64), cat["cost"], cat["bytes"], cat["core"].astype(np.int64),
                     tuple(preds), tuple(tuple(s) for s in succs), cat["rank"], cat["tail"])


@dataclass(frozen=True)
class Bound:
    """Lower bound on makespan and its parts."""

    cycles: float
    core_work: float  # busiest core over the work only it can run / average over capable cores
    critical_path: float
    dram: float

    def to_dict(self) -> dict[str, float]:
        return {"cycles": self.cycles, "core_work": self.core_work, "critical_path": self.critical_path,
                "dram": self.dram}


def lower_bound(workload: Workload, hw: Hardware, graph: TaskGraph | None = None) -> Bound:
    """Makespan >= max(work bound, one image's critical path, DRAM bytes / bandwidth).

    Work bound: tasks only one core can run load that core; tasks several cores can run are
    spread at their cheapest cost over all cores (a relaxation valid for any schedule)."""
    g = graph or build_task_graph(workload, hw)
    finite = np.isfinite(g.cost)
    n_capable = finite.sum(axis=1)
    only = n_capable == 1
    fixed = np.zeros(len(hw.cores))
    for k in range(len(hw.cores)):
        sel = only & finite[:, k]
        fixed[k] = g.cost[sel, k].sum()
    flexible = g.min_cost[~only].sum()
    work = max(float(fixed.max()), float((fixed.sum() + flexible) / len(hw.cores)))
    crit = float(g.tail.max()) if len(g) else 0.0
    dram = float(np.where(finite, g.dram_bytes, np.inf).min(axis=1).sum() / hw.dram_bytes_per_cycle)
    return Bound(max(work, crit, dram), work, crit, dram)


@dataclass(frozen=True)
class Schedule:
    """A placement and timing of every task."""

    method: str
    hardware_name: str
    clock_mhz: float
    net: np.ndarray
    image: np.ndarray
    layer: np.ndarray
    core: np.ndarray
    start: np.ndarray
    end: np.ndarray
    lower_bound_cycles: float
    total_images: int
    core_names: tuple[str, ...]
    status: str = "heuristic"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def makespan_cycles(self) -> float:
        return float(self.end.max()) if len(self.end) else 0.0

    @property
    def throughput_ips(self) -> float:
        return self.total_images * self.clock_mhz * 1e6 / max(self.makespan_cycles, _EPS)

    @property
    def fraction_of_bound(self) -> float:
        return self.lower_bound_cycles / max(self.makespan_cycles, _EPS)

    @property
    def core_utilization(self) -> dict[str, float]:
        busy = np.bincount(self.core, weights=self.end - self.start, minlength=len(self.core_names))
        return {n: float(b / max(self.makespan_cycles, _EPS)) for n, b in zip(self.core_names, busy)}

    def core_macs(self, workload: Workload) -> np.ndarray:
        macs = np.concatenate([net.table.macs for net in workload.networks])
        offsets = np.cumsum([0] + [len(n) for n in workload.networks])[:-1]
        per_task = macs[offsets[self.net] + self.layer]
        return np.bincount(self.core, weights=per_task.astype(float), minlength=len(self.core_names))

    def summary(self, workload: Workload, hw: Hardware) -> dict[str, Any]:
        mk = self.makespan_cycles
        core_macs = self.core_macs(workload)
        return {
            "method": self.method,
            "status": self.status,
            "hardware": self.hardware_name,
            "networks": [n.name for n in workload.networks],
            "images": list(workload.images),
            "tasks": len(self.start),
            "makespan_cycles": mk,
            "throughput_ips": self.throughput_ips,
            "lower_bound_cycles": self.lower_bound_cycles,
            "fraction_of_bound": self.fraction_of_bound,
            "core_utilization": self.core_utilization,
            "core_pe_efficiency": {c.name: float(core_macs[k] / (c.macs_per_cycle * max(mk, _EPS)))
                                   for k, c in enumerate(hw.cores)},
            "pe_efficiency": workload.total_macs / (hw.total_macs_per_cycle * max(mk, _EPS)),
            **self.extra,
        }

    def to_json(self) -> str:
        return json.dumps({
            "method": self.method, "status": self.status, "hardware": self.hardware_name, "clock_mhz": self.clock_mhz,
            "core_names": list(self.core_names), "lower_bound_cycles": self.lower_bound_cycles,
            "total_images": self.total_images, "extra": self.extra,
            "tasks": {"net": self.net.tolist(), "image": self.image.tolist(), "layer": self.layer.tolist(),
                      "core": self.core.tolist(), "start": self.start.tolist(), "end": self.end.tolist()},
        })

    @staticmethod
    def from_json(text: str) -> Schedule:
        try:
            d = json.loads(text)
            t = d["tasks"]
            arrays = {k: np.asarray(t[k], dtype=float if k in ("start", "end") else np.int64)
                      for k in ("net", "image", "layer", "core", "start", "end")}
            n = {len(v) for v in arrays.values()}
            if len(n) != 1:
                raise ScheduleError("schedule file: task arrays have different lengths")
            return Schedule(d["method"], d["hardware"], float(d["clock_mhz"]), arrays["net"], arrays["image"],
                            arrays["layer"], arrays["core"], arrays["start"], arrays["end"],
                            float(d["lower_bound_cycles"]), int(d["total_images"]), tuple(d["core_names"]),
                            d.get("status", ""), d.get("extra", {}))
        except ScheduleError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ScheduleError(f"not a dualopu schedule file ({type(exc).__name__}: {exc})") from None


def _contended(duration: float, bytes_: float, running_rate: float, bw: float) -> float:
    """Duration of a task needing ``bytes_`` when other cores already stream ``running_rate`` B/cycle."""
    if bytes_ <= 0 or duration <= 0:
        return duration
    free = max(bw - running_rate, bw * 0.05)
    return max(duration, bytes_ / free)


def _heuristic(g: TaskGraph, contention: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, K = len(g), len(g.hardware.cores)
    bw = g.hardware.dram_bytes_per_cycle
    cost, dbytes = g.cost, g.dram_bytes
    finite = np.isfinite(cost)
    flexible = finite.sum(axis=1) > 1
    remaining = np.fromiter((len(p) for p in g.preds), dtype=np.int64, count=n)
    start, end = np.zeros(n), np.zeros(n)
    core = np.full(n, -1, dtype=np.int64)
    ready: list[list[tuple[float, float, int]]] = [[] for _ in range(K)]
    rank, tail = g.rank, g.tail
    free_at = np.zeros(K)
    rate = np.zeros(K)  # DRAM bytes/cycle each core is streaming now
    busy_until = np.zeros(K)
    committed = np.zeros(K)  # cycles of work queued or run on each core
    events: list[tuple[float, int]] = []
    now = 0.0

    done = 0

    def enqueue(t: int) -> None:
        nonlocal done
        if flexible[t]:
            # balance: the capable core with the least work committed so far, counting this task
            k = int(np.argmin(np.where(finite[t], committed + cost[t], np.inf)))
        else:
            k = int(g.default_core[t]) if finite[t, g.default_core[t]] else int(np.argmax(finite[t]))
        if cost[t, k] <= _EPS:  # data movement by address remapping: done as soon as ready
            start[t] = end[t] = now
            core[t] = k
            done += 1
            finish(t)
            return
        committed[k] += cost[t, k]
        heapq.heappush(ready[k], (rank[t], -tail[t], t))

    def finish(t: int) -> None:
        for s in g.succs[t]:
            remaining[s] -= 1
            if remaining[s] == 0:
                enqueue(s)

    for t in np.flatnonzero(remaining == 0):
        enqueue(int(t))
    while done < n:
        for k in range(K):
            if free_at[k] <= now + _EPS and ready[k]:
                _, _, t = heapq.heappop(ready[k])
                d = cost[t, k]
                if contention:
                    active = busy_until > now + _EPS
                    active[k] = False
                    d = _contended(d, dbytes[t, k], float(rate[active].sum()), bw)
                start[t], end[t], core[t] = now, now + d, k
                free_at[k] = busy_until[k] = now + d
                rate[k] = dbytes[t, k] / d
                heapq.heappush(events, (now + d, t))
        if not events:
            if done < n:
                raise ScheduleError("scheduler stalled: a task can never become ready (cycle in the graph?)")
            break
        now, t = heapq.heappop(events)
        finished = [t]
        while events and events[0][0] <= now + _EPS:
            finished.append(heapq.heappop(events)[1])
        for t2 in finished:
            rate[core[t2]] = 0.0
            done += 1
        for t2 in finished:
            finish(t2)
    return core, start, end


def _sequential(g: TaskGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((g.layer, g.image, g.net))
    core = g.default_core.copy()
    dur = g.cost[np.arange(len(g)), core]
    end_sorted = np.cumsum(dur[order])
    start, end = np.zeros(len(g)), np.zeros(len(g))
    end[order] = end_sorted
    start[order] = end_sorted - dur[order]
    return core, start, end


def _cpsat(g: TaskGraph, time_limit_s: float, hint: tuple[np.ndarray, np.ndarray] | None) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, str]:
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    core = g.default_core.copy()
    dur = np.ceil(g.cost[np.arange(len(g)), core] - 1e-9).astype(np.int64)
    horizon = int(dur.sum()) + 1
    starts = [m.new_int_var(0, horizon, f"s{t}") for t in range(len(g))]
    intervals = [m.new_fixed_size_interval_var(starts[t], int(dur[t]), f"i{t}") for t in range(len(g))]
    for k in range(len(g.hardware.cores)):
        m.add_no_overlap([intervals[t] for t in np.flatnonzero((core == k) & (dur > 0))])
    for t, ps in enumerate(g.preds):
        for p in ps:
            m.add(starts[t] >= starts[p] + int(dur[p]))
    mk = m.new_int_var(0, horizon, "makespan")
    for t in range(len(g)):
        m.add(mk >= starts[t] + int(dur[t]))
    m.minimize(mk)
    if hint is not None:
        for t in range(len(g)):
            m.add_hint(starts[t], round(float(hint[1][t])))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 2
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise ScheduleError(f"CP-SAT found no schedule within {time_limit_s:g} s")
    st = np.array([solver.value(s) for s in starts], dtype=float)
    return core, st, st + dur, solver.status_name(status)


def schedule(
    workload: Workload, hw: Hardware, method: str = "heuristic", *, contention: bool = True,
    time_limit_s: float = 10.0, matrices: Sequence[CostMatrix] | None = None,
) -> Schedule:
    """Schedule a workload on ``hw`` with ``heuristic``, ``sequential`` or ``cpsat``."""
    g = build_task_graph(workload, hw, matrices)
    bound = lower_bound(workload, hw, g)
    extra: dict[str, Any] = {"bound": bound.to_dict()}
    status = method
    if method == "heuristic":
        core, start, end = _heuristic(g, contention)
    elif method == "sequential":
        core, start, end = _sequential(g)
    elif method == "cpsat":
        if len(g) > 3000:
            raise ScheduleError(f"cpsat is for small workloads (got {len(g)} tasks; use a few images)")
        h_core, h_start, _ = _heuristic(g, contention=False)
        core, start, end, status = _cpsat(g, time_limit_s, (h_core, h_start) if (h_core == g.default_core).all()
                                          else None)
        extra["time_limit_s"] = time_limit_s
    else:
        raise ScheduleError(f"unknown method {method!r}: heuristic, sequential or cpsat")
    return Schedule(method, hw.name, hw.clock_mhz, g.net, g.image, g.layer, core, start, end, bound.cycles,
                    workload.total_images, tuple(c.name for c in hw.cores), status, extra)


@dataclass(frozen=True)
class SteadyState:
    """Software-pipelined view: cycles per image in steady state and its bound."""

    period_cycles: float
    bound_cycles: float
    throughput_ips: float


def steady_state(workload: Workload, hw: Hardware, rounds: int = 32) -> SteadyState:
    """Per-round period (one image of each network per round) from a long heuristic schedule,
    measured between the middle and the end so pipeline fill is excluded, and its bound."""
    w_short = Workload(workload.networks, tuple(max(1, rounds // 2) for _ in workload.networks))
    w_long = Workload(workload.networks, tuple(rounds for _ in workload.networks))
    m_short = schedule(w_short, hw).makespan_cycles
    m_long = schedule(w_long, hw).makespan_cycles
    period = (m_long - m_short) / (rounds - max(1, rounds // 2))
    one = Workload(workload.networks, tuple(1 for _ in workload.networks))
    b = lower_bound(one, hw)
    bound = max(b.core_work, b.dram)
    return SteadyState(period, bound, len(workload.networks) * hw.clock_mhz * 1e6 / period)


def validate(sched: Schedule, workload: Workload, hw: Hardware) -> None:
    """Raise ScheduleError unless every task runs once, on a capable core, for at least its
    cost, after its predecessors, and no core runs two tasks at once."""
    g = build_task_graph(workload, hw)
    if len(sched.start) != len(g):
        raise ScheduleError(f"schedule has {len(sched.start)} tasks, the workload {len(g)}")
    key = sched.net * 10**9 + sched.image * 10**5 + sched.layer
    gkey = g.net * 10**9 + g.image * 10**5 + g.layer
    if len(np.unique(key)) != len(key):
        raise ScheduleError("a task is scheduled twice")
    order = np.argsort(key)
    if not np.array_equal(key[order], np.sort(gkey)):
        raise ScheduleError("the schedule's tasks differ from the workload's (missing or unknown task)")
    pos = np.empty(len(g), dtype=np.int64)
    pos[np.argsort(gkey)] = order  # graph task -> schedule row
    core, start, end = sched.core[pos], sched.start[pos], sched.end[pos]
    if ((core < 0) | (core >= len(hw.cores))).any():
        raise ScheduleError("a task is on a core that does not exist")
    cost = g.cost[np.arange(len(g)), core]
    if not np.isfinite(cost).all():
        t = int(np.flatnonzero(~np.isfinite(cost))[0])
        raise ScheduleError(f"task {t} runs on core {hw.cores[core[t]].name!r}, which cannot run it")
    if (end - start < cost - 1e-6 * np.maximum(cost, 1)).any():
        raise ScheduleError("a task runs shorter than its cost")
    if (start < -_EPS).any():
        raise ScheduleError("a task starts before time 0")
    for t, ps in enumerate(g.preds):
        for p in ps:
            if start[t] < end[p] - _EPS:
                raise ScheduleError(f"dependency broken: task {t} starts before its predecessor {p} ends")
    for k in range(len(hw.cores)):
        sel = np.flatnonzero((core == k) & (end - start > _EPS))
        o = sel[np.lexsort((end[sel], start[sel]))]
        if (start[o][1:] < end[o][:-1] - _EPS).any():
            raise ScheduleError(f"core {hw.cores[k].name!r} runs two tasks at once")


def is_mac_task(workload: Workload, net: int, layer: int) -> bool:
    return workload.networks[net].layers[layer].kind in MAC_KINDS
