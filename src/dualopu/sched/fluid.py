"""Shared-DRAM contention: a fluid, max-min fair (processor-sharing) model.

A task of no-contention duration ``d`` cycles that moves ``B`` DRAM bytes runs in three
phases (`phases`): its loads at the port's full rate, the body (compute and the
transfers' fixed costs such as burst-row latency, with the bytes left over, if any,
streamed evenly) and its stores at the port's full rate (`sched.graph._ends` sizes them
from the cost model's port time). In each phase it streams at its natural rate
``r = bytes / cycles`` when it runs alone. Running tasks split the DRAM port max-min fairly: each gets
``min(r, equal share of what the others leave)``. A task granted ``a < r`` bytes/cycle
progresses at speed ``a / r`` (its compute waits on its data), so its duration stretches.
Shares are recomputed whenever a task starts, changes phase or ends (event times), so a
task speeds up again when its partner finishes; nothing is fixed at a task's start. The scheduler, the validator's replay and the DRAM
counter of the trace all use `fair_speeds`, so they agree.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np

from dualopu.errors import ScheduleError

if TYPE_CHECKING:
    from dualopu.sched.graph import TaskGraph


class DramCollision(ScheduleError):
    """A task starts on a core whose previous task cannot have finished under contention."""

    def __init__(self, previous: int, task: int, needed_end: float) -> None:
        super().__init__(
            f"task {task} starts on the core of task {previous}, which under shared-DRAM "
            f"contention cannot finish before {needed_end:.6g}"
        )
        self.previous, self.task, self.needed_end = previous, task, needed_end


def fair_speeds(demands: list[float], bw: float) -> list[float]:
    """Speed (granted / natural rate, in (0, 1]) of each running task under max-min fair sharing."""
    if sum(demands) <= bw:
        return [1.0] * len(demands)
    if len(demands) == 2:  # the dual-core case in closed form (same result as the loop below)
        a, b = demands
        half = bw / 2
        if a <= half:
            return [1.0, (bw - a) / b]
        if b <= half:
            return [(bw - b) / a, 1.0]
        return [half / a, half / b]
    out = [1.0] * len(demands)
    left, k = bw, len(demands)
    for j, i in enumerate(sorted(range(k), key=demands.__getitem__)):
        share = left / (k - j)
        d = demands[i]
        if d <= share:
            left -= d
        else:
            out[i] = share / d
            left -= share
    return out


def natural_rates(dur: np.ndarray, dram_bytes: np.ndarray, bw: float) -> np.ndarray:
    """Bytes/cycle each task streams when alone (0 for zero-duration or byte-free tasks)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((dur > 0) & (dram_bytes > 0), dram_bytes / np.where(dur > 0, dur, 1.0), 0.0)
    return np.minimum(r, bw)


#: Phases of a task: loads at the port's rate, body, stores at the port's rate.
N_PHASES = 3


