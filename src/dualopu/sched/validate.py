"""Schedule validator: the contract every scheduler's output must meet."""

from __future__ import annotations

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.hw.config import Hardware
from dualopu.sched.fluid import DramCollision, replay, task_phases
from dualopu.sched.graph import TaskGraph, build_task_graph
from dualopu.sched.schedule import Schedule
from dualopu.sched.workload import Workload


def validate(sched: Schedule, workload: Workload, hw: Hardware, graph: TaskGraph | None = None) -> None:
    """Raise ScheduleError (one line naming the task) unless:

    every task of the workload runs exactly once, on a core that can run it, starting at a
    finite time >= 0, for at least its no-contention cost; after all its predecessors end;
    no core runs two tasks of positive duration at once; and, when the schedule models
    shared-DRAM contention, replaying the fluid DRAM model from the start times lets every
    task finish by its recorded end (so the DRAM port never delivers more than its bandwidth)."""
    g = graph if graph is not None else build_task_graph(workload, hw)
    n, K = len(g), len(hw.cores)
    cols = {
        "net": sched.net,
        "image": sched.image,
        "layer": sched.layer,
        "core": sched.core,
        "start": sched.start,
        "end": sched.end,
    }
    if sched.task is not None:
        cols["task"] = sched.task
    if len({len(np.asarray(v)) for v in cols.values()}) != 1:
        raise ScheduleError("schedule: task arrays have different lengths")
    names = tuple(c.name for c in hw.cores)
    if tuple(sched.core_names) != names:
        raise ScheduleError(
            f"schedule is for cores {list(sched.core_names)}, hardware {hw.name!r} has {list(names)}"
        )
    net, image, layer = (np.asarray(cols[k], dtype=np.int64) for k in ("net", "image", "layer"))
    if len(net) != n:
        raise ScheduleError(f"schedule has {len(net)} tasks, the workload {n}")
    sizes = np.array([len(p.network) for p in g.plans], dtype=np.int64)
    imgs = np.array(workload.images, dtype=np.int64)
    ok_net = (net >= 0) & (net < len(sizes))
    safe = np.where(ok_net, net, 0)
    known = ok_net & (image >= 0) & (image < imgs[safe]) & (layer >= 0) & (layer < sizes[safe])
    if not known.all():
        r = int(np.flatnonzero(~known)[0])
        raise ScheduleError(
            f"schedule row {r}: unknown task (network {net[r]}, image {image[r]}, layer {layer[r]})"
        )
    ids = g.task_id(net, image, layer)
    if sched.task is not None and (np.asarray(sched.task) != ids).any():
        r = int(np.flatnonzero(np.asarray(sched.task) != ids)[0])
        raise ScheduleError(
            f"schedule row {r}: task id {int(sched.task[r])} is not {g.describe(int(ids[r]))}"
        )
    times = np.bincount(ids, minlength=n)
    if (times > 1).any():
        raise ScheduleError(f"{g.describe(int(np.flatnonzero(times > 1)[0]))} is scheduled twice")
    if (times == 0).any():
        raise ScheduleError(f"{g.describe(int(np.flatnonzero(times == 0)[0]))} is missing from the schedule")
    row = np.empty(n, dtype=np.int64)
    row[ids] = np.arange(n)
    core = np.asarray(sched.core, dtype=np.int64)[row]
    start = np.asarray(sched.start, dtype=float)[row]
    end = np.asarray(sched.end, dtype=float)[row]

    def first(mask: np.ndarray) -> int:
        return int(np.flatnonzero(mask)[0])

    if not (np.isfinite(start).all() and np.isfinite(end).all()):
        raise ScheduleError(
            f"{g.describe(first(~(np.isfinite(start) & np.isfinite(end))))} has no finite time"
        )
    mk = float(end.max()) if n else 0.0
    tol = 1e-9 * max(1.0, mk) + 1e-6
    if (start < -tol).any():
        raise ScheduleError(f"{g.describe(first(start < -tol))} starts before time 0")
    bad = (core < 0) | (core >= K)
    if bad.any():
        t = first(bad)
        raise ScheduleError(f"{g.describe(t)} is on core {int(core[t])}, which does not exist ({K} cores)")
    cost = g.cost[np.arange(n), core]
    if not np.isfinite(cost).all():
        t = first(~np.isfinite(cost))
        raise ScheduleError(f"{g.describe(t)} runs on core {hw.cores[core[t]].name!r}, which cannot run it")
    short = end - start < cost * (1 - 1e-9) - tol
    if short.any():
        t = first(short)
        raise ScheduleError(
            f"{g.describe(t)} runs {end[t] - start[t]:.6g} cycles, shorter than its cost "
            f"{cost[t]:.6g} on core {hw.cores[core[t]].name!r}"
        )
    broken = start[g.dst] < end[g.src] - tol
    if broken.any():
        e = first(broken)
        raise ScheduleError(
            f"dependency broken: {g.describe(int(g.dst[e]))} starts at {start[g.dst[e]]:.6g}, "
            f"before its predecessor {g.describe(int(g.src[e]))} ends at {end[g.src[e]]:.6g}"
        )
    busy = np.flatnonzero(end - start > tol)
    o = busy[np.lexsort((start[busy], core[busy]))]
    clash = (core[o][1:] == core[o][:-1]) & (start[o][1:] < end[o][:-1] - tol)
    if clash.any():
        i = first(clash)
        raise ScheduleError(
            f"core {hw.cores[core[o[i]]].name!r} runs two tasks at once: {g.describe(int(o[i]))} "
            f"and {g.describe(int(o[i + 1]))}"
        )
    if sched.contention:
        dur = np.where(end - start > tol, cost, 0.0)
        pdur, prate = task_phases(g, core, dur)
        try:
            need, _, _ = replay(core, start, pdur, prate, hw.dram_bytes_per_cycle, K)
        except DramCollision as exc:
            raise ScheduleError(
                f"{g.describe(exc.previous)} ends at {end[exc.previous]:.6g}, but sharing DRAM "
                f"bandwidth with the tasks beside it, it cannot finish before {exc.needed_end:.6g}"
            ) from None
        late = need > end + 1e-7 * max(1.0, mk) + 1e-6
        if late.any():
            t = first(late)
            raise ScheduleError(
                f"{g.describe(t)} ends at {end[t]:.6g}, but sharing DRAM bandwidth with the tasks "
                f"running beside it, it cannot finish before {need[t]:.6g}"
            )
