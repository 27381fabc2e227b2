"""Shared-DRAM contention: a fluid, max-min fair (processor-sharing) model.

A task of no-contention duration ``d`` cycles that moves ``B`` DRAM bytes streams at its
natural rate ``r = B / d`` bytes/cycle when it runs alone (the cost model guarantees
``r <= bandwidth``). Running tasks split the DRAM port max-min fairly: each gets
``min(r, equal share of what the others leave)``. A task granted ``a < r`` bytes/cycle
progresses at speed ``a / r`` (its compute waits on its data), so its duration stretches.
Shares are recomputed whenever a task starts or ends (event times), so a task speeds up
again when its partner finishes. The scheduler, the validator's replay and the DRAM
counter of the trace all use `fair_speeds`, so they agree.
"""

from __future__ import annotations

import heapq

import numpy as np

from dualopu.errors import ScheduleError


class DramCollision(ScheduleError):
    """A task starts on a core whose previous task cannot have finished under contention."""

    def __init__(self, previous: int, task: int, needed_end: float) -> None:
        super().__init__(f"task {task} starts on the core of task {previous}, which under shared-DRAM "
                         f"contention cannot finish before {needed_end:.6g}")
        self.previous, self.task, self.needed_end = previous, task, needed_end


def fair_speeds(demands: list[float], bw: float) -> list[float]:
    """Speed (granted / natural rate, in (0, 1]) of each running task under max-min fair sharing."""
    if sum(demands) <= bw:
        return [1.0] * len(demands)
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


def replay(core: np.ndarray, start: np.ndarray, dur: np.ndarray, rate: np.ndarray, bw: float,
           n_cores: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earliest end of every task given its core and start time under fair DRAM sharing.

    Tasks of duration 0 end at their start. Returns ``(end, t, bw_used)``: the DRAM use is
    ``bw_used[i]`` bytes/cycle on ``[t[i], t[i+1])``. Raises ScheduleError if a task starts on
    a core still busy with the previous one (it could not have finished by then)."""
    n = len(start)
    end = start.astype(float).copy()
    busy = np.flatnonzero(dur > 0)
    order = busy[np.lexsort((core[busy], start[busy]))].tolist()
    st, du, rt, co = start.tolist(), dur.tolist(), rate.tolist(), core.tolist()
    run = [-1] * n_cores  # task on each core
    since = [0.0] * n_cores  # last speed change
    left = [0.0] * n_cores  # work left (full-speed cycles) at `since`
    spd = [1.0] * n_cores
    endp = [0.0] * n_cores
    prof_t: list[float] = []
    prof_r: list[float] = []
    heap: list[tuple[float, int]] = []  # (projected end, core), lazily invalidated
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
                if run[k] >= 0 and endp[k] == now:
                    end[run[k]] = now
                    run[k] = -1
        else:
            now = max(now, t_start)
            while i < len(order) and st[order[i]] <= now:
                t = order[i]
                k = co[t]
                if run[k] >= 0:
                    raise DramCollision(run[k], t, endp[k])
                run[k], since[k], left[k], spd[k], endp[k] = t, now, du[t], 1.0, now + du[t]
                heapq.heappush(heap, (endp[k], k))
                i += 1
        active = [k for k in range(n_cores) if run[k] >= 0]
        new = fair_speeds([rt[run[k]] for k in active], bw)
        for k, s in zip(active, new):
            if s != spd[k]:
                left[k] -= (now - since[k]) * spd[k]
                since[k], spd[k] = now, s
                endp[k] = now + max(left[k], 0.0) / s
                heapq.heappush(heap, (endp[k], k))
        prof_t.append(now)
        prof_r.append(sum(rt[run[k]] * spd[k] for k in active))
    return end, np.asarray(prof_t), np.asarray(prof_r)


def constant_rate_profile(start: np.ndarray, end: np.ndarray, dram_bytes: np.ndarray
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