def phases(
    dur: np.ndarray,
    dram_bytes: np.ndarray,
    head_cycles: np.ndarray,
    head_bytes: np.ndarray,
    end_cycles: np.ndarray,
    end_bytes: np.ndarray,
    bw: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each task as three fluid phases: ``(dur (n, 3), rate (n, 3))`` at full speed.

    The first and last phases stream the task's loads and stores at (nearly) the port's
    full bandwidth (`sched.graph._ends`); the body streams the remaining bytes, if any,
    evenly over the remaining time.
    The phases sum to the task's no-contention duration and bytes."""
    hc = np.minimum(head_cycles, dur)
    ec = np.minimum(end_cycles, dur - hc)
    body = np.maximum(dur - hc - ec, 0.0)
    d = np.stack([hc, body, ec], axis=1)
    b = np.stack(
        [
            np.minimum(head_bytes, dram_bytes),
            np.maximum(dram_bytes - head_bytes - end_bytes, 0.0),
            np.minimum(end_bytes, np.maximum(dram_bytes - head_bytes, 0.0)),
        ],
        axis=1,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > 0, b / np.where(d > 0, d, 1.0), 0.0)
    return d, np.minimum(r, bw)


def replay(
    core: np.ndarray, start: np.ndarray, dur: np.ndarray, rate: np.ndarray, bw: float, n_cores: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earliest end of every task given its core and start time under fair DRAM sharing.

    ``dur`` and ``rate`` are ``(n,)`` (one phase) or ``(n, P)`` (phases run in order, see
    `phases`). Tasks of duration 0 end at their start. Returns ``(end, t, bw_used)``: the DRAM
    use is ``bw_used[i]`` bytes/cycle on ``[t[i], t[i+1])``. Raises ScheduleError if a task
    starts on a core still busy with the previous one (it could not have finished by then)."""
    pd = np.asarray(dur, dtype=float)
    pr = np.asarray(rate, dtype=float)
    if pd.ndim == 1:
        pd, pr = pd[:, None], pr[:, None]
    P = pd.shape[1]
    end = start.astype(float).copy()
    total = pd.sum(axis=1)
    busy = np.flatnonzero(total > 0)
    order = busy[np.lexsort((core[busy], start[busy]))].tolist()
    st, du, rt, co = start.tolist(), pd.tolist(), pr.tolist(), core.tolist()
    run = [-1] * n_cores  # task on each core
    seg = [0] * n_cores  # its current phase
    since = [0.0] * n_cores  # last speed change
    left = [0.0] * n_cores  # work left in the phase (full-speed cycles) at `since`
    spd = [1.0] * n_cores
    endp = [0.0] * n_cores
    prof_t: list[float] = []
    prof_r: list[float] = []
    heap: list[tuple[float, int]] = []  # (projected end of the phase, core), lazily invalidated

    def enter(k: int, t: int, j: int, now: float) -> bool:
        """Start phase >= j of task t on core k; False when no phase is left."""
        while j < P and du[t][j] <= 0.0:
            j += 1
        if j == P:
            return False
        seg[k], since[k], left[k], spd[k] = j, now, du[t][j], 1.0
        endp[k] = now + du[t][j]
        heapq.heappush(heap, (endp[k], k))
        return True

    i, now = 0, 0.0
    while i < len(order) or heap:
        t_start = st[order[i]] if i < len(order) else np.inf
        while heap and (run[heap[0][1]] < 0 or heap[0][0] != endp[heap[0][1]]):
            heapq.heappop(heap)
        t_end = heap[0][0] if heap else np.inf
        if t_end <= t_start + 1e-9 * max(1.0, abs(t_start)):  # ends first at (float-)equal times
            now = t_end
            while heap and heap[0][0] == now:
                _, k = heapq.heappop(heap)
                if run[k] >= 0 and endp[k] == now and not enter(k, run[k], seg[k] + 1, now):
                    end[run[k]] = now
                    run[k] = -1
        else:
            now = max(now, t_start)
            while i < len(order) and st[order[i]] <= now:
                t = order[i]
                k = co[t]
                if run[k] >= 0:
                    raise DramCollision(run[k], t, endp[k])
                run[k] = t
                enter(k, t, 0, now)
                i += 1
        active = [k for k in range(n_cores) if run[k] >= 0]
        new = fair_speeds([rt[run[k]][seg[k]] for k in active], bw)
        for k, s in zip(active, new):
            if s != spd[k]:
                left[k] -= (now - since[k]) * spd[k]
                since[k], spd[k] = now, s
                endp[k] = now + max(left[k], 0.0) / s
                heapq.heappush(heap, (endp[k], k))
        prof_t.append(now)
        prof_r.append(sum(rt[run[k]][seg[k]] * spd[k] for k in active))
    return end, np.asarray(prof_t), np.asarray(prof_r)


def task_phases(g: TaskGraph, core: np.ndarray, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`phases` of every task of ``g`` on ``core`` with durations ``dur`` (0 for tasks that take no time)."""
    rows = np.arange(len(g))
    keep = dur > 0
    return phases(
        dur,
        np.where(keep, g.dram_bytes[rows, core], 0.0),
        np.where(keep, g.head_cycles[rows, core], 0.0),
        np.where(keep, g.head_bytes[rows, core], 0.0),
        np.where(keep, g.end_cycles[rows, core], 0.0),
        np.where(keep, g.end_bytes[rows, core], 0.0),
        g.hardware.dram_bytes_per_cycle,
    )


def constant_rate_profile(
    start: np.ndarray, end: np.ndarray, dram_bytes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM use over time when every task streams its bytes evenly over its run: ``(t, bw_used)``."""
    busy = (end > start) & (dram_bytes > 0)
    r = dram_bytes[busy] / (end[busy] - start[busy])
    times = np.concatenate([start[busy], end[busy]])
    delta = np.concatenate([r, -r])
    order = np.argsort(times, kind="stable")
    t, level = times[order], np.cumsum(delta[order])
    keep = np.append(t[1:] != t[:-1], True)
    return t[keep], np.maximum(level[keep], 0.0)
