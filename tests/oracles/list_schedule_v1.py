"""The list scheduler as it was before the issue-17 speed-up (commit 5215d5b): the oracle the
fast `dualopu.sched.heuristic.list_schedule` must match exactly (same start and end arrays)."""

from __future__ import annotations

import heapq

import numpy as np

from dualopu.errors import ScheduleError
from dualopu.sched.fluid import N_PHASES, natural_rates, phases
from dualopu.sched.graph import TaskGraph
from dualopu.sched.heuristic import Options

_INF = float("inf")


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


def list_schedule(
    g: TaskGraph,
    core: np.ndarray,
    order: np.ndarray,
    *,
    contention: bool,
    opts: Options = Options(),
    load: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every task with the given placement and priority order."""
    n, K = len(g), g.n_cores
    bw = float(g.hardware.dram_bytes_per_cycle)
    rows = np.arange(n)
    dur_a = g.cost[rows, core]
    if not np.isfinite(dur_a).all():
        raise ScheduleError(
            f"{g.describe(int(np.flatnonzero(~np.isfinite(dur_a))[0]))} placed on a core that cannot run it"
        )
    rate_a = natural_rates(dur_a, g.dram_bytes[rows, core], bw) if contention else np.zeros(n)
    pd_a, pr_a = phases(
        dur_a,
        g.dram_bytes[rows, core],
        g.head_cycles[rows, core],
        g.head_bytes[rows, core],
        g.end_cycles[rows, core],
        g.end_bytes[rows, core],
        bw,
    )
    pdur, prate = pd_a.tolist(), pr_a.tolist()
    pos_a = np.empty(n, dtype=np.int64)
    pos_a[order] = rows
    dur, rate, co = dur_a.tolist(), rate_a.tolist(), core.tolist()
    pos, order_l = pos_a.tolist(), order.tolist()
    sp, si = g.succ_ptr.tolist(), g.succ_idx.tolist()
    indeg = np.diff(g.pred_ptr).tolist()
    start, end = [0.0] * n, [0.0] * n
    lo = np.ones(K) if load is None else np.asarray(load, dtype=float) / max(float(np.max(load)), 1e-12)
    crit = lo.tolist()
    slack = [c < opts.slack for c in crit]
    heaps: list[list[int]] = [[] for _ in range(K)]
    zero: list[int] = []
    for t in np.flatnonzero(np.diff(g.pred_ptr) == 0).tolist():
        if dur[t] > 0:
            heaps[co[t]].append(pos[t])
        else:
            zero.append(t)
    for h in heaps:
        heapq.heapify(h)
    run = [-1] * K
    since, left, spd, endp = [0.0] * K, [0.0] * K, [1.0] * K, [_INF] * K
    seg = [0] * K  # current phase of the task on each core (contention only)
    cur = [0.0] * K  # its DRAM rate in that phase
    now, done = 0.0, 0
    push, pop = heapq.heappush, heapq.heappop
    rng = range(K)
    look = max(int(opts.lookahead), 1)

    def pick(k: int) -> int:
        """Task to start on idle core k now, or -1 to wait."""
        h = heaps[k]
        t = order_l[h[0]]
        other = 0.0
        for j in rng:
            if run[j] >= 0:
                other += rate[run[j]]
        if other == 0.0 or rate[t] + other <= bw:
            pop(h)
            return t
        held: list[int] = []
        choice = -1
        while h and len(held) < look:
            p = pop(h)
            u = order_l[p]
            if rate[u] + other <= bw:
                choice = u
                break
            held.append(p)
        if choice < 0:
            # nothing fits: start the best one unless it slows a busier core and this one has slack
            p0 = held[0]
            u = order_l[p0]
            harm = False
            if opts.hold and slack[k]:
                act = [j for j in rng if run[j] >= 0]
                new = fair_speeds([rate[run[j]] for j in act] + [rate[u]], bw)
                harm = any(new[i] < spd[j] - 1e-12 and crit[j] > crit[k] for i, j in enumerate(act))
            if harm:
                for p in held:
                    push(h, p)
                return -1
            choice = u
            held = held[1:]
        for p in held:
            push(h, p)
        return choice

    def release(t: int) -> None:
        """Successors of finished task ``t`` whose last predecessor it was become ready."""
        for j in range(sp[t], sp[t + 1]):
            s = si[j]
            indeg[s] -= 1
            if indeg[s] == 0:
                if dur[s] > 0:
                    push(heaps[co[s]], pos[s])
                else:
                    zero.append(s)

    while True:
        while zero:
            t = zero.pop()
            start[t] = end[t] = now
            done += 1
            release(t)
        for k in rng:
            if run[k] < 0 and heaps[k]:
                t = pick(k) if contention else order_l[pop(heaps[k])]
                if t >= 0:
                    run[k] = t
                    start[t] = since[k] = now
                    spd[k] = 1.0
                    if contention:
                        j = 0
                        while j < N_PHASES - 1 and pdur[t][j] <= 0.0:
                            j += 1
                        seg[k], left[k], cur[k] = j, pdur[t][j], prate[t][j]
                    else:
                        left[k] = dur[t]
                    endp[k] = now + left[k]
        if contention:
            act = [k for k in rng if run[k] >= 0]
            demand = [cur[k] for k in act]
            if sum(demand) <= bw:  # the usual case: everyone at full speed
                for k in act:
                    if spd[k] != 1.0:
                        left[k] -= (now - since[k]) * spd[k]
                        since[k], spd[k] = now, 1.0
                        endp[k] = now + max(left[k], 0.0)
            else:
                for k, s in zip(act, fair_speeds(demand, bw)):
                    if s != spd[k]:
                        left[k] -= (now - since[k]) * spd[k]
                        since[k], spd[k] = now, s
                        endp[k] = now + max(left[k], 0.0) / s
        nxt = min(endp)
        if nxt == _INF:
            break
        now = nxt
        for k in rng:
            if endp[k] == now:
                t = run[k]
                if contention:  # next phase of the same task, if any
                    j = seg[k] + 1
                    while j < N_PHASES and pdur[t][j] <= 0.0:
                        j += 1
                    if j < N_PHASES:
                        seg[k], left[k], cur[k], since[k], spd[k] = j, pdur[t][j], prate[t][j], now, 1.0
                        endp[k] = now + left[k]
                        continue
                end[t] = now
                run[k], endp[k] = -1, _INF
                done += 1
                release(t)
    if done < n:
        raise ScheduleError(f"scheduler stalled after {done} of {n} tasks (a cycle in the task graph?)")
    return np.asarray(start), np.asarray(end)
